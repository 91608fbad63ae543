#include "config/config.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <optional>
#include <ostream>
#include <string>
#include <tuple>
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
  *os << "] /" << int{c.labels.daddr_prefix_v4} << " /" << int{c.labels.daddr_prefix_v6} << " "
      << c.labels.collapse_ephemeral_dports << " " << c.labels.ephemeral_port_min << ", limits: {"
      << c.limits.max_series << ", " << format_duration(c.limits.idle_expiry)
      << "}, filters: {pids " << c.filters.pids.size() << ", uids " << c.filters.uids.size()
      << ", ports " << c.filters.ports.size() << ", families " << c.filters.families.size()
      << ", cgroups " << c.filters.cgroups.size() << ", cgroupmap " << c.filters.cgroupmap
      << ", mntnsmap " << c.filters.mntnsmap << ", comms " << c.filters.comms.size() << ", include";
  for (const Cidr& cidr : c.filters.include_cidrs) *os << " " << cidr.text;
  *os << ", exclude";
  for (const Cidr& cidr : c.filters.exclude_cidrs) *os << " " << cidr.text;
  *os << "}, dns: {" << c.dns.enabled << ", ports";
  for (const uint16_t port : c.dns.ports) *os << " " << port;
  *os << ", " << c.dns.capture_bytes << ", " << c.dns.cache_entries << ", "
      << format_duration(c.dns.max_age) << ", " << format_duration(c.dns.lookup_timeout) << ", "
      << format_duration(c.dns.stale_grace) << ", " << to_string(c.dns.capture) << ", "
      << c.dns.ring_bytes << "}, allowlist: {" << c.allowlist.enabled;
  for (const AllowRule& rule : c.allowlist.rules) {
    *os << " [" << (rule.cidr ? rule.cidr->text : "-") << " " << rule.name << " ports "
        << rule.ports.size() << "]";
  }
  *os << "}}";
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
  EXPECT_EQ(config.labels.daddr_prefix_v4, 32);
  EXPECT_EQ(config.labels.daddr_prefix_v6, 128);
  EXPECT_FALSE(config.labels.collapse_ephemeral_dports);
  EXPECT_EQ(config.labels.ephemeral_port_min, 32768);
  EXPECT_EQ(config.limits.max_series, 10000u);
  EXPECT_EQ(config.limits.idle_expiry, 0ms);
  EXPECT_TRUE(config.filters.empty());
  EXPECT_EQ(config.filters, FiltersConfig{});
  EXPECT_TRUE(config.dns.enabled);
  EXPECT_EQ(config.dns.ports, std::vector<uint16_t>{53});
  EXPECT_EQ(config.dns.capture_bytes, 512u);
  EXPECT_EQ(config.dns.cache_entries, 10240u);
  EXPECT_EQ(config.dns.max_age, 24h);
  EXPECT_EQ(config.dns.lookup_timeout, 5s);
  EXPECT_EQ(config.dns.stale_grace, 0ms);
  EXPECT_EQ(config.dns.capture, DnsCapture::kAuto);
  EXPECT_EQ(config.dns.ring_bytes, 1u << 20);
  EXPECT_FALSE(config.allowlist.enabled);
  EXPECT_TRUE(config.allowlist.rules.empty());
  EXPECT_TRUE(validate_config(config).ok());
  EXPECT_TRUE(config_warnings(config).empty());
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
      "filters:\ndns:\n",
      "filters: {}\ndns: {}\n",
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
  for (const char* key : {"web:",
                          "listen_address:",
                          "telemetry_path:",
                          "tls:",
                          "cert_file:",
                          "key_file:",
                          "min_version:",
                          "basic_auth_users:",
                          "probes:",
                          "backend:",
                          "max_entries:",
                          "drain_interval:",
                          "labels:",
                          "keep:",
                          "daddr_prefix_v4:",
                          "daddr_prefix_v6:",
                          "collapse_ephemeral_dports:",
                          "ephemeral_port_min:",
                          "limits:",
                          "max_series:",
                          "idle_expiry:",
                          "filters:",
                          "pids:",
                          "uids:",
                          "ports:",
                          "families:",
                          "cgroups:",
                          "cgroupmap:",
                          "mntnsmap:",
                          "comms:",
                          "include_cidrs:",
                          "exclude_cidrs:",
                          "namespaces:",
                          "exclude_namespaces:",
                          "pods:",
                          "exclude_pods:",
                          "kubernetes:",
                          "pod_logs_dir:",
                          "container_logs_dir:",
                          "dns:",
                          "enabled:",
                          "capture_bytes:",
                          "cache_entries:",
                          "max_age:",
                          "capture:",
                          "ring_bytes:",
                          "# allowlist:",
                          "cidr:",
                          "name:"}) {
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
      [](Config& c) { c.labels.daddr_prefix_v4 = 24; },
      [](Config& c) { c.labels.daddr_prefix_v6 = 64; },
      [](Config& c) { c.labels.collapse_ephemeral_dports = true; },
      [](Config& c) { c.labels.ephemeral_port_min = 1024; },
      [](Config& c) { c.limits.idle_expiry = 1h; },
      [](Config& c) { c.filters.pids = {1}; },
      [](Config& c) { c.filters.uids = {0}; },
      [](Config& c) {
        c.filters.ports = {{80, 80}};
      },
      [](Config& c) { c.filters.families = {Family::kIpv6}; },
      [](Config& c) { c.filters.cgroups = {"a"}; },
      [](Config& c) { c.filters.cgroupmap = "/sys/fs/bpf/c"; },
      [](Config& c) { c.filters.mntnsmap = "/sys/fs/bpf/m"; },
      [](Config& c) { c.filters.comms = {"curl"}; },
      [](Config& c) { c.filters.include_cidrs = {parse_cidr("10.0.0.0/8").value()}; },
      [](Config& c) { c.filters.exclude_cidrs = {parse_cidr("10.0.0.0/8").value()}; },
      [](Config& c) { c.filters.namespaces = {"a"}; },
      [](Config& c) { c.filters.exclude_namespaces = {"a"}; },
      [](Config& c) { c.filters.pods = {"a"}; },
      [](Config& c) { c.filters.exclude_pods = {"a"}; },
      [](Config& c) { c.kubernetes.pod_logs_dir = "/p"; },
      [](Config& c) { c.kubernetes.container_logs_dir = "/c"; },
      [](Config& c) { c.dns.enabled = false; },
      [](Config& c) { c.dns.ports = {5353}; },
      [](Config& c) { c.dns.capture_bytes = 64; },
      [](Config& c) { c.dns.cache_entries = 1; },
      [](Config& c) { c.dns.max_age = 1h; },
      [](Config& c) { c.dns.capture = DnsCapture::kPacketSocket; },
      [](Config& c) { c.dns.ring_bytes = 4096; },
      [](Config& c) { c.allowlist.enabled = true; },
      [](Config& c) {
        c.allowlist.enabled = true;
        c.allowlist.rules = {AllowRule{}};
      },
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
  EXPECT_EQ(to_string(Label::kUid), "uid");
  EXPECT_EQ(to_string(Label::kComm), "comm");
  EXPECT_EQ(to_string(Label::kUnit), "unit");
  EXPECT_EQ(to_string(Label::kLport), "lport");
  EXPECT_EQ(to_string(Label::kPid), "pid");
  EXPECT_EQ(to_string(Label::kNamespace), "namespace");
  EXPECT_EQ(to_string(Label::kPod), "pod");
  EXPECT_EQ(to_string(Label::kContainer), "container");
  EXPECT_EQ(to_string(Family::kIpv4), "ipv4");
  EXPECT_EQ(to_string(Family::kIpv6), "ipv6");
  EXPECT_EQ(to_string(DnsCapture::kAuto), "auto");
  EXPECT_EQ(to_string(DnsCapture::kCgroupSkb), "cgroup_skb");
  EXPECT_EQ(to_string(DnsCapture::kPacketSocket), "packet_socket");
  EXPECT_EQ(to_string(DnsCapture::kFentry), "fentry");
}

