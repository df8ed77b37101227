#!/bin/bash
# Prepare everything the real-kernel VM suite needs, cached in tests/vm/.cache/:
#   .cache/vmlinuz        Debian's kernel (downloaded with apt-get download, never installed)
#   .cache/initramfs.gz   tiny busybox initramfs: loads virtio/ext4, mounts /dev/vda, switch_root
#   .cache/rootfs.ext4    ext4 root filesystem image: busybox, kmod, lspci, devpass, guest tests
#
# The kernel download/extraction and depmod are cached (keyed by package file name); the
# initramfs and root image are rebuilt on every run (about a second) so a fresh build of
# devpass and edited guest scripts are always picked up.
#
# Nothing is written to this machine's /sys or /boot; no package is installed here.
# Exit status: 0 when the images are ready, non-zero (with a message on stderr) otherwise.
set -euo pipefail

VM_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$VM_DIR/../.." && pwd)
CACHE=${DEVPASS_VM_CACHE:-$VM_DIR/.cache}
BUILD=${DEVPASS_BUILD:-$REPO/build}
SEED_DIR=${DEVPASS_VM_KERNEL_SEED:-/tmp/kdl}
mkdir -p "$CACHE"

log() { printf 'prepare: %s\n' "$*" >&2; }
die() { printf 'prepare: error: %s\n' "$*" >&2; exit 1; }

for tool in dpkg-deb depmod cpio gzip mke2fs ldd; do
    command -v "$tool" >/dev/null 2>&1 || die "missing host tool '$tool'"
done
for f in /usr/bin/busybox /usr/bin/kmod /usr/bin/lspci /usr/share/misc/pci.ids; do
    [ -e "$f" ] || die "missing $f (install busybox-static, kmod, pciutils, pci.ids)"
done

# apt_download DIR PKG...: apt-get download into DIR; on failure refresh the package lists
# once (as root) and retry.
APT_UPDATED=0
apt_download() {
    local dir=$1; shift
    (cd "$dir" && apt-get download -q "$@" >/dev/null 2>&1) && return 0
    if [ "$APT_UPDATED" = 0 ] && [ "$(id -u)" = 0 ]; then
        APT_UPDATED=1
        apt-get update -qq >/dev/null 2>&1 || true
        (cd "$dir" && apt-get download -q "$@" >/dev/null 2>&1) && return 0
    fi
    return 1
}

# ---------------------------------------------------------------- kernel package
resolve_kpkg() {
    apt-cache depends linux-image-amd64 2>/dev/null |
        awk '$1 == "Depends:" && $2 ~ /^linux-image-[0-9]/ {print $2; exit}'
}

KPKG=${DEVPASS_VM_KPKG:-}
if [ -z "$KPKG" ]; then
    KPKG=$(resolve_kpkg || true)
    if [ -z "$KPKG" ] && [ "$(id -u)" = 0 ]; then
        log "apt lists empty; running apt-get update"
        apt-get update -qq >/dev/null 2>&1 || true
        APT_UPDATED=1
        KPKG=$(resolve_kpkg || true)
    fi
fi
if [ -z "$KPKG" ]; then
    # Offline fallback: reuse whatever kernel package is already cached.
    deb=$(ls -1 "$CACHE"/linux-image-*-amd64_*.deb 2>/dev/null | sort -V | tail -n1 || true)
    [ -n "$deb" ] || die "cannot resolve the kernel package (apt-cache depends linux-image-amd64)"
    KPKG=$(basename "$deb"); KPKG=${KPKG%%_*}
    log "using cached $KPKG (apt-cache gave no answer)"
