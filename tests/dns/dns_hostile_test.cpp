// Root only: hostile DNS responses over the wire, through the real capture (each method)
// and the real consumer: truncated messages, compression loops, pointers out of bounds,
// labels longer than 63, names longer than 255, counts that disagree with the contents,
// a 64 KiB message over TCP. Each is counted under its reason in the self-metrics
// (tcpconnect_dns_parse_errors_total) and skipped: nothing is named from it, nothing
// crashes, and a good response afterwards still names its address.
//
// The responses come from a socket bound to a port only this test captures, to a socket
// of the test's own on loopback; every hostile response would name an address of its own
// if it were (wrongly) used.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <prometheus/metric_family.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "common/net.h"
#include "dns/capture_skip.h"
#include "dns/dns_layer.h"
#include "dns/dns_testing.h"
#include "util/clock.h"

namespace tcpconnect {
namespace {

using Bytes = std::vector<uint8_t>;

void put16(Bytes& b, uint16_t v) {
  b.push_back(static_cast<uint8_t>(v >> 8));
  b.push_back(static_cast<uint8_t>(v));
}

Bytes wire_name(const std::vector<std::string>& labels) {
  Bytes out;
  for (const std::string& label : labels) {
    out.push_back(static_cast<uint8_t>(label.size()));
    out.insert(out.end(), label.begin(), label.end());
  }
  out.push_back(0);
  return out;
}

// 198.51.100.n (TEST-NET-2, only ever data here): the address response n would name. Not
// loopback: the cache answers "localhost" for 127.0.0.0/8 whatever it was told.
std::array<uint8_t, 4> address(int n) { return {198, 51, 100, static_cast<uint8_t>(n)}; }

struct Message {
  uint16_t flags = 0x8180;  // response, RD, RA, NOERROR
  uint16_t qd = 1, an = 1, ns = 0, ar = 0;
  Bytes qname;
  Bytes answer_name = {0xc0, 0x0c};  // the question's name
  uint16_t rdlength = 4;
  Bytes rdata;

