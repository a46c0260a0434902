// The cpu driver's fused causal attention (issue 23) against a float64 reference written the
// unfused way (scores, mask, softmax, products; the backward from the full probabilities), on
// shapes that stress the tiling: T below, at and above the 64-row tile and not a multiple of
// it, head sizes 16/32/64, more batch entries than threads; fp32 and bf16, AVX-512 and
// portable builds of the loops.
#include "runtime/device/cpu/CausalAttention.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <random>
#include <vector>

namespace nnrt {
namespace {

struct Shape {
  int64_t batch, t, d;
};

uint16_t toBf16(float x) { // round to nearest even
  uint32_t bits;
  std::memcpy(&bits, &x, 4);
  bits += 0x7fffu + ((bits >> 16) & 1u);
  return uint16_t(bits >> 16);
}

float fromBf16(uint16_t x) {
  uint32_t bits = uint32_t(x) << 16;
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

/// Forward and backward in float64 from the full T x T probabilities.
struct Reference {
  std::vector<double> result, lse, dq, dk, dv;

  Reference(const Shape &s, double scale, const std::vector<float> &q,
            const std::vector<float> &k, const std::vector<float> &v,
            const std::vector<float> &grad, const std::vector<float> *roundedResult) {
    int64_t t = s.t, d = s.d, n = s.batch * t * d;
    result.assign(n, 0.0);
    lse.assign(s.batch * t, 0.0);
    dq.assign(n, 0.0);
    dk.assign(n, 0.0);
    dv.assign(n, 0.0);
    for (int64_t b = 0; b < s.batch; ++b) {
      int64_t at = b * t * d;
      std::vector<double> p(t * t, 0.0); // masked entries stay 0
      for (int64_t i = 0; i < t; ++i) {
        double max = -INFINITY;
        for (int64_t j = 0; j <= i; ++j) {
          double dot = 0;
          for (int64_t x = 0; x < d; ++x)
            dot += double(q[at + i * d + x]) * k[at + j * d + x];
          p[i * t + j] = dot * scale;
          max = std::max(max, p[i * t + j]);
        }
        double sum = 0;
        for (int64_t j = 0; j <= i; ++j)
          sum += p[i * t + j] = std::exp(p[i * t + j] - max);
        lse[b * t + i] = max + std::log(sum);
        for (int64_t j = 0; j <= i; ++j)
          p[i * t + j] /= sum;
        for (int64_t j = 0; j <= i; ++j)
          for (int64_t x = 0; x < d; ++x)
            result[at + i * d + x] += p[i * t + j] * v[at + j * d + x];
      }
      // dP = g v^T; dS = P (dP - rowsum(g * result)); dq = scale dS k; dk = scale dS^T q;
      // dv = P^T g. The kernel's row sums use the result it stored (bf16: rounded).
      for (int64_t i = 0; i < t; ++i) {
        double delta = 0;
        for (int64_t x = 0; x < d; ++x)
          delta += double(grad[at + i * d + x]) *
                   (roundedResult ? (*roundedResult)[at + i * d + x] : result[at + i * d + x]);
        for (int64_t j = 0; j <= i; ++j) {
          double dp = 0;
          for (int64_t x = 0; x < d; ++x)
            dp += double(grad[at + i * d + x]) * v[at + j * d + x];
          double ds = p[i * t + j] * (dp - delta);
          for (int64_t x = 0; x < d; ++x) {
            dq[at + i * d + x] += scale * ds * k[at + j * d + x];
            dk[at + j * d + x] += scale * ds * q[at + i * d + x];
            dv[at + j * d + x] += p[i * t + j] * grad[at + i * d + x];
          }
        }
      }
    }
  }
};

/// max |got - want| / (1 + |want|) over all elements.
template <typename Get>
double worstError(const std::vector<double> &want, Get got) {
  double worst = 0;
  for (size_t i = 0; i < want.size(); ++i)
    worst = std::max(worst, std::abs(got(i) - want[i]) / (1 + std::abs(want[i])));
  return worst;
}

/// The builds of the loops: portable, AVX-512, and for bf16 tensors AVX512_BF16's pair products.
enum class Build { Portable, Avx512, Avx512Bf16 };

struct Case {
  Shape shape;
  bool bf16;
  Build build;
};

class CausalAttentionTest : public ::testing::TestWithParam<Case> {};

TEST_P(CausalAttentionTest, MatchesUnfusedReference) {
  Case c = GetParam();
  if (c.build != Build::Portable && !__builtin_cpu_supports("avx512f"))
    GTEST_SKIP() << "this CPU has no AVX-512";
  if (c.build == Build::Avx512Bf16 && !__builtin_cpu_supports("avx512bf16"))
    GTEST_SKIP() << "this CPU has no AVX512_BF16";
  const Shape &s = c.shape;
  int64_t n = s.batch * s.t * s.d;
  double scale = 1 / std::sqrt(double(s.d));
  std::mt19937 rng(42);
  std::normal_distribution<float> normal;
  // Inputs as the kernel sees them (bf16: already rounded), so both sides start equal.
  auto random = [&] {
    std::vector<float> values(n);
    for (float &x : values)
      x = c.bf16 ? fromBf16(toBf16(normal(rng))) : normal(rng);
    return values;
  };
  std::vector<float> q = random(), k = random(), v = random(), grad = random();

  AttentionDesc desc{false, s.batch, s.t, s.d, scale, c.bf16 ? FloatType::BF16 : FloatType::F32,
                     c.build != Build::Portable, c.build == Build::Avx512Bf16};
  int64_t bytes = n * bytesOf(desc.type);
  auto store = [&](const std::vector<float> &values) {
    std::vector<char> out(bytes);
    for (int64_t i = 0; i < n; ++i)
      if (c.bf16)
        reinterpret_cast<uint16_t *>(out.data())[i] = toBf16(values[i]);
      else
        reinterpret_cast<float *>(out.data())[i] = values[i];
    return out;
  };
  auto element = [&](const std::vector<char> &from, size_t i) -> double {
    return c.bf16 ? fromBf16(reinterpret_cast<const uint16_t *>(from.data())[i])
                  : reinterpret_cast<const float *>(from.data())[i];
  };
  std::vector<char> qb = store(q), kb = store(k), vb = store(v), gb = store(grad);
  std::vector<char> result(bytes), dq(bytes), dk(bytes), dv(bytes);
  std::vector<float> lse(s.batch * s.t);

  ASSERT_TRUE(makeCpuAttention(desc)
                  ->run({qb.data(), kb.data(), vb.data(), result.data(), lse.data()})
                  .ok());
  desc.backward = true;
  ASSERT_TRUE(makeCpuAttention(desc)
                  ->run({qb.data(), kb.data(), vb.data(), result.data(), lse.data(), gb.data(),
                         dq.data(), dk.data(), dv.data()})
                  .ok());

  std::vector<float> stored(n);
  for (int64_t i = 0; i < n; ++i)
    stored[i] = float(element(result, i));
  Reference want(s, scale, q, k, v, grad, c.bf16 ? &stored : nullptr);
  // fp32: f32 sums over at most 128 keys and 64 head dimensions of N(0, 1) values and a ~2 ulp
  // exp; measured worst 8.2e-7 relative to (1 + |value|), checked at 1e-5. bf16: the stores
  // round to 8 significant bits (2^-9 relative) and the backward pass starts from rounded
  // results; measured worst 2.6e-3. AVX512_BF16's pair products also round p and ds to bf16
  // before they are multiplied: measured worst 5.4e-3 (dv, T = 100). Both checked at 1e-2.
  double tolerance = c.bf16 ? 1e-2 : 1e-5;
  EXPECT_LE(worstError(want.result, [&](size_t i) { return element(result, i); }), tolerance);
  EXPECT_LE(worstError(want.lse, [&](size_t i) { return double(lse[i]); }), tolerance);
  EXPECT_LE(worstError(want.dq, [&](size_t i) { return element(dq, i); }), tolerance);
  EXPECT_LE(worstError(want.dk, [&](size_t i) { return element(dk, i); }), tolerance);
  EXPECT_LE(worstError(want.dv, [&](size_t i) { return element(dv, i); }), tolerance);
}

std::vector<Case> cases() {
  std::vector<Case> all;
  // T = 1; below one tile; a tile plus one row; two tiles exactly; batch x heads above threads;
  // rows of 3 vectors (a 2- and a 1-vector chunk) over tiles of several query panels and a
  // partial last one.
  // An odd head size (a last pair of one value).
  for (Shape s : {Shape{3, 1, 16}, Shape{5, 37, 16}, Shape{6, 65, 32}, Shape{2, 128, 64},
                  Shape{9, 100, 32}, Shape{2, 202, 48}, Shape{3, 70, 17}, Shape{2, 256, 64}})
    for (bool bf16 : {false, true})
      for (Build build : {Build::Portable, Build::Avx512, Build::Avx512Bf16})
        if (bf16 || build != Build::Avx512Bf16)
          all.push_back({s, bf16, build});
  return all;
}

INSTANTIATE_TEST_SUITE_P(Shapes, CausalAttentionTest, ::testing::ValuesIn(cases()),
                         [](const ::testing::TestParamInfo<Case> &info) {
                           const Case &c = info.param;
                           return "b" + std::to_string(c.shape.batch) + "_t" +
                                  std::to_string(c.shape.t) + "_d" +
                                  std::to_string(c.shape.d) + (c.bf16 ? "_bf16" : "_f32") +
                                  (c.build == Build::Portable ? "_portable"
                                   : c.build == Build::Avx512 ? "_avx512"
                                                              : "_avx512bf16");
                         });

} // namespace
} // namespace nnrt
