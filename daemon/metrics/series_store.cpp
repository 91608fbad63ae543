#include "metrics/series_store.h"

#include <numeric>

namespace tcpconnect {

size_t LabelValuesHash::operator()(const LabelValues& v) const noexcept {
  size_t h = 0xcbf29ce484222325ULL;
  for (const auto& s : v) h = (h ^ std::hash<std::string>{}(s)) * 0x100000001b3ULL;
  return h;
}

ConnectCounts& ConnectCounts::operator+=(const ConnectCounts& o) {
  attempts += o.attempts;
  established += o.established;
  for (size_t i = 0; i < failed.size(); ++i) failed[i] += o.failed[i];
  return *this;
}

uint64_t ConnectCounts::failures() const {
  return std::accumulate(failed.begin(), failed.end(), uint64_t{0});
}

LatencyCounts& LatencyCounts::operator+=(const LatencyCounts& o) {
  count += o.count;
  sum_ns += o.sum_ns;
  for (size_t i = 0; i < buckets.size(); ++i) buckets[i] += o.buckets[i];
  return *this;
}

template <typename V>
bool CappedSeries<V>::add(const LabelValues& labels, const V& delta) {
  size_t h = LabelValuesHash{}(labels);
  Shard& shard = shards_[h % kShards];
  {
    std::lock_guard<std::mutex> lock(shard.mu);
    auto it = shard.series.find(labels);
    if (it != shard.series.end()) {
      it->second += delta;
      return true;
    }
    // A new series: claim a slot under the cap or fold into the overflow set.
    size_t n = size_.load(std::memory_order_relaxed);
    while (n < max_series_.load(std::memory_order_relaxed)) {
      if (size_.compare_exchange_weak(n, n + 1, std::memory_order_relaxed)) {
        shard.series.emplace(labels, delta);
        return true;
      }
    }
  }
  add_overflow(delta);
  return false;
}

template <typename V>
void CappedSeries<V>::add_overflow(const V& delta) {
  std::lock_guard<std::mutex> lock(overflow_mu_);
  overflow_ += delta;
  has_overflow_ = true;
}

template <typename V>
void CappedSeries<V>::for_each(
    const std::function<void(const LabelValues*, const V&)>& visit) const {
  for (const Shard& shard : shards_) {
    std::lock_guard<std::mutex> lock(shard.mu);
    for (const auto& [labels, value] : shard.series) visit(&labels, value);
  }
  std::lock_guard<std::mutex> lock(overflow_mu_);
  if (has_overflow_) visit(nullptr, overflow_);
}

template class CappedSeries<ConnectCounts>;
template class CappedSeries<LatencyCounts>;

void SeriesStore::add_connects(const LabelValues& labels, const ConnectCounts& delta) {
  if (!connects_.add(labels, delta)) {
    dropped_.connects += delta.attempts;
    dropped_.failures += delta.failures();
  }
}

void SeriesStore::add_connects_overflow(const ConnectCounts& delta) {
  connects_.add_overflow(delta);
}

void SeriesStore::add_latency(const LabelValues& labels, const LatencyCounts& delta) {
  if (!latency_.add(labels, delta)) dropped_.duration += delta.count;
}

void SeriesStore::set_max_series(size_t n) {
  connects_.set_max_series(n);
  latency_.set_max_series(n);
}

}  // namespace tcpconnect
