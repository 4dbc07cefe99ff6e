// A channel: the map enlarged, over the input, its similar channels, firing, exemplars.
import { $, clear, el, emit, fitZoom, fmt, getJSON, imageKey, on, percent, className, state, url, zoomImage, guarded } from "./api.js";
import { bars } from "./charts.js";

let nav = null;

export function init(overview, { go }) {
  nav = go;
  on("metric", () => { if (!$("channel").hidden) guarded(show); });
  on("image", () => { if (!$("channel").hidden) guarded(show); });
}

function channelItem(entry, which) {
  return el("li", {},
    el("button", { type: "button", class: "link", "data-channel": entry.channel, onclick: () => { state.channel = entry.channel; guarded(show); } },
      `#${entry.channel}`),
    el("img", { class: "px mini", alt: `map ${entry.channel}`, src: url(`/api/png/map/${imageKey()}/${state.layer}/${entry.channel}`, { norm: "map" }) }),
    el("span", { class: "chan-values", title: "mean over the first images of the split; on the chosen image" }, `${fmt(entry.value)} (this image ${fmt(entry.image_value)})`),
    el("button", { type: "button", class: "link small", title: "compare the two maps on this image",
      onclick: () => { state.pair = [state.channel, entry.channel]; emit("pair"); nav("similarity"); } }, "compare"));
}

function similar(c) {
  const most = clear($("ch-most")), least = clear($("ch-least"));
  if (!c.similar) {
    $("ch-sim-note").textContent = "(the layer has one channel)";
    return;
  }
  const out = c.similar.left_out.length;
  $("ch-sim-note").textContent = `(${c.similar.metric}, mean over the split's first ${c.similar.images} images; in brackets: on this image` +
    (out ? `; ${out} dead or constant channel${out === 1 ? "" : "s"} left out${c.similar.inactive ? ", this one among them" : ""})` : ")");
  c.similar.most.forEach((e) => most.append(channelItem(e, "most")));
  c.similar.least.forEach((e) => least.append(channelItem(e, "least")));
}

function firing(c) {
  if (!c.firing) {
    clear($("ch-firing"));
    $("ch-firing-note").textContent = "No firing profile for this layer.";
    return;
  }
  const items = c.firing.rates.map((rate, k) => ({ label: className(k), value: rate, text: percent(rate) }));
  bars($("ch-firing"), items, 1);
  const total = c.firing.counts.reduce((a, b) => a + b, 0);
  $("ch-firing-note").textContent = c.firing.level > 0
    ? `Fraction of each class's images (${total} in all) on which this map's mean is above ${fmt(c.firing.level, 3)}, the channel's own mean level over the first ${c.firing.level_images} images.`
    : `This channel is silent on the first ${c.firing.level_images} images, so it is counted as never firing.`;
}

function exemplars(c) {
  const box = clear($("ch-exemplars"));
  if (!c.exemplars) { box.append(el("p", { class: "note" }, "Not computed for this layer.")); return; }
  for (const e of c.exemplars) {
    box.append(el("button", { type: "button", class: "thumb", title: `image ${e.index}, true ${className(e.label)}: ${fmt(e.value)} at cell (${e.row}, ${e.col})`,
      onclick: () => { state.image = { source: "split", index: e.index }; emit("image"); } },
    el("img", { class: "px", alt: `image ${e.index}`, src: url(`/api/png/image/split/${e.index}`) }),
    el("span", {}, fmt(e.value, 2))));
  }
}

export async function show() {
  const layer = state.overview.layers[state.layer];
  if (state.channel === null || !layer || !layer.maps) {
    $("channel-title").textContent = "Click a map in Layers to see one channel.";
    return;
  }
  const c = await getJSON(url(`/api/channel/${imageKey()}/${state.layer}/${state.channel}`, { metric: state.metric }));
  $("channel-title").textContent = `${c.name} · channel ${c.channel} of ${c.channels}: values ${fmt(c.min)} to ${fmt(c.max)} (mean ${fmt(c.mean)}) on this image`;
  await Promise.all([
    zoomImage($("ch-map"), url(`/api/png/map/${imageKey()}/${state.layer}/${c.channel}`, { norm: state.norm }), fitZoom(300, 16)),
    zoomImage($("ch-overlay"), url(`/api/png/overlay/${imageKey()}/${state.layer}/${c.channel}`), fitZoom(300, 12)),
  ]);
  $("ch-map-cap").textContent = `${c.height}×${c.width} map, ${state.norm === "map" ? "its own" : state.norm === "layer" ? "the layer's" : "standardised"} scale`;
  $("ch-bar").src = "/api/png/colorbar/inferno";
  $("ch-bar-lo").textContent = fmt(c.layer_min, 3);
  $("ch-bar-hi").textContent = fmt(c.layer_max, 3);
  $("ch-overlay-cap").textContent = `over the input, on the layer's scale for this image (${fmt(c.layer_min, 3)} to ${fmt(c.layer_max, 3)}): this map reaches ${fmt(c.max, 3)}`;
  similar(c);
  firing(c);
  exemplars(c);
}
