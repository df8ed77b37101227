#!/bin/sh
# Installs the Debian packages devpass needs to build and test, only those missing.
set -eu

BUILD_PKGS="gcc make meson ninja-build pkg-config libpci-dev pciutils libjson-c-dev libkmod-dev libsqlite3-dev libcmocka-dev libisofs-dev libnl-route-3-dev libxml2-dev libvirt-dev libpq-dev qemu-utils ovmf"
TEST_PKGS="python3 qemu-system-x86 busybox-static cpio kmod e2fsprogs iproute2 pci.ids time strace clang libclang-rt-14-dev valgrind util-linux xorriso fdisk mtools socat linux-source-6.1 linux-headers-amd64 usbutils libvirt0 libvirt-daemon libvirt-daemon-driver-qemu libvirt-clients libxml2-utils python3-nova python3-jsonschema postgresql-15 postgresql-client-15"

case "${1:-build}" in
	build) want="$BUILD_PKGS" ;;
	test) want="$BUILD_PKGS $TEST_PKGS" ;;
	*) echo "usage: $0 [build|test]" >&2; exit 2 ;;
esac

missing=""
for p in $want; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0

if [ "$(id -u)" != 0 ]; then
	echo "devpass needs these Debian packages:$missing" >&2
	echo "install them as root: apt-get install$missing" >&2
	exit 1
fi
echo "Installing:$missing"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# shellcheck disable=SC2086
apt-get install -y -qq --no-install-recommends $missing >/dev/null
