// neuralzoo serve: one page over the JSON API (/api/...). Plain JavaScript, no libraries, no network
// access beyond this server.
"use strict";

const $ = (id) => document.getElementById(id);
const PALETTE = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2",
                 "#7f7f7f", "#bcbd22", "#17becf"];
let run = null;   // the selected run's description (GET /api/runs/{name})

async function api(path, options = {}) {
  const response = await fetch(`/api/runs/${encodeURIComponent(run.name)}${path}`, options);
  const body = await response.json().catch(() => ({ detail: response.statusText }));
  if (!response.ok) throw new Error(body.detail || `HTTP ${response.status}`);
  return body;
}
const postJson = (path, value) => api(path, { method: "POST", body: JSON.stringify(value),
                                               headers: { "Content-Type": "application/json" } });
function postFile(path, file) {
  const form = new FormData();
  form.append("file", file);
  return api(path, { method: "POST", body: form });
}
async function attempt(statusId, work) {   // a refusal shows as the server's one-line reason
  $(statusId).textContent = "";
  try { return await work(); } catch (error) { $(statusId).textContent = error.message; }
}

// ---------------------------------------------------------------- runs
async function start() {
  const runs = await (await fetch("/api/runs")).json();
  const nav = $("runs");
  for (const described of runs) {
    const button = document.createElement("button");
    button.textContent = `${described.name} (${described.model})`;
    button.dataset.run = described.name;
    button.onclick = () => select(described);
    nav.appendChild(button);
  }
  const wanted = new URLSearchParams(location.search).get("run");
  select(runs.find((r) => r.name === wanted) || runs[0]);
}

function select(described) {
  run = described;
  for (const b of $("runs").children) b.setAttribute("aria-pressed", String(b.dataset.run === run.name));
  history.replaceState(null, "", `?run=${encodeURIComponent(run.name)}`);
  const classes = run.classes ? `${run.classes.length} classes` : "";
  $("about").innerHTML = "";
  // the data's own task (a VAE on labelled digits: "classify") is not the run's: the jobs line says
  // what the run does; the family's summary names its presets, the run's own is said here
  const settings = run.preset ? `preset ${run.preset}` : "default settings, no preset";
  for (const text of [`${run.model} (this run: ${settings}): ${run.summary}`, `data ${run.data}, input ` +
                       `${run.input_shape.join("×")} ${classes}`, `jobs: ${run.jobs.join(", ")}`]) {
    const p = document.createElement("p");
    p.textContent = text;
    $("about").appendChild(p);
  }
  if (run.data_error) $("about").lastChild.textContent += ` (data unavailable: ${run.data_error})`;
  const has = (job) => run.jobs.includes(job);
  $("classify").hidden = !has("classify");
  $("latent").hidden = !has("latent");
  $("anomaly").hidden = !has("anomaly");
  $("sample").hidden = !(has("sample") && run.images);
  $("forecast").hidden = !has("forecast");
  $("generate").hidden = !has("generate");
  if (has("classify")) setUpClassify();
  if (has("latent")) setUpLatent();
  if (has("sample") && run.images) setUpSamples();
  if (has("forecast")) setUpForecast();
}

// ---------------------------------------------------------------- classify: drawing pad
const pad = $("pad"), padContext = pad.getContext("2d", { willReadFrequently: true });
let drawing = false, inFlight = false, dirty = false;

function inputSize() {   // (height, width) of one input picture
  const s = run.input_shape;
  return s.length === 3 ? [s[1], s[2]] : [s[0], s[1]];
}

function clearPad() {
  padContext.fillStyle = "#000";
  padContext.fillRect(0, 0, pad.width, pad.height);
  $("probabilities").innerHTML = "";
  $("seen").getContext("2d").clearRect(0, 0, $("seen").width, $("seen").height);
  $("seen").dataset.overlay = "";
}

function setUpClassify() {
  $("draw-box").hidden = !run.drawable;
  $("overlay").innerHTML = "";
  for (const name of [...run.overlays, "none"]) $("overlay").add(new Option(name, name));
  clearPad();
}

