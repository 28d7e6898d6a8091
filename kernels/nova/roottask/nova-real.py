#!/usr/bin/env python3
"""nova-real.py - boot oneroof's NOVA root task on the user's NOVA.

  nova-real.py test  [--build DIR]                  make test-nova-real
  nova-real.py bench [--build DIR] [--results FILE] make bench-nova-real

NOVA_HYPERVISOR names the hypervisor image (Genode's NOVA fork, branch r10,
x86_64; the user's input, like a kernel image: oneroof ships no NOVA code or
binary). Without it both modes say how to get NOVA and skip (exit 0).

The runner converts the image to ELF32 (QEMU's multiboot loader refuses
ELF64; NOVA loads by physical address, so objcopy's conversion boots), boots
QEMU's TCG with emulated AMD SVM (-cpu EPYC,+svm: nested paging) with the
root task as the multiboot module, shows the root task's serial lines as they
come and parses them (kernels/nova/roottask/README.md has the line formats).

test:  the root task's tests; ends with "N passed, N failed".
bench: two boots of the bench root task. The first under -icount shift=0,
       where the TSC counts instructions, gives instructions per exit; the
       second, plain TCG, gives exits per emulated second. Each boot runs
       both policies side by side and yields its own tuned/genode ratio. The
       UTCB bytes per exit are exact (what load_svm/save_svm copy for the
       MTDs the kernel saw). Writes DIR/nova-real/bench.json and the
       'nova-real (bench-nova-real)' section of RESULTS.md.
"""
import argparse
import hashlib
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", "..", ".."))
PREFIX = "roof-nova: "
BEGIN = "<!-- BEGIN nova-real (bench-nova-real) -->"
END = "<!-- END nova-real (bench-nova-real) -->"

HOW_TO_GET_NOVA = """\
{target}: skipped: NOVA_HYPERVISOR is not set.
  oneroof boots its root task on your own build of the NOVA microhypervisor
  (Genode's fork, branch r10), under QEMU's TCG with emulated SVM. To get it:
    git clone -b r10 https://github.com/alex-ab/NOVA.git
    make -C NOVA/build ARCH=x86_64        (see NOVA's README)
  then:
    NOVA_HYPERVISOR=$PWD/NOVA/build/hypervisor-x86_64 make {target}"""

# QEMU: TCG with an AMD CPU that has SVM and nested paging (nova-real.md);
# isa-debug-exit lets the root task end the run with a status.
QEMU_ARGS = ["-accel", "tcg", "-cpu", "EPYC,+svm", "-m", "256", "-smp", "1",
             "-display", "none", "-no-reboot", "-nodefaults",
             "-device", "isa-debug-exit,iobase=0xf4,iosize=0x04",
             "-serial", "stdio", "-append", "serial"]

# NOVA's MTD bits (alex-ab/NOVA r10 include/mtd.hpp), for the table.
MTD_NAMES = [(0, "ACDB"), (1, "EBSD"), (2, "ESP"), (3, "EIP"), (4, "EFL"),
             (5, "ESDS"), (6, "FSGS"), (7, "CSSS"), (8, "TR"), (9, "LDTR"),
             (10, "GDTR"), (11, "IDTR"), (12, "CR"), (13, "DR"), (14, "SYS"),
             (15, "QUAL"), (16, "CTRL"), (17, "INJ"), (18, "STA"),
             (19, "TSC"), (20, "EFER"), (21, "PDPTE"), (22, "R8_R15"),
             (23, "SYSCALL_SWAPGS"), (24, "TPR"), (25, "TSC_AUX"),
             (26, "XSAVE"), (31, "FPU")]


class Failure(Exception):
    pass


def say(target, text):
    print("%s: %s" % (target, text), flush=True)


def mtd_names(mtd):
    names = [n for bit, n in MTD_NAMES if mtd >> bit & 1]
    if len(names) > 8:
        return "%d groups" % len(names)
    return "\\|".join(names) if names else "-"


# ---- the image ----------------------------------------------------------------
def elf_class(path):
    try:
        with open(path, "rb") as f:
            head = f.read(20)
    except OSError as e:
        raise Failure("NOVA_HYPERVISOR=%s: cannot read it: %s"
                      % (path, e.strerror))
    if len(head) < 20 or head[:4] != b"\x7fELF":
        raise Failure("NOVA_HYPERVISOR=%s is not an ELF file (give the "
                      "hypervisor NOVA's build/ makes, e.g. "
                      "hypervisor-x86_64)" % path)
    machine = int.from_bytes(head[18:20], "little")
    return head[4], machine


