#!/usr/bin/env bash
# Builds (or finds in the cache) the VM the systemd lane boots: Debian 12 with its stock
# kernel, systemd as PID 1, and the runtime dependencies of the package under test, so
# that `dpkg -i` works inside the VM without a network.
#
#   build-image.sh CACHE_ROOT [EXTRA_PACKAGE...]
#
# Prints the image directory (holding rootfs.img, vmlinuz, initrd.img) on stdout, and
# progress on stderr. The image is keyed by a hash of this script and the package list, so
# a change to either builds a new one; older images are removed. Needs root, debootstrap
# and mkfs.ext4 (no loop mount: `mkfs.ext4 -d`).
set -euo pipefail

if (($# < 1)); then
  echo "usage: $0 CACHE_ROOT [EXTRA_PACKAGE...]" >&2
  exit 2
fi
cache_root=$1
shift
suite=bookworm
mirror=${TCPCONNECT_VM_MIRROR:-http://deb.debian.org/debian}

# systemd as PID 1 and the tools the in-VM test uses: bpftool to list attached programs,
# curl to scrape, netcat as the loopback listener, adduser for the package's postinst.
base_packages=(systemd systemd-sysv udev kmod dbus libbpf1 bpftool adduser curl
  netcat-openbsd procps)
mapfile -t packages < <(printf '%s\n' "${base_packages[@]}" "$@" | sort -u)
# Installed in a second step, once initramfs-tools is configured to build a small image.
kernel_package=linux-image-amd64

key=$( (cat "${BASH_SOURCE[0]}"; printf '%s\n' "$suite" "$kernel_package" "${packages[@]}") |
  sha256sum | cut -c1-16)
image_dir=$cache_root/$key
log() { echo "vm-image: $*" >&2; }

mkdir -p "$cache_root"
exec 9>"$cache_root/.lock"
flock 9

if [[ -f $image_dir/ready ]]; then
  log "cached image $image_dir"
  echo "$image_dir"
  exit 0
fi

for tool in debootstrap mkfs.ext4 chroot; do
  command -v "$tool" >/dev/null || { log "$tool is missing"; exit 1; }
done

# Only the newest image is kept: each is ~1 GiB.
find "$cache_root" -mindepth 1 -maxdepth 1 -type d -exec rm -rf {} +

work=$(mktemp -d "$cache_root/.build.XXXXXX")
rootfs=$work/rootfs
cleanup() {
  for m in dev/pts dev proc sys; do
    mountpoint -q "$rootfs/$m" 2>/dev/null && umount -l "$rootfs/$m"
  done
  rm -rf "$work"
}
trap cleanup EXIT

start=$SECONDS
log "debootstrap $suite from $mirror (${#packages[@]} extra packages)"
include=$(IFS=,; echo "${packages[*]}")
debootstrap --variant=minbase --include="$include" "$suite" "$rootfs" "$mirror" \
  >"$work/debootstrap.log" 2>&1 || {
  tail -n 30 "$work/debootstrap.log" >&2
  exit 1
}
log "debootstrap done in $((SECONDS - start)) s"

# A small initramfs: only the drivers the VM has (virtio disk, 9p share) and ext4.
mkdir -p "$rootfs/etc/initramfs-tools/conf.d" "$rootfs/usr/share/initramfs-tools/modules.d"
printf 'MODULES=list\nCOMPRESS=gzip\n' >"$rootfs/etc/initramfs-tools/conf.d/tcpx-vm"
printf '%s\n' virtio_pci virtio_blk ext4 9p 9pnet_virtio \
  >"$rootfs/usr/share/initramfs-tools/modules.d/tcpx-vm"
cp /etc/resolv.conf "$rootfs/etc/resolv.conf"
mount -t proc proc "$rootfs/proc"
mount -t sysfs sysfs "$rootfs/sys"
mount --bind /dev "$rootfs/dev"
mount --bind /dev/pts "$rootfs/dev/pts"
chroot "$rootfs" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q \
  --no-install-recommends "$kernel_package" >"$work/kernel.log" 2>&1 || {
  tail -n 30 "$work/kernel.log" >&2
  exit 1
}
chroot "$rootfs" apt-get clean
for m in dev/pts dev proc sys; do umount -l "$rootfs/$m"; done
log "kernel installed at $((SECONDS - start)) s"

# The machine: no network, volatile journal, nothing that is not needed at boot.
echo tcpx-vm >"$rootfs/etc/hostname"
printf '/dev/vda / ext4 rw,relatime 0 0\n' >"$rootfs/etc/fstab"
: >"$rootfs/etc/resolv.conf"
mkdir -p "$rootfs/etc/systemd/journald.conf.d"
printf '[Journal]\nStorage=volatile\nForwardToConsole=no\n' \
  >"$rootfs/etc/systemd/journald.conf.d/vm.conf"
for unit in apt-daily.timer apt-daily-upgrade.timer dpkg-db-backup.timer e2scrub_all.timer \
  fstrim.timer systemd-timesyncd.service getty@tty1.service serial-getty@ttyS0.service; do
  ln -sf /dev/null "$rootfs/etc/systemd/system/$unit"
done

# The test runner: mounts the 9p share, runs the test script the host put there, writes
# its exit code next to the results, and powers the machine off whatever happened.
mkdir -p "$rootfs/mnt/share"
cat >"$rootfs/usr/local/sbin/tcpx-vm-entry" <<'EOF'
#!/bin/bash
set -u
mount -t 9p -o trans=virtio,version=9p2000.L,msize=262144 share /mnt/share || exit 1
mkdir -p /mnt/share/results
bash /mnt/share/in-vm-test.sh /mnt/share >/mnt/share/results/test.log 2>&1
echo $? >/mnt/share/results/exit-code
sync
EOF
chmod 0755 "$rootfs/usr/local/sbin/tcpx-vm-entry"
cat >"$rootfs/etc/systemd/system/tcpx-vm-test.service" <<'EOF'
[Unit]
Description=tcpconnect_exporter VM test lane
After=multi-user.target
SuccessAction=poweroff-force
FailureAction=poweroff-force

[Service]
Type=oneshot
ExecStart=/usr/local/sbin/tcpx-vm-entry
StandardOutput=journal+console
StandardError=journal+console

[Install]
WantedBy=multi-user.target
EOF
mkdir -p "$rootfs/etc/systemd/system/multi-user.target.wants"
ln -sf /etc/systemd/system/tcpx-vm-test.service \
  "$rootfs/etc/systemd/system/multi-user.target.wants/tcpx-vm-test.service"
ln -sf /lib/systemd/system/multi-user.target "$rootfs/etc/systemd/system/default.target"

mkdir -p "$work/out"
cp -L "$rootfs/vmlinuz" "$work/out/vmlinuz"
cp -L "$rootfs/initrd.img" "$work/out/initrd.img"
printf '%s\n' "${packages[@]}" "$kernel_package" >"$work/out/packages.txt"
ls "$rootfs/lib/modules" >"$work/out/kernel-release"
# Room for the package, its logs and the journal on top of what is installed.
size_mb=$(($(du -sm "$rootfs" | cut -f1) * 13 / 10 + 256))
mkfs.ext4 -q -F -L root -d "$rootfs" "$work/out/rootfs.img" "${size_mb}M" >&2
touch "$work/out/ready"
mv "$work/out" "$image_dir"
log "image $image_dir built in $((SECONDS - start)) s"
echo "$image_dir"
