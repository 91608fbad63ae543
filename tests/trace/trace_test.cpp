// `tcpconnect_exporter trace` as a child process: real connects on loopback (and in
// network and mount namespaces the tests make), each option, its lines and columns
// asserted. Root only (the tool loads BPF programs).
//
// The probe sees every connect on the machine: tests select the lines they assert on by
// a destination port only they use, or ask the tool itself to filter (that is what is
// being tested). Nothing is timed: a line is in the output once the connect that made it
// has returned and the tool has been stopped, because the tool drains its ring before
// it exits.
#include <arpa/inet.h>
#include <fcntl.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <condition_variable>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <map>
#include <memory>
#include <mutex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "bpf/filter_testing.h"
#include "common/net.h"
#include "common/scratch_dir.h"
#include "dns/dns_capture.h"
#include "dns/dns_testing.h"
#include "integration/daemon_process.h"

namespace tcpconnect::testing {
namespace {

using namespace std::chrono_literals;
using ::testing::HasSubstr;

constexpr const char* kBanner = "Tracing connect ... Hit Ctrl-C to end";
// The test binary's comm, as the tool prints it (12 columns).
constexpr const char* kComm = "trace_tests";

using Row = std::map<std::string, std::string>;

// The lines after the column header ("DPORT" or "CONNECTS" in it), by column name. A
// QUERY (the last column) may hold spaces.
std::vector<Row> parse_rows(const std::string& out,
                            std::vector<std::string>* header_out = nullptr) {
  std::istringstream in(out);
  std::string line;
  std::vector<std::string> header;
  std::vector<Row> rows;
  while (std::getline(in, line)) {
    std::istringstream words(line);
    std::vector<std::string> w;
    for (std::string s; words >> s;) w.push_back(s);
    if (w.empty()) continue;
    if (header.empty()) {
      if (line.find("DPORT") != std::string::npos || line.find("CONNECTS") != std::string::npos)
        header = w;
      continue;
    }
    Row row;
    for (size_t i = 0; i < header.size() && i < w.size(); ++i) row[header[i]] = w[i];
    for (size_t i = header.size(); i < w.size(); ++i) row[header.back()] += " " + w[i];
    rows.push_back(row);
  }
  if (header_out) *header_out = header;
  return rows;
}

std::vector<Row> where(const std::vector<Row>& rows, const std::string& column,
                       const std::string& value) {
  std::vector<Row> out;
  for (const Row& r : rows) {
    auto it = r.find(column);
    if (it != r.end() && it->second == value) out.push_back(r);
  }
  return out;
}

// The first line of `text` that starts with `prefix`.
std::string line_starting(const std::string& text, const std::string& prefix) {
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);)
    if (line.rfind(prefix, 0) == 0) return line;
  return "";
}

// How often `needle` occurs in `text`.
size_t count_of(const std::string& text, const std::string& needle) {
  size_t n = 0;
  for (size_t at = text.find(needle); at != std::string::npos; at = text.find(needle, at + 1)) ++n;
  return n;
}

// The tool, running until stop().
class TraceRun {
 public:
  explicit TraceRun(std::vector<std::string> args) {
    args.insert(args.begin(), "trace");
    DaemonProcess::Options o;
    o.args = std::move(args);
    o.separate_stdout = true;
    process_ = std::make_unique<DaemonProcess>(o);
  }

  // Until the banner (and, for per-event text output, the column header) is out: the
  // probes are attached from then on. Bounded; fails with what the tool said.
  ::testing::AssertionResult ready(bool header = true) {
    for (int i = 0; i < 600; ++i) {  // 30 s
      const std::string out = process_->stdout_text(), err = process_->stderr_text();
      const bool banner =
          out.find(kBanner) != std::string::npos || err.find(kBanner) != std::string::npos;
      const size_t columns = out.find("DPORT");
      if (banner && (!header || (columns != std::string::npos &&
                                 out.find('\n', columns) != std::string::npos)))
        return ::testing::AssertionSuccess();
      if (!process_->running())
        return ::testing::AssertionFailure() << "trace exited: " << err << out;
      std::this_thread::sleep_for(50ms);
    }
    return ::testing::AssertionFailure() << "no header from trace: " << process_->stderr_text();
  }

  // Ends it as Ctrl-C does; its exit status.
  int stop(int sig = SIGINT) { return process_->stop(sig, 30s); }
  std::string out() const { return process_->stdout_text(); }
  std::string err() const { return process_->stderr_text(); }
  pid_t pid() const { return process_->pid(); }

 private:
  std::unique_ptr<DaemonProcess> process_;
};

class TraceTest : public ::testing::Test {
 protected:
  void SetUp() override { TCPCONNECT_REQUIRE_ROOT(); }
};

// The issue's first check: every attempt, established or refused, v4 and v6, in
// tcpconnect(8)'s columns, printed at once.
TEST_F(TraceTest, EveryAttemptInTheSeedsColumns) {
  Listener v4 = listen_tcp(AF_INET, "127.0.0.1");
  Listener v6 = listen_tcp(AF_INET6, "::1");
  const uint16_t closed = closed_port(AF_INET, "127.0.0.1");
  TraceRun trace({});
  ASSERT_TRUE(trace.ready());
  ASSERT_EQ(connect_once(AF_INET, "127.0.0.1", v4.port), 0);
  ASSERT_EQ(connect_once(AF_INET, "127.0.0.1", v4.port), 0);
  ASSERT_EQ(connect_once(AF_INET6, "::1", v6.port), 0);
  ASSERT_EQ(connect_once(AF_INET, "127.0.0.1", closed), ECONNREFUSED);
  ASSERT_EQ(trace.stop(), 0) << trace.err();

  const std::string out = trace.out();
  EXPECT_EQ(out.substr(0, out.find('\n')), kBanner);
  std::vector<std::string> header;
  auto rows = parse_rows(out, &header);
  EXPECT_EQ(line_starting(out, "PID"),
            "PID    COMM         IP SADDR            DADDR            DPORT");
  const std::string pid = std::to_string(getpid());
  auto v4_rows = where(rows, "DPORT", std::to_string(v4.port));
  ASSERT_EQ(v4_rows.size(), 2u) << out;
  for (const Row& r : v4_rows) {
    EXPECT_EQ(r, (Row{{"PID", pid},
                      {"COMM", kComm},
                      {"IP", "4"},
                      {"SADDR", "127.0.0.1"},
                      {"DADDR", "127.0.0.1"},
                      {"DPORT", std::to_string(v4.port)}}));
  }
  auto v6_rows = where(rows, "DPORT", std::to_string(v6.port));
  ASSERT_EQ(v6_rows.size(), 1u) << out;
  EXPECT_EQ(v6_rows[0], (Row{{"PID", pid},
                             {"COMM", kComm},
                             {"IP", "6"},
                             {"SADDR", "::1"},
                             {"DADDR", "::1"},
                             {"DPORT", std::to_string(v6.port)}}));
  EXPECT_EQ(where(rows, "DPORT", std::to_string(closed)).size(), 1u) << out;
  // The line itself, with the seed's widths.
  auto pad = [](std::string s, size_t n) {
    return s + std::string(n > s.size() ? n - s.size() : 0, ' ');
  };
  EXPECT_THAT(out,
              HasSubstr("\n" + pad(pid, 6) + " " + pad(kComm, 12) + " 4  " + pad("127.0.0.1", 16) +
                        " " + pad("127.0.0.1", 16) + " " + std::to_string(v4.port) + "\n"));
  EXPECT_EQ(trace.err(), "");
}

