#include "common/locked_map.h"

#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace tcpconnect::testing {
namespace {

std::unique_ptr<LockedIdSet> fail(std::string* error, const std::string& what) {
  *error = what + ": " + std::strerror(errno);
  return nullptr;
}

}  // namespace

std::unique_ptr<LockedIdSet> LockedIdSet::create(const std::string& name, std::string* error) {
  std::unique_ptr<btf, void (*)(btf*)> types(btf__new_empty(), btf__free);
  if (!types) return fail(error, "btf__new_empty");
  btf* b = types.get();
  const int u32 = btf__add_int(b, "unsigned int", 4, 0);
  const int u64 = btf__add_int(b, "unsigned long long", 8, 0);
  const int lock = btf__add_struct(b, "bpf_spin_lock", 4);
  if (u32 < 0 || u64 < 0 || lock < 0 || btf__add_field(b, "val", u32, 0, 0) != 0)
    return fail(error, "building BTF");
  const int value = btf__add_struct(b, "tcx_locked_value", 8);
  if (value < 0 || btf__add_field(b, "lock", lock, 0, 0) != 0 ||
      btf__add_field(b, "n", u32, 32, 0) != 0)
    return fail(error, "building BTF");
  if (btf__load_into_kernel(b) != 0) return fail(error, "loading BTF");
  LIBBPF_OPTS(bpf_map_create_opts, opts, .btf_fd = static_cast<__u32>(btf__fd(b)),
              .btf_key_type_id = static_cast<__u32>(u64),
              .btf_value_type_id = static_cast<__u32>(value));
  const int fd = bpf_map_create(BPF_MAP_TYPE_HASH, "tcx_locked", 8, 8, 16, &opts);
  if (fd < 0) return fail(error, "bpf_map_create");
  std::unique_ptr<LockedIdSet> out(new LockedIdSet);
  out->path_ = "/sys/fs/bpf/" + name;
  unlink(out->path_.c_str());
  const int pinned = bpf_obj_pin(fd, out->path_.c_str());
  close(fd);
  if (pinned != 0) {
    out->path_.clear();
    return fail(error, "bpf_obj_pin");
  }
  return out;
}

LockedIdSet::~LockedIdSet() {
  if (!path_.empty()) unlink(path_.c_str());
}

}  // namespace tcpconnect::testing
