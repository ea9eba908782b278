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

export function credits(value) {
  return value === null || value === undefined ? "unlimited" : Number(value).toFixed(6);
}

// Line chart of several series on a canvas; series: [{label, color, values, dashed}].
export function lineChart(canvas, series, { yLabel = "" } = {}) {
  const ratio = window.devicePixelRatio || 1;
  const width = canvas.clientWidth, height = canvas.clientHeight;
  canvas.width = width * ratio;
  canvas.height = height * ratio;
  const ctx = canvas.getContext("2d");
  ctx.scale(ratio, ratio);
  ctx.clearRect(0, 0, width, height);
  const n = Math.max(1, ...series.map((s) => s.values.length));
  const max = Math.max(1e-9, ...series.flatMap((s) => s.values));
  const left = 44, bottom = 18, top = 8;
  ctx.strokeStyle = "#d5d9df";
  ctx.fillStyle = "#5b6470";
  ctx.font = "11px system-ui, sans-serif";
  ctx.beginPath();
  ctx.moveTo(left, top);
  ctx.lineTo(left, height - bottom);
  ctx.lineTo(width, height - bottom);
  ctx.stroke();
  ctx.fillText(max.toPrecision(3), 2, top + 8);
  ctx.fillText("0", 2, height - bottom);
  if (yLabel) ctx.fillText(yLabel, left + 4, top + 8);
  const x = (i) => left + ((width - left - 4) * i) / Math.max(1, n - 1);
  const y = (v) => height - bottom - ((height - bottom - top) * v) / max;
  let legend = left + 4;
  for (const s of series) {
    ctx.strokeStyle = s.color;
    ctx.lineWidth = 1.6;
    ctx.setLineDash(s.dashed ? [5, 3] : []);
    ctx.beginPath();
    s.values.forEach((v, i) => (i ? ctx.lineTo(x(i), y(v)) : ctx.moveTo(x(i), y(v))));
    ctx.stroke();
    ctx.fillStyle = s.color;
    ctx.fillText(s.label, legend, height - 4);
    legend += ctx.measureText(s.label).width + 14;
  }
}

export const COLORS = ["#1f6feb", "#2e7d32", "#b26a00", "#8e24aa", "#00838f", "#6d4c41"];
