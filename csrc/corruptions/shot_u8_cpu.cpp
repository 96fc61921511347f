// ImageNet-C's shot noise on uint8 images in one pass (distortx/corruptions/noise.py shot_noise_u8): the bytes of
// corrupt()'s float route (u8_to_unit, shot_noise, unit_to_u8) exactly, without its float images, its float64
// rate / uniform tensors and its binary searches. Per value v at counter-RNG index i (u8_segments.h):
//   rate = float32(float32(v / 255) * float32(c));  u = rng.uniform(seed, i, stream), as float64
//   k    = the Poisson count poisson_cpu.cpp draws for (rate, u): how many CDF values of the rate lie below u
//          (a table path whose rows are shifted by 2 r for the r-th smallest rate present in the whole batch, or the
//          running sum, chosen by the same rule from the batch's largest rate);
//   out  = (uint8)(clamp(float32(k / c), 0, 1) * 255 + 0.001)
// A uint8 batch has at most 256 rates, so every rate's CDF row is built once (with ATen's exp, the torch code's
// bits) and each count found from a guide table (Chen & Asau's indexed search): bucket b = floor(u * 64) starts
// the count at the entries below b / 64 (shifted and rounded as u is, so never past the answer), and a short scan
// ends it; the comparisons are the table's own, so the counts are the binary search's.
#include <ATen/ATen.h>
#include <torch/library.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include "corruptions/u8_segments.h"
#include "distort/cpu_rows.h"

