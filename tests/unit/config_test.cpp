#include "config/config.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <ostream>
#include <string>
#include <utility>
#include <vector>

#include "config/duration.h"

#ifndef TCPCONNECT_SOURCE_DIR
#define TCPCONNECT_SOURCE_DIR "."
#endif

namespace tcpconnect {

// Readable failures instead of byte dumps; found by gtest through ADL.
void PrintTo(const Config& c, std::ostream* os) {
  *os << "{web: {" << c.web.listen_address << ", " << c.web.telemetry_path << "}, probes: {"
      << to_string(c.probes.backend) << ", " << c.probes.max_entries << ", "
      << format_duration(c.probes.drain_interval) << "}, labels: [";
  for (const Label label : c.labels.keep) *os << to_string(label) << " ";
  *os << "], limits: {" << c.limits.max_series << "}}";
}

namespace {

using std::chrono::milliseconds;
using namespace std::chrono_literals;

constexpr char kName[] = "config.yaml";

Config parse_ok(const std::string& yaml) {
  Result<Config> result = parse_config(yaml, kName);
  EXPECT_TRUE(result.ok()) << "unexpected error: " << result.error().message;
  return result.ok() ? result.value() : Config{};
}

// A scratch directory removed with its files when the test ends.
class TempDir {
 public:
  TempDir() {
    std::string pattern = ::testing::TempDir() + "config_test.XXXXXX";
    path_ = ::mkdtemp(pattern.data()) ? pattern : "";
    EXPECT_FALSE(path_.empty());
  }
  ~TempDir() {
    for (const std::string& file : files_) std::remove(file.c_str());
    ::rmdir(path_.c_str());
  }
  const std::string& path() const { return path_; }

  std::string write(const std::string& name, const std::string& content) {
    const std::string file = path_ + "/" + name;
    std::ofstream(file, std::ios::binary) << content;
    files_.push_back(file);
    return file;
  }

