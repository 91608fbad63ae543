#!/usr/bin/env bash
# tests/fuzz/run.sh [SECONDS]: builds the DNS fuzz target with clang in build-fuzz/ and
# runs it for SECONDS (default 30) from the seed corpus (tests/fuzz/corpus: real responses
# recorded from dnsmasq, see make_corpus.py). New inputs go to a scratch copy, never into
# the committed corpus. A crash leaves its input as build-fuzz/crash-* and fails the run;
# add such an input to the corpus once fixed (the unit tests replay the corpus).
set -euo pipefail

seconds=${1:-30}
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
build=$repo/build-fuzz

CC=clang CXX=clang++ cmake -S "$repo/tests/fuzz" -B "$build" -G Ninja \
  -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$build" --target dns_fuzzer

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cp "$repo"/tests/fuzz/corpus/* "$work"/
# -max_len: a ring record is at most 64 + 8192 bytes, a TCP message 64 KiB; chunks frame them.
UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
  "$build/dns_fuzzer" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
  -max_len=70000 -print_final_stats=1 -artifact_prefix="$build/" "$work"
