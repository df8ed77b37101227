#!/bin/sh
# Runs inside the vm-boot guest (tests/vm/run.sh vm: intel_iommu=on iommu=pt, -cpu max so
# TCG gives the guest SVM and kvm_amd makes /dev/kvm, 2 vCPUs, 1.75 GB). Sets the guest up
# like the pools boot (drivers, 2 SR-IOV VFs of the nvme 02:00.0 driven by nvme), then
# starts VMs on the guest's KVM with devices passed through: the e1000e 04:00.0 and a VF
# from a devpass pool. Each VM boots Debian's kernel with a tiny initramfs
# (nested-init.sh, in /vm) that prints its PCI functions, the cloud-init seed it found and
# the secureboot lines on its serial console.
#
#  1. hand run (no devpass vm; always when `devpass vm` is missing): the two devices bound
#     with bare sysfs writes, QEMU started by hand with -device vfio-pci, its serial log
#     read back, stopped over QMP, the devices given back with sysfs writes
#  2. devpass vm: create t1 --passthrough 04:00.0 --pool nvmevf --cloud-init --start; the
#     nested guest lists 8086:10d3 and the VF in `vm log t1`, reads the seed; while t1 runs,
#     a second VM asking for 04:00.0, `vm start t1` and `vm destroy t1` are refused and
#     change nothing; `vm stop t1` gives both devices back; `vm stop t1` again is refused;
#     t2 (--ssh-key) is killed with SIGKILL and its devices come back with no command run;
#     t4 powers itself off and its devices come back too
#
# Judged here: driver links, driver_override, /dev/vfio, QEMU processes, exit statuses,
# the serial lines. Every devpass run also goes to the host (run-NAME blocks) with the
# serial logs (log-NAME blocks), where check.py compares the seed with the files as
# written and summarizes the wall times.
T="vm[vm]"
. /tests/guest-lib.sh || exit 2   # only the harness guest has it

