// A capped family of the series store as a map from label values, for tests that compare
// what it holds. The overflow series (labels nullptr in for_each) is keyed {"<overflow>"}.
#pragma once

#include <map>

#include "metrics/series_store.h"

namespace tcpconnect::testing {

template <typename V>
std::map<LabelValues, V> series_by_labels(const CappedSeries<V>& family) {
  std::map<LabelValues, V> out;
  family.for_each([&](const LabelValues* labels, const V& v) {
    out[labels ? *labels : LabelValues{"<overflow>"}] = v;
  });
  return out;
}

// One field of each series (&ConnectCounts::attempts).
template <typename V, typename Field>
std::map<LabelValues, Field> series_by_labels(const CappedSeries<V>& family, Field V::*field) {
  std::map<LabelValues, Field> out;
  for (const auto& [labels, v] : series_by_labels(family)) out[labels] = v.*field;
  return out;
}

}  // namespace tcpconnect::testing
