// What the cost benchmark measures against each other: the exporter as a process (its
// programs found through its fds), real bpftrace running the counting one-liner, and an
// empty cgroup_skb program attached beside the exporter's packet programs.
#pragma once

#include <bpf/libbpf.h>
#include <sys/types.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "bench_exporter.h"
#include "bpf_programs.h"
#include "peer.skel.h"

namespace tcpconnect::bench {

// What a set of programs ran between two snapshots, per program.
struct ProgDelta {
  std::string name;
  uint32_t type = 0;
  uint64_t ns = 0, runs = 0;
};
std::vector<ProgInfo> snapshot(const std::vector<uint32_t>& ids);
std::vector<ProgDelta> deltas(const std::vector<ProgInfo>& before,
                              const std::vector<ProgInfo>& after);

// The exporter on a config, on a free loopback port; its programs are those it holds.
class ExporterUnderTest {
 public:
  // "" or why it did not start serving within 20 s.
  std::string start(const std::string& binary, const std::string& config);
  void stop() { process_.stop(); }
  const std::vector<uint32_t>& programs() const { return programs_; }
  const std::string& dns_method() const { return dns_method_; }

 private:
  std::string start_once(const std::string& binary, const std::string& config);

  ExporterProcess process_;
  std::vector<uint32_t> programs_;
  std::string dns_method_;
};

// bpftrace running `script`, which attaches one program; stopped with SIGINT.
class BpftraceProcess {
 public:
  BpftraceProcess() = default;
  BpftraceProcess(const BpftraceProcess&) = delete;
  BpftraceProcess& operator=(const BpftraceProcess&) = delete;
  ~BpftraceProcess() { stop(); }
  // "" once its program is loaded (within 30 s), or what went wrong.
  std::string start(const std::string& script);
  void stop();
  const std::vector<uint32_t>& programs() const { return programs_; }

 private:
  pid_t pid_ = -1;
  std::vector<uint32_t> programs_;
};

// peer.bpf.c's empty program, on cgroup inet ingress of the cgroup2 root while attached.
class EmptySkbProgram {
 public:
  // "" or what failed.
  std::string attach();
  void detach();
  uint32_t id() const;

 private:
  std::unique_ptr<peer_bpf, void (*)(peer_bpf*)> skel_{nullptr, peer_bpf::destroy};
  std::unique_ptr<bpf_link, int (*)(bpf_link*)> link_{nullptr, bpf_link__destroy};
};

// The bpftrace binary on PATH ("" when it is not installed).
std::string find_bpftrace();

}  // namespace tcpconnect::bench
