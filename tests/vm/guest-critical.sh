#!/bin/sh
# Runs inside the critical-boot guest (intel_iommu=on iommu=pt). The host holds a device in
# each of the ways devpass once missed (issue 10): an ext4 mounted only in another mount
# namespace, an active swap file or a mounted loop device on a lazily unmounted filesystem,
# a 9p and a virtiofs mount, md RAID1 over two NVMe controllers, dm-crypt, and an NFS mount
# over a route that is not the default. For each, with the holder in place:
#   show --json ADDR   sent to the host (check.py: host_critical, a reason naming the holder)
#   bind --dry-run ADDR, then bind ADDR (only when the dry run was refused: an unbind under
#                      a live 9p mount hangs): exit 1, a reason naming the holder, the
#                      device still on its driver (sysfs driver link), nothing else changed
# then the holder is freed (kill, swapoff, losetup -d, umount, mdadm --stop, cryptsetup
# close) and `bind ADDR` must succeed, `restore ADDR` give the device back.
#
# Every sysfs write and every filesystem here is the guest's own.
T="vm[critical]"
. /tests/guest-lib.sh || exit 2   # only the harness guest has it

NVME=0000:01:00.0          # nvme (serial devpass-nvme0), 64 MiB writable namespace
MD_SERIAL=devpass-md1      # the second nvme (06:00.0 behind root port 00:0b.0)
P9DEV=0000:00:0a.0         # virtio-9p-pci, mount tag devpass-9p
VFSDEV=0000:00:0c.0        # vhost-user-fs-pci, tag devpass-vfs
CLI_MAC=52:54:00:12:34:60  # e1000e 00:0d.0: NFS client
SRV_MAC=52:54:00:12:34:61  # e1000e 00:0e.0: NFS server, moved into a network namespace
SRV_IP=10.77.0.1
CLI_IP=10.77.0.2
IPR=/usr/libexec/devpass-vm/ip   # iproute2 (busybox's ip cannot move a link to a netns)
DP_TIMEOUT=60
export DM_DISABLE_UDEV=1         # no udevd here: libdevmapper makes the /dev nodes itself
# small filesystems made fast: no discard, inode tables and journal left to the kernel
MKFS="mkfs.ext4 -q -F -E nodiscard,lazy_itable_init=1,lazy_journal_init=1"

data_open critical
check_root
setup_coldplug
setup_net
state >/tmp/state.0
# mount points named so that no case's expected reason word (swap, loop, md, dm-, 9p, nfs...)
# can be matched by a reason that only quotes the mount point
mkdir -p /mnt/fs /mnt/inner /mnt/secret /mnt/mirror /mnt/share1 /mnt/share2 /mnt/remote /run/mdadm /run/cryptsetup

# ------------------------------------------------------------------ helpers
# addr_of_serial SERIAL: the PCI address of the nvme controller with that serial number
addr_of_serial() {
    local c
    for c in /sys/class/nvme/nvme*; do
        [ "$(cat "$c/serial" 2>/dev/null | tr -d ' ')" = "$1" ] &&
            { p=$(readlink -f "$c/device"); echo "${p##*/}"; return 0; }
    done
    return 1
}
addr_of_netif() { p=$(readlink -f "/sys/class/net/$1/device"); echo "${p##*/}"; }

# facts CASE KEY=VALUE...: what check.py needs to judge the case (address, holder pids,
# interface), as a facts-CASE block
facts() {
    local c=$1
    shift
    { echo "@@BEGIN facts-$c@@"; for kv in "$@"; do echo "$kv"; done; echo "@@END facts-$c rc=0@@"; } >"$DATA"
}

# ns_pids PID: every process sharing PID's mount namespace
ns_pids() {
    local want p out=
    want=$(readlink "/proc/$1/ns/mnt") || return
    for p in /proc/[0-9]*; do
        [ "$(readlink "$p/ns/mnt" 2>/dev/null)" = "$want" ] && out="$out ${p#/proc/}"
    done
    echo $out
}

