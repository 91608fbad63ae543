#include "probes/tracefs.h"

#include <spdlog/spdlog.h>
#include <sys/mount.h>
#include <unistd.h>

#include <cerrno>

namespace tcpconnect {

Status ensure_tracefs() {
  // libbpf prefers the debugfs location when that directory exists.
  if (access("/sys/kernel/debug/tracing/events", F_OK) == 0 ||
      access("/sys/kernel/tracing/events", F_OK) == 0)
    return Ok{};
  if (access("/sys/kernel/debug/tracing", F_OK) == 0)
    return Error{"/sys/kernel/debug/tracing exists but holds no tracefs; mount tracefs there",
                 ENOENT};
  if (mount("nodev", "/sys/kernel/tracing", "tracefs", 0, nullptr) != 0)
    return Error::from_errno("mounting tracefs at /sys/kernel/tracing", errno);
  spdlog::info("mounted tracefs at /sys/kernel/tracing");
  return Ok{};
}

}  // namespace tcpconnect
