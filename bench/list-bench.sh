#!/bin/sh
# Benchmark `devpass list --json` against lspci on a ~10,000-function fake sysfs tree.
#
#   bench/list-bench.sh [--runs N] [--dir DIR] [--keep] [--pfs N --vfs N --gpus N] [--no-strace]
#
# --dir DIR   use (or generate into) DIR instead of a temporary directory
# --keep      keep the generated temporary tree and print its path
# Environment: DEVPASS (default: build/devpass).  See bench/README.md.
set -u
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/.." && pwd)
DEVPASS=${DEVPASS:-$top/build/devpass}
case " $* " in
    *" -h "*|*" --help "*) sed -n '2,9p' "$0"; exit 0 ;;
esac
exec python3 "$here/list_bench.py" --devpass "$DEVPASS" \
    --mkfixture "$top/tests/fixtures/mkfixture.py" "$@"