fi
KVER=${KPKG#linux-image-}

find_deb() { ls -1 "$1/${KPKG}"_*_amd64.deb 2>/dev/null | sort -V | tail -n1 || true; }
DEB=$(find_deb "$CACHE")
if [ -z "$DEB" ]; then
    seed=$(find_deb "$SEED_DIR")
    if [ -n "$seed" ]; then
        log "seeding kernel package from $seed"
        cp "$seed" "$CACHE/"
    else
        log "downloading $KPKG"
        if ! apt_download "$CACHE" "$KPKG"; then
            # stale package lists name a kernel the archive no longer has: resolve again
            if [ -z "${DEVPASS_VM_KPKG:-}" ]; then
                KPKG=$(resolve_kpkg || true); KVER=${KPKG#linux-image-}
            fi
            [ -n "$KPKG" ] && apt_download "$CACHE" "$KPKG" ||
                die "apt-get download ${KPKG:-linux-image-*-amd64} failed"
        fi
    fi
    DEB=$(find_deb "$CACHE")
    [ -n "$DEB" ] || die "no ${KPKG}_*.deb in $CACHE after the download"
    # keep only the package in use
    for old in "$CACHE"/linux-image-*_amd64.deb; do
        [ "$old" = "$DEB" ] || rm -f "$old"
    done
fi

KROOT=$CACHE/kernel
STAMP=$KROOT/.extracted-from
if [ ! -f "$STAMP" ] || [ "$(cat "$STAMP")" != "$(basename "$DEB")" ]; then
    log "extracting $(basename "$DEB")"
    rm -rf "$KROOT"
    mkdir -p "$KROOT"
    dpkg-deb -x "$DEB" "$KROOT"
    depmod -b "$KROOT" "$KVER"
    basename "$DEB" >"$STAMP"
fi
[ -f "$KROOT/boot/vmlinuz-$KVER" ] || die "no vmlinuz-$KVER in $DEB"
cp -f "$KROOT/boot/vmlinuz-$KVER" "$CACHE/vmlinuz"
echo "$KVER" >"$CACHE/kver"

# ---------------------------------------------------------------- helpers
# new_root DIR: empty merged-/usr skeleton
new_root() {
    rm -rf "$1"
    mkdir -p "$1"/{usr/bin,usr/sbin,usr/lib/x86_64-linux-gnu,usr/lib64,usr/share/misc} \
        "$1"/{dev,proc,sys,tmp,run,etc,root,mnt,newroot}
    ln -s usr/bin "$1/bin"
    ln -s usr/sbin "$1/sbin"
    ln -s usr/lib "$1/lib"
    ln -s usr/lib64 "$1/lib64"
    chmod 1777 "$1/tmp"
}

# copy_path ROOT FILE: copy FILE (dereferenced) to the same path under ROOT
copy_path() {
    local root=$1 src=$2
    mkdir -p "$root$(dirname "$src")"
    cp -L "$src" "$root$src"
}

# copy_libs ROOT FILE [LIBDIR...]: every shared library ldd resolves for FILE, copied under
# ROOT (the dynamic loader included). LIBDIRs are searched first (libraries of extracted
# packages): a library found there goes to its path inside that package root, any other to
# its own path. Fails (with a note) when a library cannot be resolved.
copy_libs() {
    local root=$1 src=$2 libpath="" dir lib dest
    shift 2
    for dir in "$@"; do libpath="$libpath${libpath:+:}$dir/usr/lib/x86_64-linux-gnu:$dir/lib/x86_64-linux-gnu"; done
    if ! LD_LIBRARY_PATH=$libpath ldd "$src" >"$CACHE/.ldd" 2>&1; then
        grep -q 'not a dynamic executable' "$CACHE/.ldd" && return 0   # static: nothing to copy
        log "ldd $src: $(cat "$CACHE/.ldd")"
        return 1
    fi
    if grep -q 'not found' "$CACHE/.ldd"; then
        log "unresolved libraries for $src: $(grep 'not found' "$CACHE/.ldd" | tr -s ' \t' ' ')"
        return 1
    fi
    for lib in $(awk '/=> \//{print $3} /^[ \t]*\/[^ ]+ \(/{print $1}' "$CACHE/.ldd"); do
        dest=$lib
        for dir in "$@"; do
            case $lib in "$dir"/*) dest=${lib#"$dir"} ;; esac
        done
        [ -e "$root$dest" ] || { mkdir -p "$root$(dirname "$dest")"; cp -L "$lib" "$root$dest"; }
    done
}

# copy_elf ROOT FILE: FILE plus every shared library ldd resolves for it (paths preserved,
# the dynamic loader included). Fails when a library cannot be resolved.
copy_elf() {
    copy_path "$1" "$2"
    copy_libs "$1" "$2" || die "cannot copy $2 into the image"
}

# pkg_fetch DIR PKG...: the Debian packages downloaded into DIR/debs (apt-get download,
# never installed here) and extracted into DIR/root, once (cached until the list changes).
# Fails when they cannot be downloaded.
pkg_fetch() {
    local dir=$1 d
    shift
    [ -f "$dir/.fetched" ] && [ "$(cat "$dir/.fetched")" = "$*" ] && return 0
    rm -rf "$dir"; mkdir -p "$dir/debs"
    apt_download "$dir/debs" "$@" || return 1
    for d in "$dir"/debs/*.deb; do dpkg-deb -x "$d" "$dir/root"; done
    echo "$*" >"$dir/.fetched"
}

# pkg_install_elf PKGROOT FILE DEST: FILE (a path inside the extracted PKGROOT) copied to
# DEST in the image, with its libraries (from PKGROOT first, then this machine's)
pkg_install_elf() {
    local pr=$1 src=$2 dest=$3
    [ -f "$pr$src" ] || { log "no $src in the extracted packages"; return 1; }
    copy_libs "$RD" "$pr$src" "$pr" || return 1
    rm -f "$RD$dest"
    mkdir -p "$RD$(dirname "$dest")"
    cp "$pr$src" "$RD$dest"
}

# install_busybox ROOT: busybox plus one symlink per applet (never over an existing file)
install_busybox() {
    local root=$1 applet
    copy_elf "$root" /usr/bin/busybox
    for applet in $(/usr/bin/busybox --list); do
        [ "$applet" = busybox ] && continue
        [ -e "$root/usr/bin/$applet" ] || [ -L "$root/usr/bin/$applet" ] ||
            ln -s busybox "$root/usr/bin/$applet"
    done
}

# install_modules ROOT MODULE...: the modules, their dependencies (and softdeps), and
# fresh modules.* index files made by depmod for exactly that set.
install_modules() {
    local root=$1; shift
    local m line path rel
    mkdir -p "$root/lib/modules/$KVER"
    for m in "$@"; do
        modprobe -d "$KROOT" -S "$KVER" --show-depends "$m" >"$CACHE/.deps" 2>&1 ||
            die "module $m not found in $KPKG: $(cat "$CACHE/.deps")"
        while read -r line; do
            case $line in
                insmod\ *)
                    path=${line#insmod }; path=${path%% *}
                    rel=${path#"$KROOT"}
                    if [ ! -e "$root$rel" ]; then
                        mkdir -p "$root$(dirname "$rel")"
                        cp "$path" "$root$rel"
                    fi
                    ;;
            esac
        done <"$CACHE/.deps"
    done
    cp "$KROOT/lib/modules/$KVER/modules.order" "$KROOT/lib/modules/$KVER/modules.builtin" \
        "$KROOT/lib/modules/$KVER/modules.builtin.modinfo" "$root/lib/modules/$KVER/" 2>/dev/null || true
    depmod -b "$root" "$KVER"
}

# ---------------------------------------------------------------- initramfs
# Only what is needed to reach the real root on virtio-blk.
BOOT_MODULES="virtio_pci virtio_blk crc32c_generic ext4"
IRD=$CACHE/initramfs.d
log "building initramfs"
new_root "$IRD"
install_busybox "$IRD"
install_modules "$IRD" $BOOT_MODULES
install -m 0755 "$VM_DIR/initramfs-init.sh" "$IRD/init"
echo "$BOOT_MODULES" >"$IRD/etc/boot-modules"
(cd "$IRD" && find . -print0 | LC_ALL=C sort -z | cpio --null -o -H newc --quiet --owner=0:0) |
    gzip -1 >"$CACHE/initramfs.gz.tmp"
mv "$CACHE/initramfs.gz.tmp" "$CACHE/initramfs.gz"

# ---------------------------------------------------------------- the nested guest (vm boot)
# The VMs `devpass vm` starts inside the vm boot's guest (and tests/vm/secureboot.sh on this
# machine) boot the same kernel with a tiny initramfs whose /init (nested-init.sh) lists the
# PCI functions, reads the cloud-init seed and prints the secureboot lines on ttyS0. Its
# modules: the seed on a CD (AHCI + sr_mod + isofs), a virtio or SCSI disk, a FAT seed, and
# the ACPI power button (button + evdev) so `vm stop`'s system_powerdown is answered.
# Cached: rebuilt when nested-init.sh, the module list or the kernel changes.
NESTED_MODULES="virtio_pci virtio_blk virtio_scsi ahci sr_mod isofs vfat nls_cp437 nls_ascii button evdev"
NST=$CACHE/nested
nested_key="$KVER $NESTED_MODULES $(sha256sum "$VM_DIR/nested-init.sh" | cut -c1-16)"
if [ ! -s "$NST/initrd.img" ] || [ "$(cat "$NST/.key" 2>/dev/null)" != "$nested_key" ]; then
    log "building the nested guest's initramfs"
    mkdir -p "$NST"
    new_root "$NST/root"
    install_busybox "$NST/root"
    # shellcheck disable=SC2086
    install_modules "$NST/root" $NESTED_MODULES
    install -m 0755 "$VM_DIR/nested-init.sh" "$NST/root/init"
    echo "$NESTED_MODULES" >"$NST/root/etc/nested-modules"
    (cd "$NST/root" && find . -print0 | LC_ALL=C sort -z | cpio --null -o -H newc --quiet --owner=0:0) |
        gzip -1 >"$NST/initrd.img.tmp"
    mv "$NST/initrd.img.tmp" "$NST/initrd.img"
    rm -rf "$NST/root"
    echo "$nested_key" >"$NST/.key"
fi

# ---------------------------------------------------------------- the Secure Boot disk
# tests/vm/secureboot.sh boots it with `devpass vm create ... --secure-boot`: a GPT disk
# with one FAT ESP holding Debian's signed shim (as the removable-media loader
# EFI/BOOT/BOOTX64.EFI), MokManager, the signed GRUB with a grub.cfg beside it, the signed
# kernel (the one above) and the nested initramfs, which prints the kernel's secureboot:
# line and powers off. Built without root or loop devices (sfdisk + mtools); the three
# packages are downloaded (apt-get download, never installed here). Cached: rebuilt when
# the kernel, the nested initramfs or the package list changes. Skipped with a note when a
# tool or a package is missing (secureboot.sh then says so).
SB_PKGS="shim-signed shim-helpers-amd64-signed grub-efi-amd64-signed"
SB=$CACHE/secureboot
sb_key="$KVER $SB_PKGS $(cat "$NST/.key")"
sb_disk() {
    local pr=$SB/pkgs/root img=$SB/disk.img.tmp off=1048576 f
    for f in sfdisk mformat mmd mcopy; do
        command -v $f >/dev/null 2>&1 || { log "note: no $f here (fdisk, mtools): no Secure Boot disk"; return 1; }
    done
    # shellcheck disable=SC2086
    pkg_fetch "$SB/pkgs" $SB_PKGS || { log "note: could not download $SB_PKGS: no Secure Boot disk"; return 1; }
    for f in usr/lib/shim/shimx64.efi.signed usr/lib/shim/mmx64.efi.signed \
             usr/lib/grub/x86_64-efi-signed/grubx64.efi.signed; do
        [ -f "$pr/$f" ] || { log "note: no /$f in $SB_PKGS: no Secure Boot disk"; return 1; }
    done
    cat >"$SB/grub.cfg" <<'GRUBCFG'
set timeout=0
set default=0
menuentry "devpass Secure Boot test" {
    linux /vmlinuz console=ttyS0 quiet devpass_nested=poweroff
    initrd /initrd.img
}
GRUBCFG
    rm -f "$img"
    truncate -s 64M "$img"
    printf 'label: gpt\nstart=2048, type=C12A7328-F81F-11D2-BA4B-00A0C93EC93B, name=ESP\n' |
        sfdisk -q "$img" >/dev/null || return 1
    mformat -i "$img@@$off" -F -v ESP :: &&
        mmd -i "$img@@$off" ::/EFI ::/EFI/BOOT ::/EFI/debian &&
        mcopy -i "$img@@$off" "$pr/usr/lib/shim/shimx64.efi.signed" ::/EFI/BOOT/BOOTX64.EFI &&
        mcopy -i "$img@@$off" "$pr/usr/lib/shim/mmx64.efi.signed" ::/EFI/BOOT/mmx64.efi &&
        mcopy -i "$img@@$off" "$pr/usr/lib/grub/x86_64-efi-signed/grubx64.efi.signed" ::/EFI/BOOT/grubx64.efi &&
        mcopy -i "$img@@$off" "$SB/grub.cfg" ::/EFI/BOOT/grub.cfg &&
        mcopy -i "$img@@$off" "$SB/grub.cfg" ::/EFI/debian/grub.cfg &&
        mcopy -i "$img@@$off" "$CACHE/vmlinuz" ::/vmlinuz &&
        mcopy -i "$img@@$off" "$NST/initrd.img" ::/initrd.img || return 1
    mv "$img" "$SB/disk.img"
}
if [ ! -s "$SB/disk.img" ] || [ "$(cat "$SB/.key" 2>/dev/null)" != "$sb_key" ]; then
    log "building the Secure Boot disk"
    mkdir -p "$SB"
    rm -f "$SB/disk.img" "$SB/.key"
    if sb_disk; then echo "$sb_key" >"$SB/.key"; else log "note: the Secure Boot disk was not built"; fi
fi
if [ "${DEVPASS_VM_PREPARE_ONLY:-}" = secureboot ]; then
    log "ready: kernel $KVER, nested initramfs, Secure Boot disk $([ -s "$SB/disk.img" ] && echo built || echo missing)"
    exit 0
fi

# ---------------------------------------------------------------- root filesystem
# Modules the guest coldplugs for the emulated devices, plus vfio.
# 9p + 9pnet_virtio: the bind boot mounts this machine's root (shared read-only) to run
# a nested QEMU from it. kvm + kvm_amd (with irqbypass, ccp): the vm boot's guest has SVM
# (-cpu max under TCG) and gets /dev/kvm for the VMs `devpass vm` starts. The critical boot holds devices the ways a host does: loop,
# md RAID1 (md_mod, raid1), dm-crypt (dm_mod, dm_crypt; aes and cbc are built in), a
# virtiofs mount, and an NFS server (nfsd) and client (nfsv4).
# The kinds boot (guest-kinds.sh): USB devices on qemu-xhci (usb-storage + sd_mod, usbhid,
# ftdi_sio for QEMU's usb-serial), a dummy_hcd gadget (libcomposite + usb_f_acm, cdc_acm on
# the host side), mdev (the parent of mtty) and psample (netdevsim's dependency).
ROOT_MODULES="virtio_pci virtio_blk virtio-rng ext4 nvme e1000e e1000 snd-hda-intel
  snd-hda-codec-generic xhci-pci ahci i2c-i801 lpc_ich vfio vfio-pci vfio_iommu_type1
  9p 9pnet_virtio loop md_mod raid1 dm_mod dm_crypt virtiofs nfsd nfsv4
  irqbypass kvm ccp kvm_amd
  usb-storage sd_mod usbhid ftdi_sio cdc_acm dummy_hcd libcomposite usb_f_acm
  usb_f_mass_storage configfs mdev psample"
RD=$CACHE/rootfs.d
log "building root filesystem"
new_root "$RD"
install_busybox "$RD"

# netdevsim (an SR-IOV NIC simulator) and mtty (the sample mdev parent) are not built by
# Debian: compiled once from linux-source-6.1 against the headers of the guest kernel
# (both Debian packages, installed on this machine by scripts/install-deps.sh test) and
# cached beside the kernel, keyed by its version. Without them the kinds boot says not ok.
XM=$CACHE/extra-modules
xm_key="$KVER $(ls /usr/src/linux-source-*.tar.xz 2>/dev/null | head -n1)"
build_extra_modules() {
    local hdr=/usr/src/linux-headers-$KVER src tarball w=$XM/work
    tarball=$(ls /usr/src/linux-source-*.tar.xz 2>/dev/null | head -n1)
    [ -d "$hdr" ] || { log "note: no $hdr (linux-headers-$KVER): no netdevsim/mtty"; return 1; }
    [ -n "$tarball" ] || { log "note: no linux-source tarball in /usr/src: no netdevsim/mtty"; return 1; }
    rm -rf "$XM"; mkdir -p "$w/mtty"
    src=$(basename "$tarball" .tar.xz)
    tar -xJf "$tarball" -C "$w" --wildcards "$src/drivers/net/netdevsim/*" "$src/samples/vfio-mdev/mtty.c" ||
        return 1
    cp "$w/$src/samples/vfio-mdev/mtty.c" "$w/mtty/"
    echo 'obj-m := mtty.o' >"$w/mtty/Kbuild"
    make -s -C "$hdr" M="$w/$src/drivers/net/netdevsim" CONFIG_NETDEVSIM=m modules >&2 &&
        make -s -C "$hdr" M="$w/mtty" modules >&2 || return 1
    # only the code goes into the image (netdevsim.ko is 5 MB of debug info otherwise)
    strip --strip-debug -o "$XM/netdevsim.ko" "$w/$src/drivers/net/netdevsim/netdevsim.ko" &&
        strip --strip-debug -o "$XM/mtty.ko" "$w/mtty/mtty.ko" || return 1
    rm -rf "$w"
    echo "$xm_key" >"$XM/.key"
}
if [ ! -f "$XM/.key" ] || [ "$(cat "$XM/.key")" != "$xm_key" ]; then
    log "building netdevsim and mtty for $KVER"
    build_extra_modules || log "note: netdevsim/mtty not built; the kinds boot reports them missing"
fi
if [ -f "$XM/.key" ]; then
    mkdir -p "$RD/lib/modules/$KVER/extra"
    cp "$XM/netdevsim.ko" "$XM/mtty.ko" "$RD/lib/modules/$KVER/extra/"
fi
install_modules "$RD" $ROOT_MODULES   # (its depmod indexes extra/ too)

# kmod (modprobe/lsmod/... as symlinks), replacing busybox's applets
copy_elf "$RD" /usr/bin/kmod
for t in modprobe insmod rmmod lsmod modinfo depmod; do
    rm -f "$RD/usr/bin/$t" "$RD/usr/sbin/$t"
    ln -s ../bin/kmod "$RD/usr/sbin/$t"
done

# lspci + names database
rm -f "$RD/usr/bin/lspci"
copy_elf "$RD" /usr/bin/lspci
cp -L /usr/share/misc/pci.ids "$RD/usr/share/misc/pci.ids"

# nvme-cli, to bring QEMU's SR-IOV secondary controllers online in the guest. Downloaded
# with its libraries (apt-get download, never installed here) and cached; skipped with a
# note when it cannot be fetched (the SR-IOV VFs are then left without a driver).
NVME_PKGS="nvme-cli libnvme1 libjson-c5 libdbus-1-3"
NV=$CACHE/nvme-cli
# shellcheck disable=SC2086
if pkg_fetch "$NV" $NVME_PKGS; then
    pkg_install_elf "$NV/root" /usr/sbin/nvme /usr/sbin/nvme || die "cannot put nvme-cli into the image"
else
    log "note: could not download $NVME_PKGS; SR-IOV VFs will stay offline in the guest"
fi

# devpass goes to /usr/bin and libdevpass to the default library directory, where the
# loader finds it whatever the build tree's rpath says. (The build tree's own path is no
# place for it: a clone under /tmp would be hidden by the guest's tmpfs on /tmp.)
if [ -x "$BUILD/devpass" ]; then
    DEVPASS_BIN=$(readlink -f "$BUILD/devpass")
    copy_elf "$RD" "$DEVPASS_BIN"
    rm -f "$RD$DEVPASS_BIN"
    for lib in "$BUILD"/src/lib/libdevpass.so*; do
        [ -f "$lib" ] || continue
        cp -L "$lib" "$RD/usr/lib/x86_64-linux-gnu/$(basename "$lib")"
    done
    rm -f "$RD/usr/bin/devpass"
    cp -L "$DEVPASS_BIN" "$RD/usr/bin/devpass"
    # the dynamic loader exits 127 when a library is missing
    rc=0; chroot "$RD" /usr/bin/devpass --help >/dev/null 2>&1 || rc=$?
    [ "$rc" != 127 ] || die "devpass does not start inside the image root (missing library)"
else
    log "note: $BUILD/devpass not built; the guest will report devpass checks as not ok"
fi

# The persist boots (guest-persist.sh): the generated udev rules and systemd unit call
# /usr/local/bin/devpass, and `devpass persist` refuses to write them without it.
if [ -x "$RD/usr/bin/devpass" ]; then
    mkdir -p "$RD/usr/local/bin"
    ln -sfn /usr/bin/devpass "$RD/usr/local/bin/devpass"
fi

# systemd-udevd + udevadm for the persist boots: boot 2 runs the real boot path the way
# Debian's initramfs-tools does without systemd (udevd --daemon, trigger, settle), with
# Debian's 80-drivers.rules (modalias -> `kmod load`) and the rules devpass wrote in
# /etc/udev/rules.d. From this machine's udev package when installed, else downloaded
# (apt-get download udev, never installed here) and cached.
UD=$CACHE/udev
UDEVADM=/usr/bin/udevadm UDEV_RULES=/usr/lib/udev/rules.d
if [ ! -x "$UDEVADM" ] || [ ! -f "$UDEV_RULES/80-drivers.rules" ]; then
    if [ ! -x "$UD/root/usr/bin/udevadm" ] && [ ! -x "$UD/root/bin/udevadm" ]; then
        rm -rf "$UD"; mkdir -p "$UD/debs"
        if apt_download "$UD/debs" udev; then
            for d in "$UD"/debs/*.deb; do dpkg-deb -x "$d" "$UD/root"; done
        else
            log "note: could not download udev; the persist boots will report it"
        fi
    fi
    UDEVADM=$UD/root/usr/bin/udevadm; [ -x "$UDEVADM" ] || UDEVADM=$UD/root/bin/udevadm
    UDEV_RULES=$UD/root/usr/lib/udev/rules.d; [ -d "$UDEV_RULES" ] || UDEV_RULES=$UD/root/lib/udev/rules.d
fi
if [ -x "$UDEVADM" ] && [ -f "$UDEV_RULES/80-drivers.rules" ]; then
    UDEVADM=$(readlink -f "$UDEVADM")
    rm -f "$RD/usr/bin/udevadm"
    copy_elf "$RD" "$UDEVADM"
    if [ "$UDEVADM" != /usr/bin/udevadm ]; then
        rm -f "$RD$UDEVADM"
        cp -L "$UDEVADM" "$RD/usr/bin/udevadm"
    fi
    mkdir -p "$RD/usr/lib/systemd" "$RD/usr/lib/udev/rules.d" "$RD/etc/udev/rules.d"
    # udevadm is a multi-call binary: started as systemd-udevd it is the daemon
    ln -sfn ../../bin/udevadm "$RD/usr/lib/systemd/systemd-udevd"
    cp "$UDEV_RULES/80-drivers.rules" "$RD/usr/lib/udev/rules.d/"
    # (no hwdb: 80-drivers.rules needs none; udevd runs without hwdb.bin)
fi
# where a Debian host has them before devpass writes anything there
mkdir -p "$RD/etc/systemd/system" "$RD/etc/udev/rules.d"
# The guest's init is not systemd; guest-persist.sh stands in for it (it runs the unit's
# ExecStart= for the devices udev pulls it in for). This systemctl only records its calls
# (devpass persist runs `systemctl daemon-reload` after writing the unit).
rm -f "$RD/usr/bin/systemctl"
cat >"$RD/usr/bin/systemctl" <<'EOF'
#!/bin/sh
# stand-in for systemd's systemctl in the VM guest: records the call, does nothing
echo "systemctl $*" >>/run/systemctl.log
exit 0
EOF
chmod 0755 "$RD/usr/bin/systemctl"

# driverctl (for bench/bind-bench.sh): a bash script from Debian's driverctl package,
# downloaded (apt-get download, not installed here: its udev rules have no business on
# this machine) and cached; bash comes from this machine.
DC=$CACHE/driverctl
if [ ! -f "$DC/root/usr/sbin/driverctl" ]; then
    rm -rf "$DC"; mkdir -p "$DC/debs"
    if apt_download "$DC/debs" driverctl; then
        for d in "$DC"/debs/*.deb; do dpkg-deb -x "$d" "$DC/root"; done
    else
        log "note: could not download driverctl; bench/bind-bench.sh will skip it"
    fi
fi
if [ -f "$DC/root/usr/sbin/driverctl" ]; then
    rm -f "$RD/usr/bin/bash" "$RD/usr/sbin/driverctl"
    copy_elf "$RD" /usr/bin/bash
    install -m 0755 "$DC/root/usr/sbin/driverctl" "$RD/usr/sbin/driverctl"
fi

# The critical boot (guest-critical.sh): what a host holds its devices with. mke2fs
# (e2fsprogs, as mkfs.ext4) and iproute2's ip (for `ip link set IF netns PID`, which
# busybox's ip lacks; kept off PATH as /usr/libexec/devpass-vm/ip so the other boots keep
# busybox's) come from this machine. mdadm, cryptsetup and the NFS server and client tools
# are downloaded with the libraries a fresh machine may lack (apt-get download, never
# installed here: mdadm pulls in udev, which would coldplug this machine, and
# nfs-kernel-server starts daemons) and cached; a tool that cannot be had is left out with
# a note, and the guest reports the cases that need it as not ok.
MKE2FS=$(readlink -f "$(command -v mke2fs 2>/dev/null || echo /usr/sbin/mke2fs)")
if [ -x "$MKE2FS" ]; then
    rm -f "$RD/usr/sbin/mkfs.ext4"
    copy_libs "$RD" "$MKE2FS" || die "cannot copy $MKE2FS into the image"
    cp "$MKE2FS" "$RD/usr/sbin/mkfs.ext4"
    [ -f /etc/mke2fs.conf ] && cp /etc/mke2fs.conf "$RD/etc/mke2fs.conf"
else
    log "note: no mke2fs here (e2fsprogs); the critical boot cannot make filesystems"
fi
IPROUTE=$(readlink -f "$(command -v ip 2>/dev/null || echo /usr/sbin/ip)")
if [ -x "$IPROUTE" ] && ! "$IPROUTE" -V 2>&1 | grep -qi busybox; then
    mkdir -p "$RD/usr/libexec/devpass-vm"
    copy_libs "$RD" "$IPROUTE" || die "cannot copy $IPROUTE into the image"
    cp "$IPROUTE" "$RD/usr/libexec/devpass-vm/ip"
else
    log "note: no iproute2 ip here; the critical boot cannot move a NIC into a network namespace"
fi
CRIT_PKGS="mdadm cryptsetup-bin libcryptsetup12 libdevmapper1.02.1 libargon2-1 libpopt0 libjson-c5
  nfs-kernel-server nfs-common rpcbind libnfsidmap1 libwrap0 libtirpc3 libtirpc-common
  libgssapi-krb5-2 libkrb5-3 libk5crypto3 libkrb5support0 libkeyutils1"
CT=$CACHE/critical-tools
# shellcheck disable=SC2086
if pkg_fetch "$CT" $CRIT_PKGS; then
    for t in /sbin/mdadm:/usr/sbin/mdadm /sbin/cryptsetup:/usr/sbin/cryptsetup \
             /usr/sbin/rpc.nfsd:/usr/sbin/rpc.nfsd /usr/sbin/exportfs:/usr/sbin/exportfs \
             /usr/sbin/rpc.mountd:/usr/sbin/rpc.mountd /sbin/rpcbind:/usr/sbin/rpcbind \
             /sbin/mount.nfs:/usr/sbin/mount.nfs; do
        pkg_install_elf "$CT/root" "${t%%:*}" "${t#*:}" || log "note: ${t##*/} left out of the image"
    done
    [ -x "$RD/usr/sbin/mount.nfs" ] && ln -sfn mount.nfs "$RD/usr/sbin/mount.nfs4"
    # libtirpc reads /etc/netconfig to know its transports
    [ -f "$CT/root/etc/netconfig" ] && cp "$CT/root/etc/netconfig" "$RD/etc/netconfig"
else
    log "note: could not download $CRIT_PKGS; the critical boot reports the md, dm-crypt and NFS cases as not ok"
fi
for f in /etc/services /etc/protocols /etc/rpc; do
    [ -f "$f" ] && cp "$f" "$RD$f"
done

# /vm in the image: the nested kernel and initramfs, a cloud-init user-data
# (nested-user-data), an ssh public key (nested-ssh-key.pub, made once with ssh-keygen; the
# private half was thrown away), and a seed built here
# (xorriso, volume cidata) for the hand-run QEMU that needs no devpass
mkdir -p "$RD/vm"
cp "$CACHE/vmlinuz" "$RD/vm/vmlinuz"
cp "$NST/initrd.img" "$RD/vm/initrd.img"
cp "$VM_DIR/nested-user-data" "$RD/vm/user-data"
cp "$VM_DIR/nested-ssh-key.pub" "$RD/vm/id_ed25519.pub"
printf 'instance-id: hand-run\nlocal-hostname: hand-run\n' >"$RD/vm/meta-data"
if command -v xorriso >/dev/null 2>&1; then
    xorriso -as mkisofs -quiet -V cidata -J -R -o "$RD/vm/seed-hand.iso" \
        "$RD/vm/user-data" "$RD/vm/meta-data" >/dev/null 2>&1 ||
        log "note: xorriso could not build the hand-run seed"
else
    log "note: no xorriso here; the hand-run nested QEMU gets no seed"
fi

# This machine's QEMU in the image (/usr/bin/qemu-system-x86_64, its libraries, the x86
# firmware it loads: SeaBIOS, option ROMs, linuxboot; the TCG accelerator module), so
# `devpass vm` in the guest runs QEMU the way it would on a host: same root, same paths,
# /proc/PID/exe what it says. (The bind boot's alternative, a chroot into this machine's
# root shared over 9p, would need bind mounts for /var/lib/devpass, /run/devpass, /dev and
# every image path, and QEMU would see other paths than devpass.)
[ -n "$RD" ] && [ "$RD" != / ] || die "image root not set"
QEMU_BIN=$(readlink -f "$(command -v qemu-system-x86_64 2>/dev/null || echo /usr/bin/qemu-system-x86_64)")
if [ -x "$QEMU_BIN" ]; then
    copy_libs "$RD" "$QEMU_BIN" || die "cannot copy $QEMU_BIN's libraries into the image"
    install -D -m 0755 "$QEMU_BIN" "$RD/usr/bin/qemu-system-x86_64"
    mkdir -p "$RD/usr/share/qemu"
    for f in /usr/share/qemu/*; do
        case ${f##*/} in
            openbios-*|skiboot.lid|slof.bin|s390-*|hppa-*|palcode-*|opensbi-*|*.dtb|u-boot*|QEMU,*|OVMF.fd|edk2-*) ;;
            *) cp -a "$f" "$RD/usr/share/qemu/" ;;
        esac
    done
    for d in /usr/share/seabios /usr/lib/ipxe/qemu; do
        [ -d "$d" ] && { mkdir -p "$RD$d"; cp -aL "$d/." "$RD$d/"; }
    done
    # the TCG accelerator, and usb-host (libusb) for the kinds boot's nested QEMU
    for m in /usr/lib/x86_64-linux-gnu/qemu/accel-tcg-x86_64.so /usr/lib/x86_64-linux-gnu/qemu/hw-usb-host.so; do
        [ -f "$m" ] || continue
        copy_libs "$RD" "$m" || die "cannot copy $m's libraries into the image"
        install -D -m 0644 "$m" "$RD$m"
    done
    # socat: the hand-run QEMUs of the vm and vmbench boots are stopped over QMP with it
    S=$(command -v socat 2>/dev/null) && copy_elf "$RD" "$S" ||
        log "note: no socat here; the vm boot's hand run cannot stop its QEMU over QMP"
    # the dynamic loader exits 127 when a library is missing
    rc=0; chroot "$RD" /usr/bin/qemu-system-x86_64 -version >/dev/null 2>&1 || rc=$?
    [ "$rc" = 0 ] || die "qemu-system-x86_64 does not start inside the image root (exit $rc)"
