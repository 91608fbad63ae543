#!/usr/bin/env bash
# Installs every Debian package tcpconnect_exporter needs to build and test, then
# builds into build/. Safe to run again: apt-get skips what is installed and the
# build is incremental.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

packages=(
  # toolchain
  build-essential cmake ninja-build pkg-config git
  # kernel side: BPF compiler, libbpf, skeleton generator
  clang llvm libbpf-dev bpftool libelf-dev zlib1g-dev
  # daemon libraries
  prometheus-cpp-dev libspdlog-dev libfmt-dev libyaml-cpp-dev libsystemd-dev
  libcli11-dev libutfcpp-dev
  # the endpoint's TLS (OpenSSL, also for civetweb's shims) and basic auth (bcrypt through
  # libxcrypt's crypt_r)
  libssl-dev libcrypt-dev
  # tests: unit framework, real Prometheus, a real DNS server and clients, traffic
  # and namespaces, libFuzzer's runtime, the peer tracer the benchmarks compare with
  googletest libgtest-dev libgmock-dev prometheus iproute2 curl procps
  util-linux dnsmasq-base dnsutils libclang-rt-14-dev bpftrace python3
  # the unit's exposure rating (systemd-analyze security --offline)
  systemd
  # throwaway CA, certificate and keys for the HTTPS tests
  openssl
  # packaging and the VM lane: the Debian package, lintian, a Debian 12 image booted
  # under qemu (systemd as PID 1, Debian's kernel)
  debhelper dpkg-dev lintian debootstrap qemu-system-x86 qemu-utils e2fsprogs
  # the container image, built offline from Debian packages (scripts/build-image.sh:
  # mmdebstrap, setcap, podman import) and run under podman with runc and a network
  # namespace of its own (netavark, which needs iptables); the DaemonSet check reads YAML
  podman runc netavark aardvark-dns iptables mmdebstrap libcap2-bin python3-yaml
)

sudo_cmd=()
if [[ $(id -u) -ne 0 ]]; then
  sudo_cmd=(sudo)
fi

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if ((${#missing[@]})); then
  echo "setup: installing ${missing[*]}"
  "${sudo_cmd[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -q
  # policy-rc.d keeps apt from starting the prometheus server it installs.
  "${sudo_cmd[@]}" env DEBIAN_FRONTEND=noninteractive RUNLEVEL=1 \
    apt-get install -y -q --no-install-recommends "${missing[@]}"
else
  echo "setup: all packages present"
fi

build_type=${BUILD_TYPE:-RelWithDebInfo}
cmake -S "$repo" -B "$repo/build" -G Ninja -DCMAKE_BUILD_TYPE="$build_type"
cmake --build "$repo/build" -j"$(nproc)"
