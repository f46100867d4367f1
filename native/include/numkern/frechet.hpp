// The frechet family's CPU kernel (native/src/frechet/): the fused "GEMM + running top-k" of
// src/frechet/ops.ts. For each row b of W (B×K) and each label j of the operand M (N labels),
// s = bias[j] + Σ_k W[b,k]·M(k,j), with M(k,j) = M[k·N + j] (layout kn) or M[j·K + k] (layout nk); each
// row keeps the topk best (s, labelOffset + j) pairs (frechet_topk.hpp says in which order). The B×N
// score matrix is never stored: labels are taken in tiles, each tile's score block is computed (by the
// builtin blocked kernel of block.cc or by OpenBLAS, see Engine) and folded into the rows' top-k at
// once. No Node headers: the bindings and the standalone test call these directly.
//
// How a score is rounded: the sum is formed in T (f32 products and accumulation for f32) in an order
// the engine picks (the builtin kernel adds the products in ascending k, each product and sum rounded,
// no fusion, so its bits are the same on every CPU; BLAS blocks k and fuses multiply-adds), then bias[j]
// is added once, rounded to T. So two engines may order a near-tie differently, never an exact one, and
// an engine gives the same bits for a label whatever the thread count or the slicing (Problem::begin).
#pragma once

#include <cstddef>
#include <cstdint>

namespace numkern {
namespace frechet {

/// How M is stored; the codes are FRECHET_LAYOUT_CODES of src/frechet/ops.ts (checked at load).
enum class Layout : int32_t { KN = 0, NK = 1 };

/// Which engine computes the score blocks. Auto: OpenBLAS when the build has it, unless it runs
/// narrower vectors than the builtin kernel (blas_narrower; plan() says why), else the builtin kernel.
/// Builtin and Blas force one (Blas needs a build with OpenBLAS; the binding checks).
enum class Engine : int32_t { Auto = 0, Builtin = 1, Blas = 2 };

/// Whether the build links OpenBLAS.
bool have_blas();
/// Whether the builtin kernel runs AVX-512 here while the linked OpenBLAS runs narrower kernels.
bool blas_narrower();

/// How a call is cut up; a function of the shapes and the engine only, never of the thread count.
struct Plan {
  int64_t tile;    // labels per tile; tile t covers operand labels [t·tile, (t+1)·tile) ∩ [0, N)
  int64_t rows;    // rows of W per score block; a task is one tile, scored against every row block
  bool blas;       // OpenBLAS computes the blocks
};

Plan plan(int64_t B, int64_t K, int64_t N, bool f32, Engine engine);

/// Threads a call over labels [begin, end) would run on (plan_threads over its tasks).
int planned_threads(const Plan& p, int64_t B, int64_t begin, int64_t end, int threads);

template <class T>
struct Problem {
  const T* W;          // B×K row-major
  int64_t B, K;
  const T* M;          // the operand, K·N values in `layout`
  int64_t N;
  Layout layout;
  const T* bias;       // N values, or nullptr for none
  int32_t label_offset;  // reported labels are label_offset + j; label_offset + N − 1 fits in int32
  int32_t topk;        // 1 <= topk
  // The labels j in [begin, end) of M take part. Several calls over consecutive ranges with `merge`
  // give the bits of one call over their union when every cut is a multiple of plan().tile (the tiles
  // are then the same); with !merge, end − begin >= topk.
  int64_t begin, end;
  // Whether labels/scores already hold each row's ranked top-k of earlier labels, to be merged with.
  bool merge;
  int32_t* labels;     // out (in too when merge): B×topk, each row in rank order
  T* scores;           // same shape; the scores of those labels
  // Screening (topk.cc): whether to check W's rows as weights (entries finite and >= 0, some entry
  // > 0; f64: no row sum near overflow) and the entries of M in [begin, end) as squared distances
  // (finite and >= 0) before using them.
  bool screen_w = false;
  bool screen_m = false;
};

/// Runs the kernel. The binding has checked every size and range; `threads` as in plan_threads (0 =
/// all). Returns −1, or, when a screen finds a bad value, 0 (W) or 1 (M) with labels/scores unspecified.
/// Never throws for a valid problem other than std::bad_alloc.
template <class T>
int topk(const Problem<T>& p, Engine engine, int threads);

/// The barycenters of the embedding reduction (barycenter.cc, docs/frechet.md §3.2): for b < B,
/// W[b·dim + i] = T((−2·Σ_k P[b,k]·E[k·dim + i]) / row_sums[b]) and shift[b] = Σ_k P[b,k]·norms[k] /
/// row_sums[b], every sum in f64 in ascending k, unfused: the bits of the js oracle. E is K×dim (the
/// observed classes' embeddings), norms their squared norms; `threads` as in plan_threads.
template <class T>
void barycenters(const T* P, int64_t B, int64_t K, const double* E, int64_t dim, const double* norms,
                 const double* row_sums, T* W, double* shift, int threads);

// ---- the builtin engine's blocks (block.cc) ----
// Its panels are MR rows of W (read in place) and NR labels of a packed tile of M, with MR and NR fixed
// by the CPU's vector width.

/// The vector width the builtin engine runs on this CPU: "x86-64-v4", "avx2" or "default".
const char* builtin_variant();
/// Makes the builtin engine run a narrower variant the CPU also has ("avx2", "default"; nullptr goes
/// back to the widest): the standalone test checks that every variant gives the same bits. Returns
/// false, changing nothing, for a variant the CPU lacks. Not for use while kernels run.
bool use_builtin_variant(const char* name);
/// Values in the packed copy of a tile of `cols` labels.
template <class T>
size_t tile_pack_size(int64_t cols, int64_t K);
/// Packs labels col0 .. col0 + cols of M (K·N values in `layout`) into NR-label panels, k-major.
template <class T>
void pack_tile(const T* M, Layout layout, int64_t K, int64_t N, int64_t col0, int64_t cols, T* mpack);
/// Scratch values block_builtin needs for a W of B rows: 0 unless B is below one panel of rows.
template <class T>
size_t pad_size(int64_t B, int64_t K);
/// C[i·ldc + c] = Σ_k W[row0 + i, k]·M(k, col0 + c) for i < rows, c < cols, with W the B×K row-major
/// weights and mpack the tile packed from col0; the products added in ascending k in T. Either the rows
/// end W (row0 + rows = B) or rows is a multiple of every variant's MR (12, 6 and 4). `apad` holds
/// pad_size(B, K) values.
template <class T>
void block_builtin(const T* W, int64_t B, int64_t K, int64_t row0, int64_t rows, const T* mpack, int64_t cols, T* C,
                   int64_t ldc, T* apad);

}  // namespace frechet
}  // namespace numkern
