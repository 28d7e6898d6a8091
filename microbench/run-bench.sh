#!/usr/bin/env bash
# run-bench.sh [BUILD] - what `make bench` runs once everything is built:
# the default matrix (every kernel built in, every exit, every policy), the
# QEMU comparison, the plots, and the benchmark sections of RESULTS.md.
# Data of the run: BUILD/bench/. ROOF_BENCH_ITERS sets --iters (10000).
set -euo pipefail
cd "$(dirname "$0")/.."
B=${1:-build}
BIN=$B/roof-bench
OUT=$B/bench
ITERS=${ROOF_BENCH_ITERS:-10000}

fail() { echo "run-bench: $*" >&2; exit 1; }
[ -x "$BIN" ] || fail "$BIN is missing: build it with make"
[ -r /dev/kvm ] || fail "/dev/kvm is missing or not accessible: the bench needs KVM"
for tool in python3 gnuplot qemu-system-x86_64 perf; do
	command -v "$tool" >/dev/null ||
		fail "$tool not found (make deps installs it: .ci/deps.sh)"
done

rm -rf "$OUT"
mkdir -p "$OUT"
python3 microbench/gen-results.py substrate "$OUT/substrate.json"

echo "run-bench: matrix: kernels $("$B/tests/list-kernels" | paste -sd, -)," \
	"all exits and policies, $ITERS exits per variant" >&2
"$BIN" --kernel all --exit all --policy all --iters "$ITERS" --out "$OUT" \
	2> >(tee "$OUT/bench.log" >&2)
echo "run-bench: QEMU comparison" >&2
"$BIN" --vs-qemu --iters "$ITERS" --out "$OUT" 2> >(tee "$OUT/qemu.log" >&2) ||
	echo "run-bench: --vs-qemu failed (see $OUT/qemu.log); RESULTS.md" \
		"says so" >&2
echo "run-bench: what each VMM adds per exit (perf syscall tracepoints)" >&2
python3 microbench/vmm-side.py "$B" "$OUT" ||
	echo "run-bench: microbench/vmm-side.py failed; RESULTS.md says so" >&2
wait # for the tee processes

python3 microbench/gen-results.py render "$OUT" RESULTS.md
for gp in plots/*.gp; do
	gnuplot -e "datadir='$OUT'; outdir='plots'" "$gp" ||
		fail "gnuplot $gp failed"
done
echo "run-bench: wrote RESULTS.md (bench sections), plots/*.png and" \
	"plots/*.svg; data in $OUT" >&2
