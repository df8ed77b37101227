#!/bin/sh
# Runs inside the bind-boot guest (intel_iommu=on iommu=pt, 2 vCPUs, this machine's / shared
# read-only over virtio-9p as "hostroot"). Sets the guest up like guest-tests.sh (drivers,
# 2 SR-IOV VFs driven by nvme, a default route), then exercises `devpass bind/unbind/restore`
# against the real kernel, and passes a device through to a nested QEMU (vfio-pci) started
# from the shared root. Prints `ok`/`not ok` lines for what is judged here (driver links,
# driver_override, /dev/vfio, block devices); every devpass run is also sent to the host
# (@@BEGIN run-NAME@@ blocks with the command line, stdout, stderr and exit status) where
# check.py judges the JSON outputs.
#
# Every sysfs write here happens inside the guest. The root disk controller and the routed
# NIC are only ever given to `devpass bind` without --force (they must be refused).
T="vm[bind]"
. /tests/guest-lib.sh || exit 2   # only the harness guest has it

NVME=0000:01:00.0          # plain nvme with a namespace (a block device)
BRIDGE=0000:00:08.0        # conventional pci-bridge: one IOMMU group with its two children
E1000=0000:05:01.0
RNG=0000:05:02.0
VF1=0000:02:00.1           # SR-IOV VFs of 0000:02:00.0 (nvme); VF1 has no driver_override,
VF2=0000:02:00.2           # VF2 keeps driver_override=nvme from the setup
SRIOV_PF=0000:02:00.0
PASSDEV=0000:04:00.0       # e1000e without network: handed to the nested QEMU
ROOTDISK=0000:00:02.0      # virtio-blk holding /
ROUTED=0000:00:03.0        # e1000e carrying the default route
DP_TIMEOUT=120

data_open bind
check_root
setup_coldplug
setup_sriov 2 1
echo >"/sys/bus/pci/devices/$VF1/driver_override"
setup_net

# ------------------------------------------------------------------ helpers
# expect_group_back LABEL: after a restore (status in $rc), the pci-bridge group is on
# e1000 and virtio-pci again with driver_override cleared
expect_group_back() {
    bad=
    [ "$rc" = 0 ] || bad="exit $rc: $(errline)"
    [ "$(drv_of $E1000)/$(drv_of $RNG)" = e1000/virtio-pci ] ||
        bad="$bad $E1000 on $(drv_of $E1000), $RNG on $(drv_of $RNG)"
    [ "$(ovr_of $E1000)/$(ovr_of $RNG)" = -/- ] ||
        bad="$bad driver_override $(ovr_of $E1000)/$(ovr_of $RNG)"
    expect "$1" "" "$bad"
}


# procs_fds COMM / procs_stacks COMM: the vfio descriptors / kernel stacks of every
# process whose name starts with COMM (diagnostics sent to the host)
procs_fds() {
    local p
    for p in /proc/[0-9]*; do
        case $(cat "$p/comm" 2>/dev/null) in
            "$1"*) echo "pid ${p#/proc/} $(cat "$p/comm") root $(readlink "$p/root")"
                   ls -l "$p/fd" | grep vfio ;;
        esac
    done
}
procs_stacks() {
    local p
    for p in /proc/[0-9]*; do
        case $(cat "$p/comm" 2>/dev/null) in
            "$1"*) echo "== pid ${p#/proc/} ppid $(awk '/^PPid/ {print $2}' "$p/status") state $(awk '/^State/ {print $2}' "$p/status") wchan $(cat "$p/wchan")"
                   cat "$p/stack" ;;
        esac
    done
}

