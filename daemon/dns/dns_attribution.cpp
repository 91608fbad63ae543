#include "dns/dns_attribution.h"

#include <array>
#include <cstring>
#include <vector>

namespace tcpconnect {

void DnsDelayHistogram::observe(uint64_t ns) {
  const double s = static_cast<double>(ns) / 1e9;
  size_t i = 0;
  while (i < kDnsDelayBounds.size() && s > kDnsDelayBounds[i]) ++i;
  buckets[i].fetch_add(1, std::memory_order_relaxed);
  sum_ns.fetch_add(ns, std::memory_order_relaxed);
  count.fetch_add(1, std::memory_order_relaxed);
}

Status DnsAttribution::run(uint64_t now_ns) {
  if (!reader_) return Ok{};
  return reader_([&](const tc_latency_key& key, const tc_dest_activity& grown) {
    if (grown.connects == 0) return;
    std::array<uint8_t, 16> addr;
    std::memcpy(addr.data(), key.daddr, sizeof(key.daddr));
    auto answer = cache_.lookup(key.family, addr, now_ns, key.netns);
    if (answer || is_loopback(key.family, addr))
      hits_.fetch_add(grown.connects, std::memory_order_relaxed);
    else
      misses_.fetch_add(grown.connects, std::memory_order_relaxed);
    // An answer newer than the latest connect did not enable it (the address was
    // re-resolved since): no delay to observe.
    if (answer && answer->response_ns <= grown.last_connect_ns)
      delay_.observe(grown.last_connect_ns - answer->response_ns);
  });
}

}  // namespace tcpconnect