else
    log "note: no qemu-system-x86_64 here; the vm boot cannot start VMs"
fi

# The libvirt boot (guest-libvirt.sh): this machine's libvirtd (libvirt-daemon, with the QEMU
# driver from libvirt-daemon-driver-qemu and the nodedev driver), virsh (libvirt-clients), the
# CPU map and schemas (libvirt0), and configuration written for the guest: QEMU runs as root
# with dynamic_ownership=0 and security_driver="none" (the guest's busybox root has neither
# the libvirt-qemu user nor AppArmor, and the test is about devpass's binding, not about
# libvirt relabelling /dev/vfio), stdio_handler="file" (no virtlogd), no per-domain mount
# namespace, UNIX socket auth "none" (no polkit in the guest: root connects as root). Only
# the two connection drivers are copied: libvirtd skips the others (network, storage, ...),
# which would want dnsmasq, iptables and the like. Skipped with a note without libvirt here.
install_libvirt() {
    local drv=/usr/lib/x86_64-linux-gnu/libvirt/connection-driver m
    for m in /usr/sbin/libvirtd /usr/bin/virsh "$drv/libvirt_driver_qemu.so" "$drv/libvirt_driver_nodedev.so"; do
        [ -f "$m" ] || { log "note: no $m here (libvirt-daemon, libvirt-daemon-driver-qemu, libvirt-clients): the libvirt boot cannot run libvirtd"; return 0; }
    done
    for m in /usr/sbin/libvirtd /usr/bin/virsh "$drv/libvirt_driver_qemu.so" "$drv/libvirt_driver_nodedev.so"; do
        rm -f "$RD$m"
        copy_elf "$RD" "$m"
    done
    mkdir -p "$RD/usr/share/libvirt"
    cp -a /usr/share/libvirt/cpu_map /usr/share/libvirt/schemas "$RD/usr/share/libvirt/"
    mkdir -p "$RD/etc/libvirt/hooks/qemu.d" "$RD/var/lib/libvirt/qemu" "$RD/var/cache/libvirt/qemu" \
        "$RD/var/log/libvirt/qemu"
    # virsh looks for the daemon's socket under /var/run (Debian's link to /run)
    [ -e "$RD/var/run" ] || ln -s /run "$RD/var/run"
    cat >"$RD/etc/libvirt/libvirtd.conf" <<'CONF'
# the harness guest's libvirtd (tests/vm/prepare.sh): root only, no polkit
unix_sock_rw_perms = "0700"
auth_unix_ro = "none"
auth_unix_rw = "none"
# the guest has no SMBIOS UUID and no /etc/machine-id
host_uuid = "6a1c0a4e-0d3b-4b8e-9d1f-3e5c7a2b9f10"
log_outputs = "3:file:/var/log/libvirt/libvirtd.log"
CONF
    cat >"$RD/etc/libvirt/qemu.conf" <<'CONF'
# the harness guest's QEMU driver (tests/vm/prepare.sh): no libvirt-qemu user, no AppArmor,
# no virtlogd, no mount namespace in the busybox root
user = "root"
group = "root"
dynamic_ownership = 0
remember_owner = 0
security_driver = "none"
stdio_handler = "file"
namespaces = [ ]
CONF
    printf 'uri_default = "qemu:///system"\n' >"$RD/etc/libvirt/libvirt.conf"
    # libvirtd -d must come up inside the image root (a missing library makes it exit 127)
    local rc=0
    chroot "$RD" /usr/sbin/libvirtd --version >/dev/null 2>&1 || rc=$?
    [ "$rc" = 0 ] || die "libvirtd does not start inside the image root (exit $rc)"
    chroot "$RD" /usr/bin/virsh --version >/dev/null 2>&1 || die "virsh does not start inside the image root"
}
install_libvirt

