// The operator's console: reads and changes the node through its admin API (/admin/v1/) with
// the bearer token the operator typed. The token is kept in sessionStorage only (this tab,
// until it closes), sent only in the Authorization header of same-origin requests, never put
// in a URL, a cookie or localStorage. Every change is confirmed before it is sent.
import { call, h, problemView, show, when } from "./common.js";

const KEY = "registry-node-admin-token";
const $ = (id) => document.getElementById(id);
let issuers = [];
let auditRecords = [];

const ENTRY_TEMPLATE = {
  id: "did:web:new-issuer.example",
  name: "New Issuer (fictional)",
  org_type: "training_provider",
  url: "https://new-issuer.example",
  authorizations: [{ credential_types: ["OpenBadgeCredential"], achievement_types: ["Certificate"], jurisdiction: "" }],
};

function token() {
  return sessionStorage.getItem(KEY);
}

async function admin(method, path, body) {
  const result = await call(method, `/admin/v1${path}`, {
    body, headers: { Authorization: `Bearer ${token()}` },
  });
  if (result.status === 401) {
    signOut("The node refused the token: " + ((result.doc && result.doc.detail) || "unauthorized") +
      ". Sign in again with a valid token.");
    throw new Error("unauthorized");
  }
  return result;
}

function notice(kind, ...content) {
  show($("notice"), h("div", { class: `message ${kind}` }, content));
}

/** Ask before a change: resolves true when the operator chose Send. */
function confirmChange(text, body) {
  const dialog = $("confirm");
  $("confirm-text").textContent = text;
  $("confirm-body").textContent = body === undefined ? "" : JSON.stringify(body, null, 2);
  $("confirm-body").hidden = body === undefined;
  dialog.returnValue = "";
  return new Promise((resolve) => {
    dialog.addEventListener("close", () => resolve(dialog.returnValue === "send"), { once: true });
    dialog.showModal();
    $("confirm-cancel").focus();
  });
}

async function change(text, method, path, body, done) {
  if (!(await confirmChange(text, body))) {
    notice("", "Nothing was sent.");
    return;
  }
  const result = await admin(method, path, body);
  if (!result.ok) {
    show($("notice"), problemView(result.doc, result.status));
    return;
  }
  notice("success", done(result.doc));
  await loadAll();
}

// -- peers ---------------------------------------------------------------------------------

function peerView(peer) {
  const error = peer.last_error;
  const rows = [
    ["State", h("span", { class: `badge state-${peer.state}` }, peer.state.replaceAll("_", " "))],
    ["List held", peer.seq === null ? "none" : `version ${peer.seq}, signed ${when(peer.iat)}, valid until ${when(peer.exp)}`],
    ["Last attempt", `${when(peer.last_attempt)}${peer.last_outcome ? ` (${peer.last_outcome.replaceAll("_", " ")})` : ""}`],
    ["Last success", when(peer.last_success)],
    ["Failures in a row", String(peer.consecutive_failures)],
  ];
  if (peer.entries) rows.push(["Entries", `${peer.entries.accepted} accepted, ${peer.entries.dropped_scope} dropped for scope`]);
  const parts = [
    h("h3", {}, `${peer.jurisdiction} `, h("code", {}, peer.id)),
    h("dl", {}, rows.map(([k, v]) => [h("dt", {}, k), h("dd", {}, v)])),
  ];
  if (error) {
    parts.push(h("div", { class: "message error" },
      h("p", {}, h("strong", {}, "Last error: "), h("code", {}, error.code), ` ${error.detail}`),
      error.hint ? h("p", {}, h("strong", {}, "What to do: "), error.hint) : null));
  }
  if (peer.withdrawn) {
    parts.push(h("div", { class: "message warning" },
      h("p", {}, h("strong", {}, "Not used: "), h("code", {}, peer.withdrawn.code), ` ${peer.withdrawn.detail}`)));
  }
  parts.push(h("p", {}, h("button", {
    type: "button", class: "secondary",
    onclick: () => change(`Sync ${peer.id} now: fetch its list and check it?`, "POST",
      `/peers/sync?peer=${encodeURIComponent(peer.id)}`, undefined, syncDone),
  }, `Sync ${peer.jurisdiction} now`)));
  return h("article", { class: `peer peer-${peer.state}`, "aria-label": `Peer ${peer.jurisdiction}` }, parts);
}

function syncDone(doc) {
  return h("ul", {}, (doc.results || []).map((r) =>
    h("li", {}, h("code", {}, r.peer_id), `: ${r.outcome.replaceAll("_", " ")}`,
      r.seq ? `, version ${r.seq}` : "", r.code ? ` (${r.code}: ${r.detail})` : "")));
}

