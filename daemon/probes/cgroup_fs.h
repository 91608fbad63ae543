// The cgroup v2 hierarchy as the connect probe sees it: bpf_get_current_cgroup_id() is
// the id of the task's cgroup in the default (v2) hierarchy, which is the inode number
// of its directory on a cgroup2 mount; bpf_get_current_ancestor_cgroup_id(n) is its
// ancestor n levels below the root.
//
// Resolves configured paths to ids (for the cgroup filter) and ids back to paths (for
// the `unit` label). Works on a pure v2 host (/sys/fs/cgroup) and on a hybrid one
// (/sys/fs/cgroup/unified), whichever /proc/self/mountinfo names.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "probes/kube_pods.h"
#include "util/result.h"

namespace tcpconnect {

struct Cgroup2Mount {
  std::string mount_point;  // "/sys/fs/cgroup/unified"
  // The mount's root within the hierarchy ("/" unless mounted from a cgroup namespace
  // or a sub-tree): levels count from the hierarchy's root, not the mount's.
  std::string root = "/";
};

// Every cgroup2 mount in mountinfo_text (the text of /proc/self/mountinfo), in its order.
std::vector<Cgroup2Mount> parse_cgroup2_mounts(std::string_view mountinfo_text);

// Whether a directory is the root of the cgroup2 hierarchy: only the root cgroup lacks
// the cgroup.type file (Documentation/admin-guide/cgroup-v2.rst).
bool is_cgroup2_hierarchy_root(const std::string& directory);

// The cgroup2 mount to attach to and name cgroups through: the first whose directory
// `is_root` says is the hierarchy's root, with root "/"; else the first cgroup2 mount.
// In a private cgroup namespace mountinfo's root field is relative to the namespace's
// root: a bind mount of the host's hierarchy reads "/.." (or deeper), and a cgroup2 mount
// made inside the namespace reads "/" although it shows only the container's sub-tree,
// so that field cannot tell the hierarchy's root; the directory can.
std::optional<Cgroup2Mount> choose_cgroup2_mount(
    std::string_view mountinfo_text, const std::function<bool(const std::string&)>& is_root);
// From /proc/self/mountinfo, checked with is_cgroup2_hierarchy_root.
Result<Cgroup2Mount> find_cgroup2_mount();

struct ResolvedCgroup {
  uint64_t id = 0;
  uint32_t level = 0;  // 0 = the hierarchy's root
  std::string path;    // absolute path of the directory
};

// A configured cgroup path, absolute (under the cgroup2 mount) or relative to it.
Result<ResolvedCgroup> resolve_cgroup(const Cgroup2Mount& mount, const std::string& path);

// The `unit` label of a cgroup path relative to the hierarchy's root: its deepest
// component that names a systemd unit (".service", ".scope", ".slice") or a container
// (64 hex digits, as cgroupfs-driven Docker and Kubernetes name them); "" when none does
// (the root cgroup, a bare directory someone made).
std::string unit_of_cgroup_path(std::string_view path);

// cgroup id -> unit and pod, learned by walking the cgroup2 file system. A cgroup a key
// names existed when its connect was counted, so an id not known yet triggers one walk
// (at most one per begin_round(): the drain calls that once per drain); an id a walk did
// not find (the cgroup is gone) is remembered as unknown and renders "". Each walk
// replaces what the previous one found, so cgroups that went are forgotten. Memory is
// bounded: at most max_entries ids known and as many unknown (emptied when full).
class CgroupUnits {
 public:
  struct Options {
    size_t max_entries = 65536;
    size_t max_walk_dirs = 100000;  // a walk stops after this many directories
  };
  CgroupUnits(Cgroup2Mount mount, Options options);
  explicit CgroupUnits(Cgroup2Mount mount) : CgroupUnits(std::move(mount), Options{}) {}

  void begin_round() { walked_this_round_ = false; }
  std::string unit_of(uint64_t cgroup_id);
  // The kubelet pod (and container) of a cgroup, nullopt outside pods and for a kubelet
  // layout below a directory root does not own (a delegated sub-tree).
  std::optional<PodCgroup> pod_of(uint64_t cgroup_id);
  uint64_t walks() const { return walks_; }
  size_t cached() const { return units_.size() + unknown_.size(); }

 private:
  struct Named {
    std::string unit;
    std::optional<PodCgroup> pod;
  };
  const Named* find(uint64_t cgroup_id);
  void walk();

  Cgroup2Mount mount_;
  Options options_;
  std::unordered_map<uint64_t, Named> units_;
  std::unordered_set<uint64_t> unknown_;
  bool walked_this_round_ = false;
  uint64_t walks_ = 0;
};

}  // namespace tcpconnect
