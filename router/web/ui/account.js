// The account page: GET /api/v1/account with the key typed into the page.
import { credits, el, getJson, lineChart, secret, secretInput } from "/ui/common.js";

const $ = (id) => document.getElementById(id);

function show(account) {
  $("name").textContent = account.name + (account.disabled ? " (disabled)" : "");
  $("balance").textContent = credits(account.balance);
  $("rpm").textContent = account.rpm ?? "unlimited";
  $("tpm").textContent = account.tpm ?? "unlimited";
  $("concurrency").textContent = account.max_concurrent ?? "unlimited";
  $("models").textContent = account.models.join(", ");
  const day = account.last_24h;
  $("day-requests").textContent = day.requests;
  $("day-credits").textContent = credits(day.credits);
  $("day-tokens").textContent =
    `${day.tokens.prompt} / ${day.tokens.completion} / ${day.tokens.reasoning}`;
  $("day-tokens").title = "prompt / completion / reasoning";
  $("recent").replaceChildren(...account.recent.map((r) => el("tr", {},
    el("td", {}, new Date(r.time * 1000).toLocaleString()),
    el("td", {}, r.model),
    el("td", {}, r.tokens.prompt),
    el("td", {}, r.tokens.completion),
    el("td", {}, r.tokens.reasoning),
    el("td", {}, credits(r.credits)),
    el("td", {}, `${r.outcome} (${r.status})`),
  )));
  for (const id of ["summary", "chart-box", "recent-box"]) $(id).hidden = false;
  const hours = account.credits_per_hour;
  lineChart($("chart"), [{ label: "credits / hour", color: "#1f6feb", values: hours.credits }]);
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
refresh();
