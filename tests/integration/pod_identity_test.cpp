// Pod identity played for real against the built daemon and the kernel: fake kubelet pods
// of both cgroup drivers (systemd: kubepods.slice/..., cgroupfs: kubepods/...) made in the
// host's cgroup2 hierarchy, with kubelet's log layout in a scratch directory the config
// names (kubernetes.pod_logs_dir, container_logs_dir). A child process is moved into each
// pod's container cgroup and connects a known number of times to a 127.0.0.1 listener;
// the scrape must hold exactly those counts under the pod's namespace, pod and container,
// and host processes under empty ones. Then the namespace and pod filters, a pod whose
// log directories appear after its first connects, and log entries and cgroups a hostile
// tenant or user could make, which must name nothing (and be counted as rejected).
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <random>
#include <sstream>
#include <thread>

#include "common/http.h"
#include "common/metric_samples.h"
#include "common/net.h"
#include "common/scratch_dir.h"
#include "integration/daemon_process.h"
#include "probes/cgroup_fs.h"

namespace tcpconnect::testing {
namespace {

using namespace std::chrono_literals;

std::string random_hex(size_t bytes) {
  static std::mt19937_64 rng(std::random_device{}());
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  for (size_t i = 0; i < bytes * 2; ++i) out += kHex[rng() % 16];
  return out;
}

std::string random_uid() {
  const std::string h = random_hex(16);
  return h.substr(0, 8) + "-" + h.substr(8, 4) + "-" + h.substr(12, 4) + "-" + h.substr(16, 4) +
         "-" + h.substr(20);
}

// Cgroups below the host's cgroup2 root, made component by component; what this test
// made is removed deepest first when it goes (kubepods.slice and kubepods only if no
// one else uses them).
class CgroupTree {
 public:
  explicit CgroupTree(std::string root) : root_(std::move(root)) {}
  ~CgroupTree() {
    for (auto it = made_.rbegin(); it != made_.rend(); ++it) {
      // Its processes were reaped before; a cgroup can linger a moment after its last exit.
      int i = 0;
      while (rmdir(it->c_str()) != 0 && errno == EBUSY && ++i < 250)
        std::this_thread::sleep_for(20ms);
      if (i == 250 || (errno != 0 && errno != EBUSY && access(it->c_str(), F_OK) == 0))
        ADD_FAILURE() << "could not remove " << *it << ": " << strerror(errno);
    }
  }
  CgroupTree(const CgroupTree&) = delete;
  CgroupTree& operator=(const CgroupTree&) = delete;

  // The absolute path of `rel`, made if missing ("" when it could not be).
  std::string make(const std::string& rel, uid_t owner = 0) {
    std::string path = root_;
    std::istringstream parts(rel);
    for (std::string part; std::getline(parts, part, '/');) {
      if (part.empty()) continue;
      path += "/" + part;
      if (mkdir(path.c_str(), 0755) == 0) {
        made_.push_back(path);
      } else if (errno != EEXIST) {
        return "";
      }
      if (owner != 0 && chown(path.c_str(), owner, owner) != 0) return "";
    }
    return path;
  }

 private:
  std::string root_;
  std::vector<std::string> made_;
};

// kubelet's log layout for one test: <dir>/pods and <dir>/containers.
struct KubeletLogDirs {
  ScratchDir dir{"tcx-kubelet"};
  std::string pods = dir.path() + "/pods";
  std::string containers = dir.path() + "/containers";
  KubeletLogDirs() {
    // The daemon reads them after it gave up root (as nobody).
    chmod(dir.path().c_str(), 0755);
    mkdir(pods.c_str(), 0755);
    mkdir(containers.c_str(), 0755);
  }
  // A pod's directory with one container's directory and log file in it.
  void pod_dir(const std::string& name, const std::string& container) const {
    const std::string d = pods + "/" + name;
    mkdir(d.c_str(), 0755);
    mkdir((d + "/" + container).c_str(), 0755);
    close(open((d + "/" + container + "/0.log").c_str(), O_CREAT | O_WRONLY | O_CLOEXEC, 0644));
  }
  // A container's log link, pointing where kubelet's would.
  void container_log(const std::string& name, const std::string& target) const {
    EXPECT_EQ(symlink(target.c_str(), (containers + "/" + name).c_str()), 0) << name;
  }
};

enum class Driver { kSystemd, kCgroupfs };

struct FakePod {
  Driver driver;
  std::string qos;      // "burstable", "besteffort", or "" (guaranteed)
  std::string runtime;  // scope prefix for the systemd driver: cri-containerd, crio, docker
  std::string namespace_name;
  std::string pod;
  std::string container;
  std::string uid = random_uid();
  std::string id = random_hex(32);

