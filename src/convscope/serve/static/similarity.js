// Similarity: the clustered channel x channel matrix; a cell opens the pair on this image.
import { $, clear, el, fitZoom, fmt, getJSON, imageKey, on, state, url, zoomImage, guarded } from "./api.js";
import { hoverCells } from "./charts.js";

let matrix = null;

export function init(overview) {
  const select = $("sim-layer");
  for (const layer of overview.layers) {
    if (layer.maps && layer.shape[0] >= 2) select.append(el("option", { value: layer.id }, layer.name));
  }
  select.addEventListener("change", () => { state.layer = Number(select.value); state.pair = null; guarded(show); });
  on("metric", () => { if (!$("similarity").hidden) guarded(show); });
  on("image", () => { if (!$("similarity").hidden && state.pair) guarded(showPair); });
}

function value(i, j) {
  return matrix.matrix[i][j];
}

export async function show() {
  const select = $("sim-layer");
  const wanted = [...select.options].some((o) => Number(o.value) === state.layer) ? state.layer : Number(select.value);
  if (Number.isNaN(wanted)) { $("sim-note").textContent = "No layer with two or more channels."; return; }
  select.value = String(wanted);
  matrix = await getJSON(url(`/api/similarity/${wanted}`, { metric: state.metric }));
  const m = matrix;
  const img = $("sim-matrix");
  await zoomImage(img, url(`/api/png/similarity/${wanted}`, { metric: state.metric }), fitZoom(520, 12));
  $("sim-note").textContent = `${m.name}: ${m.metric} similarity of ${m.channels} channels, mean over the first ${m.images} images of the ${m.split} split (mean ${fmt(m.mean)}); ` +
    `rows and columns reordered by clustering so that similar channels sit together. Colours from ${fmt(m.lo, 2)} (dark) to ${fmt(m.hi, 2)} (bright); ${m.groups.length} redundant group(s).`;
  hoverCells(img, {
    cell: (px, py) => (px < m.channels && py < m.channels && px >= 0 && py >= 0 ? [m.order[py], m.order[px]] : null),
    text: ([i, j]) => [`#${i} × #${j}: ${fmt(value(i, j))}`],
    click: ([i, j]) => { state.pair = [i, j]; guarded(showPair); },
    readout: $("sim-readout"),
  });
  if (state.pair) await showPair();
}

async function showPair() {
  const [i, j] = state.pair;
  const p = await getJSON(url(`/api/pair/${imageKey()}/${state.layer}/${i}/${j}`, { metric: state.metric }));
  $("pair").hidden = false;
  $("pair-title").textContent = `${p.name}: channels #${p.i} and #${p.j} on this image`;
  $("pair-a-cap").textContent = `#${p.i}`;
  $("pair-b-cap").textContent = `#${p.j}`;
  const base = `/api/png/pair/${imageKey()}/${state.layer}/${p.i}/${p.j}`;
  const zoom = fitZoom(150, 10);
  await Promise.all([
    zoomImage($("pair-image"), url(`/api/png/image/${imageKey()}`), fitZoom(150, 8)),
    zoomImage($("pair-a"), url(`${base}/0`), zoom),
    zoomImage($("pair-b"), url(`${base}/1`), zoom),
    zoomImage($("pair-mask"), url(`${base}/2`), zoom),
    zoomImage($("pair-product"), url(`${base}/3`), zoom),
  ]);
  $("pair-note").textContent = `${p.metric} similarity on this image ${fmt(p.value)} (over the first ${p.images} images: ${fmt(p.data_value)}). ` +
    `The multiply metric counts the cells where the product of the two min-max scaled maps is above its mean: ${p.counted} of ${p.cells} cells (orange).`;
}
