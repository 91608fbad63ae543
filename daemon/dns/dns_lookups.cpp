#include "dns/dns_lookups.h"

#include <algorithm>

#include "util/safe_text.h"

namespace tcpconnect {
namespace {

uint64_t fnv(uint64_t h, const uint8_t* p, size_t n) {
  for (size_t i = 0; i < n; ++i) h = (h ^ p[i]) * 1099511628211ull;
  return h;
}

constexpr uint64_t kFnvBasis = 1469598103934665603ull;

}  // namespace

size_t DnsLookups::NameKeyHash::operator()(const NameKey& k) const noexcept {
  uint64_t h = fnv(kFnvBasis, reinterpret_cast<const uint8_t*>(k.name.data()), k.name.size());
  const uint16_t tail[2] = {k.qtype_slot, k.rcode};
  return static_cast<size_t>(fnv(h, reinterpret_cast<const uint8_t*>(tail), sizeof(tail)));
}

size_t DnsLookups::ServerKeyHash::operator()(const ServerKey& k) const noexcept {
  uint64_t h = fnv(kFnvBasis, k.addr.data(), k.addr.size());
  return static_cast<size_t>(fnv(h, reinterpret_cast<const uint8_t*>(&k.family), sizeof(k.family)));
}

uint64_t& DnsLookups::name_entry(std::unordered_map<NameKey, uint64_t, NameKeyHash>& table,
                                 NameKey key, size_t* named, uint64_t* dropped) {
  // The root's name is "" in DNS terms: "." as a label, so that "" stays the overflow.
  if (key.name.empty()) key.name.push_back('.');
  make_safe_text(key.name);
  if (auto it = table.find(key); it != table.end()) return it->second;
  // The overflow entries (one per qtype and rcode at most) take no slot: max_series named
  // ones at most.
  if (*named >= max_series()) {
    ++*dropped;
    return table[NameKey{"", key.qtype_slot, key.rcode}];
  }
  ++*named;
  return table[std::move(key)];
}

void DnsLookups::answered(const std::string& name, size_t qtype_slot, size_t rcode, uint16_t family,
                          const std::array<uint8_t, 16>& server, uint64_t duration_ns) {
  std::lock_guard<std::mutex> lock(mu_);
  ++name_entry(lookups_,
               NameKey{name, static_cast<uint16_t>(qtype_slot), static_cast<uint16_t>(rcode)},
               &named_lookups_, &dropped_lookups_);
  ServerKey key{family, server};
  auto it = durations_.find(key);
  if (it == durations_.end()) {
    size_t named = durations_.size() - durations_.count(ServerKey{0, {}});
    if (named >= max_series()) {
      ++dropped_durations_;
      key = ServerKey{0, {}};
    }
    it = durations_.try_emplace(key).first;
  }
  Histogram& h = it->second;
  const double seconds = static_cast<double>(duration_ns) / 1e9;
  const size_t bucket = static_cast<size_t>(
      std::lower_bound(kDnsLookupBounds.begin(), kDnsLookupBounds.end(), seconds) -
      kDnsLookupBounds.begin());
  ++h.buckets[bucket];
  ++h.count;
  h.sum_ns += duration_ns;
}

void DnsLookups::unanswered(const std::string& name, size_t qtype_slot) {
  std::lock_guard<std::mutex> lock(mu_);
  ++name_entry(unanswered_, NameKey{name, static_cast<uint16_t>(qtype_slot), 0}, &named_unanswered_,
               &dropped_unanswered_);
}

DnsLookups::Snapshot DnsLookups::snapshot() const {
  Snapshot s;
  std::lock_guard<std::mutex> lock(mu_);
  s.lookups.reserve(lookups_.size());
  for (const auto& [k, n] : lookups_) s.lookups.push_back({k.name, k.qtype_slot, k.rcode, n});
  s.unanswered.reserve(unanswered_.size());
  for (const auto& [k, n] : unanswered_) s.unanswered.push_back({k.name, k.qtype_slot, n});
  s.durations.reserve(durations_.size());
  for (const auto& [k, h] : durations_) s.durations.push_back({Server{k.family, k.addr}, h});
  s.dropped_lookups = dropped_lookups_;
  s.dropped_unanswered = dropped_unanswered_;
  s.dropped_durations = dropped_durations_;
  return s;
}

}  // namespace tcpconnect