TEST(ConfigEquality, PartsCompareEveryField) {
  EXPECT_EQ((PortRange{1, 2}), (PortRange{1, 2}));
  EXPECT_NE((PortRange{1, 2}), (PortRange{1, 3}));
  EXPECT_NE((PortRange{1, 2}), (PortRange{0, 2}));

  const Cidr cidr = parse_cidr("10.0.0.0/8").value();
  EXPECT_EQ(cidr, parse_cidr("10.0.0.0/8").value());
  EXPECT_NE(cidr, parse_cidr("10.0.0.0/9").value());
  EXPECT_NE(cidr, parse_cidr("11.0.0.0/8").value());
  Cidr other_text = cidr;
  other_text.text = "10/8";
  EXPECT_NE(cidr, other_text);
  Cidr other_family = cidr;
  other_family.family = Family::kIpv6;
  EXPECT_NE(cidr, other_family);

  AllowRule rule;
  rule.cidr = cidr;
  AllowRule changed = rule;
  changed.name = "a";
  EXPECT_NE(rule, changed);
  changed = rule;
  changed.ports = {{1, 1}};
  EXPECT_NE(rule, changed);
  changed = rule;
  changed.cidr.reset();
  EXPECT_NE(rule, changed);
  EXPECT_EQ(rule, AllowRule(rule));
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

Cidr cidr(const char* text) {
  Result<Cidr> parsed = parse_cidr(text);
  EXPECT_TRUE(parsed.ok()) << text << ": " << parsed.error().message;
  return parsed.ok() ? parsed.value() : Cidr{};
}

TEST(ConfigParse, GoodFilesNewSections) {
  const std::vector<GoodCase> cases = {
      {"labels: every key",
       "labels:\n"
       "  keep: [pid, lport, unit, comm, uid, dns_name]\n"
       "  daddr_prefix_v4: 24\n"
       "  daddr_prefix_v6: 64\n"
       "  collapse_ephemeral_dports: true\n"
       "  ephemeral_port_min: 49152\n",
       [](Config& c) {
         c.labels.keep = {Label::kDnsName, Label::kUid,   Label::kComm,
                          Label::kUnit,    Label::kLport, Label::kPid};
         c.labels.daddr_prefix_v4 = 24;
         c.labels.daddr_prefix_v6 = 64;
         c.labels.collapse_ephemeral_dports = true;
         c.labels.ephemeral_port_min = 49152;
       }},
      {"labels: bounds",
       "labels:\n  daddr_prefix_v4: 0\n  daddr_prefix_v6: 0\n  ephemeral_port_min: 1\n",
       [](Config& c) {
         c.labels.daddr_prefix_v4 = 0;
         c.labels.daddr_prefix_v6 = 0;
         c.labels.ephemeral_port_min = 1;
       }},
      {"labels: upper bounds and False",
       "labels:\n  daddr_prefix_v4: 32\n  daddr_prefix_v6: 128\n  ephemeral_port_min: 65535\n"
       "  collapse_ephemeral_dports: False\n",
       [](Config& c) { c.labels.ephemeral_port_min = 65535; }},
      {"limits: idle expiry", "limits:\n  idle_expiry: 15m\n",
       [](Config& c) { c.limits.idle_expiry = 15min; }},
      {"limits: idle expiry bounds", "limits: {idle_expiry: 1s}\n",
       [](Config& c) { c.limits.idle_expiry = 1s; }},
      {"limits: idle expiry one year", "limits: {idle_expiry: 365d}\n",
       [](Config& c) { c.limits.idle_expiry = 365 * 24h; }},
      {"limits: idle expiry off", "limits: {idle_expiry: 0s}\n", [](Config&) {}},
      {"filters: every key",
       "filters:\n"
       "  pids: [1, 4194304]\n"
       "  uids: [0, 1000, 4294967294]\n"
       "  ports: [443, \"8000-8999\", 9000-9001, '22', 65535-65535]\n"
       "  families: [ipv6]\n"
       "  cgroups: [system.slice/nginx.service, /sys/fs/cgroup/unified/user.slice, ./a/b]\n"
       "  cgroupmap: /sys/fs/bpf/cgroupmap\n"
       "  mntnsmap: /sys/fs/bpf/mnt_ns_set\n"
       "  comms: [curl, \"fifteen_bytes__\", \"with space\"]\n"
       "  include_cidrs: [10.0.0.0/8, \"2001:DB8::/32\", 192.168.1.1, \"::1\"]\n"
       "  exclude_cidrs: [0.0.0.0/0, \"::/0\", 10.1.2.0/23]\n",
       [](Config& c) {
         c.filters.pids = {1, 4194304};
         c.filters.uids = {0, 1000, 4294967294u};
         c.filters.ports = {{443, 443}, {8000, 8999}, {9000, 9001}, {22, 22}, {65535, 65535}};
         c.filters.families = {Family::kIpv6};
         c.filters.cgroups = {"system.slice/nginx.service", "/sys/fs/cgroup/unified/user.slice",
                              "./a/b"};
         c.filters.cgroupmap = "/sys/fs/bpf/cgroupmap";
         c.filters.mntnsmap = "/sys/fs/bpf/mnt_ns_set";
         c.filters.comms = {"curl", "fifteen_bytes__", "with space"};
         c.filters.include_cidrs = {cidr("10.0.0.0/8"), cidr("2001:db8::/32"),
                                    cidr("192.168.1.1/32"), cidr("::1/128")};
         c.filters.exclude_cidrs = {cidr("0.0.0.0/0"), cidr("::/0"), cidr("10.1.2.0/23")};
       }},
      {"filters: both families, block lists",
       "filters:\n  families:\n    - ipv4\n    - ipv6\n  pids:\n    - 42\n",
       [](Config& c) {
         c.filters.families = {Family::kIpv4, Family::kIpv6};
         c.filters.pids = {42};
       }},
      {"filters: empty lists and strings are the defaults",
       "filters:\n  pids: []\n  cgroupmap: \"\"\n  mntnsmap: ''\n  include_cidrs: []\n",
       [](Config&) {}},
      {"filters: exactly 1024 entries",
       [] {
         static std::string yaml = [] {
           std::string text = "filters:\n  uids: [";
           for (int i = 0; i < 1024; ++i) text += std::to_string(i) + (i < 1023 ? ", " : "]\n");
           return text;
         }();
         return yaml.c_str();
       }(),
       [](Config& c) {
         for (uint32_t i = 0; i < 1024; ++i) c.filters.uids.push_back(i);
       }},
      {"dns: every key",
       "dns:\n"
       "  enabled: false\n"
       "  ports: [53, 5353, 5355]\n"
       "  capture_bytes: 8192\n"
       "  cache_entries: 10000000\n"
       "  max_age: 30d\n"
       "  lookup_timeout: 5m\n"
       "  stale_grace: 1d\n"
       "  capture: packet_socket\n"
       "  ring_bytes: 268435456\n"
       "  scope: host\n",
       [](Config& c) {
         c.dns.scope = DnsScope::kHost;
         c.dns.enabled = false;
         c.dns.ports = {53, 5353, 5355};
         c.dns.capture_bytes = 8192;
         c.dns.cache_entries = 10000000;
         c.dns.max_age = 30 * 24h;
         c.dns.lookup_timeout = 5min;
         c.dns.stale_grace = 24h;
         c.dns.capture = DnsCapture::kPacketSocket;
         c.dns.ring_bytes = 1u << 28;
       }},
      {"dns: lower bounds",
       "dns:\n  ports: [1, 2, 3, 4, 5, 6, 7, 65535]\n  capture_bytes: 64\n  cache_entries: 1\n"
       "  max_age: 1s\n  lookup_timeout: 100ms\n  capture: cgroup_skb\n  ring_bytes: 4096\n",
       [](Config& c) {
         c.dns.lookup_timeout = 100ms;
         c.dns.ports = {1, 2, 3, 4, 5, 6, 7, 65535};
         c.dns.capture_bytes = 64;
         c.dns.cache_entries = 1;
         c.dns.max_age = 1s;
         c.dns.capture = DnsCapture::kCgroupSkb;
         c.dns.ring_bytes = 4096;
       }},
      {"dns: TRUE", "dns: {enabled: TRUE}\n", [](Config&) {}},
      {"allowlist: rules",
       "allowlist:\n"
       "  - cidr: 10.0.0.0/8\n"
       "    ports: [443, \"8000-8999\"]\n"
       "  - name: \"*.Example.COM\"\n"
       "  - ports: [53]\n"
       "  - {cidr: \"2001:db8::/32\", name: api.example.com, ports: [1-1024]}\n",
       [](Config& c) {
         c.allowlist.enabled = true;
         AllowRule first;
         first.cidr = cidr("10.0.0.0/8");
         first.ports = {{443, 443}, {8000, 8999}};
         AllowRule second;
         second.name = "*.example.com";
         AllowRule third;
         third.ports = {{53, 53}};
         AllowRule fourth;
         fourth.cidr = cidr("2001:db8::/32");
         fourth.name = "api.example.com";
         fourth.ports = {{1, 1024}};
         c.allowlist.rules = {first, second, third, fourth};
       }},
      {"allowlist: present but empty allows nothing", "allowlist: []\n",
       [](Config& c) { c.allowlist.enabled = true; }},
      {"allowlist: wildcard name", "allowlist:\n  - name: '*'\n",
       [](Config& c) {
         c.allowlist.enabled = true;
         c.allowlist.rules = {AllowRule{std::nullopt, "*", {}}};
       }},
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
       "expected a map of sections (web, probes, labels, limits, filters, dns, allowlist, "
       "kubernetes) at the top level, got \"hello\""},
      {"- web\n- probes\n", "1:1", "at the top level, got a list"},
      {"\n\n  42\n", "3:3", "got \"42\""},
      {"web: {}\n---\nweb: {}\n", "3:1", "more than one YAML document"},
  };
  for (const ErrorCase& test : cases) expect_error(test);
}

