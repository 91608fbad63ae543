// The built daemon started as root, as outside systemd (the quick start, a container
// image run as root): once attached and bound it continues as an unprivileged user in every
// thread, with only CAP_BPF, and still counts, serves and reloads.
#include <dirent.h>
#include <gmock/gmock.h>
#include <grp.h>
#include <gtest/gtest.h>
#include <linux/capability.h>
#include <pwd.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <set>
#include <sstream>
#include <thread>

#include "common/http.h"
#include "common/net.h"
#include "integration/daemon_process.h"

namespace tcpconnect::testing {
namespace {

using namespace std::chrono_literals;
using ::testing::HasSubstr;

constexpr uint64_t kCapBpf = uint64_t{1} << CAP_BPF;

struct Account {
  std::string name;
  uid_t uid = 0;
  gid_t gid = 0;
  std::set<gid_t> groups;
};

std::optional<Account> account(const std::string& name) {
  const passwd* pw = getpwnam(name.c_str());
  if (pw == nullptr) return std::nullopt;
  Account a{pw->pw_name, pw->pw_uid, pw->pw_gid, {}};
  std::vector<gid_t> groups(256);
  int n = static_cast<int>(groups.size());
  if (getgrouplist(pw->pw_name, pw->pw_gid, groups.data(), &n) < 0) return std::nullopt;
  a.groups.insert(groups.begin(), groups.begin() + n);
  return a;
}

// The user the daemon picks without --runas.user.
Account default_account() {
  if (auto a = account("tcpconnect-exporter")) return *a;
  return account("nobody").value();
}

// One task's credentials, from /proc/PID/task/TID/status.
struct TaskCreds {
  std::string tid;
  std::vector<unsigned long> uids, gids;
  std::set<gid_t> groups;
  uint64_t cap_eff = ~uint64_t{0}, cap_prm = ~uint64_t{0}, cap_bnd = ~uint64_t{0};
  int no_new_privs = -1;
};

std::vector<TaskCreds> task_creds(pid_t pid) {
  std::vector<TaskCreds> out;
  const std::string dir = "/proc/" + std::to_string(pid) + "/task";
  DIR* d = opendir(dir.c_str());
  if (d == nullptr) return out;
  while (const dirent* e = readdir(d)) {
    if (e->d_name[0] == '.') continue;
    TaskCreds t;
    t.tid = e->d_name;
    std::ifstream in(dir + "/" + e->d_name + "/status");
    std::string line;
    while (std::getline(in, line)) {
      std::istringstream fields(line.substr(line.find(':') + 1));
      const std::string key = line.substr(0, line.find(':'));
      std::string hex;
      unsigned long v = 0;
      if (key == "Uid")
        while (fields >> v) t.uids.push_back(v);
      else if (key == "Gid")
        while (fields >> v) t.gids.push_back(v);
      else if (key == "Groups")
        while (fields >> v) t.groups.insert(static_cast<gid_t>(v));
      else if (key == "CapEff" && fields >> hex)
        t.cap_eff = std::stoull(hex, nullptr, 16);
      else if (key == "CapPrm" && fields >> hex)
        t.cap_prm = std::stoull(hex, nullptr, 16);
      else if (key == "CapBnd" && fields >> hex)
        t.cap_bnd = std::stoull(hex, nullptr, 16);
      else if (key == "NoNewPrivs")
        fields >> t.no_new_privs;
    }
    out.push_back(t);
  }
  closedir(d);
  return out;
}

// Every task runs as `who`, with its groups only and CAP_BPF only.
void expect_every_task_is(pid_t pid, const Account& who) {
  const auto tasks = task_creds(pid);
  // The drain loop and civetweb's 16 workers at least, besides the main thread.
  EXPECT_GT(tasks.size(), 10u);
  for (const TaskCreds& t : tasks) {
    SCOPED_TRACE("task " + t.tid);
    EXPECT_EQ(t.uids, std::vector<unsigned long>(4, who.uid));
    EXPECT_EQ(t.gids, std::vector<unsigned long>(4, who.gid));
    EXPECT_EQ(t.groups, who.groups);
    EXPECT_EQ(t.cap_eff, kCapBpf);
    EXPECT_EQ(t.cap_prm, kCapBpf);
    EXPECT_EQ(t.cap_bnd, kCapBpf);
    EXPECT_EQ(t.no_new_privs, 1);
  }
}

class RootStartedDaemon : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!is_root()) GTEST_SKIP() << "needs root (starts the daemon as root)";
    char dir[] = "/tmp/tcpconnect_runas_XXXXXX";
    ASSERT_NE(mkdtemp(dir), nullptr);
    dir_ = dir;
    ASSERT_EQ(chmod(dir_.c_str(), 0755), 0);
    config_ = dir_ + "/config.yaml";
  }
  void TearDown() override {
    daemon_.reset();
    if (!dir_.empty()) run_command("rm -rf " + dir_);
  }
  // The config as the package installs it: 0640, owner root, group the daemon's user's.
  void write_config(const std::string& text, gid_t group) {
    {
      std::ofstream out(config_ + ".tmp");
      out << text;
    }
    ASSERT_EQ(chown((config_ + ".tmp").c_str(), 0, group), 0);
    ASSERT_EQ(chmod((config_ + ".tmp").c_str(), 0640), 0);
    ASSERT_EQ(rename((config_ + ".tmp").c_str(), config_.c_str()), 0);
  }
  void start(std::vector<std::string> extra = {}) {
    port_ = free_tcp_port();
    DaemonProcess::Options o;
    o.args = {"--config.file", config_, "--web.listen-address",
              "127.0.0.1:" + std::to_string(port_)};
    o.args.insert(o.args.end(), extra.begin(), extra.end());
    daemon_ = std::make_unique<DaemonProcess>(o);
    ASSERT_TRUE(daemon_->wait_serving(port_, 20s)) << daemon_->stderr_text();
  }
  std::string scrape() {
    auto r = http_get("127.0.0.1", port_, "/metrics");
    return r && r->status == 200 ? r->body : "";
  }
  // SIGHUP, then waits (bounded) for the log line that answers it.
  std::string reload() {
    const size_t before = daemon_->stderr_text().size();
    EXPECT_EQ(kill(daemon_->pid(), SIGHUP), 0);
    for (int i = 0; i < 200; ++i) {
      const std::string log = daemon_->stderr_text().substr(before);
      if (log.find("reload") != std::string::npos) return log;
      std::this_thread::sleep_for(25ms);
    }
    ADD_FAILURE() << "no reload in the log:\n" << daemon_->stderr_text();
    return "";
  }
  std::string dir_, config_;
  uint16_t port_ = 0;
  std::unique_ptr<DaemonProcess> daemon_;
};

