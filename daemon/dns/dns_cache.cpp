#include "dns/dns_cache.h"

#include <algorithm>
#include <string_view>

namespace tcpconnect {
namespace {

constexpr size_t kShards = 16;
// An entry is expired on lookup as well; the sweep only bounds the memory of answers
// nobody looks up, so it may stop early.
constexpr size_t kMaxExpiredPerShardSweep = 4096;

}  // namespace

size_t DnsAddressKeyHash::operator()(const DnsAddressKey& k) const noexcept {
  // FNV-1a over the address: cheap, and the low bits pick the shard as well as the bucket.
  uint64_t h = 1469598103934665603ull ^ k.family;
  for (uint8_t b : k.addr) h = (h ^ b) * 1099511628211ull;
  h = (h ^ k.scope) * 1099511628211ull;
  return static_cast<size_t>(h ^ (h >> 32));
}

DnsCache::DnsCache(const Options& options)
    : max_entries_(std::max<size_t>(1, options.max_entries)),
      max_age_ns_(static_cast<uint64_t>(std::max<int64_t>(0, options.max_age.count()))) {
  // Never more shards than entries, so that the per-shard capacities add up to exactly
  // max_entries.
  const size_t n = std::min(kShards, max_entries_);
  for (size_t i = 0; i < n; ++i) {
    auto s = std::make_unique<Shard>();
    s->capacity = max_entries_ / n + (i < max_entries_ % n ? 1 : 0);
    shards_.push_back(std::move(s));
  }
}

DnsCache::Shard& DnsCache::shard_of(const Key& key) {
  return *shards_[(KeyHash{}(key) >> 7) % shards_.size()];
}

bool DnsCache::expired(const DnsCacheEntry& e, uint64_t now_ns) const {
  return now_ns > e.response_ns && now_ns - e.response_ns > max_age_ns_;
}

void DnsCache::erase(Shard& shard, std::list<Node>::iterator it) {
  shard.index.erase(it->key);
  shard.lru.erase(it);
  size_.fetch_sub(1, std::memory_order_relaxed);
}

void DnsCache::insert(uint16_t family, const std::array<uint8_t, 16>& addr, std::string_view name,
                      std::string_view canonical, uint64_t response_ns, uint64_t scope,
                      uint32_t ttl_s) {
  const uint64_t expires_ns = response_ns + uint64_t{ttl_s} * 1'000'000'000ull;
  Key key{family, addr, scope};
  Shard& s = shard_of(key);
  std::lock_guard<std::mutex> lock(s.mu);
  if (auto it = s.index.find(key); it != s.index.end()) {
    DnsCacheEntry& e = it->second->entry;
    if (response_ns < e.response_ns) return;
    e.name.assign(name);
    e.canonical.assign(canonical);
    e.response_ns = response_ns;
    e.expires_ns = expires_ns;
    s.lru.splice(s.lru.begin(), s.lru, it->second);
    return;
  }
  while (s.index.size() >= s.capacity && !s.lru.empty()) {
    erase(s, std::prev(s.lru.end()));
    evicted_capacity_.fetch_add(1, std::memory_order_relaxed);
  }
  s.lru.push_front(
      Node{key, DnsCacheEntry{std::string(name), std::string(canonical), response_ns, expires_ns}});
  s.index.emplace(key, s.lru.begin());
  size_.fetch_add(1, std::memory_order_relaxed);
}

std::optional<DnsCacheEntry> DnsCache::lookup(uint16_t family, const std::array<uint8_t, 16>& addr,
                                              uint64_t now_ns, uint64_t scope) {
  Key key{family, addr, scope};
  Shard& s = shard_of(key);
  std::lock_guard<std::mutex> lock(s.mu);
  auto it = s.index.find(key);
  if (it == s.index.end()) return std::nullopt;
  if (expired(it->second->entry, now_ns)) {
    erase(s, it->second);
    evicted_age_.fetch_add(1, std::memory_order_relaxed);
    return std::nullopt;
  }
  s.lru.splice(s.lru.begin(), s.lru, it->second);
  return it->second->entry;
}

std::string DnsCache::name_of(uint16_t family, const std::array<uint8_t, 16>& addr, uint64_t now_ns,
                              uint64_t scope) {
  if (auto e = lookup(family, addr, now_ns, scope)) return std::move(e->name);
  if (is_loopback(family, addr)) return "localhost";
  return "";
}

size_t DnsCache::AnswerKeyHash::operator()(const AnswerKey& k) const noexcept {
  uint64_t h = 1469598103934665603ull ^ k.family;
  for (char c : k.name) h = (h ^ static_cast<uint8_t>(c)) * 1099511628211ull;
  h = (h ^ k.scope) * 1099511628211ull;
  return static_cast<size_t>(h ^ (h >> 32));
}

void DnsCache::answered(uint64_t scope, std::string_view name, uint16_t family,
                        std::vector<std::array<uint8_t, 16>> addrs, uint64_t response_ns) {
  AnswerKey key{scope, family, std::string(name)};
  std::lock_guard<std::mutex> lock(answers_mu_);
  if (auto it = answers_.find(key); it != answers_.end()) {
    if (response_ns < it->second->response_ns) return;  // an older answer, late
    it->second->response_ns = response_ns;
    it->second->addrs = std::move(addrs);
    answers_lru_.splice(answers_lru_.begin(), answers_lru_, it->second);
    return;
  }
  while (answers_.size() >= max_entries_ && !answers_lru_.empty()) {
    answers_.erase(answers_lru_.back().key);
    answers_lru_.pop_back();
    evicted_answers_.fetch_add(1, std::memory_order_relaxed);
  }
  answers_lru_.push_front(Answer{key, response_ns, std::move(addrs)});
  answers_.emplace(std::move(key), answers_lru_.begin());
}

size_t DnsCache::answers() const {
  std::lock_guard<std::mutex> lock(answers_mu_);
  return answers_.size();
}

bool DnsCache::stale(uint16_t family, const std::array<uint8_t, 16>& addr, uint64_t now_ns,
                     uint64_t scope, uint64_t grace_ns) {
  auto e = lookup(family, addr, now_ns, scope);
  if (!e || now_ns <= e->expires_ns + grace_ns) return false;
  std::lock_guard<std::mutex> lock(answers_mu_);
  auto it = answers_.find(AnswerKey{scope, family, std::move(e->name)});
  if (it == answers_.end()) return false;
  const Answer& latest = *it->second;
  if (latest.response_ns <= e->response_ns) return false;  // the answer that named it
  return std::find(latest.addrs.begin(), latest.addrs.end(), addr) == latest.addrs.end();
}

void DnsCache::expire(uint64_t now_ns) {
  for (auto& shard : shards_) {
    Shard& s = *shard;
    std::lock_guard<std::mutex> lock(s.mu);
    for (size_t n = 0; n < kMaxExpiredPerShardSweep && !s.lru.empty(); ++n) {
      auto oldest = std::prev(s.lru.end());
      if (!expired(oldest->entry, now_ns)) break;
      erase(s, oldest);
      evicted_age_.fetch_add(1, std::memory_order_relaxed);
    }
  }
}

bool is_loopback(uint16_t family, const std::array<uint8_t, 16>& addr) {
  if (family == 2) return addr[0] == 127;
  if (family == 10) {
    for (size_t i = 0; i < 15; ++i)
      if (addr[i] != 0) return false;
    return addr[15] == 1;
  }
  return false;
}

}  // namespace tcpconnect
