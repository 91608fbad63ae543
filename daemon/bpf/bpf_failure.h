// What an operator reads when the kernel refuses to load or attach a BPF object: the
// step, strerror, and what can be done about the common causes (missing privileges, no
// kernel BTF, kernel lockdown, a low RLIMIT_MEMLOCK on kernels that charge BPF memory to
// it).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace tcpconnect {

// What a BPF object asks of the process and the kernel.
struct BpfNeeds {
  std::string_view capabilities;  // what a non-root process needs, "CAP_BPF and CAP_X"
  bool kernel_btf = false;        // its programs are typed by the kernel's BTF (tp_btf)
};

// The facts about this process and kernel that the explanation depends on.
struct BpfHostFacts {
  bool root = false;
  bool kernel_btf = false;              // /sys/kernel/btf/vmlinux is readable
  std::string lockdown;                 // the active mode of kernel lockdown, "" unknown
  std::string kernel_release;           // uname -r
  std::optional<uint64_t> memlock_max;  // RLIMIT_MEMLOCK in bytes; nullopt: unlimited

  static BpfHostFacts of_this_process();
};

// "step: strerror(err) (what to do)". err may be negative, as libbpf returns it.
std::string explain_bpf_failure(const std::string& step, int err, const BpfNeeds& needs);
// The same against given facts.
std::string explain_bpf_failure(const std::string& step, int err, const BpfNeeds& needs,
                                const BpfHostFacts& host);

}  // namespace tcpconnect