TEST(ConfigErrors, UnknownKeys) {
  const std::vector<ErrorCase> cases = {
      {"web:\n  listn_address: \":1\"\n", "2:3",
       "unknown key \"listn_address\" in web (known: listen_address, telemetry_path, tls, "
       "basic_auth_users); "
       "did you mean \"listen_address\"?"},
      {"wbe:\n  listen_address: \":1\"\n", "1:1",
       "unknown key \"wbe\" at the top level (known: web, probes, labels, limits, filters, dns, "
       "allowlist, kubernetes); did you mean \"web\"?"},
      {"probes:\n  backend: auto\n  max_entires: 5\n", "3:3",
       "unknown key \"max_entires\" in probes (known: backend, max_entries, drain_interval); "
       "did you mean \"max_entries\"?"},
      {"labels:\n  drop: [pid]\n", "2:3",
       "unknown key \"drop\" in labels (known: keep, daddr_prefix_v4, daddr_prefix_v6, "
       "collapse_ephemeral_dports, ephemeral_port_min)"},
      {"labels:\n  daddr_prefix: 24\n", "2:3", "did you mean \"daddr_prefix_v4\"?"},
      {"limits:\n  max_series: 5\n  idle_expiri: 5m\n", "3:3",
       "unknown key \"idle_expiri\" in limits (known: max_series, idle_expiry); did you mean "
       "\"idle_expiry\"?"},
      {"filters:\n  pid: [1]\n", "2:3",
       "unknown key \"pid\" in filters (known: pids, uids, ports, families, cgroups, cgroupmap, "
       "mntnsmap, comms, include_cidrs, exclude_cidrs, namespaces, exclude_namespaces, pods, "
       "exclude_pods); did you mean \"pids\"?"},
      {"filters:\n  exclude_cidr: []\n", "2:3", "did you mean \"exclude_cidrs\"?"},
      {"dns:\n  enable: true\n", "2:3",
       "unknown key \"enable\" in dns (known: enabled, ports, capture_bytes, cache_entries, "
       "max_age, lookup_timeout, stale_grace, capture, ring_bytes, scope); did you mean "
       "\"enabled\"?"},
      {"allowlist:\n  - cidr: 10.0.0.0/8\n    port: [443]\n", "3:5",
       "unknown key \"port\" in allowlist[0] (known: cidr, name, ports); did you mean "
       "\"ports\"?"},
      {"allowlist:\n  - name: a.com\n  - names: b.com\n", "3:5",
       "unknown key \"names\" in allowlist[1]"},
      {"allowlists: []\n", "1:1", "did you mean \"allowlist\"?"},
      // Keys are case-sensitive, but the suggestion is not.
      {"Web: {}\n", "1:1",
       "unknown key \"Web\" at the top level (known: web, probes, labels, "
       "limits, filters, dns, allowlist, kubernetes); did you mean \"web\"?"},
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
       "web: expected a map with keys listen_address, telemetry_path, tls, basic_auth_users, got "
       "\"5\""},
      {"probes: [auto]\n", "1:9",
       "probes: expected a map with keys backend, max_entries, "
       "drain_interval, got a list"},
      {"labels: family\n", "1:9",
       "labels: expected a map with keys keep, daddr_prefix_v4, daddr_prefix_v6, "
       "collapse_ephemeral_dports, ephemeral_port_min, got \"family\""},
      {"limits: ''\n", "1:9", "limits: expected a map with keys max_series, idle_expiry, got \"\""},
      {"filters: [pids]\n", "1:10", "filters: expected a map with keys pids, uids,"},
      {"dns: true\n", "1:6", "dns: expected a map with keys enabled, ports,"},
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
       "labels.keep: unknown label \"dst\" (valid: family, saddr, daddr, dport, dns_name, uid, "
       "comm, unit, lport, pid, namespace, pod, container)"},
      {"labels:\n  keep: [dnsname]\n", "2:10", "did you mean \"dns_name\"?"},
      {"labels:\n  keep:\n    - daddr\n    - family\n    - daddr\n", "5:7",
       "labels.keep: duplicate label \"daddr\" (first at 3:7)"},
      {"labels:\n  keep: [uids]\n", "2:10", "pod, container); did you mean \"uid\"?"},
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
      "filters:\n  include_cidrs: [\"10.0.0.0/8\\n2001:db8::/32\"]\n",
      "filters:\n  comms: [\"" + std::string(1000, 'c') + "\\n\"]\n",
      "filters:\n  cgroups: [\"a/\\e[2J/../b\"]\n",
      "allowlist:\n  - name: \"\\nevil\"\n",
      "allowlist:\n  - cidr: \"" + std::string(5000, '1') + "\"\n",
      "filters:\n  ports: [\"" + std::string(5000, '9') + "-1\"]\n",
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

TEST(ConfigErrors, LabelsNewKeys) {
  const std::vector<ErrorCase> cases = {
      {"labels:\n  daddr_prefix_v4: 33\n", "2:20",
       "labels.daddr_prefix_v4: 33 is out of range 0..32"},
      {"labels:\n  daddr_prefix_v4: 256\n", "2:20",
       "labels.daddr_prefix_v4: 256 is out of range 0..32"},
      {"labels:\n  daddr_prefix_v4: /24\n", "2:20",
       "labels.daddr_prefix_v4: expected an integer (0..32), got \"/24\""},
      {"labels:\n  daddr_prefix_v6: 129\n", "2:20",
       "labels.daddr_prefix_v6: 129 is out of range 0..128"},
      {"labels:\n  daddr_prefix_v6: -1\n", "2:20",
       "labels.daddr_prefix_v6: -1 is out of range 0..128"},
      {"labels:\n  ephemeral_port_min: 0\n", "2:23",
       "labels.ephemeral_port_min: 0 is out of range 1..65535"},
      {"labels:\n  ephemeral_port_min: 65536\n", "2:23",
       "labels.ephemeral_port_min: 65536 is out of range 1..65535"},
      {"labels:\n  collapse_ephemeral_dports: yes\n", "2:30",
       "labels.collapse_ephemeral_dports: expected true or false, got \"yes\" (other spellings"},
      {"labels:\n  collapse_ephemeral_dports: 1\n", "2:30",
       "labels.collapse_ephemeral_dports: expected true or false, got \"1\""},
      {"labels:\n  collapse_ephemeral_dports: 'true'\n", "2:30",
       "labels.collapse_ephemeral_dports: expected true or false, got the quoted string \"true\" "
       "(remove the quotes)"},
      {"labels:\n  collapse_ephemeral_dports: [true]\n", "2:30",
       "labels.collapse_ephemeral_dports: expected true or false, got a list"},
      {"labels:\n  collapse_ephemeral_dports:\n", "2:3",
       "labels.collapse_ephemeral_dports: missing value (omit the key to use the default)"},
      {"labels:\n  keep: [pid, pid]\n", "2:15",
       "labels.keep: duplicate label \"pid\" (first at 2:10)"},
  };
  for (const ErrorCase& test : cases) expect_error(test);
}

TEST(ConfigErrors, IdleExpiry) {
  const std::vector<ErrorCase> cases = {
      {"limits:\n  idle_expiry: 500ms\n", "2:16",
       "limits.idle_expiry: 500ms is out of range 1s..1y (or 0 to keep idle series)"},
      {"limits:\n  idle_expiry: 366d\n", "2:16", "limits.idle_expiry: 366d is out of range 1s..1y"},
      {"limits:\n  idle_expiry: 1y1ms\n", "2:16", "365d1ms is out of range 1s..1y"},
      {"limits:\n  idle_expiry: 10\n", "2:16",
       "limits.idle_expiry: invalid duration \"10\": missing unit"},
      {"limits:\n  idle_expiry: off\n", "2:16", "limits.idle_expiry: invalid duration \"off\""},
  };
  for (const ErrorCase& test : cases) expect_error(test);
}

