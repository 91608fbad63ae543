// Renders the connect series straight from the SeriesStore into the Prometheus text
// exposition format (0.0.4), appending to a caller's buffer: no prometheus::ClientMetric
// per sample, no std::ostream. At 100k series this is the scrape path's main cost, so it
// replaces ConnectCollector + prometheus-cpp's TextSerializer on the HTTP path. The output
// is byte for byte what that pair renders for the same store through render_families
// (tests/unit/text_renderer_test.cpp compares them): same families, HELP/TYPE lines,
// label order, escaping and number formatting.
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

// Appends tcpconnect_connects_total, tcpconnect_connect_failures_total,
// tcpconnect_connect_duration_seconds and (only while an allowlist is set)
// tcpconnect_unexpected_connects_total to out. label_names: as for ConnectCollector, used
// until the store carries its own.
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
