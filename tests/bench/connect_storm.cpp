// connect_storm: a loopback connect/close load generator for the connect-throughput
// benchmark (tests/bench/run_connect_bench.sh).
//
// N threads connect to a listener on 127.0.0.1 (or ::1) and close at once; its own accept
// thread(s) accept and close. Every connect runs the probe on CLOSE->SYN_SENT and the
// other state changes of both ends, which is what the exporter adds to a connect. The run
// is bounded both by a connect count and by time. The last line is machine-readable:
//   result port=P connects=N errors=E seconds=S connects_per_second=R listen_overflows=L
//          cpu_us_per_connect=C
// where P is the listener's port, so that a tracer's count for it can be compared, and C is
// the CPU time (user + system, both ends and the loopback softirq work done in this
// process) per connect: less sensitive to other load on the machine than R.
// A benchmark only: it prints what it measured and asserts nothing about it.
#include <sys/resource.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "loopback_storm.h"

namespace {

using Clock = std::chrono::steady_clock;
using tcpconnect::bench::StormListener;

// Connect slots are claimed in batches so the threads do not share a cache line per connect.
constexpr int64_t kClaimBatch = 256;

struct Options {
  int threads = 2;
  int accept_threads = 1;
  double seconds = 3;
  int64_t max_connects = 2000000;
  int family = 4;
  std::string close_mode = "fin";
};

struct ThreadResult {
  int64_t connects = 0;
  std::map<int, int64_t> errors;  // errno -> count
};

double cpu_seconds() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  auto sec = [](const timeval& t) { return static_cast<double>(t.tv_sec) + t.tv_usec / 1e6; };
  return sec(u.ru_utime) + sec(u.ru_stime);
}

ThreadResult connect_loop(const Options& o, const StormListener& target, Clock::time_point start,
                          Clock::time_point deadline, std::atomic<int64_t>& claimed) {
  ThreadResult r;
  const auto close_mode = o.close_mode == "rst" ? tcpconnect::bench::CloseMode::kRst
                                                : tcpconnect::bench::CloseMode::kFin;
  std::this_thread::sleep_until(start);
  for (;;) {
    int64_t first = claimed.fetch_add(kClaimBatch, std::memory_order_relaxed);
    if (first >= o.max_connects) break;
    int64_t last = std::min(first + kClaimBatch, o.max_connects);
    for (int64_t i = first; i < last; ++i) {
      if (Clock::now() >= deadline) return r;
      if (int err = tcpconnect::bench::connect_and_close(target, close_mode))
        ++r.errors[err];
      else
        ++r.connects;
    }
  }
  return r;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Loopback TCP connect/close load generator (benchmark; asserts nothing)."};
  Options o;
  app.add_option("--threads", o.threads, "Connecting threads")
      ->check(CLI::Range(1, 256))
      ->capture_default_str();
  app.add_option("--accept-threads", o.accept_threads, "Accepting threads")
      ->check(CLI::Range(1, 64))
      ->capture_default_str();
  app.add_option("--seconds", o.seconds, "Stop after this long")
      ->check(CLI::Range(0.1, 600.0))
      ->capture_default_str();
  app.add_option("--max-connects", o.max_connects, "Stop after this many connects in total")
      ->check(CLI::Range(int64_t{1}, int64_t{1} << 40))
      ->capture_default_str();
  app.add_option("--family", o.family, "4 (127.0.0.1) or 6 (::1)")
      ->check(CLI::IsMember({4, 6}))
      ->capture_default_str();
  app.add_option("--close", o.close_mode,
                 "How the client closes: fin (orderly; the port passes through TIME_WAIT) or "
                 "rst (SO_LINGER 0)")
      ->check(CLI::IsMember({"fin", "rst"}))
      ->capture_default_str();
  CLI11_PARSE(app, argc, argv);

  std::string error;
  auto listener = StormListener::start(o.family, o.accept_threads, &error);
  if (!listener) {
    std::fprintf(stderr, "connect_storm: %s\n", error.c_str());
    return 1;
  }

  const int64_t overflows_before = tcpconnect::bench::listen_overflows();
  const double cpu_before = cpu_seconds();
  // A common start lets every thread be created before the clock runs.
  const auto start = Clock::now() + std::chrono::milliseconds(20);
  const auto deadline =
      start + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(o.seconds));
  std::atomic<int64_t> claimed{0};
  std::vector<ThreadResult> results(o.threads);
  std::vector<std::thread> connectors;
  for (int i = 0; i < o.threads; ++i)
    connectors.emplace_back(
        [&, i] { results[i] = connect_loop(o, *listener, start, deadline, claimed); });
  for (auto& t : connectors) t.join();
  const double elapsed = std::chrono::duration<double>(Clock::now() - start).count();
  listener->stop();
  const double cpu = cpu_seconds() - cpu_before;
  const int64_t overflows_after = tcpconnect::bench::listen_overflows();

  int64_t connects = 0, errors = 0;
  std::map<int, int64_t> by_errno;
  for (const auto& r : results) {
    connects += r.connects;
    for (auto [e, n] : r.errors) {
      by_errno[e] += n;
      errors += n;
    }
  }
  for (auto [e, n] : by_errno)
    std::fprintf(stderr, "connect_storm: %lld connects failed: %s\n", static_cast<long long>(n),
                 std::strerror(e));
  std::printf(
      "result port=%u connects=%lld errors=%lld seconds=%.3f connects_per_second=%.0f "
      "listen_overflows=%lld cpu_us_per_connect=%.2f\n",
      static_cast<unsigned>(listener->port()), static_cast<long long>(connects),
      static_cast<long long>(errors), elapsed,
      elapsed > 0 ? static_cast<double>(connects) / elapsed : 0.0,
      static_cast<long long>(
          overflows_before >= 0 && overflows_after >= 0 ? overflows_after - overflows_before : -1),
      connects > 0 ? cpu * 1e6 / static_cast<double>(connects) : 0.0);
  return 0;
}
