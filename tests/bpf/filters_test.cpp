// The in-kernel filters with real traffic from real processes: a child for pid,
// setpriv for uid, a thread's comm, cgroups the test makes (by path, and by a pinned
// cgroupmap), a mount namespace made by `unshare -m` (pinned mntnsmap), families, ports,
// destination networks. Every change goes through the maps of a probe that stays
// attached: the program id never changes.
//
// The probe sees every connect on the machine, so each test also filters on its own
// listener's port (or asserts on keys with that port only).
#include <bpf/bpf.h>
#include <fcntl.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <chrono>
#include <map>
#include <thread>

#include "common/locked_map.h"
#include "common/net.h"
#include "filter_testing.h"
#include "metrics/labels.h"
#include "probe_testing.h"
#include "probes/connect_probe.h"

namespace tcpconnect {
namespace {

using namespace testing;
using ::testing::HasSubstr;

std::unique_ptr<ConnectProbe> attach_probe() {
  auto probe = ConnectProbe::attach(ConnectProbe::Options{});
  if (!probe) {
    ADD_FAILURE() << probe.error().message;
    return nullptr;
  }
  return std::move(probe).value();
}

uint64_t attempts_to(ConnectProbe& probe, uint16_t dport) {
  uint64_t n = 0;
  for (const auto& [k, c] : keys_with_dport(probe, dport)) n += c.attempts;
  return n;
}

FiltersConfig only_port(uint16_t port) {
  FiltersConfig f;
  f.ports = {PortRange{port, port}};
  return f;
}

class FiltersTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!is_root()) GTEST_SKIP() << "needs root (loads BPF programs into the kernel)";
    probe = attach_probe();
    ASSERT_TRUE(probe);
    program_id = probe->program_stats().id;
  }
  void TearDown() override {
    // Every filter change went through maps: still the program attached at the start.
    if (probe) {
      EXPECT_EQ(probe->program_stats().id, program_id);
    }
  }
  void apply(const FiltersConfig& f) {
    Status s = probe->filters().apply(f);
    ASSERT_TRUE(s) << s.error().message;
  }

  std::unique_ptr<ConnectProbe> probe;
  uint32_t program_id = 0;
};

TEST_F(FiltersTest, PidCountsOnlyTheChosenProcess) {
  Listener l = listen_tcp(AF_INET, "127.0.0.1");
  ConnectorChild child(AF_INET, "127.0.0.1", l.port, 5);
  FiltersConfig f;
  f.pids = {static_cast<uint32_t>(child.pid())};
  apply(f);
  EXPECT_EQ(child.release_and_wait(), 5);
  EXPECT_EQ(connect_and_accept(l, AF_INET, "127.0.0.1", 3), 3);  // this process: not counted
  drain_accepts(l);
  auto keys = keys_with_dport(*probe, l.port);
  ASSERT_EQ(keys.size(), 1u);
  EXPECT_EQ(keys[0].second.attempts, 5u);
  EXPECT_EQ(keys[0].second.established, 5u);
}

TEST_F(FiltersTest, UidCountsOnlyTheChosenUser) {
  Listener l = listen_tcp(AF_INET, "127.0.0.1");
  FiltersConfig f;
  f.uids = {65534};
  apply(f);
  CommandResult r = run_command(
      "setpriv --reuid=65534 --regid=65534 --clear-groups bash -c 'for i in 1 2; do exec "
      "3<>/dev/tcp/127.0.0.1/" +
      std::to_string(l.port) + "; exec 3>&-; done'");
  ASSERT_EQ(r.status, 0) << r.output;
  EXPECT_EQ(connect_and_accept(l, AF_INET, "127.0.0.1", 3), 3);  // root: not counted
  EXPECT_EQ(attempts_to(*probe, l.port), 2u);
}

