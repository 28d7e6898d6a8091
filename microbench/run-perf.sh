#!/usr/bin/env bash
# run-perf.sh [BUILD] - what `make perf` runs: roof-bench under perf.
#  - perf stat, one process per kvm policy on io-out: software events (this
#    machine has no hardware PMU) plus the ioctl and futex syscall
#    tracepoints, which count KVM_RUN + state ioctls and thread hops
#    independently of oneroof's own counters;
#  - perf record (cpu-clock sampling, call graphs) of the fast path, and its
#    report by symbol.
# Reports: BUILD/perf/ (summary.txt, stat-<policy>.csv, bench-<policy>.txt,
# record-fast.txt, record-fast-user.txt).
# ROOF_PERF_ITERS sets --iters (20000).
set -euo pipefail
cd "$(dirname "$0")/.."
B=${1:-build}
BIN=$B/roof-bench
OUT=$B/perf
ITERS=${ROOF_PERF_ITERS:-20000}

fail() { echo "run-perf: $*" >&2; exit 1; }
[ -x "$BIN" ] || fail "$BIN is missing: build it with make"
[ -r /dev/kvm ] || fail "/dev/kvm is missing or not accessible"
command -v perf >/dev/null || fail "perf not found (Debian linux-perf, make deps)"
mkdir -p "$OUT"

events=task-clock,context-switches,cpu-migrations,page-faults
tracepoints=syscalls:sys_enter_ioctl,syscalls:sys_enter_futex
if ! perf stat -e "$tracepoints" true >/dev/null 2>&1; then
	echo "run-perf: syscall tracepoints unavailable (tracefs?): software" \
		"events only" >&2
	tracepoints=
fi

summary=$OUT/summary.txt
{
	echo "perf stat of roof-bench --exit io-out --policy P --iters $ITERS"
	echo "(one process per policy; software events and syscall tracepoints)"
	printf '%-11s %12s %14s %14s %12s\n' policy task-clock-ms \
		ioctls/exit futex/exit ctx-sw/exit
} >"$summary"
exits=$((ITERS + 200 + 2 * ((ITERS + 249) / 250))) # measured + warm-up + turn edges
for p in bare fast full entrypoint naive genode; do
	echo "run-perf: perf stat, policy $p" >&2
	perf stat -x, -o "$OUT/stat-$p.csv" -e "$events${tracepoints:+,$tracepoints}" \
		"$BIN" --exit io-out --policy "$p" --no-reference --iters "$ITERS" \
		>"$OUT/bench-$p.txt" 2>/dev/null
	awk -F, -v p="$p" -v n="$exits" '
		$3 == "task-clock" { tc = $1 }
		$3 ~ /sys_enter_ioctl/ { io = $1 }
		$3 ~ /sys_enter_futex/ { fu = $1 }
		$3 == "context-switches" { cs = $1 }
		END { printf "%-11s %12.1f %14s %14s %12.2f\n", p, tc,
			io == "" ? "-" : sprintf("%.2f", io / n),
			fu == "" ? "-" : sprintf("%.2f", fu / n), cs / n }' \
		"$OUT/stat-$p.csv" >>"$summary"
done
echo "(per exit: divided by about $exits exits incl. warm-up; one KVM_RUN per" \
	"exit is 1.00 ioctl/exit)" >>"$summary"

echo "run-perf: perf record of the fast path" >&2
perf record -q -e cpu-clock -F 20000 -g -o "$OUT/record-fast.data" -- \
	"$BIN" --exit io-out --policy fast --no-reference \
	--iters $((ITERS * 5)) >/dev/null 2>&1
perf report -i "$OUT/record-fast.data" --stdio --no-children \
	--sort dso,symbol --percent-limit 0.5 >"$OUT/record-fast.txt" 2>/dev/null
perf report -i "$OUT/record-fast.data" --stdio --no-children \
	--sort symbol --dsos roof-bench --percent-limit 0.02 -g none \
	>"$OUT/record-fast-user.txt" 2>/dev/null || true

cat "$summary"
echo "run-perf: reports in $OUT (stat-*.csv, record-fast.txt," \
	"record-fast-user.txt: the VMM's own code)" >&2
