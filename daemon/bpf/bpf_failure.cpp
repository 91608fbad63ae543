#include "bpf/bpf_failure.h"

#include <sys/resource.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>

namespace tcpconnect {
namespace {

// The bracketed word of /sys/kernel/security/lockdown ("none [integrity] confidentiality").
std::string active_lockdown() {
  std::ifstream in("/sys/kernel/security/lockdown");
  std::string modes;
  std::getline(in, modes);
  const size_t open = modes.find('['), close = modes.find(']');
  if (open == std::string::npos || close == std::string::npos || close < open) return "";
  return modes.substr(open + 1, close - open - 1);
}

// Kernels before 5.11 charge BPF maps and programs to RLIMIT_MEMLOCK, not to the cgroup.
bool charges_memlock(const std::string& release) {
  int major = 0, minor = 0;
  if (std::sscanf(release.c_str(), "%d.%d", &major, &minor) != 2) return false;
  return major < 5 || (major == 5 && minor < 11);
}

std::string hint(int err, const BpfNeeds& needs, const BpfHostFacts& host) {
  if (err == EPERM || err == EACCES) {
    if (!host.root) return "run as root, or with " + std::string(needs.capabilities);
    // Confidentiality mode refuses programs that read kernel memory; integrity mode
    // refuses none the daemon loads.
    if (host.lockdown == "confidentiality")
      return "the kernel is locked down in confidentiality mode, which refuses BPF programs "
             "that read kernel memory";
    if (err == EPERM && host.memlock_max && charges_memlock(host.kernel_release))
      return "kernel " + host.kernel_release + " charges BPF memory to RLIMIT_MEMLOCK, here " +
             std::to_string(*host.memlock_max / 1024) +
             " KiB: raise it (LimitMEMLOCK=infinity) or grant CAP_SYS_RESOURCE";
  } else if ((err == ESRCH || err == ENOENT || err == EINVAL) && needs.kernel_btf &&
             !host.kernel_btf) {
    return "the kernel has no BTF: /sys/kernel/btf/vmlinux is missing";
  }
  return "";
}

}  // namespace

BpfHostFacts BpfHostFacts::of_this_process() {
  BpfHostFacts f;
  f.root = geteuid() == 0;
  f.kernel_btf = access("/sys/kernel/btf/vmlinux", R_OK) == 0;
  f.lockdown = active_lockdown();
  utsname u{};
  if (uname(&u) == 0) f.kernel_release = u.release;
  rlimit limit{};
  if (getrlimit(RLIMIT_MEMLOCK, &limit) == 0 && limit.rlim_cur != RLIM_INFINITY)
    f.memlock_max = limit.rlim_cur;
  return f;
}

std::string explain_bpf_failure(const std::string& step, int err, const BpfNeeds& needs,
                                const BpfHostFacts& host) {
  if (err < 0) err = -err;
  std::string msg = step + ": " + std::strerror(err);
  if (std::string h = hint(err, needs, host); !h.empty()) msg += " (" + h + ")";
  return msg;
}

std::string explain_bpf_failure(const std::string& step, int err, const BpfNeeds& needs) {
  return explain_bpf_failure(step, err, needs, BpfHostFacts::of_this_process());
}

}  // namespace tcpconnect
