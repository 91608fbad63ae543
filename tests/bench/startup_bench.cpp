// startup_bench: how long the exporter takes from exec to READY=1 (sd_notify) and to its
// first successful scrape. The bench is the service manager: it binds its own
// NOTIFY_SOCKET datagram socket, passes it in the environment, and timestamps every
// message on arrival (READY=1, and the STATUS= of each start-up phase: "starting the DNS
// capture", "attaching probes", "binding ..."), which splits the time into phases. The
// child timestamps itself (CLOCK_REALTIME, the clock of SO_TIMESTAMPNS) just before execve. Meanwhile the bench tries
// a scrape of /metrics every --poll-ms until one answers 200 (timed to its last byte).
// After both, SIGTERM, and the time to exit. Runs alternate between the variants.
//
//   sudo build/tests/bench/startup_bench --daemon build/tcpconnect_exporter
//        [--runs 10] [--dns both|on|off] [--config config/tcpconnect_exporter.yaml]
//        [--max-entries N] [--debug-log]
//
// --debug-log adds one run per variant at --log.level debug and prints its log lines with
// their offsets from exec (the log's clock has millisecond resolution). A benchmark: it
// prints figures and asserts nothing.
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <map>
#include <mutex>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "bench_exporter.h"
#include "common/datagram.h"
#include "common/net.h"

namespace {

using namespace std::chrono_literals;
using namespace tcpconnect::bench;

// Receives sd_notify datagrams on a socket of its own and timestamps them.
class NotifyListener {
 public:
  NotifyListener() {
    path_ = "/tmp/startup_bench_" + std::to_string(getpid()) + ".notify";
    unlink(path_.c_str());
    fd_ = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    sockaddr_un sa{};
    sa.sun_family = AF_UNIX;
    std::snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path_.c_str());
    if (bind(fd_, reinterpret_cast<sockaddr*>(&sa), sizeof(sa)) != 0) {
      std::perror("bind notify socket");
      std::exit(1);
    }
    // Writable by all, as systemd's /run/systemd/notify: the daemon sends READY=1 after it
    // has given up root for its service user.
    chmod(path_.c_str(), 0666);
    timeval tv{0, 20000};
    setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    // The kernel stamps each datagram on arrival (CLOCK_REALTIME): a late wake-up of this
    // thread on a busy machine does not move the figures.
    int one = 1;
    setsockopt(fd_, SOL_SOCKET, SO_TIMESTAMPNS, &one, sizeof(one));
    thread_ = std::thread([this] { run(); });
  }
  ~NotifyListener() {
    stop_ = true;
    thread_.join();
    close(fd_);
    unlink(path_.c_str());
  }
  const std::string& path() const { return path_; }

  struct Message {
    int64_t ns;
    std::string text;
  };
  std::vector<Message> take() {
    std::lock_guard<std::mutex> lock(mu_);
    return std::exchange(messages_, {});
  }
  // When READY=1 arrived, or -1.
  int64_t ready_ns() {
    std::lock_guard<std::mutex> lock(mu_);
    for (const auto& m : messages_)
      if (m.text.find("READY=1") != std::string::npos) return m.ns;
    return -1;
  }

 private:
  void run() {
    while (!stop_) {
      std::optional<tcpconnect::testing::Datagram> d = tcpconnect::testing::receive_datagram(fd_);
      if (!d || d->text.empty()) continue;
      const int64_t now = d->timestamp_ns >= 0 ? d->timestamp_ns : realtime_ns();
      for (int fd : d->fds) close(fd);
      std::lock_guard<std::mutex> lock(mu_);
      messages_.push_back({now, std::move(d->text)});
    }
  }
  std::string path_;
  int fd_ = -1;
  std::atomic<bool> stop_{false};
  std::thread thread_;
  std::mutex mu_;
  std::vector<Message> messages_;
};

