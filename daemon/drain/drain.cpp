#include "drain/drain.h"

#include <cstring>

#include "metrics/labels.h"

namespace tcpconnect {
namespace {

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

// A connect key's growth: its latest attempt's time is a time, not a count, and takes no
// part in telling a recreated key (only the counters do).
tc_connect_counts growth(const tc_connect_counts& now, const tc_connect_counts* before) {
  tc_connect_counts n = now;
  n.last_connect_ns = 0;
  tc_connect_counts b{};
  if (before) {
    b = *before;
    b.last_connect_ns = 0;
  }
  tc_connect_counts d = growth<tc_connect_counts>(n, before ? &b : nullptr);
  d.last_connect_ns = d.attempts ? now.last_connect_ns : 0;
  return d;
}

template <typename T>
bool all_zero(const T& v) {
  Words<T> w;
  std::memcpy(w, &v, sizeof(T));
  for (uint64_t x : w)
    if (x) return false;
  return true;
}

// One key returned by a walk of a kernel map: its growth since it was last read (by the
// previous drain, or earlier in this walk: a walk racing with inserts can return a key
// twice), recorded in place. Returns the growth, all zero when none.
template <typename State, typename Key, typename Value>
Value track(State& state, const Key& key, const Value& value, SteadyTime now) {
  bool inserted = false;
  auto& t = state.visit(key, &inserted);
  Value d = growth(value, inserted ? nullptr : &t.value);
  if (inserted || !all_zero(d)) t.grown = now;
  t.value = value;
  return d;
}

// Deletes from the kernel's map (through `take`) and from `state` the keys that did not
// grow since `cutoff`. What grew since the last read is folded with the final value first
// (and makes its series current again). Returns how many keys went; a failed deletion is
// counted in `delete_errors` and the key kept.
template <typename Key, typename State, typename Keep, typename Take, typename Fold>
uint64_t expire_idle_keys(State& state, SteadyTime cutoff, uint64_t& delete_errors, Keep&& keep,
                          Take&& take, Fold&& fold) {
  std::vector<Key> idle;
  for (const auto& [key, t] : state.entries())
    if (t.grown < cutoff && !keep(key, t.value)) idle.push_back(key);
  uint64_t deleted = 0;
  for (const Key& key : idle) {
    auto taken = take(key);
    if (!taken) {
      ++delete_errors;
      continue;
    }
    if (taken.value()) {
      auto d = growth(*taken.value(), &state.find(key)->value);
      if (!all_zero(d)) fold(key, d);
    }
    state.erase(key);
    ++deleted;
  }
  return deleted;
}

ConnectCounts to_counts(const tc_connect_counts& d) {
  ConnectCounts c;
  c.attempts = d.attempts;
  c.established = d.established;
  for (size_t i = 0; i < c.failed.size(); ++i) c.failed[i] = d.failed[i];
  c.syn_retransmits = d.syn_retransmits;
  return c;
}

LatencyCounts to_latency(const tc_latency_hist& d) {
  LatencyCounts l;
  l.count = d.count;
  l.sum_ns = d.sum_ns;
  for (size_t i = 0; i < l.buckets.size(); ++i) l.buckets[i] = d.buckets[i];
  return l;
}

Family family_of(uint16_t af) { return af == TC_AF_INET6 ? Family::kIpv6 : Family::kIpv4; }

// Attempts of a key without an outcome yet, less its offset (attempts written off, or
// outcomes whose attempt was never counted, negative): in flight.
int64_t unanswered(const tc_connect_counts& c, int64_t offset) {
  uint64_t outcomes = c.established;
  for (uint64_t f : c.failed) outcomes += f;
  return static_cast<int64_t>(c.attempts - outcomes) - offset;
}

// Keys the sweep settled, remembered for re-folds; beyond this they are only folded.
constexpr size_t kMaxSettledKeys = 65536;

}  // namespace

Drain::Drain(ConnectSource& source, std::shared_ptr<SeriesStore> store, LabelsConfig labels,
             DestinationNamer namer)
    : source_(source),
      store_(std::move(store)),
      renderer_(std::move(labels), namer),
      namer_(std::move(namer)) {}

std::string Drain::name_of(uint64_t netns, uint16_t family, const uint8_t (&addr)[16]) const {
  return renderer_.name_of(netns, family, addr);
}

LabelValues Drain::connect_labels(const tc_connect_key& key) const {
  return renderer_.connect_labels(key);
}

void Drain::set_unit_namer(UnitNamer units, std::function<void()> begin_round) {
  std::lock_guard<std::mutex> lock(mu_);
  units_ = units;
  renderer_.set_units(std::move(units));
  units_round_ = std::move(begin_round);
}

void Drain::set_pod_namer(PodNamer pods, std::function<void()> begin_round) {
  std::lock_guard<std::mutex> lock(mu_);
  pods_ = pods;
  renderer_.set_pods(std::move(pods));
  pods_round_ = std::move(begin_round);
}

Status Drain::set_pod_filters(const FiltersConfig& filters) {
  std::lock_guard<std::mutex> lock(mu_);
  FiltersConfig pods;
  pods.namespaces = filters.namespaces;
  pods.exclude_namespaces = filters.exclude_namespaces;
  pods.pods = filters.pods;
  pods.exclude_pods = filters.exclude_pods;
  const bool cgroup_changed = pods.filters_pods() != pod_filters_.filters_pods();
  pod_filters_ = std::move(pods);
  if (configured_ && cgroup_changed)
    return source_.set_key_fields(key_fields(renderer_.config(), allowlist_));
  return Ok{};
}

uint32_t Drain::key_fields(const LabelsConfig& labels, const AllowlistConfig& allowlist) const {
  return kernel_key_fields(labels, allowlist, key_netns_, pod_filters_.filters_pods());
}

bool Drain::counted(const tc_connect_key& key) const {
  if (!pod_filters_.filters_pods()) return true;
  const PodLabels pod = renderer_.pod_of(key);
  return pod_filters_.counts_pod(pod.namespace_name, pod.pod);
}

void Drain::set_idle_expiry(std::chrono::milliseconds idle) {
  std::lock_guard<std::mutex> lock(mu_);
  idle_expiry_ = idle;
}

Drain::ExpiryStats Drain::expiry_stats() const {
  std::lock_guard<std::mutex> lock(mu_);
  return expiry_;
}

size_t Drain::tracked_keys() const {
  std::lock_guard<std::mutex> lock(mu_);
  return connects_.size();
}

Status Drain::run_once(DrainKind kind) {
  std::lock_guard<std::mutex> lock(mu_);
  return run_locked(kind);
}

Status Drain::run_locked(DrainKind kind) {
  if (before_read_) before_read_(kind);
  if (units_round_) units_round_();
  if (pods_round_) pods_round_();
  const SteadyTime now = clock_();
  // Errors first: an attempt the kernel could not key is counted there, and must not
  // show up later than the keyed ones made after it.
  Status errors = drain_errors();
  Status connects = drain_connects(now);
  if (after_fold_) after_fold_(kind);
  // After the connects: an attempt counted at SYN_SENT has its series by now.
  Status in_flight = drain_in_flight(now);
  for (const Status* s : {&errors, &connects, &in_flight})
    if (!*s) return s->error();
  expire(now);
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
    // Without a key there is no destination to check: fail closed.
    if (allowlist_.enabled) store_->add_unexpected_overflow(UnexpectedCounts{lost.attempts});
  }
  errors_ = e;
  return Ok{};
}

