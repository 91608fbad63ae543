// What yaml-cpp 0.7 (Debian 12) does not say about a document by itself: where a byte
// offset is as a line and column, and whether the text holds a second document.
#pragma once

#include <yaml-cpp/yaml.h>

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

namespace tcpconnect::config_detail {

// yaml-cpp does not report a line for some errors (DeepRecursion); the byte offset is exact.
YAML::Mark mark_at_offset(std::string_view text, size_t offset);

struct SecondDocument {
  YAML::Mark mark;     // its first node
  bool stuck = false;  // yaml-cpp read nothing: it starts where the first one did
};

// Whether text holds a second YAML document. Not YAML::LoadAll: yaml-cpp 0.7 never returns
// from it on a "," outside brackets, reading an empty document there again and again
// without consuming it and keeping every one until memory runs out (jbeder/yaml-cpp#1040,
// fixed upstream after 0.7 by #1319). Here at most two documents are read, and a second
// one that starts where the first did is that loop.
std::optional<SecondDocument> second_document(const std::string& text);

}  // namespace tcpconnect::config_detail
