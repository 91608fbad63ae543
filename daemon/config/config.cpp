#include "config/config.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <unistd.h>
#include <yaml-cpp/depthguard.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstdlib>
#include <functional>
#include <map>
#include <optional>
#include <utility>

#include "config/duration.h"

namespace tcpconnect {

namespace {

constexpr std::array<std::string_view, 4> kBackendNames = {"auto", "tp_btf", "raw_tp",
                                                           "tracepoint"};
constexpr std::array<std::string_view, 5> kLabelNames = {"family", "saddr", "daddr", "dport",
                                                         "dns_name"};

// Values quoted back to the operator are capped: a 1 MiB key must not become a 1 MiB log line.
constexpr size_t kMaxQuoted = 64;

// Escapes everything that is not printable ASCII, so that one error stays one log line
// whatever bytes the file holds.
std::string escape(std::string_view text) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  for (const char c : text) {
    const auto u = static_cast<unsigned char>(c);
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\t':
        out += "\\t";
        break;
      case '\r':
        out += "\\r";
        break;
      default:
        if (u < 0x20 || u >= 0x7f) {
          out += "\\x";
          out += kHex[u >> 4];
          out += kHex[u & 0xf];
        } else {
          out += c;
        }
    }
  }
  return out;
}

// Escaped and shortened, without quotes, for values shown as they are (numbers).
std::string shorten(std::string_view text) {
  if (text.size() > kMaxQuoted) return escape(text.substr(0, kMaxQuoted)) + "...";
  return escape(text);
}

std::string quote(std::string_view text) {
  if (text.size() > kMaxQuoted) return '"' + escape(text.substr(0, kMaxQuoted)) + "\"...";
  return '"' + escape(text) + '"';
}

std::string join(const std::vector<std::string_view>& names) {
  std::string out;
  for (const std::string_view name : names) {
    if (!out.empty()) out += ", ";
    out += name;
  }
  return out;
}

char to_lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

// Optimal string alignment distance: Levenshtein plus adjacent transpositions ("wbe").
size_t edit_distance(std::string_view a, std::string_view b) {
  std::vector<std::vector<size_t>> d(a.size() + 1, std::vector<size_t>(b.size() + 1));
  for (size_t i = 0; i <= a.size(); ++i) d[i][0] = i;
  for (size_t j = 0; j <= b.size(); ++j) d[0][j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    for (size_t j = 1; j <= b.size(); ++j) {
      const size_t cost = to_lower(a[i - 1]) == to_lower(b[j - 1]) ? 0 : 1;
      d[i][j] = std::min({d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost});
      if (i > 1 && j > 1 && to_lower(a[i - 1]) == to_lower(b[j - 2]) &&
          to_lower(a[i - 2]) == to_lower(b[j - 1])) {
        d[i][j] = std::min(d[i][j], d[i - 2][j - 2] + 1);
      }
    }
  }
  return d[a.size()][b.size()];
}

// "; did you mean "x"?" for the closest candidate, or "" when nothing is close enough to be a
// typo rather than a different word.
std::string suggest(std::string_view given, const std::vector<std::string_view>& candidates) {
  // Long inputs cannot be typos of our short names; skip the quadratic distance.
  if (given.size() > 64) return "";
  std::string_view best;
  size_t best_distance = 0;
  for (const std::string_view candidate : candidates) {
    const size_t distance = edit_distance(given, candidate);
    if (best.empty() || distance < best_distance) {
      best = candidate;
      best_distance = distance;
    }
  }
  const size_t allowed = std::clamp<size_t>(std::min(given.size(), best.size()) / 3, 1, 3);
  if (best.empty() || best_distance > allowed) return "";
  return "; did you mean \"" + std::string(best) + "\"?";
}

std::string describe(const YAML::Node& node) {
  if (node.IsMap()) return "a map";
  if (node.IsSequence()) return "a list";
  if (node.IsScalar()) return quote(node.Scalar());
  return "nothing";
}

std::string position(const std::string& name, const YAML::Mark& mark) {
  if (mark.is_null()) return name;
  return name + ":" + std::to_string(mark.line + 1) + ":" + std::to_string(mark.column + 1);
}

