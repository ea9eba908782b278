// The admin console: keys (create, top up, disable, enable) and usage (the ledger with
// filters, paging, CSV export, hourly charts), all through the admin API with the admin
// token typed once into the page and kept for this tab only.
import {
  COLORS, credits, creditsCell, el, getJson, HttpError, lineChart, row, secret, secretInput,
  tokensText,
} from "/ui/common.js";

const $ = (id) => document.getElementById(id);
const PAGE = 50;
const KEY_LABELS = ["name", "balance", "limits", "models", "state", "last use", "actions"];
const USAGE_LABELS = ["time", "key", "model", "tokens", "credits", "outcome"];
const BOXES = ["keys-box", "usage-box", "charts-box"];
let offset = 0;

const token = () => secret("router.admin");
const call = (path, options) => getJson(path, token(), options);

function post(path, body) {
  return call(path, {
    method: "POST", body: JSON.stringify(body ?? {}),
  });
}

function failed(where, error) {
  return error instanceof HttpError
    ? `${where}: ${error.message} (${error.code}, HTTP ${error.status})`
    : `${where}: ${String(error.message || error)}`;
}

function when(seconds) {
  return seconds ? new Date(seconds * 1000).toLocaleString() : "never";
}

function limits(k) {
  const parts = [];
  if (k.rpm) parts.push(`${k.rpm} rpm`);
  if (k.tpm) parts.push(`${k.tpm} tpm`);
  if (k.max_concurrent) parts.push(`${k.max_concurrent} at once`);
  return parts.join(" · ") || "none";
}

// The message comes once the list shows the outcome: "topped up" beside the old balance
// would read as a top-up that did nothing.
async function act(what, request) {
  $("key-message").textContent = "";
  let message = what;
  try {
    await request();
  } catch (error) {
    message = failed(what, error);
  }
  await refresh();
  $("key-message").textContent = message;
}

function keyRow(k) {
  const name = encodeURIComponent(k.name);
  const amount = el("input", { type: "number", step: "any", placeholder: "+credits",
    "aria-label": `credits to add to ${k.name}`, "data-key": k.name, class: "amount" });
  const topUp = el("button", { type: "button", class: "secondary small", "data-action": "top-up",
    "data-key": k.name }, "Top up");
  topUp.disabled = k.credits === null;
  topUp.addEventListener("click", () => act(`topped up ${k.name} by ${amount.value}`,
    () => post(`/admin/keys/${name}/credits`, { amount: amount.value })));
  const toggle = el("button", { type: "button", class: k.disabled ? "secondary small"
    : "danger small", "data-action": k.disabled ? "enable" : "disable", "data-key": k.name },
  k.disabled ? "Enable" : "Disable");
  toggle.addEventListener("click", () => act(`${k.disabled ? "enabled" : "disabled"} ${k.name}`,
    () => post(`/admin/keys/${name}/${k.disabled ? "enable" : "disable"}`)));
  const actions = el("td", { class: "actions", "data-label": "actions" });
  if (k.credits !== null) actions.append(amount, topUp);
  actions.append(toggle);
  return row(KEY_LABELS, [
    k.name,
    creditsCell("td", k.credits, { class: "num", "data-label": "balance" }),
    limits(k),
    k.models.join(", "),
    (k.disabled ? "disabled" : "active") + (k.static ? " (routes.yaml)" : ""),
    when(k.last_used),
    actions,
  ], { "data-key": k.name });
}

function showKeys(listing) {
  $("backend").hidden = !listing.note;
  $("backend").textContent = listing.note || "";
  $("auth-off").hidden = !listing.auth_off;
  $("keys").replaceChildren(...listing.keys.map(keyRow));
}

function filters() {
  const query = new URLSearchParams();
  for (const [name, id] of [["key", "f-key"], ["model", "f-model"], ["outcome", "f-outcome"],
    ["since", "f-since"]]) {
    if ($(id).value) query.set(name, $(id).value);
  }
  return query;
}

function fill(select, values) {
  const chosen = select.value;
  select.replaceChildren(el("option", { value: "" }, "all"),
    ...values.map((v) => el("option", { value: v }, v)));
  select.value = values.includes(chosen) ? chosen : "";
}

function chart(canvas, legend, hourly, series) {
  const entries = Object.entries(series);
  lineChart($(canvas), entries.map(([label, values], i) => ({
    label, values, color: COLORS[i % COLORS.length], dashed: i >= COLORS.length,
  })), { times: hourly.hour_starts, legend: $(legend) });
}

