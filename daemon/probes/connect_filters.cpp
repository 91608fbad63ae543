#include "probes/connect_filters.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include <cerrno>
#include <cstring>
#include <string_view>

namespace tcpconnect {
namespace {

constexpr uint32_t kSlot = 0;

std::string bytes_of(const void* p, size_t n) {
  return std::string(static_cast<const char*>(p), n);
}

template <typename T>
std::vector<std::string> keys_of(const T& container) {
  std::vector<std::string> out;
  for (const auto& k : container) out.push_back(bytes_of(&k, sizeof(k)));
  return out;
}

// Makes the hash (or LPM trie) at fd hold exactly `wanted` (raw keys, value 1): adds
// first, so that a changed list matches the union of both while it changes, and
// deletes what is stale afterwards (before, when the map has no room for both).
Status sync_set(int fd, size_t key_size, const std::vector<std::string>& wanted,
                const std::string& what) {
  const std::set<std::string> want(wanted.begin(), wanted.end());
  std::vector<std::string> stale;
  std::string key(key_size, '\0'), next(key_size, '\0');
  bool first = true;
  for (size_t n = 0; n <= 4 * TC_FILTER_MAX_ENTRIES; ++n) {
    if (bpf_map_get_next_key(fd, first ? nullptr : key.data(), next.data()) != 0) {
      if (errno == ENOENT) break;
      return Error::from_errno("reading the " + what + " filter map", errno);
    }
    first = false;
    key = next;
    if (!want.count(key)) stale.push_back(key);
  }
  auto delete_stale = [&]() -> Status {
    for (const std::string& k : stale) {
      if (bpf_map_delete_elem(fd, k.data()) != 0 && errno != ENOENT)
        return Error::from_errno("updating the " + what + " filter map", errno);
    }
    stale.clear();
    return Ok{};
  };
  const uint8_t one = 1;
  for (const std::string& k : want) {
    if (bpf_map_update_elem(fd, k.data(), &one, BPF_ANY) == 0) continue;
    if (errno == E2BIG && !stale.empty()) {
      if (Status s = delete_stale(); !s) return s;
      if (bpf_map_update_elem(fd, k.data(), &one, BPF_ANY) == 0) continue;
    }
    return Error::from_errno("updating the " + what + " filter map", errno);
  }
  return delete_stale();
}

Status write_config(int fd, const tc_filter_config& config) {
  if (bpf_map_update_elem(fd, &kSlot, &config, BPF_ANY) != 0)
    return Error::from_errno("updating the filter configuration map", errno);
  return Ok{};
}

Status set_slot(int outer, int inner, const std::string& what) {
  if (inner < 0) {
    if (bpf_map_delete_elem(outer, &kSlot) != 0 && errno != ENOENT)
      return Error::from_errno("clearing the " + what + " filter", errno);
    return Ok{};
  }
  if (bpf_map_update_elem(outer, &kSlot, &inner, BPF_ANY) != 0)
    return Error::from_errno("installing the " + what + " map", errno);
  return Ok{};
}

// A pinned id set in bcc's layout: hash, 8-byte keys, 8-byte (cgroupmap) or 4-byte
// (mntnsmap) values, no flags.
Result<UniqueFd> open_id_set(const std::string& key, const std::string& path, bool* value32) {
  UniqueFd fd(bpf_obj_get(path.c_str()));
  if (!fd) return Error::from_errno(key + ": opening pinned map " + path, errno);
  bpf_map_info info{};
  uint32_t len = sizeof(info);
  if (bpf_obj_get_info_by_fd(fd.get(), &info, &len) != 0)
    return Error::from_errno(key + ": " + path, errno);
  if (info.type != BPF_MAP_TYPE_HASH || info.key_size != 8 ||
      (info.value_size != 8 && info.value_size != 4) || info.map_flags != 0) {
    return Error{key + ": " + path + " is not a map in bcc's layout (map type " +
                 std::to_string(info.type) + ", key " + std::to_string(info.key_size) +
                 " bytes, value " + std::to_string(info.value_size) + " bytes, flags " +
                 std::to_string(info.map_flags) +
                 "; expected a hash with 8-byte keys, 8- or 4-byte values, flags 0, as made by "
                 "`bpftool map create PATH type hash key 8 value 8 entries 1024 name NAME "
                 "flags 0`)"};
  }
  *value32 = info.value_size == 4;
  return fd;
}

uint16_t af_of(Family f) { return f == Family::kIpv4 ? TC_AF_INET : TC_AF_INET6; }

}  // namespace

tc_cidr_key cidr_key(const Cidr& cidr) {
  tc_cidr_key k{};
  k.family = static_cast<uint8_t>(af_of(cidr.family));
  k.prefixlen = 8u + cidr.prefix_len;
  std::memcpy(k.addr, cidr.addr.data(), sizeof(k.addr));
  return k;
}

Result<FilterPlan> plan_filters(const FiltersConfig& f, const CgroupResolver& resolve) {
  FilterPlan plan;
  uint32_t& flags = plan.config.flags;
  if (!f.pids.empty()) {
    flags |= TC_FILTER_PID;
    plan.pids.insert(f.pids.begin(), f.pids.end());
  }
  if (!f.uids.empty()) {
    flags |= TC_FILTER_UID;
    plan.uids.insert(f.uids.begin(), f.uids.end());
  }
  if (!f.ports.empty()) {
    flags |= TC_FILTER_PORT;
    for (const PortRange& r : f.ports) {
      for (uint32_t p = r.first; p <= r.last; ++p) plan.ports[p / 64] |= uint64_t{1} << (p % 64);
    }
  }
  bool v4 = false, v6 = false;
  for (Family fam : f.families) (fam == Family::kIpv4 ? v4 : v6) = true;
  if (v4 != v6) {  // both or neither: no filter
    flags |= TC_FILTER_FAMILY;
    plan.config.families = v4 ? TC_FILTER_FAMILY_INET : TC_FILTER_FAMILY_INET6;
  }
  if (!f.comms.empty()) {
    flags |= TC_FILTER_COMM;
    plan.comms.insert(f.comms.begin(), f.comms.end());
  }
  if (!f.cgroups.empty()) {
    flags |= TC_FILTER_CGROUP;
    for (const std::string& path : f.cgroups) {
      auto r = resolve(path);
      if (!r) {
        if (r.error().errnum == ENOENT) {
          plan.missing_cgroups.push_back(path);
          continue;
        }
        return Error{"filters.cgroups: " + r.error().message, r.error().errnum};
      }
      if (r.value().level >= TC_FILTER_CGROUP_LEVELS)
        return Error{"filters.cgroups: " + path + " is " + std::to_string(r.value().level) +
                     " levels deep; at most " + std::to_string(TC_FILTER_CGROUP_LEVELS - 1) +
                     " are supported"};
      plan.cgroups[r.value().id] = r.value().level;
      plan.config.cgroup_levels |= uint64_t{1} << r.value().level;
    }
  }
  if (!f.include_cidrs.empty()) {
    flags |= TC_FILTER_INCLUDE;
    for (const Cidr& c : f.include_cidrs) plan.include.push_back(cidr_key(c));
  }
  if (!f.exclude_cidrs.empty()) {
    flags |= TC_FILTER_EXCLUDE;
    for (const Cidr& c : f.exclude_cidrs) plan.exclude.push_back(cidr_key(c));
  }
  return plan;
}

Result<ConnectFilters> ConnectFilters::from_object(bpf_object* obj) {
  MapFds fds;
  const std::pair<const char*, int*> maps[] = {
      {"flt_cfg", &fds.config},      {"flt_pids", &fds.pids},
      {"flt_uids", &fds.uids},       {"flt_ports", &fds.ports},
      {"flt_comms", &fds.comms},     {"flt_cgroups", &fds.cgroups},
      {"flt_cgmap", &fds.cgroupmap}, {"flt_cgmap32", &fds.cgroupmap32},
      {"flt_mntns", &fds.mntnsmap},  {"flt_mntns32", &fds.mntnsmap32},
      {"flt_incl", &fds.include},    {"flt_excl", &fds.exclude},
  };
  for (const auto& [name, fd] : maps) {
    bpf_map* map = bpf_object__find_map_by_name(obj, name);
    if (!map || bpf_map__fd(map) < 0)
      return Error{std::string("the BPF object has no filter map ") + name};
    *fd = bpf_map__fd(map);
  }
  return ConnectFilters(fds);
}

CgroupResolver ConnectFilters::resolver() const {
  return [this](const std::string& path) -> Result<ResolvedCgroup> {
    if (!mount_) {
      auto m = find_cgroup2_mount();
      if (!m) return m.error();
      mount_ = m.value();
    }
    return resolve_cgroup(*mount_, path);
  };
}

Result<ConnectFilters::Prepared> ConnectFilters::prepare(const FiltersConfig& filters) const {
  Prepared out;
  auto plan = plan_filters(filters, resolver());
  if (!plan) return plan.error();
  out.plan = std::move(plan).value();
  out.config = filters;
  if (!filters.cgroupmap.empty()) {
    auto fd = open_id_set("filters.cgroupmap", filters.cgroupmap, &out.cgroupmap32);
    if (!fd) return fd.error();
    out.cgroupmap = std::move(fd).value();
  }
  if (!filters.mntnsmap.empty()) {
    auto fd = open_id_set("filters.mntnsmap", filters.mntnsmap, &out.mntnsmap32);
    if (!fd) return fd.error();
    out.mntnsmap = std::move(fd).value();
  }
  return out;
}

FiltersConfig ConnectFilters::applied() const {
  std::lock_guard<std::mutex> lock(*mu_);
  return applied_;
}

std::vector<std::string> ConnectFilters::missing_cgroups() const {
  std::lock_guard<std::mutex> lock(*mu_);
  return missing_;
}

Status ConnectFilters::commit(Prepared p) {
  std::lock_guard<std::mutex> lock(*mu_);
  return commit_locked(std::move(p));
}

Status ConnectFilters::commit_locked(Prepared p) {
  tc_filter_config wanted = p.plan.config;
  if (p.cgroupmap) wanted.flags |= p.cgroupmap32 ? TC_FILTER_CGROUPMAP32 : TC_FILTER_CGROUPMAP;
  if (p.mntnsmap) wanted.flags |= p.mntnsmap32 ? TC_FILTER_MNTNSMAP32 : TC_FILTER_MNTNSMAP;

  // What the kernel holds now (an adopted probe keeps the previous process's filters).
  tc_filter_config current{};
  if (bpf_map_lookup_elem(fds_.config, &kSlot, &current) != 0)
    return Error::from_errno("reading the filter configuration map", errno);

  // 1. Only filters active before and after stay on while the maps change.
  tc_filter_config transition{};
  transition.flags = current.flags & wanted.flags;
  transition.families = current.families | wanted.families;
  transition.cgroup_levels = current.cgroup_levels | wanted.cgroup_levels;
  if (Status s = write_config(fds_.config, transition); !s) return s;

  // 2. The maps.
  std::vector<std::string> comms;
  for (const std::string& c : p.plan.comms) {
    tc_comm_key k{};
    std::strncpy(k.comm, c.c_str(), sizeof(k.comm) - 1);
    comms.push_back(bytes_of(&k, sizeof(k)));
  }
  for (Status s :
       {sync_set(fds_.pids, sizeof(uint32_t), keys_of(p.plan.pids), "pid"),
        sync_set(fds_.uids, sizeof(uint32_t), keys_of(p.plan.uids), "uid"),
        sync_set(fds_.comms, sizeof(tc_comm_key), comms, "comm"),
        sync_set(fds_.include, sizeof(tc_cidr_key), keys_of(p.plan.include), "include_cidrs"),
        sync_set(fds_.exclude, sizeof(tc_cidr_key), keys_of(p.plan.exclude), "exclude_cidrs")}) {
    if (!s) return s;
  }
  std::vector<std::string> cgroups;
  for (const auto& [id, level] : p.plan.cgroups) cgroups.push_back(bytes_of(&id, sizeof(id)));
  if (Status s = sync_set(fds_.cgroups, sizeof(uint64_t), cgroups, "cgroup"); !s) return s;
  for (uint32_t w = 0; w < TC_FILTER_PORT_WORDS; ++w) {
    uint64_t now = 0;
    if (bpf_map_lookup_elem(fds_.ports, &w, &now) != 0)
      return Error::from_errno("reading the port filter map", errno);
    if (now != p.plan.ports[w] && bpf_map_update_elem(fds_.ports, &w, &p.plan.ports[w], BPF_ANY))
      return Error::from_errno("updating the port filter map", errno);
  }
  const int cg = p.cgroupmap.get(), mn = p.mntnsmap.get();
  for (Status s : {set_slot(fds_.cgroupmap, p.cgroupmap32 ? -1 : cg, "cgroupmap"),
                   set_slot(fds_.cgroupmap32, p.cgroupmap32 ? cg : -1, "cgroupmap"),
                   set_slot(fds_.mntnsmap, p.mntnsmap32 ? -1 : mn, "mntnsmap"),
                   set_slot(fds_.mntnsmap32, p.mntnsmap32 ? mn : -1, "mntnsmap")}) {
    if (!s) return s;
  }

  // 3. The new set of filters.
  if (Status s = write_config(fds_.config, wanted); !s) return s;
  applied_ = std::move(p.config);
  applied_cgroups_ = std::move(p.plan.cgroups);
  missing_ = std::move(p.plan.missing_cgroups);
  return Ok{};
}

Status ConnectFilters::apply(const FiltersConfig& filters) {
  std::lock_guard<std::mutex> lock(*mu_);
  auto prepared = prepare(filters);
  if (!prepared) return prepared.error();
  return commit_locked(std::move(prepared).value());
}

Status ConnectFilters::sync_cgroups(const std::map<uint64_t, uint32_t>& wanted, uint64_t levels) {
  tc_filter_config current{};
  if (bpf_map_lookup_elem(fds_.config, &kSlot, &current) != 0)
    return Error::from_errno("reading the filter configuration map", errno);
  // New levels are compared before the ids at those levels exist in the map, stale
  // levels stop being compared only after their ids are gone.
  tc_filter_config widened = current;
  widened.cgroup_levels |= levels;
  if (Status s = write_config(fds_.config, widened); !s) return s;
  std::vector<std::string> keys;
  for (const auto& [id, level] : wanted) keys.push_back(bytes_of(&id, sizeof(id)));
  if (Status s = sync_set(fds_.cgroups, sizeof(uint64_t), keys, "cgroup"); !s) return s;
  tc_filter_config final_config = current;
  final_config.cgroup_levels = levels;
  return write_config(fds_.config, final_config);
}

Status ConnectFilters::refresh_cgroups() {
  std::lock_guard<std::mutex> lock(*mu_);
  if (applied_.cgroups.empty()) return Ok{};
  FiltersConfig only_cgroups;
  only_cgroups.cgroups = applied_.cgroups;
  auto plan = plan_filters(only_cgroups, resolver());
  if (!plan) return plan.error();
  if (plan.value().cgroups == applied_cgroups_) return Ok{};
  if (Status s = sync_cgroups(plan.value().cgroups, plan.value().config.cgroup_levels); !s)
    return s;
  applied_cgroups_ = std::move(plan.value().cgroups);
  missing_ = std::move(plan.value().missing_cgroups);
  return Ok{};
}

}  // namespace tcpconnect