# The kinds boot: lsusb (usbutils) and the hardware database devpass and lsusb take USB
# names from. hwdb.bin waits in /usr/libexec/devpass-vm: guest-kinds.sh links it into
# /etc/udev, so the other boots (whose checks compare names with pci.ids) never see it.
LSUSB=$(command -v lsusb 2>/dev/null || true)
if [ -n "$LSUSB" ]; then
    rm -f "$RD/usr/bin/lsusb"
    copy_elf "$RD" "$(readlink -f "$LSUSB")"
    [ "$(readlink -f "$LSUSB")" = /usr/bin/lsusb ] || cp -L "$LSUSB" "$RD/usr/bin/lsusb"
else
    log "note: no lsusb here (usbutils); the kinds boot compares with sysfs only"
fi
if [ -f /usr/lib/udev/hwdb.bin ]; then
    mkdir -p "$RD/usr/libexec/devpass-vm"
    cp /usr/lib/udev/hwdb.bin "$RD/usr/libexec/devpass-vm/hwdb.bin"
else
    log "note: no /usr/lib/udev/hwdb.bin here; the kinds boot has no USB names"
fi

# guest side scripts
mkdir -p "$RD/tests" "$RD/var/lib" "$RD/var/tmp"
install -m 0755 "$VM_DIR/guest-init.sh" "$RD/sbin/vm-init"
for f in guest-lib.sh guest-tests.sh guest-bind.sh guest-bench.sh guest-persist.sh guest-pools.sh \
         guest-critical.sh guest-vm.sh guest-vmbench.sh guest-kinds.sh guest-libvirt.sh nested-qmp.py; do
    install -m 0755 "$VM_DIR/$f" "$RD/tests/$f"
