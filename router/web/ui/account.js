// The account page: GET /api/v1/account with the key typed into the page.
import {
  creditsCell, credits, el, getJson, ledgerTokens, lineChart, row, secret, secretInput,
  tokensText,
} from "/ui/common.js";

const $ = (id) => document.getElementById(id);
const PAGE = 10;
const LABELS = ["time", "model", "tokens", "credits", "outcome"];
let recent = [];
let offset = 0;

const tokensOf = ledgerTokens;

function chosen() {
  const model = $("f-model").value, outcome = $("f-outcome").value;
  return recent.filter((r) => (!model || r.model === model) && (!outcome || r.outcome === outcome));
}

function options(select, values) {
  const kept = select.value;
  select.replaceChildren(el("option", { value: "" }, "all"),
    ...[...new Set(values)].sort().map((v) => el("option", { value: v }, v)));
  select.value = values.includes(kept) ? kept : "";
}

// The requests listed (the filters applied) as CSV, built in the page: the same columns
// as the admin console's export, less the node and the key (the key holder's own).
function exportCsv() {
  const quote = (v) => (/[",\r\n]/.test(String(v)) ? `"${String(v).replace(/"/g, '""')}"` : v);
  const lines = [["time", "request_id", "model", "prompt_tokens", "answer_tokens",
    "reasoning_tokens", "credits", "status", "outcome", "settled_by"].join(",")];
  for (const r of chosen()) {
    lines.push([new Date(r.time * 1000).toISOString(), r.request_id, r.model, r.tokens.prompt,
      r.tokens.completion, r.tokens.reasoning, r.credits, r.status, r.outcome, r.settled_by]
      .map(quote).join(","));
  }
  const url = URL.createObjectURL(new Blob([lines.join("\r\n") + "\r\n"], { type: "text/csv" }));
  const link = el("a", { href: url, download: "router-account.csv" });
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}

function showPage() {
  const list = chosen();
  const page = list.slice(offset, offset + PAGE);
  $("recent").replaceChildren(...page.map((r) => row(LABELS, [
    new Date(r.time * 1000).toLocaleString(),
    r.model,
    tokensText(tokensOf(r.tokens)),
    creditsCell("td", r.credits, { class: "num", "data-label": "credits" }),
    `${r.outcome} (${r.status})`,
  ])));
  const last = Math.min(offset + PAGE, list.length);
  $("page").textContent = list.length ? `${offset + 1}-${last} of ${list.length}` : "none yet";
  $("newer").disabled = offset === 0;
  $("older").disabled = last >= list.length;
}

function show(account) {
  $("name").textContent = account.name + (account.disabled ? " (disabled)" : "");
  $("balance").textContent = credits(account.balance);
  $("balance").title = `${account.balance} credits`;
  $("rpm").textContent = account.rpm ?? "unlimited";
  $("tpm").textContent = account.tpm ?? "unlimited";
  $("concurrency").textContent = account.max_concurrent ?? "unlimited";
  $("models").textContent = account.models.join(", ");
  const day = account.last_24h;
  $("day-requests").textContent = day.requests;
  $("day-credits").textContent = credits(day.credits);
  $("day-tokens").textContent = tokensText(tokensOf(day.tokens));
  recent = account.recent;
  offset = 0;
  options($("f-model"), recent.map((r) => r.model));
  options($("f-outcome"), recent.map((r) => r.outcome));
  showPage();
  for (const id of ["summary", "chart-box", "recent-box"]) $(id).hidden = false;
  const hours = account.credits_per_hour;
  lineChart($("chart"), [{ label: "credits charged per hour", color: "#1f6feb",
    values: hours.credits }], { times: hours.hour_starts, legend: $("legend") });
}

async function refresh() {
  $("error").textContent = "";
  const key = secret("router.key");
  if (!key) {
    $("error").textContent = "Type your API key to see your account.";
    return;
  }
  try {
    show(await getJson("/api/v1/account", key));
  } catch (error) {
    for (const id of ["summary", "chart-box", "recent-box"]) $(id).hidden = true;
    $("error").textContent = `${error.message} (${error.code}, HTTP ${error.status})`;
  }
}

secretInput($("key"), "router.key", refresh);
$("refresh").addEventListener("click", refresh);
$("newer").addEventListener("click", () => { offset = Math.max(0, offset - PAGE); showPage(); });
$("older").addEventListener("click", () => { offset += PAGE; showPage(); });
for (const id of ["f-model", "f-outcome"]) {
  $(id).addEventListener("change", () => { offset = 0; showPage(); });
}
$("export").addEventListener("click", exportCsv);
refresh();
