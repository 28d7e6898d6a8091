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
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "model_rig.h"

#define PORT_EXIT 0x10
#define PORT_DONE 0x1f
#define T_OUT 0
#define T_HLT 6
#define T_LOOP 12
#define LOOPS 10

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

struct run {
	const char *policy;
	int sub;
	uint64_t io_mask;
	bool read_si, read_fpu, resume_on_done, nmi_window;
	/* observed */
	unsigned ios, bad;
	bool fpu_ok;
	const char *error;
	char error_text[256];
	struct roof_test_flag done;
	struct model_rig rig;
	struct roof_stats st;
};

static roof_action on_io(roof_vcpu *cpu, roof_state *s, void *p)
{
	(void)cpu;
	struct run *r = p;
	r->ios++;
	if (s->info.io.dir != ROOF_DIR_OUT)
		r->bad++;
	if (s->info.io.port == PORT_EXIT && r->read_si &&
	    roof_get_si(s) != 0x0707070707070707ull)
		r->bad++;
	if (s->info.io.port == PORT_EXIT && r->read_fpu) {
		const uint8_t *f = roof_fpu_read(s);
		r->fpu_ok = f[0] == 0x7f && f[1] == 0x03; /* fcw after reset */
	}
	if (s->info.io.port == PORT_DONE && !r->resume_on_done) {
		roof_test_flag_raise(&r->done);
		return ROOF_STOP;
	}
	return ROOF_RESUME;
}

static roof_action on_hlt(roof_vcpu *cpu, roof_state *s, void *p)
{
	(void)cpu;
	struct run *r = p;
	if (r->nmi_window) /* request an NMI-window exit: KVM has none */
		roof_set_inj_info(s, roof_get_inj_info(s) | (1u << 13));
	roof_set_ip(s, roof_get_ip(s) + roof_get_ip_len(s));
	return ROOF_RESUME;
}

static roof_action on_paused(roof_vcpu *cpu, roof_state *s, void *p)
{
	(void)cpu;
	(void)s;
	struct run *r = p;
	roof_test_flag_raise(&r->done);
	return ROOF_STOP;
}

static roof_action on_error(roof_vcpu *cpu, roof_state *s, void *p)
{
	(void)cpu;
	struct run *r = p;
	snprintf(r->error_text, sizeof r->error_text, "%s",
		 s->info.error ? s->info.error : "(none)");
	r->error = r->error_text;
	roof_test_flag_raise(&r->done);
	return ROOF_STOP;
}

/* Open the VM, run STARTUP (stops), reset the counters. */
static void start(struct run *r)
{
	roof_test_flag_init(&r->done);
	model_rig_open(&r->rig, "nova", r->policy);
	model_rig_load(&r->rig, &(struct model_rig_guest){
		.name = "exits64", .subtest = (uint64_t)r->sub, .loops = LOOPS});
	const struct model_rig_handler h[] = {
		{ROOF_EXIT_IO, on_io, r, r->io_mask, ROOF_INLINE},
		{ROOF_EXIT_HLT, on_hlt, r, ROOF_MASK_DEFAULT, ROOF_INLINE},
		{ROOF_EXIT_PAUSED, on_paused, r, 0, ROOF_INLINE},
		{ROOF_EXIT_BACKEND_ERROR, on_error, r, 0, ROOF_INLINE},
		{ROOF_EXIT_INVALID_STATE, on_error, r, 0, ROOF_INLINE},
	};
	model_rig_vcpu(&r->rig, h, sizeof h / sizeof h[0]);
	model_rig_startup(&r->rig);
}

static void wait_done(struct run *r)
{
	model_rig_wait(&r->rig, &r->done, "the guest's end");
	model_rig_stats(&r->rig, &r->st);
}

static void finish(struct run *r)
{
	model_rig_close(&r->rig);
	roof_test_flag_destroy(&r->done);
	assert_int_equal(r->bad, 0);
}

static void run_guest(struct run *r)
{
	start(r);
	ROOF_OK_OR_FAIL(roof_vcpu_run(r->rig.cpu), roof_vcpu_error(r->rig.cpu));
	wait_done(r);
}

static void print_counts(const char *what, const struct run *r, unsigned n)
{
	print_message("nova %-6s %-8s per exit: %.1f crossings, %.1f bytes, "
		      "%.1f vmcs reads, %.1f writes, %.1f fpu ops, %.1f hops\n",
		      r->policy, what, (double)r->st.crossings / n,
		      (double)r->st.bytes / n, (double)r->st.vmcs_reads / n,
		      (double)r->st.vmcs_writes / n, (double)r->st.fpu_ops / n,
		      (double)r->st.hops / n);
}

