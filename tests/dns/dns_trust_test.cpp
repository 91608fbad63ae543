// Root only: the attacks on DNS names, played for real against each capture method, the
// real connect probe and a Drain:
// - a forged "response" from port 53 to an ordinary UDP socket (a syslog listener that
//   never asked DNS anything) names nothing, and does not overwrite a name a real lookup
//   gave;
// - a tenant in its own network namespace, resolving a name through its own resolver to
//   an address the host also connects to, names only its own connects.
//
// The probe and the capture are global: assertions select by what only this test uses
// (its listeners' ephemeral ports and 127.81.X.0/24 with X from the pid).
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "app/drain.h"
#include "common/net.h"
#include "dns/dns_layer.h"
#include "dns/dns_testing.h"
#include "metrics/series_store.h"
#include "probes/connect_probe.h"

namespace tcpconnect {
namespace {

using Bytes = std::vector<uint8_t>;
using testing::Dnsmasq;
using testing::listen_tcp;
using testing::Listener;
using testing::run_shell;

std::string answer_v4(int n) {
  return "127.81." + std::to_string(getpid() % 250 + 1) + "." + std::to_string(n);
}

class DnsTrustTest : public ::testing::TestWithParam<DnsCapture> {
 protected:
  void SetUp() override {
    TCPCONNECT_REQUIRE_ROOT();
    if (run_shell("command -v dnsmasq") != 0) GTEST_SKIP() << "dnsmasq is not installed";

    ConnectProbe::Options po;
    po.track_destinations = true;
    auto probe = ConnectProbe::attach(po);
    ASSERT_TRUE(probe) << probe.error().message;
    probe_ = std::move(probe).value();
    ASSERT_TRUE(probe_->set_key_fields(TC_KEY_NETNS).ok());

    DnsLayer::Options o;
    o.capture.method = GetParam();
    o.capture.ports = {53};
    o.poller_thread = false;
    auto layer = DnsLayer::start(o);
    ASSERT_TRUE(layer) << layer.error().message;
    dns_ = std::move(layer).value();
    ASSERT_EQ(dns_->method(), GetParam());

    LabelsConfig labels;
    labels.keep = {Label::kDaddr, Label::kDport, Label::kDnsName};
    drain_ = std::make_unique<Drain>(
        *probe_, store_, labels,
        [this](uint64_t n, uint16_t f, const uint8_t(&a)[16]) { return dns_->name_of(n, f, a); });
    drain_->set_before_read([this](DrainKind) { dns_->before_drain(); });
    ASSERT_TRUE(drain_->run_once().ok());
  }

  void TearDown() override {
    if (!netns_.empty()) run_shell("ip netns del " + netns_ + " 2>/dev/null");
  }

  // Attempts per (daddr, dns_name) for one destination port, after a drain.
  std::map<std::pair<std::string, std::string>, uint64_t> named(uint16_t port) {
    EXPECT_TRUE(drain_->run_once().ok());
    std::map<std::pair<std::string, std::string>, uint64_t> out;
    store_->connects().for_each([&](const LabelValues* l, const ConnectCounts& c) {
      if (l && (*l)[1] == std::to_string(port)) out[{(*l)[0], (*l)[2]}] += c.attempts;
    });
    return out;
  }

  uint64_t rejected(DnsRejection why) {
    for (const auto& family : dns_->collector()->Collect()) {
      if (family.name != "tcpconnect_dns_responses_rejected_total") continue;
      for (const auto& m : family.metric)
        if (m.label.size() == 1 && m.label[0].value == to_string(why))
          return static_cast<uint64_t>(m.counter.value);
    }
    ADD_FAILURE() << "no tcpconnect_dns_responses_rejected_total{reason=" << to_string(why);
    return 0;
  }