// -t -U -L --outcome: the optional columns, in the seed's order, and the local port and
// outcome of each attempt, refused ones included.
TEST_F(TraceTest, TimestampUidLportAndOutcome) {
  Listener v4 = listen_tcp(AF_INET, "127.0.0.1");
  const uint16_t closed6 = closed_port(AF_INET6, "::1");
  TraceRun trace({"-t", "-U", "-L", "--outcome"});
  ASSERT_TRUE(trace.ready());
  int ok_err = -1, refused_err = -1;
  const uint16_t ok_lport = connect_reporting_lport(AF_INET, "127.0.0.1", v4.port, &ok_err);
  ASSERT_EQ(ok_err, 0);
  const uint16_t refused_lport = connect_reporting_lport(AF_INET6, "::1", closed6, &refused_err);
  ASSERT_EQ(refused_err, ECONNREFUSED);
  ASSERT_EQ(trace.stop(), 0) << trace.err();

  const std::string out = trace.out();
  EXPECT_EQ(line_starting(out, "TIME(s)"),
            "TIME(s)  UID   PID    COMM         IP SADDR            LPORT  DADDR            "
            "DPORT  OUTCOME     RETRANS");
  auto rows = parse_rows(out);
  auto ok = where(rows, "DPORT", std::to_string(v4.port));
  ASSERT_EQ(ok.size(), 1u) << out;
  EXPECT_EQ(ok[0]["UID"], "0");
  EXPECT_EQ(ok[0]["PID"], std::to_string(getpid()));
  EXPECT_EQ(ok[0]["LPORT"], std::to_string(ok_lport));
  EXPECT_EQ(ok[0]["OUTCOME"], "established");
  // Seconds since the tool started, three decimals.
  EXPECT_THAT(ok[0]["TIME(s)"], ::testing::MatchesRegex("[0-9]+\\.[0-9][0-9][0-9]"));
  auto refused = where(rows, "DPORT", std::to_string(closed6));
  ASSERT_EQ(refused.size(), 1u) << out;
  EXPECT_EQ(refused[0]["IP"], "6");
  EXPECT_EQ(refused[0]["LPORT"], std::to_string(refused_lport));
  EXPECT_EQ(refused[0]["OUTCOME"], "refused");
  EXPECT_EQ(ok[0]["RETRANS"], "0");
  EXPECT_EQ(refused[0]["RETRANS"], "0");
}