std::string read_file(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// The phase a STATUS= text starts (short names for the table).
std::string phase_of(const std::string& status) {
  if (status.rfind("starting the DNS", 0) == 0) return "dns";
  if (status.rfind("attaching", 0) == 0) return "attach";
  if (status.rfind("binding", 0) == 0) return "bind";
  return "";
}

struct Run {
  double ready_ms = -1, scrape_ms = -1, stop_ms = -1;
  std::map<std::string, double> phase_start_ms;  // exec -> STATUS of the phase
};

struct Variant {
  std::string name;
  std::string config_file;
  std::vector<Run> runs;
};

Run run_once(const std::string& daemon, const Variant& v, NotifyListener& notify, int poll_ms,
             const std::string& log_level, const std::string& stderr_path, int64_t* exec_realtime_ns) {
  Run r;
  notify.take();
  const uint16_t web = tcpconnect::testing::closed_port(AF_INET, "127.0.0.1");
  ExporterProcess exporter;
  int64_t exec_ns = 0;
  ExporterProcess::Options o{daemon, v.config_file, web, log_level,
                             {"NOTIFY_SOCKET=" + notify.path()}, stderr_path, &exec_ns};
  if (!exporter.start(o) || exec_ns <= 0) return r;
  if (exec_realtime_ns) *exec_realtime_ns = exec_ns;
  // Bounded: 30 s for both READY and a first scrape.
  const int64_t deadline = exec_ns + int64_t{30} * 1000000000;
  int64_t scraped_ns = -1;
  while (realtime_ns() < deadline) {
    if (scraped_ns < 0) {
      Scrape s = timed_scrape(web, "/metrics", false, 10000);
      if (s.ok) scraped_ns = realtime_ns();
    }
    if (scraped_ns >= 0 && notify.ready_ns() >= 0) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(poll_ms));
  }
  std::this_thread::sleep_for(30ms);  // READY's datagram may still be on its way
  for (const auto& m : notify.take()) {
    std::istringstream lines(m.text);
    std::string line;
    while (std::getline(lines, line)) {
      const double ms = static_cast<double>(m.ns - exec_ns) / 1e6;
      if (line == "READY=1") r.ready_ms = ms;
      if (line.rfind("STATUS=", 0) == 0) {
        std::string p = phase_of(line.substr(7));
        if (!p.empty() && !r.phase_start_ms.count(p)) r.phase_start_ms[p] = ms;
      }
    }
  }
  if (scraped_ns >= 0) r.scrape_ms = static_cast<double>(scraped_ns - exec_ns) / 1e6;
  const double stop_s = exporter.stop();
  r.stop_ms = stop_s >= 0 ? stop_s * 1e3 : -1;
  return r;
}