function stroke(event) {
  const box = pad.getBoundingClientRect();
  const x = (event.clientX - box.left) * pad.width / box.width;
  const y = (event.clientY - box.top) * pad.height / box.height;
  padContext.lineTo(x, y);
  padContext.stroke();
  padContext.beginPath();
  padContext.moveTo(x, y);
  dirty = true;
  send();
}
pad.addEventListener("pointerdown", (event) => {
  drawing = true;
  pad.setPointerCapture(event.pointerId);
  Object.assign(padContext, { strokeStyle: "#fff", lineWidth: 20, lineCap: "round", lineJoin: "round" });
  padContext.beginPath();
  const box = pad.getBoundingClientRect();
  padContext.moveTo((event.clientX - box.left) * pad.width / box.width,
                    (event.clientY - box.top) * pad.height / box.height);
  stroke(event);
});
pad.addEventListener("pointermove", (event) => { if (drawing) stroke(event); });
pad.addEventListener("pointerup", () => { drawing = false; send(); });
$("clear").onclick = clearPad;
$("overlay").onchange = () => { dirty = true; send(); };

// The drawing as the training data looks: cropped to the stroke, scaled so its longer side fills
// 20/28 of the picture (MNIST's box; small pictures such as 8x8 digits: the whole side) and
// centred on its centre of mass (MNIST's rule), grey values in [0, 1].
function padPixels() {
  const [height, width] = inputSize();
  const data = padContext.getImageData(0, 0, pad.width, pad.height).data;
  let top = pad.height, left = pad.width, bottom = -1, right = -1;
  for (let y = 0; y < pad.height; y++) for (let x = 0; x < pad.width; x++) {
    if (data[4 * (y * pad.width + x)] > 20) {
      top = Math.min(top, y); bottom = Math.max(bottom, y); left = Math.min(left, x); right = Math.max(right, x);
    }
  }
  if (bottom < 0) return null;
  const side = Math.min(height, width), fill = side >= 16 ? 20 / 28 : 1;
  const scale = fill * side / Math.max(bottom - top + 1, right - left + 1);
  const w = Math.max(1, Math.round((right - left + 1) * scale)), h = Math.max(1, Math.round((bottom - top + 1) * scale));
  const small = document.createElement("canvas");
  small.width = w; small.height = h;
  const smallContext = small.getContext("2d");
  smallContext.imageSmoothingQuality = "high";
  smallContext.drawImage(pad, left, top, right - left + 1, bottom - top + 1, 0, 0, w, h);
  const patch = smallContext.getImageData(0, 0, w, h).data;
  let mass = 0, cx = 0, cy = 0;
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) {
    const v = patch[4 * (y * w + x)] / 255; mass += v; cx += v * x; cy += v * y;
  }
  const centred = side >= 16 && mass > 0;
  const offsetX = Math.round((centred ? (width - 1) / 2 - cx / mass : (width - w) / 2));
  const offsetY = Math.round((centred ? (height - 1) / 2 - cy / mass : (height - h) / 2));
  const pixels = Array.from({ length: height }, () => new Array(width).fill(0));
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) {
    const ty = y + offsetY, tx = x + offsetX;
    if (ty >= 0 && ty < height && tx >= 0 && tx < width) pixels[ty][tx] = patch[4 * (y * w + x)] / 255;
  }
  return pixels;
}

async function send() {   // at most one request in flight; the latest drawing wins
  if (inFlight || !dirty) return;
  const pixels = padPixels();
  if (!pixels) return;
  inFlight = true; dirty = false;
  const overlay = $("overlay").value;
  const result = await attempt("classify-status", () => postJson("/predict", { pixels, overlay }));
  inFlight = false;
  if (result) showPrediction(result, pixels);
  if (dirty) send();
}

function showPrediction(result, pixels) {
  const probabilities = result.probabilities[0];
  const box = $("probabilities");
  box.innerHTML = "";
  probabilities.forEach((p, k) => {
    const row = document.createElement("div");
    row.className = "bar" + (k === result.predicted[0] ? " top" : "");
    row.innerHTML = `<span></span><span class="track"><span class="fill" style="display:block;width:${(100 * p).toFixed(1)}%"></span></span><span>${(100 * p).toFixed(1)}%</span>`;
    row.firstChild.textContent = run.classes ? run.classes[k] : String(k);
    box.appendChild(row);
  });
  if (pixels) drawSeen(pixels, result.overlay, result.method, result.overlay_degenerate);
}

