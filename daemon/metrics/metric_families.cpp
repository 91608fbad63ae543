#include "metrics/metric_families.h"

namespace tcpconnect {

std::string MetricDef::full_help() const {
  std::string out(help);
  if (help_names != nullptr) {
    out += help_names->name;
    out += help_tail;
  }
  return out;
}

std::string_view MetricDef::type_name() const {
  switch (type) {
    case prometheus::MetricType::Counter:
      return "counter";
    case prometheus::MetricType::Gauge:
      return "gauge";
    case prometheus::MetricType::Summary:
      return "summary";
    case prometheus::MetricType::Histogram:
      return "histogram";
    case prometheus::MetricType::Untyped:
      break;
  }
  return "untyped";
}

prometheus::MetricFamily MetricDef::family() const {
  return prometheus::MetricFamily{std::string(name), full_help(), type, {}};
}

std::vector<prometheus::ClientMetric::Label> MetricDef::with(
    std::initializer_list<std::string_view> values) const {
  std::vector<prometheus::ClientMetric::Label> out;
  out.reserve(values.size());
  size_t i = 0;
  for (std::string_view v : values) out.push_back({std::string(label_names[i++]), std::string(v)});
  return out;
}

prometheus::Labels MetricDef::labels_of(std::initializer_list<std::string_view> values) const {
  prometheus::Labels out;
  size_t i = 0;
  for (std::string_view v : values) out.emplace(label_names[i++], v);
  return out;
}

}  // namespace tcpconnect
