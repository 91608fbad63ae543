#include "trace/trace_probe.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "bpf/percpu_map.h"
#include "probes/backend_attach.h"
#include "trace.skel.h"

namespace tcpconnect {
namespace {

BackendPrograms programs_of(trace_bpf* skel) {
  return {{skel->progs.tt_tp_btf, &skel->links.tt_tp_btf},
          {skel->progs.tt_raw_tp, &skel->links.tt_raw_tp},
          {skel->progs.tt_tracepoint, &skel->links.tt_tracepoint}};
}

}  // namespace

TraceProbe::TraceProbe(Attached attached, ProbeBackend backend, Sink sink)
    : skel_(std::move(attached.skel)),
      filters_(std::move(attached.filters)),
      backend_(backend),
      sink_(std::move(sink)) {}

TraceProbe::~TraceProbe() {
  // The ring goes before the maps it reads.
  ring_.reset();
  if (skel_) spdlog::debug("detaching the trace probe ({})", to_string(backend_));
}

Result<TraceProbe::Attached> TraceProbe::try_backend(ProbeBackend backend, const Options& options) {
  // Open: one object holds the three variants; only the chosen one is loaded.
  Skel skel(trace_bpf::open());
  if (!skel)
    return Error{explain_bpf_failure("opening the trace BPF object", errno, kSetStateNeeds), errno};
  programs_of(skel.get()).load_only(backend);

  // Size the maps and set the mode before load.
  if (int err = bpf_map__set_max_entries(skel->maps.events, options.ring_bytes))
    return Error{explain_bpf_failure("sizing the ring buffer", err, kSetStateNeeds), -err};
  for (bpf_map* m : {skel->maps.pending, skel->maps.counts}) {
    if (int err = bpf_map__set_max_entries(m, options.max_entries))
      return Error{explain_bpf_failure("sizing map", err, kSetStateNeeds), -err};
  }
  skel->rodata->count_mode = options.count_mode;
  skel->rodata->wait_outcome = options.wait_outcome;

  // Load: the verifier runs here.
  if (int err = trace_bpf::load(skel.get()))
    return Error{explain_bpf_failure("loading", err, kSetStateNeeds), -err};

  // Fill the filters before anything can be emitted.
  auto filters = ConnectFilters::from_object(skel->obj);
  if (!filters) return filters.error();
  if (Status s = filters.value().apply(options.filters); !s) return s.error();

  // Attach the one program of this backend.
  if (Status s = programs_of(skel.get()).attach(backend); !s) return s.error();
  return Attached{std::move(skel), std::move(filters).value()};
}

Result<std::unique_ptr<TraceProbe>> TraceProbe::attach(const Options& options, Sink sink) {
  auto attached = attach_first_backend<Attached>(
      options.backend, "trace probe", [&](ProbeBackend b) { return try_backend(b, options); });
  if (!attached) return attached.error();
  auto& [done, backend] = attached.value();
  std::unique_ptr<TraceProbe> probe(new TraceProbe(std::move(done), backend, std::move(sink)));
  probe->ring_.reset(ring_buffer__new(bpf_map__fd(probe->skel_->maps.events),
                                      &TraceProbe::on_record, probe.get(), nullptr));
  if (!probe->ring_)
    return Error{explain_bpf_failure("opening the ring buffer", errno, kSetStateNeeds), errno};
  return probe;
}

int TraceProbe::on_record(void* ctx, void* data, size_t size) {
  auto* self = static_cast<TraceProbe*>(ctx);
  if (size < sizeof(tc_trace_event)) {
    ++self->malformed_;
    return 0;
  }
  tc_trace_event event;
  std::memcpy(&event, data, sizeof(event));
  // No exception may cross libbpf's C frames.
  try {
    self->sink_(event);
  } catch (const std::exception& e) {
    spdlog::warn("trace: dropping an event: {}", e.what());
  } catch (...) {
    spdlog::warn("trace: dropping an event");
  }
  return 0;
}

int TraceProbe::wait_fd() const { return ring_buffer__epoll_fd(ring_.get()); }

Result<size_t> TraceProbe::consume() {
  int n = ring_buffer__consume(ring_.get());
  if (n < 0) return Error{explain_bpf_failure("consuming the ring buffer", n, kSetStateNeeds), -n};
  return static_cast<size_t>(n);
}

Result<std::vector<tc_trace_event>> TraceProbe::take_pending() {
  const int fd = bpf_map__fd(skel_->maps.pending);
  std::vector<tc_trace_event> out;
  uint64_t key = 0, next = 0;
  bool first = true;
  // The program is still attached: new attempts may arrive while we walk. Deleting the
  // key the walk stands on restarts it from the first key, which only meets keys not
  // taken yet; the bound keeps a connect storm from holding the tool up.
  const size_t bound = 2 * static_cast<size_t>(bpf_map__max_entries(skel_->maps.pending));
  for (size_t steps = 0; steps < bound; ++steps) {
    if (bpf_map_get_next_key(fd, first ? nullptr : &key, &next) != 0) {
      if (errno != ENOENT) return Error::from_errno("reading the attempts in flight", errno);
      break;
    }
    first = false;
    key = next;
    tc_trace_event ev{};
    if (bpf_map_lookup_elem(fd, &key, &ev) != 0) continue;  // just taken by the program
    // Ours only if this delete is the one that removes it (the program checks too).
    if (bpf_map_delete_elem(fd, &key) != 0) continue;
    out.push_back(ev);
  }
  std::sort(out.begin(), out.end(),
            [](const tc_trace_event& a, const tc_trace_event& b) { return a.ts_ns < b.ts_ns; });
  return out;
}

Status TraceProbe::read_counts(
    const std::function<void(const tc_connect_key&, const tc_connect_counts&)>& visit) {
  return read_percpu_counters(bpf_map__fd(skel_->maps.counts), visit);
}

Result<TraceLosses> TraceProbe::losses() const {
  auto v = PercpuMapReader::read_array(bpf_map__fd(skel_->maps.errors), TC_TRACE_ERR_MAX);
  if (!v) return v.error();
  TraceLosses out;
  out.ring_full = v.value()[TC_TRACE_ERR_RING_FULL] + malformed_;
  out.pending_full = v.value()[TC_TRACE_ERR_PENDING_FULL];
  out.counts_full = v.value()[TC_TRACE_ERR_COUNTS_FULL];
  bpf_prog_info info{};
  uint32_t len = sizeof(info);
  int fd = bpf_program__fd(programs_of(skel_.get()).of(backend_).program);
  if (bpf_obj_get_info_by_fd(fd, &info, &len) != 0)
    return Error::from_errno("reading the trace program's statistics", errno);
  out.skipped_runs = info.recursion_misses;
  return out;
}

}  // namespace tcpconnect