// --outcome: each connect's SYN retransmissions, as many as its socket reports. A full
// accept queue drops the first SYN; it is answered once the queue has room.
TEST_F(TraceTest, OutcomeShowsSynRetransmissions) {
  Listener l = listen_tcp(AF_INET, "127.0.0.1", 0);
  TraceRun trace({"--outcome", "--json", "-P", std::to_string(l.port)});
  ASSERT_TRUE(trace.ready(false));
  ASSERT_EQ(connect_once(AF_INET, "127.0.0.1", l.port), 0);  // fills the queue
  Fd fd(socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  ASSERT_TRUE(fd);
  socklen_t len;
  sockaddr_storage to = make_addr(AF_INET, "127.0.0.1", l.port, &len);
  ASSERT_NE(connect(fd.get(), reinterpret_cast<sockaddr*>(&to), len), 0);
  ASSERT_EQ(errno, EINPROGRESS) << std::strerror(errno);
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  drain_accepts(l);
  uint32_t retrans = 0;
  const int err = testing::finish_connect(fd, &retrans);
  ASSERT_NE(err, -1) << "the retransmitted SYN was not answered";
  ASSERT_EQ(err, 0) << std::strerror(err);
  ASSERT_GE(retrans, 1u) << "the first SYN was not dropped: nothing to show";
  ASSERT_EQ(trace.stop(), 0) << trace.err();

  const std::string out = trace.out();
  EXPECT_EQ(count_of(out, R"("outcome":"established","syn_retransmits":0)"), 1u) << out;
  EXPECT_EQ(count_of(out, R"("outcome":"established","syn_retransmits":)" +
                              std::to_string(retrans) + "}"),
            1u)
      << out;
}

// -L alone: the port the kernel assigned, known once the attempt ends.
TEST_F(TraceTest, LportAloneIsTheAssignedPort) {
  Listener l = listen_tcp(AF_INET6, "::1");
  TraceRun trace({"-L", "-P", std::to_string(l.port)});
  ASSERT_TRUE(trace.ready());
  int err = -1;
  const uint16_t lport = connect_reporting_lport(AF_INET6, "::1", l.port, &err);
  ASSERT_EQ(err, 0);
  ASSERT_EQ(trace.stop(), 0) << trace.err();
  EXPECT_EQ(line_starting(trace.out(), "PID"),
            "PID    COMM         IP SADDR            LPORT  DADDR            DPORT");
  auto rows = parse_rows(trace.out());
  ASSERT_EQ(rows.size(), 1u) << trace.out();
  EXPECT_EQ(rows[0]["LPORT"], std::to_string(lport));
  EXPECT_EQ(rows[0]["IP"], "6");
}

// -p: only the connects of one process, here a child whose pid is known before it runs.
TEST_F(TraceTest, PidFilter) {
  Listener l = listen_tcp(AF_INET, "127.0.0.1");
  ConnectorChild child(AF_INET, "127.0.0.1", l.port, 3);
  const std::string child_pid = std::to_string(child.pid());  // forgotten once reaped
  TraceRun trace({"-p", std::to_string(child.pid())});
  ASSERT_TRUE(trace.ready());
  ASSERT_EQ(connect_once(AF_INET, "127.0.0.1", l.port), 0);  // ours: not traced
  ASSERT_EQ(child.release_and_wait(), 3);
  ASSERT_EQ(trace.stop(), 0) << trace.err();

  auto rows = parse_rows(trace.out());
  EXPECT_EQ(rows.size(), 3u) << trace.out();
  for (const Row& r : rows) {
    EXPECT_EQ(r.at("PID"), child_pid);
    EXPECT_EQ(r.at("DPORT"), std::to_string(l.port));
  }
}

// -u with -U: only a user's connects, made by a shell that setpriv runs as that user.
TEST_F(TraceTest, UidFilterAndColumn) {
  if (run_command("command -v setpriv >/dev/null") != 0) GTEST_SKIP() << "setpriv is missing";
  Listener l = listen_tcp(AF_INET, "127.0.0.1");
  TraceRun trace({"-u", "4242", "-U", "-P", std::to_string(l.port)});
  ASSERT_TRUE(trace.ready());
  ASSERT_EQ(connect_once(AF_INET, "127.0.0.1", l.port), 0);  // root's: not traced
  const std::string port = std::to_string(l.port);
  std::string out;
  ASSERT_EQ(run_command("setpriv --reuid=4242 --regid=4242 --clear-groups bash -c 'for i in 1 2; "
                        "do exec 3<>/dev/tcp/127.0.0.1/" +
                            port + " && exec 3>&-; done' 2>&1",
                        &out),
            0)
      << out;
  ASSERT_EQ(trace.stop(), 0) << trace.err();

  auto rows = parse_rows(trace.out());
  ASSERT_EQ(rows.size(), 2u) << trace.out();
  for (const Row& r : rows) {
    EXPECT_EQ(r.at("UID"), "4242");
    EXPECT_EQ(r.at("COMM"), "bash");
    EXPECT_EQ(r.at("DPORT"), port);
  }
}

// With -L or --outcome a line waits for the attempt's next state; an attempt still in
// flight when the tool stops is printed then, as it stands: OUTCOME "-", and LPORT "-"
// since the kernel assigns the port only after the attempt was recorded.
TEST_F(TraceTest, AttemptsInFlightAtTheEndArePrinted) {
  // Backlog 0: the first connection fills the accept queue; the kernel then drops the
  // next SYN, and that connect stays in SYN_SENT for as long as the test wants.
  Listener full = listen_tcp(AF_INET, "127.0.0.1", 0);
  TraceRun trace({"-L", "--outcome", "-P", std::to_string(full.port)});
  ASSERT_TRUE(trace.ready());
  ASSERT_EQ(connect_once(AF_INET, "127.0.0.1", full.port), 0);
  Fd in_flight(socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  ASSERT_TRUE(in_flight);
  socklen_t len = 0;
  sockaddr_storage addr = make_addr(AF_INET, "127.0.0.1", full.port, &len);
  ASSERT_EQ(connect(in_flight.get(), reinterpret_cast<sockaddr*>(&addr), len), -1);
  ASSERT_EQ(errno, EINPROGRESS);
  ASSERT_EQ(trace.stop(), 0) << trace.err();
  in_flight = Fd();

  auto rows = parse_rows(trace.out());
  ASSERT_EQ(rows.size(), 2u) << trace.out() << trace.err();
  EXPECT_EQ(rows[0]["OUTCOME"], "established");
  EXPECT_NE(rows[0]["LPORT"], "-");
  EXPECT_EQ(rows[1], (Row{{"PID", std::to_string(getpid())},
                          {"COMM", kComm},
                          {"IP", "4"},
                          {"SADDR", "127.0.0.1"},
                          {"LPORT", "-"},
                          {"DADDR", "127.0.0.1"},
                          {"DPORT", std::to_string(full.port)},
                          {"OUTCOME", "-"},
                          {"RETRANS", "-"}}));
}

// --outcome for the attempts nobody answers: one the application gives up on (aborted)
// and one the kernel gives up on (timeout, after one SYN retransmission: ~3 s).
TEST_F(TraceTest, AbortedAndTimedOutAttempts) {
  Listener full = listen_tcp(AF_INET, "127.0.0.1", 0);  // every SYN after the first dropped
  ASSERT_EQ(connect_once(AF_INET, "127.0.0.1", full.port), 0);
  TraceRun trace({"-L", "--outcome", "-P", std::to_string(full.port)});
  ASSERT_TRUE(trace.ready());
  auto socket_to_full = [&](int flags, int* connect_errno) {
    Fd fd(socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | flags, 0));
    const int syncnt = 1;
    setsockopt(fd.get(), IPPROTO_TCP, TCP_SYNCNT, &syncnt, sizeof(syncnt));
    socklen_t len = 0;
    sockaddr_storage addr = make_addr(AF_INET, "127.0.0.1", full.port, &len);
    *connect_errno = connect(fd.get(), reinterpret_cast<sockaddr*>(&addr), len) == 0 ? 0 : errno;
    return fd;
  };
  int err = 0;
  Fd abandoned = socket_to_full(SOCK_NONBLOCK, &err);
  ASSERT_EQ(err, EINPROGRESS);
  abandoned = Fd();  // closed before any answer
  socket_to_full(0, &err);
  ASSERT_EQ(err, ETIMEDOUT);
  ASSERT_EQ(trace.stop(), 0) << trace.err();

  auto rows = parse_rows(trace.out());
  ASSERT_EQ(rows.size(), 2u) << trace.out() << trace.err();
  EXPECT_EQ(rows[0]["OUTCOME"], "aborted");
  EXPECT_NE(rows[0]["LPORT"], "-");
  // The timeout is the retransmit timer's softirq; should the kernel skip that program
  // run (it was already running on the CPU), the attempt is printed as still in flight
  // at the end and stderr says runs were skipped.
  if (rows[1]["OUTCOME"] == "-") {
    EXPECT_THAT(trace.err(), HasSubstr("program runs the kernel skipped"));
  } else {
    EXPECT_EQ(rows[1]["OUTCOME"], "timeout");
    EXPECT_NE(rows[1]["LPORT"], "-");
  }
}

// -P with a list and -4 / -6.
TEST_F(TraceTest, PortAndFamilyFilters) {
  Listener a = listen_tcp(AF_INET, "127.0.0.1");
  Listener b = listen_tcp(AF_INET6, "::1");
  Listener c = listen_tcp(AF_INET, "127.0.0.1");
  const std::string ports = std::to_string(a.port) + "," + std::to_string(b.port);
  TraceRun both({"-P", ports});
  TraceRun v6({"-6", "-P", ports + "," + std::to_string(c.port)});
  TraceRun v4({"-4", "-P", ports + "," + std::to_string(c.port)});
  ASSERT_TRUE(both.ready());
  ASSERT_TRUE(v6.ready());
  ASSERT_TRUE(v4.ready());
  ASSERT_EQ(connect_once(AF_INET, "127.0.0.1", a.port), 0);
  ASSERT_EQ(connect_once(AF_INET6, "::1", b.port), 0);
  ASSERT_EQ(connect_once(AF_INET, "127.0.0.1", c.port), 0);
  ASSERT_EQ(both.stop(), 0) << both.err();
  ASSERT_EQ(v6.stop(), 0) << v6.err();
  ASSERT_EQ(v4.stop(), 0) << v4.err();

  auto port_set = [](const std::vector<Row>& rows) {
    std::multiset<std::string> s;
    for (const Row& r : rows) s.insert(r.at("IP") + "/" + r.at("DPORT"));
    return s;
  };
  const std::string pa = std::to_string(a.port), pb = std::to_string(b.port),
                    pc = std::to_string(c.port);
  EXPECT_EQ(port_set(parse_rows(both.out())), (std::multiset<std::string>{"4/" + pa, "6/" + pb}));
  EXPECT_EQ(port_set(parse_rows(v6.out())), (std::multiset<std::string>{"6/" + pb}));
  EXPECT_EQ(port_set(parse_rows(v4.out())), (std::multiset<std::string>{"4/" + pa, "4/" + pc}));
}

// -c: the table at Ctrl-C, exact counts, most connects first; with --outcome, how they
// ended; SIGTERM ends it the same way.
TEST_F(TraceTest, CountTableIsExact) {
  Listener l = listen_tcp(AF_INET, "127.0.0.1");
  Listener l6 = listen_tcp(AF_INET6, "::1");
  const uint16_t closed = closed_port(AF_INET, "127.0.0.1");
  const std::string ports =
      std::to_string(l.port) + "," + std::to_string(l6.port) + "," + std::to_string(closed);
  TraceRun count({"-c", "-P", ports});
  TraceRun outcome({"-c", "--outcome", "-P", ports});
  ASSERT_TRUE(count.ready(false));
  ASSERT_TRUE(outcome.ready(false));
  ASSERT_EQ(connect_and_accept(l, AF_INET, "127.0.0.1", 120), 120);
  ASSERT_EQ(connect_and_accept(l6, AF_INET6, "::1", 7), 7);
  for (int i = 0; i < 30; ++i) ASSERT_EQ(connect_once(AF_INET, "127.0.0.1", closed), ECONNREFUSED);
  ASSERT_EQ(count.stop(SIGINT), 0) << count.err();
  ASSERT_EQ(outcome.stop(SIGTERM), 0) << outcome.err();

  std::vector<std::string> header;
  auto rows = parse_rows(count.out(), &header);
  EXPECT_EQ(header, (std::vector<std::string>{"LADDR", "RADDR", "RPORT", "CONNECTS"}));
  ASSERT_EQ(rows.size(), 3u) << count.out();
  EXPECT_EQ(rows[0], (Row{{"LADDR", "127.0.0.1"},
                          {"RADDR", "127.0.0.1"},
                          {"RPORT", std::to_string(l.port)},
                          {"CONNECTS", "120"}}));
  EXPECT_EQ(rows[1], (Row{{"LADDR", "127.0.0.1"},
                          {"RADDR", "127.0.0.1"},
                          {"RPORT", std::to_string(closed)},
                          {"CONNECTS", "30"}}));
  EXPECT_EQ(rows[2], (Row{{"LADDR", "::1"},
                          {"RADDR", "::1"},
                          {"RPORT", std::to_string(l6.port)},
                          {"CONNECTS", "7"}}));
  EXPECT_THAT(count.out(), HasSubstr("\nLADDR                     RADDR                     RPORT"
                                     "                CONNECTS\n"));

  auto with_outcome = parse_rows(outcome.out());
  ASSERT_EQ(with_outcome.size(), 3u) << outcome.out();
  EXPECT_EQ(with_outcome[0]["ESTABLISHED"], "120");
  EXPECT_EQ(with_outcome[0]["FAILED"], "0");
  EXPECT_EQ(with_outcome[1]["CONNECTS"], "30");
  EXPECT_EQ(with_outcome[1]["ESTABLISHED"], "0");
  EXPECT_EQ(with_outcome[1]["FAILED"], "30");
  EXPECT_EQ(with_outcome[0]["RETRANS"], "0");
  EXPECT_EQ(with_outcome[1]["RETRANS"], "0");
}

// --json: one object per line, for jq; the banner goes to stderr.
TEST_F(TraceTest, JsonLinesForJq) {
  Listener l = listen_tcp(AF_INET, "127.0.0.1");
  TraceRun events({"--json", "-L", "--outcome", "-P", std::to_string(l.port)});
  TraceRun counts({"--json", "-c", "-P", std::to_string(l.port)});
  ASSERT_TRUE(events.ready(false));
  ASSERT_TRUE(counts.ready(false));
  int err = -1;
  const uint16_t lport = connect_reporting_lport(AF_INET, "127.0.0.1", l.port, &err);
  ASSERT_EQ(err, 0);
  ASSERT_EQ(connect_once(AF_INET, "127.0.0.1", l.port), 0);
  ASSERT_EQ(events.stop(), 0) << events.err();
  ASSERT_EQ(counts.stop(), 0) << counts.err();

  EXPECT_THAT(events.err(), HasSubstr(kBanner));
  const std::string pid = std::to_string(getpid()), port = std::to_string(l.port);
  std::istringstream lines(events.out());
  std::string first;
  ASSERT_TRUE(std::getline(lines, first)) << events.out();
  EXPECT_THAT(first, ::testing::MatchesRegex(
                         "\\{\"time\":[0-9.]+,\"uid\":0,\"pid\":" + pid +
                         ",\"comm\":\"trace_tests\",\"ip\":4,\"saddr\":\"127.0.0.1\",\"lport\":" +
                         std::to_string(lport) + ",\"daddr\":\"127.0.0.1\",\"dport\":" + port +
                         ",\"outcome\":\"established\",\"syn_retransmits\":0\\}"));
  EXPECT_EQ(counts.out(), "{\"ip\":4,\"laddr\":\"127.0.0.1\",\"raddr\":\"127.0.0.1\",\"rport\":" +
                              port + ",\"connects\":2}\n");
  // jq reads every line.
  if (run_command("command -v jq >/dev/null") == 0) {
    std::string n;
    ASSERT_EQ(run_command("echo '" + events.out() + "' | jq -s length", &n), 0);
    EXPECT_EQ(n, "2\n");
  }
}

// Each program type the tool can attach with sees connects.
class TraceBackendTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override { TCPCONNECT_REQUIRE_ROOT(); }
};