TEST(ConfigErrors, Filters) {
  const std::vector<ErrorCase> cases = {
      // Lists.
      {"filters:\n  pids: 5\n", "2:9",
       "filters.pids: expected a list of process ids like [1234], got \"5\""},
      {"filters:\n  pids:\n", "2:3",
       "filters.pids: missing value (omit the key for the default, or [] for none)"},
      {"filters:\n  pids: [1, ~]\n", "2:13", "filters.pids[1]: empty list item"},
      {"filters:\n  pids: {a: 1}\n", "2:9", "filters.pids: expected a list of process ids"},
      // Process and user ids.
      {"filters:\n  pids: [0]\n", "2:10", "filters.pids[0]: 0 is out of range 1..4194304"},
      {"filters:\n  pids: [1, 4194305]\n", "2:13",
       "filters.pids[1]: 4194305 is out of range 1..4194304"},
      {"filters:\n  pids: [-1]\n", "2:10", "filters.pids[0]: -1 is out of range 1..4194304"},
      {"filters:\n  pids:\n    - 1\n    - nginx\n", "4:7",
       "filters.pids[1]: expected an integer (1..4194304), got \"nginx\""},
      {"filters:\n  uids: [4294967295]\n", "2:10",
       "filters.uids[0]: 4294967295 is out of range 0..4294967294"},
      {"filters:\n  uids: [4294967296]\n", "2:10",
       "filters.uids[0]: 4294967296 is out of range 0..4294967294"},
      {"filters:\n  uids: [root]\n", "2:10",
       "filters.uids[0]: expected an integer (0..4294967294), got \"root\""},
      {"filters:\n  uids: [\"0\"]\n", "2:10", "got the quoted string \"0\" (remove the quotes)"},
      // Ports.
      {"filters:\n  ports: [\"9000-8000\"]\n", "2:11",
       "filters.ports[0]: port range 9000-8000 is reversed; did you mean 8000-9000?"},
      {"filters:\n  ports: [0]\n", "2:11", "filters.ports[0]: port 0 is out of range 1..65535"},
      {"filters:\n  ports: [0-80]\n", "2:11", "filters.ports[0]: port 0 is out of range 1..65535"},
      {"filters:\n  ports: [80, 65536]\n", "2:15",
       "filters.ports[1]: port 65536 is out of range 1..65535"},
      {"filters:\n  ports: [1-65536]\n", "2:11",
       "filters.ports[0]: port 65536 is out of range 1..65535"},
      {"filters:\n  ports: [http]\n", "2:11",
       "filters.ports[0]: expected a port or a port range like 8000-8999, got \"http\""},
      {"filters:\n  ports: [\"80-\"]\n", "2:11", "expected a port or a port range"},
      {"filters:\n  ports: [\"-80\"]\n", "2:11", "expected a port or a port range"},
      {"filters:\n  ports: [\"1-2-3\"]\n", "2:11", "expected a port or a port range"},
      {"filters:\n  ports: [\"80 - 90\"]\n", "2:11", "expected a port or a port range"},
      {"filters:\n  ports: [[80]]\n", "2:11",
       "filters.ports[0]: expected a port or a port range like 8000-8999, got a list"},
      // Families.
      {"filters:\n  families: [ipv4, ipv4]\n", "2:20",
       "filters.families[1]: duplicate family \"ipv4\""},
      {"filters:\n  families:\n    - ipv6\n    - ipv4\n    - ipv6\n", "5:7",
       "filters.families[2]: duplicate family \"ipv6\""},
      {"filters:\n  families: [ip4]\n", "2:14",
       "filters.families[0]: unknown family \"ip4\" (valid: ipv4, ipv6); did you mean \"ipv4\"?"},
      {"filters:\n  families: ipv4\n", "2:13",
       "filters.families: expected a list of families like [ipv4], got \"ipv4\""},
      // cgroups.
      {"filters:\n  cgroups: [system.slice/../x]\n", "2:13",
       "filters.cgroups[0]: cgroup path \"system.slice/../x\" has a \"..\" component"},
      {"filters:\n  cgroups: ['..']\n", "2:13", "has a \"..\" component"},
      {"filters:\n  cgroups: [/sys/fs/cgroup/..]\n", "2:13", "has a \"..\" component"},
      {"filters:\n  cgroups: [a, '../b']\n", "2:16", "filters.cgroups[1]: cgroup path"},
      {"filters:\n  cgroups: ['']\n", "2:13", "filters.cgroups[0]: empty cgroup path"},
      {"filters:\n  cgroups: [\"a\\tb\"]\n", "2:13",
       "filters.cgroups[0]: invalid character in cgroup path \"a\\tb\""},
      // Pinned maps.
      {"filters:\n  cgroupmap: sys/fs/bpf/x\n", "2:14",
       "filters.cgroupmap: must be an absolute path (a map pinned under /sys/fs/bpf), got "
       "\"sys/fs/bpf/x\""},
      {"filters:\n  mntnsmap: ./m\n", "2:13", "filters.mntnsmap: must be an absolute path"},
      {"filters:\n  cgroupmap: [/a]\n", "2:14", "filters.cgroupmap: expected a string, got a list"},
      {"filters:\n  cgroupmap:\n", "2:3", "filters.cgroupmap: missing value"},
      // comms.
      {"filters:\n  comms: [sixteen_bytes___]\n", "2:11",
       "filters.comms[0]: comm \"sixteen_bytes___\" is 16 bytes; the kernel keeps at most 15"},
      {"filters:\n  comms: [curl, '']\n", "2:17", "filters.comms[1]: empty comm"},
      {"filters:\n  comms: [\"a\\0b\"]\n", "2:11",
       "filters.comms[0]: comm \"a\\x00b\" contains a NUL"},
      // Networks.
      {"filters:\n  include_cidrs: [10.1.2.3/8]\n", "2:19",
       "filters.include_cidrs[0]: 10.1.2.3/8 has host bits set; did you mean 10.0.0.0/8?"},
      {"filters:\n  include_cidrs:\n    - 10.0.0.0/8\n    - 10.0.0.1/31\n", "4:7",
       "filters.include_cidrs[1]: 10.0.0.1/31 has host bits set; did you mean 10.0.0.0/31?"},
      {"filters:\n  exclude_cidrs: [\"2001:db8::1/32\"]\n", "2:19",
       "filters.exclude_cidrs[0]: 2001:db8::1/32 has host bits set; did you mean 2001:db8::/32?"},
      {"filters:\n  include_cidrs: [10.0.0.0/33]\n", "2:19",
       "filters.include_cidrs[0]: prefix length of 10.0.0.0/33 is out of range 0..32"},
      {"filters:\n  include_cidrs: [\"::/129\"]\n", "2:19",
       "filters.include_cidrs[0]: prefix length of ::/129 is out of range 0..128"},
      {"filters:\n  include_cidrs: [10.0.0.0/256]\n", "2:19",
       "filters.include_cidrs[0]: invalid network \"10.0.0.0/256\": prefix length 256 is out of "
       "range 0..32"},
      {"filters:\n  include_cidrs: [10.0.0/8]\n", "2:19",
       "filters.include_cidrs[0]: invalid network \"10.0.0/8\": \"10.0.0\" is not an IPv4 address "
       "(expected e.g. 10.0.0.0/8 or 2001:db8::/32)"},
      {"filters:\n  include_cidrs: [10.0.0.0/]\n", "2:19",
       "invalid network \"10.0.0.0/\": prefix length \"\" is not a number"},
      {"filters:\n  include_cidrs: [10.0.0.0/x]\n", "2:19", "prefix length \"x\" is not a number"},
      {"filters:\n  include_cidrs: [\"10.0.0.0/-1\"]\n", "2:19",
       "prefix length \"-1\" is not a number"},
      {"filters:\n  include_cidrs: [\"10.0.0.0/8 \"]\n", "2:19",
       "prefix length \"8 \" is not a number"},
      {"filters:\n  include_cidrs: [\"fe80::1%eth0/64\"]\n", "2:19",
       "\"fe80::1%eth0\" is not an IPv6 address"},
      {"filters:\n  exclude_cidrs: [example.com]\n", "2:19",
       "\"example.com\" is not an IPv4 address"},
      {"filters:\n  exclude_cidrs: [\"1.2.3.4\\0\"]\n", "2:19", "is not an IPv4 address"},
      {"filters:\n  exclude_cidrs: [{a: b}]\n", "2:19",
       "filters.exclude_cidrs[0]: expected a network like 10.0.0.0/8, got a map"},
  };
  for (const ErrorCase& test : cases) expect_error(test);
}

TEST(ConfigErrors, TooManyEntries) {
  struct Case {
    const char* prefix;  // the list's items follow, then suffix
    const char* item;
    const char* suffix;
    const char* position;
    const char* phrase;
  };
  const std::vector<Case> cases = {
      {"filters:\n  pids: [", "1", "]\n", "2:9", "filters.pids: 1025 entries, the limit is 1024"},
      {"filters:\n  uids: [", "1", "]\n", "2:9", "filters.uids: 1025 entries, the limit is 1024"},
      {"filters:\n  ports: [", "1-2", "]\n", "2:10", "filters.ports: 1025 entries"},
      {"filters:\n  cgroups: [", "a", "]\n", "2:12", "filters.cgroups: 1025 entries"},
      {"filters:\n  comms: [", "a", "]\n", "2:10", "filters.comms: 1025 entries"},
      {"filters:\n  include_cidrs: [", "::/0", "]\n", "2:18",
       "filters.include_cidrs: 1025 entries"},
      {"filters:\n  exclude_cidrs: [", "::/0", "]\n", "2:18",
       "filters.exclude_cidrs: 1025 entries"},
      {"allowlist: [", "{name: a}", "]\n", "1:12", "allowlist: 1025 rules, the limit is 1024"},
      {"allowlist:\n  - ports: [", "1", "]\n", "2:12",
       "allowlist[0].ports: 1025 entries, the limit is 1024"},
  };
  for (const Case& test : cases) {
    std::string yaml = test.prefix;
    for (int i = 0; i < 1025; ++i) yaml += std::string(i ? ", " : "") + test.item;
    yaml += test.suffix;
    expect_error(ErrorCase{yaml.c_str(), test.position, test.phrase});
  }
}

