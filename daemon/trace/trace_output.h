// What `tcpconnect_exporter trace` prints: tcpconnect(8)'s header, columns and widths,
// its -c table, and the same facts as one JSON object per line. Pure functions of the
// options and the records: tested without a kernel.
#pragma once

#include <linux/types.h>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "dns/dns_cache.h"
#include "shared/trace.h"

namespace tcpconnect {

// The display options (filters do not change the output).
struct TraceColumns {
  bool timestamp = false;  // -t: TIME(s)
  bool uid = false;        // -U: UID
  bool lport = false;      // -L: LPORT
  bool dns = false;        // -d: QUERY
  bool outcome = false;    // --outcome: OUTCOME
  bool pod = false;        // --pod: NAMESPACE POD CONTAINER
  bool json = false;       // --json
};

// One attempt, ready to print.
struct TraceLine {
  double time_s = 0;  // seconds since tracing started (the probes attached)
  uint32_t uid = 0;
  uint32_t pid = 0;
  std::string comm;
  uint16_t family = 0;  // TC_AF_INET / TC_AF_INET6
  std::string saddr;
  uint16_t lport = 0;
  std::string daddr;
  uint16_t dport = 0;
  uint8_t outcome = TC_TRACE_PENDING;
  uint32_t syn_retransmits = 0;  // known once there is an outcome
  std::string query;
  // -d: the destination is stale for its name (DnsLayer::is_stale, the daemon's
  // metric::kStaleConnects verdict): QUERY gains " (stale)".
  bool stale = false;
  // --pod: the Kubernetes pod of the connecting process ("" outside pods), as the
  // namespace, pod and container labels name it.
  std::string namespace_name;
  std::string pod;
  std::string container;
};

// One row of the -c table.
struct TraceCountRow {
  uint16_t family = 0;
  std::string laddr;
  std::string raddr;
  uint16_t rport = 0;
  tc_connect_counts counts{};
  std::string query;
};

// The line printed once the probes are attached, before anything else.
inline constexpr const char* kTraceBanner = "Tracing connect ... Hit Ctrl-C to end";
// The QUERY of a destination no answer named.
inline constexpr const char* kNoDnsQuery = "No DNS Query";
// Appended to the QUERY of a connect to a stale destination.
inline constexpr const char* kStaleNote = " (stale)";
// Answers older than this when the connect happens get their age printed.
inline constexpr uint64_t kDnsDelayNoteNs = 100'000'000;

// "established", "refused", "timeout", "reset", "unreachable", "other", "aborted";
// "-" for an attempt printed before its outcome.
std::string outcome_name(uint8_t outcome);

// The QUERY column: the name of the latest answer for the destination, followed by
// " (123.456ms)" when that answer came more than 100 ms before the connect; "localhost"
// for a loopback destination no answer names; else "No DNS Query". connect_ns 0: no
// delay note (the -c table).
std::string dns_query_text(const std::optional<DnsCacheEntry>& answer, bool loopback,
                           uint64_t connect_ns);

// The column header of per-event output ("" with --json). The pod columns come after
// tcpconnect(8)'s own (and OUTCOME), before QUERY, the one of no fixed width; "-" fills
// them outside pods.
std::string trace_header(const TraceColumns& columns);
// One attempt: a text line, or a JSON object; no newline. With -d, a stale destination's
// QUERY ends in kStaleNote (JSON: "stale":true, else false). An attempt printed before its
// outcome with no local port yet shows LPORT "-" (JSON: null).
std::string trace_line(const TraceColumns& columns, const TraceLine& line);

// The -c table: a blank line and its header, then one line per row, most connects first
// (ties in address order), each with a newline. With --json, one object per row.
std::string count_table(const TraceColumns& columns, std::vector<TraceCountRow> rows);

// A JSON string literal of s as safe text (util/safe_text.h: a comm is bytes, not
// necessarily UTF-8; it reads as the comm label does), quotes and backslashes escaped.
std::string json_string(const std::string& s);

}  // namespace tcpconnect
