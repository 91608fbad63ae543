#include "program_switch.h"

#include <bpf/bpf.h>
#include <linux/perf_event.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>

namespace tcpconnect::bench {

std::string ProgramSwitch::prepare() {
  if (backend_ != ProbeBackend::kTracepoint) return "";
  std::string id;
  for (const char* root : {"/sys/kernel/tracing", "/sys/kernel/debug/tracing"}) {
    std::ifstream in(std::string(root) + "/events/sock/inet_sock_set_state/id");
    if (in >> id) break;
  }
  if (id.empty()) return "cannot read the tracepoint's id from tracefs";
  perf_event_attr attr{};
  attr.size = sizeof(attr);
  attr.type = PERF_TYPE_TRACEPOINT;
  attr.config = std::stoull(id);
  attr.sample_period = 1;
  attr.wakeup_events = 1;
  perf_event_.reset(
      static_cast<int>(syscall(SYS_perf_event_open, &attr, -1, 0, -1, PERF_FLAG_FD_CLOEXEC)));
  if (!perf_event_) return std::string("perf_event_open: ") + std::strerror(errno);
  return "";
}

std::string ProgramSwitch::on() {
  if (!links_.empty()) return "";
  if (connect_prog_) {
    const int fd = attach_connect();
    if (fd < 0) return std::string("attaching the connect program: ") + std::strerror(-fd);
    links_.emplace_back(fd);
  }
  if (dns_prog_) {
    const int fd =
        bpf_link_create(dns_prog_.get(), cgroup_.get(), BPF_CGROUP_INET_INGRESS, nullptr);
    if (fd < 0) {
      links_.clear();
      return std::string("attaching the DNS program: ") + std::strerror(-fd);
    }
    links_.emplace_back(fd);
  }
  return "";
}

void ProgramSwitch::off() {
  for (const auto& l : links_) {
    bpf_link_info info{};
    uint32_t len = sizeof(info);
    if (bpf_obj_get_info_by_fd(l.get(), &info, &len) == 0) link_ids_.push_back(info.id);
  }
  links_.clear();
}

int ProgramSwitch::attach_connect() const {
  switch (backend_) {
    case ProbeBackend::kTpBtf:
      return bpf_raw_tracepoint_open(nullptr, connect_prog_.get());
    case ProbeBackend::kRawTp:
      return bpf_raw_tracepoint_open("inet_sock_set_state", connect_prog_.get());
    default:
      return bpf_link_create(connect_prog_.get(), perf_event_.get(), BPF_PERF_EVENT, nullptr);
  }
}

}  // namespace tcpconnect::bench