TEST(ConfigErrors, Dns) {
  const std::vector<ErrorCase> cases = {
      {"dns:\n  ports: []\n", "2:10",
       "dns.ports: at least one port is needed (to turn DNS capture off, set dns.enabled: "
       "false)"},
      {"dns:\n  ports: [53, 5353, 53]\n", "2:21", "dns.ports[2]: duplicate port 53"},
      {"dns:\n  ports: [0]\n", "2:11", "dns.ports[0]: 0 is out of range 1..65535"},
      {"dns:\n  ports: [65536]\n", "2:11", "dns.ports[0]: 65536 is out of range 1..65535"},
      {"dns:\n  ports: [1, 2, 3, 4, 5, 6, 7, 8, 9]\n", "2:10",
       "dns.ports: 9 ports, the limit is 8"},
      {"dns:\n  ports: [8000-8999]\n", "2:11",
       "dns.ports[0]: expected an integer (1..65535), got \"8000-8999\""},
      {"dns:\n  ports: 53\n", "2:10", "dns.ports: expected a list of ports like [53], got \"53\""},
      {"dns:\n  capture: ebpf\n", "2:12",
       "dns.capture: unknown capture method \"ebpf\" (valid: auto, cgroup_skb, packet_socket, fentry)"},
      {"dns:\n  capture: cgroupskb\n", "2:12", "did you mean \"cgroup_skb\"?"},
      {"dns:\n  capture: [auto]\n", "2:12",
       "dns.capture: expected a capture method name, got a list"},
      {"dns:\n  scope: global\n", "2:10",
       "dns.scope: unknown name scope \"global\" (valid: netns, host)"},
      {"dns:\n  ring_bytes: 5000\n", "2:15",
       "dns.ring_bytes: 5000 is not a power of two (the kernel requires one); the nearest are "
       "4096 and 8192"},
      {"dns:\n  ring_bytes: 268435455\n", "2:15", "the nearest are 134217728 and 268435456"},
      {"dns:\n  ring_bytes: 2048\n", "2:15",
       "dns.ring_bytes: 2048 is out of range 4096..268435456"},
      {"dns:\n  ring_bytes: 536870912\n", "2:15", "536870912 is out of range 4096..268435456"},
      {"dns:\n  ring_bytes: 1MiB\n", "2:15", "dns.ring_bytes: expected an integer"},
      {"dns:\n  max_age: 500ms\n", "2:12", "dns.max_age: 500ms is out of range 1s..30d"},
      {"dns:\n  max_age: 31d\n", "2:12", "dns.max_age: 31d is out of range 1s..30d"},
      {"dns:\n  max_age: 0\n", "2:12", "dns.max_age: 0s is out of range 1s..30d"},
      {"dns:\n  lookup_timeout: 99ms\n", "2:19",
       "dns.lookup_timeout: 99ms is out of range 100ms..5m"},
      {"dns:\n  lookup_timeout: 6m\n", "2:19", "dns.lookup_timeout: 6m is out of range 100ms..5m"},
      {"dns:\n  stale_grace: 25h\n", "2:16", "dns.stale_grace: 1d1h is out of range 0s..1d"},
      {"dns:\n  capture_bytes: 63\n", "2:18", "dns.capture_bytes: 63 is out of range 64..8192"},
      {"dns:\n  capture_bytes: 8193\n", "2:18", "dns.capture_bytes: 8193 is out of range 64..8192"},
      {"dns:\n  cache_entries: 0\n", "2:18", "dns.cache_entries: 0 is out of range 1..10000000"},
      {"dns:\n  cache_entries: 10000001\n", "2:18", "10000001 is out of range 1..10000000"},
      {"dns:\n  enabled: on\n", "2:12", "dns.enabled: expected true or false, got \"on\""},
      {"dns:\n  enabled: enabled\n", "2:12",
       "dns.enabled: expected true or false, got \"enabled\""},
      {"dns:\n  enabled:\n", "2:3", "dns.enabled: missing value"},
  };
  for (const ErrorCase& test : cases) expect_error(test);
}

TEST(ConfigErrors, Allowlist) {
  const std::vector<ErrorCase> cases = {
      {"allowlist:\n  - {}\n", "2:5",
       "allowlist[0]: a rule needs at least one of cidr, name, ports"},
      {"allowlist:\n  - cidr: 10.0.0.0/8\n  - {}\n", "3:5", "allowlist[1]: a rule needs"},
      {"allowlist: [~]\n", "1:13", "allowlist[0]: a rule needs"},
      {"allowlist:\n", "1:1",
       "allowlist: missing value (omit the key for no allowlist, or [] to allow nothing)"},
      {"allowlist: {}\n", "1:12",
       "allowlist: expected a list of rules (maps with cidr, name, ports), got a map"},
      {"allowlist:\n  - 10.0.0.0/8\n", "2:5",
       "allowlist[0]: expected a map with keys cidr, name, ports, got \"10.0.0.0/8\""},
      {"allowlist:\n  - cidr: 10.0.0.0/8\n    prots: [1]\n", "3:5",
       "unknown key \"prots\" in allowlist[0] (known: cidr, name, ports); did you mean "
       "\"ports\"?"},
      {"allowlist:\n  - cidr: 10.0.0.0/8\n    cidr: 11.0.0.0/8\n", "3:5",
       "duplicate key \"cidr\" in allowlist[0] (first at 2:5)"},
      {"allowlist:\n  - cidr: 10.0.0.0/8\nallowlist: []\n", "3:1",
       "duplicate key \"allowlist\" at the top level (first at 1:1)"},
      // Names.
      {"allowlist:\n  - name: 'exa?mple.com'\n", "2:11",
       "allowlist[0].name: invalid character \"?\" in name pattern \"exa?mple.com\" (allowed: "
       "a-z, 0-9, \".\", \"-\", \"_\", and \"*\" as the wildcard)"},
      {"allowlist:\n  - name: '[ab].com'\n", "2:11", "invalid character \"[\""},
      {"allowlist:\n  - name: 'a.com/x'\n", "2:11", "invalid character \"/\""},
      {"allowlist:\n  - name: 'a b.com'\n", "2:11", "invalid character \" \""},
      {"allowlist:\n  - name: 'Ex\\ample.com'\n", "2:11", "invalid character \"\\\\\""},
      {"allowlist:\n  - name: ''\n", "2:11",
       "allowlist[0].name: empty name (omit the key to match any)"},
      {"allowlist:\n  - name: example.com.\n", "2:11",
       "allowlist[0].name: name pattern \"example.com.\" ends with \".\""},
      {"allowlist:\n  - name: .example.com\n", "2:11",
       "allowlist[0].name: name pattern \".example.com\" has an empty label"},
      {"allowlist:\n  - name: a..com\n", "2:11", "has an empty label"},
      {"allowlist:\n  - name: [a.com]\n", "2:11",
       "allowlist[0].name: expected a string, got a list"},
      // Ports and networks.
      {"allowlist:\n  - ports: []\n", "2:12",
       "allowlist[0].ports: empty list (omit the key to match any port)"},
      {"allowlist:\n  - ports: [\"443-80\"]\n", "2:13",
       "allowlist[0].ports[0]: port range 443-80 is reversed; did you mean 80-443?"},
      {"allowlist:\n  - ports: 443\n", "2:12",
       "allowlist[0].ports: expected a list of ports like [443, \"8000-8999\"], got \"443\""},
      {"allowlist:\n  - name: a.com\n  - cidr: 10.0.0.1/8\n", "3:11",
       "allowlist[1].cidr: 10.0.0.1/8 has host bits set; did you mean 10.0.0.0/8?"},
      {"allowlist:\n  - cidr: [10.0.0.0/8]\n", "2:11",
       "allowlist[0].cidr: expected a network like 10.0.0.0/8, got a list"},
      {"allowlist:\n  - cidr: 10.0.0.0\n    name: a.com\n    ports: [0]\n", "4:13",
       "allowlist[0].ports[0]: port 0 is out of range 1..65535"},
  };
  for (const ErrorCase& test : cases) expect_error(test);
}

TEST(ConfigErrors, LongNamePattern) {
  const std::string ok = std::string(249, 'a') + ".com";
  ASSERT_EQ(ok.size(), 253u);
  EXPECT_EQ(parse_ok("allowlist:\n  - name: " + ok + "\n").allowlist.rules.at(0).name, ok);
  const std::string long_name = "allowlist:\n  - name: a" + ok + "\n";
  expect_error(ErrorCase{long_name.c_str(), "2:11",
                         "allowlist[0].name: name pattern is 254 bytes, the limit is 253"});
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
       "labels.keep: labels must be in the order family, saddr, daddr, dport, dns_name, uid, "
       "comm, unit, lport, pid, namespace, pod, container, without duplicates"},
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

