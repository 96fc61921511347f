// Fast CPU loops of the noise family (noise.h): the white-noise pre-pass hook and the noise rows.
#include <torch/library.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>

#include "distort/cpu_rows.h"

namespace distortx {
namespace cpu {

// o[j] = rng.normal(seed, i0 + j, stream) for j < len (p1, p2: the stream pair's prefixes): dx_normal's
// expression, vectorised (sqrtf inlines: the extension is built with -fno-math-errno). Compiled for AVX-512 with
// 512-bit vectors (~1.4x the AVX2 loop on a Zen 4 core), AVX2 and baseline x86-64, picked at load time; no FMA
// contraction anywhere (-ffp-contract=off), so every build gives the same bits (DISTORTX_U8_SIMD=0 skips the AVX-512
// loop: tests/test_native_u8.py compares the two).
DX_HDI void normal_row_body(float* o, uint32_t p1, uint32_t p2, int64_t i0, int64_t len) {
  const uint32_t lo = (uint32_t)i0, hi = (uint32_t)((uint64_t)i0 >> 32);
#pragma omp simd
  for (int64_t j = 0; j < len; ++j)
    o[j] = dx_box_muller(dx_uniform_at(p1, lo + (uint32_t)j, hi), dx_uniform_at(p2, lo + (uint32_t)j, hi));
}

#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__)
__attribute__((target("avx512f,avx512dq,avx512bw,avx512vl,prefer-vector-width=512"))) void normal_row_avx512(
    float* o, uint32_t p1, uint32_t p2, int64_t i0, int64_t len) {
  normal_row_body(o, p1, p2, i0, len);
}
const bool kNormalAvx512 = !(std::getenv("DISTORTX_U8_SIMD") && std::strcmp(std::getenv("DISTORTX_U8_SIMD"), "0") == 0) &&
                           __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512dq") &&
                           __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl");
#else
void normal_row_avx512(float*, uint32_t, uint32_t, int64_t, int64_t) {}
const bool kNormalAvx512 = false;
#endif

DX_CLONES void normal_row_avx2(float* o, uint32_t p1, uint32_t p2, int64_t i0, int64_t len) {
  normal_row_body(o, p1, p2, i0, len);
}

void fill_normal_row(float* o, uint32_t p1, uint32_t p2, int64_t i0, int64_t len) {
  if (kNormalAvx512) return normal_row_avx512(o, p1, p2, i0, len);
  normal_row_avx2(o, p1, p2, i0, len);
}

void cpu_fill_normal(at::Tensor out, const at::Tensor& seeds, uint32_t stream) {
  const int64_t K = out.size(0), L = out.size(1), chunk = 4096;
  float* o = out.data_ptr<float>();
  const int64_t* s = seeds.data_ptr<int64_t>();
  const int64_t per_k = (L + chunk - 1) / chunk;
#pragma omp parallel for schedule(static)
  for (int64_t t = 0; t < K * per_k; ++t) {
    const int64_t k = t / per_k, i0 = (t % per_k) * chunk, len = std::min(chunk, L - i0);
    fill_normal_row(o + k * L + i0, dx_bits_prefix(s[k], 2u * stream), dx_bits_prefix(s[k], 2u * stream + 1u), i0, len);
  }
}

// out[n, i] = rng.normal(seeds[n], i, stream): the normal fields of the ImageNet-C family, bit for bit.
at::Tensor normal_fill_cpu(const at::Tensor& seeds_, int64_t numel, int64_t stream) {
  TORCH_CHECK(seeds_.dim() == 1 && seeds_.scalar_type() == at::kLong, "distortx.normal_fill: seeds must be int64 Tensor[N]");
  TORCH_CHECK(numel >= 0 && stream >= 0 && stream < (int64_t(1) << 31), "distortx.normal_fill: numel >= 0, 0 <= stream < 2^31");
  const at::Tensor seeds = seeds_.contiguous();
  at::Tensor out = at::empty({seeds.size(0), numel}, seeds.options().dtype(at::kFloat));
  if (out.numel()) cpu_fill_normal(out, seeds, (uint32_t)stream);
  return out;
}

// rng.box_muller of two float32 uniform tensors (same shape), bit for bit: the C++ side of the one normal expression,
// which the tests run over every uniform value the counter RNG can give.
DX_CLONES void box_muller_row(float* o, const float* u1, const float* u2, int64_t len) {
#pragma omp simd
  for (int64_t j = 0; j < len; ++j) o[j] = dx_box_muller(u1[j], u2[j]);
}

at::Tensor box_muller_cpu(const at::Tensor& u1_, const at::Tensor& u2_) {
  TORCH_CHECK(u1_.scalar_type() == at::kFloat && u2_.scalar_type() == at::kFloat && u1_.sizes() == u2_.sizes(),
              "distortx.box_muller: u1 and u2 must be float32 tensors of one shape");
  const at::Tensor u1 = u1_.contiguous(), u2 = u2_.contiguous();
  at::Tensor out = at::empty_like(u1);
  const int64_t n = u1.numel(), chunk = 16384;
  const float *a = u1.data_ptr<float>(), *b = u2.data_ptr<float>();
  float* o = out.data_ptr<float>();
#pragma omp parallel for schedule(static)
  for (int64_t i0 = 0; i0 < n; i0 += chunk) box_muller_row(o + i0, a + i0, b + i0, std::min(chunk, n - i0));
  return out;
}

// out[n, i] = rng.uniform(seeds[n], i, stream): the python RNG's uniforms, bit for bit (integer hash, then one float
// multiply-add), for the per-sample fields of the ImageNet-C family.
DX_CLONES void uniform_row(float* o, uint32_t prefix, int64_t i0, int64_t len) {
  const uint32_t hi = (uint32_t)((uint64_t)i0 >> 32), lo = (uint32_t)i0;
#pragma omp simd
  for (int64_t j = 0; j < len; ++j) o[j] = dx_uniform_at(prefix, lo + (uint32_t)j, hi);
}

at::Tensor uniform_fill_cpu(const at::Tensor& seeds_, int64_t numel, int64_t stream) {
  TORCH_CHECK(seeds_.dim() == 1 && seeds_.scalar_type() == at::kLong, "distortx.uniform_fill: seeds must be int64 Tensor[N]");
  TORCH_CHECK(numel >= 0 && stream >= 0 && stream < (int64_t(1) << 32), "distortx.uniform_fill: numel >= 0, 0 <= stream < 2^32");
  const at::Tensor seeds = seeds_.contiguous();
  const int64_t N = seeds.size(0), chunk = 4096, per = (numel + chunk - 1) / chunk;
  at::Tensor out = at::empty({N, numel}, seeds.options().dtype(at::kFloat));
  float* o = out.data_ptr<float>();
  const int64_t* s = seeds.data_ptr<int64_t>();
#pragma omp parallel for schedule(static)
  for (int64_t t = 0; t < N * per; ++t) {
    const int64_t n = t / per, i0 = (t % per) * chunk;
    // a chunk never straddles 2^32 (chunk divides it), so its high index word is fixed
    uniform_row(o + n * numel + i0, dx_bits_prefix(s[n], (uint32_t)stream), i0, std::min(chunk, numel - i0));
  }
  return out;
}

// = dx_gaussian_noise: x + std * sqrtf(L) * K
DX_CLONES void row_gaussian_noise(const DxBatch& b, const DxRegion& g, int n, int y, int xa, int xb, RowTmp& t) {
  DX_ROW_VARS;
  const float sd = g.noise.stdv;
  const uint32_t p1 = dx_bits_prefix(g.seed, 0u), p2 = dx_bits_prefix(g.seed, 1u);
  for (int c = 0; c < C; ++c) {
    const int64_t base = c * plane + rowoff;
    fill_normal_row(A, p1, p2, base, len);  // per-image index < 2^32: high word 0
#pragma omp simd
    for (int j = 0; j < len; ++j) out[base + j] = dx_clamp01(img[base + j] + sd * A[j]);
  }
}

// = dx_mono_noise
DX_CLONES void row_mono_gaussian_noise(const DxBatch& b, const DxRegion& g, int n, int y, int xa, int xb, RowTmp& t) {
  DX_ROW_VARS;
  const float sd = g.v[0] / 255.0f;
  const uint32_t p1 = dx_bits_prefix(g.seed, 0u), p2 = dx_bits_prefix(g.seed, 1u);
  fill_normal_row(A, p1, p2, rowoff, len);
#pragma omp simd
  for (int j = 0; j < len; ++j) A[j] = sd * A[j];
  for (int c = 0; c < C; ++c) {
    const int64_t base = c * plane + rowoff;
#pragma omp simd
    for (int j = 0; j < len; ++j) out[base + j] = dx_clamp01(img[base + j] + A[j]);
  }
}

// = dx_salt_pepper: one draw per channel value
DX_CLONES void row_salt_pepper(const DxBatch& b, const DxRegion& g, int n, int y, int xa, int xb, RowTmp& t) {
  DX_ROW_VARS;
  const float amount = g.v[0], half = 0.5f * amount;
  const uint32_t p1 = dx_bits_prefix(g.seed, 0u);
  for (int c = 0; c < C; ++c) {
    const int64_t base = c * plane + rowoff;
    const uint32_t lo = (uint32_t)base;  // per-image index < 2^31: high word 0
#pragma omp simd
    for (int j = 0; j < len; ++j) A[j] = dx_uniform_at(p1, lo + (uint32_t)j, 0u);
#pragma omp simd
    for (int j = 0; j < len; ++j) out[base + j] = A[j] < half ? 0.0f : (A[j] < amount ? 1.0f : dx_clamp01(img[base + j]));
  }
}

// = dx_mono_salt_pepper: one draw per pixel
DX_CLONES void row_mono_salt_pepper(const DxBatch& b, const DxRegion& g, int n, int y, int xa, int xb, RowTmp& t) {
  DX_ROW_VARS;
  const float amount = g.v[0], half = 0.5f * amount;
  const uint32_t p1 = dx_bits_prefix(g.seed, 0u), lo = (uint32_t)rowoff;
#pragma omp simd
  for (int j = 0; j < len; ++j) A[j] = dx_uniform_at(p1, lo + (uint32_t)j, 0u);
  for (int c = 0; c < C; ++c) {
    const int64_t base = c * plane + rowoff;
#pragma omp simd
    for (int j = 0; j < len; ++j) out[base + j] = A[j] < half ? 0.0f : (A[j] < amount ? 1.0f : dx_clamp01(img[base + j]));
  }
}

// = dx_fnoise
DX_CLONES void row_fnoise(const DxBatch& b, const DxRegion& g, int n, int y, int xa, int xb, RowTmp& t) {
  DX_ROW_VARS;
  const float sc = g.v[0] * DX_FNOISE_STD_PER_F;
  const float* field = b.scratch + g.off;
  for (int c = 0; c < C; ++c) {
    const int64_t base = c * plane + rowoff;
#pragma omp simd
    for (int j = 0; j < len; ++j) out[base + j] = dx_clamp01(img[base + j] + sc * field[base + j]);
  }
}

}  // namespace cpu
}  // namespace distortx

TORCH_LIBRARY_IMPL(distortx, CPU, m) {
  m.impl("uniform_fill", &distortx::cpu::uniform_fill_cpu);
  m.impl("normal_fill", &distortx::cpu::normal_fill_cpu);
  m.impl("box_muller", &distortx::cpu::box_muller_cpu);
}
