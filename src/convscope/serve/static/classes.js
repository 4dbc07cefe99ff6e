// Classes: class x unit firing rates, class distances, nearest classes (seed 001).
import { $, clear, el, fmt, getJSON, className, state, url, zoomImage, guarded } from "./api.js";
import { hoverCells, labelHeat } from "./charts.js";

export function init() {}

export async function show() {
  const { firing, units } = await getJSON(url("/api/classes"));
  if (!firing) { $("cls-note").textContent = "No layer before the output to profile."; return; }
  const k = firing.class_names.length;
  $("cls-note").textContent = `Layer ${firing.layer} (${units} units): a unit fires for an image when its activation is above ${firing.threshold}; ` +
    `a class's rate is the fraction of its images in which the unit fires (${firing.counts.reduce((a, b) => a + b, 0)} images). Classes are compared by the mean absolute difference of their rates.`;
  const rates = $("cls-rates");
  await zoomImage(rates, url("/api/png/classes/rates"), (w) => Math.max(1, Math.min(12, Math.floor(900 / w))));
  rates.style.height = `${k * 18}px`;
  rates.style.width = "100%";
  labelHeat(rates, firing.class_names, null, 18);
  hoverCells(rates, {
    cell: (px, py) => (px < units && py < k ? [py, px] : null),
    text: ([c, u]) => [`class ${className(c)} · unit ${u}: fires on ${fmt(100 * firing.rates[c][u], 1)} % of its images`],
    readout: $("cls-rates-readout"),
  });
  const dist = $("cls-distance");
  await zoomImage(dist, url("/api/png/classes/distance"), (w) => Math.max(1, Math.floor(300 / w)));
  labelHeat(dist, firing.class_names, firing.class_names, Number(dist.dataset.zoom));
  hoverCells(dist, {
    cell: (px, py) => (px < k && py < k ? [py, px] : null),
    text: ([a, b]) => [`${className(a)} ↔ ${className(b)}: distance ${fmt(firing.distance[a][b])}`],
    readout: $("cls-distance-readout"),
  });
  const table = clear($("cls-nearest"));
  table.append(el("thead", {}, el("tr", {}, ...["class", "images", "nearest", "2nd", "3rd"].map((h) => el("th", {}, h)))));
  const body = el("tbody");
  firing.class_names.forEach((name, c) => {
    const near = firing.nearest[name] || [];
    body.append(el("tr", {}, el("td", {}, name), el("td", { class: "num" }, firing.counts[c]),
      ...[0, 1, 2].map((n) => el("td", {}, near[n] ? `${near[n][0]} (${fmt(near[n][1], 3)})` : "–"))));
  });
  table.append(body);
}