TEST(ValidateConfig, ChecksNewSectionsBuiltInCode) {
  struct Case {
    std::function<void(Config&)> change;
    const char* message;
  };
  const auto network = [](Family family, std::array<uint8_t, 16> addr, uint8_t prefix,
                          const char* text) {
    Cidr cidr;
    cidr.family = family;
    cidr.addr = addr;
    cidr.prefix_len = prefix;
    cidr.text = text;
    return cidr;
  };
  const std::vector<Case> cases = {
      {[](Config& c) { c.labels.daddr_prefix_v4 = 33; },
       "labels.daddr_prefix_v4: 33 is out of range 0..32"},
      {[](Config& c) { c.labels.daddr_prefix_v6 = 200; },
       "labels.daddr_prefix_v6: 200 is out of range 0..128"},
      {[](Config& c) { c.labels.ephemeral_port_min = 0; },
       "labels.ephemeral_port_min: 0 is out of range 1..65535"},
      {[](Config& c) {
         c.labels.keep = {Label::kPid, Label::kUid};
       },
       "labels.keep: labels must be in the order"},
      {[](Config& c) { c.limits.idle_expiry = -1s; },
       "limits.idle_expiry: -1s is out of range 1s..1y"},
      {[](Config& c) { c.limits.idle_expiry = 999ms; },
       "limits.idle_expiry: 999ms is out of range 1s..1y (or 0 to keep idle series)"},
      {[](Config& c) { c.filters.pids.assign(1025, 1); },
       "filters.pids: 1025 entries, the limit is 1024"},
      {[](Config& c) {
         c.filters.pids = {7, 0};
       },
       "filters.pids[1]: 0 is out of range 1..4194304"},
      {[](Config& c) { c.filters.uids = {UINT32_MAX}; },
       "filters.uids[0]: 4294967295 is out of range 0..4294967294"},
      {[](Config& c) {
         c.filters.ports = {{0, 0}};
       },
       "filters.ports[0]: port 0 is out of range 1..65535"},
      {[](Config& c) {
         c.filters.ports = {{9, 1}};
       },
       "filters.ports[0]: port range 9-1 is reversed; did you mean 1-9?"},
      {[](Config& c) {
         c.filters.families = {Family::kIpv6, Family::kIpv6};
       },
       "filters.families[1]: duplicate family \"ipv6\""},
      {[](Config& c) { c.filters.cgroups = {"a/../b"}; },
       "filters.cgroups[0]: cgroup path \"a/../b\" has a \"..\" component"},
      {[](Config& c) { c.filters.cgroupmap = "relative"; },
       "filters.cgroupmap: must be an absolute path"},
      {[](Config& c) { c.filters.mntnsmap = "/x\n"; },
       "filters.mntnsmap: invalid character in path \"/x\\n\""},
      {[](Config& c) { c.filters.comms = {std::string(16, 'c')}; },
       "filters.comms[0]: comm \"cccccccccccccccc\" is 16 bytes"},
      {[&](Config& c) {
         c.filters.include_cidrs = {network(Family::kIpv4, {10, 1}, 8, "10.1.0.0/8")};
       },
       "filters.include_cidrs[0]: 10.1.0.0/8 has host bits set; did you mean 10.0.0.0/8?"},
      {[&](Config& c) { c.filters.exclude_cidrs = {network(Family::kIpv4, {10}, 8, "10/8")}; },
       "filters.exclude_cidrs[0]: text \"10/8\" does not match the network 10.0.0.0/8"},
      {[&](Config& c) {
         c.filters.exclude_cidrs = {network(Family::kIpv4, {10, 0, 0, 0, 1}, 8, "10.0.0.0/8")};
       },
       "filters.exclude_cidrs[0]: an IPv4 network must leave bytes 4..15 of the address zero"},
      {[&](Config& c) { c.filters.exclude_cidrs = {network(Family::kIpv6, {}, 129, "::/129")}; },
       "filters.exclude_cidrs[0]: prefix length of ::/129 is out of range 0..128"},
      {[](Config& c) { c.dns.ports.clear(); }, "dns.ports: at least one port is needed"},
      {[](Config& c) {
         c.dns.ports = {53, 0};
       },
       "dns.ports[1]: 0 is out of range 1..65535"},
      {[](Config& c) { c.dns.ring_bytes = 0; },
       "dns.ring_bytes: 0 is out of range 4096..268435456"},
      {[](Config& c) { c.dns.ring_bytes = 12288; },
       "dns.ring_bytes: 12288 is not a power of two (the kernel requires one); the nearest are "
       "8192 and 16384"},
      {[](Config& c) { c.dns.max_age = 0s; }, "dns.max_age: 0s is out of range 1s..30d"},
      {[](Config& c) {
         c.allowlist.rules = {AllowRule{std::nullopt, "a.com", {}}};
       },
       "allowlist: has rules but is not enabled"},
      {[](Config& c) {
         c.allowlist.enabled = true;
         c.allowlist.rules.assign(1025, AllowRule{std::nullopt, "a.com", {}});
       },
       "allowlist: 1025 rules, the limit is 1024"},
      {[](Config& c) {
         c.allowlist.enabled = true;
         c.allowlist.rules = {AllowRule{std::nullopt, "A.com", {}}};
       },
       "allowlist[0].name: invalid character \"A\" in name pattern \"A.com\""},
      {[](Config& c) {
         c.allowlist.enabled = true;
         c.allowlist.rules = {AllowRule{}};
       },
       "allowlist[0]: a rule needs at least one of cidr, name, ports"},
      {[](Config& c) {
         c.allowlist.enabled = true;
         c.allowlist.rules = {AllowRule{std::nullopt, "", {{2, 1}}}};
       },
       "allowlist[0].ports[0]: port range 2-1 is reversed; did you mean 1-2?"},
  };
  for (const Case& test : cases) {
    Config config;
    test.change(config);
    Status status = validate_config(config);
    ASSERT_FALSE(status.ok()) << test.message;
    EXPECT_EQ(status.error().message.find(test.message), 0u) << status.error().message;
  }
}

// --- networks and ports -----------------------------------------------------------------

TEST(ParseCidr, CanonicalForms) {
  const std::vector<std::pair<const char*, const char*>> cases = {
      {"10.0.0.0/8", "10.0.0.0/8"},
      {"10.1.2.3", "10.1.2.3/32"},
      {"0.0.0.0/0", "0.0.0.0/0"},
      {"192.168.1.128/25", "192.168.1.128/25"},
      {"2001:DB8::/32", "2001:db8::/32"},
      {"2001:0db8:0000::/48", "2001:db8::/48"},
      {"::1", "::1/128"},
      {"::/0", "::/0"},
      {"::ffff:10.0.0.0/104", "::ffff:10.0.0.0/104"},
      {"fe80::/10", "fe80::/10"},
  };
  for (const auto& [text, canonical] : cases) {
    Result<Cidr> cidr = parse_cidr(text);
    ASSERT_TRUE(cidr.ok()) << text << ": " << cidr.error().message;
    EXPECT_EQ(cidr->text, canonical) << text;
    EXPECT_TRUE(validate_config([&] {
                  Config c;
                  c.filters.include_cidrs = {cidr.value()};
                  return c;
                }())
                    .ok())
        << text;
  }
  const Cidr v4 = parse_cidr("10.1.2.0/23").value();
  EXPECT_EQ(v4.family, Family::kIpv4);
  EXPECT_EQ(v4.prefix_len, 23);
  EXPECT_EQ(v4.addr, (std::array<uint8_t, 16>{10, 1, 2, 0}));
  const Cidr v6 = parse_cidr("2001:db8:ff00::/40").value();
  EXPECT_EQ(v6.family, Family::kIpv6);
  EXPECT_EQ(v6.prefix_len, 40);
  EXPECT_EQ(v6.addr, (std::array<uint8_t, 16>{0x20, 0x01, 0x0d, 0xb8, 0xff}));
}

TEST(ParseCidr, Errors) {
  const std::vector<std::pair<const char*, const char*>> cases = {
      {"10.1.2.3/8", "10.1.2.3/8 has host bits set; did you mean 10.0.0.0/8?"},
      {"10.0.0.1/31", "10.0.0.1/31 has host bits set; did you mean 10.0.0.0/31?"},
      {"2001:db8::1/64", "2001:db8::1/64 has host bits set; did you mean 2001:db8::/64?"},
      {"10.0.0.0/33", "prefix length of 10.0.0.0/33 is out of range 0..32"},
      {"::/129", "prefix length of ::/129 is out of range 0..128"},
      {"::/1000", "invalid network \"::/1000\": prefix length 1000 is out of range 0..128"},
      {"", "invalid network \"\": \"\" is not an IPv4 address"},
      {"/8", "\"\" is not an IPv4 address"},
      {"10.0.0.0/", "prefix length \"\" is not a number"},
      {"010.0.0.0/8", "\"010.0.0.0\" is not an IPv4 address"},
      {"1.2.3.4.5", "is not an IPv4 address"},
      {"256.0.0.0/8", "is not an IPv4 address"},
      {":::/0", "\":::\" is not an IPv6 address"},
      {"10.0.0.0/8/8", "prefix length \"8/8\" is not a number"},
  };
  for (const auto& [text, message] : cases) {
    Result<Cidr> cidr = parse_cidr(text);
    ASSERT_FALSE(cidr.ok()) << text << " parsed as " << cidr->text;
    EXPECT_NE(cidr.error().message.find(message), std::string::npos)
        << text << ": " << cidr.error().message;
  }
}

TEST(ParsePortRange, GoodAndBad) {
  EXPECT_EQ(parse_port_range("443").value(), (PortRange{443, 443}));
  EXPECT_EQ(parse_port_range("8000-8999").value(), (PortRange{8000, 8999}));
  EXPECT_EQ(parse_port_range("1-65535").value(), (PortRange{1, 65535}));
  EXPECT_EQ(parse_port_range("7-7").value(), (PortRange{7, 7}));
  const std::vector<std::pair<const char*, const char*>> bad = {
      {"0", "port 0 is out of range 1..65535"},
      {"65536", "port 65536 is out of range 1..65535"},
      {"99999999999", "port 99999999999 is out of range 1..65535"},
      {"9000-8000", "port range 9000-8000 is reversed; did you mean 8000-9000?"},
      {"", "expected a port or a port range like 8000-8999, got \"\""},
      {"-", "expected a port or a port range"},
      {"http", "expected a port or a port range"},
      {"+80", "expected a port or a port range"},
  };
  for (const auto& [text, message] : bad) {
    Result<PortRange> range = parse_port_range(text);
    ASSERT_FALSE(range.ok()) << text;
    EXPECT_NE(range.error().message.find(message), std::string::npos)
        << text << ": " << range.error().message;
  }
  EXPECT_TRUE((PortRange{80, 90}).contains(80));
  EXPECT_TRUE((PortRange{80, 90}).contains(90));
  EXPECT_FALSE((PortRange{80, 90}).contains(79));
  EXPECT_FALSE((PortRange{80, 90}).contains(91));
}

// Addresses as the probe reports them: 16 bytes, IPv4 in the first 4.
std::array<uint8_t, 16> v4(uint8_t a, uint8_t b, uint8_t c, uint8_t d) { return {a, b, c, d}; }
std::array<uint8_t, 16> v6(const char* text) {
  std::array<uint8_t, 16> out{};
  EXPECT_EQ(::inet_pton(AF_INET6, text, out.data()), 1) << text;
  return out;
}

