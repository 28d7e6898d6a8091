#!/usr/bin/env bash
# make soak: the soak (tests/soak/soak.h) on every backend roof-soak lists
# (roof_backend_names() of that binary), SOAK_EXITS exits each and
# SOAK_EXITS_KVM on kvm; progress on stderr, the figures into RESULTS.md
# (reliability section). Fails if any backend had a corrupted register, a
# lost exit or a wrong exit info.
#   tests/soak/run.sh <build dir> <exits per backend> <exits on kvm>
set -u
B=${1:-build}
EXITS=${2:-1000000}
EXITS_KVM=${3:-10000000}
BIN=$B/soak/roof-soak
kernels=$("$BIN" --list) || { echo "soak: $BIN --list failed" >&2; exit 2; }
results=$B/soak/results.txt
: > "$results"
failed=""
echo "soak: backends: $(echo $kernels)" >&2
for k in $kernels; do
	n=$EXITS
	[ "$k" = kvm ] && n=$EXITS_KVM
	log=$B/soak/$k.log
	ROOF_KERNEL=$k "$BIN" "$n" > "$log"
	rc=$?
	grep '^RESULT soak' "$log" >> "$results"
	if [ "$rc" -ne 0 ]; then
		failed="$failed $k"
		echo "soak: $k FAILED (status $rc):" >&2
		grep -E 'ERROR|FAILED' "$log" | head -5 >&2
	fi
	grep '^RESULT soak' "$log" >&2 || echo "soak: $k: no result (see $log)" >&2
done
if [ -s "$results" ]; then
	python3 tests/soak/results.py RESULTS.md soak "$results" || failed="$failed results"
fi
[ -z "$failed" ] || { echo "soak: failed:$failed" >&2; exit 1; }
echo "soak: all backends: 0 corrupted registers, 0 lost exits" >&2