/* ---- io-out under both policies: the figure ----------------------- */
static void test_io_out_counts(void **state)
{
	(void)state;
	ROOF_NEED_KVM();
	struct run tuned = {.policy = "tuned", .sub = T_OUT,
			    .io_mask = ROOF_MASK_DEFAULT};
	struct run genode = {.policy = "genode", .sub = T_OUT,
			     .io_mask = ROOF_MASK_DEFAULT};
	run_guest(&tuned);
	run_guest(&genode);
	for (int i = 0; i < 2; i++) {
		struct run *r = i ? &genode : &tuned;
		/* three outs; one portal call + reply each, and the
		 * sm_ctrl(UP) that resumed the vCPU stopped at STARTUP */
		assert_int_equal(r->st.exits, 3);
		assert_int_equal(r->st.exits_by_reason[ROOF_EXIT_IO], 3);
		assert_int_equal(r->st.crossings, 3 * 2 + 1);
		assert_int_equal(r->st.hops, 0);
		assert_int_equal(r->st.misses, 0);
		assert_int_equal(r->st.fpu_ops, 3 * 4); /* eager FPU switch */
		assert_int_equal(r->st.vmcs_writes, 3 * 2); /* rip, length */
		print_counts("io-out", r, 3);
	}
	assert_int_equal(tuned.st.bytes, 3 * (IO_TUNED_EXIT + EIP_REPLY));
	assert_int_equal(genode.st.bytes, 3 * (ALL_GROUPS_EXIT + EIP_REPLY));
	assert_int_equal(tuned.st.vmcs_reads, 3 * IO_TUNED_READS);
	assert_int_equal(genode.st.vmcs_reads, 3 * GENODE_READS);
	/* the goal: tuned copies at most 1/20 of genode's bytes */
	assert_true(tuned.st.bytes * 20 <= genode.st.bytes);
	print_message("nova io-out bytes: tuned %llu / genode %llu = 1/%.1f\n",
		      (unsigned long long)tuned.st.bytes,
		      (unsigned long long)genode.st.bytes,
		      (double)genode.st.bytes / (double)tuned.st.bytes);
	finish(&tuned);
	finish(&genode);
}

static void test_hlt_counts(void **state)
{
	(void)state;
	ROOF_NEED_KVM();
	struct run tuned = {.policy = "tuned", .sub = T_HLT,
			    .io_mask = ROOF_MASK_DEFAULT};
	struct run genode = {.policy = "genode", .sub = T_HLT,
			     .io_mask = ROOF_MASK_DEFAULT};
	run_guest(&tuned);
	run_guest(&genode);
	for (int i = 0; i < 2; i++) {
		struct run *r = i ? &genode : &tuned;
		assert_int_equal(r->st.exits_by_reason[ROOF_EXIT_HLT], 1);
		assert_int_equal(r->st.exits, 3);
		assert_int_equal(r->st.crossings, 3 * 2 + 1);
		print_counts("hlt+2out", r, 3);
	}
	/* the hlt's share: its exit and its ip write */
	assert_int_equal(tuned.st.bytes - 2 * (IO_TUNED_EXIT + EIP_REPLY),
			 HLT_TUNED_EXIT + EIP_REPLY);
	assert_int_equal(genode.st.bytes, 3 * (ALL_GROUPS_EXIT + EIP_REPLY));
	finish(&tuned);
	finish(&genode);
}

/* The mixed loop: out, mmio write, mmio read (into rax), hlt. */
static void test_loop_counts(void **state)
{
	(void)state;
	ROOF_NEED_KVM();
	struct run tuned = {.policy = "tuned", .sub = T_LOOP,
			    .io_mask = ROOF_MASK_DEFAULT};
	struct run genode = {.policy = "genode", .sub = T_LOOP,
			     .io_mask = ROOF_MASK_DEFAULT};
	run_guest(&tuned);
	run_guest(&genode);
	for (int i = 0; i < 2; i++) {
		struct run *r = i ? &genode : &tuned;
		assert_int_equal(r->st.exits_by_reason[ROOF_EXIT_IO], LOOPS + 1);
		assert_int_equal(r->st.exits_by_reason[ROOF_EXIT_MMIO], 2 * LOOPS);
		assert_int_equal(r->st.exits_by_reason[ROOF_EXIT_HLT], LOOPS);
		assert_int_equal(r->st.crossings, 2 * r->st.exits + 1);
		assert_int_equal(r->st.fpu_ops, 4 * r->st.exits);
		print_counts("loop", r, (unsigned)r->st.exits);
	}
	uint64_t io = IO_TUNED_EXIT + EIP_REPLY;
	uint64_t hlt = HLT_TUNED_EXIT + EIP_REPLY;
	uint64_t mmio_write = MMIO_TUNED_EXIT + EIP_REPLY;
	uint64_t mmio_read = MMIO_TUNED_EXIT + EIP_REPLY + ACDB_REPLY;
	assert_int_equal(tuned.st.bytes, (LOOPS + 1) * io +
			 LOOPS * (hlt + mmio_write + mmio_read));
	assert_int_equal(genode.st.bytes,
			 (3 * LOOPS + 1) * (ALL_GROUPS_EXIT + EIP_REPLY) +
				 LOOPS * (ALL_GROUPS_EXIT + EIP_REPLY + ACDB_REPLY));
	finish(&tuned);
	finish(&genode);
}

