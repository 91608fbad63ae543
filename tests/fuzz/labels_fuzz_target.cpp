// libFuzzer target for label values (comm, unit and dns_name are chosen by other
// processes, whoever may make cgroups, and DNS answers): every body the renderers write
// is valid UTF-8 without a control character but the line ends, checked by an
// independent decoder (tests/common/utf8_check.h), whatever the values.
//   - through the LabelRenderer, as the drain makes them, into the store and the direct
//     text renderer (metrics/text_renderer);
//   - the same bytes put into the store as they are (the renderer's own guard);
//   - as the label value of a prometheus-cpp family (render_families: the self and DNS
//     metrics).
// An input: byte 0 = the comm's length (mod 16), byte 1 = the unit's length, then the
// comm, the unit and the DNS name, each cut to what is there.
#include <prometheus/metric_family.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

#include "common/utf8_check.h"
#include "metrics/label_renderer.h"
#include "metrics/text_renderer.h"

namespace {

void check(bool ok) {
  if (!ok) __builtin_trap();
}

// Every line of the body (without its '\n') is safe text.
void check_body(const std::string& body) {
  size_t start = 0;
  while (start < body.size()) {
    size_t end = body.find('\n', start);
    if (end == std::string::npos) end = body.size();
    check(tcpconnect::testing::is_safe_by_table(std::string_view(body).substr(start, end - start)));
    start = end + 1;
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace tcpconnect;
  if (size < 2) return 0;
  const std::string_view rest(reinterpret_cast<const char*>(data + 2), size - 2);
  const size_t comm_len = std::min<size_t>(data[0] % 16, rest.size());
  const size_t unit_len = std::min<size_t>(data[1], rest.size() - comm_len);
  const std::string comm(rest.substr(0, comm_len));
  const std::string unit(rest.substr(comm_len, unit_len));
  const std::string name(rest.substr(comm_len + unit_len));

  LabelsConfig labels;
  labels.keep = {Label::kFamily, Label::kDport, Label::kComm, Label::kUnit, Label::kDnsName};
  LabelRenderer renderer(
      labels, [&](auto&&...) { return name; }, [&](uint64_t) { return unit; });
  tc_connect_key key{};
  key.family = TC_AF_INET;
  key.daddr[0] = 127;
  key.daddr[3] = 1;
  key.dport = 443;
  key.fields = TC_KEY_COMM | TC_KEY_CGROUP;
  std::memcpy(key.comm, comm.data(), comm.size());

  SeriesStore store(16);
  store.set_unexpected_enabled(true);
  ConnectCounts c;
  c.attempts = 1;
  c.failed[TC_FAIL_REFUSED] = 1;
  LatencyCounts l;
  l.count = 1;
  l.buckets[0] = 1;
  const LabelValues made = renderer.connect_labels(key);
  for (const std::string& v : made) check(tcpconnect::testing::is_safe_by_table(v));
  store.add_connects(made, c);
  store.add_unexpected(made, UnexpectedCounts{1});
  store.add_latency(renderer.latency_labels(key.family, key.daddr, name), l);
  // The same bytes, as they came.
  store.add_connects({"ipv4", "443", comm, unit, name}, c);
  store.add_latency({name, unit}, l);
  std::string body;
  render_connect_series(store, renderer.label_names(), body);
  check_body(body);
  body.clear();
  render_connect_series(store, renderer.label_names(), body);  // the kept label text
  check_body(body);

  prometheus::MetricFamily family{
      "tcpconnect_fuzz_info", "Fuzzed.", prometheus::MetricType::Gauge, {}};
  prometheus::ClientMetric& metric = family.metric.emplace_back();
  metric.label = {{"comm", comm}, {"unit", unit}, {"name", name}};
  metric.gauge.value = 1;
  body.clear();
  render_families({family}, body);
  check_body(body);
  return 0;
}
