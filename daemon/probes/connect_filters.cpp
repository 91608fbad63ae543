#include "probes/connect_filters.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include <cerrno>
#include <cstring>
#include <string_view>
#include <tuple>

namespace tcpconnect {
namespace {

constexpr uint32_t kSlot = 0;

std::string bytes_of(const void* p, size_t n) {
  return std::string(static_cast<const char*>(p), n);
}

template <typename T>
std::set<std::string> keys_of(const T& container) {
  std::set<std::string> out;
  for (const auto& k : container) out.insert(bytes_of(&k, sizeof(k)));
  return out;
}

// Every key of the hash (or LPM trie) at fd.
Result<std::set<std::string>> read_keys(int fd, size_t key_size, const std::string& what) {
  std::set<std::string> out;
  std::string key(key_size, '\0'), next(key_size, '\0');
  bool first = true;
  for (size_t n = 0; n <= 4 * TC_FILTER_MAX_ENTRIES; ++n) {
    if (bpf_map_get_next_key(fd, first ? nullptr : key.data(), next.data()) != 0) {
      if (errno == ENOENT) return out;
      return Error::from_errno("reading the " + what + " filter map", errno);
    }
    first = false;
    key = next;
    out.insert(key);
  }
  return Error{"reading the " + what + " filter map: more keys than it can hold"};
}

// Makes the hash (or LPM trie) at fd hold exactly `want` (raw keys, value 1): adds
// first, so that a changed list matches the union of both while it changes, and
// deletes what is stale afterwards (before, when the map has no room for both).
Status sync_set(int fd, size_t key_size, const std::set<std::string>& want,
                const std::string& what) {
  auto have = read_keys(fd, key_size, what);
  if (!have) return have.error();
  std::vector<std::string> stale;
  for (const std::string& k : have.value())
    if (!want.count(k)) stale.push_back(k);
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
    if (have.value().count(k)) continue;
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

// The id of the map in a map-in-map slot (what a lookup from user space returns), 0 when
// the slot is empty.
Result<uint32_t> slot_id(int outer) {
  uint32_t id = 0;
  if (bpf_map_lookup_elem(outer, &kSlot, &id) == 0) return id;
  if (errno == ENOENT) return 0u;
  return Error::from_errno("reading a pinned-map slot", errno);
}

Result<uint32_t> map_id(int fd) {
  bpf_map_info info{};
  uint32_t len = sizeof(info);
  if (bpf_obj_get_info_by_fd(fd, &info, &len) != 0)
    return Error::from_errno("reading a pinned map's id", errno);
  return info.id;
}

constexpr const char* kSlotNames[4] = {"cgroupmap", "cgroupmap", "mntnsmap", "mntnsmap"};

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

bool ConnectFilters::MapContents::operator==(const MapContents& o) const {
  return std::memcmp(&config, &o.config, sizeof(config)) == 0 && pids == o.pids && uids == o.uids &&
         comms == o.comms && cgroups == o.cgroups && include == o.include && exclude == o.exclude &&
         ports == o.ports && slot_ids == o.slot_ids;
}

Result<ConnectFilters::MapContents> ConnectFilters::read_maps() const {
  MapContents m;
  if (bpf_map_lookup_elem(fds_.config, &kSlot, &m.config) != 0)
    return Error::from_errno("reading the filter configuration map", errno);
  const std::tuple<int, size_t, std::set<std::string>*, const char*> sets[] = {
      {fds_.pids, sizeof(uint32_t), &m.pids, "pid"},
      {fds_.uids, sizeof(uint32_t), &m.uids, "uid"},
      {fds_.comms, sizeof(tc_comm_key), &m.comms, "comm"},
      {fds_.cgroups, sizeof(uint64_t), &m.cgroups, "cgroup"},
      {fds_.include, sizeof(tc_cidr_key), &m.include, "include_cidrs"},
      {fds_.exclude, sizeof(tc_cidr_key), &m.exclude, "exclude_cidrs"},
  };
  for (const auto& [fd, size, keys, what] : sets) {
    auto read = read_keys(fd, size, what);
    if (!read) return read.error();
    *keys = std::move(read).value();
  }
  for (uint32_t w = 0; w < TC_FILTER_PORT_WORDS; ++w) {
    if (bpf_map_lookup_elem(fds_.ports, &w, &m.ports[w]) != 0)
      return Error::from_errno("reading the port filter map", errno);
  }
  const int slots[4] = {fds_.cgroupmap, fds_.cgroupmap32, fds_.mntnsmap, fds_.mntnsmap32};
  for (size_t i = 0; i < 4; ++i) {
    auto id = slot_id(slots[i]);
    if (!id) return id.error();
    m.slot_ids[i] = id.value();
  }
  return m;
}

Result<ConnectFilters::State> ConnectFilters::save_locked() const {
  auto maps = read_maps();
  if (!maps) return maps.error();
  State saved{std::move(maps).value(), {}, applied_, applied_cgroups_, missing_};
  // Only the pinned maps this process holds can be put back into a slot (user space gets
  // ids, not fds, from a slot, and turning an id into an fd needs CAP_SYS_ADMIN).
  for (size_t i = 0; i < 4; ++i) {
    if (!slot_maps_[i] || saved.maps.slot_ids[i] == 0) continue;
    auto id = map_id(slot_maps_[i]->get());
    if (id && id.value() == saved.maps.slot_ids[i]) saved.slot_maps[i] = slot_maps_[i];
  }
  return saved;
}

Status ConnectFilters::write_maps(const MapContents& wanted, const SlotMaps& slot_maps) {
  // What the kernel holds now (an adopted probe keeps the previous process's filters).
  tc_filter_config current{};
  if (bpf_map_lookup_elem(fds_.config, &kSlot, &current) != 0)
    return Error::from_errno("reading the filter configuration map", errno);

  // 1. Only filters active before and after stay on while the maps change.
  tc_filter_config transition{};
  transition.flags = current.flags & wanted.config.flags;
  transition.families = current.families | wanted.config.families;
  transition.cgroup_levels = current.cgroup_levels | wanted.config.cgroup_levels;
  if (Status s = write_config(fds_.config, transition); !s) return s;

  // 2. The maps.
  const std::tuple<int, size_t, const std::set<std::string>*, const char*> sets[] = {
      {fds_.pids, sizeof(uint32_t), &wanted.pids, "pid"},
      {fds_.uids, sizeof(uint32_t), &wanted.uids, "uid"},
      {fds_.comms, sizeof(tc_comm_key), &wanted.comms, "comm"},
      {fds_.include, sizeof(tc_cidr_key), &wanted.include, "include_cidrs"},
      {fds_.exclude, sizeof(tc_cidr_key), &wanted.exclude, "exclude_cidrs"},
      {fds_.cgroups, sizeof(uint64_t), &wanted.cgroups, "cgroup"},
  };
  for (const auto& [fd, size, keys, what] : sets) {
    if (Status s = sync_set(fd, size, *keys, what); !s) return s;
  }
  for (uint32_t w = 0; w < TC_FILTER_PORT_WORDS; ++w) {
    uint64_t now = 0;
    if (bpf_map_lookup_elem(fds_.ports, &w, &now) != 0)
      return Error::from_errno("reading the port filter map", errno);
    if (now != wanted.ports[w] &&
        bpf_map_update_elem(fds_.ports, &w, &wanted.ports[w], BPF_ANY) != 0)
      return Error::from_errno("updating the port filter map", errno);
  }
  const int slots[4] = {fds_.cgroupmap, fds_.cgroupmap32, fds_.mntnsmap, fds_.mntnsmap32};
  for (size_t i = 0; i < 4; ++i) {
    const std::string what = kSlotNames[i];
    if (wanted.slot_ids[i] == 0) {
      if (bpf_map_delete_elem(slots[i], &kSlot) != 0 && errno != ENOENT)
        return Error::from_errno("clearing the " + what + " filter", errno);
      continue;
    }
    if (!slot_maps[i]) {
      // A map this process does not hold: it can only stay where it is.
      auto id = slot_id(slots[i]);
      if (!id) return id.error();
      if (id.value() == wanted.slot_ids[i]) continue;
      return Error{"the " + what + " filter held map id " + std::to_string(wanted.slot_ids[i]) +
                   ", which this process cannot put back"};
    }
    const int inner = slot_maps[i]->get();
    if (bpf_map_update_elem(slots[i], &kSlot, &inner, BPF_ANY) != 0)
      return Error::from_errno("installing the " + what + " map", errno);
  }

  // 3. The new set of filters.
  return write_config(fds_.config, wanted.config);
}

Status ConnectFilters::restore_locked(const State& saved, const Error& why) {
  if (Status s = write_maps(saved.maps, saved.slot_maps); !s) {
    return Error{why.message + "; putting the previous filters back failed too (" +
                     s.error().message + "): the filter maps hold a mix of both",
                 why.errnum};
  }
  return Error{why.message + " (the previous filters are back in place)", why.errnum};
}

Status ConnectFilters::commit_locked(Prepared p) {
  auto saved = save_locked();
  if (!saved) return saved.error();

  MapContents wanted;
  wanted.config = p.plan.config;
  if (p.cgroupmap)
    wanted.config.flags |= p.cgroupmap32 ? TC_FILTER_CGROUPMAP32 : TC_FILTER_CGROUPMAP;
  if (p.mntnsmap) wanted.config.flags |= p.mntnsmap32 ? TC_FILTER_MNTNSMAP32 : TC_FILTER_MNTNSMAP;
  wanted.pids = keys_of(p.plan.pids);
  wanted.uids = keys_of(p.plan.uids);
  for (const std::string& c : p.plan.comms) {
    tc_comm_key k{};
    std::strncpy(k.comm, c.c_str(), sizeof(k.comm) - 1);
    wanted.comms.insert(bytes_of(&k, sizeof(k)));
  }
  for (const auto& [id, level] : p.plan.cgroups) wanted.cgroups.insert(bytes_of(&id, sizeof(id)));
  wanted.include = keys_of(p.plan.include);
  wanted.exclude = keys_of(p.plan.exclude);
  wanted.ports = p.plan.ports;
  SlotMaps slot_maps;
  const auto place = [&](UniqueFd fd, bool value32, size_t index64) -> Status {
    if (!fd) return Ok{};
    const size_t i = index64 + (value32 ? 1 : 0);
    auto id = map_id(fd.get());
    if (!id) return id.error();
    wanted.slot_ids[i] = id.value();
    slot_maps[i] = std::make_shared<UniqueFd>(std::move(fd));
    return Ok{};
  };
  if (Status s = place(std::move(p.cgroupmap), p.cgroupmap32, 0); !s) return s;
  if (Status s = place(std::move(p.mntnsmap), p.mntnsmap32, 2); !s) return s;

  if (Status s = write_maps(wanted, slot_maps); !s) return restore_locked(saved.value(), s.error());
  applied_ = std::move(p.config);
  applied_cgroups_ = std::move(p.plan.cgroups);
  missing_ = std::move(p.plan.missing_cgroups);
  slot_maps_ = std::move(slot_maps);
  before_ = std::move(saved).value();
  return Ok{};
}

Status ConnectFilters::revert() {
  std::lock_guard<std::mutex> lock(*mu_);
  if (!before_) return Ok{};
  State before = std::move(*before_);
  before_.reset();
  auto now = save_locked();
  if (!now) return now.error();
  if (Status s = write_maps(before.maps, before.slot_maps); !s)
    return restore_locked(now.value(), s.error());
  applied_ = std::move(before.applied);
  applied_cgroups_ = std::move(before.applied_cgroups);
  missing_ = std::move(before.missing);
  slot_maps_ = std::move(before.slot_maps);
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
  std::set<std::string> keys;
  for (const auto& [id, level] : wanted) keys.insert(bytes_of(&id, sizeof(id)));
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
