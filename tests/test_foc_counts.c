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
 * write, mmio read, hlt, LOOPS times, then done).
 */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "model_rig.h"

#define PORT_EXIT 0x10
#define PORT_CHECK 0x11
#define PORT_DONE 0x1f
#define T_OUT 0
#define T_HLT 6
#define T_LOOP 12
#define LOOPS 10

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

struct run {
	const char *policy;
	int sub;
	uint64_t io_mask;
	roof_where where;
	bool read_si, read_fpu, resume_on_done, nmi_window, write_regs;
	bool check; /* compare every GPR at the check port */
	/* observed */
	unsigned ios, checks, bad;
	bool fpu_ok;
	char error[256];
	struct roof_test_flag done;
	struct model_rig rig;
	struct roof_stats st;
};

static void check_gprs(struct run *r, roof_state *s)
{
	uint64_t want[16];
	memcpy(want, roof_test_patterns, sizeof want);
	if (r->write_regs) {
		want[G_BX] = 0xb0b0b0b0ull;
		want[G_R12] = 0x1212ull;
	}
	roof_test_check_gprs(s, r->rig.groups, want, r->error, sizeof r->error);
	r->checks++;
}

static roof_action on_io(roof_vcpu *cpu, roof_state *s, void *p)
{
	(void)cpu;
	struct run *r = p;
	r->ios++;
	if (s->info.io.dir != ROOF_DIR_OUT)
		r->bad++;
	if (s->info.io.port == PORT_CHECK && r->check)
		check_gprs(r, s);
	if (s->info.io.port == PORT_EXIT && r->read_si &&
	    roof_get_si(s) != 0x0707070707070707ull)
		r->bad++;
	if (s->info.io.port == PORT_EXIT && r->read_fpu) {
		const uint8_t *f = roof_fpu_read(s);
		r->fpu_ok = f[0] == 0x7f && f[1] == 0x03; /* fcw after reset */
	}
	if (s->info.io.port == PORT_EXIT && r->write_regs) {
		roof_set_bx(s, 0xb0b0b0b0ull);
		roof_set_r12(s, 0x1212ull);
	}
	if (s->info.io.port == PORT_DONE && !r->resume_on_done) {
		roof_test_flag_raise(&r->done);
		return ROOF_STOP;
	}
	return ROOF_RESUME;
}

static roof_action on_mmio(roof_vcpu *cpu, roof_state *s, void *p)
{
	(void)cpu;
	(void)p;
	if (s->info.mmio.dir == ROOF_DIR_READ)
		s->info.mmio.data = 0x1122334455667788ull;
	return ROOF_RESUME;
}

static roof_action on_hlt(roof_vcpu *cpu, roof_state *s, void *p)
{
	(void)cpu;
	struct run *r = p;
	if (r->nmi_window) /* an NMI-window request: KVM has no such exit */
		roof_set_inj_info(s, roof_get_inj_info(s) | (1u << 13));
	roof_set_ip(s, roof_get_ip(s) + roof_get_ip_len(s));
	return ROOF_RESUME;
}

static roof_action on_stop(roof_vcpu *cpu, roof_state *s, void *p)
{
	(void)cpu;
	struct run *r = p;
	if (s->exit_reason != ROOF_EXIT_PAUSED)
		snprintf(r->error, sizeof r->error, "%s: %s",
			 roof_exit_name(s->exit_reason),
			 s->info.error ? s->info.error : "(no text)");
	roof_test_flag_raise(&r->done);
	return ROOF_STOP;
}

