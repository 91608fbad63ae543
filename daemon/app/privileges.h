// Giving up privileges once the probes are attached and the port is bound. Capabilities
// and the keep-capabilities flag are per thread: call these while the process has one
// thread, so that every thread started afterwards inherits the reduced sets and the uid.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "util/result.h"

namespace tcpconnect {

// What attaching needs but nothing after it: CAP_PERFMON, CAP_NET_ADMIN, CAP_SYS_ADMIN,
// CAP_SYS_RESOURCE and every other capability. What is kept: CAP_BPF, because reading and
// updating maps through fds already held is a bpf() call, and kernels before 6.5 refuse
// every bpf() call without CAP_BPF while kernel.unprivileged_bpf_disabled is set (the
// default of Debian's and most distributions' kernels). Also CAP_NET_BIND_SERVICE when
// asked to and the process has it: a /metrics port below 1024 binds after this.
//
// Clears the ambient and inheritable sets, reduces the permitted and effective sets to
// what is kept, drops the rest from the bounding set when the process may (CAP_SETPCAP),
// and sets no_new_privs. Returns the capabilities kept, by name.
Result<std::vector<std::string>> drop_capabilities_after_attach(bool keep_bind_service);

// Makes the permitted capabilities effective. A binary whose file capabilities are
// permitted-only (the container image's: `setcap ...=p`) starts with them permitted but
// not effective; with the effective bit set instead, a runtime that withholds one of them
// (CAP_SYS_RESOURCE, which kernels from 5.11 do not need) would make exec itself fail
// with EPERM, before the daemon could say what is missing. Returns the effective set.
Result<uint64_t> raise_permitted_capabilities();

// The user a daemon started as root continues as (--runas.user).
struct RunAsUser {
  std::string name;
  uid_t uid = 0;
  gid_t gid = 0;
  std::vector<gid_t> groups;  // supplementary groups: the user's, from the group database
};

// The package's system user, preferred when it exists; `nobody` otherwise.
constexpr const char* kServiceUser = "tcpconnect-exporter";
constexpr const char* kFallbackUser = "nobody";

// Which user a process running as uid 0 switches to. `requested` is --runas.user:
// nullopt picks kServiceUser when the passwd database has it, else kFallbackUser; a name
// or numeric uid must exist. nullopt is returned for an explicit "root" (or "0"): the
// process keeps uid 0, which the caller logs as a warning. An empty name is an error.
Result<std::optional<RunAsUser>> choose_runas_user(const std::optional<std::string>& requested);

// Switches the calling process to `user`: supplementary groups, then gid, then uid (real,
// effective, saved), keeping the permitted capabilities across the uid change so that
// drop_capabilities_after_attach can keep CAP_BPF. Refuses when the process has more
// than one thread: glibc would change the uid of every thread, but capabilities only of
// the calling one.
Status switch_user(const RunAsUser& user);

// The number of threads of this process (entries of /proc/self/task).
Result<int> thread_count();

// Whether binding a listen address ("host:port", "[v6]:port", ":port") needs
// CAP_NET_BIND_SERVICE.
bool needs_privileged_port(const std::string& listen_address);

// The effective set of the calling thread, as in /proc/self/status CapEff.
uint64_t effective_capabilities();

}  // namespace tcpconnect
