// Hostile config files: what an operator's mistake or an attacker who can write the file
// might hand the daemon (at start, on --check-config, on SIGHUP). Each must end in one
// clear error line that names the file (and line:column where there is one), in bounded
// time and memory, never a crash. tests/fuzz/config_fuzz_target.cpp explores the rest.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include "config/config.h"

namespace tcpconnect {
namespace {

constexpr char kName[] = "config.yaml";

// The error for yaml; fails the test if it parses.
std::string error_of(const std::string& yaml) {
  Result<Config> result = parse_config(yaml, kName);
  EXPECT_FALSE(result.ok()) << yaml.substr(0, 200);
  return result.ok() ? "" : result.error().message;
}

// One line that starts with the file name, and a position when `position` is set.
void expect_clear(const std::string& message, const std::string& position = "") {
  EXPECT_EQ(message.rfind(std::string(kName) + ":", 0), 0u) << message;
  if (!position.empty()) {
    EXPECT_EQ(message.rfind(std::string(kName) + ":" + position + ": ", 0), 0u) << message;
  }
  EXPECT_EQ(message.find_first_of("\n\r"), std::string::npos) << message;
  EXPECT_LT(message.size(), 600u) << message;
}

class ScratchFile {
 public:
  ScratchFile() {
    std::string pattern = ::testing::TempDir() + "config_hostile.XXXXXX";
    const int fd = ::mkstemp(pattern.data());
    EXPECT_GE(fd, 0);
    if (fd >= 0) ::close(fd);
    path_ = pattern;
  }
  ~ScratchFile() { std::remove(path_.c_str()); }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

TEST(HostileConfig, DeepNestingOfEveryKind) {
  const size_t depth = 100000;
  std::string block;  // "- - - - ...": block sequences nested on one line
  for (size_t i = 0; i < depth; ++i) block += "- ";
  const std::vector<std::string> inputs = {
      std::string(depth, '['),
      std::string(depth, '{'),
      "web: " + std::string(depth, '['),
      "filters:\n  pids: " + std::string(depth, '[') + std::string(depth, ']') + "\n",
      block + "1\n",
  };
  for (const std::string& input : inputs) {
    const std::string message = error_of(input);
    expect_clear(message);
    EXPECT_NE(message.find("nested too deeply"), std::string::npos) << message;
  }
}

// Nested within yaml-cpp's own depth limit: our parser refuses it by type, not recursion.
// yaml-cpp 0.7's LoadAll loops forever, allocating, on a "," outside brackets
// (jbeder/yaml-cpp#1040): found by tests/fuzz/config_fuzz_target.cpp.
TEST(HostileConfig, StrayCommaDoesNotHang) {
  EXPECT_EQ(error_of(","),
            std::string(kName) +
                ":1:1: invalid YAML: unexpected \",\" (a \",\" outside [...] or {...}?)");
  for (const std::string input : {",\n", ",abels:\n  keep: [daddr, lport]\n", "\n\n  ,x\n",
                                  "# comment\n,\n"}) {
    expect_clear(error_of(input));
  }
  // Still a single document where it is one, and two where there are two.
  EXPECT_TRUE(parse_config("limits: {max_series: 3}\n...\n", kName).ok());
  expect_clear(error_of("limits: {max_series: 3}\n---\nweb: {}\n"), "3:1");
}

TEST(HostileConfig, NestedListsWithinTheDepthLimit) {
  const std::string message = error_of("filters:\n  pids: " + std::string(400, '[') +
                                       std::string(400, ']') + "\n");
  EXPECT_EQ(message, std::string(kName) + ":2:10: filters.pids[0]: expected an integer "
                                          "(1..4194304), got a list");
}

// "Billion laughs": aliases to aliases to a long string or a long list. yaml-cpp shares the
// anchored node, so loading is cheap; walking it must not be.
TEST(HostileConfig, AliasBombs) {
  std::string strings = "web: {telemetry_path: &s /" + std::string(400000, 'a') + "}\n";
  strings += "filters:\n  cgroups: [*s";
  for (int i = 0; i < 100000; ++i) strings += ", *s";
  strings += "]\n";

  std::string rules = "allowlist: [&r {ports: [1";
  for (int i = 0; i < 3000; ++i) rules += ",1";
  rules += "]}";
  for (int i = 0; i < 3000; ++i) rules += ",*r";
  rules += "]\n";

  std::string laughs = "filters:\n  comms: &l0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n";
  laughs += "allowlist:\n";
  // Each level a list of 9 aliases to the previous one: 9^8 names if walked.
  std::string previous = "l0";
  for (int level = 1; level <= 8; ++level) {
    const std::string anchor = "l" + std::to_string(level);
    laughs += "  - name: &" + anchor + " [*" + previous;
    for (int i = 1; i < 9; ++i) laughs += ", *" + previous;
    laughs += "]\n";
    previous = anchor;
  }

  for (const std::string* input : {&strings, &rules}) {
    ASSERT_LT(input->size(), kMaxConfigBytes);
    const std::string message = error_of(*input);
    expect_clear(message);
    EXPECT_NE(message.find("aliases expand the config beyond 4 times its own size"),
              std::string::npos)
        << message;
  }
  // A name is a string: refused by type at the first level, before any expansion.
  const std::string message = error_of(laughs);
  expect_clear(message, "4:11");
  EXPECT_NE(message.find("allowlist[0].name: expected a string, got a list"), std::string::npos)
      << message;
}

TEST(HostileConfig, ModestAliasesStillWork) {
  Result<Config> config =
      parse_config("filters:\n  ports: &p [443, \"8000-8999\"]\nallowlist:\n"
                   "  - {name: a.test, ports: *p}\n  - {name: b.test, ports: *p}\n",
                   kName);
  ASSERT_TRUE(config.ok()) << config.error().message;
  EXPECT_EQ(config.value().allowlist.rules.size(), 2u);
  EXPECT_EQ(config.value().allowlist.rules[1].ports.size(), 2u);
}

// Every list at its limit, written out: the alias budget never refuses a real file.
TEST(HostileConfig, LargestValidConfigParses) {
  std::string yaml = "filters:\n  pids: [1";
  for (size_t i = 2; i <= kMaxListEntries; ++i) yaml += "," + std::to_string(i);
  yaml += "]\n  ports: [1";
  for (size_t i = 2; i <= kMaxListEntries; ++i) yaml += "," + std::to_string(i);
  yaml += "]\n  comms: [c";
  for (size_t i = 2; i <= kMaxListEntries; ++i) yaml += ",c" + std::to_string(i);
  yaml += "]\nallowlist:\n";
  for (size_t i = 0; i < kMaxListEntries; ++i) yaml += "- {name: a" + std::to_string(i) + "}\n";
  Result<Config> config = parse_config(yaml, kName);
  ASSERT_TRUE(config.ok()) << config.error().message;
  EXPECT_EQ(config.value().filters.ports.size(), kMaxListEntries);
  EXPECT_EQ(config.value().allowlist.rules.size(), kMaxListEntries);
}

TEST(HostileConfig, InvalidUtf8) {
  expect_clear(error_of("web:\n  telemetry_path: /\xff\xfe\n"), "2:19");
  expect_clear(error_of("\xc3\x28: 1\n"), "1:1");
  expect_clear(error_of("probes:\n  backend: \"\xed\xa0\x80\"\n"), "2:12");
  // Overlong encoding of "/" and a lone continuation byte in a key.
  expect_clear(error_of("web:\n  telemetry_path: \xc0\xaf\n"), "2:19");
  expect_clear(error_of("we\x80" "b: {}\n"), "1:1");
}

TEST(HostileConfig, BinaryGarbage) {
  std::mt19937 random(20261127);
  for (int round = 0; round < 50; ++round) {
    std::string bytes(64 * 1024, '\0');
    for (char& c : bytes) c = static_cast<char>(random() % 255 + 1);  // no NUL: past that check
    Result<Config> result = parse_config(bytes, kName);
    ASSERT_FALSE(result.ok()) << "round " << round;
    expect_clear(result.error().message);
  }
}

TEST(HostileConfig, WrongTypesEverywhere) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"web: [1, 2]\n", "1:6"},
      {"web: {listen_address: [1]}\n", "1:23"},
      {"probes: {max_entries: {a: 1}}\n", "1:23"},
      {"probes: {drain_interval: true}\n", "1:26"},
      {"labels: {keep: family}\n", "1:16"},
      {"limits: {max_series: 1.5e3}\n", "1:22"},
      {"filters: {pids: 7}\n", "1:17"},
      {"filters: {ports: [[443]]}\n", "1:19"},
      {"dns: {enabled: 1}\n", "1:16"},
      {"dns: {ports: [\"53\"]}\n", "1:15"},
      {"allowlist: {cidr: 10.0.0.0/8}\n", "1:12"},
      {"allowlist: [[10.0.0.0/8]]\n", "1:13"},
      {"!!binary aGVsbG8=\n", "1:1"},
  };
  for (const auto& [yaml, position] : cases) expect_clear(error_of(yaml), position);
}

