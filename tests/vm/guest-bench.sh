#!/bin/sh
# Runs inside the bench-boot guest (tests/vm/run.sh bench, driven by bench/bind-bench.sh):
# creates up to 64 SR-IOV VFs on QEMU's nvme (left offline and without a driver:
# sriov_drivers_autoprobe=0, so nothing but a driver_override makes a driver take them),
# then times binding all of them to vfio-pci and giving them back, three ways:
#   devpass    `devpass bind VF...` / `devpass restore VF...` (one process each)
#   shell      a busybox sh loop of the bare sysfs writes per VF: driver_override,
#              unbind (when bound), drivers_probe; back: clear driver_override, unbind,
#              drivers_probe
#   driverctl  `driverctl set-override VF vfio-pci` / `driverctl unset-override VF`
#              (Debian's bash script, one process per VF, saving to /etc/driverctl.d)
# Each run does the three in a rotating order; after every phase the state of every VF is
# checked. Results go to the host as "@@BEGIN bench@@" lines:
#   METHOD PHASE RUN MS NONZERO_EXITS STATE_OK
# plus `devpass bind --dry-run VF...` (method devpass, phase drybind: planning only) and,
# with the kernel argument devpass_bench_each=1, method devpass1: one devpass process per VF.
# Kernel argument devpass_bench_runs=N (default 5) sets the number of timed runs (after one
# untimed warm-up run, run 0).
T="vm[bench]"
. /tests/guest-lib.sh || exit 2   # only the harness guest has it

RUNS=5 EACH=0
for arg in $(cat /proc/cmdline); do
    case $arg in
        devpass_bench_runs=*) RUNS=${arg#devpass_bench_runs=} ;;
        devpass_bench_each=1) EACH=1 ;;
    esac
done

data_open bench
check_root
setup_coldplug
setup_sriov 64 0
note "bench: $(echo $vfs | wc -w) VFs, $RUNS runs"
NVF=$(echo $vfs | wc -w)

METHODS="devpass shell"
if command -v devpass >/dev/null 2>&1 && devpass bind --help >/dev/null 2>&1; then
    :
else
    METHODS="shell"
    nok "bench: devpass bind available" "devpass missing or without bind"
fi
[ "$EACH" = 1 ] && [ "$METHODS" != shell ] && METHODS="$METHODS devpass1"
if command -v driverctl >/dev/null 2>&1 && command -v bash >/dev/null 2>&1; then
    METHODS="$METHODS driverctl"
else
    nok "bench: driverctl and bash in the image" "missing (prepare.sh could not download driverctl?)"
fi

# ------------------------------------------------------------------ the three ways
bind_devpass() { devpass bind $vfs >/tmp/out 2>&1 || echo x >>/tmp/fails; }
restore_devpass() { devpass restore $vfs >/tmp/out 2>&1 || echo x >>/tmp/fails; }
# planning alone (inventory, groups, ledger look-up, no write): devpass's fixed cost
drybind_devpass() { devpass bind --dry-run $vfs >/tmp/out 2>&1 || echo x >>/tmp/fails; }
# one devpass process per VF, the way a script calling it per device would
bind_devpass1() { for v in $vfs; do devpass bind "$v" >>/tmp/out 2>&1 || echo x >>/tmp/fails; done; }
restore_devpass1() { for v in $vfs; do devpass restore "$v" >>/tmp/out 2>&1 || echo x >>/tmp/fails; done; }
bind_shell() {
    for v in $vfs; do
        p=/sys/bus/pci/devices/$v
        echo vfio-pci >"$p/driver_override" || echo x >>/tmp/fails
        [ -e "$p/driver" ] && { echo "$v" >"$p/driver/unbind" || echo x >>/tmp/fails; }
        echo "$v" >/sys/bus/pci/drivers_probe || echo x >>/tmp/fails
    done
}
restore_shell() {
    for v in $vfs; do
        p=/sys/bus/pci/devices/$v
        echo >"$p/driver_override" || echo x >>/tmp/fails
        [ -e "$p/driver" ] && { echo "$v" >"$p/driver/unbind" || echo x >>/tmp/fails; }
        echo "$v" >/sys/bus/pci/drivers_probe || echo x >>/tmp/fails
    done
}
bind_driverctl() {
    for v in $vfs; do driverctl set-override "$v" vfio-pci >>/tmp/out 2>&1 || echo x >>/tmp/fails; done
}
# unset-override reprobes and then exits 1 ("failed to bind device") when no driver takes
# the VF, which is the expected end state here: counted, not an error of the benchmark
restore_driverctl() {
    for v in $vfs; do driverctl unset-override "$v" >>/tmp/out 2>&1 || echo x >>/tmp/fails; done
}

# state_is WANT_DRIVER WANT_OVERRIDE: every VF has that driver / driver_override ("-": none)
state_is() {
    for v in $vfs; do
        [ "$(drv_of "$v")" = "$1" ] && [ "$(ovr_of "$v")" = "$2" ] || { echo "$v: $(drv_of "$v")/$(ovr_of "$v")"; return 1; }
    done
    return 0
}

# phase METHOD PHASE RUN: time one phase and report it
phase() {
    : >/tmp/fails; : >/tmp/out
    sync
    t0=$(now_ms)
    "$2_$1"
    t1=$(now_ms)
    if [ "$2" = drybind ]; then
        bad=$(state_is - -)
    elif [ "$2" = bind ]; then
        bad=$(state_is vfio-pci vfio-pci)
    else
        bad=$(state_is - -)
    fi
    sok=1; [ -z "$bad" ] || sok=0
    echo "$1 $2 $3 $((t1 - t0)) $(wc -l </tmp/fails) $sok" >>/tmp/bench.txt
    if [ "$sok" = 0 ]; then
        echo "# state after $1 $2 run $3: $bad; output: $(tail -n 3 /tmp/out | tr '\n' ' ')" >>/tmp/bench.txt
        # put things back for the next phase
        [ "$2" = restore ] || return 0
        restore_shell >/dev/null 2>&1
    fi
}

if [ -z "$vfs" ]; then
    nok "bench: VFs created" "none"
else
    bad=$(state_is - -)
    if [ -z "$bad" ]; then
        ok "bench: $NVF VFs without a driver or driver_override"
    else
        nok "bench: $NVF VFs without a driver or driver_override" "$bad"
    fi
    : >/tmp/bench.txt
    echo "# vfs $NVF runs $RUNS methods $METHODS" >>/tmp/bench.txt
    run=0
    set -- $METHODS
    nm=$#
    while [ "$run" -le "$RUNS" ]; do
        # run 0 is the warm-up; the order of the methods rotates from run to run
        i=0
        while [ "$i" -lt "$nm" ]; do
            k=$(( (run + i) % nm + 1 ))
            m=$(eval echo "\${$k}")
            [ "$m" = devpass ] && phase devpass drybind "$run"
            phase "$m" bind "$run"
            phase "$m" restore "$run"
            i=$((i + 1))
        done
        run=$((run + 1))
    done
    emit bench cat /tmp/bench.txt
    bad=$(grep -c '^#.*state after' /tmp/bench.txt)
    if [ "$bad" = 0 ]; then
        ok "bench: every phase left every VF in the expected state"
    else
        nok "bench: every phase left every VF in the expected state" "$bad phases did not: $(grep '^#.*state after' /tmp/bench.txt | head -n 3 | tr '\n' ' ')"
    fi
fi
emit dmesg-tail sh -c 'dmesg | tail -n 40'
data_close
exit 0
