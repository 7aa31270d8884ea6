// The verifier's page: check a credential (POST /v1/verify) and a receipt
// (POST /v1/receipts/verify) on this node, and explain the answer check by check.
import { call, h, problemView, show, when } from "./common.js";

const VERDICTS = {
  valid: ["Valid", "verdict-valid"],
  invalid: ["Not valid", "verdict-invalid"],
  indeterminate: ["Could not be decided", "verdict-indeterminate"],
};
const OUTCOMES = {
  passed: "Passed",
  failed: "Failed",
  indeterminate: "Could not be decided",
};
const TRUST = { trusted: "Trusted", not_trusted: "Not trusted", unknown: "Unknown" };

function label(name) {
  const text = String(name).replaceAll("_", " ");
  return text.charAt(0).toUpperCase() + text.slice(1);
}

function outcomeOf(check) {
  if (typeof check.outcome === "string") return check.outcome;
  return check.passed ? "passed" : "failed";
}

function summaryOf(node) {
  if (typeof node.summary === "string" && node.summary) return node.summary;
  const checks = Array.isArray(node.checks) ? node.checks : [];
  const failed = checks.filter((c) => outcomeOf(c) === "failed");
  const open = checks.filter((c) => outcomeOf(c) === "indeterminate");
  if (failed.length) {
    return `${failed.length} of ${checks.length} checks failed: do not rely on this credential. ` +
      `First: ${failed[0].detail}`;
  }
  if (open.length) {
    return `${open.length} of ${checks.length} checks could not be decided: the credential is neither ` +
      "confirmed nor refuted. Ask the issuer, or check again later.";
  }
  return `All ${checks.length} checks passed: the signature is good, the issuer is who it says, ` +
    "the dates hold and the issuer is trusted.";
}

function trustLine(title, answer) {
  if (!answer || typeof answer !== "object") return null;
  const outcome = TRUST[answer.outcome] || answer.outcome;
  const at = answer.question && answer.question.at ? ` (${when(answer.question.at)})` : "";
  return h("li", {}, h("strong", {}, `${title}${at}: `), `${outcome}, ${answer.detail}.`);
}

function credentialView(node, depth) {
  const verdict = VERDICTS[node.verdict] || [label(node.verdict), "verdict-indeterminate"];
  const heading = depth === 0 ? "h3" : "h4";
  const facts = [];
  if (node.issuer) facts.push(h("li", {}, h("strong", {}, "Issuer: "), h("code", {}, node.issuer)));
  if (Array.isArray(node.types)) facts.push(h("li", {}, h("strong", {}, "Types: "), node.types.join(", ")));
  if (Array.isArray(node.achievementTypes) && node.achievementTypes.length) {
    facts.push(h("li", {}, h("strong", {}, "Achievement types: "), node.achievementTypes.join(", ")));
  }
  if (node.issued) facts.push(h("li", {}, h("strong", {}, "Issued: "), when(node.issued)));
  const trust = node.trust || {};
  const checks = (Array.isArray(node.checks) ? node.checks : []).map((check) => {
    const outcome = outcomeOf(check);
    return h("li", { class: `check check-${outcome}` },
      h("span", { class: `check-outcome outcome-${outcome}` }, OUTCOMES[outcome] || label(outcome)),
      " ", h("strong", {}, label(check.name)), check.detail ? `: ${check.detail}` : "");
  });
  const children = (Array.isArray(node.children) ? node.children : []).map((c) => credentialView(c, depth + 1));
  return h("div", { class: "credential-report" },
    h(heading, {}, depth === 0 ? "Verdict: " : "Carried credential: ",
      h("span", { class: `verdict ${verdict[1]}` }, verdict[0])),
    h("p", { class: "summary" }, summaryOf(node)),
    facts.length ? h("ul", { class: "facts" }, facts) : null,
    h("ul", { class: "trust" }, trustLine("Trust when issued", trust.at_issuance), trustLine("Trust now", trust.now)),
    h(depth === 0 ? "h4" : "h5", {}, "Checks, one by one"),
    h("ul", { class: "checks" }, checks),
    children);
}

