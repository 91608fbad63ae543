#include "app/privileges.h"

#include <linux/capability.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <stdexcept>

namespace tcpconnect {
namespace {

// glibc wraps neither: the raw system calls, as libcap would make them.
int capget(__user_cap_header_struct* header, __user_cap_data_struct* data) {
  return static_cast<int>(syscall(SYS_capget, header, data));
}
int capset(__user_cap_header_struct* header, const __user_cap_data_struct* data) {
  return static_cast<int>(syscall(SYS_capset, header, data));
}

struct CapSets {
  uint64_t effective = 0;
  uint64_t permitted = 0;
  uint64_t inheritable = 0;
};

Result<CapSets> get_caps() {
  __user_cap_header_struct header{_LINUX_CAPABILITY_VERSION_3, 0};
  __user_cap_data_struct data[_LINUX_CAPABILITY_U32S_3]{};
  if (capget(&header, data) != 0) return Error::from_errno("capget", errno);
  auto join = [](uint32_t lo, uint32_t hi) { return static_cast<uint64_t>(hi) << 32 | lo; };
  return CapSets{join(data[0].effective, data[1].effective),
                 join(data[0].permitted, data[1].permitted),
                 join(data[0].inheritable, data[1].inheritable)};
}

Status set_caps(const CapSets& sets) {
  __user_cap_header_struct header{_LINUX_CAPABILITY_VERSION_3, 0};
  __user_cap_data_struct data[_LINUX_CAPABILITY_U32S_3]{};
  for (int i = 0; i < 2; ++i) {
    data[i].effective = static_cast<uint32_t>(sets.effective >> (32 * i));
    data[i].permitted = static_cast<uint32_t>(sets.permitted >> (32 * i));
    data[i].inheritable = static_cast<uint32_t>(sets.inheritable >> (32 * i));
  }
  if (capset(&header, data) != 0) return Error::from_errno("capset", errno);
  return Ok{};
}

constexpr uint64_t bit(int cap) { return uint64_t{1} << cap; }

}  // namespace

uint64_t effective_capabilities() {
  auto caps = get_caps();
  return caps ? caps.value().effective : 0;
}

bool needs_privileged_port(const std::string& listen_address) {
  auto colon = listen_address.rfind(':');
  if (colon == std::string::npos) return false;
  try {
    return std::stoi(listen_address.substr(colon + 1)) < 1024;
  } catch (const std::exception&) {
    return false;
  }
}

Result<std::vector<std::string>> drop_capabilities_after_attach(bool keep_bind_service) {
  auto current = get_caps();
  if (!current) return current.error();
  const uint64_t wanted = bit(CAP_BPF) | (keep_bind_service ? bit(CAP_NET_BIND_SERVICE) : 0);
  const uint64_t keep = current.value().permitted & wanted;

  // Ambient capabilities would survive an exec; this process never execs, but a library
  // could.
  if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) != 0 && errno != EINVAL)
    return Error::from_errno("clearing the ambient capabilities", errno);
  // The bounding set needs CAP_SETPCAP, which a root process has and a systemd service
  // with CapabilityBoundingSet= has not (systemd already bounded it).
  if (current.value().effective & bit(CAP_SETPCAP)) {
    for (int cap = 0; prctl(PR_CAPBSET_READ, cap, 0, 0, 0) >= 0; ++cap) {
      if (!(keep & bit(cap)) && prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) != 0)
        return Error::from_errno("dropping capability " + std::to_string(cap) +
                                     " from the bounding set",
                                 errno);
    }
  }
  if (Status s = set_caps(CapSets{keep, keep, 0}); !s) return s.error();
  if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0)
    return Error::from_errno("setting no_new_privs", errno);

  std::vector<std::string> kept;
  if (keep & bit(CAP_BPF)) kept.emplace_back("cap_bpf");
  if (keep & bit(CAP_NET_BIND_SERVICE)) kept.emplace_back("cap_net_bind_service");
  return kept;
}

}  // namespace tcpconnect
