// Matches each destination's connect activity since the previous run (the drain's
// DestinationActivity) against the DNS cache, once per periodic drain, after the counts
// are folded:
// - metric::kDnsAttributions{result}: connects whose destination had a name
//   (hit: an answer, or "localhost" for loopback) or none (miss), by connect count;
// - metric::kDnsConnectDelay: for each destination connected to since the
//   previous drain and named by an answer, the time from that answer to the latest of
//   those connects (one observation per destination and drain: the kernel keeps a
//   last-connect time per connect key, not one per connect). An immediate
//   resolve-then-connect observes microseconds; a connect long after the answer (a
//   pooled connection, a long-lived cache in the application) observes its age, which
//   is what the seed tool's "> 100 ms" note warned about: the name may be stale.
#pragma once

#include <linux/types.h>

#include <array>
#include <atomic>
#include <cstdint>
#include <functional>
#include <chrono>

#include "bpf/walked_map.h"
#include "dns/dns_cache.h"
#include "shared/connect.h"
#include "util/result.h"

namespace tcpconnect {

// Visits each destination's activity since the previous read, once
// (DestinationActivity::take).
using DestinationVisitor = std::function<void(const tc_latency_key&, const tc_dest_activity&)>;
using DestinationReader = std::function<Status(const DestinationVisitor&)>;

// Upper bounds (seconds) of the delay buckets; one more holds +Inf. 100 ms is one.
inline constexpr std::array<double, 18> kDnsDelayBounds = {
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
    0.1,    0.25,    0.5,    1,     5,      30,    300,  3600,  86400};

struct DnsDelayHistogram {
  std::array<std::atomic<uint64_t>, kDnsDelayBounds.size() + 1> buckets{};  // not cumulative
  std::atomic<uint64_t> count{0};
  std::atomic<uint64_t> sum_ns{0};

  void observe(uint64_t ns);
};

class DnsAttribution {
 public:
  DnsAttribution(DnsCache& cache, DestinationReader reader)
      : cache_(cache), reader_(std::move(reader)) {}

  // Attributes the activity since the previous run.
  Status run(uint64_t now_ns);

  uint64_t hits() const { return hits_.load(std::memory_order_relaxed); }
  uint64_t misses() const { return misses_.load(std::memory_order_relaxed); }
  const DnsDelayHistogram& delay() const { return delay_; }

 private:
  DnsCache& cache_;
  DestinationReader reader_;
  std::atomic<uint64_t> hits_{0};
  std::atomic<uint64_t> misses_{0};
  DnsDelayHistogram delay_;
};

}  // namespace tcpconnect
