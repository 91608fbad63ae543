// label_bench: what making label values costs, without a kernel. 100k connect keys with
// comm, unit and dns_name kept (ASCII values, as almost all are) go through
// LabelRenderer::connect_labels into a SeriesStore, then the store is rendered twice: the
// first render makes each series' label text, the second reuses it. Prints the best of
// --rounds for each phase.
//
//   build/tests/bench/label_bench [--keys 100000] [--rounds 5]
//
// Timings on a shared machine are noisy; for instruction counts run it under
//   valgrind --tool=callgrind build/tests/bench/label_bench --rounds 1
// A benchmark: it prints what it measured and asserts nothing about it.
#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <string>

#include "metrics/label_renderer.h"
#include "metrics/text_renderer.h"

using namespace tcpconnect;
using Clock = std::chrono::steady_clock;

int main(int argc, char** argv) {
  CLI::App app{"label_bench"};
  int keys = 100000;
  int rounds = 5;
  app.add_option("--keys", keys, "connect keys, one series each")->check(CLI::PositiveNumber);
  app.add_option("--rounds", rounds, "best of this many")->check(CLI::PositiveNumber);
  CLI11_PARSE(app, argc, argv);

  LabelsConfig labels;
  labels.keep = {Label::kFamily,  Label::kSaddr, Label::kDaddr, Label::kDport,
                 Label::kDnsName, Label::kComm,  Label::kUnit};
  LabelRenderer renderer(
      labels,
      [n = 0](auto&&...) mutable { return "svc-" + std::to_string(n++) + ".prod.example.com"; },
      [](uint64_t id) { return "app-" + std::to_string(id % 500) + ".service"; });
  auto ms = [](Clock::duration d) { return std::chrono::duration<double, std::milli>(d).count(); };
  double best_labels = 1e300, best_first = 1e300, best_second = 1e300;
  size_t bytes = 0;
  for (int round = 0; round < rounds; ++round) {
    SeriesStore store(static_cast<size_t>(keys) + 1);
    const auto t0 = Clock::now();
    for (int i = 0; i < keys; ++i) {
      tc_connect_key k{};
      k.family = TC_AF_INET;
      k.saddr[0] = 10;
      k.saddr[3] = 1;
      k.daddr[0] = 10;
      k.daddr[1] = static_cast<uint8_t>(i >> 16);
      k.daddr[2] = static_cast<uint8_t>(i >> 8);
      k.daddr[3] = static_cast<uint8_t>(i);
      k.dport = 443;
      k.fields = TC_KEY_COMM | TC_KEY_CGROUP;
      k.cgroup_id = static_cast<uint64_t>(i);
      std::strcpy(k.comm, "nginx-worker");
      ConnectCounts c;
      c.attempts = 1;
      store.add_connects(renderer.connect_labels(k), c);
    }
    const auto t1 = Clock::now();
    std::string out;
    render_connect_series(store, renderer.label_names(), out);
    const auto t2 = Clock::now();
    out.clear();
    render_connect_series(store, renderer.label_names(), out);
    const auto t3 = Clock::now();
    best_labels = std::min(best_labels, ms(t1 - t0));
    best_first = std::min(best_first, ms(t2 - t1));
    best_second = std::min(best_second, ms(t3 - t2));
    bytes = out.size();
  }
  std::printf(
      "%d keys, best of %d: connect_labels + store %.1f ms, first render %.1f ms, "
      "second render %.1f ms (%zu bytes)\n",
      keys, rounds, best_labels, best_first, best_second, bytes);
  return 0;
}
