// Renders the series store as Prometheus metric families. Runs on the scrape path:
// it only reads the store (no BPF syscalls), taking one shard lock at a time.
// tcpconnect_unexpected_connects_total is rendered only while an allowlist is set.
// The HTTP path renders the same text without ClientMetrics (metrics/text_renderer, much
// cheaper at 100k series); this is its reference: tests/unit/text_renderer_test.cpp
// checks that both write the same bytes.
#pragma once

#include <prometheus/collectable.h>
#include <prometheus/metric_family.h>

#include <memory>
#include <string>
#include <vector>

#include "metrics/series_store.h"

namespace tcpconnect {

class ConnectCollector final : public prometheus::Collectable {
 public:
  // label_names: names of the kept connect labels, in the store's order, used until the
  // store carries its own (SeriesStore::label_names, set by Drain::configure).
  ConnectCollector(std::shared_ptr<const SeriesStore> store, std::vector<std::string> label_names);

  std::vector<prometheus::MetricFamily> Collect() const override;

 private:
  std::shared_ptr<const SeriesStore> store_;
  std::vector<std::string> label_names_;
};

// Names of the latency histogram's labels, the order add_latency expects.
inline const std::vector<std::string> kLatencyLabelNames = {"dns_name", "daddr"};

}  // namespace tcpconnect
