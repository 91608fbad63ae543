// Label values other processes choose, played for real against the built daemon: a
// process names itself with bytes that are not UTF-8 (prctl(PR_SET_NAME)) from inside a
// cgroup2 directory whose name is not UTF-8 either, and connects to a 127.0.0.1
// listener, with comm and unit kept. The scrape must stay valid UTF-8 (Prometheus
// rejects the whole of it otherwise), pass promtool, and hold that connect's series with
// the names made safe (util/safe_text.h: U+FFFD for what is not UTF-8).
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>
#include <thread>

#include "common/http.h"
#include "common/net.h"
#include "common/utf8_check.h"
#include "integration/daemon_process.h"
#include "probes/cgroup_fs.h"

namespace tcpconnect::testing {
namespace {

using namespace std::chrono_literals;

constexpr std::string_view kR = "\xEF\xBF\xBD";  // U+FFFD

// A cgroup2 directory made for the test, removed (once empty) when it goes.
class ScratchCgroup {
 public:
  explicit ScratchCgroup(std::string path) : path_(std::move(path)) {
    made_ = mkdir(path_.c_str(), 0755) == 0;
  }
  ~ScratchCgroup() {
    // Its processes were reaped before; a cgroup can linger a moment after its last exit.
    for (int i = 0; made_ && i < 100 && rmdir(path_.c_str()) != 0 && errno == EBUSY; ++i)
      std::this_thread::sleep_for(20ms);
  }
  ScratchCgroup(const ScratchCgroup&) = delete;
  ScratchCgroup& operator=(const ScratchCgroup&) = delete;
  bool made() const { return made_; }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
  bool made_ = false;
};

// A file in /tmp holding text, removed when it goes.
struct TempFile {
  explicit TempFile(const std::string& text) {
    char name[] = "/tmp/tcpconnect_hostile_XXXXXX";
    const int fd = mkstemp(name);
    EXPECT_GE(fd, 0);
    close(fd);
    path = name;
    std::ofstream(path, std::ios::binary | std::ios::trunc) << text;
  }
  ~TempFile() { unlink(path.c_str()); }
  TempFile(const TempFile&) = delete;
  TempFile& operator=(const TempFile&) = delete;
  std::string path;
};

TEST(HostileLabels, NamesThatAreNotUtf8KeepTheScrapeValid) {
  TCPCONNECT_REQUIRE_ROOT();
  auto mount = find_cgroup2_mount();
  ASSERT_TRUE(mount) << mount.error().message;
  const std::string id = std::to_string(getpid());
  // 0xFF, 0xFE: never in UTF-8; C0 AF: an overlong '/'.
  ScratchCgroup cgroup(mount.value().mount_point + "/tcx-utf8-" + id + "-\xFF\xFE\xC0\xAF.scope");
  ASSERT_TRUE(cgroup.made()) << cgroup.path() << ": " << strerror(errno);
  const std::string unit =
      "tcx-utf8-" + id + "-" + std::string(kR) + std::string(kR) + std::string(kR) + ".scope";

  Listener listener = listen_tcp(AF_INET, "127.0.0.1");
  const TempFile config("labels:\n  keep: [dport, comm, unit]\nfilters:\n  ports: [" +
                        std::to_string(listener.port) + "]\n");
  const uint16_t port = free_tcp_port();
  DaemonProcess::Options options;
  options.args = {"--config.file", config.path, "--web.listen-address",
                  "127.0.0.1:" + std::to_string(port)};
  DaemonProcess daemon(options);
  ASSERT_TRUE(daemon.wait_serving(port, 20s)) << daemon.stderr_text();

  // Two names that differ only in bytes that are not UTF-8 (and a surrogate, ED A0 80):
  // both read "tcx" and three U+FFFD, one series.
  ASSERT_EQ(connect_from_cgroup(cgroup.path(), listener.port, 3, "tcx\xFF\xFE\xED\xA0\x80"), 3);
  ASSERT_EQ(connect_from_cgroup(cgroup.path(), listener.port, 2, "tcx\xFE\xFF\xED\xA0\x80"), 2);
  drain_accepts(listener);

  // A scrape drains first: the series is in the first body.
  auto response = http_get("127.0.0.1", port, "/metrics");
  ASSERT_TRUE(response && response->status == 200);
  const std::string& body = response->body;

  EXPECT_TRUE(is_well_formed_utf8(body));
  const TempFile scraped(body);
  std::string out;
  EXPECT_EQ(run_command("python3 -c 'import sys; sys.stdin.buffer.read().decode(\"utf-8\")' < " +
                            scraped.path + " 2>&1",
                        &out),
            0)
      << out;
  EXPECT_EQ(run_command("promtool check metrics < " + scraped.path + " 2>&1", &out), 0) << out;

  const std::string dport = "dport=\"" + std::to_string(listener.port) + "\"";
  const std::string comm =
      "comm=\"tcx" + std::string(kR) + std::string(kR) + std::string(kR) + "\"";
  EXPECT_EQ(metric_value(body, "tcpconnect_connects_total", {dport, comm, "unit=\"" + unit + "\""}),
            5)
      << body;
  // One series, not two that read the same.
  std::istringstream lines(body);
  int series = 0;
  for (std::string line; std::getline(lines, line);)
    series +=
        line.rfind("tcpconnect_connects_total{", 0) == 0 && line.find(dport) != std::string::npos;
  EXPECT_EQ(series, 1) << body;
}

}  // namespace
}  // namespace tcpconnect::testing