namespace distortx {
namespace cpu {
namespace {

constexpr int kBuckets = 64;

// u[j] = rng.uniform(seed, index[j], stream) for the stream's prefix (vectorised; AVX2 or baseline by the CPU)
DX_CLONES void uniform_segment(float* u, uint32_t prefix, const uint32_t* index, int64_t len) {
#pragma omp simd
  for (int64_t j = 0; j < len; ++j) u[j] = dx_uniform_at(prefix, index[j], 0u);
}

at::Tensor shot_u8_cpu(const at::Tensor& images_in, const at::Tensor& seeds_, int64_t stream, double c,
                       double small_rate, int64_t max_rates) {
  TORCH_CHECK(images_in.scalar_type() == at::kByte && images_in.dim() == 4 && images_in.device().is_cpu(),
              "distortx.shot_u8: images must be a uint8 CPU Tensor[N, C, H, W]");
  TORCH_CHECK(seeds_.dim() == 1 && seeds_.scalar_type() == at::kLong && seeds_.size(0) == images_in.size(0),
              "distortx.shot_u8: seeds must be int64 Tensor[N], one per image");
  TORCH_CHECK(stream >= 0 && stream < (int64_t(1) << 32), "distortx.shot_u8: 0 <= stream < 2^32");
  TORCH_CHECK(c > 0 && std::isfinite(c), "distortx.shot_u8: c (photons at white) must be > 0, got ", c);
  const int64_t N = images_in.size(0), C = images_in.size(1), H = images_in.size(2), W = images_in.size(3);
  TORCH_CHECK(C * H * W < (int64_t(1) << 32), "distortx.shot_u8: at most 2^32 values per image");
  const bool last = u8_channels_last(images_in);
  const at::Tensor images = last ? images_in : images_in.contiguous();
  const at::Tensor seeds = seeds_.contiguous();
  at::Tensor out = at::empty_like(images, last ? at::MemoryFormat::ChannelsLast : at::MemoryFormat::Contiguous);
  if (images.numel() == 0) return out;
  const uint8_t* p = images.data_ptr<uint8_t>();
  uint8_t* q = out.data_ptr<uint8_t>();
  const int64_t* s = seeds.data_ptr<int64_t>();

  // the rates present (ascending in v, so in rate: v / 255 * c is increasing and never collides in float32)
  bool present[256] = {false};
  for (int64_t i = 0, n = images.numel(); i < n; ++i) present[p[i]] = true;
  const float cf = (float)c;
  std::vector<int> values;
  std::vector<double> rates;
  for (int v = 0; v < 256; ++v)
    if (present[v]) values.push_back(v), rates.push_back((double)(((float)v / 255.0f) * cf));
  const int64_t R = (int64_t)rates.size();
  const double top = rates.back();
  const int64_t terms = std::max<int64_t>(1, (int64_t)(top + 12.0 * std::sqrt(top + 1.0) + 12.0) - 1);
  const bool table = top > small_rate && R <= max_rates;   // else the running sum: the same counts, rows unshifted

  // CDF rows (row r shifted by 2 r on the table path) and their guide tables
  const at::Tensor rate_t = at::from_blob(rates.data(), {R}, at::TensorOptions().dtype(at::kDouble));
  const at::Tensor p0 = at::exp(-rate_t);
  const double* P0 = p0.data_ptr<double>();
  // each row padded with two +inf entries, so the two unconditional reads past the guide never leave it
  const int64_t stride = terms + 2;
  std::vector<double> rows((size_t)(R * stride), HUGE_VAL);
  std::vector<int32_t> guide((size_t)(R * kBuckets));
  std::vector<int32_t> row_of(256, 0);
  for (int64_t r = 0; r < R; ++r) {
    row_of[values[r]] = (int32_t)r;
    const double shift = table ? 2.0 * (double)r : 0.0;
    double pr = P0[r], cdf = pr;
    double* row = rows.data() + r * stride;
    row[0] = cdf + shift;
    for (int64_t j = 1; j < terms; ++j) {
      pr = pr * rates[r] / (double)j;
      cdf = cdf + pr;
      row[j] = cdf + shift;
    }
    int64_t m = 0;
    for (int b = 0; b < kBuckets; ++b) {
      const double lower = (double)b / kBuckets + shift;   // <= u + shift for every u of bucket b, once rounded
      while (m < terms && row[m] < lower) ++m;
      guide[r * kBuckets + b] = (int32_t)m;
    }
  }

  // the output byte depends on the count only: one table of (uint8)(clamp(float32(k / c), 0, 1) * 255 + 0.001)
  std::vector<uint8_t> byte_of((size_t)terms + 1);
  for (int64_t k = 0; k <= terms; ++k) {
    float y = (float)((double)k / c);
    y = y > 0.0f ? y : 0.0f;
    y = y < 1.0f ? y : 1.0f;
    byte_of[k] = (uint8_t)(int32_t)(y * 255.0f + 0.001f);
  }
  const double* __restrict rows_p = rows.data();
  const int32_t* __restrict guide_p = guide.data();
  const int32_t* __restrict row_p = row_of.data();
  const uint8_t* __restrict byte_p = byte_of.data();
  for_each_u8_segment(N, C, H, W, last, [&](int64_t n, const uint32_t* index, int64_t at, int64_t len) {
    thread_local std::vector<float> uniforms;
    if ((int64_t)uniforms.size() < len) uniforms.resize((size_t)len);
    float* __restrict u = uniforms.data();
    const uint32_t prefix = dx_bits_prefix(s[n], (uint32_t)stream);
    uniform_segment(u, prefix, index, len);
    const uint8_t* __restrict src = p + at;
    uint8_t* __restrict dst = q + at;
    for (int64_t j = 0; j < len; ++j) {
      const int32_t r = row_p[src[j]];
      const double uj = (double)u[j];
      const double v = table ? uj + 2.0 * (double)r : uj;
      const double* __restrict row = rows_p + (int64_t)r * stride;
      int64_t k = guide_p[r * kBuckets + (int)(uj * kBuckets)];
      // the count is the guide's, plus one or two in ~11 % of the values (a CDF value in the bucket below u), more
      // in ~0.1 %: two reads without a branch (the row ascends, so they add the count up to 2), then the rare loop
      k += (int64_t)(row[k] < v) + (int64_t)(row[k + 1] < v);
      while (k < terms && row[k] < v) ++k;
      dst[j] = byte_p[k];
    }
  });
  return out;
}

}  // namespace
}  // namespace cpu
}  // namespace distortx

TORCH_LIBRARY_IMPL(distortx, CPU, m) { m.impl("shot_u8", &distortx::cpu::shot_u8_cpu); }