Error error_at(const std::string& name, const YAML::Mark& mark, std::string_view problem) {
  return Error{position(name, mark) + ": " + std::string(problem)};
}

// yaml-cpp does not report a line for some errors (DeepRecursion); the byte offset is exact.
YAML::Mark mark_at_offset(std::string_view text, size_t offset) {
  offset = std::min(offset, text.size());
  const std::string_view before = text.substr(0, offset);
  const size_t line = static_cast<size_t>(std::count(before.begin(), before.end(), '\n'));
  const size_t line_start =
      before.rfind('\n') == std::string_view::npos ? 0 : before.rfind('\n') + 1;
  YAML::Mark mark;
  mark.pos = static_cast<int>(offset);
  mark.line = static_cast<int>(line);
  mark.column = static_cast<int>(offset - line_start);
  return mark;
}

std::string range_problem(std::string_view value, std::string_view min, std::string_view max) {
  return std::string(value) + " is out of range " + std::string(min) + ".." + std::string(max);
}

std::optional<std::string> check_port(std::string_view address, std::string_view port) {
  const std::string prefix = "invalid listen address " + quote(address) + ": ";
  if (port.empty()) return prefix + "missing port after \":\"";
  if (!std::all_of(port.begin(), port.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    return prefix + "port " + quote(port) + " is not a number";
  }
  // Five digits at most, so stoul cannot overflow.
  if (port.size() > 5 || std::stoul(std::string(port)) - 1 >= 65535) {
    return prefix + "port " + range_problem(shorten(port), "1", "65535");
  }
  return std::nullopt;
}

// Accepts what the HTTP listener can bind without a DNS lookup surprise: ":port",
// "host:port" and "[ipv6]:port". Service names ("http") are refused on purpose: a port
// that depends on /etc/services is not what an operator expects to read in a config.
std::optional<std::string> check_listen_address(std::string_view address) {
  const std::string prefix = "invalid listen address " + quote(address) + ": ";
  constexpr std::string_view kExpected = " (expected host:port, [ipv6]:port or :port)";
  if (address.empty()) return "listen address is empty" + std::string(kExpected);

  if (address.front() == '[') {
    const size_t close = address.find(']');
    if (close == std::string_view::npos) return prefix + "missing \"]\" after the IPv6 address";
    const std::string_view rest = address.substr(close + 1);
    if (rest.empty()) return prefix + "missing port" + std::string(kExpected);
    if (rest.front() != ':') return prefix + "expected \":\" and a port after \"]\"";
    // The zone ("%eth0") names an interface; inet_pton does not understand it.
    const std::string_view host = address.substr(1, close - 1);
    const std::string ip(host.substr(0, host.find('%')));
    in6_addr parsed{};
    if (ip.empty() || inet_pton(AF_INET6, ip.c_str(), &parsed) != 1) {
      return prefix + quote(host) + " is not an IPv6 address";
    }
    return check_port(address, rest.substr(1));
  }

  const size_t colon = address.rfind(':');
  if (colon == std::string_view::npos) return prefix + "missing port" + std::string(kExpected);
  const std::string_view host = address.substr(0, colon);
  if (host.find(':') != std::string_view::npos) {
    return prefix + "an IPv6 address needs brackets, e.g. [::1]:9476";
  }
  const bool host_ok = std::all_of(host.begin(), host.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
           c == '-' || c == '_';
  });
  if (!host_ok) return prefix + "host " + quote(host) + " is not a host name or IP address";
  return check_port(address, address.substr(colon + 1));
}

std::optional<std::string> check_telemetry_path(std::string_view path) {
  if (path.empty() || path.front() != '/') {
    return "must start with \"/\", got " + quote(path);
  }
  for (const char c : path) {
    const auto u = static_cast<unsigned char>(c);
    if (u <= 0x20 || u >= 0x7f || c == '?' || c == '#') {
      return "invalid character in " + quote(path) +
             " (a path: printable ASCII without spaces, \"?\" or \"#\")";
    }
  }
  return std::nullopt;
}

struct Problem {
  std::string key;  // dotted path, e.g. "web.listen_address"
  std::string message;
};