void Drain::fold_connect(const tc_connect_key& key, const tc_connect_counts& delta,
                         SteadyTime now) {
  ConnectCounts c = to_counts(delta);
  if (c.empty() || !counted(key)) return;
  const std::string name = name_of(key.netns, key.family, key.daddr);
  LabelValues labels = renderer_.connect_labels(key, name);
  if (allowlist_.enabled && c.attempts > 0 &&
      !allowlist_.allows(family_of(key.family), key.daddr, key.dport, name)) {
    store_->add_unexpected(labels, UnexpectedCounts{c.attempts}, now);
  }
  if (stale_ && c.attempts > 0 && stale_(key.netns, key.family, key.daddr))
    store_->add_stale(labels, UnexpectedCounts{c.attempts}, now);
  store_->add_connects(labels, c, now);
  if (delta.latency.count > 0)
    store_->add_latency(renderer_.latency_labels(key.family, key.daddr, name),
                        to_latency(delta.latency), now);
  if (track_destinations_ && delta.attempts > 0)
    destinations_.add(key, delta.attempts, delta.last_connect_ns);
}

Status Drain::drain_connects(SteadyTime now) {
  connects_.begin_walk();
  Status s = source_.read_connects([&](const tc_connect_key& key, const tc_connect_counts& value) {
    tc_connect_counts d = track(connects_, key, value, now);
    if (!all_zero(d)) fold_connect(key, d, now);
  });
  connects_.end_walk(s.ok());
  return s;
}

