// Fused causal attention on the CPU (FlashAttention-2, Dao 2023), over (batch, T, D) row-major
// tensors; scores, probabilities and their gradients live only in tiles of kTile x kTile.
//
// Forward, per (batch entry, tile of kTile queries), in parallel over both:
//   1. load the query tile, scaled, as f32;
//   2. for each key tile at or below the diagonal (tiles above it are skipped): scores = q k^T,
//      the causal mask applied by counting the row's valid keys, then the online softmax:
//      the row maximum m and sum l are updated, the output accumulator rescaled by
//      exp(m_old - m_new) and p v added;
//   3. result = accumulator / l, lse = m + log(l).
// Backward, per batch entry in parallel (one thread owns its dq, dk and dv): delta_i = sum(grad_i
// * result_i); for each key tile and each query row at or below it, recompute p = exp(s - lse),
// then dp = grad v^T, ds = p (dp - delta), dq += ds k (with the scale); and per panel of kPanel
// such rows, dv += p^T grad and dk += ds^T q.
//
// The loops are plain C++ that GCC vectorizes; they are compiled twice, for AVX-512 and for the
// baseline x86-64 ISA, and the plan's CPU features pick one. bf16 tensors on a plan compiled
// for AVX512_BF16 take a third version whose five products multiply pairs of bf16 values
// (vdpbf16ps, twice an f32 FMA's work; see "bf16 tensors on AVX512_BF16" below). exp is a
// Cephes-style polynomial (about 2 ulp) that vectorizes, unlike libm's.
#include "runtime/device/cpu/CausalAttention.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <immintrin.h>
#include <omp.h>
#include <type_traits>
#include <vector>

