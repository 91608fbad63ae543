#!/usr/bin/env bash
# Runs every test: the unit tests once more under ASan+UBSan, then the whole suite
# (unit, bpf, integration) through ctest. bpf and integration tests need root; without
# it they are reported as skipped, with the reason, never as passed.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo"

if [[ ! -f build/build.ninja ]]; then
  echo "test: build/ is missing: run scripts/setup.sh first" >&2
  exit 1
fi
cmake --build build -j"$(nproc)"

if [[ $(id -u) -ne 0 ]]; then
  echo "test: not root: the bpf and integration tests will be skipped" >&2
fi

# What each probe costs per connect and per non-DNS datagram against bpftrace's one-liner
# and an empty program (bpf_stats, a few seconds), printed so that a dearer probe shows in
# the log; it asserts nothing (docs/benchmarks.md, "Cost on ordinary traffic").
if [[ $(id -u) -eq 0 ]]; then
  build/tests/bench/cost/cost_bench --short --daemon build/tcpconnect_exporter \
    --config config/tcpconnect_exporter.yaml
fi

# Unit tests under AddressSanitizer and UndefinedBehaviorSanitizer.
cmake -S . -B build-asan -G Ninja -DCMAKE_BUILD_TYPE=Debug -DTCPCONNECT_SANITIZE=ON >/dev/null
cmake --build build-asan -j"$(nproc)" --target unit_tests dns_unit_tests trace_unit_tests
for t in build-asan/tests/unit_tests build-asan/tests/dns/dns_unit_tests \
         build-asan/tests/trace/trace_unit_tests; do
  ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 "$t" --gtest_brief=1
done

# Every libFuzzer target (DNS packets, the config file, the small parsers, label values),
# FUZZ_SECONDS each (longer runs: see docs/benchmarks.md).
tests/fuzz/run.sh "${FUZZ_SECONDS:-30}" 2>&1 | grep -v '^\[' | tail -n 80

# The container image, built offline from Debian packages and this tree's .deb, for the
# podman test (tests/integration/container), which reuses build/tcpconnect-exporter-image.tar.
if [[ $(id -u) -eq 0 ]] && command -v podman >/dev/null && command -v mmdebstrap >/dev/null; then
  timeout 1200 scripts/build-image.sh | tail -n 1
else
  echo "test: no root, podman or mmdebstrap: the container image is not built" >&2
fi

ctest --test-dir build --output-on-failure --timeout 600 "$@"
