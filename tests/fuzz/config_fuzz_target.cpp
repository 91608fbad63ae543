// libFuzzer target for the config file: YAML text -> parse_config (yaml-cpp, then every
// check validate_config applies, with file positions), as --check-config, start-up and
// SIGHUP reload do after reading the file. An input is the file's bytes.
//
// Beyond "no crash, no leak, no undefined behaviour", it checks what the daemon relies on:
// a Config that parses is valid by validate_config's own rules; an error is one bounded
// line that starts with the file name (so a hostile file cannot forge log lines).
//
// yaml-cpp is Debian's build, not instrumented: coverage guides the fuzzer through our
// parser and checks only, and ASan sees yaml-cpp's heap through its allocator only.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "config/config.h"

namespace {

void check(bool ok) {
  if (!ok) __builtin_trap();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace tcpconnect;
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  const std::string name = "fuzz.yaml";
  Result<Config> config = parse_config(text, name);
  if (config.ok()) {
    check(config.value().source == name);
    check(validate_config(config.value()).ok());
    for (const std::string& warning : config_warnings(config.value())) {
      check(!warning.empty() && warning.find('\n') == std::string::npos);
    }
  } else {
    const std::string& message = config.error().message;
    check(message.compare(0, name.size(), name) == 0);
    check(message.find_first_of("\n\r") == std::string::npos);
    // Quoted values are shortened to 64 bytes (escaped: 4 bytes each at worst).
    check(message.size() < 2048);
  }
  return 0;
}
