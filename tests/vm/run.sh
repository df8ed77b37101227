#!/bin/bash
# Real-kernel suite: boots Debian's kernel under QEMU (TCG) on an emulated q35 machine with
# an Intel vIOMMU and a known PCI topology, runs tests/vm/guest-tests.sh inside the guest,
# and checks devpass's view of the machine against lspci and sysfs (tests/vm/check.py).
#
# Usage: tests/vm/run.sh [on|off|bind|persist|pools|critical|vm|bench|vmbench|kinds|libvirt ...]
#   on    boot with intel_iommu=on iommu=pt: devpass list/show/groups/check vs lspci, sysfs
#   off   boot with intel_iommu=off: the same, and check's verdicts without an IOMMU
#   bind  boot with intel_iommu=on iommu=pt, 2 vCPUs, this machine's / shared read-only
#         (virtio-9p): devpass bind/unbind/restore, and a nested QEMU with vfio-pci
#   persist  two boots of one machine sharing a writable copy of the root image: boot 1
#         runs `devpass persist`, boot 2 (without the e1000e 04:00.0) comes up through
#         udevd + the unit devpass wrote and checks the persisted bindings won
#   pools boot with intel_iommu=on iommu=pt: a devpass pool of the nvme's 2 SR-IOV VFs;
#         claim, release, pool gc and the quarantine policy against the real kernel
#   critical  boot with intel_iommu=on iommu=pt and storage and network the host holds in
#         every hidden way (another mount namespace, swap file, loop, 9p, virtiofs, md,
#         dm-crypt, NFS over a non-default route): devpass must refuse each, then bind it
#         once freed
#   vm    boot with intel_iommu=on iommu=pt and -cpu max (TCG gives the guest SVM, so
#         kvm_amd makes /dev/kvm): `devpass vm` starts nested KVM guests with the e1000e
#         and a pool's VF passed through; stop, kill -9, poweroff, cloud-init, refusals
#   bench boot for bench/bind-bench.sh (64 SR-IOV VFs); not part of the default run
#   vmbench  the vm boot's machine for bench/vm-bench.sh; not part of the default run
#   kinds boot with intel_iommu=on iommu=pt, USB devices on the xHCI (usb-storage, usb-kbd,
#         usb-serial), netdevsim and mtty: devpass usb, mdev and sriov against the real
#         kernel; the guest asks for a USB replug on its console, answered over QMP
#   libvirt  the vm boot's machine with a root libvirtd in the guest: devpass libvirt
#         install-hook/attach/detach and its hook around virsh start/destroy of nested KVM
#         domains, a second domain refused, the attach timing; not part of the default run
#   (default: on off bind persist pools critical vm, run in parallel, one QEMU each;
#   persist's two boots one after the other)
# Environment:
#   DEVPASS_VM_TIMEOUT   seconds one boot may take (default 420)
#   DEVPASS_VM_PARALLEL  1 (default) runs the boots at the same time, 0 one after another
#   DEVPASS_VM_APPEND    extra kernel command line arguments
#   DEVPASS_VM_SKIP_PREPARE=1  reuse the images in .cache as they are
# Output: `ok - ...` / `not ok - ...` lines (docs/contracts.md). Exits 0 when the suite ran
# (whatever it found), non-zero only when it could not run at all (with a `not ok` line).
# Logs of the last run: tests/vm/.cache/logs/<mode>/{console,data,qemu}.log
set -u

VM_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
CACHE=${DEVPASS_VM_CACHE:-$VM_DIR/.cache}
TIMEOUT=${DEVPASS_VM_TIMEOUT:-420}
PARALLEL=${DEVPASS_VM_PARALLEL:-1}
QEMU=${DEVPASS_VM_QEMU:-qemu-system-x86_64}
export DEVPASS_VM_CACHE=$CACHE

if [ $# -gt 0 ]; then MODES=("$@"); else MODES=(on off bind persist pools critical vm); fi
for m in "${MODES[@]}"; do
    case $m in
        on|off|bind|persist|pools|critical|vm|bench|vmbench|kinds|libvirt) ;;
        *) echo "usage: $0 [on|off|bind|persist|pools|critical|vm|bench|vmbench|kinds|libvirt ...]" >&2; exit 2 ;;
    esac
