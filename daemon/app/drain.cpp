#include "app/drain.h"

#include <cstring>
#include <string_view>

#include "metrics/labels.h"

namespace tcpconnect {
namespace {

size_t hash_bytes(const void* p, size_t n) {
  return std::hash<std::string_view>{}(std::string_view(static_cast<const char*>(p), n));
}

// Growth of a cumulative kernel value. A value below the previous read means the kernel
// entry was deleted and created anew: all of it is new.
template <size_t N>
void delta(const uint64_t (&now)[N], const uint64_t (&before)[N], uint64_t (&out)[N]) {
  bool recreated = false;
  for (size_t i = 0; i < N; ++i) recreated |= now[i] < before[i];
  for (size_t i = 0; i < N; ++i) out[i] = recreated ? now[i] : now[i] - before[i];
}

template <typename T>
using Words = uint64_t[sizeof(T) / sizeof(uint64_t)];

template <typename T>
T growth(const T& now, const T* before) {
  static_assert(sizeof(T) % sizeof(uint64_t) == 0);
  if (!before) return now;
  Words<T> a, b, d;
  std::memcpy(a, &now, sizeof(T));
  std::memcpy(b, before, sizeof(T));
  delta(a, b, d);
  T out;
  std::memcpy(&out, d, sizeof(T));
  return out;
}

// The value a key had when last folded: earlier in this drain (a map walk racing with
// inserts can return a key twice) or in the previous one.
template <typename Map>
const typename Map::mapped_type* previous(const Map& before, const Map& seen,
                                          const typename Map::key_type& key) {
  if (auto it = seen.find(key); it != seen.end()) return &it->second;
  if (auto it = before.find(key); it != before.end()) return &it->second;
  return nullptr;
}

// After a complete walk the keys seen are all there is; after a partial one, what was
// folded is remembered and the rest kept for the next drain.
template <typename Map>
void commit(Map& state, Map&& seen, bool complete) {
  if (complete) {
    state = std::move(seen);
    return;
  }
  for (auto& [k, v] : seen) state.insert_or_assign(k, v);
}

}  // namespace

size_t ConnectKeyHash::operator()(const tc_connect_key& k) const noexcept {
  return hash_bytes(&k, sizeof(k));
}
bool ConnectKeyEq::operator()(const tc_connect_key& a, const tc_connect_key& b) const noexcept {
  return std::memcmp(&a, &b, sizeof(a)) == 0;
}
size_t LatencyKeyHash::operator()(const tc_latency_key& k) const noexcept {
  return hash_bytes(&k, sizeof(k));
}
bool LatencyKeyEq::operator()(const tc_latency_key& a, const tc_latency_key& b) const noexcept {
  return std::memcmp(&a, &b, sizeof(a)) == 0;
}

Drain::Drain(ConnectSource& source, std::shared_ptr<SeriesStore> store, LabelsConfig labels,
             DestinationNamer namer)
    : source_(source), store_(std::move(store)), labels_(std::move(labels)), namer_(std::move(namer)) {}

std::string Drain::name_of(uint16_t family, const uint8_t (&addr)[16]) const {
  return namer_ ? namer_(family, addr) : std::string();
}

LabelValues Drain::connect_labels(const tc_connect_key& key) const {
  LabelValues out;
  out.reserve(labels_.keep.size());
  for (Label l : labels_.keep) {
    switch (l) {
      case Label::kFamily:
        out.emplace_back(family_name(key.family));
        break;
      case Label::kSaddr:
        out.push_back(format_address(key.family, key.saddr));
        break;
      case Label::kDaddr:
        out.push_back(format_address(key.family, key.daddr));
        break;
      case Label::kDport:
        out.push_back(std::to_string(key.dport));
        break;
      case Label::kDnsName:
        out.push_back(name_of(key.family, key.daddr));
        break;
      case Label::kUid:
        out.push_back(std::to_string(key.uid));
        break;
      case Label::kPid:
        out.push_back(std::to_string(key.tgid));
        break;
      case Label::kComm:
        out.emplace_back(key.comm, strnlen(key.comm, sizeof(key.comm)));
        break;
      case Label::kUnit:
      case Label::kLport:
        out.emplace_back();  // filled in by the filters/labels work (issue 4)
        break;
    }
  }
  return out;
}

Status Drain::run_once() {
  if (before_read_) before_read_();
  // Errors first: an attempt the kernel could not key is counted there, and must not
  // show up later than the keyed ones made after it.
  Status errors = drain_errors();
  Status connects = drain_connects();
  Status latency = drain_latency();
  for (const Status* s : {&errors, &connects, &latency})
    if (!*s) return s->error();
  return Ok{};
}

Status Drain::drain_errors() {
  auto now = source_.read_errors();
  if (!now) return now.error();
  const ErrorCounts& e = now.value();
  if (e[TC_ERR_CONNECTS_FULL] > errors_[TC_ERR_CONNECTS_FULL]) {
    ConnectCounts lost;
    lost.attempts = e[TC_ERR_CONNECTS_FULL] - errors_[TC_ERR_CONNECTS_FULL];
    store_->add_connects_overflow(lost);
  }
  errors_ = e;
  return Ok{};
}

Status Drain::drain_connects() {
  decltype(connects_) seen;
  seen.reserve(connects_.size());
  Status s = source_.read_connects([&](const tc_connect_key& key, const tc_connect_counts& now) {
    tc_connect_counts d = growth(now, previous(connects_, seen, key));
    seen.insert_or_assign(key, now);
    ConnectCounts c;
    c.attempts = d.attempts;
    c.established = d.established;
    for (size_t i = 0; i < c.failed.size(); ++i) c.failed[i] = d.failed[i];
    if (c.empty()) return;
    store_->add_connects(connect_labels(key), c);
  });
  commit(connects_, std::move(seen), s.ok());
  return s;
}

Status Drain::drain_latency() {
  decltype(latency_) seen;
  seen.reserve(latency_.size());
  Status s = source_.read_latency([&](const tc_latency_key& key, const tc_latency_hist& now) {
    tc_latency_hist d = growth(now, previous(latency_, seen, key));
    seen.insert_or_assign(key, now);
    if (d.count == 0) return;
    LatencyCounts l;
    l.count = d.count;
    l.sum_ns = d.sum_ns;
    for (size_t i = 0; i < l.buckets.size(); ++i) l.buckets[i] = d.buckets[i];
    std::string name = labels_.has(Label::kDnsName) ? name_of(key.family, key.daddr) : "";
    std::string daddr = name.empty() && labels_.has(Label::kDaddr)
                            ? format_address(key.family, key.daddr)
                            : std::string();
    store_->add_latency({std::move(name), std::move(daddr)}, l);
  });
  commit(latency_, std::move(seen), s.ok());
  return s;
}

}  // namespace tcpconnect
