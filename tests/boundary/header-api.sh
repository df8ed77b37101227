#!/bin/bash
# Prints the functions and variables src/lib/include/devpass.h declares, one a line, sorted:
# asked of the compiler (-aux-info), not guessed from the text.
set -eu
top=$(cd "$(dirname "$0")/../.." && pwd)
cc=${CC:-cc}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
printf '#include "devpass.h"\n' >"$tmp/api.c"
"$cc" -std=gnu11 -D_GNU_SOURCE -fsyntax-only -aux-info "$tmp/api.aux" \
	-I"$top/src/lib/include" "$tmp/api.c"
grep -F "/* $top/src/lib/include/devpass.h:" "$tmp/api.aux" |
	sed -E 's|^/\*[^*]*\*/ *||; s/^([^(]*[^A-Za-z0-9_])?([A-Za-z_][A-Za-z0-9_]*) \(.*/\2/' | sort -u