def hypervisor_image(path, workdir):
    """The image QEMU's multiboot loader takes: ELF32 (converted if ELF64)."""
    cls, machine = elf_class(path)
    if cls == 1:
        return path
    if cls != 2 or machine != 0x3e:
        raise Failure("NOVA_HYPERVISOR=%s is an ELF for machine %#x; oneroof "
                      "needs NOVA's x86_64 hypervisor" % (path, machine))
    objcopy = shutil.which("objcopy")
    if not objcopy:
        raise Failure("objcopy (binutils) is missing: apt-get install "
                      "binutils, or make deps")
    out = os.path.join(workdir, "hypervisor.elf32")
    r = subprocess.run([objcopy, "-O", "elf32-i386", path, out],
                       capture_output=True, text=True)
    if r.returncode:
        raise Failure("objcopy -O elf32-i386 %s failed: %s"
                      % (path, r.stderr.strip()))
    return out


def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 16), b""):
            h.update(chunk)
    return h.hexdigest()


# ---- a boot ---------------------------------------------------------------------
class Boot:
    """One QEMU run: its serial lines, the root task's exit code, the log."""

    def __init__(self, lines, code, timed_out, log):
        self.lines, self.code, self.timed_out, self.log = \
            lines, code, timed_out, log
        self.roof = [l[len(PREFIX):] for l in lines if l.startswith(PREFIX)]

    def banner(self):
        for l in self.lines:
            if l.startswith("NOVA Microhypervisor"):
                return l.strip()
        return None

    def first(self, word):
        for l in self.roof:
            if l.split(" ", 1)[0] == word:
                return l
        return None


def boot(target, qemu, hyp, roottask, extra, label, timeout, workdir):
    log = os.path.join(workdir, "%s.log" % label)
    errlog = os.path.join(workdir, "%s.qemu-stderr" % label)
    cmd = [qemu] + QEMU_ARGS + extra + ["-kernel", hyp, "-initrd", roottask]
    say(target, "booting (%s): %s" % (label, " ".join(cmd)))
    lines = []
    with open(errlog, "w") as err, open(log, "w") as out:
        p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=err,
                             stdin=subprocess.DEVNULL)
        killed = threading.Event()

        def watchdog():
            killed.set()
            p.kill()
        timer = threading.Timer(timeout, watchdog)
        timer.start()
        try:
            for raw in p.stdout:
                line = raw.decode("utf-8", "replace").rstrip("\r\n").lstrip("\f")
                out.write(line + "\n")
                lines.append(line)
                if line.startswith(PREFIX) or \
                        line.startswith("NOVA Microhypervisor"):
                    print("  " + line, flush=True)  # progress
            rc = p.wait()
        finally:
            timer.cancel()
    if killed.is_set():
        return Boot(lines, None, True, log)
    # isa-debug-exit: QEMU exits with (code << 1) | 1
    if rc & 1 and rc > 0:
        return Boot(lines, rc >> 1, False, log)
    with open(errlog) as f:
        errs = [l.strip() for l in f if "warning" not in l]
    raise Failure("QEMU ended with status %d before the root task said "
                  "how it went%s (serial log: %s)"
                  % (rc, (": " + errs[-1]) if errs else "", log))


def check_started(b, what):
    if b.timed_out and not b.roof:
        raise Failure("%s: no line from the root task before the timeout "
                      "(is NOVA_HYPERVISOR a NOVA r10 x86_64 image? serial "
                      "log: %s)" % (what, b.log))
    if not b.first("BOOT"):
        raise Failure("%s: the root task did not start (serial log: %s)"
                      % (what, b.log))
    if "vmi=svm" not in b.first("BOOT"):
        raise Failure("%s: NOVA offers no SVM vCPUs: %s" % (what,
                                                          b.first("BOOT")))
    fatal = b.first("FATAL")
    if fatal:
        raise Failure("%s: the root task failed: %s (serial log: %s)"
                      % (what, fatal, b.log))