TEST_F(RootStartedDaemon, ContinuesAsTheServiceUserOrNobodyInEveryThread) {
  const Account who = default_account();
  write_config("limits:\n  max_series: 1000\n", who.gid);
  start();
  EXPECT_THAT(daemon_->stderr_text(), HasSubstr("running as " + who.name));
  expect_every_task_is(daemon_->pid(), who);

  // Still counts (bpf() on the maps with CAP_BPF alone) and serves.
  Listener listener = listen_tcp(AF_INET, "127.0.0.1");
  ASSERT_EQ(connect_and_accept(listener, AF_INET, "127.0.0.1", 3), 3);
  const std::string body = scrape();
  EXPECT_EQ(metric_value(body, "tcpconnect_connects_total",
                         {"dport=\"" + std::to_string(listener.port) + "\""}),
            3)
      << body;

  // A reload reads the 0640 root:<group> file as that user.
  write_config("limits:\n  max_series: 2000\n", who.gid);
  EXPECT_THAT(reload(), HasSubstr("configuration reloaded"));
  EXPECT_EQ(metric_value(scrape(), "tcpconnect_config_last_reload_successful"), 1);

  // One it cannot read is refused, logged, and the running configuration stays.
  write_config("limits:\n  max_series: 3000\n", 0);
  ASSERT_EQ(chmod(config_.c_str(), 0600), 0);
  const std::string log = reload();
  EXPECT_THAT(log, HasSubstr("reload rejected, the running configuration stays"));
  EXPECT_THAT(log, HasSubstr("Permission denied"));
  EXPECT_EQ(metric_value(scrape(), "tcpconnect_config_last_reload_successful"), 0);
  EXPECT_TRUE(daemon_->running());
  ASSERT_EQ(connect_and_accept(listener, AF_INET, "127.0.0.1", 2), 2);
  EXPECT_EQ(metric_value(scrape(), "tcpconnect_connects_total",
                         {"dport=\"" + std::to_string(listener.port) + "\""}),
            5);
  // Threads started since (none should be) are no different.
  expect_every_task_is(daemon_->pid(), who);
  EXPECT_EQ(daemon_->stop(SIGTERM, 10s), 0) << daemon_->stderr_text();
}

TEST_F(RootStartedDaemon, RunasUserPicksAnotherUser) {
  // Debian's base system has the `daemon` account (uid 1).
  const auto who = account("daemon");
  if (!who) GTEST_SKIP() << "no `daemon` account on this system";
  write_config("{}\n", who->gid);
  start({"--runas.user", "daemon"});
  expect_every_task_is(daemon_->pid(), *who);
  EXPECT_FALSE(scrape().empty());
}

TEST_F(RootStartedDaemon, RunasRootKeepsUidZeroWithAWarning) {
  write_config("{}\n", 0);
  start({"--runas.user", "root"});
  EXPECT_THAT(daemon_->stderr_text(),
              HasSubstr("warning: --runas.user root: the daemon keeps uid 0"));
  for (const TaskCreds& t : task_creds(daemon_->pid())) {
    EXPECT_EQ(t.uids, std::vector<unsigned long>(4, 0));
    EXPECT_EQ(t.cap_eff, kCapBpf);
  }
}