  Bytes bytes() const {
    Bytes b;
    put16(b, 0x4242);
    put16(b, flags);
    put16(b, qd);
    put16(b, an);
    put16(b, ns);
    put16(b, ar);
    b.insert(b.end(), qname.begin(), qname.end());
    put16(b, 1);  // A
    put16(b, 1);  // IN
    b.insert(b.end(), answer_name.begin(), answer_name.end());
    put16(b, 1);
    put16(b, 1);
    put16(b, 0);
    put16(b, 60);  // TTL
    put16(b, rdlength);
    b.insert(b.end(), rdata.begin(), rdata.end());
    return b;
  }
};

// A well-formed response: name n.hostile.test -> address(n).
Message good(int n) {
  Message m;
  m.qname = wire_name({"n" + std::to_string(n), "hostile", "test"});
  const auto a = address(n);
  m.rdata.assign(a.begin(), a.end());
  return m;
}

struct Case {
  const char* what;
  Bytes payload;
  DnsParseError reason;
  int n;  // the address it would name
};

std::vector<Case> hostile_udp() {
  std::vector<Case> out;
  int n = 1;
  auto add = [&](const char* what, Bytes payload, DnsParseError reason) {
    out.push_back({what, std::move(payload), reason, n++});
  };
  {
    Bytes b = good(n).bytes();
    b.resize(b.size() - 2);  // the address cut short
    add("truncated in an answer", b, DnsParseError::kMalformed);
  }
  {
    Bytes b = good(n).bytes();
    b.resize(12 + 5);  // in the question's name
    add("truncated in the question", b, DnsParseError::kMalformed);
  }
  {
    Message m = good(n);
    m.an = 5;
    add("more answers counted than present", m.bytes(), DnsParseError::kMalformed);
  }
  {
    Message m = good(n);
    m.an = 0;
    add("fewer answers counted than present", m.bytes(), DnsParseError::kMalformed);
  }
  {
    Message m = good(n);
    m.ar = 65535;
    add("65535 additional records counted", m.bytes(), DnsParseError::kMalformed);
  }
  {
    Message m = good(n);
    m.qname = {0xc0, 0x0c};  // the question's name points at itself
    add("compression loop in the question", m.bytes(), DnsParseError::kMalformed);
  }
  {
    Message m = good(n);
    const size_t answer_at = 12 + m.qname.size() + 4;
    m.answer_name = {static_cast<uint8_t>(0xc0 | (answer_at >> 8)),
                     static_cast<uint8_t>(answer_at)};  // points at itself
    add("compression loop in an answer", m.bytes(), DnsParseError::kBadRecord);
  }
  {
    Message m = good(n);
    // The question's name points at the answer's, which points back at it.
    m.qname = {0xc0, 12 + 2 + 4};
    m.answer_name = {0xc0, 0x0c};
    add("two pointers in a cycle", m.bytes(), DnsParseError::kMalformed);
  }
  {
    Message m = good(n);
    m.answer_name = {0xc0, 0xff};  // offset 255, past the end
    add("pointer past the end of the message", m.bytes(), DnsParseError::kBadRecord);
  }
  {
    Message m = good(n);
    m.answer_name = {0xff, 0xff};  // the largest pointer: offset 16383
    add("pointer to offset 16383", m.bytes(), DnsParseError::kBadRecord);
  }
  {
    Message m = good(n);
    Bytes q = {64};
    q.insert(q.end(), 64, 'a');  // 64: the 0x40 "extended label" type
    const Bytes rest = wire_name({"hostile", "test"});
    q.insert(q.end(), rest.begin(), rest.end());
    m.qname = q;
    add("label of 64 bytes", m.bytes(), DnsParseError::kMalformed);
  }
  {
    Message m = good(n);
    Bytes q = {0xbf};  // 191: past any label length
    q.insert(q.end(), 191, 'a');
    q.push_back(0);
    m.qname = q;
    add("label of 191 bytes", m.bytes(), DnsParseError::kMalformed);
  }
  {
    Message m = good(n);
    // 5 labels of 63: 320 bytes, past the 255 a name may have.
    m.qname = wire_name(std::vector<std::string>(5, std::string(63, 'x')));
    add("name of 320 bytes", m.bytes(), DnsParseError::kMalformed);
  }
  {
    Message m = good(n);
    // The answer's own name is 4 * 63 + a pointer to the 22-byte question: 276 bytes.
    Bytes name;
    for (int i = 0; i < 4; ++i) {
      name.push_back(63);
      name.insert(name.end(), 63, 'y');
    }
    name.push_back(0xc0);
    name.push_back(0x0c);
    m.answer_name = name;
    add("answer name over 255 bytes through a pointer", m.bytes(), DnsParseError::kBadRecord);
  }
  {
    Message m = good(n);
    m.rdlength = 5;
    m.rdata.push_back(9);
    add("A record of 5 bytes", m.bytes(), DnsParseError::kBadRecord);
  }
  {
    Message m = good(n);
    m.rdlength = 200;  // says more than there is
    add("record length past the end", m.bytes(), DnsParseError::kMalformed);
  }
  {
    Message m = good(n);
    m.qd = 2;
    Bytes b = m.bytes();
    // A second question that is exactly the answer's bytes would be read as one: make the
    // message end inside it instead.
    b.resize(b.size() - 6);
    add("two questions counted, one present", b, DnsParseError::kMalformed);
  }
  {
    Message m = good(n);
    m.flags = 0x0100;  // a query with an answer in it
    add("a query", m.bytes(), DnsParseError::kNotResponse);
  }
  {
    Message m = good(n);
    m.flags = 0x8180 | (5 << 11);  // opcode 5 (UPDATE)
    add("opcode UPDATE", m.bytes(), DnsParseError::kNotResponse);
  }
  add("shorter than a header", Bytes{0x42, 0x42, 0x81, 0x80, 0, 1}, DnsParseError::kMalformed);
  return out;
}

double parse_errors_metric(DnsLayer& layer, DnsParseError reason) {
  for (const prometheus::MetricFamily& family : layer.collector()->Collect()) {
    if (family.name != "tcpconnect_dns_parse_errors_total") continue;
    for (const prometheus::ClientMetric& metric : family.metric) {
      for (const prometheus::ClientMetric::Label& label : metric.label) {
        if (label.name == "reason" && label.value == to_string(reason)) return metric.counter.value;
      }
    }
  }
  ADD_FAILURE() << "no tcpconnect_dns_parse_errors_total{reason=\"" << to_string(reason) << "\"}";
  return -1;
}

std::string name_of(DnsLayer& layer, int n) {
  std::array<uint8_t, 16> a{};
  const auto v4 = address(n);
  std::copy(v4.begin(), v4.end(), a.begin());
  return layer.cache().name_of(2, a, monotonic_ns(), testing::own_netns_cookie());
}

class DnsHostileTest : public ::testing::TestWithParam<DnsCapture> {
 protected:
  void SetUp() override {
    TCPCONNECT_REQUIRE_ROOT();
    TCPCONNECT_SKIP_UNLESS_CAPTURE(GetParam());
    sport_ = testing::free_udp_tcp_port(AF_INET, "127.0.0.1");
    DnsLayer::Options o;
    o.capture.method = GetParam();
    o.capture.ports = {sport_};
    o.poller_thread = false;
    auto layer = DnsLayer::start(o);
    ASSERT_TRUE(layer) << layer.error().message;
    layer_ = std::move(layer).value();
  }