# bounded NAME SECS ARGS...: run `devpass ARGS` in the background and wait at most SECS for
# it; sets rc, hung (1: still running then; its kernel stacks are sent as
# nested-hung-stacks-NAME, and it is left running: its pid joins BOUNDED_PIDS) and ms_taken
BOUNDED_PIDS=
bounded() {
    local name=$1 secs=$2 t0 i pid
    shift 2
    t0=$(now_ms)
    (timeout "$DP_TIMEOUT" devpass "$@" >/tmp/b-$name.out 2>/tmp/b-$name.err; echo $? >/tmp/b-$name.rc) &
    pid=$!
    i=0
    while [ $i -lt $((secs * 5)) ] && kill -0 $pid 2>/dev/null; do sleep 0.2; i=$((i + 1)); done
    if kill -0 $pid 2>/dev/null; then
        hung=1; rc=-1
        emit "nested-hung-stacks-${name#nested-stuck-}" procs_stacks devpass
        BOUNDED_PIDS="$BOUNDED_PIDS $pid"
        ms_taken=$(( $(now_ms) - t0 ))
        send_run "$name" "devpass $* (still running)" -1 /tmp/b-$name.out /tmp/b-$name.err "$t0" "$(now_ms)"
        cp /tmp/b-$name.err /tmp/dp.err
        return 0
    fi
    wait $pid
    hung=0; rc=$(cat /tmp/b-$name.rc); ms_taken=$(( $(now_ms) - t0 ))
    send_run "$name" "devpass $*" "$rc" /tmp/b-$name.out /tmp/b-$name.err "$t0" "$(now_ms)"
    cp /tmp/b-$name.err /tmp/dp.err
}

# sysfs_bind ADDR DRIVER / sysfs_unbind ADDR: bind without devpass (before it exists)
sysfs_bind() {
    local p
    p=/sys/bus/pci/devices/$1
    echo "$2" >"$p/driver_override"
    [ -e "$p/driver" ] && echo "$1" >"$p/driver/unbind"
    echo "$1" >/sys/bus/pci/drivers_probe
}

# wait for the namespace of the plain nvme (probed asynchronously)
NVME_BLK=$(wait_blockdev "$NVME" 50)
state >/tmp/state.0
bad=
[ "$(drv_of $NVME)" = nvme ] && [ -n "$NVME_BLK" ] || bad="$NVME driver $(drv_of $NVME), block device '${NVME_BLK}'"
[ "$(drv_of $E1000)" = e1000 ] && [ "$(drv_of $RNG)" = virtio-pci ] || bad="$bad $E1000/$RNG on $(drv_of $E1000)/$(drv_of $RNG)"
[ "$(drv_of $BRIDGE)" = - ] || bad="$bad bridge on $(drv_of $BRIDGE)"
[ "$(drv_of $VF1)" = nvme ] && [ "$(drv_of $VF2)" = nvme ] || bad="$bad VFs on $(drv_of $VF1)/$(drv_of $VF2)"
[ "$(ovr_of $VF1)" = - ] && [ "$(ovr_of $VF2)" = nvme ] || bad="$bad VF overrides $(ovr_of $VF1)/$(ovr_of $VF2)"
[ "$(drv_of $PASSDEV)" = e1000e ] || bad="$bad $PASSDEV on $(drv_of $PASSDEV)"
expect "setup: $NVME on nvme with block device ${NVME_BLK:-?}, $E1000 on e1000, $RNG on virtio-pci, VFs on nvme ($VF2 with driver_override=nvme), $PASSDEV on e1000e" "" "$bad"
emit state-0 cat /tmp/state.0
emit sysfs-groups sh -c 'for g in /sys/kernel/iommu_groups/*; do echo "${g##*/} $(ls $g/devices | tr "\n" " ")"; done'

HAVE_BIND=0
if ! command -v devpass >/dev/null 2>&1; then
    nok "devpass: binary present in the guest" "build/devpass was not built when the image was made"
elif dp help-bind bind --help; then
    HAVE_BIND=1
    ok "devpass bind --help: exits 0"
else
    nok "devpass bind --help: exits 0" "exit $rc: $(errline)"
fi

