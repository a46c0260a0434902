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
// baseline x86-64 ISA, and the plan's CPU features pick one. exp is a Cephes-style polynomial
// (about 2 ulp) that vectorizes, unlike libm's.
#include "runtime/device/cpu/CausalAttention.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <omp.h>
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
      for (int64_t rr = 0; rr < kRows; ++rr) {
        int64_t r = r0 + rr;
        float *p = &s.s[rr * kTile];
        if (r >= rows) { // padding rows: no weight
          std::fill(p, p + kTile, 0.0f);
          continue;
        }
        int64_t valid = std::min(cols, i0 + r - j0 + 1); // keys j <= i: the causal mask
        float rescale = onlineSoftmax(p, valid, s.m[r], s.l[r]);
        for (int64_t x = 0; x < dp; ++x)
          s.acc[r * dp + x] *= rescale;
      }
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
        for (int64_t rr = 0; rr < kRows; ++rr) {
          int64_t i = i0 + rr;
          int64_t valid = i < t ? std::min(cols, i - j0 + 1) : 0;
          float rowLse = i < t ? lse[i] : 0.0f, rowDelta = i < t ? s.delta[i] : 0.0f;
          float *pRow = p + rr * kTile, *dsRow = ds + rr * kTile;
          for (int64_t v = 0; v < kVecs; ++v) {
            Vec e = expNonPositive(loadVec(pRow + v * kLanes) * n.scale - rowLse);
            e = laneIndices(int32_t(v * kLanes)) < int32_t(valid) ? e : Vec{};
            storeVec(pRow + v * kLanes, e);
            storeVec(dsRow + v * kLanes, e * (loadVec(dsRow + v * kLanes) - rowDelta));
          }
        }
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

  // Tasks in order of decreasing work (the last query tiles see the most keys).
  void forward(const AttentionOperands &o) {
    int64_t tiles = (desc_.t + kTile - 1) / kTile, tasks = desc_.batch * tiles;
    int64_t matrix = desc_.t * desc_.d;
    auto *lse = static_cast<float *>(o[4]);
#pragma omp parallel
    {
      ForwardScratch scratch(sizes_.dp);
#pragma omp for schedule(dynamic)
      for (int64_t task = 0; task < tasks; ++task) {
        int64_t b = task % desc_.batch, i0 = (tiles - 1 - task / desc_.batch) * kTile;
        int64_t at = b * matrix;
        const E *q = in(o, 0) + at, *k = in(o, 1) + at, *v = in(o, 2) + at;
        E *result = out(o, 3) + at;
        if (desc_.avx512)
          forwardTileAvx512(sizes_, q, k, v, result, lse + b * desc_.t, i0, scratch);
        else
          forwardTilePortable(sizes_, q, k, v, result, lse + b * desc_.t, i0, scratch);
      }
    }
  }

  void backward(const AttentionOperands &o) {
    int64_t matrix = desc_.t * desc_.d;
    auto *lse = static_cast<const float *>(o[4]);
#pragma omp parallel
    {
      BackwardScratch scratch(desc_.t, sizes_.dp);
#pragma omp for schedule(dynamic)
      for (int64_t b = 0; b < desc_.batch; ++b) {
        int64_t at = b * matrix;
        const E *q = in(o, 0) + at, *k = in(o, 1) + at, *v = in(o, 2) + at,
                *result = in(o, 3) + at, *grad = in(o, 5) + at;
        E *dq = out(o, 6) + at, *dk = out(o, 7) + at, *dv = out(o, 8) + at;
        if (desc_.avx512)
          backwardEntryAvx512(sizes_, q, k, v, result, lse + b * desc_.t, grad, dq, dk, dv,
                              scratch);
        else
          backwardEntryPortable(sizes_, q, k, v, result, lse + b * desc_.t, grad, dq, dk, dv,
                                scratch);
      }
    }
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