function drawSeen(pixels, heat, method, degenerate) {   // the model's input, the overlay in red over it
  const canvas = $("seen"), context = canvas.getContext("2d");
  const height = pixels.length, width = pixels[0].length;
  const cell = Math.min(canvas.width / width, canvas.height / height);
  for (let y = 0; y < height; y++) for (let x = 0; x < width; x++) {
    const g = Math.round(255 * pixels[y][x]);
    context.fillStyle = `rgb(${g},${g},${g})`;
    context.fillRect(x * cell, y * cell, cell + 0.5, cell + 0.5);
    if (heat) {
      context.fillStyle = `rgba(255,40,20,${(0.75 * heat[y][x]).toFixed(3)})`;
      context.fillRect(x * cell, y * cell, cell + 0.5, cell + 0.5);
    }
  }
  canvas.dataset.overlay = heat ? method : "";
  $("seen-caption").textContent = !heat ? "what the model sees"
    : degenerate ? `what the model sees; ${method} is all zero: no evidence for this class`
    : `what the model sees, ${method} in red`;
}

$("classify-file").onchange = async (event) => {
  const file = event.target.files[0];
  if (!file) return;
  const result = await attempt("classify-status",
    () => postFile(`/predict/upload?overlay=${$("overlay").value}`, file));
  if (result) showPrediction(result, null);
};

// ---------------------------------------------------------------- latent space
let latentMap = null;

async function setUpLatent() {
  latentMap = null;
  const result = await attempt("latent-status", () => api("/latent-map"));
  if (!result) return;
  latentMap = result;
  const xs = result.points.map((p) => p[0]), ys = result.points.map((p) => p[1]);
  const margin = 0.05;
  const [x0, x1, y0, y1] = [Math.min(...xs), Math.max(...xs), Math.min(...ys), Math.max(...ys)];
  latentMap.box = [x0 - margin * (x1 - x0), x1 + margin * (x1 - x0), y0 - margin * (y1 - y0), y1 + margin * (y1 - y0)];
  $("map-caption").textContent = `${result.protocol}; ${result.view} (latent dimension ` +
                                 `${result.latent_dim}). Click to decode.`;
  $("first").max = $("second").max = result.points.length - 1;
  drawMap();
  interpolate();
}

function mapToCanvas(x, y) {
  const [x0, x1, y0, y1] = latentMap.box, c = $("map");
  return [(x - x0) / (x1 - x0) * c.width, (1 - (y - y0) / (y1 - y0)) * c.height];
}

function drawMap(mark) {
  const canvas = $("map"), context = canvas.getContext("2d");
  context.clearRect(0, 0, canvas.width, canvas.height);
  latentMap.points.forEach(([x, y], i) => {
    const [cx, cy] = mapToCanvas(x, y);
    context.fillStyle = latentMap.labels ? PALETTE[latentMap.labels[i] % PALETTE.length] : "#6b7a99";
    context.globalAlpha = 0.6;
    context.fillRect(cx - 1.5, cy - 1.5, 3, 3);
  });
  context.globalAlpha = 1;
  if (mark) {
    context.strokeStyle = "#000"; context.lineWidth = 2;
    context.beginPath(); context.arc(mark[0], mark[1], 6, 0, 2 * Math.PI); context.stroke();
  }
}

$("map").onclick = async (event) => {
  if (!latentMap) return;
  const canvas = $("map"), box = canvas.getBoundingClientRect();
  const cx = (event.clientX - box.left) * canvas.width / box.width;
  const cy = (event.clientY - box.top) * canvas.height / box.height;
  const [x0, x1, y0, y1] = latentMap.box;
  const point = [x0 + cx / canvas.width * (x1 - x0), y0 + (1 - cy / canvas.height) * (y1 - y0)];
  drawMap([cx, cy]);
  const result = await attempt("latent-status", () => postJson("/decode", { point }));
  if (result) showImage("decoded", result.image);
};