 private:
  std::string path_;
  std::vector<std::string> files_;
};

// --- defaults ---------------------------------------------------------------------------

TEST(ConfigDefaults, MatchTheDocumentedValues) {
  const Config config;
  EXPECT_EQ(config.source, "");
  EXPECT_EQ(config.web.listen_address, ":9476");
  EXPECT_EQ(config.web.telemetry_path, "/metrics");
  EXPECT_EQ(config.probes.backend, ProbeBackend::kAuto);
  EXPECT_EQ(config.probes.max_entries, 16384u);
  EXPECT_EQ(config.probes.drain_interval, 1s);
  EXPECT_EQ(config.labels.keep, (std::vector<Label>{Label::kFamily, Label::kSaddr, Label::kDaddr,
                                                    Label::kDport, Label::kDnsName}));
  EXPECT_EQ(config.limits.max_series, 10000u);
  EXPECT_TRUE(validate_config(config).ok());
}

TEST(ConfigDefaults, EmptyInputsGiveDefaults) {
  const std::vector<std::string> inputs = {
      "",
      "\n\n",
      "# only a comment\n",
      "# two\n   # comments, one indented\n",
      "---\n",
      "---\n...\n",
      "~\n",
      "web:\nprobes:\nlabels:\nlimits:\n",
      "web: ~\nprobes: null\n",
      "web: {}\nprobes: {}\nlabels: {}\nlimits: {}\n",
      "{}",
  };
  for (const std::string& input : inputs) {
    SCOPED_TRACE("input: " + input);
    const Config config = parse_ok(input);
    EXPECT_EQ(config, Config{});
    EXPECT_EQ(config.source, kName);
  }
}

TEST(ConfigDefaults, ShippedFileEqualsDefaults) {
  const std::string path = std::string(TCPCONNECT_SOURCE_DIR) + "/config/tcpconnect_exporter.yaml";
  Result<Config> config = load_config_file(path);
  ASSERT_TRUE(config.ok()) << config.error().message;
  EXPECT_EQ(config.value(), Config{});
  EXPECT_EQ(config.value().source, path);
}

TEST(ConfigDefaults, ShippedFileMentionsEveryKey) {
  // The shipped file is the reference documentation: each key must appear in it.
  const std::string path = std::string(TCPCONNECT_SOURCE_DIR) + "/config/tcpconnect_exporter.yaml";
  std::ifstream in(path);
  const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  for (const char* key :
       {"web:", "listen_address:", "telemetry_path:", "probes:", "backend:", "max_entries:",
        "drain_interval:", "labels:", "keep:", "limits:", "max_series:"}) {
    EXPECT_NE(text.find(key), std::string::npos) << key;
  }
}

// --- equality and helpers ---------------------------------------------------------------

TEST(ConfigEquality, IgnoresSourceOnly) {
  Config a;
  Config b;
  b.source = "/etc/other.yaml";
  EXPECT_EQ(a, b);

  const std::vector<std::function<void(Config&)>> changes = {
      [](Config& c) { c.web.listen_address = ":1"; },
      [](Config& c) { c.web.telemetry_path = "/m"; },
      [](Config& c) { c.probes.backend = ProbeBackend::kRawTp; },
      [](Config& c) { c.probes.max_entries = 1; },
      [](Config& c) { c.probes.drain_interval = 2s; },
      [](Config& c) { c.labels.keep.pop_back(); },
      [](Config& c) { c.limits.max_series = 1; },
  };
  for (size_t i = 0; i < changes.size(); ++i) {
    Config changed;
    changes[i](changed);
    EXPECT_NE(changed, Config{}) << "change " << i;
  }
}

TEST(ConfigEnums, ToString) {
  EXPECT_EQ(to_string(ProbeBackend::kAuto), "auto");
  EXPECT_EQ(to_string(ProbeBackend::kTpBtf), "tp_btf");
  EXPECT_EQ(to_string(ProbeBackend::kRawTp), "raw_tp");
  EXPECT_EQ(to_string(ProbeBackend::kTracepoint), "tracepoint");
  EXPECT_EQ(to_string(Label::kFamily), "family");
  EXPECT_EQ(to_string(Label::kSaddr), "saddr");
  EXPECT_EQ(to_string(Label::kDaddr), "daddr");
  EXPECT_EQ(to_string(Label::kDport), "dport");
  EXPECT_EQ(to_string(Label::kDnsName), "dns_name");
}

TEST(ConfigLabels, Has) {
  LabelsConfig labels;
  labels.keep = {Label::kSaddr, Label::kDnsName};
  EXPECT_FALSE(labels.has(Label::kFamily));
  EXPECT_TRUE(labels.has(Label::kSaddr));
  EXPECT_FALSE(labels.has(Label::kDaddr));
  EXPECT_FALSE(labels.has(Label::kDport));
  EXPECT_TRUE(labels.has(Label::kDnsName));
  EXPECT_FALSE(LabelsConfig{{}}.has(Label::kFamily));
}

// --- good files -------------------------------------------------------------------------

struct GoodCase {
  const char* name;
  const char* yaml;
  std::function<void(Config&)> expect;  // applied to a default Config to get the expected one
};

TEST(ConfigParse, GoodFiles) {
  const std::vector<GoodCase> cases = {
      {"full file with every key",
       "web:\n"
       "  listen_address: 127.0.0.1:9100\n"
       "  telemetry_path: /custom/metrics\n"
       "probes:\n"
       "  backend: raw_tp\n"
       "  max_entries: 1024\n"
       "  drain_interval: 500ms\n"
       "labels:\n"
       "  keep: [daddr, dns_name]\n"
       "limits:\n"
       "  max_series: 500\n",
       [](Config& c) {
         c.web.listen_address = "127.0.0.1:9100";
         c.web.telemetry_path = "/custom/metrics";
         c.probes.backend = ProbeBackend::kRawTp;
         c.probes.max_entries = 1024;
         c.probes.drain_interval = 500ms;
         c.labels.keep = {Label::kDaddr, Label::kDnsName};
         c.limits.max_series = 500;
       }},
      {"one key, rest default", "probes:\n  backend: tracepoint\n",
       [](Config& c) { c.probes.backend = ProbeBackend::kTracepoint; }},
      {"tp_btf", "probes: {backend: tp_btf}\n",
       [](Config& c) { c.probes.backend = ProbeBackend::kTpBtf; }},
      {"explicit auto", "probes:\n  backend: \"auto\"\n", [](Config&) {}},
      {"flow style everywhere", "{web: {listen_address: ':80'}, limits: {max_series: 7}}",
       [](Config& c) {
         c.web.listen_address = ":80";
         c.limits.max_series = 7;
       }},
      {"ipv6 listen address", "web:\n  listen_address: \"[::1]:9476\"\n",
       [](Config& c) { c.web.listen_address = "[::1]:9476"; }},
      {"ipv6 with zone", "web:\n  listen_address: \"[fe80::1%eth0]:9476\"\n",
       [](Config& c) { c.web.listen_address = "[fe80::1%eth0]:9476"; }},
      {"host name", "web:\n  listen_address: localhost:65535\n",
       [](Config& c) { c.web.listen_address = "localhost:65535"; }},
      {"unquoted colon port", "web:\n  listen_address: :1\n",
       [](Config& c) { c.web.listen_address = ":1"; }},
      {"root telemetry path", "web:\n  telemetry_path: /\n",
       [](Config& c) { c.web.telemetry_path = "/"; }},
      {"labels are sorted into enum order", "labels:\n  keep:\n    - dns_name\n    - family\n",
       [](Config& c) {
         c.labels.keep = {Label::kFamily, Label::kDnsName};
       }},
      {"no labels at all", "labels:\n  keep: []\n", [](Config& c) { c.labels.keep.clear(); }},
      {"min bounds",
       "probes:\n  max_entries: 1\n  drain_interval: 100ms\nlimits:\n  max_series: 1\n",
       [](Config& c) {
         c.probes.max_entries = 1;
         c.probes.drain_interval = 100ms;
         c.limits.max_series = 1;
       }},
      {"max bounds",
       "probes:\n  max_entries: 1048576\n  drain_interval: 1m\nlimits:\n  max_series: 10000000\n",
       [](Config& c) {
         c.probes.max_entries = 1048576;
         c.probes.drain_interval = 1min;
         c.limits.max_series = 10000000;
       }},
      {"compound duration", "probes:\n  drain_interval: 2s500ms\n",
       [](Config& c) { c.probes.drain_interval = 2500ms; }},
      {"quoted duration", "probes:\n  drain_interval: '30s'\n",
       [](Config& c) { c.probes.drain_interval = 30s; }},
      {"explicit int tag", "limits:\n  max_series: !!int 42\n",
       [](Config& c) { c.limits.max_series = 42; }},
      {"anchors and aliases", "limits: &l {max_series: 3}\n",
       [](Config& c) { c.limits.max_series = 3; }},
      {"crlf line endings", "limits:\r\n  max_series: 5\r\n",
       [](Config& c) { c.limits.max_series = 5; }},
      {"utf-8 byte order mark", "\xef\xbb\xbflimits:\n  max_series: 6\n",
       [](Config& c) { c.limits.max_series = 6; }},
      {"explicit document markers", "---\nlimits:\n  max_series: 8\n...\n",
       [](Config& c) { c.limits.max_series = 8; }},
  };
  for (const GoodCase& test : cases) {
    SCOPED_TRACE(test.name);
    Config expected;
    test.expect(expected);
    EXPECT_EQ(parse_ok(test.yaml), expected);
  }
}

// --- errors -----------------------------------------------------------------------------

struct ErrorCase {
  const char* yaml;
  const char* position;  // "LINE:COLUMN"
  const char* phrase;    // must appear in the message after the position
};

void expect_error(const ErrorCase& test) {
  SCOPED_TRACE(std::string("yaml: ") + test.yaml);
  Result<Config> result = parse_config(test.yaml, kName);
  ASSERT_FALSE(result.ok()) << "parsed, but expected an error containing: " << test.phrase;
  const std::string& message = result.error().message;
  const std::string prefix = std::string(kName) + ":" + test.position + ": ";
  EXPECT_EQ(message.substr(0, prefix.size()), prefix) << message;
  EXPECT_NE(message.find(test.phrase, prefix.size()), std::string::npos)
      << "message: " << message << "\nexpected phrase: " << test.phrase;
  EXPECT_EQ(message.find('\n'), std::string::npos) << "not one line: " << message;
  EXPECT_EQ(result.error().errnum, 0);
}

TEST(ConfigErrors, InvalidYaml) {
  const std::vector<ErrorCase> cases = {
      {"web: [1, 2\nlimits: 3\n", "2:7", "invalid YAML: "},
      {"web:\n  a: 1\n b: 2\n", "3:2", "invalid YAML: end of map not found"},
      {"web: {listen_address: ':1'\n", "2:1", "invalid YAML: end of map flow not found"},
      {"web: {listen_address: *nowhere}\n", "1:23", "invalid YAML: the referenced anchor is not"},
      {"web:\n  telemetry_path: \"\\q\"\n", "2:22", "invalid YAML: unknown escape character: q"},
      {"limits: 1\n  max_series: 2\n", "2:13", "invalid YAML: illegal map value"},
  };
  for (const ErrorCase& test : cases) expect_error(test);
}

TEST(ConfigErrors, InvalidYamlMessageTakesYamlCppText) {
  Result<Config> result = parse_config("a: [\n", kName);
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.error().message.find("config.yaml:"), 0u) << result.error().message;
  EXPECT_NE(result.error().message.find(": invalid YAML: "), std::string::npos);
  // yaml-cpp's own "error at line N" prefix would repeat the position in another base.
  EXPECT_EQ(result.error().message.find("yaml-cpp"), std::string::npos) << result.error().message;
}

TEST(ConfigErrors, DeepNesting) {
  const std::string deep(5000, '[');
  Result<Config> result = parse_config(deep, kName);
  ASSERT_FALSE(result.ok());
  EXPECT_NE(result.error().message.find("nested too deeply"), std::string::npos)
      << result.error().message;
  EXPECT_EQ(result.error().message.find(std::string(kName) + ":1:"), 0u) << result.error().message;
}

TEST(ConfigErrors, TopLevel) {
  const std::vector<ErrorCase> cases = {
      {"hello\n", "1:1",
       "expected a map of sections (web, probes, labels, limits) at the top "
       "level, got \"hello\""},
      {"- web\n- probes\n", "1:1", "at the top level, got a list"},
      {"\n\n  42\n", "3:3", "got \"42\""},
      {"web: {}\n---\nweb: {}\n", "3:1", "more than one YAML document"},
  };
  for (const ErrorCase& test : cases) expect_error(test);
}

TEST(ConfigErrors, UnknownKeys) {
  const std::vector<ErrorCase> cases = {
      {"web:\n  listn_address: \":1\"\n", "2:3",
       "unknown key \"listn_address\" in web (known: listen_address, telemetry_path); "
       "did you mean \"listen_address\"?"},
      {"wbe:\n  listen_address: \":1\"\n", "1:1",
       "unknown key \"wbe\" at the top level (known: web, probes, labels, limits); did you mean "
       "\"web\"?"},
      {"probes:\n  backend: auto\n  max_entires: 5\n", "3:3",
       "unknown key \"max_entires\" in probes (known: backend, max_entries, drain_interval); "
       "did you mean \"max_entries\"?"},
      {"labels:\n  drop: [pid]\n", "2:3", "unknown key \"drop\" in labels (known: keep)"},
      {"limits:\n  max_series: 5\n  idle_expiry: 5m\n", "3:3",
       "unknown key \"idle_expiry\" in limits (known: max_series)"},
      // Sections designed for later are unknown until they exist.
      {"filters:\n  pids: [1]\n", "1:1", "unknown key \"filters\" at the top level"},
      {"dns:\n  enabled: true\n", "1:1", "unknown key \"dns\""},
      {"allowlist: {}\n", "1:1", "unknown key \"allowlist\""},
      // Keys are case-sensitive, but the suggestion is not.
      {"Web: {}\n", "1:1",
       "unknown key \"Web\" at the top level (known: web, probes, labels, "
       "limits); did you mean \"web\"?"},
      {"web:\n  listen_address: \":1\"\n  listen_address: \":2\"\n  zzz: 1\n", "3:3",
       "duplicate key"},
  };
  for (const ErrorCase& test : cases) expect_error(test);
}

TEST(ConfigErrors, NoSuggestionForUnrelatedKeys) {
  Result<Config> result = parse_config("web:\n  tls_config: {}\n", kName);
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.error().message.find("did you mean"), std::string::npos)
      << result.error().message;
}