function showUsage(doc) {
  fill($("f-key"), doc.keys);
  fill($("f-model"), doc.models);
  if ($("f-outcome").options.length === 1) fill($("f-outcome"), doc.outcomes);
  const t = doc.totals;
  const requests = `${t.requests} request${t.requests === 1 ? "" : "s"}`;
  $("totals").textContent = `${requests} · ${credits(t.credits)} credits · ` +
    `${tokensText(t.tokens)} tokens`;
  $("totals").dataset.credits = String(t.credits);
  $("usage").replaceChildren(...doc.records.map((r) => row(USAGE_LABELS, [
    new Date(r.time * 1000).toLocaleString(), r.key, r.model, tokensText(r.tokens),
    creditsCell("td", r.credits, { class: "num", "data-label": "credits" }),
    `${r.outcome} (${r.status})`,
  ])));
  const last = Math.min(doc.offset + doc.records.length, doc.total);
  $("page").textContent = doc.total ? `${doc.offset + 1}-${last} of ${doc.total}` : "none";
  $("newer").disabled = doc.offset === 0;
  $("older").disabled = last >= doc.total;
  chart("chart-keys", "legend-keys", doc.hourly, doc.hourly.by_key);
  chart("chart-models", "legend-models", doc.hourly, doc.hourly.by_model);
}

async function loadUsage() {
  const query = filters();
  query.set("limit", String(PAGE));
  query.set("offset", String(offset));
  showUsage(await call("/admin/usage?" + query));
}

async function refresh() {
  if (!token()) {
    for (const id of BOXES) $(id).hidden = true;
    $("notice").textContent = "Type the admin token (server.admin_token in routes.yaml).";
    return;
  }
  try {
    showKeys(await call("/admin/keys"));
    for (const id of BOXES) $(id).hidden = false;  // before the charts measure their width
    await loadUsage();
    $("notice").textContent = "";
  } catch (error) {
    for (const id of BOXES) $(id).hidden = true;
    $("notice").textContent = error.status === 404
      ? "The admin API is off: set server.admin_token in routes.yaml and restart the router."
      : failed("console", error);
  }
}

function number(id) {
  const value = $(id).value.trim();
  return value === "" ? null : value;
}

async function create() {
  const body = {
    name: $("new-name").value.trim(), credits: number("new-credits"), rpm: number("new-rpm"),
    tpm: number("new-tpm"), max_concurrent: number("new-concurrency"),
    models: $("new-models").value,
  };
  try {
    const made = await post("/admin/keys", body);
    $("created-name").textContent = made.record.name;
    $("created-key").textContent = made.key;
    $("created-entry-box").hidden = !made.routes_yaml_entry;
    $("created-entry").textContent = made.routes_yaml_entry ? `- ${made.routes_yaml_entry}` : "";
    $("created").hidden = false;
    for (const id of ["new-name", "new-credits", "new-rpm", "new-tpm", "new-concurrency",
      "new-models"]) $(id).value = "";
    $("key-message").textContent = `created ${made.record.name}`;
  } catch (error) {
    $("key-message").textContent = failed("create", error);
  }
  await refresh();
}

// The CSV comes with the token in a header, so it is fetched and handed to the browser as
// a file (a link could not carry the header).
async function exportCsv() {
  const response = await fetch("/admin/usage.csv?" + filters(), {
    headers: { Authorization: "Bearer " + token() }, cache: "no-store",
  });
  if (!response.ok) {
    $("key-message").textContent = `export: HTTP ${response.status}`;
    return;
  }
  const url = URL.createObjectURL(await response.blob());
  const link = el("a", { href: url, download: "router-usage.csv" });
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}

secretInput($("token"), "router.admin", refresh);
$("refresh").addEventListener("click", refresh);
$("create").addEventListener("click", create);
$("created-done").addEventListener("click", () => {
  $("created").hidden = true;
  $("created-key").textContent = "";
});
$("export").addEventListener("click", exportCsv);
for (const id of ["f-key", "f-model", "f-outcome", "f-since"]) {
  $(id).addEventListener("change", () => { offset = 0; loadUsage(); });
}
$("newer").addEventListener("click", () => { offset = Math.max(0, offset - PAGE); loadUsage(); });
$("older").addEventListener("click", () => { offset += PAGE; loadUsage(); });
refresh();
