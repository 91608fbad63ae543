#include "bpf_programs.h"

#include <dirent.h>
#include <fcntl.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <thread>

#include "probes/cgroup_fs.h"

namespace tcpconnect::bench {
namespace {

template <typename Info>
std::optional<ObjectById<Info>> object_by_id(int (*fd_by_id)(uint32_t), uint32_t id) {
  ObjectById<Info> o;
  o.fd.reset(fd_by_id(id));
  if (!o.fd) return std::nullopt;
  uint32_t len = sizeof(o.info);
  if (bpf_obj_get_info_by_fd(o.fd.get(), &o.info, &len) != 0) return std::nullopt;
  return o;
}

// The numbers after `key` in a process's fdinfo files, sorted and unique.
std::vector<uint32_t> fdinfo_ids(pid_t pid, const std::string& key) {
  std::vector<uint32_t> ids;
  const std::string dir = "/proc/" + std::to_string(pid) + "/fdinfo";
  DIR* d = opendir(dir.c_str());
  if (!d) return ids;
  // Bounded by the process's fds.
  while (dirent* e = readdir(d)) {
    if (e->d_name[0] == '.') continue;
    std::ifstream in(dir + "/" + e->d_name);
    std::string line;
    while (std::getline(in, line))
      if (line.rfind(key, 0) == 0) ids.push_back(std::stoul(line.substr(key.size())));
  }
  closedir(d);
  std::sort(ids.begin(), ids.end());
  ids.erase(std::unique(ids.begin(), ids.end()), ids.end());
  return ids;
}

}  // namespace

std::optional<ProgInfo> prog_info(int fd) {
  bpf_prog_info info{};
  std::vector<uint32_t> maps(64);
  info.nr_map_ids = static_cast<uint32_t>(maps.size());
  info.map_ids = reinterpret_cast<uint64_t>(maps.data());
  uint32_t len = sizeof(info);
  if (bpf_obj_get_info_by_fd(fd, &info, &len) != 0) return std::nullopt;
  ProgInfo p;
  p.id = info.id;
  p.type = info.type;
  p.name = info.name;
  char tag[2 * BPF_TAG_SIZE + 1];
  for (int i = 0; i < BPF_TAG_SIZE; ++i) std::snprintf(tag + 2 * i, 3, "%02x", info.tag[i]);
  p.tag = tag;
  maps.resize(std::min<size_t>(info.nr_map_ids, maps.size()));
  p.map_ids = maps;
  p.run_time_ns = info.run_time_ns;
  p.run_cnt = info.run_cnt;
  p.recursion_misses = info.recursion_misses;
  return p;
}

std::optional<ProgInfo> prog_info_by_id(uint32_t id) {
  UniqueFd fd(bpf_prog_get_fd_by_id(id));
  if (!fd) return std::nullopt;
  return prog_info(fd.get());
}

std::optional<MapInfo> map_by_id(uint32_t id) {
  return object_by_id<bpf_map_info>(bpf_map_get_fd_by_id, id);
}

std::optional<LinkInfo> link_by_id(uint32_t id) {
  return object_by_id<bpf_link_info>(bpf_link_get_fd_by_id, id);
}

std::optional<MapInfo> program_map(const ProgInfo& prog, const std::string& name) {
  for (uint32_t id : prog.map_ids) {
    auto m = map_by_id(id);
    if (m && name.compare(0, BPF_OBJ_NAME_LEN - 1, m->info.name) == 0) return m;
  }
  return std::nullopt;
}

std::vector<uint32_t> links_of_process(pid_t pid) { return fdinfo_ids(pid, "link_id:"); }

std::vector<uint32_t> programs_of_process(pid_t pid) { return fdinfo_ids(pid, "prog_id:"); }

std::string differences(const ProgInfo& a, const ProgInfo& b) {
  if (a.tag != b.tag) return "tag " + a.tag + " vs " + b.tag;
  if (a.type != b.type) return "program type";
  std::string out;
  for (uint32_t id : a.map_ids) {
    auto ma = map_by_id(id);
    if (!ma || ma->info.type != BPF_MAP_TYPE_ARRAY) continue;
    if (!(ma->info.map_flags & BPF_F_RDONLY_PROG) && std::string(ma->info.name) != "settings")
      continue;
    auto mb = program_map(b, ma->info.name);
    if (!mb) {
      out += std::string(" no map ") + ma->info.name;
      continue;
    }
    std::vector<uint8_t> va(ma->info.value_size), vb(mb->info.value_size);
    for (uint32_t k = 0; k < ma->info.max_entries && k < 65536; ++k) {
      if (va.size() != vb.size() || bpf_map_lookup_elem(ma->fd.get(), &k, va.data()) != 0 ||
          bpf_map_lookup_elem(mb->fd.get(), &k, vb.data()) != 0 || va != vb) {
        out += std::string(" map ") + ma->info.name + " differs";
        break;
      }
    }
  }
  return out;
}

std::string left_behind(const std::vector<uint32_t>& progs, const std::vector<uint32_t>& links) {
  std::string out;
  for (int i = 0; i < 100; ++i) {
    out.clear();
    for (uint32_t id : progs) {
      UniqueFd fd(bpf_prog_get_fd_by_id(id));
      if (fd) out += " prog " + std::to_string(id);
    }
    for (uint32_t id : links) {
      UniqueFd fd(bpf_link_get_fd_by_id(id));
      if (fd) out += " link " + std::to_string(id);
    }
    if (out.empty()) return out;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return out;
}

Cgroup2Root open_cgroup2_root() {
  auto mount = find_cgroup2_mount();
  if (!mount) return {};
  const std::string& path = mount.value().mount_point;
  return {UniqueFd(open(path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC)), path};
}

}  // namespace tcpconnect::bench
