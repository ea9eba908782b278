// The account page: GET /api/v1/account with the key typed into the page.
import {
  creditsCell, credits, getJson, ledgerTokens, lineChart, row, secret, secretInput, tokensText,
} from "/ui/common.js";

const $ = (id) => document.getElementById(id);
const PAGE = 10;
const LABELS = ["time", "model", "tokens", "credits", "outcome"];
let recent = [];
let offset = 0;

const tokensOf = ledgerTokens;

function showPage() {
  const page = recent.slice(offset, offset + PAGE);
  $("recent").replaceChildren(...page.map((r) => row(LABELS, [
    new Date(r.time * 1000).toLocaleString(),
    r.model,
    tokensText(tokensOf(r.tokens)),
    creditsCell("td", r.credits, { class: "num", "data-label": "credits" }),
    `${r.outcome} (${r.status})`,
  ])));
  const last = Math.min(offset + PAGE, recent.length);
  $("page").textContent = recent.length ? `${offset + 1}-${last} of ${recent.length}` : "none yet";
  $("newer").disabled = offset === 0;
  $("older").disabled = last >= recent.length;
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
refresh();
