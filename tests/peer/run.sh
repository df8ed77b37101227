#!/bin/sh
# Peer test: devpass vs lspci on every fixture scenario.
#
#   tests/peer/run.sh [--no-devpass] [--keep] [SCENARIO...]
#
# For each scenario a fixture root is generated into a temporary directory
# (tests/fixtures/mkfixture.py), then:
#   - lspci (-A linux-sysfs -O sysfs.path=ROOT/sys/bus/pci) is checked against the
#     fixture manifest (ids, class, prog-if, rev, subsystem, driver, NUMA, group,
#     names resolve) and `lspci -t` against the fixture topology;
#   - `devpass --root ROOT list --json` is compared field by field with lspci.
# One line per (scenario, field): `ok - peer ...` / `not ok - peer ...: why`.
#
# Environment: DEVPASS (default: build/devpass), LSPCI (default: lspci),
# PEER_BENCH_ARGS (bench size, default "--pfs 2 --vfs 64 --gpus 2"; the full
# bench tree is bench/list-bench.sh's job), TMPDIR.
# Exits 0 even when checks fail; non-zero only if it cannot run at all.

set -u
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
DEVPASS=${DEVPASS:-$top/build/devpass}
mkfixture="$top/tests/fixtures/mkfixture.py"
use_devpass=1
keep=0
scenarios=""
for a in "$@"; do
    case $a in
        --no-devpass) use_devpass=0 ;;
        --keep) keep=1 ;;
        -h|--help) sed -n '2,18p' "$0"; exit 0 ;;
        *) scenarios="$scenarios $a" ;;
    esac
done
[ -n "$scenarios" ] || scenarios="standard noiommu vfio-gpu bench"

if ! command -v python3 >/dev/null 2>&1; then
    echo "not ok - peer: python3 not found"; exit 1
fi
if ! command -v lspci >/dev/null 2>&1; then
    echo "not ok - peer: lspci not found (Debian/Ubuntu: apt-get install pciutils)"; exit 1
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/devpass-peer.XXXXXX") || {
    echo "not ok - peer: cannot create a temporary directory"; exit 1; }
cleanup() { [ "$keep" = 1 ] && echo "# fixtures kept in $work" || rm -rf "$work"; }
trap cleanup EXIT INT TERM

dp_arg=""
if [ "$use_devpass" = 1 ]; then
    dp_arg="--devpass $DEVPASS"
fi

for sc in $scenarios; do
    extra=""
    [ "$sc" = bench ] && extra=${PEER_BENCH_ARGS:---pfs 2 --vfs 64 --gpus 2}
    # shellcheck disable=SC2086
    if ! out=$(python3 "$mkfixture" --scenario "$sc" $extra "$work/$sc" 2>&1); then
        echo "not ok - peer $sc fixture: mkfixture.py failed: $(echo "$out" | tail -n 1)"
        continue
    fi
    echo "ok - peer $sc fixture"
    # shellcheck disable=SC2086
    python3 "$here/compare.py" --scenario "$sc" --root "$work/$sc" $dp_arg ||
        echo "not ok - peer $sc compare: compare.py crashed"
    [ "$keep" = 1 ] || rm -rf "${work:?}/$sc"
done
exit 0
