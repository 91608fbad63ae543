#include "probes/connect_probe.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "bpf/percpu_map.h"
#include "connect.skel.h"
#include "probes/tracefs.h"

namespace tcpconnect {
namespace {

bpf_program* program_for(connect_bpf* skel, ProbeBackend backend) {
  switch (backend) {
    case ProbeBackend::kTpBtf:
      return skel->progs.tc_tp_btf;
    case ProbeBackend::kRawTp:
      return skel->progs.tc_raw_tp;
    case ProbeBackend::kTracepoint:
      return skel->progs.tc_tracepoint;
    case ProbeBackend::kAuto:
      break;
  }
  return nullptr;
}

// Says what an operator can do about the common failures instead of a bare errno.
std::string explain(const std::string& step, int err) {
  if (err < 0) err = -err;
  std::string msg = step + ": " + std::strerror(err);
  if (err == EPERM || err == EACCES) {
    if (geteuid() != 0) msg += " (run as root, or with CAP_BPF, CAP_PERFMON and CAP_NET_ADMIN)";
  } else if ((err == ESRCH || err == ENOENT || err == EINVAL) &&
             access("/sys/kernel/btf/vmlinux", R_OK) != 0) {
    msg += " (the kernel has no BTF: /sys/kernel/btf/vmlinux is missing)";
  }
  return msg;
}

Status check_map_layout(bpf_map* map, uint32_t key_size, uint32_t value_size) {
  if (bpf_map__key_size(map) != key_size || bpf_map__value_size(map) != value_size)
    return Error{std::string("map ") + bpf_map__name(map) + " layout differs from the daemon's"};
  return Ok{};
}

}  // namespace

std::vector<ProbeBackend> backends_to_try(ProbeBackend requested) {
  if (requested != ProbeBackend::kAuto) return {requested};
  return {ProbeBackend::kTpBtf, ProbeBackend::kRawTp, ProbeBackend::kTracepoint};
}

void ConnectProbe::SkelDeleter::operator()(connect_bpf* skel) const { connect_bpf::destroy(skel); }

ConnectProbe::ConnectProbe(Skel skel, ProbeBackend backend)
    : skel_(std::move(skel)), backend_(backend) {}

ConnectProbe::~ConnectProbe() {
  if (!skel_) return;
  if (keep_attached_) {
    // A perf-event link's detach also disables the shared perf event: only forget it.
    for (bpf_link* link : {skel_->links.tc_tp_btf, skel_->links.tc_raw_tp,
                           skel_->links.tc_tracepoint})
      if (link) bpf_link__disconnect(link);
    spdlog::debug("leaving the connect probe ({}) attached", to_string(backend_));
    return;
  }
  spdlog::debug("detaching the connect probe ({})", to_string(backend_));
}

int ConnectProbe::prog_fd() const {
  return adopted_prog_ ? adopted_prog_.get() : bpf_program__fd(program_for(skel_.get(), backend_));
}

Result<ConnectProbe::Skel> ConnectProbe::open_prepared(ProbeBackend backend,
                                                       const Options& options) {
  // Open: one object holds the three variants; only the chosen one is loaded.
  Skel skel(connect_bpf::open());
  if (!skel) return Error{explain("opening the BPF object", errno), errno};
  for (ProbeBackend b : {ProbeBackend::kTpBtf, ProbeBackend::kRawTp, ProbeBackend::kTracepoint})
    bpf_program__set_autoload(program_for(skel.get(), b), b == backend);

  // Size the maps before load.
  for (bpf_map* m : {skel->maps.connects, skel->maps.latency, skel->maps.pending,
                     skel->maps.destinations}) {
    if (int err = bpf_map__set_max_entries(m, options.max_entries))
      return Error{explain("sizing map", err), -err};
  }
  for (Status s : {check_map_layout(skel->maps.connects, sizeof(tc_connect_key),
                                    sizeof(tc_connect_counts)),
                   check_map_layout(skel->maps.latency, sizeof(tc_latency_key),
                                    sizeof(tc_latency_hist))}) {
    if (!s) return s.error();
  }

  skel->rodata->track_destinations = options.track_destinations;
  return skel;
}

Result<ConnectProbe::Skel> ConnectProbe::try_backend(ProbeBackend backend, const Options& options) {
  if (backend == ProbeBackend::kTracepoint) {
    Status s = ensure_tracefs();
    if (!s) return s.error();
  }
  auto opened = open_prepared(backend, options);
  if (!opened) return opened.error();
  Skel skel = std::move(opened).value();

  // Load: the verifier runs here.
  if (int err = connect_bpf::load(skel.get())) return Error{explain("loading", err), -err};

  // Attach the one program of this backend.
  bpf_program* prog = program_for(skel.get(), backend);
  bpf_link* link = bpf_program__attach(prog);
  if (!link) return Error{explain("attaching", errno), errno};
  switch (backend) {
    case ProbeBackend::kTpBtf:
      skel->links.tc_tp_btf = link;
      break;
    case ProbeBackend::kRawTp:
      skel->links.tc_raw_tp = link;
      break;
    default:
      skel->links.tc_tracepoint = link;
      break;
  }
  return skel;
}

Result<std::unique_ptr<ConnectProbe>> ConnectProbe::attach(const Options& options) {
  std::string failures;
  for (ProbeBackend b : backends_to_try(options.backend)) {
    auto skel = try_backend(b, options);
    if (skel) {
      spdlog::info("connect probe attached to sock:inet_sock_set_state via {}", to_string(b));
      return std::unique_ptr<ConnectProbe>(new ConnectProbe(std::move(skel).value(), b));
    }
    spdlog::debug("backend {} failed: {}", to_string(b), skel.error().message);
    if (!failures.empty()) failures += "; ";
    failures += std::string(to_string(b)) + ": " + skel.error().message;
    if (skel.error().errnum == EPERM && geteuid() != 0) break;  // no backend can do better
  }
  return Error{"cannot attach the connect probe (" + failures + ")"};
}

std::string ConnectProbe::program_name() const {
  return bpf_program__name(program_for(skel_.get(), backend_));
}

ProgramStats ConnectProbe::program_stats() const {
  ProgramStats stats;
  stats.name = program_name();
  bpf_prog_info info{};
  uint32_t len = sizeof(info);
  if (bpf_obj_get_info_by_fd(prog_fd(), &info, &len) == 0) {
    stats.id = info.id;
    stats.run_time_ns = info.run_time_ns;
    stats.run_count = info.run_cnt;
    stats.recursion_misses = info.recursion_misses;
  }
  return stats;
}

Status ConnectProbe::read_connects(
    const std::function<void(const tc_connect_key&, const tc_connect_counts&)>& visit) {
  PercpuMapReader reader(bpf_map__fd(skel_->maps.connects), sizeof(tc_connect_key),
                         sizeof(tc_connect_counts));
  return reader.read_all([&](const void* k, const uint64_t* v) {
    tc_connect_key key;
    tc_connect_counts counts;
    std::memcpy(&key, k, sizeof(key));
    std::memcpy(&counts, v, sizeof(counts));
    visit(key, counts);
  });
}

Status ConnectProbe::read_latency(
    const std::function<void(const tc_latency_key&, const tc_latency_hist&)>& visit) {
  PercpuMapReader reader(bpf_map__fd(skel_->maps.latency), sizeof(tc_latency_key),
                         sizeof(tc_latency_hist));
  return reader.read_all([&](const void* k, const uint64_t* v) {
    tc_latency_key key;
    tc_latency_hist hist;
    std::memcpy(&key, k, sizeof(key));
    std::memcpy(&hist, v, sizeof(hist));
    visit(key, hist);
  });
}

Status ConnectProbe::read_destinations(
    const std::function<void(const tc_latency_key&, const tc_dest_activity&)>& visit) {
  static_assert(sizeof(tc_dest_activity) == 2 * sizeof(uint64_t));
  const int fd = bpf_map__fd(skel_->maps.destinations);
  const int ncpus = libbpf_num_possible_cpus();
  if (ncpus <= 0) return Error{"counting possible CPUs", -ncpus};
  std::vector<tc_dest_activity> values(static_cast<size_t>(ncpus));
  tc_latency_key key{}, next{};
  bool first = true;
  // A last-connect time is the largest over CPUs, not a sum: walk the keys here rather
  // than through the summing PercpuMapReader. Bounded by the map's size.
  for (uint32_t n = 0; n <= bpf_map__max_entries(skel_->maps.destinations); ++n) {
    if (bpf_map_get_next_key(fd, first ? nullptr : &key, &next) != 0) {
      if (errno == ENOENT) return Ok{};
      return Error::from_errno("walking the destinations map", errno);
    }
    first = false;
    key = next;
    if (bpf_map_lookup_elem(fd, &key, values.data()) != 0) {
      if (errno == ENOENT) continue;  // deleted meanwhile
      return Error::from_errno("reading the destinations map", errno);
    }
    tc_dest_activity total{};
    for (const tc_dest_activity& v : values) {
      total.last_connect_ns = std::max(total.last_connect_ns, v.last_connect_ns);
      total.connects += v.connects;
    }
    visit(key, total);
  }
  return Ok{};
}

Result<uint64_t> ConnectProbe::sweep_pending(std::chrono::nanoseconds max_age) {
  const int fd = bpf_map__fd(skel_->maps.pending);
  timespec now{};
  clock_gettime(CLOCK_MONOTONIC, &now);  // bpf_ktime_get_ns() is CLOCK_MONOTONIC
  const uint64_t now_ns = static_cast<uint64_t>(now.tv_sec) * 1000000000ULL + now.tv_nsec;
  const uint64_t max_ns = static_cast<uint64_t>(max_age.count());
  std::vector<uint64_t> stale;
  uint64_t key = 0, next = 0;
  bool first = true;
  for (uint32_t n = 0; n <= bpf_map__max_entries(skel_->maps.pending); ++n) {
    if (bpf_map_get_next_key(fd, first ? nullptr : &key, &next) != 0) {
      if (errno != ENOENT) return Error::from_errno("walking the pending map", errno);
      break;
    }
    first = false;
    key = next;
    tc_pending p;
    if (bpf_map_lookup_elem(fd, &key, &p) != 0) continue;
    if (now_ns > p.start_ns && now_ns - p.start_ns > max_ns) stale.push_back(key);
  }
  uint64_t deleted = 0;
  for (uint64_t k : stale) deleted += bpf_map_delete_elem(fd, &k) == 0;
  return deleted;
}

Result<ErrorCounts> ConnectProbe::read_errors() {
  auto v = PercpuMapReader::read_array(bpf_map__fd(skel_->maps.errors), TC_ERR_MAX);
  if (!v) return v.error();
  ErrorCounts out{};
  for (size_t i = 0; i < out.size(); ++i) out[i] = v.value()[i];
  return out;
}

}  // namespace tcpconnect
