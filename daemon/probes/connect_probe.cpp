#include "probes/connect_probe.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <spdlog/spdlog.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <bit>
#include <cerrno>
#include <cstddef>
#include <cstring>

#include "bpf/percpu_map.h"
#include "connect.skel.h"
#include "util/clock.h"

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

std::string explain(const std::string& step, int err) {
  return explain_bpf_failure(step, err, kSetStateNeeds);
}

Status check_map_layout(bpf_map* map, uint32_t key_size, uint32_t value_size) {
  if (bpf_map__key_size(map) != key_size || bpf_map__value_size(map) != value_size)
    return Error{std::string("map ") + bpf_map__name(map) + " layout differs from the daemon's"};
  return Ok{};
}

// Whether a stash entry has been in flight for longer than max_ns at now_ns (both
// CLOCK_MONOTONIC, as bpf_ktime_get_ns()); an entry stamped after now_ns is not.
bool is_stale(const tc_pending& p, uint64_t now_ns, uint64_t max_ns) {
  return now_ns > p.start_ns && now_ns - p.start_ns > max_ns;
}

}  // namespace

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
  for (bpf_map* m : {skel->maps.connects, skel->maps.pending}) {
    if (int err = bpf_map__set_max_entries(m, options.max_entries))
      return Error{explain("sizing map", err), -err};
  }
  // The stash array: a power of two of slots, indexed by the top bits of a hash.
  const uint32_t wanted =
      options.stash_slots ? options.stash_slots : std::min(options.max_entries, kDefaultStashSlots);
  const uint32_t slots = std::bit_ceil(std::max<uint32_t>(wanted, 2));
  if (int err = bpf_map__set_max_entries(skel->maps.stash, slots))
    return Error{explain("sizing map", err), -err};
  skel->rodata->stash_shift = 64 - static_cast<uint32_t>(std::countr_zero(slots));
  // The start times of retransmitted connects: a slot per connect key the map can hold.
  const uint32_t starts = std::bit_ceil(std::max<uint32_t>(options.max_entries, 2));
  if (int err = bpf_map__set_max_entries(skel->maps.starts, starts))
    return Error{explain("sizing map", err), -err};
  skel->rodata->starts_shift = 64 - static_cast<uint32_t>(std::countr_zero(starts));
  for (Status s :
       {check_map_layout(skel->maps.connects, sizeof(tc_connect_key), sizeof(tc_connect_counts)),
        check_map_layout(skel->maps.stash, sizeof(uint32_t), sizeof(tc_stash_slot))}) {
    if (!s) return s.error();
  }
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
  static_assert(offsetof(tc_connect_counts, last_connect_ns) == 0);
  // The latest attempt is the largest over CPUs (word 0), everything else their sum.
  return read_percpu_counters(
      reader_of<tc_connect_key, tc_connect_counts>(
          connects_reader_, bpf_map__fd(skel_->maps.connects), kConnectsMaxWords),
      visit);
}

ConnectProbe::StashMapping::~StashMapping() {
  if (addr) munmap(addr, bytes);
}

Result<tc_stash_slot*> ConnectProbe::stash_slots() {
  if (!stash_mapping_.addr) {
    // An array's elements lie end to end, each rounded up to 8 bytes.
    static_assert(sizeof(tc_stash_slot) % 8 == 0);
    const size_t page = static_cast<size_t>(sysconf(_SC_PAGESIZE));
    const size_t bytes = bpf_map__max_entries(skel_->maps.stash) * sizeof(tc_stash_slot);
    const size_t mapped = (bytes + page - 1) / page * page;
    void* addr = mmap(nullptr, mapped, PROT_READ | PROT_WRITE, MAP_SHARED,
                      bpf_map__fd(skel_->maps.stash), 0);
    if (addr == MAP_FAILED) return Error::from_errno("mapping the stash array", errno);
    stash_mapping_.addr = addr;
    stash_mapping_.bytes = mapped;
  }
  return static_cast<tc_stash_slot*>(stash_mapping_.addr);
}

Result<uint64_t> ConnectProbe::sweep_pending(std::chrono::nanoseconds max_age,
                                             std::vector<tc_connect_key>* deferred_attempts) {
  const uint64_t now_ns = monotonic_ns();
  const uint64_t max_ns = static_cast<uint64_t>(max_age.count());
  auto slots = sweep_stash_slots(now_ns, max_ns, deferred_attempts);
  if (!slots) return slots.error();
  auto hashed = sweep_pending_hash(now_ns, max_ns, deferred_attempts);
  if (!hashed) return hashed.error();
  return slots.value() + hashed.value();
}

