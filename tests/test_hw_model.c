/*
 * test_hw_model.c - the "hw" backend on a real vCPU: what each policy costs
 * per exit (the counts README.md derives from base-hw's vcpu.cc/vmx.cc),
 * that both policies run guests correctly, rdtscp sees the tsc_aux the VMM
 * set (Genode's vmm_x86 run script tests it on hw), a pause of a spinning
 * vCPU arrives as PAUSED, and what hw cannot transfer is refused.
 */
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "../kernels/hw/client/hw_vcpu_state.h"
#include "model_rig.h"

#define PORT_EXIT 0x10
#define PORT_CHECK 0x11
#define PORT_IN 0x12
#define PORT_DONE 0x1f
#define T_OUT 0
#define T_IN32 3
#define T_MMIO_READ 4
#define T_HLT 6
#define T_RDMSR 7
#define T_LOOP 12
#define VMM_MSR MODEL_RIG_VMM_MSR
#define VMM_X86_PAGE 0xfffff000ull

static const char *const policies[2] = {"genode", "tuned"};

struct ctx {
	unsigned subtest;
	unsigned n, stop_n;     /* guest exits so far; stop at number stop_n */
	bool compare;           /* the check exit compares every GPR */
	uint64_t expect[16];
	unsigned checks;
	char mismatch[512];
	uint64_t ip, cx, tsc_aux;
	atomic_int paused;
	struct roof_test_flag stopped;
};

/* Every guest exit counts; the one numbered stop_n stops the vCPU. */
static roof_action counted(struct ctx *c)
{
	if (++c->n != c->stop_n)
		return ROOF_RESUME;
	roof_test_flag_raise(&c->stopped);
	return ROOF_STOP;
}

static void compare_gprs(struct ctx *c, roof_state *st)
{
	roof_test_check_gprs(st, HW_GROUPS, c->expect, c->mismatch,
			     sizeof c->mismatch);
	c->checks++;
}

static roof_action on_io(roof_vcpu *cpu, roof_state *st, void *p)
{
	(void)cpu;
	struct ctx *c = p;
	switch (st->info.io.port) {
	case PORT_IN:
		st->info.io.data = 0xcafebabe;
		return counted(c);
	case PORT_EXIT:
		return counted(c);
	case PORT_CHECK: /* the subtest's end: compare, stop */
		if (c->compare)
			compare_gprs(c, st);
		c->n++;
		roof_test_flag_raise(&c->stopped);
		return ROOF_STOP;
	default:
		snprintf(c->mismatch, sizeof c->mismatch, "io port 0x%x",
			 st->info.io.port);
		roof_test_flag_raise(&c->stopped);
		return ROOF_STOP;
	}
}

static roof_action on_mmio(roof_vcpu *cpu, roof_state *st, void *p)
{
	(void)cpu;
	if (st->info.mmio.dir == ROOF_DIR_READ)
		st->info.mmio.data = 0x1122334455667788ull;
	return counted(p);
}

static roof_action on_msr(roof_vcpu *cpu, roof_state *st, void *p)
{
	(void)cpu;
	st->info.msr.value = 0xfeedface12345678ull;
	return counted(p);
}

static roof_action on_hlt(roof_vcpu *cpu, roof_state *st, void *p)
{
	(void)cpu;
	struct ctx *c = p;
	c->ip = roof_get_ip(st);
	roof_set_ip(st, c->ip + roof_get_ip_len(st));
	return counted(c);
}

/* exits64 in long mode, stopped after STARTUP, running `subtest`;
 * handlers inline. */
static void rig_guest(struct model_rig *r, struct ctx *c, const char *policy)
{
	model_rig_open(r, "hw", policy);
	model_rig_load(r, &(struct model_rig_guest){
		.name = "exits64", .subtest = c->subtest, .vmm_msr = true});
	const struct model_rig_handler h[] = {
		{ROOF_EXIT_IO, on_io, c, ROOF_MASK_DEFAULT, ROOF_INLINE},
		{ROOF_EXIT_MMIO, on_mmio, c, ROOF_MASK_DEFAULT, ROOF_INLINE},
		{ROOF_EXIT_MSR_READ, on_msr, c, ROOF_MASK_DEFAULT, ROOF_INLINE},
		{ROOF_EXIT_HLT, on_hlt, c, ROOF_MASK_DEFAULT, ROOF_INLINE},
	};
	model_rig_vcpu(r, h, sizeof h / sizeof h[0]);
	model_rig_startup(r);
}

