// Each destination's connect activity (count and latest attempt), for the DNS layer's
// attribution metrics (DnsAttribution). The kernel keeps the latest attempt in every
// connect key's value; the drain folds each key's growth in here by destination (address,
// family and network namespace as the key holds them), so that the kernel spends no map
// operation of its own on destinations. Counts only grow: a connect key the drain expires
// leaves what it folded here.
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
  // Every destination's cumulative activity.
  Status visit(const Visitor& visit) const;
  // Forgets a destination (an idle one: DnsAttribution::set_forgetter); its next attempt
  // starts it again from zero.
  Status forget(const tc_latency_key& key);
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
