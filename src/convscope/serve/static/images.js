// Images: browse the split by class, by mistake, by confusion cell; upload your own.
import { $, clear, el, emit, getJSON, guarded, className, percent, state, url } from "./api.js";

const filter = { cls: "", wrong: false, true: null, pred: null, offset: 0 };
const PAGE = 60;
let nav = null;

export function init(overview, { go }) {
  nav = go;
  const select = $("img-class");
  overview.classes.forEach((name, k) => select.append(el("option", { value: k }, name)));
  select.addEventListener("change", () => { filter.cls = select.value; filter.true = filter.pred = null; reload(); });
  $("img-wrong").addEventListener("change", (e) => { filter.wrong = e.target.checked; reload(); });
  $("img-clear").addEventListener("click", () => {
    Object.assign(filter, { cls: "", wrong: false, true: null, pred: null });
    select.value = ""; $("img-wrong").checked = false; reload();
  });
  $("img-prev").addEventListener("click", () => { filter.offset = Math.max(0, filter.offset - PAGE); guarded(list); });
  $("img-next").addEventListener("click", () => { filter.offset += PAGE; guarded(list); });
  $("img-upload").addEventListener("change", (e) => guarded(() => upload(e.target)));
  confusion(overview);
  uploads(overview.uploads);
}

function confusion(overview) {
  const ev = overview.evaluation;
  const table = clear($("confusion"));
  const head = el("tr", {}, el("th", {}, "true \\ pred"), ...overview.classes.map((n) => el("th", { class: "num" }, n)));
  table.append(el("thead", {}, head));
  const body = el("tbody");
  ev.confusion.forEach((row, i) => {
    const total = row.reduce((a, b) => a + b, 0) || 1;
    body.append(el("tr", {}, el("th", {}, className(i)), ...row.map((count, j) => {
      const cell = el("button", { type: "button", class: `cell${i === j ? " diag" : count ? " off" : ""}`,
        title: `true ${className(i)}, predicted ${className(j)}: ${count} images`, "data-true": i, "data-pred": j,
        onclick: () => { Object.assign(filter, { true: i, pred: j, cls: "" }); $("img-class").value = ""; reload(); },
      }, String(count));
      cell.style.setProperty("--share", String(count / total));
      return el("td", { class: "num" }, cell);
    })));
  });
  table.append(body);
  $("eval-note").textContent = `${overview.data.split} split: accuracy ${ev.accuracy.toFixed(4)}, loss ${ev.loss === null ? "–" : ev.loss.toFixed(4)}, ${ev.count} images.`;
}

function reload() {
  filter.offset = 0;
  guarded(list);
}

export async function list() {
  const params = { cls: filter.cls, wrong: filter.wrong ? 1 : "", true: filter.true, pred: filter.pred, offset: filter.offset, limit: PAGE };
  const page = await getJSON(url("/api/images", params));
  const chip = $("img-filter");
  chip.hidden = filter.true === null;
  if (filter.true !== null) chip.textContent = `true ${className(filter.true)} · predicted ${className(filter.pred)}`;
  const end = Math.min(page.offset + page.items.length, page.total);
  $("img-count").textContent = page.total ? `Images ${page.offset + 1}–${end} of ${page.total}` : "No image matches";
  $("img-prev").disabled = page.offset === 0;
  $("img-next").disabled = end >= page.total;
  const grid = clear($("img-grid"));
  for (const item of page.items) grid.append(thumb({ source: "split", index: item.index }, item));
}

function thumb(image, item) {
  const wrong = item && item.label !== item.prediction;
  const label = item ? `${className(item.label)}→${className(item.prediction)}` : image.name || `upload ${image.index}`;
  const button = el("button", {
    type: "button", class: `thumb${wrong ? " wrong" : ""}`, "data-key": `${image.source}/${image.index}`,
    title: item ? `image ${image.index}: true ${className(item.label)}, predicted ${className(item.prediction)} (${percent(item.confidence)})` : label,
    onclick: () => select(image),
  }, el("img", { src: url(`/api/png/image/${image.source}/${image.index}`), alt: label, class: "px" }),
  el("span", {}, label));
  return button;
}

function select(image) {
  state.image = { source: image.source, index: image.index };
  for (const node of document.querySelectorAll(".thumb.chosen")) node.classList.remove("chosen");
  for (const node of document.querySelectorAll(`.thumb[data-key="${image.source}/${image.index}"]`)) node.classList.add("chosen");
  emit("image");
}

function uploads(items) {
  const box = clear($("uploads"));
  if (!items.length) box.append(el("p", { class: "note" }, "None yet: choose an image file above (PNG, JPEG, …)."));
  for (const item of items) box.append(thumb({ source: "upload", index: item.id, name: item.name }));
}

async function upload(input) {
  const file = input.files && input.files[0];
  if (!file) return;
  const done = await getJSON("/api/upload", {
    method: "POST", body: file,
    headers: { "Content-Type": file.type || "application/octet-stream", "X-Upload-Name": encodeURIComponent(file.name) },
  });
  input.value = "";
  uploads(done.uploads);
  select({ source: "upload", index: done.id });
  nav("layers");
}

export async function show() {
  await list();
}
