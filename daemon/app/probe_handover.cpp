#include "app/probe_handover.h"

#include <spdlog/spdlog.h>

namespace tcpconnect {

Result<std::unique_ptr<ConnectProbe>> attach_connect_probe(const ConnectProbe::Options& options,
                                                            FdStore& fd_store) {
  NamedFds previous = fd_store.take("connect.");
  if (!previous.empty()) {
    auto adopted = ConnectProbe::adopt(options, previous);
    if (adopted) {
      // Its fds are in the store already.
      adopted.value()->keep_attached_after_exit();
      return adopted;
    }
    spdlog::warn("not continuing with the connect probe of the previous run ({}): attaching "
                 "anew; its counters restart from zero",
                 adopted.error().message);
    // Closed here and in the store: the stale probe detaches before the new one attaches.
    for (const auto& [name, fd] : previous)
      if (Status s = fd_store.forget(name); !s) spdlog::warn("{}", s.error().message);
    previous.clear();
  }

  auto probe = ConnectProbe::attach(options);
  if (!probe || !fd_store.available()) return probe;
  for (const auto& [name, fd] : probe.value()->handover_fds()) {
    if (Status s = fd_store.keep(name, fd); !s) {
      spdlog::warn("{}: a restart will attach anew", s.error().message);
      return probe;
    }
  }
  probe.value()->keep_attached_after_exit();
  return probe;
}

}  // namespace tcpconnect