TEST_P(TraceBackendTest, SeesConnects) {
  Listener l = listen_tcp(AF_INET, "127.0.0.1");
  TraceRun trace({"--backend", GetParam(), "--outcome", "-P", std::to_string(l.port)});
  ASSERT_TRUE(trace.ready());
  ASSERT_EQ(connect_once(AF_INET, "127.0.0.1", l.port), 0);
  ASSERT_EQ(trace.stop(), 0) << trace.err();
  auto rows = parse_rows(trace.out());
  ASSERT_EQ(rows.size(), 1u) << trace.out() << trace.err();
  EXPECT_EQ(rows[0]["OUTCOME"], "established");
}

INSTANTIATE_TEST_SUITE_P(Backends, TraceBackendTest,
                         ::testing::Values("tp_btf", "raw_tp", "tracepoint"));

// A reader that falls behind loses events: the tool says so on stderr, with how many, and
// what it printed plus what it lost covers every attempt.
TEST_F(TraceTest, LostEventsAreReported) {
  Listener l = listen_tcp(AF_INET, "127.0.0.1");
  TraceRun trace({"--ring-bytes", "4096", "-P", std::to_string(l.port)});
  ASSERT_TRUE(trace.ready());
  // Stopped, it reads nothing: the one-page ring holds a few dozen events.
  ASSERT_EQ(kill(trace.pid(), SIGSTOP), 0);
  bool stopped = false;
  for (int i = 0; i < 400 && !stopped; ++i) {  // until the kernel says so; bounded
    std::ifstream stat("/proc/" + std::to_string(trace.pid()) + "/stat");
    std::string text((std::istreambuf_iterator<char>(stat)), {});
    stopped = text.find(") T ") != std::string::npos;
    if (!stopped) std::this_thread::sleep_for(5ms);
  }
  ASSERT_TRUE(stopped);
  constexpr int kAttempts = 300;
  ASSERT_EQ(connect_and_accept(l, AF_INET, "127.0.0.1", kAttempts), kAttempts);
  ASSERT_EQ(kill(trace.pid(), SIGCONT), 0);
  ASSERT_EQ(trace.stop(), 0) << trace.err();

  const size_t printed = parse_rows(trace.out()).size();
  unsigned long long lost = 0, total = 0;
  const std::string err = trace.err();
  const std::string report = line_starting(err, "Lost ");
  ASSERT_NE(report, "") << err;
  ASSERT_EQ(std::sscanf(report.c_str(), "Lost %llu events", &lost), 1) << report;
  ASSERT_NE(report.find("; "), std::string::npos);
  std::sscanf(report.substr(report.rfind("; ") + 2).c_str(), "%llu in all", &total);
  EXPECT_THAT(report, HasSubstr("ring buffer full"));
  EXPECT_LT(printed, static_cast<size_t>(kAttempts));
  EXPECT_GE(printed + total, static_cast<size_t>(kAttempts)) << err;
}

