// scale_bench: what a scrape costs as the exporter holds more series. It starts the real
// daemon with a config that counts only connects to one closed port on 127.0.0.0/8
// (filters: the machine's other traffic stays out) and room for every destination
// (probes.max_entries, limits.max_series), makes refused connects to distinct
// destinations 127.1.0.0 onwards up to each checkpoint (default 1k, 10k, 100k: one
// tcpconnect_connects_total series each, and one tcpconnect_connect_failures_total
// series with reason="refused"), and at each checkpoint prints:
//   - scrape latency over --scrapes scrapes, plain and with Accept-Encoding: gzip
//     alternated, timed by this client from connect() to the last byte: median, p90, max;
//   - the response size, plain and gzip (as sent), the daemon's CPU per scrape, and the
//     mean duration of its drains meanwhile (each scrape asks for a fresh drain);
//   - the daemon's VmRSS and VmHWM, and bytes_memlock of its program's maps (bpftool);
// then the growth per 1000 series between checkpoints. Totals are checked exact at each
// checkpoint (the sum of tcpconnect_connects_total = connects made).
//
//   sudo build/tests/bench/scale_bench --daemon build/tcpconnect_exporter
//        [--series 1000,10000,100000] [--scrapes 20] [--pause-ms 200] [--threads 2]
//
// A benchmark: it prints what it measured and asserts nothing about it.
#include <zlib.h>

#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "bench_exporter.h"
#include "common/http.h"
#include "common/net.h"

namespace {

using namespace std::chrono_literals;
using namespace tcpconnect::bench;
using tcpconnect::testing::metric_value;

// Size of a gzip body once inflated; -1 if it is not valid gzip.
long long gunzipped_size(const std::string& in) {
  z_stream z{};
  if (inflateInit2(&z, 15 + 16) != Z_OK) return -1;
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
  z.avail_in = static_cast<uInt>(in.size());
  std::vector<unsigned char> out(1 << 16);
  long long total = 0;
  int rc;
  do {
    z.next_out = out.data();
    z.avail_out = static_cast<uInt>(out.size());
    rc = inflate(&z, Z_NO_FLUSH);
    total += static_cast<long long>(out.size() - z.avail_out);
  } while (rc == Z_OK);
  inflateEnd(&z);
  return rc == Z_STREAM_END ? total : -1;
}

struct Sums {
  double connects = 0;
  size_t connect_lines = 0, failure_lines = 0;
};
Sums sum_series(const std::string& body) {
  Sums s;
  std::istringstream in(body);
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("tcpconnect_connects_total{", 0) == 0) {
      s.connects += std::stod(line.substr(line.rfind(' ') + 1));
      ++s.connect_lines;
    } else if (line.rfind("tcpconnect_connect_failures_total{", 0) == 0) {
      ++s.failure_lines;
    }
  }
  return s;
}

