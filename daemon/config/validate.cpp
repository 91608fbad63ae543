#include "config/validate.h"

#include <algorithm>
#include <functional>
#include <string>
#include <vector>

#include "config/duration.h"
#include "config/enum_names.h"
#include "config/field_checks.h"
#include "config/networks.h"
#include "config/text.h"

namespace tcpconnect {

namespace config_detail {

namespace {

bool is_power_of_two(uint32_t value) { return value != 0 && (value & (value - 1)) == 0; }

// Index of the first item equal to an earlier one. Lists here are short (families, DNS ports).
template <typename T>
std::optional<size_t> first_repeat(const std::vector<T>& items) {
  for (size_t i = 0; i < items.size(); ++i) {
    if (std::find(items.begin(), items.begin() + static_cast<ptrdiff_t>(i), items[i]) !=
        items.begin() + static_cast<ptrdiff_t>(i)) {
      return i;
    }
  }
  return std::nullopt;
}

// Checks every element of a list with `check` (returning a message or nullopt) after its size.
template <typename T, typename Check>
std::optional<ConfigProblem> check_list(std::string_view path, const std::vector<T>& items,
                                        Check check) {
  if (items.size() > kMaxListEntries) {
    return ConfigProblem{std::string(path),
                         count_problem(items.size(), kMaxListEntries, "entries")};
  }
  for (size_t i = 0; i < items.size(); ++i) {
    if (std::optional<std::string> problem = check(items[i])) {
      return ConfigProblem{indexed(path, i), *problem};
    }
  }
  return std::nullopt;
}

std::optional<ConfigProblem> find_labels_problem(const LabelsConfig& labels) {
  const std::vector<Label>& keep = labels.keep;
  // Consumers rely on the order to emit labels canonically.
  if (std::adjacent_find(keep.begin(), keep.end(), std::greater_equal<Label>()) != keep.end()) {
    return ConfigProblem{"labels.keep", "labels must be in the order " +
                                            join(std::vector<std::string_view>(kLabelNames.begin(),
                                                                               kLabelNames.end())) +
                                            ", without duplicates"};
  }
  if (labels.daddr_prefix_v4 > 32) {
    return ConfigProblem{"labels.daddr_prefix_v4",
                         range_problem(std::to_string(labels.daddr_prefix_v4), "0", "32")};
  }
  if (labels.daddr_prefix_v6 > 128) {
    return ConfigProblem{"labels.daddr_prefix_v6",
                         range_problem(std::to_string(labels.daddr_prefix_v6), "0", "128")};
  }
  if (labels.ephemeral_port_min == 0) {
    return ConfigProblem{"labels.ephemeral_port_min", range_problem("0", "1", "65535")};
  }
  return std::nullopt;
}

std::optional<ConfigProblem> find_filters_problem(const FiltersConfig& filters) {
  if (auto problem =
          check_list("filters.pids", filters.pids, [](uint32_t pid) -> std::optional<std::string> {
            if (pid >= 1 && pid <= kMaxPid) return std::nullopt;
            return range_problem(std::to_string(pid), "1", std::to_string(kMaxPid));
          })) {
    return problem;
  }
  if (auto problem =
          check_list("filters.uids", filters.uids, [](uint32_t uid) -> std::optional<std::string> {
            if (uid <= kMaxUid) return std::nullopt;
            return range_problem(std::to_string(uid), "0", std::to_string(kMaxUid));
          })) {
    return problem;
  }
  if (auto problem = check_list("filters.ports", filters.ports, check_port_range)) return problem;
  if (const std::optional<size_t> i = first_repeat(filters.families)) {
    return ConfigProblem{indexed("filters.families", *i),
                         "duplicate family " + quote(to_string(filters.families[*i]))};
  }
  if (auto problem = check_list("filters.cgroups", filters.cgroups, check_cgroup_path)) {
    return problem;
  }
  if (!filters.cgroupmap.empty()) {
    if (auto problem = check_map_path(filters.cgroupmap)) {
      return ConfigProblem{"filters.cgroupmap", *problem};
    }
  }
  if (!filters.mntnsmap.empty()) {
    if (auto problem = check_map_path(filters.mntnsmap)) {
      return ConfigProblem{"filters.mntnsmap", *problem};
    }
  }
  if (auto problem = check_list("filters.comms", filters.comms, check_comm)) {
    return problem;
  }
  if (auto problem = check_list("filters.include_cidrs", filters.include_cidrs, check_cidr)) {
    return problem;
  }
  if (auto problem = check_list("filters.exclude_cidrs", filters.exclude_cidrs, check_cidr)) {
    return problem;
  }
  if (auto problem = check_list("filters.namespaces", filters.namespaces, check_pod_pattern)) {
    return problem;
  }
  if (auto problem =
          check_list("filters.exclude_namespaces", filters.exclude_namespaces, check_pod_pattern)) {
    return problem;
  }
  if (auto problem = check_list("filters.pods", filters.pods, check_pod_pattern)) return problem;
  return check_list("filters.exclude_pods", filters.exclude_pods, check_pod_pattern);
}

std::optional<ConfigProblem> find_kubernetes_problem(const KubernetesConfig& kubernetes) {
  if (auto problem = check_file_path(kubernetes.pod_logs_dir)) {
    return ConfigProblem{"kubernetes.pod_logs_dir", *problem};
  }
  if (auto problem = check_file_path(kubernetes.container_logs_dir)) {
    return ConfigProblem{"kubernetes.container_logs_dir", *problem};
  }
  return std::nullopt;
}

std::optional<ConfigProblem> find_dns_problem(const DnsConfig& dns) {
  if (dns.ports.empty()) {
    return ConfigProblem{"dns.ports",
                         "at least one port is needed (to turn DNS capture off, set dns.enabled: "
                         "false)"};
  }
  if (dns.ports.size() > kMaxDnsPorts) {
    return ConfigProblem{"dns.ports", count_problem(dns.ports.size(), kMaxDnsPorts, "ports")};
  }
  if (auto problem = check_list("dns.ports", dns.ports, [](uint16_t port) {
        return port == 0 ? std::optional<std::string>(range_problem("0", "1", "65535"))
                         : std::nullopt;
      })) {
    return problem;
  }
  if (const std::optional<size_t> i = first_repeat(dns.ports)) {
    return ConfigProblem{indexed("dns.ports", *i),
                         "duplicate port " + std::to_string(dns.ports[*i])};
  }
  if (dns.capture_bytes < kMinCaptureBytes || dns.capture_bytes > kMaxCaptureBytes) {
    return ConfigProblem{"dns.capture_bytes", range_problem(std::to_string(dns.capture_bytes),
                                                            std::to_string(kMinCaptureBytes),
                                                            std::to_string(kMaxCaptureBytes))};
  }
  if (dns.cache_entries < kMinCacheEntries || dns.cache_entries > kMaxCacheEntries) {
    return ConfigProblem{"dns.cache_entries", range_problem(std::to_string(dns.cache_entries),
                                                            std::to_string(kMinCacheEntries),
                                                            std::to_string(kMaxCacheEntries))};
  }
  if (dns.max_age < kMinDnsMaxAge || dns.max_age > kMaxDnsMaxAge) {
    return ConfigProblem{"dns.max_age",
                         range_problem(format_duration(dns.max_age), format_duration(kMinDnsMaxAge),
                                       format_duration(kMaxDnsMaxAge))};
  }
  if (dns.lookup_timeout < kMinDnsLookupTimeout || dns.lookup_timeout > kMaxDnsLookupTimeout) {
    return ConfigProblem{
        "dns.lookup_timeout",
        range_problem(format_duration(dns.lookup_timeout), format_duration(kMinDnsLookupTimeout),
                      format_duration(kMaxDnsLookupTimeout))};
  }
  if (dns.stale_grace < std::chrono::milliseconds(0) || dns.stale_grace > kMaxDnsStaleGrace) {
    return ConfigProblem{"dns.stale_grace", range_problem(format_duration(dns.stale_grace), "0s",
                                                          format_duration(kMaxDnsStaleGrace))};
  }
  if (dns.ring_bytes < kMinRingBytes || dns.ring_bytes > kMaxRingBytes) {
    return ConfigProblem{"dns.ring_bytes", range_problem(std::to_string(dns.ring_bytes),
                                                         std::to_string(kMinRingBytes),
                                                         std::to_string(kMaxRingBytes))};
  }
  if (!is_power_of_two(dns.ring_bytes)) {
    uint32_t below = kMinRingBytes;
    while (below * 2 < dns.ring_bytes) below *= 2;
    return ConfigProblem{"dns.ring_bytes", std::to_string(dns.ring_bytes) +
                                               " is not a power of two (the kernel requires one); "
                                               "the nearest are " +
                                               std::to_string(below) + " and " +
                                               std::to_string(below * 2)};
  }
  return std::nullopt;
}

std::optional<ConfigProblem> find_allowlist_problem(const AllowlistConfig& allowlist) {
  if (!allowlist.enabled && !allowlist.rules.empty()) {
    return ConfigProblem{"allowlist", "has rules but is not enabled"};
  }
  if (allowlist.rules.size() > kMaxListEntries) {
    return ConfigProblem{"allowlist",
                         count_problem(allowlist.rules.size(), kMaxListEntries, "rules")};
  }
  for (size_t i = 0; i < allowlist.rules.size(); ++i) {
    const AllowRule& rule = allowlist.rules[i];
    const std::string path = indexed("allowlist", i);
    if (!rule.cidr && rule.name.empty() && rule.ports.empty()) {
      return ConfigProblem{path, "a rule needs at least one of cidr, name, ports"};
    }
    if (rule.cidr) {
      if (auto problem = check_cidr(*rule.cidr)) return ConfigProblem{path + ".cidr", *problem};
    }
    if (!rule.name.empty()) {
      if (auto problem = check_name_pattern(rule.name))
        return ConfigProblem{path + ".name", *problem};
    }
    if (auto problem = check_list(path + ".ports", rule.ports, check_port_range)) return problem;
  }
  return std::nullopt;
}

std::optional<ConfigProblem> find_web_problem(const WebConfig& web) {
  if (auto problem = check_listen_address(web.listen_address)) {
    return ConfigProblem{"web.listen_address", *problem};
  }
  if (auto problem = check_telemetry_path(web.telemetry_path)) {
    return ConfigProblem{"web.telemetry_path", *problem};
  }
  const WebTlsConfig& tls = web.tls;
  if (tls.enabled() && tls.key_file.empty()) {
    return ConfigProblem{"web.tls.cert_file",
                         "web.tls.key_file is missing (TLS needs both cert_file and key_file)"};
  }
  if (tls.enabled() && tls.cert_file.empty()) {
    return ConfigProblem{"web.tls.key_file",
                         "web.tls.cert_file is missing (TLS needs both cert_file and key_file)"};
  }
  if (!tls.enabled() && tls.min_version != WebTlsConfig{}.min_version) {
    return ConfigProblem{"web.tls.min_version",
                         "has no effect without web.tls.cert_file and web.tls.key_file"};
  }
  if (tls.enabled()) {
    if (auto problem = check_file_path(tls.cert_file))
      return ConfigProblem{"web.tls.cert_file", *problem};
    if (auto problem = check_file_path(tls.key_file))
      return ConfigProblem{"web.tls.key_file", *problem};
  }
  if (web.basic_auth_users.size() > kMaxListEntries) {
    return ConfigProblem{"web.basic_auth_users",
                         count_problem(web.basic_auth_users.size(), kMaxListEntries, "users")};
  }
  for (const auto& [user, hash] : web.basic_auth_users) {
    const std::string key = "web.basic_auth_users." + user;
    if (auto problem = check_user_name(user)) return ConfigProblem{key, *problem};
    if (auto problem = check_bcrypt_hash(hash)) return ConfigProblem{key, *problem};
  }
  return std::nullopt;
}

}  // namespace

// The parser has already rejected what it cannot represent (wrong types, unknown names).
// Keys of list elements carry their index ("filters.ports[2]") so the parser can point at them.
std::optional<ConfigProblem> find_problem(const Config& config) {
  if (auto problem = find_web_problem(config.web)) return problem;
  const ProbesConfig& probes = config.probes;
  if (probes.max_entries < kMinMaxEntries || probes.max_entries > kMaxMaxEntries) {
    return ConfigProblem{"probes.max_entries", range_problem(std::to_string(probes.max_entries),
                                                             std::to_string(kMinMaxEntries),
                                                             std::to_string(kMaxMaxEntries))};
  }
  if (probes.drain_interval < kMinDrainInterval || probes.drain_interval > kMaxDrainInterval) {
    return ConfigProblem{
        "probes.drain_interval",
        range_problem(format_duration(probes.drain_interval), format_duration(kMinDrainInterval),
                      format_duration(kMaxDrainInterval))};
  }
  if (auto problem = find_labels_problem(config.labels)) return problem;
  const LimitsConfig& limits = config.limits;
  if (limits.max_series < kMinMaxSeries || limits.max_series > kMaxMaxSeries) {
    return ConfigProblem{"limits.max_series", range_problem(std::to_string(limits.max_series),
                                                            std::to_string(kMinMaxSeries),
                                                            std::to_string(kMaxMaxSeries))};
  }
  if (limits.idle_expiry != std::chrono::milliseconds(0) &&
      (limits.idle_expiry < kMinIdleExpiry || limits.idle_expiry > kMaxIdleExpiry)) {
    return ConfigProblem{"limits.idle_expiry", range_problem(format_duration(limits.idle_expiry),
                                                             format_duration(kMinIdleExpiry),
                                                             format_duration(kMaxIdleExpiry)) +
                                                   " (or 0 to keep idle series)"};
  }
  if (auto problem = find_filters_problem(config.filters)) return problem;
  if (auto problem = find_dns_problem(config.dns)) return problem;
  if (auto problem = find_kubernetes_problem(config.kubernetes)) return problem;
  return find_allowlist_problem(config.allowlist);
}

}  // namespace config_detail

using config_detail::find_problem;
using config_detail::indexed;
using config_detail::quote;

Status validate_config(const Config& config) {
  if (std::optional<ConfigProblem> problem = find_problem(config)) {
    return Error{problem->key + ": " + problem->message};
  }
  return Ok{};
}

std::vector<std::string> config_warnings(const Config& config) {
  std::vector<std::string> out;
  const WebConfig& web = config.web;
  if (!web.basic_auth_users.empty() && !web.tls.enabled() &&
      !listen_address_is_loopback(web.listen_address)) {
    out.push_back("web.basic_auth_users without web.tls on " + quote(web.listen_address) +
                  ", which is not a loopback address: passwords cross the network in clear "
                  "text (base64); configure web.tls, or listen on 127.0.0.1");
  }
  const LabelsConfig& labels = config.labels;
  if (labels.has(Label::kLport)) {
    out.emplace_back(
        "labels.keep includes lport: one series per local port, nearly one per connection; "
        "expect very high cardinality");
  }
  if (labels.has(Label::kPid)) {
    out.emplace_back("labels.keep includes pid: one series per process; expect high cardinality");
  }
  if (labels.has(Label::kDnsName) && !config.dns.enabled) {
    out.emplace_back(
        "labels.keep includes dns_name but dns.enabled is false: dns_name will always be empty");
  }
  if (!labels.has(Label::kDaddr) &&
      (labels.daddr_prefix_v4 != 32 || labels.daddr_prefix_v6 != 128)) {
    out.emplace_back(
        "labels.daddr_prefix_v4/daddr_prefix_v6 have no effect: daddr is not in labels.keep");
  }
  if (!labels.has(Label::kDport) && labels.collapse_ephemeral_dports) {
    out.emplace_back("labels.collapse_ephemeral_dports has no effect: dport is not in labels.keep");
  }
  const AllowlistConfig& allowlist = config.allowlist;
  if (allowlist.enabled && allowlist.rules.empty()) {
    out.emplace_back("allowlist is empty: every connect counts as unexpected");
  }
  if (allowlist.enabled && !config.dns.enabled) {
    for (size_t i = 0; i < allowlist.rules.size(); ++i) {
      if (!allowlist.rules[i].name.empty()) {
        out.push_back(indexed("allowlist", i) +
                      " matches by name but dns.enabled is false: it can never match");
      }
    }
  }
  return out;
}

}  // namespace tcpconnect
