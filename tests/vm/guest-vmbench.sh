#!/bin/sh
# Runs inside the vmbench-boot guest (tests/vm/run.sh vmbench, driven by bench/vm-bench.sh):
# the vm boot's machine (-cpu max: KVM in the guest). Times starting and stopping a VM
# with 1 and with 4 passed devices, two ways:
#   devpass  `devpass vm start NAME` (returns once QEMU runs) and `devpass vm stop NAME`
#            (returns once the devices are back on their drivers)
#   hand     the same QEMU command line (`devpass vm start NAME --dry-run`) run by hand on
#            devices bound by a bare sysfs loop (driver_override + unbind + drivers_probe);
#            stop = QMP system_powerdown (socat), wait for QEMU to exit, a reset of each device
#            through its sysfs reset file (devpass resets named devices at stop too), the sysfs loop back
# Both guests are the nested initramfs with devpass_nested=stay: they power off on the ACPI
# power button. Each run waits for NESTED-READY before stopping (not timed), so both stop a
# booted guest. Results go to the host as "@@BEGIN vmbench@@" lines:
#   METHOD PHASE NDEV RUN MS OK
# Kernel argument devpass_vmbench_runs=N (default 5) timed runs after one warm-up (run 0).
T="vm[vmbench]"
. /tests/guest-lib.sh || exit 2   # only the harness guest has it

RUNS=5
for arg in $(cat /proc/cmdline); do
    case $arg in devpass_vmbench_runs=*) RUNS=${arg#devpass_vmbench_runs=} ;; esac
done
PF=0000:02:00.0
VF1=0000:02:00.1 VF2=0000:02:00.2
SET1="0000:04:00.0"
SET4="0000:04:00.0 0000:01:00.0 $VF1 $VF2"
KERNEL=/vm/vmlinuz INITRD=/vm/initrd.img

data_open vmbench
check_root
setup_coldplug
setup_sriov 2 1
modprobe kvm_amd && [ -c /dev/kvm ] && ok "kvm: /dev/kvm" || nok "kvm: /dev/kvm" "kvm_amd did not load"
for v in $VF1 $VF2; do echo >"/sys/bus/pci/devices/$v/driver_override"; wait_nvme_live "$v" 50 >/dev/null; done
state >/tmp/state.0
if ! devpass vm --help >/dev/null 2>&1; then
    nok "vmbench: devpass vm available" "devpass vm --help failed"
    data_close
    exit 0
fi

# ------------------------------------------------------------------ helpers
# drivers_now ADDRS: "ADDR DRIVER" per device
drivers_now() { for a in $1; do echo "$a $(drv_of $a)"; done; }
# all_on DRIVER ADDRS: every device is on DRIVER
all_on() { local a; for a in $2; do [ "$(drv_of $a)" = "$1" ] || return 1; done; }
# back_ok: every device on the driver it had (state.0; driver links only)
back_ok() {
    local a d o
    while read -r a d o; do
        case " $1 " in *" $a "*) [ "$(drv_of $a)" = "$d" ] || return 1 ;; esac
    done </tmp/state.0
}
wait_ready() {
    local i=0
    while [ $i -lt 300 ]; do   # 60 s: a nested guest on KVM is ready in a few
        tr -d '\r' <"$1" 2>/dev/null | grep -q '^NESTED-READY' && return 0
        sleep 0.2; i=$((i + 1))
    done
    return 1
}
pid_gone() {
    local i=0
    while kill -0 "$1" 2>/dev/null; do [ $i -ge 600 ] && return 1; sleep 0.05; i=$((i + 1)); done
}
# the bare sysfs loop, both ways (the PF has sriov_drivers_autoprobe=0: a VF is probed only
# through a driver_override, so the way back names the driver, then clears it)
sysfs_to_vfio() {
    local a p
    for a in $1; do
        p=/sys/bus/pci/devices/$a
        echo vfio-pci >"$p/driver_override"
        [ -e "$p/driver" ] && echo "$a" >"$p/driver/unbind"
        echo "$a" >/sys/bus/pci/drivers_probe
    done
}
sysfs_back() {
    local a p d o
    for a in $1; do
        p=/sys/bus/pci/devices/$a
        d=$(grep "^$a " /tmp/state.0 | cut -d' ' -f2)
        # reset on vfio-pci as devpass's stop does (what the guest left is not the host's)
        [ -e "$p/reset" ] && echo 1 >"$p/reset" 2>/dev/null
        echo "$d" >"$p/driver_override"
        echo "$a" >"$p/driver/unbind"
        echo "$a" >/sys/bus/pci/drivers_probe
        echo >"$p/driver_override"
    done
}
# each row is also a console note: a bench that runs out of time still shows how far it got
row() { echo "$1 $2 $3 $4 $5 $6" >>/tmp/vmbench.txt; note "row $1 $2 $3 $4 $5 ms ok=$6"; }

