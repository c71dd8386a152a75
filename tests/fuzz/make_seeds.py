#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
# make_seeds.py - write the seed corpora of tests/fuzz/corpus (committed;
# rerun after a change of the input formats the targets read).  Each seed is
# a small valid script for its target, so the fuzzer starts from inputs that
# get past the first checks.  The layout hash comes from proto.h, compiled.
import os
import struct
import subprocess
import sys
import tempfile

here = os.path.dirname(os.path.abspath(__file__))
root = os.path.dirname(os.path.dirname(here))
out = os.path.join(here, "corpus")


def layout_hash():
    with tempfile.TemporaryDirectory() as d:
        src = os.path.join(d, "h.c")
        exe = os.path.join(d, "h")
        with open(src, "w") as f:
            f.write('#include <stdio.h>\n#include "broker/proto.h"\n'
                    'int main(void){printf("%llu\\n",(unsigned long long)BK_LAYOUT_HASH);return 0;}\n')
        subprocess.run(["cc", "-std=gnu11", "-I", os.path.join(root, "include"), src, "-o", exe], check=True)
        return int(subprocess.run([exe], capture_output=True, check=True, text=True).stdout)


def put(target, name, data):
    os.makedirs(os.path.join(out, target), exist_ok=True)
    with open(os.path.join(out, target, name), "wb") as f:
        f.write(data)


def geo(sq=8, cq=0, slots=8, inline=64, large=4096):
    return struct.pack("<IIIIQ", sq, cq, slots, inline, large)


def sqe(op=1, slot=0, gen=1, arg_off=0, arg_len=16, res_off=16, res_cap=48, fn=1):
    return struct.pack("<BBHIIIIIII", op, 0, 0, fn, slot, gen, arg_off, arg_len, res_off, res_cap)


def conn_rings():
    push = lambda e: b"\x00" + e
    fetch = lambda n: b"\x03" + bytes([n])
    complete = lambda k, st: b"\x04" + struct.pack("<Ii", k, st)
    flush = b"\x05"
    head = lambda v: b"\x06" + struct.pack("<I", v)
    honest = b"".join(push(sqe(slot=s, gen=s + 1, arg_off=s * 64, res_off=s * 64 + 16)) for s in range(4))
    put("conn-rings", "honest", geo() + struct.pack("<I", 0) + honest + fetch(8) + complete(0, 0) +
        complete(0, 5) + flush + head(2) + flush)
    put("conn-rings", "wrap", geo() + struct.pack("<I", 0xFFFFFFF8) + honest * 3 + fetch(64) + flush)
    bad = push(sqe(slot=99)) + push(sqe(op=7)) + push(sqe(arg_off=0xFFFFFF00)) + push(sqe(op=2, slot=0, gen=1))
    put("conn-rings", "violations", geo() + struct.pack("<I", 5) + honest + fetch(2) + bad + fetch(16) + flush)
    put("conn-rings", "tail-lies", geo(sq=16, slots=16) + struct.pack("<I", 0) + b"\x01" + struct.pack("<I", 1000)
        + fetch(4))
    put("conn-rings", "backlog", geo() + struct.pack("<I", 0) + honest * 2 + fetch(8) + complete(0, 0) * 8 +
        head(0x80000000) + flush + b"\x07\x01\x01")


def control(h):
    def msg(t, body=b"", seq=1):
        return struct.pack("<IHHII", 0x5742424B, t, 0, 16 + len(body), seq) + body

    def dgram(m):
        return struct.pack("<H", len(m)) + m

    def hello(flags=0, g=geo(sq=0, slots=0, inline=0, large=0)):
        return msg(1, struct.pack("<HHIQ", 1, 1, flags, h) + g)

    lookup = msg(3, b"echo.echo".ljust(128, b"\0"), 2)
    status = msg(5, b"", 3)
    modules = msg(7, struct.pack("<II", 0, 0), 4)
    clients = msg(9, struct.pack("<II", 0, 0), 5)
    load = msg(11, b"/nonexistent/echo.so".ljust(512, b"\0"), 6)
    unload = msg(12, b"echo".ljust(512, b"\0"), 7)
    rest = b"".join(dgram(m) for m in (lookup, status, modules, clients, load, unload))
    put("control", "session", b"\x00" + dgram(hello()) + rest)
    put("control", "control-only", b"\x00" + dgram(hello(flags=1)) + rest)
    put("control", "eventfd", b"\x01" + dgram(hello(flags=2)) + dgram(status))
    put("control", "bad-geometry", b"\x00" + dgram(hello(g=geo(large=2**64 - 1))))
    put("control", "before-hello", b"\x00" + dgram(status))
    put("control", "short", b"\x00" + dgram(msg(3, b"x" * 10)))