# refused CASE ADDR REGEX WHAT: with the holder in place, show --json goes to the host;
# bind --dry-run and then bind (only when the dry run refused) exit 1 with a message
# matching REGEX, the device stays on its driver and nothing else changes
refused() {
    local c=$1 a=$2 re=$3 what=$4 d0
    d0=$(drv_of "$a")
    state >/tmp/state.case
    dp "$c-show" show --json "$a"
    note "$c: show --json $a: $(tr -d '\n' </tmp/dp.out | grep -o '"host_critical_reasons": *\[[^]]*\]' | cut -c1-300)"
    dp "$c-dry" bind --dry-run "$a"
    expect_refused "$c: bind --dry-run $a ($what): exit 1, the holder named (/$re/), nothing changed" "$re" /tmp/state.case
    if [ "$rc" = 0 ]; then
        nok "$c: bind $a ($what): exit 1, still on $d0" "not tried: its dry run would go ahead: $(outline | cut -c1-200)"
        return
    fi
    dp "$c-bind" bind "$a"
    bad=
    [ "$rc" = 1 ] || bad="exit $rc"
    grep -qiE "$re" /tmp/dp.err || bad="$bad message does not name the holder (/$re/): $(errline)"
    [ "$(drv_of "$a")" = "$d0" ] || bad="$bad driver link now $(drv_of "$a")"
    left=$(changed_since /tmp/state.case)
    [ -z "$left" ] || bad="$bad changed: $left"
    expect "$c: bind $a ($what): exit 1, the holder named, still on $d0 (sysfs driver link), nothing changed" "" "$bad"
    note "$c: refusal: $(errline)"
}

# freed CASE HOW ADDR...: once the holder is gone, `bind ADDR...` exits 0 with each on
# vfio-pci, and `restore ADDR...` gives each its driver back
freed() {
    local c=$1 how=$2 a d bad= left
    shift 2
    : >/tmp/freed.was
    for a in "$@"; do echo "$a $(drv_of "$a")" >>/tmp/freed.was; done
    dp "$c-free-bind" bind "$@"
    [ "$rc" = 0 ] || bad="exit $rc: $(errline)"
    for a in "$@"; do [ "$(drv_of "$a")" = vfio-pci ] || bad="$bad $a on $(drv_of "$a")"; done
    expect "$c: once freed ($how), bind $* exits 0 and puts it on vfio-pci" "" "$bad"
    dp "$c-restore" restore "$@"
    bad=
    [ "$rc" = 0 ] || bad="exit $rc: $(errline)"
    while read -r a d; do
        [ "$(drv_of "$a")" = "$d" ] || bad="$bad $a on $(drv_of "$a") (was $d)"
    done </tmp/freed.was
    left=$(changed_since /tmp/state.0)
    [ -z "$left" ] || bad="$bad changed: $left"
    expect "$c: restore $*: back on its driver, as after the setup" "" "$bad"
    state_restore "$c"
}

# skip_case CASE WHY: the holder could not be made; the case is not ok
skip_case() { nok "$1: holder in place" "$2"; }

need() {
    local t
    for t in "$@"; do command -v "$t" >/dev/null 2>&1 || [ -x "$t" ] || { echo "$t is not in the image (see prepare.log)"; return 1; }; done
}

if ! command -v devpass >/dev/null 2>&1; then
    nok "devpass: binary present in the guest" "not in the image (build/devpass not built?)"
    data_close
    exit 0
fi

NS=$(wait_blockdev "$NVME" 50)
MDDEV=$(addr_of_serial "$MD_SERIAL")
NS2=
[ -n "$MDDEV" ] && NS2=$(wait_blockdev "$MDDEV" 50)
if [ -n "$NS" ] && $MKFS "/dev/$NS" >/tmp/mkfs.log 2>&1; then
    ok "setup: ext4 made on /dev/$NS ($NVME); second nvme $MDDEV with /dev/${NS2:-?}"
else
    nok "setup: ext4 on the namespace of $NVME" "namespace '${NS:-none}': $(tr '\n' ' ' </tmp/mkfs.log | cut -c1-200)"
fi

# ================================================================== 1. another mount namespace
# The ext4 is mounted only in a new mount namespace (private propagation): devpass's own
# mount table does not show it.
case_mountns() {
    local pid i=0
    unshare -m sh -c "mount -t ext4 /dev/$NS /mnt/fs && exec sleep 300" &
    pid=$!
    while ! grep -q " /mnt/fs " "/proc/$pid/mountinfo" 2>/dev/null && [ $i -lt 50 ] && kill -0 $pid 2>/dev/null; do
        sleep 0.1; i=$((i + 1))
    done
    if ! grep -q " /mnt/fs " "/proc/$pid/mountinfo" 2>/dev/null; then
        skip_case mountns "the ext4 on /dev/$NS did not get mounted in the new namespace"
        kill $pid 2>/dev/null; wait $pid
        return
    fi
    if grep -q " /mnt/fs " /proc/self/mountinfo; then
        nok "mountns: the mount is invisible in devpass's namespace" "it shows in /proc/self/mountinfo (propagation?)"
    else
        ok "mountns: /dev/$NS mounted on /mnt/fs only in the mount namespace of pid $pid (sleep)"
    fi
    facts mountns "addr=$NVME" "holder_pids=$(ns_pids $pid)"
    refused mountns "$NVME" "mount namespace of pid [0-9]+" "ext4 mounted only in another mount namespace"
    kill $pid; wait $pid
    freed mountns "the namespace's last process killed" "$NVME"
}

