#include "bpf/libbpf_log.h"

#include <bpf/libbpf.h>
#include <spdlog/spdlog.h>

#include <cstdarg>
#include <cstdio>
#include <string>

namespace tcpconnect {
namespace {

int print_to_spdlog(enum libbpf_print_level level, const char* format, va_list args) {
  char buf[1024];
  int n = std::vsnprintf(buf, sizeof(buf), format, args);
  if (n <= 0) return 0;
  std::string line(buf);
  while (!line.empty() && line.back() == '\n') line.pop_back();
  // libbpf's warnings accompany failures we report ourselves with context; keep them
  // at debug so a fallback attempt does not look like an error to the operator.
  switch (level) {
    case LIBBPF_WARN:
    case LIBBPF_INFO:
    case LIBBPF_DEBUG:
      spdlog::debug("libbpf: {}", line);
      break;
  }
  return n;
}

}  // namespace

void install_libbpf_logger() { libbpf_set_print(print_to_spdlog); }

}  // namespace tcpconnect