async function checkCredential(text) {
  const out = document.getElementById("credential-result");
  const body = text.trim();
  if (!body) {
    show(out, h("p", { class: "message error", role: "alert" }, "Paste a credential, or choose its file, first."));
    return;
  }
  show(out, h("p", { class: "message" }, "Checking…"));
  const type = body.startsWith("{") || body.startsWith('"') ? "application/json" : "text/plain";
  const { status, ok, doc } = await call("POST", "/v1/verify", { body, type });
  if (!ok || !doc || !doc.credential) {
    show(out, h("p", {}, "The registry could not check this as a credential."), problemView(doc, status));
    return;
  }
  const top = { ...doc.credential, verdict: doc.verdict, summary: doc.summary || doc.credential.summary };
  show(out, credentialView(top, 0), h("p", { class: "help" }, `Checked ${when(doc.verified_at)}.`));
}

async function checkReceipt(text) {
  const out = document.getElementById("receipt-result");
  const body = text.trim();
  if (!body) {
    show(out, h("p", { class: "message error", role: "alert" }, "Paste a receipt first."));
    return;
  }
  show(out, h("p", { class: "message" }, "Checking…"));
  const { status, ok, doc } = await call("POST", "/v1/receipts/verify", { body, type: "text/plain" });
  if (!ok || !doc) {
    show(out, problemView(doc, status));
    return;
  }
  if (!doc.verified) {
    show(out, h("div", { class: "credential-report" },
      h("h3", {}, "Receipt: ", h("span", { class: "verdict verdict-invalid" }, "Not verified")),
      h("p", { class: "summary" }, `${doc.detail}.`),
      doc.hint ? h("p", {}, h("strong", {}, "What to do: "), doc.hint) : null,
      h("p", { class: "help" }, `Reason code: ${doc.code}`)));
    return;
  }
  const answer = doc.answer || {};
  const outcome = TRUST[answer.outcome] || answer.outcome;
  const asked = answer.question && answer.question.at ? when(answer.question.at) : when(doc.iat);
  show(out, h("div", { class: "credential-report" },
    h("h3", {}, "Receipt: ", h("span", { class: "verdict verdict-valid" }, "Verified")),
    h("p", { class: "summary" },
      `This registry (${doc.iss}) signed this answer on ${when(doc.iat)}: about `,
      h("code", {}, doc.sub), `, as of ${asked}, it answered “${outcome}”: ${answer.detail}.`),
    doc.expired
      ? h("p", { class: "message warning" }, `The answer expired on ${when(doc.exp)}: it shows what the registry said then, not what holds now. Search the issuer above for today's answer.`)
      : h("p", {}, `The answer holds until ${when(doc.exp)}.`),
    h("p", { class: "help" }, `Signed with key ${doc.kid} (${doc.alg}).`)));
}

function readFile(file) {
  return new Promise((resolve, reject) => {
    const reader = new FileReader();
    reader.onload = () => resolve(String(reader.result));
    reader.onerror = () => reject(reader.error);
    reader.readAsText(file);
  });
}

function setUp() {
  const form = document.getElementById("credential-form");
  const area = document.getElementById("credential");
  const file = document.getElementById("credential-file");
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    checkCredential(area.value);
  });
  file.addEventListener("change", async () => {
    if (!file.files.length) return;
    area.value = await readFile(file.files[0]);
    checkCredential(area.value);
  });
  area.addEventListener("dragover", (event) => {
    event.preventDefault();
    area.classList.add("dropping");
  });
  area.addEventListener("dragleave", () => area.classList.remove("dropping"));
  area.addEventListener("drop", async (event) => {
    event.preventDefault();
    area.classList.remove("dropping");
    const dropped = event.dataTransfer.files;
    if (dropped && dropped.length) {
      area.value = await readFile(dropped[0]);
    } else {
      area.value = event.dataTransfer.getData("text/plain");
    }
    checkCredential(area.value);
  });
  document.getElementById("receipt-form").addEventListener("submit", (event) => {
    event.preventDefault();
    checkReceipt(document.getElementById("receipt").value);
  });
}

setUp();
