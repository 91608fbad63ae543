// Reload decisions without a kernel: what differs, what is applied and in which order,
// what is rejected; and the filter plan the kernel maps are filled from.
#include "app/reload.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <cerrno>
#include <fstream>

#include "probes/connect_filters.h"

namespace tcpconnect {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

class RecordingTarget : public ReloadTarget {
 public:
  std::vector<std::string> calls;
  Status filters_result = Ok{};
  FiltersConfig filters;
  LabelsConfig labels;
  LimitsConfig limits;

  Status apply_filters(const FiltersConfig& f) override {
    calls.emplace_back("filters");
    if (filters_result) filters = f;
    return filters_result;
  }
  Status revert_filters() override {
    calls.emplace_back("revert filters");
    return Ok{};
  }
  Status labels_result = Ok{};
  Status apply_labels(const LabelsConfig& l, const AllowlistConfig&) override {
    calls.emplace_back("labels");
    if (labels_result) labels = l;
    return labels_result;
  }
  void apply_limits(const LimitsConfig& l) override {
    calls.emplace_back("limits");
    limits = l;
  }
  void apply_drain_interval(std::chrono::milliseconds) override { calls.emplace_back("interval"); }
};

class ReloadTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/tcpconnect_reload_XXXXXX.yaml";
    int fd = mkstemps(tmpl, 5);
    ASSERT_GE(fd, 0);
    close(fd);
    path = tmpl;
  }
  void TearDown() override { unlink(path.c_str()); }
  void write(const std::string& text) { std::ofstream(path) << text; }

  std::string path;
  Config running;
  RecordingTarget target;
};

TEST(ConfigDiffTest, SaysWhatChangedAndWhatNeedsARestart) {
  Config a, b;
  EXPECT_FALSE(diff_config(a, b).live_changes());
  EXPECT_TRUE(diff_config(a, b).needs_restart.empty());
  b.filters.pids = {1};
  b.labels.keep = {Label::kDaddr};
  b.limits.idle_expiry = std::chrono::minutes(5);
  b.allowlist.enabled = true;
  b.probes.drain_interval = std::chrono::seconds(2);
  b.probes.max_entries = 1;
  b.probes.backend = ProbeBackend::kRawTp;
  b.web.listen_address = ":1";
  b.dns.max_age = std::chrono::hours(1);
  ConfigDiff d = diff_config(a, b);
  EXPECT_TRUE(d.filters && d.labels && d.limits && d.allowlist && d.drain_interval);
  EXPECT_THAT(d.needs_restart, ElementsAre("web", "probes.backend", "probes.max_entries", "dns"));
}

TEST_F(ReloadTest, AppliesOnlyWhatChangedFiltersFirst) {
  write("filters:\n  ports: [443]\nlabels:\n  keep: [daddr, uid]\nlimits:\n  max_series: 7\n");
  ReloadOutcome r = reload_config(path, "", running, target);
  ASSERT_TRUE(r.ok) << r.error;
  EXPECT_THAT(target.calls, ElementsAre("filters", "labels", "limits"));
  EXPECT_EQ(running.filters.ports.size(), 1u);
  EXPECT_EQ(running.labels.keep, (std::vector<Label>{Label::kDaddr, Label::kUid}));
  EXPECT_EQ(running.limits.max_series, 7u);
  // The same file again changes nothing.
  target.calls.clear();
  r = reload_config(path, "", running, target);
  EXPECT_TRUE(r.ok);
  EXPECT_TRUE(target.calls.empty());
}

TEST_F(ReloadTest, InvalidFileIsRejectedWithItsPositionAndNothingApplied) {
  write("limits:\n  max_series: 7\nfilters:\n  pids: [1, -2]\n");
  ReloadOutcome r = reload_config(path, "", running, target);
  EXPECT_FALSE(r.ok);
  EXPECT_THAT(r.error, HasSubstr(path + ":4:"));
  EXPECT_TRUE(target.calls.empty());
  EXPECT_EQ(running.limits.max_series, Config{}.limits.max_series);
}

TEST_F(ReloadTest, FiltersThatCannotApplyRejectTheWholeReload) {
  write("filters:\n  cgroupmap: /sys/fs/bpf/nope\nlimits:\n  max_series: 7\n");
  target.filters_result =
      Error{"filters.cgroupmap: opening pinned map /sys/fs/bpf/nope: No such file"};
  ReloadOutcome r = reload_config(path, "", running, target);
  EXPECT_FALSE(r.ok);
  EXPECT_THAT(r.error, HasSubstr("/sys/fs/bpf/nope"));
  EXPECT_THAT(target.calls, ElementsAre("filters"));
  EXPECT_TRUE(running.filters.cgroupmap.empty());
  EXPECT_EQ(running.limits.max_series, Config{}.limits.max_series);
}

// Labels that fail after the filters were applied: the filters are taken back, and the
// reload is rejected as a whole.
TEST_F(ReloadTest, LabelsThatFailTakeTheFiltersBack) {
  write("filters:\n  ports: [443]\nlabels:\n  keep: [daddr, uid]\nlimits:\n  max_series: 7\n");
  target.labels_result = Error{"updating the key fields: Operation not permitted"};
  ReloadOutcome r = reload_config(path, "", running, target);
  EXPECT_FALSE(r.ok);
  EXPECT_THAT(r.error, HasSubstr("applying labels"));
  EXPECT_THAT(target.calls, ElementsAre("filters", "labels", "revert filters"));
  EXPECT_TRUE(running.filters.ports.empty());
  EXPECT_EQ(running.labels, Config{}.labels);
  EXPECT_EQ(running.limits.max_series, Config{}.limits.max_series);
}

