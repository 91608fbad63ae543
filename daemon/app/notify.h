// sd_notify(3) for the service manager: STATUS while starting, READY once probes are
// attached and the port is bound, WATCHDOG while the drain loop is alive, STOPPING.
// Without NOTIFY_SOCKET every call is a no-op.
#pragma once

#include <chrono>
#include <string>

namespace tcpconnect {

class Notifier {
 public:
  Notifier();
  void status(const std::string& text) const;
  void ready(const std::string& status) const;
  void reloading() const;
  void stopping() const;
  void watchdog() const;
  // Zero when systemd set no watchdog for this process.
  std::chrono::microseconds watchdog_interval() const { return watchdog_; }

 private:
  std::chrono::microseconds watchdog_{0};
};

}  // namespace tcpconnect
