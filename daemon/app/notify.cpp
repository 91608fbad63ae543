#include "app/notify.h"

#include <spdlog/spdlog.h>
#include <systemd/sd-daemon.h>

namespace tcpconnect {
namespace {

void send(const std::string& state) {
  int r = sd_notify(0, state.c_str());
  if (r < 0) spdlog::warn("sd_notify failed: {}", -r);
}

}  // namespace

Notifier::Notifier() {
  uint64_t usec = 0;
  if (sd_watchdog_enabled(0, &usec) > 0) watchdog_ = std::chrono::microseconds(usec);
}

void Notifier::status(const std::string& text) const {
  spdlog::debug("status: {}", text);
  send("STATUS=" + text);
}

void Notifier::ready(const std::string& status) const { send("READY=1\nSTATUS=" + status); }

void Notifier::reloading() const { send("RELOADING=1\nSTATUS=reloading configuration"); }

void Notifier::stopping() const { send("STOPPING=1\nSTATUS=stopping"); }

void Notifier::watchdog() const {
  if (watchdog_.count() > 0) send("WATCHDOG=1");
}

}  // namespace tcpconnect
