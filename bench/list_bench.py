#!/usr/bin/env python3
"""Time `devpass list --json` against lspci on a large fake sysfs tree.

Driven by bench/list-bench.sh; see bench/README.md.  Standard library only.
"""

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time


def run_once(cmd):
    """Run cmd with stdout/stderr to /dev/null; return (seconds, peak RSS KiB, exit status,
    CPU seconds: user + system, all threads)."""
    with open(os.devnull, "wb") as null:
        t0 = time.perf_counter()
        p = subprocess.Popen(cmd, stdout=null, stderr=null)
        _, status, ru = os.wait4(p.pid, 0)
        dt = time.perf_counter() - t0
    p.returncode = os.waitstatus_to_exitcode(status)   # keep Popen from waiting again
    return dt, ru.ru_maxrss, p.returncode, ru.ru_utime + ru.ru_stime


def peak_rss(cmd, runs=3):
    """Peak RSS (KiB) of cmd via GNU time, which forks cmd from a small process.

    Measuring with wait4() from here would report at least this Python process's own
    RSS: the kernel carries the pre-exec high-water mark of a forked child into its
    ru_maxrss.  Returns (KiB, how)."""
    gnu_time = "/usr/bin/time"
    if os.access(gnu_time, os.X_OK):
        best = 0
        for _ in range(runs):
            p = subprocess.run([gnu_time, "-f", "%M"] + cmd, stdout=subprocess.DEVNULL,
                               stderr=subprocess.PIPE)
            last = p.stderr.decode(errors="replace").strip().splitlines()
            try:
                best = max(best, int(last[-1]))
            except (IndexError, ValueError):
                return None, "GNU time gave no figure"
        return best, "GNU time %M"
    return max(run_once(cmd)[1] for _ in range(runs)), "wait4 (includes python's RSS floor)"


def warm(root):
    """Read every file once so the timed runs measure the tools, not the disk."""
    n = 0
    for dirpath, dirnames, filenames in os.walk(os.path.join(root, "sys")):
        for f in filenames:
            p = os.path.join(dirpath, f)
            try:
                with open(p, "rb") as fh:
                    fh.read(8192)
                n += 1
            except OSError:
                pass
    return n


def strace_counts(cmd, tmpdir):
    out = os.path.join(tmpdir, "strace.out")
    with open(os.devnull, "wb") as null:
        rc = subprocess.call(["strace", "-f", "-c", "-o", out] + cmd, stdout=null, stderr=null)
    if rc != 0 or not os.path.exists(out):
        return None
    rows = []
    total = None
    for line in open(out):
        parts = line.split()
        if len(parts) >= 5 and parts[0][0].isdigit():
            # % time, seconds, usecs/call, calls, [errors], syscall
            calls = int(parts[3])
            name = parts[-1]
            errors = int(parts[4]) if len(parts) == 6 else 0
            if name == "total":
                total = (calls, errors)
            else:
                rows.append((calls, errors, name))
    rows.sort(reverse=True)
    return total, rows


def scratch_dir():
    """Prefer tmpfs (/dev/shm) for the tree: creating ~330k small files there takes a few
    seconds, on a journaled disk it can take a minute.  TMPDIR wins when set."""
    if os.environ.get("TMPDIR"):
        return None
    shm = "/dev/shm"
    try:
        st = os.statvfs(shm)
        if os.access(shm, os.W_OK) and st.f_bavail * st.f_frsize > (3 << 30):
            return shm
    except OSError:
        pass
    return None


