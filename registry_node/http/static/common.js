// Shared by the node's pages. Every value from the network is put into the page as text
// (textContent), never as HTML, so that nothing a list or an answer says can run.

/** An element: h("p", {class: "x"}, "text", child, ...). Attributes are set as attributes. */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs || {})) {
    if (value === false || value === null || value === undefined) continue;
    if (name.startsWith("on") && typeof value === "function") {
      el.addEventListener(name.slice(2), value);
    } else {
      el.setAttribute(name, value === true ? "" : String(value));
    }
  }
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

/** Replace the children of ``el``. */
export function show(el, ...children) {
  el.replaceChildren(...children.flat(Infinity).filter((c) => c !== null && c !== undefined));
}

/** A Problem Details document (RFC 7807) as sentences a person can act on. */
export function problemView(doc, status) {
  const parts = [];
  if (doc && typeof doc === "object" && typeof doc.detail === "string") {
    parts.push(h("p", {}, h("strong", {}, `${doc.title || "Error"} (${doc.status || status})`), `: ${doc.detail}`));
    if (Array.isArray(doc.errors) && doc.errors.length) {
      parts.push(h("ul", {}, doc.errors.map((e) => h("li", {}, h("code", {}, e.field), `: ${e.message}`))));
    }
    if (doc.hint) parts.push(h("p", {}, h("strong", {}, "What to do: "), doc.hint));
  } else {
    parts.push(h("p", {}, `The node answered ${status} without an explanation.`));
  }
  return h("div", { class: "message error", role: "alert" }, parts);
}

/** fetch, and the body read as JSON (or null); never throws for an HTTP status. */
export async function call(method, path, { body, headers = {}, type } = {}) {
  const init = { method, headers: { Accept: "application/json", ...headers }, cache: "no-store" };
  if (body !== undefined) {
    init.body = typeof body === "string" ? body : JSON.stringify(body);
    init.headers["Content-Type"] = type || "application/json";
  }
  let resp;
  try {
    resp = await fetch(path, init);
  } catch (err) {
    return { status: 0, ok: false, doc: { title: "No answer", status: 0, detail: `the node did not answer (${err.message})` } };
  }
  let doc = null;
  try {
    doc = await resp.json();
  } catch {
    doc = null;
  }
  return { status: resp.status, ok: resp.ok, doc };
}

/** An RFC 3339 instant, or a NumericDate, as a person reads it. */
export function when(value) {
  if (value === null || value === undefined || value === "") return "never";
  const date = typeof value === "number" ? new Date(value * 1000) : new Date(value);
  if (Number.isNaN(date.getTime())) return String(value);
  return date.toLocaleString("en-GB", {
    day: "numeric", month: "long", year: "numeric", hour: "2-digit", minute: "2-digit",
    timeZone: "UTC", timeZoneName: "short",
  });
}
