// A ConnectSource backed by plain maps, standing in for the kernel in unit tests.
#pragma once

#include <cstring>
#include <map>
#include <vector>

#include "probes/connect_source.h"

namespace tcpconnect::testing {

class FakeConnectSource : public ConnectSource {
 public:
  std::vector<std::pair<tc_connect_key, tc_connect_counts>> connects;
  ErrorCounts errors{};
  bool fail_connects_after_one = false;

  Status read_connects(const std::function<void(const tc_connect_key&,
                                                const tc_connect_counts&)>& visit) override {
    size_t n = 0;
    for (const auto& [k, v] : connects) {
      if (fail_connects_after_one && n++ == 1) return Error{"injected failure", EIO};
      visit(k, v);
    }
    return Ok{};
  }
  Result<ErrorCounts> read_errors() override { return errors; }
  std::vector<tc_connect_key> in_flight;
  // Whether the drain takes what is in flight from the counts rather than `in_flight`.
  bool counts_in_flight = false;
  bool in_flight_from_counts() override { return counts_in_flight; }
  Status read_in_flight(const std::function<void(const tc_connect_key&)>& visit) override {
    for (const tc_connect_key& k : in_flight) visit(k);
    return Ok{};
  }

  // Deletion for idle expiry: removes the key; `grow_on_take` is added to its value at the
  // moment of deletion (what the kernel counted between the last read and the delete).
  tc_connect_counts grow_on_take{};
  std::vector<tc_connect_key> taken;
  Result<std::optional<tc_connect_counts>> take_connects(const tc_connect_key& key) override {
    for (auto it = connects.begin(); it != connects.end(); ++it) {
      if (std::memcmp(&it->first, &key, sizeof(key)) != 0) continue;
      tc_connect_counts v = it->second;
      v.attempts += grow_on_take.attempts;
      v.established += grow_on_take.established;
      connects.erase(it);
      taken.push_back(key);
      return std::optional<tc_connect_counts>(v);
    }
    return std::optional<tc_connect_counts>();
  }
  std::vector<uint32_t> key_fields_written;
  Status set_key_fields(uint32_t fields) override {
    key_fields_written.push_back(fields);
    return Ok{};
  }
};

inline tc_connect_key v4_key(const char* saddr, const char* daddr, uint16_t dport) {
  tc_connect_key k{};
  k.family = TC_AF_INET;
  k.dport = dport;
  unsigned a, b, c, d;
  std::sscanf(saddr, "%u.%u.%u.%u", &a, &b, &c, &d);
  k.saddr[0] = a, k.saddr[1] = b, k.saddr[2] = c, k.saddr[3] = d;
  std::sscanf(daddr, "%u.%u.%u.%u", &a, &b, &c, &d);
  k.daddr[0] = a, k.daddr[1] = b, k.daddr[2] = c, k.daddr[3] = d;
  return k;
}

inline tc_connect_counts counts(uint64_t attempts, uint64_t established = 0,
                                uint64_t refused = 0) {
  tc_connect_counts c{};
  c.attempts = attempts;
  c.established = established;
  c.failed[TC_FAIL_REFUSED] = refused;
  return c;
}

}  // namespace tcpconnect::testing
