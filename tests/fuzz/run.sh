#!/usr/bin/env bash
# tests/fuzz/run.sh [SECONDS]: builds every fuzz target with clang (libFuzzer, ASan,
# UBSan) and runs each for SECONDS (default 30) from its committed seed corpus:
#   dns_fuzzer      corpus/          real responses recorded from dnsmasq (make_corpus.py)
#   config_fuzzer   config_corpus/   the shipped config and the tests' configs
#                                    (make_config_corpus.py), with config.dict
#   parsers_fuzzer  parsers_corpus/  durations, networks, ports, listen addresses, ...
#   labels_fuzzer   labels_corpus/   comm, unit and DNS names that are not UTF-8
# The committed corpora are only read: each run starts from a scratch copy that is
# removed afterwards. A crash, leak, timeout or out-of-memory in any target fails the run
# and leaves its input as $BUILD/crash-* (or leak-, timeout-, oom-); once fixed, add it to
# the target's corpus (the DNS unit tests replay corpus/).
# BUILD (default build-fuzz/) is the build directory.
set -euo pipefail

seconds=${1:-30}
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
build=${BUILD:-$repo/build-fuzz}

CC=clang CXX=clang++ cmake -S "$repo/tests/fuzz" -B "$build" -G Ninja \
  -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$build" --target dns_fuzzer config_fuzzer parsers_fuzzer labels_fuzzer

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
failed=()
# target corpus max_len extra-options...
run() {
  local target=$1 corpus=$2 max_len=$3
  shift 3
  mkdir -p "$work/$target"
  cp "$repo/tests/fuzz/$corpus"/* "$work/$target"/
  echo "== $target: ${seconds}s from tests/fuzz/$corpus ($(ls "$work/$target" | wc -l) seeds)"
  if ! UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
    "$build/$target" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
      -max_len="$max_len" -print_final_stats=1 -artifact_prefix="$build/" "$@" \
      "$work/$target" >"$work/$target.log" 2>&1; then
    failed+=("$target")
    tail -n 60 "$work/$target.log"
  fi
  grep -E '^#[0-9]+.*(DONE|pulse)' "$work/$target.log" | tail -n 1 || true
  grep -E '^stat::(number_of_executed_units|average_exec_per_sec|peak_rss_mb)' \
    "$work/$target.log" || true
}
# A ring record is at most 64 + 8192 bytes, a TCP message 64 KiB; chunks frame them.
run dns_fuzzer corpus 70000
# The shipped config is ~6 KiB; larger inputs only slow yaml-cpp down.
run config_fuzzer config_corpus 16384 -dict="$repo/tests/fuzz/config.dict"
run parsers_fuzzer parsers_corpus 1024
# A comm is 16 bytes, a cgroup name at most 255, a DNS name 1025 as libresolv prints it.
run labels_fuzzer labels_corpus 1400

if ((${#failed[@]})); then
  echo "FUZZ FAILED: ${failed[*]} (inputs in $build/)" >&2
  exit 1
fi
echo "fuzz: no crash in dns_fuzzer, config_fuzzer, parsers_fuzzer, labels_fuzzer (${seconds}s each)"
