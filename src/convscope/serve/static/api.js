// convscope explorer: shared state, requests and safe DOM helpers.
// Every name that comes from the model or the user (layers, classes, runs, file names)
// goes into the page as text (textContent / text nodes), never as markup.

export const state = {
  overview: null,
  image: { source: "split", index: 0 },
  layer: null, // layer id (position in the layer table)
  channel: null,
  norm: "map",
  metric: "multiply",
  generation: 0,
};

const listeners = {};

/** Call fn(detail) whenever `what` is emitted ("image", "layer", "channel", "metric", ...). */
export function on(what, fn) {
  (listeners[what] ||= []).push(fn);
}

export function emit(what, detail) {
  for (const fn of listeners[what] || []) fn(detail);
}

/** GET (or POST) JSON; a refusal ({"error": ...}) becomes an Error with that message. */
export async function getJSON(url, options = {}) {
  const response = await fetch(url, { credentials: "same-origin", ...options });
  let data = null;
  try {
    data = await response.json();
  } catch {
    data = null;
  }
  if (!response.ok) {
    const message = (data && (data.error || data.detail)) || response.statusText;
    throw new Error(`${message} (${response.status})`);
  }
  return data;
}

/** The image as a path part: "split/12" or "upload/3". */
export function imageKey(image = state.image) {
  return `${image.source}/${Number(image.index)}`;
}

/** A URL with query parameters (values encoded); the weights' generation busts caches. */
export function url(path, params = {}) {
  const query = new URLSearchParams();
  for (const [key, value] of Object.entries(params)) {
    if (value !== null && value !== undefined && value !== "") query.set(key, String(value));
  }
  query.set("g", String(state.generation));
  return `${path}?${query}`;
}

/** Create an element: attributes set one by one, strings appended as text nodes. */
export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === null || value === undefined || value === false) continue;
    if (key === "onclick") node.addEventListener("click", value);
    else if (key === "text") node.textContent = String(value);
    else node.setAttribute(key, value === true ? "" : String(value));
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

export function clear(node) {
  while (node.firstChild) node.removeChild(node.firstChild);
  return node;
}

export function $(id) {
  return document.getElementById(id);
}

export function showError(error) {
  const box = $("error");
  box.textContent = String(error && error.message ? error.message : error);
  box.hidden = false;
  clearTimeout(showError.timer);
  showError.timer = setTimeout(() => (box.hidden = true), 8000);
}

/** Run an async view update; errors go to the error line instead of the console. */
export async function guarded(fn) {
  try {
    return await fn();
  } catch (error) {
    showError(error);
    return null;
  }
}

export function fmt(value, digits = 4) {
  if (value === null || value === undefined || Number.isNaN(value)) return "–";
  return Number(value).toFixed(digits);
}

export function percent(value) {
  return `${(100 * value).toFixed(1)} %`;
}

export function className(k) {
  const names = state.overview ? state.overview.classes : [];
  return names[k] !== undefined ? names[k] : String(k);
}

export function layerName(id) {
  const layer = state.overview && state.overview.layers[id];
  return layer ? layer.name : String(id);
}

/** Show an <img> `zoom` times its natural size (pixelated), once it has loaded. */
export function zoomImage(img, src, zoom) {
  return new Promise((resolve, reject) => {
    img.onload = () => {
      const z = typeof zoom === "function" ? zoom(img.naturalWidth, img.naturalHeight) : zoom;
      img.style.width = `${img.naturalWidth * z}px`;
      img.style.height = `${img.naturalHeight * z}px`;
      img.dataset.zoom = String(z);
      resolve(img);
    };
    img.onerror = () => reject(new Error(`could not load ${src.split("?")[0]}`));
    img.src = src;
  });
}

/** The largest whole zoom that keeps width <= maxWidth (at least 1, at most `most`). */
export function fitZoom(maxWidth, most = 12) {
  return (w) => Math.max(1, Math.min(most, Math.floor(maxWidth / Math.max(w, 1))));
}
