// Sums over the samples of one metric in Prometheus text output, for tests that check
// totals whatever label set the daemon runs with (a label dropped on reload folds
// series together; the sum over them stays the same).
#pragma once

#include <initializer_list>
#include <sstream>
#include <string>
#include <vector>

namespace tcpconnect::testing {

// Every sample of `name` whose label text contains all fragments, summed; and how many.
struct Samples {
  double sum = 0;
  int count = 0;
};

inline Samples samples(const std::string& body, const std::string& name,
                       const std::vector<std::string>& fragments) {
  Samples out;
  std::istringstream in(body);
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(name, 0) != 0) continue;
    const size_t after = name.size();
    if (after >= line.size() || (line[after] != '{' && line[after] != ' ')) continue;
    const size_t space = line.rfind(' ');
    const std::string labels = line.substr(after, space - after);
    bool all = true;
    for (const std::string& f : fragments) all = all && labels.find(f) != std::string::npos;
    if (!all) continue;
    out.sum += std::stod(line.substr(space + 1));
    ++out.count;
  }
  return out;
}

inline Samples samples(const std::string& body, const std::string& name,
                       std::initializer_list<std::string> fragments = {}) {
  return samples(body, name, std::vector<std::string>(fragments));
}

}  // namespace tcpconnect::testing