// The one place that states what a valid Config is, including constraints across fields.
// The parser has already rejected what it cannot represent (wrong types, unknown names).
std::optional<Problem> find_problem(const Config& config) {
  if (auto problem = check_listen_address(config.web.listen_address)) {
    return Problem{"web.listen_address", *problem};
  }
  if (auto problem = check_telemetry_path(config.web.telemetry_path)) {
    return Problem{"web.telemetry_path", *problem};
  }
  const ProbesConfig& probes = config.probes;
  if (probes.max_entries < kMinMaxEntries || probes.max_entries > kMaxMaxEntries) {
    return Problem{"probes.max_entries",
                   range_problem(std::to_string(probes.max_entries), std::to_string(kMinMaxEntries),
                                 std::to_string(kMaxMaxEntries))};
  }
  if (probes.drain_interval < kMinDrainInterval || probes.drain_interval > kMaxDrainInterval) {
    return Problem{"probes.drain_interval", range_problem(format_duration(probes.drain_interval),
                                                          format_duration(kMinDrainInterval),
                                                          format_duration(kMaxDrainInterval))};
  }
  const std::vector<Label>& keep = config.labels.keep;
  // Consumers rely on the order to emit labels canonically.
  if (std::adjacent_find(keep.begin(), keep.end(), std::greater_equal<Label>()) != keep.end()) {
    return Problem{"labels.keep",
                   "labels must be in the order family, saddr, daddr, dport, dns_name, without "
                   "duplicates"};
  }
  const uint32_t max_series = config.limits.max_series;
  if (max_series < kMinMaxSeries || max_series > kMaxMaxSeries) {
    return Problem{"limits.max_series",
                   range_problem(std::to_string(max_series), std::to_string(kMinMaxSeries),
                                 std::to_string(kMaxMaxSeries))};
  }
  return std::nullopt;
}

bool looks_boolean(std::string_view text) {
  std::string lower;
  for (const char c : text) lower += to_lower(c);
  return lower == "true" || lower == "false" || lower == "yes" || lower == "no" || lower == "on" ||
         lower == "off" || lower == "y" || lower == "n";
}

bool looks_number(const std::string& text) {
  if (text.empty()) return false;
  char* end = nullptr;
  std::strtod(text.c_str(), &end);
  return end == text.c_str() + text.size();
}

// One key of a map: the nodes, for positions, and its dotted path, for messages.
struct Entry {
  std::string path;
  YAML::Node key;
  YAML::Node value;
};

class Parser {
 public:
  explicit Parser(const std::string& name) : name_(name) {}

  Status parse_document(const YAML::Node& root, Config* config) {
    if (!root.IsNull() && !root.IsMap()) {
      return error_at(name_, root.Mark(),
                      "expected a map of sections (web, probes, labels, limits) at the top "
                      "level, got " +
                          describe(root));
    }
    return for_each_entry(root, "", {"web", "probes", "labels", "limits"},
                          [&](const Entry& entry) -> Status {
                            const std::string_view key = entry.path;
                            if (key == "web") return parse_web(entry, &config->web);
                            if (key == "probes") return parse_probes(entry, &config->probes);
                            if (key == "labels") return parse_labels(entry, &config->labels);
                            return parse_limits(entry, &config->limits);
                          });
  }

  // Where each leaf value was written, so that validation can point at it.
  YAML::Mark mark_of(const std::string& path) const {
    const auto it = marks_.find(path);
    return it == marks_.end() ? YAML::Mark::null_mark() : it->second;
  }

 private:
  Error error(const YAML::Mark& mark, std::string_view problem) const {
    return error_at(name_, mark, problem);
  }
  Error error(const Entry& entry, std::string_view problem) const {
    // A missing value has no useful position of its own (yaml-cpp puts it at the next token).
    const YAML::Mark mark = entry.value.IsNull() ? entry.key.Mark() : entry.value.Mark();
    return error(mark, entry.path + ": " + std::string(problem));
  }