/* Open the VM, run STARTUP (stops), reset the counters. */
static void start(struct run *r)
{
	roof_test_flag_init(&r->done);
	model_rig_open(&r->rig, "foc", r->policy);
	model_rig_load(&r->rig, &(struct model_rig_guest){
		.name = "exits64", .subtest = (uint64_t)r->sub, .loops = LOOPS});
	const struct model_rig_handler h[] = {
		{ROOF_EXIT_IO, on_io, r, r->io_mask, r->where},
		{ROOF_EXIT_MMIO, on_mmio, r, ROOF_MASK_DEFAULT, r->where},
		{ROOF_EXIT_HLT, on_hlt, r, ROOF_MASK_DEFAULT, r->where},
		{ROOF_EXIT_PAUSED, on_stop, r, 0, ROOF_INLINE},
		{ROOF_EXIT_BACKEND_ERROR, on_stop, r, 0, ROOF_INLINE},
		{ROOF_EXIT_INVALID_STATE, on_stop, r, 0, ROOF_INLINE},
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
	if (r->error[0])
		fail_msg("policy %s: %s", r->policy, r->error);
	assert_int_equal(r->bad, 0);
}

static void run_guest(struct run *r)
{
	start(r);
	ROOF_OK_OR_FAIL(roof_vcpu_run(r->rig.cpu), roof_vcpu_error(r->rig.cpu));
	wait_done(r);
}

static void print_counts(const char *what, const struct run *r)
{
	double n = (double)r->st.exits;
	print_message("foc %-6s %-8s per exit: %.2f crossings, %.1f bytes, "
		      "%.2f vmcs reads, %.2f writes, %.2f fpu ops, %.2f hops; "
		      "substrate: %.2f KVM ioctls (%llu exits)\n",
		      r->policy, what, (double)r->st.crossings / n,
		      (double)r->st.bytes / n, (double)r->st.vmcs_reads / n,
		      (double)r->st.vmcs_writes / n, (double)r->st.fpu_ops / n,
		      (double)r->st.hops / n, (double)r->st.substrate_ioctls / n,
		      (unsigned long long)r->st.exits);
}

/* The kernel's copies do not depend on the client's policy. */
static void assert_kernel_copies(const struct run *r, uint64_t ept_exits)
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
	struct run tuned = {.policy = "tuned", .sub = T_OUT,
			    .io_mask = ROOF_MASK_DEFAULT};
	struct run genode = {.policy = "genode", .sub = T_OUT,
			     .io_mask = ROOF_MASK_DEFAULT};
	run_guest(&tuned);
	run_guest(&genode);
	for (int i = 0; i < 2; i++) {
		struct run *r = i ? &genode : &tuned;
		assert_int_equal(r->st.exits, 3);
		assert_int_equal(r->st.exits_by_reason[ROOF_EXIT_IO], 3);
		assert_int_equal(r->st.misses, 0);
		assert_kernel_copies(r, 0);
		print_counts("io-out", r);
	}
	/* tuned: one resume per exit, inline, no FPU instruction per exit */
	assert_int_equal(tuned.st.crossings, 3);
	assert_int_equal(tuned.st.hops, 0);
	assert_int_equal(tuned.st.fpu_ops, TUNED_FPU_PER_RUN);
	/* genode: + signal and ready semaphore per exit, FPU every exit */
	assert_int_equal(genode.st.crossings, 3 * 3);
	assert_int_equal(genode.st.hops, 3);
	assert_int_equal(genode.st.fpu_ops, 3 * GENODE_FPU_PER_EXIT);
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
		assert_kernel_copies(r, 0);
		print_counts("hlt+2out", r);
	}
	assert_int_equal(tuned.st.fpu_ops, TUNED_FPU_PER_RUN);
	assert_int_equal(genode.st.fpu_ops, 3 * GENODE_FPU_PER_EXIT);
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
		assert_kernel_copies(r, 2 * LOOPS);
		print_counts("loop", r);
	}
	/* 41 exits, and still only the run's one restore and one save: the
	 * goal, tuned does no fxsave/fxrstor on io, mmio or hlt exits */
	assert_int_equal(tuned.st.fpu_ops, TUNED_FPU_PER_RUN);
	assert_int_equal(tuned.st.crossings, tuned.st.exits);
	assert_int_equal(tuned.st.hops, 0);
	assert_int_equal(genode.st.fpu_ops, GENODE_FPU_PER_EXIT * genode.st.exits);
	assert_int_equal(genode.st.crossings, 3 * genode.st.exits);
	assert_int_equal(genode.st.hops, genode.st.exits);
	finish(&tuned);
	finish(&genode);
}

/* ---- registers travel both ways, both policies, both placements ------------- */
static void test_gpr_round_trip(void **state)
{
	(void)state;
	ROOF_NEED_KVM();
	for (int i = 0; i < 4; i++) {
		struct run r = {.policy = i & 1 ? "genode" : "tuned",
				.sub = T_OUT,
				.where = i & 2 ? ROOF_ON_EP : ROOF_INLINE,
				.io_mask = ROOF_G_ACDB | ROOF_G_EBSD |
					   ROOF_G_ESP | ROOF_G_R8_R15,
				.write_regs = true, .check = true};
		run_guest(&r);
		assert_int_equal(r.checks, 1);
		/* tuned handlers on the entrypoint hop there and back */
		if (i == 2) {
			assert_int_equal(r.st.hops, 3);
			assert_int_equal(r.st.crossings, 3 * 3);
		}
		finish(&r);
	}
}

/* ---- a read outside the mask: the page is memory ------------------------------- */
static void test_read_outside_mask(void **state)
{
	(void)state;
	ROOF_NEED_KVM();
	struct run r = {.policy = "tuned", .sub = T_OUT, .io_mask = 0,
			.read_si = true};
	run_guest(&r);
	assert_int_equal(r.st.exits, 3);
	assert_int_equal(r.st.misses, 1);
	assert_int_equal(r.st.crossings, 3); /* no kernel call for it */
	assert_kernel_copies(&r, 0);
	finish(&r);
}

