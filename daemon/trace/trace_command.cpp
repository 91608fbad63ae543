#include "trace/trace_command.h"

#include <fmt/format.h>
#include <poll.h>
#include <signal.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <array>
#include <cerrno>
#include <charconv>
#include <cstdio>
#include <cstring>
#include <sstream>
#include <vector>

#include "dns/dns_layer.h"
#include "metrics/labels.h"
#include "probes/cgroup_fs.h"
#include "trace/trace_probe.h"
#include "util/clock.h"
#include "util/unique_fd.h"

namespace tcpconnect {
namespace {

constexpr const char* kDescription =
    "Trace TCP connects: tcpconnect(8) on this exporter's probes (the kernel's "
    "sock:inet_sock_set_state tracepoint, no kprobes). All connection attempts are "
    "traced, even if they ultimately fail.";

constexpr const char* kExamples = R"(examples:
    tcpconnect_exporter trace              # trace all TCP connect()s
    tcpconnect_exporter trace -t           # include timestamps
    tcpconnect_exporter trace -d           # include DNS queries associated with connects
    tcpconnect_exporter trace -p 181       # only trace PID 181
    tcpconnect_exporter trace -P 80        # only trace port 80
    tcpconnect_exporter trace -P 80,81     # only trace ports 80 and 81
    tcpconnect_exporter trace -P 8000-8999 # only trace ports 8000 to 8999
    tcpconnect_exporter trace -4           # only trace IPv4 family
    tcpconnect_exporter trace -6           # only trace IPv6 family
    tcpconnect_exporter trace -U           # include UID
    tcpconnect_exporter trace -u 1000      # only trace UID 1000
    tcpconnect_exporter trace -c           # count connects per src ip and dest ip/port
    tcpconnect_exporter trace -c -d        # the same, with the DNS name of each destination
    tcpconnect_exporter trace -L           # include LPORT while printing outputs
    tcpconnect_exporter trace --outcome    # include how each attempt ended
    tcpconnect_exporter trace --json | jq  # one JSON object per connect
    tcpconnect_exporter trace --pod        # include the Kubernetes pod of each connect
    tcpconnect_exporter trace --cgroupmap mappath  # only trace cgroups in this BPF map
    tcpconnect_exporter trace --mntnsmap mappath   # only trace mount namespaces in the map
)";

// The value's name without the choices CLI11 appends to it ("BACKEND:{auto,...}").
std::string value_name(const CLI::Option& opt) {
  const std::string name = opt.get_type_name();
  return name.substr(0, name.find(':'));
}

// "-p PID, --pid PID" as argparse writes an option's names.
std::string option_names(const CLI::Option& opt) {
  const std::string value =
      opt.get_items_expected_max() > 0 ? " " + value_name(opt) : std::string();
  std::string out;
  for (const std::string& s : opt.get_snames()) out += (out.empty() ? "-" : ", -") + s + value;
  for (const std::string& l : opt.get_lnames()) out += (out.empty() ? "--" : ", --") + l + value;
  return out;
}

// The shortest name of an option in a usage line: "[-p PID]".
std::string option_usage(const CLI::Option& opt) {
  std::string name =
      opt.get_snames().empty() ? "--" + opt.get_lnames().front() : "-" + opt.get_snames().front();
  if (opt.get_items_expected_max() > 0) name += " " + value_name(opt);
  return name;
}

// Words of `text` in lines of at most `width` columns, each but the first after `indent`;
// the first starts at `indent`'s column too.
std::string wrap(const std::string& text, size_t width, const std::string& indent) {
  std::istringstream in(text);
  std::string out, word;
  size_t column = indent.size();
  while (in >> word) {
    if (column > indent.size() && column + 1 + word.size() > width) {
      out += "\n" + indent;
      column = indent.size();
    } else if (column > indent.size()) {
      out += ' ';
      ++column;
    }
    out += word;
    column += word.size();
  }
  return out;
}

// The help of `trace` laid out like tcpconnect(8)'s: usage, description, options,
// examples.
std::string trace_help(const CLI::App* app) {
  const std::string prog = "usage: tcpconnect_exporter trace";
  const std::string indent(prog.size() + 1, ' ');
  std::string usage = prog, line;
  std::vector<std::string> items;
  std::string exclusive;  // -4 | -6
  for (const CLI::Option* opt : app->get_options()) {
    if (!opt->nonpositional()) continue;
    if (!opt->get_excludes().empty()) {
      exclusive += (exclusive.empty() ? "" : " | ") + option_usage(*opt);
      continue;
    }
    if (!exclusive.empty()) {
      items.push_back("[" + exclusive + "]");
      exclusive.clear();
    }
    items.push_back("[" + option_usage(*opt) + "]");
  }
  if (!exclusive.empty()) items.push_back("[" + exclusive + "]");
  size_t width = usage.size();
  for (const std::string& item : items) {
    if (width + 1 + item.size() > 80) {
      usage += "\n" + indent.substr(1);
      width = indent.size() - 1;
    }
    usage += " " + item;
    width += 1 + item.size();
  }

  std::ostringstream out;
  const std::string help_indent(24, ' ');
  out << usage << "\n\n" << wrap(kDescription, 80, "") << "\n\noptions:\n";
  for (const CLI::Option* opt : app->get_options()) {
    if (!opt->nonpositional()) continue;
    const std::string names = option_names(*opt);
    const std::string help = wrap(opt->get_description(), 80, help_indent);
    if (names.size() <= 20)
      out << fmt::format("  {:<21} {}\n", names, help);
    else
      out << "  " << names << "\n" << help_indent << help << "\n";
  }
  out << "\n" << kExamples;
  return out.str();
}

std::vector<std::string> split_commas(const std::string& s) {
  std::vector<std::string> out;
  std::string item;
  std::istringstream in(s);
  while (std::getline(in, item, ',')) out.push_back(item);
  return out;
}

Result<uint32_t> parse_number(const std::string& text, const char* option) {
  uint32_t v = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (text.empty() || ec != std::errc() || end != text.data() + text.size())
    return Error{std::string(option) + ": \"" + text + "\" is not a number"};
  return v;
}

Status parse_numbers(const std::string& text, const char* option, std::vector<uint32_t>* out) {
  for (const std::string& item : split_commas(text)) {
    auto v = parse_number(item, option);
    if (!v) return v.error();
    out->push_back(v.value());
  }
  return Ok{};
}

// The configuration file's checks, with its key names turned into the options.
Status check_filters(const FiltersConfig& filters) {
  Config config;
  config.filters = filters;
  Status s = validate_config(config);
  if (s) return s;
  static const std::array<std::pair<std::string_view, std::string_view>, 5> kOptions = {{
      {"filters.pids", "-p"},
      {"filters.uids", "-u"},
      {"filters.ports", "-P"},
      {"filters.cgroupmap", "--cgroupmap"},
      {"filters.mntnsmap", "--mntnsmap"},
  }};
  std::string message = s.error().message;
  for (const auto& [key, option] : kOptions) {
    if (message.compare(0, key.size(), key) != 0) continue;
    // "filters.ports[1]: ..." -> "-P: ..."
    size_t colon = message.find(": ");
    message = std::string(option) + message.substr(colon == std::string::npos ? key.size() : colon);
    break;
  }
  return Error{message};
}

}  // namespace

