"""The viewer's JavaScript (WebGL2 splat renderer), kept in a Python module so it ships with the package."""

VIEWER_JS = r"""
// see3d splat viewer: WebGL2, one instanced quad per Gaussian, sorted back to front on the CPU.
// Maths follows see3d.gs (OpenCV cameras: x right, y down, z forward; EWA 2D covariance
// J W Sigma W^T J^T + 0.3 I; alpha = min(0.99, o exp(-power)), dropped beyond 3 sigma or below
// 1/255), so a view drawn here matches see3d.gs.rasterize of the same camera.
"use strict";
(function () {
  const cfg = JSON.parse(document.getElementById("see3d-config").textContent);
  const canvas = document.getElementById("see3d-canvas");
  const gl = canvas.getContext("webgl2", { antialias: false, alpha: false, preserveDrawingBuffer: true, premultipliedAlpha: true });
  // ?size=WxH pins the drawing buffer to W x H pixels (screenshots, exact comparisons)
  const fixed = (new URLSearchParams(location.search).get("size") || "").match(/^(\d+)x(\d+)$/);
  if (fixed) { canvas.style.width = fixed[1] + "px"; canvas.style.height = fixed[2] + "px"; }
  const status = (msg) => { document.title = "see3d viewer: " + msg; };
  if (!gl) { status("WebGL2 is not available"); document.body.textContent = "WebGL2 is not available in this browser."; return; }

  const VS = `#version 300 es
precision highp float;
in vec2 corner; in vec3 center; in vec4 color; in vec3 covA; in vec3 covB;
uniform mat4 view; uniform vec4 intr; uniform vec2 viewport;
out vec4 vColor; out vec2 vOff; out vec3 vConic;
void main() {
  vec4 pc = view * vec4(center, 1.0);
  float z = pc.z;
  gl_Position = vec4(0.0, 0.0, 2.0, 1.0);
  if (z <= 0.01 || color.a < 1.0 / 255.0) return;
  float fx = intr.x, fy = intr.y, cx = intr.z, cy = intr.w;
  float W = viewport.x, H = viewport.y;
  float lxp = ((W - 0.5) - cx) / fx + 0.15 * W / fx, lxn = (cx + 0.5) / fx + 0.15 * W / fx;
  float lyp = ((H - 0.5) - cy) / fy + 0.15 * H / fy, lyn = (cy + 0.5) / fy + 0.15 * H / fy;
  float tx = z * clamp(pc.x / z, -lxn, lxp), ty = z * clamp(pc.y / z, -lyn, lyp);
  mat3 J = mat3(fx / z, 0.0, 0.0, 0.0, fy / z, 0.0, -fx * tx / (z * z), -fy * ty / (z * z), 0.0);
  mat3 T = J * mat3(view);
  mat3 S = mat3(covA.x, covA.y, covA.z, covA.y, covB.x, covB.y, covA.z, covB.y, covB.z);
  mat3 C = T * S * transpose(T);
  float a = C[0][0] + 0.3, b = C[0][1], c = C[1][1] + 0.3;
  float det = a * c - b * b;
  if (det <= 0.0) return;
  vec2 mean = vec2(fx * pc.x / z + cx, fy * pc.y / z + cy);
  float k = sqrt(clamp(2.0 * log(color.a * 255.0), 0.0, 9.0));
  vec2 ext = k * vec2(sqrt(a), sqrt(c)) + 1.0;
  vec2 off = corner * ext;
  vec2 pix = mean + off;
  gl_Position = vec4((pix.x + 0.5) / W * 2.0 - 1.0, 1.0 - (pix.y + 0.5) / H * 2.0, 0.0, 1.0);
  vOff = off; vConic = vec3(c, -b, a) / det; vColor = color;
}`;
  const FS = `#version 300 es
precision highp float;
in vec4 vColor; in vec2 vOff; in vec3 vConic;
out vec4 outColor;
void main() {
  float power = 0.5 * (vConic.x * vOff.x * vOff.x + vConic.z * vOff.y * vOff.y) + vConic.y * vOff.x * vOff.y;
  if (power > 4.5) discard;
  float alpha = min(0.99, vColor.a * exp(-power));
  if (alpha < 1.0 / 255.0) discard;
  outColor = vec4(vColor.rgb * alpha, alpha);
}`;

  function compile(type, src) {
    const s = gl.createShader(type);
    gl.shaderSource(s, src);
    gl.compileShader(s);
    if (!gl.getShaderParameter(s, gl.COMPILE_STATUS)) throw new Error(gl.getShaderInfoLog(s));
    return s;
  }
  const prog = gl.createProgram();
  gl.attachShader(prog, compile(gl.VERTEX_SHADER, VS));
  gl.attachShader(prog, compile(gl.FRAGMENT_SHADER, FS));
  gl.linkProgram(prog);
  if (!gl.getProgramParameter(prog, gl.LINK_STATUS)) throw new Error(gl.getProgramInfoLog(prog));
  gl.useProgram(prog);
  const U = (n) => gl.getUniformLocation(prog, n);
  const A = (n) => gl.getAttribLocation(prog, n);

  // ---------------------------------------------------------------- data (.splat, 32 bytes a record)
  const STRIDE = 13; // center 3, rgba 4, covA 3, covB 3
  let n = 0, base = null, sorted = null, depthBuf = null, keyBuf = null, order = null;
  function decode(bytes) {
    n = Math.floor(bytes.byteLength / 32);
    const f = new Float32Array(bytes.buffer, bytes.byteOffset, n * 8);
    const u = new Uint8Array(bytes.buffer, bytes.byteOffset, n * 32);
    base = new Float32Array(n * STRIDE);
    for (let i = 0; i < n; i++) {
      const o = i * STRIDE;
      base[o] = f[i * 8]; base[o + 1] = f[i * 8 + 1]; base[o + 2] = f[i * 8 + 2];
      const sx = f[i * 8 + 3], sy = f[i * 8 + 4], sz = f[i * 8 + 5];
      for (let c = 0; c < 4; c++) base[o + 3 + c] = u[i * 32 + 24 + c] / 255;
      let w = (u[i * 32 + 28] - 128) / 128, x = (u[i * 32 + 29] - 128) / 128;
      let y = (u[i * 32 + 30] - 128) / 128, z = (u[i * 32 + 31] - 128) / 128;
      let l = Math.hypot(w, x, y, z);
      if (l < 1e-6) { w = 1; x = y = z = 0; l = 1; }
      w /= l; x /= l; y /= l; z /= l;
      const R = [1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y),
                 2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x),
                 2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)];
      const M = [R[0] * sx, R[1] * sy, R[2] * sz, R[3] * sx, R[4] * sy, R[5] * sz, R[6] * sx, R[7] * sy, R[8] * sz];
      const s = (r, c) => M[r * 3] * M[c * 3] + M[r * 3 + 1] * M[c * 3 + 1] + M[r * 3 + 2] * M[c * 3 + 2];
      base[o + 7] = s(0, 0); base[o + 8] = s(0, 1); base[o + 9] = s(0, 2);
      base[o + 10] = s(1, 1); base[o + 11] = s(1, 2); base[o + 12] = s(2, 2);
    }
    sorted = new Float32Array(n * STRIDE);
    depthBuf = new Float32Array(n); keyBuf = new Uint32Array(n); order = new Uint32Array(n);
  }

  // ---------------------------------------------------------------- GL buffers
  const vao = gl.createVertexArray();
  gl.bindVertexArray(vao);
  const quad = gl.createBuffer();
  gl.bindBuffer(gl.ARRAY_BUFFER, quad);
  gl.bufferData(gl.ARRAY_BUFFER, new Float32Array([-1, -1, 1, -1, -1, 1, 1, 1]), gl.STATIC_DRAW);
  gl.enableVertexAttribArray(A("corner"));
  gl.vertexAttribPointer(A("corner"), 2, gl.FLOAT, false, 0, 0);
  const inst = gl.createBuffer();
  gl.bindBuffer(gl.ARRAY_BUFFER, inst);
  [["center", 3, 0], ["color", 4, 3], ["covA", 3, 7], ["covB", 3, 10]].forEach(([name, size, off]) => {
    const loc = A(name);
    gl.enableVertexAttribArray(loc);
    gl.vertexAttribPointer(loc, size, gl.FLOAT, false, STRIDE * 4, off * 4);
    gl.vertexAttribDivisor(loc, 1);
  });

  // ---------------------------------------------------------------- camera (OpenCV c2w, row-major 4x4)
  const cam0 = cfg.camera;
  let c2w = cam0.c2w.map((r) => r.slice());
  let target = cfg.target.slice();
  const inv = (m) => { // rigid inverse
    const R = [[m[0][0], m[1][0], m[2][0]], [m[0][1], m[1][1], m[2][1]], [m[0][2], m[1][2], m[2][2]]];
    const t = [m[0][3], m[1][3], m[2][3]];
    const o = R.map((r) => [...r, -(r[0] * t[0] + r[1] * t[1] + r[2] * t[2])]);
    o.push([0, 0, 0, 1]);
    return o;
  };
  function rotate(axis, ang, v) { // Rodrigues
    const [kx, ky, kz] = axis, c = Math.cos(ang), s = Math.sin(ang);
    const d = kx * v[0] + ky * v[1] + kz * v[2];
    const cr = [ky * v[2] - kz * v[1], kz * v[0] - kx * v[2], kx * v[1] - ky * v[0]];
    return [0, 1, 2].map((i) => v[i] * c + cr[i] * s + axis[i] * d * (1 - c));
  }
  const col = (i) => [c2w[0][i], c2w[1][i], c2w[2][i]];
  function setCol(i, v) { for (let r = 0; r < 3; r++) c2w[r][i] = v[r]; }
  const worldUp = col(1).map((x) => -x); // "up" of the first camera stays up while orbiting
  function orbit(dx, dy) {
    const pos = col(3).map((p, i) => p - target[i]);
    const yaw = -dx * 0.005, pitch = dy * 0.005;
    const cols = [col(0), col(1), col(2), pos].map((v) => rotate(worldUp, yaw, v));
    const right = cols[0];
    const out = cols.map((v) => rotate(right, pitch, v));
    for (let i = 0; i < 3; i++) setCol(i, out[i]);
    setCol(3, out[3].map((p, i) => p + target[i]));
    dirty = true;
  }
  function pan(dx, dy) {
    const d = Math.hypot(...col(3).map((p, i) => p - target[i])) || 1;
    const s = d / intrinsics().fx;
    const mv = [0, 1, 2].map((i) => -col(0)[i] * dx * s - col(1)[i] * dy * s);
    setCol(3, col(3).map((p, i) => p + mv[i]));
    target = target.map((p, i) => p + mv[i]);
    dirty = true;
  }
  function zoom(f) {
    setCol(3, col(3).map((p, i) => target[i] + (p - target[i]) * f));
    dirty = true;
  }
  function intrinsics() { // scale the scene camera to the canvas (fit the height, centre the width)
    const s = canvas.height / cam0.height;
    return { fx: cam0.fx * s, fy: cam0.fy * s, cx: (cam0.cx + 0.5) * s - 0.5 + (canvas.width - cam0.width * s) / 2, cy: (cam0.cy + 0.5) * s - 0.5 };
  }

  // ---------------------------------------------------------------- sort + draw
  function sortAndUpload(v) {
    let lo = Infinity, hi = -Infinity;
    for (let i = 0; i < n; i++) {
      const o = i * STRIDE;
      const z = v[2][0] * base[o] + v[2][1] * base[o + 1] + v[2][2] * base[o + 2] + v[2][3];
      depthBuf[i] = z;
      if (z < lo) lo = z;
      if (z > hi) hi = z;
    }
    const bins = 65536, scale = hi > lo ? (bins - 1) / (hi - lo) : 0;
    const counts = new Uint32Array(bins + 1);
    for (let i = 0; i < n; i++) { const k = ((hi - depthBuf[i]) * scale) | 0; keyBuf[i] = k; counts[k + 1]++; }
    for (let b = 0; b < bins; b++) counts[b + 1] += counts[b];
    for (let i = 0; i < n; i++) order[counts[keyBuf[i]]++] = i; // far first (stable)
    for (let j = 0; j < n; j++) sorted.set(base.subarray(order[j] * STRIDE, order[j] * STRIDE + STRIDE), j * STRIDE);
    gl.bindBuffer(gl.ARRAY_BUFFER, inst);
    gl.bufferData(gl.ARRAY_BUFFER, sorted, gl.DYNAMIC_DRAW);
  }
  let dirty = true;
  function draw() {
    const dpr = fixed ? 1 : window.devicePixelRatio || 1;
    const w = fixed ? +fixed[1] : Math.max(1, Math.round(canvas.clientWidth * dpr));
    const h = fixed ? +fixed[2] : Math.max(1, Math.round(canvas.clientHeight * dpr));
    if (canvas.width !== w || canvas.height !== h) { canvas.width = w; canvas.height = h; }
    const v = inv(c2w);
    sortAndUpload(v);
    const K = intrinsics();
    gl.viewport(0, 0, canvas.width, canvas.height);
    const bg = cfg.background;
    gl.clearColor(bg[0], bg[1], bg[2], 1);
    gl.clear(gl.COLOR_BUFFER_BIT);
    gl.disable(gl.DEPTH_TEST);
    gl.enable(gl.BLEND);
    gl.blendFunc(gl.ONE, gl.ONE_MINUS_SRC_ALPHA);
    gl.uniformMatrix4fv(U("view"), false, new Float32Array([0, 1, 2, 3].flatMap((c) => [v[0][c], v[1][c], v[2][c], v[3][c]])));
    gl.uniform4f(U("intr"), K.fx, K.fy, K.cx, K.cy);
    gl.uniform2f(U("viewport"), canvas.width, canvas.height);
    gl.bindVertexArray(vao);
    gl.drawArraysInstanced(gl.TRIANGLE_STRIP, 0, 4, n);
    gl.finish();
    dirty = false;
    status(`${n} Gaussians`);
    document.body.dataset.drawn = "1";
  }
  function loop() { if (dirty) draw(); requestAnimationFrame(loop); }

  // ---------------------------------------------------------------- input
  let drag = null;
  canvas.addEventListener("contextmenu", (e) => e.preventDefault());
  canvas.addEventListener("pointerdown", (e) => { drag = { x: e.clientX, y: e.clientY, pan: e.button !== 0 || e.shiftKey }; canvas.setPointerCapture(e.pointerId); });
  canvas.addEventListener("pointerup", () => { drag = null; });
  canvas.addEventListener("pointermove", (e) => {
    if (!drag) return;
    const dx = e.clientX - drag.x, dy = e.clientY - drag.y;
    drag.x = e.clientX; drag.y = e.clientY;
    if (drag.pan) pan(dx, dy); else orbit(dx, dy);
  });
  canvas.addEventListener("wheel", (e) => { e.preventDefault(); zoom(Math.exp(e.deltaY * 0.001)); }, { passive: false });
  window.addEventListener("keydown", (e) => {
    if (e.key === "r") { c2w = cam0.c2w.map((r) => r.slice()); target = cfg.target.slice(); dirty = true; }
  });
  window.addEventListener("resize", () => { dirty = true; });

  function start(bytes) {
    decode(bytes);
    draw();
    requestAnimationFrame(loop);
  }
  const embedded = document.getElementById("see3d-data");
  if (embedded && embedded.textContent.trim()) {
    const bin = atob(embedded.textContent.trim());
    const bytes = new Uint8Array(bin.length);
    for (let i = 0; i < bin.length; i++) bytes[i] = bin.charCodeAt(i);
    start(bytes);
  } else {
    status("loading");
    fetch(cfg.url).then((r) => { if (!r.ok) throw new Error(r.status); return r.arrayBuffer(); })
      .then((b) => start(new Uint8Array(b)))
      .catch((e) => status("cannot load the scene: " + e));
  }
})();
"""
