// Shared part of the CSR relaxation kernels (included, not a kernel itself): the bindings every
// one of them reads and the split of a row into its off-diagonal sum and its diagonal.

override WG: u32 = 256;

struct CsrParams {
  // unknowns
  n: u32,
  // rows this dispatch updates (one colour of a red-black sweep)
  count: u32,
  // where that colour's rows start in `order`
  first: u32,
  _pad: u32,
  omega: f32,
}

@group(0) @binding(0) var<uniform> cp: CsrParams;
@group(0) @binding(1) var<storage, read> rowPtr: array<i32>;
@group(0) @binding(2) var<storage, read> colIdx: array<i32>;
@group(0) @binding(3) var<storage, read> values: array<f32>;
@group(0) @binding(4) var<storage, read> rhs: array<f32>;
@group(0) @binding(5) var<storage, read_write> v: array<f32>;

// (σ_i, a_ii): the off-diagonal row sum Σ_(j≠i) a_ij v_j in ascending column order and the stored
// diagonal, found in the same pass (the façade guarantees a stored positive diagonal).
fn row_split(i: u32) -> vec2f {
  var s = 0.0;
  var d = 0.0;
  let end = u32(rowPtr[i + 1u]);
  for (var k = u32(rowPtr[i]); k < end; k++) {
    let j = u32(colIdx[k]);
    if (j == i) {
      d = values[k];
    } else {
      s = fma(values[k], v[j], s);
    }
  }
  return vec2f(s, d);
}
