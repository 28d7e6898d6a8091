/*
 * test_foc_counts.c - the Fiasco.OC model on a real vCPU: what one exit
 * costs under both client policies (kernels/foc/README.md, "Counts per
 * exit"), the goal (tuned: no fxsave/fxrstor on io and hlt exits;
 * genode: vm.cc's 2x fxsave + 1x fxrstor after every resume and 1x + 1x
 * before it), a read outside the mask (served from the page: memory, no
 * kernel call), the FPU on request, a pause (the vCPU IRQ), both policies'
 * GPR round trip, and error paths.
 *
 * Guest: tests/guests/exits64.asm, subtests t_out (out 0x10, out 0x11
 * check, out 0x1f done), t_hlt (hlt, check, done) and t_loop (out, mmio
 * write, mmio read, hlt, COUNTS_RUN_LOOPS times, then done).
 */
#include <string.h>

#include "counts_run.h"

/* What Fiasco's Vm_vmx copies per round trip (fiasco vm_vmx.cpp at
 * fee4f8ed~1; README.md lists the fields), for a VMM that sets what
 * Genode's vm.cc sets (save/load EFER) and a guest in IA-32e mode. */
#define EXIT_VMCS_READS 62   /* store_guest_state 48 + store_exit_info 14 */
#define EPT_VMCS_READS 2     /* guest-physical + linear address again */
#define ENTRY_VMCS_WRITES 64 /* load_guest_state without an injection */
/* bytes: VMCS fields by width + 15 GPRs + cr2 + 5 syscall MSRs (+ xcr0) */
#define EXIT_BYTES (336 + 120 + 8 + 40)
#define EPT_BYTES 16
#define ENTRY_BYTES (348 + 120 + 8 + 40 + 8)
#define TRIP_BYTES (EXIT_BYTES + ENTRY_BYTES)
/* genode: fxsave(ep) fxrstor(guest) | resume | fxsave x2, fxrstor(ep) */
#define GENODE_FPU_PER_EXIT 5
/* tuned: the guest FPU enters the registers when the vCPU thread enters
 * the hot loop and is saved when it leaves (one run = one of each) */
#define TUNED_FPU_PER_RUN 2

/* A run on Fiasco.OC: the default io mask, MMIO reads answered. */
static struct counts_run foc_run(uint64_t sub)
{
	return (struct counts_run){.kernel = "foc", .sub = sub,
				   .io_mask = ROOF_MASK_DEFAULT,
				   .answer_mmio = true};
}

/* The kernel's copies do not depend on the client's policy. */
static void assert_kernel_copies(const struct counts_run *r,
				 uint64_t ept_exits)
{
	uint64_t n = r->st.exits;
	assert_int_equal(r->st.vmcs_reads,
			 n * EXIT_VMCS_READS + ept_exits * EPT_VMCS_READS);
	assert_int_equal(r->st.vmcs_writes, n * ENTRY_VMCS_WRITES);
	assert_int_equal(r->st.bytes, n * TRIP_BYTES + ept_exits * EPT_BYTES);
}

/* ---- io and hlt under both policies: the goal ------------------------ */
static void test_io_out_counts(void **state)
{
	(void)state;
	ROOF_NEED_KVM();
	struct counts_run r[COUNTS_POLICIES];
	counts_run_both(r, foc_run(ROOF_EXITS_OUT));
	for (int i = 0; i < COUNTS_POLICIES; i++) {
		counts_assert_guest_exits(&r[i]);
		assert_int_equal(r[i].st.misses, 0);
		assert_kernel_copies(&r[i], 0);
		counts_run_print(&r[i], "io-out", r[i].st.exits);
	}
	const struct roof_stats *tuned = &r[COUNTS_TUNED].st;
	const struct roof_stats *genode = &r[COUNTS_GENODE].st;
	/* tuned: one resume per exit, inline, no FPU instruction per exit */
	assert_int_equal(tuned->crossings, 3);
	assert_int_equal(tuned->hops, 0);
	assert_int_equal(tuned->fpu_ops, TUNED_FPU_PER_RUN);
	/* genode: + signal and ready semaphore per exit, FPU every exit */
	assert_int_equal(genode->crossings, 3 * 3);
	assert_int_equal(genode->hops, 3);
	assert_int_equal(genode->fpu_ops, 3 * GENODE_FPU_PER_EXIT);
	counts_finish_both(r);
}

static void test_hlt_counts(void **state)
{
	(void)state;
	ROOF_NEED_KVM();
	struct counts_run r[COUNTS_POLICIES];
	counts_run_both(r, foc_run(ROOF_EXITS_HLT));
	for (int i = 0; i < COUNTS_POLICIES; i++) {
		counts_assert_guest_exits(&r[i]);
		assert_kernel_copies(&r[i], 0);
		counts_run_print(&r[i], "hlt+2out", r[i].st.exits);
	}
	assert_int_equal(r[COUNTS_TUNED].st.fpu_ops, TUNED_FPU_PER_RUN);
	assert_int_equal(r[COUNTS_GENODE].st.fpu_ops, 3 * GENODE_FPU_PER_EXIT);
	counts_finish_both(r);
}