done
# the benches the kinds boot runs when the tree has them (bench/usb-bench.sh, mdev-bench.sh),
# with coreutils' date first on their PATH (they time with %N, which busybox's lacks)
mkdir -p "$RD/tests/bench" "$RD/usr/libexec/devpass-vm/coreutils"
copy_libs "$RD" /usr/bin/date || die "cannot copy /usr/bin/date's libraries into the image"
cp /usr/bin/date "$RD/usr/libexec/devpass-vm/coreutils/date"
for f in "$REPO"/bench/usb-bench.sh "$REPO"/bench/mdev-bench.sh; do
    [ -f "$f" ] && install -m 0755 "$f" "$RD/tests/bench/"
done
# mdev-bench.sh's in-process half (bench/mdev-cycles.c: the library against bare writes)
if [ -x "$BUILD/bench/mdev-cycles" ]; then
    cp -L "$BUILD/bench/mdev-cycles" "$RD/tests/bench/mdev-cycles"
fi
printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n' >"$RD/etc/passwd"
printf 'root:x:0:\nnogroup:x:65534:\n' >"$RD/etc/group"
# libvirtd resolves its compiled-in QEMU user and group (libvirt-qemu, kvm) before it reads
# qemu.conf's user = "root": the accounts libvirt-daemon-system's postinst would make
if [ -x "$RD/usr/sbin/libvirtd" ]; then
    echo 'libvirt-qemu:x:64055:108:Libvirt Qemu:/var/lib/libvirt:/usr/sbin/nologin' >>"$RD/etc/passwd"
    printf 'kvm:x:108:libvirt-qemu\nlibvirt:x:109:\nlibvirt-qemu:x:64055:libvirt-qemu\n' >>"$RD/etc/group"
fi
: >"$RD/etc/fstab"

rm -f "$CACHE/rootfs.ext4.tmp"
size_kb=$(du -sk "$RD" | awk '{print $1}')
size_mb=$(( size_kb / 1024 + 48 ))
mke2fs -q -t ext4 -L devpass-root -d "$RD" "$CACHE/rootfs.ext4.tmp" "${size_mb}M" >/dev/null
mv "$CACHE/rootfs.ext4.tmp" "$CACHE/rootfs.ext4"
log "ready: kernel $KVER, initramfs $(du -h "$CACHE/initramfs.gz" | cut -f1), root ${size_mb}M"