done
# label BOOT: the test name prefix the guest and check.py use for that boot
label() {
    case $1 in on|off) echo "vm[iommu=$1]" ;; persist[12]) echo "vm[persist]" ;; *) echo "vm[$1]" ;; esac
}
# bootname BOOT: what the boot is called in its result lines ("boot", "boot 1", "boot 2")
bootname() {
    case $1 in persist[12]) echo "boot ${1#persist}" ;; *) echo boot ;; esac
}

if ! command -v "$QEMU" >/dev/null 2>&1; then
    echo "not ok - vm suite: $QEMU not installed (Debian package qemu-system-x86)"
    exit 1
fi
if ! command -v python3 >/dev/null 2>&1; then
    echo "not ok - vm suite: python3 not installed"
    exit 1
fi

mkdir -p "$CACHE/logs"
# One run at a time per cache: a second run (another shell, make test) waits for the first,
# since both would rebuild the same images and reuse the same log directories.
exec 9>"$CACHE/.lock"
if ! flock -w "${DEVPASS_VM_LOCK_WAIT:-900}" 9; then
    echo "not ok - vm suite: another tests/vm/run.sh holds $CACHE/.lock"
    exit 1
fi

if [ "${DEVPASS_VM_SKIP_PREPARE:-0}" != 1 ]; then
    t0=$(date +%s)
    if ! "$VM_DIR/prepare.sh" >"$CACHE/logs/prepare.log" 2>&1; then
        echo "not ok - vm prepare: $(grep -m1 'error' "$CACHE/logs/prepare.log" || tail -n1 "$CACHE/logs/prepare.log")"
        exit 1
    fi
    echo "# vm prepare took $(( $(date +%s) - t0 ))s"
fi
for f in vmlinuz initramfs.gz rootfs.ext4; do
    if [ ! -s "$CACHE/$f" ]; then
        echo "not ok - vm prepare: $CACHE/$f missing"
        exit 1
    fi
done

