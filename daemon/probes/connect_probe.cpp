#include "probes/connect_probe.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstddef>
#include <cstring>

#include "bpf/percpu_map.h"
#include "connect.skel.h"

namespace tcpconnect {
namespace {

BackendPrograms programs_of(connect_bpf* skel) {
  return {{skel->progs.tc_tp_btf, &skel->links.tc_tp_btf},
          {skel->progs.tc_raw_tp, &skel->links.tc_raw_tp},
          {skel->progs.tc_tracepoint, &skel->links.tc_tracepoint}};
}

bpf_program* program_for(connect_bpf* skel, ProbeBackend backend) {
  return programs_of(skel).of(backend).program;
}

std::string explain(const std::string& step, int err) { return explain_bpf_failure(step, err); }

Status check_map_layout(bpf_map* map, uint32_t key_size, uint32_t value_size) {
  if (bpf_map__key_size(map) != key_size || bpf_map__value_size(map) != value_size)
    return Error{std::string("map ") + bpf_map__name(map) + " layout differs from the daemon's"};
  return Ok{};
}

}  // namespace

void ConnectProbe::SkelDeleter::operator()(connect_bpf* skel) const { connect_bpf::destroy(skel); }

ConnectProbe::ConnectProbe(Skel skel, ProbeBackend backend)
    : skel_(std::move(skel)), backend_(backend) {}

ConnectProbe::~ConnectProbe() {
  if (!skel_) return;
  if (keep_attached_) {
    // Only this process's fds are closed, at exit. Detaching would do no more for
    // tp_btf and raw_tp links, but for a perf-event link (tracepoint backend) libbpf also
    // disables the perf event, which the store's copy shares.
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
  programs_of(skel.get()).load_only(backend);

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
  auto opened = open_prepared(backend, options);
  if (!opened) return opened.error();
  Skel skel = std::move(opened).value();

  // Load: the verifier runs here.
  if (int err = connect_bpf::load(skel.get())) return Error{explain("loading", err), -err};

  // Configure the loaded maps (filters, key fields) while nothing runs yet.
  if (options.before_attach) {
    ConnectProbe unattached(std::move(skel), backend);
    Status s = options.before_attach(unattached);
    skel = std::move(unattached.skel_);
    if (!s) return s.error();
  }

  // Attach the one program of this backend.
  if (Status s = programs_of(skel.get()).attach(backend); !s) return s.error();
  return skel;
}

Result<std::unique_ptr<ConnectProbe>> ConnectProbe::attach(const Options& options) {
  auto attached = attach_first_backend<Skel>(
      options.backend, "connect probe", [&](ProbeBackend b) { return try_backend(b, options); });
  if (!attached) return attached.error();
  auto& [skel, backend] = attached.value();
  return std::unique_ptr<ConnectProbe>(new ConnectProbe(std::move(skel), backend));
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

template <typename Key, typename Value>
PercpuMapReader& ConnectProbe::reader_of(std::unique_ptr<PercpuMapReader>& reader, int map_fd,
                                         uint64_t max_words) {
  if (!reader || reader->fd() != map_fd)
    reader = std::make_unique<PercpuMapReader>(map_fd, sizeof(Key), sizeof(Value), max_words);
  return *reader;
}

Status ConnectProbe::read_connects(
    const std::function<void(const tc_connect_key&, const tc_connect_counts&)>& visit) {
  return read_percpu_counters(
      reader_of<tc_connect_key, tc_connect_counts>(connects_reader_,
                                                   bpf_map__fd(skel_->maps.connects)),
      visit);
}

Status ConnectProbe::read_latency(
    const std::function<void(const tc_latency_key&, const tc_latency_hist&)>& visit) {
  return read_percpu_counters(
      reader_of<tc_latency_key, tc_latency_hist>(latency_reader_,
                                                 bpf_map__fd(skel_->maps.latency)),
      visit);
}

Status ConnectProbe::read_destinations(
    const std::function<void(const tc_latency_key&, const tc_dest_activity&)>& visit) {
  static_assert(sizeof(tc_dest_activity) == 2 * sizeof(uint64_t));
  static_assert(offsetof(tc_dest_activity, last_connect_ns) == 0);
  // A last-connect time is the largest over CPUs (word 0), the connects their sum. Batched:
  // a walk with one get_next_key and one lookup per key cost two syscalls per destination
  // on every drain (200k per scrape at 100k destinations).
  return read_percpu_counters(
      reader_of<tc_latency_key, tc_dest_activity>(
          destinations_reader_, bpf_map__fd(skel_->maps.destinations), /*max_words=*/1),
      visit);
}

Status ConnectProbe::forget_destination(const tc_latency_key& key) {
  if (bpf_map_delete_elem(bpf_map__fd(skel_->maps.destinations), &key) != 0 && errno != ENOENT)
    return Error::from_errno("deleting from the destinations map", errno);
  return Ok{};
}

Result<uint64_t> ConnectProbe::sweep_pending(std::chrono::nanoseconds max_age,
                                             std::vector<tc_connect_key>* deferred_attempts) {
  const int fd = bpf_map__fd(skel_->maps.pending);
  timespec now{};
  clock_gettime(CLOCK_MONOTONIC, &now);  // bpf_ktime_get_ns() is CLOCK_MONOTONIC
  const uint64_t now_ns = static_cast<uint64_t>(now.tv_sec) * 1000000000ULL + now.tv_nsec;
  const uint64_t max_ns = static_cast<uint64_t>(max_age.count());
  std::vector<std::pair<uint64_t, tc_pending>> stale;
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
    if (now_ns > p.start_ns && now_ns - p.start_ns > max_ns) stale.emplace_back(key, p);
  }
  // Deleting claims an entry (the program counts a deferred attempt only if its own
  // delete succeeds). Lookup-and-delete also returns what was deleted: a socket that
  // connected again since the walk left a fresh entry, which goes back.
  uint64_t deleted = 0;
  for (auto& [k, walked] : stale) {
    tc_pending p = walked;
    if (bpf_map_lookup_and_delete_elem(fd, &k, &p) != 0) {
      if (errno == ENOENT) continue;
      if (bpf_map_delete_elem(fd, &k) != 0) continue;  // kernels before 5.14
      p = walked;
    } else if (!(now_ns > p.start_ns && now_ns - p.start_ns > max_ns)) {
      bpf_map_update_elem(fd, &k, &p, BPF_NOEXIST);
      continue;
    }
    ++deleted;
    if ((p.flags & TC_PENDING_ATTEMPT) && deferred_attempts) deferred_attempts->push_back(p.key);
  }
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
