#!/bin/bash
# Secure Boot, end to end, on THIS machine (not nested: OVMF under TCG already takes 20-50 s
# here, inside a TCG guest it would take many minutes). devpass runs against a generated
# fixture root (tests/fixtures/mkfixture.py: --root, nothing touches this machine's /sys),
# with Debian's OVMF copied into it and the disk prepare.sh builds offline from the signed
# shim, GRUB and kernel (tests/vm/.cache/secureboot/disk.img). No device is passed; QEMU is
# this machine's, TCG (the fixture has no /dev/kvm).
#
#   devpass vm create sb1 /images/sb.img --secure-boot --memory 512M --cpus 1 --graphics none --start
#   wait (up to DEVPASS_SB_TIMEOUT, default 240 s) for `secureboot: Secure boot enabled` in
#   `devpass vm log sb1`; the nested initramfs powers off after printing it, the supervisor
#   records the end; vm destroy sb1.
# Without `devpass vm` (an older build) the same disk is booted by hand with the same
# firmware options, so the disk is tested either way, and the devpass steps say
# `not ok - vm[secureboot] ...: devpass vm not available`.
#
# Output: ok / not ok lines (docs/contracts.md), `#` notes with the wall times. Exits 0 when
# it ran, 1 (after a not ok line) when it could not run at all.
set -u
VM_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$VM_DIR/../.." && pwd)
CACHE=${DEVPASS_VM_CACHE:-$VM_DIR/.cache}
BUILD=${DEVPASS_BUILD:-$REPO/build}
DEVPASS=${DEVPASS:-$BUILD/devpass}
QEMU=${DEVPASS_VM_QEMU:-qemu-system-x86_64}
WAIT=${DEVPASS_SB_TIMEOUT:-240}
T="vm[secureboot]"
OVMF=/usr/share/OVMF
export DEVPASS_VM_CACHE=$CACHE

ok() { echo "ok - $T $*"; }
nok() { echo "not ok - $T $1: $2"; }
note() { echo "# $T $*"; }
now_ms() { date +%s%3N; }

for f in "$OVMF/OVMF_CODE_4M.secboot.fd" "$OVMF/OVMF_VARS_4M.ms.fd"; do
    [ -f "$f" ] || { nok "firmware" "$f missing (Debian package ovmf)"; exit 1; }
done
command -v "$QEMU" >/dev/null 2>&1 || { nok "qemu" "$QEMU not installed (qemu-system-x86)"; exit 1; }

# the disk (cached; shares the cache and its lock with run.sh)
mkdir -p "$CACHE/logs"
exec 9>"$CACHE/.lock"
flock -w "${DEVPASS_VM_LOCK_WAIT:-900}" 9 || { nok "prepare" "another run holds $CACHE/.lock"; exit 1; }
t0=$(date +%s)
if ! DEVPASS_VM_PREPARE_ONLY=secureboot "$VM_DIR/prepare.sh" >"$CACHE/logs/prepare-secureboot.log" 2>&1; then
    nok "prepare" "$(grep -m1 error "$CACHE/logs/prepare-secureboot.log" || tail -n1 "$CACHE/logs/prepare-secureboot.log")"
    exit 1
fi
flock -u 9
note "prepare took $(( $(date +%s) - t0 ))s"
DISK=$CACHE/secureboot/disk.img
if [ ! -s "$DISK" ]; then
    nok "Secure Boot disk built offline from shim-signed, grub-efi-amd64-signed and the signed kernel" \
        "$(grep -m1 'note:.*Secure Boot\|note:.*no ' "$CACHE/logs/prepare-secureboot.log")"
    exit 0
fi