# ---- test ---------------------------------------------------------------------------
def run_test(args, qemu, hyp, workdir):
    roottask = os.path.join(args.build, "nova-root", "roottask-test.elf")
    b = boot("test-nova-real", qemu, hyp, roottask, [], "test",
             args.timeout or 300, workdir)
    check_started(b, "test-nova-real")
    passed = failed = 0
    for l in b.roof:
        m = re.match(r"TEST (\S+) (PASS|FAIL)", l)
        if m:
            if m.group(2) == "PASS":
                passed += 1
            else:
                failed += 1
    done = b.first("DONE")
    if b.timed_out or not done:
        print("test-nova-real: the root task did not finish (%s; serial "
              "log: %s)" % ("timeout" if b.timed_out else "no DONE line",
                            b.log))
        failed += 1
    else:
        m = re.match(r"DONE tests=(\d+) failed=(\d+)", done)
        if not m or int(m.group(1)) != passed + failed or \
                int(m.group(2)) != failed:
            print("test-nova-real: the root task's count (%s) disagrees "
                  "with its TEST lines (%d passed, %d failed)"
                  % (done, passed, failed))
            failed += 1
        elif b.code != (1 if failed else 0):
            print("test-nova-real: exit status %s disagrees with the "
                  "report" % b.code)
            failed += 1
    if passed == 0 and failed == 0:
        failed = 1
    print("%d passed, %d failed" % (passed, failed))
    return 1 if failed else 0


# ---- bench -----------------------------------------------------------------------------
BENCH_RE = re.compile(r"BENCH (.*)")


def parse_bench(b, what):
    rows = []
    for l in b.roof:
        m = BENCH_RE.match(l)
        if not m:
            continue
        kv = dict(f.split("=", 1) for f in m.group(1).split())
        r = {"guest": kv["guest"], "policy": kv["policy"],
             "round": int(kv["round"])}
        for k in ("loop_exits", "exits", "tsc", "portal_exits",
                  "bytes_out", "bytes_in", "crossings"):
            r[k] = int(kv[k])
        r["portal"] = int(kv["portal"], 16)
        r["mtd"] = int(kv["mtd"], 16)
        # every loop exit and the round's two bracket exits (PAUSED at
        # the start, the done port at the end) reached the VMM
        if r["exits"] != r["loop_exits"] + 2 or \
                r["portal_exits"] < r["loop_exits"]:
            raise Failure("%s: %s/%s round %d lost exits: %s"
                          % (what, r["guest"], r["policy"], r["round"], l))
        rows.append(r)
    if not rows:
        raise Failure("%s: no BENCH line (serial log: %s)" % (what, b.log))
    if not b.first("DONE") or b.timed_out:
        raise Failure("%s: the bench did not finish (serial log: %s)"
                      % (what, b.log))
    return rows


def summarize(rows, tsc_khz):
    out = {}
    for r in rows:
        out.setdefault((r["guest"], r["policy"]), []).append(r)
    table = {}
    for (g, pol), rs in out.items():
        per_exit = [r["tsc"] / r["loop_exits"] for r in rs]
        med = statistics.median(per_exit)
        table[(g, pol)] = {
            "rounds": len(rs),
            "tsc_per_exit": med,
            "tsc_per_exit_min": min(per_exit),
            "tsc_per_exit_max": max(per_exit),
            "exits_per_second": tsc_khz * 1000.0 / med,
            "bytes_out": rs[0]["bytes_out"] / rs[0]["portal_exits"],
            "bytes_in": rs[0]["bytes_in"] / rs[0]["portal_exits"],
            "mtd": rs[0]["mtd"], "portal": rs[0]["portal"],
            "crossings": rs[0]["crossings"] / rs[0]["exits"],
        }
        for r in rs:  # exact: every round moves the same bytes
            if r["mtd"] != rs[0]["mtd"] or \
                    r["bytes_out"] * rs[0]["portal_exits"] != \
                    rs[0]["bytes_out"] * r["portal_exits"]:
                raise Failure("%s/%s: the UTCB transfer changed between "
                              "rounds" % (g, pol))
    return table


def boot_bench(args, qemu, hyp, workdir, extra, label):
    roottask = os.path.join(args.build, "nova-root", "roottask-bench.elf")
    what = "bench-nova-real (%s)" % label
    b = boot("bench-nova-real", qemu, hyp, roottask, extra, label,
             args.timeout or 900, workdir)
    check_started(b, what)
    m = re.search(r"tsc_khz=(\d+)", b.first("BOOT"))
    tsc_khz = int(m.group(1))
    rows = parse_bench(b, what)
    calib = b.first("CALIB")
    return b, tsc_khz, rows, summarize(rows, tsc_khz), calib


def qemu_version(qemu):
    r = subprocess.run([qemu, "--version"], capture_output=True, text=True)
    return r.stdout.splitlines()[0] if r.stdout else "unknown"


def git_head():
    r = subprocess.run(["git", "-C", ROOT, "describe", "--always", "--dirty"],
                       capture_output=True, text=True)
    return r.stdout.strip() or "unknown"