// The same claim as the program's (connect.bpf.c, struct tc_stash_slot): read the entry,
// then take the slot's owner word from the socket's address to 0. A slot being written
// (BUSY) or claimed meanwhile is left alone. What the claim cannot tell: the same socket
// finishing this entry and stashing a new connect in the same slot between the read and
// the claim (well under a microsecond, for an entry already max_age old); the new
// connect's outcome would then go uncounted, as a lost outcome.
Result<uint64_t> ConnectProbe::sweep_stash_slots(uint64_t now_ns, uint64_t max_ns,
                                                 std::vector<tc_connect_key>* deferred_attempts) {
  auto mapped = stash_slots();
  if (!mapped) return mapped.error();
  tc_stash_slot* slots = mapped.value();
  const uint32_t n = bpf_map__max_entries(skel_->maps.stash);
  uint64_t claimed = 0;
  for (uint32_t i = 0; i < n; ++i) {
    uint64_t owner = __atomic_load_n(&slots[i].sk, __ATOMIC_ACQUIRE);
    if (owner == 0 || (owner & TC_STASH_BUSY)) continue;
    tc_pending p;
    std::memcpy(&p, const_cast<const tc_pending*>(&slots[i].p), sizeof(p));
    if (!is_stale(p, now_ns, max_ns)) continue;
    if (!__atomic_compare_exchange_n(&slots[i].sk, &owner, 0, false, __ATOMIC_ACQ_REL,
                                     __ATOMIC_ACQUIRE))
      continue;
    ++claimed;
    if ((p.flags & TC_PENDING_ATTEMPT) && deferred_attempts) deferred_attempts->push_back(p.key);
  }
  return claimed;
}

Result<uint64_t> ConnectProbe::sweep_pending_hash(uint64_t now_ns, uint64_t max_ns,
                                                  std::vector<tc_connect_key>* deferred_attempts) {
  const int fd = bpf_map__fd(skel_->maps.pending);
  std::vector<std::pair<uint64_t, tc_pending>> stale;
  Status walked = walk_pending_hash([&](uint64_t key, const tc_pending& p) {
    if (is_stale(p, now_ns, max_ns)) stale.emplace_back(key, p);
  });
  if (!walked) return walked.error();
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
    } else if (!is_stale(p, now_ns, max_ns)) {
      bpf_map_update_elem(fd, &k, &p, BPF_NOEXIST);
      continue;
    }
    ++deleted;
    if ((p.flags & TC_PENDING_ATTEMPT) && deferred_attempts) deferred_attempts->push_back(p.key);
  }
  return deleted;
}

Status ConnectProbe::read_in_flight(const std::function<void(const tc_connect_key&)>& visit) {
  auto mapped = stash_slots();
  if (!mapped) return mapped.error();
  tc_stash_slot* slots = mapped.value();
  const uint32_t n = bpf_map__max_entries(skel_->maps.stash);
  for (uint32_t i = 0; i < n; ++i) {
    const uint64_t owner = __atomic_load_n(&slots[i].sk, __ATOMIC_ACQUIRE);
    if (owner == 0 || (owner & TC_STASH_BUSY)) continue;
    tc_pending p;
    std::memcpy(&p, const_cast<const tc_pending*>(&slots[i].p), sizeof(p));
    // Still the same owner: the copy is the entry it published.
    if (__atomic_load_n(&slots[i].sk, __ATOMIC_ACQUIRE) != owner) continue;
    visit(p.key);
  }
  return walk_pending_hash([&](uint64_t, const tc_pending& p) { visit(p.key); });
}

Status ConnectProbe::walk_pending_hash(
    const std::function<void(uint64_t, const tc_pending&)>& visit) {
  const int fd = bpf_map__fd(skel_->maps.pending);
  uint64_t key = 0, next = 0;
  bool first = true;
  // Bounded by the map's size: a walk that entries keep joining still ends.
  for (uint32_t i = 0; i <= bpf_map__max_entries(skel_->maps.pending); ++i) {
    if (bpf_map_get_next_key(fd, first ? nullptr : &key, &next) != 0) {
      if (errno != ENOENT) return Error::from_errno("walking the pending map", errno);
      break;
    }
    first = false;
    key = next;
    tc_pending p;
    if (bpf_map_lookup_elem(fd, &key, &p) == 0) visit(key, p);
  }
  return Ok{};
}

Result<ErrorCounts> ConnectProbe::read_errors() {
  auto v = PercpuMapReader::read_array(bpf_map__fd(skel_->maps.errors), TC_ERR_MAX);
  if (!v) return v.error();
  ErrorCounts out{};
  for (size_t i = 0; i < out.size(); ++i) out[i] = v.value()[i];
  return out;
}

}  // namespace tcpconnect
