#!/usr/bin/env python3
"""Time from command to defined domain: `devpass libvirt attach D --pool gpu` (claim, bind,
place, define through libvirt's C API) against its peer, `virsh attach-device --config` of
the same elements (libvirt places them; nothing is claimed or checked), both against one
unprivileged session libvirtd on a vfio-gpu fixture tree (the daemon and the tree as
tests/fixture/test_libvirt.py makes them). The GPU's group has two functions: devpass adds
both in one command, the peer needs two virsh runs (one element each), both counted.
Each run is undone untimed (detach / detach-device --config).

    bench/libvirt_attach.py [--runs N]      (see bench/libvirt-attach.sh)"""
import os
import shutil
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "tests", "fixture"))
import test_libvirt as t  # noqa: E402


def timed(cmd):
    start = time.perf_counter()
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    if p.returncode != 0:
        raise RuntimeError(f"{cmd}: {p.stderr}")
    return (time.perf_counter() - start) * 1000


def elements(root, base):
    """One file per element, as virsh attach-device takes them."""
    rc, out, err = t.dp(root, "export", "libvirt", t.GPU, "--no-address")
    if rc:
        raise RuntimeError(err)
    parts = ["<hostdev" + x.split("</hostdev>")[0] + "</hostdev>\n" for x in out.split("<hostdev")[1:]]
    paths = []
    for i, x in enumerate(parts):
        paths.append(os.path.join(base, f"el{i}.xml"))
        with open(paths[-1], "w") as f:
            f.write(x)
        os.chmod(paths[-1], 0o644)
    return paths


def main():
    runs = int(sys.argv[sys.argv.index("--runs") + 1]) if "--runs" in sys.argv[:-1] else 10
    root = t.fresh()
    lv = t.Libvirtd()
    try:
        lv.define("bench1")
        lv.define("bench2")
        files = elements(root, lv.dir)
        dp = [t.DEVPASS, "--root", root, "libvirt"]
        ours, peer = [], []
        for _ in range(runs):
            ours.append(timed(dp + ["attach", "bench1", "--pool", "gpu", "--connect", lv.uri]))
            timed(dp + ["detach", "bench1", "--connect", lv.uri])
            peer.append(sum(timed(["virsh", "-q", "-c", lv.uri, "attach-device", "bench2", f,
                                   "--config"]) for f in files))
            for f in files:
                timed(["virsh", "-q", "-c", lv.uri, "detach-device", "bench2", f, "--config"])
    finally:
        lv.stop()
        shutil.rmtree(t.BASE, ignore_errors=True)
    a, b = statistics.median(ours), statistics.median(peer)
    print(f"libvirt attach, GPU + audio ({len(files)} elements), {runs} runs, session libvirtd, "
          f"median ms:")
    rows = [("devpass libvirt attach --pool (claim, bind, place, define)", f"{a:.1f}"),
            (f"virsh attach-device --config x{len(files)} (the peer)", f"{b:.1f}"),
            ("ratio devpass/peer", f"{a / b:.2f}")]
    for name, value in rows:
        print(f"  {name:<62}{value:>8}")


if __name__ == "__main__":
    main()