function showImage(id, image) {   // a PNG data URL (vector data comes back as numbers instead)
  if (typeof image === "string") $(id).src = image;
}

let interpolating = false, pendingInterpolation = false;
async function interpolate() {
  $("t-value").textContent = Number($("t").value).toFixed(2);
  if (interpolating) { pendingInterpolation = true; return; }
  interpolating = true;
  const query = `?first=${$("first").value}&second=${$("second").value}&t=${$("t").value}`;
  const result = await attempt("latent-status", () => api(`/interpolate${query}`));
  interpolating = false;
  if (result) {
    showImage("first-image", result.first); showImage("second-image", result.second);
    showImage("between", result.image);
    $("between").dataset.t = $("t").value;
  }
  if (pendingInterpolation) { pendingInterpolation = false; interpolate(); }
}
$("t").oninput = interpolate;
$("first").onchange = $("second").onchange = interpolate;

// ---------------------------------------------------------------- anomaly score
$("anomaly-file").onchange = async (event) => {
  const file = event.target.files[0];
  if (!file) return;
  const result = await attempt("anomaly-status", () => postFile("/anomaly/upload", file));
  if (result) {
    $("anomaly-result").textContent = result.names.map((name, i) =>
      `${name}: score ${result.scores[i].toPrecision(4)}, above ${result.percentiles[i].toFixed(1)}% ` +
      "of test samples").join("; ") + ` (${result.protocol})`;
  }
};

// ---------------------------------------------------------------- samples
function setUpSamples() {
  $("label-box").hidden = !run.conditional;
  $("label").innerHTML = "";
  if (run.conditional) (run.classes || []).forEach((name, k) => $("label").add(new Option(name, k)));
  drawSamples();
}

async function drawSamples() {
  $("temperature-value").textContent = Number($("temperature").value).toFixed(2);
  const label = run.conditional ? `&label=${$("label").value}` : "";
  const query = `?count=${$("count").value}&temperature=${$("temperature").value}&seed=${$("seed").value}${label}`;
  const result = await attempt("sample-status", () => api(`/samples${query}`));
  if (result) showImage("samples", result.image);
}
$("draw-samples").onclick = drawSamples;
$("temperature").onchange = $("label").onchange = $("count").onchange = drawSamples;
$("temperature").oninput = () => { $("temperature-value").textContent = Number($("temperature").value).toFixed(2); };

// ---------------------------------------------------------------- forecast
function setUpForecast() {
  $("horizon").value = Math.max(run.horizon, Math.min(10 * run.horizon, 12));   // a dozen steps shown
  $("horizon").max = 10 * run.horizon;
  if (run.length) {
    $("origin").min = run.lookback; $("origin").max = run.length;
    $("origin").value = run.length - Number($("horizon").value);
  }
  forecast();
}

async function forecast() {
  $("origin-value").textContent = $("origin").value;
  const query = `?horizon=${$("horizon").value}&origin=${$("origin").value}`;
  const result = await attempt("forecast-status", () => api(`/forecast${query}`));
  if (result) drawChart(result);
}
$("horizon").onchange = $("origin").onchange = forecast;
$("origin").oninput = () => { $("origin-value").textContent = $("origin").value; };

const BASELINE_COLOURS = ["#e07b39", "#3a9d5d", "#9b59b6", "#c0392b", "#16a085", "#7f8c8d"];
const DASHES = { history: [], forecast: [], truth: [4, 3] };   // baselines: dotted

