// The folded counts that /metrics renders: label values -> counters, sharded so that a
// scrape and the drain rarely wait on each other, and capped so that memory stays
// bounded whatever the traffic.
#pragma once

#include <linux/types.h>

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <mutex>
#include <optional>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
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
  uint64_t syn_retransmits = 0;

  ConnectCounts& operator+=(const ConnectCounts& o);
  uint64_t failures() const;
  bool empty() const {
    return attempts == 0 && established == 0 && failures() == 0 && syn_retransmits == 0;
  }
};

struct LatencyCounts {
  uint64_t count = 0;
  uint64_t sum_ns = 0;
  std::array<uint64_t, TC_LAT_BUCKETS> buckets{};  // per bucket, not cumulative

  LatencyCounts& operator+=(const LatencyCounts& o);
  bool empty() const { return count == 0; }
};

// Connects that matched no allowlist rule.
struct UnexpectedCounts {
  uint64_t attempts = 0;

  UnexpectedCounts& operator+=(const UnexpectedCounts& o) {
    attempts += o.attempts;
    return *this;
  }
  bool empty() const { return attempts == 0; }
};

using SteadyTime = std::chrono::steady_clock::time_point;

// Label values -> V, at most max_series distinct label sets; what would make another
// goes to a single overflow set. Values only grow, and a series lives until expire()
// removes it for not having grown.
template <typename V>
class CappedSeries {
 public:
  explicit CappedSeries(size_t max_series) : max_series_(max_series) {}

  // Returns false when the delta went to the overflow set. `now` is when it grew.
  bool add(const LabelValues& labels, const V& delta, SteadyTime now = std::chrono::steady_clock::now());
  void add_overflow(const V& delta);
  // Visits every series under its shard's lock; the overflow set last, with
  // labels == nullptr.
  void for_each(const std::function<void(const LabelValues* labels, const V&)>& visit) const;
  // As for_each, with each series' label text as the text renderer left it: empty the
  // first time; what the visitor writes there stays with the series, so that a label set
  // is rendered once, not on every scrape. The text is dropped whenever the label names
  // may change (replace()), so one renderer that always renders the same series under
  // the same names (the store's, or the fixed latency names) may trust it.
  void for_each_rendered(const std::function<void(const LabelValues* labels, const V&,
                                                  std::string& text)>& visit) const;
  size_t size() const { return size_.load(std::memory_order_relaxed); }
  void set_max_series(size_t n) { max_series_.store(n, std::memory_order_relaxed); }
  size_t max_series() const { return max_series_.load(std::memory_order_relaxed); }

  // Removes the series that last grew before `cutoff` (never the overflow set). Returns
  // how many. Frees their slots under the cap.
  size_t expire(SteadyTime cutoff);
  // The value of one series, if present (tests, re-folds).
  std::optional<V> get(const LabelValues& labels) const;

  // Replaces every series with `series` (the overflow set with `overflow`). When
  // `survive`, a label set present before and after keeps its value and its growth
  // time, and so does the overflow set: a counter never goes back and never jumps.
  // Beyond the cap, what does not fit goes to the overflow set. Not thread-safe
  // against add(): the store serializes it (SeriesStore::replace).
  void replace(std::vector<std::pair<LabelValues, V>> series, std::optional<V> overflow,
               bool survive, SteadyTime now);

 private:
  static constexpr size_t kShards = 16;
  struct Entry {
    V value{};
    SteadyTime grown{};
    mutable std::string text;  // for_each_rendered, under the shard's lock
  };
  struct Shard {
    mutable std::mutex mu;
    std::unordered_map<LabelValues, Entry, LabelValuesHash> series;
  };
  std::array<Shard, kShards> shards_;
  std::atomic<size_t> size_{0};
  std::atomic<size_t> max_series_;
  mutable std::mutex overflow_mu_;
  V overflow_{};
  bool has_overflow_ = false;
  mutable std::string overflow_text_;  // for_each_rendered, under overflow_mu_
};

// Everything the connect metrics render.
class SeriesStore {
 public:
  explicit SeriesStore(size_t max_series)
      : connects_(max_series), latency_(max_series), unexpected_(max_series), stale_(max_series) {}

  // labels: the kept labels of connects, in canonical order.
  void add_connects(const LabelValues& labels, const ConnectCounts& delta,
                    SteadyTime now = std::chrono::steady_clock::now());
  // Counted where the kernel itself could not keep a key (its map was full).
  void add_connects_overflow(const ConnectCounts& delta);
  // labels: {dns_name, daddr}.
  void add_latency(const LabelValues& labels, const LatencyCounts& delta,
                   SteadyTime now = std::chrono::steady_clock::now());
  // labels: as add_connects.
  void add_unexpected(const LabelValues& labels, const UnexpectedCounts& delta,
                      SteadyTime now = std::chrono::steady_clock::now());
  // Connects that could not be checked against the allowlist (the kernel kept no key for
  // them): unexpected, in the overflow series.
  void add_unexpected_overflow(const UnexpectedCounts& delta);

