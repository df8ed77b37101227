#!/bin/bash
# Fuzzes the pool rule parser (dp_rule_parse, dp_rule_match) with libFuzzer.
#
#   tests/fuzz/run.sh [SECONDS]       build, then fuzz for SECONDS (default 20)
#   tests/fuzz/run.sh --repro FILE    run the target once on FILE (a crash file)
#
# The target is built with clang -fsanitize=fuzzer,address,undefined from the parser's
# sources alone (no meson: the rest of libdevpass is not needed) into build/fuzz/
# (DEVPASS_FUZZ_BUILD overrides). Seeds come from tests/fuzz/corpus/; what libFuzzer finds
# goes to build/fuzz/corpus/, crash files to build/fuzz/crash-*. Prints one line:
# "ok - fuzz: ..." or "not ok - fuzz: ...".
set -u
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
out=${DEVPASS_FUZZ_BUILD:-$top/build/fuzz}
cc=${CLANG:-clang}
secs=20 repro=
case ${1:-} in
	--repro) repro=${2:?--repro needs a file} ;;
	-h|--help) sed -n '2,11p' "$0"; exit 0 ;;
	'') ;;
	*[!0-9]*) echo "usage: $0 [SECONDS] | --repro FILE" >&2; exit 2 ;;
	*) secs=$1 ;;
esac

if ! command -v "$cc" >/dev/null 2>&1; then
	echo "not ok - fuzz: clang not installed (scripts/install-deps.sh test)"
	exit 1
fi

# the parser and what it calls; nothing that touches the filesystem
sources=(
	"$here/fuzz-rule.c"
	"$top/src/lib/pools/rule.c"
	"$top/src/lib/util/error.c"
	"$top/src/lib/util/strutil.c"
	"$top/src/lib/inventory/filter.c"
	"$top/src/lib/inventory/address.c"
)
mkdir -p "$out/corpus"
bin=$out/fuzz-rule
if ! "$cc" -std=gnu11 -D_GNU_SOURCE -g -O1 \
	-fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all \
	-I"$top/src/lib" -I"$top/src/common" -I"$top/src/lib/include" \
	"${sources[@]}" -o "$bin" >"$out/build.log" 2>&1; then
	why=$(grep -m1 -E 'error|cannot find' "$out/build.log")
	case $why in
		*fuzzer*|*clang_rt*) why="libFuzzer is missing (libclang-rt-14-dev): $why" ;;
	esac
	echo "not ok - fuzz: the target does not build: $why (see $out/build.log)"
	exit 1
fi

if [ -n "$repro" ]; then
	exec "$bin" "$repro"
fi

log=$out/fuzz.log
start=$SECONDS
"$bin" -max_total_time="$secs" -max_len=512 -timeout=10 -rss_limit_mb=2048 \
	-print_final_stats=1 -artifact_prefix="$out/" \
	-dict="$here/rule.dict" "$out/corpus" "$here/corpus" >"$log" 2>&1
rc=$?
took=$((SECONDS - start))
runs=$(sed -n 's/^Done \([0-9]*\) runs in \([0-9]*\) second.*/\1/p' "$log" | tail -n 1)
if [ "$rc" -eq 0 ] && [ -n "$runs" ]; then
	echo "ok - fuzz: rule parser, $runs runs in $took s, no crash"
	exit 0
fi
crash=$(sed -n 's/.*Test unit written to \(.*\)$/\1/p' "$log" | tail -n 1)
what=$(grep -m1 -E '^(fuzz-rule:|SUMMARY:|==[0-9]+==ERROR)' "$log")
tail -n 40 "$log" >&2
# a shorter input that fails the same way is easier to read
if [ -n "$crash" ] && [ -f "$crash" ] && "$bin" -minimize_crash=1 -max_total_time=10 \
	-exact_artifact_path="$crash.min" "$crash" >"$out/minimize.log" 2>&1 && [ -f "$crash.min" ]; then
	crash=$crash.min
fi
shown=
[ -n "$crash" ] && [ -f "$crash" ] && shown=" '$(head -c 120 "$crash" | tr -c '[:print:]' '?')'"
echo "not ok - fuzz: rule parser failed after $took s (exit $rc): ${what:-see $log}; input: ${crash:-none written}$shown (replay: tests/fuzz/run.sh --repro ${crash:-FILE})"
exit 1
