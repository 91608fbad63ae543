#include "probes/kube_pods.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <string>
#include <vector>

#include "common/scratch_dir.h"

namespace tcpconnect {
namespace {

using testing::ScratchDir;

const std::string kUid = "8f2c1e4a-3b5d-4c6e-9f70-112233445566";
const std::string kUidSystemd = "8f2c1e4a_3b5d_4c6e_9f70_112233445566";
const std::string kId(64, 'a');
const std::string kId2 = std::string(63, 'b') + "c";

std::optional<PodCgroup> pod(const std::string& path) { return pod_of_cgroup_path(path); }
PodCgroup expected(const std::string& id) { return PodCgroup{kUid, id}; }

TEST(PodOfCgroupPath, SystemdDriverEveryQosClassAndRuntime) {
  for (const std::string runtime : {"cri-containerd-", "crio-", "docker-"}) {
    for (const std::string qos : {"burstable", "besteffort"}) {
      const std::string slice = "/kubepods.slice/kubepods-" + qos + ".slice/kubepods-" + qos +
                                "-pod" + kUidSystemd + ".slice";
      EXPECT_EQ(pod(slice + "/" + runtime + kId + ".scope"), expected(kId)) << runtime << qos;
      EXPECT_EQ(pod(slice), expected("")) << qos;
    }
    // Guaranteed pods have no qos level.
    EXPECT_EQ(
        pod("/kubepods.slice/kubepods-pod" + kUidSystemd + ".slice/" + runtime + kId + ".scope"),
        expected(kId))
        << runtime;
  }
}

TEST(PodOfCgroupPath, CgroupfsDriver) {
  EXPECT_EQ(pod("/kubepods/burstable/pod" + kUid + "/" + kId), expected(kId));
  EXPECT_EQ(pod("/kubepods/besteffort/pod" + kUid + "/" + kId), expected(kId));
  EXPECT_EQ(pod("/kubepods/pod" + kUid + "/" + kId), expected(kId));  // guaranteed
  EXPECT_EQ(pod("/kubepods/pod" + kUid + "/crio-" + kId), expected(kId));
  EXPECT_EQ(pod("/kubepods/burstable/pod" + kUid), expected(""));
}

TEST(PodOfCgroupPath, BelowAContainerAndBelowANestedRoot) {
  // A container that made cgroups of its own: still its container.
  EXPECT_EQ(pod("/kubepods/pod" + kUid + "/" + kId + "/init.scope"), expected(kId));
  // kubelet inside a container (kind): the kubepods root is not the hierarchy's root.
  EXPECT_EQ(pod("/system.slice/node.scope/kubepods/pod" + kUid + "/" + kId), expected(kId));
  // Static pods have a 32-digit hash for a uid.
  const std::string hash(32, 'e');
  EXPECT_EQ(pod("/kubepods/pod" + hash + "/" + kId), (PodCgroup{hash, kId}));
}

TEST(PodOfCgroupPath, NotAPod) {
  EXPECT_EQ(pod("/"), std::nullopt);
  EXPECT_EQ(pod(""), std::nullopt);
  EXPECT_EQ(pod("/system.slice/nginx.service"), std::nullopt);
  EXPECT_EQ(pod("/kubepods.slice"), std::nullopt);
  EXPECT_EQ(pod("/kubepods.slice/kubepods-burstable.slice"), std::nullopt);
  EXPECT_EQ(pod("/kubepods/burstable"), std::nullopt);
  EXPECT_EQ(pod("/kubepods/guaranteed/pod" + kUid), std::nullopt);  // no such class
  EXPECT_EQ(pod("/kubepods/pod"), std::nullopt);
  EXPECT_EQ(pod("/kubepods/pod" + kUid + "x"), std::nullopt);            // not a uid
  EXPECT_EQ(pod("/kubepods/pod" + std::string(65, 'a')), std::nullopt);  // too long
  EXPECT_EQ(pod("/kubepods/pod../" + kId), std::nullopt);
  EXPECT_EQ(pod("/kubepods.slice/kubepods-pod" + kUid + ".scope"), std::nullopt);
  // A systemd pod slice under the wrong qos parent.
  EXPECT_EQ(pod("/kubepods.slice/kubepods-besteffort.slice/kubepods-burstable-pod" + kUidSystemd +
                ".slice"),
            std::nullopt);
  EXPECT_EQ(pod("/kubepods.slice/kubepods-pod" + kUidSystemd + "\n.slice"), std::nullopt);
}

TEST(PodOfCgroupPath, ContainerIdsThatAreNotIdsLeaveTheContainerOut) {
  const std::string base = "/kubepods/pod" + kUid + "/";
  EXPECT_EQ(pod(base + "crio-conmon-" + kId + ".scope"), expected(""));
  EXPECT_EQ(pod(base + "..")->container_id, "");
  EXPECT_EQ(pod(base + "ABCDEF")->container_id, "");  // ids are lower-case hex
  EXPECT_EQ(pod(base + std::string(129, 'a'))->container_id, "");
  EXPECT_EQ(pod(base + "docker-" + kId + "\".scope")->container_id, "");
}

TEST(ParsePodLogDir, KubeletsLayout) {
  auto d = parse_pod_log_dir("kube-system_coredns-5d78c9869d-x2xkq_" + kUid);
  ASSERT_TRUE(d);
  EXPECT_EQ(d->namespace_name, "kube-system");
  EXPECT_EQ(d->pod, "coredns-5d78c9869d-x2xkq");
  EXPECT_EQ(d->uid, kUid);
  EXPECT_TRUE(parse_pod_log_dir("default_web.v2_" + kUid));  // pod names are subdomains
}

TEST(ParsePodLogDir, RefusesWhatKubeletNeverWrites) {
  for (const std::string& bad : std::vector<std::string>{
           "default_web", "_web_" + kUid, "default__" + kUid, "default_web_", "default_a_b_" + kUid,
           "default_we\"b_" + kUid, "default_we\nb_" + kUid,
           "default_we\xff"
           "b_" +
               kUid,
           "default_.._" + kUid, "default_..x_" + kUid, "Default_web_" + kUid,
           "default_-web_" + kUid, "default_web_" + kUid + "/x",
           std::string(64, 'n') + "_web_" + kUid, "default_" + std::string(254, 'p') + "_" + kUid,
           "default_web_UID"}) {
    EXPECT_EQ(parse_pod_log_dir(bad), std::nullopt) << bad;
  }
}

TEST(ParseContainerLog, KubeletsLayout) {
  auto c = parse_container_log("coredns-5d78c9869d-x2xkq_kube-system_coredns-" + kId + ".log");
  ASSERT_TRUE(c);
  EXPECT_EQ(c->pod, "coredns-5d78c9869d-x2xkq");
  EXPECT_EQ(c->namespace_name, "kube-system");
  EXPECT_EQ(c->container, "coredns");
  EXPECT_EQ(c->id, kId);
  // Container names have dashes too: the id is after the last one.
  c = parse_container_log("web_default_side-car-" + kId + ".log");
  ASSERT_TRUE(c);
  EXPECT_EQ(c->container, "side-car");
}

TEST(ParseContainerLog, RefusesWhatKubeletNeverWrites) {
  for (const std::string& bad : std::vector<std::string>{
           "web_default_app-" + kId, "web_default_app-" + kId + ".log.1", "web_default_app.log",
           "web_default_app-XYZ.log", "web_app-" + kId + ".log", "web_default_a_b-" + kId + ".log",
           "web_default_ap\"p-" + kId + ".log", "web_default_ap\np-" + kId + ".log",
           "web_default_" + std::string(64, 'c') + "-" + kId + ".log",
           "web_default_-" + kId + ".log", "web_.._app-" + kId + ".log",
           "we\xc0\xaf"
           "b_default_app-" +
               kId + ".log"}) {
    EXPECT_EQ(parse_container_log(bad), std::nullopt) << bad;
  }
}

class KubeletLogsTest : public ::testing::Test {
 protected:
  KubeletLogsTest() {
    EXPECT_EQ(mkdir(pods_dir().c_str(), 0755), 0);
    EXPECT_EQ(mkdir(containers_dir().c_str(), 0755), 0);
  }
  std::string pods_dir() const { return root_.path() + "/pods"; }
  std::string containers_dir() const { return root_.path() + "/containers"; }
  KubeletLogs::Options options(size_t max_entries = 16) const {
    return {pods_dir(), containers_dir(), max_entries};
  }
  // kubelet's layout: the pod directory with a container directory, and the container
  // log's symlink into it.
  void add_pod(const std::string& ns, const std::string& name, const std::string& uid) {
    const std::string dir = pods_dir() + "/" + ns + "_" + name + "_" + uid;
    ASSERT_EQ(mkdir(dir.c_str(), 0755), 0);
  }
  void add_container(const std::string& ns, const std::string& name, const std::string& uid,
                     const std::string& container, const std::string& id) {
    const std::string dir = pods_dir() + "/" + ns + "_" + name + "_" + uid + "/" + container;
    ASSERT_EQ(mkdir(dir.c_str(), 0755), 0);
    const std::string link =
        containers_dir() + "/" + name + "_" + ns + "_" + container + "-" + id + ".log";
    ASSERT_EQ(symlink((dir + "/0.log").c_str(), link.c_str()), 0);
  }
  void remove_pod(const std::string& ns, const std::string& name, const std::string& uid) {
    ASSERT_EQ(rmdir((pods_dir() + "/" + ns + "_" + name + "_" + uid).c_str()), 0);
  }

