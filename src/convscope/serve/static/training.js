// Training: loss, accuracy and similarity curves of every run (overlaid), kept maps.
import { $, clear, el, fmt, getJSON, on, state, url, guarded } from "./api.js";
import { PALETTE, lineChart } from "./charts.js";

export function init() {
  on("runs", () => { if (!$("training").hidden) guarded(show); });
}

function series(runs, keys) {
  const out = [];
  runs.forEach((run, r) => {
    const history = (run.training && run.training.history) || {};
    for (const [key, dash] of keys) {
      if (history[key]) {
        const color = PALETTE[(runs.length > 1 ? r : keys.findIndex((k) => k[0] === key)) % PALETTE.length];
        out.push({ name: runs.length > 1 ? `${run.name} ${key}` : key, values: history[key], color, dash });
      }
    }
  });
  return out;
}

const DASHES = [null, "6 4", "2 3", "10 3 2 3"];

function similaritySeries(runs) {
  // one colour per run, one dash pattern per tracked layer (one run: one colour per layer)
  const out = [];
  runs.forEach((run, r) => {
    const history = (run.training && run.training.history) || {};
    const keys = Object.keys(history).filter((k) => k.startsWith("similarity/") && !k.endsWith("/std") && !k.endsWith("/excluded"));
    keys.forEach((key, n) => {
      const layer = key.slice(11);
      out.push(runs.length > 1
        ? { name: `${run.name} ${layer}`, values: history[key], color: PALETTE[r % PALETTE.length], dash: DASHES[n % DASHES.length] }
        : { name: layer, values: history[key], color: PALETTE[n % PALETTE.length] });
    });
  });
  return out;
}

function keptMaps(run) {
  const kept = run.training && run.training.epoch_maps;
  if (!kept) return null;
  const strip = el("div", { class: "epoch-strip" });
  kept.epochs.forEach((epoch, k) => {
    strip.append(el("figure", { class: "epoch" },
      el("img", { class: "px", alt: `${kept.layer} maps at epoch ${epoch}`, src: url(`/api/png/epochs/${run.id}/${k}`, { norm: "map", v: run.version }) }),
      el("figcaption", {}, `epoch ${epoch} · similarity ${fmt(kept.similarity[k], 3)}`)));
  });
  return el("div", {}, el("h3", {}, `${run.name}: ${kept.layer}'s maps of the first probe image across epochs`), strip);
}

export async function show() {
  const { runs } = await getJSON(url("/api/training"));
  const charts = clear($("train-charts"));
  const maps = clear($("train-maps"));
  if (!runs.length) {
    $("train-note").textContent = "No run folder given: start the explorer with `convscope serve RUN [RUN ...]` to see training curves.";
    return;
  }
  const withHistory = runs.filter((r) => r.training);
  $("train-note").textContent = runs.map((r) => `${r.name}: ${r.epochs} epoch(s)${r.status ? `, ${r.status}` : ""}`).join(" · ") +
    (withHistory.length < runs.length ? " · runs without a history yet are left out" : "") + ". Curves update within a second of each epoch.";
  const loss = lineChart(charts, { title: withHistory.length > 1 ? "loss (colour: run; dashed: validation)" : "loss (dashed: validation)", series: series(withHistory, [["loss", null], ["val_loss", "6 4"]]), yLabel: "cross-entropy" });
  loss.id = "chart-loss";
  const acc = lineChart(charts, { title: withHistory.length > 1 ? "accuracy (colour: run; dashed: validation)" : "accuracy (dashed: validation)", series: series(withHistory, [["accuracy", null], ["val_accuracy", "6 4"]]), yLabel: "accuracy" });
  acc.id = "chart-accuracy";
  const sim = similaritySeries(withHistory);
  if (sim.length) lineChart(charts, { title: withHistory.length > 1 ? "mean channel similarity (colour: run; dash: layer)" : "mean channel similarity per tracked layer", series: sim, yLabel: "similarity" }).id = "chart-similarity";
  for (const run of withHistory) {
    const strip = keptMaps(run);
    if (strip) maps.append(strip);
  }
}