/* ---- what one exit costs ------------------------------------------------------ */
/*
 * One cycle = the vcpu_run that resumes the guest + its next exit. The
 * handler of the exit before stops the vCPU, the stats are reset, and the
 * measured exit stops it again, so the cycle is exactly: vcpu_run (load
 * what the previous handler wrote) -> guest -> exit -> signal ->
 * signal_ack -> vcpu_pause (store). Expected from vcpu.cc and vmx.cc:
 */
struct expected_cycle {
	unsigned subtest, stop_before; /* guest exits before the measured one */
	roof_exit reason;
	uint64_t genode_reads, tuned_reads;  /* VMREADs incl. EXIT_REASON */
	uint64_t store_bytes_tuned, load_bytes;
};

/* Vmcs::store reads 60 fields, handle_vm_exit the exit reason. The full
 * store moves 1036 value bytes: exit_reason 4, FPU 512, registers 520. */
#define FULL_READS (60 + 1)
#define FULL_STORE 1036

static const struct expected_cycle cycles[] = {
	/* out, then the check's out (mask 0; implicit ACDB EIP EFER CSSS
	 * QUAL): reads exit reason, RIP, EXIT_INSTR_LEN, EFER, 8 for cs/ss,
	 * 2 qual = 14; store 4+32+16+8+32+16 = 108; load ip: RIP and
	 * ENTRY_INSTR_LEN, 16 bytes */
	{T_OUT, 1, ROOF_EXIT_IO, FULL_READS, 14, 108, 16},
	/* the loop's mmio read, then its hlt (mask EIP EFL): reads
	 * 1+2+1 = 4; store 4+16+8 = 28; load ip and rax (the mmio read's
	 * destination): 16 + 32 */
	{T_LOOP, 3, ROOF_EXIT_HLT, FULL_READS, 4, 28, 48},
};

static void test_counts_per_exit(void **state)
{
	(void)state;
	ROOF_NEED_KVM();
	for (size_t k = 0; k < sizeof cycles / sizeof cycles[0]; k++) {
		const struct expected_cycle *e = &cycles[k];
		for (int p = 0; p < 2; p++) {
			bool tuned = p == 1;
			struct ctx c = {.subtest = e->subtest,
					.stop_n = e->stop_before};
			memcpy(c.expect, roof_test_patterns, sizeof c.expect);
			roof_test_flag_init(&c.stopped);
			struct model_rig r;
			rig_guest(&r, &c, policies[p]);
			model_rig_run_until(&r, &c.stopped, "the exit before");
			model_rig_reset_stats(&r);
			c.stop_n = e->stop_before + 1;
			model_rig_run_until(&r, &c.stopped, "the measured exit");
			struct roof_stats st;
			model_rig_stats(&r, &st);
			model_rig_close(&r);
			roof_test_flag_destroy(&c.stopped);
			print_message("hw %s %s: crossings %llu hops %llu vmcs "
				      "r/w %llu/%llu bytes %llu fpu %llu (substrate: "
				      "%llu KVM ioctls)\n",
				      policies[p], roof_exit_name(e->reason),
				      (unsigned long long)st.crossings,
				      (unsigned long long)st.hops,
				      (unsigned long long)st.vmcs_reads,
				      (unsigned long long)st.vmcs_writes,
				      (unsigned long long)st.bytes,
				      (unsigned long long)st.fpu_ops,
				      (unsigned long long)st.substrate_ioctls);
			if (c.mismatch[0])
				fail_msg("hw %s: %s", policies[p], c.mismatch);
			assert_int_equal(st.exits, 1);
			assert_int_equal(st.exits_by_reason[e->reason], 1);
			/* vcpu_run + signal + signal_ack + vcpu_pause */
			assert_int_equal(st.crossings, 4);
			/* fxsave + fxrstor per kernel entry: the VM exit and
			 * the four crossings */
			assert_int_equal(st.fpu_ops, 10);
			/* genode: every exit is a signal to the entrypoint */
			assert_int_equal(st.hops, tuned ? 0 : 1);
			assert_int_equal(st.vmcs_writes, 2);
			assert_int_equal(st.vmcs_reads,
					 tuned ? e->tuned_reads : e->genode_reads);
			assert_int_equal(st.bytes,
					 (tuned ? e->store_bytes_tuned : FULL_STORE) +
						 e->load_bytes);
			assert_int_equal(st.misses, 0);
		}
	}
}