TEST(ConfigErrors, DuplicateKeys) {
  const std::vector<ErrorCase> cases = {
      {"web: {}\nlimits: {}\nweb: {}\n", "3:1",
       "duplicate key \"web\" at the top level (first at 1:1)"},
      {"limits:\n  max_series: 1\n  max_series: 2\n", "3:3",
       "duplicate key \"max_series\" in limits (first at 2:3)"},
      {"probes: {backend: auto, backend: raw_tp}\n", "1:25", "duplicate key \"backend\" in probes"},
  };
  for (const ErrorCase& test : cases) expect_error(test);
}

TEST(ConfigErrors, WrongTypes) {
  const std::vector<ErrorCase> cases = {
      // Sections.
      {"web: 5\n", "1:6",
       "web: expected a map with keys listen_address, telemetry_path, got \"5\""},
      {"probes: [auto]\n", "1:9",
       "probes: expected a map with keys backend, max_entries, "
       "drain_interval, got a list"},
      {"labels: family\n", "1:9", "labels: expected a map with keys keep, got \"family\""},
      {"limits: ''\n", "1:9", "limits: expected a map with keys max_series, got \"\""},
      // Keys.
      {"[a, b]: 1\n", "1:1", "keys must be plain names, got a list at the top level"},
      {"web:\n  {a: 1}: 2\n", "2:3", "keys must be plain names, got a map in web"},
      // Strings.
      {"web:\n  listen_address: {host: x}\n", "2:19",
       "web.listen_address: expected a string, got a map"},
      {"web:\n  telemetry_path: [/a, /b]\n", "2:19",
       "web.telemetry_path: expected a string, got a list"},
      {"web:\n  listen_address:\n", "2:3",
       "web.listen_address: missing value (omit the key to use the default)"},
      {"web:\n  telemetry_path: ~\n", "2:3", "web.telemetry_path: missing value"},
      // Integers.
      {"limits:\n  max_series: abc\n", "2:15",
       "limits.max_series: expected an integer (1..10000000), got \"abc\""},
      {"limits:\n  max_series: -1\n", "2:15", "limits.max_series: -1 is out of range 1..10000000"},
      {"limits:\n  max_series: 1.5\n", "2:15",
       "limits.max_series: expected an integer (1..10000000), got the number \"1.5\""},
      {"limits:\n  max_series: 1e3\n", "2:15", "got the number \"1e3\""},
      {"limits:\n  max_series: .inf\n", "2:15", "expected an integer"},
      {"limits:\n  max_series: true\n", "2:15", "got the boolean \"true\""},
      {"limits:\n  max_series: yes\n", "2:15", "got the boolean \"yes\""},
      {"limits:\n  max_series: \"100\"\n", "2:15",
       "got the quoted string \"100\" (remove the quotes)"},
      {"limits:\n  max_series: 0x10\n", "2:15", "expected an integer"},
      {"limits:\n  max_series: 010\n", "2:15", "a leading zero would mean octal"},
      {"limits:\n  max_series: +5\n", "2:15", "expected an integer"},
      {"limits:\n  max_series: 10_000\n", "2:15", "expected an integer"},
      {"limits:\n  max_series: [1]\n", "2:15", "expected an integer (1..10000000), got a list"},
      {"limits:\n  max_series: {a: 1}\n", "2:15", "got a map"},
      {"limits:\n  max_series:\n", "2:3", "limits.max_series: missing value"},
      {"probes:\n  max_entries: -5\n", "2:16", "probes.max_entries: -5 is out of range 1..1048576"},
      // Durations.
      {"probes:\n  drain_interval: [1s]\n", "2:19",
       "probes.drain_interval: expected a duration like 1s or 500ms, got a list"},
      {"probes:\n  drain_interval:\n", "2:3", "probes.drain_interval: missing value"},
      // Enumerations.
      {"probes:\n  backend: {name: auto}\n", "2:12",
       "probes.backend: expected a backend name, got a map"},
      {"labels:\n  keep: family\n", "2:9",
       "labels.keep: expected a list of labels like [family, daddr], got \"family\""},
      {"labels:\n  keep: {family: 1}\n", "2:9", "labels.keep: expected a list of labels"},
      {"labels:\n  keep:\n", "2:3",
       "labels.keep: missing value (omit the key for the default, or "
       "[] for no labels)"},
      {"labels:\n  keep: [family, [saddr]]\n", "2:18",
       "labels.keep: expected a label name, got a list"},
  };
  for (const ErrorCase& test : cases) expect_error(test);
}

