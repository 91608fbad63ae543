// The three loopback loads the cost benchmark runs, each for a fixed time: a connect
// storm (every connect runs the connect programs), small UDP datagrams (every datagram
// runs the packet programs and never a connect program), and one TCP stream (few
// packets per byte: the cheapest load to watch).
#pragma once

#include <cstdint>
#include <string>

#include "loopback_storm.h"  // LoadNetns: where the loads run

namespace tcpconnect::bench {

struct LoadResult {
  int64_t units = 0;  // connects, datagrams received, or bytes received
  int64_t sent = 0;   // datagrams sent (the UDP load), else units
  double seconds = 0;
  // CPU time of this process (every thread: the loopback softirq work runs in their
  // context, the kernel not accounting IRQ time apart) over the load.
  double cpu_seconds = 0;
  std::string error;  // why the load could not run, or the first failed connect's errno
  double rate() const { return seconds > 0 ? static_cast<double>(units) / seconds : 0; }
  // Units per CPU second: what the load would reach on CPUs of its own, less disturbed
  // than rate() by other work on a shared machine.
  double per_cpu() const { return cpu_seconds > 0 ? static_cast<double>(units) / cpu_seconds : 0; }
};

// `threads` threads connect to 127.0.0.1 and close with a FIN, for `seconds`: the load
// the BPF ns per connect is measured on (every close leaves a TIME_WAIT socket).
LoadResult connect_load(double seconds, int threads);
// The connect storm the throughput ratios use: as connect_load, but the client aborts
// (SO_LINGER 0, an RST) so that no TIME_WAIT socket is left. With orderly closes a storm
// of 20-50k connects/s reuses each of the 28k ephemeral ports within TIME_WAIT's reuse
// delay (1 s) and the TIME_WAIT table fills to tcp_max_tw_buckets, so a round's rate
// depends on the storms run before it. Bounded by `seconds` and by `max_connects`.
LoadResult connect_storm_load(double seconds, int threads, int64_t max_connects = 5000000);
// TIME_WAIT sockets in the main thread's network namespace (-1: unreadable).
int64_t time_wait_sockets();

// One thread sends `size`-byte datagrams with sendto() (unconnected, as DNS clients do)
// to a receiving thread on 127.0.0.1, for `seconds`.
LoadResult udp_load(double seconds, int size);
// One TCP connection on 127.0.0.1 written in 64 KiB chunks, for `seconds`.
LoadResult tcp_stream_load(double seconds);

}  // namespace tcpconnect::bench