  // Calls handle(entry) for each key of a section after checking the section is a map (or
  // empty: "web:" alone means all defaults), that every key is known and none is repeated.
  // yaml-cpp keeps repeated keys and lookups see only the first, so they must be found here.
  template <typename Handler>
  Status for_each_entry(const YAML::Node& map, const std::string& section,
                        const std::vector<std::string_view>& known, Handler handle) {
    if (map.IsNull()) return Ok{};
    const std::string where = section.empty() ? "at the top level" : "in " + section;
    if (!map.IsMap()) {
      return error(map.Mark(), section + ": expected a map with keys " + join(known) + ", got " +
                                   describe(map));
    }
    std::map<std::string, YAML::Mark> seen;
    for (const auto& pair : map) {
      const YAML::Node& key = pair.first;
      if (!key.IsScalar()) {
        return error(key.Mark(), "keys must be plain names, got " + describe(key) + " " + where);
      }
      const std::string& name = key.Scalar();
      const auto [previous, inserted] = seen.emplace(name, key.Mark());
      if (!inserted) {
        return error(key.Mark(), "duplicate key " + quote(name) + " " + where + " (first at " +
                                     std::to_string(previous->second.line + 1) + ":" +
                                     std::to_string(previous->second.column + 1) + ")");
      }
      if (std::find(known.begin(), known.end(), name) == known.end()) {
        return error(key.Mark(), "unknown key " + quote(name) + " " + where +
                                     " (known: " + join(known) + ")" + suggest(name, known));
      }
      Entry entry{section.empty() ? name : section + "." + name, key, pair.second};
      if (!entry.value.IsNull()) marks_[entry.path] = entry.value.Mark();
      if (Status status = handle(entry); !status) return status;
    }
    return Ok{};
  }

  Result<std::string> scalar(const Entry& entry, std::string_view what) const {
    if (entry.value.IsNull()) {
      return error(entry, "missing value (omit the key to use the default)");
    }
    if (!entry.value.IsScalar()) {
      return error(entry, "expected " + std::string(what) + ", got " + describe(entry.value));
    }
    return entry.value.Scalar();
  }

  Status parse_string(const Entry& entry, std::string* out) const {
    Result<std::string> text = scalar(entry, "a string");
    if (!text) return text.error();
    *out = std::move(text).value();
    return Ok{};
  }

  // Only plain decimal digits: yaml-cpp's own conversion reads "010" as octal and "0x10" as
  // hex, and when it fails it cannot say why (negative? fraction? boolean?).
  Status parse_uint32(const Entry& entry, uint32_t min, uint32_t max, uint32_t* out) const {
    const std::string range = "(" + std::to_string(min) + ".." + std::to_string(max) + ")";
    Result<std::string> text_or = scalar(entry, "an integer " + range);
    if (!text_or) return text_or.error();
    const std::string& text = text_or.value();
    if (entry.value.Tag() == "!") {
      return error(entry, "expected an integer " + range + ", got the quoted string " +
                              quote(text) + " (remove the quotes)");
    }
    const bool negative = !text.empty() && text.front() == '-';
    const std::string_view digits = std::string_view(text).substr(negative ? 1 : 0);
    const bool all_digits =
        !digits.empty() &&
        std::all_of(digits.begin(), digits.end(), [](char c) { return c >= '0' && c <= '9'; });
    if (!all_digits) {
      if (looks_boolean(text)) {
        return error(entry, "expected an integer " + range + ", got the boolean " + quote(text));
      }
      if (looks_number(text)) {
        return error(entry, "expected an integer " + range + ", got the number " + quote(text));
      }
      return error(entry, "expected an integer " + range + ", got " + quote(text));
    }
    if (digits.size() > 1 && digits.front() == '0') {
      return error(entry, "expected a decimal integer, got " + quote(text) +
                              " (a leading zero would mean octal to other YAML readers)");
    }
    const std::string out_of_range =
        range_problem(shorten(text), std::to_string(min), std::to_string(max));
    if (negative || digits.size() > 10) return error(entry, out_of_range);
    const uint64_t value = std::stoull(std::string(digits));
    if (value > UINT32_MAX) return error(entry, out_of_range);
    // The bounds themselves are checked by find_problem, which also sees configs built in code.
    *out = static_cast<uint32_t>(value);
    return Ok{};
  }

