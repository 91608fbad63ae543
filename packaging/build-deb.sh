#!/usr/bin/env bash
# Builds the Debian package from the working tree:
#
#   packaging/build-deb.sh [OUT_DIR]      (default: build-deb/ in the repository)
#
# debian/ lives in packaging/debian so that the tree's top stays the project's. This copies
# the tree (without build directories and .git) to OUT_DIR/src, makes packaging/debian its
# debian/ (the unit from systemd/ beside it, for dh_installsystemd), and runs
# `dpkg-buildpackage -us -uc -b` there. The copy is kept: the next run rebuilds only what
# changed. The .deb files land in OUT_DIR; the last line printed is the package's path.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
out=$(mkdir -p "${1:-$repo/build-deb}" && cd "${1:-$repo/build-deb}" && pwd)
src=$out/src
package=tcpconnect-exporter

upstream=$(sed -n 's/^project(tcpconnect_exporter VERSION \([0-9.]*\).*/\1/p' "$repo/CMakeLists.txt")
debian_version=$(dpkg-parsechangelog -l "$repo/packaging/debian/changelog" -S Version)
if [[ ${debian_version%-*} != "$upstream" ]]; then
  echo "build-deb: packaging/debian/changelog is at $debian_version but CMakeLists.txt at" \
    "$upstream: add a changelog entry (dch -v $upstream-1)" >&2
  exit 1
fi

# The tree as it is now, mtimes kept so that an unchanged file is not rebuilt.
mkdir -p "$src"
rm -rf "$src/debian"
tar -C "$repo" --exclude=./.git --exclude='./build' --exclude='./build-*' --exclude=./.cache \
  --exclude='./obj-*' -cf - . | tar -C "$src" -xf -
cp -r "$repo/packaging/debian" "$src/debian"
# The copy has no .git: the build reads the revision from REVISION (daemon/CMakeLists.txt).
if revision=$(git -C "$repo" rev-parse --short HEAD 2>/dev/null); then
  echo "$revision" >"$src/REVISION"
else
  rm -f "$src/REVISION"
fi
cp "$repo/systemd/$package.service" "$src/debian/$package.service"

rm -f "$out"/*.deb "$out"/*.ddeb "$out"/*.buildinfo "$out"/*.changes
(
  cd "$src"
  # -nc: keep the CMake build directory (obj-*) of the previous run.
  DEB_BUILD_OPTIONS="parallel=$(nproc) ${DEB_BUILD_OPTIONS:-}" \
    dpkg-buildpackage -us -uc -b -nc
) >"$out/build.log" 2>&1 || {
  tail -n 60 "$out/build.log" >&2
  echo "build-deb: dpkg-buildpackage failed; the whole log is $out/build.log" >&2
  exit 1
}
deb=$(ls "$out/${package}_${debian_version}_"*.deb)
echo "$deb"
