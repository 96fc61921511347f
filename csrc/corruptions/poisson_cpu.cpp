// ImageNet-C shot noise's Poisson draws by CDF inversion (distortx/corruptions/noise.py, poisson): the same draws
// as the torch code, bit for bit, without its sort (torch.unique) and its search over one long shifted array.
//   table:       the CDF tabulated once per distinct rate (rows in ascending rate order, row r shifted by 2 r as the
//                torch code shifts it, so every comparison rounds as there), each value's count by binary search;
//   running sum: per value, k = how many running CDF values lie below u (rates <= small_rate, or more than
//                max_rates distinct rates), stopping at the first that does not.
// exp(-rate) comes from ATen's exp, the kernel torch.exp runs, so the tables hold the torch code's bits.
#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <torch/library.h>

#include <algorithm>
#include <cstring>
#include <vector>

namespace distortx {
namespace {

// The key of a rate: its bit pattern, -0 as +0 (torch.unique counts them as one value).
uint64_t bits_of(double v) {
  if (v == 0.0) v = 0.0;
  uint64_t b;
  std::memcpy(&b, &v, 8);
  return b;
}

// Open-addressing set of the distinct rates (their bit patterns), at most `limit` of them.
struct RateIndex {
  std::vector<uint64_t> keys;
  std::vector<int32_t> slot_rank;  // -1 empty
  uint64_t mask = 0;
  explicit RateIndex(int64_t limit) {
    uint64_t size = 16;
    while (size < (uint64_t)limit * 4) size <<= 1;
    keys.assign(size, 0), slot_rank.assign(size, -1), mask = size - 1;
  }
  static uint64_t hash(uint64_t b) { return (b ^ (b >> 29)) * 0x9E3779B97F4A7C15ull >> 17; }
  // slot of b (inserted if missing; *fresh says so)
  uint64_t find(uint64_t b, bool& fresh) {
    uint64_t h = hash(b) & mask;
    while (slot_rank[h] >= 0 && keys[h] != b) h = (h + 1) & mask;
    fresh = slot_rank[h] < 0;
    return h;
  }
};

// How many entries of the ascending row[0 .. n) lie below v (std::lower_bound's index; torch.searchsorted, left),
// by a binary search whose steps are conditional moves: the counts are random, so a branching search mispredicts
// about every other step (5 -> ~1 ms for a 224-px image).
int64_t entries_below(const double* row, int64_t n, double v) {
  const double* base = row;
  while (n > 1) {
    const int64_t half = n / 2;
    base = base[half] < v ? base + half : base;
    n -= half;
  }
  return (base - row) + (*base < v);
}

at::Tensor poisson_inverse_cpu(const at::Tensor& lam_, const at::Tensor& u_, int64_t terms, double small_rate,
                               int64_t max_rates) {
  TORCH_CHECK(lam_.scalar_type() == at::kDouble && u_.scalar_type() == at::kDouble && lam_.sizes() == u_.sizes(),
              "distortx.poisson_inverse: lam and u must be float64 tensors of one shape");
  TORCH_CHECK(terms >= 1 && max_rates >= 1, "distortx.poisson_inverse: terms >= 1, max_rates >= 1");
  const at::Tensor lam = lam_.contiguous(), u = u_.contiguous();
  at::Tensor out = at::zeros_like(lam);
  const int64_t n = lam.numel();
  if (n == 0) return out;
  const double* L = lam.data_ptr<double>();
  const double* U = u.data_ptr<double>();
  double* K = out.data_ptr<double>();
  const double top = lam.max().item<double>();

  // the distinct rates, unless there are too many (or the rates are small: the running sum is cheaper)
  std::vector<double> rates;
  bool table = top > small_rate;
  RateIndex index(table ? max_rates : 1);
  std::vector<int32_t> first_seen(table ? (size_t)n : 0);  // each value's rate, by the order rates were first seen
  for (int64_t i = 0; table && i < n; ++i) {
    bool fresh;
    const uint64_t b = bits_of(L[i]), h = index.find(b, fresh);
    if (fresh) {
      if ((int64_t)rates.size() == max_rates) {
        table = false;
        break;
      }
      index.keys[h] = b, index.slot_rank[h] = (int32_t)rates.size();
      rates.push_back(L[i]);
    }
    first_seen[i] = index.slot_rank[h];
  }

  if (!table) {
    const at::Tensor p0 = at::exp(-lam);  // torch.exp(-lam)
    const double* P0 = p0.data_ptr<double>();
    at::parallel_for(0, n, 4096, [&](int64_t a, int64_t b) {
      for (int64_t i = a; i < b; ++i) {
        double p = P0[i], cdf = p;
        int64_t k = 0;
        for (int64_t j = 1; j <= terms && U[i] > cdf; ++j) {
          ++k;
          p = p * L[i] / (double)j;
          cdf = cdf + p;
        }
        K[i] = (double)k;
      }
    });
    return out;
  }

  // rows in ascending rate order (torch.unique's), each CDF row shifted by 2 r
  std::vector<int32_t> order(rates.size());
  for (size_t r = 0; r < rates.size(); ++r) order[r] = (int32_t)r;
  std::sort(order.begin(), order.end(), [&](int32_t a, int32_t b) { return rates[a] < rates[b]; });
  std::vector<int32_t> rank_of(rates.size());
  at::Tensor sorted = at::empty({(int64_t)rates.size()}, lam.options());
  double* S = sorted.data_ptr<double>();
  for (size_t r = 0; r < order.size(); ++r) rank_of[order[r]] = (int32_t)r, S[r] = rates[order[r]];
  const at::Tensor p0 = at::exp(-sorted);  // torch.exp(-rates)
  const double* P0 = p0.data_ptr<double>();
  const int64_t R = (int64_t)rates.size();
  std::vector<double> rows((size_t)R * terms);
  for (int64_t r = 0; r < R; ++r) {
    double p = P0[r], cdf = p;
    const double shift = 2.0 * (double)r;
    double* row = rows.data() + r * terms;
    row[0] = cdf + shift;
    for (int64_t j = 1; j < terms; ++j) {
      p = p * S[r] / (double)j;
      cdf = cdf + p;
      row[j] = cdf + shift;
    }
  }
  at::parallel_for(0, n, 4096, [&](int64_t a, int64_t b) {
    for (int64_t i = a; i < b; ++i) {
      const int32_t r = rank_of[first_seen[i]];
      const double v = U[i] + 2.0 * (double)r;
      K[i] = (double)entries_below(rows.data() + (int64_t)r * terms, terms, v);
    }
  });
  return out;
}

}  // namespace
}  // namespace distortx

TORCH_LIBRARY_IMPL(distortx, CPU, m) { m.impl("poisson_inverse", &distortx::poisson_inverse_cpu); }
