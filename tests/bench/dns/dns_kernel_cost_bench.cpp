// What the DNS layer costs in the kernel, measured with kernel.bpf_stats_enabled=1 (this
// machine has no PMU): loopback connects (connect + accept + close, N per phase) with
//   off:     the connect probe alone (what the DNS layer needs of each connect, its
//            latest attempt time, is in the connect key's value already);
//   scoped:  the same with the connect's network namespace in the key (TC_KEY_NETNS: what
//            dns.scope netns, the default, adds to every connect);
//   capture: the same plus the cgroup_skb DNS capture, whose ingress and egress programs
//            run for every packet delivered to or sent by a local socket (here: the
//            storm's own SYN, ACK, FIN... packets, none to or from a DNS port).
// Prints, per phase, connects per second, the connect program's ns per run and the DNS
// programs' ns per packet. Root only; loopback only; bounded by count. Asserts nothing.
//
//   result phase=P connects=N seconds=S connects_per_second=R connect_prog_ns=C
//          dns_prog_ns=D dns_prog_runs=K dns_egress_ns=E dns_egress_runs=J
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <netinet/in.h>

#include <CLI/CLI.hpp>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <string>

#include "common/net.h"
#include "dns/dns_layer.h"
#include "probes/connect_probe.h"
#include "prog_stats.h"

using namespace tcpconnect;
using namespace tcpconnect::testing;
using tcpconnect::bench::ProgRun;
using tcpconnect::bench::prog_id_in;
using tcpconnect::bench::prog_run;

int main(int argc, char** argv) {
  CLI::App app{"Kernel cost of DNS attribution per connect and per packet"};
  int connects = 20000;
  int repeat = 3;
  app.add_option("--connects", connects, "Connects per phase")->check(CLI::Range(100, 1000000));
  app.add_option("--repeat", repeat, "Rounds of the four phases")->check(CLI::Range(1, 20));
  CLI11_PARSE(app, argc, argv);
  if (!is_root()) {
    std::fprintf(stderr, "dns_kernel_cost_bench: needs root\n");
    return 1;
  }
  std::string was = "0";
  std::ifstream("/proc/sys/kernel/bpf_stats_enabled") >> was;
  std::ofstream("/proc/sys/kernel/bpf_stats_enabled") << "1";

  Listener l = listen_tcp(AF_INET, "127.0.0.1");
  for (int round = 0; round < repeat; ++round) {
    for (const char* phase : {"off", "scoped", "capture"}) {
      const std::string p = phase;
      auto probe = ConnectProbe::attach(ConnectProbe::Options{});
      if (!probe) {
        std::fprintf(stderr, "%s\n", probe.error().message.c_str());
        return 1;
      }
      if (p == "scoped" || p == "capture") {
        if (Status st = probe.value()->set_key_fields(TC_KEY_NETNS); !st) {
          std::fprintf(stderr, "%s\n", st.error().message.c_str());
          return 1;
        }
      }
      std::unique_ptr<DnsLayer> dns;
      uint32_t dns_id = 0, egress_id = 0;
      if (p == "capture") {
        DnsLayer::Options o;
        o.capture.method = DnsCapture::kCgroupSkb;
        auto layer = DnsLayer::start(o);
        if (!layer) {
          std::fprintf(stderr, "%s\n", layer.error().message.c_str());
          return 1;
        }
        dns = std::move(layer).value();
        dns_id = prog_id_in(dns->describe(), "ingress ");
        egress_id = prog_id_in(dns->describe(), "egress ");
      }
      const ProgramStats before = probe.value()->program_stats();
      const ProgRun dns_before = prog_run(dns_id);
      const ProgRun egress_before = prog_run(egress_id);
      const auto start = std::chrono::steady_clock::now();
      const int ok = connect_and_accept(l, AF_INET, "127.0.0.1", connects);
      const double s =
          std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      const ProgramStats after = probe.value()->program_stats();
      const ProgRun dns_after = prog_run(dns_id);
      const ProgRun egress_after = prog_run(egress_id);
      const uint64_t runs = after.run_count - before.run_count;
      const uint64_t dns_runs = dns_after.runs - dns_before.runs;
      const uint64_t egress_runs = egress_after.runs - egress_before.runs;
      std::printf(
          "result phase=%s connects=%d seconds=%.3f connects_per_second=%.0f "
          "connect_prog_ns=%.1f dns_prog_ns=%.1f dns_prog_runs=%llu dns_egress_ns=%.1f "
          "dns_egress_runs=%llu\n",
          phase, ok, s, ok / s,
          runs ? static_cast<double>(after.run_time_ns - before.run_time_ns) / runs : 0.0,
          dns_runs ? static_cast<double>(dns_after.ns - dns_before.ns) / dns_runs : 0.0,
          static_cast<unsigned long long>(dns_runs),
          egress_runs ? static_cast<double>(egress_after.ns - egress_before.ns) / egress_runs
                      : 0.0,
          static_cast<unsigned long long>(egress_runs));
    }
  }
  std::ofstream("/proc/sys/kernel/bpf_stats_enabled") << was;  // as it was
  return 0;
}
