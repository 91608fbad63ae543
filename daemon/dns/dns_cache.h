// Address -> the DNS answer that named it. Filled by the capture's consumer, read by the
// drain (one thread each): sharded by address hash so that they rarely wait on each
// other. Bounded by entries (least recently used goes first) and by age (an answer older
// than max_age names nothing). Depends on the C++ library only: the fuzz target compiles
// it on its own.
#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <list>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace tcpconnect {

struct DnsCacheEntry {
  std::string name;          // the name the application asked for
  std::string canonical;     // the end of its CNAME chain
  uint64_t response_ns = 0;  // CLOCK_MONOTONIC of the answer
  uint64_t expires_ns = 0;   // response_ns + the answer's TTL
};

// An address as the kernel keys it (family, 16 bytes, IPv4 in the first 4) in a scope:
// the cache's key. The scope is the network namespace (cookie) whose lookup learnt the
// answer, and the only one it names connects for; 0 when names are host-wide (dns.scope:
// host). (DnsAttribution keeps its per-destination state under the kernel's own key.)
struct DnsAddressKey {
  uint16_t family;
  std::array<uint8_t, 16> addr;
  uint64_t scope = 0;
  bool operator==(const DnsAddressKey& o) const = default;
};
struct DnsAddressKeyHash {
  size_t operator()(const DnsAddressKey& k) const noexcept;
};

class DnsCache {
 public:
  struct Options {
    size_t max_entries = 10240;
    std::chrono::nanoseconds max_age = std::chrono::hours(24);
  };
  explicit DnsCache(const Options& options);

  // `addr` was named in `scope` by an answer at response_ns (CLOCK_MONOTONIC). The most
  // recent answer wins: one older than what is held (answers can reach the consumer out
  // of order across CPUs) changes nothing.
  void insert(uint16_t family, const std::array<uint8_t, 16>& addr, std::string_view name,
              std::string_view canonical, uint64_t response_ns, uint64_t scope = 0,
              uint32_t ttl_s = 0);

  // The latest complete answer for `name` in `scope` for one family (an A question: 2,
  // AAAA: 10) gave these addresses (none for NXDOMAIN or no records). At most
  // max_entries (scope, name, family) are remembered, least recently answered first.
  void answered(uint64_t scope, std::string_view name, uint16_t family,
                std::vector<std::array<uint8_t, 16>> addrs, uint64_t response_ns);

  // Whether a connect to addr in `scope` at now_ns goes to an address DNS no longer
  // gives: the answer that named it (lookup()) is older than its TTL plus grace_ns, and
  // a later answer for its name and family does not contain it.
  bool stale(uint16_t family, const std::array<uint8_t, 16>& addr, uint64_t now_ns, uint64_t scope,
             uint64_t grace_ns);
  size_t answers() const;
  uint64_t evicted_answers() const { return evicted_answers_.load(std::memory_order_relaxed); }

  // The answer that names addr in `scope`, unless none is held or it is older than max_age
  // at now_ns.
  std::optional<DnsCacheEntry> lookup(uint16_t family, const std::array<uint8_t, 16>& addr,
                                      uint64_t now_ns, uint64_t scope = 0);

  // The dns_name label value: the question name of the answer held in `scope`; for a
  // loopback address no answer names, "localhost" (as the seed tool prints it); else "".
  std::string name_of(uint16_t family, const std::array<uint8_t, 16>& addr, uint64_t now_ns,
                      uint64_t scope = 0);

  // Drops every answer older than max_age at now_ns. Visits each shard's oldest-used
  // entries only, so it costs what it removes.
  void expire(uint64_t now_ns);

  size_t size() const { return size_.load(std::memory_order_relaxed); }
  uint64_t evicted_capacity() const { return evicted_capacity_.load(std::memory_order_relaxed); }
  uint64_t evicted_age() const { return evicted_age_.load(std::memory_order_relaxed); }
  size_t max_entries() const { return max_entries_; }

 private:
  using Key = DnsAddressKey;
  using KeyHash = DnsAddressKeyHash;
  struct Node {
    Key key;
    DnsCacheEntry entry;
  };
  struct Shard {
    std::mutex mu;
    std::list<Node> lru;  // most recently used first
    std::unordered_map<Key, std::list<Node>::iterator, KeyHash> index;
    size_t capacity = 0;
  };

  Shard& shard_of(const Key& key);
  bool expired(const DnsCacheEntry& e, uint64_t now_ns) const;
  void erase(Shard& shard, std::list<Node>::iterator it);

  struct AnswerKey {
    uint64_t scope;
    uint16_t family;
    std::string name;
    bool operator==(const AnswerKey& o) const = default;
  };
  struct AnswerKeyHash {
    size_t operator()(const AnswerKey& k) const noexcept;
  };
  struct Answer {
    AnswerKey key;
    uint64_t response_ns;
    std::vector<std::array<uint8_t, 16>> addrs;
  };

  const size_t max_entries_;
  mutable std::mutex answers_mu_;
  std::list<Answer> answers_lru_;  // most recently answered first
  std::unordered_map<AnswerKey, std::list<Answer>::iterator, AnswerKeyHash> answers_;
  std::atomic<uint64_t> evicted_answers_{0};
  const uint64_t max_age_ns_;
  std::vector<std::unique_ptr<Shard>> shards_;
  std::atomic<size_t> size_{0};
  std::atomic<uint64_t> evicted_capacity_{0};
  std::atomic<uint64_t> evicted_age_{0};
};

// 127.0.0.0/8 or ::1 (v4-mapped loopback is reported as IPv4 by the kernel side).
bool is_loopback(uint16_t family, const std::array<uint8_t, 16>& addr);

}  // namespace tcpconnect
