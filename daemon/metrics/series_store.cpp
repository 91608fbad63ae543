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
  syn_retransmits += o.syn_retransmits;
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
bool CappedSeries<V>::add(const LabelValues& labels, const V& delta, SteadyTime now) {
  size_t h = LabelValuesHash{}(labels);
  Shard& shard = shards_[h % kShards];
  {
    std::lock_guard<std::mutex> lock(shard.mu);
    auto it = shard.series.find(labels);
    if (it != shard.series.end()) {
      it->second.value += delta;
      it->second.grown = now;
      return true;
    }
    // A new series: claim a slot under the cap or fold into the overflow set.
    size_t n = size_.load(std::memory_order_relaxed);
    while (n < max_series_.load(std::memory_order_relaxed)) {
      if (size_.compare_exchange_weak(n, n + 1, std::memory_order_relaxed)) {
        shard.series.emplace(labels, Entry{delta, now, {}});
        return true;
      }
    }
  }
  add_overflow(delta);
  return false;
}

template <typename V>
size_t CappedSeries<V>::expire(SteadyTime cutoff) {
  size_t removed = 0;
  for (Shard& shard : shards_) {
    std::lock_guard<std::mutex> lock(shard.mu);
    for (auto it = shard.series.begin(); it != shard.series.end();) {
      if (it->second.grown < cutoff) {
        it = shard.series.erase(it);
        ++removed;
      } else {
        ++it;
      }
    }
  }
  size_.fetch_sub(removed, std::memory_order_relaxed);
  return removed;
}

template <typename V>
std::optional<V> CappedSeries<V>::get(const LabelValues& labels) const {
  const Shard& shard = shards_[LabelValuesHash{}(labels) % kShards];
  std::lock_guard<std::mutex> lock(shard.mu);
  auto it = shard.series.find(labels);
  if (it == shard.series.end()) return std::nullopt;
  return it->second.value;
}

template <typename V>
void CappedSeries<V>::replace(std::vector<std::pair<LabelValues, V>> series,
                              std::optional<V> overflow, bool survive, SteadyTime now) {
  std::array<std::unordered_map<LabelValues, Entry, LabelValuesHash>, kShards> next;
  const size_t cap = max_series_.load(std::memory_order_relaxed);
  size_t n = 0;
  V excess{};
  bool has_excess = false;
  for (auto& [labels, value] : series) {
    const size_t shard = LabelValuesHash{}(labels) % kShards;
    Entry entry{value, now, {}};
    if (survive) {
      std::lock_guard<std::mutex> lock(shards_[shard].mu);
      auto it = shards_[shard].series.find(labels);
      if (it != shards_[shard].series.end()) entry = Entry{it->second.value, it->second.grown, {}};
    }
    if (auto it = next[shard].find(labels); it != next[shard].end()) {
      it->second.value += value;  // the caller folded two keys into one set
      continue;
    }
    if (n >= cap) {
      excess += value;
      has_excess = true;
      continue;
    }
    next[shard].emplace(std::move(labels), entry);
    ++n;
  }
  for (size_t i = 0; i < kShards; ++i) {
    std::lock_guard<std::mutex> lock(shards_[i].mu);
    shards_[i].series = std::move(next[i]);
  }
  size_.store(n, std::memory_order_relaxed);
  std::lock_guard<std::mutex> lock(overflow_mu_);
  overflow_text_.clear();
  if (survive && has_overflow_) return;
  overflow_ = overflow.value_or(V{});
  overflow_ += excess;
  has_overflow_ = overflow.has_value() || has_excess;
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
    for (const auto& [labels, entry] : shard.series) visit(&labels, entry.value);
  }
  std::lock_guard<std::mutex> lock(overflow_mu_);
  if (has_overflow_) visit(nullptr, overflow_);
}

template <typename V>
void CappedSeries<V>::for_each_rendered(
    const std::function<void(const LabelValues*, const V&, std::string&)>& visit) const {
  for (const Shard& shard : shards_) {
    std::lock_guard<std::mutex> lock(shard.mu);
    for (const auto& [labels, entry] : shard.series) visit(&labels, entry.value, entry.text);
  }
  std::lock_guard<std::mutex> lock(overflow_mu_);
  if (has_overflow_) visit(nullptr, overflow_, overflow_text_);
}

