// DNS flood: real responses (the recorded fixtures, DNS IDs varied) sent over loopback UDP
// from a configured DNS source port to a local socket that reads them, captured by the
// real capture and parsed by the daemon's DNS layer (poller thread and all). Prints
// responses per second parsed and events lost, at a paced rate and at full speed, and the
// parser's own throughput on the same records without the kernel. Root only; traffic
// stays on 127.0.0.1. Bounded by count and by time. A benchmark: it asserts nothing.
//
// The flood's reader asks one question (the capture keeps only responses to sockets that
// asked), so its first response is answered and the others are parsed and then rejected
// as answering no question asked (the cache is not touched): `parsed` counts both,
// `answered` the first kind. The parser-only figure feeds each response after its query,
// so there every response is answered and cached.
//
// Machine-readable lines:
//   result mode=paced|max method=M sent=N parsed=P answered=A lost=L seconds=S
//          sent_per_second=R parsed_per_second=Q
//   cpu mode=paced|max method=M sender_us_per_response=A reader_us_per_response=B
//       consumer_us_per_response=C consumer_capacity_per_second=D program_ns_per_run=E
//       program_runs=F
//   result mode=parser_only responses=N answered=A seconds=S parsed_per_second=Q
//
// parsed_per_second is bounded by what the one sender thread offers (it pays each
// packet's whole loopback path); the cpu line says where the time went: CPU per response
// of the sender, the reader and the consumer (the DNS layer's poller thread plus the
// final drain), the rate the consumer would sustain on a CPU of its own, and the capture
// program's bpf_stats cost per run (cgroup_skb only).
#include <bpf/bpf.h>
#include <sys/socket.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "common/net.h"
#include "dns/dns_flood.h"
#include "dns/dns_layer.h"
#include "dns/dns_testing.h"
#include "prog_stats.h"

using namespace tcpconnect;
using namespace tcpconnect::testing;
using tcpconnect::bench::ProgRun;
using tcpconnect::bench::prog_id_in;
using tcpconnect::bench::prog_run;
using Clock = std::chrono::steady_clock;

