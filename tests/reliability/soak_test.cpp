// Soak: the built daemon for a bounded run (TCPCONNECT_SOAK_SECONDS, 600 by default; ctest
// runs it shorter) under mixed load: connects that succeed and that are refused, over
// IPv4 and IPv6, to destinations named by a real dnsmasq through glibc's getaddrinfo (one
// through a CNAME, some NXDOMAIN, AAAA questions answered NODATA), a scrape every second
// and a SIGHUP reload alternating two valid configs. At the end: the daemon's resident
// size did not grow (the series is printed), it logged no warning or error, its self-
// metrics show no drain, DNS or map errors, every reload succeeded, and its totals equal
// the connects this test made, exactly, per destination and port and per failure reason,
// as do the DNS responses (dnsmasq's own query log). Root only. Every loop is bounded by
// count and time; nothing asserts on a duration.
#include <arpa/nameser.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "common/http.h"
#include "common/metric_samples.h"
#include "common/net.h"
#include "dns/dns_testing.h"
#include "integration/daemon_process.h"
#include "reliability/reliability_testing.h"

namespace tcpconnect::testing {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

// What this test did to one destination (address text as the daemon renders it, port).
struct Tally {
  uint64_t attempts = 0;
  uint64_t established = 0;
  uint64_t refused = 0;
  uint64_t other = 0;    // any other connect result: should stay 0
  std::string dns_name;  // the name it must carry
};

void record(Tally& t, int err) {
  ++t.attempts;
  if (err == 0)
    ++t.established;
  else if (err == ECONNREFUSED)
    ++t.refused;
  else
    ++t.other;
}

std::string label(const char* name, const std::string& value) {
  return std::string(name) + "=\"" + value + "\"";
}

// A name dnsmasq answers, the address it answers, and a port there.
struct Named {
  std::string query;  // what the client asks
  std::string address;
  uint16_t port = 0;
  bool refused = false;  // nothing listens at port
};

TEST(Soak, MixedLoadScrapesAndReloadsStayExactAndFlat) {
  TCPCONNECT_REQUIRE_ROOT();
  if (run_shell("command -v dnsmasq") != 0) GTEST_SKIP() << "dnsmasq is not installed";
  const int seconds = env_seconds("TCPCONNECT_SOAK_SECONDS", 600, 10, 24 * 3600);
  const int reload_every = std::clamp(seconds / 8, 5, 30);
  std::printf("soak: %d s, a scrape every second, a reload every %d s\n", seconds, reload_every);

  // Destinations: loopback listeners and closed ports, IPv4 and IPv6.
  Listener v4 = listen_tcp(AF_INET, "127.0.0.1");
  Listener v6 = listen_tcp(AF_INET6, "::1");
  const uint16_t closed4 = closed_port(AF_INET, "127.0.0.1");
  const uint16_t closed6 = closed_port(AF_INET6, "::1");
  // Named ones, on addresses of this process's own (127.84.P.N).
  const std::string net = "127.84." + std::to_string(getpid() % 250 + 1) + ".";
  std::vector<Named> named;
  std::vector<Listener> named_listeners;
  for (int i = 0; i < 4; ++i) {
    Named n;
    n.query = "n" + std::to_string(i) + ".soak.tcx.test";
    n.address = net + std::to_string(i + 1);
    named_listeners.push_back(listen_tcp(AF_INET, n.address));
    n.port = named_listeners.back().port;
    named.push_back(n);
  }
  named[0].query = "www.soak.tcx.test";  // a CNAME to n0: named by what was asked
  Named refused{"closed.soak.tcx.test", net + "9", 0, true};
  refused.port = closed_port(AF_INET, refused.address);
  const std::string missing = "missing.soak.tcx.test";

  // The daemon, on a DNS port of its own so that only this test's answers are counted.
  const std::string dns_address = unique_loopback_v4(11);
  const uint16_t dns_port = free_udp_tcp_port(AF_INET, dns_address);
  std::string ports = std::to_string(v4.port) + ", " + std::to_string(v6.port) + ", " +
                      std::to_string(closed4) + ", " + std::to_string(closed6) + ", " +
                      std::to_string(refused.port);
  for (const Named& n : named) ports += ", " + std::to_string(n.port);
  const std::string common =
      "filters:\n  ports: [" + ports + "]\ndns:\n  ports: [" + std::to_string(dns_port) + "]\n";
  const std::string configs[] = {
      common,
      common +
          "labels:\n  keep: [family, daddr, dport, dns_name]\nlimits:\n  max_series: 5000\n"
          "probes:\n  drain_interval: 500ms\n",
  };
  char dir[] = "/tmp/tcx-soak-XXXXXX";
  ASSERT_TRUE(mkdtemp(dir));
  // Started as root, the daemon rereads the file as nobody.
  ASSERT_EQ(chmod(dir, 0755), 0);
  const std::string config = std::string(dir) + "/config.yaml";
  write_file_atomically(config, configs[0]);
  const uint16_t web_port = free_tcp_port();
  DaemonProcess daemon(
      {{"--config.file", config, "--web.listen-address", "127.0.0.1:" + std::to_string(web_port)},
       {},
       false});
  ASSERT_TRUE(daemon.wait_serving(web_port, 20s)) << daemon.stderr_text();

  // The DNS server, started after the daemon: every answer it gives is captured.
  Dnsmasq::Options dopt;
  dopt.listen = {dns_address};
  dopt.port = dns_port;
  dopt.records = {"--cname=www.soak.tcx.test,n0.soak.tcx.test",
                  "--host-record=n0.soak.tcx.test," + named[0].address,
                  "--host-record=" + refused.query + "," + refused.address,
                  "--host-record=ready.soak.tcx.test," + net + "99"};
  for (size_t i = 1; i < named.size(); ++i)
    dopt.records.push_back("--host-record=" + named[i].query + "," + named[i].address);
  dopt.ready_name = "ready.soak.tcx.test";
  std::string error;
  auto dns = Dnsmasq::start(dopt, &error);
  ASSERT_TRUE(dns) << error;

  std::map<std::pair<std::string, uint16_t>, Tally> made;
  made[{"127.0.0.1", v4.port}].dns_name = "localhost";
  made[{"127.0.0.1", closed4}].dns_name = "localhost";
  made[{"::1", v6.port}].dns_name = "localhost";
  made[{"::1", closed6}].dns_name = "localhost";
  made[{refused.address, refused.port}].dns_name = refused.query;
  for (const Named& n : named) made[{n.address, n.port}].dns_name = n.query;

  // getaddrinfo through glibc, then an immediate connect to the first address, as an
  // application does. Returns what the client printed.
  int client_failures = 0;
  auto resolve_and_connect = [&](const Named& n, const char* family, int times) {
    std::string cmd = dns_client_binary() + " --nameserver " + dns_address + " --port " +
                      std::to_string(dns_port) + " --family " + family + " --connect-port " +
                      std::to_string(n.port) + " resolve";
    for (int i = 0; i < times; ++i) cmd += " " + n.query;
    std::string out;
    run_shell(cmd, &out);
    std::istringstream lines(out);
    std::string name, address;
    int err;
    int seen = 0;
    while (lines >> name >> address >> err) {
      if (name != n.query || address != n.address) {
        ++client_failures;
        ADD_FAILURE() << "dns_client: " << out;
        continue;
      }
      ++seen;
      record(made[{n.address, n.port}], err);
    }
    if (seen != times) {
      ++client_failures;
      ADD_FAILURE() << "dns_client printed " << seen << " of " << times << " lines: " << out;
    }
  };

  std::vector<std::pair<int, long>> rss;  // (second, KiB)
  int scrapes = 0, scrape_failures = 0, reloads = 0, nxdomain_lookups = 0;
  const auto start = Clock::now();
  auto next_reload = start + std::chrono::seconds(reload_every);
  for (int tick = 0; tick < seconds; ++tick) {
    const auto tick_end = start + std::chrono::seconds(tick + 1);
    if (Clock::now() - start >= std::chrono::seconds(seconds)) break;

    // Plain connects: 20 + 10 established, 5 + 5 refused.
    for (int i = 0; i < 20; ++i)
      record(made[{"127.0.0.1", v4.port}], connect_once(AF_INET, "127.0.0.1", v4.port));
    drain_accepts(v4);
    for (int i = 0; i < 10; ++i)
      record(made[{"::1", v6.port}], connect_once(AF_INET6, "::1", v6.port));
    drain_accepts(v6);
    for (int i = 0; i < 5; ++i) {
      record(made[{"127.0.0.1", closed4}], connect_once(AF_INET, "127.0.0.1", closed4));
      record(made[{"::1", closed6}], connect_once(AF_INET6, "::1", closed6));
    }
    // Named: one of the four each second, A only or A + AAAA (answered NODATA).
    const size_t which = static_cast<size_t>(tick) % named.size();
    resolve_and_connect(named[which], tick % 2 ? "inet" : "any", 2);
    drain_accepts(named_listeners[which]);
    if (tick % 5 == 0) resolve_and_connect(refused, "inet", 1);
    if (tick % 7 == 0) {
      run_shell(dns_client_binary() + " --nameserver " + dns_address + " --port " +
                std::to_string(dns_port) + " --family any resolve " + missing);
      ++nxdomain_lookups;
    }

    // A scrape every second.
    auto r = http_get("127.0.0.1", web_port, "/metrics");
    ++scrapes;
    if (!r || r->status != 200) ++scrape_failures;

    // A reload every reload_every seconds, alternating the two configs.
    if (Clock::now() >= next_reload) {
      ++reloads;
      write_file_atomically(config, configs[reloads % 2]);
      kill(daemon.pid(), SIGHUP);
      next_reload += std::chrono::seconds(reload_every);
    }
    rss.emplace_back(tick, rss_kib(daemon.pid()));
    if (!daemon.running()) break;
    std::this_thread::sleep_until(tick_end);
  }
  ASSERT_TRUE(daemon.running()) << daemon.stderr_text();

  // Every reload answered (bounded: 100 x 50 ms).
  for (int i = 0; i < 100; ++i) {
    if (count_lines_with(daemon.stderr_text(), "configuration reloaded") >= reloads) break;
    std::this_thread::sleep_for(50ms);
  }

  uint64_t connects = 0, refusals = 0;
  for (const auto& [dest, t] : made) {
    connects += t.attempts;
    refusals += t.refused;
  }
  const std::string dns_log = dns->log();
  const int queries = count_lines_with(dns_log, "query[");
  const int nxdomain = count_lines_with(dns_log, " is NXDOMAIN");

  // The final totals, once the daemon has folded everything (a scrape drains first, but
  // waits for the drain at most 200 ms: bounded retries, 50 x 100 ms).
  std::string body;
  for (int i = 0; i < 50; ++i) {
    auto r = http_get("127.0.0.1", web_port, "/metrics");
    if (r && r->status == 200) {
      body = r->body;
      if (samples(body, "tcpconnect_connects_total").sum == static_cast<double>(connects) &&
          samples(body, "tcpconnect_dns_responses_total").sum == queries)
        break;
    }
    std::this_thread::sleep_for(100ms);
  }
  ASSERT_FALSE(body.empty());

  // Figures.
  std::printf(
      "soak: %d scrapes (%d failed), %d reloads, %llu connects (%llu refused), "
      "%d DNS queries answered (%d NXDOMAIN), %d NXDOMAIN lookups\n",
      scrapes, scrape_failures, reloads, static_cast<unsigned long long>(connects),
      static_cast<unsigned long long>(refusals), queries, nxdomain, nxdomain_lookups);
  std::printf("soak: daemon RSS (KiB) by second:");
  const size_t step = std::max<size_t>(1, rss.size() / 20);
  for (size_t i = 0; i < rss.size(); i += step) std::printf(" %d:%ld", rss[i].first, rss[i].second);
  if (!rss.empty()) std::printf(" %d:%ld", rss.back().first, rss.back().second);
  std::printf("\n");
  for (const char* m :
       {"tcpconnect_connects_total", "tcpconnect_series", "tcpconnect_dns_responses_total",
        "tcpconnect_dns_cache_entries", "tcpconnect_dns_attributions_total",
        "tcpconnect_drain_duration_seconds_count", "tcpconnect_drain_duration_seconds_sum"}) {
    std::istringstream in(body);
    std::string line;
    while (std::getline(in, line))
      if (line.rfind(m, 0) == 0) std::printf("soak: %s\n", line.c_str());
  }

  // RSS flat: the end within a quarter (at least 8 MiB) of the size after warm-up (a fifth
  // of the run, at least 10 s).
  ASSERT_FALSE(rss.empty());
  const int warm_second = std::max(10, seconds / 5);
  long warm = -1;
  for (const auto& [s, kib] : rss)
    if (s >= warm_second) {
      warm = kib;
      break;
    }
  if (warm < 0) warm = rss.front().second;
  const long end = rss.back().second;
  std::printf("soak: RSS after warm-up (second %d) %ld KiB, at the end %ld KiB, max %ld KiB\n",
              warm_second, warm, end,
              std::max_element(rss.begin(), rss.end(), [](const auto& a, const auto& b) {
                return a.second < b.second;
              })->second);
  EXPECT_GT(warm, 0);
  EXPECT_LE(end, warm + std::max(warm / 4, 8L * 1024)) << "daemon RSS grew";

  // No errors anywhere.
  EXPECT_EQ(scrape_failures, 0);
  EXPECT_EQ(client_failures, 0);
  const std::string log = daemon.stderr_text();
  const auto bad = warning_and_error_lines(log);
  EXPECT_TRUE(bad.empty()) << "log:\n" << log;
  EXPECT_EQ(count_lines_with(log, "configuration reloaded"), reloads) << log;
  EXPECT_GT(reloads, 0);
  EXPECT_EQ(metric_value(body, "tcpconnect_config_last_reload_successful"), 1);
  EXPECT_EQ(samples(body, "tcpconnect_drain_errors_total").sum, 0);
  EXPECT_EQ(samples(body, "tcpconnect_map_full_total").sum, 0);
  EXPECT_EQ(samples(body, "tcpconnect_connect_outcomes_lost_total").sum, 0);
  EXPECT_EQ(samples(body, "tcpconnect_dns_events_lost_total").sum, 0);
  EXPECT_EQ(samples(body, "tcpconnect_dns_parse_errors_total").sum, 0);
  EXPECT_EQ(samples(body, "tcpconnect_series_dropped_total").sum, 0);

  // Exact totals: every connect, per destination and port, per outcome, under its name.
  EXPECT_EQ(samples(body, "tcpconnect_connects_total").sum, static_cast<double>(connects));
  EXPECT_EQ(samples(body, "tcpconnect_connect_failures_total").sum, static_cast<double>(refusals));
  EXPECT_EQ(samples(body, "tcpconnect_connect_failures_total", {label("reason", "refused")}).sum,
            static_cast<double>(refusals));
  double established = 0;
  std::map<std::string, double> established_by_name;
  for (const auto& [dest, t] : made) {
    const std::string where = dest.first + ":" + std::to_string(dest.second);
    EXPECT_EQ(t.other, 0u) << where;
    const std::vector<std::string> at = {label("daddr", dest.first),
                                         label("dport", std::to_string(dest.second))};
    std::vector<std::string> with_name = at;
    with_name.push_back(label("dns_name", t.dns_name));
    std::vector<std::string> refused_at = at;
    refused_at.push_back(label("reason", "refused"));
    EXPECT_EQ(samples(body, "tcpconnect_connects_total", at).sum, t.attempts) << where;
    EXPECT_EQ(samples(body, "tcpconnect_connects_total", with_name).sum, t.attempts) << where;
    EXPECT_EQ(samples(body, "tcpconnect_connect_failures_total", refused_at).sum, t.refused)
        << where;
    EXPECT_GT(t.attempts, 0u) << where;
    established += static_cast<double>(t.established);
    established_by_name[t.dns_name] += static_cast<double>(t.established);
    std::printf("soak: %-22s %-14s attempts %llu established %llu refused %llu\n", where.c_str(),
                t.dns_name.c_str(), static_cast<unsigned long long>(t.attempts),
                static_cast<unsigned long long>(t.established),
                static_cast<unsigned long long>(t.refused));
  }
  // Established connects are the latency histogram's observations, by name.
  EXPECT_EQ(samples(body, "tcpconnect_connect_duration_seconds_count").sum, established);
  for (const auto& [name, n] : established_by_name)
    EXPECT_EQ(
        samples(body, "tcpconnect_connect_duration_seconds_count", {label("dns_name", name)}).sum,
        n)
        << name;
  // Every answer dnsmasq gave was counted once, the NXDOMAIN ones as such.
  EXPECT_EQ(samples(body, "tcpconnect_dns_responses_total").sum, queries);
  EXPECT_EQ(samples(body, "tcpconnect_dns_responses_total", {label("rcode", "NXDOMAIN")}).sum,
            nxdomain);
  EXPECT_EQ(nxdomain, 2 * nxdomain_lookups);

  EXPECT_EQ(daemon.stop(SIGTERM, 20s), 0) << daemon.stderr_text();
  run_shell(std::string("rm -rf '") + dir + "'");
}

}  // namespace
}  // namespace tcpconnect::testing
