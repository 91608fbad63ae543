#include "trace/trace_output.h"

#include <fmt/format.h>

#include <algorithm>
#include <tuple>

#include "metrics/labels.h"
#include "util/safe_text.h"

namespace tcpconnect {
namespace {

// tcpconnect(8) pads its last column too; trailing blanks carry nothing.
std::string trim_right(std::string s) {
  while (!s.empty() && s.back() == ' ') s.pop_back();
  return s;
}

// A comm is whatever the process set: keep a terminal safe from it.
std::string printable(const std::string& s) {
  std::string out = s;
  for (char& c : out)
    if (static_cast<unsigned char>(c) < 0x20 || static_cast<unsigned char>(c) >= 0x7f) c = '?';
  return out;
}

// An attempt printed before its next state (still in flight when the tool stopped) from
// a socket the application did not bind: the kernel had not assigned its port yet.
bool lport_unknown(const TraceLine& l) { return l.outcome == TC_TRACE_PENDING && l.lport == 0; }

// Wide enough for most names; a longer one widens its line rather than losing its end
// (two pods' names often differ only there).
constexpr int kNamespaceWidth = 16;
constexpr int kPodWidth = 32;
constexpr int kContainerWidth = 16;

// A pod column: names are safe text already (and cannot hold a blank); "-" keeps an
// empty one a column.
std::string pod_field(const std::string& s) { return s.empty() ? "-" : printable(s); }

int ip_version(uint16_t family) { return family == TC_AF_INET6 ? 6 : 4; }

uint64_t failed_total(const tc_connect_counts& c) {
  uint64_t n = 0;
  for (uint64_t f : c.failed) n += f;
  return n;
}

}  // namespace

std::string outcome_name(uint8_t outcome) {
  if (outcome == TC_TRACE_PENDING) return "-";
  if (outcome == TC_TRACE_ESTABLISHED) return "established";
  return std::string(failure_reason_name(outcome - TC_TRACE_FAILED));
}

std::string dns_query_text(const std::optional<DnsCacheEntry>& answer, bool loopback,
                           uint64_t connect_ns) {
  if (!answer) return loopback ? "localhost" : kNoDnsQuery;
  std::string out = answer->name;
  if (connect_ns > answer->response_ns && connect_ns - answer->response_ns > kDnsDelayNoteNs)
    out += fmt::format(" ({:.3f}ms)", static_cast<double>(connect_ns - answer->response_ns) / 1e6);
  return out;
}

std::string json_string(const std::string& s) {
  std::string out = "\"";
  for (char ch : safe_text(s)) {
    if (ch == '"' || ch == '\\') out += '\\';
    out += ch;
  }
  return out + "\"";
}

std::string trace_header(const TraceColumns& columns) {
  if (columns.json) return "";
  std::string out;
  if (columns.timestamp) out += fmt::format("{:<9}", "TIME(s)");
  if (columns.uid) out += fmt::format("{:<6}", "UID");
  out += fmt::format("{:<6} {:<12} {:<2} {:<16} ", "PID", "COMM", "IP", "SADDR");
  if (columns.lport) out += fmt::format("{:<6} ", "LPORT");
  out += fmt::format("{:<16} {:<6}", "DADDR", "DPORT");
  if (columns.outcome) out += fmt::format(" {:<11} {:<7}", "OUTCOME", "RETRANS");
  if (columns.pod)
    out += fmt::format(" {:<{}} {:<{}} {:<{}}", "NAMESPACE", kNamespaceWidth, "POD", kPodWidth,
                       "CONTAINER", kContainerWidth);
  if (columns.dns) out += " QUERY";
  return trim_right(out);
}

std::string trace_line(const TraceColumns& columns, const TraceLine& l) {
  if (columns.json) {
    std::string out =
        fmt::format(R"({{"time":{:.3f},"uid":{},"pid":{},"comm":{},"ip":{},"saddr":{})", l.time_s,
                    l.uid, l.pid, json_string(l.comm), ip_version(l.family), json_string(l.saddr));
    if (columns.lport)
      out += lport_unknown(l) ? std::string(R"(,"lport":null)")
                              : fmt::format(R"(,"lport":{})", l.lport);
    out += fmt::format(R"(,"daddr":{},"dport":{})", json_string(l.daddr), l.dport);
    if (columns.outcome) {
      out += fmt::format(R"(,"outcome":{})", json_string(outcome_name(l.outcome)));
      out += l.outcome == TC_TRACE_PENDING
                 ? std::string(R"(,"syn_retransmits":null)")
                 : fmt::format(R"(,"syn_retransmits":{})", l.syn_retransmits);
    }
    if (columns.pod)
      out +=
          fmt::format(R"(,"namespace":{},"pod":{},"container":{})", json_string(l.namespace_name),
                      json_string(l.pod), json_string(l.container));
    if (columns.dns) out += fmt::format(R"(,"query":{},"stale":{})", json_string(l.query), l.stale);
    return out + "}";
  }
  std::string out;
  if (columns.timestamp) out += fmt::format("{:<9.3f}", l.time_s);
  if (columns.uid) out += fmt::format("{:<6}", l.uid);
  out += fmt::format("{:<6} {:<12.12} {:<2} {:<16} ", l.pid, printable(l.comm),
                     ip_version(l.family), l.saddr);
  if (columns.lport)
    out += lport_unknown(l) ? fmt::format("{:<6} ", "-") : fmt::format("{:<6} ", l.lport);
  out += fmt::format("{:<16} {:<6}", l.daddr, l.dport);
  if (columns.outcome) {
    out += fmt::format(" {:<11} ", outcome_name(l.outcome));
    out += l.outcome == TC_TRACE_PENDING ? fmt::format("{:<7}", "-")
                                         : fmt::format("{:<7}", l.syn_retransmits);
  }
  if (columns.pod)
    out += fmt::format(" {:<{}} {:<{}} {:<{}}", pod_field(l.namespace_name), kNamespaceWidth,
                       pod_field(l.pod), kPodWidth, pod_field(l.container), kContainerWidth);
  if (columns.dns) out += " " + l.query + (l.stale ? kStaleNote : "");
  return trim_right(out);
}

std::string count_table(const TraceColumns& columns, std::vector<TraceCountRow> rows) {
  std::sort(rows.begin(), rows.end(), [](const TraceCountRow& a, const TraceCountRow& b) {
    return std::make_tuple(b.counts.attempts, a.family, a.laddr, a.raddr, a.rport) <
           std::make_tuple(a.counts.attempts, b.family, b.laddr, b.raddr, b.rport);
  });
  std::string out;
  if (!columns.json) {
    std::string header =
        fmt::format("{:<25} {:<25} {:<20} {:<10}", "LADDR", "RADDR", "RPORT", "CONNECTS");
    if (columns.outcome)
      header += fmt::format(" {:<11} {:<6} {:<7}", "ESTABLISHED", "FAILED", "RETRANS");
    if (columns.dns) header += " QUERY";
    out = "\n" + trim_right(header) + "\n";
  }
  for (const TraceCountRow& r : rows) {
    std::string line;
    if (columns.json) {
      line = fmt::format(R"({{"ip":{},"laddr":{},"raddr":{},"rport":{},"connects":{})",
                         ip_version(r.family), json_string(r.laddr), json_string(r.raddr), r.rport,
                         r.counts.attempts);
      if (columns.outcome) {
        line += fmt::format(R"(,"established":{},"failed":{{)", r.counts.established);
        for (uint32_t i = 0; i < TC_FAIL_MAX; ++i)
          line += fmt::format(R"({}{}:{})", i ? "," : "",
                              json_string(std::string(failure_reason_name(i))), r.counts.failed[i]);
        line += fmt::format(R"(}},"syn_retransmits":{})", r.counts.syn_retransmits);
      }
      if (columns.dns) line += fmt::format(R"(,"query":{})", json_string(r.query));
      line += "}";
    } else {
      line =
          fmt::format("{:<25} {:<25} {:<20} {:<10}", r.laddr, r.raddr, r.rport, r.counts.attempts);
      if (columns.outcome)
        line += fmt::format(" {:<11} {:<6} {:<7}", r.counts.established, failed_total(r.counts),
                            r.counts.syn_retransmits);
      if (columns.dns) line += " " + r.query;
    }
    out += trim_right(line) + "\n";
  }
  return out;
}

}  // namespace tcpconnect
