// dns_client: runs glibc's own resolver against a chosen name server, the way an
// application on the host would use it, without touching the host's configuration.
// It enters a private mount namespace and bind-mounts its own /etc/resolv.conf
// ("nameserver IP") and /etc/nsswitch.conf ("hosts: dns") over the real ones: glibc reads
// them as usual, and nothing outside this process sees them.
//
//   dns_client --nameserver IP [--port N] [--family inet|inet6|any] [--connect-port P]
//              resolve NAME...
//       getaddrinfo() each name and, with --connect-port, connect() at once to the first
//       address of the answer. Prints "NAME ADDRESS CONNECT_ERRNO" per name (ADDRESS "-"
//       when it did not resolve). Exit 0 when every name resolved. --port asks the server
//       on port N instead of 53 (resolv.conf cannot say a port; the resolver state is
//       changed after res_init(), which glibc keeps; IPv4 name servers only).
//   dns_client --nameserver IP exec -- COMMAND [ARGS...]
//       Runs COMMAND (e.g. getent ahostsv4 NAME) with that configuration.
#include <arpa/inet.h>
#include <arpa/nameser.h>
#include <netdb.h>
#include <resolv.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <string>
#include <vector>

namespace {

int usage() {
  std::fprintf(stderr,
               "usage: dns_client --nameserver IP [--port N] [--family inet|inet6|any] "
               "[--connect-port P] resolve NAME...\n       dns_client --nameserver IP exec -- "
               "COMMAND [ARGS...]\n");
  return 2;
}

bool bind_file(const std::string& content, const std::string& dir, const char* name,
               const char* target) {
  std::string path = dir + "/" + name;
  std::ofstream(path) << content;
  if (mount(path.c_str(), target, nullptr, MS_BIND, nullptr) != 0) {
    std::fprintf(stderr, "dns_client: bind-mounting %s over %s: %s\n", path.c_str(), target,
                 std::strerror(errno));
    return false;
  }
  return true;
}

bool private_resolver(const std::string& nameserver) {
  if (unshare(CLONE_NEWNS) != 0) {
    std::fprintf(stderr, "dns_client: unshare(CLONE_NEWNS): %s (needs root)\n",
                 std::strerror(errno));
    return false;
  }
  // Mounts made from here on stay in this namespace.
  if (mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0) {
    std::fprintf(stderr, "dns_client: making / private: %s\n", std::strerror(errno));
    return false;
  }
  // A private tmpfs over /tmp holds the two files: nothing is written to the host's
  // filesystem, and they vanish with the namespace.
  if (mount("tcx-resolv", "/tmp", "tmpfs", 0, "size=64k") != 0) {
    std::fprintf(stderr, "dns_client: tmpfs on /tmp: %s\n", std::strerror(errno));
    return false;
  }
  bool ok = bind_file("nameserver " + nameserver + "\noptions timeout:2 attempts:2\n", "/tmp",
                      "resolv.conf", "/etc/resolv.conf") &&
            bind_file("hosts: dns\n", "/tmp", "nsswitch.conf", "/etc/nsswitch.conf");
  return ok;
}

std::string text(const sockaddr* sa) {
  char buf[INET6_ADDRSTRLEN] = "?";
  if (sa->sa_family == AF_INET)
    inet_ntop(AF_INET, &reinterpret_cast<const sockaddr_in*>(sa)->sin_addr, buf, sizeof(buf));
  else if (sa->sa_family == AF_INET6)
    inet_ntop(AF_INET6, &reinterpret_cast<const sockaddr_in6*>(sa)->sin6_addr, buf, sizeof(buf));
  return buf;
}

int connect_to(const addrinfo* ai, int port) {
  sockaddr_storage ss{};
  std::memcpy(&ss, ai->ai_addr, ai->ai_addrlen);
  if (ss.ss_family == AF_INET)
    reinterpret_cast<sockaddr_in*>(&ss)->sin_port = htons(static_cast<uint16_t>(port));
  else
    reinterpret_cast<sockaddr_in6*>(&ss)->sin6_port = htons(static_cast<uint16_t>(port));
  int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return errno;
  int rc = connect(fd, reinterpret_cast<sockaddr*>(&ss), ai->ai_addrlen) == 0 ? 0 : errno;
  close(fd);
  return rc;
}

}  // namespace

int main(int argc, char** argv) {
  std::string nameserver;
  int family = AF_UNSPEC;
  int port = 0;
  int server_port = 0;
  int i = 1;
  for (; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--nameserver" && i + 1 < argc) {
      nameserver = argv[++i];
    } else if (a == "--family" && i + 1 < argc) {
      std::string f = argv[++i];
      family = f == "inet" ? AF_INET : f == "inet6" ? AF_INET6 : AF_UNSPEC;
    } else if (a == "--port" && i + 1 < argc) {
      server_port = std::atoi(argv[++i]);
    } else if (a == "--connect-port" && i + 1 < argc) {
      port = std::atoi(argv[++i]);
    } else {
      break;
    }
  }
  if (nameserver.empty() || i >= argc) return usage();
  std::string mode = argv[i++];
  if (!private_resolver(nameserver)) return 1;

  if (mode == "exec") {
    if (i < argc && std::string(argv[i]) == "--") ++i;
    if (i >= argc) return usage();
    execvp(argv[i], argv + i);
    std::fprintf(stderr, "dns_client: exec %s: %s\n", argv[i], std::strerror(errno));
    return 127;
  }
  if (mode != "resolve") return usage();
  if (server_port > 0) {
    if (res_init() != 0 || _res.nscount < 1 || _res.nsaddr_list[0].sin_family != AF_INET) {
      std::fprintf(stderr, "dns_client: --port needs an IPv4 --nameserver\n");
      return 1;
    }
    _res.nsaddr_list[0].sin_port = htons(static_cast<uint16_t>(server_port));
  }

  int unresolved = 0;
  for (; i < argc; ++i) {
    addrinfo hints{};
    hints.ai_family = family;
    hints.ai_socktype = SOCK_STREAM;
    addrinfo* res = nullptr;
    int rc = getaddrinfo(argv[i], nullptr, &hints, &res);
    if (rc != 0 || !res) {
      std::printf("%s - %d\n", argv[i], rc);
      ++unresolved;
      continue;
    }
    // Connect at once: no delay between the answer and the connect it enables.
    int err = port > 0 ? connect_to(res, port) : -1;
    std::printf("%s %s %d\n", argv[i], text(res->ai_addr).c_str(), err);
    freeaddrinfo(res);
  }
  return unresolved == 0 ? 0 : 1;
}