struct Row {
  uint32_t series = 0;
  double first_ms = 0;
  Spread plain, gzip;
  size_t plain_bytes = 0, gzip_bytes = 0;
  long long inflated = 0;
  double cpu_ms = 0, drain_ms = 0;
  long rss_kib = 0, hwm_kib = 0;
  long long maps = 0;
};

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Scrape latency, response size and memory at 1k, 10k and 100k series"};
  std::string daemon = "build/tcpconnect_exporter";
  std::vector<uint32_t> checkpoints = {1000, 10000, 100000};
  int scrapes = 20, threads = 2, pause_ms = 200;
  uint32_t max_entries = 0, max_series = 0;
  app.add_option("--daemon", daemon, "the exporter binary");
  app.add_option("--series", checkpoints, "checkpoints: distinct destinations (series)")
      ->delimiter(',')
      ->check(CLI::Range(1u, 1000000u));
  app.add_option("--scrapes", scrapes, "timed scrapes per checkpoint and encoding")
      ->check(CLI::Range(1, 1000));
  app.add_option("--pause-ms", pause_ms, "pause between scrapes")->check(CLI::Range(0, 60000));
  app.add_option("--threads", threads, "connecting threads")->check(CLI::Range(1, 64));
  app.add_option("--max-entries", max_entries, "probes.max_entries (default: room for all)");
  app.add_option("--max-series", max_series, "limits.max_series (default: room for all)");
  CLI11_PARSE(app, argc, argv);
  std::sort(checkpoints.begin(), checkpoints.end());
  const uint32_t most = checkpoints.back();
  if (max_entries == 0) max_entries = std::max<uint32_t>(16384, most + most / 4);
  if (max_series == 0) max_series = std::max<uint32_t>(10000, most + most / 4);

  const uint16_t port = tcpconnect::testing::closed_port(AF_INET, "127.0.0.1");
  const uint16_t web = tcpconnect::testing::closed_port(AF_INET, "127.0.0.1");
  const std::string config = write_temp_file(
      "scale_bench",
      "probes:\n  max_entries: " + std::to_string(max_entries) +
          "\n  drain_interval: 1s\nlimits:\n  max_series: " + std::to_string(max_series) +
          "\nfilters:\n  ports: [" + std::to_string(port) +
          "]\n  include_cidrs: [127.0.0.0/8]\n");
  if (config.empty()) return 1;
  ExporterProcess exporter;
  ExporterProcess::Options options;
  options.binary = daemon;
  options.config_file = config;
  options.web_port = web;
  if (!exporter.start(options)) return 1;
  auto body = exporter.wait_until_serving();
  if (!body) {
    std::fprintf(stderr, "the exporter did not start\n");
    unlink(config.c_str());
    return 1;
  }
  const std::string prog_id = probe_program_id(*body);

  std::printf("# scale: checkpoints");
  for (uint32_t c : checkpoints) std::printf(" %u", c);
  std::printf(", max_entries %u, max_series %u, %d scrapes per encoding (alternated, %d ms "
              "apart), %d connecting threads\n",
              max_entries, max_series, scrapes, pause_ms, threads);
  std::printf("# at start: VmRSS %ld KiB, maps %lld KiB\n", proc_status_kib(exporter.pid(), "VmRSS"),
              map_memory(prog_id).total / 1024);
  std::printf("%8s %9s %8s | %-23s | %-23s | %10s %9s %6s %8s | %7s %7s %7s %8s\n",
              "series", "connects", "first_ms", "plain ms med/p90/max", "gzip ms med/p90/max",
              "plain_B", "gzip_B", "cpu_ms", "drain_ms", "rss_MiB", "hwm_MiB", "maps_MiB", "lines");

  std::atomic<uint32_t> next{0};
  std::vector<Row> rows;
  bool exact = true;
  for (uint32_t until : checkpoints) {
    std::vector<std::thread> pool;
    for (int t = 0; t < threads; ++t)
      pool.emplace_back([&] {
        for (uint32_t i = next++; i < until; i = next++)
          tcpconnect::testing::connect_once(AF_INET, loopback_destination(i), port);
      });
    for (auto& t : pool) t.join();
    next = until;

    Row row;
    row.series = until;
    // The first scrape after the step folds the new keys (a scrape asks for a drain).
    Scrape first = timed_scrape(web, "/metrics", false);
    row.first_ms = first.seconds * 1e3;
    // Every connect is in the store within a few drains (bounded wait: 60 s).
    Sums sums = sum_series(first.body);
    for (int i = 0; i < 60 && sums.connects < until; ++i) {
      std::this_thread::sleep_for(1s);
      sums = sum_series(timed_scrape(web, "/metrics", false).body);
    }
    if (sums.connects != until) exact = false;

    std::vector<double> plain, gzip;
    // The drains made meanwhile (each scrape asks for one): their mean duration, from the
    // daemon's own histogram.
    std::string last_body = timed_scrape(web, "/metrics", false).body;
    const double drain_sum0 =
        metric_value(last_body, "tcpconnect_drain_duration_seconds_sum").value_or(0);
    const double drain_n0 =
        metric_value(last_body, "tcpconnect_drain_duration_seconds_count").value_or(0);
    const double cpu0 = process_cpu_seconds(exporter.pid());
    for (int i = 0; i < scrapes; ++i) {
      for (bool z : {false, true}) {
        std::this_thread::sleep_for(std::chrono::milliseconds(pause_ms));
        Scrape s = timed_scrape(web, "/metrics", z);
        if (!s.ok) {
          std::fprintf(stderr, "scrape failed at %u series\n", until);
          continue;
        }
        (z ? gzip : plain).push_back(s.seconds * 1e3);
        if (z && s.gzip) {
          row.gzip_bytes = s.body_bytes;
          if (i == 0) row.inflated = gunzipped_size(s.body);
        }
        if (!z) {
          row.plain_bytes = s.body_bytes;
          last_body = std::move(s.body);
        }
      }
    }
    row.cpu_ms = (process_cpu_seconds(exporter.pid()) - cpu0) * 1e3 / (2.0 * scrapes);
    const double drains =
        metric_value(last_body, "tcpconnect_drain_duration_seconds_count").value_or(0) - drain_n0;
    if (drains > 0)
      row.drain_ms = (metric_value(last_body, "tcpconnect_drain_duration_seconds_sum").value_or(0) -
                      drain_sum0) * 1e3 / drains;
    row.plain = spread(plain);
    row.gzip = spread(gzip);
    row.rss_kib = proc_status_kib(exporter.pid(), "VmRSS");
    row.hwm_kib = proc_status_kib(exporter.pid(), "VmHWM");
    row.maps = map_memory(prog_id).total;
    rows.push_back(row);
    std::printf("%8u %9.0f %8.1f | %7.1f %7.1f %7.1f | %7.1f %7.1f %7.1f | %10zu %9zu %6.1f %8.1f | "
                "%7.1f %7.1f %7.1f %4zu+%zu\n",
                until, sums.connects, row.first_ms, row.plain.median, row.plain.p90,
                row.plain.max, row.gzip.median, row.gzip.p90, row.gzip.max, row.plain_bytes,
                row.gzip_bytes, row.cpu_ms, row.drain_ms, row.rss_kib / 1024.0, row.hwm_kib / 1024.0,
                static_cast<double>(row.maps) / (1 << 20), sums.connect_lines,
                sums.failure_lines);
    if (row.gzip_bytes == 0) std::printf("#   (no gzip answer: Content-Encoding missing)\n");
    else if (row.inflated >= 0)
      std::printf("#   gzip body inflates to %lld bytes (%.1fx)\n", row.inflated,
                  static_cast<double>(row.inflated) / static_cast<double>(row.gzip_bytes));
    std::fflush(stdout);
  }

  std::printf("# growth per 1000 series between checkpoints\n");
  std::printf("%17s %12s %12s %12s %12s %12s\n", "from-to", "plain_ms", "gzip_ms", "plain_KiB",
              "gzip_KiB", "rss_MiB");
  for (size_t i = 1; i < rows.size(); ++i) {
    const Row &a = rows[i - 1], &b = rows[i];
    const double k = (b.series - a.series) / 1000.0;
    std::printf("%8u-%-8u %12.2f %12.2f %12.1f %12.1f %12.2f\n", a.series, b.series,
                (b.plain.median - a.plain.median) / k, (b.gzip.median - a.gzip.median) / k,
                (static_cast<double>(b.plain_bytes) - a.plain_bytes) / 1024 / k,
                (static_cast<double>(b.gzip_bytes) - a.gzip_bytes) / 1024 / k,
                (b.rss_kib - a.rss_kib) / 1024.0 / k);
  }
  std::printf("# totals exact at every checkpoint: %s\n", exact ? "yes" : "NO");
  const double stop_s = exporter.stop();
  std::printf("# SIGTERM to exit: %.3f s\n", stop_s);
  unlink(config.c_str());
  return exact ? 0 : 2;
}
