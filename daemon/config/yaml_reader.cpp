#include "config/yaml_reader.h"

#include <algorithm>
#include <cstdlib>

#include "config/duration.h"
#include "config/networks.h"

namespace tcpconnect::config_detail {

namespace {

std::string position(const std::string& name, const YAML::Mark& mark) {
  if (mark.is_null()) return name;
  return name + ":" + std::to_string(mark.line + 1) + ":" + std::to_string(mark.column + 1);
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

}  // namespace

Error error_at(const std::string& name, const YAML::Mark& mark, std::string_view problem) {
  return Error{position(name, mark) + ": " + std::string(problem)};
}

std::string describe(const YAML::Node& node) {
  if (node.IsMap()) return "a map";
  if (node.IsSequence()) return "a list";
  if (node.IsScalar()) return quote(node.Scalar());
  return "nothing";
}

std::string first_at(const YAML::Mark& mark) {
  return " (first at " + std::to_string(mark.line + 1) + ":" + std::to_string(mark.column + 1) +
         ")";
}

Error YamlReader::error(const YAML::Mark& mark, std::string_view problem) const {
  return error_at(name_, mark, problem);
}

Error YamlReader::error(const Entry& entry, std::string_view problem) const {
  // A missing value has no useful position of its own (yaml-cpp puts it at the next token).
  const YAML::Mark mark = entry.value.IsNull() ? entry.key.Mark() : entry.value.Mark();
  return error(mark, entry.path + ": " + std::string(problem));
}

// yaml-cpp keeps repeated keys and lookups see only the first, so they must be found here.
Status YamlReader::for_each_entry(const YAML::Node& map, const std::string& section,
                                  const std::vector<std::string_view>& known,
                                  const std::function<Status(const Entry&)>& handle) {
  if (map.IsNull()) return Ok{};
  const std::string where = section.empty() ? "at the top level" : "in " + section;
  if (!map.IsMap()) {
    return error(map.Mark(),
                 section + ": expected a map with keys " + join(known) + ", got " + describe(map));
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
      return error(key.Mark(),
                   "duplicate key " + quote(name) + " " + where + first_at(previous->second));
    }
    if (std::find(known.begin(), known.end(), name) == known.end()) {
      return error(key.Mark(), "unknown key " + quote(name) + " " + where +
                                   " (known: " + join(known) + ")" + suggest(name, known));
    }
    if (Status status = charge(key, 1); !status) return status;
    const Entry entry{section.empty() ? name : section + "." + name, key, pair.second};
    remember(entry);
    if (Status status = handle(entry); !status) return status;
  }
  return Ok{};
}

void YamlReader::remember(const Entry& entry) {
  if (!entry.value.IsNull()) nodes_[entry.path] = entry.value;
}

YAML::Mark YamlReader::mark_of(const std::string& path) const {
  if (const auto it = nodes_.find(path); it != nodes_.end()) return it->second.Mark();
  const size_t open = path.rfind('[');
  if (path.empty() || path.back() != ']' || open == std::string::npos) {
    return YAML::Mark::null_mark();
  }
  const auto list = nodes_.find(path.substr(0, open));
  const std::string_view digits = std::string_view(path).substr(open + 1, path.size() - open - 2);
  if (list == nodes_.end() || !list->second.IsSequence() || !is_decimal(digits) ||
      digits.size() > 9) {
    return YAML::Mark::null_mark();
  }
  const size_t index = std::stoul(std::string(digits));
  if (index >= list->second.size()) return YAML::Mark::null_mark();
  return list->second[index].Mark();
}

// "Billion laughs": a list of aliases to a list of aliases to a long string. yaml-cpp shares
// an alias's node rather than copying it, so only walking the document multiplies; a budget
// proportional to the file's size, which no file without aliases can exhaust, keeps parsing
// in proportion to the bytes read, whatever the aliases.
Status YamlReader::charge(const YAML::Node& node, size_t cost) const {
  if (cost > budget_) {
    return error(node.Mark(), "aliases expand the config beyond " + std::to_string(kBudgetPerByte) +
                                  " times its own size; write the values out instead");
  }
  budget_ -= cost;
  return Ok{};
}

Status YamlReader::expect_list(const Entry& entry, std::string_view what) const {
  if (entry.value.IsNull()) {
    return error(entry, "missing value (omit the key for the default, or [] for none)");
  }
  if (!entry.value.IsSequence()) {
    return error(entry, "expected " + std::string(what) + ", got " + describe(entry.value));
  }
  return Ok{};
}

Result<std::string> YamlReader::scalar(const Entry& entry, std::string_view what) const {
  if (entry.value.IsNull()) {
    return error(
        entry, entry.item ? "empty list item" : "missing value (omit the key to use the default)");
  }
  if (!entry.value.IsScalar()) {
    return error(entry, "expected " + std::string(what) + ", got " + describe(entry.value));
  }
  if (Status status = charge(entry.value, entry.value.Scalar().size()); !status) {
    return status.error();
  }
  return entry.value.Scalar();
}

Status YamlReader::parse_string(const Entry& entry, std::string* out) const {
  Result<std::string> text = scalar(entry, "a string");
  if (!text) return text.error();
  *out = std::move(text).value();
  return Ok{};
}

Status YamlReader::parse_strings(const Entry& entry, std::string_view what,
                                 std::vector<std::string>* out) const {
  return parse_list(entry, what, out,
                    [&](const Entry& item, std::string* text) { return parse_string(item, text); });
}

// Only plain decimal digits: yaml-cpp's own conversion reads "010" as octal and "0x10" as
// hex, and when it fails it cannot say why (negative? fraction? boolean?).
Status YamlReader::read_unsigned(const Entry& entry, uint64_t min, uint64_t max, uint64_t type_max,
                                 uint64_t* out) const {
  const std::string range = "(" + std::to_string(min) + ".." + std::to_string(max) + ")";
  Result<std::string> text_or = scalar(entry, "an integer " + range);
  if (!text_or) return text_or.error();
  const std::string& text = text_or.value();
  if (entry.value.Tag() == "!") {
    return error(entry, "expected an integer " + range + ", got the quoted string " + quote(text) +
                            " (remove the quotes)");
  }
  const bool negative = !text.empty() && text.front() == '-';
  const std::string_view digits = std::string_view(text).substr(negative ? 1 : 0);
  if (!is_decimal(digits)) {
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
  if (value > type_max) return error(entry, out_of_range);
  *out = value;
  return Ok{};
}

// YAML 1.2's spellings only: "yes", "on" and friends mean true to some readers and are
// strings to others.
Status YamlReader::parse_bool(const Entry& entry, bool* out) const {
  Result<std::string> text_or = scalar(entry, "true or false");
  if (!text_or) return text_or.error();
  const std::string& text = text_or.value();
  if (entry.value.Tag() == "!") {
    return error(entry, "expected true or false, got the quoted string " + quote(text) +
                            " (remove the quotes)");
  }
  if (text == "true" || text == "True" || text == "TRUE") {
    *out = true;
    return Ok{};
  }
  if (text == "false" || text == "False" || text == "FALSE") {
    *out = false;
    return Ok{};
  }
  if (looks_boolean(text)) {
    return error(entry, "expected true or false, got " + quote(text) +
                            " (other spellings mean different things to different YAML "
                            "readers)");
  }
  return error(entry, "expected true or false, got " + quote(text));
}

Status YamlReader::parse_duration_value(const Entry& entry, std::chrono::milliseconds* out) const {
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

Result<size_t> YamlReader::read_name(const Entry& entry, std::string_view what,
                                     const std::vector<std::string_view>& names) const {
  Result<std::string> text = scalar(entry, "a " + std::string(what) + " name");
  if (!text) return text.error();
  for (size_t i = 0; i < names.size(); ++i) {
    if (text.value() == names[i]) return i;
  }
  return error(entry, "unknown " + std::string(what) + " " + quote(text.value()) +
                          " (valid: " + join(names) + ")" + suggest(text.value(), names));
}

Status YamlReader::parse_cidr_value(const Entry& entry, Cidr* out) const {
  Result<std::string> text = scalar(entry, "a network like 10.0.0.0/8");
  if (!text) return text.error();
  Result<Cidr> cidr = read_cidr(text.value());
  if (!cidr) return error(entry, cidr.error().message);
  *out = std::move(cidr).value();
  return Ok{};
}

// 443, or a range "8000-8999" (quoted or not: YAML reads 8000-8999 as a string).
Status YamlReader::parse_port_range_value(const Entry& entry, PortRange* out) const {
  Result<std::string> text = scalar(entry, "a port or a port range like 8000-8999");
  if (!text) return text.error();
  Result<PortRange> range = read_port_range(text.value());
  if (!range) return error(entry, range.error().message);
  *out = range.value();
  return Ok{};
}

Status YamlReader::parse_port_ranges(const Entry& entry, std::vector<PortRange>* out) const {
  return parse_list(
      entry, "a list of ports like [443, \"8000-8999\"]", out,
      [&](const Entry& item, PortRange* range) { return parse_port_range_value(item, range); });
}

Status YamlReader::parse_cidrs(const Entry& entry, std::vector<Cidr>* out) const {
  return parse_list(entry, "a list of networks like [10.0.0.0/8]", out,
                    [&](const Entry& item, Cidr* cidr) { return parse_cidr_value(item, cidr); });
}

}  // namespace tcpconnect::config_detail
