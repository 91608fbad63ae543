// Each destination's connect activity (attempts and the latest one's time) since the DNS
// layer's attribution last took it (DnsAttribution). The kernel keeps the latest attempt
// in every connect key's value; the drain adds each key's growth in here by destination
// (address, family and network namespace as the key holds them), so that the kernel
// spends no map operation of its own on destinations. Holds only what grew since the
// last take: at most the destinations of the connect keys folded in between, whatever
// the traffic before.
#pragma once

#include <linux/types.h>

#include <cstdint>
#include <functional>
#include <mutex>
#include <unordered_map>

#include "bpf/walked_map.h"
#include "shared/connect.h"
#include "util/result.h"

namespace tcpconnect {

class DestinationActivity {
 public:
  using Visitor = std::function<void(const tc_latency_key&, const tc_dest_activity&)>;

  // `connects` more attempts to the destination of `key`, the latest at last_connect_ns.
  void add(const tc_connect_key& key, uint64_t connects, uint64_t last_connect_ns);
  // Visits each destination's activity since the previous take, and starts over empty.
  Status take(const Visitor& visit);
  size_t size() const;

  // The destination part of a connect key.
  static tc_latency_key destination_of(const tc_connect_key& key);

 private:
  mutable std::mutex mu_;
  std::unordered_map<tc_latency_key, tc_dest_activity, KernelKeyHash<tc_latency_key>,
                     KernelKeyEq<tc_latency_key>>
      by_destination_;
};

}  // namespace tcpconnect