// --mntnsmap and --cgroupmap: bcc's pinned maps of mount namespaces and cgroups; only
// the connects made from those are traced.
TEST_F(TraceTest, MntnsmapTracesOnlyThatMountNamespace) {
  std::string error;
  auto map = PinnedIdSet::create("tcx_trace_mntns_" + std::to_string(getpid()), 8, 4, &error);
  ASSERT_TRUE(map) << error;
  Listener l = listen_tcp(AF_INET, "127.0.0.1");
  TraceRun trace({"--mntnsmap", map->path(), "-P", std::to_string(l.port)});
  ASSERT_TRUE(trace.ready());
  // A thread can have a mount namespace of its own; its connects carry the process's pid.
  std::mutex mu;
  std::condition_variable cv;
  uint64_t id = 0;
  bool go = false;
  int connected = 0;
  std::thread inside([&] {
    struct stat st {};
    if (unshare(CLONE_NEWNS) == 0 && stat("/proc/thread-self/ns/mnt", &st) == 0) {
      std::unique_lock<std::mutex> lock(mu);
      id = st.st_ino;
      cv.notify_all();
      cv.wait(lock, [&] { return go; });  // until the map holds the id
      for (int i = 0; i < 2; ++i) connected += connect_once(AF_INET, "127.0.0.1", l.port) == 0;
    } else {
      std::lock_guard<std::mutex> lock(mu);
      id = 1;  // cannot: the assertions below fail
      cv.notify_all();
    }
  });
  {
    std::unique_lock<std::mutex> lock(mu);
    cv.wait(lock, [&] { return id != 0; });
    EXPECT_NE(id, mntns_id(getpid()));
    EXPECT_TRUE(map->add(id));
    go = true;
    cv.notify_all();
  }
  inside.join();
  ASSERT_EQ(connected, 2);
  ASSERT_EQ(connect_once(AF_INET, "127.0.0.1", l.port), 0);  // the host's namespace
  ASSERT_EQ(trace.stop(), 0) << trace.err();
  auto rows = parse_rows(trace.out());
  ASSERT_EQ(rows.size(), 2u) << trace.out() << trace.err();
}

