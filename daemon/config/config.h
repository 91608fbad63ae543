// The exporter's configuration: plain structs with the documented defaults, parsed from
// YAML in one pass and then validated in one place. A Config that parse_config returns has
// passed every check; there is no partially applied config.
//
// Errors are one line, "FILE:LINE:COLUMN: problem" (1-based), so that editors and CI logs
// can jump to them. Values quoted back from the file are escaped and shortened, so a hostile
// file cannot forge extra log lines.
#pragma once

#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "util/result.h"

namespace tcpconnect {

enum class ProbeBackend { kAuto, kTpBtf, kRawTp, kTracepoint };
std::string_view to_string(ProbeBackend backend);  // "auto", "tp_btf", "raw_tp", "tracepoint"

enum class Family { kIpv4, kIpv6 };
std::string_view to_string(Family family);  // "ipv4", "ipv6"

// Labels a connect series can carry. The enum order is the label order in the output.
enum class Label {
  kFamily,
  kSaddr,
  kDaddr,
  kDport,
  kDnsName,
  kUid,
  kComm,
  kUnit,
  kLport,
  kPid,
  kNamespace,
  kPod,
  kContainer
};
// "family", "saddr", "daddr", "dport", "dns_name", "uid", "comm", "unit", "lport", "pid",
// "namespace", "pod", "container" (the last three: Kubernetes, from kubelet's cgroups and
// log directories; "" outside pods)
std::string_view to_string(Label label);

enum class DnsCapture { kAuto, kCgroupSkb, kPacketSocket, kFentry };
std::string_view to_string(DnsCapture capture);  // "auto", "cgroup_skb", "packet_socket", "fentry"

// Which connects a DNS answer names: those of the network namespace whose lookup it
// answered (kNetns), or every connect on the host (kHost: trusts every tenant).
enum class DnsScope { kNetns, kHost };
std::string_view to_string(DnsScope scope);  // "netns", "host"

// Lowest TLS version the endpoint accepts, spelled as in the exporter-toolkit web config.
enum class TlsVersion { kTls12, kTls13 };
std::string_view to_string(TlsVersion version);  // "TLS12", "TLS13"

// Inclusive port range; a single port has first == last. Valid: 1 <= first <= last.
struct PortRange {
  uint16_t first = 0;
  uint16_t last = 0;

  bool contains(uint16_t port) const { return port >= first && port <= last; }
  bool operator==(const PortRange&) const = default;
};

// A network. Valid (validate_config): prefix_len within the family's width, every bit
// after the prefix zero (including bytes 4..15 for IPv4), text == canonical form.
struct Cidr {
  Family family = Family::kIpv4;
  std::array<uint8_t, 16> addr{};  // network byte order; IPv4 in the first 4 bytes
  uint8_t prefix_len = 0;          // 0..32 / 0..128
  std::string text;                // canonical: "10.0.0.0/8", "2001:db8::/32"

  // addr16: 16 bytes, IPv4 in the first 4. An address of the other family never matches
  // (the connect probe already reports IPv4-mapped IPv6 destinations as IPv4).
  bool contains(Family f, const uint8_t* addr16) const;
  bool operator==(const Cidr&) const = default;
};

// "10.0.0.0/8", "2001:db8::/32", or a bare address (/32, /128), as the config file takes
// them, with every check validate_config applies ("10.1.2.3/8 has host bits set; did you
// mean 10.0.0.0/8?"). For command-line options that take networks.
Result<Cidr> parse_cidr(std::string_view text);
// "443" or "8000-8999", checked as in the config file. For tcpconnect -P style options.
Result<PortRange> parse_port_range(std::string_view text);

// HTTPS for the endpoint: both files, or neither (plain HTTP).
struct WebTlsConfig {
  std::string cert_file;  // PEM: the server certificate, then any intermediates
  std::string key_file;   // PEM private key, unencrypted
  TlsVersion min_version = TlsVersion::kTls12;

  bool enabled() const { return !cert_file.empty() || !key_file.empty(); }
  bool operator==(const WebTlsConfig&) const = default;
};

struct WebConfig {
  std::string listen_address = ":9476";  // host:port, [v6]:port or :port
  std::string telemetry_path = "/metrics";
  WebTlsConfig tls;
  // user name -> bcrypt hash ($2a$, $2b$ or $2y$). Empty: no authentication.
  std::map<std::string, std::string> basic_auth_users;

  bool operator==(const WebConfig&) const = default;
};

struct ProbesConfig {
  ProbeBackend backend = ProbeBackend::kAuto;
  uint32_t max_entries = 16384;  // entries of the kernel's per-CPU connect map
  std::chrono::milliseconds drain_interval{1000};

  bool operator==(const ProbesConfig&) const = default;
};

struct LabelsConfig {
  // Sorted in enum order, no duplicates. Empty is allowed: one series per metric.
  std::vector<Label> keep = {Label::kFamily, Label::kSaddr, Label::kDaddr, Label::kDport,
                             Label::kDnsName};
  // CIDR bucketing of destinations without a DNS name: daddr becomes "10.1.2.0/24".
  // The full width (32 / 128) turns it off.
  uint8_t daddr_prefix_v4 = 32;   // 0..32
  uint8_t daddr_prefix_v6 = 128;  // 0..128
  // dport >= ephemeral_port_min renders as "ephemeral".
  bool collapse_ephemeral_dports = false;
  uint16_t ephemeral_port_min = 32768;  // 1..65535

