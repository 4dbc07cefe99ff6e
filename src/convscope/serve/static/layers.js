// Layers: the layer table; a layer's maps of the chosen image at native resolution.
import { $, clear, el, emit, fitZoom, fmt, getJSON, imageKey, on, state, url, zoomImage, guarded } from "./api.js";
import { hoverCells } from "./charts.js";

let nav = null;
let mosaic = null;

export function init(overview, { go }) {
  nav = go;
  const table = clear($("layer-table"));
  table.append(el("thead", {}, el("tr", {}, ...["#", "layer", "type", "kind", "output shape (C×H×W)", "params"].map((h) => el("th", {}, h)))));
  const body = el("tbody");
  for (const layer of overview.layers) {
    const row = el("tr", { class: layer.maps ? "pick" : "nomaps", "data-layer": layer.id,
      title: layer.maps ? "show this layer's maps" : "no (C, H, W) maps to show" },
    el("td", { class: "num" }, layer.id),
    el("td", {}, layer.maps ? el("button", { type: "button", class: "link", onclick: () => pick(layer.id) }, layer.name) : layer.name),
    el("td", {}, layer.type), el("td", {}, layer.kind),
    el("td", {}, layer.shape.length ? layer.shape.join("×") : "?"),
    el("td", { class: "num" }, layer.params.toLocaleString("en")));
    body.append(row);
  }
  table.append(body);
  for (const radio of document.querySelectorAll("input[name=norm]")) {
    radio.addEventListener("change", () => { state.norm = radio.value; guarded(show); });
  }
  on("image", () => { if (!$("layers").hidden) guarded(show); });
}

function pick(id) {
  state.layer = id;
  state.channel = null;
  emit("layer");
  guarded(show);
}

function markRow() {
  for (const row of document.querySelectorAll("#layer-table tr[data-layer]")) {
    row.classList.toggle("chosen", Number(row.dataset.layer) === state.layer);
  }
}

export async function show() {
  markRow();
  const layer = state.overview.layers[state.layer];
  if (!layer || !layer.maps) {
    $("mosaic-title").textContent = "Pick a layer with maps in the table";
    return;
  }
  mosaic = await getJSON(url(`/api/maps/${imageKey()}/${state.layer}`, { norm: state.norm }));
  const m = mosaic;
  const img = $("mosaic");
  await zoomImage(img, url(`/api/png/maps/${imageKey()}/${state.layer}`, { norm: state.norm }), fitZoom(880, 8));
  const scale = { map: "each map on its own scale", layer: `one scale for the layer (${fmt(m.layer_min, 3)} to ${fmt(m.layer_max, 3)})`, standardize: "standardised per map (seed 004)" }[m.norm];
  $("mosaic-title").textContent = `${m.name}: ${m.channels} maps of ${m.height}×${m.width}, ${scale}`;
  $("mosaic-note").textContent = (m.flat.length ? `${m.flat.length} map(s) are flat on this image (drawn as one colour). ` : "") +
    "Hover a map for its channel and value range; click it for the channel view.";
  const pitchX = m.width + m.gap, pitchY = m.height + m.gap;
  hoverCells(img, {
    cell: (px, py) => {
      const col = Math.floor(px / pitchX), row = Math.floor(py / pitchY);
      if (px % pitchX >= m.width || py % pitchY >= m.height || col >= m.cols) return null;
      const k = row * m.cols + col;
      return k < m.channels ? k : null;
    },
    text: (k) => [`${m.name} · channel ${k}`, `min ${fmt(m.min[k])} · max ${fmt(m.max[k])}`, `mean ${fmt(m.mean[k])}${m.flat.includes(k) ? " · flat" : ""}`],
    click: (k) => { state.channel = k; emit("channel"); nav("channel"); },
  });
}
