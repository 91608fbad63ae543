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

void DnsAttribution::set_forgetter(DestinationForgetter forget, std::chrono::nanoseconds idle) {
  forget_ = std::move(forget);
  idle_ns_ = idle.count() > 0 ? static_cast<uint64_t>(idle.count()) : 0;
}

Status DnsAttribution::run(uint64_t now_ns) {
  if (!reader_) return Ok{};
  std::vector<tc_latency_key> idle;
  previous_.begin_walk();
  Status s = reader_([&](const tc_latency_key& key, const tc_dest_activity& now) {
    // A key returned twice by one walk finds what its first visit left.
    bool first_sight = false;
    tc_dest_activity& before = previous_.visit(key, &first_sight);
    // Below the previous read: the entry was deleted and made anew, all of it is new.
    const uint64_t grown = !first_sight && now.connects >= before.connects
                               ? now.connects - before.connects
                               : now.connects;
    const bool newer = first_sight || now.last_connect_ns > before.last_connect_ns;
    before = now;
    if (grown == 0) {
      if (forget_ && idle_ns_ > 0 && now_ns > now.last_connect_ns &&
          now_ns - now.last_connect_ns > idle_ns_)
        idle.push_back(key);
      return;
    }

    std::array<uint8_t, 16> addr;
    std::memcpy(addr.data(), key.daddr, sizeof(key.daddr));
    auto answer = cache_.lookup(key.family, addr, now_ns, key.netns);
    if (answer || is_loopback(key.family, addr))
      hits_.fetch_add(grown, std::memory_order_relaxed);
    else
      misses_.fetch_add(grown, std::memory_order_relaxed);
    // An answer newer than the latest connect did not enable it (the address was
    // re-resolved since): no delay to observe.
    if (answer && newer && answer->response_ns <= now.last_connect_ns)
      delay_.observe(now.last_connect_ns - answer->response_ns);
  });
  // After a failed walk, what it did not reach keeps its previous read.
  previous_.end_walk(s.ok());
  if (s.ok()) {
    for (const tc_latency_key& key : idle) {
      if (!forget_(key).ok()) continue;  // kept: tried again at the next run
      previous_.erase(key);
      forgotten_.fetch_add(1, std::memory_order_relaxed);
    }
  }
  return s;
}

}  // namespace tcpconnect
