// The DNS layer as the daemon uses it: a capture, its consumer (packets -> messages ->
// cache), a thread that polls the capture whenever it signals (so that a flood cannot
// fill the ring between two drains), the attribution of connects, and the collector of
// the DNS metrics (metric::kDns*).
//
// Bounded work: packets are consumed in chunks of kChunk, and a poll stops after a
// number of packets or a time, whichever comes first. The poller thread polls in batches
// (kPollerBatch packets, kPollerTime) and lets a waiting drain go first between two
// batches; the drain's own poll (before_drain()) reads at most drain_budget() packets
// for at most kDrainTime. So a flood delays a drain by at most one chunk of the poller
// plus kDrainTime, however fast responses arrive and however long each takes to parse.
//
// Ordering: the drain calls before_drain() before it reads any connect count. That poll
// waits for the poller's chunk in progress, then reads up to drain_budget() packets: the
// ring's capacity in events (capped), so every response in the ring when the drain
// started is in the cache when the connects it enabled are named, unless reading them
// takes longer than kDrainTime (tens of thousands of ordinary responses fit in it: a
// flood), or the ring holds more than kMaxDrainBudget events, or the packet socket's
// buffer more than the budget. Then the oldest are read first, and the rest name the
// connects of a later drain.
#pragma once

#include <prometheus/collectable.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "config/config.h"
#include "dns/dns_attribution.h"
#include "dns/dns_cache.h"
#include "dns/dns_capture.h"
#include "dns/dns_ingest.h"
#include "dns/dns_stats.h"
#include "util/result.h"

namespace tcpconnect {

// Everything the collector renders; shared with it, so a scrape never outlives it.
struct DnsLayerState {
  DnsLayerState(const DnsCache::Options& cache_options, const DnsQueries::Options& query_options,
                size_t max_series)
      : cache(cache_options), queries(query_options), lookups(max_series) {}

  DnsCapture method = DnsCapture::kAuto;
  DnsStats stats;
  DnsCache cache;
  DnsQueries queries;
  DnsLookups lookups;
  std::unique_ptr<DnsAttribution> attribution;
  std::atomic<uint64_t> captured{0};
  std::atomic<uint64_t> lost{0};
  std::atomic<uint64_t> skipped_ipv6_ext{0};
  std::atomic<uint64_t> unreadable{0};
  std::atomic<uint64_t> unsolicited_in_kernel{0};  // DnsCaptureCounters::unsolicited
};

class DnsLayer {
 public:
  struct Options {
    DnsCaptureOptions capture;
    DnsCache::Options cache;
    DnsQueries::Options queries;  // timeout: dns.lookup_timeout
    // How long past its TTL an answer's address may still be connected to before a
    // connect there is stale (dns.stale_grace).
    std::chrono::nanoseconds stale_grace{0};
    // Label sets per lookup metric (limits.max_series).
    size_t max_series = 10000;
    // Answers name connects of the asking socket's network namespace only (dns.scope:
    // netns), or every connect (host).
    bool scoped = true;
    // The poller's longest sleep; it wakes sooner when the capture signals.
    std::chrono::milliseconds poll_interval{100};
    bool poller_thread = true;  // off: only before_drain()/poll_now() consume, until
                                // start_poller()
  };
  static Options options_from(const DnsConfig& config, size_t max_series = 10000);

  // Opens the capture and starts polling it. An error means nothing is captured.
  static Result<std::unique_ptr<DnsLayer>> start(const Options& options);
  ~DnsLayer();  // stops the poller, then detaches the capture
  DnsLayer(const DnsLayer&) = delete;
  DnsLayer& operator=(const DnsLayer&) = delete;

  // Starts the poller thread if it is not running. The daemon calls it after dropping
  // capabilities (they are per thread); polling needs none beyond CAP_BPF.
  Status start_poller();

  // Where each destination's activity since the last attribution comes from (set before
  // the first drain).
  void set_destination_reader(DestinationReader reader);

