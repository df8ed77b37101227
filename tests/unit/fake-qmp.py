#!/usr/bin/env python3
"""A stand-in for a QEMU process for test-vm-qmp: listens on DIR/qmp.sock (unless the mode
is "nosocket") and then locks DIR/qemu.pid the way QEMU does (lockf, its pid inside), so a
test that waits for the lock knows the socket is ready.

Modes:
  stubborn  answers like QEMU but ignores quit, and ignores SIGTERM: only SIGKILL ends it
  deaf      ignores quit; SIGTERM ends it
  nosocket  no monitor at all; SIGTERM ends it
  obedient  the guest powers off at system_powerdown (the process exits)
  chunks    query-status is answered in three writes, an event split across the first two
  notqmp    greets with something that is not a QMP greeting
Every mode ignores x-hang (no answer) and closes the connection on x-close."""
import fcntl
import json
import os
import signal
import socket
import sys
import time

directory, mode = sys.argv[1], sys.argv[2]
GREETING = {"QMP": {"version": {"qemu": {"micro": 0, "minor": 0, "major": 0}, "package": "fake"},
                    "capabilities": []}}


def send(conn, obj):
    conn.sendall((json.dumps(obj) + "\r\n").encode())


def reply(conn, msg, value):
    out = {"return": value}
    if "id" in msg:
        out["id"] = msg["id"]
    send(conn, out)


def status_in_chunks(conn, msg):
    text = (json.dumps({"timestamp": {"seconds": 1, "microseconds": 2}, "event": "POWERDOWN"})
            + "\r\n" + json.dumps({"return": {"status": "paused", "running": False},
                                   "id": msg.get("id")}) + "\r\n")
    cut1, cut2 = 20, text.index("paused")
    for piece in (text[:cut1], text[cut1:cut2], text[cut2:]):
        conn.sendall(piece.encode())
        time.sleep(0.05)   # separate reads on the other side; the client must not care


def answer(conn, msg):
    """False when the connection is to be closed."""
    cmd = msg.get("execute")
    if cmd == "x-close":
        return False
    if cmd == "x-hang" or (cmd == "quit" and mode in ("stubborn", "deaf")):
        return True
    if cmd == "system_powerdown":
        send(conn, {"timestamp": {"seconds": 1, "microseconds": 0}, "event": "POWERDOWN"})
        reply(conn, msg, {})
        if mode == "obedient":
            os._exit(0)
    elif cmd == "query-status" and mode == "chunks":
        status_in_chunks(conn, msg)
    elif cmd in ("qmp_capabilities", "query-status"):
        reply(conn, msg, {} if cmd == "qmp_capabilities" else {"status": "running"})
    else:
        send(conn, {"error": {"class": "CommandNotFound",
                              "desc": f"The command {cmd} has not been found"},
                    "id": msg.get("id")})
    return True


def serve(conn):
    send(conn, GREETING if mode != "notqmp" else {"hello": "world"})
    buf = b""
    while True:
        data = conn.recv(4096)
        if not data:
            return
        buf += data
        while b"\n" in buf:
            line, buf = buf.split(b"\n", 1)
            if line.strip() and not answer(conn, json.loads(line)):
                return


def main():
    os.chdir(directory)   # relative names: sun_path's 108 bytes do not limit the directory
    if mode == "stubborn":
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
    server = None
    if mode != "nosocket":
        server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        server.bind("qmp.sock")
        server.listen(4)
    fd = os.open("qemu.pid", os.O_WRONLY | os.O_CREAT, 0o600)
    fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    os.ftruncate(fd, 0)
    os.write(fd, f"{os.getpid()}\n".encode())
    while True:
        if server is None:
            time.sleep(3600)
            continue
        conn, _ = server.accept()
        with conn:
            serve(conn)


main()
