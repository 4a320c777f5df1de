/* The `vae explore` page: runs the exported encoder and decoder with TensorFlow.js (the global
 * `tf`, served by the same server) and draws everything on canvases. Plain browser JavaScript,
 * no build step. The server provides: model/vae.json, model/{encoder,decoder}/model.json,
 * data/map.json (the test images' latent means, map, labels, ELBO, KL per dimension) and
 * data/images.bin (those images, one byte per value). */
'use strict';

const PALETTE = ['#1f77b4', '#ff7f0e', '#2ca02c', '#d62728', '#9467bd', '#8c564b', '#e377c2', '#7f7f7f', '#bcbd22', '#17becf'];
const $ = (id) => document.getElementById(id);

async function fetchJson(url) {
  const r = await fetch(url);
  if (!r.ok) throw new Error(`${url}: HTTP ${r.status}`);
  return r.json();
}

/** Draw one image (values in [0, 1], H x W x C, channels last) scaled up with crisp pixels. */
function drawImage(ctx, values, offset, shape, x, y, scale) {
  const [H, W, C] = shape;
  const img = new ImageData(W, H);
  for (let p = 0; p < H * W; p++) {
    for (let k = 0; k < 3; k++) {
      const v = values[offset + p * C + Math.min(k, C - 1)];
      img.data[p * 4 + k] = Math.round(Math.min(1, Math.max(0, v)) * 255);
    }
    img.data[p * 4 + 3] = 255;
  }
  const tile = document.createElement('canvas');
  tile.width = W;
  tile.height = H;
  tile.getContext('2d').putImageData(img, 0, 0);
  ctx.imageSmoothingEnabled = false;
  ctx.drawImage(tile, x, y, W * scale, H * scale);
}

/** A grid of n images on a canvas (resized to fit), `cols` wide. */
function drawGrid(canvas, values, n, shape, cols, scale) {
  const [H, W] = shape;
  const pad = 2;
  const rows = Math.ceil(n / cols);
  canvas.width = cols * (W * scale + pad) + pad;
  canvas.height = rows * (H * scale + pad) + pad;
  const ctx = canvas.getContext('2d');
  ctx.fillStyle = '#fff';
  ctx.fillRect(0, 0, canvas.width, canvas.height);
  const D = shape[0] * shape[1] * shape[2];
  for (let i = 0; i < n; i++) {
    drawImage(ctx, values, i * D, shape, pad + (i % cols) * (W * scale + pad), pad + Math.floor(i / cols) * (H * scale + pad), scale);
  }
}

/** A number with two decimals, never '-0.00'. */
const fixed2 = (v) => {
  const t = v.toFixed(2);
  return t === '-0.00' ? '0.00' : t;
};

/** A scale that makes an H x W image about `px` pixels wide. */
const fit = (shape, px) => Math.max(1, Math.floor(px / Math.max(shape[0], shape[1])));

/* ---------------------------------------------------------------- image preparation */

/**
 * A picture of any size to the model's input, by the recipe vae.json names: 'mnist' and
 * 'fashion-mnist' run the data set's own preparation (lib/prepare.js, the same code `vae
 * reconstruct` and `vae encode` use on image files) on the picture flattened onto white paper;
 * 'resize' (and colour models) fit the picture into H x W keeping its aspect ratio on black.
 * Returns H * W * C values in [0, 1].
 */
async function prepareImage(recipe, bitmap, shape) {
  const [H, W, C] = shape;
  if (recipe !== 'resize' && C === 1) {
    const { prepareImage: prepare } = await import('./lib/prepare.js');
    const s = Math.min(1, RECIPE_MAX_SIDE / Math.max(bitmap.width, bitmap.height));
    const w = Math.max(1, Math.round(bitmap.width * s));
    const h = Math.max(1, Math.round(bitmap.height * s));
    const rgba = pixelsOf(bitmap, w, h, '#fff', 0, 0, w, h);
    const rgb = new Uint8Array(w * h * 3);
    for (let p = 0; p < w * h; p++) for (let k = 0; k < 3; k++) rgb[p * 3 + k] = rgba[p * 4 + k];
    return prepare({ data: rgb, width: w, height: h, channels: 3 }, recipe, H, W);
  }
  const s = Math.min(W / bitmap.width, H / bitmap.height);
  const w = bitmap.width * s;
  const h = bitmap.height * s;
  const rgba = pixelsOf(bitmap, W, H, '#000', (W - w) / 2, (H - h) / 2, w, h);
  const out = new Float32Array(H * W * C);
  for (let p = 0; p < H * W; p++) {
    const [r, g, b] = [rgba[p * 4] / 255, rgba[p * 4 + 1] / 255, rgba[p * 4 + 2] / 255];
    if (C === 1) out[p] = 0.299 * r + 0.587 * g + 0.114 * b;
    else [r, g, b].slice(0, C).forEach((v, k) => (out[p * C + k] = v));
  }
  return out;
}