TEST(ConfigErrors, OutOfRange) {
  const std::vector<ErrorCase> cases = {
      {"probes:\n  max_entries: 0\n", "2:16", "probes.max_entries: 0 is out of range 1..1048576"},
      {"probes:\n  max_entries: 1048577\n", "2:16", "1048577 is out of range 1..1048576"},
      {"probes:\n  max_entries: 4294967296\n", "2:16", "4294967296 is out of range 1..1048576"},
      {"probes:\n  max_entries: 99999999999999999999999\n", "2:16",
       "99999999999999999999999 is out of range 1..1048576"},
      {"limits:\n  max_series: 0\n", "2:15", "limits.max_series: 0 is out of range 1..10000000"},
      {"limits:\n  max_series: 10000001\n", "2:15", "10000001 is out of range 1..10000000"},
      {"probes:\n  drain_interval: 99ms\n", "2:19",
       "probes.drain_interval: 99ms is out of range 100ms..1m"},
      {"probes:\n  drain_interval: 0\n", "2:19", "0s is out of range 100ms..1m"},
      {"probes:\n  drain_interval: 1m1ms\n", "2:19", "1m1ms is out of range 100ms..1m"},
      {"probes:\n  drain_interval: 1y\n", "2:19", "1y is out of range"},
  };
  for (const ErrorCase& test : cases) expect_error(test);
}

