// What the config's types do beyond holding values: their names, and matching a connect
// against networks, ports and name globs.
#include <algorithm>
#include <cstring>

#include "config/config.h"
#include "config/enum_names.h"
#include "config/networks.h"
#include "config/text.h"

namespace tcpconnect {

namespace {

using config_detail::to_lower;

template <typename E, size_t N>
std::string_view name_of(E value, const std::array<std::string_view, N>& names) {
  const auto index = static_cast<size_t>(value);
  return index < names.size() ? names[index] : "unknown";
}

// "*" matches any run of characters. The pattern is lower-case (check_name_pattern); the
// name may not be. Backtracks only to the last star, so it is O(pattern * name) at worst.
bool glob_match(std::string_view pattern, std::string_view name) {
  size_t p = 0;
  size_t n = 0;
  size_t star = std::string_view::npos;
  size_t resume = 0;
  while (n < name.size()) {
    if (p < pattern.size() && pattern[p] == '*') {
      star = p++;
      resume = n;
    } else if (p < pattern.size() && pattern[p] == to_lower(name[n])) {
      ++p;
      ++n;
    } else if (star != std::string_view::npos) {
      p = star + 1;
      n = ++resume;
    } else {
      return false;
    }
  }
  while (p < pattern.size() && pattern[p] == '*') ++p;
  return p == pattern.size();
}

}  // namespace

std::string_view to_string(ProbeBackend backend) {
  return name_of(backend, config_detail::kBackendNames);
}

std::string_view to_string(Label label) { return name_of(label, config_detail::kLabelNames); }

std::string_view to_string(Family family) { return name_of(family, config_detail::kFamilyNames); }

std::string_view to_string(TlsVersion version) {
  return name_of(version, config_detail::kTlsVersionNames);
}

std::string_view to_string(DnsCapture capture) {
  return name_of(capture, config_detail::kCaptureNames);
}

std::string_view to_string(DnsScope scope) { return name_of(scope, config_detail::kDnsScopeNames); }

bool Cidr::contains(Family f, const uint8_t* addr16) const {
  if (f != family) return false;
  const size_t bits = std::min<size_t>(prefix_len, config_detail::family_bits(family));
  const size_t whole = bits / 8;
  if (std::memcmp(addr.data(), addr16, whole) != 0) return false;
  if (bits % 8 == 0) return true;
  const auto mask = static_cast<uint8_t>(0xff00u >> (bits % 8));
  return (addr[whole] & mask) == (addr16[whole] & mask);
}

bool LabelsConfig::has(Label label) const {
  return std::find(keep.begin(), keep.end(), label) != keep.end();
}

bool FiltersConfig::empty() const {
  return pids.empty() && uids.empty() && ports.empty() && families.empty() && cgroups.empty() &&
         cgroupmap.empty() && mntnsmap.empty() && comms.empty() && include_cidrs.empty() &&
         exclude_cidrs.empty() && !filters_pods();
}

bool FiltersConfig::filters_pods() const {
  return !namespaces.empty() || !exclude_namespaces.empty() || !pods.empty() ||
         !exclude_pods.empty();
}

bool FiltersConfig::counts_pod(std::string_view namespace_name, std::string_view pod) const {
  auto any = [](const std::vector<std::string>& globs, std::string_view name) {
    return std::any_of(globs.begin(), globs.end(),
                       [&](const std::string& glob) { return glob_match(glob, name); });
  };
  if (!namespaces.empty() && !any(namespaces, namespace_name)) return false;
  if (any(exclude_namespaces, namespace_name)) return false;
  if (!pods.empty() && !any(pods, pod)) return false;
  return !any(exclude_pods, pod);
}

bool AllowRule::matches(Family f, const uint8_t* daddr16, uint16_t dport,
                        std::string_view dns_name) const {
  if (cidr && !cidr->contains(f, daddr16)) return false;
  if (!ports.empty() && std::none_of(ports.begin(), ports.end(), [&](const PortRange& range) {
        return range.contains(dport);
      })) {
    return false;
  }
  if (!name.empty()) {
    if (!dns_name.empty() && dns_name.back() == '.') dns_name.remove_suffix(1);
    if (dns_name.empty() || !glob_match(name, dns_name)) return false;
  }
  return true;
}

bool AllowlistConfig::allows(Family f, const uint8_t* daddr16, uint16_t dport,
                             std::string_view dns_name) const {
  if (!enabled) return true;
  return std::any_of(rules.begin(), rules.end(), [&](const AllowRule& rule) {
    return rule.matches(f, daddr16, dport, dns_name);
  });
}

bool Config::operator==(const Config& other) const {
  return web == other.web && probes == other.probes && labels == other.labels &&
         limits == other.limits && filters == other.filters && dns == other.dns &&
         allowlist == other.allowlist && kubernetes == other.kubernetes;
}

}  // namespace tcpconnect