TEST_F(TraceTest, CgroupmapTracesOnlyThatCgroup) {
  std::string error;
  auto cg = TestCgroup::create("tcx-trace-" + std::to_string(getpid()) + ".scope", &error);
  ASSERT_TRUE(cg) << error;
  auto map = PinnedIdSet::create("tcx_trace_cgmap_" + std::to_string(getpid()), 8, 8, &error);
  ASSERT_TRUE(map) << error;
  ASSERT_TRUE(map->add(cg->id()));
  Listener l = listen_tcp(AF_INET, "127.0.0.1");
  ConnectorChild child(AF_INET, "127.0.0.1", l.port, 3);
  const std::string child_pid = std::to_string(child.pid());  // forgotten once reaped
  ASSERT_TRUE(cg->add_process(child.pid()));
  TraceRun trace({"--cgroupmap", map->path(), "-P", std::to_string(l.port)});
  ASSERT_TRUE(trace.ready());
  ASSERT_EQ(connect_once(AF_INET, "127.0.0.1", l.port), 0);  // ours: not traced
  ASSERT_EQ(child.release_and_wait(), 3);
  ASSERT_EQ(trace.stop(), 0) << trace.err();
  auto rows = parse_rows(trace.out());
  ASSERT_EQ(rows.size(), 3u) << trace.out() << trace.err();
  for (const Row& r : rows) EXPECT_EQ(r.at("PID"), child_pid);
}

// --pod: the pod of each connect from its cgroup and kubelet's log directories, here
// fake ones (temporary roots): a burstable pod under the systemd driver and a
// guaranteed one under the cgroupfs driver, below a cgroup of the test's own (kubelet's
// --cgroup-root). The test's own connect is outside pods.
TEST_F(TraceTest, PodColumnsNameKubeletPods) {
  const std::string id = std::to_string(getpid());
  char hex[9];
  std::snprintf(hex, sizeof(hex), "%08x", static_cast<unsigned>(getpid()));
  const std::string uid_a = std::string(hex) + "-0000-4000-8000-00000000000a";
  const std::string uid_b = std::string(hex) + "-0000-4000-8000-00000000000b";
  const std::string cid_a = std::string(56, 'a') + hex, cid_b = std::string(56, 'b') + hex;
  std::string uid_a_systemd = uid_a;
  for (char& c : uid_a_systemd)
    if (c == '-') c = '_';
  std::string error;
  auto cg_a = TestCgroup::create("tcx-trace-pods-" + id + ".slice/kubepods.slice/" +
                                     "kubepods-burstable.slice/kubepods-burstable-pod" +
                                     uid_a_systemd + ".slice/cri-containerd-" + cid_a + ".scope",
                                 &error);
  ASSERT_TRUE(cg_a) << error;
  auto cg_b =
      TestCgroup::create("tcx-trace-pods-" + id + "/kubepods/pod" + uid_b + "/" + cid_b, &error);
  ASSERT_TRUE(cg_b) << error;
  ScratchDir logs("tcx-trace-pods");
  ASSERT_FALSE(logs.path().empty());
  const std::string pods = logs.path() + "/pods", containers = logs.path() + "/containers";
  for (const std::string& dir :
       {pods, containers, pods + "/shop_cart-7d4b9_" + uid_a,
        pods + "/shop_cart-7d4b9_" + uid_a + "/cart", pods + "/kube-system_coredns-5d78c_" + uid_b,
        pods + "/kube-system_coredns-5d78c_" + uid_b + "/coredns"})
    ASSERT_EQ(mkdir(dir.c_str(), 0755), 0) << dir << ": " << std::strerror(errno);
  ASSERT_EQ(symlink((pods + "/shop_cart-7d4b9_" + uid_a + "/cart/0.log").c_str(),
                    (containers + "/cart-7d4b9_shop_cart-" + cid_a + ".log").c_str()),
            0);
  ASSERT_EQ(symlink((pods + "/kube-system_coredns-5d78c_" + uid_b + "/coredns/0.log").c_str(),
                    (containers + "/coredns-5d78c_kube-system_coredns-" + cid_b + ".log").c_str()),
            0);

  Listener l = listen_tcp(AF_INET, "127.0.0.1");
  ConnectorChild in_a(AF_INET, "127.0.0.1", l.port, 2);
  ConnectorChild in_b(AF_INET, "127.0.0.1", l.port, 3);
  const std::string pid_a = std::to_string(in_a.pid()), pid_b = std::to_string(in_b.pid());
  ASSERT_TRUE(cg_a->add_process(in_a.pid()));
  ASSERT_TRUE(cg_b->add_process(in_b.pid()));
  TraceRun text({"--pod", "-P", std::to_string(l.port), "--pod-logs-dir", pods,
                 "--container-logs-dir", containers});
  TraceRun json({"--pod", "--json", "-P", std::to_string(l.port), "--pod-logs-dir", pods,
                 "--container-logs-dir", containers});
  ASSERT_TRUE(text.ready());
  ASSERT_TRUE(json.ready(false));
  ASSERT_EQ(in_a.release_and_wait(), 2);
  ASSERT_EQ(in_b.release_and_wait(), 3);
  ASSERT_EQ(connect_once(AF_INET, "127.0.0.1", l.port), 0);
  drain_accepts(l);
  ASSERT_EQ(text.stop(), 0) << text.err();
  ASSERT_EQ(json.stop(), 0) << json.err();

  std::vector<std::string> header;
  auto rows = parse_rows(text.out(), &header);
  EXPECT_THAT(header, ::testing::ElementsAre("PID", "COMM", "IP", "SADDR", "DADDR", "DPORT",
                                             "NAMESPACE", "POD", "CONTAINER"));
  ASSERT_EQ(rows.size(), 6u) << text.out() << text.err();
  for (const Row& r : where(rows, "PID", pid_a))
    EXPECT_EQ(r.at("NAMESPACE") + "/" + r.at("POD") + "/" + r.at("CONTAINER"),
              "shop/cart-7d4b9/cart");
  for (const Row& r : where(rows, "PID", pid_b))
    EXPECT_EQ(r.at("NAMESPACE") + "/" + r.at("POD") + "/" + r.at("CONTAINER"),
              "kube-system/coredns-5d78c/coredns");
  const auto ours = where(rows, "PID", id);
  ASSERT_EQ(ours.size(), 1u);
  EXPECT_EQ(ours[0].at("NAMESPACE") + ours[0].at("POD") + ours[0].at("CONTAINER"), "---");
  EXPECT_EQ(where(rows, "PID", pid_a).size(), 2u);
  EXPECT_EQ(where(rows, "PID", pid_b).size(), 3u);

  const std::string out = json.out();
  EXPECT_EQ(count_of(out, "\"pid\":" + pid_a + ","), 2u) << out;
  EXPECT_EQ(count_of(out, "\"namespace\":\"shop\",\"pod\":\"cart-7d4b9\",\"container\":\"cart\"}"),
            2u)
      << out;
  EXPECT_EQ(count_of(out,
                     "\"namespace\":\"kube-system\",\"pod\":\"coredns-5d78c\","
                     "\"container\":\"coredns\"}"),
            3u)
      << out;
  EXPECT_EQ(count_of(out, "\"namespace\":\"\",\"pod\":\"\",\"container\":\"\"}"), 1u) << out;
}

