// BPF programs, maps and links of this host read by id, for the benchmarks that measure
// programs they did not load themselves (the daemon's, bpftrace's): their bpf_stats, the
// links a process holds, and the programs' own maps.
#pragma once

#include <bpf/bpf.h>
#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "util/unique_fd.h"

namespace tcpconnect::bench {

struct ProgInfo {
  uint32_t id = 0;
  uint32_t type = 0;
  std::string name;
  std::string tag;
  std::vector<uint32_t> map_ids;
  uint64_t run_time_ns = 0, run_cnt = 0, recursion_misses = 0;
};

std::optional<ProgInfo> prog_info(int fd);
// The same by id (nullopt when the program is gone).
std::optional<ProgInfo> prog_info_by_id(uint32_t id);

// A map or link opened by id, with its info (Info: bpf_map_info, bpf_link_info).
template <typename Info>
struct ObjectById {
  UniqueFd fd;
  Info info{};
};
using MapInfo = ObjectById<bpf_map_info>;
using LinkInfo = ObjectById<bpf_link_info>;

std::optional<MapInfo> map_by_id(uint32_t id);
std::optional<LinkInfo> link_by_id(uint32_t id);

// The map of a program with this name (the kernel keeps 15 characters of it).
std::optional<MapInfo> program_map(const ProgInfo& prog, const std::string& name);

// Link ids held by a process, from its fds' fdinfo ("link_id:").
std::vector<uint32_t> links_of_process(pid_t pid);
// Program ids a process holds, through program fds or links (fdinfo "prog_id:").
std::vector<uint32_t> programs_of_process(pid_t pid);

// What differs between two programs ("" if nothing): the tags (the instructions), and
// the bytes of their load-time constants (read-only ARRAY maps: .rodata) and run-time
// settings (the `settings` map), by map name.
std::string differences(const ProgInfo& a, const ProgInfo& b);

// Polls until no program or link with these ids exists (freeing is deferred): what is
// still there after 5 s.
std::string left_behind(const std::vector<uint32_t>& progs, const std::vector<uint32_t>& links);

// The root of the cgroup2 hierarchy, where the DNS capture (and an empty cgroup_skb
// program beside it) attaches: a directory fd (invalid if there is none) and its path.
struct Cgroup2Root {
  UniqueFd fd;
  std::string path;
};
Cgroup2Root open_cgroup2_root();

}  // namespace tcpconnect::bench
