#!/usr/bin/env python3
"""gen-results.py - the benchmark sections of RESULTS.md, the plot data and
bench.csv, from one roof-bench run (microbench/run-bench.sh).

  gen-results.py substrate OUT.json       facts about this machine (at bench time)
  gen-results.py render DATA RESULTS.md   fill the '(bench)' marker sections

DATA holds what roof-bench --out wrote (bench.json, meta.json, goals.json,
cdf/, qemu.json, qemu-meta.json, goals-qemu.json) and substrate.json.
Each section's text is a template in microbench/results/<section>.md; every
number in it comes from a placeholder:
  {{name}}              a value computed here (see values())
  {{= expr | fmt}}      a Python expression over r(kernel, exit, policy,
                        field) (bench.json), o(kernel, exit, policy, field)
                        (ops.json: vmcs_reads, vmcs_writes, fpu_ops,
                        substrate_ioctls, all per exit) and v(name),
                        formatted by fmt (us, ns, x, f1, f2, f3, int, pct)
  {{table:name}}        a generated table
A value that was not measured renders as 'n/a'. Only text between
<!-- BEGIN name (bench) --> and <!-- END name (bench) --> is replaced.
"""
import json
import math
import os
import platform
import re
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
TEMPLATES = os.path.join(HERE, "results")
SECTIONS = ["method", "substrate", "kvm", "qemu", "kernels", "goals"]
KVM_POLICIES = ["bare", "fast", "unblocked", "full", "entrypoint", "naive",
                "genode"]
EXITS = ["io-out", "io-in", "mmio-read", "mmio-write", "hlt", "msr-read",
         "msr-write", "cpuid", "cpuid-user", "pause", "io-out-2vcpu"]
MODEL_KERNELS = ["nova", "sel4", "foc", "hw"]
COLUMNS = ["kernel", "exit", "policy", "iters", "p50_ns", "p90_ns", "p99_ns",
           "max_ns", "handler_p50_ns", "handler_p99_ns", "crossings_per_exit",
           "bytes_per_exit", "hops_per_exit", "ratio_to_bare"]


def die(msg):
    sys.stderr.write("gen-results: %s\n" % msg)
    sys.exit(1)


def run(cmd):
    try:
        return subprocess.run(cmd, capture_output=True, text=True,
                              timeout=20).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return ""


def read(path, default=""):
    try:
        with open(path) as f:
            return f.read()
    except OSError:
        return default


# ---- substrate facts (collected when the bench runs) ------------------------
def collect_substrate(out):
    cpuinfo = read("/proc/cpuinfo")
    model = re.search(r"^model name\s*:\s*(.*)$", cpuinfo, re.M)
    flags = re.search(r"^flags\s*:\s*(.*)$", cpuinfo, re.M)
    flags = flags.group(1).split() if flags else []
    virt = [f for f in ("vmx", "svm") if f in flags]
    mem = re.search(r"MemTotal:\s*(\d+)", read("/proc/meminfo"))
    pmu = os.path.isdir("/sys/bus/event_source/devices/cpu")
    qemu = run(["qemu-system-x86_64", "--version"]).splitlines()
    facts = {
        "cpu_model": model.group(1) if model else "unknown",
        "cpus_online": os.cpu_count(),
        "mem_gib": round(int(mem.group(1)) / 1048576, 1) if mem else None,
        "virt_flags": " ".join(virt) if virt else "none (no vmx, no svm)",
        "tsc_flags": " ".join(f for f in ("constant_tsc", "nonstop_tsc",
                                          "tsc_known_freq") if f in flags),
        "clocksource": read("/sys/devices/system/clocksource/clocksource0/"
                            "current_clocksource").strip(),
        "kernel": platform.release(),
        "debian": read("/etc/debian_version").strip(),
        "kvm": "present" if os.path.exists("/dev/kvm") else "missing",
        "kvm_modules": " ".join(sorted(m for m in os.listdir("/sys/module")
                                       if m.startswith("kvm"))) or "none",
        "pmu": "present" if pmu else "none (perf stat: software events only)",
        "qemu": qemu[0] if qemu else "not installed",
        "cc": run(["cc", "--version"]).splitlines()[0:1] or ["unknown"],
        "loadavg": read("/proc/loadavg").split()[:3],
        "date": time.strftime("%Y-%m-%d %H:%M %Z"),
        "commit": run(["git", "-C", os.path.dirname(HERE), "rev-parse",
                       "--short", "HEAD"]) or
        os.environ.get("ROOF_BENCH_COMMIT", "unknown"),  # exported trees
    }
    facts["cc"] = facts["cc"][0]
    with open(out, "w") as f:
        json.dump(facts, f, indent=1)
        f.write("\n")


