// DNS attribution accuracy: N distinct names (default 1000), each resolved by glibc's
// getaddrinfo against a real dnsmasq and connected to at once (no delay between the answer
// and the connect), with the real connect probe, the real DNS capture and the daemon's
// drain running every --drain-ms meanwhile. Prints the share of connects whose dns_name is
// the name that was resolved for their address. Root only; traffic stays on 127.0.0.0/8.
// A benchmark: it prints what it measured and asserts nothing.
//
// The last line is machine-readable:
//   result method=M names=N connects=C correct=K wrong=W unnamed=U accuracy_pct=A seconds=S
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <chrono>
#include <cstdio>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "common/net.h"
#include "dns/dns_layer.h"
#include "dns/dns_testing.h"
#include "drain/drain.h"
#include "drain/drain_loop.h"
#include "metrics/label_renderer.h"
#include "metrics/self_metrics.h"
#include "metrics/series_store.h"
#include "probes/connect_probe.h"

using namespace tcpconnect;
using namespace tcpconnect::testing;

namespace {

std::string name_of(int i) { return "n" + std::to_string(i) + ".attr.bench.test"; }
// 127.82.0.1 ... : one address per name.
std::string address_of(int i) {
  return "127.82." + std::to_string(i / 250) + "." + std::to_string(i % 250 + 1);
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"DNS attribution accuracy: resolve then connect at once, N distinct names"};
  int names = 1000;
  std::string method = "cgroup_skb";
  int drain_ms = 1000;
  int rounds = 1;
  app.add_option("--names", names, "Distinct names (1..60000)")->check(CLI::Range(1, 60000));
  app.add_option("--method", method, "cgroup_skb or packet_socket")
      ->check(CLI::IsMember({"cgroup_skb", "packet_socket"}));
  app.add_option("--drain-ms", drain_ms, "Drain interval while the names are resolved")
      ->check(CLI::Range(100, 60000));
  app.add_option("--rounds", rounds, "Times every name is resolved and connected to")
      ->check(CLI::Range(1, 20));
  CLI11_PARSE(app, argc, argv);
  if (!is_root()) {
    std::fprintf(stderr, "dns_attribution_bench: needs root (loads BPF programs)\n");
    return 1;
  }

  // The name server: one hosts line per name.
  std::string hosts;
  for (int i = 0; i < names; ++i) hosts += address_of(i) + " " + name_of(i) + "\n";
  Dnsmasq::Options dopt;
  dopt.listen = {unique_loopback_v4()};
  dopt.port = 53;
  dopt.hosts = hosts;
  dopt.ready_name = name_of(0);
  std::string error;
  auto server = Dnsmasq::start(dopt, &error);
  if (!server) {
    std::fprintf(stderr, "dns_attribution_bench: %s\n", error.c_str());
    return 1;
  }