# ------------------------------------------------------------------ cleanup of QEMU processes
declare -A PIDS=()
VIRTIOFSD_PID=      # the critical boot's virtiofsd (started here, stopped here)
REPLUG_PID=         # the kinds boot's kinds-qmp.py (started here, stopped here)
# qemu_pid MODE: QEMU's PID from its pidfile, only if it is the child of our timeout process
qemu_pid() {
    local qpid
    qpid=$(cat "$CACHE/logs/$1/qemu.pid" 2>/dev/null) || return 1
    [ -n "$qpid" ] && [ "$(ps -o ppid= -p "$qpid" 2>/dev/null | tr -d ' ')" = "${PIDS[$1]}" ] &&
        echo "$qpid"
}
cleanup() {
    local m qpid
    for m in "${!PIDS[@]}"; do
        qpid=$(qemu_pid "$m") && kill -TERM "$qpid" 2>/dev/null
        kill -TERM "${PIDS[$m]}" 2>/dev/null
    done
    [ ${#PIDS[@]} -gt 0 ] && sleep 1
    for m in "${!PIDS[@]}"; do
        qpid=$(qemu_pid "$m") && kill -KILL "$qpid" 2>/dev/null
        kill -KILL "${PIDS[$m]}" 2>/dev/null
    done
    stop_virtiofsd
    stop_replug
}
trap cleanup EXIT
trap 'cleanup; echo "not ok - vm suite: interrupted"; exit 130' INT TERM

# ------------------------------------------------------------------ the machine
# PCI topology (q35, pcie.0 = bus 00):
#   00:01.0 VGA (left without a driver)
#   00:02.0 virtio-blk-pci: the guest's root filesystem (/dev/vda)
#   00:03.0 e1000e on user networking (default route in the guest), multifunction
#   00:03.1 intel-hda (+ hda-duplex codec), same slot
#   00:04.0 pcie-root-port -> 01:00.0 nvme with a 64 MiB namespace (null-co: reads zeroes)
#   00:05.0 pcie-root-port -> 02:00.0 nvme with SR-IOV (2 VFs: 02:00.1, 02:00.2; bench: 64)
#   00:06.0 pcie-root-port -> 03:00.0 qemu-xhci (+ usb-kbd)
#   00:07.0 pcie-root-port -> 04:00.0 e1000e (no network; bound to vfio-pci in the on-guest;
#           absent in the second persist boot, the root port stays)
#   00:08.0 pci-bridge     -> 05:01.0 e1000, 05:02.0 virtio-rng-pci (one IOMMU group)
#   00:09.0 virtio-rng, 00:09.1 virtio-balloon (multifunction, one group)
#   00:0a.0 virtio-9p-pci sharing this machine's / read-only (bind boot only)
#   00:1f.x ICH9 LPC / AHCI / SMBus (built into q35)
# The critical boot only: 01:00.0's namespace is a 64 MiB sparse file (writes stick), and
#   00:0a.0 virtio-9p-pci sharing a scratch directory read-only (mount tag devpass-9p)
#   00:0b.0 pcie-root-port -> 06:00.0 nvme (serial devpass-md1), a 64 MiB sparse file
#   00:0c.0 vhost-user-fs-pci (virtiofs, tag devpass-vfs) served by virtiofsd from this
#           machine's QEMU, on the same scratch directory; guest RAM is a shared memfd
#   00:0d.0 e1000e (NFS client), 00:0e.0 e1000e (NFS server, moved into a guest network
#           namespace): joined by a QEMU hub, no other network
qemu_args() {
    local mode=$1 log=$2
    # no_timer_check: under load (six TCG guests on two cores) the early IO-APIC timer
    # check can miss its ticks and panic ("timer doesn't work through Interrupt-remapped
    # IO-APIC"); the emulated timer is known to work
    local append="console=ttyS0 panic=-1 quiet loglevel=3 no_timer_check devpass_vm=$mode"
    local mem=1024 smp=1 machine=q35,kernel-irqchip=split memobj=() cpu=()
    # QEMU's nvme: vq_flexible >= 2 x max_vfs, vi_flexible >= max_vfs,
    # max_ioqpairs >= vq_flexible + 2
    local sriov=sriov_max_vfs=2,sriov_vq_flexible=4,sriov_vi_flexible=2
    local extra=() drive="file=$CACHE/rootfs.ext4,format=raw,snapshot=on"
    local passdev=(-device e1000e,mac=52:54:00:12:34:57,romfile=,bus=rp4)
    local nvmns0=(-blockdev driver=null-co,node-name=nvmns0,size=67108864,read-zeroes=on)
    case $mode in
        off) append="$append intel_iommu=off" ;;
        *) append="$append intel_iommu=on iommu=pt" ;;
    esac
    case $mode in
        bind)
            # the nested QEMU runs from this machine's root, shared read-only
            mem=1536 smp=2
            extra=(-fsdev local,id=hostroot,path=/,security_model=none,readonly=on
                   -device virtio-9p-pci,fsdev=hostroot,mount_tag=hostroot,bus=pcie.0,addr=0xa)
            ;;
        persist1|persist2)
            # both boots write to one copy of the image (run_persist makes it)
            drive="file=$CACHE/persist-rootfs.ext4,format=raw"
            [ "$mode" = persist2 ] && passdev=()
            ;;
        critical)
            # writable namespaces (made by start_boot), 9p, virtiofs (vhost-user: guest RAM
            # must be shared with virtiofsd), a second nvme for md, two NICs on one hub
            nvmns0=(-blockdev "driver=raw,node-name=nvmns0,file.driver=file,file.filename=$log/nvme0.img")
            machine=$machine,memory-backend=mem
            memobj=(-object "memory-backend-memfd,id=mem,size=${mem}M,share=on")
            extra=(-fsdev "local,id=p9share,path=$log/share,security_model=none,readonly=on"
                   -device virtio-9p-pci,fsdev=p9share,mount_tag=devpass-9p,bus=pcie.0,addr=0xa
                   -device pcie-root-port,id=rp6,bus=pcie.0,addr=0xb,chassis=6,slot=6
                   -blockdev "driver=raw,node-name=nvmns1,file.driver=file,file.filename=$log/nvme1.img"
                   -device nvme,serial=devpass-md1,drive=nvmns1,bus=rp6)
            [ -S "$log/virtiofsd.sock" ] &&
                extra+=(-chardev "socket,id=vfs,path=$log/virtiofsd.sock"
                        -device vhost-user-fs-pci,chardev=vfs,tag=devpass-vfs,bus=pcie.0,addr=0xc)
            extra+=(-netdev hubport,id=nfscli,hubid=1
                    -device e1000e,netdev=nfscli,mac=52:54:00:12:34:60,romfile=,bus=pcie.0,addr=0xd
                    -netdev hubport,id=nfssrv,hubid=1
                    -device e1000e,netdev=nfssrv,mac=52:54:00:12:34:61,romfile=,bus=pcie.0,addr=0xe)
            ;;
        vm|vmbench|libvirt)
            # -cpu max: TCG exposes SVM and NPT, so kvm_amd loads in the guest and the VMs
            # devpass starts there run on KVM; 1.75 GB leaves room for 256 MB guests
            mem=1792 smp=2 cpu=(-cpu max)
            ;;
        kinds)
            # USB devices beside the usb-kbd every boot has (qemu-xhci 03:00.0): a
            # usb-storage disk (mounted in the guest: host-critical) and an FTDI usb-serial
            # the guest has replugged over QMP (kinds-qmp.py, the same properties; a file
            # chardev: usb-serial attaches only once its backend is open, null never is)
            extra=(-drive "if=none,id=usbdisk,format=raw,file=$log/usbdisk.img"
                   -device usb-storage,bus=xhci0.0,drive=usbdisk,serial=DPUSB0001,id=usbstor0
                   -chardev "file,id=ser0,path=$log/usbserial.out"
                   -device "usb-serial,$KINDS_USBSER"
                   -qmp "unix:$log/qmp.sock,server=on,wait=off")
            ;;
        bench)
            smp=2
            sriov=sriov_max_vfs=64,sriov_vq_flexible=128,sriov_vi_flexible=64,max_ioqpairs=130
            ;;
    esac
    append="$append ${DEVPASS_VM_APPEND:-}"
    printf '%s\n' \
        -accel tcg -machine "$machine" "${cpu[@]}" -m "$mem" -smp "$smp" "${memobj[@]}" \
        -nodefaults -nographic -no-reboot -monitor none \
        -kernel "$CACHE/vmlinuz" -initrd "$CACHE/initramfs.gz" -append "$append" \
        -serial "file:$log/console.log" -serial "file:$log/data.log" \
        -pidfile "$log/qemu.pid" \
        -device intel-iommu,intremap=on,caching-mode=on \
        -device VGA,bus=pcie.0,addr=0x1 \
        -drive "if=none,id=root,$drive" \
        -device virtio-blk-pci,drive=root,bus=pcie.0,addr=0x2 \
        -netdev user,id=net0,restrict=on \
        -device e1000e,netdev=net0,mac=52:54:00:12:34:56,romfile=,bus=pcie.0,addr=0x3.0,multifunction=on \
        -device intel-hda,id=hda0,bus=pcie.0,addr=0x3.1,multifunction=on \
        -device hda-duplex,bus=hda0.0,audiodev=snd0 -audiodev none,id=snd0 \
        -device pcie-root-port,id=rp1,bus=pcie.0,addr=0x4,chassis=1,slot=1 \
        "${nvmns0[@]}" \
        -device nvme,serial=devpass-nvme0,drive=nvmns0,bus=rp1 \
        -device pcie-root-port,id=rp2,bus=pcie.0,addr=0x5,chassis=2,slot=2 \
        -device nvme-subsys,id=nvmesubsys0,nqn=devpass-sriov \
        -device "nvme,serial=devpass-sriov,subsys=nvmesubsys0,bus=rp2,$sriov" \
        -device pcie-root-port,id=rp3,bus=pcie.0,addr=0x6,chassis=3,slot=3 \
        -device qemu-xhci,id=xhci0,bus=rp3 \
        -device usb-kbd,bus=xhci0.0 \
        -device pcie-root-port,id=rp4,bus=pcie.0,addr=0x7,chassis=4,slot=4 \
        "${passdev[@]}" \
        -device pci-bridge,id=br1,bus=pcie.0,addr=0x8,chassis_nr=5 \
        -device e1000,mac=52:54:00:12:34:58,romfile=,bus=br1,addr=0x1 \
        -device virtio-rng-pci,bus=br1,addr=0x2 \
        -device virtio-rng-pci,bus=pcie.0,addr=0x9.0,multifunction=on \
        -device virtio-balloon-pci,bus=pcie.0,addr=0x9.1 \
        "${extra[@]}"
}

