#!/usr/bin/env python3
"""vmm-side.py BUILD OUT - what a VMM itself adds to an exit, measured the
same way for QEMU, oneroof's fast path and the bare KVM_RUN loop.

The io-out ROM (build/guests/io-out.bin, the one --vs-qemu boots) runs
under each VMM while `perf record` stamps the ioctl system calls in the
kernel (tracepoints syscalls:sys_enter_ioctl / sys_exit_ioctl). Per vCPU
thread, the gap between the return of one KVM_RUN and the entry of the
next is the VMM's side of that exit: its handling, any other system calls
it makes, and the return to and entry from user space, which the bare
loop shows alone. The same tracepoint cost is in every gap, so the
differences to the bare loop are what the VMMs add. Rounds alternate the
three VMMs; the result is the median over all gaps of each.

Writes OUT/vmm-side.json; prints progress on stderr. Needs perf (Debian
linux-perf, installed by .ci/deps.sh) and permission to record
tracepoints (root here).
"""
import json
import os
import shutil
import statistics
import struct
import subprocess
import sys
import tempfile

KVM_RUN = 0xAE80  # _IO(KVMIO, 0x80), <linux/kvm.h>
ITERATIONS = 20000
ROUNDS = 3
QEMU_STATUS = (0x21 << 1) | 1  # isa-debug-exit, microbench/guests/bench.inc


def log(msg):
    print("vmm-side: " + msg, file=sys.stderr, flush=True)


def rom_with(path, iterations, dst):
    data = bytearray(open(path, "rb").read())
    if data[:8] != b"ROOFBNCH":
        raise SystemExit("vmm-side: %s is not a bench ROM" % path)
    data[8:12] = struct.pack("<I", iterations)
    with open(dst, "wb") as f:
        f.write(data)


def gaps(perf_data):
    """Gaps between a KVM_RUN's return and the next KVM_RUN, per thread."""
    out = subprocess.run(
        ["perf", "script", "--ns", "-F", "tid,time,event,trace", "-i",
         perf_data], capture_output=True, text=True, check=True).stdout
    pending = {}   # tid -> cmd of the ioctl that is in flight
    returned = {}  # tid -> time KVM_RUN last returned
    result = []
    for line in out.splitlines():
        parts = line.split()
        if len(parts) < 3:
            continue
        try:
            tid = int(parts[0])
            t = float(parts[1].rstrip(":"))
        except ValueError:
            continue
        event = parts[2]
        if event.startswith("syscalls:sys_enter_ioctl"):
            cmd = None
            for i, p in enumerate(parts):
                if p == "cmd:" and i + 1 < len(parts):
                    cmd = int(parts[i + 1].rstrip(","), 16)
            pending[tid] = cmd
            if cmd == KVM_RUN and tid in returned:
                result.append((t - returned.pop(tid)) * 1e9)
        elif event.startswith("syscalls:sys_exit_ioctl"):
            if pending.pop(tid, None) == KVM_RUN:
                returned[tid] = t
    return result


def record(cmd, expect_status, tmp):
    data = os.path.join(tmp, "perf.data")
    proc = subprocess.run(
        ["perf", "record", "-q", "-o", data,
         "-e", "syscalls:sys_enter_ioctl", "-e", "syscalls:sys_exit_ioctl",
         "--"] + cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    if proc.returncode != expect_status:
        raise RuntimeError("%s exited %d: %s" % (cmd[0], proc.returncode,
                                                 proc.stderr.decode()[-300:]))
    return gaps(data)


def summary(samples, iterations):
    samples.sort()
    n = len(samples)
    return {"median_ns": statistics.median(samples),
            "p90_ns": samples[int(n * 0.9)], "gaps": n,
            "iterations": iterations}


def main():
    if len(sys.argv) != 3:
        raise SystemExit(__doc__)
    build, out = sys.argv[1], sys.argv[2]
    for tool in ("perf", "qemu-system-x86_64"):
        if not shutil.which(tool):
            raise SystemExit("vmm-side: %s not found (make deps)" % tool)
    rom_src = os.path.join(build, "guests", "io-out.bin")
    bench = os.path.join(build, "roof-bench")
    tmp = tempfile.mkdtemp(prefix="roof-vmm-side-")
    try:
        rom = os.path.join(tmp, "io-out.rom")
        rom_with(rom_src, ITERATIONS, rom)
        vmms = {
            "qemu": (["qemu-system-x86_64", "-accel", "kvm", "-machine", "pc",
                      "-nodefaults", "-display", "none", "-monitor", "none",
                      "-serial", "none", "-parallel", "none", "-net", "none",
                      "-no-reboot", "-m", "16", "-bios", rom, "-device",
                      "isa-debug-exit,iobase=0xf4,iosize=0x04"], QEMU_STATUS),
            "oneroof_fast": ([bench, "--kernel", "kvm", "--exit", "io-out",
                              "--policy", "fast", "--iters", str(ITERATIONS),
                              "--no-reference", "--format", "csv"], 0),
            "bare": ([bench, "--kernel", "kvm", "--exit", "io-out",
                      "--policy", "bare", "--iters", str(ITERATIONS),
                      "--no-reference", "--format", "csv"], 0),
        }
        samples = {name: [] for name in vmms}
        for r in range(ROUNDS):
            order = list(vmms)[r % 3:] + list(vmms)[:r % 3]
            for name in order:
                log("round %d/%d: %s" % (r + 1, ROUNDS, name))
                cmd, status = vmms[name]
                samples[name] += record(cmd, status, tmp)
        result = {name: summary(s, ITERATIONS) for name, s in samples.items()}
        result["method"] = ("gap from KVM_RUN's return to the next KVM_RUN "
                            "on the same thread, kernel-stamped by perf "
                            "syscall tracepoints; io-out ROM")
        os.makedirs(out, exist_ok=True)
        with open(os.path.join(out, "vmm-side.json"), "w") as f:
            json.dump(result, f, indent=1)
        for name in vmms:
            log("%-13s median %7.0f ns over %d gaps" % (
                name, result[name]["median_ns"], result[name]["gaps"]))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