  std::unique_ptr<ConnectProbe> probe_;
  std::unique_ptr<DnsLayer> dns_;
  std::shared_ptr<SeriesStore> store_ = std::make_shared<SeriesStore>(100000);
  std::unique_ptr<Drain> drain_;
  std::string netns_;
};

TEST_P(DnsTrustTest, ForgedResponseToAnOrdinarySocketNamesNothing) {
  std::string error;
  Dnsmasq::Options server;
  server.listen = {testing::unique_loopback_v4(1)};
  server.records = {"--host-record=good.trust.test," + answer_v4(1)};
  server.ready_name = "good.trust.test";
  auto dnsmasq = Dnsmasq::start(server, &error);
  ASSERT_TRUE(dnsmasq) << error;

  // The victim: a socket that receives datagrams and never asked DNS anything; the
  // forger: anyone who can send a datagram from port 53 (spoofable off the host).
  auto forge = [&](const std::string& ip, uint16_t id) {
    ASSERT_TRUE(testing::send_unsolicited(testing::a_answer(id, "evil.trust.test", ip),
                                          testing::unique_loopback_v4(2)));
  };

  const uint64_t unsolicited_before = rejected(DnsRejection::kUnsolicited);
  forge(answer_v4(2), 0x1111);  // would name an address nobody resolved
  forge(answer_v4(1), 0x2222);  // would rename the address the real lookup gives
  dns_->poll_now();
  EXPECT_GE(rejected(DnsRejection::kUnsolicited) - unsolicited_before, 2u);

  Listener good = listen_tcp(AF_INET, answer_v4(1));
  Listener other = listen_tcp(AF_INET, answer_v4(2), 16);
  std::string out;
  ASSERT_EQ(run_shell(testing::dns_client_binary() + " --nameserver " + dnsmasq->address() +
                          " --family inet --connect-port " + std::to_string(good.port) +
                          " resolve good.trust.test",
                      &out),
            0)
      << out;
  ASSERT_EQ(testing::connect_once(AF_INET, answer_v4(2), other.port), 0);
  // After the real answer, the forgery again: it must not overwrite it.
  forge(answer_v4(1), 0x3333);
  ASSERT_EQ(testing::connect_once(AF_INET, answer_v4(1), good.port), 0);

  EXPECT_EQ(named(good.port), (std::map<std::pair<std::string, std::string>, uint64_t>{
                                  {{answer_v4(1), "good.trust.test"}, 2}}));
  EXPECT_EQ(
      named(other.port),
      (std::map<std::pair<std::string, std::string>, uint64_t>{{{answer_v4(2), "localhost"}, 1}}));
  EXPECT_GE(rejected(DnsRejection::kUnsolicited) - unsolicited_before, 3u);
}

TEST_P(DnsTrustTest, TenantLookupsNameOnlyTheTenantsConnects) {
  netns_ = "tcx-tenant-" + std::to_string(getpid());
  ASSERT_EQ(run_shell("ip netns add " + netns_ + " && ip -n " + netns_ + " link set lo up"), 0);
  // The tenant's own resolver, in its namespace, naming an address the host uses too.
  std::string error;
  Dnsmasq::Options tenant;
  tenant.netns = netns_;
  tenant.listen = {"127.0.0.1"};
  tenant.records = {"--host-record=tenant.trust.test," + answer_v4(3)};
  tenant.ready_name = "tenant.trust.test";
  auto dnsmasq = Dnsmasq::start(tenant, &error);
  ASSERT_TRUE(dnsmasq) << error;

  Listener host = listen_tcp(AF_INET, answer_v4(3));
  // In the tenant's namespace: resolve, then connect at once (refused there: nothing
  // listens on its loopback; the attempt counts all the same).
  std::string out;
  run_shell("ip netns exec " + netns_ + " " + testing::dns_client_binary() +
                " --nameserver 127.0.0.1 --family inet --connect-port " +
                std::to_string(host.port) + " resolve tenant.trust.test",
            &out);
  EXPECT_NE(out.find("tenant.trust.test " + answer_v4(3)), std::string::npos) << out;
  // The host connects to the same address: the tenant's answer must not name it.
  ASSERT_EQ(testing::connect_once(AF_INET, answer_v4(3), host.port), 0);

  const auto got = named(host.port);
  if (GetParam() == DnsCapture::kCgroupSkb) {
    EXPECT_EQ(got,
              (std::map<std::pair<std::string, std::string>, uint64_t>{
                  {{answer_v4(3), "tenant.trust.test"}, 1}, {{answer_v4(3), "localhost"}, 1}}));
  } else {
    // The packet socket sees the daemon's own namespace only: the tenant's lookup is
    // never seen, and names nothing anywhere.
    EXPECT_EQ(got, (std::map<std::pair<std::string, std::string>, uint64_t>{
                       {{answer_v4(3), "localhost"}, 2}}));
  }
}

std::string method_name(const ::testing::TestParamInfo<DnsCapture>& info) {
  return std::string(to_string(info.param));
}

INSTANTIATE_TEST_SUITE_P(Methods, DnsTrustTest,
                         ::testing::Values(DnsCapture::kCgroupSkb, DnsCapture::kPacketSocket),
                         method_name);

}  // namespace
}  // namespace tcpconnect
