// Renders the connect series straight from the SeriesStore into the Prometheus text
// exposition format (0.0.4), appending to a caller's buffer: no prometheus::ClientMetric
// per sample, no std::ostream. At 100k series this is the scrape path's main cost, which
// is why these families are not built as prometheus-cpp collectables. The output is byte
// for byte what prometheus-cpp's TextSerializer writes for the same families
// (tests/unit/text_renderer_test.cpp compares them with a collectable reference): same
// HELP/TYPE lines, label order, escaping and number formatting. Names, help and types
// come from the catalogue (metrics/metric_families.h).
//
// Every label value is written as safe text (util/safe_text.h), whatever put it in the
// store or the family: a renderer is the last place where a value can be made so.
#pragma once

#include <prometheus/metric_family.h>

#include <string>
#include <string_view>
#include <vector>

#include "metrics/series_store.h"

namespace tcpconnect {

// Appends the connect series' families (metric::kConnects ... metric::kStaleConnects) to
// out; the unexpected ones only while an allowlist is set, the stale ones only with DNS
// names. label_names: the configured labels, used until the store carries its own
// (SeriesStore::label_names, set by Drain::configure).
void render_connect_series(const SeriesStore& store, const std::vector<std::string>& label_names,
                           std::string& out);

// A label value as safe text, with the text format's escapes (backslash, double quote
// and newline; the rule leaves no newline to escape).
void append_escaped_label_value(std::string& out, std::string_view value);
// Families collected from prometheus-cpp collectables (the self metrics, the DNS
// metrics) in prometheus-cpp's TextSerializer text, their label values made safe first.
void render_families(std::vector<prometheus::MetricFamily> families, std::string& out);
// A sample value as prometheus-cpp writes it: "%.16g", "+Inf", "-Inf", "Nan".
void append_double(std::string& out, double value);

}  // namespace tcpconnect