Status Drain::drain_in_flight(SteadyTime now) {
  std::unordered_map<LabelValues, uint64_t, LabelValuesHash> by_labels;
  in_flight_from_counts_ = source_.in_flight_from_counts();
  if (in_flight_from_counts_) {
    in_flight_from_counts(now, by_labels);
  } else {
    Status s = source_.read_in_flight([&](const tc_connect_key& key) {
      if (!counted(key)) return;
      ++by_labels[renderer_.connect_labels(key, name_of(key.netns, key.family, key.daddr))];
    });
    if (!s) return s;
  }
  // The connect series' caps: a label set that is no connect series (it went to the
  // overflow series) is in flight there too.
  SeriesStore::InFlight in_flight;
  for (auto& [labels, n] : by_labels) {
    if (store_->connects().get(labels))
      in_flight.series.emplace_back(labels, n);
    else
      in_flight.overflow += n;
  }
  store_->set_in_flight(std::move(in_flight));
  return Ok{};
}

// Each key's attempts less its outcomes, less its offset. A key that did not grow for
// kOutcomeMaxWait with attempts still unanswered had their outcomes missed (a run the
// kernel skipped, counted in the program's recursion misses): they are written off,
// counted, and leave the gauge. An outcome without its attempt (the probe attached
// after the connect, a key expired between an attempt and its outcome) would make the
// difference negative and hide connects in flight later: the offset takes it up.
void Drain::in_flight_from_counts(
    SteadyTime now, std::unordered_map<LabelValues, uint64_t, LabelValuesHash>& by_labels) {
  const SteadyTime stale = now - kOutcomeMaxWait;
  for (const auto& [key, t] : connects_.entries()) {
    auto off = in_flight_offset_.find(key);
    const int64_t n = unanswered(t.value, off == in_flight_offset_.end() ? 0 : off->second);
    if (n < 0) in_flight_offset_[key] += n;
    if (n <= 0) continue;
    if (t.grown < stale) {
      in_flight_offset_[key] += n;
      outcomes_written_off_ += static_cast<uint64_t>(n);
      continue;
    }
    if (!counted(key)) continue;
    by_labels[renderer_.connect_labels(key, name_of(key.netns, key.family, key.daddr))] +=
        static_cast<uint64_t>(n);
  }
}

void Drain::expire(SteadyTime now) {
  if (idle_expiry_.count() <= 0) return;
  const SteadyTime cutoff = now - idle_expiry_;
  // Kernel keys first, then series that did not grow go. A key with connects in flight
  // stays until they are answered or written off: its outcome would otherwise make a
  // new key without their attempts.
  expiry_.connect_keys_deleted += expire_idle_keys<tc_connect_key>(
      connects_, cutoff, expiry_.delete_errors,
      [&](const tc_connect_key& key, const tc_connect_counts& c) {
        if (!in_flight_from_counts_) return false;
        auto off = in_flight_offset_.find(key);
        return unanswered(c, off == in_flight_offset_.end() ? 0 : off->second) > 0;
      },
      [&](const tc_connect_key& key) {
        auto taken = source_.take_connects(key);
        if (taken) in_flight_offset_.erase(key);
        return taken;
      },
      [&](const tc_connect_key& key, const tc_connect_counts& d) { fold_connect(key, d, now); });
  store_->expire_idle(cutoff);
}