# ---- data -------------------------------------------------------------------
class Data:
    def __init__(self, d):
        def load(name, default):
            p = os.path.join(d, name)
            if not os.path.exists(p):
                return default
            try:
                with open(p) as f:
                    return json.load(f)
            except ValueError as e:
                die("%s is not valid JSON: %s" % (p, e))
        self.dir = d
        self.records = load("bench.json", None)
        if self.records is None:
            die("%s/bench.json missing: run roof-bench --format json "
                "--out %s first" % (d, d))
        for rec in self.records:
            missing = [c for c in COLUMNS if c not in rec]
            if missing:
                die("bench.json record lacks %s" % ", ".join(missing))
        self.meta = load("meta.json", {})
        self.goals = load("goals.json", []) + load("goals-qemu.json", [])
        self.qemu = load("qemu.json", None)
        self.qemu_meta = load("qemu-meta.json", {})
        self.vmm_side = load("vmm-side.json", None)
        self.ops = {(x["kernel"], x["exit"], x["policy"]): x
                    for x in load("ops.json", [])}
        self.sub = load("substrate.json", {})
        self.by = {(x["kernel"], x["exit"], x["policy"]): x
                   for x in self.records}
        self.kernels = []
        for x in self.records:
            if x["kernel"] not in self.kernels:
                self.kernels.append(x["kernel"])

    def r(self, kernel, exit, policy, field):
        rec = self.by.get((kernel, exit, policy))
        if rec is None and kernel == "kvm" and policy == "tuned":
            rec = self.by.get(("kvm", exit, "fast"))  # tuned on kvm = fast
        if rec is None:
            raise LookupError("%s/%s/%s not measured" % (kernel, exit, policy))
        v = rec[field]
        if v is None:
            raise LookupError("%s/%s/%s %s is null" % (kernel, exit, policy,
                                                      field))
        return v


def fmt_value(v, how):
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "n/a"
    if how == "us":
        return "%.1f µs" % (v / 1000.0)
    if how == "ns":
        return "%d ns" % round(v)
    if how == "x":
        return "%.2f×" % v
    if how == "pct":
        return "%.1f %%" % (v * 100.0)
    if how == "int":
        return "%d" % round(v)
    if how in ("f1", "f2", "f3", "f4"):
        return "%.*f" % (int(how[1]), v)
    return str(v)


def cell(v, how):
    return "–" if v is None else fmt_value(v, how)


# ---- tables -----------------------------------------------------------------
def records_table(rows):
    head = ("| kernel | exit | policy | iters | p50 | p90 | p99 | max "
            "| handler p50 | handler p99 | crossings | bytes | hops "
            "| ratio to bare |\n"
            "|---|---|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|\n")
    out = []
    for x in rows:
        per = " (per cpuid)" if x["exit"] == "cpuid" else ""
        out.append("| %s | %s%s | %s | %d | %s | %s | %s | %s | %s | %s "
                   "| %s | %s | %s | %s |" % (
                       x["kernel"], x["exit"], per, x["policy"], x["iters"],
                       cell(x["p50_ns"], "us"), cell(x["p90_ns"], "us"),
                       cell(x["p99_ns"], "us"), cell(x["max_ns"], "us"),
                       cell(x["handler_p50_ns"], "ns"),
                       cell(x["handler_p99_ns"], "ns"),
                       cell(x["crossings_per_exit"], "f2"),
                       cell(x["bytes_per_exit"], "int"),
                       cell(x["hops_per_exit"], "f2"),
                       cell(x["ratio_to_bare"], "f3")))
    return head + "\n".join(out) + "\n" if out else "(no records)\n"


def table_kvm(D):
    rows = [D.by[k] for k in
            (("kvm", e, p) for e in EXITS for p in KVM_POLICIES + ["tuned"])
            if k in D.by]
    return records_table(rows)


