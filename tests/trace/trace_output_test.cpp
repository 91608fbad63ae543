// What `trace` prints, without a kernel: tcpconnect(8)'s header and column widths, the
// optional columns, the -c table's order, JSON, the QUERY column, and the checks of the
// options.
#include "trace/trace_output.h"

#include <gtest/gtest.h>

#include <CLI/CLI.hpp>
#include <random>

#include "common/utf8_check.h"
#include "trace/trace_command.h"

namespace tcpconnect {
namespace {

TraceLine sample() {
  TraceLine l;
  l.time_s = 31.8714;
  l.uid = 1000;
  l.pid = 1479;
  l.comm = "telnet";
  l.family = TC_AF_INET;
  l.saddr = "127.0.0.1";
  l.lport = 50000;
  l.daddr = "127.0.0.1";
  l.dport = 23;
  return l;
}

TEST(TraceOutput, DefaultColumnsAreTcpconnects) {
  TraceColumns c;
  EXPECT_EQ(trace_header(c), "PID    COMM         IP SADDR            DADDR            DPORT");
  EXPECT_EQ(trace_line(c, sample()), "1479   telnet       4  127.0.0.1        127.0.0.1        23");
}

TEST(TraceOutput, OptionalColumnsInTcpconnectsOrder) {
  TraceColumns c;
  c.timestamp = c.uid = c.lport = true;
  EXPECT_EQ(trace_header(c),
            "TIME(s)  UID   PID    COMM         IP SADDR            LPORT  DADDR            DPORT");
  EXPECT_EQ(trace_line(c, sample()),
            "31.871   1000  1479   telnet       4  127.0.0.1        50000  127.0.0.1        23");
  c.outcome = c.dns = true;
  TraceLine l = sample();
  l.outcome = TC_TRACE_FAILED + TC_FAIL_REFUSED;
  l.syn_retransmits = 2;
  l.query = "No DNS Query";
  EXPECT_EQ(trace_header(c),
            "TIME(s)  UID   PID    COMM         IP SADDR            LPORT  DADDR            DPORT "
            " OUTCOME     RETRANS QUERY");
  EXPECT_EQ(trace_line(c, l),
            "31.871   1000  1479   telnet       4  127.0.0.1        50000  127.0.0.1        23    "
            " refused     2       No DNS Query");
}

TEST(TraceOutput, LongFieldsAreCutOrWidenedLikeTheSeed) {
  TraceColumns c;
  TraceLine l = sample();
  l.comm = "local_agent_with_long";  // the kernel's comm is at most 15 bytes anyway
  l.family = TC_AF_INET6;
  l.saddr = "fe80::2000:bff:fe82:3ac";
  l.daddr = "fe80::2000:bff:fe82:3ac";
  EXPECT_EQ(trace_line(c, l),
            "1479   local_agent_ 6  fe80::2000:bff:fe82:3ac fe80::2000:bff:fe82:3ac 23");
  l.comm = "a\tb\x1b";
  EXPECT_EQ(trace_line(c, l).substr(0, 20), "1479   a?b?         ");
}

TEST(TraceOutput, OutcomeNames) {
  EXPECT_EQ(outcome_name(TC_TRACE_PENDING), "-");
  EXPECT_EQ(outcome_name(TC_TRACE_ESTABLISHED), "established");
  EXPECT_EQ(outcome_name(TC_TRACE_FAILED + TC_FAIL_REFUSED), "refused");
  EXPECT_EQ(outcome_name(TC_TRACE_FAILED + TC_FAIL_TIMEOUT), "timeout");
  EXPECT_EQ(outcome_name(TC_TRACE_FAILED + TC_FAIL_ABORTED), "aborted");
}

TEST(TraceOutput, JsonCarriesEveryFieldAsked) {
  TraceColumns c;
  c.json = true;
  EXPECT_EQ(trace_header(c), "");
  EXPECT_EQ(trace_line(c, sample()),
            R"({"time":31.871,"uid":1000,"pid":1479,"comm":"telnet","ip":4,"saddr":"127.0.0.1",)"
            R"("daddr":"127.0.0.1","dport":23})");
  c.lport = c.outcome = c.dns = true;
  TraceLine l = sample();
  l.outcome = TC_TRACE_ESTABLISHED;
  l.syn_retransmits = 1;
  l.query = "example.com (123.456ms)";
  EXPECT_EQ(trace_line(c, l),
            R"({"time":31.871,"uid":1000,"pid":1479,"comm":"telnet","ip":4,"saddr":"127.0.0.1",)"
            R"("lport":50000,"daddr":"127.0.0.1","dport":23,"outcome":"established",)"
            R"j("syn_retransmits":1,"query":"example.com (123.456ms)","stale":false})j");
}

// --pod: NAMESPACE, POD and CONTAINER after OUTCOME and before QUERY, "-" outside pods; a
// long pod name widens its line rather than being cut (replicas differ at the end).
TEST(TraceOutput, PodColumns) {
  TraceColumns c;
  c.pod = c.dns = true;
  TraceLine l = sample();
  l.query = "localhost";
  l.namespace_name = "shop";
  l.pod = "cart-7d4b9";
  l.container = "cart";
  EXPECT_EQ(trace_header(c),
            "PID    COMM         IP SADDR            DADDR            DPORT  NAMESPACE        POD "
            "                             CONTAINER        QUERY");
  EXPECT_EQ(trace_line(c, l),
            "1479   telnet       4  127.0.0.1        127.0.0.1        23     shop             "
            "cart-7d4b9                       cart             localhost");
  l.namespace_name = l.pod = l.container = "";
  EXPECT_EQ(trace_line(c, l),
            "1479   telnet       4  127.0.0.1        127.0.0.1        23     -                -  "
            "                              -                localhost");
  l.namespace_name = "shop";
  l.pod = "checkout-worker-with-a-very-long-name-5c7f8d9b4-x8k2p";
  l.container = "worker";
  EXPECT_NE(trace_line(c, l).find(" checkout-worker-with-a-very-long-name-5c7f8d9b4-x8k2p worker"),
            std::string::npos);
}

TEST(TraceOutput, JsonPodFields) {
  TraceColumns c;
  c.json = c.pod = true;
  TraceLine l = sample();
  l.namespace_name = "shop";
  l.pod = "cart-7d4b9";
  l.container = "cart";
  EXPECT_EQ(trace_line(c, l),
            R"({"time":31.871,"uid":1000,"pid":1479,"comm":"telnet","ip":4,"saddr":"127.0.0.1",)"
            R"("daddr":"127.0.0.1","dport":23,"namespace":"shop","pod":"cart-7d4b9",)"
            R"("container":"cart"})");
  l.namespace_name = l.pod = l.container = "";
  EXPECT_NE(trace_line(c, l).find(R"("namespace":"","pod":"","container":"")"), std::string::npos);
}

// A connect to an address DNS no longer gives for its name: the daemon's stale verdict,
// shown after QUERY (its delay note included) and as a JSON boolean.
TEST(TraceOutput, StaleDestinationIsMarked) {
  TraceColumns c;
  c.dns = true;
  TraceLine l = sample();
  l.query = "moving.example (2503.100ms)";
  l.stale = true;
  EXPECT_EQ(trace_line(c, l),
            "1479   telnet       4  127.0.0.1        127.0.0.1        23     "
            "moving.example (2503.100ms) (stale)");
  l.stale = false;
  EXPECT_EQ(trace_line(c, l),
            "1479   telnet       4  127.0.0.1        127.0.0.1        23     "
            "moving.example (2503.100ms)");
  // Without -d there is no QUERY, and no verdict either.
  l.stale = true;
  c.dns = false;
  EXPECT_EQ(trace_line(c, l), "1479   telnet       4  127.0.0.1        127.0.0.1        23");
  c.json = true;
  EXPECT_EQ(trace_line(c, l).find("stale"), std::string::npos);
  c.dns = true;
  EXPECT_EQ(
      trace_line(c, l),
      R"({"time":31.871,"uid":1000,"pid":1479,"comm":"telnet","ip":4,"saddr":"127.0.0.1",)"
      R"j("daddr":"127.0.0.1","dport":23,"query":"moving.example (2503.100ms)","stale":true})j");
}

// Still in flight when the tool stopped, from a socket nobody bound: no port yet, and
// no retransmission count either.
TEST(TraceOutput, InFlightAttemptWithoutAPortYet) {
  TraceColumns c;
  c.lport = c.outcome = true;
  TraceLine l = sample();
  l.lport = 0;
  EXPECT_EQ(trace_line(c, l),
            "1479   telnet       4  127.0.0.1        -      127.0.0.1        23     -           -");
  c.json = true;
  EXPECT_EQ(trace_line(c, l),
            R"({"time":31.871,"uid":1000,"pid":1479,"comm":"telnet","ip":4,"saddr":"127.0.0.1",)"
            R"("lport":null,"daddr":"127.0.0.1","dport":23,"outcome":"-","syn_retransmits":null})");
  // Bound by the application: its port is known from the start.
  l.lport = 40000;
  EXPECT_NE(trace_line(c, l).find(R"("lport":40000)"), std::string::npos);
}

// A comm is bytes: JSON strings carry it as safe text (util/safe_text.h), as the comm
// label does, so that every line is UTF-8 that jq accepts and names read unchanged.
TEST(TraceOutput, JsonStringsAreSafeText) {
  EXPECT_EQ(json_string("plain"), "\"plain\"");
  EXPECT_EQ(json_string("a\"b\\c"), R"("a\"b\\c")");
  EXPECT_EQ(json_string("x\n\x01"), "\"x\xEF\xBF\xBD\xEF\xBF\xBD\"");
  EXPECT_EQ(json_string("\xff\xfe"), "\"\xEF\xBF\xBD\xEF\xBF\xBD\"");
  EXPECT_EQ(json_string("caf\xC3\xA9"), "\"caf\xC3\xA9\"");
  std::mt19937 rng(7);
  for (int i = 0; i < 20000; ++i) {
    const std::string s = json_string(testing::random_hostile_bytes(rng, 16));
    ASSERT_TRUE(testing::is_safe_by_table(s)) << ::testing::PrintToString(s);
  }
}

TEST(TraceOutput, DnsQueryColumnAsTheSeedPrintsIt) {
  DnsCacheEntry e{"example.com", "edge.example.net", 1'000'000'000};
  // Within 100 ms of the answer: the name alone.
  EXPECT_EQ(dns_query_text(e, false, 1'000'000'000 + 100'000'000), "example.com");
  // Later: the name and how old the answer was.
  EXPECT_EQ(dns_query_text(e, false, 1'000'000'000ull + 1'523'250'000), "example.com (1523.250ms)");
  // The -c table: no delay.
  EXPECT_EQ(dns_query_text(e, false, 0), "example.com");
  EXPECT_EQ(dns_query_text(std::nullopt, false, 5), "No DNS Query");
  EXPECT_EQ(dns_query_text(std::nullopt, true, 5), "localhost");
  EXPECT_EQ(dns_query_text(e, true, 1'000'000'000), "example.com");  // an answer wins
}

TEST(TraceOutput, CountTableMostConnectsFirst) {
  TraceColumns c;
  std::vector<TraceCountRow> rows(3);
  rows[0] = {TC_AF_INET, "10.0.0.5", "10.0.0.9", 5432, {}, ""};
  rows[0].counts.attempts = 3;
  rows[1] = {TC_AF_INET6, "::1", "::1", 8080, {}, ""};
  rows[1].counts.attempts = 50;
  rows[2] = {TC_AF_INET, "10.0.0.5", "10.0.0.8", 5432, {}, ""};
  rows[2].counts.attempts = 3;
  EXPECT_EQ(count_table(c, rows),
            "\n"
            "LADDR                     RADDR                     RPORT                CONNECTS\n"
            "::1                       ::1                       8080                 50\n"
            "10.0.0.5                  10.0.0.8                  5432                 3\n"
            "10.0.0.5                  10.0.0.9                  5432                 3\n");
}

TEST(TraceOutput, CountTableWithOutcomeAndQuery) {
  TraceColumns c;
  c.outcome = c.dns = true;
  std::vector<TraceCountRow> rows(1);
  rows[0] = {TC_AF_INET, "127.0.0.1", "127.0.0.1", 80, {}, "localhost"};
  rows[0].counts.attempts = 5;
  rows[0].counts.established = 3;
  rows[0].counts.failed[TC_FAIL_REFUSED] = 2;
  rows[0].counts.syn_retransmits = 4;
  EXPECT_EQ(count_table(c, rows),
            "\n"
            "LADDR                     RADDR                     RPORT                CONNECTS   "
            "ESTABLISHED FAILED RETRANS QUERY\n"
            "127.0.0.1                 127.0.0.1                 80                   5          "
            "3           2      4       localhost\n");
  c.json = true;
  EXPECT_EQ(count_table(c, rows),
            R"({"ip":4,"laddr":"127.0.0.1","raddr":"127.0.0.1","rport":80,"connects":5,)"
            R"("established":3,"failed":{"refused":2,"timeout":0,"reset":0,"unreachable":0,)"
            R"("other":0,"aborted":0},"syn_retransmits":4,"query":"localhost"})"
            "\n");
}

// The command line as main() builds it.
Result<TraceOptions> parse(std::vector<std::string> args) {
  CLI::App app;
  auto trace = TraceCommand::add_to(app);
  args.insert(args.begin(), "trace");
  std::reverse(args.begin(), args.end());  // CLI11 takes a reversed vector
  try {
    app.parse(args);
  } catch (const CLI::ParseError& e) {
    return Error{std::string("parse: ") + e.what()};
  }
  if (!trace->selected()) return Error{"not selected"};
  return trace->options();
}

TEST(TraceCommandLine, FiltersBecomeTheConfigFilters) {
  auto o = parse({"-t", "-p", "181", "-P", "80,81,8000-8999", "-6", "-u", "1000", "-U", "-L",
                  "--mntnsmap", "/sys/fs/bpf/mnt_ns_set", "-d", "--json", "--outcome", "-c",
                  "--backend", "raw_tp"});
  ASSERT_TRUE(o) << o.error().message;
  EXPECT_TRUE(o->columns.timestamp && o->columns.uid && o->columns.lport && o->columns.dns &&
              o->columns.json && o->columns.outcome && o->count);
  EXPECT_EQ(o->filters.pids, std::vector<uint32_t>{181});
  EXPECT_EQ(o->filters.uids, std::vector<uint32_t>{1000});
  ASSERT_EQ(o->filters.ports.size(), 3u);
  EXPECT_EQ(o->filters.ports[2], (PortRange{8000, 8999}));
  EXPECT_EQ(o->filters.families, std::vector<Family>{Family::kIpv6});
  EXPECT_EQ(o->filters.mntnsmap, "/sys/fs/bpf/mnt_ns_set");
  EXPECT_EQ(o->backend, ProbeBackend::kRawTp);
}

TEST(TraceCommandLine, BadValuesNameTheOption) {
  auto bad_port = parse({"-P", "80,0"});
  ASSERT_FALSE(bad_port);
  EXPECT_EQ(bad_port.error().message.rfind("-P: ", 0), 0u) << bad_port.error().message;
  auto bad_pid = parse({"-p", "abc"});
  ASSERT_FALSE(bad_pid);
  EXPECT_EQ(bad_pid.error().message.rfind("-p: ", 0), 0u) << bad_pid.error().message;
  auto zero_pid = parse({"-p", "0"});
  ASSERT_FALSE(zero_pid);
  EXPECT_EQ(zero_pid.error().message.rfind("-p: ", 0), 0u) << zero_pid.error().message;
  auto relative_map = parse({"--cgroupmap", "relative/path"});
  ASSERT_FALSE(relative_map);
  EXPECT_EQ(relative_map.error().message.rfind("--cgroupmap: ", 0), 0u)
      << relative_map.error().message;
  EXPECT_FALSE(parse({"-4", "-6"}));
  EXPECT_FALSE(parse({"--ring-bytes", "5000"}));
}

}  // namespace
}  // namespace tcpconnect
