#!/bin/bash
# The library's boundary, checked on the built tree (ninja -C build first). Prints one
# "ok - NAME" / "not ok - NAME: WHY" line per check:
#   - libdevpass.so exports exactly what include/devpass.h declares (the version script
#     src/lib/libdevpass.sym keeps the rest local);
#   - the command includes no library header but devpass.h;
#   - no library file includes or calls a layer above its own (the order is the table in
#     docs/architecture.md, "Layers");
#   - library messages name no command-line option and no devpass command (messages.py).
set -u
top=$(cd "$(dirname "$0")/../.." && pwd)
build=${DEVPASS_BUILD:-$top/build}
so=$build/src/lib/libdevpass.so
fails=0

ok() { echo "ok - boundary: $1"; }
notok() { echo "not ok - boundary: $1: $2"; fails=$((fails + 1)); }

exports_check() {
	if [ ! -e "$so" ]; then
		notok "exports" "$so is missing: build first (ninja -C build)"
		return
	fi
	local declared exported extra missing
	declared=$("$top/tests/boundary/header-api.sh") || { notok "exports" "devpass.h does not compile"; return; }
	exported=$(nm -D --defined-only "$so" | awk '$2 ~ /^[TDBRVWi]$/ {sub(/@.*/, "", $3); print $3}' | sort -u)
	extra=$(comm -13 <(echo "$declared") <(echo "$exported") | tr '\n' ' ')
	missing=$(comm -23 <(echo "$declared") <(echo "$exported") | tr '\n' ' ')
	if [ -n "$extra" ]; then
		notok "libdevpass.so exports only what devpass.h declares" \
			"exported but not declared (internal: drop them from src/lib/libdevpass.sym): $extra"
	else
		ok "libdevpass.so exports only what devpass.h declares ($(echo "$exported" | wc -l) symbols)"
	fi
	if [ -n "$missing" ]; then
		notok "libdevpass.so exports everything devpass.h declares" \
			"declared but not exported (add them to src/lib/libdevpass.sym, or define them): $missing"
	else
		ok "libdevpass.so exports everything devpass.h declares"
	fi
}

cli_includes_check() {
	local bad
	bad=$(cd "$top" && grep -nE '^#[[:space:]]*include[[:space:]]*"' src/cli/*.c src/cli/*.h |
		while IFS= read -r line; do
			local file=${line%%:*} inc
			inc=$(sed -E 's/.*include[[:space:]]*"([^"]+)".*/\1/' <<<"$line")
			[ "$inc" = devpass.h ] && continue
			[ "$inc" = alloc-util.h ] && continue   # src/common, shared by both
			[ -e "$(dirname "$file")/$inc" ] && continue
			echo "$file includes \"$inc\""
		done)
	if [ -n "$bad" ]; then
		notok "the command includes only devpass.h of the library" "$(tr '\n' ';' <<<"$bad")"
	else
		ok "the command includes only devpass.h of the library"
	fi
}

exports_check
cli_includes_check
"$top/tests/boundary/layers.py" --top "$top" --build "$build" || fails=$((fails + 1))
"$top/tests/boundary/messages.py" --top "$top" || fails=$((fails + 1))
[ "$fails" -eq 0 ]