# virtiofsd_bin: this machine's virtiofsd (QEMU's C one in Debian 12's qemu-system-common,
# or the separate Rust package), or nothing
virtiofsd_bin() {
    local b
    for b in "${DEVPASS_VM_VIRTIOFSD:-}" /usr/libexec/virtiofsd /usr/lib/qemu/virtiofsd; do
        [ -n "$b" ] && [ -x "$b" ] && { echo "$b"; return 0; }
    done
    command -v virtiofsd 2>/dev/null
}

# start_virtiofsd LOGDIR: serve LOGDIR/share on LOGDIR/virtiofsd.sock for the critical
# boot; returns once the socket is there (QEMU connects to it at start) or failed
start_virtiofsd() {
    local log=$1 bin i=0
    bin=$(virtiofsd_bin) || { echo "no virtiofsd on this machine" >"$log/virtiofsd.log"; return 1; }
    if "$bin" --help 2>&1 | grep -q -- --shared-dir; then
        "$bin" --socket-path="$log/virtiofsd.sock" --shared-dir="$log/share" --cache=never \
            </dev/null >"$log/virtiofsd.log" 2>&1 9>&- &
    else
        "$bin" -f --socket-path="$log/virtiofsd.sock" -o source="$log/share" -o cache=none \
            </dev/null >"$log/virtiofsd.log" 2>&1 9>&- &
    fi
    VIRTIOFSD_PID=$!
    while [ ! -S "$log/virtiofsd.sock" ] && [ $i -lt 50 ] && kill -0 "$VIRTIOFSD_PID" 2>/dev/null; do
        sleep 0.1; i=$((i + 1))
    done
    [ -S "$log/virtiofsd.sock" ]
}
stop_virtiofsd() {
    [ -n "$VIRTIOFSD_PID" ] || return 0
    kill -TERM "$VIRTIOFSD_PID" 2>/dev/null
    wait "$VIRTIOFSD_PID" 2>/dev/null
    VIRTIOFSD_PID=
}