  bool has(Label label) const;
  bool operator==(const LabelsConfig&) const = default;
};

struct LimitsConfig {
  uint32_t max_series = 10000;  // per metric; beyond it everything folds into one overflow series
  // A series not incremented for this long is dropped from /metrics. 0 = never.
  std::chrono::milliseconds idle_expiry{0};

  bool operator==(const LimitsConfig&) const = default;
};

// What the kernel counts. Every list empty = count everything; within a list any entry
// matches; across lists all must match.
struct FiltersConfig {
  std::vector<uint32_t> pids;    // tgids (tcpconnect -p), 1..4194304
  std::vector<uint32_t> uids;    // tcpconnect -u, 0..4294967294
  std::vector<PortRange> ports;  // destination ports (tcpconnect -P)
  std::vector<Family> families;  // tcpconnect -4/-6; empty = both; no duplicates
  // cgroup v2 paths: absolute (/sys/fs/cgroup/...) or relative to the cgroup2 root
  // ("system.slice/nginx.service"); no ".." components.
  std::vector<std::string> cgroups;
  std::string cgroupmap;            // pinned BPF map (bcc --cgroupmap layout); absolute; "" = off
  std::string mntnsmap;             // pinned BPF map (bcc --mntnsmap layout); absolute; "" = off
  std::vector<std::string> comms;   // exact task comm, 1..15 bytes each
  std::vector<Cidr> include_cidrs;  // destination in one of these (empty = any)
  std::vector<Cidr> exclude_cidrs;  // destination in none of these
  // Kubernetes namespace and pod name globs ("*" any run; a-z, 0-9, ".", "-"): applied in
  // user space when a drain folds the kernel's counts, since the kernel knows a pod only
  // by a cgroup id. Outside pods both names are "": an include list does not match them.
  std::vector<std::string> namespaces;          // namespace in one of these (empty = any)
  std::vector<std::string> exclude_namespaces;  // namespace in none of these
  std::vector<std::string> pods;                // pod name in one of these (empty = any)
  std::vector<std::string> exclude_pods;        // pod name in none of these

  // True when no field is set (families listing both families is still "set").
  bool empty() const;
  // Whether any of the four pod lists is set.
  bool filters_pods() const;
  // Whether a connect from this namespace and pod ("" outside pods) passes the pod lists.
  bool counts_pod(std::string_view namespace_name, std::string_view pod) const;
  bool operator==(const FiltersConfig&) const = default;
};

struct DnsConfig {
  bool enabled = true;
  std::vector<uint16_t> ports = {53};  // source ports of captured responses; 1..8, unique
  uint32_t capture_bytes = 512;        // per packet, 64..8192
  uint32_t cache_entries = 10240;      // 1..10000000
  std::chrono::milliseconds max_age{std::chrono::hours(24)};  // 1s..30d
  // A question unanswered this long is an unanswered lookup and forgotten: 100ms..5m.
  std::chrono::milliseconds lookup_timeout{std::chrono::seconds(5)};
  // How long past its TTL an address may still be connected to before the connect is
  // stale (tcpconnect_dns_stale_connects_total): 0..1d.
  std::chrono::milliseconds stale_grace{0};
  DnsCapture capture = DnsCapture::kAuto;
  uint32_t ring_bytes = 1u << 20;  // BPF ringbuf size: a power of two, 4096..268435456
  DnsScope scope = DnsScope::kNetns;

  bool operator==(const DnsConfig&) const = default;
};

// One allowed kind of destination. Every field that is set must match.
struct AllowRule {
  std::optional<Cidr> cidr;      // destination address in this network
  std::string name;              // DNS name glob, lower-case, [a-z0-9._-] and "*"; "" = any
  std::vector<PortRange> ports;  // destination port in one of these; empty = any

  // "*" matches any run of characters, dots included ("*.example.com" matches
  // "a.b.example.com" but not "example.com"); names compare case-insensitively and a
  // trailing dot on dns_name is ignored. An empty dns_name (unknown) never matches a rule
  // with a name.
  bool matches(Family f, const uint8_t* daddr16, uint16_t dport, std::string_view dns_name) const;
  bool operator==(const AllowRule&) const = default;
};

struct AllowlistConfig {
  bool enabled = false;  // the `allowlist` key is present, even as `allowlist: []`
  std::vector<AllowRule> rules;

  // Whether a connect is expected: some rule matches, or the allowlist is not enabled.
  bool allows(Family f, const uint8_t* daddr16, uint16_t dport, std::string_view dns_name) const;
  bool operator==(const AllowlistConfig&) const = default;
};

// Where kubelet keeps its log directories on a node, which name the pods of the
// namespace, pod and container labels and filters.
inline constexpr std::string_view kDefaultPodLogsDir = "/var/log/pods";
inline constexpr std::string_view kDefaultContainerLogsDir = "/var/log/containers";

// Absolute paths; other values for tests and unusual nodes.
struct KubernetesConfig {
  std::string pod_logs_dir{kDefaultPodLogsDir};
  std::string container_logs_dir{kDefaultContainerLogsDir};