/* ---- a read outside the portal MTD --------------------------------------- */
static void test_read_outside_mtd(void **state)
{
	(void)state;
	ROOF_NEED_KVM();
	struct run r = {.policy = "tuned", .sub = T_OUT, .io_mask = 0,
			.read_si = true};
	run_guest(&r);
	assert_int_equal(r.st.exits, 3);
	assert_int_equal(r.st.misses, 1);
	/* + ec_ctrl(EC_GET_VCPU_STATE) + the RECALL exit it armed (call and
	 * empty reply), which the VMM never sees */
	assert_int_equal(r.st.crossings, 3 * 2 + 1 + 1 + 2);
	assert_int_equal(r.st.fpu_ops, 4 * 4);
	/* + EBSD with the exit-reason word, + the RECALL's exit-reason word */
	assert_int_equal(r.st.bytes,
			 3 * (IO_TUNED_EXIT + EIP_REPLY) + (8 + 24) + 8);
	finish(&r);
}

static void test_fpu_transfer(void **state)
{
	(void)state;
	ROOF_NEED_KVM();
	/* genode: the FPU travels with every exit; tuned: fetched on demand */
	struct run genode = {.policy = "genode", .sub = T_OUT,
			     .io_mask = ROOF_MASK_DEFAULT, .read_fpu = true};
	struct run tuned = {.policy = "tuned", .sub = T_OUT,
			    .io_mask = ROOF_MASK_DEFAULT, .read_fpu = true};
	run_guest(&genode);
	run_guest(&tuned);
	assert_true(genode.fpu_ok);
	assert_true(tuned.fpu_ok);
	assert_int_equal(genode.st.misses, 0);
	assert_int_equal(tuned.st.misses, 1);
	assert_int_equal(tuned.st.bytes,
			 3 * (IO_TUNED_EXIT + EIP_REPLY) + (8 + 2560) + 8);
	finish(&genode);
	finish(&tuned);
}

/* ---- pause: EC_RECALL, then the RECALL portal ------------------------------ */
static void test_pause_costs(void **state)
{
	(void)state;
	ROOF_NEED_KVM();
	struct run r = {.policy = "tuned", .sub = T_OUT,
			.io_mask = ROOF_MASK_DEFAULT, .resume_on_done = true};
	start(&r);
	ROOF_OK_OR_FAIL(roof_vcpu_run(r.rig.cpu), roof_vcpu_error(r.rig.cpu));
	usleep(20000); /* the guest loops on out 0x1f */
	ROOF_OK_OR_FAIL(roof_vcpu_pause(r.rig.cpu), roof_vcpu_error(r.rig.cpu));
	wait_done(&r);
	assert_int_equal(r.st.exits_by_reason[ROOF_EXIT_PAUSED], 1);
	assert_true(r.st.exits_by_reason[ROOF_EXIT_IO] >= 3);
	/* every exit a call + reply; + sm_ctrl(UP) at the start, + the
	 * VMM's ec_ctrl(EC_RECALL) */
	assert_int_equal(r.st.crossings, 2 * r.st.exits + 2);
	finish(&r);
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
	struct run r = {.policy = "tuned", .sub = T_HLT,
			.io_mask = ROOF_MASK_DEFAULT, .nmi_window = true};
	run_guest(&r);
	/* NOVA takes the NMI-window request; the KVM substrate cannot: the
	 * entry fails, the VMM gets an INVALID_STATE exit (portal 33) whose
	 * text names the request, and nothing crashes */
	assert_non_null(r.error);
	if (!strstr(r.error, "NMI window"))
		fail_msg("error text does not name the request: %s", r.error);
	assert_int_equal(r.st.exits_by_reason[ROOF_EXIT_INVALID_STATE], 1);
	assert_int_equal(r.st.exits_by_reason[ROOF_EXIT_HLT], 1);
	finish(&r);
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
