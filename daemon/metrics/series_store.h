// The folded counts that /metrics renders: label values -> counters, sharded so that a
// scrape and the drain rarely wait on each other, and capped so that memory stays
// bounded whatever the traffic.
#pragma once

#include <linux/types.h>

#include <array>
#include <atomic>
#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "shared/connect.h"

namespace tcpconnect {

using LabelValues = std::vector<std::string>;

struct LabelValuesHash {
  size_t operator()(const LabelValues& v) const noexcept;
};

struct ConnectCounts {
  uint64_t attempts = 0;
  uint64_t established = 0;
  std::array<uint64_t, TC_FAIL_MAX> failed{};

  ConnectCounts& operator+=(const ConnectCounts& o);
  uint64_t failures() const;
  bool empty() const { return attempts == 0 && established == 0 && failures() == 0; }
};

struct LatencyCounts {
  uint64_t count = 0;
  uint64_t sum_ns = 0;
  std::array<uint64_t, TC_LAT_BUCKETS> buckets{};  // per bucket, not cumulative

  LatencyCounts& operator+=(const LatencyCounts& o);
  bool empty() const { return count == 0; }
};

// Label values -> V, at most max_series distinct label sets; what would make another
// goes to a single overflow set. Values only grow.
template <typename V>
class CappedSeries {
 public:
  explicit CappedSeries(size_t max_series) : max_series_(max_series) {}

  // Returns false when the delta went to the overflow set.
  bool add(const LabelValues& labels, const V& delta);
  void add_overflow(const V& delta);
  // Visits every series under its shard's lock; the overflow set last, with
  // labels == nullptr.
  void for_each(const std::function<void(const LabelValues* labels, const V&)>& visit) const;
  size_t size() const { return size_.load(std::memory_order_relaxed); }
  void set_max_series(size_t n) { max_series_.store(n, std::memory_order_relaxed); }

 private:
  static constexpr size_t kShards = 16;
  struct Shard {
    mutable std::mutex mu;
    std::unordered_map<LabelValues, V, LabelValuesHash> series;
  };
  std::array<Shard, kShards> shards_;
  std::atomic<size_t> size_{0};
  std::atomic<size_t> max_series_;
  mutable std::mutex overflow_mu_;
  V overflow_{};
  bool has_overflow_ = false;
};

// Everything the connect metrics render.
class SeriesStore {
 public:
  explicit SeriesStore(size_t max_series) : connects_(max_series), latency_(max_series) {}

  // labels: the kept labels of connects, in canonical order.
  void add_connects(const LabelValues& labels, const ConnectCounts& delta);
  // Counted where the kernel itself could not keep a key (its map was full).
  void add_connects_overflow(const ConnectCounts& delta);
  // labels: {dns_name, daddr}.
  void add_latency(const LabelValues& labels, const LatencyCounts& delta);

  const CappedSeries<ConnectCounts>& connects() const { return connects_; }
  const CappedSeries<LatencyCounts>& latency() const { return latency_; }

  // Increments that went to an overflow series because of the cap, per metric.
  struct Dropped {
    std::atomic<uint64_t> connects{0};
    std::atomic<uint64_t> failures{0};
    std::atomic<uint64_t> duration{0};
  };
  const Dropped& dropped() const { return dropped_; }
  void set_max_series(size_t n);

 private:
  CappedSeries<ConnectCounts> connects_;
  CappedSeries<LatencyCounts> latency_;
  Dropped dropped_;
};

extern template class CappedSeries<ConnectCounts>;
extern template class CappedSeries<LatencyCounts>;

}  // namespace tcpconnect