  Status parse_duration_value(const Entry& entry, std::chrono::milliseconds* out) const {
    Result<std::string> text = scalar(entry, "a duration like 1s or 500ms");
    if (!text) return text.error();
    Result<std::chrono::milliseconds> duration = parse_duration(text.value());
    if (!duration) {
      return error(entry,
                   "invalid duration " + quote(text.value()) + ": " + duration.error().message);
    }
    *out = duration.value();
    return Ok{};
  }

  Status parse_web(const Entry& section, WebConfig* web) {
    return for_each_entry(section.value, section.path, {"listen_address", "telemetry_path"},
                          [&](const Entry& entry) -> Status {
                            if (entry.key.Scalar() == "listen_address") {
                              return parse_string(entry, &web->listen_address);
                            }
                            return parse_string(entry, &web->telemetry_path);
                          });
  }

  Status parse_probes(const Entry& section, ProbesConfig* probes) {
    return for_each_entry(section.value, section.path, {"backend", "max_entries", "drain_interval"},
                          [&](const Entry& entry) -> Status {
                            const std::string& key = entry.key.Scalar();
                            if (key == "backend") return parse_backend(entry, &probes->backend);
                            if (key == "max_entries") {
                              return parse_uint32(entry, kMinMaxEntries, kMaxMaxEntries,
                                                  &probes->max_entries);
                            }
                            return parse_duration_value(entry, &probes->drain_interval);
                          });
  }

  Status parse_backend(const Entry& entry, ProbeBackend* backend) const {
    Result<std::string> text = scalar(entry, "a backend name");
    if (!text) return text.error();
    for (size_t i = 0; i < kBackendNames.size(); ++i) {
      if (text.value() == kBackendNames[i]) {
        *backend = static_cast<ProbeBackend>(i);
        return Ok{};
      }
    }
    const std::vector<std::string_view> names(kBackendNames.begin(), kBackendNames.end());
    return error(entry, "unknown backend " + quote(text.value()) + " (valid: " + join(names) + ")" +
                            suggest(text.value(), names));
  }

  Status parse_labels(const Entry& section, LabelsConfig* labels) {
    return for_each_entry(section.value, section.path, {"keep"}, [&](const Entry& entry) {
      return parse_label_list(entry, &labels->keep);
    });
  }

  Status parse_label_list(const Entry& entry, std::vector<Label>* out) const {
    if (entry.value.IsNull()) {
      return error(entry, "missing value (omit the key for the default, or [] for no labels)");
    }
    if (!entry.value.IsSequence()) {
      return error(entry,
                   "expected a list of labels like [family, daddr], got " + describe(entry.value));
    }
    const std::vector<std::string_view> names(kLabelNames.begin(), kLabelNames.end());
    std::vector<Label> labels;
    std::array<std::optional<YAML::Mark>, kLabelNames.size()> first_seen;
    for (const YAML::Node& item : entry.value) {
      if (!item.IsScalar()) {
        return error(item.Mark(), entry.path + ": expected a label name, got " + describe(item));
      }
      const std::string& name = item.Scalar();
      const auto found = std::find(names.begin(), names.end(), name);
      if (found == names.end()) {
        return error(item.Mark(), entry.path + ": unknown label " + quote(name) +
                                      " (valid: " + join(names) + ")" + suggest(name, names));
      }
      const auto index = static_cast<size_t>(found - names.begin());
      if (first_seen[index]) {
        return error(item.Mark(), entry.path + ": duplicate label " + quote(name) + " (first at " +
                                      std::to_string(first_seen[index]->line + 1) + ":" +
                                      std::to_string(first_seen[index]->column + 1) + ")");
      }
      first_seen[index] = item.Mark();
      labels.push_back(static_cast<Label>(index));
    }
    std::sort(labels.begin(), labels.end());
    *out = std::move(labels);
    return Ok{};
  }

  Status parse_limits(const Entry& section, LimitsConfig* limits) {
    return for_each_entry(section.value, section.path, {"max_series"}, [&](const Entry& entry) {
      return parse_uint32(entry, kMinMaxSeries, kMaxMaxSeries, &limits->max_series);
    });
  }

  const std::string name_;
  std::map<std::string, YAML::Mark> marks_;
};