def render(data):
    guests = data["guests"]
    icount, tcg = data["boots"]["icount"], data["boots"]["tcg"]
    L = []
    L.append("Generated by `NOVA_HYPERVISOR=... make bench-nova-real` "
             "(kernels/nova/roottask/nova-real.py) at oneroof %s on %s: "
             "%s, image sha256 %s..., under %s (`-accel tcg -cpu EPYC,+svm "
             "-smp 1`). Two boots, each running both policies in alternating "
             "rounds (%d rounds of %s loop exits per guest and policy; "
             "medians of the rounds)."
             % (data["oneroof"], data["date"], data["nova"],
                data["hypervisor_sha256"][:16], data["qemu"],
                icount["rounds"], "/".join(str(n) for n in
                                            data["loop_exits"])))
    L.append("")
    L.append("| guest | policy | portal MTD (groups) | UTCB bytes out / in "
             "per exit | instructions per exit (icount) | tuned/genode | "
             "exits per emulated s (TCG) | tuned/genode |")
    L.append("|---|---|---|---|---|---|---|---|")
    for g in guests:
        for pol in ("genode", "tuned"):
            a = icount["table"]["%s/%s" % (g, pol)]
            t = tcg["table"]["%s/%s" % (g, pol)]
            ri = icount["ratio"][g]
            rt = tcg["ratio"][g]
            L.append("| %s | %s | %#x (%s) | %.0f / %.0f | %.0f | %s | "
                     "%.0f | %s |"
                     % (g, pol, a["mtd"], mtd_names(a["mtd"]),
                        a["bytes_out"], a["bytes_in"], a["tsc_per_exit"],
                        "%.3f" % ri if pol == "tuned" else "",
                        t["exits_per_second"],
                        "%.3f" % rt if pol == "tuned" else ""))
    L.append("")
    L.append("Tuned/genode is tuned's instructions (or emulated time) per "
             "exit over genode's, from the same boot: below 1 means the "
             "per-portal MTDs save that share. Exits per emulated second is "
             "the reciprocal of the TSC time per exit in the plain-TCG boot.")
    L.append("")
    L.append("**Method.** `roottask-test.elf` and `roottask-bench.elf` are "
             "oneroof's own NOVA root task (kernels/nova/roottask/). They "
             "compile the very source files of state/, fastpath/ (the "
             "dispatch, the decode, svm_exit, the nasm gather/scatter) and "
             "kernels/nova/client/ that the Linux model builds, freestanding; "
             "the VMM handlers are the shared test VMMs "
             "(tests/util/). Each exit is NOVA's own: the guest's SVM exit, "
             "the kernel's load_svm into the handler EC's UTCB by the "
             "portal's MTD, the portal call, the client's gather and the "
             "dispatch, the reply and save_svm. The genode policy gives every "
             "portal MTD ALL + FPU, as Genode's vm.cc does; tuned gives each "
             "portal the groups its handlers declared. The bench guests are "
             "microbench/guests/ (real-mode loops: `out 0x80`, `hlt`, "
             "`cpuid`), the VMM's handlers do nothing but resume (hlt "
             "advances rip).")
    L.append("")
    L.append("**Limits.** Nothing here is a hardware time. QEMU's TCG "
             "emulates the CPU and SVM in software, so the emulated-time "
             "column says how the two policies compare under TCG, not what "
             "an exit costs on silicon. Under `-icount shift=0` the TSC "
             "counts executed instructions (guest, NOVA and root task alike) "
             "one per tick; a `rep movsb` counts one per byte (%s) and "
             "`xsave`/`xrstor` one each whatever they move, so icount weighs "
             "byte copies heavily and NOVA's FPU switch hardly at all. The "
             "UTCB bytes are exact: what load_svm and save_svm copy for the "
             "MTD of each exit (fpu_size %d bytes from CPUID 0xd, as NOVA's "
             "Fpu::probe). QEMU's TCG has no VMX, so this is NOVA's SVM path "
             "only; it has no nrip-save either, so the client computes the "
             "next rip (IOIO gives it in exit info 2). One CPU. The model "
             "rows (kernel models, above) run NOVA's VMX path over KVM and "
             "count the same client work differently; the two are not one "
             "table."
             % (data["calib"], data["fpu_size"]))
    return "\n".join(L)


def write_results(path, body):
    try:
        with open(path) as f:
            text = f.read()
    except OSError as e:
        raise Failure("cannot read %s: %s" % (path, e.strerror))
    section = BEGIN + "\n" + body + "\n" + END
    if BEGIN in text and END in text:
        head, rest = text.split(BEGIN, 1)
        _, tail = rest.split(END, 1)
        text = head + section + tail
    else:
        raise Failure("%s has no '%s' marker pair" % (path, BEGIN))
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write(text)
    os.replace(tmp, path)


