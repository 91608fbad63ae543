#include "probes/kube_pods.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <vector>


namespace tcpconnect {
namespace {

// Kubernetes' own limits: a namespace and a container name are DNS labels, a pod name a
// DNS subdomain, a uid a UUID (or, for static pods, a 32-digit hash).
constexpr size_t kMaxLabelName = 63;
constexpr size_t kMaxSubdomainName = 253;
constexpr size_t kMaxUid = 64;
constexpr size_t kMaxContainerId = 128;
// A scan reads at most this many directory entries per root for each kept entry.
constexpr size_t kEntriesReadPerKept = 4;

constexpr std::array<std::string_view, 2> kQosClasses = {"burstable", "besteffort"};
// Scope prefixes of the container runtimes kubelet drives (systemd driver; CRI-O also
// uses its prefix under the cgroupfs driver).
constexpr std::array<std::string_view, 3> kRuntimePrefixes = {"cri-containerd-", "crio-",
                                                              "docker-"};

bool starts_with(std::string_view s, std::string_view p) { return s.substr(0, p.size()) == p; }
bool ends_with(std::string_view s, std::string_view x) {
  return s.size() >= x.size() && s.substr(s.size() - x.size()) == x;
}

bool only(std::string_view s, std::string_view allowed) {
  return s.find_first_not_of(allowed) == std::string_view::npos;
}

constexpr std::string_view kLowerHex = "0123456789abcdef";
constexpr std::string_view kDnsChars = "abcdefghijklmnopqrstuvwxyz0123456789-";

// RFC 1123 label (namespaces, container names).
bool is_dns_label(std::string_view s) {
  return !s.empty() && s.size() <= kMaxLabelName && only(s, kDnsChars) && s.front() != '-' &&
         s.back() != '-';
}

// RFC 1123 subdomain (pod names): labels joined by dots.
bool is_dns_subdomain(std::string_view s) {
  if (s.empty() || s.size() > kMaxSubdomainName) return false;
  size_t start = 0;
  while (true) {
    const size_t dot = s.find('.', start);
    const std::string_view label =
        s.substr(start, dot == std::string_view::npos ? dot : dot - start);
    if (!is_dns_label(label)) return false;
    if (dot == std::string_view::npos) return true;
    start = dot + 1;
  }
}

bool is_uid(std::string_view s) {
  return !s.empty() && s.size() <= kMaxUid && only(s, std::string(kLowerHex) + "-");
}

bool is_container_id(std::string_view s) {
  return !s.empty() && s.size() <= kMaxContainerId && only(s, kLowerHex);
}

std::vector<std::string_view> components(std::string_view path) {
  std::vector<std::string_view> out;
  size_t start = 0;
  while (start <= path.size()) {
    size_t end = path.find('/', start);
    if (end == std::string_view::npos) end = path.size();
    if (end > start) out.push_back(path.substr(start, end - start));
    start = end + 1;
  }
  return out;
}

// "kubepods-burstable-pod<uid>.slice" (under "kubepods-burstable.slice") or
// "kubepods-pod<uid>.slice" (guaranteed): the uid with '-' restored.
std::optional<std::string> systemd_pod_uid(std::string_view name, std::string_view qos) {
  const std::string prefix = "kubepods-" + (qos.empty() ? "" : std::string(qos) + "-") + "pod";
  if (!starts_with(name, prefix) || !ends_with(name, ".slice")) return std::nullopt;
  std::string uid(name.substr(prefix.size(), name.size() - prefix.size() - 6));
  std::replace(uid.begin(), uid.end(), '_', '-');
  if (!is_uid(uid)) return std::nullopt;
  return uid;
}

std::optional<std::string> cgroupfs_pod_uid(std::string_view name) {
  if (!starts_with(name, "pod") || !is_uid(name.substr(3))) return std::nullopt;
  return std::string(name.substr(3));
}

// "<runtime>-<id>.scope" (systemd), "<id>" or "crio-<id>" (cgroupfs): the id, or "" for
// anything else below a pod (CRI-O's conmon scope, a sandbox of another runtime).
std::string container_id_of(std::string_view name) {
  if (ends_with(name, ".scope")) name.remove_suffix(6);
  for (std::string_view prefix : kRuntimePrefixes) {
    if (starts_with(name, prefix)) {
      name.remove_prefix(prefix.size());
      break;
    }
  }
  return is_container_id(name) ? std::string(name) : std::string();
}

bool is_qos(std::string_view name) {
  return std::find(kQosClasses.begin(), kQosClasses.end(), name) != kQosClasses.end();
}

// The pod uid at parts[i...] below a kubepods root, and the index of the component after
// the pod's (the container's), for either driver.
std::optional<std::pair<std::string, size_t>> pod_below_root(
    const std::vector<std::string_view>& parts, size_t i, bool systemd) {
  if (i >= parts.size()) return std::nullopt;
  if (systemd) {
    if (auto uid = systemd_pod_uid(parts[i], "")) return std::make_pair(*uid, i + 1);
    for (std::string_view qos : kQosClasses) {
      if (parts[i] != "kubepods-" + std::string(qos) + ".slice" || i + 1 >= parts.size()) continue;
      if (auto uid = systemd_pod_uid(parts[i + 1], qos)) return std::make_pair(*uid, i + 2);
    }
    return std::nullopt;
  }
  if (auto uid = cgroupfs_pod_uid(parts[i])) return std::make_pair(*uid, i + 1);
  if (is_qos(parts[i]) && i + 1 < parts.size()) {
    if (auto uid = cgroupfs_pod_uid(parts[i + 1])) return std::make_pair(*uid, i + 2);
  }
  return std::nullopt;
}

// Calls visit(name, d_type) for at most max_entries entries of a directory.
template <typename Visit>
void read_names(const std::string& dir, size_t max_entries, Visit visit) {
  DIR* d = opendir(dir.c_str());
  if (!d) return;
  size_t n = 0;
  while (dirent* e = readdir(d)) {
    if (++n > max_entries) break;
    std::string_view name = e->d_name;
    if (name == "." || name == "..") continue;
    visit(name, e->d_type);
  }
  closedir(d);
}

// A directory's own entry, not a symlink (d_type, or lstat where the file system does
// not fill it).
bool is_real_dir(const std::string& dir, std::string_view name, unsigned char type) {
  if (type != DT_UNKNOWN) return type == DT_DIR;
  struct stat st {};
  return lstat((dir + "/" + std::string(name)).c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

}  // namespace

std::optional<PodCgroup> pod_of_cgroup_path(std::string_view path) {
  const std::vector<std::string_view> parts = components(path);
  for (size_t i = 0; i < parts.size(); ++i) {
    const bool systemd = parts[i] == "kubepods.slice";
    if (!systemd && parts[i] != "kubepods") continue;
    auto pod = pod_below_root(parts, i + 1, systemd);
    if (!pod) return std::nullopt;
    PodCgroup out;
    out.uid = std::move(pod->first);
    if (pod->second < parts.size()) out.container_id = container_id_of(parts[pod->second]);
    return out;
  }
  return std::nullopt;
}

std::optional<PodLogDir> parse_pod_log_dir(std::string_view name) {
  const size_t first = name.find('_');
  const size_t last = name.rfind('_');
  if (first == std::string_view::npos || first == last) return std::nullopt;
  PodLogDir out;
  out.namespace_name = std::string(name.substr(0, first));
  out.pod = std::string(name.substr(first + 1, last - first - 1));
  out.uid = std::string(name.substr(last + 1));
  if (!is_dns_label(out.namespace_name) || !is_dns_subdomain(out.pod) || !is_uid(out.uid))
    return std::nullopt;
  return out;
}

std::optional<ContainerLog> parse_container_log(std::string_view name) {
  if (!ends_with(name, ".log")) return std::nullopt;
  name.remove_suffix(4);
  const size_t dash = name.rfind('-');
  if (dash == std::string_view::npos) return std::nullopt;
  ContainerLog out;
  out.id = std::string(name.substr(dash + 1));
  name = name.substr(0, dash);
  const size_t first = name.find('_');
  const size_t last = name.rfind('_');
  if (first == std::string_view::npos || first == last) return std::nullopt;
  out.pod = std::string(name.substr(0, first));
  out.namespace_name = std::string(name.substr(first + 1, last - first - 1));
  out.container = std::string(name.substr(last + 1));
  if (!is_container_id(out.id) || !is_dns_subdomain(out.pod) || !is_dns_label(out.namespace_name) ||
      !is_dns_label(out.container))
    return std::nullopt;
  return out;
}

KubeletLogs::KubeletLogs(Options options) : options_(std::move(options)) {}

std::optional<PodIdentity> KubeletLogs::identity_of(const PodCgroup& cgroup) {
  // The names come from the directory of the cgroup's uid; a container log alone (which
  // carries no uid) names nothing.
  auto lookup = [&]() -> std::optional<PodIdentity> {
    auto pod = pods_.find(cgroup.uid);
    if (pod == pods_.end()) return std::nullopt;
    PodIdentity out;
    out.namespace_name = pod->second.namespace_name;
    out.pod = pod->second.pod;
    // An id listed under another pod is not this pod's container.
    if (auto c = containers_.find(cgroup.container_id);
        !cgroup.container_id.empty() && c != containers_.end() &&
        c->second.namespace_name == out.namespace_name && c->second.pod == out.pod) {
      out.container = c->second.container;
    }
    return out;
  };
  std::optional<PodIdentity> found = lookup();
  const bool complete = found && (cgroup.container_id.empty() || !found->container.empty());
  if (!complete && !scanned_this_round_) {
    scan();
    found = lookup();
  }
  // Already safe text: a scan keeps only Kubernetes names (DNS labels and subdomains).
  return found;
}

void KubeletLogs::scan() {
  scanned_this_round_ = true;
  ++scans_;
  const uint64_t rejected = scan_pods() + scan_containers();
  rejected_.store(rejected, std::memory_order_relaxed);
}

namespace {

// Two entries claiming one key are both dropped: which is kubelet's cannot be told.
template <typename Value>
uint64_t drop_claimed_twice(std::unordered_map<std::string, Value>& found,
                            const std::unordered_map<std::string, size_t>& claims) {
  uint64_t dropped = 0;
  for (const auto& [key, n] : claims) {
    if (n < 2) continue;
    found.erase(key);
    dropped += n;
  }
  return dropped;
}

}  // namespace

uint64_t KubeletLogs::scan_pods() {
  std::unordered_map<std::string, Names> pods;
  std::unordered_map<std::string, size_t> claims;
  uint64_t rejected = 0;
  const std::string& dir = options_.pod_logs_dir;
  read_names(dir, options_.max_entries * kEntriesReadPerKept,
             [&](std::string_view name, unsigned char type) {
               auto parsed = parse_pod_log_dir(name);
               if (!parsed || !is_real_dir(dir, name, type)) {
                 ++rejected;
                 return;
               }
               if (++claims[parsed->uid] > 1 || pods.size() >= options_.max_entries) return;
               pods[parsed->uid] = Names{parsed->namespace_name, parsed->pod};
             });
  rejected += drop_claimed_twice(pods, claims);
  pods_ = std::move(pods);
  return rejected;
}

uint64_t KubeletLogs::scan_containers() {
  std::unordered_map<std::string, ContainerLog> containers;
  std::unordered_map<std::string, size_t> claims;
  uint64_t rejected = 0;
  read_names(options_.container_logs_dir, options_.max_entries * kEntriesReadPerKept,
             [&](std::string_view name, unsigned char) {
               auto parsed = parse_container_log(name);
               if (!parsed) {
                 ++rejected;
                 return;
               }
               if (++claims[parsed->id] > 1 || containers.size() >= options_.max_entries) return;
               std::string id = parsed->id;
               containers[std::move(id)] = std::move(*parsed);
             });
  rejected += drop_claimed_twice(containers, claims);
  containers_ = std::move(containers);
  return rejected;
}

}  // namespace tcpconnect