def client_region():
    put("client-region", "default", geo(sq=0, slots=0, inline=0, large=0) + b"\0\0" + b"\0")
    put("client-region", "small", geo() + b"\0\0" + b"\0" + struct.pack("<I", 3) + b"\x01" + struct.pack("<I", 0))
    put("client-region", "patched", geo() + b"\0\0" + b"\x02" + bytes([8, 99, 40, 0]))


def client_hostile():
    opts = b"\x08\x08"  # max_inflight 16, sq 16
    hs = struct.pack("<I", 0) + b"\x00" + b"\x00"  # ring start, no patch, no lie
    submit = lambda k: bytes([(k << 4) | 0])
    honest = b"\x01" + b"\x00" + struct.pack("<H", 7)
    poll_ = lambda k: bytes([(k << 4) | 6])
    result = lambda k: bytes([(k << 4) | 9])
    release = lambda k: bytes([(k << 4) | 10])
    put("client-hostile", "honest", opts + hs + submit(0) + submit(1) + honest + honest + poll_(0) + b"\x07" +
        result(0) + result(1) + release(0) + release(1))
    put("client-hostile", "lies", opts + hs + submit(0) + b"\x01\x00" + struct.pack("<H", 60000) + result(0) +
        b"\x03" + struct.pack("<I", 99) + b"\x07" + b"\x8b" + bytes([(0 << 4) | 8]))
    put("client-hostile", "bad-header", opts + struct.pack("<I", 5) + b"\x02" + bytes([12, 7, 40, 1]) + b"\x03")
    put("client-hostile", "gone", opts + hs + submit(2) + b"\x05\x02" + bytes([(2 << 4) | 8]) + result(2))


def lanes():
    push = lambda prio, n: bytes([(prio << 5) | (n - 1)])
    plan = lambda r: b"\xc0" + struct.pack("<H", r)
    put("lanes", "mixed", push(1, 32) + push(0, 20) + push(2, 9) + plan(256) + push(1, 3) + plan(8) + plan(1))
    put("lanes", "interactive-flood", push(1, 32) * 10 + push(0, 2) + push(2, 2) + plan(16) + plan(16) + plan(512))


def modules():
    def task(fn, cap, arg, answers=b""):
        return bytes([fn]) + struct.pack("<HH", cap, len(arg)) + arg + answers

    put("mod-echo", "echo", task(1, 64, b"hello"))
    put("mod-echo", "upper", task(2, 64, b"Hello, World"))
    put("mod-echo", "nobufs", task(1, 2, b"too long"))
    put("mod-timer", "sleep", task(0, 0, b"100", b"\x00"))
    put("mod-timer", "max", task(0, 0, b"86400001"))
    put("mod-timer", "cancel", task(0, 0, b"5", b"\xff"))
    put("mod-hash", "abc", task(0, 32, b"abc"))
    put("mod-hash", "nobufs", task(0, 8, b""))
    read = lambda n: b"\x00" + struct.pack("<I", n)
    put("mod-file", "read", task(0, 4096, b"0 4096 /etc/hostname", b"\x00" + read(100) + read(0) + b"\x00"))
    put("mod-file", "short", task(0, 64, b"7 64 /x", b"\x00" + read(3) + read(5) + b"\xff\x00"))
    put("mod-file", "enoent", task(0, 64, b"0 1 /nope", b"\xf2"))
    put("mod-file", "bad", task(0, 64, b"18446744073709551616 1 /x"))


if __name__ == "__main__":
    conn_rings()
    control(layout_hash())
    client_region()
    client_hostile()
    lanes()
    modules()
    sys.exit(0)