// As in a container run as root: only the probes' capabilities and CAP_SETUID/CAP_SETGID (no
// CAP_SETPCAP: the bounding set stays as the runtime made it).
TEST_F(RootStartedDaemon, ContainerCapabilitiesAreEnough) {
  const Account who = default_account();
  write_config("{}\n", who.gid);
  port_ = free_tcp_port();
  DaemonProcess::Options o;
  o.wrapper = {"setpriv", "--bounding-set", "-all,+bpf,+perfmon,+net_admin,+setuid,+setgid"};
  o.args = {"--config.file", config_, "--web.listen-address", "127.0.0.1:" + std::to_string(port_)};
  daemon_ = std::make_unique<DaemonProcess>(o);
  ASSERT_TRUE(daemon_->wait_serving(port_, 20s)) << daemon_->stderr_text();
  for (const TaskCreds& t : task_creds(daemon_->pid())) {
    EXPECT_EQ(t.uids, std::vector<unsigned long>(4, who.uid));
    EXPECT_EQ(t.groups, who.groups);
    EXPECT_EQ(t.cap_eff, kCapBpf);
    EXPECT_EQ(t.cap_prm, kCapBpf);
  }
  Listener listener = listen_tcp(AF_INET, "127.0.0.1");
  ASSERT_EQ(connect_and_accept(listener, AF_INET, "127.0.0.1", 2), 2);
  EXPECT_EQ(metric_value(scrape(), "tcpconnect_connects_total",
                         {"dport=\"" + std::to_string(listener.port) + "\""}),
            2);
}

// As in the container image: never root, the capabilities permitted by the binary's file
// capabilities (setcap ...=p) and made effective by the daemon itself.
TEST_F(RootStartedDaemon, NonRootWithPermittedFileCapabilitiesRaisesThem) {
  if (run_command("command -v setcap >/dev/null") != 0) GTEST_SKIP() << "setcap is missing";
  write_config("{}\n", 65534);
  port_ = free_tcp_port();
  const std::string copy = dir_ + "/tcpconnect_exporter";
  DaemonProcess::Options o;
  o.wrapper = {"sh", "-c",
               "cp \"$0\" " + copy + " && setcap cap_bpf,cap_perfmon,cap_net_admin=p " + copy +
                   " && exec setpriv --reuid=65534 --regid=65534 --clear-groups " + copy +
                   " \"$@\""};
  o.args = {"--config.file", config_, "--web.listen-address", "127.0.0.1:" + std::to_string(port_)};
  daemon_ = std::make_unique<DaemonProcess>(o);
  ASSERT_TRUE(daemon_->wait_serving(port_, 20s)) << daemon_->stderr_text();
  for (const TaskCreds& t : task_creds(daemon_->pid())) {
    EXPECT_EQ(t.uids, std::vector<unsigned long>(4, 65534));
    EXPECT_EQ(t.cap_eff, kCapBpf);
  }
  Listener listener = listen_tcp(AF_INET, "127.0.0.1");
  ASSERT_EQ(connect_and_accept(listener, AF_INET, "127.0.0.1", 3), 3);
  EXPECT_EQ(metric_value(scrape(), "tcpconnect_connects_total",
                         {"dport=\"" + std::to_string(listener.port) + "\""}),
            3);
}

// Root without CAP_SETUID/CAP_SETGID cannot leave uid 0: a start-up error that says so,
// not a daemon that quietly stays root.
TEST_F(RootStartedDaemon, WithoutSetuidItIsAStartupError) {
  write_config("{}\n", 0);
  DaemonProcess::Options o;
  o.wrapper = {"setpriv", "--bounding-set", "-setuid,-setgid"};
  o.args = {"--config.file", config_, "--web.listen-address",
            "127.0.0.1:" + std::to_string(free_tcp_port())};
  DaemonProcess d(o);
  EXPECT_EQ(d.wait_exit(20s), 1);
  EXPECT_THAT(d.stderr_text(), HasSubstr("needs CAP_SETUID and CAP_SETGID")) << d.stderr_text();
}

TEST_F(RootStartedDaemon, UnknownOrEmptyUserIsAStartupError) {
  write_config("{}\n", 0);
  for (const std::string& name : {std::string("no-such-user-tcx"), std::string("")}) {
    DaemonProcess d({{"--config.file", config_, "--web.listen-address",
                      "127.0.0.1:" + std::to_string(free_tcp_port()), "--runas.user", name},
                     {},
                     false});
    EXPECT_EQ(d.wait_exit(20s), 1);
    const std::string err = d.stderr_text();
    EXPECT_THAT(err, HasSubstr(name.empty() ? "--runas.user: empty"
                                            : "--runas.user: no such user: " + name));
    EXPECT_THAT(err, ::testing::Not(HasSubstr("attach"))) << "failed only after attaching:\n"
                                                          << err;
  }
}

}  // namespace
}  // namespace tcpconnect::testing
