// One drain: read the kernel's cumulative counts, take the growth since the previous
// drain, turn keys into label values and fold them into the series store. Counts stay
// exact because the kernel only ever adds: nothing is reset or read-and-cleared.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <unordered_map>

#include "config/config.h"
#include "metrics/self_metrics.h"
#include "metrics/series_store.h"
#include "probes/connect_source.h"

namespace tcpconnect {

// Names a destination address ("" when unknown). Filled in by the DNS layer.
using DestinationNamer = std::function<std::string(uint16_t family, const uint8_t (&addr)[16])>;

struct ConnectKeyHash {
  size_t operator()(const tc_connect_key& k) const noexcept;
};
struct ConnectKeyEq {
  bool operator()(const tc_connect_key& a, const tc_connect_key& b) const noexcept;
};
struct LatencyKeyHash {
  size_t operator()(const tc_latency_key& k) const noexcept;
};
struct LatencyKeyEq {
  bool operator()(const tc_latency_key& a, const tc_latency_key& b) const noexcept;
};

class Drain {
 public:
  Drain(ConnectSource& source, std::shared_ptr<SeriesStore> store, LabelsConfig labels,
        DestinationNamer namer = {});

  // Folds everything the kernel counted since the previous call. On error nothing of
  // the failed map is folded; the next drain folds it (the kernel keeps counting).
  Status run_once();
  // The kernel error counters as of the last drain.
  const ErrorCounts& kernel_errors() const { return errors_; }
  // Runs first in every drain, before any kernel count is read: the DNS layer consumes
  // its ring there, so that an answer is in the cache before the connect it enabled is
  // named.
  void set_before_read(std::function<void()> hook) { before_read_ = std::move(hook); }

  // The label values of a connect key under the kept labels (exposed for tests).
  LabelValues connect_labels(const tc_connect_key& key) const;

 private:
  Status drain_connects();
  Status drain_latency();
  Status drain_errors();
  std::string name_of(uint16_t family, const uint8_t (&addr)[16]) const;

  ConnectSource& source_;
  std::shared_ptr<SeriesStore> store_;
  LabelsConfig labels_;
  DestinationNamer namer_;
  std::function<void()> before_read_;
  std::unordered_map<tc_connect_key, tc_connect_counts, ConnectKeyHash, ConnectKeyEq> connects_;
  std::unordered_map<tc_latency_key, tc_latency_hist, LatencyKeyHash, LatencyKeyEq> latency_;
  ErrorCounts errors_{};
};

}  // namespace tcpconnect
