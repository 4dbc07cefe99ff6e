// convscope explorer: line charts (SVG) with hover read-outs, pixel-grid hover, bars.
import { el, clear, fmt } from "./api.js";

export const PALETTE = ["#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#F0E442", "#000000"];
const SVG = "http://www.w3.org/2000/svg";

function svg(tag, attrs = {}) {
  const node = document.createElementNS(SVG, tag);
  for (const [key, value] of Object.entries(attrs)) node.setAttribute(key, String(value));
  return node;
}

const tip = () => document.getElementById("tooltip");

/** Show the tooltip near the mouse with one line per entry (text only). */
export function showTip(event, lines) {
  const box = tip();
  clear(box);
  for (const line of lines) box.append(el("div", {}, line));
  box.hidden = false;
  const x = Math.min(event.clientX + 14, window.innerWidth - box.offsetWidth - 8);
  const y = Math.min(event.clientY + 14, window.innerHeight - box.offsetHeight - 8);
  box.style.left = `${x}px`;
  box.style.top = `${y}px`;
}

export function hideTip() {
  tip().hidden = true;
}

function ticks(lo, hi, count = 5) {
  const span = hi - lo || 1;
  const step = Math.pow(10, Math.floor(Math.log10(span / count)));
  const nice = [1, 2, 5, 10].map((m) => m * step).find((s) => span / s <= count) || step * 10;
  const out = [];
  for (let v = Math.ceil(lo / nice) * nice; v <= hi + 1e-12; v += nice) out.push(Number(v.toFixed(10)));
  return out;
}

/**
 * A line chart of per-epoch series: {title, series: [{name, values, color, dash}], yLabel}.
 * Points are circles (class "pt"); hovering shows every series' value at that epoch.
 */
export function lineChart(container, { title, series, yLabel = "" }) {
  const W = 560, H = 260, L = 52, R = 12, T = 26, B = 34;
  const shown = series.filter((s) => s.values.some((v) => v !== null && Number.isFinite(v)));
  const epochs = Math.max(1, ...shown.map((s) => s.values.length));
  const all = shown.flatMap((s) => s.values.filter((v) => v !== null && Number.isFinite(v)));
  let lo = Math.min(...all), hi = Math.max(...all);
  if (!all.length) { lo = 0; hi = 1; }
  if (lo === hi) { lo -= 0.5; hi += 0.5; }
  const pad = (hi - lo) * 0.06; lo -= pad; hi += pad;
  const x = (e) => L + (epochs === 1 ? (W - L - R) / 2 : ((W - L - R) * e) / (epochs - 1));
  const y = (v) => T + ((H - T - B) * (hi - v)) / (hi - lo);
  const root = svg("svg", { viewBox: `0 0 ${W} ${H}`, class: "chart", role: "img" });
  root.dataset.points = String(shown.length ? shown[0].values.length : 0);
  root.dataset.epochs = String(epochs);
  root.append(svg("title")); root.lastChild.textContent = title;
  const head = svg("text", { x: W / 2, y: 16, class: "chart-title", "text-anchor": "middle" }); head.textContent = title; root.append(head);
  for (const v of ticks(lo, hi)) {
    root.append(svg("line", { x1: L, x2: W - R, y1: y(v), y2: y(v), class: "grid" }));
    const t = svg("text", { x: L - 6, y: y(v) + 4, class: "tick", "text-anchor": "end" }); t.textContent = fmt(v, 3); root.append(t);
  }
  for (const e of ticks(1, epochs, 8).filter((e) => Number.isInteger(e))) {
    const t = svg("text", { x: x(e - 1), y: H - B + 16, class: "tick", "text-anchor": "middle" }); t.textContent = String(e); root.append(t);
  }
  const xl = svg("text", { x: (L + W - R) / 2, y: H - 4, class: "axis", "text-anchor": "middle" }); xl.textContent = "epoch"; root.append(xl);
  const yl = svg("text", { x: 12, y: (T + H - B) / 2, class: "axis", "text-anchor": "middle", transform: `rotate(-90 12 ${(T + H - B) / 2})` });
  yl.textContent = yLabel; root.append(yl);
  shown.forEach((s) => {
    const pts = s.values.map((v, e) => (v === null || !Number.isFinite(v) ? null : [x(e), y(v)]));
    const d = pts.reduce((acc, p, e) => (p ? acc + `${acc && pts[e - 1] ? "L" : "M"}${p[0].toFixed(1)},${p[1].toFixed(1)}` : acc), "");
    root.append(svg("path", { d, fill: "none", stroke: s.color, "stroke-width": 2, "stroke-dasharray": s.dash || "none" }));
    pts.forEach((p) => p && root.append(svg("circle", { cx: p[0], cy: p[1], r: 3, fill: s.color, class: "pt" })));
  });
  const cursor = svg("line", { y1: T, y2: H - B, class: "cursor", visibility: "hidden" });
  const hit = svg("rect", { x: L, y: T, width: W - L - R, height: H - T - B, class: "hit" });
  root.append(cursor, hit);
  hit.addEventListener("mousemove", (event) => {
    const box = root.getBoundingClientRect();
    const px = ((event.clientX - box.left) / box.width) * W;
    const e = Math.max(0, Math.min(epochs - 1, Math.round(((px - L) / (W - L - R)) * (epochs - 1))));
    cursor.setAttribute("x1", x(e)); cursor.setAttribute("x2", x(e)); cursor.setAttribute("visibility", "visible");
    const lines = [`epoch ${e + 1}`];
    for (const s of shown) if (s.values[e] !== undefined && s.values[e] !== null) lines.push(`${s.name}: ${fmt(s.values[e])}`);
    showTip(event, lines);
  });
  hit.addEventListener("mouseleave", () => { cursor.setAttribute("visibility", "hidden"); hideTip(); });
  const legend = el("div", { class: "legend" }, ...shown.map((s) => {
    const swatch = el("span", { class: "swatch" }); swatch.style.background = s.color;
    return el("span", { class: "legend-item" }, swatch, s.name + (s.dash ? " (dashed)" : ""));
  }));
  container.append(el("figure", { class: "chart-fig" }, root, legend));
  return root;
}

