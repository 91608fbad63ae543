// Attaching a handler of sock:inet_sock_set_state through the first program type the
// kernel accepts. Each BPF object defines one variant of its handler per backend
// (TC_SET_STATE_PROGRAMS in bpf/sock_state.bpf.h); only the chosen one is loaded.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "bpf/bpf_failure.h"
#include "config/config.h"
#include "util/result.h"

struct bpf_program;
struct bpf_link;

namespace tcpconnect {

// The backends `auto` tries, in order.
std::vector<ProbeBackend> backends_to_try(ProbeBackend requested);

// What a handler of sock:inet_sock_set_state needs: the tp_btf variant is typed by the
// kernel's BTF.
inline constexpr BpfNeeds kSetStateNeeds{"CAP_BPF, CAP_PERFMON and CAP_NET_ADMIN", true};

// One backend's program of a skeleton and the skeleton's slot for its link (so that
// destroying the skeleton detaches it).
struct BackendProgram {
  bpf_program* program = nullptr;
  bpf_link** link = nullptr;
};

struct BackendPrograms {
  BackendProgram tp_btf;
  BackendProgram raw_tp;
  BackendProgram tracepoint;

  const BackendProgram& of(ProbeBackend backend) const;  // kAuto: tracepoint
  // Before load: only `backend`'s program is loaded.
  void load_only(ProbeBackend backend) const;
  // After load: attaches `backend`'s program (mounting tracefs first for the classic
  // tracepoint) and stores its link in the skeleton.
  Status attach(ProbeBackend backend) const;
};

// Calls try_one for each backend `requested` allows, in order, until one succeeds, and
// returns that backend. Otherwise the error names `what` and says, per backend tried,
// why ("cannot attach the connect probe (tp_btf: ...; raw_tp: ...)").
Result<ProbeBackend> attach_first_backend(ProbeBackend requested, std::string_view what,
                                          const std::function<Status(ProbeBackend)>& try_one);

// The same for a try_one that returns what it attached (Result<T>): that, and the backend.
template <typename T, typename TryOne>
Result<std::pair<T, ProbeBackend>> attach_first_backend(ProbeBackend requested,
                                                        std::string_view what, TryOne&& try_one) {
  std::optional<T> attached;
  auto backend = attach_first_backend(requested, what, [&](ProbeBackend b) -> Status {
    Result<T> r = try_one(b);
    if (!r) return r.error();
    attached.emplace(std::move(r).value());
    return Ok{};
  });
  if (!backend) return backend.error();
  return std::pair<T, ProbeBackend>(std::move(*attached), backend.value());
}

}  // namespace tcpconnect
