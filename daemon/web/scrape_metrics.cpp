#include "web/scrape_metrics.h"

#include <string>

#include "metrics/metric_families.h"

namespace tcpconnect {
namespace {

// From a scrape of a few series (under a millisecond) to one of 100k series on a busy
// machine (seconds).
const prometheus::Histogram::BucketBoundaries kDurationBounds = {
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};

}  // namespace

ScrapeMetrics::ScrapeMetrics()
    : registry_(std::make_shared<prometheus::Registry>()),
      scrapes_(register_family(prometheus::BuildCounter(), metric::kScrapes, *registry_).Add({})),
      duration_(register_family(prometheus::BuildHistogram(), metric::kScrapeDuration, *registry_)
                    .Add({}, kDurationBounds)),
      bytes_(
          register_family(prometheus::BuildCounter(), metric::kScrapeBytes, *registry_).Add({})) {}

void ScrapeMetrics::observe(size_t bytes, double seconds) {
  scrapes_.Increment();
  duration_.Observe(seconds);
  bytes_.Increment(static_cast<double>(bytes));
}

}  // namespace tcpconnect