TEST_F(FiltersTest, PortListsAndRanges) {
  Listener a = listen_tcp(AF_INET, "127.0.0.1"), b = listen_tcp(AF_INET, "127.0.0.1"),
           c = listen_tcp(AF_INET, "127.0.0.1");
  FiltersConfig f;
  f.ports = {PortRange{a.port, a.port},
             PortRange{static_cast<uint16_t>(b.port - 1), static_cast<uint16_t>(b.port + 1)}};
  if (f.ports[1].contains(c.port) || c.port == a.port) GTEST_SKIP() << "ports too close";
  apply(f);
  for (const Listener* l : {&a, &b, &c})
    ASSERT_EQ(connect_and_accept(*l, AF_INET, "127.0.0.1", 2), 2);
  EXPECT_EQ(attempts_to(*probe, a.port), 2u);
  EXPECT_EQ(attempts_to(*probe, b.port), 2u);
  EXPECT_EQ(attempts_to(*probe, c.port), 0u);
}

TEST_F(FiltersTest, FamilyKeepsOnlyOneAddressFamily) {
  Listener v4 = listen_tcp(AF_INET, "127.0.0.1"), v6 = listen_tcp(AF_INET6, "::1");
  FiltersConfig f;
  f.families = {Family::kIpv6};
  apply(f);
  ASSERT_EQ(connect_and_accept(v4, AF_INET, "127.0.0.1", 3), 3);
  ASSERT_EQ(connect_and_accept(v6, AF_INET6, "::1", 4), 4);
  EXPECT_EQ(attempts_to(*probe, v4.port), 0u);
  EXPECT_EQ(attempts_to(*probe, v6.port), 4u);
  f.families = {Family::kIpv4};
  apply(f);
  ASSERT_EQ(connect_and_accept(v4, AF_INET, "127.0.0.1", 3), 3);
  ASSERT_EQ(connect_and_accept(v6, AF_INET6, "::1", 4), 4);
  EXPECT_EQ(attempts_to(*probe, v4.port), 3u);
  EXPECT_EQ(attempts_to(*probe, v6.port), 4u);
}

TEST_F(FiltersTest, CommMatchesTheConnectingThreadsName) {
  Listener l = listen_tcp(AF_INET, "127.0.0.1");
  FiltersConfig f = only_port(l.port);
  f.comms = {"tcx-comm-test"};
  apply(f);
  run_as_comm("tcx-comm-test", [&] { connect_and_accept(l, AF_INET, "127.0.0.1", 4); });
  run_as_comm("tcx-other", [&] { connect_and_accept(l, AF_INET, "127.0.0.1", 2); });
  EXPECT_EQ(attempts_to(*probe, l.port), 4u);
}

TEST_F(FiltersTest, CgroupPathMatchesTheCgroupAndEverythingBelowIt) {
  std::string error;
  const std::string outer = "tcx-test-" + std::to_string(getpid()) + ".slice";
  auto inner = TestCgroup::create(outer + "/inner.scope", &error);
  ASSERT_TRUE(inner) << error;
  Listener l = listen_tcp(AF_INET, "127.0.0.1");
  FiltersConfig f = only_port(l.port);
  f.cgroups = {outer};  // relative to the cgroup2 mount; the child sits one level below
  apply(f);
  {
    ConnectorChild child(AF_INET, "127.0.0.1", l.port, 3);
    ASSERT_TRUE(inner->add_process(child.pid()));
    EXPECT_EQ(child.release_and_wait(), 3);
  }
  ASSERT_EQ(connect_and_accept(l, AF_INET, "127.0.0.1", 2), 2);  // not in it
  EXPECT_EQ(attempts_to(*probe, l.port), 3u);

  // The exact cgroup, by absolute path.
  f.cgroups = {inner->path()};
  apply(f);
  ConnectorChild child(AF_INET, "127.0.0.1", l.port, 2);
  ASSERT_TRUE(inner->add_process(child.pid()));
  EXPECT_EQ(child.release_and_wait(), 2);
  drain_accepts(l);
  EXPECT_EQ(attempts_to(*probe, l.port), 5u);
}