function drawChart(result) {   // the first column: history, truth, forecast, baselines
  const canvas = $("chart"), context = canvas.getContext("2d");
  const lines = [["history", "#1d2330", result.history.map((r) => r[0]), result.history_start],
                 ["truth", "#1d2330", result.truth.map((r) => r[0]), result.origin],
                 ["forecast", "#2f6fdf", result.forecast.map((r) => r[0]), result.origin]];
  Object.entries(result.baselines).forEach(([name, rows], k) =>
    lines.push([name, BASELINE_COLOURS[k % BASELINE_COLOURS.length], rows.map((r) => r[0]), result.origin]));
  const values = lines.flatMap((l) => l[2]).filter((v) => v !== null);
  const low = Math.min(...values), high = Math.max(...values);
  const first = result.history_start, last = result.origin + result.horizon;
  const left = 48, bottom = canvas.height - 40;   // room for the value labels and the time axis
  const px = (t) => left + (t - first) / Math.max(1, last - first - 1) * (canvas.width - left - 12);
  const py = (v) => bottom - (v - low) / Math.max(1e-9, high - low) * (bottom - 10);
  context.clearRect(0, 0, canvas.width, canvas.height);
  context.strokeStyle = "#d9dee7"; context.lineWidth = 1; context.setLineDash([]); context.beginPath();
  context.moveTo(px(result.origin - 0.5), 5); context.lineTo(px(result.origin - 0.5), bottom); context.stroke();
  context.fillStyle = "#5b6475"; context.font = "12px system-ui";
  context.textAlign = "left";
  context.fillText(high.toPrecision(4), 2, py(high) + 4); context.fillText(low.toPrecision(4), 2, py(low));
  // the time axis: the series' own labels (its time column) where it has them, else step numbers
  const label = (t) => (t - first < result.times.length ? String(result.times[t - first]) : `step ${t}`);
  context.strokeStyle = "#5b6475"; context.beginPath();
  context.moveTo(left, bottom + 2); context.lineTo(canvas.width - 12, bottom + 2); context.stroke();
  const ticks = [], every = Math.max(1, Math.ceil((last - first) / 7));
  for (let t = first; t < last; t += every) ticks.push(t);
  context.textAlign = "center";
  for (const t of ticks) {
    context.beginPath(); context.moveTo(px(t), bottom + 2); context.lineTo(px(t), bottom + 6); context.stroke();
    context.fillText(label(t), px(t), bottom + 18);
  }
  context.fillText(result.time_name, (left + canvas.width) / 2, bottom + 34);
  context.textAlign = "left";
  for (const [name, colour, series, start] of lines) {
    context.strokeStyle = colour; context.lineWidth = name === "forecast" ? 2.5 : 1.5;
    context.setLineDash(DASHES[name] || [2, 2]);
    context.beginPath();
    let open = false;
    series.forEach((v, i) => {
      if (v === null) { open = false; return; }
      if (open) context.lineTo(px(start + i), py(v)); else context.moveTo(px(start + i), py(v));
      open = true;
    });
    context.stroke();
    if (name !== "history") series.forEach((v, i) => {   // dots: a one-step forecast is visible too
      if (v !== null) { context.fillStyle = colour; context.fillRect(px(start + i) - 2, py(v) - 2, 4, 4); }
    });
  }
  context.setLineDash([]);
  drawLegend(lines, result);
  canvas.dataset.horizon = result.horizon;
  canvas.dataset.ticks = ticks.map(label).join(",");
}

function drawLegend(lines, result) {   // one key per line: its colour and dash beside its name
  const legend = $("legend");
  legend.innerHTML = "";
  const baselines = Object.keys(result.baselines);
  for (const [name, colour] of lines) {
    const key = document.createElement("span");
    key.className = "key";
    key.dataset.line = name;
    const dash = DASHES[name] || [2, 2];
    const swatch = document.createElement("i");
    swatch.style.borderTop = `${name === "forecast" ? 3 : 2}px ${dash.length === 0 ? "solid"
      : name === "truth" ? "dashed" : "dotted"} ${colour}`;
    key.append(swatch, baselines.includes(name) ? `${name} (baseline)` : name);
    legend.appendChild(key);
  }
  const note = document.createElement("span");
  note.textContent = `${result.columns[0]}, ${result.horizon} steps after step ${result.origin}`;
  legend.appendChild(note);
}

// ---------------------------------------------------------------- text
async function write() {
  const body = { prompt: $("prompt").value, length: Number($("length").value),
                 temperature: Number($("text-temperature").value), seed: Number($("text-seed").value) };
  const result = await attempt("generate-status", () => postJson("/generate", body));
  if (result) $("text").textContent = result.text;
}
$("write").onclick = write;
$("text-temperature").oninput = () => {
  $("text-temperature-value").textContent = Number($("text-temperature").value).toFixed(2);
};

start();
