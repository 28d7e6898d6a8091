/*
 * test_nova_counts.c - the NOVA model on a real vCPU: what one exit costs
 * under both client policies (kernels/nova/README.md, "Counts per exit"),
 * the goal (io-out: tuned copies <= 1/20 of genode's bytes), the
 * cost of a read outside the portal MTD (EC_GET_VCPU_STATE + the RECALL
 * it arms), of a pause, and error paths.
 *
 * Guest: tests/guests/exits64.asm, subtest t_out (out 0x10, out 0x11 check,
 * out 0x1f done) and t_hlt (hlt, then the two outs).
 */
#include <string.h>

#include "counts_run.h"

/* The model's per-exit figures (README.md). State bytes: exit = the exit
 * reason word + the portal MTD's groups, reply = the written groups. */
#define IO_TUNED_EXIT (8 + 32 + 16 + 8 + 32 + 16) /* ACDB EIP EFER CSSS QUAL */
#define ALL_GROUPS_EXIT (8 + 528 + 2560)           /* genode: + FPU */
#define EIP_REPLY 16                               /* the advanced ip */
#define HLT_TUNED_EXIT (8 + 16 + 8)                /* EIP EFL */
/* MMIO: every GPR, EIP, the segments, CR, EFER (the mov decode) + QUAL */
#define MMIO_TUNED_EXIT (8 + 32 + 24 + 8 + 64 + 16 + 3 * 32 + 32 + 8 + 16)
#define ACDB_REPLY 32                              /* mov rax, [mmio] */
/* VMCS accesses: EXI_REASON + load_vmx's reads + the reply's MSR area */
#define IO_TUNED_READS (1 + 13 + 1)
#define GENODE_READS (1 + 61 + 1)

/* A run on NOVA: the default io mask, and no MMIO handler (the library's
 * default serves those exits, as the MMIO figures above assume). */
static struct counts_run nova_run(uint64_t sub)
{
	return (struct counts_run){.kernel = "nova", .sub = sub,
				   .io_mask = ROOF_MASK_DEFAULT};
}

/* ---- io-out under both policies: the figure ----------------------- */
static void test_io_out_counts(void **state)
{
	(void)state;
	ROOF_NEED_KVM();
	struct counts_run r[COUNTS_POLICIES];
	counts_run_both(r, nova_run(ROOF_EXITS_OUT));
	for (int i = 0; i < COUNTS_POLICIES; i++) {
		const struct roof_stats *st = &r[i].st;
		/* three outs; one portal call + reply each, and the
		 * sm_ctrl(UP) that resumed the vCPU stopped at STARTUP */
		counts_assert_guest_exits(&r[i]);
		assert_int_equal(st->crossings, 3 * 2 + 1);
		assert_int_equal(st->hops, 0);
		assert_int_equal(st->misses, 0);
		assert_int_equal(st->fpu_ops, 3 * 4); /* eager FPU switch */
		assert_int_equal(st->vmcs_writes, 3 * 2); /* rip, length */
		counts_run_print(&r[i], "io-out", 3);
	}
	const struct roof_stats *tuned = &r[COUNTS_TUNED].st;
	const struct roof_stats *genode = &r[COUNTS_GENODE].st;
	assert_int_equal(tuned->bytes, 3 * (IO_TUNED_EXIT + EIP_REPLY));
	assert_int_equal(genode->bytes, 3 * (ALL_GROUPS_EXIT + EIP_REPLY));
	assert_int_equal(tuned->vmcs_reads, 3 * IO_TUNED_READS);
	assert_int_equal(genode->vmcs_reads, 3 * GENODE_READS);
	/* the goal: tuned copies at most 1/20 of genode's bytes */
	assert_true(tuned->bytes * 20 <= genode->bytes);
	print_message("nova io-out bytes: tuned %llu / genode %llu = 1/%.1f\n",
		      (unsigned long long)tuned->bytes,
		      (unsigned long long)genode->bytes,
		      (double)genode->bytes / (double)tuned->bytes);
	counts_finish_both(r);
}

static void test_hlt_counts(void **state)
{
	(void)state;
	ROOF_NEED_KVM();
	struct counts_run r[COUNTS_POLICIES];
	counts_run_both(r, nova_run(ROOF_EXITS_HLT));
	for (int i = 0; i < COUNTS_POLICIES; i++) {
		counts_assert_guest_exits(&r[i]);
		assert_int_equal(r[i].st.crossings, 3 * 2 + 1);
		counts_run_print(&r[i], "hlt+2out", 3);
	}
	/* the hlt's share: its exit and its ip write */
	assert_int_equal(r[COUNTS_TUNED].st.bytes -
				 2 * (IO_TUNED_EXIT + EIP_REPLY),
			 HLT_TUNED_EXIT + EIP_REPLY);
	assert_int_equal(r[COUNTS_GENODE].st.bytes,
			 3 * (ALL_GROUPS_EXIT + EIP_REPLY));
	counts_finish_both(r);
}

