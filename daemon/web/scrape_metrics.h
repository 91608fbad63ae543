// The endpoint's metrics about its own scrapes: how many, how long each took, how many
// bytes they sent. Served first, before every other source.
#pragma once

#include <prometheus/counter.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include <cstddef>
#include <memory>

namespace tcpconnect {

class ScrapeMetrics {
 public:
  ScrapeMetrics();
  // One response with the metrics sent: body bytes, seconds from request to sent.
  void observe(size_t bytes, double seconds);
  const std::shared_ptr<prometheus::Registry>& registry() const { return registry_; }

 private:
  std::shared_ptr<prometheus::Registry> registry_;
  prometheus::Counter& scrapes_;
  prometheus::Histogram& duration_;
  prometheus::Counter& bytes_;
};

}  // namespace tcpconnect
