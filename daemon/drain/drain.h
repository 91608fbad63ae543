// One drain: read the kernel's cumulative counts, take the growth since the previous
// drain, turn keys into label values and fold them into the series store. Counts stay
// exact because the kernel only ever adds: nothing is reset or read-and-cleared, except
// by idle expiry, which deletes a key and folds its final value in the same step.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "bpf/walked_map.h"
#include "config/config.h"
#include "drain/destination_activity.h"
#include "metrics/label_renderer.h"
#include "metrics/self_metrics.h"
#include "metrics/series_store.h"
#include "probes/connect_source.h"

namespace tcpconnect {

// Which drain runs: the drain loop's periodic one (at most one per drain interval), or
// one a scrape asked for in between. Work whose result may trail the counts by up to an
// interval (DNS attribution's walk of the destinations' activity) is done in periodic drains
// only, so that a scrape waits for the connect counts alone.
enum class DrainKind { kPeriodic, kScrape };

// A connect longer in flight than this has had its outcome missed (a SYN_SENT socket
// gives up after about 2 minutes with the default retries).
inline constexpr std::chrono::minutes kOutcomeMaxWait{10};

using ConnectKeyHash = KernelKeyHash<tc_connect_key>;
using ConnectKeyEq = KernelKeyEq<tc_connect_key>;

class Drain {
 public:
  Drain(ConnectSource& source, std::shared_ptr<SeriesStore> store, LabelsConfig labels,
        DestinationNamer namer = {});

  // Folds everything the kernel counted since the previous call. On error nothing of
  // the failed map is folded; the next drain folds it (the kernel keeps counting).
  Status run_once(DrainKind kind = DrainKind::kPeriodic);
  // The kernel error counters as of the last drain.
  const ErrorCounts& kernel_errors() const { return errors_; }
  // Runs first in every drain, before any kernel count is read, told which drain it is:
  // the DNS layer consumes its ring there, so that an answer is in the cache before the
  // connect it enabled is named (and attributes connects in periodic drains).
  void set_before_read(std::function<void(DrainKind)> hook) { before_read_ = std::move(hook); }
  // Runs in every drain once the connect counts are folded (the destinations' activity
  // included), before the in-flight gauge: DNS attribution reads that activity there.
  void set_after_fold(std::function<void(DrainKind)> hook) { after_fold_ = std::move(hook); }

  // Whether a connect's destination (its namespace, as the namer takes it) is an
  // address DNS no longer gives (DnsLayer::is_stale). Its connect attempts that grew in
  // a drain are counted in the store's stale series when it says so at that drain.
  using StaleChecker =
      std::function<bool(uint64_t netns, uint16_t family, const uint8_t (&addr)[16])>;
  void set_stale_checker(StaleChecker stale) {
    std::lock_guard<std::mutex> lock(mu_);
    stale_ = std::move(stale);
  }

  // The label values of a connect key under the kept labels (exposed for tests).
  LabelValues connect_labels(const tc_connect_key& key) const;

  // Applies labels and the allowlist: tells the kernel which key fields to fill, and,
  // when the labels changed, re-folds the store from the kernel's cumulative counts
  // (as of a drain made first, under the old labels) with the new labels. Series whose
  // label set exists before and after keep their value (a counter never goes back or
  // jumps); label sets that appear start at their re-folded cumulative value; those
  // that no longer occur disappear. With other label names every label set is new. An
  // allowlist change alone applies to what is counted from now on. Call once at start.
  Status configure(const LabelsConfig& labels, const AllowlistConfig& allowlist);
  // Whether the kernel keys connects with their network namespace (DNS names scoped to
  // it: TC_KEY_NETNS). Set before configure().
  void set_key_netns(bool on) { key_netns_ = on; }
  // The unit label of a cgroup id; begin_round runs once per drain before any key is
  // named (CgroupUnits::begin_round).
  void set_unit_namer(UnitNamer units, std::function<void()> begin_round = {});
  // The Kubernetes names of a cgroup id (namespace, pod, container labels and the pod
  // filters); begin_round as for units.
  void set_pod_namer(PodNamer pods, std::function<void()> begin_round = {});
  // The namespace and pod lists of `filters` (FiltersConfig::counts_pod): connects of
  // other pods are not folded, which keeps the counts of every folded series exact (the
  // kernel keys connects by cgroup while any list is set). Applies to what is folded from
  // now on, and to re-folds, latency histograms included.
  Status set_pod_filters(const FiltersConfig& filters);
  FiltersConfig pod_filters() const {
    std::lock_guard<std::mutex> lock(mu_);
    return pod_filters_;
  }
  // Series and kernel keys that did not grow for this long are removed (0: never). A
  // kernel key is deleted together with a read of its final value, which is folded.
  void set_idle_expiry(std::chrono::milliseconds idle);
  // Attempts the kernel handed back instead of counting them (the stash sweep settles
  // attempts deferred for their local port): folded into the store at once.
  void add_settled_attempts(const std::vector<tc_connect_key>& keys);
  // The clock of growth times and expiry (tests replace it).
  void set_clock(std::function<SteadyTime()> clock) { clock_ = std::move(clock); }