  ScratchDir root_{"kube_pods_test"};
};

TEST_F(KubeletLogsTest, JoinsTheCgroupWithBothRoots) {
  add_pod("shop", "web-1", kUid);
  add_container("shop", "web-1", kUid, "nginx", kId);
  KubeletLogs logs(options());
  EXPECT_EQ(logs.identity_of(expected(kId)), (PodIdentity{"shop", "web-1", "nginx"}));
  // The pod's own cgroup, and a container that logs nothing (the sandbox).
  EXPECT_EQ(logs.identity_of(expected("")), (PodIdentity{"shop", "web-1", ""}));
  EXPECT_EQ(logs.identity_of(expected(kId2)), (PodIdentity{"shop", "web-1", ""}));
  EXPECT_EQ(logs.scans(), 1u);
}

TEST_F(KubeletLogsTest, PicksUpPodsThatAppearAtMostOnceARound) {
  KubeletLogs logs(options());
  // The cgroup exists before kubelet made the log directory: not a pod yet, but not
  // remembered as none.
  EXPECT_EQ(logs.identity_of(expected(kId)), std::nullopt);
  EXPECT_EQ(logs.identity_of(expected(kId)), std::nullopt);
  EXPECT_EQ(logs.scans(), 1u);
  add_pod("shop", "web-1", kUid);
  add_container("shop", "web-1", kUid, "nginx", kId);
  EXPECT_EQ(logs.identity_of(expected(kId)), std::nullopt);  // same round: no scan
  logs.begin_round();
  EXPECT_EQ(logs.identity_of(expected(kId)), (PodIdentity{"shop", "web-1", "nginx"}));
  EXPECT_EQ(logs.scans(), 2u);
  // Known now: later rounds do not scan for it.
  logs.begin_round();
  EXPECT_EQ(logs.identity_of(expected(kId)), (PodIdentity{"shop", "web-1", "nginx"}));
  EXPECT_EQ(logs.scans(), 2u);
}

TEST_F(KubeletLogsTest, ForgetsPodsThatWent) {
  add_pod("shop", "web-1", kUid);
  const std::string other = "00000000-0000-0000-0000-000000000001";
  KubeletLogs logs(options());
  EXPECT_TRUE(logs.identity_of(expected("")));
  EXPECT_EQ(logs.pods(), 1u);
  remove_pod("shop", "web-1", kUid);
  add_pod("shop", "web-2", other);
  logs.begin_round();
  EXPECT_EQ(logs.identity_of(PodCgroup{other, ""}), (PodIdentity{"shop", "web-2", ""}));
  EXPECT_EQ(logs.pods(), 1u);
  logs.begin_round();
  EXPECT_EQ(logs.identity_of(expected("")), std::nullopt);
}

TEST_F(KubeletLogsTest, HoldsAtMostMaxEntries) {
  for (int i = 0; i < 10; ++i) {
    char uid[40];
    snprintf(uid, sizeof(uid), "00000000-0000-0000-0000-%012d", i);
    add_pod("ns", "pod-" + std::to_string(i), uid);
    add_container("ns", "pod-" + std::to_string(i), uid, "c",
                  std::string(63, 'a') + std::to_string(i));
  }
  KubeletLogs logs(options(4));
  logs.identity_of(expected(""));
  EXPECT_EQ(logs.pods(), 4u);
  EXPECT_EQ(logs.containers(), 4u);
}

TEST_F(KubeletLogsTest, HostileEntriesAreSkippedNotFollowed) {
  add_pod("shop", "web-1", kUid);
  add_container("shop", "web-1", kUid, "nginx", kId);
  // A symlink loop named like a pod and like a container log, a file named like a pod,
  // names no kubelet writes: none is opened, none names anything.
  const std::string uid2 = "00000000-0000-0000-0000-000000000002";
  ASSERT_EQ(symlink("loop", (pods_dir() + "/evil_pod_" + uid2).c_str()), 0);
  ASSERT_EQ(symlink((containers_dir() + "/loop").c_str(), (containers_dir() + "/loop").c_str()), 0);
  ASSERT_EQ(symlink("x", (containers_dir() + "/evil_x_c-" + kId2 + ".log").c_str()), 0);
  root_.write("pods/filed_pod_" + std::string(32, 'f'), "");
  ASSERT_EQ(mkdir((pods_dir() + "/a\"b_c\nd_" + uid2).c_str(), 0755), 0);
  KubeletLogs logs(options());
  EXPECT_EQ(logs.identity_of(PodCgroup{uid2, ""}), std::nullopt);
  EXPECT_EQ(logs.identity_of(PodCgroup{std::string(32, 'f'), ""}), std::nullopt);
  // A container log of another pod does not name a container of this one.
  EXPECT_EQ(logs.identity_of(expected(kId2)), (PodIdentity{"shop", "web-1", ""}));
  EXPECT_EQ(logs.identity_of(expected(kId)), (PodIdentity{"shop", "web-1", "nginx"}));
  // The pod symlink, the file, the quoted directory; the container loop.
  EXPECT_EQ(logs.rejected(), 4u);
}

TEST_F(KubeletLogsTest, AUidOrIdClaimedTwiceNamesNothing) {
  // A second directory with the tenant's uid that claims kube-system: which one kubelet
  // made cannot be told, so neither names the pod.
  add_pod("tenant", "app", kUid);
  add_container("tenant", "app", kUid, "app", kId);
  add_pod("kube-system", "coredns", kUid);
  KubeletLogs logs(options());
  EXPECT_EQ(logs.identity_of(expected(kId)), std::nullopt);
  EXPECT_EQ(logs.rejected(), 2u);
  // Two container logs with one id: the pod is named, the container is not.
  const std::string uid2 = "00000000-0000-0000-0000-000000000002";
  add_pod("shop", "web-1", uid2);
  add_container("shop", "web-1", uid2, "nginx", kId2);
  ASSERT_EQ(symlink("x", (containers_dir() + "/web-1_shop_sidecar-" + kId2 + ".log").c_str()), 0);
  logs.begin_round();
  EXPECT_EQ(logs.identity_of(PodCgroup{uid2, kId2}), (PodIdentity{"shop", "web-1", ""}));
  EXPECT_EQ(logs.rejected(), 4u);
}

TEST_F(KubeletLogsTest, AContainerLogAloneNamesNoPod) {
  // It carries no uid: without the pod directory of the cgroup's uid it could claim any
  // namespace.
  ASSERT_EQ(symlink("x", (containers_dir() + "/coredns_kube-system_dns-" + kId + ".log").c_str()),
            0);
  KubeletLogs logs(options());
  EXPECT_EQ(logs.identity_of(expected(kId)), std::nullopt);
  EXPECT_EQ(logs.containers(), 1u);
  EXPECT_EQ(logs.rejected(), 0u);
}

TEST(KubeletLogs, MissingRootsNameNothing) {
  KubeletLogs logs({"/nonexistent/pods", "/nonexistent/containers", 16});
  EXPECT_EQ(logs.identity_of(expected(kId)), std::nullopt);
  EXPECT_EQ(logs.pods(), 0u);
}

}  // namespace
}  // namespace tcpconnect
