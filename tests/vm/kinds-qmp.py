#!/usr/bin/env python3
"""Unplugs and replugs a USB device of the kinds boot when its guest asks for it.

Usage: kinds-qmp.py LOGDIR ID=DRIVER,PROP=VALUE,... [...]

Runs on this machine beside the kinds boot's QEMU (tests/vm/run.sh starts it). It connects
to that QEMU's QMP socket (LOGDIR/qmp.sock) and follows the guest console
(LOGDIR/console.log). For each console line "DEVPASS-REPLUG ID" it sends device_del ID,
waits for QEMU's DEVICE_DELETED event (the guest saw the device leave), waits a second and
sends device_add with the properties given for ID on the command line: the same device
comes back on the same port. The guest polls sysfs for both changes; it learns nothing
from here. Every step is written to LOGDIR/replug.log. The script ends when QEMU closes
the socket (the guest powered off) or after QEMU did not answer at start (30 s).
"""
import json
import os
import socket
import sys
import time

START_WAIT_S = 30
DELETE_WAIT_S = 20


class Qmp:
    def __init__(self, path):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.connect(path)
        self.buf = b""
        self.events = []
        self.read_message()            # the greeting
        self.command("qmp_capabilities")

    def read_message(self, timeout=None):
        """One JSON message, or None on timeout; raises EOFError when QEMU closed."""
        self.sock.settimeout(timeout)
        while b"\n" not in self.buf:
            try:
                chunk = self.sock.recv(65536)
            except socket.timeout:
                return None
            if not chunk:
                raise EOFError
            self.buf += chunk
        line, self.buf = self.buf.split(b"\n", 1)
        return json.loads(line)

    def command(self, name, **args):
        msg = {"execute": name}
        if args:
            msg["arguments"] = args
        self.sock.sendall(json.dumps(msg).encode() + b"\n")
        while True:
            reply = self.read_message(30)
            if reply is None:
                return {"error": {"desc": f"no answer to {name} within 30 s"}}
            if "event" in reply:
                self.events.append(reply)
                continue
            return reply

    def wait_deleted(self, dev_id, seconds):
        deadline = time.monotonic() + seconds
        while True:
            for ev in self.events:
                if ev.get("event") == "DEVICE_DELETED" and ev.get("data", {}).get("device") == dev_id:
                    self.events.remove(ev)
                    return True
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            ev = self.read_message(left)
            if ev is not None and "event" in ev:
                self.events.append(ev)

    def poll_events(self):
        """Collects pending events without waiting; raises EOFError once QEMU is gone."""
        while True:
            ev = self.read_message(0.01)
            if ev is None:
                return
            if "event" in ev:
                self.events.append(ev)


def parse_devices(args):
    devices = {}
    for arg in args:
        dev_id, _, spec = arg.partition("=")
        driver, *props = spec.split(",")
        devices[dev_id] = dict([("driver", driver), ("id", dev_id)] + [p.split("=", 1) for p in props])
    return devices


def connect(path, log):
    deadline = time.monotonic() + START_WAIT_S
    while time.monotonic() < deadline:
        try:
            return Qmp(path)
        except (OSError, EOFError, ValueError):
            time.sleep(0.2)
    log(f"no QMP on {path} within {START_WAIT_S} s")
    return None


def replug(qmp, dev_id, props, log):
    r = qmp.command("device_del", id=dev_id)
    if "error" in r:
        log(f"{dev_id}: device_del failed: {r['error'].get('desc')}")
        return
    if not qmp.wait_deleted(dev_id, DELETE_WAIT_S):
        log(f"{dev_id}: no DEVICE_DELETED within {DELETE_WAIT_S} s")
        return
    log(f"{dev_id}: deleted")
    time.sleep(1)
    r = qmp.command("device_add", **props)
    log(f"{dev_id}: device_add " + ("failed: " + r["error"].get("desc", "") if "error" in r else "done"))


def main():
    if len(sys.argv) < 2:
        print(__doc__.strip().split("\n")[2], file=sys.stderr)
        return 2
    logdir = sys.argv[1]
    devices = parse_devices(sys.argv[2:])
    logf = open(os.path.join(logdir, "replug.log"), "a", buffering=1)

    def log(text):
        logf.write(f"{time.strftime('%H:%M:%S')} {text}\n")

    qmp = connect(os.path.join(logdir, "qmp.sock"), log)
    if qmp is None:
        return 1
    log("connected")
    console = os.path.join(logdir, "console.log")
    offset, pending = 0, b""
    try:
        while True:
            qmp.poll_events()
            with open(console, "rb") as f:
                f.seek(offset)
                data = f.read()
            offset += len(data)
            pending += data
            *lines, pending = pending.split(b"\n")
            for line in lines:
                text = line.decode(errors="replace").strip()
                if not text.startswith("DEVPASS-REPLUG "):
                    continue
                dev_id = text.split()[1]
                if dev_id in devices:
                    replug(qmp, dev_id, devices[dev_id], log)
                else:
                    log(f"{dev_id}: not a device this script may replug")
            time.sleep(0.2)
    except EOFError:
        log("QEMU closed the QMP socket")
    return 0


if __name__ == "__main__":
    sys.exit(main())
