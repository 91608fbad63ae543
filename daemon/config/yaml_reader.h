// Reading values out of a yaml-cpp document for the config parser (parse.cpp): the types
// the config file uses (strings, decimal integers, YAML 1.2 booleans, durations, enum
// names, networks, port ranges, lists of them), each refused with a "FILE:LINE:COLUMN:
// key: problem" error an operator can act on; unknown and repeated keys; a work budget
// against alias bombs; and where each key's value was written, for validation errors.
#pragma once

#include <yaml-cpp/yaml.h>

#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <limits>
#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "config/config.h"
#include "config/text.h"
#include "util/result.h"

namespace tcpconnect::config_detail {

// The work budget (YamlReader::charge): a key, a list item or a scalar byte costs 1.
// Without aliases a file cannot cost more than about one unit per byte it holds.
constexpr size_t kBudgetPerByte = 4;
constexpr size_t kBudgetSlack = 4096;

// "name:LINE:COLUMN" (1-based), or just the name when the mark is null.
Error error_at(const std::string& name, const YAML::Mark& mark, std::string_view problem);
// "a map", "a list", the quoted scalar, or "nothing": what was found instead.
std::string describe(const YAML::Node& node);
// " (first at LINE:COLUMN)", for a repeated key or item.
std::string first_at(const YAML::Mark& mark);

// One key of a map, or one item of a list: the nodes, for positions, and its dotted path
// ("filters.ports[2]"), for messages.
struct Entry {
  std::string path;
  YAML::Node key;  // the item itself for list items
  YAML::Node value;
  bool item = false;
};

class YamlReader {
 public:
  // name: the file name for messages. budget: see charge().
  YamlReader(const std::string& name, size_t budget) : name_(name), budget_(budget) {}

  Error error(const YAML::Mark& mark, std::string_view problem) const;
  // At the entry's value, or at its key when the value is missing; prefixed with its path.
  Error error(const Entry& entry, std::string_view problem) const;

  // Calls handle(entry) for each key of a section after checking the section is a map (or
  // empty: "web:" alone means all defaults), that every key is known and none is repeated.
  Status for_each_entry(const YAML::Node& map, const std::string& section,
                        const std::vector<std::string_view>& known,
                        const std::function<Status(const Entry&)>& handle);

  // Records where the value at `path` was written, for mark_of.
  void remember(const Entry& entry);
  // Where a value was written, so that validation can point at it: any key's value, or an
  // item of a list that is one ("filters.ports[2]", "allowlist[0].cidr").
  YAML::Mark mark_of(const std::string& path) const;

  // An alias names its anchor's node again without its bytes; every key, list item and
  // scalar byte taken is charged here against a budget proportional to the file's size.
  Status charge(const YAML::Node& node, size_t cost) const;

  // Calls parse_item(item_entry, &element) for each item of a list value. The checks on the
  // elements and on the list's length are validation's.
  template <typename T, typename ParseItem>
  Status parse_list(const Entry& entry, std::string_view what, std::vector<T>* out,
                    ParseItem parse_item) const {
    if (Status status = expect_list(entry, what); !status) return status;
    std::vector<T> items;
    size_t index = 0;
    for (const YAML::Node& node : entry.value) {
      if (Status status = charge(node, 1); !status) return status;
      const Entry item{indexed(entry.path, index++), node, node, true};
      T value{};
      if (Status status = parse_item(item, &value); !status) return status;
      items.push_back(std::move(value));
    }
    *out = std::move(items);
    return Ok{};
  }

  // The scalar's text; `what` names the expected type for the error.
  Result<std::string> scalar(const Entry& entry, std::string_view what) const;
  Status parse_string(const Entry& entry, std::string* out) const;
  Status parse_strings(const Entry& entry, std::string_view what,
                       std::vector<std::string>* out) const;
  Status parse_bool(const Entry& entry, bool* out) const;
  Status parse_duration_value(const Entry& entry, std::chrono::milliseconds* out) const;
  Status parse_cidr_value(const Entry& entry, Cidr* out) const;
  Status parse_cidrs(const Entry& entry, std::vector<Cidr>* out) const;
  Status parse_port_ranges(const Entry& entry, std::vector<PortRange>* out) const;

  // Plain decimal digits that fit in T; the documented bounds [min, max] are only named in
  // messages here (validation checks them, also for configs built in code).
  template <typename T>
  Status parse_unsigned(const Entry& entry, uint64_t min, uint64_t max, T* out) const {
    uint64_t value = 0;
    if (Status status = read_unsigned(entry, min, max, std::numeric_limits<T>::max(), &value);
        !status) {
      return status;
    }
    *out = static_cast<T>(value);
    return Ok{};
  }

  // One of `names`, stored as the enum value of its index.
  template <typename E, size_t N>
  Status parse_enum(const Entry& entry, std::string_view what,
                    const std::array<std::string_view, N>& names, E* out) const {
    Result<size_t> index = read_name(entry, what, {names.begin(), names.end()});
    if (!index) return index.error();
    *out = static_cast<E>(index.value());
    return Ok{};
  }

 private:
  Status expect_list(const Entry& entry, std::string_view what) const;
  Status read_unsigned(const Entry& entry, uint64_t min, uint64_t max, uint64_t type_max,
                       uint64_t* out) const;
  Result<size_t> read_name(const Entry& entry, std::string_view what,
                           const std::vector<std::string_view>& names) const;
  Status parse_port_range_value(const Entry& entry, PortRange* out) const;

  const std::string name_;
  mutable size_t budget_;
  std::map<std::string, YAML::Node> nodes_;
};

}  // namespace tcpconnect::config_detail