# ================================================================== 2. swap file, fs lazily unmounted
case_swap() {
    local hp
    if ! { mount -t ext4 "/dev/$NS" /mnt/fs && dd if=/dev/zero of=/mnt/fs/swapf bs=1M count=8 2>/dev/null &&
           chmod 600 /mnt/fs/swapf && mkswap /mnt/fs/swapf >/dev/null && swapon /mnt/fs/swapf; } 2>/tmp/case.err; then
        skip_case swap "swapon /mnt/fs/swapf on /dev/$NS: $(errline /tmp/case.err)"
        umount /mnt/fs 2>/dev/null
        return
    fi
    # an open descriptor to the swap file: the only way to name it to swapoff once its
    # filesystem is detached
    sleep 600 7</mnt/fs/swapf &
    hp=$!
    umount -l /mnt/fs
    ok "swap: /mnt/fs/swapf on /dev/$NS active ($(awk 'NR > 1 {print $1}' /proc/swaps | tr '\n' ' ')), /mnt/fs lazily unmounted"
    facts swap "addr=$NVME"
    refused swap "$NVME" "swap" "active swap file on its lazily unmounted filesystem"
    if swapoff "/proc/$hp/fd/7" 2>/tmp/case.err; then
        kill $hp; wait $hp
        freed swap "swapoff" "$NVME"
    else
        nok "swap: swapoff" "$(errline /tmp/case.err)"
        kill $hp; wait $hp
    fi
}

# ================================================================== 3. loop device, fs lazily unmounted
case_loop() {
    modprobe loop
    if ! { mount -t ext4 "/dev/$NS" /mnt/fs && truncate -s 16M /mnt/fs/img && $MKFS /mnt/fs/img &&
           losetup /dev/loop0 /mnt/fs/img && mount -t ext4 /dev/loop0 /mnt/inner; } >/tmp/case.err 2>&1; then
        skip_case loop "loop0 backed by /mnt/fs/img on /dev/$NS: $(errline /tmp/case.err)"
        losetup -d /dev/loop0 2>/dev/null; umount /mnt/fs 2>/dev/null
        return
    fi
    umount -l /mnt/fs
    ok "loop: /dev/loop0 backed by /mnt/fs/img on /dev/$NS mounted on /mnt/inner, /mnt/fs lazily unmounted"
    facts loop "addr=$NVME"
    refused loop "$NVME" "loop" "mounted loop device backed by a file on its lazily unmounted filesystem"
    if umount /mnt/inner && losetup -d /dev/loop0; then
        freed loop "umount /mnt/inner, losetup -d" "$NVME"
    else
        nok "loop: umount /mnt/inner, losetup -d /dev/loop0" "failed"
    fi
}

# ================================================================== 4. dm-crypt
case_dmcrypt() {
    local why
    why=$(need cryptsetup) || { skip_case dmcrypt "$why"; return; }
    modprobe dm_crypt
    head -c 32 /dev/urandom >/tmp/crypt.key
    if ! { cryptsetup open --type plain --cipher aes-cbc-plain --key-size 256 --key-file /tmp/crypt.key \
               "/dev/$NS" crypt0 && $MKFS /dev/mapper/crypt0 &&
           mount -t ext4 /dev/mapper/crypt0 /mnt/secret; } >/tmp/case.err 2>&1; then
        skip_case dmcrypt "cryptsetup open --type plain /dev/$NS crypt0, ext4 on it: $(errline /tmp/case.err)"
        cryptsetup close crypt0 2>/dev/null
        return
    fi
    ok "dmcrypt: /dev/mapper/crypt0 ($(ls /sys/block/$NS/holders | tr '\n' ' ')) over /dev/$NS, ext4 on it mounted on /mnt/secret"
    facts dmcrypt "addr=$NVME" "dm=$(ls /sys/block/$NS/holders | tr '\n' ' ')"
    refused dmcrypt "$NVME" "dm-[0-9]|crypt0" "ext4 on dm-crypt"
    if umount /mnt/secret && cryptsetup close crypt0 2>/tmp/case.err; then
        freed dmcrypt "umount, cryptsetup close" "$NVME"
    else
        nok "dmcrypt: umount, cryptsetup close" "$(errline /tmp/case.err)"
    fi
}

