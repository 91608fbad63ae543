#include "metrics/text_renderer.h"

#include <prometheus/text_serializer.h>

#include <charconv>
#include <cmath>
#include <limits>
#include <mutex>
#include <sstream>

#include "metrics/labels.h"
#include "metrics/metric_families.h"
#include "util/safe_text.h"

namespace tcpconnect {
namespace {

constexpr uint64_t kLatencyBoundsNs[TC_LAT_BUCKETS - 1] = {TC_LAT_BOUNDS_NS};

// Bytes per sample line, roughly: reserving for them saves the buffer's regrowth.
constexpr size_t kBytesPerLineGuess = 140;

// A failure sample found while the connects family is written: its series' label text
// is the one just written there (out[labels_at, labels_at + labels_len)), so the failures
// family is written afterwards from out and this list, without a second pass over the
// store (a cache miss per series) and without a second text buffer.
// The SYN retransmissions of a series are kept the same way, as reason kRetransmits.
struct FailureRef {
  size_t labels_at;
  uint32_t labels_len;
  uint32_t reason;
  uint64_t count;
};
constexpr uint32_t kRetransmits = TC_FAIL_MAX;

// Kept from one scrape to the next, as the response buffers are (web/web_server.cpp):
// made afresh per scrape, a buffer this size stays behind, freed but not returned, in
// the malloc arena of each of the web server's threads. A scrape takes it; a concurrent
// one makes its own.
std::mutex g_failure_refs_mu;
std::vector<FailureRef> g_failure_refs;

std::vector<FailureRef> take_failure_refs() {
  std::lock_guard<std::mutex> lock(g_failure_refs_mu);
  std::vector<FailureRef> v = std::move(g_failure_refs);
  g_failure_refs = {};
  v.clear();
  return v;
}

void give_back_failure_refs(std::vector<FailureRef> v) {
  std::lock_guard<std::mutex> lock(g_failure_refs_mu);
  if (v.capacity() > g_failure_refs.capacity()) g_failure_refs = std::move(v);
}

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

void append_header(std::string& out, const MetricDef& def) {
  out += "# HELP ";
  out += def.name;
  out += ' ';
  out += def.help;
  out += "\n# TYPE ";
  out += def.name;
  out += ' ';
  out += def.type_name();
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
  std::string safe;
  if (!is_safe_text(value)) {
    safe = safe_text(value);
    value = safe;
  }
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

namespace {

// A series' label text, rendered on its first scrape and kept with it in the store.
const std::string& label_text(std::string& text, const std::vector<std::string>& label_names,
                              const LabelValues* values) {
  if (text.empty()) append_labels(text, label_names, values);
  return text;
}

// The connects family, in one pass over the connect series; their failure and
// retransmission samples are collected for the next two families (FailureRef).
void render_connects(const SeriesStore& store, const std::vector<std::string>& names,
                     std::vector<FailureRef>& failures, std::string& out) {
  static constexpr std::string_view kName = metric::kConnects.name;
  Line line{out};
  append_header(out, metric::kConnects);
  store.connects().for_each_rendered(
      [&](const LabelValues* values, const ConnectCounts& c, std::string& text) {
        const std::string& labels = label_text(text, names, values);
        const size_t labels_at = out.size() + kName.size();
        line.head(kName, labels);
        append_double(out, static_cast<double>(c.attempts));
        out += '\n';
        for (uint32_t r = 0; r < c.failed.size(); ++r) {
          if (c.failed[r] != 0)
            failures.push_back({labels_at, static_cast<uint32_t>(labels.size()), r, c.failed[r]});
        }
        if (c.syn_retransmits != 0)
          failures.push_back(
              {labels_at, static_cast<uint32_t>(labels.size()), kRetransmits, c.syn_retransmits});
      });
}

// The failures family, each line's label text copied from the connects family in out.
void render_failures(const std::vector<FailureRef>& failures, std::string& out) {
  static constexpr std::string_view kName = metric::kConnectFailures.name;
  static constexpr std::string_view kReason = metric::kConnectFailures.label_names[0];
  append_header(out, metric::kConnectFailures);
  // Room for every failure line at once (the reason and the value take at most 32 bytes).
  const size_t line_extra = kReason.size() + sizeof(",=\"\"} \n") + 32;
  size_t room = 0;
  for (const FailureRef& f : failures) room += kName.size() + f.labels_len + line_extra;
  out.reserve(out.size() + room);
  for (const FailureRef& f : failures) {
    if (f.reason == kRetransmits) continue;
    // Line::head's line, with the label text copied from out itself (std::string::append
    // copes with its own text, even when it has to grow).
    out += kName;
    if (f.labels_len == 0) {
      out += '{';
    } else {
      out.append(out, f.labels_at, f.labels_len);
      out += ',';
    }
    out += kReason;
    out += "=\"";
    out += failure_reason_name(f.reason);
    out += "\"} ";
    append_double(out, static_cast<double>(f.count));
    out += '\n';
  }
}

void render_retransmits(const std::vector<FailureRef>& failures, std::string& out) {
  static constexpr std::string_view kName = metric::kSynRetransmits.name;
  append_header(out, metric::kSynRetransmits);
  for (const FailureRef& f : failures) {
    if (f.reason != kRetransmits) continue;
    out += kName;
    if (f.labels_len != 0) {
      out.append(out, f.labels_at, f.labels_len);
      out += '}';
    }
    out += ' ';
    append_double(out, static_cast<double>(f.count));
    out += '\n';
  }
}

// Few series (connects waiting right now): their label text is made here.
void render_in_flight(const SeriesStore& store, const std::vector<std::string>& names,
                      std::string& out) {
  static constexpr std::string_view kName = metric::kConnectsInFlight.name;
  Line line{out};
  append_header(out, metric::kConnectsInFlight);
  const SeriesStore::InFlight in_flight = store.in_flight();
  std::string labels;
  auto sample = [&](const LabelValues* values, uint64_t n) {
    labels.clear();
    append_labels(labels, names, values);
    line.head(kName, labels);
    append_double(out, static_cast<double>(n));
    out += '\n';
  };
  for (const auto& [values, n] : in_flight.series) sample(&values, n);
  if (in_flight.overflow != 0) sample(nullptr, in_flight.overflow);
}

void render_latency(const SeriesStore& store, std::string& out) {
  static const std::vector<std::string> kLabelNames = metric::kConnectDuration.label_vector();
  static const std::string kCount = std::string(metric::kConnectDuration.name) + "_count";
  static const std::string kSum = std::string(metric::kConnectDuration.name) + "_sum";
  static const std::string kBucket = std::string(metric::kConnectDuration.name) + "_bucket";
  // The bucket bounds as prometheus-cpp prints them ("0.0001", ..., "+Inf").
  static const std::array<std::string, TC_LAT_BUCKETS> kLe = [] {
    std::array<std::string, TC_LAT_BUCKETS> le;
    for (size_t i = 0; i < le.size(); ++i) {
      append_double(le[i], i < TC_LAT_BUCKETS - 1 ? static_cast<double>(kLatencyBoundsNs[i]) / 1e9
                                                  : std::numeric_limits<double>::infinity());
    }
    return le;
  }();
  Line line{out};
  append_header(out, metric::kConnectDuration);
  store.latency().for_each_rendered(
      [&](const LabelValues* values, const LatencyCounts& l, std::string& text) {
        const std::string& labels = label_text(text, kLabelNames, values);
        line.head(kCount, labels);
        append_uint(out, l.count);
        out += '\n';
        line.head(kSum, labels);
        append_double(out, static_cast<double>(l.sum_ns) / 1e9);
        out += '\n';
        uint64_t cumulative = 0;
        for (size_t i = 0; i < l.buckets.size(); ++i) {
          cumulative += l.buckets[i];
          line.head(kBucket, labels, "le", kLe[i]);
          append_uint(out, cumulative);
          out += '\n';
        }
      });
}

// A counter family of connect attempts (unexpected, stale).
void render_attempts(const MetricDef& def, const CappedSeries<UnexpectedCounts>& series,
                     const std::vector<std::string>& names, std::string& out) {
  Line line{out};
  append_header(out, def);
  series.for_each_rendered(
      [&](const LabelValues* values, const UnexpectedCounts& c, std::string& text) {
        line.head(def.name, label_text(text, names, values));
        append_double(out, static_cast<double>(c.attempts));
        out += '\n';
      });
}

}  // namespace

void render_connect_series(const SeriesStore& store, const std::vector<std::string>& label_names,
                           std::string& out) {
  // One consistent view: a reload that re-folds the store waits for this scrape.
  auto lock = store.read_lock();
  const std::vector<std::string> store_names = store.label_names();
  const std::vector<std::string>& names = store_names.empty() ? label_names : store_names;
  out.reserve(out.size() +
              kBytesPerLineGuess *
                  (2 * store.connects().size() + (TC_LAT_BUCKETS + 2) * store.latency().size()) +
              4096);
  std::vector<FailureRef> failures = take_failure_refs();
  render_connects(store, names, failures, out);
  render_failures(failures, out);
  render_retransmits(failures, out);
  give_back_failure_refs(std::move(failures));
  render_in_flight(store, names, out);
  render_latency(store, out);
  // Only with an allowlist: absent, the family does not exist at all.
  if (store.unexpected_enabled())
    render_attempts(metric::kUnexpectedConnects, store.unexpected(), names, out);
  // Only with DNS names.
  if (store.stale_enabled()) render_attempts(metric::kStaleConnects, store.stale(), names, out);
}

void render_families(std::vector<prometheus::MetricFamily> families, std::string& out) {
  for (prometheus::MetricFamily& family : families)
    for (prometheus::ClientMetric& metric : family.metric)
      for (prometheus::ClientMetric::Label& label : metric.label) make_safe_text(label.value);
  std::ostringstream text;
  prometheus::TextSerializer().Serialize(text, families);
  out += text.view();
}

}  // namespace tcpconnect