def table_kernels(D):
    models = [k for k in D.kernels if k != "kvm"]
    if not models:
        return ("Only kvm is built into this run's roof-bench "
                "(kernels built: %s); the model kernels appear here once "
                "they register as backends.\n" %
                D.meta.get("kernels_built", "kvm"))
    cols = [(k, p) for k in D.kernels for p in ("genode", "tuned")]

    def rec(k, e, p):
        try:
            D.r(k, e, p, "kernel")  # kvm tuned falls back to fast
        except LookupError:
            return None
        return D.by.get((k, e, p)) or D.by.get((k, e, "fast"))

    out = ["p50 round trip as a multiple of kvm bare (same run); cpuid per "
           "instruction:", "",
           "| exit | " + " | ".join("%s %s" % c for c in cols) + " |",
           "|---|" + "--:|" * len(cols)]
    for e in EXITS:
        row = [rec(k, e, p) for k, p in cols]
        if not any(row):
            continue
        out.append("| %s | %s |" % (e, " | ".join(
            cell(x["ratio_to_bare"] if x else None, "f2") for x in row)))
    out += ["", "Per io-out exit, counted: crossings / bytes / hops:", "",
            "| kernel | genode | tuned |", "|---|---|---|"]
    for k in D.kernels:
        cells = []
        for p in ("genode", "tuned"):
            x = rec(k, "io-out", p)
            cells.append("–" if not x else "%s / %s / %s" % (
                cell(x["crossings_per_exit"], "f2"),
                cell(x["bytes_per_exit"], "int"),
                cell(x["hops_per_exit"], "f2")))
        out.append("| %s | %s |" % (k, " | ".join(cells)))
    rows = [x for e in EXITS for k, p in cols
            for x in [rec(k, e, p)] if x is not None]
    out += ["", "<details><summary>All records of these kernels and "
            "policies</summary>", "", records_table(rows).rstrip("\n"), "",
            "</details>"]
    return "\n".join(out) + "\n"


def table_qemu(D):
    if not D.qemu:
        return "(--vs-qemu did not run)\n"
    q, m = D.qemu, D.qemu_meta
    bare = m.get("bare_ns")
    return ("| exit | oneroof fast | QEMU -accel kvm | qemu/ours | bare "
            "KVM_RUN loop | qemu/bare |\n|---|--:|--:|--:|--:|--:|\n"
            "| %s | %s | %s | %s | %s | %s |\n" % (
                q["exit"], cell(q["ours_ns"], "ns"), cell(q["qemu_ns"], "ns"),
                cell(q["ratio"], "f3"), cell(bare, "ns"),
                cell(q["qemu_ns"] / bare if bare else None, "f3")))


def table_vmm_side(D):
    vs = D.vmm_side
    if not vs:
        return "(microbench/vmm-side.py did not run)\n"
    floor = vs["bare"]["median_ns"]
    out = ["| VMM | gap p50 | gap p90 | added over the bare loop | gaps |",
           "|---|--:|--:|--:|--:|"]
    for key, name in (("bare", "bare KVM_RUN loop"),
                      ("oneroof_fast", "oneroof fast"), ("qemu", "QEMU")):
        x = vs[key]
        out.append("| %s | %s | %s | %s | %d |" % (
            name, cell(x["median_ns"], "ns"), cell(x["p90_ns"], "ns"),
            cell(x["median_ns"] - floor, "ns"), x["gaps"]))
    return "\n".join(out) + "\n"


def table_goals(D):
    if not D.goals:
        return "(no goals were checked)\n"
    out = ["| goal | value | limit | result |", "|---|--:|--:|---|"]
    for g in D.goals:
        out.append("| %s | %s | %s %g | **%s** |" % (
            g["goal"], cell(g["value"], "f3"), g["op"], g["limit"],
            g["result"]))
    return "\n".join(out) + "\n"