TEST_F(FiltersTest, CgroupThatAppearsLaterIsPickedUpByARefresh) {
  Listener l = listen_tcp(AF_INET, "127.0.0.1");
  const std::string name = "tcx-late-" + std::to_string(getpid()) + ".scope";
  FiltersConfig f = only_port(l.port);
  f.cgroups = {name};
  apply(f);
  EXPECT_EQ(probe->filters().missing_cgroups(), std::vector<std::string>{name});
  std::string error;
  auto cg = TestCgroup::create(name, &error);
  ASSERT_TRUE(cg) << error;
  ConnectorChild before(AF_INET, "127.0.0.1", l.port, 2);
  ASSERT_TRUE(cg->add_process(before.pid()));
  EXPECT_EQ(before.release_and_wait(), 2);
  EXPECT_EQ(attempts_to(*probe, l.port), 0u);  // not resolved yet: matches nothing
  ASSERT_TRUE(probe->filters().refresh_cgroups());
  EXPECT_TRUE(probe->filters().missing_cgroups().empty());
  ConnectorChild after(AF_INET, "127.0.0.1", l.port, 3);
  ASSERT_TRUE(cg->add_process(after.pid()));
  EXPECT_EQ(after.release_and_wait(), 3);
  drain_accepts(l);
  EXPECT_EQ(attempts_to(*probe, l.port), 3u);
}

TEST_F(FiltersTest, PinnedCgroupmapInBccsLayoutAndItsPathChangesLive) {
  std::string error;
  auto cg = TestCgroup::create("tcx-cgmap-" + std::to_string(getpid()) + ".scope", &error);
  ASSERT_TRUE(cg) << error;
  auto map = PinnedIdSet::create("tcx_cgmap_" + std::to_string(getpid()), 8, 8, &error);
  ASSERT_TRUE(map) << error;
  ASSERT_TRUE(map->add(cg->id()));
  auto empty = PinnedIdSet::create("tcx_cgmap_e_" + std::to_string(getpid()), 8, 8, &error);
  ASSERT_TRUE(empty) << error;
  Listener l = listen_tcp(AF_INET, "127.0.0.1");
  FiltersConfig f = only_port(l.port);
  f.cgroupmap = map->path();
  apply(f);
  {
    ConnectorChild child(AF_INET, "127.0.0.1", l.port, 3);
    ASSERT_TRUE(cg->add_process(child.pid()));
    EXPECT_EQ(child.release_and_wait(), 3);
  }
  ASSERT_EQ(connect_and_accept(l, AF_INET, "127.0.0.1", 2), 2);
  EXPECT_EQ(attempts_to(*probe, l.port), 3u);
  // Another pinned map, without the cgroup: swapped into the slot, nothing reloaded.
  f.cgroupmap = empty->path();
  apply(f);
  ConnectorChild child(AF_INET, "127.0.0.1", l.port, 2);
  ASSERT_TRUE(cg->add_process(child.pid()));
  EXPECT_EQ(child.release_and_wait(), 2);
  drain_accepts(l);
  EXPECT_EQ(attempts_to(*probe, l.port), 3u);
}

TEST_F(FiltersTest, PinnedMntnsmapMatchesAMountNamespaceMadeByUnshare) {
  std::string error;
  // bcc's mntnsmap layout: 4-byte values.
  auto map = PinnedIdSet::create("tcx_mntns_" + std::to_string(getpid()), 8, 4, &error);
  ASSERT_TRUE(map) << error;
  Listener l = listen_tcp(AF_INET, "127.0.0.1");
  FiltersConfig f = only_port(l.port);
  f.mntnsmap = map->path();
  apply(f);

  // `unshare -m` execs bash in its new mount namespace, which waits for a line on stdin
  // before it connects: the namespace id goes into the map first.
  int in[2];
  ASSERT_EQ(pipe2(in, O_CLOEXEC), 0);
  const std::string script = "read x; for i in 1 2 3; do exec 3<>/dev/tcp/127.0.0.1/" +
                             std::to_string(l.port) + "; exec 3>&-; done";
  pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    dup2(in[0], 0);
    execlp("unshare", "unshare", "-m", "bash", "-c", script.c_str(), nullptr);
    _exit(127);
  }
  close(in[0]);
  const uint64_t mine = mntns_id(getpid());
  uint64_t theirs = 0;
  for (int i = 0; i < 500 && (theirs == 0 || theirs == mine); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
    theirs = mntns_id(pid);
  }
  ASSERT_NE(theirs, mine) << "unshare -m did not make a mount namespace";
  ASSERT_TRUE(map->add(theirs));
  ASSERT_EQ(write(in[1], "go\n", 3), 3);
  close(in[1]);
  int status = 0;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  ASSERT_EQ(connect_and_accept(l, AF_INET, "127.0.0.1", 2), 2);  // the host's namespace
  EXPECT_EQ(attempts_to(*probe, l.port), 3u);
}

