// Label rendering without a kernel: optional fields, bucketing, collapsing, units.
#include "metrics/label_renderer.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstring>

#include "fake_connect_source.h"
#include "probes/cgroup_fs.h"

namespace tcpconnect {
namespace {

using ::testing::ElementsAre;
using testing::v4_key;

tc_connect_key v6_key(uint8_t last_daddr_byte, uint16_t dport) {
  tc_connect_key k{};
  k.family = TC_AF_INET6;
  k.saddr[15] = 1;
  k.daddr[0] = 0x20;
  k.daddr[1] = 0x01;
  k.daddr[2] = 0x0d;
  k.daddr[3] = 0xb8;
  k.daddr[7] = 0x05;
  k.daddr[15] = last_daddr_byte;
  k.dport = dport;
  return k;
}

TEST(LabelRendererTest, DefaultLabelsRenderTheClassicKey) {
  LabelRenderer r{LabelsConfig{}};
  EXPECT_THAT(r.connect_labels(v4_key("127.0.0.1", "127.0.0.2", 80)),
              ElementsAre("ipv4", "127.0.0.1", "127.0.0.2", "80", ""));
  EXPECT_THAT(r.label_names(), ElementsAre("family", "saddr", "daddr", "dport", "dns_name"));
}

TEST(LabelRendererTest, OptionalFieldsRenderOnlyWhenTheKernelFilledThem) {
  LabelsConfig labels;
  labels.keep = {Label::kUid, Label::kComm, Label::kUnit, Label::kLport, Label::kPid};
  LabelRenderer r(labels, {}, [](uint64_t id) { return id == 42 ? "nginx.service" : "?"; });
  tc_connect_key k = v4_key("127.0.0.1", "127.0.0.2", 80);
  k.uid = 0;  // root, and also what an unfilled uid looks like
  k.tgid = 1234;
  k.cgroup_id = 42;
  k.lport = 40000;
  std::strcpy(k.comm, "curl");
  // Made under labels that kept none of them: every one reads as "not collected".
  EXPECT_THAT(r.connect_labels(k), ElementsAre("", "", "", "", ""));
  k.fields = TC_KEY_UID | TC_KEY_COMM | TC_KEY_CGROUP | TC_KEY_LPORT | TC_KEY_TGID;
  EXPECT_THAT(r.connect_labels(k), ElementsAre("0", "curl", "nginx.service", "40000", "1234"));
  EXPECT_THAT(r.label_names(), ElementsAre("uid", "comm", "unit", "lport", "pid"));
}

TEST(LabelRendererTest, DroppedSaddrAndDportReadAsEmpty) {
  LabelRenderer r{LabelsConfig{}};
  tc_connect_key k = v4_key("0.0.0.0", "127.0.0.2", 0);
  k.fields = TC_KEY_NO_SADDR | TC_KEY_NO_DPORT;
  EXPECT_THAT(r.connect_labels(k), ElementsAre("ipv4", "", "127.0.0.2", "", ""));
}

TEST(LabelRendererTest, UnnamedDestinationsAreBucketedNamedOnesAreNot) {
  LabelsConfig labels;
  labels.keep = {Label::kDaddr, Label::kDnsName};
  labels.daddr_prefix_v4 = 24;
  labels.daddr_prefix_v6 = 64;
  LabelRenderer r(labels, [](uint64_t, uint16_t, const uint8_t(&a)[16]) -> std::string {
    return a[3] == 9 ? "db.example" : "";
  });
  EXPECT_THAT(r.connect_labels(v4_key("10.0.0.1", "10.1.2.3", 80)), ElementsAre("10.1.2.0/24", ""));
  EXPECT_THAT(r.connect_labels(v4_key("10.0.0.1", "10.1.2.9", 80)),
              ElementsAre("10.1.2.9", "db.example"));
  EXPECT_THAT(r.connect_labels(v6_key(7, 443)), ElementsAre("2001:db8:0:5::/64", ""));
  // Odd prefix lengths mask inside a byte.
  labels.daddr_prefix_v4 = 13;
  LabelRenderer odd(labels);
  EXPECT_THAT(odd.connect_labels(v4_key("10.0.0.1", "10.255.2.3", 80)),
              ElementsAre("10.248.0.0/13", ""));
  // The latency histogram buckets its daddr the same way.
  tc_connect_key k = v4_key("10.0.0.1", "10.1.2.3", 80);
  EXPECT_THAT(r.latency_labels(k.family, k.daddr, ""), ElementsAre("", "10.1.2.0/24"));
  EXPECT_EQ(format_network(TC_AF_INET, k.daddr, 0), "0.0.0.0/0");
  EXPECT_EQ(format_network(TC_AF_INET, k.daddr, 32), "10.1.2.3");
}

TEST(LabelRendererTest, NamedDestinationWithoutDnsNameLabelKeepsItsAddressInTheHistogram) {
  LabelsConfig labels;
  labels.keep = {Label::kDaddr};
  labels.daddr_prefix_v4 = 8;
  LabelRenderer r(labels,
                  [](uint64_t, uint16_t, const uint8_t(&)[16]) -> std::string { return "x.test"; });
  tc_connect_key k = v4_key("10.0.0.1", "10.1.2.3", 80);
  EXPECT_THAT(r.latency_labels(k.family, k.daddr, "x.test"), ElementsAre("", "10.1.2.3"));
}

TEST(LabelRendererTest, EphemeralDestinationPortsCollapse) {
  LabelsConfig labels;
  labels.keep = {Label::kDport};
  labels.collapse_ephemeral_dports = true;
  labels.ephemeral_port_min = 32768;
  LabelRenderer r(labels);
  EXPECT_THAT(r.connect_labels(v4_key("127.0.0.1", "127.0.0.2", 32767)), ElementsAre("32767"));
  EXPECT_THAT(r.connect_labels(v4_key("127.0.0.1", "127.0.0.2", 32768)), ElementsAre("ephemeral"));
  EXPECT_THAT(r.connect_labels(v4_key("127.0.0.1", "127.0.0.2", 65535)), ElementsAre("ephemeral"));
}

TEST(LabelRendererTest, KernelKeepsOnlyTheFieldsTheLabelsNeed) {
  LabelsConfig labels;
  AllowlistConfig none;
  EXPECT_EQ(kernel_key_fields(labels, none), 0u);  // the classic key
  labels.keep = {Label::kDaddr, Label::kUid, Label::kLport};
  EXPECT_EQ(kernel_key_fields(labels, none),
            TC_KEY_UID | TC_KEY_LPORT | TC_KEY_NO_SADDR | TC_KEY_NO_DPORT);
  AllowlistConfig allow;
  allow.enabled = true;  // port rules need dport even when it is not a label
  EXPECT_EQ(kernel_key_fields(labels, allow), TC_KEY_UID | TC_KEY_LPORT | TC_KEY_NO_SADDR);
  labels.keep = {Label::kUnit, Label::kComm, Label::kPid, Label::kSaddr, Label::kDport};
  EXPECT_EQ(kernel_key_fields(labels, none), TC_KEY_CGROUP | TC_KEY_COMM | TC_KEY_TGID);
}

// comm, unit and dns_name are whatever a process, whoever may make cgroups and a DNS
// answer chose: each becomes safe text (util/safe_text.h) here, where it becomes a value.
TEST(LabelRendererTest, HostileCommUnitAndNameBecomeSafeText) {
  LabelsConfig labels;
  labels.keep = {Label::kComm, Label::kUnit, Label::kDnsName};
  LabelRenderer r(
      labels, [](auto&&...) -> std::string { return "db\xC0\xAF.example"; },
      [](uint64_t) -> std::string { return "tcx-\xFF\xFE\n.scope"; });
  tc_connect_key k = v4_key("127.0.0.1", "127.0.0.2", 80);
  k.fields = TC_KEY_COMM | TC_KEY_CGROUP;
  std::memcpy(k.comm, "\xFF\xFE\xED\xA0\x80\x1B[2J", 10);
  const std::string r1 = "\xEF\xBF\xBD";
  EXPECT_THAT(r.connect_labels(k),
              ElementsAre(r1 + r1 + r1 + r1 + "[2J", "tcx-" + r1 + r1 + r1 + ".scope",
                          "db" + r1 + ".example"));
  EXPECT_THAT(r.latency_labels(k.family, k.daddr, "db\xC0\xAF.example"),
              ElementsAre("db" + r1 + ".example", ""));
  // A comm of 15 bytes cut inside a character (TASK_COMM_LEN) ends in U+FFFD.
  std::memcpy(k.comm, "abcdefghijklm\xE2\x82", 16);
  EXPECT_EQ(r.connect_labels(k)[0], "abcdefghijklm" + r1);
}

TEST(CgroupUnitTest, DeepestUnitOrContainerComponent) {
  EXPECT_EQ(unit_of_cgroup_path("/system.slice/nginx.service"), "nginx.service");
  EXPECT_EQ(unit_of_cgroup_path("/system.slice/nginx.service/worker"), "nginx.service");
  EXPECT_EQ(unit_of_cgroup_path("/user.slice/user-1000.slice/session-3.scope"), "session-3.scope");
  EXPECT_EQ(unit_of_cgroup_path("/system.slice"), "system.slice");
  EXPECT_EQ(unit_of_cgroup_path("/"), "");
  EXPECT_EQ(unit_of_cgroup_path(""), "");
  EXPECT_EQ(unit_of_cgroup_path("/mine/inner"), "");
  const std::string id(64, 'a');
  EXPECT_EQ(unit_of_cgroup_path("/system.slice/docker-" + id + ".scope"),
            "docker-" + id + ".scope");
  EXPECT_EQ(unit_of_cgroup_path("/docker/" + id), id);
  EXPECT_EQ(unit_of_cgroup_path("/kubepods/burstable/pod1234/" + id), id);
  EXPECT_EQ(unit_of_cgroup_path("/docker/" + id.substr(1)), "");  // 63 digits: not an id
}

TEST(CgroupMountTest, FindsTheCgroup2MountInMountinfo) {
  const std::string hybrid =
      "25 30 0:23 / /sys/fs/cgroup ro,nosuid shared:9 - tmpfs tmpfs ro,mode=755\n"
      "26 25 0:24 / /sys/fs/cgroup/unified rw,nosuid shared:10 - cgroup2 cgroup2 rw,nsdelegate\n"
      "27 25 0:25 / /sys/fs/cgroup/systemd rw shared:11 - cgroup cgroup rw,name=systemd\n";
  auto m = parse_cgroup2_mounts(hybrid);
  ASSERT_EQ(m.size(), 1u);
  EXPECT_EQ(m[0].mount_point, "/sys/fs/cgroup/unified");
  EXPECT_EQ(m[0].root, "/");
  // Optional fields before the separator, an escaped space, a namespaced root.
  auto odd = parse_cgroup2_mounts(
      "40 1 0:30 /sub /mnt/cg\\040two rw master:1 shared:2 - cgroup2 none rw\n");
  ASSERT_EQ(odd.size(), 1u);
  EXPECT_EQ(odd[0].mount_point, "/mnt/cg two");
  EXPECT_EQ(odd[0].root, "/sub");
  EXPECT_TRUE(parse_cgroup2_mounts("27 25 0:25 / /sys/fs/cgroup rw - cgroup cgroup rw\n").empty());
}

// A container with its own cgroup namespace: runc's cgroup2 mount of the container's
// sub-tree reads "/", the bind mount of the host's hierarchy "/../..". The directory, not
// the field, decides; the chosen mount's levels count from the hierarchy's root.
TEST(CgroupMountTest, ChoosesTheHierarchyRootWhateverTheNamespaceShows) {
  const std::string container =
      "700 690 0:27 / /sys/fs/cgroup/unified ro - cgroup2 cgroup2 rw\n"
      "710 690 0:26 / /sys/fs/cgroup ro,nosuid - tmpfs tmpfs ro,mode=755\n"
      "711 710 0:27 /../.. /sys/fs/cgroup/unified ro shared:10 - cgroup2 cgroup2 rw\n";
  std::vector<std::string> asked;
  auto m = choose_cgroup2_mount(container, [&](const std::string& dir) {
    asked.push_back(dir);
    return asked.size() == 2;  // the second mount at that path is the visible one
  });
  ASSERT_TRUE(m);
  EXPECT_EQ(m->mount_point, "/sys/fs/cgroup/unified");
  EXPECT_EQ(m->root, "/");
  EXPECT_EQ(asked.size(), 2u);
  // No root in sight: the first mount, its root as mountinfo says.
  auto sub = choose_cgroup2_mount("40 24 0:30 /kubepods/pod1 /cg rw - cgroup2 cgroup2 rw\n",
                                  [](const std::string&) { return false; });
  ASSERT_TRUE(sub);
  EXPECT_EQ(sub->root, "/kubepods/pod1");
  EXPECT_FALSE(choose_cgroup2_mount("", [](const std::string&) { return true; }));
}

// The host's hierarchy root has no cgroup.type; a cgroup below it has one.
TEST(CgroupMountTest, RecognisesTheHierarchyRootByItsFiles) {
  auto m = find_cgroup2_mount();
  if (!m) GTEST_SKIP() << m.error().message;
  if (m.value().root != "/") GTEST_SKIP() << "this process sees no cgroup2 root";
  EXPECT_TRUE(is_cgroup2_hierarchy_root(m.value().mount_point));
  EXPECT_FALSE(is_cgroup2_hierarchy_root("/proc"));
}

}  // namespace
}  // namespace tcpconnect