TEST_F(ReloadTest, RestartOnlyKeysKeepTheirRunningValues) {
  write("probes:\n  max_entries: 99\n  drain_interval: 2s\nweb:\n  listen_address: \":1234\"\n");
  ReloadOutcome r = reload_config(path, "", running, target);
  ASSERT_TRUE(r.ok);
  EXPECT_THAT(r.diff.needs_restart, ElementsAre("web", "probes.max_entries"));
  EXPECT_THAT(target.calls, ElementsAre("interval"));
  EXPECT_EQ(running.probes.max_entries, ProbesConfig{}.max_entries);
  EXPECT_EQ(running.web.listen_address, WebConfig{}.listen_address);
  EXPECT_EQ(running.probes.drain_interval, std::chrono::seconds(2));
}

TEST_F(ReloadTest, ListenAddressFlagOverridesTheFileAsAtStart) {
  running.web.listen_address = "127.0.0.1:9999";
  write("web:\n  listen_address: \":1234\"\n");
  ReloadOutcome r = reload_config(path, "127.0.0.1:9999", running, target);
  ASSERT_TRUE(r.ok);
  EXPECT_TRUE(r.diff.needs_restart.empty());
}

// --- the filter plan ------------------------------------------------------------------

bool port_bit(const FilterPlan& p, uint32_t port) {
  return (p.ports[port / 64] >> (port % 64)) & 1;
}

TEST(FilterPlanTest, EmptyFiltersSetNoFlag) {
  auto plan = plan_filters(FiltersConfig{}, nullptr);
  ASSERT_TRUE(plan);
  EXPECT_EQ(plan->config.flags, 0u);
}

TEST(FilterPlanTest, ListsRangesFamiliesAndNetworks) {
  FiltersConfig f;
  f.pids = {10, 20};
  f.uids = {0};
  f.ports = {PortRange{443, 443}, PortRange{8000, 8999}, PortRange{65535, 65535}};
  f.families = {Family::kIpv6};
  f.comms = {"curl"};
  f.include_cidrs = {parse_cidr("10.0.0.0/8").value(), parse_cidr("2001:db8::/32").value()};
  f.exclude_cidrs = {parse_cidr("10.1.2.3").value()};
  auto plan = plan_filters(f, nullptr);
  ASSERT_TRUE(plan);
  const FilterPlan& p = plan.value();
  EXPECT_EQ(p.config.flags, TC_FILTER_PID | TC_FILTER_UID | TC_FILTER_PORT | TC_FILTER_FAMILY |
                                TC_FILTER_COMM | TC_FILTER_INCLUDE | TC_FILTER_EXCLUDE);
  EXPECT_EQ(p.config.families, TC_FILTER_FAMILY_INET6);
  EXPECT_EQ(p.pids, (std::set<uint32_t>{10, 20}));
  size_t set = 0;
  for (uint32_t port = 0; port < 65536; ++port) set += port_bit(p, port);
  EXPECT_EQ(set, 1u + 1000u + 1u);
  EXPECT_TRUE(port_bit(p, 443) && port_bit(p, 8000) && port_bit(p, 8999) && port_bit(p, 65535));
  EXPECT_FALSE(port_bit(p, 442) || port_bit(p, 7999) || port_bit(p, 9000) || port_bit(p, 0));
  ASSERT_EQ(p.include.size(), 2u);
  EXPECT_EQ(p.include[0].family, TC_AF_INET);
  EXPECT_EQ(p.include[0].prefixlen, 8u + 8u);
  EXPECT_EQ(p.include[0].addr[0], 10);
  EXPECT_EQ(p.include[1].family, TC_AF_INET6);
  EXPECT_EQ(p.include[1].prefixlen, 8u + 32u);
  EXPECT_EQ(p.exclude[0].prefixlen, 8u + 32u);
  // Both families listed is no filter at all.
  f = FiltersConfig{};
  f.families = {Family::kIpv4, Family::kIpv6};
  EXPECT_EQ(plan_filters(f, nullptr)->config.flags, 0u);
}

TEST(FilterPlanTest, CgroupsResolveToIdsAndLevelsMissingOnesAreListed) {
  FiltersConfig f;
  f.cgroups = {"system.slice", "system.slice/nginx.service", "gone.scope", "bad"};
  auto resolver = [](const std::string& path) -> Result<ResolvedCgroup> {
    if (path == "system.slice") return ResolvedCgroup{100, 1, "/x/system.slice"};
    if (path == "system.slice/nginx.service") return ResolvedCgroup{200, 2, "/x/n"};
    if (path == "gone.scope") return Error::from_errno("cgroup gone.scope", ENOENT);
    return Error{"cgroup bad is not on a cgroup2 file system"};
  };
  EXPECT_THAT(plan_filters(f, resolver).error().message, HasSubstr("filters.cgroups: cgroup bad"));
  f.cgroups.pop_back();
  auto plan = plan_filters(f, resolver);
  ASSERT_TRUE(plan);
  EXPECT_EQ(plan->config.flags, TC_FILTER_CGROUP);
  EXPECT_EQ(plan->config.cgroup_levels, (1ULL << 1) | (1ULL << 2));
  EXPECT_EQ(plan->cgroups, (std::map<uint64_t, uint32_t>{{100, 1}, {200, 2}}));
  EXPECT_THAT(plan->missing_cgroups, ElementsAre("gone.scope"));
}

}  // namespace
}  // namespace tcpconnect