  // The container's cgroup, relative to the hierarchy's root, as kubelet names it.
  std::string cgroup() const {
    if (driver == Driver::kCgroupfs)
      return "kubepods/" + (qos.empty() ? "" : qos + "/") + "pod" + uid + "/" + id;
    std::string u = uid;
    std::replace(u.begin(), u.end(), '-', '_');
    const std::string level = qos.empty() ? "kubepods" : "kubepods-" + qos;
    return "kubepods.slice/" + (qos.empty() ? "" : level + ".slice/") + level + "-pod" + u +
           ".slice/" + runtime + "-" + id + ".scope";
  }
  std::string pod_dir_name() const { return namespace_name + "_" + pod + "_" + uid; }
  std::string container_log_name() const {
    return pod + "_" + namespace_name + "_" + container + "-" + id + ".log";
  }
  // Both log entries, as kubelet makes them.
  void log(const KubeletLogDirs& logs) const {
    logs.pod_dir(pod_dir_name(), container);
    logs.container_log(container_log_name(),
                       logs.pods + "/" + pod_dir_name() + "/" + container + "/0.log");
  }
};

// The sum of every tcpconnect_connects_total sample whose labels hold all fragments.
double connects(const std::string& body, const std::vector<std::string>& fragments) {
  return samples(body, "tcpconnect_connects_total", fragments).sum;
}

std::vector<std::string> pod_fragments(const std::string& dport, const std::string& ns,
                                       const std::string& pod, const std::string& container) {
  return {dport, "namespace=\"" + ns + "\"", "pod=\"" + pod + "\"",
          "container=\"" + container + "\""};
}

// The daemon with the pod labels kept, counting connects to one port, kubelet's logs in
// `logs`; `filters` is added to the filters section.
struct PodDaemon {
  ScratchDir dir{"tcx-pod-daemon"};
  uint16_t port = free_tcp_port();
  std::unique_ptr<DaemonProcess> process;

  PodDaemon(uint16_t counted_port, const KubeletLogDirs& logs, const std::string& filters = "") {
    const std::string config = dir.write(
        "config.yaml", "labels:\n  keep: [dport, namespace, pod, container]\nfilters:\n  ports: [" +
                           std::to_string(counted_port) + "]\n" + filters +
                           "kubernetes:\n  pod_logs_dir: " + logs.pods +
                           "\n  container_logs_dir: " + logs.containers + "\n");
    DaemonProcess::Options options;
    options.args = {"--config.file", config, "--web.listen-address",
                    "127.0.0.1:" + std::to_string(port)};
    process = std::make_unique<DaemonProcess>(options);
  }
  bool serving() { return process->wait_serving(port, 20s); }
  std::string scrape() const {
    auto response = http_get("127.0.0.1", port, "/metrics");
    return response && response->status == 200 ? response->body : std::string();
  }
  // Scrapes until `ready` holds for a body (a scrape drains first, so one should do; a
  // loaded machine may need a second), at most 10 s; returns the last body.
  template <typename Ready>
  std::string scrape_until(Ready ready) const {
    std::string body;
    for (int i = 0; i < 40; ++i) {
      body = scrape();
      if (ready(body)) break;
      std::this_thread::sleep_for(250ms);
    }
    return body;
  }
};

class PodIdentity : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!is_root()) GTEST_SKIP() << "needs root (BPF, cgroups)";
    auto mount = find_cgroup2_mount();
    ASSERT_TRUE(mount) << mount.error().message;
    cgroups_ = std::make_unique<CgroupTree>(mount.value().mount_point);
  }
  void TearDown() override { cgroups_.reset(); }

  std::string make(const std::string& rel, uid_t owner = 0) {
    std::string path = cgroups_->make(rel, owner);
    EXPECT_FALSE(path.empty()) << rel << ": " << strerror(errno);
    return path;
  }

  Listener listener_ = listen_tcp(AF_INET, "127.0.0.1");
  std::string dport_ = "dport=\"" + std::to_string(listener_.port) + "\"";
  KubeletLogDirs logs_;
  std::unique_ptr<CgroupTree> cgroups_;
};