TEST(CidrContains, Ipv4) {
  const Cidr net = cidr("10.0.0.0/8");
  EXPECT_TRUE(net.contains(Family::kIpv4, v4(10, 0, 0, 0).data()));
  EXPECT_TRUE(net.contains(Family::kIpv4, v4(10, 255, 1, 2).data()));
  EXPECT_FALSE(net.contains(Family::kIpv4, v4(11, 0, 0, 0).data()));
  EXPECT_FALSE(net.contains(Family::kIpv4, v4(9, 255, 255, 255).data()));
  // The same bytes as an IPv6 address are another address.
  EXPECT_FALSE(net.contains(Family::kIpv6, v4(10, 0, 0, 1).data()));

  const Cidr odd = cidr("10.1.2.0/23");
  EXPECT_TRUE(odd.contains(Family::kIpv4, v4(10, 1, 2, 0).data()));
  EXPECT_TRUE(odd.contains(Family::kIpv4, v4(10, 1, 3, 255).data()));
  EXPECT_FALSE(odd.contains(Family::kIpv4, v4(10, 1, 4, 0).data()));
  EXPECT_FALSE(odd.contains(Family::kIpv4, v4(10, 1, 1, 255).data()));

  const Cidr host = cidr("192.168.1.7");
  EXPECT_TRUE(host.contains(Family::kIpv4, v4(192, 168, 1, 7).data()));
  EXPECT_FALSE(host.contains(Family::kIpv4, v4(192, 168, 1, 6).data()));
  // Bytes 4..15 of an IPv4 address are not part of it.
  std::array<uint8_t, 16> padded = v4(192, 168, 1, 7);
  padded[15] = 0xff;
  EXPECT_TRUE(host.contains(Family::kIpv4, padded.data()));
}

TEST(CidrContains, Ipv6) {
  const Cidr net = cidr("2001:db8::/32");
  EXPECT_TRUE(net.contains(Family::kIpv6, v6("2001:db8::").data()));
  EXPECT_TRUE(net.contains(Family::kIpv6, v6("2001:db8:ffff:ffff::1").data()));
  EXPECT_FALSE(net.contains(Family::kIpv6, v6("2001:db9::").data()));
  EXPECT_FALSE(net.contains(Family::kIpv4, v6("2001:db8::").data()));

  const Cidr link_local = cidr("fe80::/10");
  EXPECT_TRUE(link_local.contains(Family::kIpv6, v6("febf::1").data()));
  EXPECT_FALSE(link_local.contains(Family::kIpv6, v6("fec0::1").data()));

  const Cidr host = cidr("::1");
  EXPECT_TRUE(host.contains(Family::kIpv6, v6("::1").data()));
  EXPECT_FALSE(host.contains(Family::kIpv6, v6("::2").data()));
  EXPECT_FALSE(host.contains(Family::kIpv6, v6("8000::1").data()));
}

TEST(CidrContains, PrefixZeroIsTheWholeFamily) {
  const Cidr any4 = cidr("0.0.0.0/0");
  EXPECT_TRUE(any4.contains(Family::kIpv4, v4(0, 0, 0, 0).data()));
  EXPECT_TRUE(any4.contains(Family::kIpv4, v4(255, 255, 255, 255).data()));
  EXPECT_FALSE(any4.contains(Family::kIpv6, v6("::").data()));
  const Cidr any6 = cidr("::/0");
  EXPECT_TRUE(any6.contains(Family::kIpv6, v6("::").data()));
  EXPECT_TRUE(any6.contains(Family::kIpv6, v6("ffff::ffff").data()));
  EXPECT_FALSE(any6.contains(Family::kIpv4, v4(1, 2, 3, 4).data()));
}

// --- allowlist ----------------------------------------------------------------------------

AllowRule rule(std::optional<const char*> network, std::string name, std::vector<PortRange> ports) {
  AllowRule out;
  if (network) out.cidr = cidr(*network);
  out.name = std::move(name);
  out.ports = std::move(ports);
  return out;
}

TEST(AllowRule, NameGlobs) {
  const auto a = v4(1, 2, 3, 4);
  const AllowRule suffix = rule(std::nullopt, "*.example.com", {});
  const std::vector<std::pair<const char*, bool>> names = {
      {"a.example.com", true},
      {"a.b.example.com", true},
      {"A.Example.COM", true},
      {"a.example.com.", true},  // fully qualified
      {"example.com", false},
      {".example.com", true},
      {"aexample.com", false},
      {"a.example.com.evil", false},
      {"a.example.co", false},
      {"", false},
      {".", false},
  };
  for (const auto& [name, expected] : names) {
    EXPECT_EQ(suffix.matches(Family::kIpv4, a.data(), 443, name), expected) << name;
  }

  const AllowRule exact = rule(std::nullopt, "api.example.com", {});
  EXPECT_TRUE(exact.matches(Family::kIpv4, a.data(), 1, "api.example.com"));
  EXPECT_TRUE(exact.matches(Family::kIpv4, a.data(), 1, "API.EXAMPLE.COM"));
  EXPECT_FALSE(exact.matches(Family::kIpv4, a.data(), 1, "api.example.com.au"));
  EXPECT_FALSE(exact.matches(Family::kIpv4, a.data(), 1, "x.api.example.com"));
  EXPECT_FALSE(exact.matches(Family::kIpv4, a.data(), 1, ""));

  const AllowRule any = rule(std::nullopt, "*", {});
  EXPECT_TRUE(any.matches(Family::kIpv6, v6("::1").data(), 1, "localhost"));
  EXPECT_FALSE(any.matches(Family::kIpv6, v6("::1").data(), 1, "")) << "unknown name";

  const AllowRule middle = rule(std::nullopt, "api-*.eu*.example.com", {});
  EXPECT_TRUE(middle.matches(Family::kIpv4, a.data(), 1, "api-1.eu-west.example.com"));
  EXPECT_TRUE(middle.matches(Family::kIpv4, a.data(), 1, "api-.eu.example.com"));
  EXPECT_FALSE(middle.matches(Family::kIpv4, a.data(), 1, "api.eu.example.com"));
  EXPECT_FALSE(middle.matches(Family::kIpv4, a.data(), 1, "api-1.us.example.com"));

  // Many stars against a long non-matching name stays fast (no exponential backtracking).
  const AllowRule stars = rule(std::nullopt, "*a*a*a*a*a*a*a*a*a*a*b", {});
  EXPECT_FALSE(stars.matches(Family::kIpv4, a.data(), 1, std::string(253, 'a')));
  EXPECT_TRUE(stars.matches(Family::kIpv4, a.data(), 1, std::string(252, 'a') + "b"));
}

TEST(AllowRule, EveryGivenFieldMustMatch) {
  const auto inside = v4(10, 1, 2, 3);
  const auto outside = v4(192, 168, 0, 1);
  const AllowRule all = rule("10.0.0.0/8", "*.corp", {{443, 443}, {8000, 8999}});
  struct Row {
    const std::array<uint8_t, 16>* addr;
    uint16_t port;
    const char* name;
    bool expected;
  };
  const std::vector<Row> rows = {
      {&inside, 443, "db.corp", true},   {&inside, 8500, "db.corp", true},
      {&inside, 8999, "DB.CORP", true},  {&inside, 9000, "db.corp", false},
      {&inside, 443, "db.other", false}, {&inside, 443, "", false},
      {&outside, 443, "db.corp", false}, {&outside, 80, "", false},
  };
  for (const Row& row : rows) {
    EXPECT_EQ(all.matches(Family::kIpv4, row.addr->data(), row.port, row.name), row.expected)
        << row.port << " " << row.name;
  }
  // An IPv6 destination never matches an IPv4 network.
  EXPECT_FALSE(all.matches(Family::kIpv6, inside.data(), 443, "db.corp"));

  const AllowRule network_only = rule("10.0.0.0/8", "", {});
  EXPECT_TRUE(network_only.matches(Family::kIpv4, inside.data(), 1, ""));
  EXPECT_TRUE(network_only.matches(Family::kIpv4, inside.data(), 65535, "anything"));
  EXPECT_FALSE(network_only.matches(Family::kIpv4, outside.data(), 1, ""));

  const AllowRule ports_only = rule(std::nullopt, "", {{53, 53}});
  EXPECT_TRUE(ports_only.matches(Family::kIpv6, v6("2001:db8::1").data(), 53, ""));
  EXPECT_FALSE(ports_only.matches(Family::kIpv6, v6("2001:db8::1").data(), 54, ""));

  const AllowRule name_and_port = rule(std::nullopt, "*.example.com", {{443, 443}});
  EXPECT_TRUE(name_and_port.matches(Family::kIpv4, outside.data(), 443, "www.example.com"));
  EXPECT_FALSE(name_and_port.matches(Family::kIpv4, outside.data(), 80, "www.example.com"));
}

