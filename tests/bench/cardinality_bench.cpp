// cardinality_bench: pushes many distinct destinations (127.x.y.z, each a refused connect
// to one closed port) through a running tcpconnect_exporter, past its caps, and prints after
// each step what that costs: the daemon's RSS, the kernel memory of its BPF maps, the series
// it holds, what went to the overflow series, and whether the kernel map filled up.
//
//   sudo build/tests/bench/cardinality_bench --daemon build/tcpconnect_exporter
//        --destinations 400000 --max-series 10000 --max-entries 16384 [--idle-expiry 2s]
//
// The daemon is started with a config that counts only this port (filters), so other
// traffic on the machine does not enter the figures. A benchmark: it prints, it asserts
// nothing about what it measured.
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <regex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "bench_exporter.h"
#include "common/http.h"
#include "common/net.h"

namespace {

using namespace std::chrono_literals;
using tcpconnect::testing::closed_port;
using tcpconnect::testing::connect_once;
using tcpconnect::testing::http_get;
using tcpconnect::testing::metric_value;
using tcpconnect::bench::map_memory;
using tcpconnect::bench::MapMemory;

std::string address(uint32_t i) { return tcpconnect::bench::loopback_destination(i); }
long rss_kib(pid_t pid) { return tcpconnect::bench::proc_status_kib(pid, "VmRSS"); }


}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Distinct destinations past the exporter's caps: memory and series"};
  std::string daemon = "build/tcpconnect_exporter";
  uint32_t destinations = 200000, max_series = 10000, max_entries = 16384, steps = 8;
  int threads = 4;
  double rate = 0;
  std::string idle_expiry = "0", keep = "[family, saddr, daddr, dport, dns_name]";
  app.add_option("--daemon", daemon, "the exporter binary");
  app.add_option("--destinations", destinations, "distinct 127.x.y.z destinations")
      ->check(CLI::Range(1u, 16000000u));
  app.add_option("--max-series", max_series, "limits.max_series");
  app.add_option("--max-entries", max_entries, "probes.max_entries");
  app.add_option("--idle-expiry", idle_expiry, "limits.idle_expiry (0: off)");
  app.add_option("--keep", keep, "labels.keep, as YAML");
  app.add_option("--steps", steps, "measurements along the way")->check(CLI::Range(1u, 100u));
  app.add_option("--threads", threads, "connecting threads")->check(CLI::Range(1, 64));
  app.add_option("--rate", rate, "connects per second over all threads (0: as fast as possible)");
  CLI11_PARSE(app, argc, argv);

  const uint16_t port = closed_port(AF_INET, "127.0.0.1");
  const uint16_t web = tcpconnect::testing::closed_port(AF_INET, "127.0.0.1");
  char config[] = "/tmp/cardinality_bench_XXXXXX.yaml";
  int cfd = mkstemps(config, 5);
  if (cfd < 0) return 1;
  std::string yaml = "probes:\n  max_entries: " + std::to_string(max_entries) +
                     "\n  drain_interval: 1s\nlimits:\n  max_series: " +
                     std::to_string(max_series) + "\n  idle_expiry: " + idle_expiry +
                     "\nlabels:\n  keep: " + keep + "\nfilters:\n  ports: [" +
                     std::to_string(port) + "]\n  include_cidrs: [127.0.0.0/8]\n";
  if (write(cfd, yaml.data(), yaml.size()) != static_cast<ssize_t>(yaml.size())) return 1;
  close(cfd);

  pid_t pid = fork();
  if (pid == 0) {
    const std::string listen = "127.0.0.1:" + std::to_string(web);
    execl(daemon.c_str(), daemon.c_str(), "--config.file", config, "--web.listen-address",
          listen.c_str(), "--log.level", "warn", nullptr);
    _exit(127);
  }
  std::string body;
  for (int i = 0; i < 200; ++i) {
    auto r = http_get("127.0.0.1", web, "/metrics");
    if (r && r->status == 200) {
      body = r->body;
      break;
    }
    std::this_thread::sleep_for(100ms);
  }
  if (body.empty()) {
    std::fprintf(stderr, "the exporter did not start\n");
    kill(pid, SIGKILL);
    return 1;
  }
  std::smatch m;
  std::regex_search(body, m, std::regex("tcpconnect_probe_info\\{[^}]*id=\"([0-9]+)\""));
  const std::string prog_id = m[1].str();

  std::printf("# %u distinct destinations, max_series %u, max_entries %u, idle_expiry %s, "
              "keep %s, %d threads, rate %s\n",
              destinations, max_series, max_entries, idle_expiry.c_str(), keep.c_str(), threads,
              rate > 0 ? std::to_string(static_cast<int>(rate)).c_str() : "unlimited");
  std::printf("%12s %10s %12s %9s %12s %12s %10s %9s %s\n", "destinations", "rss_kib",
              "maps_kib", "series", "overflow", "dropped", "map_full", "expired", "big maps");
  auto report = [&](uint32_t done) {
    auto r = http_get("127.0.0.1", web, "/metrics", 30000);
    const std::string b = r ? r->body : "";
    MapMemory mem = map_memory(prog_id);
    std::printf(
        "%12u %10ld %12lld %9.0f %12.0f %12.0f %10.0f %9.0f%s\n", done, rss_kib(pid),
        mem.total / 1024,
        metric_value(b, "tcpconnect_series", {"metric=\"tcpconnect_connects_total\""}).value_or(-1),
        metric_value(b, "tcpconnect_connects_total", {"dport=\"overflow\""}).value_or(0),
        metric_value(b, "tcpconnect_series_dropped_total", {"metric=\"tcpconnect_connects_total\""})
            .value_or(-1),
        metric_value(b, "tcpconnect_map_full_total", {"map=\"connects\""}).value_or(-1),
        metric_value(b, "tcpconnect_kernel_keys_expired_total", {"map=\"connects\""}).value_or(0),
        mem.per_map.c_str());
    std::fflush(stdout);
  };
  report(0);

  std::atomic<uint32_t> next{0};
  uint32_t done = 0;
  for (uint32_t step = 1; step <= steps; ++step) {
    const uint32_t until = static_cast<uint32_t>(uint64_t{destinations} * step / steps);
    std::vector<std::thread> pool;
    const auto start = std::chrono::steady_clock::now();
    const uint32_t first = next;
    for (int t = 0; t < threads; ++t) {
      pool.emplace_back([&] {
        for (uint32_t i = next++; i < until; i = next++) {
          if (rate > 0)  // paced: connect i is due (i - first) / rate after the start
            std::this_thread::sleep_until(
                start + std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                            std::chrono::duration<double>((i - first) / rate)));
          connect_once(AF_INET, address(i), port);
        }
      });
    }
    for (auto& t : pool) t.join();
    next = until;
    done = until;
    report(done);
  }
  // The totals after everything: exact whatever went to the overflow series.
  auto r = http_get("127.0.0.1", web, "/metrics", 30000);
  double total = 0;
  if (r) {
    std::istringstream in(r->body);
    std::string line;
    while (std::getline(in, line))
      if (line.rfind("tcpconnect_connects_total{", 0) == 0)
        total += std::stod(line.substr(line.rfind(' ') + 1));
  }
  // With idle expiry, expired series left /metrics with their counts: the sum is lower.
  std::printf("# connects made %u, tcpconnect_connects_total summed %.0f\n", done, total);
  kill(pid, SIGTERM);
  waitpid(pid, nullptr, 0);
  unlink(config);
  return 0;
}