TEST_F(PodIdentity, BothDriversNameEachPodExactly) {
  const std::vector<FakePod> pods = {
      {Driver::kSystemd, "burstable", "cri-containerd", "shop", "web-7d4b9", "nginx"},
      {Driver::kSystemd, "", "crio", "db", "postgres-0", "postgres"},
      {Driver::kSystemd, "besteffort", "docker", "batch", "job-x2x9", "worker"},
      {Driver::kCgroupfs, "burstable", "", "shop", "cart-5f6c", "cart"},
      {Driver::kCgroupfs, "", "", "kube-system", "coredns-1", "coredns"},
      {Driver::kCgroupfs, "besteffort", "", "batch", "job.v2", "worker"},
  };
  for (const FakePod& pod : pods) pod.log(logs_);
  PodDaemon daemon(listener_.port, logs_);
  ASSERT_TRUE(daemon.serving()) << daemon.process->stderr_text();

  const std::string host = make("tcx-pods-host-" + std::to_string(getpid()) + ".scope");
  ASSERT_EQ(connect_from_cgroup(host, listener_.port, 2), 2);
  for (size_t i = 0; i < pods.size(); ++i) {
    const std::string cgroup = make(pods[i].cgroup());
    ASSERT_EQ(connect_from_cgroup(cgroup, listener_.port, static_cast<int>(3 + i)), 3 + i);
  }
  drain_accepts(listener_);

  const double total = 2 + 3 + 4 + 5 + 6 + 7 + 8;
  const std::string body =
      daemon.scrape_until([&](const std::string& b) { return connects(b, {dport_}) == total; });
  for (size_t i = 0; i < pods.size(); ++i) {
    const FakePod& p = pods[i];
    EXPECT_EQ(connects(body, pod_fragments(dport_, p.namespace_name, p.pod, p.container)), 3 + i)
        << p.cgroup() << "\n"
        << body;
  }
  EXPECT_EQ(connects(body, pod_fragments(dport_, "", "", "")), 2) << body;
  EXPECT_EQ(connects(body, {dport_}), total) << body;
}

TEST_F(PodIdentity, NamespaceAndPodFiltersIncludeAndExclude) {
  const std::vector<FakePod> pods = {
      {Driver::kSystemd, "burstable", "cri-containerd", "team-a", "api-1", "api"},
      {Driver::kCgroupfs, "", "", "team-a", "api-canary", "api"},
      {Driver::kSystemd, "", "cri-containerd", "team-b", "web-1", "web"},
      {Driver::kCgroupfs, "burstable", "", "ops", "api-2", "api"},
  };
  for (const FakePod& pod : pods) pod.log(logs_);
  // team-* only, without canaries; host processes have no namespace and are left out.
  PodDaemon daemon(listener_.port, logs_,
                   "  namespaces: [\"team-*\"]\n  exclude_pods: [\"*-canary\"]\n");
  ASSERT_TRUE(daemon.serving()) << daemon.process->stderr_text();
  // All but team-b and o*s: host processes are counted.
  PodDaemon excluding(listener_.port, logs_, "  exclude_namespaces: [\"team-b\", \"o*s\"]\n");
  ASSERT_TRUE(excluding.serving()) << excluding.process->stderr_text();

  const std::string host = make("tcx-pods-host-" + std::to_string(getpid()) + ".scope");
  ASSERT_EQ(connect_from_cgroup(host, listener_.port, 2), 2);
  for (size_t i = 0; i < pods.size(); ++i)
    ASSERT_EQ(connect_from_cgroup(make(pods[i].cgroup()), listener_.port, static_cast<int>(3 + i)), 3 + i);
  drain_accepts(listener_);

  // team-a/api-1 (3) and team-b/web-1 (5): not the canary, ops or the host.
  std::string body =
      daemon.scrape_until([&](const std::string& b) { return connects(b, {dport_}) >= 8; });
  EXPECT_EQ(connects(body, pod_fragments(dport_, "team-a", "api-1", "api")), 3) << body;
  EXPECT_EQ(connects(body, pod_fragments(dport_, "team-b", "web-1", "web")), 5) << body;
  EXPECT_EQ(connects(body, {dport_}), 8) << body;
  // The host (2), team-a/api-1 (3) and team-a/api-canary (4).
  body = excluding.scrape_until([&](const std::string& b) { return connects(b, {dport_}) >= 9; });
  EXPECT_EQ(connects(body, pod_fragments(dport_, "", "", "")), 2) << body;
  EXPECT_EQ(connects(body, pod_fragments(dport_, "team-a", "api-1", "api")), 3) << body;
  EXPECT_EQ(connects(body, pod_fragments(dport_, "team-a", "api-canary", "api")), 4) << body;
  EXPECT_EQ(connects(body, {dport_}), 9) << body;
}