# ================================================================== 5. md RAID1 over two controllers
case_md() {
    local why
    why=$(need mdadm) || { skip_case md "$why"; return; }
    [ -n "$NS2" ] || { skip_case md "no namespace on the second nvme (serial $MD_SERIAL, '${MDDEV:-not found}')"; return; }
    modprobe raid1
    # no old signatures (ext4, dm-crypt data), so mdadm does not ask
    dd if=/dev/zero of="/dev/$NS" bs=1M count=2 2>/dev/null
    dd if=/dev/zero of="/dev/$NS2" bs=1M count=2 2>/dev/null
    if ! { mdadm --create /dev/md0 --run --level=1 --raid-devices=2 --metadata=1.2 --assume-clean \
               "/dev/$NS" "/dev/$NS2" && $MKFS /dev/md0 && mount -t ext4 /dev/md0 /mnt/mirror; } \
             </dev/null >/tmp/case.err 2>&1; then
        skip_case md "mdadm --create /dev/md0 over /dev/$NS /dev/$NS2, ext4 on it: $(errline /tmp/case.err)"
        mdadm --stop /dev/md0 2>/dev/null
        return
    fi
    ok "md: /dev/md0 (RAID1 over /dev/$NS on $NVME and /dev/$NS2 on $MDDEV) mounted on /mnt/mirror"
    facts md "addr=$NVME"
    facts md2 "addr=$MDDEV"
    refused md "$NVME" "md[0-9]|raid" "member of md RAID1 /dev/md0"
    refused md2 "$MDDEV" "md[0-9]|raid" "the other member of md RAID1 /dev/md0"
    if umount /mnt/mirror && mdadm --stop /dev/md0 >/tmp/case.err 2>&1; then
        mdadm --zero-superblock "/dev/$NS" "/dev/$NS2" 2>/dev/null
        freed md "umount, mdadm --stop" "$NVME" "$MDDEV"
    else
        nok "md: umount, mdadm --stop /dev/md0" "$(errline /tmp/case.err)"
    fi
}

# ================================================================== 6. 9p
case_9p() {
    if ! { modprobe 9pnet_virtio && modprobe 9p &&
           mount -t 9p -o trans=virtio,version=9p2000.L,ro devpass-9p /mnt/share1 && [ -f /mnt/share1/hello ]; } >/tmp/case.err 2>&1; then
        skip_case 9p "mount -t 9p devpass-9p: $(errline /tmp/case.err)"
        return
    fi
    ok "9p: devpass-9p over $P9DEV ($(drv_of $P9DEV)) mounted on /mnt/share1"
    facts 9p "addr=$P9DEV"
    refused 9p "$P9DEV" "9p" "virtio transport of a 9p mount"
    if umount /mnt/share1; then
        freed 9p "umount" "$P9DEV"
    else
        nok "9p: umount /mnt/share1" "failed"
    fi
}

# ================================================================== 7. virtiofs
case_virtiofs() {
    if [ ! -e /sys/bus/pci/devices/$VFSDEV ]; then
        skip_case virtiofs "no vhost-user-fs-pci at $VFSDEV (virtiofsd did not start on the host: see virtiofsd.log)"
        return
    fi
    if ! { modprobe virtiofs && mount -t virtiofs devpass-vfs /mnt/share2 && [ -f /mnt/share2/hello ]; } >/tmp/case.err 2>&1; then
        skip_case virtiofs "mount -t virtiofs devpass-vfs: $(errline /tmp/case.err)"
        return
    fi
    ok "virtiofs: devpass-vfs over $VFSDEV ($(drv_of $VFSDEV)) mounted on /mnt/share2"
    facts virtiofs "addr=$VFSDEV"
    refused virtiofs "$VFSDEV" "virtiofs" "virtio device of a virtiofs mount"
    if umount /mnt/share2; then
        freed virtiofs "umount" "$VFSDEV"
    else
        nok "virtiofs: umount /mnt/share2" "failed"
    fi
}