TEST(ConfigErrors, BadValues) {
  const std::vector<ErrorCase> cases = {
      // Backend.
      {"probes:\n  backend: kprobe\n", "2:12",
       "probes.backend: unknown backend \"kprobe\" (valid: auto, tp_btf, raw_tp, tracepoint)"},
      {"probes:\n  backend: tpbtf\n", "2:12", "did you mean \"tp_btf\"?"},
      {"probes:\n  backend: AUTO\n", "2:12", "did you mean \"auto\"?"},
      {"probes:\n  backend: ''\n", "2:12", "unknown backend \"\""},
      // Labels.
      {"labels:\n  keep: [family, dst]\n", "2:18",
       "labels.keep: unknown label \"dst\" (valid: family, saddr, daddr, dport, dns_name)"},
      {"labels:\n  keep: [dnsname]\n", "2:10", "did you mean \"dns_name\"?"},
      {"labels:\n  keep:\n    - daddr\n    - family\n    - daddr\n", "5:7",
       "labels.keep: duplicate label \"daddr\" (first at 3:7)"},
      {"labels:\n  keep: [uid]\n", "2:10", "unknown label \"uid\""},
      // Durations.
      {"probes:\n  drain_interval: 1x\n", "2:19",
       "probes.drain_interval: invalid duration \"1x\": unknown unit \"x\""},
      {"probes:\n  drain_interval: 1000\n", "2:19", "invalid duration \"1000\": missing unit"},
      {"probes:\n  drain_interval: 1.5s\n", "2:19", "fractions are not allowed"},
      {"probes:\n  drain_interval: -1s\n", "2:19", "a sign is not allowed"},
      {"probes:\n  drain_interval: 30s1m\n", "2:19", "units out of order"},
      {"probes:\n  drain_interval: 1s1s\n", "2:19", "unit \"s\" given twice"},
      {"probes:\n  drain_interval: ''\n", "2:19", "empty duration"},
      {"probes:\n  drain_interval: 1 s\n", "2:19", "invalid duration \"1 s\""},
      // Telemetry path.
      {"web:\n  telemetry_path: metrics\n", "2:19",
       "web.telemetry_path: must start with \"/\", got \"metrics\""},
      {"web:\n  telemetry_path: ''\n", "2:19", "must start with \"/\""},
      {"web:\n  telemetry_path: /met rics\n", "2:19", "invalid character"},
      {"web:\n  telemetry_path: /metrics?x=1\n", "2:19", "invalid character"},
      // Listen address.
      {"web:\n  listen_address: localhost\n", "2:19",
       "web.listen_address: invalid listen address \"localhost\": missing port"},
      {"web:\n  listen_address: ''\n", "2:19", "listen address is empty"},
      {"web:\n  listen_address: 'localhost:'\n", "2:19", "missing port after \":\""},
      {"web:\n  listen_address: ':99999'\n", "2:19", "port 99999 is out of range 1..65535"},
      {"web:\n  listen_address: ':65536'\n", "2:19", "port 65536 is out of range 1..65535"},
      {"web:\n  listen_address: ':0'\n", "2:19", "port 0 is out of range 1..65535"},
      {"web:\n  listen_address: ':http'\n", "2:19", "port \"http\" is not a number"},
      {"web:\n  listen_address: ':-1'\n", "2:19", "port \"-1\" is not a number"},
      {"web:\n  listen_address: 9476\n", "2:19", "missing port"},
      {"web:\n  listen_address: '::1:9476'\n", "2:19", "an IPv6 address needs brackets"},
      {"web:\n  listen_address: '[::1]'\n", "2:19", "missing port"},
      {"web:\n  listen_address: '[::1]9476'\n", "2:19", "expected \":\" and a port after \"]\""},
      {"web:\n  listen_address: '[::1:9476'\n", "2:19", "missing \"]\""},
      {"web:\n  listen_address: '[nope]:9476'\n", "2:19", "\"nope\" is not an IPv6 address"},
      {"web:\n  listen_address: 'my host:9476'\n", "2:19", "host \"my host\" is not a host name"},
  };
  for (const ErrorCase& test : cases) expect_error(test);
}

