// How a kernel connect key reads as label values under a LabelsConfig: the kept labels
// in canonical order, destinations without a DNS name bucketed into networks, ephemeral
// destination ports collapsed, the cgroup turned into a unit name and a pod's names. A
// field the kernel did not fill for this key (tc_connect_key.fields: the key was made
// under other labels) reads as "". Every value is safe text (util/safe_text.h): what
// comes from a process, a cgroup or a DNS answer is made so here.
#pragma once

#include <linux/types.h>

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "config/config.h"
#include "metrics/series_store.h"
#include "shared/connect.h"

namespace tcpconnect {

// Names a destination address ("" when unknown). Filled in by the DNS layer.
// The DNS name of a destination connected to from a network namespace (0: the host-wide
// scope; see TC_KEY_NETNS).
using DestinationNamer =
    std::function<std::string(uint64_t netns, uint16_t family, const uint8_t (&addr)[16])>;
// The unit label of a cgroup id ("" when unknown).
using UnitNamer = std::function<std::string(uint64_t cgroup_id)>;
// The Kubernetes names of a cgroup id's process: all "" outside pods and when unknown.
struct PodLabels {
  std::string namespace_name;
  std::string pod;
  std::string container;
};
using PodNamer = std::function<PodLabels(uint64_t cgroup_id)>;

inline constexpr std::string_view kEphemeralPortValue = "ephemeral";

class LabelRenderer {
 public:
  explicit LabelRenderer(LabelsConfig labels, DestinationNamer namer = {}, UnitNamer units = {},
                         PodNamer pods = {});

  const LabelsConfig& config() const { return labels_; }
  // The names of the kept labels, in the order of the values.
  std::vector<std::string> label_names() const;

  // The DNS name of a destination ("" without a namer).
  std::string name_of(uint64_t netns, uint16_t family, const uint8_t (&addr)[16]) const;
  // dns_name is name_of(key.family, key.daddr), passed in when the caller has it.
  LabelValues connect_labels(const tc_connect_key& key, const std::string& dns_name) const;
  LabelValues connect_labels(const tc_connect_key& key) const;
  // {dns_name, daddr} of the latency histogram: daddr only when kept and unnamed.
  LabelValues latency_labels(uint16_t family, const uint8_t (&daddr)[16],
                             const std::string& dns_name) const;

  // "10.1.2.3", or "10.1.2.0/24" when unnamed and bucketed.
  std::string daddr_value(uint16_t family, const uint8_t (&addr)[16],
                          const std::string& dns_name) const;
  // "443", or "ephemeral".
  std::string dport_value(uint16_t port) const;

  void set_namer(DestinationNamer namer) { namer_ = std::move(namer); }
  void set_units(UnitNamer units) { units_ = std::move(units); }
  void set_pods(PodNamer pods) { pods_ = std::move(pods); }
  // The pod of a key ("" names without a pod namer or without the key's cgroup).
  PodLabels pod_of(const tc_connect_key& key) const;
  // Whether a kept label needs the pod namer.
  bool keeps_pod_labels() const;

 private:
  LabelsConfig labels_;
  DestinationNamer namer_;
  UnitNamer units_;
  PodNamer pods_;
};

// The key fields (TC_KEY_*) the kernel must fill for these labels: only what is kept,
// so that dropped labels aggregate in the kernel map. dport stays while an allowlist
// needs it.
// `netns`: DNS names are scoped to network namespaces, so keys keep the connect's.
// `cgroup`: keys keep the connect's cgroup whatever the labels (filters on pods need it).
uint32_t kernel_key_fields(const LabelsConfig& labels, const AllowlistConfig& allowlist,
                           bool netns = false, bool cgroup = false);

// "10.1.2.0/24" for an address and a prefix length (the full width: the address).
std::string format_network(uint16_t family, const uint8_t (&addr)[16], unsigned prefix_len);

}  // namespace tcpconnect