  bool operator==(const KubernetesConfig&) const = default;
};

struct Config {
  std::string source;  // file path it came from ("" for defaults)
  WebConfig web;
  ProbesConfig probes;
  LabelsConfig labels;
  LimitsConfig limits;
  FiltersConfig filters;
  DnsConfig dns;
  AllowlistConfig allowlist;
  KubernetesConfig kubernetes;

  // Compares everything except `source`: a reload of identical settings is a no-op.
  bool operator==(const Config& other) const;
};

// Bounds, inclusive. The shipped config file documents the same numbers.
constexpr uint32_t kMinMaxEntries = 1;
constexpr uint32_t kMaxMaxEntries = 1u << 20;
constexpr std::chrono::milliseconds kMinDrainInterval{100};
constexpr std::chrono::milliseconds kMaxDrainInterval{60 * 1000};
constexpr uint32_t kMinMaxSeries = 1;
constexpr uint32_t kMaxMaxSeries = 10'000'000;
constexpr std::chrono::milliseconds kMinIdleExpiry{1000};  // or 0 = off
constexpr std::chrono::milliseconds kMaxIdleExpiry{365LL * 24 * 60 * 60 * 1000};
// Every list in filters and allowlist (and each rule's ports); the kernel side sizes its
// filter maps from it.
constexpr size_t kMaxListEntries = 1024;
constexpr uint32_t kMaxPid = 4'194'304;       // PID_MAX_LIMIT
constexpr uint32_t kMaxUid = 4'294'967'294u;  // (uid_t)-1 means "no uid"
constexpr size_t kMaxCommBytes = 15;          // TASK_COMM_LEN without the NUL
constexpr size_t kMaxPathBytes = 4095;        // PATH_MAX without the NUL
constexpr size_t kMaxDnsPorts = 8;
constexpr uint32_t kMinCaptureBytes = 64;
constexpr uint32_t kMaxCaptureBytes = 8192;
constexpr uint32_t kMinCacheEntries = 1;
constexpr uint32_t kMaxCacheEntries = 10'000'000;
constexpr std::chrono::milliseconds kMinDnsMaxAge{1000};
constexpr std::chrono::milliseconds kMaxDnsMaxAge{30LL * 24 * 60 * 60 * 1000};
constexpr std::chrono::milliseconds kMinDnsLookupTimeout{100};
constexpr std::chrono::milliseconds kMaxDnsLookupTimeout{5 * 60 * 1000};
constexpr std::chrono::milliseconds kMaxDnsStaleGrace{24 * 60 * 60 * 1000};
constexpr uint32_t kMinRingBytes = 4096;
constexpr uint32_t kMaxRingBytes = 1u << 28;
constexpr size_t kMaxNameBytes = 253;  // longest DNS name in text form
// Larger files are refused before parsing: a config is a few hundred bytes, and yaml-cpp
// holds the whole document in memory.
constexpr size_t kMaxConfigBytes = 1u << 20;
constexpr size_t kMaxUserNameBytes = 256;

// A problem with one key of a Config, reported with the position of that key in the file.
// key is the dotted path ("web.tls.key_file", "filters.ports[2]"). Validation finds these,
// and so does a ConfigFileCheck, outside the YAML text (a file the config names).
struct ConfigProblem {
  std::string key;
  std::string message;
};
using ConfigFileCheck = std::function<std::optional<ConfigProblem>(const Config&)>;

// `name` is the file name used in error messages.
Result<Config> parse_config(std::string_view yaml_text, const std::string& name);
// The same, then `check` (e.g. check_web_files: the TLS certificate and key can be read and
// belong together), whose problem is reported at the position of its key.
Result<Config> parse_config(std::string_view yaml_text, const std::string& name,
                            const ConfigFileCheck& check);

// Reads the file (at most kMaxConfigBytes) and parses it; errors name the path.
Result<Config> load_config_file(const std::string& path);
Result<Config> load_config_file(const std::string& path, const ConfigFileCheck& check);

// Why `hash` is not a bcrypt hash that crypt_r can verify ("$2b$10$" + 53 characters), or
// nullopt. Other crypt(5) schemes and plain text are refused.
std::optional<std::string> check_bcrypt_hash(std::string_view hash);

// Every constraint on a Config, for one built or changed in code (e.g. a command-line flag
// overriding web.listen_address). parse_config already applies these with file positions;
// here messages start with the key ("web.listen_address: ...").
Status validate_config(const Config& config);

// Settings that are valid but probably not what the operator wants (high-cardinality
// labels, options that cannot take effect), as sentences for the daemon to log at start
// and on reload. Empty for the defaults.
std::vector<std::string> config_warnings(const Config& config);

// Whether a valid listen address binds loopback only (127.0.0.0/8, ::1, localhost); false
// for every address (":port", 0.0.0.0, [::]) and any other.
bool listen_address_is_loopback(std::string_view address);

}  // namespace tcpconnect
