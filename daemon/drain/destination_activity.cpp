#include "drain/destination_activity.h"

#include <algorithm>
#include <cstring>

namespace tcpconnect {

tc_latency_key DestinationActivity::destination_of(const tc_connect_key& key) {
  tc_latency_key d{};
  std::memcpy(d.daddr, key.daddr, sizeof(d.daddr));
  d.family = key.family;
  d.netns = key.netns;
  return d;
}

void DestinationActivity::add(const tc_connect_key& key, uint64_t connects,
                              uint64_t last_connect_ns) {
  std::lock_guard<std::mutex> lock(mu_);
  tc_dest_activity& a = by_destination_[destination_of(key)];
  a.connects += connects;
  a.last_connect_ns = std::max<uint64_t>(a.last_connect_ns, last_connect_ns);
}

Status DestinationActivity::take(const Visitor& visit) {
  decltype(by_destination_) taken;
  {
    std::lock_guard<std::mutex> lock(mu_);
    taken.swap(by_destination_);
  }
  for (const auto& [key, activity] : taken) visit(key, activity);
  return Ok{};
}

size_t DestinationActivity::size() const {
  std::lock_guard<std::mutex> lock(mu_);
  return by_destination_.size();
}

}  // namespace tcpconnect