def fmt_ms(s):
    return "%8.1f" % (s * 1000.0)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--devpass", required=True)
    ap.add_argument("--runs", type=int, default=7)
    ap.add_argument("--dir", help="bench tree (generated when missing or empty)")
    ap.add_argument("--keep", action="store_true", help="keep a generated temporary tree")
    ap.add_argument("--pfs", type=int, default=40)
    ap.add_argument("--vfs", type=int, default=240)
    ap.add_argument("--gpus", type=int, default=16)
    ap.add_argument("--no-strace", action="store_true")
    ap.add_argument("--mkfixture", required=True)
    a = ap.parse_args()

    if not os.access(a.devpass, os.X_OK):
        print("list-bench: %s not found (meson setup build && ninja -C build)" % a.devpass)
        return 1
    if not shutil.which("lspci"):
        print("list-bench: lspci not found (apt-get install pciutils)")
        return 1

    tmp = tempfile.mkdtemp(prefix="devpass-bench.", dir=scratch_dir())
    root = a.dir or os.path.join(tmp, "tree")
    made = False
    try:
        if not (os.path.isdir(root) and os.path.exists(os.path.join(root, "fixture.json"))):
            t0 = time.perf_counter()
            subprocess.check_call([sys.executable, a.mkfixture, "--scenario", "bench",
                                   "--pfs", str(a.pfs), "--vfs", str(a.vfs), "--gpus", str(a.gpus),
                                   root])
            made = True
            print("generated %s in %.1f s" % (root, time.perf_counter() - t0))
        with open(os.path.join(root, "fixture.json")) as f:
            man = json.load(f)
        nfun = man["count"]
        t0 = time.perf_counter()
        nfiles = warm(root)
        print("tree: %s, %d PCI functions (scenario %s); page cache warmed (%d files, %.1f s)"
              % (root, nfun, man["scenario"], nfiles, time.perf_counter() - t0))

        sysfs = "sysfs.path=%s/sys/bus/pci" % root
        cmds = [
            ("devpass list --json", [a.devpass, "--root", root, "list", "--json"]),
            ("lspci -nnk", ["lspci", "-nnk", "-A", "linux-sysfs", "-O", sysfs]),
            ("lspci -D -nnk -vmm", ["lspci", "-D", "-nnk", "-vmm", "-A", "linux-sysfs", "-O", sysfs]),
        ]
        # sanity: devpass sees every function
        p = subprocess.run(cmds[0][1], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        try:
            got = len(json.loads(p.stdout))
        except ValueError:
            got = -1
        if p.returncode != 0 or got != nfun:
            print("WARNING: devpass exit %d, listed %d of %d functions: %s"
                  % (p.returncode, got, nfun, p.stderr.decode(errors="replace").strip()[:200]))
        load0 = " ".join("%.2f" % x for x in os.getloadavg())
        # one untimed warm-up run of each, then round-robin timed runs
        for _, c in cmds:
            run_once(c)
        res = {name: [] for name, _ in cmds}
        for _ in range(a.runs):
            for name, c in cmds:
                res[name].append(run_once(c))

        rss = {}
        how = ""
        for name, c in cmds:
            rss[name], how = peak_rss(c)

        print()
        print("%-22s %9s %9s %9s %10s %8s %8s" % ("command", "median ms", "min ms", "max ms",
                                                  "peak RSS", "us/func", "CPU ms"))
        med, cpu = {}, {}
        for name, _ in cmds:
            ts = [r[0] for r in res[name]]
            bad = [r[2] for r in res[name] if r[2] != 0]
            med[name] = statistics.median(ts)
            cpu[name] = statistics.median(r[3] for r in res[name])
            r = "%7.1f MB" % (rss[name] / 1024.0) if rss[name] else "%10s" % "?"
            print("%-22s %9s %9s %9s %s %8.1f %s%s" % (
                name, fmt_ms(med[name]), fmt_ms(min(ts)), fmt_ms(max(ts)), r,
                med[name] * 1e6 / nfun, fmt_ms(cpu[name]), ("  (exit %s)" % bad[0]) if bad else ""))
        print()
        base = med[cmds[0][0]]
        for name, _ in cmds[1:]:
            rr = (" time, %5.2fx peak RSS" % (rss[name] / float(rss[cmds[0][0]]))
                  if rss[name] and rss[cmds[0][0]] else " time")
            print("ratio %-20s / devpass: %5.2fx%s, %5.2fx CPU  (>1: devpass better)"
                  % (name, med[name] / base, rr, cpu[name] / cpu[cmds[0][0]]))
        print("time: median of %d interleaved runs after one warm-up run each; CPU: median "
              "user+system time of those runs; peak RSS: max of 3 runs, %s" % (a.runs, how))
        print("load average before/after: %s / %s (a busy machine stretches wall times; "
              "compare ratios from one run)" % (load0, " ".join("%.2f" % x for x in os.getloadavg())))

        if not a.no_strace and shutil.which("strace"):
            print()
            for name, c in cmds[:2]:
                r = strace_counts(c, tmp)
                if r is None or r[0] is None:
                    print("strace %s: failed" % name)
                    continue
                (total, errors), rows = r
                top = ", ".join("%s %d" % (n, k) for k, _, n in rows[:6])
                print("syscalls %-20s %7d total (%d failed), %.1f per function; top: %s"
                      % (name, total, errors, total / float(nfun), top))
    finally:
        if a.dir is None and a.keep and made:
            print("kept tree in %s" % root)
        else:
            shutil.rmtree(tmp, ignore_errors=True)   # the tree (if temporary) and strace output
    return 0


if __name__ == "__main__":
    sys.exit(main())
