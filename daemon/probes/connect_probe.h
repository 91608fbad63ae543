// The connect probe: connect.bpf.c loaded and attached to sock:inet_sock_set_state
// through the first program type the kernel accepts (or the one configured).
#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "bpf/libbpf_owners.h"
#include "bpf/percpu_map.h"
#include "config/config.h"
#include "probes/backend_attach.h"
#include "probes/connect_filters.h"
#include "probes/connect_source.h"
#include "util/unique_fd.h"

struct connect_bpf;

namespace tcpconnect {

struct ProgramStats {
  std::string name;
  uint32_t id = 0;
  uint64_t run_time_ns = 0;  // only advances while kernel.bpf_stats_enabled=1
  uint64_t run_count = 0;
  // Runs the kernel skipped because the program was already running on that CPU (an
  // outcome transition in softirq interrupting a connect's run; for the classic
  // tracepoint, any kprobe or tracepoint BPF program running there). Attempts run in process
  // context and are never the skipped run; a skipped outcome leaves its stash entry
  // behind until sweep_pending() removes it.
  uint64_t recursion_misses = 0;
};

class ConnectProbe final : public ConnectSource {
 public:
  // The stash's slots unless Options say otherwise: few enough (56 KiB) to stay in a
  // core's cache, where a slot of a 16384-slot array (1.8 MiB, touched at a hash of the
  // socket's address) cost a cache miss on most connects; the pending hash takes the
  // connects in flight beyond them (see docs/benchmarks.md).
  static constexpr uint32_t kDefaultStashSlots = 512;
  // The words of tc_connect_counts that are the largest over CPUs, not their sum
  // (PercpuMapReader's max_words): last_connect_ns.
  static constexpr uint64_t kConnectsMaxWords = 1;

  struct Options {
    ProbeBackend backend = ProbeBackend::kAuto;
    uint32_t max_entries = 16384;
    // Slots of the in-flight stash array, rounded up to a power of two (at least 2); 0:
    // kDefaultStashSlots, or max_entries rounded up if smaller. Fewer slots send more
    // connects in flight together to the overflow hash (tests use that).
    uint32_t stash_slots = 0;
    // Runs after load and before attach (its maps exist, nothing counts yet): the
    // daemon fills the filter and settings maps here, so that not one connect is
    // counted under anything else. Not run for an adopted probe. An error fails attach.
    std::function<Status(ConnectProbe& unattached)> before_attach = nullptr;
  };

  // Loads and attaches. On failure the error says, per backend tried, why.
  static Result<std::unique_ptr<ConnectProbe>> attach(const Options& options);
  // Continues with the link, program and maps that an earlier process left attached
  // (named as handover_fds() names them), if they are exactly what this binary would
  // attach with these options: same program (tag), same maps, same load-time constants.
  // Takes them out of `fds` then; otherwise says why and leaves `fds` alone.
  static Result<std::unique_ptr<ConnectProbe>> adopt(const Options& options, NamedFds& fds);

  // The fds that keep this probe attached and its counts alive, by name: the link, the
  // program and every map.
  std::vector<std::pair<std::string, int>> handover_fds() const;
  // From now on destruction only closes this process's fds, and leaves the probe attached
  // for whoever holds copies of them (systemd's fd store).
  void keep_attached_after_exit() { keep_attached_ = true; }
  bool adopted() const { return static_cast<bool>(adopted_link_); }

  ~ConnectProbe() override;  // detaches and unloads everything, logs only
  ConnectProbe(const ConnectProbe&) = delete;
  ConnectProbe& operator=(const ConnectProbe&) = delete;

  ProbeBackend backend() const { return backend_; }
  std::string program_name() const;
  ProgramStats program_stats() const;

  Status read_connects(
      const std::function<void(const tc_connect_key&, const tc_connect_counts&)>& visit) override;
  Result<ErrorCounts> read_errors() override;

  // Deletes stash entries (array slots and overflow hash) of connects in flight for
  // longer than max_age (their outcome was missed). Returns how many. Bounded by the
  // stash's size. An entry that still owed its attempt (deferred for the local port,
  // TC_PENDING_ATTEMPT) is claimed by the deletion and its key appended to
  // *deferred_attempts: the caller counts it.
  Result<uint64_t> sweep_pending(std::chrono::nanoseconds max_age,
                                 std::vector<tc_connect_key>* deferred_attempts = nullptr);

  // The in-kernel filters (filters.bpf.h), changed at run time (connect_probe_runtime.cpp).
  ConnectFilters& filters();
  Status set_key_fields(uint32_t fields) override;
  Result<std::optional<tc_connect_counts>> take_connects(const tc_connect_key& key) override;
  // The stash's entries, slots and overflow hash, read without claiming any: a slot
  // being written or given back during the read is not visited.
  Status read_in_flight(const std::function<void(const tc_connect_key&)>& visit) override;
  // Whether outcomes read their key from the socket (no field or filter of the task:
  // TC_KEY_OF_TASK, TC_FILTERS_OF_TASK), as the settings and filter maps say now; the
  // stash then holds no connect, and what is in flight is what the counts say.
  bool in_flight_from_counts() override;

 private:
  using Skel = SkeletonPtr<connect_bpf>;

  ConnectProbe(Skel skel, ProbeBackend backend);
  ConnectProbe(Skel skel, ProbeBackend backend, UniqueFd link, UniqueFd prog);
  static Result<Skel> try_backend(ProbeBackend backend, const Options& options);
  // Opened, the backend's program selected, maps sized, constants set: ready to load.
  static Result<Skel> open_prepared(ProbeBackend backend, const Options& options);
  int prog_fd() const;
  // The reader of one of the per-CPU maps, made at the first read: its buffers serve
  // every drain (reads of one map never overlap: the drain makes them, under its lock).
  template <typename Key, typename Value>
  PercpuMapReader& reader_of(std::unique_ptr<PercpuMapReader>& reader, int map_fd,
                             uint64_t max_words = 0);

  Skel skel_;
  ProbeBackend backend_;
  // When adopted: skel_ is not loaded, its maps are the adopted ones, and these keep the
  // adopted program attached.
  UniqueFd adopted_link_;
  UniqueFd adopted_prog_;
  bool keep_attached_ = false;
  std::optional<ConnectFilters> filters_;
  bool lookup_and_delete_supported_ = true;
  std::unique_ptr<PercpuMapReader> connects_reader_;
  // The stash array, mapped into this process at the first sweep.
  struct StashMapping {
    void* addr = nullptr;
    size_t bytes = 0;
    ~StashMapping();
  };
  StashMapping stash_mapping_;
  Result<tc_stash_slot*> stash_slots();
  Result<uint64_t> sweep_stash_slots(uint64_t now_ns, uint64_t max_ns,
                                     std::vector<tc_connect_key>* deferred_attempts);
  // Visits every entry of the pending hash (connects whose stash slot was taken).
  Status walk_pending_hash(const std::function<void(uint64_t, const tc_pending&)>& visit);
  Result<uint64_t> sweep_pending_hash(uint64_t now_ns, uint64_t max_ns,
                                      std::vector<tc_connect_key>* deferred_attempts);
};

}  // namespace tcpconnect