void Drain::add_settled_attempts(const std::vector<tc_connect_key>& keys) {
  std::lock_guard<std::mutex> lock(mu_);
  const SteadyTime now = clock_();
  for (const tc_connect_key& key : keys) {
    tc_connect_counts one{};
    one.attempts = 1;
    fold_connect(key, one, now);
    if (settled_.size() < kMaxSettledKeys || settled_.count(key)) ++settled_[key];
  }
}

SeriesStore::Contents Drain::refold() const {
  SeriesStore::Contents c;
  c.label_names = renderer_.label_names();
  c.unexpected_enabled = allowlist_.enabled;
  std::unordered_map<LabelValues, ConnectCounts, LabelValuesHash> connects;
  std::unordered_map<LabelValues, UnexpectedCounts, LabelValuesHash> unexpected;
  auto add = [&](const tc_connect_key& key, const ConnectCounts& counts) {
    if (counts.empty() || !counted(key)) return;
    const std::string name = name_of(key.netns, key.family, key.daddr);
    LabelValues labels = renderer_.connect_labels(key, name);
    if (allowlist_.enabled && counts.attempts > 0 &&
        !allowlist_.allows(family_of(key.family), key.daddr, key.dport, name))
      unexpected[labels].attempts += counts.attempts;
    connects[std::move(labels)] += counts;
  };
  for (const auto& [key, t] : connects_.entries()) add(key, to_counts(t.value));
  for (const auto& [key, n] : settled_) {
    ConnectCounts counts;
    counts.attempts = n;
    add(key, counts);
  }
  for (auto& [labels, counts] : connects) c.connects.emplace_back(labels, counts);
  for (auto& [labels, counts] : unexpected) c.unexpected.emplace_back(labels, counts);
  if (errors_[TC_ERR_CONNECTS_FULL] > 0) {
    ConnectCounts lost;
    lost.attempts = errors_[TC_ERR_CONNECTS_FULL];
    c.connects_overflow = lost;
    if (allowlist_.enabled) c.unexpected_overflow = UnexpectedCounts{lost.attempts};
  }
  std::unordered_map<LabelValues, LatencyCounts, LabelValuesHash> latency;
  for (const auto& [key, t] : connects_.entries()) {
    if (t.value.latency.count == 0 || !counted(key)) continue;
    latency[renderer_.latency_labels(key.family, key.daddr,
                                     name_of(key.netns, key.family, key.daddr))] +=
        to_latency(t.value.latency);
  }
  for (auto& [labels, l] : latency) c.latency.emplace_back(labels, l);
  return c;
}

Status Drain::configure(const LabelsConfig& labels, const AllowlistConfig& allowlist) {
  std::lock_guard<std::mutex> lock(mu_);
  const bool first = !configured_;
  const bool labels_changed = labels != renderer_.config();
  const bool allowlist_changed = allowlist != allowlist_;
  // Everything counted so far is folded under the labels it was counted with.
  if (!first && labels_changed) {
    if (Status s = run_locked(DrainKind::kPeriodic); !s) return s;
  }
  if (Status s = source_.set_key_fields(key_fields(labels, allowlist)); !s) return s;
  const bool survive = !first && labels.keep == renderer_.config().keep;
  renderer_ = LabelRenderer(labels, namer_, units_, pods_);
  allowlist_ = allowlist;
  configured_ = true;
  if (first || labels_changed) {
    store_->replace(refold(), survive, clock_());
  } else if (allowlist_changed && !allowlist.enabled) {
    store_->reset_unexpected(false);  // the family goes, with its series
  } else if (allowlist_changed) {
    store_->set_unexpected_enabled(true);  // rules apply to what is counted from now on
  }
  return Ok{};
}

}  // namespace tcpconnect