PASSDEV=0000:04:00.0       # e1000e behind root port 00:07.0, alone in its group
PF=0000:02:00.0            # nvme with SR-IOV
VF1=0000:02:00.1           # VF1 without a driver_override,
VF2=0000:02:00.2           # VF2 keeps driver_override=nvme from setup_sriov
POOL=nvmevf
DP_TIMEOUT=300
NESTED_WAIT=240            # seconds a nested guest may take to print NESTED-READY
RELEASE_WAIT=20            # seconds the devices of a killed VM may take to come back
KERNEL=/vm/vmlinuz INITRD=/vm/initrd.img
for arg in $(cat /proc/cmdline); do
    case $arg in devpass_vm_wait=*) NESTED_WAIT=${arg#devpass_vm_wait=} ;; esac
done

data_open vm
check_root
setup_coldplug
setup_sriov 2 1
echo >"/sys/bus/pci/devices/$VF1/driver_override"

# ------------------------------------------------------------------ KVM in the guest
setup_kvm() {
    local why
    if why=$(modprobe kvm_amd 2>&1) && [ -c /dev/kvm ]; then
        ok "kvm: kvm_amd loaded (SVM from -cpu max under TCG), /dev/kvm present, nested=$(cat /sys/module/kvm_amd/parameters/nested 2>/dev/null) npt=$(cat /sys/module/kvm_amd/parameters/npt 2>/dev/null)"
    else
        nok "kvm: kvm_amd loaded and /dev/kvm present" "modprobe: $why; cpu flags: $(grep -m1 -o -w -E 'svm|npt|vmx' /proc/cpuinfo | tr '\n' ' ')"
    fi
    note "kvm: $(dmesg | grep -iE 'kvm|svm' | sed 's/^\[[^]]*\] *//' | tr '\n' ';' | cut -c1-300)"
}
setup_kvm
for v in $VF1 $VF2; do wait_nvme_live "$v" 50 >/dev/null; done
state >/tmp/state.0
emit state-0 cat /tmp/state.0
# identities the nested guests must show: "vendor:device" without 0x, as nested-init prints
ids_of() { echo "$(sed 's/^0x//' "/sys/bus/pci/devices/$1/vendor"):$(sed 's/^0x//' "/sys/bus/pci/devices/$1/device")"; }
PASSID=$(ids_of $PASSDEV)
VFID=$(ids_of $VF1)
emit vm-facts sh -c "echo passdev $PASSDEV $PASSID; echo vf $VF1 $VFID; echo vf $VF2 $(ids_of $VF2); \
    echo qemu $(qemu-system-x86_64 -version | head -n1); echo kvm $([ -c /dev/kvm ] && echo yes || echo no)"

# ------------------------------------------------------------------ helpers
# wait_text FILE PATTERN SECONDS [CMD...]: poll (every 0.5 s) until FILE has a line matching
# PATTERN; with CMD, FILE is refreshed from CMD's output each time. Sets waited_ms.
wait_text() {
    local f=$1 pat=$2 secs=$3 t0 n=0
    shift 3
    t0=$(now_ms)
    while :; do
        [ $# -gt 0 ] && "$@" >"$f" 2>/dev/null
        grep -q "$pat" "$f" 2>/dev/null && break
        n=$((n + 1))
        [ $((n / 2)) -ge "$secs" ] && { waited_ms=$(( $(now_ms) - t0 )); return 1; }
        sleep 0.5
    done
    waited_ms=$(( $(now_ms) - t0 ))
    return 0
}
# pid_gone PID SECONDS: wait (every 0.1 s) until PID is gone
pid_gone() {
    local i=0
    while kill -0 "$1" 2>/dev/null; do
        [ $i -ge $(($2 * 10)) ] && return 1
        sleep 0.1; i=$((i + 1))
    done
    return 0
}
# qemu_pids: the PIDs of every running qemu-system-x86_64
qemu_pids() {
    local p
    for p in /proc/[0-9]*; do
        [ "$(cat "$p/comm" 2>/dev/null)" = qemu-system-x86 ] && echo "${p#/proc/}"
    done
}
# pci_lines LOG: the PCI lines of a nested serial log, as "ADDR ID CLASS"
pci_seen() { grep -q "^PCI [0-9a-f:.]* $2 " "$1"; }
# sysfs_bind ADDR DRIVER: bind without devpass (driver_override + unbind + drivers_probe)
sysfs_bind() {
    local p=/sys/bus/pci/devices/$1
    echo "$2" >"$p/driver_override"
    [ -e "$p/driver" ] && echo "$1" >"$p/driver/unbind"
    echo "$1" >/sys/bus/pci/drivers_probe
}
# qmp_cmd SOCKET COMMAND: one QMP command (after qmp_capabilities), the answer on stdout
qmp_cmd() {
    printf '{"execute":"qmp_capabilities"}\n{"execute":"%s"}\n' "$2" |
        socat -t 3 - "UNIX-CONNECT:$1" 2>&1
}
# serial_checks NAME LOG WANTSEED: the nested guest's PCI lines name the e1000e and the
# pool's VF; its seed is the one asked for (label cidata, user-data WANTSEED's lines)
serial_checks() {
    local name=$1 log=$2 want=$3 vf bad
    bad=
    pci_seen "$log" "$PASSID" || bad="no PCI line with $PASSID (e1000e $PASSDEV);"
    pci_seen "$log" "$VFID" || bad="$bad no PCI line with $VFID (the pool's VF);"
    expect "$name: the nested guest lists the e1000e ($PASSID) and the VF ($VFID) on its serial console" "" \
        "$bad $([ -n "$bad" ] && grep -E '^(PCI|NESTED)' "$log" | tr '\n' ';' | cut -c1-400)"
    [ -n "$want" ] || return 0
    bad=
    grep -q '^SEED device=.* label=cidata ' "$log" || bad="no seed labelled cidata: $(grep '^SEED' "$log" | head -n 3 | tr '\n' ';')"
    grep -q '^SEED meta-data: ' "$log" || bad="$bad no meta-data lines;"
    grep -q '^SEED user-data: ' "$log" || bad="$bad no user-data lines;"
    if [ "$want" != - ]; then
        grep '^SEED user-data: ' "$log" | tr -d '\r' | sed 's/^SEED user-data: //' >/tmp/seed-ud.txt
        cmp -s /tmp/seed-ud.txt "$want" || bad="$bad user-data differs from $want: $(diff "$want" /tmp/seed-ud.txt | tr '\n' ';' | cut -c1-200)"
    fi
    expect "$name: the nested guest finds the cloud-init seed (label cidata) and reads meta-data and user-data as written" "" "$bad"
}

# ================================================================== 1. hand run
# devices bound by a bare sysfs loop, QEMU by hand: the nested KVM + vfio path without devpass
HAND=/run/hand
# hand_qemu_args DIR APPEND ADDR...: a QEMU command line like devpass's, one root port per device
hand_qemu_args() {
    local dir=$1 append=$2 i=0 a
    shift 2
    echo -name hand -machine q35,accel=kvm -cpu host -m 256 -smp 1 -nodefaults -no-user-config \
        -display none -kernel $KERNEL -initrd $INITRD \
        -chardev socket,id=ser0,path=$dir/serial.sock,server=on,wait=off,logfile=$dir/serial.log \
        -serial chardev:ser0 -chardev socket,id=qmp,path=$dir/qmp.sock,server=on,wait=off \
        -mon chardev=qmp,mode=control -pidfile $dir/qemu.pid -daemonize \
        -drive file=/vm/seed-hand.iso,media=cdrom,if=none,id=seed,readonly=on \
        -device ide-cd,drive=seed,bus=ide.2
    for a in "$@"; do
        i=$((i + 1))
        echo -device pcie-root-port,id=rp$i,bus=pcie.0,addr=$(printf 0x%x $((15 + i))),chassis=$i,slot=$i \
            -device vfio-pci,host=$a,bus=rp$i
    done
}
hand_run() {
    local t0 t1 t2 t3 qpid bad a
    mkdir -p $HAND
    rm -f $HAND/*
    t0=$(now_ms)
    for a in $PASSDEV $VF1; do sysfs_bind $a vfio-pci; done
    t1=$(now_ms)
    bad=
    for a in $PASSDEV $VF1; do
        [ "$(drv_of $a)" = vfio-pci ] && [ -c "/dev/vfio/$(group_of $a)" ] || bad="$bad $a on $(drv_of $a)"
    done
    expect "hand run: $PASSDEV and $VF1 on vfio-pci by sysfs writes ($((t1 - t0)) ms)" "" "$bad"
    # shellcheck disable=SC2046
    qemu-system-x86_64 $(hand_qemu_args $HAND x $PASSDEV $VF1) \
        -append "console=ttyS0 quiet devpass_nested=stay" >$HAND/qemu.out 2>&1
    qrc=$?
    t2=$(now_ms)
    qpid=$(cat $HAND/qemu.pid 2>/dev/null)
    if [ "$qrc" != 0 ] || [ -z "$qpid" ]; then
        nok "hand run: QEMU (accel=kvm, vfio-pci $PASSDEV $VF1) starts" "exit $qrc: $(errline $HAND/qemu.out)"
    else
        ok "hand run: QEMU (accel=kvm, vfio-pci $PASSDEV $VF1) daemonized in $((t2 - t0 - (t1 - t0))) ms, pid $qpid"
        if wait_text $HAND/serial.log '^NESTED-READY' "$NESTED_WAIT"; then
            ok "hand run: the nested guest printed NESTED-READY $waited_ms ms after QEMU started"
        else
            nok "hand run: the nested guest prints NESTED-READY" "not within ${NESTED_WAIT}s; serial: $(tail -n 5 $HAND/serial.log | tr '\n' ';' | cut -c1-300)"
        fi
        serial_checks "hand run" $HAND/serial.log /vm/user-data
        emit log-hand cat $HAND/serial.log
        t2=$(now_ms)
        qmp_cmd $HAND/qmp.sock system_powerdown >$HAND/qmp.out
        if pid_gone "$qpid" 60; then
            t3=$(now_ms)
            ok "hand run: system_powerdown over QMP; the nested guest powered off, QEMU gone after $((t3 - t2)) ms"
        else
            nok "hand run: QEMU gone after system_powerdown" "still running after 60 s; QMP: $(errline $HAND/qmp.out)"
            kill -9 "$qpid"; pid_gone "$qpid" 10
        fi
    fi
    # back: the PF has sriov_drivers_autoprobe=0 (setup_sriov), so the kernel probes a VF
    # only through a driver_override: nvme for the probe, then cleared as it was
    t2=$(now_ms)
    sysfs_bind $PASSDEV ""
    sysfs_bind $VF1 nvme
    echo >"/sys/bus/pci/devices/$VF1/driver_override"
    t3=$(now_ms)
    live=$(wait_nvme_live $VF1 100)
    expect "hand run: $PASSDEV back on e1000e, $VF1 a live nvme controller again by sysfs writes ($((t3 - t2)) ms for the writes)" "" \
        "$([ "$(drv_of $PASSDEV)" = e1000e ] || echo "$PASSDEV on $(drv_of $PASSDEV)") $([ -n "$live" ] || echo "$VF1 on $(drv_of $VF1), not live after 20 s")"
    send_run hand-qemu "qemu-system-x86_64 (hand run)" "$qrc" $HAND/qemu.out $HAND/qmp.out "$t0" "$(now_ms)"
    state_restore "hand run"
}

HAVE_VM=0
if ! command -v devpass >/dev/null 2>&1; then
    nok "devpass: binary present in the guest" "build/devpass was not built when the image was made"
elif devpass vm --help >/dev/null 2>&1; then
    HAVE_VM=1
    ok "devpass vm --help: exit 0"
fi
if [ "$HAVE_VM" = 0 ] || grep -qw devpass_vm_hand=1 /proc/cmdline; then
    hand_run
fi

# ================================================================== 2. devpass vm
VMS_NOT="devpass vm not available"
if [ "$HAVE_VM" = 0 ]; then
    for t in "vm create t1 --passthrough $PASSDEV --pool $POOL --cloud-init --start" \
             "vm log t1: the nested guest lists the e1000e and the VF" \
             "vm log t1: the cloud-init seed is read inside the nested guest" \
             "vm start t1 while it runs: refused, nothing changed" \
             "a second VM asking for $PASSDEV: refused, nothing changed" \
             "vm destroy t1 while it runs (no --force): refused" \
             "vm stop t1: e1000e and nvme drive the devices again" \
             "vm stop t1 when stopped: refused" \
             "kill -9 of t2's QEMU: devices released with no command run" \
             "t4 powers itself off: devices released"; do
        nok "$t" "$VMS_NOT"
    done
    emit dmesg dmesg
    emit state-final state
    data_close
    exit 0
fi

VMARGS="--kernel $KERNEL --initrd $INITRD --memory 256M --cpus 1 --graphics none"
# vm_pid NAME: the PID in the VM's pidfile
vm_pid() { cat "/run/devpass/vm/$1/qemu.pid" 2>/dev/null; }
# vm_log NAME: `devpass vm log NAME` into /tmp/NAME.log
vm_log() { devpass vm log "$1" >"/tmp/$1.log" 2>/dev/null; }
# taken_vf: the VF of the pool on vfio-pci now (the one a VM claimed), or nothing
taken_vf() {
    local v
    for v in $VF1 $VF2; do [ "$(drv_of $v)" = vfio-pci ] && { echo $v; return 0; }; done
    return 1
}
# devices_back VF: what is wrong with PASSDEV and VF after their VM ended ("" = all good)
devices_back() {
    local left
    [ "$(drv_of $PASSDEV)" = e1000e ] || echo "$PASSDEV on $(drv_of $PASSDEV);"
    [ -n "$1" ] && [ "$(drv_of $1)" != nvme ] && echo "$1 on $(drv_of $1);"
    left=$(changed_since /tmp/state.0)
    [ -z "$left" ] || echo "changed: $left"
}
# drivers_back VF: PASSDEV on e1000e and VF on nvme, by driver links only (reading a
# driver_override blocks while the kernel holds the device for an unbind in progress)
drivers_back() {
    [ "$(drv_of $PASSDEV)" = e1000e ] && { [ -z "$1" ] || [ "$(drv_of $1)" = nvme ]; }
}
# released_within SECONDS VF: poll every 0.1 s until drivers_back, then devices_back must be
# clean too; sets rel_ms. On a timeout, sends what the devpass processes are doing.
released_within() {
    local t0 i=0
    t0=$(now_ms)
    while ! drivers_back "$2"; do
        if [ $i -ge $(($1 * 10)) ]; then
            rel_ms=$(( $(now_ms) - t0 ))
            emit release-stuck sh -c 'for p in /proc/[0-9]*; do c=$(tr "\0" " " <$p/cmdline 2>/dev/null); case $c in *devpass*|*qemu*) echo "== ${p#/proc/} $(cut -d" " -f3 $p/stat) $c"; cat $p/stack 2>/dev/null | head -n 12;; esac; done; for f in /var/lib/devpass/vm/*/supervisor.log; do echo "== $f"; tail -n 20 $f; done'
            return 1
        fi
        sleep 0.1; i=$((i + 1))
    done
    rel_ms=$(( $(now_ms) - t0 ))
    [ -z "$(devices_back "$2")" ]
}

dp pool-create pool create $POOL --type sriov-vf --on-release restore --description "VFs of $PF"
dp pool-rule pool rule add $POOL "physfn=$PF"
expect "pool $POOL of the VFs of $PF (pool create, pool rule add physfn=$PF)" "" \
    "$([ "$rc" = 0 ] || echo "exit $rc: $(errline)") $(changed_since /tmp/state.0)"

# ---------------------------------------------------------- t1: create --start
t0=$(now_ms)
dp t1-create vm create t1 $VMARGS --append "console=ttyS0 quiet devpass_nested=stay" \
    --passthrough $PASSDEV --pool $POOL --cloud-init /vm/user-data --start
t1_start_ms=$(( $(now_ms) - t0 ))
T1VF=$(taken_vf)
qpid=$(vm_pid t1)
bad=
[ "$rc" = 0 ] || bad="exit $rc: $(errline);"
[ -n "$qpid" ] && kill -0 "$qpid" 2>/dev/null || bad="$bad no running QEMU from /run/devpass/vm/t1/qemu.pid;"
[ "$(drv_of $PASSDEV)" = vfio-pci ] || bad="$bad $PASSDEV on $(drv_of $PASSDEV);"
[ -n "$T1VF" ] || bad="$bad no VF of $POOL on vfio-pci;"
# tying the pool's claim to QEMU's pid must not meet QEMU itself as a user of the VF
grep -qE 'WARN|warn ' /tmp/dp.out && bad="$bad a warning: $(grep -E 'WARN|warn ' /tmp/dp.out | head -n 2 | tr '\n' ' ');"
expect "vm create t1 --passthrough $PASSDEV --pool $POOL --cloud-init --start: exit 0 in $t1_start_ms ms, QEMU running (pid $qpid), $PASSDEV and ${T1VF:-a VF} on vfio-pci" "" "$bad"
T1UP=0
if [ -n "$qpid" ] && kill -0 "$qpid" 2>/dev/null; then
    T1UP=1
    if wait_text /tmp/t1.log '^NESTED-READY' "$NESTED_WAIT" devpass vm log t1; then
        ok "vm log t1: the nested guest printed NESTED-READY $waited_ms ms after vm create returned"
    else
        nok "vm log t1: the nested guest prints NESTED-READY" "not within ${NESTED_WAIT}s; vm log: $(tail -n 5 /tmp/t1.log | tr '\n' ';' | cut -c1-300)"
    fi
    VFID=$(ids_of "${T1VF:-$VF1}")
    serial_checks "vm log t1" /tmp/t1.log /vm/user-data
    dp t1-log vm log t1
    dp t1-show vm show t1 --json
    dp list-running list --json
    emit ps-running sh -c 'for p in /proc/[0-9]*; do c=$(tr "\0" " " <$p/cmdline 2>/dev/null); case $c in *qemu*|*devpass*) echo "${p#/proc/} $c";; esac; done'

    # ------------------------------------------------------ refusals while t1 runs
    state >/tmp/state.run
    dp t1-start-again vm start t1
    expect_refused "vm start t1 while it runs: exit 1, says it runs, nothing changed" \
        "running|already|active|started" /tmp/state.run
    dp t3-create vm create t3 $VMARGS --append "console=ttyS0 quiet" --passthrough $PASSDEV
    if [ "$rc" = 0 ]; then
        # the definition is fine; taking the device at start is what must fail
        dp t3-start vm start t3
        step="vm start t3"
    else
        step="vm create t3"
    fi
    bad=
    kill -0 "$qpid" 2>/dev/null || bad="t1's QEMU died;"
    p3=$(vm_pid t3)
    [ -n "$p3" ] && kill -0 "$p3" 2>/dev/null && bad="$bad t3's QEMU runs;"
    expect_refused "a second VM asking for $PASSDEV, which t1 has ($step): exit 1, the device named, nothing changed $bad" \
        "${PASSDEV#0000:}|in use|t1|taken|busy|claimed" /tmp/state.run
    dp t3-destroy vm destroy t3
    dp t1-destroy-running vm destroy t1
    bad=
    kill -0 "$qpid" 2>/dev/null || bad="t1's QEMU is gone;"
    [ -d /var/lib/devpass/vm/t1 ] || bad="$bad /var/lib/devpass/vm/t1 is gone;"
    expect_refused "vm destroy t1 while it runs, without --force: exit 1, t1 still running, nothing changed $bad" \
        "running|force|stop" /tmp/state.run

    # ------------------------------------------------------ stop
    t0=$(now_ms)
    dp t1-stop vm stop t1
    t1_stop_ms=$(( $(now_ms) - t0 ))
    bad=
    [ "$rc" = 0 ] || bad="exit $rc: $(errline);"
    kill -0 "$qpid" 2>/dev/null && bad="$bad QEMU $qpid still running;"
    bad="$bad $(devices_back "$T1VF")"
    [ -e "/dev/vfio/$(group_of $PASSDEV)" ] && bad="$bad /dev/vfio/$(group_of $PASSDEV) still there;"
    expect "vm stop t1: exit 0 in $t1_stop_ms ms, QEMU gone, $PASSDEV on e1000e and $T1VF on nvme again, nothing else changed" "" "$bad"
    vm_log t1
    grep -q '^NESTED-POWERDOWN' /tmp/t1.log && note "vm stop t1: the nested guest saw the ACPI power button and powered off"
    emit log-t1 cat /tmp/t1.log
    dp list-stopped list --json
    dp pool-after-t1 pool show $POOL --json
    [ -n "$T1VF" ] && wait_nvme_live "$T1VF" 50 >/dev/null
    dp t1-stop-again vm stop t1
    expect_refused "vm stop t1 when it is stopped: exit 1, says so, nothing changed" \
        "not running|stopped|inactive|no .*running" /tmp/state.0
fi
state_restore "t1"

# ---------------------------------------------------------- t2: kill -9 of QEMU
dp t2-create vm create t2 $VMARGS --append "console=ttyS0 quiet devpass_nested=deaf" \
    --passthrough $PASSDEV --pool $POOL --ssh-key /vm/id_ed25519.pub --start
T2VF=$(taken_vf)
qpid=$(vm_pid t2)
if [ "$rc" = 0 ] && [ -n "$qpid" ] && kill -0 "$qpid" 2>/dev/null; then
    ok "vm create t2 --ssh-key --start: QEMU running (pid $qpid), $PASSDEV on $(drv_of $PASSDEV), ${T2VF:-no VF} on vfio-pci"
    if wait_text /tmp/t2.log '^NESTED-READY' "$NESTED_WAIT" devpass vm log t2; then
        key=$(cut -d' ' -f1-2 /vm/id_ed25519.pub)
        bad=
        grep -q '^SEED device=.* label=cidata ' /tmp/t2.log || bad="no seed labelled cidata;"
        grep '^SEED user-data: ' /tmp/t2.log | grep -qF "$key" || bad="$bad the key is not in user-data;"
        grep '^SEED user-data: ' /tmp/t2.log | grep -qiE ': *(password|passwd|plain_text_passwd|chpasswd) *:' &&
            bad="$bad user-data sets a password: $(grep -iE 'passw' /tmp/t2.log | tr '\n' ';' | cut -c1-200)"
        expect "vm log t2: the --ssh-key seed read inside the nested guest carries the key and no password" "" "$bad"
    else
        nok "vm log t2: the nested guest prints NESTED-READY" "not within ${NESTED_WAIT}s; vm log: $(tail -n 5 /tmp/t2.log | tr '\n' ';' | cut -c1-300)"
    fi
    emit log-t2 cat /tmp/t2.log
    t0=$(now_ms)
    kill -9 "$qpid"
    if released_within "$RELEASE_WAIT" "$T2VF"; then
        ok "kill -9 of t2's QEMU: $PASSDEV back on e1000e and $T2VF on nvme $rel_ms ms later, no command run"
    else
        nok "kill -9 of t2's QEMU: devices released with no command run" "after ${RELEASE_WAIT}s: $PASSDEV on $(drv_of $PASSDEV), $T2VF on $(drv_of $T2VF); supervisor: $(grep -hv 'watched' /var/lib/devpass/vm/t2/supervisor.log 2>/dev/null | tr '\n' ';' | cut -c1-400)"
    fi
    note "kill -9 release took $rel_ms ms"
    echo "release_ms=$rel_ms" >/tmp/rel.txt
    emit t2-release cat /tmp/rel.txt
    dp t2-show vm show t2 --json
    # the README's walkthrough shows these two as text
    dp t2-show-text vm show t2
    dp t2-devices-text list -s "${PASSDEV#0000:},${T2VF#0000:}"
    dp list-killed list --json
    dp pool-after-t2 pool show $POOL --json
else
    nok "vm create t2 --ssh-key --start: QEMU running" "exit $rc: $(errline)"
fi
[ -n "$T2VF" ] && wait_nvme_live "$T2VF" 50 >/dev/null
state_restore "t2"

# ---------------------------------------------------------- t4: the guest powers off
dp t4-create vm create t4 $VMARGS --append "console=ttyS0 quiet devpass_nested=poweroff" \
    --passthrough $PASSDEV --pool $POOL --start
T4VF=$(taken_vf)
qpid=$(vm_pid t4)
if [ "$rc" = 0 ]; then
    if wait_text /tmp/t4.log '^NESTED-POWEROFF' "$NESTED_WAIT" devpass vm log t4 && released_within "$RELEASE_WAIT" "$T4VF"; then
        ok "t4 powers itself off: $PASSDEV and ${T4VF:-the VF} back $rel_ms ms after its last line was seen, no command run"
    else
        nok "t4 powers itself off: devices released" "$PASSDEV on $(drv_of $PASSDEV), $T4VF on $(drv_of $T4VF); log: $(tail -n 3 /tmp/t4.log | tr '\n' ';')"
    fi
    emit log-t4 cat /tmp/t4.log
else
    nok "vm create t4 --start (a guest that powers itself off)" "exit $rc: $(errline)"
fi
[ -n "$T4VF" ] && wait_nvme_live "$T4VF" 50 >/dev/null
state_restore "t4"

# ---------------------------------------------------------- destroy
for n in t1 t2 t4; do
    dp "$n-destroy" vm destroy $n
    expect "vm destroy $n (stopped): exit 0, /var/lib/devpass/vm/$n and /run/devpass/vm/$n gone" "" \
        "$([ "$rc" = 0 ] || echo "exit $rc: $(errline)") $([ -e /var/lib/devpass/vm/$n ] && echo "/var/lib/devpass/vm/$n left") $([ -e /run/devpass/vm/$n ] && echo "/run/devpass/vm/$n left")"
done
dp vm-list vm list --json
left=$(qemu_pids)
expect "no QEMU left running at the end" "" "$([ -n "$left" ] && echo "pids $left")"
emit dmesg dmesg
emit state-final state
data_close
exit 0