TEST(HostileConfig, ListenAddressZoneIsAnInterfaceName) {
  const std::string message =
      error_of("web:\n  listen_address: \"[fe80::1%eth0,0.0.0.0]:9476\"\n");
  EXPECT_EQ(message, std::string(kName) +
                         ":2:19: web.listen_address: invalid listen address "
                         "\"[fe80::1%eth0,0.0.0.0]:9476\": zone \"eth0,0.0.0.0\" is not an "
                         "interface name");
  expect_clear(error_of("web:\n  listen_address: \"[fe80::1%]:9476\"\n"), "2:19");
  expect_clear(error_of("web:\n  listen_address: \"[fe80::1%abcdefghijklmnop]:9476\"\n"), "2:19");
  EXPECT_TRUE(parse_config("web:\n  listen_address: \"[fe80::1%veth-a_1.2]:9476\"\n", kName).ok());
  // A NUL (YAML's "\0") ends the address for inet_pton, not for civetweb (found by
  // parsers_fuzzer: "[fe80::<NUL><NUL>-<DLE>91h,e]:40" passed, "," and all).
  expect_clear(error_of("web:\n  listen_address: \"[fe80::\\0\\0-91h,e]:40\"\n"), "2:19");
}

// A 50 MB file: refused after reading just past the limit, not loaded.
TEST(HostileConfig, HugeFile) {
  ScratchFile file;
  {
    std::ofstream out(file.path(), std::ios::binary);
    const std::string line = "# " + std::string(1021, 'x') + "\n";  // 1 KiB
    for (int i = 0; i < 50 * 1024; ++i) out << line;
  }
  struct stat st {};
  ASSERT_EQ(::stat(file.path().c_str(), &st), 0);
  ASSERT_EQ(st.st_size, 50 * 1024 * 1024);
  Result<Config> config = load_config_file(file.path());
  ASSERT_FALSE(config.ok());
  EXPECT_EQ(config.error().message,
            file.path() + ": config file is too large (more than 1048576 bytes)");
}

