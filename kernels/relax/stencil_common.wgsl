// Shared part of the matrix-free stencil kernels (included, not a kernel itself).
// Unknown (i, j, k) sits at p = i + nx·(j + ny·k), x fastest; a 2-D grid is nz = 1, so its ±z
// couplings are never inside the grid and never read. Couplings that would cross the boundary
// are dropped (Dirichlet), as in src/core/stencil.ts.
// Constant coefficients come from the uniform block, so the kernel moves only vectors through
// memory; variable ones live in `coefs`, direction-major: coefs[p] = a_pp and
// coefs[(1 + dir)·n + p] = coupling in direction dir (−x, +x, −y, +y, −z, +z), so neighbouring
// invocations read neighbouring words.

override WG: u32 = 256;

struct StencilParams {
  // nx, ny, nz, n
  dims: vec4u,
  // colour (red-black sweeps), ceil(nx / 2), invocations needed, unused
  sweep: vec4u,
  // ω, constant diagonal, unused, unused
  scal: vec4f,
  // constant couplings −x, +x, −y, +y
  offA: vec4f,
  // constant couplings −z, +z, unused, unused
  offB: vec4f,
}

@group(0) @binding(0) var<uniform> sp: StencilParams;
@group(0) @binding(1) var<storage, read> coefs: array<f32>;
@group(0) @binding(2) var<storage, read> rhs: array<f32>;
@group(0) @binding(3) var<storage, read_write> v: array<f32>;

fn grid_of(p: u32) -> vec3u {
  let nx = sp.dims.x;
  let ny = sp.dims.y;
  return vec3u(p % nx, (p / nx) % ny, p / (nx * ny));
}

// Σ over the neighbours of p of coupling · v[neighbour], in ascending column order (−z, −y, −x,
// +x, +y, +z) like the CSR twin's row. Two copies, because a function that names `coefs` makes
// every entry point calling it bind the buffer: the constant-coefficient path must not.
fn offsum_const(p: u32, g: vec3u) -> f32 {
  let nx = sp.dims.x;
  let ny = sp.dims.y;
  let plane = nx * ny;
  var s = 0.0;
  if (g.z > 0u) {
    s = fma(sp.offB.x, v[p - plane], s);
  }
  if (g.y > 0u) {
    s = fma(sp.offA.z, v[p - nx], s);
  }
  if (g.x > 0u) {
    s = fma(sp.offA.x, v[p - 1u], s);
  }
  if (g.x + 1u < nx) {
    s = fma(sp.offA.y, v[p + 1u], s);
  }
  if (g.y + 1u < ny) {
    s = fma(sp.offA.w, v[p + nx], s);
  }
  if (g.z + 1u < sp.dims.z) {
    s = fma(sp.offB.y, v[p + plane], s);
  }
  return s;
}

fn offsum_var(p: u32, g: vec3u) -> f32 {
  let nx = sp.dims.x;
  let ny = sp.dims.y;
  let n = sp.dims.w;
  let plane = nx * ny;
  var s = 0.0;
  if (g.z > 0u) {
    s = fma(coefs[5u * n + p], v[p - plane], s);
  }
  if (g.y > 0u) {
    s = fma(coefs[3u * n + p], v[p - nx], s);
  }
  if (g.x > 0u) {
    s = fma(coefs[n + p], v[p - 1u], s);
  }
  if (g.x + 1u < nx) {
    s = fma(coefs[2u * n + p], v[p + 1u], s);
  }
  if (g.y + 1u < ny) {
    s = fma(coefs[4u * n + p], v[p + nx], s);
  }
  if (g.z + 1u < sp.dims.z) {
    s = fma(coefs[6u * n + p], v[p + plane], s);
  }
  return s;
}

// The p-th node of colour sp.sweep.x in red-black order: rows (j, k) hold ceil(nx/2) slots each,
// and slot t of a row is the t-th node whose parity (i + j + k) mod 2 matches the colour, so
// consecutive invocations touch every other word of one grid row. Returns n for a slot past the
// row's end (odd nx).
fn colour_node(t: u32) -> u32 {
  let nx = sp.dims.x;
  let ny = sp.dims.y;
  let half = sp.sweep.y;
  let row = t / half;
  let j = row % ny;
  let k = row / ny;
  let i = 2u * (t % half) + ((j + k + sp.sweep.x) & 1u);
  if (i >= nx) {
    return sp.dims.w;
  }
  return i + nx * row;
}
