// libFuzzer target for the small parsers of operator- and network-supplied text, each
// with the properties its callers rely on:
//   selector % 7 == 0: parse_duration (config durations): non-negative, and
//                      format_duration of the result parses back to it
//   1: parse_cidr (config networks, trace options): its canonical text parses back to the
//      same network, which contains its own address
//   2: parse_port_range (config ports, trace -P): 1 <= first <= last
//   3: the listen address (config web.listen_address, --web.listen-address), checked as
//      validate_config checks it (civetweb_listen_spec, in web/web_server.cpp, only
//      rewrites what passed: it is covered by the web tests, not compiled here)
//   4: unit_of_cgroup_path (the `unit` label; cgroup names are chosen by whoever may
//      create cgroups, containers included): "" or one component of the path
//   5: parse_cgroup2_mounts (/proc/self/mountinfo text; mount points are escaped paths)
//   6: allowlist name globs against DNS names (names come off the network): a pattern
//      that validates matches without a star exactly what it spells
// An input is the selector byte, then the text. Selector 6: pattern, "\n", name.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "config/config.h"
#include "config/duration.h"
#include "probes/cgroup_fs.h"

namespace {

void check(bool ok) {
  if (!ok) __builtin_trap();
}

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace tcpconnect;
  if (size == 0) return 0;
  const uint8_t selector = data[0];
  // A copy of exactly the text, so that ASan sees any read past its end.
  const std::string text(reinterpret_cast<const char*>(data + 1), size - 1);
  switch (selector % 7) {
    case 0: {
      Result<std::chrono::milliseconds> d = parse_duration(text);
      if (d.ok()) {
        check(d.value().count() >= 0);
        const std::string formatted = format_duration(d.value());
        Result<std::chrono::milliseconds> again = parse_duration(formatted);
        check(again.ok() && again.value() == d.value());
      } else {
        check(!d.error().message.empty());
      }
      break;
    }
    case 1: {
      Result<Cidr> cidr = parse_cidr(text);
      if (cidr.ok()) {
        const Cidr& c = cidr.value();
        check(c.prefix_len <= (c.family == Family::kIpv4 ? 32 : 128));
        Result<Cidr> again = parse_cidr(c.text);
        check(again.ok() && again.value() == c);
        check(c.contains(c.family, c.addr.data()));
      }
      break;
    }
    case 2: {
      Result<PortRange> range = parse_port_range(text);
      if (range.ok()) {
        const PortRange& r = range.value();
        check(r.first >= 1 && r.first <= r.last);
        check(r.contains(r.first) && r.contains(r.last));
      }
      break;
    }
    case 3: {
      Config config;
      config.web.listen_address = text;
      Status valid = validate_config(config);
      if (valid.ok()) {
        // "," separates civetweb's listening ports: one address must stay one listener.
        check(text.find(',') == std::string::npos && text.find(':') != std::string::npos);
      } else {
        check(valid.error().message.find_first_of("\n\r") == std::string::npos);
      }
      break;
    }
    case 4: {
      const std::string unit = unit_of_cgroup_path(text);
      check(unit.find('/') == std::string::npos);
      check(unit.empty() || text.find(unit) != std::string::npos);
      break;
    }
    case 5: {
      for (const Cgroup2Mount& mount : parse_cgroup2_mounts(text))
        check(mount.mount_point.size() <= text.size());
      break;
    }
    case 6: {
      const size_t newline = text.find('\n');
      if (newline == std::string::npos) break;
      const std::string pattern = text.substr(0, newline);
      const std::string name = text.substr(newline + 1);
      Config config;
      config.allowlist.enabled = true;
      AllowRule rule;
      rule.name = pattern;
      config.allowlist.rules = {rule};
      if (!validate_config(config).ok()) break;
      const uint8_t addr[16] = {127, 0, 0, 1};
      const bool matched = rule.matches(Family::kIpv4, addr, 443, name);
      if (pattern.find('*') == std::string::npos) {
        std::string bare = name;
        if (!bare.empty() && bare.back() == '.') bare.pop_back();
        check(matched == (!bare.empty() && lower(bare) == pattern));
      }
      break;
    }
  }
  return 0;
}