// -d: the QUERY column from a real dnsmasq, through glibc's own resolver.
class TraceDnsTest : public TraceTest {
 protected:
  // 127.81.X.n: addresses only this process's names resolve to.
  static std::string answer(int n) {
    return "127.81." + std::to_string(getpid() % 250 + 1) + "." + std::to_string(n);
  }
  // Outside loopback: an address on `lo` of a network namespace the test makes.
  static std::string far(int n) { return "203.0.113." + std::to_string((getpid() % 100) * 2 + n); }

  void SetUp() override {
    TraceTest::SetUp();
    if (IsSkipped()) return;
    if (run_command("command -v dnsmasq >/dev/null") != 0) GTEST_SKIP() << "dnsmasq is missing";
    Dnsmasq::Options o;
    o.listen = {unique_loopback_v4(7)};
    o.port = 53;  // glibc's resolver only speaks to port 53
    o.records = {"--host-record=near.trc.test," + answer(1),
                 "--host-record=late.trc.test," + answer(2), "--host-record=far.trc.test," + far(1),
                 "--host-record=ready.trc.test,127.0.0.1"};
    o.ready_name = "ready.trc.test";
    std::string error;
    dns_ = Dnsmasq::start(o, &error);
    ASSERT_TRUE(dns_) << error;
  }

  // Resolves names with getaddrinfo(); with a port, connects to the first answer at once.
  std::string resolve(const std::string& names, uint16_t connect_port = 0) {
    std::string out;
    std::string args = " --nameserver " + dns_->address() + " --family inet ";
    if (connect_port) args += "--connect-port " + std::to_string(connect_port) + " ";
    EXPECT_EQ(run_shell(dns_client_binary() + args + "resolve " + names, &out), 0) << out;
    return out;
  }

  // A connect to `ip` from a shell in a new network namespace that has `ip` on lo;
  // nothing listens there, so it is refused. The shell's output.
  static std::string connect_in_netns(const std::string& ip, uint16_t port) {
    std::string out;
    run_command("unshare -n bash -c 'ip link set lo up && ip addr add " + ip +
                    "/32 dev lo && exec 3<>/dev/tcp/" + ip + "/" + std::to_string(port) + "' 2>&1",
                &out);
    return out;
  }

  std::unique_ptr<Dnsmasq> dns_;
};