  struct ExpiryStats {
    uint64_t connect_keys_deleted = 0;
    uint64_t delete_errors = 0;
  };
  ExpiryStats expiry_stats() const;
  // Kernel keys the drain tracks (what the connect map holds).
  size_t tracked_keys() const;

  // Each destination's activity, folded from the connect keys when enabled (the DNS
  // layer's attribution reads it).
  void set_track_destinations(bool on) {
    std::lock_guard<std::mutex> lock(mu_);
    track_destinations_ = on;
  }
  DestinationActivity& destinations() { return destinations_; }

  // Connects whose outcome was missed, by every drain so far: with in-flight counts
  // (ConnectSource::in_flight_from_counts), attempts of a key that did not grow for
  // kOutcomeMaxWait and still lacked their outcomes, which leave the in-flight gauge.
  uint64_t outcomes_written_off() const {
    std::lock_guard<std::mutex> lock(mu_);
    return outcomes_written_off_;
  }

 private:
  template <typename V>
  struct Tracked {
    V value{};
    SteadyTime grown{};
  };
  using ConnectState = WalkedMap<tc_connect_key, Tracked<tc_connect_counts>>;
  using KeyCounts = std::unordered_map<tc_connect_key, uint64_t, ConnectKeyHash, ConnectKeyEq>;

  Status run_locked(DrainKind kind);
  Status drain_connects(SteadyTime now);
  Status drain_in_flight(SteadyTime now);
  void in_flight_from_counts(SteadyTime now,
                             std::unordered_map<LabelValues, uint64_t, LabelValuesHash>& by_labels);
  Status drain_errors();
  void fold_connect(const tc_connect_key& key, const tc_connect_counts& delta, SteadyTime now);
  void expire(SteadyTime now);
  SeriesStore::Contents refold() const;
  bool counted(const tc_connect_key& key) const;
  uint32_t key_fields(const LabelsConfig& labels, const AllowlistConfig& allowlist) const;
  std::string name_of(uint64_t netns, uint16_t family, const uint8_t (&addr)[16]) const;

  mutable std::mutex mu_;  // run_once, configure, add_settled_attempts
  ConnectSource& source_;
  std::shared_ptr<SeriesStore> store_;
  LabelRenderer renderer_;
  AllowlistConfig allowlist_;
  DestinationNamer namer_;
  StaleChecker stale_;
  UnitNamer units_;
  std::function<void()> units_round_;
  PodNamer pods_;
  std::function<void()> pods_round_;
  FiltersConfig pod_filters_;
  std::function<void(DrainKind)> before_read_;
  std::function<void(DrainKind)> after_fold_;
  std::function<SteadyTime()> clock_ = [] { return std::chrono::steady_clock::now(); };
  std::chrono::milliseconds idle_expiry_{0};
  bool configured_ = false;
  bool key_netns_ = false;
  // Updated in place by every walk (bpf/walked_map.h: no copy of the state and, while
  // the map does not change, no hash lookup per key and drain); after a complete walk,
  // keys it did not return are gone from the kernel and are dropped.
  ConnectState connects_;
  // Attempts settled by the sweep, per key: not in any kernel map, so kept for re-folds.
  KeyCounts settled_;
  // Per key, what its attempts less its outcomes are off from what is in flight:
  // attempts written off as missed (outcomes_written_off), less outcomes whose attempt
  // was never counted.
  std::unordered_map<tc_connect_key, int64_t, ConnectKeyHash, ConnectKeyEq> in_flight_offset_;
  uint64_t outcomes_written_off_ = 0;
  bool in_flight_from_counts_ = false;
  bool track_destinations_ = false;
  DestinationActivity destinations_;
  ErrorCounts errors_{};
  ExpiryStats expiry_;
};

}  // namespace tcpconnect
