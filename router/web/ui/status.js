// The status page: GET /admin/status once a second with the admin token typed into the page.
import { COLORS, el, getJson, lineChart, row, secret, secretInput } from "/ui/common.js";

const $ = (id) => document.getElementById(id);
const BOXES = ["nodes-box", "chart-box", "models-box"];
const NODE_LABELS = ["node", "state", "why", "until", "in flight", "failures", "ejections",
  "TTFB ms", "actions"];
const MODEL_LABELS = ["model", "node", "weight", "tier", "answered", "share"];
const started = Date.now() / 1000;  // the chart starts at the first traffic or this page
let busy = false;

function hideAll(notice) {
  for (const id of BOXES) $(id).hidden = true;
  $("notice").textContent = notice;
}

async function act(path, what) {
  try {
    const result = await getJson(path, secret("router.admin"), { method: "POST" });
    $("message").textContent = `${what}: ${result.state || result.status}`;
  } catch (error) {
    $("message").textContent = `${what} failed: ${error.message} (${error.code})`;
  }
  poll();
}

// Rows are built once per node and updated in place: rebuilding them every second would
// swallow a click that lands between its mousedown and its mouseup.
function nodeRow(name) {
  const drain = el("button", { type: "button", class: "secondary", "data-node": name }, "Drain");
  const enable = el("button", { type: "button", class: "secondary", "data-node": name }, "Enable");
  const node = encodeURIComponent(name);
  drain.addEventListener("click", () => act(`/admin/nodes/${node}/drain`, `drain ${name}`));
  enable.addEventListener("click", () => act(`/admin/nodes/${node}/enable`, `enable ${name}`));
  const cells = NODE_LABELS.slice(0, 8).map((label, i) =>
    el("td", { "data-label": label, class: i >= 4 ? "num" : "" }));
  cells[0].textContent = name;
  const actions = el("td", { "data-label": "actions", class: "actions" }, drain, enable);
  return el("tr", { "data-node": name }, ...cells, actions);
}

function updateRow(row, n) {
  const until = n.until ? new Date(n.until * 1000).toLocaleTimeString() : "";
  const values = [
    n.state, n.reason || "", until,
    n.max_inflight ? `${n.inflight} / ${n.max_inflight}` : n.inflight,
    n.consecutive_failures, n.ejections,
    n.recent_latency_ms === null ? "" : Math.round(n.recent_latency_ms),
  ];
  values.forEach((value, i) => {
    const cell = row.cells[i + 1];
    if (cell.textContent !== String(value)) cell.textContent = String(value);
  });
  row.cells[1].className = "state state-" + n.state;
}

function showNodes(nodes) {
  const body = $("nodes");
  const rows = new Map(Array.from(body.rows, (row) => [row.dataset.node, row]));
  for (const [name, n] of Object.entries(nodes)) {
    let row = rows.get(name);
    if (!row) {
      row = nodeRow(name);
      body.append(row);
    }
    rows.delete(name);
    updateRow(row, n);
  }
  for (const gone of rows.values()) gone.remove();  // a node a reload removed
}

function show(status) {
  $("notice").textContent = "";
  showNodes(status.nodes);
  const rows = [];
  for (const [model, route] of Object.entries(status.models)) {
    for (const b of route.backends) {
      rows.push(row(MODEL_LABELS, [model, b.node, b.weight, b.tier, b.answered,
        b.share === null ? "-" : `${(b.share * 100).toFixed(1)}%`]));
    }
  }
  $("models").replaceChildren(...rows);
  for (const id of BOXES) $(id).hidden = false;
  chart(status.traffic);
  $("updated").textContent = "updated " + new Date().toLocaleTimeString();
}

// Bucket i of n ends (n - 1 - i) steps before now. The chart starts at the first bucket
// with traffic (or when this page opened), so a young router's data is not squeezed
// against the right edge of an empty 15 minutes.
function chart(traffic) {
  const step = traffic.step_seconds, n = traffic.buckets, now = Date.now() / 1000;
  const times = Array.from({ length: n }, (_, i) => now - (n - 1 - i) * step);
  const nodes = Object.entries(traffic.nodes);
  const busy = nodes.flatMap(([, t]) => t.requests_per_s.map((v, i) => (v ? i : n)));
  const opened = times.findIndex((at) => at >= started - step);
  let first = Math.min(n - 6, Math.max(0, Math.min(...busy, opened < 0 ? n : opened) - 1));
  first = Math.max(0, first);
  const series = [];
  nodes.forEach(([node, t], i) => {
    const color = COLORS[i % COLORS.length];
    series.push({ label: `${node} requests/s`, color, values: t.requests_per_s.slice(first) });
    series.push({ label: `${node} errors/s (dashed)`, color, dashed: true,
      values: t.errors_per_s.slice(first) });
  });
  lineChart($("chart"), series, { times: times.slice(first), legend: $("legend") });
}

async function poll() {
  if (busy) return;
  const token = secret("router.admin");
  if (!token) {
    hideAll("Type the admin token (server.admin_token in routes.yaml) to see the nodes.");
    return;
  }
  busy = true;
  try {
    show(await getJson("/admin/status", token));
  } catch (error) {
    if (error.status === 404) {
      hideAll("The admin API is off: set server.admin_token in routes.yaml " +
        "(for example admin_token: ${ROUTER_ADMIN_TOKEN}) and restart the router.");
    } else {
      hideAll(`${error.message} (${error.code}, HTTP ${error.status})`);
    }
  } finally {
    busy = false;
  }
}

secretInput($("token"), "router.admin", poll);
$("reload").addEventListener("click", () => act("/admin/reload", "reload"));
poll();
setInterval(poll, 1000);  // at most once a second