/* ---- both policies run guests correctly ------------------------------------ */
static void test_guests_run_on_both_policies(void **state)
{
	(void)state;
	ROOF_NEED_KVM();
	static const struct { unsigned sub; unsigned reg; uint64_t value; } t[] = {
		{T_IN32, G_AX, 0xcafebabeull},
		{T_MMIO_READ, G_AX, 0x1122334455667788ull},
		{T_RDMSR, G_AX, 0x12345678ull},
		{T_HLT, G_AX, 0x0101010101010101ull},
	};
	for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
		for (int p = 0; p < 2; p++) {
			struct ctx c = {.subtest = t[i].sub, .compare = true};
			memcpy(c.expect, roof_test_patterns, sizeof c.expect);
			c.expect[t[i].reg] = t[i].value;
			if (t[i].sub == T_RDMSR) {
				c.expect[G_CX] = VMM_MSR;
				c.expect[G_DX] = 0xfeedfaceull;
			}
			if (t[i].sub == T_IN32)
				c.expect[G_DX] = (roof_test_patterns[G_DX] &
						  ~0xffffull) | PORT_IN;
			roof_test_flag_init(&c.stopped);
			struct model_rig r;
			rig_guest(&r, &c, policies[p]);
			model_rig_run_until(&r, &c.stopped, "the check");
			model_rig_close(&r);
			roof_test_flag_destroy(&c.stopped);
			if (c.mismatch[0])
				fail_msg("hw %s subtest %u: %s", policies[p],
					 t[i].sub, c.mismatch);
			assert_int_equal(c.checks, 1);
		}
	}
}

/* ---- rdtscp and pause, on Genode's vmm_x86 guest ------------------------------ */
static roof_action x86_startup(roof_vcpu *cpu, roof_state *st, void *p)
{
	(void)cpu;
	struct ctx *c = p;
	roof_test_set_real_mode(st);
	roof_set_tsc_aux(st, c->tsc_aux);
	return ROOF_RESUME;
}

/* First hlt (0xff81): remember cx (rdtscp's tsc_aux), jump over both hlts
 * into the `jmp .` at 0xff83 and spin there. */
static roof_action x86_hlt(roof_vcpu *cpu, roof_state *st, void *p)
{
	(void)cpu;
	struct ctx *c = p;
	c->ip = roof_get_ip(st);
	c->cx = roof_get_cx(st);
	if (roof_get_tsc_aux(st) != c->tsc_aux)
		snprintf(c->mismatch, sizeof c->mismatch,
			 "tsc_aux 0x%llx at the hlt, want 0x%llx",
			 (unsigned long long)roof_get_tsc_aux(st),
			 (unsigned long long)c->tsc_aux);
	roof_set_ip(st, c->ip + 2);
	roof_test_flag_raise(&c->stopped);
	return ROOF_STOP;
}

static roof_action x86_paused(roof_vcpu *cpu, roof_state *st, void *p)
{
	(void)cpu;
	struct ctx *c = p;
	c->ip = roof_get_ip(st);
	atomic_fetch_add(&c->paused, 1);
	roof_test_flag_raise(&c->stopped);
	return ROOF_STOP;
}

