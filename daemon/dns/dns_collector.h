// The DNS layer's metrics (metric::kDns* in metrics/metric_families.h), rendered from the DNS
// layer's atomic counters: no lock held for long, no syscall, so a scrape never waits on the
// capture or the drain.
#pragma once

#include <prometheus/collectable.h>
#include <prometheus/metric_family.h>

#include <memory>
#include <vector>

namespace tcpconnect {

struct DnsLayerState;

class DnsCollector final : public prometheus::Collectable {
 public:
  explicit DnsCollector(std::shared_ptr<const DnsLayerState> state) : state_(std::move(state)) {}
  std::vector<prometheus::MetricFamily> Collect() const override;

 private:
  std::shared_ptr<const DnsLayerState> state_;
};

// The capture info family with method="none": dns.enabled, but no capture could start.
std::shared_ptr<prometheus::Collectable> dns_capture_unavailable_collector();

}  // namespace tcpconnect
