// Helpers shared by the soak and overload tests: the daemon's resident size, its log
// read by level, and config files replaced atomically (a reload never reads half a file).
#pragma once

#include <sys/types.h>

#include <string>
#include <vector>

namespace tcpconnect::testing {

// VmRSS of a process in KiB, or -1 when it cannot be read.
long rss_kib(pid_t pid);

// The daemon's log lines at warning level or above ("warning:", "error:", "critical:"
// as its log pattern writes them).
std::vector<std::string> warning_and_error_lines(const std::string& log);

// How many lines of `text` contain `needle`.
int count_lines_with(const std::string& text, const std::string& needle);

// Writes `text` to path.tmp, then renames it over path. Throws on failure.
void write_file_atomically(const std::string& path, const std::string& text);

// A seconds value from the environment: `fallback` when unset, clamped to [lo, hi].
int env_seconds(const char* name, int fallback, int lo, int hi);

}  // namespace tcpconnect::testing
