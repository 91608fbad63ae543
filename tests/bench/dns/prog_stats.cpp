#include "prog_stats.h"

#include <bpf/bpf.h>
#include <unistd.h>

namespace tcpconnect::bench {

ProgRun prog_run(uint32_t prog_id) {
  ProgRun r;
  if (prog_id == 0) return r;
  int fd = bpf_prog_get_fd_by_id(prog_id);
  if (fd < 0) return r;
  bpf_prog_info info{};
  uint32_t len = sizeof(info);
  if (bpf_obj_get_info_by_fd(fd, &info, &len) == 0) r = {info.run_time_ns, info.run_cnt};
  close(fd);
  return r;
}

uint32_t prog_id_in(const std::string& describe, const std::string& which) {
  const std::string key = which + "program id ";
  const auto at = describe.find(key);
  return at == std::string::npos
             ? 0
             : static_cast<uint32_t>(std::stoul(describe.substr(at + key.size())));
}

}  // namespace tcpconnect::bench