static void test_fpu_on_request(void **state)
{
	(void)state;
	ROOF_NEED_KVM();
	struct run genode = {.policy = "genode", .sub = T_OUT,
			     .io_mask = ROOF_MASK_DEFAULT, .read_fpu = true};
	struct run tuned = {.policy = "tuned", .sub = T_OUT,
			    .io_mask = ROOF_MASK_DEFAULT, .read_fpu = true};
	run_guest(&genode);
	run_guest(&tuned);
	assert_true(genode.fpu_ok);
	assert_true(tuned.fpu_ok);
	assert_int_equal(genode.st.misses, 0);
	assert_int_equal(genode.st.fpu_ops, 3 * GENODE_FPU_PER_EXIT);
	/* tuned: the lazy read saves the registers once */
	assert_int_equal(tuned.st.misses, 1);
	assert_int_equal(tuned.st.fpu_ops, TUNED_FPU_PER_RUN + 1);
	finish(&genode);
	finish(&tuned);
}

/* ---- pause: the vCPU IRQ ends the resume with exit reason 1 ------------------- */
static void pause_spinning(struct run *r)
{
	start(r);
	ROOF_OK_OR_FAIL(roof_vcpu_run(r->rig.cpu), roof_vcpu_error(r->rig.cpu));
	usleep(20000); /* the guest loops on out 0x1f */
	ROOF_OK_OR_FAIL(roof_vcpu_pause(r->rig.cpu), roof_vcpu_error(r->rig.cpu));
	wait_done(r);
	assert_int_equal(r->st.exits_by_reason[ROOF_EXIT_PAUSED], 1);
	assert_true(r->st.exits_by_reason[ROOF_EXIT_IO] >= 3);
}

static void test_pause_costs(void **state)
{
	(void)state;
	ROOF_NEED_KVM();
	struct run tuned = {.policy = "tuned", .sub = T_OUT,
			    .io_mask = ROOF_MASK_DEFAULT, .resume_on_done = true};
	struct run genode = tuned;
	genode.policy = "genode";
	pause_spinning(&tuned);
	pause_spinning(&genode);
	/* one resume per exit; the pause adds the pauser's l4_irq_trigger
	 * and the vCPU thread's l4_irq_receive (a kick that raced with a
	 * plain exit may cost one more empty resume) */
	uint64_t ios = tuned.st.exits_by_reason[ROOF_EXIT_IO];
	assert_in_range(tuned.st.crossings, ios + 1 + 2, ios + 1 + 3);
	ios = genode.st.exits_by_reason[ROOF_EXIT_IO];
	assert_in_range(genode.st.crossings, 3 * (ios + 1) + 2,
			3 * (ios + 1) + 3);
	finish(&tuned);
	finish(&genode);
}

/* A pause of a stopped vCPU: genode goes through the kernel (trigger,
 * resume that returns at once); tuned reads the page it already has. */
static void test_pause_of_stopped_vcpu(void **state)
{
	(void)state;
	ROOF_NEED_KVM();
	for (int i = 0; i < 2; i++) {
		struct run r = {.policy = i ? "genode" : "tuned", .sub = T_OUT,
				.io_mask = ROOF_MASK_DEFAULT};
		start(&r);
		ROOF_OK_OR_FAIL(roof_vcpu_pause(r.rig.cpu), roof_vcpu_error(r.rig.cpu));
		wait_done(&r);
		assert_int_equal(r.st.exits, 1);
		assert_int_equal(r.st.exits_by_reason[ROOF_EXIT_PAUSED], 1);
		assert_int_equal(r.st.vmcs_reads + r.st.vmcs_writes, 0);
		if (i) { /* trigger, resume, receive; hop; fpu around resume */
			assert_int_equal(r.st.crossings, 3 + 2);
			assert_int_equal(r.st.fpu_ops, GENODE_FPU_PER_EXIT);
		} else {
			assert_int_equal(r.st.crossings, 0);
			assert_int_equal(r.st.fpu_ops, 0);
		}
		finish(&r);
	}
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
	assert_int_equal(roof_vcpu_on_exit(cpu, ROOF_EXIT_HLT, on_hlt, NULL,
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
	for (int i = 0; i < 2; i++) {
		struct run r = {.policy = i ? "genode" : "tuned", .sub = T_HLT,
				.io_mask = ROOF_MASK_DEFAULT, .nmi_window = true};
		run_guest(&r);
		/* the request reaches the model kernel as the NMI-window
		 * control; the hardware cannot: a BACKEND_ERROR names it */
		assert_int_equal(r.st.exits_by_reason[ROOF_EXIT_BACKEND_ERROR], 1);
		if (!strstr(r.error, "NMI-window"))
			fail_msg("error text does not name the request: %s",
				 r.error);
		r.error[0] = 0;
		finish(&r);
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