TEST_F(TraceDnsTest, QueryColumnNamesEachDestination) {
  Listener near = listen_tcp(AF_INET, answer(1));
  Listener late = listen_tcp(AF_INET, answer(2));
  Listener local = listen_tcp(AF_INET, "127.0.0.1");
  const uint16_t far_port = closed_port(AF_INET, "127.0.0.1");
  const std::string ports = std::to_string(near.port) + "," + std::to_string(late.port) + "," +
                            std::to_string(local.port) + "," + std::to_string(far_port);
  TraceRun trace({"-d", "-P", ports});
  TraceRun counts({"-c", "-d", "-P", ports});
  ASSERT_TRUE(trace.ready());
  ASSERT_TRUE(counts.ready(false));

  // Resolved and connected at once.
  EXPECT_THAT(resolve("near.trc.test near.trc.test", near.port),
              HasSubstr("near.trc.test " + answer(1) + " 0"));
  // Connected at least 150 ms after the answer: the seed's "(...ms)" note.
  resolve("late.trc.test");
  std::this_thread::sleep_for(150ms);
  ASSERT_EQ(connect_once(AF_INET, answer(2), late.port), 0);
  // Loopback no answer named; an address outside loopback that the host's lookup names,
  // connected to from another network namespace (which looked nothing up: names are
  // scoped to the namespace of the lookup); and one nothing named.
  ASSERT_EQ(connect_once(AF_INET, "127.0.0.1", local.port), 0);
  resolve("far.trc.test");
  ASSERT_THAT(connect_in_netns(far(1), far_port), HasSubstr("Connection refused"));
  ASSERT_THAT(connect_in_netns(far(2), far_port), HasSubstr("Connection refused"));
  ASSERT_EQ(trace.stop(), 0) << trace.err();
  ASSERT_EQ(counts.stop(), 0) << counts.err();

  const std::string out = trace.out();
  EXPECT_EQ(line_starting(out, "PID"),
            "PID    COMM         IP SADDR            DADDR            DPORT  QUERY");
  auto rows = parse_rows(out);
  auto near_rows = where(rows, "DADDR", answer(1));
  ASSERT_EQ(near_rows.size(), 2u) << out;
  for (const Row& r : near_rows) {
    EXPECT_EQ(r.at("QUERY").rfind("near.trc.test", 0), 0u) << r.at("QUERY");
    EXPECT_EQ(r.at("COMM"), "dns_client");
  }
  auto late_rows = where(rows, "DADDR", answer(2));
  ASSERT_EQ(late_rows.size(), 1u) << out;
  double ms = 0;
  ASSERT_EQ(std::sscanf(late_rows[0]["QUERY"].c_str(), "late.trc.test (%lfms)", &ms), 1)
      << late_rows[0]["QUERY"];
  EXPECT_GE(ms, 150.0);
  auto local_rows = where(rows, "DPORT", std::to_string(local.port));
  ASSERT_EQ(local_rows.size(), 1u) << out;
  EXPECT_EQ(local_rows[0]["QUERY"], "localhost");
  auto far_rows = where(rows, "DADDR", far(1));
  ASSERT_EQ(far_rows.size(), 1u) << out;
  EXPECT_EQ(far_rows[0]["QUERY"], "No DNS Query");
  auto unnamed = where(rows, "DADDR", far(2));
  ASSERT_EQ(unnamed.size(), 1u) << out;
  EXPECT_EQ(unnamed[0]["QUERY"], "No DNS Query");

  // -c with -d (the seed refuses the pair): each row gains its destination's name.
  auto count_rows = parse_rows(counts.out());
  auto near_count = where(count_rows, "RADDR", answer(1));
  ASSERT_EQ(near_count.size(), 1u) << counts.out();
  EXPECT_EQ(near_count[0]["CONNECTS"], "2");
  EXPECT_EQ(near_count[0]["QUERY"], "near.trc.test");
  auto unnamed_count = where(count_rows, "RADDR", far(2));
  ASSERT_EQ(unnamed_count.size(), 1u) << counts.out();
  EXPECT_EQ(unnamed_count[0]["QUERY"], "No DNS Query");
}

// A name that moves: the connect to the address it gave before, past that answer's TTL,
// is stale (the daemon's verdict); the connect to its current address is not.
TEST_F(TraceDnsTest, StaleDestinationIsMarked) {
  dns_.reset();
  Dnsmasq::Options o;
  o.listen = {unique_loopback_v4(8)};
  o.port = 53;
  o.hosts = answer(3) + " moving.trc.test\n";
  o.records = {"--local-ttl=1", "--host-record=ready.trc.test,127.0.0.1"};
  o.ready_name = "ready.trc.test";
  std::string error;
  dns_ = Dnsmasq::start(o, &error);
  ASSERT_TRUE(dns_) << error;
  Listener before = listen_tcp(AF_INET, answer(3));
  Listener now = listen_tcp(AF_INET, answer(4));
  TraceRun trace({"-d", "-P", std::to_string(before.port) + "," + std::to_string(now.port)});
  ASSERT_TRUE(trace.ready());

  ASSERT_THAT(resolve("moving.trc.test"), HasSubstr(answer(3)));
  ASSERT_TRUE(dns_->set_hosts(answer(4) + " moving.trc.test\n"));
  bool moved = false;
  for (int i = 0; i < 50 && !moved; ++i) {  // the reload is asynchronous: at most ~5 s
    moved = resolve("moving.trc.test").find(answer(4)) != std::string::npos;
    if (!moved) std::this_thread::sleep_for(100ms);
  }
  ASSERT_TRUE(moved) << dns_->log();
  std::this_thread::sleep_for(1500ms);  // past the 1 s TTL of the answer that gave answer(3)
  ASSERT_EQ(connect_once(AF_INET, answer(3), before.port), 0);
  ASSERT_EQ(connect_once(AF_INET, answer(4), now.port), 0);
  ASSERT_EQ(trace.stop(), 0) << trace.err();

  const std::string out = trace.out();
  auto rows = parse_rows(out);
  auto stale_rows = where(rows, "DADDR", answer(3));
  ASSERT_EQ(stale_rows.size(), 1u) << out;
  const std::string& q = stale_rows[0]["QUERY"];
  EXPECT_EQ(q.rfind("moving.trc.test (", 0), 0u) << q;
  EXPECT_THAT(q, ::testing::EndsWith("ms) (stale)"));
  auto current = where(rows, "DADDR", answer(4));
  ASSERT_EQ(current.size(), 1u) << out;
  EXPECT_EQ(current[0]["QUERY"].rfind("moving.trc.test", 0), 0u) << current[0]["QUERY"];
  EXPECT_THAT(current[0]["QUERY"], ::testing::Not(HasSubstr("stale")));
}

// -h reads like the seed's usage, with its examples; bad options fail with one line.
TEST(TraceCommandLineTest, HelpAndErrors) {
  std::string out;
  ASSERT_EQ(run_command(daemon_binary() + " trace -h", &out), 0);
  EXPECT_EQ(out.rfind("usage: tcpconnect_exporter trace [-h] [-t]", 0), 0u) << out;
  for (const char* s :
       {"-p PID, --pid PID", "-P PORT, --port PORT", "[-4 | -6]", "-L, --lport", "-U, --print-uid",
        "-u UID, --uid UID", "-c, --count", "--cgroupmap", "--mntnsmap", "-d, --dns", "--json",
        "--outcome", "--pod", "--pod-logs-dir DIR", "--container-logs-dir DIR",
        "examples:", "tcpconnect_exporter trace -P 80,81"})
    EXPECT_THAT(out, HasSubstr(s));
  EXPECT_EQ(run_command(daemon_binary() + " trace -P 0 2>&1", &out), 2);
  EXPECT_EQ(out, "tcpconnect_exporter trace: -P: port 0 is out of range 1..65535\n");
  EXPECT_NE(run_command(daemon_binary() + " trace -4 -6 2>&1", &out), 0);
}

}  // namespace
}  // namespace tcpconnect::testing