std::string fmt(const Spread& s) {
  char buf[64];
  std::snprintf(buf, sizeof(buf), "%7.1f %7.1f", s.median, s.max);
  return buf;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"exec -> READY=1 and exec -> first scrape of the exporter"};
  std::string daemon = "build/tcpconnect_exporter";
  std::string config = std::string(TCPCONNECT_SOURCE_DIR) + "/config/tcpconnect_exporter.yaml";
  std::string dns = "both";
  int runs = 10, poll_ms = 2;
  uint32_t max_entries = 0;
  bool debug_log = false;
  app.add_option("--daemon", daemon, "the exporter binary");
  app.add_option("--config", config, "the config the variants start from (the shipped one)");
  app.add_option("--dns", dns, "variants: DNS capture on, off, or both")
      ->check(CLI::IsMember({"both", "on", "off"}));
  app.add_option("--runs", runs, "runs per variant")->check(CLI::Range(1, 200));
  app.add_option("--poll-ms", poll_ms, "pause between scrape attempts")->check(CLI::Range(1, 1000));
  app.add_option("--max-entries", max_entries, "probes.max_entries (default: the config's)");
  app.add_flag("--debug-log", debug_log, "one more run per variant with its debug log printed");
  CLI11_PARSE(app, argc, argv);

  std::string base = read_file(config);
  if (base.empty()) {
    std::fprintf(stderr, "cannot read %s\n", config.c_str());
    return 1;
  }
  auto replace_after = [](std::string text, const std::string& section, const std::string& from,
                          const std::string& to) -> std::string {
    size_t at = text.find("\n" + section + ":\n");
    size_t pos = at == std::string::npos ? at : text.find(from, at);
    if (pos == std::string::npos) return "";
    return text.replace(pos, from.size(), to);
  };
  if (max_entries > 0) {
    size_t at = base.find("max_entries:");
    size_t eol = at == std::string::npos ? at : base.find('\n', at);
    if (eol == std::string::npos) {
      std::fprintf(stderr, "no probes.max_entries in %s\n", config.c_str());
      return 1;
    }
    base.replace(at, eol - at, "max_entries: " + std::to_string(max_entries));
  }
  std::vector<Variant> variants;
  if (dns != "off") variants.push_back({"dns on", write_temp_file("startup_bench", base), {}});
  if (dns != "on") {
    std::string off = replace_after(base, "dns", "enabled: true", "enabled: false");
    if (off.empty()) {
      std::fprintf(stderr, "no dns.enabled: true in %s\n", config.c_str());
      return 1;
    }
    variants.push_back({"dns off", write_temp_file("startup_bench", off), {}});
  }

  NotifyListener notify;
  std::printf("# start-up: %s, %d runs per variant (alternated), scrape attempts every %d ms%s\n",
              config.c_str(), runs, poll_ms,
              max_entries ? (", max_entries " + std::to_string(max_entries)).c_str() : "");
  std::printf("%-8s %3s %9s %9s %9s %9s %9s %9s\n", "variant", "run", "->dns", "->attach",
              "->bind", "->READY", "->scrape", "stop");
  for (int i = 0; i < runs; ++i) {
    for (auto& v : variants) {
      Run r = run_once(daemon, v, notify, poll_ms, "warn", "", nullptr);
      auto phase = [&](const char* p) {
        auto it = r.phase_start_ms.find(p);
        return it == r.phase_start_ms.end() ? -1.0 : it->second;
      };
      std::printf("%-8s %3d %9.1f %9.1f %9.1f %9.1f %9.1f %9.1f\n", v.name.c_str(), i + 1,
                  phase("dns"), phase("attach"), phase("bind"), r.ready_ms, r.scrape_ms,
                  r.stop_ms);
      std::fflush(stdout);
      v.runs.push_back(r);
    }
  }

  std::printf("# ms from exec, median and max over %d runs\n", runs);
  std::printf("%-8s %-15s %-15s %-15s %-15s %-15s %-15s\n", "variant", "->attach", "attach",
              "bind->READY", "->READY", "->scrape", "SIGTERM->exit");
  for (const auto& v : variants) {
    std::vector<double> to_attach, attach, bind_ready, ready, scrape, stop;
    for (const auto& r : v.runs) {
      auto get = [&](const char* p) {
        auto it = r.phase_start_ms.find(p);
        return it == r.phase_start_ms.end() ? -1.0 : it->second;
      };
      if (get("attach") >= 0) to_attach.push_back(get("attach"));
      if (get("attach") >= 0 && get("bind") >= 0) attach.push_back(get("bind") - get("attach"));
      if (get("bind") >= 0 && r.ready_ms >= 0) bind_ready.push_back(r.ready_ms - get("bind"));
      if (r.ready_ms >= 0) ready.push_back(r.ready_ms);
      if (r.scrape_ms >= 0) scrape.push_back(r.scrape_ms);
      if (r.stop_ms >= 0) stop.push_back(r.stop_ms);
    }
    std::printf("%-8s %-15s %-15s %-15s %-15s %-15s %-15s\n", v.name.c_str(),
                fmt(spread(to_attach)).c_str(), fmt(spread(attach)).c_str(),
                fmt(spread(bind_ready)).c_str(), fmt(spread(ready)).c_str(),
                fmt(spread(scrape)).c_str(), fmt(spread(stop)).c_str());
  }
  std::printf("# ->attach: exec to STATUS=attaching probes (process start, config, DNS capture "
              "when on); attach: to STATUS=binding (maps, load+verify, attach, filters, first "
              "configure); bind->READY: civetweb start to READY=1\n");

  if (debug_log) {
    for (auto& v : variants) {
      const std::string log = "/tmp/startup_bench_" + std::to_string(getpid()) + ".log";
      int64_t start_rt = 0;
      Run r = run_once(daemon, v, notify, poll_ms, "debug", log, &start_rt);
      std::printf("# debug log, %s (READY at %.1f ms, first scrape at %.1f ms); offset ms from "
                  "exec, log clock 1 ms resolution\n",
                  v.name.c_str(), r.ready_ms, r.scrape_ms);
      // Lines of the log with their offsets from exec; of each run of consecutive libbpf
      // lines only the first and the last (with how many were between).
      std::istringstream in(read_file(log));
      std::string line;
      std::vector<std::pair<double, std::string>> lines;
      while (std::getline(in, line)) {
        // "2026-11-27T18:46:12.441 debug: ..." (or spdlog's "[2026-11-27 18:46:12.441] ...")
        std::tm tm{};
        int ms = 0;
        const char* p = line.c_str() + (line[0] == '[' ? 1 : 0);
        if (std::sscanf(p, "%d-%d-%d%*c%d:%d:%d.%d", &tm.tm_year, &tm.tm_mon, &tm.tm_mday,
                        &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &ms) != 7)
          continue;
        tm.tm_year -= 1900;
        tm.tm_mon -= 1;
        tm.tm_isdst = -1;
        const int64_t t = int64_t{mktime(&tm)} * 1000 + ms;
        size_t text = line.find(' ', 20);
        lines.emplace_back(static_cast<double>(t - start_rt / 1000000),
                           text == std::string::npos ? line : line.substr(text + 1));
      }
      for (size_t i = 0; i < lines.size(); ++i) {
        const bool lib = lines[i].second.find("libbpf: ") != std::string::npos;
        size_t j = i;
        while (lib && j + 1 < lines.size() &&
               lines[j + 1].second.find("libbpf: ") != std::string::npos)
          ++j;
        std::printf("%8.0f  %s\n", lines[i].first, lines[i].second.substr(0, 150).c_str());
        if (j > i + 1) std::printf("%8s  ... %zu libbpf lines ...\n", "", j - i - 1);
        if (j > i) std::printf("%8.0f  %s\n", lines[j].first, lines[j].second.substr(0, 150).c_str());
        i = j;
      }
      unlink(log.c_str());
    }
  }
  for (auto& v : variants) unlink(v.config_file.c_str());
  return 0;
}