/** The cell of a pixel-grid <img> under the mouse: natural pixel coordinates. */
export function pixelAt(img, event) {
  const box = img.getBoundingClientRect();
  const px = Math.floor(((event.clientX - box.left) / box.width) * img.naturalWidth);
  const py = Math.floor(((event.clientY - box.top) / box.height) * img.naturalHeight);
  return [px, py];
}

/**
 * Hover and click on an image drawn one cell per pixel block: `cell(px, py)` returns what
 * is there (or null); `text(hit)` the lines to show; `click(hit)` what a click does.
 */
export function hoverCells(img, { cell, text, click, readout }) {
  img.onmousemove = (event) => {
    const hit = cell(...pixelAt(img, event));
    if (hit === null) { hideTip(); return; }
    const lines = text(hit);
    showTip(event, lines);
    if (readout) readout.textContent = lines.join(" · ");
  };
  img.onmouseleave = hideTip;
  img.onclick = click ? (event) => { const hit = cell(...pixelAt(img, event)); if (hit !== null) click(hit); } : null;
}

/**
 * Put row labels left of (and column labels above) a heat-map image of `rows` x `cols`
 * cells, each `cell` pixels on screen; returns the wrapper that replaces the image.
 */
export function labelHeat(img, rowLabels, colLabels, cell) {
  const wrap = img.closest(".heat-wrap") || el("div", { class: "heat-wrap" });
  if (!wrap.parentNode) { img.replaceWith(wrap); }
  clear(wrap);
  const rows = el("div", { class: "heat-rows" }, ...rowLabels.map((t) => el("span", { title: t }, t)));
  rows.style.gridTemplateRows = `repeat(${rowLabels.length}, ${cell}px)`;
  const body = el("div", { class: "heat-body" });
  if (colLabels) {
    const cols = el("div", { class: "heat-cols" }, ...colLabels.map((t) => el("span", { title: t }, t)));
    cols.style.gridTemplateColumns = `repeat(${colLabels.length}, ${cell}px)`;
    body.append(cols);
  }
  body.append(img);
  wrap.append(rows, body);
  if (colLabels) wrap.classList.add("with-cols");
  return wrap;
}

/** Horizontal bars: [{label, value, text}] with values in 0..max. */
export function bars(container, items, max = 1) {
  clear(container);
  for (const item of items) {
    const fill = el("span", { class: "bar-fill" });
    fill.style.width = `${Math.max(0, Math.min(1, item.value / (max || 1))) * 100}%`;
    container.append(el("div", { class: "bar-row" }, el("span", { class: "bar-label" }, item.label),
      el("span", { class: "bar-track" }, fill), el("span", { class: "bar-value" }, item.text)));
  }
}