static void test_rdtscp_and_pause_of_a_spinning_vcpu(void **state)
{
	(void)state;
	ROOF_NEED_KVM();
	for (int p = 0; p < 2; p++) {
		struct ctx c = {.tsc_aux = 0xaffe0007u};
		roof_test_flag_init(&c.stopped);
		struct model_rig r;
		model_rig_open(&r, "hw", policies[p]);
		ROOF_OK_OR_FAIL(roof_vm_alloc_ram(r.vm, VMM_X86_PAGE, 4096, NULL),
				roof_vm_error(r.vm));
		ROOF_OK_OR_FAIL(roof_vm_load_image(r.vm, ROOF_GUEST_DIR
						   "/vmm_x86.bin", VMM_X86_PAGE,
						   NULL),
				roof_vm_error(r.vm));
		ROOF_OK_OR_FAIL(roof_vcpu_create(r.vm, r.ep, &r.cpu),
				roof_vm_error(r.vm));
		uint64_t m = ROOF_G_ALL | ROOF_G_TSC_AUX;
		ROOF_OK_OR_FAIL(roof_vcpu_on_exit(r.cpu, ROOF_EXIT_STARTUP,
						  x86_startup, &c, m, ROOF_ON_EP),
				roof_vcpu_error(r.cpu));
		ROOF_OK_OR_FAIL(roof_vcpu_on_exit(r.cpu, ROOF_EXIT_HLT, x86_hlt,
						  &c, m, ROOF_ON_EP),
				roof_vcpu_error(r.cpu));
		ROOF_OK_OR_FAIL(roof_vcpu_on_exit(r.cpu, ROOF_EXIT_PAUSED,
						  x86_paused, &c, ROOF_G_EIP,
						  ROOF_ON_EP),
				roof_vcpu_error(r.cpu));
		model_rig_run_until(&r, &c.stopped, "the hlt");
		assert_int_equal(c.ip, 0xff81);
		/* rdtscp at 0xff7e returned the tsc_aux the VMM set */
		assert_int_equal((uint32_t)c.cx, c.tsc_aux);
		model_rig_reset_stats(&r);
		/* resume into the jmp . loop, then pause it */
		ROOF_OK_OR_FAIL(roof_vcpu_run(r.cpu), roof_vcpu_error(r.cpu));
		usleep(20000);
		ROOF_OK_OR_FAIL(roof_vcpu_pause(r.cpu), roof_vcpu_error(r.cpu));
		model_rig_wait(&r, &c.stopped, "PAUSED of the spinning vCPU");
		struct roof_stats st;
		model_rig_stats(&r, &st);
		assert_int_equal(c.ip, 0xff83);
		assert_int_equal(atomic_load(&c.paused), 1);
		assert_int_equal(st.exits, 1);
		assert_int_equal(st.exits_by_reason[ROOF_EXIT_PAUSED], 1);
		/* vcpu_run; the kernel's interrupt exit is no crossing; the
		 * pause request: signal, signal_ack, vcpu_pause */
		assert_int_equal(st.crossings, 4);
		assert_int_equal(st.hops, 1); /* the handler is ROOF_ON_EP */
		/* a pause of the stopped vCPU is answered too, same ip */
		ROOF_OK_OR_FAIL(roof_vcpu_pause(r.cpu), roof_vcpu_error(r.cpu));
		model_rig_wait(&r, &c.stopped, "PAUSED of the stopped vCPU");
		assert_int_equal(atomic_load(&c.paused), 2);
		assert_int_equal(c.ip, 0xff83);
		model_rig_close(&r);
		roof_test_flag_destroy(&c.stopped);
		if (c.mismatch[0])
			fail_msg("hw %s: %s", policies[p], c.mismatch);
	}
}

/* ---- what hw cannot transfer ------------------------------------------------ */
static roof_action reads_xcr0(roof_vcpu *cpu, roof_state *st, void *p)
{
	(void)cpu;
	struct ctx *c = p;
	c->cx = roof_get_xcr0(st); /* hw has no xcr0: the exit fails */
	roof_test_flag_raise(&c->stopped);
	return ROOF_RESUME;
}

static void test_unsupported_groups(void **state)
{
	(void)state;
	ROOF_NEED_KVM();
	struct model_rig r;
	model_rig_open(&r, "hw", "tuned");
	assert_int_equal(roof_vm_state_groups(r.vm), HW_GROUPS);
	assert_false(roof_vm_state_groups(r.vm) & (ROOF_G_CTRL | ROOF_G_XSAVE));
	assert_int_equal(roof_vm_set_option(r.vm, "policy", "fast"), ROOF_EINVAL);
	assert_non_null(strstr(roof_vm_error(r.vm), "genode|tuned"));
	model_rig_load(&r, &(struct model_rig_guest){.name = "exits64",
						     .subtest = T_OUT});
	model_rig_vcpu(&r, NULL, 0);
	struct ctx c = {.subtest = T_OUT};
	roof_test_flag_init(&c.stopped);
	assert_int_equal(roof_vcpu_on_exit(r.cpu, ROOF_EXIT_IO, on_io, &c,
					   ROOF_G_ACDB | ROOF_G_CTRL, ROOF_INLINE),
			 ROOF_ENOSYS);
	assert_non_null(strstr(roof_vcpu_error(r.cpu), "hw cannot transfer CTRL"));
	assert_int_equal(roof_vcpu_on_exit(r.cpu, ROOF_EXIT_IO, on_io, &c,
					   ROOF_G_XSAVE, ROOF_INLINE),
			 ROOF_ENOSYS);
	/* read at run time: the vCPU stops with the kernel's reason */
	ROOF_OK_OR_FAIL(roof_vcpu_on_exit(r.cpu, ROOF_EXIT_IO, reads_xcr0, &c,
					  0, ROOF_INLINE),
			roof_vcpu_error(r.cpu));
	model_rig_startup(&r);
	model_rig_run_until(&r, &c.stopped, "the io exit");
	assert_non_null(strstr(roof_vcpu_error(r.cpu), "xcr0/xss"));
	model_rig_close(&r);
	roof_test_flag_destroy(&c.stopped);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_counts_per_exit),
		cmocka_unit_test(test_guests_run_on_both_policies),
		cmocka_unit_test(test_rdtscp_and_pause_of_a_spinning_vcpu),
		cmocka_unit_test(test_unsupported_groups),
	};
	return cmocka_run_group_tests_name("hw model", tests, NULL, NULL);
}
