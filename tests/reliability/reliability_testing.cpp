#include "reliability/reliability_testing.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <stdexcept>

namespace tcpconnect::testing {

long rss_kib(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line))
    if (line.rfind("VmRSS:", 0) == 0) return std::strtol(line.c_str() + 6, nullptr, 10);
  return -1;
}

std::vector<std::string> warning_and_error_lines(const std::string& log) {
  std::vector<std::string> out;
  std::istringstream in(log);
  std::string line;
  while (std::getline(in, line))
    for (const char* level : {" warning: ", " error: ", " critical: "})
      if (line.find(level) != std::string::npos) {
        out.push_back(line);
        break;
      }
  return out;
}

int count_lines_with(const std::string& text, const std::string& needle) {
  std::istringstream in(text);
  std::string line;
  int n = 0;
  while (std::getline(in, line))
    if (line.find(needle) != std::string::npos) ++n;
  return n;
}

void write_file_atomically(const std::string& path, const std::string& text) {
  {
    std::ofstream out(path + ".tmp");
    out << text;
    if (!out) throw std::runtime_error("cannot write " + path + ".tmp");
  }
  if (std::rename((path + ".tmp").c_str(), path.c_str()) != 0)
    throw std::runtime_error("cannot rename over " + path);
}

int env_seconds(const char* name, int fallback, int lo, int hi) {
  const char* v = std::getenv(name);
  int n = v && *v ? std::atoi(v) : fallback;
  return std::clamp(n, lo, hi);
}

}  // namespace tcpconnect::testing