/** Pictures larger than this (longest side) are shrunk before a recipe runs, as the command line does. */
const RECIPE_MAX_SIDE = 1024;

/** The RGBA bytes of a width x height canvas filled with `background`, the bitmap drawn at (x, y, w, h). */
function pixelsOf(bitmap, width, height, background, x, y, w, h) {
  const canvas = document.createElement('canvas');
  canvas.width = width;
  canvas.height = height;
  const ctx = canvas.getContext('2d');
  ctx.fillStyle = background;
  ctx.fillRect(0, 0, width, height);
  ctx.imageSmoothingQuality = 'high';
  ctx.drawImage(bitmap, x, y, w, h);
  return ctx.getImageData(0, 0, width, height).data;
}

/* ---------------------------------------------------------------- the model */

class Model {
  constructor(info, encoder, decoder) {
    this.info = info;
    this.encoder = encoder;
    this.decoder = decoder;
    this.J = info.latentDim;
    this.shape = info.imageShape;
    this.D = this.shape[0] * this.shape[1] * this.shape[2];
  }

  /** Decoder means for rows of latent values: one Float32Array of n * D values. */
  async decode(rows) {
    const out = tf.tidy(() => this.decoder.predict(tf.tensor2d(rows, [rows.length, this.J])));
    const values = await out.data();
    out.dispose();
    return values;
  }

  /** Latent means for n images (n * D values in [0, 1]): n rows of J numbers. */
  async encode(values, n) {
    const mu = tf.tidy(() => this.encoder.predict(tf.tensor4d(values, [n, ...this.shape]))[0]);
    const flat = await mu.data();
    mu.dispose();
    return Array.from({ length: n }, (_, i) => Array.from(flat.subarray(i * this.J, (i + 1) * this.J)));
  }
}

/** Redraws at most once per frame, always with the latest request, and one decode at a time. */
function throttled(draw) {
  let queued = false;
  let running = false;
  const run = async () => {
    queued = false;
    running = true;
    try {
      await draw();
    } finally {
      running = false;
      if (queued) requestAnimationFrame(run);
    }
  };
  return () => {
    if (queued) return;
    queued = true;
    if (!running) requestAnimationFrame(run);
  };
}

/** Standard normal draws (Box-Muller). */
function normals(n) {
  const out = new Float32Array(n);
  for (let i = 0; i < n; i += 2) {
    const u = 1 - Math.random();
    const v = Math.random();
    const r = Math.sqrt(-2 * Math.log(u));
    out[i] = r * Math.cos(2 * Math.PI * v);
    if (i + 1 < n) out[i + 1] = r * Math.sin(2 * Math.PI * v);
  }
  return out;
}

/* ---------------------------------------------------------------- sections */

function header(info, map) {
  $('run-name').textContent = info.name;
  document.title = `${info.name} - vae explore`;
  const elbo = `${map.split} ELBO ${map.elbo.toFixed(2)} nats (${map.n.toLocaleString('en')} images)`;
  $('run-facts').textContent = `epoch ${info.epoch} (${info.checkpoint} checkpoint) · ${elbo} · ${info.arch}, ${info.latentDim} latent dims, ${info.likelihood} · ${info.imageShape.join('x')}`;
  $('run-description').textContent = info.description ?? '';
  $('footer').textContent = `TensorFlow.js ${tf.version.tfjs}, backend ${tf.getBackend()}. The model is vae export's output; the page is served from your machine.`;
}

function latentSection(model, map) {
  const z = new Float32Array(model.J);
  const canvas = $('latent-canvas');
  const ctx = canvas.getContext('2d');
  const scale = fit(model.shape, 280);
  canvas.width = model.shape[1] * scale;
  canvas.height = model.shape[0] * scale;
  const inputs = [];
  const redraw = throttled(async () => {
    const values = await model.decode([Array.from(z)]);
    drawImage(ctx, values, 0, model.shape, 0, 0, scale);
    canvas.dataset.draws = String(Number(canvas.dataset.draws ?? 0) + 1);
  });
  for (const j of map.klOrder) {
    const label = document.createElement('label');
    label.title = `KL ${map.klPerDim[j].toFixed(3)} nats`;
    const name = document.createElement('span');
    name.textContent = `z${j} `;
    const kl = document.createElement('small');
    kl.className = 'muted';
    kl.textContent = map.klPerDim[j].toFixed(2);
    name.append(kl);
    const input = document.createElement('input');
    Object.assign(input, { type: 'range', min: '-3', max: '3', step: '0.01', value: '0' });
    input.dataset.dim = String(j);
    const out = document.createElement('output');
    out.textContent = '0.00';
    input.addEventListener('input', () => {
      z[j] = Number(input.value);
      out.textContent = fixed2(z[j]);
      redraw();
    });
    inputs[j] = { input, out };
    label.append(name, input, out);
    $('sliders').append(label);
  }
  const set = (values) => {
    values.forEach((v, j) => {
      z[j] = Math.max(-3, Math.min(3, v));
      inputs[j].input.value = String(z[j]);
      inputs[j].out.textContent = fixed2(z[j]);
    });
    redraw();
  };
  $('latent-zero').addEventListener('click', () => set(new Array(model.J).fill(0)));
  $('latent-random').addEventListener('click', () => set(Array.from(normals(model.J))));
  redraw();
  return { set };
}