// Endless input (a device, a FIFO someone filled): reading stops at the limit.
TEST(HostileConfig, EndlessFile) {
  Result<Config> config = load_config_file("/dev/zero");
  ASSERT_FALSE(config.ok());
  EXPECT_EQ(config.error().message,
            "/dev/zero: config file is too large (more than 1048576 bytes)");
  config = load_config_file("/dev/urandom");
  ASSERT_FALSE(config.ok());
  EXPECT_EQ(config.error().message,
            "/dev/urandom: config file is too large (more than 1048576 bytes)");
}

TEST(HostileConfig, NulBytesAndDirectory) {
  ScratchFile file;
  std::ofstream(file.path(), std::ios::binary) << std::string("web:\n  listen_\0address: x\n", 26);
  Result<Config> config = load_config_file(file.path());
  ASSERT_FALSE(config.ok());
  EXPECT_EQ(config.error().message,
            file.path() + ":2:10: config contains a NUL byte (is this a binary file?)");
  config = load_config_file(::testing::TempDir());
  ASSERT_FALSE(config.ok());
  EXPECT_NE(config.error().message.find(": Is a directory"), std::string::npos);
  EXPECT_NE(config.error().message.find(::testing::TempDir()), std::string::npos);
}

}  // namespace
}  // namespace tcpconnect