# ================================================================== devpass bind tests
if [ "$HAVE_BIND" = 1 ]; then
    # ---------------------------------------------------------- dry run
    g=$(group_of $NVME)
    files0=$(ls /var/lib/devpass /run/devpass 2>/dev/null | tr '\n' ' ')
    if dp dry-nvme bind --dry-run $NVME && [ -z "$(changed_since /tmp/state.0)" ] && [ ! -e /dev/vfio/$g ]; then
        ok "bind --dry-run $NVME: exit 0, no driver or driver_override changed, no /dev/vfio/$g"
    else
        nok "bind --dry-run $NVME: exit 0 and nothing changed" "exit $rc; changed: $(changed_since /tmp/state.0); /dev/vfio: $(ls /dev/vfio | tr '\n' ' '); $(errline)"
    fi
    dp dry-group-json bind --dry-run --json $E1000
    left=$(changed_since /tmp/state.0)
    expect "bind --dry-run --json $E1000: exit 0 and nothing changed" "" \
        "$([ "$rc" = 0 ] || echo "exit $rc: $(errline)") $left"
    note "devpass state files before the first dry run: '${files0}', after the dry runs: '$(ls /var/lib/devpass /run/devpass 2>/dev/null | tr '\n' ' ')'"
    state_restore "dry run"

    # ---------------------------------------------------------- vfio-pci loaded on demand
    # devpass loads vfio-pci (and vfio_iommu_type1) with libkmod when it is missing
    modprobe -r vfio_pci 2>/dev/null   # its status counts vfio_pci_core, which may stay
    if [ ! -d /sys/bus/pci/drivers/vfio-pci ]; then
        if dp kmod-bind bind $NVME && [ -d /sys/bus/pci/drivers/vfio-pci ] && [ "$(drv_of $NVME)" = vfio-pci ]; then
            ok "bind $NVME with vfio-pci unloaded: devpass loaded the module (libkmod) and bound it"
        else
            nok "bind $NVME with vfio-pci unloaded: devpass loads the module and binds" "exit $rc; driver $(drv_of $NVME); $(errline)"
        fi
        dp kmod-restore restore $NVME
        state_restore "vfio-pci on demand"
    else
        nok "bind with vfio-pci unloaded" "could not unload vfio_pci for the test: $(lsmod 2>/dev/null | grep vfio | tr '\n' ' ')"
        modprobe vfio-pci
    fi

    # ---------------------------------------------------------- plain nvme
    g=$(group_of $NVME)
    dp bind-nvme bind $NVME
    brc=$rc
    bad=
    [ "$brc" = 0 ] || bad="exit $brc: $(errline)"
    [ "$(drv_of $NVME)" = vfio-pci ] || bad="$bad driver $(drv_of $NVME)"
    [ -c /dev/vfio/$g ] || bad="$bad no /dev/vfio/$g ($(ls /dev/vfio | tr '\n' ' '))"
    blk=$(blockdev_of $NVME)
    [ -z "$blk" ] && [ ! -e "/sys/block/$NVME_BLK" ] || bad="$bad block device ${blk:-$NVME_BLK} still there"
    other=$(changed_since /tmp/state.0 $NVME)
    [ -z "$other" ] || bad="$bad others changed: $other"
    expect "bind $NVME (nvme): on vfio-pci, /dev/vfio/$g exists, $NVME_BLK gone, nothing else changed" "" "$bad"
    emit list-after-bind-nvme devpass list --json
    state >/tmp/state.1
    dp rebind-nvme bind $NVME
    expect "bind $NVME again (already on vfio-pci): exit 0, nothing changed" "" \
        "$([ "$rc" = 0 ] || echo "exit $rc: $(errline)") $(changed_since /tmp/state.1)"
    dp rebind-nvme-json bind --json $NVME
    dp restore-dry-nvme restore --dry-run $NVME
    expect "restore --dry-run $NVME: exit 0, nothing changed" "" \
        "$([ "$rc" = 0 ] || echo "exit $rc: $(errline)") $(changed_since /tmp/state.1)"
    dp restore-nvme restore --json $NVME
    rrc=$rc
    blk=$(wait_blockdev $NVME 50)
    bad=
    [ "$rrc" = 0 ] || bad="exit $rrc: $(errline)"
    [ "$(drv_of $NVME)" = nvme ] || bad="$bad driver $(drv_of $NVME)"
    [ "$(ovr_of $NVME)" = - ] || bad="$bad driver_override '$(ovr_of $NVME)'"
    [ -n "$blk" ] || bad="$bad no block device after 10 s"
    [ ! -e /dev/vfio/$g ] || bad="$bad /dev/vfio/$g still there"
    expect "restore $NVME: back on nvme with block device ${blk:-?}, driver_override cleared, /dev/vfio/$g gone" "" "$bad"
    emit list-after-restore-nvme devpass list --json
    state_restore "nvme bind/restore"

    # ---------------------------------------------------------- --owner, reset
    dp reset-host reset $NVME
    expect "reset $NVME while nvme drives it, no --force: refused (exit 1), nothing changed" "" \
        "$([ "$rc" = 1 ] || echo "exit $rc") $(changed_since /tmp/state.0)"
    note "reset of $NVME under nvme: $(errline)"
    g=$(group_of $NVME)
    dp owner bind --owner nobody $NVME
    own=$(stat -c %U:%G /dev/vfio/$g 2>&1)
    expect "bind --owner nobody $NVME: exit 0, /dev/vfio/$g owned by nobody" "" \
        "$([ "$rc" = 0 ] || echo "exit $rc: $(errline)") $([ "${own%%:*}" = nobody ] || echo "owner $own")"
    state >/tmp/state.1
    dp reset-dry reset --dry-run $NVME
    r1=$rc
    dp reset reset --json $NVME
    expect "reset --dry-run, reset $NVME on vfio-pci: exit 0, still on vfio-pci" "" \
        "$([ "$r1/$rc" = 0/0 ] || echo "exits $r1/$rc: $(errline)") $(changed_since /tmp/state.1)"
    dp owner-restore restore $NVME
    blk=$(wait_blockdev $NVME 50)
    expect "restore $NVME after --owner and reset: nvme with its block device" "" \
        "$([ "$rc" = 0 ] || echo "exit $rc: $(errline)") $([ -n "$blk" ] || echo "no block device") $(changed_since /tmp/state.0)"
    state_restore "owner/reset"

    # ---------------------------------------------------------- shared group (pci-bridge)
    g=$(group_of $E1000)
    dp bind-group bind --json $E1000
    bad=
    [ "$rc" = 0 ] || bad="exit $rc: $(errline)"
    [ "$(drv_of $E1000)" = vfio-pci ] && [ "$(drv_of $RNG)" = vfio-pci ] ||
        bad="$bad $E1000 on $(drv_of $E1000), $RNG on $(drv_of $RNG)"
    [ -c /dev/vfio/$g ] || bad="$bad no /dev/vfio/$g"
    other=$(changed_since /tmp/state.0 $E1000 $RNG)
    [ -z "$other" ] || bad="$bad others changed (the bridge $BRIDGE must not): $other"
    expect "bind $E1000 (group $g with $RNG behind $BRIDGE): both endpoints on vfio-pci, the bridge untouched" "" "$bad"
    dp restore-group restore $E1000
    expect_group_back "restore $E1000: the group is back on e1000 and virtio-pci, driver_override cleared"
    state_restore "shared group bind/restore"

    # ---------------------------------------------------------- SR-IOV VFs
    dp bind-vfs bind $VF1 $VF2
    bad=
    [ "$rc" = 0 ] || bad="exit $rc: $(errline)"
    [ "$(drv_of $VF1)/$(drv_of $VF2)" = vfio-pci/vfio-pci ] || bad="$bad VFs on $(drv_of $VF1)/$(drv_of $VF2)"
    for v in $VF1 $VF2; do [ -c "/dev/vfio/$(group_of $v)" ] || bad="$bad no /dev/vfio/$(group_of $v)"; done
    other=$(changed_since /tmp/state.0 $VF1 $VF2)
    [ -z "$other" ] || bad="$bad others changed (PF $SRIOV_PF must stay on nvme): $other"
    expect "bind $VF1 $VF2 (SR-IOV VFs): both on vfio-pci, the PF and the rest untouched" "" "$bad"
    dp restore-vfs restore $VF1 $VF2
    rrc=$rc
    l1=$(wait_nvme_live $VF1 50); l2=$(wait_nvme_live $VF2 50)
    bad=
    [ "$rrc" = 0 ] || bad="exit $rrc: $(errline)"
    [ "$(drv_of $VF1)/$(drv_of $VF2)" = nvme/nvme ] || bad="$bad VFs on $(drv_of $VF1)/$(drv_of $VF2)"
    [ -n "$l1" ] && [ -n "$l2" ] || bad="$bad nvme controllers live: '$l1' '$l2'"
    [ "$(ovr_of $VF1)" = - ] || bad="$bad $VF1 driver_override '$(ovr_of $VF1)' (had none)"
    [ "$(ovr_of $VF2)" = nvme ] || bad="$bad $VF2 driver_override '$(ovr_of $VF2)' (had nvme)"
    expect "restore $VF1 $VF2: both live nvme controllers again, each with the driver_override it had (none / nvme)" "" "$bad"
    state_restore "VF bind/restore"

    # ---------------------------------------------------------- --driver
    dp driver-1 bind $E1000
    r1=$rc
    dp driver-2 bind --driver e1000 $E1000
    bad=
    [ "$r1" = 0 ] && [ "$rc" = 0 ] || bad="exit $r1 / $rc: $(errline)"
    [ "$(drv_of $E1000)" = e1000 ] || bad="$bad $E1000 on $(drv_of $E1000)"
    [ "$(drv_of $RNG)" = vfio-pci ] || bad="$bad $RNG on $(drv_of $RNG) (--driver binds only the given function)"
    expect "bind $E1000, then bind --driver e1000 $E1000: $E1000 back on e1000, $RNG stays on vfio-pci" "" "$bad"
    dp driver-restore restore $E1000 $RNG
    expect_group_back "restore $E1000 $RNG after --driver: e1000 and virtio-pci, driver_override cleared"
    state_restore "--driver"

    # ---------------------------------------------------------- failures change nothing
    dp bad-driver bind --driver no_such_driver $E1000
    expect "bind --driver no_such_driver $E1000: exit 1, nothing changed" "" \
        "$([ "$rc" = 1 ] || echo "exit $rc") $(changed_since /tmp/state.0)"
    dp missing bind 0000:7f:1f.7
    expect "bind of a missing address 0000:7f:1f.7: non-zero exit with a message, nothing changed" "" \
        "$([ "$rc" != 0 ] || echo "exit 0") $([ -s /tmp/dp.err ] || echo "no message") $(changed_since /tmp/state.0)"
    dp usage bind
    expect "bind without an address: exit 2 (usage)" "" "$([ "$rc" = 2 ] || echo "exit $rc")"
    state_restore "failures"

    # ---------------------------------------------------------- unbind
    mac_if=$(netif_of_mac "$VFIO_MAC")
    dp unbind unbind $PASSDEV
    bad=
    [ "$rc" = 0 ] || bad="exit $rc: $(errline)"
    [ "$(drv_of $PASSDEV)" = - ] || bad="$bad driver $(drv_of $PASSDEV)"
    netif_of_mac "$VFIO_MAC" >/dev/null && bad="$bad interface $mac_if still there"
    expect "unbind $PASSDEV (e1000e): no driver, its interface $mac_if gone" "" "$bad"
    dp unbind-restore restore $PASSDEV
    bad=
    [ "$rc" = 0 ] || bad="exit $rc: $(errline)"
    [ "$(drv_of $PASSDEV)" = e1000e ] || bad="$bad driver $(drv_of $PASSDEV)"
    netif_of_mac "$VFIO_MAC" >/dev/null || bad="$bad no interface with $VFIO_MAC"
    expect "restore $PASSDEV after unbind: back on e1000e with its interface" "" "$bad"
    state_restore "unbind"

    # ---------------------------------------------------------- concurrency
    # two processes bind the same group at once: A names one function, B the other
    # (round 1-3) or both name the same one (round 4)
    for round in 1 2 3 4; do
        a1=$E1000; a2=$RNG
        [ "$round" = 4 ] && a2=$E1000
        t0=$(now_ms)
        (timeout "$DP_TIMEOUT" devpass bind "$a1" >/tmp/c1.out 2>/tmp/c1.err; echo $? >/tmp/c1.rc) &
        p1=$!
        (timeout "$DP_TIMEOUT" devpass bind "$a2" >/tmp/c2.out 2>/tmp/c2.err; echo $? >/tmp/c2.rc) &
        p2=$!
        wait $p1; wait $p2
        t1=$(now_ms)
        c1=$(cat /tmp/c1.rc); c2=$(cat /tmp/c2.rc)
        send_run "concurrent-$round-a" "devpass bind $a1" "$c1" /tmp/c1.out /tmp/c1.err "$t0" "$t1"
        send_run "concurrent-$round-b" "devpass bind $a2" "$c2" /tmp/c2.out /tmp/c2.err "$t0" "$t1"
        bad=
        [ "$c1/$c2" = 0/0 ] || bad="exits $c1/$c2: $(errline /tmp/c1.err) | $(errline /tmp/c2.err)"
        [ "$(drv_of $E1000)/$(drv_of $RNG)" = vfio-pci/vfio-pci ] ||
            bad="$bad $E1000 on $(drv_of $E1000), $RNG on $(drv_of $RNG)"
        other=$(changed_since /tmp/state.0 $E1000 $RNG)
        [ -z "$other" ] || bad="$bad others changed: $other"
        expect "concurrent bind $a1 & bind $a2 (round $round): both exit 0, the whole group on vfio-pci, nothing else touched" "" "$bad"
        dp "concurrent-$round-restore" restore $E1000 $RNG
        bad=
        [ "$rc" = 0 ] || bad="exit $rc: $(errline)"
        [ "$(drv_of $E1000)/$(drv_of $RNG)" = e1000/virtio-pci ] ||
            bad="$bad $E1000 on $(drv_of $E1000), $RNG on $(drv_of $RNG) (ledger recorded vfio-pci as original?)"
        left=$(changed_since /tmp/state.0)
        [ -z "$left" ] || bad="$bad stray state: $left"
        expect "restore after concurrent bind (round $round): e1000 and virtio-pci again, no stray driver_override" "" "$bad"
        state_restore "concurrent round $round"
    done
