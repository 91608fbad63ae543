#!/usr/bin/env bash
# The Prometheus scrape-configuration examples in packaging/prometheus, as promtool reads
# them: scrape-static.yaml, with its file_sd job pointed at targets-example.yaml (promtool
# checks the target files a file_sd glob matches, so the example file is checked too).
# scrape-kubernetes.yaml is not checked: Debian's prometheus is built without Kubernetes
# service discovery, and its promtool rejects every kubernetes_sd_configs block.
#
#   check_scrape_configs.sh REPO_DIR [PROMTOOL]
set -euo pipefail

repo=${1:?usage: $0 REPO_DIR [PROMTOOL]}
promtool=${2:-promtool}
dir=$repo/packaging/prometheus
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

grep -q '/etc/prometheus/targets/tcpconnect-exporter-\*.yaml' "$dir/scrape-static.yaml"
sed "s#/etc/prometheus/targets/tcpconnect-exporter-\*.yaml#$dir/targets-example.yaml#" \
  "$dir/scrape-static.yaml" >"$tmp/prometheus.yml"
out=$("$promtool" check config "$tmp/prometheus.yml" 2>&1) || {
  echo "$out"
  echo "FAIL: promtool rejects scrape-static.yaml or targets-example.yaml"
  exit 1
}
echo "$out"
if grep -q WARNING <<<"$out"; then
  echo "FAIL: promtool warns"
  exit 1
fi
echo "OK: scrape-static.yaml and targets-example.yaml"
