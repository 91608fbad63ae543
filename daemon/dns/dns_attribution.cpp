#include "dns/dns_attribution.h"

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
  std::unordered_map<Key, tc_dest_activity, KeyHash> seen;
  std::vector<tc_latency_key> idle;
  seen.reserve(previous_.size());
  Status s = reader_([&](const tc_latency_key& k, const tc_dest_activity& now) {
    Key key{k.family, {}};
    std::memcpy(key.addr.data(), k.daddr, sizeof(k.daddr));
    const tc_dest_activity* before = nullptr;
    if (auto it = seen.find(key); it != seen.end())
      before = &it->second;  // returned twice by one walk
    else if (auto it2 = previous_.find(key); it2 != previous_.end())
      before = &it2->second;
    // Below the previous read: the entry was deleted and made anew, all of it is new.
    const uint64_t grown =
        before && now.connects >= before->connects ? now.connects - before->connects : now.connects;
    const bool newer = !before || now.last_connect_ns > before->last_connect_ns;
    seen.insert_or_assign(key, now);
    if (grown == 0) {
      if (forget_ && idle_ns_ > 0 && now_ns > now.last_connect_ns &&
          now_ns - now.last_connect_ns > idle_ns_)
        idle.push_back(k);
      return;
    }

    auto answer = cache_.lookup(key.family, key.addr, now_ns);
    if (answer || is_loopback(key.family, key.addr))
      hits_.fetch_add(grown, std::memory_order_relaxed);
    else
      misses_.fetch_add(grown, std::memory_order_relaxed);
    // An answer newer than the latest connect did not enable it (the address was
    // re-resolved since): no delay to observe.
    if (answer && newer && answer->response_ns <= now.last_connect_ns)
      delay_.observe(now.last_connect_ns - answer->response_ns);
  });
  if (s.ok()) {
    for (const tc_latency_key& k : idle) {
      if (!forget_(k).ok()) continue;  // kept: tried again at the next run
      Key key{k.family, {}};
      std::memcpy(key.addr.data(), k.daddr, sizeof(k.daddr));
      seen.erase(key);
      forgotten_.fetch_add(1, std::memory_order_relaxed);
    }
    previous_ = std::move(seen);
  } else {
    for (auto& [k, v] : seen) previous_.insert_or_assign(k, v);
  }
  return s;
}

}  // namespace tcpconnect