fi

# ================================================================== in use (plain holder)
if [ "$HAVE_BIND" = 1 ]; then
    g=$(group_of $PASSDEV)
    dp holder-bind bind $PASSDEV
    if [ -c /dev/vfio/$g ]; then
        sleep 300 3</dev/vfio/$g &
        hpid=$!
        state >/tmp/state.1
        dp holder-restore restore --timeout 5 $PASSDEV
        expect_refused "restore $PASSDEV while a process (sleep, pid $hpid) holds /dev/vfio/$g open: exit 1, the holder named, nothing changed" \
            "sleep|$hpid|in use" /tmp/state.1
        note "in use: $(errline)"
        kill $hpid; wait $hpid 2>/dev/null
    else
        nok "bind $PASSDEV for the in-use test" "no /dev/vfio/$g: exit $rc $(errline)"
    fi
    dp holder-restore-2 restore $PASSDEV
    expect "restore $PASSDEV once the holder is gone: e1000e again" "" \
        "$([ "$rc" = 0 ] || echo "exit $rc: $(errline)") $([ "$(drv_of $PASSDEV)" = e1000e ] || echo "driver $(drv_of $PASSDEV)")"
    state_restore "in use (plain holder)"
fi

# ================================================================== passthrough to a nested QEMU
# This machine's root (shared read-only) provides qemu-system-x86_64 and python3; the
# guest's /proc, /sys, /dev are bound into it, /tmp is a tmpfs.
H=/mnt/host
nested_setup() {
    modprobe 9pnet_virtio && modprobe 9p || { echo "modprobe 9p failed"; return 1; }
    mkdir -p $H
    mount -t 9p -o trans=virtio,version=9p2000.L,ro,msize=262144,cache=loose hostroot $H ||
        { echo "mount -t 9p hostroot failed"; return 1; }
    for m in proc sys dev; do mount -o bind /$m $H/$m || { echo "bind /$m failed"; return 1; }; done
    mount -t tmpfs -o mode=1777 tmpfs $H/tmp || { echo "tmpfs on $H/tmp failed"; return 1; }
    cp /tests/nested-qmp.py $H/tmp/ || return 1
    for b in qemu-system-x86_64 python3; do
        chroot $H /bin/sh -c "command -v $b" >/dev/null 2>&1 || { echo "no $b on the shared root"; return 1; }
    done
    return 0
}
nested_teardown() {
    for m in tmp dev sys proc; do umount $H/$m 2>/dev/null; done
    umount $H 2>/dev/null
}
if why=$(nested_setup 2>&1); then
    ok "nested: this machine's root mounted over virtio-9p, qemu-system-x86_64 and python3 in the chroot"
    g=$(group_of $PASSDEV)
    if [ "$HAVE_BIND" = 1 ]; then
        how="devpass bind"
        dp nested-bind bind $PASSDEV
    else
        how="sysfs writes (devpass bind not available)"
        sysfs_bind $PASSDEV vfio-pci
    fi
    if [ "$(drv_of $PASSDEV)" = vfio-pci ] && [ -c /dev/vfio/$g ]; then
        ok "nested: $PASSDEV on vfio-pci with /dev/vfio/$g ($how)"
        t0=$(now_ms); t1=
        mkdir -p $H/tmp/hold
        chroot $H /bin/sh -c "ulimit -l unlimited; exec python3 /tmp/nested-qmp.py $PASSDEV --timeout 150 --hold /tmp/hold" \
            >/tmp/nested.json 2>/tmp/nested.err &
        npid=$!
        i=0
        while [ ! -e $H/tmp/hold/ready ] && [ $i -lt 750 ] && kill -0 $npid 2>/dev/null; do
            sleep 0.2; i=$((i + 1))
        done
        if [ -e $H/tmp/hold/ready ]; then
            t1=$(now_ms)
            state >/tmp/state.1
            if [ "$HAVE_BIND" = 1 ]; then
                # QEMU (in the chroot) holds /dev/vfio/N and the device: giving the
                # device back must be refused at once. If devpass misses the holder, its
                # unbind blocks in the kernel until QEMU lets go: wait 30 s (3 x its
                # default --timeout), look where it is stuck, then let QEMU go.
                emit nested-holder-fds procs_fds qemu
                t2=$(now_ms)
                (timeout "$DP_TIMEOUT" devpass restore $PASSDEV >/tmp/dp.out 2>/tmp/dp.err; echo $? >/tmp/dp.rc) &
                dpid=$!
                i=0
                while [ $i -lt 150 ] && kill -0 $dpid 2>/dev/null; do sleep 0.2; i=$((i + 1)); done
                if kill -0 $dpid 2>/dev/null; then
                    hung=1
                    emit nested-hung-stacks procs_stacks devpass
                    note "devpass restore $PASSDEV still running after 30 s; stacks: $(grep -E '^==|unbind|override|device_lock|mutex|vfio' /tmp/emit.out | head -n 12 | tr '\n' ' ' | cut -c1-600)"
                    touch $H/tmp/hold/go
                else
                    hung=0
                fi
                wait $dpid
                rc=$(cat /tmp/dp.rc)
                send_run nested-inuse "devpass restore $PASSDEV" "$rc" /tmp/dp.out /tmp/dp.err "$t2" "$(now_ms)"
                bad=
                [ "$hung" = 0 ] || bad="still running after 30 s (default --timeout is 10 s), finished only after the nested QEMU was told to quit (exit $rc);"
                [ "$rc" = 1 ] || bad="$bad exit $rc"
                grep -qiE 'qemu|in use|pid' /tmp/dp.err || bad="$bad message does not name the holder: $(errline)"
                left=$(changed_since /tmp/state.1)
                [ -z "$left" ] || bad="$bad changed: $left"
                expect "nested: restore $PASSDEV while the nested QEMU holds it (/dev/vfio/$g): refused at once (exit 1), the holder named, nothing changed" "" "$bad"
                note "in use: $(errline)"

                # unbind --force: the kernel's unbind blocks until QEMU lets go; devpass
                # must give up after --timeout 3 (exit 1), and finish the job with
                # restore once the device is free. While that unbind hangs, the kernel
                # holds the device lock: reading its driver_override blocks too (so this
                # script only reads the driver link until QEMU is gone), and devpass
                # list/show must still answer.
                stuck=1
                bounded nested-stuck-unbind 30 unbind --force --timeout 3 $PASSDEV
                bad=
                [ "$hung" = 0 ] || bad="still running after 30 s;"
                [ "$rc" = 1 ] || bad="$bad exit $rc"
                [ -s /tmp/dp.err ] || bad="$bad no message"
                expect "nested: unbind --force --timeout 3 $PASSDEV while QEMU holds it: gives up (exit 1, $ms_taken ms) with a message" "" "$bad"
                note "stuck unbind: $(errline) [driver link now: $(drv_of $PASSDEV)]"
                for cmd in "list --json" "show $PASSDEV" "groups"; do
                    tag=$(echo "${cmd%% 0000*}" | tr -d ' -')
                    bounded "nested-stuck-$tag" 20 $cmd
                    expect "nested: devpass $cmd answers while the unbind of $PASSDEV hangs in the kernel" "" \
                        "$([ "$hung" = 0 ] || echo "still running after 20 s; devpass processes in D state, blocked in: $(awk '/^== pid/ && $7 == "D" {print $9}' /tmp/emit.out | sort | uniq -c | tr -s ' \n' ' ') (kernel stacks in nested-hung-stacks-$tag)") $([ "$rc" = 0 ] || [ "$hung" = 1 ] || echo "exit $rc: $(errline)")"
                done
            fi
        fi
        touch $H/tmp/hold/go
        for p in $BOUNDED_PIDS; do wait $p; done
        wait $npid
        nrc=$?
        [ -n "${t1:-}" ] || t1=$(now_ms)
        send_run nested-qemu "nested-qmp.py $PASSDEV ($how)" "$nrc" /tmp/nested.json /tmp/nested.err "$t0" "$t1"
        if grep -q '"ok": true' /tmp/nested.json && grep -q '"vendor": "8086", "device": "10d3", "class": "0200"' /tmp/nested.json; then
            ok "nested: QEMU with -device vfio-pci,host=$PASSDEV shows 8086:10d3 class 0200 in query-pci ($((t1 - t0)) ms to the answer)"
        else
            nok "nested: QEMU with -device vfio-pci,host=$PASSDEV shows 8086:10d3 class 0200 in query-pci" \
                "exit $nrc: $(cut -c1-400 /tmp/nested.json) $(errline /tmp/nested.err)"
        fi
    else
        nok "nested: $PASSDEV on vfio-pci with /dev/vfio/$g ($how)" "driver $(drv_of $PASSDEV); $(errline)"
    fi
    if [ "$HAVE_BIND" = 1 ]; then
        # a pending unbind (from the --force test) completes once QEMU has let go
        i=0
        while [ "${stuck:-0}" = 1 ] && [ "$(drv_of $PASSDEV)" = vfio-pci ] && [ $i -lt 50 ]; do sleep 0.2; i=$((i + 1)); done
        note "after the nested QEMU quit: $PASSDEV driver $(drv_of $PASSDEV), override $(ovr_of $PASSDEV)"
        dp nested-restore restore $PASSDEV
        bad=
        [ "$rc" = 0 ] || bad="exit $rc: $(errline)"
        [ "$(drv_of $PASSDEV)" = e1000e ] || bad="$bad driver $(drv_of $PASSDEV)"
        [ "$(ovr_of $PASSDEV)" = - ] || bad="$bad driver_override $(ovr_of $PASSDEV)"
        netif_of_mac "$VFIO_MAC" >/dev/null || bad="$bad no interface with $VFIO_MAC"
        expect "nested: after QEMU exited, restore $PASSDEV gives it back to e1000e (interface back)" "" "$bad"
    fi
    state_restore "nested passthrough"