namespace {

// CPU time (ns) of this process's threads, by role: the sender (the main thread: its
// sendmmsg calls carry each packet through the kernel's whole loopback path, the capture
// program included), the flood's reader, and the DNS layer's poller (the consumer: ring,
// parse, cache). From /proc/self/task/*/schedstat, which counts ns on a CPU.
struct ThreadCpu {
  uint64_t sender = 0, reader = 0, consumer = 0;
};

uint64_t task_cpu_ns(const std::string& task) {
  uint64_t ns = 0;
  std::ifstream(task + "/schedstat") >> ns;
  return ns;
}

ThreadCpu thread_cpu() {
  ThreadCpu t;
  const std::string self = "/proc/self/task/" + std::to_string(gettid());
  t.sender = task_cpu_ns(self);
  for (const auto& task : std::filesystem::directory_iterator("/proc/self/task")) {
    std::string comm;
    std::getline(std::ifstream(task.path() / "comm"), comm);
    if (comm == "dns-poller")
      t.consumer += task_cpu_ns(task.path());
    else if (comm == "flood-reader")
      t.reader += task_cpu_ns(task.path());
  }
  return t;
}

// The query a recorded response answers: its id and question, QR clear, no records.
std::vector<uint8_t> query_of(const std::vector<uint8_t>& response) {
  size_t end = 12;  // the question's name: labels up to the root (uncompressed there)
  while (end < response.size() && response[end] != 0) end += 1 + response[end];
  end += 1 + 4;  // root label, type, class
  std::vector<uint8_t> q(response.begin(), response.begin() + std::min(end, response.size()));
  q[2] &= 0x7f;  // QR: a query
  q[3] = 0;      // no RA, rcode 0
  q[4] = 0, q[5] = 1;
  for (size_t i = 6; i < 12; ++i) q[i] = 0;
  return q;
}

// Responses the layer consumed: answered, rejected (parsed, then found to answer no
// question asked) or unparsable.
uint64_t consumed(const DnsStats& st) {
  return st.total_responses() + st.rejected_of(DnsRejection::kUnsolicited) +
         st.rejected_of(DnsRejection::kMismatch) + st.parse_errors_of(DnsParseError::kMalformed) +
         st.parse_errors_of(DnsParseError::kNotResponse) +
         st.parse_errors_of(DnsParseError::kBadRecord);
}

struct Run {
  uint64_t sent = 0, parsed = 0, answered = 0, lost = 0;
  double seconds = 0;
  ThreadCpu cpu;  // during the run, the final drain included in `consumer`
  ProgRun prog;   // every run of the capture program meanwhile (any packet on the host)
};

// Sends `count` responses (at `rate` per second, 0 = as fast as possible, within
// `max_seconds`) from 127.0.0.1:sport to a reader, then waits for the layer to catch up.
Run flood(DnsLayer& dns, uint16_t sport, const std::vector<std::vector<uint8_t>>& responses,
          uint64_t count, uint64_t rate, double max_seconds, uint32_t prog_id) {
  DnsResponseFlood sender(sport, responses);
  const uint64_t parsed_before = consumed(dns.stats());
  const uint64_t answered_before = dns.stats().total_responses();
  const uint64_t lost_before = dns.state().lost.load();
  Run r;
  const ThreadCpu cpu_before = thread_cpu();
  const ProgRun prog_before = prog_run(prog_id);
  const auto start = Clock::now();
  r.sent = sender.send(count, rate, max_seconds);
  const auto sent_end = Clock::now();
  const ThreadCpu cpu_sent = thread_cpu();
  // Let the poller and one last poll drain what is left (bounded: 100 x 10 ms).
  uint64_t last = ~0ull;
  for (int i = 0; i < 100; ++i) {
    dns.poll_now();
    uint64_t now = consumed(dns.stats());
    if (now == last) break;
    last = now;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  const auto end = Clock::now();
  const ThreadCpu cpu_after = thread_cpu();
  const ProgRun prog_after = prog_run(prog_id);
  r.parsed = consumed(dns.stats()) - parsed_before;
  r.answered = dns.stats().total_responses() - answered_before;
  r.lost = dns.state().lost.load() - lost_before;
  // Parsing keeps pace with sending when it ends with it: time to the last parse.
  r.seconds = std::chrono::duration<double>((r.parsed == r.sent ? sent_end : end) - start).count();
  r.cpu.sender = cpu_sent.sender - cpu_before.sender;
  r.cpu.reader = cpu_after.reader - cpu_before.reader;
  r.cpu.consumer = cpu_after.consumer - cpu_before.consumer + (cpu_after.sender - cpu_sent.sender);
  r.prog = {prog_after.ns - prog_before.ns, prog_after.runs - prog_before.runs};
  return r;
}

void print(const char* mode, const std::string& method, const Run& r) {
  auto per = [](uint64_t ns, uint64_t n) { return n ? ns / 1000.0 / n : 0.0; };
  std::printf(
      "result mode=%s method=%s sent=%llu parsed=%llu answered=%llu lost=%llu seconds=%.3f "
      "sent_per_second=%.0f parsed_per_second=%.0f\n",
      mode, method.c_str(), static_cast<unsigned long long>(r.sent),
      static_cast<unsigned long long>(r.parsed), static_cast<unsigned long long>(r.answered),
      static_cast<unsigned long long>(r.lost), r.seconds, r.seconds > 0 ? r.sent / r.seconds : 0.0,
      r.seconds > 0 ? r.parsed / r.seconds : 0.0);
  // CPU per response by role, and what the consumer could parse on one CPU of its own.
  const double consumer_us = per(r.cpu.consumer, r.parsed);
  std::printf(
      "cpu mode=%s method=%s sender_us_per_response=%.2f reader_us_per_response=%.2f "
      "consumer_us_per_response=%.2f consumer_capacity_per_second=%.0f "
      "program_ns_per_run=%.0f program_runs=%llu\n",
      mode, method.c_str(), per(r.cpu.sender, r.sent), per(r.cpu.reader, r.sent), consumer_us,
      consumer_us > 0 ? 1e6 / consumer_us : 0.0,
      r.prog.runs ? static_cast<double>(r.prog.ns) / r.prog.runs : 0.0,
      static_cast<unsigned long long>(r.prog.runs));
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"DNS flood: responses per second parsed and lost"};
  std::string method = "cgroup_skb";
  uint64_t rate = 50000;
  double seconds = 5;
  uint64_t max_count = 1000000;
  uint32_t ring_bytes = 1u << 20;
  app.add_option("--method", method, "cgroup_skb or packet_socket")
      ->check(CLI::IsMember({"cgroup_skb", "packet_socket"}));
  app.add_option("--rate", rate, "Paced run: responses per second")->check(CLI::Range(1, 10000000));
  app.add_option("--seconds", seconds, "Length of each run at most")->check(CLI::Range(0.1, 60.0));
  app.add_option("--max-count", max_count, "Responses per run at most")
      ->check(CLI::Range(1, 100000000));
  app.add_option("--ring-bytes", ring_bytes, "dns.ring_bytes");
  int repeat = 1;
  app.add_option("--repeat", repeat, "Paced and max runs, each this many times")
      ->check(CLI::Range(1, 20));
  CLI11_PARSE(app, argc, argv);
  if (!is_root()) {
    std::fprintf(stderr, "dns_flood_bench: needs root (loads BPF programs)\n");
    return 1;
  }
  const auto responses =
      load_flood_responses(std::string(TCPCONNECT_SOURCE_DIR) + "/tests/dns/fixtures");

  // The consumer alone, on ring-shaped packets, one thread: each response after the query
  // it answers (the layer uses only answers to questions asked), so that every response
  // is parsed, matched and put into the cache, as a resolver's answers are.
  {
    DnsCache cache{DnsCache::Options{}};
    DnsStats stats;
    DnsQueries queries;
    DnsIngest ingest(cache, stats, queries);
    const uint64_t n = 1000000;
    std::vector<std::vector<uint8_t>> asked;  // query_of each response
    std::vector<DnsPacket> packets;           // query, response, query, response...
    for (const auto& r : responses) asked.push_back(query_of(r));
    auto packet_of = [](const std::vector<uint8_t>& bytes, bool query) {
      DnsPacket p;
      p.family = 2;
      p.protocol = 17;
      p.query = query;
      p.payload = bytes.data();
      p.payload_len = p.captured = static_cast<uint32_t>(bytes.size());
      return p;
    };
    for (size_t i = 0; i < responses.size(); ++i) {
      packets.push_back(packet_of(asked[i], true));
      packets.push_back(packet_of(responses[i], false));
    }
    const auto start = Clock::now();
    for (uint64_t i = 0; i < n; ++i) {
      DnsPacket* pair = &packets[2 * (i % responses.size())];
      pair[0].ts_ns = pair[1].ts_ns = i;
      ingest.ingest(pair[0]);
      ingest.ingest(pair[1]);
    }
    const double s = std::chrono::duration<double>(Clock::now() - start).count();
    std::printf(
        "result mode=parser_only responses=%llu answered=%llu seconds=%.3f "
        "parsed_per_second=%.0f\n",
        static_cast<unsigned long long>(n),
        static_cast<unsigned long long>(stats.total_responses()), s, n / s);
  }

  const uint16_t sport = free_udp_tcp_port(AF_INET, "127.0.0.1");
  DnsLayer::Options o;
  o.capture.method = method == "cgroup_skb" ? DnsCapture::kCgroupSkb : DnsCapture::kPacketSocket;
  o.capture.ports = {sport};
  o.capture.ring_bytes = ring_bytes;
  auto layer = DnsLayer::start(o);
  if (!layer) {
    std::fprintf(stderr, "dns_flood_bench: %s\n", layer.error().message.c_str());
    return 1;
  }
  std::printf("capture: %s, ring/socket buffer %u bytes, source port %u\n",
              layer.value()->describe().c_str(), ring_bytes, sport);
  // bpf_stats while this fd is open (no global sysctl to restore; others may use it too).
  const int stats_fd = method == "cgroup_skb" ? bpf_enable_stats(BPF_STATS_RUN_TIME) : -1;
  const uint32_t prog_id = stats_fd >= 0 ? prog_id_in(layer.value()->describe()) : 0;
  for (int i = 0; i < repeat; ++i) {
    print("paced", method,
          flood(*layer.value(), sport, responses,
                std::min<uint64_t>(max_count, static_cast<uint64_t>(rate * seconds)), rate,
                seconds, prog_id));
    print("max", method, flood(*layer.value(), sport, responses, max_count, 0, seconds, prog_id));
  }
  if (stats_fd >= 0) close(stats_fd);
  return 0;
}
