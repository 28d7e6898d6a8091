#!/usr/bin/env bash
# make fuzz: writes the seed corpus (tests/fuzz/corpus/), then runs each
# libFuzzer target for a bounded time: the copy target once, the exit
# decoder once per backend in roof_backend_names() (a backend without a
# decoder hook is reported as not covered). New inputs go to
# <build>/fuzz/work/<target>/, crashes to <build>/fuzz/artifacts/. Progress
# on stderr; the figures into RESULTS.md (reliability section).
#   tests/fuzz/run.sh <build-fuzz dir> <seconds per target>
set -u
B=${1:-build-fuzz}
SECONDS_PER=${2:-60}
F=$B/fuzz
CORPUS=tests/fuzz/corpus
kernels=$("$B/tests/list-kernels") || { echo "fuzz: list-kernels failed" >&2; exit 2; }
mkdir -p "$F/work" "$F/artifacts" "$F/logs"
# shellcheck disable=SC2086
"$F/write_seeds" "$CORPUS" $kernels >&2 || exit 2
results=$F/results.txt
: > "$results"
failed=0

# run_target <name> <binary> <seed dir> [env...]
run_target() {
	local name=$1 bin=$2 seeds=$3 log=$F/logs/$1.log work=$F/work/$1 rc
	shift 3
	mkdir -p "$work"
	echo "fuzz: $name: $SECONDS_PER s" >&2
	env "$@" "$bin" -max_total_time="$SECONDS_PER" -print_final_stats=1 \
		-artifact_prefix="$F/artifacts/$name-" "$work" "$seeds" \
		> "$log" 2>&1 &
	local pid=$! waited=0
	while sleep 5 && kill -0 "$pid" 2>/dev/null; do
		waited=$((waited + 5))
		local last
		last=$(grep -aoE '^#[0-9]+' "$log" | tail -1)
		[ -n "$last" ] && echo "fuzz: $name: ${waited}/${SECONDS_PER} s, ${last#\#} executions" >&2
	done
	wait "$pid"; rc=$?
	if [ "$rc" -eq 3 ] && grep -q "no exit-record decoder hook" "$log"; then
		echo "fuzz: $name: no decoder hook for this kernel yet (tests/fuzz/exit_decoders.h): not covered" >&2
		echo "RESULT fuzz target=$name status=no-hook" >> "$results"
		return
	fi
	local runs secs corpus status=ok reason=""
	runs=$(sed -n 's/^Done \([0-9]*\) runs in \([0-9]*\) second.*/\1/p' "$log" | tail -1)
	secs=$(sed -n 's/^Done \([0-9]*\) runs in \([0-9]*\) second.*/\2/p' "$log" | tail -1)
	corpus=$(find "$work" -type f | wc -l)
	if [ "$rc" -ne 0 ] || [ -z "$runs" ]; then
		status=failed
		failed=1
		echo "fuzz: $name FAILED (status $rc): see $log and $F/artifacts/" >&2
		grep -aE 'ERROR|fuzz_(copy|exit)|SUMMARY' "$log" | head -5 >&2
		# the sanitizer's summary or the target's own message, for RESULTS.md
		reason=$( (grep -aE '^fuzz_exit\[|^fuzz_copy: (roof_plan|mask)' "$log";
			   grep -aE '^SUMMARY: ' "$log") | head -1 |
			 sed 's/ ([^)]*+0x[0-9a-f]*)//g; s/ (BuildId: [0-9a-f]*)//')
		local frame
		frame=$(grep -aoE ' in [A-Za-z_0-9]+ [^ ]*/(kernels|fastpath|state)/[^ ]+' "$log" |
			head -1 | sed -E 's| [^ ]*/(kernels\|fastpath\|state)/| \1/|')
		reason="$reason${frame:+ (first own frame:$frame)}"
		runs=$(grep -aoE '^#[0-9]+' "$log" | tail -1 | tr -d '#')
	fi
	echo "fuzz: $name: ${runs:-0} executions in ${secs:-?} s, $corpus inputs kept in $work, $status" >&2
	echo "RESULT fuzz target=$name seconds=${secs:-0} execs=${runs:-0} corpus=$corpus seeds=$(find "$seeds" -type f 2>/dev/null | wc -l) status=$status${reason:+ reason=$reason}" >> "$results"
}

run_target copy "$F/fuzz_copy" "$CORPUS/copy"
for k in $kernels; do
	run_target "exit-$k" "$F/fuzz_exit" "$CORPUS/exit-$k" ROOF_KERNEL="$k"
done
cat "$results"
python3 tests/soak/results.py RESULTS.md fuzz "$results" || failed=1
exit $failed
