#include "probes/backend_attach.h"

#include <bpf/libbpf.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "probes/tracefs.h"

namespace tcpconnect {

std::vector<ProbeBackend> backends_to_try(ProbeBackend requested) {
  if (requested != ProbeBackend::kAuto) return {requested};
  return {ProbeBackend::kTpBtf, ProbeBackend::kRawTp, ProbeBackend::kTracepoint};
}

const BackendProgram& BackendPrograms::of(ProbeBackend backend) const {
  switch (backend) {
    case ProbeBackend::kTpBtf:
      return tp_btf;
    case ProbeBackend::kRawTp:
      return raw_tp;
    case ProbeBackend::kTracepoint:
    case ProbeBackend::kAuto:
      break;
  }
  return tracepoint;
}

void BackendPrograms::load_only(ProbeBackend backend) const {
  for (ProbeBackend b : {ProbeBackend::kTpBtf, ProbeBackend::kRawTp, ProbeBackend::kTracepoint})
    bpf_program__set_autoload(of(b).program, b == backend);
}

Status BackendPrograms::attach(ProbeBackend backend) const {
  if (backend == ProbeBackend::kTracepoint) {
    Status s = ensure_tracefs();
    if (!s) return s.error();
  }
  const BackendProgram& p = of(backend);
  bpf_link* link = bpf_program__attach(p.program);
  if (!link) return Error{explain_bpf_failure("attaching", errno, kSetStateNeeds), errno};
  *p.link = link;
  return Ok{};
}

Result<ProbeBackend> attach_first_backend(ProbeBackend requested, std::string_view what,
                                          const std::function<Status(ProbeBackend)>& try_one) {
  std::string failures;
  for (ProbeBackend b : backends_to_try(requested)) {
    Status s = try_one(b);
    if (s) {
      spdlog::info("{} attached to sock:inet_sock_set_state via {}", what, to_string(b));
      return b;
    }
    spdlog::debug("{}: backend {} failed: {}", what, to_string(b), s.error().message);
    if (!failures.empty()) failures += "; ";
    failures += std::string(to_string(b)) + ": " + s.error().message;
    if (s.error().errnum == EPERM && geteuid() != 0) break;  // no backend can do better
  }
  return Error{"cannot attach the " + std::string(what) + " (" + failures + ")"};
}

}  // namespace tcpconnect