TEST_F(FiltersTest, PinnedMapsMustExistAndHaveBccsLayout) {
  FiltersConfig f;
  f.cgroupmap = "/sys/fs/bpf/tcx-does-not-exist";
  Status s = probe->filters().apply(f);
  ASSERT_FALSE(s);
  EXPECT_THAT(s.error().message, HasSubstr("filters.cgroupmap: opening pinned map"));
  std::string error;
  auto wrong = PinnedIdSet::create("tcx_wrong_" + std::to_string(getpid()), 4, 8, &error);
  ASSERT_TRUE(wrong) << error;
  f.cgroupmap.clear();
  f.mntnsmap = wrong->path();
  s = probe->filters().apply(f);
  ASSERT_FALSE(s);
  EXPECT_THAT(s.error().message, HasSubstr("not a map in bcc's layout"));
  // Nothing was applied: still counting everything.
  Listener l = listen_tcp(AF_INET, "127.0.0.1");
  ASSERT_EQ(connect_and_accept(l, AF_INET, "127.0.0.1", 2), 2);
  EXPECT_EQ(attempts_to(*probe, l.port), 2u);
}

TEST_F(FiltersTest, DestinationNetworksIncludeAndExclude) {
  const uint16_t port = closed_port(AF_INET, "127.0.0.1");
  FiltersConfig f = only_port(port);
  f.include_cidrs = {parse_cidr("127.0.0.0/16").value(), parse_cidr("::1/128").value()};
  f.exclude_cidrs = {parse_cidr("127.0.0.2/32").value()};
  apply(f);
  for (const char* ip : {"127.0.0.1", "127.0.0.2", "127.1.0.1", "127.0.3.4"})
    for (int i = 0; i < 2; ++i) ASSERT_EQ(connect_once(AF_INET, ip, port), ECONNREFUSED) << ip;
  ASSERT_EQ(connect_once(AF_INET6, "::1", port), ECONNREFUSED);
  std::map<std::string, uint64_t> by_daddr;
  for (const auto& [k, c] : keys_with_dport(*probe, port))
    by_daddr[format_address(k.family, k.daddr)] += c.attempts;
  EXPECT_EQ(by_daddr,
            (std::map<std::string, uint64_t>{{"127.0.0.1", 2}, {"127.0.3.4", 2}, {"::1", 1}}));
}

TEST_F(FiltersTest, FilteredOutConnectsAreNotStashedForAnOutcome) {
  std::string error;
  auto ns = BlackholeNetns::create(&error);
  ASSERT_TRUE(ns) << error;
  FiltersConfig f;
  f.pids = {kMaxPid};  // nothing on this machine
  // Filtered from the start: not even a connect made between attach and apply.
  ConnectProbe::Options options;
  options.before_attach = [&](ConnectProbe& unattached) { return unattached.filters().apply(f); };
  auto attached = ConnectProbe::attach(options);
  ASSERT_TRUE(attached) << attached.error().message;
  probe = std::move(attached).value();
  program_id = probe->program_stats().id;
  const uint16_t port = unlikely_port();
  for (int i = 0; i < 3; ++i) ASSERT_EQ(ns->connect_and_abandon(port), 0);
  auto swept = probe->sweep_pending(std::chrono::nanoseconds(0));
  ASSERT_TRUE(swept);
  EXPECT_EQ(swept.value(), 0u);
  EXPECT_TRUE(all_keys(*probe).empty());
}

TEST_F(FiltersTest, ChangingFiltersLiveKeepsCountsExact) {
  Listener a = listen_tcp(AF_INET, "127.0.0.1"), b = listen_tcp(AF_INET, "127.0.0.1");
  apply(only_port(a.port));
  ASSERT_EQ(connect_and_accept(a, AF_INET, "127.0.0.1", 3), 3);
  ASSERT_EQ(connect_and_accept(b, AF_INET, "127.0.0.1", 2), 2);
  apply(only_port(b.port));
  ASSERT_EQ(connect_and_accept(a, AF_INET, "127.0.0.1", 3), 3);
  ASSERT_EQ(connect_and_accept(b, AF_INET, "127.0.0.1", 2), 2);
  apply(FiltersConfig{});  // off: everything again
  ASSERT_EQ(connect_and_accept(a, AF_INET, "127.0.0.1", 1), 1);
  EXPECT_EQ(attempts_to(*probe, a.port), 4u);
  EXPECT_EQ(attempts_to(*probe, b.port), 2u);
}

