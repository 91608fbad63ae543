// record_fixtures OUTDIR: asks a real dnsmasq the questions behind tests/dns/fixtures and
// saves each raw response, byte for byte (TCP ones with their 2-byte length prefix, as a
// segment carries them). The fixtures are committed; rerun this only to refresh them.
// See tests/dns/fixtures/README.md for what each holds.
#include <arpa/nameser.h>
#include <netinet/in.h>

#include <cstdio>
#include <string>
#include <vector>

#include "dns/dns_testing.h"

using namespace tcpconnect::testing;

namespace {

std::string hosts_file() {
  std::string h;
  for (int i = 21; i <= 25; ++i) h += "192.0.2." + std::to_string(i) + " multi.example.test\n";
  for (int i = 1; i <= 60; ++i) h += "198.51.100." + std::to_string(i) + " big.example.test\n";
  return h;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: record_fixtures OUTDIR\n");
    return 2;
  }
  const std::string dir = argv[1];
  Dnsmasq::Options o;
  o.listen = {unique_loopback_v4()};
  o.port = free_udp_tcp_port(AF_INET, o.listen.front());
  o.records = {"--host-record=web.example.test,192.0.2.10,2001:db8::10",
               "--cname=alias.example.test,mid.example.test",
               "--cname=mid.example.test,web.example.test"};
  o.hosts = hosts_file();
  o.ready_name = "web.example.test";
  std::string error;
  auto server = Dnsmasq::start(o, &error);
  if (!server) {
    std::fprintf(stderr, "record_fixtures: %s\n", error.c_str());
    return 1;
  }

  struct Fixture {
    const char* file;
    const char* name;
    int type;
    bool tcp;
  };
  const std::vector<Fixture> fixtures = {
      {"a_udp.bin", "web.example.test", ns_t_a, false},
      {"aaaa_udp.bin", "web.example.test", ns_t_aaaa, false},
      {"cname_chain_udp.bin", "alias.example.test", ns_t_a, false},
      {"cname_chain_aaaa_udp.bin", "alias.example.test", ns_t_aaaa, false},
      {"nxdomain_udp.bin", "missing.example.test", ns_t_a, false},
      {"nodata_aaaa_udp.bin", "multi.example.test", ns_t_aaaa, false},
      {"multi_a_udp.bin", "multi.example.test", ns_t_a, false},
      {"big_a_udp_tc.bin", "big.example.test", ns_t_a, false},
      {"refused_udp.bin", "outside.example.com", ns_t_a, false},
      {"a_tcp.bin", "web.example.test", ns_t_a, true},
      {"cname_chain_tcp.bin", "alias.example.test", ns_t_a, true},
      {"big_a_tcp.bin", "big.example.test", ns_t_a, true},
  };
  int failed = 0;
  for (const Fixture& f : fixtures) {
    auto r = dns_query(server->address(), server->port(), f.name, f.type, f.tcp);
    if (!r) {
      std::fprintf(stderr, "record_fixtures: no answer for %s\n", f.file);
      ++failed;
      continue;
    }
    write_binary(dir + "/" + f.file, *r);
    std::printf("%-26s %5zu bytes  %s %s\n", f.file, r->size(), f.tcp ? "tcp" : "udp", f.name);
  }
  return failed ? 1 : 0;
}