TEST(ConfigErrors, FirstErrorWinsAndNothingIsApplied) {
  // Two problems: the one earlier in the file is reported, and no partial config comes back.
  Result<Config> result =
      parse_config("limits:\n  max_series: 5\nprobes:\n  backend: nope\n  max_entries: 0\n", kName);
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.error().message.find("config.yaml:4:12: probes.backend: unknown backend"), 0u)
      << result.error().message;
}

TEST(ConfigErrors, HostileContentStaysOnOneLine) {
  const std::vector<std::string> inputs = {
      "\"evil\\nconfig.yaml:1:1: forged\": 1\n",
      "web:\n  telemetry_path: \"\\e[31mred\\r\"\n",
      "probes:\n  backend: \"\\u2028\\x7f\\x01\"\n",
      "labels:\n  keep: [\"\\n\"]\n",
      std::string("limits:\n  max_series: ") + std::string(100000, '9') + "\n",
      std::string(100000, 'k') + ": 1\n",
  };
  for (const std::string& input : inputs) {
    Result<Config> result = parse_config(input, kName);
    ASSERT_FALSE(result.ok());
    const std::string& message = result.error().message;
    EXPECT_EQ(message.find_first_of("\n\r\x1b\x7f"), std::string::npos) << message;
    EXPECT_LT(message.size(), 400u) << message;
  }
}

TEST(ConfigErrors, NulByte) {
  const std::string yaml("web:\n  telemetry_path: /m\0x\n", 28);
  Result<Config> result = parse_config(yaml, kName);
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.error().message,
            "config.yaml:2:21: config contains a NUL byte (is this a binary file?)");
}

TEST(ConfigErrors, TooLargeText) {
  const std::string yaml(kMaxConfigBytes + 1, '#');
  Result<Config> result = parse_config(yaml, kName);
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.error().message,
            "config.yaml: config is too large (1048577 bytes, the limit is 1048576)");
}

// --- validate_config --------------------------------------------------------------------

TEST(ValidateConfig, ChecksConfigsBuiltInCode) {
  struct Case {
    std::function<void(Config&)> change;
    const char* message;
  };
  const std::vector<Case> cases = {
      {[](Config& c) { c.web.listen_address = "nowhere"; },
       "web.listen_address: invalid listen address \"nowhere\": missing port (expected "
       "host:port, [ipv6]:port or :port)"},
      {[](Config& c) { c.web.telemetry_path = "x"; },
       "web.telemetry_path: must start with \"/\", got \"x\""},
      {[](Config& c) { c.probes.max_entries = 0; },
       "probes.max_entries: 0 is out of range 1..1048576"},
      {[](Config& c) { c.probes.drain_interval = 2min; },
       "probes.drain_interval: 2m is out of range 100ms..1m"},
      {[](Config& c) {
         c.labels.keep = {Label::kDport, Label::kFamily};
       },
       "labels.keep: labels must be in the order family, saddr, daddr, dport, dns_name, without "
       "duplicates"},
      {[](Config& c) {
         c.labels.keep = {Label::kDport, Label::kDport};
       },
       "labels.keep: labels must be in the order"},
      {[](Config& c) { c.limits.max_series = 10000001; },
       "limits.max_series: 10000001 is out of range 1..10000000"},
  };
  for (const Case& test : cases) {
    Config config;
    test.change(config);
    Status status = validate_config(config);
    ASSERT_FALSE(status.ok()) << test.message;
    EXPECT_EQ(status.error().message.find(test.message), 0u) << status.error().message;
  }
  Config ok;
  ok.web.listen_address = "[::]:1";
  ok.labels.keep = {};
  EXPECT_TRUE(validate_config(ok).ok());
}

