// Giving up privileges once the probes are attached. Capabilities are per thread: call
// this before starting any thread, so that every thread inherits the reduced sets.
#pragma once

#include <cstdint>
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

// Whether binding a listen address ("host:port", "[v6]:port", ":port") needs
// CAP_NET_BIND_SERVICE.
bool needs_privileged_port(const std::string& listen_address);

// The effective set of the calling thread, as in /proc/self/status CapEff.
uint64_t effective_capabilities();

}  // namespace tcpconnect