function samplesSection(model) {
  const n = 64;
  let eps = normals(n * model.J);
  const slider = $('temperature');
  const draw = throttled(async () => {
    const t = Number(slider.value);
    $('temperature-value').textContent = t.toFixed(2);
    const rows = Array.from({ length: n }, (_, i) => Array.from(eps.subarray(i * model.J, (i + 1) * model.J), (v) => v * t));
    drawGrid($('samples-canvas'), await model.decode(rows), n, model.shape, 8, fit(model.shape, 56));
    $('samples-canvas').dataset.draws = String(Number($('samples-canvas').dataset.draws ?? 0) + 1);
  });
  slider.addEventListener('input', draw);
  $('resample').addEventListener('click', () => {
    eps = normals(n * model.J);
    draw();
  });
  draw();
}

function mapSection(model, map, images) {
  const canvas = $('map-canvas');
  const ctx = canvas.getContext('2d');
  const size = canvas.width;
  const margin = 12;
  const xs = map.points.map((p) => p[0]);
  const ys = map.points.map((p) => p[1]);
  const [x0, x1, y0, y1] = [Math.min(...xs), Math.max(...xs), Math.min(...ys), Math.max(...ys)];
  const sx = (v) => margin + ((v - x0) / (x1 - x0 || 1)) * (size - 2 * margin);
  const sy = (v) => size - margin - ((v - y0) / (y1 - y0 || 1)) * (size - 2 * margin);
  const colour = (i) => (map.labels ? PALETTE[map.labels[i] % PALETTE.length] : '#333');
  const ends = [];
  $('map-caption').textContent = `${map.n.toLocaleString('en')} ${map.split} images at their latent means: ${map.axes[0]} across, ${map.axes[1]} up${map.labels ? ', coloured by label' : ''}.`;

  const draw = () => {
    ctx.fillStyle = '#fff';
    ctx.fillRect(0, 0, size, size);
    let drawn = 0;
    for (let i = 0; i < map.n; i++) {
      ctx.fillStyle = colour(i);
      ctx.globalAlpha = 0.7;
      ctx.beginPath();
      ctx.arc(sx(map.points[i][0]), sy(map.points[i][1]), 2.2, 0, 2 * Math.PI);
      ctx.fill();
      drawn++;
    }
    ctx.globalAlpha = 1;
    ends.forEach((i, k) => {
      ctx.strokeStyle = '#000';
      ctx.lineWidth = 2;
      ctx.beginPath();
      ctx.arc(sx(map.points[i][0]), sy(map.points[i][1]), 7, 0, 2 * Math.PI);
      ctx.stroke();
      ctx.fillStyle = '#000';
      ctx.font = 'bold 13px system-ui';
      ctx.fillText(k === 0 ? 'A' : 'B', sx(map.points[i][0]) + 8, sy(map.points[i][1]) - 8);
    });
    canvas.dataset.points = String(drawn);
  };

  const labelName = (i) => (map.labels ? (map.classes ? map.classes[map.labels[i]] : String(map.labels[i])) : '');
  if (map.labels) {
    const seen = [...new Set(map.labels)].sort((a, b) => a - b);
    for (const l of seen) {
      const s = document.createElement('span');
      s.style.setProperty('--c', PALETTE[l % PALETTE.length]);
      s.textContent = map.classes ? map.classes[l] : String(l);
      $('legend').append(s);
    }
  }

  const pick = async (i) => {
    const D = model.D;
    const image = Float32Array.from(images.subarray(i * D, (i + 1) * D), (b) => b / 255);
    const scale = fit(model.shape, 112);
    drawImage($('picked-image').getContext('2d'), image, 0, model.shape, 0, 0, scale);
    drawImage($('picked-recon').getContext('2d'), await model.decode([map.mu[i]]), 0, model.shape, 0, 0, scale);
    $('picked-caption').textContent = `${map.split} image ${i}${map.labels ? `, label ${labelName(i)}` : ''}`;
    ends.push(i);
    if (ends.length > 2) ends.shift();
    draw();
    await interpolate(model, ends.map((e) => map.mu[e]), ends.map((e) => `${map.split}:${e}${map.labels ? ` (${labelName(e)})` : ''}`));
  };

  canvas.addEventListener('click', (ev) => {
    const r = canvas.getBoundingClientRect();
    const px = ((ev.clientX - r.left) * canvas.width) / r.width;
    const py = ((ev.clientY - r.top) * canvas.height) / r.height;
    let best = -1;
    let bestD = 64;
    for (let i = 0; i < map.n; i++) {
      const d = (sx(map.points[i][0]) - px) ** 2 + (sy(map.points[i][1]) - py) ** 2;
      if (d < bestD) {
        bestD = d;
        best = i;
      }
    }
    if (best >= 0) void pick(best);
  });
  draw();
  return { pick };
}