  // The drain's first step: consume the capture and expire old answers and questions
  // asked longer than dns.lookup_timeout ago (unanswered lookups).
  void before_drain();
  // Attributes the connects since the last attribution: a walk of each destination's
  // activity as the drains folded it (Drain::destinations). The daemon does it after the
  // periodic drains' fold only, so the attribution metrics trail the connect counts by up
  // to a drain interval.
  void attribute();
  // Consumes what has been captured so far, at most drain_budget() packets and for at
  // most kDrainTime.
  void poll_now();

  // Packets per capture poll: the longest the poller holds the capture at a time (ordinary
  // responses parse in about 0.5 us, the largest in tens).
  static constexpr size_t kChunk = 64;
  // One batch of the poller thread; a drain that waits goes first after the chunk in
  // progress.
  static constexpr size_t kPollerBatch = 1024;
  static constexpr std::chrono::milliseconds kPollerTime{5};
  // The drain's poll.
  static constexpr size_t kMaxDrainBudget = 65536;
  static constexpr std::chrono::milliseconds kDrainTime{20};
  // Packets the drain's poll reads at most: as many events as the ring can hold (the
  // smallest event: the ring's header and tc_dns_event), at most kMaxDrainBudget.
  size_t drain_budget() const { return drain_budget_; }

  // The dns_name label of a destination connected to from network namespace `netns`
  // (the drain's DestinationNamer). The kernel keys connects with their namespace only
  // when names are scoped (TC_KEY_NETNS): 0 is the host-wide scope.
  std::string name_of(uint64_t netns, uint16_t family, const uint8_t (&addr)[16]);
  // Whether a connect to that destination now goes to an address DNS no longer gives
  // (DnsCache::stale with dns.stale_grace): the drain's stale verdict.
  bool is_stale(uint64_t netns, uint16_t family, const uint8_t (&addr)[16]);

  // The cap of the lookup metrics' label sets (limits.max_series, also on reload).
  void set_max_series(size_t n) { state_->lookups.set_max_series(n); }

  std::shared_ptr<prometheus::Collectable> collector() const;
  DnsCapture method() const { return state_->method; }
  std::string describe() const { return capture_->describe(); }
  DnsCache& cache() { return state_->cache; }
  const DnsStats& stats() const { return state_->stats; }
  const DnsLayerState& state() const { return *state_; }

 private:
  explicit DnsLayer(const Options& options);
  void poller();
  // Capture polls of kChunk packets until `max` packets were read, it caught up, or
  // `time` passed (or, for the poller, a drain waits); the counters published. Returns
  // whether it caught up (an error, logged once per failing streak, counts as caught up:
  // retried at the next wakeup).
  bool poll_for(size_t max, std::chrono::milliseconds time, bool yield_to_drains);

  std::shared_ptr<DnsLayerState> state_;
  DnsIngest ingest_;
  // Serialises the ingest (called by the capture's poll) with the drain's expiry of
  // unanswered questions, which must happen even when no DNS packet arrives.
  std::mutex ingest_mu_;
  DestinationReader reader_;
  uint64_t stale_grace_ns_;
  std::unique_ptr<DnsCaptureSource> capture_;
  std::chrono::milliseconds poll_interval_;
  size_t drain_budget_;
  // A drain waiting for the capture: the poller starts no batch meanwhile.
  std::mutex turn_mu_;
  std::condition_variable turn_cv_;
  std::atomic<int> drains_waiting_{0};  // changed under turn_mu_
  bool stopping_ = false;               // under turn_mu_
  int stop_fd_ = -1;
  std::atomic<bool> poll_failing_{false};
  std::thread thread_;
};

// For the daemon: the layer dns.* asks for, or nullptr (logged as a warning: the daemon
// runs on without names) when it cannot capture. Logs which capture it uses.
std::unique_ptr<DnsLayer> start_dns_layer(const DnsConfig& config, size_t max_series);

}  // namespace tcpconnect
