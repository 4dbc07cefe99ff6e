// convscope explorer: boot, views by hash, the selection bar, live polling.
import { $, clear, el, emit, getJSON, guarded, imageKey, on, percent, className, state, url } from "./api.js";
import * as images from "./images.js";
import * as layers from "./layers.js";
import * as channel from "./channel.js";
import * as similarity from "./similarity.js";
import * as training from "./training.js";
import * as classes from "./classes.js";

const VIEWS = { images, layers, channel, similarity, training, classes };
let current = null;
const versions = {};

function showView(name) {
  if (!VIEWS[name]) name = "images";
  current = name;
  for (const id of Object.keys(VIEWS)) $(id).hidden = id !== name;
  for (const link of document.querySelectorAll("nav.toc a[data-view]")) {
    link.classList.toggle("current", link.dataset.view === name);
  }
  guarded(() => VIEWS[name].show());
}

/** Pick another view (the hash follows, so the back button works). */
export function go(name) {
  if (location.hash === `#${name}`) showView(name);
  else location.hash = name;
}

async function updateSelection() {
  const info = await getJSON(url(`/api/image/${imageKey()}`));
  $("sel-image").src = url(`/api/png/image/${imageKey()}`);
  const where = info.source === "split"
    ? `${state.overview.data.split} image ${info.index}: true ${className(info.label)}`
    : `upload ${info.index} (${info.name || "unnamed"})`;
  $("sel-title").textContent = `${where} · predicted ${className(info.prediction)}`;
  const box = clear($("sel-top5"));
  for (const [k, p] of info.top5) {
    const fill = el("span", { class: "bar-fill" });
    fill.style.width = `${Math.max(0, Math.min(1, p)) * 100}%`;
    box.append(el("div", { class: "bar-row small" }, el("span", { class: "bar-label" }, className(k)),
      el("span", { class: "bar-track" }, fill), el("span", { class: "bar-value" }, percent(p))));
  }
}

function setupMetric(overview) {
  const select = $("sel-metric");
  for (const metric of overview.metrics) select.append(el("option", { value: metric }, metric));
  select.value = state.metric = overview.metric;
  select.addEventListener("change", () => { state.metric = select.value; emit("metric"); });
}

function setupFigures() {
  for (const fold of document.querySelectorAll("details.figures")) {
    fold.addEventListener("toggle", () => {
      if (!fold.open || fold.dataset.loaded === String(state.generation)) return;
      fold.dataset.loaded = String(state.generation);
      const section = fold.dataset.section;
      const arg = section === "similarity" ? state.metric : null;
      guarded(async () => {
        const list = clear(fold.querySelector("ul"));
        const { keys } = await getJSON(url(`/api/figures/${section}`, { arg }));
        if (!keys.length) list.append(el("li", { class: "note" }, "no figure for this section"));
        keys.forEach((key, n) => list.append(el("li", {}, el("a", {
          href: url(`/api/png/figure/${section}/${n}`, { arg }), target: "_blank", rel: "noopener",
        }, key))));
      });
    });
  }
}

function liveText(status) {
  const runs = status.runs.map((r) => `${r.name}: ${r.epochs} epoch${r.epochs === 1 ? "" : "s"}${r.status ? `, ${r.status}` : ""}`);
  const weights = state.overview.watching ? ` · weights of ${state.overview.watching}, update ${status.generation}` : "";
  return (runs.length ? `live · ${runs.join(" · ")}` : "") + weights;
}

async function poll() {
  const status = await getJSON("/api/state");
  let runsChanged = false;
  for (const run of status.runs) {
    if (versions[run.id] !== undefined && versions[run.id] !== run.version) runsChanged = true;
    versions[run.id] = run.version;
  }
  $("live").textContent = liveText(status);
  if (status.generation !== state.generation) {
    state.generation = status.generation;
    emit("weights");
    await updateSelection();
    if (current) await VIEWS[current].show();
  } else if (runsChanged) {
    emit("runs");
  }
}

function startPolling() {
  const tick = async () => {
    try {
      await poll();
      $("live").classList.remove("offline");
    } catch {
      $("live").textContent = "the explorer's server is not answering; retrying…";
      $("live").classList.add("offline");
    }
    setTimeout(tick, 1000);
  };
  setTimeout(tick, 1000);
}

async function boot() {
  const overview = await getJSON("/api/overview");
  state.overview = overview;
  state.generation = overview.generation;
  state.layer = overview.default_layer;
  for (const run of overview.runs) versions[run.id] = run.version;
  setupMetric(overview);
  setupFigures();
  for (const view of Object.values(VIEWS)) view.init(overview, { go });
  on("image", () => guarded(updateSelection));
  await updateSelection();
  window.addEventListener("hashchange", () => showView(location.hash.slice(1)));
  showView(location.hash.slice(1) || "images");
  $("live").textContent = liveText({ runs: overview.runs, generation: overview.generation });
  document.body.dataset.ready = "1";
  startPolling();
}

guarded(boot);