async function loadPeers() {
  const { ok, status, doc } = await call("GET", "/v1/peers");
  if (!ok) return show($("peers"), problemView(doc, status));
  if (!doc.peers.length) return show($("peers"), h("p", {}, "No peer is configured (peers.yaml)."));
  show($("peers"), doc.peers.map(peerView));
}

// -- versions ------------------------------------------------------------------------------

async function loadVersions() {
  const { ok, status, doc } = await admin("GET", "/versions?limit=20");
  if (!ok) return show($("versions"), problemView(doc, status));
  const versions = doc.versions;
  const rows = versions.map((v, i) => {
    const older = versions[i + 1];
    let chain;
    if (v.prev === null) chain = "first version";
    else if (!older) chain = "links to an older version (not shown)";
    else chain = v.prev === older.digest ? `links to version ${older.seq}` : `BROKEN: names ${v.prev}, not version ${older.seq}`;
    return h("tr", {},
      h("th", { scope: "row" }, String(v.seq)), h("td", {}, when(v.iat)), h("td", {}, when(v.exp)),
      h("td", {}, v.reason), h("td", {}, h("code", {}, v.digest)), h("td", {}, chain),
      h("td", {}, v.body_kept ? h("a", { href: `/trust-list/${v.seq}` }, "body") : "body no longer kept"));
  });
  show($("versions"), h("div", { class: "table-wrap" }, h("table", {},
    h("caption", {}, "Newest published versions"),
    h("thead", {}, h("tr", {}, ["Seq", "Signed", "Expires", "Why", "Digest", "Chain", "Body"].map((c) => h("th", { scope: "col" }, c)))),
    h("tbody", {}, rows))));
}

// -- issuers -------------------------------------------------------------------------------

function currentStep(issuer) {
  const now = Date.now();
  let step = null;
  for (const s of issuer.status_history || []) if (new Date(s.from).getTime() <= now) step = s;
  return step;
}

function renderIssuers() {
  const filter = $("issuer-filter").value.trim().toLowerCase();
  const shown = issuers.filter((i) => !filter || i.id.toLowerCase().includes(filter) || i.name.toLowerCase().includes(filter));
  const rows = shown.map((issuer) => {
    const step = currentStep(issuer);
    const history = h("details", {}, h("summary", {}, `History (${(issuer.status_history || []).length})`),
      h("ul", {}, (issuer.status_history || []).map((s) => h("li", {}, `${s.status} from ${when(s.from)}: ${s.reason}`))));
    return h("tr", {},
      h("th", { scope: "row" }, issuer.name), h("td", {}, h("code", {}, issuer.id)),
      h("td", {}, issuer.org_type.replaceAll("_", " ")),
      h("td", {}, step ? `${step.status} since ${when(step.from)}` : "not yet active"),
      h("td", {}, history));
  });
  show($("issuers"), h("p", {}, `${shown.length} of ${issuers.length} issuers.`),
    h("div", { class: "table-wrap" }, h("table", {}, h("caption", {}, "This node's issuers"),
      h("thead", {}, h("tr", {}, ["Name", "Id", "Kind", "Status", "History"].map((c) => h("th", { scope: "col" }, c)))),
      h("tbody", {}, rows))));
}

async function loadIssuers() {
  const { ok, status, doc } = await admin("GET", "/issuers");
  if (!ok) return show($("issuers"), problemView(doc, status));
  issuers = doc.issuers;
  const select = $("status-issuer");
  const chosen = select.value;
  show(select, issuers.map((i) => h("option", { value: i.id }, `${i.name} (${i.id})`)));
  if (chosen) select.value = chosen;
  renderIssuers();
}

// -- audit ---------------------------------------------------------------------------------

async function loadAudit() {
  auditRecords = [];
  let after = 0;
  for (let page = 0; page < 10; page += 1) {
    const { ok, status, doc } = await admin("GET", `/audit?after=${after}&limit=1000`);
    if (!ok) return show($("audit"), problemView(doc, status));
    auditRecords.push(...doc.records);
    if (doc.records.length < 1000) break;
    after = doc.next_after;
  }
  renderAudit();
}