const interpolate = async (model, ends, names) => {
  if (ends.length < 2) return;
  const [a, b] = ends;
  const steps = 10;
  const rows = Array.from({ length: steps }, (_, s) => a.map((v, j) => v + ((b[j] - v) * s) / (steps - 1)));
  drawGrid($('interp-canvas'), await model.decode(rows), steps, model.shape, steps, fit(model.shape, 72));
  $('interp-caption').textContent = `From A = ${names[0]} to B = ${names[1]}, linearly in latent space (${steps} steps).`;
};

function dropSection(model, latent) {
  const zone = $('dropzone');
  const handle = async (file) => {
    if (!file || !file.type.startsWith('image/')) {
      $('drop-caption').textContent = `${file ? file.name : 'that'} is not an image file; drop a PNG, JPEG or WebP.`;
      return;
    }
    let bitmap;
    try {
      bitmap = await createImageBitmap(file);
    } catch {
      $('drop-caption').textContent = `${file.name} could not be read as an image.`;
      return;
    }
    const original = $('drop-original');
    const octx = original.getContext('2d');
    octx.fillStyle = '#fff';
    octx.fillRect(0, 0, original.width, original.height);
    const s = Math.min(original.width / bitmap.width, original.height / bitmap.height);
    octx.drawImage(bitmap, (original.width - bitmap.width * s) / 2, (original.height - bitmap.height * s) / 2, bitmap.width * s, bitmap.height * s);
    const input = await prepareImage(model.info.prepare, bitmap, model.shape);
    const scale = fit(model.shape, 112);
    drawImage($('drop-input').getContext('2d'), input, 0, model.shape, 0, 0, scale);
    const [mu] = await model.encode(input, 1);
    drawImage($('drop-recon').getContext('2d'), await model.decode([mu]), 0, model.shape, 0, 0, scale);
    latent.set(mu);
    $('drop-caption').textContent = `${file.name}, prepared by the '${model.info.prepare}' recipe; the sliders above now start from its code.`;
  };
  // A file dropped anywhere on the page goes to the drop zone (rather than the browser opening it).
  window.addEventListener('dragover', (ev) => {
    ev.preventDefault();
    zone.classList.add('over');
  });
  window.addEventListener('dragleave', (ev) => {
    if (!ev.relatedTarget) zone.classList.remove('over');
  });
  window.addEventListener('drop', (ev) => {
    ev.preventDefault();
    zone.classList.remove('over');
    if (ev.dataTransfer.files.length) {
      zone.scrollIntoView({ block: 'center' });
      void handle(ev.dataTransfer.files[0]);
    }
  });
  $('file').addEventListener('change', () => void handle($('file').files[0]));
}

async function main() {
  const [info, map, imagesBuf] = await Promise.all([fetchJson('model/vae.json'), fetchJson('data/map.json'), fetch('data/images.bin').then((r) => r.arrayBuffer())]);
  const [encoder, decoder] = await Promise.all([tf.loadLayersModel('model/encoder/model.json'), tf.loadLayersModel('model/decoder/model.json')]);
  const model = new Model(info, encoder, decoder);
  header(info, map);
  const latent = latentSection(model, map);
  samplesSection(model);
  const mapped = mapSection(model, map, new Uint8Array(imagesBuf));
  dropSection(model, latent);
  if (map.n >= 2) {
    await mapped.pick(0);
    await mapped.pick(1);
  }
  document.body.dataset.ready = 'true';
}

main().catch((err) => {
  $('run-facts').textContent = `could not start: ${err.message}`;
  console.error(err);
});