  // A listener at every answered address, all on one port.
  std::vector<Fd> listeners;
  uint16_t port = 0;
  for (int i = 0; i < names; ++i) {
    Fd fd(socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    socklen_t len;
    sockaddr_storage ss = make_addr(AF_INET, address_of(i), port, &len);
    if (bind(fd.get(), reinterpret_cast<sockaddr*>(&ss), len) != 0 || listen(fd.get(), 64) != 0) {
      std::perror("dns_attribution_bench: listener");
      return 1;
    }
    if (port == 0) {
      getsockname(fd.get(), reinterpret_cast<sockaddr*>(&ss), &len);
      port = ntohs(reinterpret_cast<sockaddr_in*>(&ss)->sin_port);
    }
    listeners.push_back(std::move(fd));
  }

  // The daemon's pipeline, wired as app/daemon.cpp does for the shipped config (dns.scope:
  // netns): probe with destination tracking whose keys keep the connect's network
  // namespace, DNS layer, drain loop. Without the namespace in the key every connect asks
  // for a host-wide name, which scoped answers never give.
  LabelsConfig labels;
  labels.keep = {Label::kDaddr, Label::kDport, Label::kDnsName};
  ConnectProbe::Options po;
  po.before_attach = [&](ConnectProbe& unattached) {
    return unattached.set_key_fields(kernel_key_fields(labels, AllowlistConfig{}, true));
  };
  auto probe = ConnectProbe::attach(po);
  if (!probe) {
    std::fprintf(stderr, "dns_attribution_bench: %s\n", probe.error().message.c_str());
    return 1;
  }
  DnsLayer::Options lo;
  lo.capture.method = method == "cgroup_skb" ? DnsCapture::kCgroupSkb : DnsCapture::kPacketSocket;
  lo.capture.ports = {53};
  lo.scoped = true;
  auto layer = DnsLayer::start(lo);
  if (!layer) {
    std::fprintf(stderr, "dns_attribution_bench: %s\n", layer.error().message.c_str());
    return 1;
  }
  DnsLayer& dns = *layer.value();
  ConnectProbe& cp = *probe.value();
  auto store = std::make_shared<SeriesStore>(1000000);
  Drain drain(cp, store, labels,
              [&](uint64_t n, uint16_t f, const uint8_t(&a)[16]) { return dns.name_of(n, f, a); });
  drain.set_key_netns(true);
  drain.set_before_read([&](DrainKind) { dns.before_drain(); });
  drain.set_after_fold([&](DrainKind) { dns.attribute(); });
  drain.set_track_destinations(true);
  dns.set_destination_reader(
      [&](const DestinationVisitor& v) { return drain.destinations().take(v); });
  (void)drain.run_once();  // earlier traffic is folded before ours
  SelfMetrics self;
  const auto start = std::chrono::steady_clock::now();
  {
    DrainLoop loop(drain, self, std::chrono::milliseconds(drain_ms));
    // The client: glibc getaddrinfo, then connect at once, for every name in turn.
    std::string list;
    for (int i = 0; i < names; ++i) list += " " + name_of(i);
    for (int r = 0; r < rounds; ++r) {
      std::string out;
      int rc = run_shell(dns_client_binary() + " --nameserver " + server->address() +
                             " --family inet --connect-port " + std::to_string(port) + " resolve" +
                             list,
                         &out);
      if (rc != 0) std::fprintf(stderr, "dns_attribution_bench: client exited %d\n", rc);
    }
  }  // the loop stops here
  (void)drain.run_once();
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();

  std::map<std::string, std::string> expected;
  for (int i = 0; i < names; ++i) expected[address_of(i)] = name_of(i);
  uint64_t connects = 0, correct = 0, wrong = 0, unnamed = 0;
  store->connects().for_each([&](const LabelValues* l, const ConnectCounts& c) {
    if (!l || (*l)[1] != std::to_string(port)) return;
    auto it = expected.find((*l)[0]);
    if (it == expected.end()) return;
    connects += c.attempts;
    if ((*l)[2] == it->second)
      correct += c.attempts;
    else if ((*l)[2].empty() || (*l)[2] == "localhost")
      unnamed += c.attempts;
    else
      wrong += c.attempts;
  });
  const DnsLayerState& st = dns.state();
  const double accuracy = connects ? 100.0 * static_cast<double>(correct) / connects : 0.0;
  std::printf("dns: responses %llu, lost %llu, parse errors %llu; cache %zu entries\n",
              static_cast<unsigned long long>(st.stats.total_responses()),
              static_cast<unsigned long long>(st.lost.load()),
              static_cast<unsigned long long>(
                  st.stats.parse_errors_of(DnsParseError::kMalformed) +
                  st.stats.parse_errors_of(DnsParseError::kBadRecord)),
              st.cache.size());
  const DnsDelayHistogram& d = st.attribution->delay();
  std::printf("answer-to-connect delay: %llu observations, mean %.1f us\n",
              static_cast<unsigned long long>(d.count.load()),
              d.count.load() ? static_cast<double>(d.sum_ns.load()) / d.count.load() / 1000.0 : 0.0);
  std::printf(
      "result method=%s names=%d connects=%llu correct=%llu wrong=%llu unnamed=%llu "
      "accuracy_pct=%.2f seconds=%.2f\n",
      method.c_str(), names, static_cast<unsigned long long>(connects),
      static_cast<unsigned long long>(correct), static_cast<unsigned long long>(wrong),
      static_cast<unsigned long long>(unnamed), accuracy, seconds);
  return 0;
}