# ================================================================== 8. NFS over a non-default route
# Two e1000e on one QEMU hub: the server's is moved into a network namespace running the
# kernel's nfsd (NFSv4 only, no rpcbind); the client mounts over the other, whose route
# (10.77.0.0/24, connected) is not the default route (that one is on 00:03.0).
NFS_NSPID=
nfs_server() {
    local srvif=$1 i=0
    modprobe nfsd || return 1
    mkdir -p /srv/nfs /var/lib/nfs/v4recovery
    echo hello >/srv/nfs/hello
    echo "/srv/nfs $CLI_IP(rw,fsid=0,no_subtree_check,no_root_squash,insecure)" >/etc/exports
    : >/var/lib/nfs/etab; : >/var/lib/nfs/rmtab
    unshare -n -m sh -c 'exec sleep 600' &
    NFS_NSPID=$!
    while [ "$(readlink /proc/$NFS_NSPID/ns/net 2>/dev/null)" = "$(readlink /proc/self/ns/net)" ] && [ $i -lt 50 ]; do
        sleep 0.1; i=$((i + 1))
    done
    $IPR link set "$srvif" netns "$NFS_NSPID" || return 1
    nsenter -t "$NFS_NSPID" -n -m sh -c "
        ip link set lo up && ip addr add $SRV_IP/24 dev $srvif && ip link set $srvif up &&
        mount -t nfsd nfsd /proc/fs/nfsd &&
        { echo 10 >/proc/fs/nfsd/nfsv4leasetime; echo 10 >/proc/fs/nfsd/nfsv4gracetime; } &&
        exportfs -r && rpc.mountd -N 2 -N 3 -u && rpc.nfsd -N 3 -U 2"
}
nfs_server_stop() {
    [ -n "$NFS_NSPID" ] || return 0
    nsenter -t "$NFS_NSPID" -n -m sh -c 'rpc.nfsd 0; killall rpc.mountd' 2>/dev/null
    kill "$NFS_NSPID" 2>/dev/null; wait "$NFS_NSPID" 2>/dev/null
    NFS_NSPID=
}
case_nfs() {
    local why cliif srvif cli t0 t1
    why=$(need rpc.nfsd exportfs rpc.mountd mount.nfs4 $IPR) || { skip_case nfs "$why"; return; }
    cliif=$(netif_of_mac $CLI_MAC); srvif=$(netif_of_mac $SRV_MAC)
    [ -n "$cliif" ] && [ -n "$srvif" ] || { skip_case nfs "no interfaces with $CLI_MAC / $SRV_MAC"; return; }
    cli=$(addr_of_netif "$cliif")
    t0=$(now_ms)
    if ! nfs_server "$srvif" >/tmp/nfs-srv.log 2>&1; then
        skip_case nfs "NFS server in a network namespace on $srvif: $(errline /tmp/nfs-srv.log)"
        nfs_server_stop
        return
    fi
    t1=$(now_ms)
    if ! { modprobe nfsv4 && ip addr add $CLI_IP/24 dev "$cliif" && ip link set "$cliif" up &&
           timeout 90 mount.nfs4 $SRV_IP:/ /mnt/remote -o vers=4.2 && [ -f /mnt/remote/hello ]; } >/tmp/case.err 2>&1; then
        skip_case nfs "mount.nfs4 $SRV_IP:/ over $cliif: $(errline /tmp/case.err) [server: $(errline /tmp/nfs-srv.log)]"
        nfs_server_stop
        return
    fi
    ok "nfs: $SRV_IP:/ mounted on /mnt/remote over $cliif ($cli), route: $(ip route | grep "dev $cliif" | head -n1); default: $(ip route | grep '^default' | head -n1)"
    note "nfs: server up in $((t1 - t0)) ms, mounted $(( $(now_ms) - t1 )) ms later"
    facts nfs "addr=$cli" "iface=$cliif"
    refused nfs "$cli" "nfs" "NIC routing to the server of an NFS mount"
    if umount /mnt/remote 2>/tmp/case.err; then
        freed nfs "umount" "$cli"
    else
        nok "nfs: umount /mnt/remote" "$(errline /tmp/case.err)"
    fi
    nfs_server_stop
}

# run_case FUNC: one case, its wall time (guest uptime) as a note
run_case() {
    local t0
    t0=$(now_ms)
    "$1"
    note "${1#case_} took $(( $(now_ms) - t0 )) ms"
}
note "setup done $(now_ms) ms after the kernel started"
if [ -n "$NS" ]; then
    for c in case_mountns case_swap case_loop case_dmcrypt; do
        NS=$(wait_blockdev "$NVME" 50)      # a restore brings the namespace back anew
        run_case $c
    done
    NS=$(wait_blockdev "$NVME" 50)
    [ -n "$MDDEV" ] && NS2=$(wait_blockdev "$MDDEV" 50)
    run_case case_md
else
    for c in mountns swap loop dmcrypt md; do skip_case $c "no namespace below $NVME"; done
fi
run_case case_9p
run_case case_virtiofs
run_case case_nfs
note "all cases done $(now_ms) ms after the kernel started"

emit list-final devpass list --json
emit state-final state
data_close
exit 0