def run_bench(args, qemu, hyp, workdir):
    boots = {}
    guests = []
    for label, extra in (("icount", ["-icount", "shift=0"]), ("tcg", [])):
        b, khz, rows, table, calib = boot_bench(args, qemu, hyp, workdir,
                                                extra, label)
        for r in rows:
            if r["guest"] not in guests:
                guests.append(r["guest"])
        ratio = {}
        for g in guests:
            ratio[g] = table[(g, "tuned")]["tsc_per_exit"] / \
                table[(g, "genode")]["tsc_per_exit"]
        boots[label] = {"tsc_khz": khz, "rounds": max(
            r["round"] for r in rows), "calib": calib, "ratio": ratio,
            "table": {"%s/%s" % k: v for k, v in table.items()},
            "loop_exits": sorted({r["loop_exits"] for r in rows}),
            "boot": b.first("BOOT"), "nova": b.banner()}
        say("bench-nova-real", "%s boot:" % label)
        unit = "instructions" if label == "icount" else "TSC ticks"
        for g in guests:
            ge, tu = table[(g, "genode")], table[(g, "tuned")]
            print("  %-7s genode %8.0f %s/exit  tuned %8.0f  "
                  "tuned/genode %.3f  UTCB bytes/exit %4.0f -> %4.0f"
                  % (g, ge["tsc_per_exit"], unit, tu["tsc_per_exit"],
                     ratio[g], ge["bytes_out"] + ge["bytes_in"],
                     tu["bytes_out"] + tu["bytes_in"]), flush=True)
    icount = boots["icount"]
    m = re.search(r"rep_movsb_bytes=(\d+) tsc=(\d+)", icount["calib"] or "")
    calib = ("%s bytes took %s ticks here" % (m.group(1), m.group(2))
             if m else "not measured")
    fpu = re.search(r"fpu_size=(\d+)", icount["boot"])
    data = {
        "oneroof": git_head(), "date": time.strftime("%Y-%m-%d"),
        "nova": icount["nova"] or "unknown banner",
        "hypervisor": os.environ["NOVA_HYPERVISOR"],
        "hypervisor_sha256": sha256(os.environ["NOVA_HYPERVISOR"]),
        "qemu": qemu_version(qemu), "guests": guests,
        "loop_exits": icount["loop_exits"], "calib": calib,
        "fpu_size": int(fpu.group(1)) if fpu else 0, "boots": boots,
    }
    with open(os.path.join(workdir, "bench.json"), "w") as f:
        json.dump(data, f, indent=1)
    say("bench-nova-real", "data: %s" % os.path.join(workdir, "bench.json"))
    for g in guests:
        print("bench-nova-real: %s tuned/genode: %.3f instructions per exit "
              "(icount boot), %.3f emulated time per exit (TCG boot)"
              % (g, boots["icount"]["ratio"][g], boots["tcg"]["ratio"][g]))
    if args.results:
        write_results(args.results, render(data))
        say("bench-nova-real", "wrote the nova-real section of %s"
            % args.results)
    return 0


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("mode", choices=("test", "bench"))
    ap.add_argument("--build", default=os.path.join(ROOT, "build"))
    ap.add_argument("--results", default=None,
                    help="RESULTS.md whose nova-real section to write")
    ap.add_argument("--timeout", type=float, default=0,
                    help="seconds per boot (default: test 300, bench 900)")
    args = ap.parse_args()
    target = "test-nova-real" if args.mode == "test" else "bench-nova-real"
    hyp_path = os.environ.get("NOVA_HYPERVISOR", "")
    if not hyp_path:
        print(HOW_TO_GET_NOVA.format(target=target))
        return 0
    try:
        qemu = shutil.which("qemu-system-x86_64")
        if not qemu:
            raise Failure("qemu-system-x86_64 is missing: apt-get install "
                          "qemu-system-x86, or make deps")
        roottask = os.path.join(args.build, "nova-root",
                                "roottask-%s.elf" % args.mode)
        if not os.path.exists(roottask):
            raise Failure("%s is missing: make nova-roottask" % roottask)
        workdir = os.path.join(args.build, "nova-real")
        os.makedirs(workdir, exist_ok=True)
        hyp = hypervisor_image(hyp_path, workdir)
        if args.mode == "test":
            return run_test(args, qemu, hyp, workdir)
        return run_bench(args, qemu, hyp, workdir)
    except Failure as e:
        print("%s: error: %s" % (target, e), file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