std::unique_ptr<TraceCommand> TraceCommand::add_to(CLI::App& app) {
  std::unique_ptr<TraceCommand> cmd(new TraceCommand());
  CLI::App* sub = app.add_subcommand(
      "trace", "Trace TCP connects as bcc's tcpconnect(8) does (options: trace -h)");
  cmd->app_ = sub;
  sub->set_help_flag("-h,--help", "show this help message and exit");
  TraceOptions& o = cmd->parsed_;
  sub->add_flag("-t,--timestamp", o.columns.timestamp, "include timestamp on output");
  sub->add_option("-p,--pid", cmd->pids_, "trace this PID only (or these, comma-separated)")
      ->type_name("PID");
  sub->add_option("-P,--port", cmd->ports_,
                  "comma-separated list of destination ports (or ranges, 8000-8999) to trace")
      ->type_name("PORT");
  CLI::Option* v4 = sub->add_flag("-4,--ipv4", cmd->ipv4_, "trace IPv4 family only");
  CLI::Option* v6 = sub->add_flag("-6,--ipv6", cmd->ipv6_, "trace IPv6 family only");
  v4->excludes(v6);
  v6->excludes(v4);
  sub->add_flag("-L,--lport", o.columns.lport,
                "include LPORT on output (each attempt is then printed when it ends)");
  sub->add_flag("-U,--print-uid", o.columns.uid, "include UID on output");
  sub->add_option("-u,--uid", cmd->uids_, "trace this UID only (or these, comma-separated)")
      ->type_name("UID");
  sub->add_flag("-c,--count", o.count, "count connects per src ip and dest ip/port");
  sub->add_option("--cgroupmap", o.filters.cgroupmap, "trace cgroups in this BPF map only")
      ->type_name("CGROUPMAP");
  sub->add_option("--mntnsmap", o.filters.mntnsmap, "trace mount namespaces in this BPF map only")
      ->type_name("MNTNSMAP");
  sub->add_flag("-d,--dns", o.columns.dns,
                "include likely DNS query associated with each connect, marked (stale) when "
                "the latest answer for that name no longer gives the address, past its TTL "
                "(JSON \"stale\")");
  sub->add_flag("--json", o.columns.json, "print one JSON object per connect (or -c row) per line");
  sub->add_flag("--outcome", o.columns.outcome,
                "include how each attempt ended: established, refused, timeout, reset, "
                "unreachable, aborted, other (printed when it ends), and its SYN "
                "retransmissions (RETRANS)");
  sub->add_flag("--pod", o.columns.pod,
                "include the Kubernetes NAMESPACE, POD and CONTAINER of each connect (JSON "
                "\"namespace\", \"pod\", \"container\"; - outside pods), from its cgroup "
                "and kubelet's log directories");
  sub->add_option(
         "--pod-logs-dir", o.pod_logs_dir,
         "kubelet's pod log directory, for --pod (default " + std::string(kDefaultPodLogsDir) + ")")
      ->type_name("DIR");
  sub->add_option("--container-logs-dir", o.container_logs_dir,
                  "kubelet's container log directory, for --pod (default " +
                      std::string(kDefaultContainerLogsDir) + ")")
      ->type_name("DIR");
  sub->add_option("--backend", cmd->backend_,
                  "program type to attach with: auto (tp_btf, raw_tp, then tracepoint), "
                  "tp_btf, raw_tp or tracepoint")
      ->check(CLI::IsMember({"auto", "tp_btf", "raw_tp", "tracepoint"}))
      ->type_name("BACKEND");
  sub->add_option("--ring-bytes", o.ring_bytes,
                  "size of the kernel's event ring buffer: a power of two, at least 4096")
      ->type_name("BYTES");
  sub->formatter_fn(
      [](const CLI::App* a, std::string, CLI::AppFormatMode) { return trace_help(a); });
  return cmd;
}

