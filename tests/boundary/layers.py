#!/usr/bin/env python3
"""Checks that no library file depends on a layer above its own.

The layers are the table under "## Layers" in docs/architecture.md: lines
"  N  unit unit ...  what it is", N the rank, each unit a folder of src/lib ("inventory")
or one file's stem in it ("pools/view"). A unit may use units of a lower rank only: not
one above, not another unit of the same rank. Checked two ways:
  - #include "dir/file.h" lines of src/lib (a header belongs to the unit of the same
    name: pools/view.h to pools/view, binding/binding.h to binding);
  - the calls themselves: for each object of the built library, the symbols it uses that
    another unit defines (nm), which also catches calls through the public devpass.h.
Prints one "ok - ..." / "not ok - ...: WHY" line per check."""
import argparse
import os
import re
import subprocess
import sys


def read_layers(doc):
    ranks = {}
    text = open(doc, encoding="utf-8").read()
    m = re.search(r"^## Layers\n(.*?)(?=^## |\Z)", text, re.S | re.M)
    if not m:
        sys.exit(f"{doc} has no '## Layers' section")
    for line in m.group(1).splitlines():
        f = re.match(r"^\s{2,}(\d+)\s+((?:[a-z0-9_-]+(?:/[a-z0-9_-]+)?\s?)+?)\s{2,}", line + "  ")
        if f:
            for unit in f.group(2).split():
                ranks[unit] = int(f.group(1))
    return ranks


def unit_of(path, ranks):
    """src/lib-relative path ("pools/view.c") -> its unit, or None when unlisted."""
    stem = os.path.splitext(path)[0]
    if stem in ranks:
        return stem
    folder = path.split("/")[0]
    return folder if folder in ranks else None


def allowed(src, dst, ranks):
    return src == dst or ranks[dst] < ranks[src]


def lib_files(lib):
    for d, _, files in os.walk(lib):
        for f in sorted(files):
            if f.endswith((".c", ".h")):
                yield os.path.relpath(os.path.join(d, f), lib)


def check_units(lib, ranks):
    bad = []
    for path in lib_files(lib):
        if path.startswith("include/"):
            continue
        if unit_of(path, ranks) is None:
            bad.append(f"{path} is in no layer")
    return bad


def check_includes(lib, ranks):
    bad = []
    for path in lib_files(lib):
        src = unit_of(path, ranks)
        if src is None:
            continue
        for n, line in enumerate(open(os.path.join(lib, path), encoding="utf-8"), 1):
            m = re.match(r'\s*#\s*include\s*"([^"]+)"', line)
            if not m or m.group(1) in ("devpass.h", "alloc-util.h"):   # src/common: below every layer
                continue
            dst = unit_of(m.group(1), ranks)
            if dst is None:
                bad.append(f"{path}:{n} includes \"{m.group(1)}\", which is in no layer")
            elif not allowed(src, dst, ranks):
                bad.append(f"{path}:{n} ({src}, layer {ranks[src]}) includes \"{m.group(1)}\" "
                           f"({dst}, layer {ranks[dst]})")
    return bad


def nm(obj, *flags):
    out = subprocess.run(["nm", *flags, obj], capture_output=True, text=True, check=True).stdout
    return [line.split() for line in out.splitlines() if line.strip()]


def check_calls(lib, objdir, ranks):
    objs = {}
    for path in lib_files(lib):
        if path.endswith(".c"):
            obj = os.path.join(objdir, path.replace("/", "_") + ".o")
            if os.path.exists(obj):
                objs[path] = obj
    if not objs:
        return None
    owner = {}
    for path, obj in objs.items():
        for f in nm(obj, "--defined-only"):
            if len(f) == 3 and f[1] in "TDBR":
                owner[f[2]] = path
    bad = []
    for path, obj in objs.items():
        src = unit_of(path, ranks)
        for f in nm(obj, "--undefined-only"):
            dpath = owner.get(f[-1])
            if not dpath or src is None:
                continue
            dst = unit_of(dpath, ranks)
            if dst and not allowed(src, dst, ranks):
                bad.append(f"{path} ({src}, layer {ranks[src]}) calls {f[-1]} of {dpath} "
                           f"({dst}, layer {ranks[dst]})")
    return sorted(set(bad))


def report(name, bad):
    if bad:
        print(f"not ok - layers: {name}: " + "; ".join(bad))
    else:
        print(f"ok - layers: {name}")
    return not bad


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--top", default=os.path.dirname(os.path.dirname(os.path.dirname(
        os.path.abspath(__file__)))))
    ap.add_argument("--build", default=None)
    a = ap.parse_args()
    lib = os.path.join(a.top, "src", "lib")
    ranks = read_layers(os.path.join(a.top, "docs", "architecture.md"))
    good = report("every library file is in a layer of docs/architecture.md",
                  check_units(lib, ranks))
    good &= report("no #include reaches a layer above (or beside) its own",
                   check_includes(lib, ranks))
    objdir = os.path.join(a.build or os.path.join(a.top, "build"), "src", "lib",
                          "libdevpass-internal.a.p")
    calls = check_calls(lib, objdir, ranks)
    if calls is None:
        print(f"not ok - layers: no call reaches a layer above: no objects in {objdir} (build first)")
        good = False
    else:
        good &= report("no call reaches a layer above (or beside) its own (nm of the objects)", calls)
    return 0 if good else 1


if __name__ == "__main__":
    sys.exit(main())
