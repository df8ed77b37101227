#!/usr/bin/env python3
"""Runs inside the bind-boot guest, chrooted into this machine's root filesystem (shared
read-only over virtio-9p): starts a nested QEMU with `-device vfio-pci,host=ADDR`, asks
it over QMP (`query-pci`) what is on its PCI bus, quits it, and prints one JSON object:

    {"ok": bool, "error": str|null, "qemu_rc": int|null, "seconds": float,
     "devices": [{"bus", "slot", "function", "vendor", "device", "class", "qdev_id"}],
     "stderr": "QEMU's stderr (tail)"}

Usage: nested-qmp.py ADDR [--timeout SEC] [--qemu BINARY] [--mem MB] [--hold DIR]

--hold DIR: after query-pci, create DIR/ready and keep QEMU (holding /dev/vfio/N) running
until DIR/go exists (at most --timeout), so the caller can try devpass on a device in use.
"""
import json
import os
import socket
import subprocess
import sys
import tempfile
import time


def qmp_session(path, deadline):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(max(1.0, deadline - time.time()))
    s.connect(path)
    f = s.makefile("rwb", buffering=0)

    def recv():
        while True:
            line = f.readline()
            if not line:
                raise RuntimeError("QMP connection closed")
            msg = json.loads(line)
            if "event" in msg:
                continue
            return msg

    def cmd(name, **args):
        req = {"execute": name}
        if args:
            req["arguments"] = args
        f.write((json.dumps(req) + "\n").encode())
        return recv()

    greeting = recv()
    if "QMP" not in greeting:
        raise RuntimeError(f"no QMP greeting: {greeting}")
    r = cmd("qmp_capabilities")
    if "error" in r:
        raise RuntimeError(f"qmp_capabilities: {r['error']}")
    return s, cmd


def main():
    args = sys.argv[1:]
    if not args:
        print(__doc__, file=sys.stderr)
        return 2
    addr = args[0]
    opts = dict(zip(args[1::2], args[2::2]))
    timeout = float(opts.get("--timeout", "180"))
    qemu = opts.get("--qemu", "qemu-system-x86_64")
    mem = opts.get("--mem", "64")
    hold = opts.get("--hold")
    out = {"ok": False, "error": None, "qemu_rc": None, "seconds": None, "devices": [],
           "stderr": ""}
    t0 = time.time()
    deadline = t0 + timeout
    tmp = tempfile.mkdtemp(prefix="nested-")
    sock = os.path.join(tmp, "qmp.sock")
    errf = open(os.path.join(tmp, "stderr"), "w+")
    cmdline = [qemu, "-accel", "tcg,tb-size=16", "-machine", "q35", "-m", mem,
               "-nodefaults", "-no-user-config", "-nographic", "-S",
               "-display", "none", "-monitor", "none", "-serial", "none",
               "-qmp", f"unix:{sock},server=on,wait=off",
               "-device", f"vfio-pci,host={addr},id=hostdev0,rombar=0"]
    out["cmdline"] = " ".join(cmdline)
    proc = subprocess.Popen(cmdline, stdin=subprocess.DEVNULL, stdout=errf, stderr=errf)
    s = None
    try:
        while not os.path.exists(sock):
            if proc.poll() is not None:
                raise RuntimeError(f"QEMU exited {proc.returncode} before its QMP socket appeared")
            if time.time() > deadline:
                raise RuntimeError(f"no QMP socket after {timeout:.0f}s")
            time.sleep(0.1)
        while True:
            try:
                s, cmd = qmp_session(sock, deadline)
                break
            except (ConnectionRefusedError, FileNotFoundError):
                if proc.poll() is not None or time.time() > deadline:
                    raise
                time.sleep(0.1)
        r = cmd("query-pci")
        if "error" in r:
            raise RuntimeError(f"query-pci: {r['error']}")
        for bus in r["return"]:
            for d in bus.get("devices", []):
                out["devices"].append({
                    "bus": d.get("bus"), "slot": d.get("slot"), "function": d.get("function"),
                    "vendor": "%04x" % d["id"]["vendor"], "device": "%04x" % d["id"]["device"],
                    "class": "%04x" % d["class_info"]["class"], "qdev_id": d.get("qdev_id")})
        out["ok"] = True
        if hold:
            open(os.path.join(hold, "ready"), "w").close()
            while not os.path.exists(os.path.join(hold, "go")):
                if time.time() > deadline:
                    raise RuntimeError(f"--hold: no {hold}/go within {timeout:.0f}s")
                if proc.poll() is not None:
                    raise RuntimeError(f"QEMU exited {proc.returncode} while held")
                time.sleep(0.1)
        try:
            cmd("quit")
        except (RuntimeError, OSError, ValueError):
            pass  # QEMU may close the socket before answering
    except Exception as e:  # reported in the JSON, the guest decides
        out["error"] = f"{type(e).__name__}: {e}"
    finally:
        if s is not None:
            s.close()
        try:
            out["qemu_rc"] = proc.wait(timeout=max(5.0, deadline - time.time()))
        except subprocess.TimeoutExpired:
            proc.kill()
            out["qemu_rc"] = proc.wait()
            out["error"] = out["error"] or "QEMU did not exit after quit; killed"
            out["ok"] = False
        errf.seek(0)
        out["stderr"] = errf.read()[-2000:]
        out["seconds"] = round(time.time() - t0, 2)
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
