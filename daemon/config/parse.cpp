// YAML text -> Config: one function per section of the file, each knowing its keys and the
// type of each value; yaml_reader.h reads the values and words the errors, validate.cpp
// checks the result and its problem is pointed at the key that caused it.
#include <yaml-cpp/depthguard.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <array>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "config/config.h"
#include "config/enum_names.h"
#include "config/text.h"
#include "config/validate.h"
#include "config/yaml_document.h"
#include "config/yaml_reader.h"

namespace tcpconnect {

namespace {

using config_detail::describe;
using config_detail::Entry;
using config_detail::error_at;
using config_detail::first_at;
using config_detail::join;
using config_detail::quote;
using config_detail::suggest;
using config_detail::YamlReader;

constexpr std::array<std::string_view, 8> kSectionNames = {
    "web", "probes", "labels", "limits", "filters", "dns", "allowlist", "kubernetes"};

Status parse_web_tls(YamlReader& r, const Entry& section, WebTlsConfig* tls) {
  return r.for_each_entry(section.value, section.path, {"cert_file", "key_file", "min_version"},
                          [&](const Entry& entry) -> Status {
                            const std::string& key = entry.key.Scalar();
                            if (key == "cert_file") return r.parse_string(entry, &tls->cert_file);
                            if (key == "key_file") return r.parse_string(entry, &tls->key_file);
                            return r.parse_enum(entry, "TLS version",
                                                config_detail::kTlsVersionNames, &tls->min_version);
                          });
}

// {user: bcrypt hash}. The names are the operator's, so for_each_entry's list of known
// keys does not apply; repeats are still errors.
Status parse_users(YamlReader& r, const Entry& entry, std::map<std::string, std::string>* users) {
  if (entry.value.IsNull()) {
    return r.error(entry, "missing value (omit the key for no authentication)");
  }
  if (!entry.value.IsMap()) {
    return r.error(entry, "expected a map of user: bcrypt hash, got " + describe(entry.value));
  }
  std::map<std::string, std::string> out;
  std::map<std::string, YAML::Mark> seen;
  for (const auto& pair : entry.value) {
    const YAML::Node& key = pair.first;
    if (!key.IsScalar()) {
      return r.error(key.Mark(),
                     entry.path + ": user names must be plain strings, got " + describe(key));
    }
    const std::string& user = key.Scalar();
    const auto [previous, inserted] = seen.emplace(user, key.Mark());
    if (!inserted) {
      return r.error(key.Mark(),
                     entry.path + ": duplicate user " + quote(user) + first_at(previous->second));
    }
    const Entry user_entry{entry.path + "." + user, key, pair.second};
    r.remember(user_entry);
    std::string hash;
    if (Status status = r.parse_string(user_entry, &hash); !status) return status;
    out.emplace(user, std::move(hash));
  }
  *users = std::move(out);
  return Ok{};
}

Status parse_web(YamlReader& r, const Entry& section, WebConfig* web) {
  return r.for_each_entry(section.value, section.path,
                          {"listen_address", "telemetry_path", "tls", "basic_auth_users"},
                          [&](const Entry& entry) -> Status {
                            const std::string& key = entry.key.Scalar();
                            if (key == "listen_address") {
                              return r.parse_string(entry, &web->listen_address);
                            }
                            if (key == "telemetry_path") {
                              return r.parse_string(entry, &web->telemetry_path);
                            }
                            if (key == "tls") return parse_web_tls(r, entry, &web->tls);
                            return parse_users(r, entry, &web->basic_auth_users);
                          });
}

Status parse_probes(YamlReader& r, const Entry& section, ProbesConfig* probes) {
  return r.for_each_entry(
      section.value, section.path, {"backend", "max_entries", "drain_interval"},
      [&](const Entry& entry) -> Status {
        const std::string& key = entry.key.Scalar();
        if (key == "backend") {
          return r.parse_enum(entry, "backend", config_detail::kBackendNames, &probes->backend);
        }
        if (key == "max_entries") {
          return r.parse_unsigned(entry, kMinMaxEntries, kMaxMaxEntries, &probes->max_entries);
        }
        return r.parse_duration_value(entry, &probes->drain_interval);
      });
}

// Any order in the file, stored in enum order (the order of the labels in the output).
Status parse_label_list(YamlReader& r, const Entry& entry, std::vector<Label>* out) {
  if (entry.value.IsNull()) {
    return r.error(entry, "missing value (omit the key for the default, or [] for no labels)");
  }
  if (!entry.value.IsSequence()) {
    return r.error(entry,
                   "expected a list of labels like [family, daddr], got " + describe(entry.value));
  }
  const auto& kNames = config_detail::kLabelNames;
  const std::vector<std::string_view> names(kNames.begin(), kNames.end());
  std::vector<Label> labels;
  std::array<std::optional<YAML::Mark>, kNames.size()> first_seen;
  for (const YAML::Node& item : entry.value) {
    if (Status status = r.charge(item, 1 + (item.IsScalar() ? item.Scalar().size() : 0)); !status) {
      return status;
    }
    if (!item.IsScalar()) {
      return r.error(item.Mark(), entry.path + ": expected a label name, got " + describe(item));
    }
    const std::string& name = item.Scalar();
    const auto found = std::find(names.begin(), names.end(), name);
    if (found == names.end()) {
      return r.error(item.Mark(), entry.path + ": unknown label " + quote(name) +
                                      " (valid: " + join(names) + ")" + suggest(name, names));
    }
    const auto index = static_cast<size_t>(found - names.begin());
    if (first_seen[index]) {
      return r.error(item.Mark(), entry.path + ": duplicate label " + quote(name) +
                                      first_at(*first_seen[index]));
    }
    first_seen[index] = item.Mark();
    labels.push_back(static_cast<Label>(index));
  }
  std::sort(labels.begin(), labels.end());
  *out = std::move(labels);
  return Ok{};
}

Status parse_labels(YamlReader& r, const Entry& section, LabelsConfig* labels) {
  return r.for_each_entry(section.value, section.path,
                          {"keep", "daddr_prefix_v4", "daddr_prefix_v6",
                           "collapse_ephemeral_dports", "ephemeral_port_min"},
                          [&](const Entry& entry) -> Status {
                            const std::string& key = entry.key.Scalar();
                            if (key == "keep") return parse_label_list(r, entry, &labels->keep);
                            if (key == "daddr_prefix_v4") {
                              return r.parse_unsigned(entry, 0, 32, &labels->daddr_prefix_v4);
                            }
                            if (key == "daddr_prefix_v6") {
                              return r.parse_unsigned(entry, 0, 128, &labels->daddr_prefix_v6);
                            }
                            if (key == "collapse_ephemeral_dports") {
                              return r.parse_bool(entry, &labels->collapse_ephemeral_dports);
                            }
                            return r.parse_unsigned(entry, 1, 65535, &labels->ephemeral_port_min);
                          });
}

Status parse_limits(YamlReader& r, const Entry& section, LimitsConfig* limits) {
  return r.for_each_entry(section.value, section.path, {"max_series", "idle_expiry"},
                          [&](const Entry& entry) -> Status {
                            if (entry.key.Scalar() == "max_series") {
                              return r.parse_unsigned(entry, kMinMaxSeries, kMaxMaxSeries,
                                                      &limits->max_series);
                            }
                            return r.parse_duration_value(entry, &limits->idle_expiry);
                          });
}

Status parse_filters(YamlReader& r, const Entry& section, FiltersConfig* filters) {
  return r.for_each_entry(
      section.value, section.path,
      {"pids", "uids", "ports", "families", "cgroups", "cgroupmap", "mntnsmap", "comms",
       "include_cidrs", "exclude_cidrs", "namespaces", "exclude_namespaces", "pods",
       "exclude_pods"},
      [&](const Entry& entry) -> Status {
        const std::string& key = entry.key.Scalar();
        if (key == "pids") {
          return r.parse_list(entry, "a list of process ids like [1234]", &filters->pids,
                              [&](const Entry& item, uint32_t* pid) {
                                return r.parse_unsigned(item, 1, kMaxPid, pid);
                              });
        }
        if (key == "uids") {
          return r.parse_list(entry, "a list of user ids like [0, 1000]", &filters->uids,
                              [&](const Entry& item, uint32_t* uid) {
                                return r.parse_unsigned(item, 0, kMaxUid, uid);
                              });
        }
        if (key == "ports") return r.parse_port_ranges(entry, &filters->ports);
        if (key == "families") {
          return r.parse_list(entry, "a list of families like [ipv4]", &filters->families,
                              [&](const Entry& item, Family* family) {
                                return r.parse_enum(item, "family", config_detail::kFamilyNames,
                                                    family);
                              });
        }
        if (key == "cgroups") {
          return r.parse_strings(entry, "a list of cgroup paths like [system.slice/nginx.service]",
                                 &filters->cgroups);
        }
        if (key == "cgroupmap") return r.parse_string(entry, &filters->cgroupmap);
        if (key == "mntnsmap") return r.parse_string(entry, &filters->mntnsmap);
        if (key == "comms") {
          return r.parse_strings(entry, "a list of process names like [curl]", &filters->comms);
        }
        if (key == "include_cidrs") return r.parse_cidrs(entry, &filters->include_cidrs);
        if (key == "exclude_cidrs") return r.parse_cidrs(entry, &filters->exclude_cidrs);
        constexpr std::string_view kGlobs = "a list of name globs like [kube-*]";
        if (key == "namespaces") return r.parse_strings(entry, kGlobs, &filters->namespaces);
        if (key == "exclude_namespaces") {
          return r.parse_strings(entry, kGlobs, &filters->exclude_namespaces);
        }
        if (key == "pods") return r.parse_strings(entry, kGlobs, &filters->pods);
        return r.parse_strings(entry, kGlobs, &filters->exclude_pods);
      });
}

Status parse_kubernetes(YamlReader& r, const Entry& section, KubernetesConfig* kubernetes) {
  return r.for_each_entry(section.value, section.path, {"pod_logs_dir", "container_logs_dir"},
                          [&](const Entry& entry) -> Status {
                            if (entry.key.Scalar() == "pod_logs_dir")
                              return r.parse_string(entry, &kubernetes->pod_logs_dir);
                            return r.parse_string(entry, &kubernetes->container_logs_dir);
                          });
}

Status parse_dns(YamlReader& r, const Entry& section, DnsConfig* dns) {
  return r.for_each_entry(
      section.value, section.path,
      {"enabled", "ports", "capture_bytes", "cache_entries", "max_age", "lookup_timeout",
       "stale_grace", "capture", "ring_bytes", "scope"},
      [&](const Entry& entry) -> Status {
        const std::string& key = entry.key.Scalar();
        if (key == "enabled") return r.parse_bool(entry, &dns->enabled);
        if (key == "ports") {
          return r.parse_list(entry, "a list of ports like [53]", &dns->ports,
                              [&](const Entry& item, uint16_t* port) {
                                return r.parse_unsigned(item, 1, 65535, port);
                              });
        }
        if (key == "capture_bytes") {
          return r.parse_unsigned(entry, kMinCaptureBytes, kMaxCaptureBytes, &dns->capture_bytes);
        }
        if (key == "cache_entries") {
          return r.parse_unsigned(entry, kMinCacheEntries, kMaxCacheEntries, &dns->cache_entries);
        }
        if (key == "max_age") return r.parse_duration_value(entry, &dns->max_age);
        if (key == "lookup_timeout") return r.parse_duration_value(entry, &dns->lookup_timeout);
        if (key == "stale_grace") return r.parse_duration_value(entry, &dns->stale_grace);
        if (key == "capture") {
          return r.parse_enum(entry, "capture method", config_detail::kCaptureNames, &dns->capture);
        }
        if (key == "scope") {
          return r.parse_enum(entry, "name scope", config_detail::kDnsScopeNames, &dns->scope);
        }
        return r.parse_unsigned(entry, kMinRingBytes, kMaxRingBytes, &dns->ring_bytes);
      });
}

Status parse_rule(YamlReader& r, const Entry& item, AllowRule* rule) {
  return r.for_each_entry(item.value, item.path, {"cidr", "name", "ports"},
                          [&](const Entry& entry) -> Status {
                            const std::string& key = entry.key.Scalar();
                            if (key == "cidr") {
                              Cidr cidr;
                              if (Status status = r.parse_cidr_value(entry, &cidr); !status)
                                return status;
                              rule->cidr = std::move(cidr);
                              return Ok{};
                            }
                            // An empty name or port list would read as "any", which is what leaving
                            // the key out says; written out it is more likely a mistake.
                            if (key == "name") {
                              if (Status status = r.parse_string(entry, &rule->name); !status)
                                return status;
                              if (rule->name.empty())
                                return r.error(entry, "empty name (omit the key to match any)");
                              std::transform(rule->name.begin(), rule->name.end(),
                                             rule->name.begin(), config_detail::to_lower);
                              return Ok{};
                            }
                            if (Status status = r.parse_port_ranges(entry, &rule->ports); !status)
                              return status;
                            if (rule->ports.empty()) {
                              return r.error(entry, "empty list (omit the key to match any port)");
                            }
                            return Ok{};
                          });
}

// Present means enabled, so an empty value is more likely a mistake than a wish to flag
// every connect: it must be written as [].
Status parse_allowlist(YamlReader& r, const Entry& entry, AllowlistConfig* allowlist) {
  if (entry.value.IsNull()) {
    return r.error(entry, "missing value (omit the key for no allowlist, or [] to allow nothing)");
  }
  allowlist->enabled = true;
  return r.parse_list(
      entry, "a list of rules (maps with cidr, name, ports)", &allowlist->rules,
      [&](const Entry& item, AllowRule* rule) { return parse_rule(r, item, rule); });
}

Status parse_document(YamlReader& r, const YAML::Node& root, Config* config) {
  const std::vector<std::string_view> sections(kSectionNames.begin(), kSectionNames.end());
  if (!root.IsNull() && !root.IsMap()) {
    return r.error(root.Mark(), "expected a map of sections (" + join(sections) +
                                    ") at the top level, got " + describe(root));
  }
  return r.for_each_entry(root, "", sections, [&](const Entry& entry) -> Status {
    const std::string_view key = entry.path;
    if (key == "web") return parse_web(r, entry, &config->web);
    if (key == "probes") return parse_probes(r, entry, &config->probes);
    if (key == "labels") return parse_labels(r, entry, &config->labels);
    if (key == "limits") return parse_limits(r, entry, &config->limits);
    if (key == "filters") return parse_filters(r, entry, &config->filters);
    if (key == "dns") return parse_dns(r, entry, &config->dns);
    if (key == "kubernetes") return parse_kubernetes(r, entry, &config->kubernetes);
    return parse_allowlist(r, entry, &config->allowlist);
  });
}

// The YAML text into *config, refusing what yaml-cpp cannot read and anything but a single
// document.
Status read_document(YamlReader& r, std::string_view yaml_text, const std::string& name,
                     Config* config) {
  using config_detail::mark_at_offset;
  try {
    const std::string text(yaml_text);
    const YAML::Node root = YAML::Load(text);
    const std::optional<config_detail::SecondDocument> second =
        config_detail::second_document(text);
    if (second && second->stuck) {
      const auto at = static_cast<size_t>(std::max(second->mark.pos, 0));
      return error_at(name, mark_at_offset(yaml_text, at),
                      "invalid YAML: unexpected " +
                          quote(at < yaml_text.size() ? yaml_text.substr(at, 1) : "") +
                          " (a \",\" outside [...] or {...}?)");
    }
    if (Status status = parse_document(r, root, config); !status) return status;
    if (second) {
      return error_at(name, second->mark,
                      "more than one YAML document (\"---\"); the config must be a single one");
    }
  } catch (const YAML::DeepRecursion& e) {
    return error_at(name, mark_at_offset(yaml_text, static_cast<size_t>(std::max(e.mark.pos, 0))),
                    "invalid YAML: nested too deeply");
  } catch (const YAML::Exception& e) {
    return error_at(name, e.mark, "invalid YAML: " + config_detail::escape(e.msg));
  }
  return Ok{};
}

}  // namespace

Result<Config> parse_config(std::string_view yaml_text, const std::string& name) {
  return parse_config(yaml_text, name, ConfigFileCheck{});
}

Result<Config> parse_config(std::string_view yaml_text, const std::string& name,
                            const ConfigFileCheck& check) {
  // Checked here rather than only when reading a file, so that every caller (reload,
  // --check-config, the fuzzer) gets the same protection.
  if (yaml_text.size() > kMaxConfigBytes) {
    return Error{name + ": config is too large (" + std::to_string(yaml_text.size()) +
                 " bytes, the limit is " + std::to_string(kMaxConfigBytes) + ")"};
  }
  if (const size_t nul = yaml_text.find('\0'); nul != std::string_view::npos) {
    return error_at(name, config_detail::mark_at_offset(yaml_text, nul),
                    "config contains a NUL byte (is this a binary file?)");
  }

  Config config;
  config.source = name;
  YamlReader reader(name,
                    config_detail::kBudgetPerByte * yaml_text.size() + config_detail::kBudgetSlack);
  if (Status status = read_document(reader, yaml_text, name, &config); !status) {
    return status.error();
  }
  std::optional<ConfigProblem> problem = config_detail::find_problem(config);
  if (!problem && check) problem = check(config);
  if (problem) {
    return error_at(name, reader.mark_of(problem->key), problem->key + ": " + problem->message);
  }
  return config;
}

}  // namespace tcpconnect
