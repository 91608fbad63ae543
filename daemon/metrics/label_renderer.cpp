#include "metrics/label_renderer.h"

#include <algorithm>
#include <cstring>

#include "metrics/labels.h"
#include "util/safe_text.h"

namespace tcpconnect {

LabelRenderer::LabelRenderer(LabelsConfig labels, DestinationNamer namer, UnitNamer units,
                             PodNamer pods)
    : labels_(std::move(labels)),
      namer_(std::move(namer)),
      units_(std::move(units)),
      pods_(std::move(pods)) {}

PodLabels LabelRenderer::pod_of(const tc_connect_key& key) const {
  if (!(key.fields & TC_KEY_CGROUP) || !pods_) return {};
  return pods_(key.cgroup_id);
}

bool LabelRenderer::keeps_pod_labels() const {
  return labels_.has(Label::kNamespace) || labels_.has(Label::kPod) ||
         labels_.has(Label::kContainer);
}

std::vector<std::string> LabelRenderer::label_names() const {
  std::vector<std::string> out;
  for (Label l : labels_.keep) out.emplace_back(to_string(l));
  return out;
}

std::string LabelRenderer::name_of(uint64_t netns, uint16_t family,
                                   const uint8_t (&addr)[16]) const {
  return namer_ ? namer_(netns, family, addr) : std::string();
}

std::string format_network(uint16_t family, const uint8_t (&addr)[16], unsigned prefix_len) {
  const unsigned width = family == TC_AF_INET ? 32 : 128;
  if (prefix_len >= width) return format_address(family, addr);
  uint8_t net[16] = {};
  for (unsigned i = 0; i < width / 8; ++i) {
    const unsigned bits = prefix_len > i * 8 ? std::min(prefix_len - i * 8, 8u) : 0;
    net[i] = static_cast<uint8_t>(addr[i] & static_cast<uint8_t>(0xff00u >> bits));
  }
  return format_address(family, net) + "/" + std::to_string(prefix_len);
}

std::string LabelRenderer::daddr_value(uint16_t family, const uint8_t (&addr)[16],
                                       const std::string& dns_name) const {
  if (!dns_name.empty()) return format_address(family, addr);
  return format_network(family, addr,
                        family == TC_AF_INET ? labels_.daddr_prefix_v4 : labels_.daddr_prefix_v6);
}

std::string LabelRenderer::dport_value(uint16_t port) const {
  if (labels_.collapse_ephemeral_dports && port >= labels_.ephemeral_port_min)
    return std::string(kEphemeralPortValue);
  return std::to_string(port);
}

LabelValues LabelRenderer::connect_labels(const tc_connect_key& key) const {
  return connect_labels(key, name_of(key.netns, key.family, key.daddr));
}

LabelValues LabelRenderer::connect_labels(const tc_connect_key& key,
                                          const std::string& dns_name) const {
  auto filled = [&](uint32_t field) { return (key.fields & field) != 0; };
  LabelValues out;
  out.reserve(labels_.keep.size());
  const PodLabels pod = keeps_pod_labels() ? pod_of(key) : PodLabels{};
  // Values this renderer did not format itself (comm, unit, dns_name) are made safe
  // here, where they become label values: equal safe values make one series.
  auto push_safe = [&](std::string value) {
    make_safe_text(value);
    out.push_back(std::move(value));
  };
  for (Label l : labels_.keep) {
    switch (l) {
      case Label::kFamily:
        out.emplace_back(family_name(key.family));
        break;
      case Label::kSaddr:
        out.push_back(filled(TC_KEY_NO_SADDR) ? std::string()
                                              : format_address(key.family, key.saddr));
        break;
      case Label::kDaddr:
        out.push_back(daddr_value(key.family, key.daddr, dns_name));
        break;
      case Label::kDport:
        out.push_back(filled(TC_KEY_NO_DPORT) ? std::string() : dport_value(key.dport));
        break;
      case Label::kDnsName:
        push_safe(dns_name);
        break;
      case Label::kUid:
        out.push_back(filled(TC_KEY_UID) ? std::to_string(key.uid) : std::string());
        break;
      case Label::kComm:
        push_safe(filled(TC_KEY_COMM) ? std::string(key.comm, strnlen(key.comm, sizeof(key.comm)))
                                      : std::string());
        break;
      case Label::kUnit:
        push_safe(filled(TC_KEY_CGROUP) && units_ ? units_(key.cgroup_id) : std::string());
        break;
      case Label::kLport:
        out.push_back(filled(TC_KEY_LPORT) ? std::to_string(key.lport) : std::string());
        break;
      case Label::kPid:
        out.push_back(filled(TC_KEY_TGID) ? std::to_string(key.tgid) : std::string());
        break;
      case Label::kNamespace:
        push_safe(pod.namespace_name);
        break;
      case Label::kPod:
        push_safe(pod.pod);
        break;
      case Label::kContainer:
        push_safe(pod.container);
        break;
    }
  }
  return out;
}

LabelValues LabelRenderer::latency_labels(uint16_t family, const uint8_t (&daddr)[16],
                                          const std::string& dns_name) const {
  std::string name = labels_.has(Label::kDnsName) ? safe_text(dns_name) : std::string();
  std::string addr = name.empty() && labels_.has(Label::kDaddr)
                         ? daddr_value(family, daddr, dns_name)
                         : std::string();
  return {std::move(name), std::move(addr)};
}

uint32_t kernel_key_fields(const LabelsConfig& labels, const AllowlistConfig& allowlist, bool netns,
                           bool cgroup) {
  uint32_t f = netns ? TC_KEY_NETNS : 0;
  if (labels.has(Label::kUid)) f |= TC_KEY_UID;
  if (labels.has(Label::kPid)) f |= TC_KEY_TGID;
  if (cgroup || labels.has(Label::kUnit) || labels.has(Label::kNamespace) ||
      labels.has(Label::kPod) || labels.has(Label::kContainer))
    f |= TC_KEY_CGROUP;
  if (labels.has(Label::kComm)) f |= TC_KEY_COMM;
  if (labels.has(Label::kLport)) f |= TC_KEY_LPORT;
  if (!labels.has(Label::kSaddr)) f |= TC_KEY_NO_SADDR;
  if (!labels.has(Label::kDport) && !allowlist.enabled) f |= TC_KEY_NO_DPORT;
  return f;
}

}  // namespace tcpconnect