// --- load_config_file -------------------------------------------------------------------

TEST(LoadConfigFile, ReadsAndNamesTheFile) {
  TempDir dir;
  const std::string path = dir.write("good.yaml", "limits:\n  max_series: 12\n");
  Result<Config> config = load_config_file(path);
  ASSERT_TRUE(config.ok()) << config.error().message;
  EXPECT_EQ(config.value().limits.max_series, 12u);
  EXPECT_EQ(config.value().source, path);
}

TEST(LoadConfigFile, ErrorsNameThePath) {
  TempDir dir;
  const std::string path = dir.write("bad.yaml", "\nlimits:\n  max_series: 0\n");
  Result<Config> config = load_config_file(path);
  ASSERT_FALSE(config.ok());
  EXPECT_EQ(config.error().message,
            path + ":3:15: limits.max_series: 0 is out of range 1..10000000");
}

TEST(LoadConfigFile, MissingFile) {
  TempDir dir;
  const std::string path = dir.path() + "/does-not-exist.yaml";
  Result<Config> config = load_config_file(path);
  ASSERT_FALSE(config.ok());
  EXPECT_EQ(config.error().message,
            "cannot read config file " + path + ": No such file or directory");
  EXPECT_EQ(config.error().errnum, ENOENT);
}

TEST(LoadConfigFile, Directory) {
  TempDir dir;
  Result<Config> config = load_config_file(dir.path());
  ASSERT_FALSE(config.ok());
  EXPECT_EQ(config.error().message, "cannot read config file " + dir.path() + ": Is a directory");
  EXPECT_EQ(config.error().errnum, EISDIR);
}

TEST(LoadConfigFile, Unreadable) {
  if (::geteuid() == 0) GTEST_SKIP() << "root reads files whatever their mode";
  TempDir dir;
  const std::string path = dir.write("secret.yaml", "web: {}\n");
  ASSERT_EQ(::chmod(path.c_str(), 0), 0);
  Result<Config> config = load_config_file(path);
  ASSERT_FALSE(config.ok());
  EXPECT_EQ(config.error().message, "cannot read config file " + path + ": Permission denied");
}

TEST(LoadConfigFile, ReadError) {
  // Opens fine but every read fails (address 0 is never mapped), even for root.
  Result<Config> config = load_config_file("/proc/self/mem");
  ASSERT_FALSE(config.ok());
  EXPECT_EQ(config.error().message, "cannot read config file /proc/self/mem: Input/output error");
  EXPECT_EQ(config.error().errnum, EIO);
}

TEST(LoadConfigFile, TooLarge) {
  TempDir dir;
  const std::string path = dir.write("big.yaml", std::string(kMaxConfigBytes + 1, '#'));
  Result<Config> config = load_config_file(path);
  ASSERT_FALSE(config.ok());
  EXPECT_EQ(config.error().message, path + ": config file is too large (more than 1048576 bytes)");
}

TEST(LoadConfigFile, ExactlyAtTheLimitIsAccepted) {
  TempDir dir;
  std::string text = "limits: {max_series: 9}\n";
  text += "#" + std::string(kMaxConfigBytes - text.size() - 2, 'x') + "\n";
  ASSERT_EQ(text.size(), kMaxConfigBytes);
  Result<Config> config = load_config_file(dir.write("full.yaml", text));
  ASSERT_TRUE(config.ok()) << config.error().message;
  EXPECT_EQ(config.value().limits.max_series, 9u);
}

TEST(LoadConfigFile, NulBytes) {
  TempDir dir;
  const std::string path = dir.write("binary.yaml", std::string("\x7f"
                                                                "ELF\0\0\0",
                                                                7));
  Result<Config> config = load_config_file(path);
  ASSERT_FALSE(config.ok());
  EXPECT_EQ(config.error().message,
            path + ":1:5: config contains a NUL byte (is this a binary file?)");
}

TEST(LoadConfigFile, EmptyFileIsDefaults) {
  TempDir dir;
  Result<Config> config = load_config_file(dir.write("empty.yaml", ""));
  ASSERT_TRUE(config.ok()) << config.error().message;
  EXPECT_EQ(config.value(), Config{});
}

// --- durations --------------------------------------------------------------------------

