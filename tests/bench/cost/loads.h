// The three loopback loads the cost benchmark runs, each for a fixed time: a connect
// storm (every connect runs the connect programs), small UDP datagrams (every datagram
// runs the packet programs and never a connect program), and one TCP stream (few
// packets per byte: the cheapest load to watch).
#pragma once

#include <cstdint>
#include <string>

namespace tcpconnect::bench {

struct LoadResult {
  int64_t units = 0;  // connects, datagrams received, or bytes received
  int64_t sent = 0;   // datagrams sent (the UDP load), else units
  double seconds = 0;
  double rate() const { return seconds > 0 ? static_cast<double>(units) / seconds : 0; }
};

// `threads` threads connect to 127.0.0.1 and close, for `seconds`.
LoadResult connect_load(double seconds, int threads);
// One thread sends `size`-byte datagrams with sendto() (unconnected, as DNS clients do)
// to a receiving thread on 127.0.0.1, for `seconds`.
LoadResult udp_load(double seconds, int size);
// One TCP connection on 127.0.0.1 written in 64 KiB chunks, for `seconds`.
LoadResult tcp_stream_load(double seconds);

}  // namespace tcpconnect::bench
