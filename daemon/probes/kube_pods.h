// Kubernetes pod identity without an API server: what kubelet leaves on the node.
//
// A pod's processes run in cgroups kubelet names after the pod's uid, with one child per
// container named after the container runtime's id:
//   systemd driver:  kubepods.slice/kubepods-<qos>.slice/kubepods-<qos>-pod<uid>.slice/
//                    <runtime>-<id>.scope   (uid with '_' for '-'; guaranteed pods have no
//                    qos level: kubepods.slice/kubepods-pod<uid>.slice/...; runtime is
//                    cri-containerd, crio or docker)
//   cgroupfs driver: kubepods/<qos>/pod<uid>/<id>   (guaranteed: kubepods/pod<uid>/<id>)
// kubelet's log directories name the rest:
//   <pods root>/<namespace>_<pod>_<uid>/<container>/              (one per pod)
//   <containers root>/<pod>_<namespace>_<container>-<id>.log      (one per container)
// Only names are read: no file is opened and no symlink is followed (the container
// entries are symlinks into the pod directories).
//
// Everything here is hostile input (a tenant names its pods; whoever can write the log
// roots names anything): every name is bounded and kept only if it is a Kubernetes name,
// which leaves safe text. What cannot be trusted names nothing: the pod's uid comes from
// its cgroup, never from a log name; a name that is not a Kubernetes name ("_" is in
// none, so "<ns>_<pod>_<uid>" splits one way only), a uid two pod directories claim, a
// container id two logs claim, and a container log naming another pod than the one of
// the uid are refused.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

#include "config/config.h"

namespace tcpconnect {

// What a cgroup path says about a pod: its uid (with '-', as the API and the log
// directories spell it) and, for a container's cgroup or one below it, the runtime's
// container id ("" for the pod's own cgroup).
struct PodCgroup {
  std::string uid;
  std::string container_id;

  bool operator==(const PodCgroup& other) const {
    return uid == other.uid && container_id == other.container_id;
  }
};

// The pod of a cgroup path relative to the hierarchy's root ("/kubepods.slice/..."), or
// nullopt when the path is not below a kubelet pod cgroup. The kubepods root may sit
// below other cgroups (a node in a container, kind).
std::optional<PodCgroup> pod_of_cgroup_path(std::string_view path);

// A pod directory's name "<namespace>_<pod>_<uid>", or nullopt.
struct PodLogDir {
  std::string namespace_name;
  std::string pod;
  std::string uid;
};
std::optional<PodLogDir> parse_pod_log_dir(std::string_view name);

// A container log's name "<pod>_<namespace>_<container>-<id>.log", or nullopt.
struct ContainerLog {
  std::string pod;
  std::string namespace_name;
  std::string container;
  std::string id;
};
std::optional<ContainerLog> parse_container_log(std::string_view name);

// The names of a pod's process, as label values (safe text). All empty outside pods.
struct PodIdentity {
  std::string namespace_name;
  std::string pod;
  std::string container;

  bool operator==(const PodIdentity& other) const {
    return namespace_name == other.namespace_name && pod == other.pod &&
           container == other.container;
  }
};

// Pod uid -> namespace/pod and container id -> container, read from kubelet's log roots.
// A uid or id not known yet triggers one scan of both roots (at most one per
// begin_round(): the drain calls that once per drain), which replaces what an earlier
// scan found: pods that went are forgotten there. A pod whose cgroup exists before its
// log directory (kubelet makes the cgroup first) is not remembered as "no pod": it is
// looked for again in later rounds, so its connects are named from the first drain after
// the directory appears. Memory is bounded: a scan keeps at most max_entries pods and as
// many containers, and reads at most four times that many entries per root.
class KubeletLogs {
 public:
  struct Options {
    std::string pod_logs_dir = std::string(kDefaultPodLogsDir);
    std::string container_logs_dir = std::string(kDefaultContainerLogsDir);
    size_t max_entries = 16384;
  };
  explicit KubeletLogs(Options options);

  void begin_round() { scanned_this_round_ = false; }
  // The names of the pod (and container) a cgroup belongs to, or nullopt while kubelet's
  // logs do not name its pod. The container is "" when its id is not listed.
  std::optional<PodIdentity> identity_of(const PodCgroup& cgroup);
  uint64_t scans() const { return scans_.load(std::memory_order_relaxed); }
  size_t pods() const { return pods_.size(); }
  size_t containers() const { return containers_.size(); }
  // Entries the last scan refused (malformed names, uids or ids claimed twice). Both
  // counts may be read from any thread.
  uint64_t rejected() const { return rejected_.load(std::memory_order_relaxed); }

 private:
  struct Names {
    std::string namespace_name;
    std::string pod;
  };
  void scan();
  // Each returns how many entries it refused.
  uint64_t scan_pods();
  uint64_t scan_containers();

  Options options_;
  std::unordered_map<std::string, Names> pods_;               // by uid
  std::unordered_map<std::string, ContainerLog> containers_;  // by id
  bool scanned_this_round_ = false;
  std::atomic<uint64_t> scans_{0};
  std::atomic<uint64_t> rejected_{0};
};

}  // namespace tcpconnect
