#!/usr/bin/env bash
# Builds the container image offline, from Debian packages and the project's own .deb:
#
#   scripts/build-image.sh [DEB]      (default: the package packaging/build-deb.sh builds)
#
# No base image is pulled from a registry. mmdebstrap, from the configured apt sources,
# extracts (never installs: no maintainer script runs, so no shell is needed) the shared
# libraries the package's Depends name, and nothing else: no shell, no package manager,
# no compiler. The package's own files are unpacked over them with dpkg-deb. The binary
# gets file capabilities (see "Privileges" in README.md) and the image runs as the
# unprivileged user tcpconnect-exporter. podman imports the tree as one layer, with the
# entrypoint and the OCI labels, and saves it as an OCI archive:
#
#   build/tcpconnect-exporter-image.tar     (`podman load -i` takes it)
#
# The last line printed is the image reference, localhost/tcpconnect-exporter:VERSION.
# Needs root (mmdebstrap's root mode keeps file ownership; setcap), podman, mmdebstrap
# and setcap (scripts/setup.sh installs them).
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
out=$repo/build
name=localhost/tcpconnect-exporter
# The unprivileged user the image runs as and the configuration it reads, from the file
# the podman test and the DaemonSet check share.
runtime_json=$repo/packaging/container/runtime.json
uid=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["user"])' "$runtime_json")
config_file=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["config_file"])' \
  "$runtime_json")

if [[ $(id -u) -ne 0 ]]; then
  echo "build-image: needs root (mmdebstrap, setcap, podman import)" >&2
  exit 1
fi
for tool in mmdebstrap podman setcap dpkg-deb; do
  command -v "$tool" >/dev/null || {
    echo "build-image: $tool is missing: run scripts/setup.sh" >&2
    exit 1
  }
done

deb=${1:-}
if [[ -z $deb ]]; then
  deb=$("$repo/packaging/build-deb.sh" | tail -n 1)
fi
version=$(dpkg-deb -f "$deb" Version)
upstream=${version%-*}
revision=$(git -C "$repo" rev-parse HEAD 2>/dev/null || echo unknown)
# Where the source is published: IMAGE_SOURCE, else the clone's origin.
source_url=${IMAGE_SOURCE:-$(git -C "$repo" remote get-url origin 2>/dev/null || echo unknown)}
# The shared libraries the package links with: its Depends, less adduser (only its
# maintainer scripts use it, and they do not run here).
depends=$(dpkg-deb -f "$deb" Depends | tr ',' '\n' | sed 's/(.*)//; s/ //g' |
  grep -v -e '^adduser$' -e '^\${' -e '^$' | paste -sd, -)

work=$(mktemp -d "${TMPDIR:-/tmp}/tcpconnect-image.XXXXXX")
trap 'rm -rf "$work"' EXIT
root=$work/root

# The runtime libraries, from the configured Debian mirror (the host's apt sources).
mmdebstrap --quiet --mode=root --variant=extract --include="$depends" \
  --dpkgopt='path-exclude=/usr/share/doc/*' --dpkgopt='path-include=/usr/share/doc/*/copyright' \
  --dpkgopt='path-exclude=/usr/share/man/*' --dpkgopt='path-exclude=/usr/share/locale/*' \
  --dpkgopt='path-exclude=/usr/share/lintian/*' \
  bookworm "$root" >"$work/mmdebstrap.log" 2>&1 || {
  tail -n 40 "$work/mmdebstrap.log" >&2
  echo "build-image: mmdebstrap failed" >&2
  exit 1
}
dpkg-deb -x "$deb" "$root"

# What extract mode leaves behind and a container does not use: apt's and dpkg's state
# and caches, documentation (the copyright files stay), the systemd unit.
rm -rf "$root"/var/lib/apt "$root"/var/cache/* "$root"/var/lib/dpkg "$root"/var/log/* \
  "$root"/etc/apt "$root"/lib/systemd/system/tcpconnect-exporter.service \
  "$root"/usr/share/man "$root"/usr/share/lintian "$root"/usr/share/locale \
  "$root"/usr/share/doc/tcpconnect-exporter/README.md.gz \
  "$root"/usr/share/doc/tcpconnect-exporter/changelog.Debian.gz
find "$root/usr/share/doc" -mindepth 2 ! -name copyright -type f -delete
find "$root/usr/share/doc" -mindepth 1 -type d -empty -delete
install -m 0644 "$repo/LICENSE" "$root/usr/share/doc/tcpconnect-exporter/LICENSE"
mkdir -p "$root/tmp" "$root/proc" "$root/sys" "$root/dev" "$root/run"
chmod 1777 "$root/tmp"

# The users the daemon may name (--runas.user looks them up) and the one it runs as.
cat >"$root/etc/passwd" <<EOF
root:x:0:0:root:/root:/usr/sbin/nologin
tcpconnect-exporter:x:$uid:$uid:tcpconnect_exporter:/nonexistent:/usr/sbin/nologin
nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin
EOF
cat >"$root/etc/group" <<EOF
root:x:0:
tcpconnect-exporter:x:$uid:
nogroup:x:65534:
EOF
chmod 0644 "$root/etc/passwd" "$root/etc/group"
mkdir -p "$root$(dirname "$config_file")"
[[ -f $root$config_file ]] || mv "$root/etc/tcpconnect_exporter/config.yaml" "$root$config_file"
chown "root:$uid" "$root$config_file"
chmod 0640 "$root$config_file"

# A user other than root gets no capability at exec unless the runtime sets ambient
# capabilities (podman does, Kubernetes does not) or the binary carries them. These are
# permitted at exec as far as the container's bounding set holds them, and the daemon
# makes them effective itself: with the effective bit set instead, a runtime that
# withholds one (CAP_SYS_RESOURCE, unused from kernel 5.11) would make exec fail with a
# bare EPERM. The daemon drops all but CAP_BPF once attached.
setcap cap_bpf,cap_perfmon,cap_net_admin,cap_sys_resource=p "$root/usr/bin/tcpconnect_exporter"

# One layer; the file capability travels as the security.capability xattr.
tar --xattrs --xattrs-include='security.capability' --numeric-owner --sort=name \
  --mtime="@${SOURCE_DATE_EPOCH:-0}" -C "$root" -cf "$work/rootfs.tar" .

tag=$name:$upstream
image=$(podman import \
  --change "ENTRYPOINT [\"/usr/bin/tcpconnect_exporter\", \"--config.file\", \"$config_file\"]" \
  --change "CMD []" \
  --change "USER $uid:$uid" \
  --change "EXPOSE 9476/tcp" \
  --change "LABEL org.opencontainers.image.title=tcpconnect_exporter" \
  --change "LABEL org.opencontainers.image.source=$source_url" \
  --change "LABEL org.opencontainers.image.version=$upstream" \
  --change "LABEL org.opencontainers.image.revision=$revision" \
  --change "LABEL org.opencontainers.image.licenses=Apache-2.0 AND (LGPL-2.1-only OR BSD-2-Clause)" \
  --message "tcpconnect_exporter $version from Debian packages" \
  "$work/rootfs.tar" "$tag")
mkdir -p "$out"
rm -f "$out/tcpconnect-exporter-image.tar"
podman save --quiet --format oci-archive -o "$out/tcpconnect-exporter-image.tar" "$tag"
size=$(podman image inspect --format '{{.Size}}' "$image")
echo "build-image: $tag ($((size / 1000000)) MB unpacked) -> $out/tcpconnect-exporter-image.tar" >&2
echo "$tag"