bool TraceCommand::selected() const { return app_->parsed(); }

Result<TraceOptions> TraceCommand::options() const {
  TraceOptions o = parsed_;
  if (Status s = parse_numbers(pids_, "-p", &o.filters.pids); !s) return s.error();
  if (Status s = parse_numbers(uids_, "-u", &o.filters.uids); !s) return s.error();
  for (const std::string& item : split_commas(ports_)) {
    auto range = parse_port_range(item);
    if (!range) return Error{"-P: " + range.error().message};
    o.filters.ports.push_back(range.value());
  }
  if (ipv4_) o.filters.families = {Family::kIpv4};
  if (ipv6_) o.filters.families = {Family::kIpv6};
  for (ProbeBackend b :
       {ProbeBackend::kAuto, ProbeBackend::kTpBtf, ProbeBackend::kRawTp, ProbeBackend::kTracepoint})
    if (to_string(b) == backend_) o.backend = b;
  if (o.ring_bytes < 4096 || (o.ring_bytes & (o.ring_bytes - 1)) != 0)
    return Error{"--ring-bytes: " + std::to_string(o.ring_bytes) +
                 " is not a power of two of at least 4096"};
  if (Status s = check_filters(o.filters); !s) return s.error();
  return o;
}

namespace {

// One run of the tool: the probe's records turned into lines, the -c table at the end,
// and what could not be recorded said on stderr as soon as it is known.
class Tracer {
 public:
  explicit Tracer(const TraceOptions& options) : options_(options) {}

  int run();

 private:
  void print_event(const tc_trace_event& ev);
  void name_pod(uint64_t cgroup_id, TraceLine* line);
  std::string query_for(const tc_connect_key& key, uint64_t connect_ns);
  void print_counts();
  void report_losses();
  // The DNS capture (with -d), then the probe. Errors read as "trace: <error>".
  Status attach(bool wait_for_outcome);
  // Prints events until SIGINT or SIGTERM arrive on signal_fd.
  Status follow(int signal_fd);
  // Attempts still waiting for their outcome (or their local port), as they stand: every
  // attempt made while tracing gets its line.
  Status print_in_flight();