  const CappedSeries<ConnectCounts>& connects() const { return connects_; }
  const CappedSeries<LatencyCounts>& latency() const { return latency_; }
  const CappedSeries<UnexpectedCounts>& unexpected() const { return unexpected_; }
  // labels: as add_connects. Connects to an address DNS no longer gives (DNS names on).
  void add_stale(const LabelValues& labels, const UnexpectedCounts& delta,
                 SteadyTime now = std::chrono::steady_clock::now());
  const CappedSeries<UnexpectedCounts>& stale() const { return stale_; }
  // Whether the stale connects family (metric::kStaleConnects) exists (DNS names are on).
  bool stale_enabled() const { return stale_enabled_.load(std::memory_order_relaxed); }
  void set_stale_enabled(bool enabled) { stale_enabled_.store(enabled, std::memory_order_relaxed); }

  // Connects in flight now, by the connect labels: label sets that are connect series,
  // and the rest (beyond the cap) in `overflow`. Replaced as a whole by every drain.
  struct InFlight {
    std::vector<std::pair<LabelValues, uint64_t>> series;
    uint64_t overflow = 0;
  };
  void set_in_flight(InFlight in_flight);
  InFlight in_flight() const;

  // Increments that went to an overflow series because of the cap, per metric.
  struct Dropped {
    std::atomic<uint64_t> connects{0};
    std::atomic<uint64_t> failures{0};
    std::atomic<uint64_t> duration{0};
    std::atomic<uint64_t> unexpected{0};
    std::atomic<uint64_t> stale{0};
  };
  const Dropped& dropped() const { return dropped_; }
  // Series removed by idle expiry, per metric.
  struct Expired {
    std::atomic<uint64_t> connects{0};
    std::atomic<uint64_t> duration{0};
    std::atomic<uint64_t> unexpected{0};
    std::atomic<uint64_t> stale{0};
  };
  const Expired& expired() const { return expired_; }
  void set_max_series(size_t n);

  // Names of the connect labels the values are in (empty until set); kept with the
  // values so that a scrape never pairs old names with new values.
  std::vector<std::string> label_names() const;
  // Whether the unexpected connects family (metric::kUnexpectedConnects) exists (an allowlist is
  // configured).
  bool unexpected_enabled() const;
  void set_unexpected_enabled(bool enabled);

  // Held by a scrape for the whole rendering: a replace() waits for it, adds do not.
  std::shared_lock<std::shared_mutex> read_lock() const {
    return std::shared_lock<std::shared_mutex>(replace_mu_);
  }

  // Everything at once, after a change of labels (a re-fold of the kernel's cumulative
  // counts under the new labels). `survive`: the label names did not change, so a label
  // set present before and after keeps its value (see CappedSeries::replace). The
  // dropped counters are left alone: a re-fold is not new traffic. Stale connects cannot
  // be re-folded (the verdict was the DNS answers' at the time): they survive when the
  // label names did not change, and start again from nothing when they did.
  struct Contents {
    std::vector<std::string> label_names;
    std::vector<std::pair<LabelValues, ConnectCounts>> connects;
    std::optional<ConnectCounts> connects_overflow;
    std::vector<std::pair<LabelValues, LatencyCounts>> latency;
    std::vector<std::pair<LabelValues, UnexpectedCounts>> unexpected;
    std::optional<UnexpectedCounts> unexpected_overflow;
    bool unexpected_enabled = false;
  };
  void replace(Contents contents, bool survive, SteadyTime now = std::chrono::steady_clock::now());

  // Empties the unexpected connects family and says whether it exists (an
  // allowlist that goes away takes its series along).
  void reset_unexpected(bool enabled);

  // Removes series that did not grow since `cutoff`, from every metric.
  void expire_idle(SteadyTime cutoff);

 private:
  CappedSeries<ConnectCounts> connects_;
  CappedSeries<LatencyCounts> latency_;
  CappedSeries<UnexpectedCounts> unexpected_;
  CappedSeries<UnexpectedCounts> stale_;
  std::atomic<bool> stale_enabled_{false};
  Dropped dropped_;
  Expired expired_;
  mutable std::shared_mutex replace_mu_;
  mutable std::mutex meta_mu_;
  std::vector<std::string> label_names_;  // under meta_mu_
  InFlight in_flight_;                    // under meta_mu_
  bool unexpected_enabled_ = false;       // under meta_mu_
};

extern template class CappedSeries<ConnectCounts>;
extern template class CappedSeries<LatencyCounts>;
extern template class CappedSeries<UnexpectedCounts>;

}  // namespace tcpconnect
