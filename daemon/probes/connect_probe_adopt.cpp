// Handing the connect probe from one process of the service to the next (systemd's fd
// store): the link keeps the old program attached to the old maps, so nothing stops
// counting while the daemon restarts, and since the kernel's counters are cumulative the
// first drain of the next process reproduces every count.
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <set>
#include <vector>

#include "connect.skel.h"
#include "probes/connect_probe.h"

namespace tcpconnect {
namespace {

constexpr const char* kLinkName = "connect.link";
constexpr const char* kProgName = "connect.prog";
const std::string kMapPrefix = "connect.map.";

// The program of each backend, by the name the kernel reports (connect.bpf.c).
Result<ProbeBackend> backend_of(const std::string& program) {
  if (program == "tc_tp_btf") return ProbeBackend::kTpBtf;
  if (program == "tc_raw_tp") return ProbeBackend::kRawTp;
  if (program == "tc_tracepoint") return ProbeBackend::kTracepoint;
  return Error{"the program handed over (" + program + ") is not a connect probe"};
}

std::string hex(const uint8_t* bytes, size_t n) {
  static const char* digits = "0123456789abcdef";
  std::string out;
  for (size_t i = 0; i < n; ++i) {
    out += digits[bytes[i] >> 4];
    out += digits[bytes[i] & 15];
  }
  return out;
}

struct ProgramInfo {
  bpf_prog_info info{};
  std::vector<uint32_t> map_ids;
};

Result<ProgramInfo> program_info(int fd) {
  ProgramInfo out;
  out.map_ids.resize(64);
  out.info.nr_map_ids = static_cast<uint32_t>(out.map_ids.size());
  out.info.map_ids = reinterpret_cast<uint64_t>(out.map_ids.data());
  uint32_t len = sizeof(out.info);
  if (bpf_obj_get_info_by_fd(fd, &out.info, &len) != 0)
    return Error::from_errno("reading the handed-over program", errno);
  out.map_ids.resize(std::min<size_t>(out.info.nr_map_ids, out.map_ids.size()));
  return out;
}

// The handed-over map must be the one the handed-over program uses, defined exactly as
// this binary defines it; a read-only data section (load-time constants such as filters)
// must also hold what this process would have set.
Status check_map(bpf_map* mine, int fd, const ProgramInfo& prog) {
  std::string name = bpf_map__name(mine);
  bpf_map_info info{};
  uint32_t len = sizeof(info);
  if (bpf_obj_get_info_by_fd(fd, &info, &len) != 0)
    return Error::from_errno("reading the handed-over map " + name, errno);
  if (std::find(prog.map_ids.begin(), prog.map_ids.end(), info.id) == prog.map_ids.end())
    return Error{"the handed-over map " + name + " is not the program's"};
  if (info.type != bpf_map__type(mine) || info.key_size != bpf_map__key_size(mine) ||
      info.value_size != bpf_map__value_size(mine) ||
      info.max_entries != bpf_map__max_entries(mine) ||
      info.map_flags != bpf_map__map_flags(mine)) {
    return Error{"map " + name + " differs (type " + std::to_string(info.type) + "/" +
                 std::to_string(bpf_map__type(mine)) + ", key " +
                 std::to_string(info.key_size) + "/" + std::to_string(bpf_map__key_size(mine)) +
                 ", value " + std::to_string(info.value_size) + "/" +
                 std::to_string(bpf_map__value_size(mine)) + ", entries " +
                 std::to_string(info.max_entries) + "/" +
                 std::to_string(bpf_map__max_entries(mine)) + ", handed over/this binary)"};
  }
  if (bpf_map__is_internal(mine) && (bpf_map__map_flags(mine) & BPF_F_RDONLY_PROG)) {
    size_t size = 0;
    const void* wanted = bpf_map__initial_value(mine, &size);
    std::vector<uint8_t> current(info.value_size);
    uint32_t zero = 0;
    if (!wanted || size != current.size() ||
        bpf_map_lookup_elem(fd, &zero, current.data()) != 0 ||
        std::memcmp(current.data(), wanted, size) != 0)
      return Error{"the handed-over program's constants (" + name + ") differ from this "
                   "configuration's"};
  }
  return Ok{};
}

// Binds each map of obj, in order, to a duplicate of the fd at the same position.
Status reuse_maps(bpf_object* obj, const std::vector<int>& fds) {
  size_t i = 0;
  bpf_map* map;
  bpf_object__for_each_map(map, obj) {
    if (i >= fds.size()) return Error{"more maps than were handed over"};
    if (int err = bpf_map__reuse_fd(map, fds[i++]))
      return Error::from_errno(std::string("reusing the handed-over map ") + bpf_map__name(map),
                               err);
  }
  return Ok{};
}

int find(const NamedFds& fds, const std::string& name) {
  auto it = fds.find(name);
  return it == fds.end() ? -1 : it->second.get();
}

}  // namespace

ConnectProbe::ConnectProbe(Skel skel, ProbeBackend backend, UniqueFd link, UniqueFd prog)
    : ConnectProbe(std::move(skel), backend) {
  adopted_link_ = std::move(link);
  adopted_prog_ = std::move(prog);
}

Result<std::unique_ptr<ConnectProbe>> ConnectProbe::adopt(const Options& options, NamedFds& fds) {
  int link_fd = find(fds, kLinkName);
  int prog_fd = find(fds, kProgName);
  if (link_fd < 0 || prog_fd < 0) return Error{"no connect probe was handed over"};

  // The program attached through the link must be the program handed over.
  bpf_link_info link{};
  uint32_t len = sizeof(link);
  if (bpf_obj_get_info_by_fd(link_fd, &link, &len) != 0)
    return Error::from_errno("reading the handed-over link", errno);
  auto prog = program_info(prog_fd);
  if (!prog) return prog.error();
  const bpf_prog_info& old = prog.value().info;
  if (link.prog_id != old.id) return Error{"the handed-over link runs another program"};
  auto backend = backend_of(old.name);
  if (!backend) return backend.error();
  if (options.backend != ProbeBackend::kAuto && options.backend != backend.value()) {
    return Error{std::string("probes.backend is ") + std::string(to_string(options.backend)) +
                 ", the handed-over probe is attached via " +
                 std::string(to_string(backend.value()))};
  }

  // This binary's object, prepared as attach() prepares it, compared map by map.
  auto opened = open_prepared(backend.value(), options);
  if (!opened) return opened.error();
  Skel check = std::move(opened).value();
  std::set<std::string> expected = {kLinkName, kProgName};
  std::vector<int> map_fds;  // in the object's order of maps
  bpf_map* map;
  bpf_object__for_each_map(map, check->obj) {
    std::string name = kMapPrefix + bpf_map__name(map);
    int fd = find(fds, name);
    if (fd < 0) return Error{"map " + std::string(bpf_map__name(map)) + " was not handed over"};
    if (Status s = check_map(map, fd, prog.value()); !s) return s.error();
    expected.insert(name);
    map_fds.push_back(fd);
  }
  for (const auto& [name, fd] : fds)
    if (!expected.count(name)) return Error{"unknown fd handed over: " + name};

  // Load this binary's program on the handed-over maps: the verifier checks it against
  // them, and its tag (a hash of its instructions, map references left out) must be the
  // handed-over program's. This copy is never attached and is unloaded right after.
  if (Status s = reuse_maps(check->obj, map_fds); !s) return s.error();
  if (int err = connect_bpf::load(check.get()))
    return Error::from_errno("loading this binary's program to compare it", err);
  auto mine = program_info(
      bpf_program__fd(bpf_object__find_program_by_name(check->obj, old.name)));
  if (!mine) return mine.error();
  if (mine.value().info.type != old.type ||
      std::memcmp(mine.value().info.tag, old.tag, BPF_TAG_SIZE) != 0) {
    return Error{"the handed-over program is another version (tag " + hex(old.tag, BPF_TAG_SIZE) +
                 ", this binary's " + hex(mine.value().info.tag, BPF_TAG_SIZE) + ")"};
  }
  check.reset();

  // The probe: an object that is never loaded, whose maps are the handed-over ones; the
  // handed-over link keeps the handed-over program attached to them.
  opened = open_prepared(backend.value(), options);
  if (!opened) return opened.error();
  Skel skel = std::move(opened).value();
  if (Status s = reuse_maps(skel->obj, map_fds); !s) return s.error();
  UniqueFd link_owner = std::move(fds[kLinkName]);
  UniqueFd prog_owner = std::move(fds[kProgName]);
  fds.clear();  // the maps' fds: the object holds duplicates
  spdlog::info("connect probe handed over by the previous process adopted ({}, program id {})",
               to_string(backend.value()), old.id);
  return std::unique_ptr<ConnectProbe>(new ConnectProbe(
      std::move(skel), backend.value(), std::move(link_owner), std::move(prog_owner)));
}

std::vector<std::pair<std::string, int>> ConnectProbe::handover_fds() const {
  std::vector<std::pair<std::string, int>> out;
  int link = adopted_link_.get();
  for (bpf_link* l : {skel_->links.tc_tp_btf, skel_->links.tc_raw_tp, skel_->links.tc_tracepoint})
    if (l) link = bpf_link__fd(l);
  out.emplace_back(kLinkName, link);
  out.emplace_back(kProgName, prog_fd());
  bpf_map* map;
  bpf_object__for_each_map(map, skel_->obj) {
    out.emplace_back(kMapPrefix + bpf_map__name(map), bpf_map__fd(map));
  }
  return out;
}

}  // namespace tcpconnect
