// Bounded sorted lists of top-k entries (included, not a kernel itself). The including file declares
// `cand`, the candidate buffer both passes keep their lists in (src/backends/webgpu/frechet/layout.ts
// gives its layout), and `fp`, the FrechetParams uniform; EMPTY_KEY and NAN_KEY come from the prelude.
//
// An entry is vec2u(key, id). Ranking compares integers only: WGSL lets a compiler assume floats are
// never NaN or infinite, so a float comparison could not be trusted to place them, while the key's
// unsigned order is the scores' order with every NaN after +inf, and ties go to the smaller label id
// (the rule of src/frechet/ops.ts).

// The score as a u32 in the same order: negatives have all bits flipped, non-negatives the sign bit
// set. −0 is taken as +0 first, as a float comparison would see them equal and the tie go to the id.
fn score_key(s: f32) -> u32 {
  var bits = bitcast<u32>(s);
  if ((bits & 0x7fffffffu) == 0u) {
    bits = 0u;
  }
  if ((bits & 0x7fffffffu) > 0x7f800000u) {
    return NAN_KEY;
  }
  if ((bits & 0x80000000u) != 0u) {
    return ~bits;
  }
  return bits | 0x80000000u;
}

// Whether entry a ranks before entry b.
fn ranks_before(a: vec2u, b: vec2u) -> bool {
  return a.x < b.x || (a.x == b.x && a.y < b.y);
}

// Inserts e into the sorted list cand[base .. base + fp.topk), dropping its last entry. The caller
// has checked that e ranks before that last entry (empty slots hold EMPTY_KEY, so they always go).
fn list_insert(base: u32, e: vec2u) {
  var pos = fp.topk - 1u;
  while (pos > 0u && ranks_before(e, cand[base + pos - 1u])) {
    cand[base + pos] = cand[base + pos - 1u];
    pos--;
  }
  cand[base + pos] = e;
}

// Merges the sorted list at `src` into the one at `into`. Both are sorted, so the first entry of
// `src` that does not beat the current last of `into` ends the walk: none after it can.
fn list_merge(into: u32, src: u32) {
  for (var r = 0u; r < fp.topk; r++) {
    let e = cand[src + r];
    if (!ranks_before(e, cand[into + fp.topk - 1u])) {
      break;
    }
    list_insert(into, e);
  }
}

// Index of the list of (row, span, lane) within a row chunk: each row has spanStride spans of LANES
// lists, after the rows × topk entries of the running results.
fn span_list(row: u32, span: u32, lane: u32) -> u32 {
  return fp.listBase + ((row * fp.spanStride + span) * LANES + lane) * fp.topk;
}