# the fixture root: sysfs etc. from mkfixture.py, OVMF and the disk inside it
WORK=$(mktemp -d /tmp/devpass-sb.XXXXXX)
R=$WORK/root
LOG=$CACHE/logs/secureboot
rm -rf "$LOG"; mkdir -p "$LOG"
HANDPID=
cleanup() {
    local p
    if [ -x "$DEVPASS" ] && [ -d "$R" ]; then
        "$DEVPASS" --root "$R" vm destroy sb1 --force >/dev/null 2>&1
    fi
    for p in $HANDPID $(cat "$R/run/devpass/vm/sb1/qemu.pid" 2>/dev/null); do
        kill -KILL "$p" 2>/dev/null
    done
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'echo "not ok - $T interrupted"; exit 130' INT TERM
python3 "$REPO/tests/fixtures/mkfixture.py" "$R" >"$LOG/mkfixture.log" 2>&1 ||
    { nok "fixture" "mkfixture.py failed: $(tail -n1 "$LOG/mkfixture.log")"; exit 1; }
mkdir -p "$R$OVMF" "$R/images" "$R/usr/share/qemu/firmware" "$R/var/lib" "$R/run"
cp -P "$OVMF"/OVMF_CODE_4M*.fd "$OVMF"/OVMF_VARS_4M*.fd "$R$OVMF/" 2>/dev/null   # -P: Debian's .ms.fd links stay links
cp /usr/share/qemu/firmware/*.json "$R/usr/share/qemu/firmware/" 2>/dev/null
cp --sparse=always "$DISK" "$R/images/sb.img"
rm -f "$R/dev/kvm"

# wait_line FILE SECONDS [CMD...]: poll until FILE (refreshed from CMD) has the secureboot
# line; sets waited_ms
SBLINE='secureboot: Secure boot enabled'
wait_line() {
    local f=$1 secs=$2 t0
    shift 2
    t0=$(now_ms)
    while :; do
        [ $# -gt 0 ] && "$@" >"$f" 2>/dev/null
        grep -q "$SBLINE" "$f" 2>/dev/null && break
        [ $(( $(now_ms) - t0 )) -ge $((secs * 1000)) ] && { waited_ms=$(( $(now_ms) - t0 )); return 1; }
        sleep 1
    done
    waited_ms=$(( $(now_ms) - t0 ))
}
serial_tail() { tr -d '\r' <"$1" | sed 's/\x1b\[[0-9;?]*[a-zA-Z]//g' | grep -v '^[[:space:]]*$' | tail -n 4 | tr '\n' '|' | cut -c1-300; }

HAVE_VM=0
[ -x "$DEVPASS" ] && "$DEVPASS" vm --help >/dev/null 2>&1 && HAVE_VM=1

if [ "$HAVE_VM" = 0 ]; then
    # ------------------------------------------------------------ by hand
    cp "$OVMF/OVMF_VARS_4M.ms.fd" "$WORK/vars.fd"
    t0=$(now_ms)
    timeout -k 5 "$WAIT" "$QEMU" -accel tcg -machine q35,smm=on -cpu max -m 512 -smp 1 \
        -nodefaults -display none -no-user-config \
        -global driver=cfi.pflash01,property=secure,value=on \
        -drive if=pflash,format=raw,unit=0,readonly=on,file="$OVMF/OVMF_CODE_4M.secboot.fd" \
        -drive if=pflash,format=raw,unit=1,file="$WORK/vars.fd" \
        -drive file="$R/images/sb.img",format=raw,if=virtio,snapshot=on \
        -serial file:"$LOG/serial.log" </dev/null >"$LOG/qemu.log" 2>&1 &
    HANDPID=$!
    if wait_line "$LOG/serial.log" "$WAIT"; then
        ok "the offline Secure Boot disk boots by hand (OVMF secboot + ms VARS, smm=on): '$SBLINE' after $waited_ms ms"
    else
        nok "the offline Secure Boot disk boots by hand to '$SBLINE'" "not within ${WAIT}s; serial: $(serial_tail "$LOG/serial.log")"
    fi
    wait "$HANDPID" 2>/dev/null; HANDPID=
    nok "vm create sb1 IMAGE --secure-boot --start: '$SBLINE' in vm log sb1" "devpass vm not available"
    exit 0
fi

# ------------------------------------------------------------------ with devpass vm
dpr() { DEVPASS_QEMU=$QEMU "$DEVPASS" --root "$R" "$@"; }
# the exact command line first (--dry-run changes nothing)
dpr vm create sb1 /images/sb.img --secure-boot --memory 512M --cpus 1 --graphics none --dry-run \
    >"$LOG/cmdline.txt" 2>&1
bad=
for w in OVMF_CODE_4M.secboot.fd 'smm=on' 'cfi.pflash01,property=secure,value=on' OVMF_VARS; do
    grep -qF -- "$w" "$LOG/cmdline.txt" || bad="$bad no $w;"
done
[ -z "$bad" ] && ok "the QEMU command line has OVMF_CODE_4M.secboot.fd, the VM's OVMF_VARS copy, smm=on and the secure flash" ||
    nok "the QEMU command line has the Secure Boot firmware options" "$bad (vm create --dry-run: $(tr "\n" " " <"$LOG/cmdline.txt" | cut -c1-600))"
t0=$(now_ms)
dpr vm create sb1 /images/sb.img --secure-boot --memory 512M --cpus 1 --graphics none --start \
    >"$LOG/create.out" 2>"$LOG/create.err"
rc=$?
t1=$(now_ms)
if [ "$rc" != 0 ]; then
    nok "vm create sb1 /images/sb.img --secure-boot --memory 512M --cpus 1 --graphics none --start: exit 0" \
        "exit $rc: $(tr '\n' ' ' <"$LOG/create.err" | cut -c1-400)"
    exit 0
fi
ok "vm create sb1 /images/sb.img --secure-boot --memory 512M --cpus 1 --graphics none --start: exit 0 in $((t1 - t0)) ms"
if wait_line "$LOG/vmlog.txt" "$WAIT" dpr vm log sb1; then
    ok "vm log sb1: the guest logs '$SBLINE' ($waited_ms ms after vm create returned; shim -> GRUB -> signed kernel under TCG)"
else
    nok "vm log sb1: the guest logs '$SBLINE'" "not within ${WAIT}s; vm log: $(serial_tail "$LOG/vmlog.txt")"
fi
grep -q 'Kernel is locked down from EFI Secure Boot' "$LOG/vmlog.txt" && note "the kernel is locked down from EFI Secure Boot"
# the initramfs powers off after printing: QEMU exits by itself, the supervisor records it
i=0
while [ $i -lt 60 ]; do
    dpr vm show sb1 --json >"$LOG/show.json" 2>/dev/null
    grep -qE '"state": *"(stopped|exited|off)"' "$LOG/show.json" && break
    sleep 1; i=$((i + 1))
done
dpr vm destroy sb1 >"$LOG/destroy.out" 2>&1
rc=$?
[ "$rc" = 0 ] && [ ! -e "$R/var/lib/devpass/vm/sb1" ] &&
    ok "vm destroy sb1 after the guest powered off: exit 0, its state directory gone" ||
    nok "vm destroy sb1 after the guest powered off" "exit $rc: $(tr '\n' ' ' <"$LOG/destroy.out" | cut -c1-300); show: $(head -c 300 "$LOG/show.json")"
exit 0
