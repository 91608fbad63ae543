#include "metrics/text_renderer.h"

#include <charconv>
#include <cmath>
#include <limits>

#include "metrics/connect_collector.h"
#include "metrics/labels.h"

namespace tcpconnect {
namespace {

constexpr uint64_t kLatencyBoundsNs[TC_LAT_BUCKETS - 1] = {TC_LAT_BOUNDS_NS};

// Bytes per sample line, roughly: reserving for them saves the buffer's regrowth.
constexpr size_t kBytesPerLineGuess = 140;

void append_uint(std::string& out, uint64_t value) {
  char buf[24];
  auto [end, ec] = std::to_chars(buf, buf + sizeof(buf), value);
  out.append(buf, static_cast<size_t>(end - buf));
}

// "{name="value",...": the label set without its closing brace, so that failures and
// histogram buckets can add their own last label. Empty when there are no labels.
void append_labels(std::string& out, const std::vector<std::string>& names,
                   const LabelValues* values) {
  for (size_t i = 0; i < names.size(); ++i) {
    out += i == 0 ? '{' : ',';
    out += names[i];
    out += "=\"";
    append_escaped_label_value(out, values ? std::string_view((*values)[i]) : kOverflowValue);
    out += '"';
  }
}

void append_header(std::string& out, std::string_view name, std::string_view help,
                   std::string_view type) {
  out += "# HELP ";
  out += name;
  out += ' ';
  out += help;
  out += "\n# TYPE ";
  out += name;
  out += ' ';
  out += type;
  out += '\n';
}

// A sample line: name, labels (already opened with '{', or empty), an optional extra
// label, the value.
struct Line {
  std::string& out;
  void head(std::string_view name, const std::string& labels, std::string_view extra_name = {},
            std::string_view extra_value = {}) {
    out += name;
    if (!labels.empty() || !extra_name.empty()) {
      out += labels.empty() ? "{" : labels;
      if (!extra_name.empty()) {
        if (!labels.empty()) out += ',';
        out += extra_name;
        out += "=\"";
        out += extra_value;  // callers pass values that need no escaping
        out += '"';
      }
      out += '}';
    }
    out += ' ';
  }
};

}  // namespace

void append_escaped_label_value(std::string& out, std::string_view value) {
  size_t start = 0;
  for (size_t i = 0; i < value.size(); ++i) {
    const char c = value[i];
    if (c != '\\' && c != '"' && c != '\n') continue;
    out.append(value.data() + start, i - start);
    out += '\\';
    out += c == '\n' ? 'n' : c;
    start = i + 1;
  }
  out.append(value.data() + start, value.size() - start);
}

void append_double(std::string& out, double value) {
  if (std::isnan(value)) {
    out += "Nan";
  } else if (std::isinf(value)) {
    out += value < 0 ? "-Inf" : "+Inf";
  } else {
    // prometheus-cpp writes doubles through an ostream with precision max_digits10 - 1 and
    // the default float field: printf's "%.16g", which this is.
    char buf[128];
    auto [end, ec] = std::to_chars(buf, buf + sizeof(buf), value, std::chars_format::general,
                                   std::numeric_limits<double>::max_digits10 - 1);
    out.append(buf, static_cast<size_t>(end - buf));
  }
}

void render_connect_series(const SeriesStore& store, const std::vector<std::string>& label_names,
                           std::string& out) {
  static constexpr std::string_view kConnects = "tcpconnect_connects_total";
  static constexpr std::string_view kFailures = "tcpconnect_connect_failures_total";
  static constexpr std::string_view kDuration = "tcpconnect_connect_duration_seconds";
  static constexpr std::string_view kUnexpected = "tcpconnect_unexpected_connects_total";

  // One consistent view: a reload that re-folds the store waits for this scrape.
  auto lock = store.read_lock();
  const std::vector<std::string> store_names = store.label_names();
  const std::vector<std::string>& names = store_names.empty() ? label_names : store_names;
  out.reserve(out.size() + kBytesPerLineGuess * (2 * store.connects().size() +
                                                 (TC_LAT_BUCKETS + 2) * store.latency().size()) +
              4096);
  std::string labels;  // the current series' label set, reused
  Line line{out};

  append_header(out, kConnects, "Outbound TCP connect attempts (SYN sent), counted in the kernel.",
                "counter");
  store.connects().for_each([&](const LabelValues* values, const ConnectCounts& c) {
    labels.clear();
    append_labels(labels, names, values);
    line.head(kConnects, labels);
    append_double(out, static_cast<double>(c.attempts));
    out += '\n';
  });

  append_header(out, kFailures, "Outbound TCP connects that did not establish, by reason.",
                "counter");
  store.connects().for_each([&](const LabelValues* values, const ConnectCounts& c) {
    if (c.failures() == 0) return;
    labels.clear();
    append_labels(labels, names, values);
    for (uint32_t r = 0; r < c.failed.size(); ++r) {
      if (c.failed[r] == 0) continue;
      line.head(kFailures, labels, "reason", failure_reason_name(r));
      append_double(out, static_cast<double>(c.failed[r]));
      out += '\n';
    }
  });

  // The bucket bounds as prometheus-cpp prints them ("0.0001", ..., "+Inf").
  std::array<std::string, TC_LAT_BUCKETS> le;
  for (size_t i = 0; i < le.size(); ++i) {
    append_double(le[i], i < TC_LAT_BUCKETS - 1 ? static_cast<double>(kLatencyBoundsNs[i]) / 1e9
                                                : std::numeric_limits<double>::infinity());
  }
  std::string count_name = std::string(kDuration) + "_count";
  std::string sum_name = std::string(kDuration) + "_sum";
  std::string bucket_name = std::string(kDuration) + "_bucket";
  append_header(out, kDuration, "Time from SYN sent to connection established.", "histogram");
  store.latency().for_each([&](const LabelValues* values, const LatencyCounts& l) {
    labels.clear();
    append_labels(labels, kLatencyLabelNames, values);
    line.head(count_name, labels);
    append_uint(out, l.count);
    out += '\n';
    line.head(sum_name, labels);
    append_double(out, static_cast<double>(l.sum_ns) / 1e9);
    out += '\n';
    uint64_t cumulative = 0;
    for (size_t i = 0; i < l.buckets.size(); ++i) {
      cumulative += l.buckets[i];
      line.head(bucket_name, labels, "le", le[i]);
      append_uint(out, cumulative);
      out += '\n';
    }
  });

  // Only with an allowlist: absent, the family does not exist at all.
  if (store.unexpected_enabled()) {
    append_header(out, kUnexpected,
                  "Outbound TCP connect attempts whose destination matched no allowlist rule.",
                  "counter");
    store.unexpected().for_each([&](const LabelValues* values, const UnexpectedCounts& c) {
      labels.clear();
      append_labels(labels, names, values);
      line.head(kUnexpected, labels);
      append_double(out, static_cast<double>(c.attempts));
      out += '\n';
    });
  }
}

}  // namespace tcpconnect