/* The mixed loop: out, mmio write, mmio read (into rax), hlt. */
static void test_loop_counts(void **state)
{
	(void)state;
	ROOF_NEED_KVM();
	struct counts_run r[COUNTS_POLICIES];
	counts_run_both(r, foc_run(ROOF_EXITS_LOOP));
	for (int i = 0; i < COUNTS_POLICIES; i++) {
		counts_assert_guest_exits(&r[i]);
		assert_kernel_copies(&r[i], 2 * COUNTS_RUN_LOOPS);
		counts_run_print(&r[i], "loop", r[i].st.exits);
	}
	const struct roof_stats *tuned = &r[COUNTS_TUNED].st;
	const struct roof_stats *genode = &r[COUNTS_GENODE].st;
	/* 41 exits, and still only the run's one restore and one save: the
	 * goal, tuned does no fxsave/fxrstor on io, mmio or hlt exits */
	assert_int_equal(tuned->fpu_ops, TUNED_FPU_PER_RUN);
	assert_int_equal(tuned->crossings, tuned->exits);
	assert_int_equal(tuned->hops, 0);
	assert_int_equal(genode->fpu_ops, GENODE_FPU_PER_EXIT * genode->exits);
	assert_int_equal(genode->crossings, 3 * genode->exits);
	assert_int_equal(genode->hops, genode->exits);
	counts_finish_both(r);
}

/* ---- registers travel both ways, both policies, both placements ------------- */
static void test_gpr_round_trip(void **state)
{
	(void)state;
	ROOF_NEED_KVM();
	for (int i = 0; i < 4; i++) {
		struct counts_run r = foc_run(ROOF_EXITS_OUT);
		r.policy = counts_policy[i & 1 ? COUNTS_GENODE : COUNTS_TUNED];
		r.where = i & 2 ? ROOF_ON_EP : ROOF_INLINE;
		r.io_mask = ROOF_G_ACDB | ROOF_G_EBSD | ROOF_G_ESP |
			    ROOF_G_R8_R15;
		r.write_regs = r.check = true;
		counts_run_guest(&r);
		assert_int_equal(r.checks, 1);
		/* tuned handlers on the entrypoint hop there and back */
		if (i == 2) {
			assert_int_equal(r.st.hops, 3);
			assert_int_equal(r.st.crossings, 3 * 3);
		}
		counts_run_finish(&r);
	}
}

/* ---- a read outside the mask: the page is memory ------------------------------- */
static void test_read_outside_mask(void **state)
{
	(void)state;
	ROOF_NEED_KVM();
	struct counts_run r = foc_run(ROOF_EXITS_OUT);
	r.policy = "tuned";
	r.io_mask = 0;
	r.read_si = true;
	counts_run_guest(&r);
	assert_int_equal(r.st.exits, 3);
	assert_int_equal(r.st.misses, 1);
	assert_int_equal(r.st.crossings, 3); /* no kernel call for it */
	assert_kernel_copies(&r, 0);
	counts_run_finish(&r);
}

static void test_fpu_on_request(void **state)
{
	(void)state;
	ROOF_NEED_KVM();
	struct counts_run r[COUNTS_POLICIES];
	counts_run_fpu_on_request(r, foc_run(ROOF_EXITS_OUT));
	assert_int_equal(r[COUNTS_GENODE].st.fpu_ops, 3 * GENODE_FPU_PER_EXIT);
	/* tuned: the lazy read saves the registers once */
	assert_int_equal(r[COUNTS_TUNED].st.fpu_ops, TUNED_FPU_PER_RUN + 1);
	counts_finish_both(r);
}

/* ---- pause: the vCPU IRQ ends the resume with exit reason 1 ------------------- */
static void test_pause_costs(void **state)
{
	(void)state;
	ROOF_NEED_KVM();
	struct counts_run tuned = foc_run(ROOF_EXITS_OUT);
	struct counts_run genode = tuned;
	tuned.policy = "tuned";
	genode.policy = "genode";
	counts_run_pause_spinning(&tuned);
	counts_run_pause_spinning(&genode);
	/* one resume per exit; the pause adds the pauser's l4_irq_trigger
	 * and the vCPU thread's l4_irq_receive (a kick that raced with a
	 * plain exit may cost one more empty resume) */
	uint64_t ios = tuned.st.exits_by_reason[ROOF_EXIT_IO];
	assert_in_range(tuned.st.crossings, ios + 1 + 2, ios + 1 + 3);
	ios = genode.st.exits_by_reason[ROOF_EXIT_IO];
	assert_in_range(genode.st.crossings, 3 * (ios + 1) + 2,
			3 * (ios + 1) + 3);
	counts_run_finish(&tuned);
	counts_run_finish(&genode);
}