template class CappedSeries<ConnectCounts>;
template class CappedSeries<LatencyCounts>;
template class CappedSeries<UnexpectedCounts>;

void SeriesStore::add_connects(const LabelValues& labels, const ConnectCounts& delta,
                               SteadyTime now) {
  std::shared_lock<std::shared_mutex> lock(replace_mu_);
  if (!connects_.add(labels, delta, now)) {
    dropped_.connects += delta.attempts;
    dropped_.failures += delta.failures();
  }
}

void SeriesStore::add_connects_overflow(const ConnectCounts& delta) {
  std::shared_lock<std::shared_mutex> lock(replace_mu_);
  connects_.add_overflow(delta);
}

void SeriesStore::add_latency(const LabelValues& labels, const LatencyCounts& delta,
                              SteadyTime now) {
  std::shared_lock<std::shared_mutex> lock(replace_mu_);
  if (!latency_.add(labels, delta, now)) dropped_.duration += delta.count;
}

void SeriesStore::add_unexpected(const LabelValues& labels, const UnexpectedCounts& delta,
                                 SteadyTime now) {
  std::shared_lock<std::shared_mutex> lock(replace_mu_);
  if (!unexpected_.add(labels, delta, now)) dropped_.unexpected += delta.attempts;
}

void SeriesStore::add_stale(const LabelValues& labels, const UnexpectedCounts& delta,
                            SteadyTime now) {
  std::shared_lock<std::shared_mutex> lock(replace_mu_);
  if (!stale_.add(labels, delta, now)) dropped_.stale += delta.attempts;
}

void SeriesStore::add_unexpected_overflow(const UnexpectedCounts& delta) {
  std::shared_lock<std::shared_mutex> lock(replace_mu_);
  unexpected_.add_overflow(delta);
}

void SeriesStore::set_max_series(size_t n) {
  connects_.set_max_series(n);
  latency_.set_max_series(n);
  unexpected_.set_max_series(n);
  stale_.set_max_series(n);
}

std::vector<std::string> SeriesStore::label_names() const {
  std::lock_guard<std::mutex> lock(meta_mu_);
  return label_names_;
}

bool SeriesStore::unexpected_enabled() const {
  std::lock_guard<std::mutex> lock(meta_mu_);
  return unexpected_enabled_;
}

void SeriesStore::set_unexpected_enabled(bool enabled) {
  std::lock_guard<std::mutex> lock(meta_mu_);
  unexpected_enabled_ = enabled;
}

void SeriesStore::replace(Contents c, bool survive, SteadyTime now) {
  std::unique_lock<std::shared_mutex> lock(replace_mu_);
  connects_.replace(std::move(c.connects), std::move(c.connects_overflow), survive, now);
  // The histogram's labels (dns_name, daddr) never change names.
  latency_.replace(std::move(c.latency), std::nullopt, true, now);
  unexpected_.replace(std::move(c.unexpected), std::move(c.unexpected_overflow), survive, now);
  if (!survive) stale_.replace({}, std::nullopt, false, now);
  std::lock_guard<std::mutex> meta(meta_mu_);
  label_names_ = std::move(c.label_names);
  unexpected_enabled_ = c.unexpected_enabled;
  in_flight_ = {};  // under the old labels: the next drain counts them anew
}

void SeriesStore::set_in_flight(InFlight in_flight) {
  std::lock_guard<std::mutex> meta(meta_mu_);
  in_flight_ = std::move(in_flight);
}

SeriesStore::InFlight SeriesStore::in_flight() const {
  std::lock_guard<std::mutex> meta(meta_mu_);
  return in_flight_;
}

void SeriesStore::reset_unexpected(bool enabled) {
  std::unique_lock<std::shared_mutex> lock(replace_mu_);
  unexpected_.replace({}, std::nullopt, false, std::chrono::steady_clock::now());
  std::lock_guard<std::mutex> meta(meta_mu_);
  unexpected_enabled_ = enabled;
}

void SeriesStore::expire_idle(SteadyTime cutoff) {
  std::shared_lock<std::shared_mutex> lock(replace_mu_);
  expired_.connects += connects_.expire(cutoff);
  expired_.duration += latency_.expire(cutoff);
  expired_.unexpected += unexpected_.expire(cutoff);
  expired_.stale += stale_.expire(cutoff);
}

}  // namespace tcpconnect