else
    nok "nested: this machine's root mounted over virtio-9p with qemu-system-x86_64 and python3" "$why"
fi
nested_teardown

# ================================================================== refusals
# Last, so a devpass that wrongly unbinds the root disk cannot spoil the other results.
# Each real attempt is guarded by its dry run: when the dry run would go ahead, the real
# command is not run at all.
# refuse_test ADDR REGEX WHAT: bind ADDR without --force must exit 1 with a message
# matching REGEX (the reason) and change nothing
refuse_test() {
    local a=$1 short=${1#0000:} left bad
    dp "refuse-dry-$short" bind --dry-run "$a"
    if [ "$rc" = 0 ]; then
        nok "bind --dry-run $a ($3): refused" "the dry run exits 0 (would go ahead), so the real bind was not tried: $(tr '\n' ' ' </tmp/dp.out | cut -c1-200)"
        return
    fi
    dp "refuse-$short" bind "$a"
    expect_refused "bind $a ($3) without --force: exit 1, the reason named, nothing changed" "$2" /tmp/state.0
    note "refusal of $a: $(errline)"
    dp "refuse-json-$short" bind --json "$a"
    left=$(changed_since /tmp/state.0)
    expect "bind --json $a ($3): exit 1, nothing changed" "" \
        "$([ "$rc" = 1 ] || echo "exit $rc") $left"
}
if [ "$HAVE_BIND" = 1 ]; then
    refuse_test "$ROOTDISK" 'root|vda|mount|file ?system' "virtio-blk holding /"
    refuse_test "$ROUTED" 'route|network|interface' "e1000e with the default route"

    # ---------------------------------------------------------- nothing left behind
    dp restore-all restore --all
    bad=
    [ "$rc" = 0 ] || bad="exit $rc: $(errline)"
    left=$(changed_since /tmp/state.0)
    [ -z "$left" ] || bad="$bad changed: $left"
    expect "restore --all at the end: exit 0, every function as the setup left it" "" "$bad"
    emit list-final devpass list --json
fi
emit state-final state
data_close
exit 0