def table_substrate(D):
    s = D.sub
    rows = [
        ("CPU (as the VM reports it)", s.get("cpu_model")),
        ("cores online", s.get("cpus_online")),
        ("memory", "%s GiB" % s.get("mem_gib")),
        ("hardware virtualisation flags", s.get("virt_flags")),
        ("/dev/kvm", "%s; KVM modules: %s" % (s.get("kvm"),
                                              s.get("kvm_modules"))),
        ("hardware PMU", s.get("pmu")),
        ("TSC", "%s, clocksource %s, %s GHz (calibrated)" % (
            s.get("tsc_flags"), s.get("clocksource"),
            fmt_value(D.meta.get("tsc_ghz"), "f3"))),
        ("kernel / Debian", "%s / %s" % (s.get("kernel"), s.get("debian"))),
        ("compiler", s.get("cc")),
        ("QEMU", s.get("qemu")),
        ("load average at start", " ".join(s.get("loadavg", []))),
        ("run", "%s, commit %s" % (s.get("date"), s.get("commit"))),
    ]
    return ("| | |\n|---|---|\n" +
            "\n".join("| %s | %s |" % (a, b) for a, b in rows) + "\n")


TABLES = {"kvm": table_kvm, "kernels": table_kernels, "qemu": table_qemu,
          "vmm_side": table_vmm_side,
          "goals": table_goals, "substrate": table_substrate}


# ---- computed values ----------------------------------------------------------
def values(D):
    m = D.meta
    v = {
        "iters": m.get("iters"), "chunk": m.get("chunk"),
        "warmup": m.get("warmup"), "rounds": m.get("rounds"),
        "tsc_ghz": fmt_value(m.get("tsc_ghz"), "f3"),
        "seconds": fmt_value(m.get("seconds"), "int"),
        "slope_cpuids": m.get("slope_cpuids"),
        "cpus": D.sub.get("cpus_online"),
        "kernels_built": m.get("kernels_built", "kvm"),
        "kernels_measured": ", ".join(D.kernels),
        "qemu_low": D.qemu_meta.get("n_low"),
        "qemu_high": D.qemu_meta.get("n_high"),
        "qemu_reps": D.qemu_meta.get("reps"),
        "goals_passed": sum(g["result"] == "PASS" for g in D.goals),
        "goals_failed": sum(g["result"] == "FAIL" for g in D.goals),
        "goals_unmeasured": sum(g["result"] not in ("PASS", "FAIL")
                                for g in D.goals),
    }
    failed = [g["goal"] for g in D.goals if g["result"] == "FAIL"]
    v["goals_failed_list"] = ", ".join(failed) if failed else "none"
    v["kvm_modules"] = D.sub.get("kvm_modules", "unknown")
    virt = D.sub.get("virt_flags", "unknown")
    v["virt_text"] = ("neither vmx nor svm" if virt.startswith("none")
                      else "the flags " + virt)
    v["pmu_text"] = ("There is no hardware PMU, so `make perf` reports "
                     "software events only" if not
                     D.sub.get("pmu", "").startswith("present") else
                     "A hardware PMU is present")
    if D.qemu:
        v["qemu_ns"] = D.qemu.get("qemu_ns")
        v["qemu_ours_ns"] = D.qemu.get("ours_ns")
        v["qemu_ratio"] = D.qemu.get("ratio")
        v["qemu_bare_ns"] = D.qemu_meta.get("bare_ns")
    if D.vmm_side:
        floor = D.vmm_side["bare"]["median_ns"]
        v["vs_ours_added"] = D.vmm_side["oneroof_fast"]["median_ns"] - floor
        v["vs_qemu_added"] = D.vmm_side["qemu"]["median_ns"] - floor
        v["vs_floor"] = floor
    v["goal_notes"] = goal_notes(D)
    v["kernel_notes"] = kernel_notes(D)
    return v


def kernel_notes(D):
    """Per model kernel: what its ABI costs and why, from the template
    microbench/results/kernel-<k>.md, its figures from this run."""
    out = []
    for k in [k for k in D.kernels if k != "kvm"]:
        tpl = read(os.path.join(TEMPLATES, "kernel-%s.md" % k), None)
        if tpl is None:
            out.append("- **%s**: (no paragraph template "
                       "microbench/results/kernel-%s.md)" % (k, k))
            continue
        out.append(render_template(tpl, D, {}).strip())
    return "\n\n".join(out)


