// The running top-k of one row of the frechet kernel (frechet.hpp), written once for the CPU kernels
// (native/src/frechet/) and a CUDA launcher: no allocation, no threads, nothing host-only.
//
// A row's top-k is a bounded max-heap of (score, label) pairs under one total order: ascending score,
// exact ties to the smaller label (src/frechet/ops.ts), and NaN after every number (NaN only arises
// from overflow, inf − inf, inside a sum of finite inputs; ranking it last keeps a finite answer
// first). Because the order is total and labels are distinct, the k best of any set of candidates are
// one set whatever the order in which they are offered; that is what makes the result independent of
// the thread count, of the tile order and of slicing a call into several.
#pragma once

#include <cstdint>

#include "numkern/common.hpp"

namespace numkern {
namespace frechet {

/// Whether (sa, ia) ranks strictly before (sb, ib).
template <class T>
NK_HD NK_FORCEINLINE bool ranks_before(T sa, int32_t ia, T sb, int32_t ib) {
  const bool na = sa != sa, nb = sb != sb;
  if (na != nb) return nb;
  if (!na && sa != sb) return sa < sb;
  return ia < ib;
}

/// One row's heap: s[0..count) and id[0..count), the worst pair at the root; cap = k.
template <class T>
struct TopkRow {
  T* s;
  int32_t* id;
  int32_t count;
  int32_t cap;
};

/// Scores `v` with !(v > screen(row)) may enter the row; everything else certainly cannot. NaN while the
/// row is not full (or its worst pair is NaN), so every candidate is then looked at.
template <class T>
NK_HD NK_FORCEINLINE T screen(const TopkRow<T>& r, T nan) {
  return r.count < r.cap ? nan : r.s[0];
}

template <class T>
NK_HD NK_FORCEINLINE void sift_down(T* s, int32_t* id, int32_t n, int32_t i) {
  const T sv = s[i];
  const int32_t iv = id[i];
  for (;;) {
    int32_t c = 2 * i + 1;
    if (c >= n) break;
    // The child that ranks later (the larger) moves up.
    if (c + 1 < n && ranks_before(s[c], id[c], s[c + 1], id[c + 1])) ++c;
    if (!ranks_before(sv, iv, s[c], id[c])) break;
    s[i] = s[c];
    id[i] = id[c];
    i = c;
  }
  s[i] = sv;
  id[i] = iv;
}

/// Offers (v, label) to the row; returns whether it was kept.
template <class T>
NK_HD NK_FORCEINLINE bool offer(TopkRow<T>& r, T v, int32_t label) {
  if (r.count < r.cap) {
    int32_t i = r.count++;
    while (i > 0) {
      const int32_t p = (i - 1) / 2;
      if (!ranks_before(r.s[p], r.id[p], v, label)) break;
      r.s[i] = r.s[p];
      r.id[i] = r.id[p];
      i = p;
    }
    r.s[i] = v;
    r.id[i] = label;
    return true;
  }
  if (!ranks_before(v, label, r.s[0], r.id[0])) return false;
  r.s[0] = v;
  r.id[0] = label;
  sift_down(r.s, r.id, r.count, 0);
  return true;
}

/// Sorts the row's pairs into rank order (best first) in place; the row is no longer a heap after it.
template <class T>
NK_HD inline void sort_ranked(TopkRow<T>& r) {
  for (int32_t n = r.count - 1; n > 0; --n) {
    const T ts = r.s[0];
    const int32_t ti = r.id[0];
    r.s[0] = r.s[n];
    r.id[0] = r.id[n];
    r.s[n] = ts;
    r.id[n] = ti;
    sift_down(r.s, r.id, n, 0);
  }
}

}  // namespace frechet
}  // namespace numkern