# prepare_critical LOGDIR: the critical boot's disks (sparse files), the directory shared
# over 9p and virtiofs, and virtiofsd
prepare_critical() {
    local log=$1
    truncate -s 64M "$log/nvme0.img" "$log/nvme1.img"
    mkdir -p "$log/share"
    echo "shared with the critical boot's guest" >"$log/share/hello"
    start_virtiofsd "$log" || rm -f "$log/virtiofsd.sock"
}

# The kinds boot's usb-serial, as QEMU gets it and as kinds-qmp.py adds it back
KINDS_USBSER=bus=xhci0.0,chardev=ser0,serial=DPSER0001,id=usbser0

# prepare_kinds LOGDIR: the usb-storage disk (a small ext4 the guest mounts)
prepare_kinds() {
    truncate -s 16M "$1/usbdisk.img" && mke2fs -q -t ext4 -L dpusb "$1/usbdisk.img" >/dev/null
}
# start_replug LOGDIR: kinds-qmp.py, which answers the guest's DEVPASS-REPLUG lines
start_replug() {
    python3 "$VM_DIR/kinds-qmp.py" "$1" "usbser0=usb-serial,${KINDS_USBSER%,id=usbser0}" \
        </dev/null >>"$1/replug.log" 2>&1 9>&- &
    REPLUG_PID=$!
}
stop_replug() {
    [ -n "$REPLUG_PID" ] || return 0
    kill -TERM "$REPLUG_PID" 2>/dev/null
    wait "$REPLUG_PID" 2>/dev/null
    REPLUG_PID=
}

# boot_limit MODE: seconds the boot may take; the vm boots start nested VMs one after
# another and get more (DEVPASS_VM_TIMEOUT_VM, default 720)
boot_limit() {
    case $1 in vm|vmbench|libvirt) echo "${DEVPASS_VM_TIMEOUT_VM:-720}" ;; *) echo "$TIMEOUT" ;; esac
}

start_boot() {
    local mode=$1 log=$CACHE/logs/$1
    rm -rf "$log"; mkdir -p "$log"
    [ "$mode" = critical ] && prepare_critical "$log"
    [ "$mode" = kinds ] && prepare_kinds "$log"
    mapfile -t args < <(qemu_args "$mode" "$log")
    date +%s.%N >"$log/start"
    timeout -k 5 "$(boot_limit "$mode")" "$QEMU" "${args[@]}" </dev/null >"$log/qemu.log" 2>&1 9>&- &
    PIDS[$mode]=$!
    [ "$mode" = kinds ] && start_replug "$log"
    return 0
}

# console_text LOGDIR: the guest console without CRs and terminal escape sequences
console_text() {
    tr -d '\r' <"$1/console.log" 2>/dev/null | sed 's/\x1b\[[0-9;?]*[a-zA-Z]//g; s/\x1bc//g'
}

