#include "dns/dns_layer.h"

#include <poll.h>
#include <pthread.h>
#include <spdlog/spdlog.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>

#include "dns/dns_collector.h"
#include "shared/dns.h"
#include "util/clock.h"

namespace tcpconnect {
namespace {

// The smallest record a ring holds: the kernel's 8-byte header and the event.
constexpr size_t kMinRingRecord = 8 + sizeof(tc_dns_event);

}  // namespace

DnsLayer::Options DnsLayer::options_from(const DnsConfig& config, size_t max_series) {
  Options o;
  o.queries.timeout = config.lookup_timeout;
  o.stale_grace = config.stale_grace;
  o.max_series = max_series;
  o.capture.method = config.capture;
  o.capture.ports = config.ports;
  o.capture.capture_bytes = config.capture_bytes;
  o.capture.ring_bytes = config.ring_bytes;
  o.cache.max_entries = config.cache_entries;
  o.cache.max_age = config.max_age;
  o.scoped = config.scope == DnsScope::kNetns;
  return o;
}

DnsLayer::DnsLayer(const Options& options)
    : state_(std::make_shared<DnsLayerState>(options.cache, options.queries, options.max_series)),
      ingest_(state_->cache, state_->stats, state_->queries, options.scoped, &state_->lookups),
      stale_grace_ns_(static_cast<uint64_t>(std::max<int64_t>(0, options.stale_grace.count()))),
      poll_interval_(options.poll_interval),
      drain_budget_(
          std::clamp<size_t>(options.capture.ring_bytes / kMinRingRecord, 1, kMaxDrainBudget)) {
  state_->attribution = std::make_unique<DnsAttribution>(
      state_->cache, [this](const DestinationVisitor& visit) -> Status {
        return reader_ ? reader_(visit) : Status(Ok{});
      });
}

Result<std::unique_ptr<DnsLayer>> DnsLayer::start(const Options& options) {
  std::unique_ptr<DnsLayer> layer(new DnsLayer(options));
  DnsLayer* self = layer.get();
  auto capture = open_dns_capture(options.capture, [self](const DnsPacket& p) {
    std::lock_guard<std::mutex> lock(self->ingest_mu_);
    self->ingest_.ingest(p);
  });
  if (!capture) return capture.error();
  layer->capture_ = std::move(capture).value();
  layer->state_->method = layer->capture_->method();
  if (options.poller_thread) {
    if (Status s = layer->start_poller(); !s) return s.error();
  }
  return layer;
}

Status DnsLayer::start_poller() {
  if (thread_.joinable()) return Ok{};
  if (stop_fd_ < 0) stop_fd_ = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (stop_fd_ < 0) return Error::from_errno("eventfd", errno);
  thread_ = std::thread([this] { poller(); });
  // Named, so that `top -H` and the flood benchmark can tell its CPU apart.
  pthread_setname_np(thread_.native_handle(), "dns-poller");
  return Ok{};
}

std::unique_ptr<DnsLayer> start_dns_layer(const DnsConfig& config, size_t max_series) {
  DnsLayer::Options options = DnsLayer::options_from(config, max_series);
  options.poller_thread = false;
  auto layer = DnsLayer::start(options);
  if (!layer) {
    spdlog::warn("DNS capture unavailable, destinations will not be named: {}",
                 layer.error().message);
    return nullptr;
  }
  spdlog::info("DNS capture: {} via {}", to_string(layer.value()->method()),
               layer.value()->describe());
  return std::move(layer).value();
}

DnsLayer::~DnsLayer() {
  {
    std::lock_guard<std::mutex> lock(turn_mu_);
    stopping_ = true;
  }
  turn_cv_.notify_all();
  if (thread_.joinable()) {
    uint64_t one = 1;
    if (write(stop_fd_, &one, sizeof(one)) < 0) spdlog::debug("DNS poller: stop write failed");
    thread_.join();
  }
  if (stop_fd_ >= 0) close(stop_fd_);
}

void DnsLayer::set_destination_reader(DestinationReader reader) { reader_ = std::move(reader); }


bool DnsLayer::poll_for(size_t max, std::chrono::milliseconds time, bool yield_to_drains) {
  const auto deadline = std::chrono::steady_clock::now() + time;
  size_t read = 0;
  bool caught_up = false;
  while (read < max) {
    const size_t want = std::min(kChunk, max - read);
    auto n = capture_->poll(want);
    if (!n) {
      // Once per failing streak: a broken capture must not flood the log every 100 ms.
      if (!poll_failing_.exchange(true)) spdlog::warn("DNS capture: {}", n.error().message);
      caught_up = true;
      break;
    }
    if (poll_failing_.exchange(false)) spdlog::info("DNS capture: polling again");
    read += n.value();
    if (n.value() < want) {
      caught_up = true;
      break;
    }
    if (std::chrono::steady_clock::now() >= deadline) break;
    if (yield_to_drains && drains_waiting_.load(std::memory_order_relaxed) > 0) break;
  }
  DnsCaptureCounters c = capture_->counters();
  state_->captured.store(c.captured, std::memory_order_relaxed);
  state_->lost.store(c.lost, std::memory_order_relaxed);
  state_->skipped_ipv6_ext.store(c.skipped_ipv6_ext, std::memory_order_relaxed);
  state_->unreadable.store(c.unreadable, std::memory_order_relaxed);
  state_->unsolicited_in_kernel.store(c.unsolicited, std::memory_order_relaxed);
  return caught_up;
}

void DnsLayer::poll_now() {
  {
    std::lock_guard<std::mutex> lock(turn_mu_);
    ++drains_waiting_;
  }
  poll_for(drain_budget_, kDrainTime, false);
  {
    std::lock_guard<std::mutex> lock(turn_mu_);
    --drains_waiting_;
  }
  turn_cv_.notify_all();
}

void DnsLayer::before_drain() {
  poll_now();
  const uint64_t now = monotonic_ns();
  state_->cache.expire(now);
  {
    std::lock_guard<std::mutex> lock(ingest_mu_);
    state_->queries.expire(now);
  }
}

void DnsLayer::attribute() {
  if (Status s = state_->attribution->run(monotonic_ns()); !s)
    spdlog::warn("DNS attribution: {}", s.error().message);
}

std::string DnsLayer::name_of(uint64_t netns, uint16_t family, const uint8_t (&addr)[16]) {
  std::array<uint8_t, 16> a;
  std::memcpy(a.data(), addr, sizeof(addr));
  return state_->cache.name_of(family, a, monotonic_ns(), netns);
}

bool DnsLayer::is_stale(uint64_t netns, uint16_t family, const uint8_t (&addr)[16]) {
  std::array<uint8_t, 16> a;
  std::memcpy(a.data(), addr, sizeof(addr));
  return state_->cache.stale(family, a, monotonic_ns(), netns, stale_grace_ns_);
}

std::shared_ptr<prometheus::Collectable> DnsLayer::collector() const {
  return std::make_shared<DnsCollector>(state_);
}

void DnsLayer::poller() {
  const int timeout = static_cast<int>(poll_interval_.count());
  // Bounded by the stop signal: the destructor writes stop_fd_ and joins.
  for (;;) {
    pollfd fds[2] = {{capture_->wait_fd(), POLLIN, 0}, {stop_fd_, POLLIN, 0}};
    int r = ::poll(fds, 2, timeout);
    if (r < 0 && errno != EINTR) {
      spdlog::warn("DNS poller: poll: {}", std::strerror(errno));
      return;
    }
    if (r > 0 && (fds[1].revents & POLLIN)) return;
    // Batch by batch until caught up; a drain that waits for the capture goes first.
    for (;;) {
      {
        std::unique_lock<std::mutex> lock(turn_mu_);
        turn_cv_.wait(lock, [this] { return drains_waiting_ == 0 || stopping_; });
        if (stopping_) return;
      }
      if (poll_for(kPollerBatch, kPollerTime, true)) break;
    }
  }
}

}  // namespace tcpconnect