def goal_notes(D):
    """One sentence with the figures behind each failed goal."""
    notes = []
    explained = set()
    for g in D.goals:
        if g["result"] != "FAIL":
            continue
        name = g["goal"]
        m = re.match(r"kvm fast (\S+) (ratio_to_bare|handler_p50_ns|"
                     r"handler_p99_ns)$", name)
        try:
            if m:
                e = m.group(1)
                if e in explained:
                    notes.append("- %s: %s (limit %s %g); see above." % (
                        name, fmt_value(g["value"], "f3"), g["op"],
                        g["limit"]))
                    continue
                explained.add(e)
                fast = lambda f: D.r("kvm", e, "fast", f)
                bare = lambda f: D.r("kvm", e, "bare", f)
                diff = fast("p50_ns") - bare("p50_ns")
                hdiff = fast("handler_p50_ns") - bare("handler_p50_ns")
                rest = diff - hdiff
                moved = fast("bytes_per_exit")
                where = (
                    "the other %s ns lie outside the VMM's code: inside "
                    "`KVM_RUN` (%s) or in this run's noise" % (
                        fmt_value(rest, "int"),
                        "sync_regs classes for the %s bytes of state the "
                        "mask moves per exit" % fmt_value(moved, "int")
                        if moved else "the mask moves no state")
                    if rest > 0 else
                    "the round trip differs by less than the VMM side "
                    "does, i.e. within this run's noise")
                unb = D.by.get(("kvm", e, "unblocked"))
                sigmask = ""
                if unb and unb.get("p50_ns") is not None:
                    sigmask = (
                        " With `recall=unblocked` (the recall signal left "
                        "unblocked, so `KVM_RUN` swaps no signal mask) the "
                        "same exit runs at %s of bare, %s ns below the "
                        "default `recall=sigmask`, in the same run" % (
                            fmt_value(unb["p50_ns"] / bare("p50_ns"), "f3"),
                            fmt_value(fast("p50_ns") - unb["p50_ns"], "int")))
                notes.append(
                    "- %s: fast is %s ns slower than bare at p50 (round "
                    "trip); the VMM side accounts for %s ns (handler p50 %s "
                    "ns, p99 %s ns, bare %s ns); %s.%s" % (
                        name, fmt_value(diff, "int"), fmt_value(hdiff, "int"),
                        fmt_value(fast("handler_p50_ns"), "int"),
                        fmt_value(fast("handler_p99_ns"), "int"),
                        fmt_value(bare("handler_p50_ns"), "int"), where,
                        (sigmask + ".") if sigmask else ""))
            elif name.startswith("io-out qemu/ours"):
                bare = D.qemu_meta.get("bare_ns")
                q, ours = D.qemu["qemu_ns"], D.qemu["ours_ns"]
                if bare and q / bare < g["limit"]:
                    why = ("QEMU itself runs at %s of the bare `KVM_RUN` "
                           "loop here, so not even the bare loop is %g× "
                           "faster than QEMU: on this substrate the exit "
                           "inside the software KVM dwarfs every user-space "
                           "VMM's share" % (fmt_value(q / bare, "f3"),
                                            g["limit"]))
                else:
                    why = ("QEMU runs at %s of the bare loop, oneroof's fast "
                           "path at %s by the same slope" % (
                               fmt_value(q / bare, "f3") if bare else "n/a",
                               fmt_value(ours / bare, "f3") if bare
                               else "n/a"))
                notes.append("- %s: slopes per exit: QEMU %s ns, oneroof "
                             "%s ns, bare %s ns; %s." % (
                                 name, fmt_value(q, "int"),
                                 fmt_value(ours, "int"),
                                 fmt_value(bare, "int"), why))
            else:
                notes.append("- %s: %s (limit %s %g)." % (
                    name, fmt_value(g["value"], "f3"), g["op"], g["limit"]))
        except (LookupError, TypeError, ZeroDivisionError):
            notes.append("- %s: %s (limit %s %g)." % (
                name, fmt_value(g["value"], "f3"), g["op"], g["limit"]))
    return "\n".join(notes) if notes else "Every goal that was measured passed."


