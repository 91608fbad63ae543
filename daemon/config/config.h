// The exporter's configuration: plain structs with the documented defaults, parsed from
// YAML in one pass and then validated in one place. A Config that parse_config returns has
// passed every check; there is no partially applied config.
//
// Errors are one line, "FILE:LINE:COLUMN: problem" (1-based), so that editors and CI logs
// can jump to them. Values quoted back from the file are escaped and shortened, so a hostile
// file cannot forge extra log lines.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "util/result.h"

namespace tcpconnect {

enum class ProbeBackend { kAuto, kTpBtf, kRawTp, kTracepoint };
std::string_view to_string(ProbeBackend backend);  // "auto", "tp_btf", "raw_tp", "tracepoint"

// Labels a connect series can carry. The enum order is the label order in the output.
enum class Label { kFamily, kSaddr, kDaddr, kDport, kDnsName };
std::string_view to_string(Label label);  // "family", "saddr", "daddr", "dport", "dns_name"

struct WebConfig {
  std::string listen_address = ":9476";  // host:port, [v6]:port or :port
  std::string telemetry_path = "/metrics";

  bool operator==(const WebConfig& other) const;
  bool operator!=(const WebConfig& other) const { return !(*this == other); }
};

struct ProbesConfig {
  ProbeBackend backend = ProbeBackend::kAuto;
  uint32_t max_entries = 16384;  // entries of the kernel's per-CPU connect map
  std::chrono::milliseconds drain_interval{1000};

  bool operator==(const ProbesConfig& other) const;
  bool operator!=(const ProbesConfig& other) const { return !(*this == other); }
};

struct LabelsConfig {
  // Sorted in enum order, no duplicates. Empty is allowed: one series per metric.
  std::vector<Label> keep = {Label::kFamily, Label::kSaddr, Label::kDaddr, Label::kDport,
                             Label::kDnsName};

  bool has(Label label) const;
  bool operator==(const LabelsConfig& other) const;
  bool operator!=(const LabelsConfig& other) const { return !(*this == other); }
};

struct LimitsConfig {
  uint32_t max_series = 10000;  // per metric; beyond it everything folds into one overflow series

  bool operator==(const LimitsConfig& other) const;
  bool operator!=(const LimitsConfig& other) const { return !(*this == other); }
};

struct Config {
  std::string source;  // file path it came from ("" for defaults)
  WebConfig web;
  ProbesConfig probes;
  LabelsConfig labels;
  LimitsConfig limits;

  // Compares everything except `source`: a reload of identical settings is a no-op.
  bool operator==(const Config& other) const;
  bool operator!=(const Config& other) const { return !(*this == other); }
};

// Bounds, inclusive. The shipped config file documents the same numbers.
constexpr uint32_t kMinMaxEntries = 1;
constexpr uint32_t kMaxMaxEntries = 1u << 20;
constexpr std::chrono::milliseconds kMinDrainInterval{100};
constexpr std::chrono::milliseconds kMaxDrainInterval{60 * 1000};
constexpr uint32_t kMinMaxSeries = 1;
constexpr uint32_t kMaxMaxSeries = 10'000'000;
// Larger files are refused before parsing: a config is a few hundred bytes, and yaml-cpp
// holds the whole document in memory.
constexpr size_t kMaxConfigBytes = 1u << 20;

// `name` is the file name used in error messages.
Result<Config> parse_config(std::string_view yaml_text, const std::string& name);

// Reads the file (at most kMaxConfigBytes) and parses it; errors name the path.
Result<Config> load_config_file(const std::string& path);

// Every constraint on a Config, for one built or changed in code (e.g. a command-line flag
// overriding web.listen_address). parse_config already applies these with file positions;
// here messages start with the key ("web.listen_address: ...").
Status validate_config(const Config& config);

}  // namespace tcpconnect
