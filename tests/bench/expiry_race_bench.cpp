// expiry_race_bench: the worst case for deleting cumulative kernel entries. One thread
// connects (refused) to one destination as fast as it can while another deletes that
// destination's entry in a tight loop, each deletion returning the entry's final value
// (ConnectProbe::take_connects, what idle expiry does). Counted = sum of the values taken;
// every connect missing from it was an increment made by a program that had looked the
// entry up just before a deletion. Idle expiry only deletes entries that did not grow for
// limits.idle_expiry; this measures the window itself, many orders of magnitude more
// often than expiry would ever open it.
//
//   sudo build/tests/bench/expiry_race_bench [--connects N]
//
// A benchmark: it prints what it measured and asserts nothing.
#include <CLI/CLI.hpp>
#include <atomic>
#include <cerrno>
#include <cstdio>
#include <thread>

#include "common/net.h"
#include "probes/connect_probe.h"

int main(int argc, char** argv) {
  using namespace tcpconnect;
  CLI::App app{"Deleting a hot kernel entry in a loop: increments lost"};
  int connects = 200000;
  app.add_option("--connects", connects, "refused connects to make")->check(CLI::Range(1, 10000000));
  CLI11_PARSE(app, argc, argv);

  const uint16_t port = testing::closed_port(AF_INET, "127.0.0.1");
  FiltersConfig only;
  only.ports = {PortRange{port, port}};
  ConnectProbe::Options options;
  options.before_attach = [&](ConnectProbe& p) { return p.filters().apply(only); };
  auto attached = ConnectProbe::attach(options);
  if (!attached) {
    std::fprintf(stderr, "%s\n", attached.error().message.c_str());
    return 1;
  }
  ConnectProbe& probe = *attached.value();

  // The key the connects make (family, saddr, daddr, dport; nothing optional).
  tc_connect_key key{};
  key.family = TC_AF_INET;
  key.saddr[0] = key.daddr[0] = 127;
  key.saddr[3] = 1;
  key.daddr[3] = 9;
  key.dport = port;

  std::atomic<bool> done{false};
  int refused = 0;
  std::thread traffic([&] {
    for (int i = 0; i < connects; ++i)
      refused += testing::connect_once(AF_INET, "127.0.0.9", port) == ECONNREFUSED;
    done = true;
  });
  uint64_t counted = 0, deletions = 0, errors = 0;
  while (!done) {
    auto taken = probe.take_connects(key);
    if (!taken) {
      ++errors;
      continue;
    }
    if (taken.value()) {
      counted += taken.value()->attempts;
      ++deletions;
    }
  }
  traffic.join();
  if (auto last = probe.take_connects(key); last && last.value()) counted += last.value()->attempts;
  std::printf("connects %d (refused %d), deletions of the hot entry %llu, counted %llu, lost %lld "
              "(%.4f%%), delete errors %llu\n",
              connects, refused, static_cast<unsigned long long>(deletions),
              static_cast<unsigned long long>(counted),
              static_cast<long long>(connects) - static_cast<long long>(counted),
              100.0 * (static_cast<double>(connects) - static_cast<double>(counted)) / connects,
              static_cast<unsigned long long>(errors));
  return 0;
}