def render_template(text, D, vals):
    def r(kernel, exit, policy, field):
        return D.r(kernel, exit, policy, field)

    def o(kernel, exit, policy, field):
        x = D.ops[(kernel, exit, policy)][field + "_per_exit"]
        if x is None:
            raise LookupError(field)
        return x

    def val(name):
        x = vals.get(name)
        if x is None:
            raise LookupError(name)
        return x

    def sub(mt):
        body = mt.group(1).strip()
        if body.startswith("table:"):
            name = body[6:].strip()
            if name not in TABLES:
                die("unknown table '%s' in a template" % name)
            return TABLES[name](D).rstrip("\n")
        if body.startswith("="):
            expr, _, how = body[1:].partition("|")
            try:
                x = eval(expr, {"__builtins__": {}},
                         {"r": r, "o": o, "v": val, "abs": abs,
                          "min": min, "max": max})
            except (LookupError, ZeroDivisionError, TypeError):
                return "n/a"
            return fmt_value(x, how.strip())
        if body not in vals:
            die("unknown placeholder {{%s}}" % body)
        return fmt_value(vals[body], "raw")

    return re.sub(r"\{\{(.*?)\}\}", sub, text, flags=re.S)


# ---- plot data ------------------------------------------------------------------
def write_plot_data(D):
    def num(x):
        return "?" if x is None else "%.3f" % x
    pols = [p for p in KVM_POLICIES if any((("kvm", e, p) in D.by)
                                            for e in EXITS)]
    with open(os.path.join(D.dir, "plot-latency.dat"), "w") as f:
        f.write("exit " + " ".join(pols) + "\n")
        for e in EXITS:
            if e == "cpuid" or not any(("kvm", e, p) in D.by for p in pols):
                continue  # cpuid is per instruction, not a round trip
            row = [D.by.get(("kvm", e, p), {}).get("p50_ns") for p in pols]
            f.write(e + " " + " ".join(
                num(x / 1000.0 if x is not None else None) for x in row) +
                "\n")
    with open(os.path.join(D.dir, "plot-ops.dat"), "w") as f:
        f.write("kernel genode_crossings tuned_crossings genode_bytes "
                "tuned_bytes genode_hops tuned_hops\n")
        for k in D.kernels:
            def get(p, field):
                try:
                    return D.r(k, "io-out", p, field)
                except LookupError:
                    return None
            f.write(k + " " + " ".join(
                num(get(p, field)) for field in (
                    "crossings_per_exit", "bytes_per_exit", "hops_per_exit")
                for p in ("genode", "tuned")) + "\n")
    with open(os.path.join(D.dir, "bench.csv"), "w") as f:
        f.write(",".join(COLUMNS) + "\n")
        for x in D.records:
            f.write(",".join("" if x[c] is None else str(x[c])
                             for c in COLUMNS) + "\n")


# ---- RESULTS.md -----------------------------------------------------------------
def render(data_dir, results):
    D = Data(data_dir)
    vals = values(D)
    write_plot_data(D)
    text = read(results, None)
    if text is None:
        die("cannot read %s" % results)
    for name in SECTIONS:
        tpl = read(os.path.join(TEMPLATES, name + ".md"), None)
        if tpl is None:
            die("template %s/%s.md missing" % (TEMPLATES, name))
        if name == "qemu" and not D.qemu:
            tpl = ("(`roof-bench --vs-qemu` did not produce a result in "
                   "this run: see build/bench/qemu.log)\n")
        body = render_template(tpl, D, vals).strip("\n")
        pat = re.compile(r"(<!-- BEGIN %s \(bench\) -->\n).*?"
                         r"(<!-- END %s \(bench\) -->)" % (name, name), re.S)
        if not pat.search(text):
            die("%s has no '%s (bench)' marker pair" % (results, name))
        text = pat.sub(lambda mt: mt.group(1) + body + "\n" + mt.group(2),
                       text, count=1)
    tmp = results + ".tmp"
    with open(tmp, "w") as f:
        f.write(text)
    os.replace(tmp, results)


def main(argv):
    if len(argv) == 3 and argv[1] == "substrate":
        collect_substrate(argv[2])
    elif len(argv) == 4 and argv[1] == "render":
        render(argv[2], argv[3])
    else:
        die("usage: gen-results.py substrate OUT.json | "
            "render DATA RESULTS.md")


if __name__ == "__main__":
    main(sys.argv)