namespace nnrt {
namespace {

constexpr int64_t kTile = 64; // queries and keys per tile

using Bf16 = uint16_t;

inline float toFloat(float x) { return x; }
inline float toFloat(Bf16 x) {
  uint32_t bits = uint32_t(x) << 16;
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

inline void fromFloat(float x, float &to) { to = x; }
inline void fromFloat(float x, Bf16 &to) { // round to nearest even, as LLVM's fptrunc
  uint32_t bits;
  std::memcpy(&bits, &x, 4);
  if ((bits & 0x7fffffffu) > 0x7f800000u) { // NaN stays NaN
    to = Bf16((bits >> 16) | 0x40);
    return;
  }
  bits += 0x7fffu + ((bits >> 16) & 1u);
  to = Bf16(bits >> 16);
}

// Register blocks: kRows query rows at a time against a tile of kTile keys, in 16-float
// vectors (GCC's vector extension: one zmm register with AVX-512, four xmm without). Tensors are
// copied into f32 scratch with rows padded to dp = D rounded up to 16 (zeros), so every loop runs
// over whole vectors.
typedef float Vec __attribute__((vector_size(64)));
#pragma GCC diagnostic ignored "-Wpsabi" // Vec never crosses a call: everything is inlined
constexpr int64_t kLanes = 16, kVecs = kTile / kLanes, kRows = 4;

typedef int32_t VecI __attribute__((vector_size(64)));

inline Vec loadVec(const float *p) {
  Vec v;
  std::memcpy(&v, p, sizeof v);
  return v;
}
inline void storeVec(float *p, Vec v) { std::memcpy(p, &v, sizeof v); }

/// Lane i holds first + i: compared with a row's count of valid keys, the causal mask.
inline VecI laneIndices(int32_t first) {
  VecI lanes;
  for (int32_t i = 0; i < int32_t(kLanes); ++i)
    lanes[i] = first + i;
  return lanes;
}

/// exp(x) for x <= 0 (a score minus its row's maximum or log-sum-exp), 16 lanes at once: range
/// reduction by ln 2 and Cephes' expf polynomial (about 2 ulp). Below -87 it returns about
/// 1.6e-38 instead of less.
inline Vec expNonPositive(Vec x) {
  x = x < -87.0f ? Vec{} - 87.0f : x;
  Vec n = (x * 1.44269504088896341f + 12582912.0f) - 12582912.0f; // round(x / ln 2)
  Vec r = x - n * 0.693359375f + n * 2.12194440e-4f;                // x - n ln 2
  Vec p = r * 1.9875691500e-4f + 1.3981999507e-3f;
  p = p * r + 8.3333452701e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  p = p * r * r + r + 1.0f;
  VecI bits = (__builtin_convertvector(n, VecI) + 127) << 23; // 2^n
  Vec twoToN;
  std::memcpy(&twoToN, &bits, sizeof twoToN);
  return p * twoToN;
}

/// Lanes of v folded pairwise by `op` in log2(16) shuffles (not 16 scalar steps).
template <typename Op> inline float laneFold(Vec v, Op op) {
  v = op(v, __builtin_shuffle(v, VecI{8, 9, 10, 11, 12, 13, 14, 15, 0, 1, 2, 3, 4, 5, 6, 7}));
  v = op(v, __builtin_shuffle(v, VecI{4, 5, 6, 7, 0, 1, 2, 3, 12, 13, 14, 15, 8, 9, 10, 11}));
  v = op(v, __builtin_shuffle(v, VecI{2, 3, 0, 1, 6, 7, 4, 5, 10, 11, 8, 9, 14, 15, 12, 13}));
  v = op(v, __builtin_shuffle(v, VecI{1, 0, 3, 2, 5, 4, 7, 6, 9, 8, 11, 10, 13, 12, 15, 14}));
  return v[0];
}
inline float laneSum(Vec v) { return laneFold(v, [](Vec a, Vec b) { return a + b; }); }
inline float laneMax(Vec v) { return laneFold(v, [](Vec a, Vec b) { return a < b ? b : a; }); }

inline int64_t roundUp(int64_t x, int64_t to) { return (x + to - 1) / to * to; }

/// Rows [first, first + rows) of a (T, D) matrix into `to` (rows of dp floats, zero-padded), as
/// f32 times `factor`.
template <typename E>
inline void loadRows(const E *from, int64_t first, int64_t rows, int64_t d, int64_t dp,
                     float factor, float *to) {
  for (int64_t r = 0; r < rows; ++r) {
    const E *src = from + (first + r) * d;
    for (int64_t x = 0; x < d; ++x)
      to[r * dp + x] = toFloat(src[x]) * factor;
    for (int64_t x = d; x < dp; ++x)
      to[r * dp + x] = 0.0f;
  }
}

/// Rows [first, first + cols) of a (T, D) matrix transposed into (dp, kTile), zero-padded.
template <typename E>
inline void loadTransposed(const E *from, int64_t first, int64_t cols, int64_t d, int64_t dp,
                           float *to) {
  std::fill(to, to + dp * kTile, 0.0f);
  for (int64_t c = 0; c < cols; ++c)
    for (int64_t x = 0; x < d; ++x)
      to[x * kTile + c] = toFloat(from[(first + c) * d + x]);
}

/// out (kRows, kTile) = a (kRows rows of dp) times bT (dp, kTile): scores or dp of a row block.
inline void rowsTimesTile(const float *a, int64_t dp, const float *bT, float *out) {
  Vec acc[kRows][kVecs] = {};
  for (int64_t x = 0; x < dp; ++x) {
    Vec b[kVecs];
#pragma GCC unroll 4
    for (int64_t v = 0; v < kVecs; ++v)
      b[v] = loadVec(bT + x * kTile + v * kLanes);
#pragma GCC unroll 4
    for (int64_t r = 0; r < kRows; ++r) {
      float ar = a[r * dp + x];
#pragma GCC unroll 4
      for (int64_t v = 0; v < kVecs; ++v)
        acc[r][v] += ar * b[v];
    }
  }
  for (int64_t r = 0; r < kRows; ++r)
    for (int64_t v = 0; v < kVecs; ++v)
      storeVec(out + r * kTile + v * kLanes, acc[r][v]);
}

/// acc (kRows rows of dp) += w (kRows, kTile) times m (count rows of dp), for the V vectors of
/// the rows starting at acc and m (callers step through a row in chunks).
template <int64_t V>
inline void accumulateChunk(const float *w, const float *m, int64_t count, int64_t dp,
                            float *acc) {
  Vec a[kRows][V];
  for (int64_t r = 0; r < kRows; ++r)
    for (int64_t v = 0; v < V; ++v)
      a[r][v] = loadVec(acc + r * dp + v * kLanes);
  for (int64_t c = 0; c < count; ++c) {
    Vec b[V];
#pragma GCC unroll 4
    for (int64_t v = 0; v < V; ++v)
      b[v] = loadVec(m + c * dp + v * kLanes);
#pragma GCC unroll 4
    for (int64_t r = 0; r < kRows; ++r) {
      float wr = w[r * kTile + c];
#pragma GCC unroll 4
      for (int64_t v = 0; v < V; ++v)
        a[r][v] += wr * b[v];
    }
  }
  for (int64_t r = 0; r < kRows; ++r)
    for (int64_t v = 0; v < V; ++v)
      storeVec(acc + r * dp + v * kLanes, a[r][v]);
}

/// acc (kRows rows of dp) += w (kRows, kTile) times m (count rows of dp): p v, ds k.
inline void tileTimesRows(const float *w, const float *m, int64_t count, int64_t dp, float *acc) {
  for (int64_t x = 0; x < dp; x += kVecs * kLanes) {
    switch (std::min(kVecs, (dp - x) / kLanes)) {
    case 4: accumulateChunk<4>(w, m + x, count, dp, acc + x); break;
    case 3: accumulateChunk<3>(w, m + x, count, dp, acc + x); break;
    case 2: accumulateChunk<2>(w, m + x, count, dp, acc + x); break;
    default: accumulateChunk<1>(w, m + x, count, dp, acc + x); break;
    }
  }
}

/// Keys of a tile updated together by panelToTile: 8 rows of dk or dv in registers.
constexpr int64_t kKeysPerBlock = 8;

/// out (count rows of dp) += w (panel rows, kTile)^T times rows (panel rows of dp): a key tile's
/// gradients (dv from p and grad, dk from ds and q) from a panel of query rows, as register
/// blocks of kKeysPerBlock keys x V vectors that stay in registers over the whole panel (one
/// load and store of out per panel, not per kRows rows). The last block may run past `count`
/// into the tile's unused rows, whose weights are zero.
template <int64_t V>
inline void panelChunkToTile(const float *w, const float *rows, int64_t panel, int64_t count,
                             int64_t dp, float *out) {
  for (int64_t c0 = 0; c0 < count; c0 += kKeysPerBlock) {
    Vec acc[kKeysPerBlock][V];
    for (int64_t i = 0; i < kKeysPerBlock; ++i)
      for (int64_t v = 0; v < V; ++v)
        acc[i][v] = loadVec(out + (c0 + i) * dp + v * kLanes);
    for (int64_t r = 0; r < panel; ++r) {
      Vec b[V];
#pragma GCC unroll 4
      for (int64_t v = 0; v < V; ++v)
        b[v] = loadVec(rows + r * dp + v * kLanes);
#pragma GCC unroll 8
      for (int64_t i = 0; i < kKeysPerBlock; ++i) {
        float wi = w[r * kTile + c0 + i];
#pragma GCC unroll 4
        for (int64_t v = 0; v < V; ++v)
          acc[i][v] += wi * b[v];
      }
    }
    for (int64_t i = 0; i < kKeysPerBlock; ++i)
      for (int64_t v = 0; v < V; ++v)
        storeVec(out + (c0 + i) * dp + v * kLanes, acc[i][v]);
  }
}

inline void panelToTile(const float *w, const float *rows, int64_t panel, int64_t count,
                        int64_t dp, float *out) {
  for (int64_t x = 0; x < dp; x += 2 * kLanes) {
    if (dp - x >= 2 * kLanes)
      panelChunkToTile<2>(w, rows + x, panel, count, dp, out + x);
    else
      panelChunkToTile<1>(w, rows + x, panel, count, dp, out + x);
  }
}

struct Sizes {
  int64_t t, d, dp;
  float scale;
};

/// Per-thread tiles of the forward pass.
struct ForwardScratch {
  std::vector<float> q, kT, v, acc, s, m, l;
  explicit ForwardScratch(int64_t dp)
      : q(kTile * dp), kT(dp * kTile), v(kTile * dp), acc(kTile * dp), s(kRows * kTile),
        m(kTile), l(kTile) {}
};

/// The online softmax of one row's scores (in place: they become p) against its running
/// maximum m and sum l; returns the factor its accumulated output must be rescaled by.
inline float onlineSoftmax(float *row, int64_t valid, float &m, float &l) {
  Vec maxima = Vec{} + m; // whole vectors of valid scores, then the rest one by one
  int64_t whole = valid / kLanes * kLanes;
  for (int64_t c = 0; c < whole; c += kLanes) {
    Vec x = loadVec(row + c);
    maxima = maxima < x ? x : maxima;
  }
  float rowMax = laneMax(maxima);
  for (int64_t c = whole; c < valid; ++c)
    rowMax = std::max(rowMax, row[c]);
  Vec sums{};
  for (int64_t v = 0; v < kVecs; ++v) {
    Vec e = expNonPositive(loadVec(row + v * kLanes) - rowMax);
    e = laneIndices(int32_t(v * kLanes)) < int32_t(valid) ? e : Vec{};
    storeVec(row + v * kLanes, e);
    sums += e;
  }
  float sum = laneSum(sums);
  float rescale = std::exp(m - rowMax); // 0 on the first tile (m = -inf)
  l = l * rescale + sum;
  m = rowMax;
  return rescale;
}

/// The online softmax of a block of kRows scores (s: kRows x kTile, in place: they become p),
/// rows r0.. of a query tile of `rows` rows against a key tile of `cols` keys that starts
/// `offset` queries before the query tile; each row's output accumulator (acc, rows of dp) is
/// rescaled. Padding rows (r >= rows) get no weight.
inline void softmaxBlock(float *s, int64_t r0, int64_t rows, int64_t offset, int64_t cols,
                         int64_t dp, float *m, float *l, float *acc) {
  for (int64_t rr = 0; rr < kRows; ++rr) {
    int64_t r = r0 + rr;
    float *p = s + rr * kTile;
    if (r >= rows) {
      std::fill(p, p + kTile, 0.0f);
      continue;
    }
    int64_t valid = std::min(cols, offset + r + 1); // keys j <= i: the causal mask
    float rescale = onlineSoftmax(p, valid, m[r], l[r]);
    for (int64_t x = 0; x < dp; ++x)
      acc[r * dp + x] *= rescale;
  }
}

/// Queries i0.. (kRows of them; those at or past t are padding) against the key tile j0..j0 +
/// cols: p = exp(s scale - lse) with the causal mask, in place of the scores s, and
/// ds = p (dp - delta), in place of dp.
inline void probabilityGradients(float *p, float *ds, int64_t i0, int64_t t, int64_t j0,
                                 int64_t cols, float scale, const float *lse,
                                 const float *delta) {
  for (int64_t rr = 0; rr < kRows; ++rr) {
    int64_t i = i0 + rr;
    int64_t valid = i < t ? std::min(cols, i - j0 + 1) : 0;
    float rowLse = i < t ? lse[i] : 0.0f, rowDelta = i < t ? delta[i] : 0.0f;
    float *pRow = p + rr * kTile, *dsRow = ds + rr * kTile;
    for (int64_t c = 0; c < kTile; c += kLanes) {
      Vec e = expNonPositive(loadVec(pRow + c) * scale - rowLse);
      e = laneIndices(int32_t(c)) < int32_t(valid) ? e : Vec{};
      storeVec(pRow + c, e);
      storeVec(dsRow + c, e * (loadVec(dsRow + c) - rowDelta));
    }
  }
}

/// One tile of queries [i0, i0 + rows) of one batch entry (q, k, v, result: (T, D); lse: (T)).
template <typename E>
inline void forwardTile(const Sizes &n, const E *q, const E *k, const E *v, E *result,
                        float *lse, int64_t i0, ForwardScratch &s) {
  int64_t d = n.d, dp = n.dp, rows = std::min(kTile, n.t - i0);
  std::fill(s.q.begin(), s.q.end(), 0.0f);
  loadRows(q, i0, rows, d, dp, n.scale, s.q.data());
  std::fill(s.acc.begin(), s.acc.end(), 0.0f);
  std::fill(s.m.begin(), s.m.end(), -INFINITY);
  std::fill(s.l.begin(), s.l.end(), 0.0f);
  for (int64_t j0 = 0; j0 < i0 + rows; j0 += kTile) { // key tiles up to the diagonal
    int64_t cols = std::min(kTile, n.t - j0);
    loadTransposed(k, j0, cols, d, dp, s.kT.data());
    loadRows(v, j0, cols, d, dp, 1.0f, s.v.data());
    for (int64_t r0 = 0; r0 < rows; r0 += kRows) {
      rowsTimesTile(&s.q[r0 * dp], dp, s.kT.data(), s.s.data());
      softmaxBlock(s.s.data(), r0, rows, i0 - j0, cols, dp, s.m.data(), s.l.data(),
                   s.acc.data());
      tileTimesRows(s.s.data(), s.v.data(), cols, dp, &s.acc[r0 * dp]);
    }
  }
  for (int64_t r = 0; r < rows; ++r) {
    float inverse = 1.0f / s.l[r];
    for (int64_t x = 0; x < d; ++x)
      fromFloat(s.acc[r * dp + x] * inverse, result[(i0 + r) * d + x]);
    lse[i0 + r] = s.m[r] + std::log(s.l[r]);
  }
}

/// Query rows whose p and ds the backward pass keeps before updating a key tile's dk and dv.
constexpr int64_t kPanel = 32;

/// Per-thread buffers of the backward pass: one batch entry's tensors as f32, rows padded to a
/// whole number of register blocks; p and ds of a panel of query rows.
struct BackwardScratch {
  std::vector<float> q, grad, k, kT, vT, delta, dq, dk, dv, p, ds;
  BackwardScratch(int64_t t, int64_t dp)
      : q(roundUp(t, kRows) * dp), grad(roundUp(t, kRows) * dp), k(t * dp), kT(dp * kTile),
        vT(dp * kTile), delta(t), dq(roundUp(t, kRows) * dp), dk(kTile * dp), dv(kTile * dp),
        p(kPanel * kTile), ds(kPanel * kTile) {}
};

/// The gradients of one batch entry (every tensor (T, D) but lse (T)).
template <typename E>
inline void backwardEntry(const Sizes &n, const E *q, const E *k, const E *v, const E *result,
                          const float *lse, const E *grad, E *dq, E *dk, E *dv,
                          BackwardScratch &s) {
  int64_t t = n.t, d = n.d, dp = n.dp;
  std::fill(s.q.begin(), s.q.end(), 0.0f);
  std::fill(s.grad.begin(), s.grad.end(), 0.0f);
  loadRows(q, 0, t, d, dp, 1.0f, s.q.data());
  loadRows(grad, 0, t, d, dp, 1.0f, s.grad.data());
  loadRows(k, 0, t, d, dp, 1.0f, s.k.data());
  loadRows(result, 0, t, d, dp, 1.0f, s.dq.data()); // dq is zeroed below
  for (int64_t i = 0; i < t; ++i) { // delta_i = grad_i . result_i
    Vec sums{};
    for (int64_t x = 0; x < dp; x += kLanes)
      sums += loadVec(&s.grad[i * dp + x]) * loadVec(&s.dq[i * dp + x]);
    s.delta[i] = laneSum(sums);
  }
  std::fill(s.dq.begin(), s.dq.end(), 0.0f);
  for (int64_t j0 = 0; j0 < t; j0 += kTile) {
    int64_t cols = std::min(kTile, t - j0);
    loadTransposed(k, j0, cols, d, dp, s.kT.data());
    loadTransposed(v, j0, cols, d, dp, s.vT.data());
    std::fill(s.dk.begin(), s.dk.end(), 0.0f);
    std::fill(s.dv.begin(), s.dv.end(), 0.0f);
    // Query rows that see some key of this tile, a panel at a time.
    for (int64_t first = j0; first < t; first += kPanel) {
      int64_t panel = std::min(kPanel, roundUp(t - first, kRows));
      for (int64_t r0 = 0; r0 < panel; r0 += kRows) {
        int64_t i0 = first + r0;
        float *p = &s.p[r0 * kTile], *ds = &s.ds[r0 * kTile];
        rowsTimesTile(&s.q[i0 * dp], dp, s.kT.data(), p);     // scores
        rowsTimesTile(&s.grad[i0 * dp], dp, s.vT.data(), ds); // dp = grad v^T
        probabilityGradients(p, ds, i0, t, j0, cols, n.scale, lse, s.delta.data());
        tileTimesRows(ds, &s.k[j0 * dp], cols, dp, &s.dq[i0 * dp]); // dq += ds k
      }
      panelToTile(s.p.data(), &s.grad[first * dp], panel, cols, dp, s.dv.data()); // dv += p^T grad
      panelToTile(s.ds.data(), &s.q[first * dp], panel, cols, dp, s.dk.data());   // dk += ds^T q
    }
    for (int64_t c = 0; c < cols; ++c)
      for (int64_t x = 0; x < d; ++x) {
        fromFloat(s.dk[c * dp + x] * n.scale, dk[(j0 + c) * d + x]);
        fromFloat(s.dv[c * dp + x], dv[(j0 + c) * d + x]);
      }
  }
  for (int64_t i = 0; i < t; ++i)
    for (int64_t x = 0; x < d; ++x)
      fromFloat(s.dq[i * dp + x] * n.scale, dq[i * d + x]);
}

// bf16 tensors on AVX512_BF16: each product multiplies pairs of bf16 values into f32 lanes
// (vdpbf16ps: acc += a0 b0 + a1 b1), twice the multiply-adds of an f32 FMA. Scores and dp are
// products of the inputs as they are (exact in f32); p and ds are rounded to bf16 for the
// products they feed, as FlashAttention does on GPUs. Operands are repacked per tile into the
// pairs each product reads:
//   pairs along x (q, grad rows as stored; k, v transposed): s = q k^T, dp = grad v^T;
//   pairs of keys (v, k rows two by two; p, ds rows):        o += p v, dq += ds k;
//   pairs of query rows (grad, q; p, ds panels):             dv += p^T grad, dk += ds^T q.
#define NNRT_AVX512BF16                                                                          \
  __attribute__((target("avx512f,avx512bw,avx512dq,avx512vl,avx512bf16,avx2,fma")))

using Pair = uint32_t; // two bf16, the first in the low half

inline Pair pairOf(Bf16 first, Bf16 second) { return Pair(first) | Pair(second) << 16; }

inline Pair loadPair(const Bf16 *p) {
  Pair pair;
  std::memcpy(&pair, p, sizeof pair);
  return pair;
}

/// Rows [first, first + rows) of a (T, D) matrix as rows of dp values (zero-padded): rows of
/// dp / 2 pairs along x.
inline void copyRows(const Bf16 *from, int64_t first, int64_t rows, int64_t d, int64_t dp,
                     Bf16 *to) {
  for (int64_t r = 0; r < rows; ++r) {
    std::memcpy(to + r * dp, from + (first + r) * d, d * sizeof(Bf16));
    std::fill(to + r * dp + d, to + (r + 1) * dp, Bf16(0));
  }
}

/// Rows [first, first + cols) of a (T, D) matrix transposed into (dp / 2, kTile) pairs along x:
/// to[p][c] = (m[c][2p], m[c][2p + 1]), zero-padded.
inline void pairsAlongXTransposed(const Bf16 *from, int64_t first, int64_t cols, int64_t d,
                                  int64_t dp, Pair *to) {
  std::fill(to, to + dp / 2 * kTile, Pair(0));
  for (int64_t c = 0; c < cols; ++c) {
    const Bf16 *row = from + (first + c) * d;
    for (int64_t x = 0; x + 1 < d; x += 2)
      to[x / 2 * kTile + c] = loadPair(row + x);
    if (d % 2)
      to[d / 2 * kTile + c] = pairOf(row[d - 1], 0);
  }
}

/// Rows [first, first + rows) of a (T, D) matrix two by two, as `pairs` rows of dp pairs:
/// to[j][x] = (m[first + 2j][x], m[first + 2j + 1][x]); zero past the rows and past D.
inline void pairsOfRows(const Bf16 *from, int64_t first, int64_t rows, int64_t pairs, int64_t d,
                        int64_t dp, Pair *to) {
  std::fill(to, to + pairs * dp, Pair(0));
  for (int64_t j = 0; 2 * j < rows; ++j) {
    const Bf16 *even = from + (first + 2 * j) * d;
    bool hasOdd = 2 * j + 1 < rows;
    for (int64_t x = 0; x < d; ++x)
      to[j * dp + x] = pairOf(even[x], hasOdd ? even[d + x] : Bf16(0));
  }
}

/// Rows of kTile f32 values (p or ds) rounded to bf16 pairs of adjacent keys, rows of kTile / 2.
NNRT_AVX512BF16 inline void pairsOfKeys(const float *w, int64_t rows, Pair *to) {
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t c = 0; c < kTile; c += 2 * kLanes) {
      __m512bh pairs = _mm512_cvtne2ps_pbh(_mm512_loadu_ps(w + r * kTile + c + kLanes),
                                           _mm512_loadu_ps(w + r * kTile + c));
      _mm512_storeu_si512(to + r * kTile / 2 + c / 2, (__m512i)pairs);
    }
}

/// An even number of rows of kTile f32 values rounded to bf16 and paired two rows by two:
/// to[j][c] = (w[2j][c], w[2j + 1][c]).
NNRT_AVX512BF16 inline void pairsOfRowsF32(const float *w, int64_t rows, Pair *to) {
  // cvtne2ps gives the even row's 16 values, then the odd row's: interleave them.
  const __m512i interleave = _mm512_set_epi16(
      31, 15, 30, 14, 29, 13, 28, 12, 27, 11, 26, 10, 25, 9, 24, 8, 23, 7, 22, 6, 21, 5, 20, 4, 19,
      3, 18, 2, 17, 1, 16, 0);
  for (int64_t j = 0; 2 * j < rows; ++j)
    for (int64_t c = 0; c < kTile; c += kLanes) {
      __m512bh both = _mm512_cvtne2ps_pbh(_mm512_loadu_ps(w + (2 * j + 1) * kTile + c),
                                          _mm512_loadu_ps(w + 2 * j * kTile + c));
      _mm512_storeu_si512(to + j * kTile + c,
                          _mm512_permutexvar_epi16(interleave, (__m512i)both));
    }
}

NNRT_AVX512BF16 inline __m512 dot(__m512 acc, Pair a, __m512i b) {
  return _mm512_dpbf16_ps(acc, (__m512bh)_mm512_set1_epi32(int32_t(a)), (__m512bh)b);
}

/// out (kRows, kTile) = scale * a (kRows rows of dp bf16) times bT (dp / 2 pairs, kTile): scores
/// or dp of a row block.
NNRT_AVX512BF16 inline void rowsTimesTilePairs(const Bf16 *a, int64_t dp, const Pair *bT,
                                               float scale, float *out) {
  __m512 acc[kRows][kVecs];
  for (int64_t r = 0; r < kRows; ++r)
    for (int64_t v = 0; v < kVecs; ++v)
      acc[r][v] = _mm512_setzero_ps();
  for (int64_t x = 0; x < dp; x += 2) {
    __m512i b[kVecs];
    for (int64_t v = 0; v < kVecs; ++v)
      b[v] = _mm512_loadu_si512(bT + x / 2 * kTile + v * kLanes);
    for (int64_t r = 0; r < kRows; ++r) {
      Pair ar = loadPair(a + r * dp + x);
      for (int64_t v = 0; v < kVecs; ++v)
        acc[r][v] = dot(acc[r][v], ar, b[v]);
    }
  }
  for (int64_t r = 0; r < kRows; ++r)
    for (int64_t v = 0; v < kVecs; ++v)
      _mm512_storeu_ps(out + r * kTile + v * kLanes,
                       _mm512_mul_ps(acc[r][v], _mm512_set1_ps(scale)));
}

/// acc (kRows rows of dp) += w (kRows rows of kTile / 2 key pairs) times m (`count` pairs of
/// rows of dp), for the V vectors at acc and m.
template <int64_t V>
NNRT_AVX512BF16 inline void accumulatePairsChunk(const Pair *w, const Pair *m, int64_t count,
                                                 int64_t dp, float *acc) {
  __m512 a[kRows][V];
  for (int64_t r = 0; r < kRows; ++r)
    for (int64_t v = 0; v < V; ++v)
      a[r][v] = _mm512_loadu_ps(acc + r * dp + v * kLanes);
  for (int64_t j = 0; j < count; ++j) {
    __m512i b[V];
    for (int64_t v = 0; v < V; ++v)
      b[v] = _mm512_loadu_si512(m + j * dp + v * kLanes);
    for (int64_t r = 0; r < kRows; ++r)
      for (int64_t v = 0; v < V; ++v)
        a[r][v] = dot(a[r][v], w[r * kTile / 2 + j], b[v]);
  }
  for (int64_t r = 0; r < kRows; ++r)
    for (int64_t v = 0; v < V; ++v)
      _mm512_storeu_ps(acc + r * dp + v * kLanes, a[r][v]);
}

/// acc (kRows rows of dp) += w (key pairs) times m (pairs of rows): p v, ds k.
NNRT_AVX512BF16 inline void tileTimesRowPairs(const Pair *w, const Pair *m, int64_t count,
                                              int64_t dp, float *acc) {
  for (int64_t x = 0; x < dp; x += kVecs * kLanes) {
    switch (std::min(kVecs, (dp - x) / kLanes)) {
    case 4: accumulatePairsChunk<4>(w, m + x, count, dp, acc + x); break;
    case 3: accumulatePairsChunk<3>(w, m + x, count, dp, acc + x); break;
    case 2: accumulatePairsChunk<2>(w, m + x, count, dp, acc + x); break;
    default: accumulatePairsChunk<1>(w, m + x, count, dp, acc + x); break;
    }
  }
}

/// out (count rows of dp) += w^T (pairs of query rows, kTile) times rows (`pairs` pairs of rows
/// of dp): dv and dk of a key tile from a panel, in register blocks as panelChunkToTile.
template <int64_t V>
NNRT_AVX512BF16 inline void panelPairsChunkToTile(const Pair *w, const Pair *rows, int64_t pairs,
                                                  int64_t count, int64_t dp, float *out) {
  for (int64_t c0 = 0; c0 < count; c0 += kKeysPerBlock) {
    __m512 acc[kKeysPerBlock][V];
    for (int64_t i = 0; i < kKeysPerBlock; ++i)
      for (int64_t v = 0; v < V; ++v)
        acc[i][v] = _mm512_loadu_ps(out + (c0 + i) * dp + v * kLanes);
    for (int64_t j = 0; j < pairs; ++j) {
      __m512i b[V];
      for (int64_t v = 0; v < V; ++v)
        b[v] = _mm512_loadu_si512(rows + j * dp + v * kLanes);
      for (int64_t i = 0; i < kKeysPerBlock; ++i)
        for (int64_t v = 0; v < V; ++v)
          acc[i][v] = dot(acc[i][v], w[j * kTile + c0 + i], b[v]);
    }
    for (int64_t i = 0; i < kKeysPerBlock; ++i)
      for (int64_t v = 0; v < V; ++v)
        _mm512_storeu_ps(out + (c0 + i) * dp + v * kLanes, acc[i][v]);
  }
}

NNRT_AVX512BF16 inline void panelPairsToTile(const Pair *w, const Pair *rows, int64_t pairs,
                                             int64_t count, int64_t dp, float *out) {
  for (int64_t x = 0; x < dp; x += 2 * kLanes) {
    if (dp - x >= 2 * kLanes)
      panelPairsChunkToTile<2>(w, rows + x, pairs, count, dp, out + x);
    else
      panelPairsChunkToTile<1>(w, rows + x, pairs, count, dp, out + x);
  }
}

/// Per-thread tiles of the forward pass on pairs.
struct ForwardPairsScratch {
  std::vector<Bf16> q;
  std::vector<Pair> kT, v, p;
  std::vector<float> acc, s, m, l;
  explicit ForwardPairsScratch(int64_t dp)
      : q(kTile * dp), kT(dp / 2 * kTile), v(kTile / 2 * dp), p(kRows * kTile / 2),
        acc(kTile * dp), s(kRows * kTile), m(kTile), l(kTile) {}
};

/// forwardTile's loop on pairs.
NNRT_AVX512BF16 __attribute__((flatten)) void
forwardTilePairs(const Sizes &n, const Bf16 *q, const Bf16 *k, const Bf16 *v, Bf16 *result,
                 float *lse, int64_t i0, ForwardPairsScratch &s) {
  int64_t d = n.d, dp = n.dp, rows = std::min(kTile, n.t - i0);
  std::fill(s.q.begin(), s.q.end(), Bf16(0));
  copyRows(q, i0, rows, d, dp, s.q.data());
  std::fill(s.acc.begin(), s.acc.end(), 0.0f);
  std::fill(s.m.begin(), s.m.end(), -INFINITY);
  std::fill(s.l.begin(), s.l.end(), 0.0f);
  for (int64_t j0 = 0; j0 < i0 + rows; j0 += kTile) {
    int64_t cols = std::min(kTile, n.t - j0), keyPairs = (cols + 1) / 2;
    pairsAlongXTransposed(k, j0, cols, d, dp, s.kT.data());
    pairsOfRows(v, j0, cols, keyPairs, d, dp, s.v.data());
    for (int64_t r0 = 0; r0 < rows; r0 += kRows) {
      rowsTimesTilePairs(&s.q[r0 * dp], dp, s.kT.data(), n.scale, s.s.data());
      softmaxBlock(s.s.data(), r0, rows, i0 - j0, cols, dp, s.m.data(), s.l.data(),
                   s.acc.data());
      pairsOfKeys(s.s.data(), kRows, s.p.data());
      tileTimesRowPairs(s.p.data(), s.v.data(), keyPairs, dp, &s.acc[r0 * dp]);
    }
  }
  for (int64_t r = 0; r < rows; ++r) {
    float inverse = 1.0f / s.l[r];
    for (int64_t x = 0; x < d; ++x)
      fromFloat(s.acc[r * dp + x] * inverse, result[(i0 + r) * d + x]);
    lse[i0 + r] = s.m[r] + std::log(s.l[r]);
  }
}

/// Per-thread buffers of the backward pass on pairs: one batch entry's q and grad along x and two
/// rows by two, k two rows by two; a key tile's k and v along x; p and ds of a panel.
struct BackwardPairsScratch {
  std::vector<Bf16> q, grad;
  std::vector<Pair> qRows, gradRows, keyRows, kT, vT, dsKeys, pRows, dsRows;
  std::vector<float> delta, dq, dk, dv, p, ds;
  BackwardPairsScratch(int64_t t, int64_t dp)
      : q(roundUp(t, kRows) * dp), grad(roundUp(t, kRows) * dp),
        qRows(roundUp(t, kRows) / 2 * dp), gradRows(roundUp(t, kRows) / 2 * dp),
        keyRows(roundUp(t, kRows) / 2 * dp), kT(dp / 2 * kTile), vT(dp / 2 * kTile),
        dsKeys(kRows * kTile / 2), pRows(kPanel / 2 * kTile), dsRows(kPanel / 2 * kTile),
        delta(t), dq(roundUp(t, kRows) * dp), dk(kTile * dp), dv(kTile * dp), p(kPanel * kTile),
        ds(kPanel * kTile) {}
};

/// backwardEntry's loop on pairs.
NNRT_AVX512BF16 __attribute__((flatten)) void
backwardEntryPairs(const Sizes &n, const Bf16 *q, const Bf16 *k, const Bf16 *v,
                   const Bf16 *result, const float *lse, const Bf16 *grad, Bf16 *dq, Bf16 *dk,
                   Bf16 *dv, BackwardPairsScratch &s) {
  int64_t t = n.t, d = n.d, dp = n.dp, pairs = roundUp(t, kRows) / 2;
  std::fill(s.q.begin(), s.q.end(), Bf16(0));
  std::fill(s.grad.begin(), s.grad.end(), Bf16(0));
  copyRows(q, 0, t, d, dp, s.q.data());
  copyRows(grad, 0, t, d, dp, s.grad.data());
  pairsOfRows(q, 0, t, pairs, d, dp, s.qRows.data());
  pairsOfRows(grad, 0, t, pairs, d, dp, s.gradRows.data());
  pairsOfRows(k, 0, t, pairs, d, dp, s.keyRows.data());
  loadRows(result, 0, t, d, dp, 1.0f, s.dq.data()); // dq is zeroed below
  for (int64_t i = 0; i < t; ++i) { // delta_i = grad_i . result_i
    Vec sums{};
    for (int64_t x = 0; x < dp; x += kLanes) {
      Vec g;
      for (int64_t lane = 0; lane < kLanes; ++lane)
        g[lane] = toFloat(s.grad[i * dp + x + lane]);
      sums += g * loadVec(&s.dq[i * dp + x]);
    }
    s.delta[i] = laneSum(sums);
  }
  std::fill(s.dq.begin(), s.dq.end(), 0.0f);
  for (int64_t j0 = 0; j0 < t; j0 += kTile) {
    int64_t cols = std::min(kTile, t - j0);
    pairsAlongXTransposed(k, j0, cols, d, dp, s.kT.data());
    pairsAlongXTransposed(v, j0, cols, d, dp, s.vT.data());
    std::fill(s.dk.begin(), s.dk.end(), 0.0f);
    std::fill(s.dv.begin(), s.dv.end(), 0.0f);
    for (int64_t first = j0; first < t; first += kPanel) {
      int64_t panel = std::min(kPanel, roundUp(t - first, kRows));
      for (int64_t r0 = 0; r0 < panel; r0 += kRows) {
        int64_t i0 = first + r0;
        float *p = &s.p[r0 * kTile], *ds = &s.ds[r0 * kTile];
        rowsTimesTilePairs(&s.q[i0 * dp], dp, s.kT.data(), 1.0f, p);     // scores
        rowsTimesTilePairs(&s.grad[i0 * dp], dp, s.vT.data(), 1.0f, ds); // dp = grad v^T
        probabilityGradients(p, ds, i0, t, j0, cols, n.scale, lse, s.delta.data());
        pairsOfKeys(ds, kRows, s.dsKeys.data()); // dq += ds k
        tileTimesRowPairs(s.dsKeys.data(), &s.keyRows[j0 / 2 * dp], (cols + 1) / 2, dp,
                          &s.dq[i0 * dp]);
      }
      pairsOfRowsF32(s.p.data(), panel, s.pRows.data());
      pairsOfRowsF32(s.ds.data(), panel, s.dsRows.data());
      panelPairsToTile(s.pRows.data(), &s.gradRows[first / 2 * dp], panel / 2, cols, dp,
                       s.dv.data()); // dv += p^T grad
      panelPairsToTile(s.dsRows.data(), &s.qRows[first / 2 * dp], panel / 2, cols, dp,
                       s.dk.data()); // dk += ds^T q
    }
    for (int64_t c = 0; c < cols; ++c)
      for (int64_t x = 0; x < d; ++x) {
        fromFloat(s.dk[c * dp + x] * n.scale, dk[(j0 + c) * d + x]);
        fromFloat(s.dv[c * dp + x], dv[(j0 + c) * d + x]);
      }
  }
  for (int64_t i = 0; i < t; ++i)
    for (int64_t x = 0; x < d; ++x)
      fromFloat(s.dq[i * dp + x] * n.scale, dq[i * d + x]);
}

// The two builds: `flatten` inlines the loops above into each, the first compiled for AVX-512.
#define NNRT_AVX512 __attribute__((target("avx512f,avx512bw,avx512dq,avx512vl,avx2,fma"), flatten))
#define NNRT_PORTABLE __attribute__((flatten))

template <typename E>
NNRT_PORTABLE void forwardTilePortable(const Sizes &n, const E *q, const E *k, const E *v,
                                       E *result, float *lse, int64_t i0, ForwardScratch &s) {
  forwardTile(n, q, k, v, result, lse, i0, s);
}

template <typename E>
NNRT_PORTABLE void backwardEntryPortable(const Sizes &n, const E *q, const E *k, const E *v,
                                         const E *result, const float *lse, const E *grad, E *dq,
                                         E *dk, E *dv, BackwardScratch &s) {
  backwardEntry(n, q, k, v, result, lse, grad, dq, dk, dv, s);
}

template <typename E>
NNRT_AVX512 void forwardTileAvx512(const Sizes &n, const E *q, const E *k, const E *v, E *result,
                                   float *lse, int64_t i0, ForwardScratch &s) {
  forwardTile(n, q, k, v, result, lse, i0, s);
}

template <typename E>
NNRT_AVX512 void backwardEntryAvx512(const Sizes &n, const E *q, const E *k, const E *v,
                                     const E *result, const float *lse, const E *grad, E *dq,
                                     E *dk, E *dv, BackwardScratch &s) {
  backwardEntry(n, q, k, v, result, lse, grad, dq, dk, dv, s);
}

template <typename E>
class CpuAttention final : public AttentionCall {
public:
  explicit CpuAttention(const AttentionDesc &desc)
      : desc_(desc), sizes_{desc.t, desc.d, roundUp(desc.d, kLanes),
                            static_cast<float>(desc.scale)} {}

