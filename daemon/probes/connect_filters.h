// The user side of bpf/filters.bpf.h: makes a loaded object's filter maps say what a
// FiltersConfig says, at start and on every reload, without reloading or reattaching
// any program. Shared by the daemon's connect probe and the trace subcommand (each BPF
// object that includes filters.bpf.h has its own maps with the same names).
//
// A change is made in three steps so that a connect never sees a filter that is active
// but half-filled: filters that go away or change kind are switched off first, the maps
// are brought to their new contents (entries added before stale ones are deleted), then
// the new set of active filters is switched on. For the microseconds between those map
// updates a changed list may match the union of its old and new entries.
//
// A change is all or nothing: what can fail for a reason of the configuration (cgroup
// paths, pinned maps missing or of another layout) is checked before any map is written,
// and when a map update fails even so (the kernel refuses a pinned map in a slot for a
// difference of layout the checks cannot see, a bpf() error) every map is put back as it
// was before the change, read from the kernel itself, and the old configuration stays.
#pragma once

#include <linux/types.h>

#include <array>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "config/config.h"
#include "probes/cgroup_fs.h"
#include "shared/connect.h"
#include "shared/filters.h"
#include "util/result.h"
#include "util/unique_fd.h"

struct bpf_object;

namespace tcpconnect {

// What the filter maps must hold. Pure data, built without touching the kernel.
struct FilterPlan {
  tc_filter_config config{};  // flags, families, cgroup_levels (map-in-map flags excluded)
  std::set<uint32_t> pids;
  std::set<uint32_t> uids;
  std::array<uint64_t, TC_FILTER_PORT_WORDS> ports{};  // bit per destination port
  std::set<std::string> comms;
  std::map<uint64_t, uint32_t> cgroups;  // resolved cgroup id -> level
  std::vector<tc_cidr_key> include;
  std::vector<tc_cidr_key> exclude;
  // Configured cgroups that do not exist (yet): the filter matches none of them until
  // they appear (refresh_cgroups()).
  std::vector<std::string> missing_cgroups;
};

using CgroupResolver = std::function<Result<ResolvedCgroup>(const std::string& path)>;

// The plan of a validated FiltersConfig. A cgroup the resolver cannot find is listed in
// missing_cgroups; any other resolver error is returned.
Result<FilterPlan> plan_filters(const FiltersConfig& filters, const CgroupResolver& resolve);

// The LPM key of a network (family byte first).
tc_cidr_key cidr_key(const Cidr& cidr);

class ConnectFilters {
 public:
  struct MapFds {
    int config = -1, pids = -1, uids = -1, ports = -1, comms = -1, cgroups = -1;
    int cgroupmap = -1, cgroupmap32 = -1, mntnsmap = -1, mntnsmap32 = -1;
    int include = -1, exclude = -1;
  };

  // The filter maps of an object that includes filters.bpf.h, by name. The fds stay
  // owned by the object, which must outlive this.
  static Result<ConnectFilters> from_object(bpf_object* obj);
  explicit ConnectFilters(MapFds fds) : fds_(fds), mu_(std::make_unique<std::mutex>()) {}

  // Everything that can fail before a map changes: the cgroup2 mount and paths, the
  // pinned cgroupmap/mntnsmap (must exist and have bcc's layout).
  struct Prepared {
    FilterPlan plan;
    FiltersConfig config;
    UniqueFd cgroupmap;
    UniqueFd mntnsmap;
    bool cgroupmap32 = false;  // 4-byte values (bcc's mntnsmap layout)
    bool mntnsmap32 = false;
  };
  Result<Prepared> prepare(const FiltersConfig& filters) const;
  // Brings the maps to `prepared`. Fails only when the kernel refuses an update; then
  // every map is as it was before the call (unless restoring failed too, which the error
  // says).
  Status commit(Prepared prepared);
  // prepare + commit. apply and refresh_cgroups may run on different threads.
  Status apply(const FiltersConfig& filters);
  // Puts the maps back as they were before the last successful commit or apply (once: a
  // second call without a commit in between does nothing): a reload whose later step
  // failed takes its filters back.
  Status revert();

  // What the filter maps hold, read from the kernel: every key of the hash and trie
  // maps, the port words, the configuration slot, the id of the map in each map-in-map
  // slot (0: empty).
  struct MapContents {
    tc_filter_config config{};
    std::set<std::string> pids, uids, comms, cgroups, include, exclude;  // raw keys
    std::array<uint64_t, TC_FILTER_PORT_WORDS> ports{};
    std::array<uint32_t, 4> slot_ids{};  // cgroupmap, cgroupmap32, mntnsmap, mntnsmap32
    bool operator==(const MapContents& o) const;
  };
  Result<MapContents> read_maps() const;

  // Resolves the configured cgroup paths again (a restarted unit gets a new cgroup, so
  // a new id) and updates the map when an id changed. Cheap: one stat per path.
  Status refresh_cgroups();

  FiltersConfig applied() const;
  std::vector<std::string> missing_cgroups() const;

 private:
  // The maps' contents with the pinned maps the slots hold (shared: the same map may be
  // in the running state, a saved one and the one being written).
  using SlotMaps = std::array<std::shared_ptr<UniqueFd>, 4>;
  struct State {
    MapContents maps;
    SlotMaps slot_maps;  // null where the slot is empty or holds a map this process did not put
    FiltersConfig applied;
    std::map<uint64_t, uint32_t> applied_cgroups;
    std::vector<std::string> missing;
  };

  CgroupResolver resolver() const;
  Status commit_locked(Prepared prepared);
  Result<State> save_locked() const;
  // Writes `wanted` into the maps in the three steps above.
  Status write_maps(const MapContents& wanted, const SlotMaps& slot_maps);
  // Back to `saved` after a failed write; the error says what failed, and whether the
  // restore did too.
  Status restore_locked(const State& saved, const Error& why);
  Status sync_cgroups(const std::map<uint64_t, uint32_t>& wanted, uint64_t levels);

  MapFds fds_;
  std::unique_ptr<std::mutex> mu_;
  mutable std::optional<Cgroup2Mount> mount_;
  FiltersConfig applied_;
  std::map<uint64_t, uint32_t> applied_cgroups_;
  std::vector<std::string> missing_;
  SlotMaps slot_maps_;           // the pinned maps this process put in the slots
  std::optional<State> before_;  // the state the last commit replaced, for revert()
};

}  // namespace tcpconnect