/* The mixed loop: out, mmio write, mmio read (into rax), hlt. */
static void test_loop_counts(void **state)
{
	(void)state;
	ROOF_NEED_KVM();
	const uint64_t loops = COUNTS_RUN_LOOPS;
	struct counts_run r[COUNTS_POLICIES];
	counts_run_both(r, nova_run(ROOF_EXITS_LOOP));
	for (int i = 0; i < COUNTS_POLICIES; i++) {
		const struct roof_stats *st = &r[i].st;
		counts_assert_guest_exits(&r[i]);
		assert_int_equal(st->crossings, 2 * st->exits + 1);
		assert_int_equal(st->fpu_ops, 4 * st->exits);
		counts_run_print(&r[i], "loop", st->exits);
	}
	uint64_t io = IO_TUNED_EXIT + EIP_REPLY;
	uint64_t hlt = HLT_TUNED_EXIT + EIP_REPLY;
	uint64_t mmio_write = MMIO_TUNED_EXIT + EIP_REPLY;
	uint64_t mmio_read = MMIO_TUNED_EXIT + EIP_REPLY + ACDB_REPLY;
	assert_int_equal(r[COUNTS_TUNED].st.bytes,
			 (loops + 1) * io +
				 loops * (hlt + mmio_write + mmio_read));
	assert_int_equal(r[COUNTS_GENODE].st.bytes,
			 (3 * loops + 1) * (ALL_GROUPS_EXIT + EIP_REPLY) +
				 loops * (ALL_GROUPS_EXIT + EIP_REPLY + ACDB_REPLY));
	counts_finish_both(r);
}

/* ---- a read outside the portal MTD --------------------------------------- */
static void test_read_outside_mtd(void **state)
{
	(void)state;
	ROOF_NEED_KVM();
	struct counts_run r = nova_run(ROOF_EXITS_OUT);
	r.policy = "tuned";
	r.io_mask = 0;
	r.read_si = true;
	counts_run_guest(&r);
	assert_int_equal(r.st.exits, 3);
	assert_int_equal(r.st.misses, 1);
	/* + ec_ctrl(EC_GET_VCPU_STATE) + the RECALL exit it armed (call and
	 * empty reply), which the VMM never sees */
	assert_int_equal(r.st.crossings, 3 * 2 + 1 + 1 + 2);
	assert_int_equal(r.st.fpu_ops, 4 * 4);
	/* + EBSD with the exit-reason word, + the RECALL's exit-reason word */
	assert_int_equal(r.st.bytes,
			 3 * (IO_TUNED_EXIT + EIP_REPLY) + (8 + 24) + 8);
	counts_run_finish(&r);
}

static void test_fpu_transfer(void **state)
{
	(void)state;
	ROOF_NEED_KVM();
	/* genode: the FPU travels with every exit; tuned: fetched on demand */
	struct counts_run r[COUNTS_POLICIES];
	counts_run_fpu_on_request(r, nova_run(ROOF_EXITS_OUT));
	assert_int_equal(r[COUNTS_TUNED].st.bytes,
			 3 * (IO_TUNED_EXIT + EIP_REPLY) + (8 + 2560) + 8);
	counts_finish_both(r);
}

/* ---- pause: EC_RECALL, then the RECALL portal ------------------------------ */
static void test_pause_costs(void **state)
{
	(void)state;
	ROOF_NEED_KVM();
	struct counts_run r = nova_run(ROOF_EXITS_OUT);
	r.policy = "tuned";
	counts_run_pause_spinning(&r);
	/* every exit a call + reply; + sm_ctrl(UP) at the start, + the
	 * VMM's ec_ctrl(EC_RECALL) */
	assert_int_equal(r.st.crossings, 2 * r.st.exits + 2);
	counts_run_finish(&r);
}

/* ---- error paths ---------------------------------------------------------- */
static void test_policy_option_errors(void **state)
{
	(void)state;
	ROOF_NEED_KVM();
	roof_vm *vm;
	ROOF_OK_OR_FAIL(roof_vm_open(&vm, "nova"), roof_last_error());
	assert_int_equal(roof_vm_set_option(vm, "policy", "fast"), ROOF_EINVAL);
	assert_non_null(strstr(roof_vm_error(vm), "nova"));
	assert_non_null(strstr(roof_vm_error(vm), "genode|tuned"));
	assert_int_equal(roof_vm_state_groups(vm), ROOF_G_EVERYTHING);
	ROOF_OK_OR_FAIL(roof_vm_close(vm), roof_last_error());
}

static void test_refused_reply_is_reported(void **state)
{
	(void)state;
	ROOF_NEED_KVM();
	struct counts_run r = nova_run(ROOF_EXITS_HLT);
	r.policy = "tuned";
	r.nmi_window = true;
	counts_run_guest(&r);
	/* NOVA takes the NMI-window request; the KVM substrate cannot: the
	 * entry fails, the VMM gets an INVALID_STATE exit (portal 33) whose
	 * text names the request, and nothing crashes */
	assert_true(r.error[0] != '\0');
	if (!strstr(r.error, "NMI window"))
		fail_msg("error text does not name the request: %s", r.error);
	assert_int_equal(r.st.exits_by_reason[ROOF_EXIT_INVALID_STATE], 1);
	assert_int_equal(r.st.exits_by_reason[ROOF_EXIT_HLT], 1);
	r.error[0] = '\0'; /* expected: finish fails on any other */
	counts_run_finish(&r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_io_out_counts),
		cmocka_unit_test(test_hlt_counts),
		cmocka_unit_test(test_loop_counts),
		cmocka_unit_test(test_read_outside_mtd),
		cmocka_unit_test(test_fpu_transfer),
		cmocka_unit_test(test_pause_costs),
		cmocka_unit_test(test_policy_option_errors),
		cmocka_unit_test(test_refused_reply_is_reported),
	};
	return cmocka_run_group_tests_name("nova_counts", tests, NULL, NULL);
}