/* A pause of a stopped vCPU: genode goes through the kernel (trigger,
 * resume that returns at once); tuned reads the page it already has. */
static void test_pause_of_stopped_vcpu(void **state)
{
	(void)state;
	ROOF_NEED_KVM();
	for (int i = 0; i < COUNTS_POLICIES; i++) {
		struct counts_run r = foc_run(ROOF_EXITS_OUT);
		r.policy = counts_policy[i];
		counts_run_start(&r);
		ROOF_OK_OR_FAIL(roof_vcpu_pause(r.rig.cpu), roof_vcpu_error(r.rig.cpu));
		counts_run_wait_done(&r);
		assert_int_equal(r.st.exits, 1);
		assert_int_equal(r.st.exits_by_reason[ROOF_EXIT_PAUSED], 1);
		assert_int_equal(r.st.vmcs_reads + r.st.vmcs_writes, 0);
		if (i == COUNTS_GENODE) { /* trigger, resume, receive; hop; fpu */
			assert_int_equal(r.st.crossings, 3 + 2);
			assert_int_equal(r.st.fpu_ops, GENODE_FPU_PER_EXIT);
		} else {
			assert_int_equal(r.st.crossings, 0);
			assert_int_equal(r.st.fpu_ops, 0);
		}
		counts_run_finish(&r);
	}
}

/* Registered only to be refused: never runs. */
static roof_action never_runs(roof_vcpu *cpu, roof_state *s, void *p)
{
	(void)cpu;
	(void)s;
	(void)p;
	return ROOF_STOP;
}

/* ---- error paths --------------------------------------------------------------- */
static void test_policy_and_groups(void **state)
{
	(void)state;
	ROOF_NEED_KVM();
	roof_vm *vm;
	ROOF_OK_OR_FAIL(roof_vm_open(&vm, "foc"), roof_last_error());
	assert_int_equal(roof_vm_set_option(vm, "policy", "fast"), ROOF_EINVAL);
	assert_non_null(strstr(roof_vm_error(vm), "foc"));
	assert_non_null(strstr(roof_vm_error(vm), "genode|tuned"));
	/* no PDPTE, TPR, TSC_AUX or xcr0/xss in Fiasco.OC's page */
	uint64_t g = roof_vm_state_groups(vm);
	assert_int_equal(g, ROOF_G_EVERYTHING & ~(ROOF_G_PDPTE | ROOF_G_TPR |
						  ROOF_G_TSC_AUX | ROOF_G_XSAVE));
	roof_ep *ep;
	roof_vcpu *cpu;
	ROOF_OK_OR_FAIL(roof_ep_create(vm, "ep", -1, &ep), roof_vm_error(vm));
	ROOF_OK_OR_FAIL(roof_vcpu_create(vm, ep, &cpu), roof_vm_error(vm));
	assert_int_equal(roof_vcpu_on_exit(cpu, ROOF_EXIT_HLT, never_runs, NULL,
					   ROOF_G_EIP | ROOF_G_TSC_AUX,
					   ROOF_INLINE),
			 ROOF_ENOSYS);
	assert_non_null(strstr(roof_vcpu_error(cpu), "TSC_AUX"));
	assert_int_equal(roof_vm_set_option(vm, "policy", "genode"), ROOF_EBUSY);
	ROOF_OK_OR_FAIL(roof_vm_close(vm), roof_last_error());
}

static void test_nmi_window_is_refused(void **state)
{
	(void)state;
	ROOF_NEED_KVM();
	for (int i = 0; i < COUNTS_POLICIES; i++) {
		struct counts_run r = foc_run(ROOF_EXITS_HLT);
		r.policy = counts_policy[i];
		r.nmi_window = true;
		counts_run_guest(&r);
		/* the request reaches the model kernel as the NMI-window
		 * control; the hardware cannot: a BACKEND_ERROR names it */
		assert_int_equal(r.st.exits_by_reason[ROOF_EXIT_BACKEND_ERROR], 1);
		if (!strstr(r.error, "NMI-window"))
			fail_msg("error text does not name the request: %s",
				 r.error);
		r.error[0] = 0;
		counts_run_finish(&r);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_io_out_counts),
		cmocka_unit_test(test_hlt_counts),
		cmocka_unit_test(test_loop_counts),
		cmocka_unit_test(test_gpr_round_trip),
		cmocka_unit_test(test_read_outside_mask),
		cmocka_unit_test(test_fpu_on_request),
		cmocka_unit_test(test_pause_costs),
		cmocka_unit_test(test_pause_of_stopped_vcpu),
		cmocka_unit_test(test_policy_and_groups),
		cmocka_unit_test(test_nmi_window_is_refused),
	};
	return cmocka_run_group_tests_name("foc_counts", tests, NULL, NULL);
}
