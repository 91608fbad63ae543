#include "app/privileges.h"

#include <dirent.h>
#include <grp.h>
#include <linux/capability.h>
#include <pwd.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
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

// The passwd entry of a name, or of a uid given as digits. nullopt: no such user.
Result<std::optional<RunAsUser>> lookup_user(const std::string& name) {
  passwd pw{};
  passwd* found = nullptr;
  std::vector<char> buffer(16384);
  const bool numeric = name.find_first_not_of("0123456789") == std::string::npos;
  int err = 0;
  if (numeric) {
    errno = 0;
    const unsigned long uid = std::strtoul(name.c_str(), nullptr, 10);
    if (errno != 0 || uid > 0xfffffffeUL) return Error{"--runas.user: uid out of range: " + name};
    err = getpwuid_r(static_cast<uid_t>(uid), &pw, buffer.data(), buffer.size(), &found);
  } else {
    err = getpwnam_r(name.c_str(), &pw, buffer.data(), buffer.size(), &found);
  }
  if (err != 0) return Error::from_errno("--runas.user: looking up " + name, err);
  if (found == nullptr) return std::optional<RunAsUser>{};
  RunAsUser user;
  user.name = pw.pw_name;
  user.uid = pw.pw_uid;
  user.gid = pw.pw_gid;
  int n = 16;
  for (int attempt = 0; attempt < 8; ++attempt) {
    user.groups.resize(static_cast<size_t>(n));
    int got = n;
    if (getgrouplist(pw.pw_name, pw.pw_gid, user.groups.data(), &got) >= 0) {
      user.groups.resize(static_cast<size_t>(got));
      return std::optional<RunAsUser>{std::move(user)};
    }
    n = got > n ? got : 2 * n;
  }
  return Error{"--runas.user: cannot list the groups of " + name};
}

}  // namespace

Result<std::optional<RunAsUser>> choose_runas_user(const std::optional<std::string>& requested) {
  if (requested) {
    if (requested->empty()) return Error{"--runas.user: empty; name a user, or root to keep uid 0"};
    auto user = lookup_user(*requested);
    if (!user) return user.error();
    if (!user.value()) return Error{"--runas.user: no such user: " + *requested};
    if (user.value()->uid == 0) return std::optional<RunAsUser>{};
    return user;
  }
  for (const char* name : {kServiceUser, kFallbackUser}) {
    auto user = lookup_user(name);
    if (!user) return user.error();
    if (user.value()) return user;
  }
  return Error{std::string("--runas.user: neither ") + kServiceUser + " nor " + kFallbackUser +
               " exists; name the user to run as"};
}

Result<int> thread_count() {
  DIR* dir = opendir("/proc/self/task");
  if (dir == nullptr) return Error::from_errno("listing /proc/self/task", errno);
  int n = 0;
  while (const dirent* entry = readdir(dir)) {
    if (entry->d_name[0] != '.') ++n;
  }
  closedir(dir);
  return n;
}

Status switch_user(const RunAsUser& user) {
  auto threads = thread_count();
  if (!threads) return threads.error();
  if (threads.value() != 1)
    return Error{"switching to user " + user.name + ": the process already has " +
                 std::to_string(threads.value()) + " threads"};
  // Without keep-capabilities a change from uid 0 clears the permitted set, CAP_BPF with it.
  if (prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) != 0)
    return Error::from_errno("setting keep-capabilities", errno);
  // Without CAP_SETGID/CAP_SETUID (a container that added only the probes' capabilities)
  // these fail with EPERM.
  const std::string hint = " (needs CAP_SETUID and CAP_SETGID; --runas.user root keeps uid 0)";
  if (setgroups(user.groups.size(), user.groups.data()) != 0)
    return Error::from_errno("setting the groups of " + user.name + hint, errno);
  if (setresgid(user.gid, user.gid, user.gid) != 0)
    return Error::from_errno("switching to group " + std::to_string(user.gid) + hint, errno);
  if (setresuid(user.uid, user.uid, user.uid) != 0)
    return Error::from_errno("switching to user " + user.name + hint, errno);
  if (prctl(PR_SET_KEEPCAPS, 0, 0, 0, 0) != 0)
    return Error::from_errno("clearing keep-capabilities", errno);
  // The uid change emptied the effective set; the permitted one is intact. Everything is
  // raised again so that drop_capabilities_after_attach can still trim the bounding set.
  auto caps = get_caps();
  if (!caps) return caps.error();
  return set_caps(CapSets{caps.value().permitted, caps.value().permitted, 0});
}

Result<uint64_t> raise_permitted_capabilities() {
  auto caps = get_caps();
  if (!caps) return caps.error();
  CapSets raised = caps.value();
  if (raised.effective == raised.permitted) return raised.effective;
  raised.effective = raised.permitted;
  if (Status s = set_caps(raised); !s) return s.error();
  return raised.effective;
}

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
