// Starting the connect probe under a service manager: continue with the probe the
// previous process of the service left in the fd store when it matches this binary and
// configuration, else attach anew (detaching the stale one); then keep the probe's fds in
// the store for the next process.
#pragma once

#include <memory>

#include "app/fd_store.h"
#include "probes/connect_probe.h"

namespace tcpconnect {

Result<std::unique_ptr<ConnectProbe>> attach_connect_probe(const ConnectProbe::Options& options,
                                                            FdStore& fd_store);

}  // namespace tcpconnect