function renderAudit() {
  const action = $("audit-action").value;
  const actor = $("audit-actor").value.trim().toLowerCase();
  const target = $("audit-target").value.trim().toLowerCase();
  const shown = auditRecords.filter((r) => (!action || r.action === action) &&
    (!actor || String(r.actor).toLowerCase().includes(actor)) &&
    (!target || String(r.target || "").toLowerCase().includes(target))).reverse().slice(0, 100);
  const rows = shown.map((r) => h("tr", {},
    h("th", { scope: "row" }, String(r.id)), h("td", {}, when(r.at)), h("td", {}, r.actor),
    h("td", {}, r.action), h("td", {}, r.target ? h("code", {}, r.target) : "—"),
    h("td", {}, h("details", {}, h("summary", {}, "Before and after"),
      h("pre", {}, JSON.stringify({ before: r.before, after: r.after }, null, 2))))));
  show($("audit"), h("p", {}, `${shown.length} of ${auditRecords.length} records, newest first (at most 100 shown).`),
    h("div", { class: "table-wrap" }, h("table", {}, h("caption", {}, "Audit records"),
      h("thead", {}, h("tr", {}, ["Id", "When", "Actor", "Action", "Target", "Change"].map((c) => h("th", { scope: "col" }, c)))),
      h("tbody", {}, rows))));
}

// -- sign in and out -----------------------------------------------------------------------

async function loadAll() {
  await Promise.all([loadPeers(), loadVersions(), loadIssuers(), loadAudit()]);
}

function signOut(message) {
  sessionStorage.removeItem(KEY);
  $("console").hidden = true;
  $("signin").hidden = false;
  show($("signin-message"), message ? h("p", { class: "message error", role: "alert" }, message) : null);
  $("token").focus();
}

async function signIn() {
  const result = await call("GET", "/admin/v1/issuers", { headers: { Authorization: `Bearer ${token()}` } });
  if (!result.ok) {
    signOut(`The node refused the token: ${(result.doc && result.doc.detail) || result.status}.`);
    return;
  }
  $("signin").hidden = true;
  $("console").hidden = false;
  show($("signin-message"));
  $("main").focus();
  await loadAll();
}

function setUp() {
  ENTRY_TEMPLATE.authorizations[0].jurisdiction = $("console").dataset.jurisdiction;
  $("add-entry").value = JSON.stringify(ENTRY_TEMPLATE, null, 2);
  $("signin-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const typed = $("token").value.trim();
    $("token").value = "";
    if (!typed) return;
    sessionStorage.setItem(KEY, typed);
    signIn();
  });
  $("signout").addEventListener("click", () => signOut());
  $("refresh").addEventListener("click", () => loadAll());
  $("issuer-filter").addEventListener("input", renderIssuers);
  $("audit-form").addEventListener("submit", (event) => {
    event.preventDefault();
    renderAudit();
  });
  $("sync-all").addEventListener("click", () =>
    change("Sync every peer now: fetch each neighbour's list and check it?", "POST", "/peers/sync", undefined, syncDone));
  $("reload-peers").addEventListener("click", () =>
    change("Read peers.yaml again and apply it? A peer whose terms changed is judged again.", "POST", "/peers/reload", undefined,
      (doc) => `peers.yaml reloaded: ${doc.added.length} added, ${doc.removed.length} removed, ${doc.changed.length} changed.`));
  $("publish").addEventListener("click", () =>
    change("Sign and publish a new version of this node's list now?", "POST", "/publish", undefined,
      (doc) => `Published version ${doc.seq}, valid until ${when(doc.exp)}.`));
  $("status-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const id = $("status-issuer").value;
    const body = { status: $("status-status").value, reason: $("status-reason").value.trim() };
    const from = $("status-from").value;
    if (from) body.from = `${from.length === 16 ? `${from}:00` : from}Z`;
    change(`Record that ${id} is ${body.status}${from ? ` from ${body.from}` : " from now"}? Verifiers and neighbouring states will see it in the next published version; the history keeps it for good.`,
      "POST", `/issuers/${encodeURIComponent(id)}/status`, body,
      (doc) => `${doc.name} is now recorded as ${body.status}. The node publishes the change within its publish delay (or use “Publish a new version now”).`);
  });
  $("add-form").addEventListener("submit", (event) => {
    event.preventDefault();
    let entry;
    try {
      entry = JSON.parse($("add-entry").value);
    } catch (err) {
      notice("error", `The entry is not JSON: ${err.message}. Nothing was sent.`);
      return;
    }
    change(`Add the issuer ${entry && entry.id}? Its history only grows: it cannot be deleted later, only retired or revoked.`,
      "POST", "/issuers", entry, (doc) => `Added ${doc.name} (${doc.id}).`);
  });
  if (token()) signIn();
}

setUp();
