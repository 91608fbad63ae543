// tcpconnect_exporter: counts outbound TCP connects with eBPF and serves them to
// Prometheus. The command line follows the Prometheus exporters' flag conventions.
#include <spdlog/pattern_formatter.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <systemd/sd-daemon.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "app/daemon.h"
#include "bpf/libbpf_log.h"
#include "config/config.h"
#include "trace/trace_command.h"
#include "web/web_tls.h"

namespace {

constexpr const char* kDefaultConfig = "/etc/tcpconnect_exporter/config.yaml";

// Whether stderr is the systemd journal's stream (JOURNAL_STREAM names its device and
// inode; a child that inherited the variable but not the stream is not).
bool stderr_is_journal() {
  const char* stream = std::getenv("JOURNAL_STREAM");
  unsigned long long dev = 0, ino = 0;
  struct stat st {};
  if (!stream || std::sscanf(stream, "%llu:%llu", &dev, &ino) != 2 || fstat(2, &st) != 0)
    return false;
  return st.st_dev == dev && st.st_ino == ino;
}

// "<3>" etc. before each line: journald reads it as the line's priority, so that
// `journalctl -p warning -u tcpconnect_exporter` shows warnings and errors only.
class JournalPriority : public spdlog::custom_flag_formatter {
 public:
  void format(const spdlog::details::log_msg& msg, const std::tm&,
              spdlog::memory_buf_t& dest) override {
    const char* p = SD_DEBUG;
    switch (msg.level) {
      case spdlog::level::critical: p = SD_CRIT; break;
      case spdlog::level::err: p = SD_ERR; break;
      case spdlog::level::warn: p = SD_WARNING; break;
      case spdlog::level::info: p = SD_INFO; break;
      default: break;
    }
    dest.append(p, p + std::strlen(p));
  }
  std::unique_ptr<custom_flag_formatter> clone() const override {
    return std::make_unique<JournalPriority>();
  }
};

void setup_logging(const std::string& level) {
  auto logger = spdlog::stderr_color_mt("tcpconnect_exporter");
  if (stderr_is_journal()) {
    // The journal stamps each line itself, and takes its priority from the prefix.
    auto formatter = std::make_unique<spdlog::pattern_formatter>();
    formatter->add_flag<JournalPriority>('*').set_pattern("%*%l: %v");
    logger->set_formatter(std::move(formatter));
  } else {
    logger->set_pattern("%Y-%m-%dT%H:%M:%S.%e %l: %v");
  }
  spdlog::set_default_logger(logger);
  spdlog::set_level(spdlog::level::from_str(level));
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"tcpconnect_exporter: outbound TCP connects, counted in the kernel with eBPF, "
               "served to Prometheus."};
  std::string config_file = kDefaultConfig;
  std::string listen_address;
  std::string log_level = "info";
  bool check_config = false;
  bool version = false;
  app.add_option("--config.file", config_file, "Path to the YAML configuration file")
      ->capture_default_str();
  app.add_option("--web.listen-address", listen_address,
                 "Address to listen on, overriding web.listen_address (e.g. :9476)");
  app.add_option("--log.level", log_level, "Only log messages at or above this level")
      ->check(CLI::IsMember({"debug", "info", "warn", "error"}))
      ->capture_default_str();
  std::string runas_user;
  app.add_option("--runas.user", runas_user,
                 "When started as root: the user to continue as once the probes are attached "
                 "and the port is bound (default: tcpconnect-exporter if it exists, else "
                 "nobody; root keeps uid 0, with a warning)");
  app.add_flag("--check-config", check_config, "Validate the configuration file and exit");
  app.add_flag("--version", version, "Print the version and exit");
  auto trace = tcpconnect::TraceCommand::add_to(app);
  CLI11_PARSE(app, argc, argv);

  if (trace->selected()) {
    auto options = trace->options();
    if (!options) {
      std::fprintf(stderr, "tcpconnect_exporter trace: %s\n", options.error().message.c_str());
      return 2;
    }
    // A foreground tool: only warnings and errors unless asked.
    setup_logging(app.count("--log.level") ? log_level : "warn");
    tcpconnect::install_libbpf_logger();
    return tcpconnect::run_trace(options.value());
  }

  if (version) {
    std::printf("tcpconnect_exporter %s\n", tcpconnect::version_string().c_str());
    return 0;
  }
  setup_logging(log_level);
  tcpconnect::install_libbpf_logger();

  tcpconnect::Config config;
  bool explicit_file = app.count("--config.file") > 0;
  if (explicit_file || access(config_file.c_str(), F_OK) == 0) {
    auto loaded = tcpconnect::load_config_file(config_file, tcpconnect::check_web_files);
    if (!loaded) {
      spdlog::error("{}", loaded.error().message);
      return 1;
    }
    config = std::move(loaded).value();
  } else {
    spdlog::info("no config file at {}: using the defaults", config_file);
    config_file.clear();
  }
  if (!listen_address.empty()) {
    config.web.listen_address = listen_address;
    if (auto s = tcpconnect::validate_config(config); !s) {
      spdlog::error("--web.listen-address: {}", s.error().message);
      return 1;
    }
  }
  if (check_config) {
    std::printf("%s: configuration is valid\n", config_file.empty() ? "defaults" : config_file.c_str());
    return 0;
  }
  tcpconnect::DaemonOptions options{config, config_file, listen_address, std::nullopt};
  if (app.count("--runas.user") > 0) options.runas_user = runas_user;
  return tcpconnect::run_daemon(options);
}