// kubelet makes a pod's cgroups before its log directories: connects made in between have
// no names, and those made once the directories exist have them.
TEST_F(PodIdentity, PodNamedOnceItsLogDirectoriesAppear) {
  const FakePod pod{Driver::kSystemd, "burstable", "cri-containerd", "late", "slow-start", "app"};
  PodDaemon daemon(listener_.port, logs_);
  ASSERT_TRUE(daemon.serving()) << daemon.process->stderr_text();
  const std::string cgroup = make(pod.cgroup());
  ASSERT_EQ(connect_from_cgroup(cgroup, listener_.port, 3), 3);
  drain_accepts(listener_);
  std::string body =
      daemon.scrape_until([&](const std::string& b) { return connects(b, {dport_}) == 3; });
  EXPECT_EQ(connects(body, pod_fragments(dport_, "", "", "")), 3) << body;

  pod.log(logs_);
  ASSERT_EQ(connect_from_cgroup(cgroup, listener_.port, 4), 4);
  drain_accepts(listener_);
  body = daemon.scrape_until([&](const std::string& b) { return connects(b, {dport_}) == 7; });
  EXPECT_EQ(connects(body, pod_fragments(dport_, "late", "slow-start", "app")), 4) << body;
  EXPECT_EQ(connects(body, pod_fragments(dport_, "", "", "")), 3) << body;
}

// What a tenant controls (its pod's names) or could make with write access to a log root
// or a delegated cgroup sub-tree must never name a connect after another namespace.
TEST_F(PodIdentity, HostileLogEntriesAndCgroupsNameNothing) {
  // The tenant's pod, with an honest pod directory beside the hostile entries.
  const FakePod tenant{Driver::kSystemd, "burstable", "cri-containerd", "tenant", "app", "app"};
  tenant.log(logs_);
  // 1. The same uid under a second pod directory that claims kube-system: ambiguous, so
  //    neither names it.
  logs_.pod_dir("kube-system_coredns_" + tenant.uid, "coredns");
  // 2. A directory split naively at '_' would read namespace "kube-system" and pod
  //    "coredns": "_" is in no Kubernetes name, so it is refused.
  const FakePod split{Driver::kCgroupfs, "", "", "x", "y", "c"};
  logs_.pod_dir("kube-system_coredns_x_" + split.uid, "c");
  logs_.container_log("coredns_x_kube-system_c-" + split.id + ".log", "/dev/null");
  // 3. Only a container log claiming kube-system, no pod directory for the uid.
  const FakePod orphan{Driver::kCgroupfs, "besteffort", "", "kube-system", "coredns", "dns"};
  logs_.container_log(orphan.container_log_name(), "/dev/null");
  // 4. Names Kubernetes never makes: a quote, upper case, a label value's worth of bytes.
  const FakePod quoted{Driver::kSystemd, "", "crio", "a", "b", "c"};
  logs_.pod_dir("ns\"} 1\nevil_pod_" + quoted.uid, "c");
  const FakePod upper{Driver::kSystemd, "besteffort", "docker", "a", "b", "c"};
  logs_.pod_dir("Kube-System_Pod_" + upper.uid, "c");
  const FakePod longer{Driver::kCgroupfs, "burstable", "", "a", "b", "c"};
  logs_.pod_dir(std::string(64, 'n') + "_p_" + longer.uid, "c");
  // 5. A honest pod directory, but the "pod cgroup" is made below a sub-tree delegated to
  //    an unprivileged user (as systemd delegates user@.service): not kubelet's.
  const FakePod victim{Driver::kCgroupfs, "", "", "victim", "db-0", "db"};
  victim.log(logs_);
  const std::string delegated = "tcx-pods-user-" + std::to_string(getpid()) + ".slice";
  make(delegated, 65534);
  const std::string forged = make(delegated + "/" + victim.cgroup(), 65534);
  const FakePod honest{Driver::kCgroupfs, "burstable", "", "honest", "ok", "ok"};
  honest.log(logs_);

  PodDaemon daemon(listener_.port, logs_);
  ASSERT_TRUE(daemon.serving()) << daemon.process->stderr_text();
  int n = 0;
  for (const FakePod* p : {&tenant, &split, &orphan, &quoted, &upper, &longer}) {
    ASSERT_EQ(connect_from_cgroup(make(p->cgroup()), listener_.port, 2), 2) << p->cgroup();
    n += 2;
  }
  ASSERT_EQ(connect_from_cgroup(forged, listener_.port, 2), 2);
  n += 2;
  ASSERT_EQ(connect_from_cgroup(make(honest.cgroup()), listener_.port, 3), 3);
  drain_accepts(listener_);

  const std::string body = daemon.scrape_until(
      [&](const std::string& b) { return connects(b, {dport_}) == static_cast<double>(n + 3); });
  EXPECT_EQ(connects(body, pod_fragments(dport_, "", "", "")), n) << body;
  EXPECT_EQ(connects(body, pod_fragments(dport_, "honest", "ok", "ok")), 3) << body;
  EXPECT_EQ(connects(body, {dport_}), n + 3) << body;
  // Refused at the scan: the two directories sharing a uid, the split directory and its
  // container log, the quoted, upper-case and long names.
  EXPECT_EQ(metric_value(body, "tcpconnect_kubelet_log_entries_rejected"), 7) << body;
}

}  // namespace
}  // namespace tcpconnect::testing