  nnc::Status run(const AttentionOperands &o) override {
    if (desc_.backward)
      backward(o);
    else
      forward(o);
    return nnc::Status();
  }

private:
  const E *in(const AttentionOperands &o, int i) const { return static_cast<const E *>(o[i]); }
  E *out(const AttentionOperands &o, int i) const { return static_cast<E *>(o[i]); }

  /// Runs body(scratch, batch entry, first query row) over every tile of queries, heaviest
  /// first (the last query tiles see the most keys), on OpenMP's pool.
  template <typename Scratch, typename Body> void forEachQueryTile(Body body) const {
    int64_t tiles = (desc_.t + kTile - 1) / kTile, tasks = desc_.batch * tiles;
#pragma omp parallel
    {
      Scratch scratch(sizes_.dp);
#pragma omp for schedule(dynamic)
      for (int64_t task = 0; task < tasks; ++task)
        body(scratch, task % desc_.batch, (tiles - 1 - task / desc_.batch) * kTile);
    }
  }

  /// Runs body(scratch, batch entry) over the batch entries on OpenMP's pool.
  template <typename Scratch, typename Body> void forEachEntry(Body body) const {
#pragma omp parallel
    {
      Scratch scratch(desc_.t, sizes_.dp);
#pragma omp for schedule(dynamic)
      for (int64_t b = 0; b < desc_.batch; ++b)
        body(scratch, b);
    }
  }

