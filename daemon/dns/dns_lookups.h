// DNS lookup health: answered lookups by name, query type and response code; lookups
// left unanswered past dns.lookup_timeout by name and query type; query-to-answer time
// per resolver address. Names come from the queries of any local process (a tenant's
// random-subdomain flood included), so each table is capped: at most max_series label
// sets, beyond which increments go to one overflow series (dns_name="overflow", or
// server="overflow") and are counted as dropped. Names are made safe label text
// (util/safe_text.h) before they become a key, so two names that read alike share one
// series.
//
// Written by the capture's consumer, read by the scrape: one mutex, held for a map
// update or a copy of the tables.
#pragma once

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

namespace tcpconnect {

// Buckets of the lookup duration histogram (metric::kDnsLookupDuration), upper bounds in
// seconds.
inline constexpr std::array<double, 14> kDnsLookupBounds = {
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5};

class DnsLookups {
 public:
  explicit DnsLookups(size_t max_series) : max_series_(max_series) {}

  // A lookup answered after duration_ns by `server` (family 2 or 10, IPv4 in the first
  // 4 bytes). qtype_slot and rcode as DnsStats counts them (dns_qtype_slot, 0..15).
  void answered(const std::string& name, size_t qtype_slot, size_t rcode, uint16_t family,
                const std::array<uint8_t, 16>& server, uint64_t duration_ns);
  // A lookup dropped unanswered after the timeout.
  void unanswered(const std::string& name, size_t qtype_slot);

  struct Histogram {
    std::array<uint64_t, kDnsLookupBounds.size() + 1> buckets{};  // not cumulative
    uint64_t count = 0;
    uint64_t sum_ns = 0;
  };
  struct Server {
    uint16_t family = 0;  // 0: the overflow series
    std::array<uint8_t, 16> addr{};
  };
  // A copy of the tables for the scrape; overflow entries have an empty name.
  struct Snapshot {
    struct Lookup {
      std::string name;
      size_t qtype_slot;
      size_t rcode;
      uint64_t count;
    };
    struct Unanswered {
      std::string name;
      size_t qtype_slot;
      uint64_t count;
    };
    std::vector<Lookup> lookups;
    std::vector<Unanswered> unanswered;
    std::vector<std::pair<Server, Histogram>> durations;
    uint64_t dropped_lookups = 0;  // increments that went to the overflow series
    uint64_t dropped_unanswered = 0;
    uint64_t dropped_durations = 0;
  };
  Snapshot snapshot() const;

  // Label sets per table at most (limits.max_series); lowering it keeps what exists.
  void set_max_series(size_t n) { max_series_.store(n, std::memory_order_relaxed); }
  size_t max_series() const { return max_series_.load(std::memory_order_relaxed); }

 private:
  struct NameKey {
    std::string name;  // "" is the overflow series (the root's lookups read ".")
    uint16_t qtype_slot;
    uint16_t rcode;  // unused (0) for the unanswered table
    bool operator==(const NameKey& o) const = default;
  };
  struct NameKeyHash {
    size_t operator()(const NameKey& k) const noexcept;
  };
  struct ServerKey {
    uint16_t family;
    std::array<uint8_t, 16> addr;
    bool operator==(const ServerKey& o) const = default;
  };
  struct ServerKeyHash {
    size_t operator()(const ServerKey& k) const noexcept;
  };
  // The key's entry, or the overflow entry when the table is full.
  uint64_t& name_entry(std::unordered_map<NameKey, uint64_t, NameKeyHash>& table, NameKey key,
                       size_t* named, uint64_t* dropped);

  std::atomic<size_t> max_series_;
  mutable std::mutex mu_;
  std::unordered_map<NameKey, uint64_t, NameKeyHash> lookups_;
  std::unordered_map<NameKey, uint64_t, NameKeyHash> unanswered_;
  std::unordered_map<ServerKey, Histogram, ServerKeyHash> durations_;
  size_t named_lookups_ = 0;  // entries other than the overflow ones
  size_t named_unanswered_ = 0;
  uint64_t dropped_lookups_ = 0;
  uint64_t dropped_unanswered_ = 0;
  uint64_t dropped_durations_ = 0;
};

}  // namespace tcpconnect