// A closed-on-scope-exit descriptor; nothing else in this file needs ownership semantics.
class ScopedFd {
 public:
  explicit ScopedFd(int fd) : fd_(fd) {}
  ~ScopedFd() {
    if (fd_ >= 0) ::close(fd_);
  }
  ScopedFd(const ScopedFd&) = delete;
  ScopedFd& operator=(const ScopedFd&) = delete;
  int get() const { return fd_; }

 private:
  int fd_;
};

}  // namespace

std::string_view to_string(ProbeBackend backend) {
  const auto index = static_cast<size_t>(backend);
  return index < kBackendNames.size() ? kBackendNames[index] : "unknown";
}

std::string_view to_string(Label label) {
  const auto index = static_cast<size_t>(label);
  return index < kLabelNames.size() ? kLabelNames[index] : "unknown";
}

bool WebConfig::operator==(const WebConfig& other) const {
  return listen_address == other.listen_address && telemetry_path == other.telemetry_path;
}

bool ProbesConfig::operator==(const ProbesConfig& other) const {
  return backend == other.backend && max_entries == other.max_entries &&
         drain_interval == other.drain_interval;
}

bool LabelsConfig::has(Label label) const {
  return std::find(keep.begin(), keep.end(), label) != keep.end();
}

bool LabelsConfig::operator==(const LabelsConfig& other) const { return keep == other.keep; }

bool LimitsConfig::operator==(const LimitsConfig& other) const {
  return max_series == other.max_series;
}

bool Config::operator==(const Config& other) const {
  return web == other.web && probes == other.probes && labels == other.labels &&
         limits == other.limits;
}

Result<Config> parse_config(std::string_view yaml_text, const std::string& name) {
  // Checked here rather than only when reading a file, so that every caller (reload,
  // --check-config, the fuzzer) gets the same protection.
  if (yaml_text.size() > kMaxConfigBytes) {
    return Error{name + ": config is too large (" + std::to_string(yaml_text.size()) +
                 " bytes, the limit is " + std::to_string(kMaxConfigBytes) + ")"};
  }
  if (const size_t nul = yaml_text.find('\0'); nul != std::string_view::npos) {
    return error_at(name, mark_at_offset(yaml_text, nul),
                    "config contains a NUL byte (is this a binary file?)");
  }

  Config config;
  config.source = name;
  Parser parser(name);
  try {
    const std::vector<YAML::Node> documents = YAML::LoadAll(std::string(yaml_text));
    if (!documents.empty()) {
      if (Status status = parser.parse_document(documents[0], &config); !status) {
        return status.error();
      }
    }
    if (documents.size() > 1) {
      return error_at(name, documents[1].Mark(),
                      "more than one YAML document (\"---\"); the config must be a single one");
    }
  } catch (const YAML::DeepRecursion& e) {
    return error_at(name, mark_at_offset(yaml_text, static_cast<size_t>(std::max(e.mark.pos, 0))),
                    "invalid YAML: nested too deeply");
  } catch (const YAML::Exception& e) {
    return error_at(name, e.mark, "invalid YAML: " + escape(e.msg));
  }

  if (std::optional<Problem> problem = find_problem(config)) {
    return error_at(name, parser.mark_of(problem->key), problem->key + ": " + problem->message);
  }
  return config;
}

Result<Config> load_config_file(const std::string& path) {
  const std::string what = "cannot read config file " + path;
  ScopedFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY));
  if (fd.get() < 0) return Error::from_errno(what, errno);

  // One byte past the limit tells "exactly at the limit" from "too large" without trusting
  // st_size, which is 0 for pipes and /proc files.
  std::string text;
  char buffer[64 * 1024];
  while (text.size() <= kMaxConfigBytes) {
    const ssize_t n = ::read(fd.get(), buffer, sizeof(buffer));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return Error::from_errno(what, errno);
    if (n == 0) break;
    text.append(buffer, static_cast<size_t>(n));
  }
  if (text.size() > kMaxConfigBytes) {
    return Error{path + ": config file is too large (more than " + std::to_string(kMaxConfigBytes) +
                 " bytes)"};
  }
  return parse_config(text, path);
}

Status validate_config(const Config& config) {
  if (std::optional<Problem> problem = find_problem(config)) {
    return Error{problem->key + ": " + problem->message};
  }
  return Ok{};
}

}  // namespace tcpconnect