# one_devpass NAME NDEV RUN SET
one_devpass() {
    local t0 t1 okv log=/var/lib/devpass/vm/$1/serial.log
    : >"$log" 2>/dev/null
    t0=$(now_ms); devpass vm start "$1" >/tmp/out 2>&1; r=$?; t1=$(now_ms)
    okv=0; [ $r = 0 ] && all_on vfio-pci "$4" && okv=1
    row devpass start "$2" "$3" $((t1 - t0)) $okv
    [ $okv = 1 ] || note "devpass start $1: exit $r $(errline /tmp/out)"
    t0=$(now_ms)
    wait_ready "$log" && note "devpass $1 run $3: NESTED-READY after $(( $(now_ms) - t0 )) ms" ||
        note "devpass $1 run $3: no NESTED-READY: $(tail -n 3 "$log" 2>/dev/null | tr '\r\n' '  ' | cut -c1-200)"
    t0=$(now_ms); devpass vm stop "$1" >/tmp/out 2>&1; r=$?; t1=$(now_ms)
    okv=0; [ $r = 0 ] && back_ok "$4" && okv=1
    row devpass stop "$2" "$3" $((t1 - t0)) $okv
    [ $okv = 1 ] || note "devpass stop $1: exit $r $(errline /tmp/out) $(drivers_now "$4" | tr '\n' ' ')"
}
# one_hand NAME NDEV RUN SET: the command line devpass would run, by hand
one_hand() {
    # the positional parameters become QEMU's argv below: keep ours first
    local name=$1 nd=$2 rn=$3 set=$4 t0 t1 okv qpid
    local run=/run/devpass/vm/$1 log=/var/lib/devpass/vm/$1/serial.log
    mkdir -p "$run"; : >"$log"
    t0=$(now_ms)
    sysfs_to_vfio "$set"
    eval "set -- $(cat /tmp/cmd-$name)"
    "$@" >/tmp/out 2>&1; r=$?
    t1=$(now_ms)
    okv=0; [ $r = 0 ] && all_on vfio-pci "$set" && okv=1
    row hand start "$nd" "$rn" $((t1 - t0)) $okv
    [ $okv = 1 ] || note "hand start $name: exit $r $(errline /tmp/out)"
    t0=$(now_ms)
    wait_ready "$log" && note "hand $name run $rn: NESTED-READY after $(( $(now_ms) - t0 )) ms" ||
        note "hand $name run $rn: no NESTED-READY: $(tail -n 3 "$log" 2>/dev/null | tr '\r\n' '  ' | cut -c1-200)"
    qpid=$(cat "$run/qemu.pid" 2>/dev/null)
    t0=$(now_ms)
    printf '{"execute":"qmp_capabilities"}\n{"execute":"system_powerdown"}\n' |
        socat -t 1 - "UNIX-CONNECT:$run/qmp.sock" >/dev/null 2>&1
    pid_gone "$qpid"
    sysfs_back "$set"
    t1=$(now_ms)
    okv=0; back_ok "$set" && okv=1
    row hand stop "$nd" "$rn" $((t1 - t0)) $okv
}

: >/tmp/vmbench.txt
for n in 1 4; do
    eval "set=\$SET$n"
    args=
    for a in $set; do args="$args --passthrough $a"; done
    dp "create-$n" vm create "b$n" --kernel $KERNEL --initrd $INITRD --memory 256M --cpus 1 \
        --graphics none --append "console=ttyS0 quiet devpass_nested=stay" $args
    [ "$rc" = 0 ] || { nok "vmbench: vm create b$n ($set)" "exit $rc: $(errline)"; continue; }
    devpass vm start "b$n" --dry-run >/tmp/cmd-b$n 2>/tmp/err
    send_run "cmd-$n" "devpass vm start b$n --dry-run" $? /tmp/cmd-b$n /tmp/err 0 0
    run=0
    while [ $run -le "$RUNS" ]; do
        # alternate which goes first
        if [ $((run % 2)) = 0 ]; then
            one_devpass "b$n" $n $run "$set"; one_hand "b$n" $n $run "$set"
        else
            one_hand "b$n" $n $run "$set"; one_devpass "b$n" $n $run "$set"
        fi
        run=$((run + 1))
    done
    devpass vm destroy "b$n" >/dev/null 2>&1
    state_restore "vmbench $n"
done
emit vmbench cat /tmp/vmbench.txt
bad=$(awk '$6 != 1' /tmp/vmbench.txt | wc -l)
expect "vmbench: every timed start and stop ended in the expected state" "" "$([ "$bad" = 0 ] || echo "$bad rows not ok")"
data_close
exit 0
