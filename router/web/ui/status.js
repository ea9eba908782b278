// The status page: GET /admin/status once a second with the admin token typed into the page.
import { COLORS, el, getJson, lineChart, secret, secretInput } from "/ui/common.js";

const $ = (id) => document.getElementById(id);
const BOXES = ["nodes-box", "chart-box", "models-box"];
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

function nodeRow(name, n) {
  const until = n.until ? new Date(n.until * 1000).toLocaleTimeString() : "";
  const drain = el("button", { type: "button", class: "secondary", "data-node": name }, "Drain");
  const enable = el("button", { type: "button", class: "secondary", "data-node": name }, "Enable");
  drain.addEventListener("click", () => act(`/admin/nodes/${encodeURIComponent(name)}/drain`, `drain ${name}`));
  enable.addEventListener("click", () => act(`/admin/nodes/${encodeURIComponent(name)}/enable`, `enable ${name}`));
  return el("tr", { "data-node": name },
    el("td", {}, name),
    el("td", { class: "state state-" + n.state }, n.state),
    el("td", {}, n.reason || ""),
    el("td", {}, until),
    el("td", {}, n.max_inflight ? `${n.inflight} / ${n.max_inflight}` : n.inflight),
    el("td", {}, n.consecutive_failures),
    el("td", {}, n.ejections),
    el("td", {}, n.recent_latency_ms === null ? "" : Math.round(n.recent_latency_ms)),
    el("td", {}, drain, enable));
}

function show(status) {
  $("notice").textContent = "";
  $("nodes").replaceChildren(...Object.entries(status.nodes).map(([k, v]) => nodeRow(k, v)));
  const rows = [];
  for (const [model, route] of Object.entries(status.models)) {
    for (const b of route.backends) {
      rows.push(el("tr", {}, el("td", {}, model), el("td", {}, b.node), el("td", {}, b.weight),
        el("td", {}, b.tier), el("td", {}, b.answered),
        el("td", {}, b.share === null ? "" : `${(b.share * 100).toFixed(1)}%`)));
    }
  }
  $("models").replaceChildren(...rows);
  for (const id of BOXES) $(id).hidden = false;
  const series = [];
  Object.entries(status.traffic.nodes).forEach(([node, t], i) => {
    const color = COLORS[i % COLORS.length];
    series.push({ label: `${node} req/s`, color, values: t.requests_per_s });
    series.push({ label: `${node} err/s`, color: "#c62828", values: t.errors_per_s });
  });
  lineChart($("chart"), series);
  $("updated").textContent = "updated " + new Date().toLocaleTimeString();
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