TEST(AllowlistConfig, AllowsWhenAnyRuleMatches) {
  AllowlistConfig allowlist;
  allowlist.enabled = true;
  allowlist.rules = {rule("10.0.0.0/8", "", {}), rule(std::nullopt, "*.example.com", {}),
                     rule("2001:db8::/32", "", {{443, 443}})};
  const std::vector<std::tuple<Family, std::array<uint8_t, 16>, uint16_t, const char*, bool>> rows =
      {
          {Family::kIpv4, v4(10, 9, 9, 9), 1, "", true},
          {Family::kIpv4, v4(1, 1, 1, 1), 443, "cdn.example.com", true},
          {Family::kIpv4, v4(1, 1, 1, 1), 443, "example.com", false},
          {Family::kIpv4, v4(1, 1, 1, 1), 443, "", false},
          {Family::kIpv6, v6("2001:db8::5"), 443, "", true},
          {Family::kIpv6, v6("2001:db8::5"), 80, "", false},
          {Family::kIpv6, v6("2001:db8::5"), 80, "www.example.com", true},
          {Family::kIpv6, v6("2001:db9::5"), 443, "", false},
      };
  for (const auto& [family, addr, port, name, expected] : rows) {
    EXPECT_EQ(allowlist.allows(family, addr.data(), port, name), expected)
        << to_string(family) << " " << port << " " << name;
  }

  AllowlistConfig empty;
  empty.enabled = true;
  EXPECT_FALSE(empty.allows(Family::kIpv4, v4(10, 0, 0, 1).data(), 443, "a.example.com"))
      << "allowlist: [] allows nothing";

  const AllowlistConfig disabled;
  EXPECT_TRUE(disabled.allows(Family::kIpv4, v4(10, 0, 0, 1).data(), 443, ""))
      << "no allowlist: nothing is unexpected";
}

TEST(AllowlistConfig, ParsedRulesMatch) {
  const Config config = parse_ok(
      "allowlist:\n"
      "  - cidr: 127.0.0.0/8\n"
      "  - name: \"*.Example.com\"\n"
      "    ports: [443]\n");
  ASSERT_TRUE(config.allowlist.enabled);
  EXPECT_TRUE(config.allowlist.allows(Family::kIpv4, v4(127, 0, 0, 53).data(), 53, ""));
  EXPECT_TRUE(config.allowlist.allows(Family::kIpv4, v4(1, 2, 3, 4).data(), 443, "x.EXAMPLE.com"));
  EXPECT_FALSE(config.allowlist.allows(Family::kIpv4, v4(1, 2, 3, 4).data(), 80, "x.example.com"));
}

// --- warnings -----------------------------------------------------------------------------

// Basic auth without TLS sends passwords in clear text: a warning unless the listener is
// loopback only.
TEST(ConfigWarnings, BasicAuthWithoutTlsOffLoopback) {
  const auto warns = [](const std::string& listen, bool tls) {
    Config c;
    c.web.listen_address = listen;
    c.web.basic_auth_users = {{"prometheus", "$2b$10$" + std::string(53, 'a')}};
    if (tls) {
      c.web.tls.cert_file = "/etc/ssl/cert.pem";
      c.web.tls.key_file = "/etc/ssl/key.pem";
    }
    for (const std::string& w : config_warnings(c)) {
      if (w.find("web.basic_auth_users without web.tls") != std::string::npos) return true;
    }
    return false;
  };
  for (const std::string listen :
       {":9476", "0.0.0.0:9476", "[::]:9476", "10.0.0.5:9476", "[2001:db8::1]:9476",
        "[fe80::1%eth0]:9476", "[::ffff:10.0.0.5]:9476"}) {
    EXPECT_TRUE(warns(listen, false)) << listen;
    EXPECT_FALSE(warns(listen, true)) << listen;
  }
  for (const std::string listen : {"127.0.0.1:9476", "127.1.2.3:9476", "localhost:9476",
                                   "[::1]:9476", "[::ffff:127.0.0.1]:9476"}) {
    EXPECT_FALSE(warns(listen, false)) << listen;
  }
  // Without users, nothing to warn about.
  Config open;
  open.web.listen_address = ":9476";
  EXPECT_TRUE(config_warnings(open).empty());
}

TEST(ConfigWarnings, HighCardinalityAndIneffectiveSettings) {
  EXPECT_TRUE(config_warnings(Config{}).empty());

  Config pid;
  pid.labels.keep = {Label::kDnsName, Label::kPid};
  EXPECT_EQ(config_warnings(pid),
            std::vector<std::string>{
                "labels.keep includes pid: one series per process; expect high cardinality"});

  Config lport;
  lport.labels.keep = {Label::kDaddr, Label::kLport};
  EXPECT_EQ(config_warnings(lport),
            std::vector<std::string>{
                "labels.keep includes lport: one series per local port, nearly one per "
                "connection; expect very high cardinality"});

  Config both;
  both.labels.keep = {Label::kLport, Label::kPid};
  EXPECT_EQ(config_warnings(both).size(), 2u);

  Config quiet;
  quiet.labels.keep = {Label::kUid, Label::kComm, Label::kUnit};
  EXPECT_TRUE(config_warnings(quiet).empty()) << "uid, comm and unit are bounded";

  Config no_dns;
  no_dns.dns.enabled = false;
  no_dns.allowlist.enabled = true;
  no_dns.allowlist.rules = {rule("10.0.0.0/8", "", {}), rule(std::nullopt, "*.corp", {})};
  EXPECT_EQ(config_warnings(no_dns),
            (std::vector<std::string>{
                "labels.keep includes dns_name but dns.enabled is false: dns_name will always be "
                "empty",
                "allowlist[1] matches by name but dns.enabled is false: it can never match"}));

  Config empty_allowlist;
  empty_allowlist.allowlist.enabled = true;
  EXPECT_EQ(config_warnings(empty_allowlist),
            std::vector<std::string>{"allowlist is empty: every connect counts as unexpected"});

  Config useless;
  useless.labels.keep = {Label::kFamily};
  useless.labels.daddr_prefix_v6 = 64;
  useless.labels.collapse_ephemeral_dports = true;
  EXPECT_EQ(config_warnings(useless),
            (std::vector<std::string>{
                "labels.daddr_prefix_v4/daddr_prefix_v6 have no effect: daddr is not in "
                "labels.keep",
                "labels.collapse_ephemeral_dports has no effect: dport is not in labels.keep"}));

  const Config parsed = parse_ok("labels:\n  keep: [daddr, pid]\n");
  ASSERT_EQ(config_warnings(parsed).size(), 1u);
  EXPECT_NE(config_warnings(parsed)[0].find("pid"), std::string::npos);
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

TEST(ConfigKubernetes, PodFiltersAndLogDirectories) {
  Result<Config> config = parse_config(
      "labels:\n  keep: [dport, namespace, pod, container]\nfilters:\n"
      "  namespaces: [\"team-*\", default]\n  exclude_namespaces: [kube-system]\n"
      "  pods: [\"api-*\"]\n  exclude_pods: [\"*-canary\"]\n"
      "kubernetes:\n  pod_logs_dir: /srv/pods\n  container_logs_dir: /srv/containers\n",
      kName);
  ASSERT_TRUE(config.ok()) << config.error().message;
  const Config& c = config.value();
  EXPECT_EQ(c.labels.keep,
            (std::vector<Label>{Label::kDport, Label::kNamespace, Label::kPod, Label::kContainer}));
  EXPECT_EQ(c.filters.namespaces, (std::vector<std::string>{"team-*", "default"}));
  EXPECT_EQ(c.filters.exclude_pods, (std::vector<std::string>{"*-canary"}));
  EXPECT_EQ(c.kubernetes.pod_logs_dir, "/srv/pods");
  EXPECT_EQ(c.kubernetes.container_logs_dir, "/srv/containers");
  EXPECT_TRUE(c.filters.filters_pods());
  EXPECT_FALSE(c.filters.empty());
  EXPECT_TRUE(c.filters.counts_pod("team-a", "api-1"));
  EXPECT_TRUE(c.filters.counts_pod("default", "api-2"));
  EXPECT_FALSE(c.filters.counts_pod("default", "api"));
  EXPECT_FALSE(c.filters.counts_pod("team-a", "api-1-canary"));
  EXPECT_FALSE(c.filters.counts_pod("team-a", "web-1"));
  EXPECT_FALSE(c.filters.counts_pod("kube-system", "api-1"));
  EXPECT_FALSE(c.filters.counts_pod("", ""));  // outside pods: not in the include lists

  FiltersConfig exclude_only;
  exclude_only.exclude_namespaces = {"kube-*"};
  EXPECT_TRUE(exclude_only.counts_pod("", ""));
  EXPECT_TRUE(exclude_only.counts_pod("default", "x"));
  EXPECT_FALSE(exclude_only.counts_pod("kube-system", "x"));
  EXPECT_FALSE(FiltersConfig{}.filters_pods());
  EXPECT_TRUE(FiltersConfig{}.counts_pod("", ""));
}

TEST(ConfigKubernetes, BadPatternsAndPaths) {
  const std::vector<ErrorCase> cases = {
      {"filters:\n  namespaces: [Kube-System]\n", "2:16",
       "filters.namespaces[0]: invalid character \"K\" in pattern"},
      {"filters:\n  pods: [\"a_b\"]\n", "2:10", "filters.pods[0]: invalid character \"_\""},
      {"filters:\n  exclude_pods: [\"\"]\n", "2:18", "filters.exclude_pods[0]: empty pattern"},
      {"kubernetes:\n  pod_logs_dir: var/log/pods\n", "2:17", "kubernetes.pod_logs_dir:"},
      {"kubernetes:\n  log_dir: /x\n", "2:3",
       "unknown key \"log_dir\" in kubernetes (known: pod_logs_dir, container_logs_dir)"},
  };
  for (const ErrorCase& test : cases) expect_error(test);
}

}  // namespace
}  // namespace tcpconnect