  std::map<DnsParseError, double> errors() {
    std::map<DnsParseError, double> out;
    for (size_t i = 0; i < static_cast<size_t>(DnsParseError::kCount); ++i) {
      const auto e = static_cast<DnsParseError>(i);
      out[e] = parse_errors_metric(*layer_, e);
      EXPECT_EQ(out[e], static_cast<double>(layer_->stats().parse_errors_of(e)));
    }
    return out;
  }

  // payload from 127.0.0.1:sport_ to a socket of ours, over UDP; returns when received.
  void send_udp(const Bytes& payload) {
    testing::Fd rx(socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
    socklen_t len;
    sockaddr_storage to = testing::make_addr(AF_INET, "127.0.0.1", 0, &len);
    ASSERT_EQ(bind(rx.get(), reinterpret_cast<sockaddr*>(&to), len), 0);
    ASSERT_EQ(getsockname(rx.get(), reinterpret_cast<sockaddr*>(&to), &len), 0);
    testing::Fd tx(socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
    const int one = 1;
    setsockopt(tx.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    sockaddr_storage from = testing::make_addr(AF_INET, "127.0.0.1", sport_, &len);
    ASSERT_EQ(bind(tx.get(), reinterpret_cast<sockaddr*>(&from), len), 0);
    // Our socket asks first (the question the payload answers, where it has a readable
    // one): a capture takes only what is sent to sockets that asked DNS.
    Bytes question = testing::query_for(payload);
    if (question.empty()) question = testing::query_for(good(0).bytes());
    ASSERT_EQ(sendto(rx.get(), question.data(), question.size(), 0,
                     reinterpret_cast<sockaddr*>(&from), len),
              static_cast<ssize_t>(question.size()));
    uint8_t asked[2048];
    ASSERT_EQ(recv(tx.get(), asked, sizeof(asked), 0), static_cast<ssize_t>(question.size()));
    ASSERT_EQ(sendto(tx.get(), payload.data(), payload.size(), 0,
                     reinterpret_cast<sockaddr*>(&to), len),
              static_cast<ssize_t>(payload.size()));
    uint8_t buf[2048];
    ASSERT_EQ(recv(rx.get(), buf, sizeof(buf), 0), static_cast<ssize_t>(payload.size()));
  }

  uint16_t sport_ = 0;
  std::unique_ptr<DnsLayer> layer_;
};

TEST_P(DnsHostileTest, MalformedUdpResponsesAreCountedAndSkipped) {
  const std::vector<Case> cases = hostile_udp();
  std::map<DnsParseError, double> expected = errors();
  const uint64_t captured_before = layer_->state().captured.load();
  for (const Case& c : cases) {
    SCOPED_TRACE(c.what);
    send_udp(c.payload);
    layer_->poll_now();
    expected[c.reason] += 1;
    EXPECT_EQ(errors(), expected) << c.what << ": expected one more "
                                  << to_string(c.reason);
    expected = errors();  // one mismatch must not hide the cases after it
    EXPECT_EQ(name_of(*layer_, c.n), "") << c.what;
  }
  // Each case: our socket's question, and the hostile answer.
  EXPECT_EQ(layer_->state().captured.load() - captured_before, 2 * cases.size());
  EXPECT_EQ(layer_->stats().total_responses(), 0u);
  EXPECT_EQ(layer_->stats().addresses.load(), 0u);
  EXPECT_EQ(layer_->cache().size(), 0u);

  // The layer still works: a good response names its address.
  send_udp(good(200).bytes());
  layer_->poll_now();
  EXPECT_EQ(name_of(*layer_, 200), "n200.hostile.test");
  EXPECT_EQ(layer_->stats().total_responses(), 1u);
}

// A 64 KiB message (the most a 2-byte length prefix can say) cannot travel in one loopback
// segment: it is counted as split, its continuation is never read as messages, and the
// next response on the same connection is named. Then a malformed message over TCP.
TEST_P(DnsHostileTest, SixtyFourKibTcpMessageThenAGoodOne) {
  if (GetParam() == DnsCapture::kFentry) GTEST_SKIP() << "the fentry capture is UDP only";
  testing::Fd server(socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  const int one = 1;
  setsockopt(server.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  socklen_t len;
  sockaddr_storage addr = testing::make_addr(AF_INET, "127.0.0.1", sport_, &len);
  ASSERT_EQ(bind(server.get(), reinterpret_cast<sockaddr*>(&addr), len), 0);
  ASSERT_EQ(listen(server.get(), 1), 0);
  testing::Fd client(socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  ASSERT_EQ(connect(client.get(), reinterpret_cast<sockaddr*>(&addr), len), 0);
  testing::Fd conn(accept4(server.get(), nullptr, nullptr, SOCK_CLOEXEC));
  ASSERT_TRUE(conn);
  setsockopt(conn.get(), IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));

  auto send_all = [&](const Bytes& b) {
    size_t off = 0;
    while (off < b.size()) {
      const ssize_t n = send(conn.get(), b.data() + off, b.size() - off, MSG_NOSIGNAL);
      ASSERT_GT(n, 0);
      off += static_cast<size_t>(n);
    }
    Bytes got(b.size());
    off = 0;
    while (off < got.size()) {
      const ssize_t n = recv(client.get(), got.data() + off, got.size() - off, 0);
      ASSERT_GT(n, 0);
      off += static_cast<size_t>(n);
    }
  };
  auto framed = [](const Bytes& msg) {
    Bytes b;
    put16(b, static_cast<uint16_t>(msg.size()));
    b.insert(b.end(), msg.begin(), msg.end());
    return b;
  };

  // The client asks the question a response answers, as a resolver does over TCP.
  auto ask = [&](const Bytes& response) {
    const Bytes q = framed(testing::query_for(response));
    ASSERT_EQ(send(client.get(), q.data(), q.size(), MSG_NOSIGNAL), static_cast<ssize_t>(q.size()));
    Bytes got(q.size());
    size_t off = 0;
    while (off < got.size()) {
      const ssize_t n = recv(conn.get(), got.data() + off, got.size() - off, 0);
      ASSERT_GT(n, 0);
      off += static_cast<size_t>(n);
    }
  };

  std::map<DnsParseError, double> expected = errors();
  // 65535 bytes: a valid response naming address(100) padded with answers of garbage, and
  // inside the padding what would look like more framed responses naming address(101).
  Message big = good(100);
  big.an = 1;
  Bytes body = big.bytes();
  const Bytes inner = framed(good(101).bytes());
  while (body.size() + inner.size() <= 65535) body.insert(body.end(), inner.begin(), inner.end());
  body.resize(65535, 0xc0);
  send_all(framed(body));
  layer_->poll_now();
  expected[DnsParseError::kTcpSplit] += 1;
  EXPECT_EQ(errors(), expected);
  EXPECT_EQ(name_of(*layer_, 100), "");
  EXPECT_EQ(name_of(*layer_, 101), "");

  ask(good(102).bytes());
  send_all(framed(good(102).bytes()));
  layer_->poll_now();
  EXPECT_EQ(errors(), expected);
  EXPECT_EQ(name_of(*layer_, 102), "n102.hostile.test");

  // A compression loop over TCP, then a good one behind it in the same segment.
  Message loop = good(103);
  loop.qname = {0xc0, 0x0c};
  Bytes two = framed(loop.bytes());
  const Bytes next = framed(good(104).bytes());
  two.insert(two.end(), next.begin(), next.end());
  ask(good(104).bytes());
  send_all(two);
  layer_->poll_now();
  expected[DnsParseError::kMalformed] += 1;
  EXPECT_EQ(errors(), expected);
  EXPECT_EQ(name_of(*layer_, 103), "");
  EXPECT_EQ(name_of(*layer_, 104), "n104.hostile.test");
}

std::string method_name(const ::testing::TestParamInfo<DnsCapture>& info) {
  return std::string(to_string(info.param));
}

INSTANTIATE_TEST_SUITE_P(Methods, DnsHostileTest,
                         ::testing::Values(DnsCapture::kFentry, DnsCapture::kCgroupSkb,
                                           DnsCapture::kPacketSocket),
                         method_name);

}  // namespace
}  // namespace tcpconnect
