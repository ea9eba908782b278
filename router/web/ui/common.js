// Shared by the pages: secrets in sessionStorage only, same-origin JSON calls, small charts.
"use strict";

export function secret(name) {
  return sessionStorage.getItem(name) || "";
}

export function keepSecret(name, value) {
  if (value) sessionStorage.setItem(name, value);
  else sessionStorage.removeItem(name);
}

// Wire a password input to a sessionStorage entry.
export function secretInput(input, name, onChange) {
  input.value = secret(name);
  input.addEventListener("change", () => {
    keepSecret(name, input.value.trim());
    if (onChange) onChange();
  });
}

export class HttpError extends Error {
  constructor(status, body) {
    const err = body && body.error ? body.error : {};
    super(err.message || `HTTP ${status}`);
    this.status = status;
    this.code = err.code || String(status);
  }
}

export async function getJson(path, token, options = {}) {
  const headers = { Accept: "application/json" };
  if (token) headers.Authorization = "Bearer " + token;
  const response = await fetch(path, { ...options, headers, cache: "no-store" });
  let body = null;
  try { body = await response.json(); } catch (_) { body = null; }
  if (!response.ok) throw new HttpError(response.status, body);
  return body;
}

export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "class") node.className = v;
    else node.setAttribute(k, v);
  }
  for (const child of children) {
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

// Credits for a person: up to four decimals (trailing zeros dropped), a tiny non-zero
// amount with two significant digits; the exact value goes in a title attribute.
export function credits(value) {
  if (value === null || value === undefined) return "unlimited";
  const v = Number(value);
  if (v === 0) return "0";
  if (Math.abs(v) < 0.0001) return v.toPrecision(2);
  const text = Math.abs(v) >= 1000 ? v.toFixed(2) : v.toFixed(4);
  return text.replace(/\.?0+$/, "");
}

// Credits as an element: the short text shown, the exact value in its title.
export function creditsCell(tag, value, attrs = {}) {
  const node = el(tag, attrs, credits(value));
  if (value !== null && value !== undefined) node.title = `${value} credits`;
  return node;
}

// A ledger record's tokens under the names every page shows: the ledger's "completion"
// is the answer's text alone (OpenAI's completion_tokens less its reasoning_tokens).
export function ledgerTokens(t) {
  return { prompt: t.prompt, answer: t.completion, reasoning: t.reasoning };
}

// The token figures every page shows, labelled: prompt, answer (text), reasoning.
export function tokensText(t) {
  const parts = [`prompt ${t.prompt}`, `answer ${t.answer}`];
  if (t.reasoning) parts.push(`reasoning ${t.reasoning}`);
  return parts.join(" · ");
}

function clock(seconds, withSeconds) {
  const d = new Date(seconds * 1000);
  const hh = String(d.getHours()).padStart(2, "0"), mm = String(d.getMinutes()).padStart(2, "0");
  return withSeconds ? `${hh}:${mm}:${String(d.getSeconds()).padStart(2, "0")}` : `${hh}:${mm}`;
}

// Line chart on a canvas, with time labels under it and an HTML legend beside it that
// shows each line's colour and style (a dashed line is drawn dashed in the legend too).
// series: [{label, color, values, dashed}]; times: the Unix second of each value.
export function lineChart(canvas, series, { times = [], yLabel = "", legend = null } = {}) {
  const ratio = window.devicePixelRatio || 1;
  const width = canvas.clientWidth, height = canvas.clientHeight;
  canvas.width = width * ratio;
  canvas.height = height * ratio;
  const ctx = canvas.getContext("2d");
  ctx.scale(ratio, ratio);
  ctx.clearRect(0, 0, width, height);
  const n = Math.max(1, times.length, ...series.map((s) => s.values.length));
  const top = Math.max(0, ...series.flatMap((s) => s.values));
  const max = top || 1;
  const left = 44, bottom = 20, pad = 10, right = 8;
  ctx.strokeStyle = "#d5d9df";
  ctx.fillStyle = "#5b6470";
  ctx.font = "11px system-ui, sans-serif";
  ctx.beginPath();
  ctx.moveTo(left, pad);
  ctx.lineTo(left, height - bottom);
  ctx.lineTo(width - right, height - bottom);
  ctx.stroke();
  ctx.fillText(top ? Number(max.toPrecision(3)).toString() : "", 2, pad + 8);
  ctx.fillText("0", 2, height - bottom);
  if (yLabel) ctx.fillText(yLabel, left + 4, pad + 8);
  if (!top) ctx.fillText("nothing in this range yet", left + 12, (height - bottom) / 2);
  const x = (i) => left + ((width - left - right) * i) / Math.max(1, n - 1);
  const y = (v) => height - bottom - ((height - bottom - pad) * v) / max;
  if (times.length === n && n > 1) {
    const span = times[n - 1] - times[0];
    const ticks = Math.max(2, Math.min(6, Math.floor((width - left) / 70)));
    ctx.textAlign = "center";
    for (let k = 0; k < ticks; k++) {
      const i = Math.round(((n - 1) * k) / (ticks - 1));
      const label = clock(times[i], span < 3600);
      const at = Math.min(width - right - 20, Math.max(left + 20, x(i)));
      ctx.fillText(label, at, height - 5);
    }
    ctx.textAlign = "start";
  }
  for (const s of series) {
    ctx.strokeStyle = s.color;
    ctx.lineWidth = s.dashed ? 1.6 : 2;
    ctx.setLineDash(s.dashed ? [5, 3] : []);
    ctx.beginPath();
    s.values.forEach((v, i) => (i ? ctx.lineTo(x(i), y(v)) : ctx.moveTo(x(i), y(v))));
    ctx.stroke();
  }
  ctx.setLineDash([]);
  if (legend) {
    legend.replaceChildren(...series.map((s) => el("li", {},
      el("span", { class: "swatch" + (s.dashed ? " dashed" : "") }), s.label)));
    legend.querySelectorAll(".swatch").forEach((swatch, i) => {
      swatch.style.borderTopColor = series[i].color;
    });
  }
}

export const COLORS = ["#1f6feb", "#2e7d32", "#b26a00", "#8e24aa", "#00838f", "#6d4c41"];

// A table row whose cells carry their column's name, so a phone can stack them.
export function row(labels, values, attrs = {}) {
  return el("tr", attrs, ...values.map((value, i) =>
    value instanceof Node && value.tagName === "TD" ? value
      : el("td", { "data-label": labels[i] }, value)));
}