TEST(Duration, Parse) {
  const std::vector<std::pair<const char*, milliseconds>> cases = {
      {"0", 0ms},
      {"0s", 0ms},
      {"0ms", 0ms},
      {"1ms", 1ms},
      {"500ms", 500ms},
      {"1s", 1s},
      {"90s", 90s},
      {"1m", 1min},
      {"1m30s", 90s},
      {"1h", 1h},
      {"24h", 24h},
      {"1d", 24h},
      {"7d", 7 * 24h},
      {"1w", 7 * 24h},
      {"1y", 365 * 24h},
      {"1y2w3d4h5m6s7ms", 365 * 24h + 14 * 24h + 3 * 24h + 4h + 5min + 6s + 7ms},
      {"2h0m", 2h},
      {"01s", 1s},
      {"1500ms", 1500ms},
  };
  for (const auto& [text, expected] : cases) {
    Result<milliseconds> parsed = parse_duration(text);
    ASSERT_TRUE(parsed.ok()) << text << ": " << parsed.error().message;
    EXPECT_EQ(parsed.value(), expected) << text;
  }
}

TEST(Duration, ParseErrors) {
  const std::vector<std::pair<const char*, const char*>> cases = {
      {"", "empty duration"},
      {"s", "expected a number before each unit"},
      {"1", "missing unit"},
      {"00", "missing unit"},
      {"1s5", "missing unit"},
      {"-1s", "a sign is not allowed"},
      {"+1s", "a sign is not allowed"},
      {"1.5s", "fractions are not allowed"},
      {"1x", "unknown unit \"x\""},
      {"1S", "unknown unit \"S\""},
      {"1us", "unknown unit \"us\""},
      {"1sec", "unknown unit \"sec\""},
      {"1s1m", "units out of order"},
      {"1ms1s", "units out of order"},
      {"1m1m", "unit \"m\" given twice"},
      {"1 s", "expected a unit"},
      {" 1s", "expected a number"},
      {"1s ", "expected a number"},
      {"99999999999999999999ms", "number too large"},
      {"292471209y", "duration too large"},
      {"9223372036854775807ms1ms", "unit \"ms\" given twice"},
      {"292471208y1y", "unit \"y\" given twice"},
      {"292471208y52w", "duration too large"},
  };
  for (const auto& [text, phrase] : cases) {
    Result<milliseconds> parsed = parse_duration(text);
    ASSERT_FALSE(parsed.ok()) << "\"" << text << "\" parsed as " << parsed.value().count();
    EXPECT_NE(parsed.error().message.find(phrase), std::string::npos)
        << "\"" << text << "\": " << parsed.error().message;
  }
}

TEST(Duration, Format) {
  const std::vector<std::pair<milliseconds, const char*>> cases = {
      {0ms, "0s"},
      {1ms, "1ms"},
      {999ms, "999ms"},
      {1s, "1s"},
      {1500ms, "1s500ms"},
      {90s, "1m30s"},
      {1h, "1h"},
      {24h, "1d"},
      {25h, "1d1h"},
      {7 * 24h, "1w"},
      {14 * 24h, "2w"},
      {90 * 24h, "90d"},  // not 12w6d
      {365 * 24h, "1y"},
      {366 * 24h, "366d"},
      {730 * 24h, "2y"},
      {7 * 24h + 1ms, "7d1ms"},
      {-1500ms, "-1s500ms"},
      {milliseconds::min(), "-106751991167d7h12m55s808ms"},
  };
  for (const auto& [value, expected] : cases) {
    EXPECT_EQ(format_duration(value), expected) << value.count();
  }
}

TEST(Duration, RoundTrip) {
  std::vector<milliseconds> values = {0ms, 1ms, 100ms,   1s,        61s,
                                      1h,  24h, 7 * 24h, 365 * 24h, milliseconds::max()};
  // A deterministic spread over many magnitudes, hitting every unit boundary.
  uint64_t x = 0x9e3779b97f4a7c15u;
  for (int i = 0; i < 2000; ++i) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    const int shift = i % 63;
    values.push_back(milliseconds(static_cast<int64_t>((x >> 1) >> shift)));
  }
  for (const milliseconds value : values) {
    const std::string text = format_duration(value);
    Result<milliseconds> parsed = parse_duration(text);
    ASSERT_TRUE(parsed.ok()) << text << ": " << parsed.error().message;
    EXPECT_EQ(parsed.value(), value) << text;
  }
}

TEST(Duration, ParseThenFormatIsCanonical) {
  const std::vector<std::pair<const char*, const char*>> cases = {
      {"0", "0s"},      {"60s", "1m"},   {"1500ms", "1s500ms"},
      {"12w6d", "90d"}, {"52w1d", "1y"}, {"24h", "1d"},
  };
  for (const auto& [text, canonical] : cases) {
    Result<milliseconds> parsed = parse_duration(text);
    ASSERT_TRUE(parsed.ok()) << text;
    EXPECT_EQ(format_duration(parsed.value()), canonical) << text;
  }
}

}  // namespace
}  // namespace tcpconnect