  const TraceOptions& options_;
  std::unique_ptr<DnsLayer> dns_;
  std::unique_ptr<TraceProbe> probe_;
  // --pod: cgroup id -> pod (as the daemon's namespace, pod and container labels).
  std::unique_ptr<CgroupUnits> cgroups_;
  std::unique_ptr<KubeletLogs> kubelet_;
  uint64_t start_ns_ = 0;
  uint64_t dns_polled_ns_ = 0;
  TraceLosses reported_;
  uint64_t dns_lost_reported_ = 0;
};

// Named only by a lookup made in the connect's own network namespace.
std::string Tracer::query_for(const tc_connect_key& key, uint64_t connect_ns) {
  // The answer that named a destination reached the DNS ring before the connect that
  // used it: poll it once more for any connect made since the last poll.
  if (connect_ns == 0 || connect_ns >= dns_polled_ns_) {
    dns_polled_ns_ = monotonic_ns();
    dns_->poll_now();
  }
  std::array<uint8_t, 16> a;
  std::memcpy(a.data(), key.daddr, a.size());
  auto answer = dns_->cache().lookup(key.family, a, monotonic_ns(), key.netns);
  return dns_query_text(answer, is_loopback(key.family, a), connect_ns);
}

void Tracer::print_event(const tc_trace_event& ev) {
  TraceLine line;
  line.time_s = ev.ts_ns > start_ns_ ? static_cast<double>(ev.ts_ns - start_ns_) / 1e9 : 0;
  line.uid = ev.key.uid;
  line.pid = ev.key.tgid;
  line.comm.assign(ev.key.comm, strnlen(ev.key.comm, sizeof(ev.key.comm)));
  line.family = ev.key.family;
  line.saddr = format_address(ev.key.family, ev.key.saddr);
  line.lport = ev.lport;
  line.daddr = format_address(ev.key.family, ev.key.daddr);
  line.dport = ev.key.dport;
  line.outcome = ev.outcome;
  line.syn_retransmits = ev.syn_retransmits;
  if (dns_) {
    line.query = query_for(ev.key, ev.ts_ns);
    line.stale = dns_->is_stale(ev.key.netns, ev.key.family, ev.key.daddr);
  }
  if (cgroups_) name_pod(ev.key.cgroup_id, &line);
  std::string text = trace_line(options_.columns, line);
  text += '\n';
  std::fwrite(text.data(), 1, text.size(), stdout);
}

// A cgroup gone by the time its connect is printed (a short-lived pod) names no pod.
void Tracer::name_pod(uint64_t cgroup_id, TraceLine* line) {
  std::optional<PodCgroup> cgroup = cgroups_->pod_of(cgroup_id);
  if (!cgroup) return;
  if (std::optional<PodIdentity> pod = kubelet_->identity_of(*cgroup)) {
    line->namespace_name = std::move(pod->namespace_name);
    line->pod = std::move(pod->pod);
    line->container = std::move(pod->container);
  }
}

void Tracer::print_counts() {
  std::vector<TraceCountRow> rows;
  Status s = probe_->read_counts([&](const tc_connect_key& k, const tc_connect_counts& c) {
    TraceCountRow row;
    row.family = k.family;
    row.laddr = format_address(k.family, k.saddr);
    row.raddr = format_address(k.family, k.daddr);
    row.rport = k.dport;
    row.counts = c;
    if (dns_) row.query = query_for(k, 0);
    rows.push_back(std::move(row));
  });
  if (!s)
    std::fprintf(stderr, "tcpconnect_exporter trace: reading the counts: %s\n",
                 s.error().message.c_str());
  std::string text = count_table(options_.columns, std::move(rows));
  std::fwrite(text.data(), 1, text.size(), stdout);
}

void Tracer::report_losses() {
  auto now = probe_->losses();
  if (!now) {
    std::fprintf(stderr, "tcpconnect_exporter trace: %s\n", now.error().message.c_str());
    return;
  }
  const TraceLosses& l = now.value();
  if (l.total() != reported_.total()) {
    std::string parts;
    auto part = [&](uint64_t n, uint64_t before, const char* why) {
      if (n == before) return;
      parts += fmt::format("{}{} {}", parts.empty() ? "" : ", ", n - before, why);
    };
    part(l.ring_full, reported_.ring_full, "with the ring buffer full (output too slow)");
    part(l.pending_full, reported_.pending_full, "with too many attempts in flight");
    part(l.counts_full, reported_.counts_full, "with the count table full");
    part(l.skipped_runs, reported_.skipped_runs, "possibly, in program runs the kernel skipped");
    std::fprintf(stderr, "Lost %llu events (%s); %llu in all\n",
                 static_cast<unsigned long long>(l.total() - reported_.total()), parts.c_str(),
                 static_cast<unsigned long long>(l.total()));
    reported_ = l;
  }
  if (dns_) {
    uint64_t lost = dns_->state().lost.load(std::memory_order_relaxed);
    if (lost != dns_lost_reported_) {
      std::fprintf(stderr, "Lost %llu DNS responses: some QUERY may be missing\n",
                   static_cast<unsigned long long>(lost - dns_lost_reported_));
      dns_lost_reported_ = lost;
    }
  }
}

Status Tracer::attach(bool wait_for_outcome) {
  // The DNS capture first: answers to connects made right after the header are named.
  if (options_.columns.dns) {
    auto dns = DnsLayer::start(DnsLayer::options_from(DnsConfig{}));
    if (!dns) return Error{"-d: " + dns.error().message};
    dns_ = std::move(dns).value();
  }
  if (options_.columns.pod) {
    auto mount = find_cgroup2_mount();
    if (!mount) return Error{"--pod: " + mount.error().message};
    cgroups_ = std::make_unique<CgroupUnits>(mount.value());
    KubeletLogs::Options ko;
    ko.pod_logs_dir = options_.pod_logs_dir;
    ko.container_logs_dir = options_.container_logs_dir;
    kubelet_ = std::make_unique<KubeletLogs>(ko);
  }
  TraceProbe::Options po;
  po.backend = options_.backend;
  po.count_mode = options_.count;
  po.wait_outcome = wait_for_outcome;
  po.ring_bytes = options_.ring_bytes;
  po.filters = options_.filters;
  auto probe = TraceProbe::attach(po, [this](const tc_trace_event& ev) { print_event(ev); });
  if (!probe) return probe.error();
  probe_ = std::move(probe).value();
  start_ns_ = monotonic_ns();
  return Ok{};
}

// Bounded by the signal: every pass waits at most a second.
Status Tracer::follow(int signal_fd) {
  for (;;) {
    pollfd fds[2] = {{probe_->wait_fd(), POLLIN, 0}, {signal_fd, POLLIN, 0}};
    int r = ::poll(fds, 2, 1000);
    if (r < 0 && errno != EINTR) return Error{std::string("poll: ") + std::strerror(errno)};
    // A pod that appeared since the last pass is looked for once more per pass at most.
    if (cgroups_) {
      cgroups_->begin_round();
      kubelet_->begin_round();
    }
    auto n = probe_->consume();
    std::fflush(stdout);
    if (!n) return n.error();
    report_losses();
    if (r > 0 && (fds[1].revents & POLLIN)) return Ok{};
  }
}

Status Tracer::print_in_flight() {
  auto in_flight = probe_->take_pending();
  auto n = probe_->consume();  // what the program recorded before we took the rest
  if (!n) return n.error();
  if (!in_flight) return in_flight.error();
  for (const tc_trace_event& ev : in_flight.value()) print_event(ev);
  return Ok{};
}

int Tracer::run() {
  // Block the signals before any thread starts, so that only the signalfd sees them.
  sigset_t mask;
  sigemptyset(&mask);
  sigaddset(&mask, SIGINT);
  sigaddset(&mask, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &mask, nullptr);
  int sfd = signalfd(-1, &mask, SFD_CLOEXEC);
  if (sfd < 0) {
    std::fprintf(stderr, "tcpconnect_exporter trace: signalfd: %s\n", std::strerror(errno));
    return 1;
  }
  const UniqueFd closer(sfd);
  auto failed = [](const Status& s) {
    if (s) return false;
    std::fprintf(stderr, "tcpconnect_exporter trace: %s\n", s.error().message.c_str());
    return true;
  };

  // A line waits for the next state only when it shows what is known then; the -c table
  // has no LPORT.
  const bool wait_for_outcome =
      options_.columns.outcome || (options_.columns.lport && !options_.count);
  if (failed(attach(wait_for_outcome))) return 1;
  // Only now: whoever waits for the header knows that every connect from here on is seen.
  const bool json = options_.columns.json;
  std::fprintf(json ? stderr : stdout, "%s\n", kTraceBanner);
  if (!options_.count && !json) std::printf("%s\n", trace_header(options_.columns).c_str());
  std::fflush(stdout);

  if (failed(follow(sfd))) return 1;
  if (wait_for_outcome && !options_.count && failed(print_in_flight())) return 1;
  if (options_.count) print_counts();
  std::fflush(stdout);
  report_losses();
  return 0;
}

}  // namespace

int run_trace(const TraceOptions& options) { return Tracer(options).run(); }

}  // namespace tcpconnect
