#include "bench_exporter.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <regex>
#include <sstream>
#include <thread>

#include "common/http.h"

namespace tcpconnect::bench {

using namespace std::chrono_literals;

int64_t monotonic_ns() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return int64_t{ts.tv_sec} * 1000000000 + ts.tv_nsec;
}

int64_t realtime_ns() {
  timespec ts{};
  clock_gettime(CLOCK_REALTIME, &ts);
  return int64_t{ts.tv_sec} * 1000000000 + ts.tv_nsec;
}

std::string run_command(const std::string& cmd) {
  std::string out;
  FILE* p = popen(cmd.c_str(), "r");
  if (!p) return out;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof(buf), p)) > 0) out.append(buf, n);
  pclose(p);
  return out;
}

long proc_status_kib(pid_t pid, const char* field) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  const std::string prefix = std::string(field) + ":";
  std::string line;
  while (std::getline(in, line))
    if (line.rfind(prefix, 0) == 0) return std::stol(line.substr(prefix.size()));
  return -1;
}

double process_cpu_seconds(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string stat;
  if (!std::getline(in, stat)) return -1;
  // Fields after the command (which may hold spaces): state is field 3, utime 14, stime 15.
  std::istringstream rest(stat.substr(stat.rfind(')') + 2));
  std::string field;
  unsigned long long utime = 0, stime = 0;
  for (int i = 3; i <= 15 && rest >> field; ++i) {
    if (i == 14) utime = std::stoull(field);
    if (i == 15) stime = std::stoull(field);
  }
  return static_cast<double>(utime + stime) / static_cast<double>(sysconf(_SC_CLK_TCK));
}

MapMemory map_memory(const std::string& prog_id) {
  MapMemory m;
  std::string prog = run_command("bpftool prog show id " + prog_id + " -j 2>/dev/null");
  std::smatch ids;
  if (!std::regex_search(prog, ids, std::regex("\"map_ids\":\\[([0-9,]*)\\]"))) return m;
  std::stringstream list(ids[1].str());
  std::string id;
  while (std::getline(list, id, ',')) {
    std::string map = run_command("bpftool map show id " + id + " -j 2>/dev/null");
    std::smatch name, bytes;
    std::regex_search(map, name, std::regex("\"name\":\"([^\"]*)\""));
    if (!std::regex_search(map, bytes, std::regex("\"bytes_memlock\":([0-9]+)"))) continue;
    const long long b = std::stoll(bytes[1].str());
    m.total += b;
    if (b >= 1 << 20) m.per_map += " " + name[1].str() + "=" + std::to_string(b >> 20) + "MiB";
  }
  return m;
}

std::string metric_label(const std::string& body, const std::string& metric,
                         const std::string& label) {
  std::smatch m;
  const std::regex re("(^|\n)" + metric + "\\{[^}\n]*\\b" + label + "=\"([^\"]*)\"");
  if (!std::regex_search(body, m, re)) return "";
  return m[2].str();
}

std::string probe_program_id(const std::string& body) {
  return metric_label(body, "tcpconnect_probe_info", "id");
}

std::string loopback_destination(uint32_t i) {
  const uint32_t a = (1u << 16) + i;
  return "127." + std::to_string((a >> 16) & 255) + "." + std::to_string((a >> 8) & 255) + "." +
         std::to_string(a & 255);
}

std::string write_temp_file(const std::string& stem, const std::string& text) {
  std::string path = "/tmp/" + stem + "_XXXXXX.yaml";
  int fd = mkstemps(path.data(), 5);
  if (fd < 0) return "";
  bool ok = write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size());
  close(fd);
  return ok ? path : "";
}

bool ExporterProcess::start(const Options& o) {
  web_port_ = o.web_port;
  int report[2] = {-1, -1};
  if (o.exec_ns && pipe2(report, O_CLOEXEC) != 0) return false;
  pid_ = fork();
  if (pid_ < 0) return false;
  if (pid_ == 0) {
    for (const auto& e : o.env) putenv(const_cast<char*>(e.c_str()));
    if (!o.stderr_path.empty()) {
      int fd = open(o.stderr_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
      if (fd >= 0) dup2(fd, STDERR_FILENO);
    }
    const std::string listen = "127.0.0.1:" + std::to_string(o.web_port);
    if (report[1] >= 0) {
      int64_t now = realtime_ns();
      (void)!write(report[1], &now, sizeof(now));
    }
    execl(o.binary.c_str(), o.binary.c_str(), "--config.file", o.config_file.c_str(),
          "--web.listen-address", listen.c_str(), "--log.level", o.log_level.c_str(), nullptr);
    _exit(127);
  }
  if (o.exec_ns) {
    close(report[1]);
    if (read(report[0], o.exec_ns, sizeof(*o.exec_ns)) != sizeof(*o.exec_ns)) *o.exec_ns = -1;
    close(report[0]);
  }
  return true;
}

std::optional<std::string> ExporterProcess::wait_until_serving(int timeout_ms) const {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  while (std::chrono::steady_clock::now() < deadline) {
    if (pid_ > 0 && waitpid(pid_, nullptr, WNOHANG) == pid_) return std::nullopt;
    auto r = tcpconnect::testing::http_get("127.0.0.1", web_port_, "/metrics", 30000);
    if (r && r->status == 200) return r->body;
    std::this_thread::sleep_for(50ms);
  }
  return std::nullopt;
}

double ExporterProcess::stop() {
  if (pid_ <= 0) return -1;
  const auto start = std::chrono::steady_clock::now();
  kill(pid_, SIGTERM);
  // Bounded: a daemon that does not exit within 30 s is killed.
  for (int i = 0; i < 3000; ++i) {
    if (waitpid(pid_, nullptr, WNOHANG) == pid_) {
      pid_ = -1;
      return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    }
    std::this_thread::sleep_for(10ms);
  }
  kill(pid_, SIGKILL);
  waitpid(pid_, nullptr, 0);
  pid_ = -1;
  return -1;
}

Scrape timed_scrape(uint16_t port, const std::string& path, bool accept_gzip, int timeout_ms) {
  Scrape s;
  const auto start = std::chrono::steady_clock::now();
  auto r = tcpconnect::testing::http_request("127.0.0.1", port, "GET", path, timeout_ms,
                                             accept_gzip ? "Accept-Encoding: gzip\r\n" : "");
  s.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  if (!r || r->status != 200) return s;
  s.ok = true;
  s.body_bytes = r->body.size();
  std::string headers = r->headers;
  std::transform(headers.begin(), headers.end(), headers.begin(), ::tolower);
  s.gzip = headers.find("content-encoding: gzip") != std::string::npos;
  s.body = std::move(r->body);
  return s;
}

Spread spread(std::vector<double> v) {
  Spread s;
  if (v.empty()) return s;
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  s.median = n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
  size_t rank = (n * 90 + 99) / 100;  // nearest rank, 1-based
  s.p90 = v[std::max<size_t>(rank, 1) - 1];
  s.max = v.back();
  return s;
}

}  // namespace tcpconnect::bench
