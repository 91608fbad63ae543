// The one place that states what a valid Config is, including constraints across fields.
// parse.cpp has already refused what it cannot represent (wrong types, unknown names) and
// points the problem found here at the position of its key in the file.
#pragma once

#include <optional>

#include "config/config.h"

namespace tcpconnect::config_detail {

// The first problem, in the order of the sections in the file. Keys of list elements carry
// their index ("filters.ports[2]", "allowlist[0].cidr") so that the parser can point at them.
std::optional<ConfigProblem> find_problem(const Config& config);

}  // namespace tcpconnect::config_detail