  void forward(const AttentionOperands &o) {
    int64_t matrix = desc_.t * desc_.d;
    const E *q = in(o, 0), *k = in(o, 1), *v = in(o, 2);
    E *result = out(o, 3);
    auto *lse = static_cast<float *>(o[4]);
    if constexpr (std::is_same_v<E, Bf16>)
      if (desc_.avx512bf16)
        return forEachQueryTile<ForwardPairsScratch>(
            [&](ForwardPairsScratch &s, int64_t b, int64_t i0) {
              int64_t at = b * matrix;
              forwardTilePairs(sizes_, q + at, k + at, v + at, result + at, lse + b * desc_.t,
                               i0, s);
            });
    forEachQueryTile<ForwardScratch>([&](ForwardScratch &s, int64_t b, int64_t i0) {
      int64_t at = b * matrix;
      if (desc_.avx512)
        forwardTileAvx512(sizes_, q + at, k + at, v + at, result + at, lse + b * desc_.t, i0, s);
      else
        forwardTilePortable(sizes_, q + at, k + at, v + at, result + at, lse + b * desc_.t, i0,
                            s);
    });
  }

  void backward(const AttentionOperands &o) {
    int64_t matrix = desc_.t * desc_.d;
    const E *q = in(o, 0), *k = in(o, 1), *v = in(o, 2), *result = in(o, 3), *grad = in(o, 5);
    E *dq = out(o, 6), *dk = out(o, 7), *dv = out(o, 8);
    auto *lse = static_cast<const float *>(o[4]);
    if constexpr (std::is_same_v<E, Bf16>)
      if (desc_.avx512bf16)
        return forEachEntry<BackwardPairsScratch>([&](BackwardPairsScratch &s, int64_t b) {
          int64_t at = b * matrix;
          backwardEntryPairs(sizes_, q + at, k + at, v + at, result + at, lse + b * desc_.t,
                             grad + at, dq + at, dk + at, dv + at, s);
        });
    forEachEntry<BackwardScratch>([&](BackwardScratch &s, int64_t b) {
      int64_t at = b * matrix;
      if (desc_.avx512)
        backwardEntryAvx512(sizes_, q + at, k + at, v + at, result + at, lse + b * desc_.t,
                            grad + at, dq + at, dk + at, dv + at, s);
      else
        backwardEntryPortable(sizes_, q + at, k + at, v + at, result + at, lse + b * desc_.t,
                              grad + at, dq + at, dk + at, dv + at, s);
    });
  }

  AttentionDesc desc_;
  Sizes sizes_;
};

} // namespace

std::unique_ptr<AttentionCall> makeCpuAttention(const AttentionDesc &desc) {
  if (desc.type == FloatType::BF16)
    return std::make_unique<CpuAttention<Bf16>>(desc);
  return std::make_unique<CpuAttention<float>>(desc);
}

} // namespace nnrt