// A change that fails after the first maps were written (the kernel refuses the pinned
// map only when it is put into its slot, after the pid and port maps changed): every map
// is as before, and so is what is counted.
TEST_F(FiltersTest, FailedChangeLeavesTheOldFiltersWhole) {
  Listener a = listen_tcp(AF_INET, "127.0.0.1"), c = listen_tcp(AF_INET, "127.0.0.1");
  FiltersConfig old_filters = only_port(a.port);
  old_filters.uids = {0};
  old_filters.families = {Family::kIpv4};
  apply(old_filters);
  auto before = probe->filters().read_maps();
  ASSERT_TRUE(before) << before.error().message;

  std::string error;
  auto locked = LockedIdSet::create("tcx_locked_" + std::to_string(getpid()), &error);
  ASSERT_TRUE(locked) << error;
  FiltersConfig next = only_port(c.port);
  next.pids = {static_cast<uint32_t>(getpid())};
  next.comms = {"tcx-other"};
  next.cgroupmap = locked->path();
  Status s = probe->filters().apply(next);
  ASSERT_FALSE(s) << "the kernel took a map with a spin lock into the slot";
  EXPECT_THAT(s.error().message, HasSubstr("installing the cgroupmap map"));
  EXPECT_THAT(s.error().message, HasSubstr("the previous filters are back in place"));

  auto after = probe->filters().read_maps();
  ASSERT_TRUE(after) << after.error().message;
  EXPECT_TRUE(after.value() == before.value());
  EXPECT_EQ(after.value().slot_ids, (std::array<uint32_t, 4>{}));
  EXPECT_EQ(probe->filters().applied(), old_filters);
  // Counted as the old filters count: port a, not port c.
  ASSERT_EQ(connect_and_accept(a, AF_INET, "127.0.0.1", 3), 3);
  ASSERT_EQ(connect_and_accept(c, AF_INET, "127.0.0.1", 2), 2);
  EXPECT_EQ(attempts_to(*probe, a.port), 3u);
  EXPECT_EQ(attempts_to(*probe, c.port), 0u);
}

// revert(): a reload whose labels failed takes its filters back, maps and counting.
TEST_F(FiltersTest, RevertPutsThePreviousFiltersBack) {
  Listener a = listen_tcp(AF_INET, "127.0.0.1"), c = listen_tcp(AF_INET, "127.0.0.1");
  std::string error;
  auto pinned = PinnedIdSet::create("tcx_revert_" + std::to_string(getpid()), 8, 8, &error);
  ASSERT_TRUE(pinned) << error;
  FiltersConfig old_filters = only_port(a.port);
  apply(old_filters);
  auto before = probe->filters().read_maps();
  ASSERT_TRUE(before) << before.error().message;
  FiltersConfig next = only_port(c.port);
  next.uids = {0, 65534};
  next.mntnsmap = pinned->path();
  apply(next);
  auto changed = probe->filters().read_maps();
  ASSERT_TRUE(changed);
  EXPECT_FALSE(changed.value() == before.value());
  EXPECT_NE(changed.value().slot_ids[2], 0u);

  Status s = probe->filters().revert();
  ASSERT_TRUE(s) << s.error().message;
  auto after = probe->filters().read_maps();
  ASSERT_TRUE(after);
  EXPECT_TRUE(after.value() == before.value());
  EXPECT_EQ(probe->filters().applied(), old_filters);
  ASSERT_EQ(connect_and_accept(a, AF_INET, "127.0.0.1", 2), 2);
  ASSERT_EQ(connect_and_accept(c, AF_INET, "127.0.0.1", 2), 2);
  EXPECT_EQ(attempts_to(*probe, a.port), 2u);
  EXPECT_EQ(attempts_to(*probe, c.port), 0u);
}

}  // namespace
}  // namespace tcpconnect
