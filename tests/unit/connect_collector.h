// The series store as prometheus-cpp metric families: the reference the direct renderer
// (metrics/text_renderer, much cheaper at 100k series) is checked against
// (text_renderer_test writes both through prometheus-cpp's TextSerializer and compares
// the bytes). The unexpected family exists only while an allowlist is set.
#pragma once

#include <prometheus/collectable.h>
#include <prometheus/metric_family.h>

#include <memory>
#include <string>
#include <vector>

#include "metrics/series_store.h"

namespace tcpconnect {

class ConnectCollector final : public prometheus::Collectable {
 public:
  // label_names: names of the kept connect labels, in the store's order, used until the
  // store carries its own (SeriesStore::label_names, set by Drain::configure).
  ConnectCollector(std::shared_ptr<const SeriesStore> store, std::vector<std::string> label_names);

  std::vector<prometheus::MetricFamily> Collect() const override;

 private:
  std::shared_ptr<const SeriesStore> store_;
  std::vector<std::string> label_names_;
};

}  // namespace tcpconnect