finish_boot() {
    local mode=$1 log=$CACHE/logs/$1 rc secs T B
    T=$(label "$mode") B=$(bootname "$mode")
    wait "${PIDS[$mode]}"; rc=$?
    unset "PIDS[$mode]"
    [ "$mode" = critical ] && stop_virtiofsd
    [ "$mode" = kinds ] && stop_replug
    secs=$(awk -v s="$(cat "$log/start")" -v e="$(date +%s.%N)" 'BEGIN{printf "%.1f", e - s}')
    echo "# $T $B: QEMU exited $rc after ${secs}s"
    console_text "$log" | grep -aE '^(not ok|ok) - |^# ' || true
    local tail_lines panic
    tail_lines=$(console_text "$log" | grep -v '^[[:space:]]*$' | tail -n 5 | tr '\n' '|')
    panic=$(console_text "$log" | grep -m1 -aoE 'Kernel panic - .*' || true)
    if grep -aq 'terminating on signal' "$log/qemu.log" 2>/dev/null; then
        echo "not ok - $T $B: QEMU was killed from outside: $(grep -m1 'terminating on signal' "$log/qemu.log")"
    elif grep -aq 'DEVPASS-VM-ABORTED' "$log/console.log" 2>/dev/null; then
        echo "not ok - $T $B: the initramfs could not start the guest tests (see the vm boot line above)"
    elif grep -aq 'DEVPASS-VM-DONE' "$log/console.log" 2>/dev/null; then
        echo "ok - $T $B: guest ran its tests and powered off"
    elif [ -n "$panic" ]; then
        echo "not ok - $T $B: guest kernel panicked: $panic; console: $tail_lines"
    elif [ "$rc" = 124 ] || [ "$rc" = 137 ]; then
        echo "not ok - $T $B: guest hung, no completion marker within $(boot_limit "$mode")s; last console lines: $tail_lines"
    else
        echo "not ok - $T $B: QEMU exited $rc before the guest finished (crash?); qemu: $(grep -v 'has no peer' "$log/qemu.log" | tail -n 2 | tr '\n' '|') console: $tail_lines"
    fi
    if [ -s "$log/data.log" ]; then
        python3 "$VM_DIR/check.py" "$mode" "$log/data.log" ||
            echo "not ok - $T $B host-side checks: check.py exited $?"
    else
        echo "not ok - $T $B host-side checks: the guest sent no data"
    fi
}

# run_persist: the two persist boots, one after the other, on a fresh writable copy of the
# root image (boot 2 sees what boot 1 wrote)
run_persist() {
    local img=$CACHE/persist-rootfs.ext4
    rm -f "$img"
    if ! cp --sparse=always "$CACHE/rootfs.ext4" "$img"; then
        echo "not ok - vm[persist] image: cannot copy rootfs.ext4 to $img"
        return
    fi
    start_boot persist1 && finish_boot persist1
    if grep -aq 'DEVPASS-VM-DONE' "$CACHE/logs/persist1/console.log" 2>/dev/null; then
        start_boot persist2 && finish_boot persist2
    else
        echo "not ok - vm[persist] boot 2: not started, boot 1 did not finish"
    fi
}

if [ "$PARALLEL" = 1 ]; then
    for m in "${MODES[@]}"; do
        if [ "$m" = persist ]; then
            # its two boots in a subshell, next to the other boots; its own QEMUs are
            # cleaned up by its own traps (the main cleanup sends it TERM)
            (
                PIDS=() VIRTIOFSD_PID=
                trap cleanup EXIT
                trap 'cleanup; exit 130' INT TERM
                run_persist
            ) >"$CACHE/logs/persist.out" 2>&1 9>&- &
            PIDS[persist]=$!
        else
            start_boot "$m"
        fi
    done
    for m in "${MODES[@]}"; do
        [ -n "${PIDS[$m]:-}" ] || continue
        if [ "$m" = persist ]; then
            wait "${PIDS[persist]}"
            unset "PIDS[persist]"
            cat "$CACHE/logs/persist.out"
        else
            finish_boot "$m"
        fi
    done
else
    for m in "${MODES[@]}"; do
        if [ "$m" = persist ]; then
            run_persist
        else
            start_boot "$m" && finish_boot "$m"
        fi
    done
fi
exit 0
