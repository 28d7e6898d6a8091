/*
 * test_sel4_abi.c - the seL4 model's native layout and its client, against
 * a fake kernel (no KVM): the IPC buffer, MR and seL4_VCPUContext layouts
 * of libsel4, the client's VMCS fields against seL4's ReadVMCS/WriteVMCS
 * whitelists, Genode's 54 reads in Genode's order, the tuned client's
 * field reads per exit and its cache rules, the guest-visible cr0/cr4 and
 * the writes they take, the hop accounting, and every refusal.
 */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "roof_test.h"
#include "x86_arch.h"
#include "../kernels/sel4/client/sel4_client.h"
#include "../kernels/sel4/sel4_kernel.h"

/* ---- a fake seL4 kernel: a VMCS as an array, calls logged ------------------- */
#define VMCS_SPACE 0x7000
#define MEM_SIZE 0x6000
#define CODE_GPA 0x4000

static struct fake {
	struct sel4_ipc_buffer ipc;
	uint64_t vmcs[VMCS_SPACE];
	uint32_t reads[256], writes[256];
	unsigned nreads, nwrites, nregs, nvmenter;
	struct sel4_vcpu_context regs;
	sel4_word ret[SEL4_VMENTER_NUM_FAULT_MSGS]; /* MRs the next return sets */
	sel4_word sent[SEL4_VMENTER_CALL_LEN];      /* MR0..MR2 of the last call */
	int result;
	bool ran, signalled;
	char reported[512];
	uint8_t mem[MEM_SIZE];
} fk;

static int fake_vmenter(void *k, sel4_word *badge, bool *ran)
{
	(void)k;
	fk.nvmenter++;
	memcpy(fk.sent, fk.ipc.msg, sizeof fk.sent);
	*badge = 0;
	*ran = fk.ran;
	if (fk.ran)
		memcpy(fk.ipc.msg, fk.ret, sizeof fk.ret);
	return fk.result;
}

static struct sel4_read_vmcs_result fake_read(void *k, sel4_word f)
{
	(void)k;
	if (fk.nreads < 256)
		fk.reads[fk.nreads] = (uint32_t)f;
	fk.nreads++;
	if (f >= VMCS_SPACE || !sel4_kernel_readable((uint32_t)f))
		return (struct sel4_read_vmcs_result){SEL4_ILLEGAL_OPERATION, 0};
	fk.ipc.msg[0] = fk.vmcs[f];
	return (struct sel4_read_vmcs_result){SEL4_NO_ERROR, fk.vmcs[f]};
}

static struct sel4_write_vmcs_result fake_write(void *k, sel4_word f, sel4_word v)
{
	(void)k;
	if (fk.nwrites < 256)
		fk.writes[fk.nwrites] = (uint32_t)f;
	fk.nwrites++;
	if (f >= VMCS_SPACE || !sel4_kernel_writable((uint32_t)f))
		return (struct sel4_write_vmcs_result){SEL4_ILLEGAL_OPERATION, 0};
	fk.vmcs[f] = v;
	return (struct sel4_write_vmcs_result){SEL4_NO_ERROR, v};
}

static int fake_write_registers(void *k, const struct sel4_vcpu_context *r)
{
	(void)k;
	fk.nregs++;
	fk.regs = *r;
	return SEL4_NO_ERROR;
}

static void fake_signal(void *k)
{
	(void)k;
	fk.signalled = true;
}

static const void *fake_mem(void *k, uint64_t gpa, uint64_t len)
{
	(void)k;
	return gpa < MEM_SIZE && len <= MEM_SIZE - gpa ? fk.mem + gpa : NULL;
}

static void fake_cpuid(void *k, uint32_t l, uint32_t s, uint32_t out[4])
{
	(void)k;
	(void)l;
	(void)s;
	memset(out, 0, 4 * sizeof out[0]);
}

static uint64_t fake_timestamp(void *k)
{
	(void)k;
	return 1234;
}

static const char *fake_error(void *k)
{
	(void)k;
	return "fake kernel refused";
}

static void fake_report(void *k, int err, const char *text)
{
	(void)k;
	(void)err;
	snprintf(fk.reported, sizeof fk.reported, "%s", text);
}

static const struct sel4_kernel_ops fake_ops = {
	fake_vmenter, fake_read, fake_write, fake_write_registers, fake_signal,
	fake_timestamp, fake_error, fake_report};
static const struct vmx_exit_env fake_env = {fake_mem, fake_cpuid, NULL};

static struct roof_vcpu vcpu;
static roof_state state __attribute__((aligned(64)));
static struct sel4_client client;

/* 64-bit guest: identity-mapped 2 MiB page at 0 (PML4 0x1000, PDPT 0x2000,
 * PD 0x3000), code at CODE_GPA. VMX access rights: code 0xa09b (L), data
 * 0xc093. */
static void fake_reset(enum sel4_policy policy)
{
	memset(&fk, 0, sizeof fk);
	memset(&vcpu, 0, sizeof vcpu);
	memset(&state, 0, sizeof state);
	static const uint64_t pte[3] = {0x2003, 0x3003, 0x83};
	for (unsigned i = 0; i < 3; i++) /* PML4, PDPT, PD */
		memcpy(fk.mem + 0x1000 * (i + 1), &pte[i], sizeof pte[i]);
	fk.vmcs[VMCS_GUEST_CR0] = 0x80050031; /* NE forced, MP masked off */
	fk.vmcs[VMCS_CR0_SHADOW] = 0x80050033;
	fk.vmcs[VMCS_CR0_MASK] = SEL4_GENODE_CR0_MASK;
	fk.vmcs[VMCS_GUEST_CR4] = 0x2620;
	fk.vmcs[VMCS_CR4_SHADOW] = 0x620;
	fk.vmcs[VMCS_CR4_MASK] = SEL4_GENODE_CR4_MASK;
	fk.vmcs[VMCS_GUEST_EFER] = 0x500;
	fk.vmcs[VMCS_GUEST_CS_AR] = 0xa09b;
	fk.vmcs[VMCS_GUEST_CS_SEL] = 0x08;
	fk.vmcs[VMCS_GUEST_SS_AR] = 0xc093;
	fk.vmcs[VMCS_GUEST_RSP] = 0x7000;
	fk.vmcs[VMCS_GUEST_ACTIVITY] = 0;
	fk.result = SEL4_VMENTER_RESULT_FAULT;
	fk.ran = true;
	roof_core_init(&vcpu, &state, 0, &sel4_client_hot, &client, NULL, NULL);
	assert_int_equal(sel4_client_init(&client, &vcpu, policy, &fake_ops, NULL,
					  &fake_env, &fk.ipc), 0);
	for (unsigned e = 0; e < ROOF_EXIT_COUNT; e++)
		vcpu.implicit[e] = sel4_client_implicit(policy, (roof_exit)e);
	vcpu.force_hop = policy == SEL4_POLICY_GENODE;
	client.masks_written = true; /* the fake VMCS has them */
	/* as after STARTUP: the VMM set ip, controls and no injection */
	client.entry[0] = CODE_GPA;
	client.entry[1] = 0x92000080;
	client.entry[2] = 0;
	client.entry_set = 7;
}

/* The MRs of the next fault return. */
static void fake_fault(uint32_t reason, uint64_t qual, uint64_t len,
		       uint64_t gpa, uint64_t rip)
{
	memset(fk.ret, 0, sizeof fk.ret);
	fk.ret[SEL4_VMENTER_CALL_EIP_MR] = rip;
	fk.ret[SEL4_VMENTER_CALL_CONTROL_PPC_MR] = 0x92000080;
	fk.ret[SEL4_VMENTER_FAULT_REASON_MR] = reason;
	fk.ret[SEL4_VMENTER_FAULT_QUALIFICATION_MR] = qual;
	fk.ret[SEL4_VMENTER_FAULT_INSTRUCTION_LEN_MR] = len;
	fk.ret[SEL4_VMENTER_FAULT_GUEST_PHYSICAL_MR] = gpa;
	fk.ret[SEL4_VMENTER_FAULT_RFLAGS_MR] = 2;
	fk.ret[SEL4_VMENTER_FAULT_CR3_MR] = 0x1000;
	for (unsigned i = 0; i < 7; i++) /* eax ebx ecx edx esi edi ebp */
		fk.ret[SEL4_VMENTER_FAULT_EAX + i] = 0x0101010101010101ull * (i + 1);
	fk.result = SEL4_VMENTER_RESULT_FAULT;
	fk.ran = true;
}

static roof_action resume(roof_vcpu *v, roof_state *s, void *p)
{
	(void)v;
	(void)s;
	(void)p;
	return ROOF_RESUME;
}

static void handler(roof_exit reason, uint64_t mask)
{
	vcpu.handlers[reason] = (struct roof_handler_slot){resume, NULL, mask,
							   ROOF_INLINE, 1};
}

/* One VMEnter and the dispatch of what it returned. */
static roof_action enter_and_dispatch(void)
{
	int r = sel4_client_enter(&client);
	assert_true(r == SEL4_RETURN_FAULT || r == SEL4_RETURN_NOTIF);
	sel4_client_begin_exit(&client, r == SEL4_RETURN_NOTIF
						? ROOF_EXIT_PAUSED
						: vmx_exit_unified(client.native));
	return roof_dispatch_exit(&vcpu);
}

static void reads_are(const uint32_t *want, unsigned n)
{
	char got[512] = "";
	size_t len = 0;
	for (unsigned i = 0; i < fk.nreads && i < 256 && len < sizeof got; i++)
		len += (size_t)snprintf(got + len, sizeof got - len, "%x ",
					fk.reads[i]);
	if (fk.nreads != n)
		fail_msg("%u ReadVMCS (%s), want %u", fk.nreads, got, n);
	for (unsigned i = 0; i < n; i++)
		if (fk.reads[i] != want[i])
			fail_msg("ReadVMCS #%u is %x, want %x (%s)", i, fk.reads[i],
				 want[i], got);
}

static void counts_zero(void)
{
	fk.nreads = fk.nwrites = fk.nregs = 0;
}

/* ---- layouts (libsel4) -------------------------------------------------------- */
static void test_layouts(void **unused)
{
	(void)unused;
	assert_int_equal(offsetof(struct sel4_ipc_buffer, msg), 8);
	assert_int_equal(sizeof(struct sel4_ipc_buffer), 1024);
	assert_int_equal(SEL4_MSG_MAX_LENGTH, 120);
	/* vmenter.h: the call MRs, then the fault MRs, 17 in all */
	assert_int_equal(SEL4_VMENTER_CALL_EIP_MR, 0);
	assert_int_equal(SEL4_VMENTER_CALL_CONTROL_PPC_MR, 1);
	assert_int_equal(SEL4_VMENTER_CALL_INTERRUPT_INFO_MR, 2);
	assert_int_equal(SEL4_VMENTER_FAULT_REASON_MR, 3);
	assert_int_equal(SEL4_VMENTER_FAULT_QUALIFICATION_MR, 4);
	assert_int_equal(SEL4_VMENTER_FAULT_INSTRUCTION_LEN_MR, 5);
	assert_int_equal(SEL4_VMENTER_FAULT_GUEST_PHYSICAL_MR, 6);
	assert_int_equal(SEL4_VMENTER_FAULT_RFLAGS_MR, 7);
	assert_int_equal(SEL4_VMENTER_FAULT_GUEST_INT_MR, 8);
	assert_int_equal(SEL4_VMENTER_FAULT_CR3_MR, 9);
	assert_int_equal(SEL4_VMENTER_FAULT_EAX, 10);
	assert_int_equal(SEL4_VMENTER_FAULT_EBX, 11);
	assert_int_equal(SEL4_VMENTER_FAULT_ECX, 12);
	assert_int_equal(SEL4_VMENTER_FAULT_EDX, 13);
	assert_int_equal(SEL4_VMENTER_FAULT_ESI, 14);
	assert_int_equal(SEL4_VMENTER_FAULT_EDI, 15);
	assert_int_equal(SEL4_VMENTER_FAULT_EBP, 16);
	assert_int_equal(SEL4_VMENTER_NUM_FAULT_MSGS, 17);
	assert_int_equal(SEL4_VMENTER_RESULT_FAULT, 1);
	assert_int_equal(SEL4_VMENTER_RESULT_NOTIF, 0);
	/* types.h: seL4_VCPUContext without 64-bit guests */
	assert_int_equal(sizeof(struct sel4_vcpu_context), 56);
	assert_int_equal(offsetof(struct sel4_vcpu_context, ebx), 8);
	assert_int_equal(offsetof(struct sel4_vcpu_context, edx), 24);
	assert_int_equal(offsetof(struct sel4_vcpu_context, edi), 40);
	assert_int_equal(SEL4_ILLEGAL_OPERATION, 3);
	/* Genode's vm.cc constants */
	assert_int_equal(SEL4_GENODE_CR0_MASK, 0x60000022);
	assert_int_equal(SEL4_GENODE_CR4_MASK, 0x2000);
	assert_int_equal(SEL4_GENODE_EXIT_ON_HLT, 0x80);
}

/* ---- fields against seL4's whitelists ----------------------------------------- */
static void test_fields_and_whitelists(void **unused)
{
	(void)unused;
	for (unsigned f = 0; f < SF_COUNT; f++) {
		uint32_t e = sel4_field_encoding(f);
		for (unsigned g = 0; g < f; g++)
			assert_int_not_equal(e, sel4_field_encoding(g));
		bool unreadable = f == SF_CTRL1 || f == SF_ENTRY_INST_LEN;
		bool read_only = f == SF_IDT_INFO || f == SF_IDT_ERROR;
		if (sel4_kernel_readable(e) == unreadable)
			fail_msg("field %u (0x%x): readable %d", f, e,
				 sel4_kernel_readable(e));
		if (sel4_kernel_writable(e) == read_only)
			fail_msg("field %u (0x%x): writable %d", f, e,
				 sel4_kernel_writable(e));
	}
	/* exit reason and qualification come only in MRs; no TSC offset;
	 * Genode's intel_vmcs.patch adds ENTRY_EXCEPTION_ERROR_CODE reads and
	 * ENTRY_INSTRUCTION_LENGTH writes */
	assert_false(sel4_kernel_readable(VMCS_EXIT_REASON));
	assert_false(sel4_kernel_readable(VMCS_EXIT_QUALIFICATION));
	assert_false(sel4_kernel_readable(VMCS_TSC_OFFSET));
	assert_false(sel4_kernel_writable(VMCS_TSC_OFFSET));
	assert_false(sel4_kernel_readable(VMCS_PROC_CTLS2));
	assert_true(sel4_kernel_writable(VMCS_PROC_CTLS2));
	assert_true(sel4_kernel_readable(VMCS_ENTRY_EXC_ERROR));
	assert_true(sel4_kernel_writable(VMCS_ENTRY_INSTR_LEN));
	assert_false(sel4_kernel_readable(VMCS_ENTRY_INSTR_LEN));
	assert_false(sel4_kernel_writable(VMCS_EXIT_INSTR_LEN));
	assert_false(sel4_kernel_readable(VMCS_GUEST_ES_SEL + 1)); /* odd */
}

/* ---- Genode's policy: 54 reads, in vm.cc's order ------------------------------- */
static const uint32_t genode_order[54] = {
	0x681c, 0x681a, 0x6800, 0x6004, 0x6804, 0x6006,
	0x0802, 0x4816, 0x4802, 0x6808, 0x0804, 0x4818, 0x4804, 0x680a, /* cs ss */
	0x0800, 0x4814, 0x4800, 0x6806, 0x0806, 0x481a, 0x4806, 0x680c, /* es ds */
	0x0808, 0x481c, 0x4808, 0x680e, 0x080a, 0x481e, 0x480a, 0x6810, /* fs gs */
	0x080e, 0x4822, 0x480e, 0x6814, 0x080c, 0x4820, 0x480c, 0x6812, /* tr ldtr */
	0x4812, 0x6818, 0x4810, 0x6816,                                 /* idtr gdtr */
	0x482a, 0x6824, 0x6826, 0x4408, 0x440a, 0x4824, 0x4826,
	0x280a, 0x280c, 0x280e, 0x2810, 0x2806};

static void test_genode_reads_in_order(void **unused)
{
	(void)unused;
	fake_reset(SEL4_POLICY_GENODE);
	/* the guest changed a bit it owns (WP): Genode writes the shadow */
	fk.vmcs[VMCS_GUEST_CR0] &= ~(1ull << 16);
	fake_fault(VMX_EXIT_HLT, 0, 1, 0, CODE_GPA);
	handler(ROOF_EXIT_HLT, 0);
	assert_int_equal(enter_and_dispatch(), ROOF_RESUME);
	reads_are(genode_order, 54);
	/* everything seL4 can give is delivered; cr0 as the guest sees it */
	assert_int_equal(state.valid, SEL4_SUPPORTED_GROUPS);
	assert_int_equal(state.cr0, 0x80040033);
	assert_int_equal(state.cr4, 0x620);
	assert_int_equal(state.ax, 0x0101010101010101ull);
	assert_int_equal(state.bp, 0x0707070707070707ull);
	assert_int_equal(fk.nwrites, 1);
	assert_int_equal(fk.writes[0], VMCS_CR0_SHADOW);
	assert_int_equal(fk.vmcs[VMCS_CR0_SHADOW], 0x80040033);

	/* a recall reads the entry pair instead of the IDT-vectoring pair */
	counts_zero();
	fk.ret[SEL4_VMENTER_FAULT_REASON_MR] = SEL4_FAULT_REASON_NONE;
	fk.result = SEL4_VMENTER_RESULT_NOTIF;
	handler(ROOF_EXIT_PAUSED, 0);
	enter_and_dispatch();
	assert_int_equal(fk.nreads, 54);
	assert_int_equal(fk.reads[45], VMCS_ENTRY_INTR_INFO);
	assert_int_equal(fk.reads[46], VMCS_ENTRY_EXC_ERROR);
	/* the next VMEnter sends EXIT_ON_HLT with the primary controls */
	assert_int_equal(fk.sent[1] & SEL4_GENODE_EXIT_ON_HLT,
			 SEL4_GENODE_EXIT_ON_HLT);
}

/* Genode's write path: one WriteVMCS per field of a written group, one
 * WriteRegisters for any GPR group, RIP also by WriteVMCS. */
static roof_action write_some(roof_vcpu *v, roof_state *s, void *p)
{
	(void)v;
	(void)p;
	roof_set_si(s, 0x5151);
	struct roof_segment cs = roof_get_cs(s);
	roof_set_cs(s, cs); /* unchanged */
	roof_set_ip(s, roof_get_ip(s) + 1);
	return ROOF_RESUME;
}

static void test_write_paths(void **unused)
{
	(void)unused;
	for (int p = 0; p < 2; p++) {
		enum sel4_policy policy = p ? SEL4_POLICY_GENODE : SEL4_POLICY_TUNED;
		fake_reset(policy);
		fake_fault(VMX_EXIT_HLT, 0, 1, 0, CODE_GPA);
		vcpu.handlers[ROOF_EXIT_HLT] = (struct roof_handler_slot){
			write_some, NULL, ROOF_G_EBSD | ROOF_G_CSSS | ROOF_G_EIP,
			ROOF_INLINE, 1};
		counts_zero();
		enter_and_dispatch();
		assert_int_equal(fk.nregs, 1);
		assert_int_equal(fk.regs.esi, 0x5151);
		assert_int_equal(fk.regs.eax, 0x0101010101010101ull); /* kept */
		/* genode: cs and ss fields (8) and RIP; tuned: nothing (same
		 * values; ip rides in MR0) */
		assert_int_equal(fk.nwrites, p ? 9 : 0);
		fake_fault(VMX_EXIT_HLT, 0, 1, 0, CODE_GPA + 1);
		enter_and_dispatch();
		assert_int_equal(fk.sent[0], CODE_GPA + 1); /* MR0 = new ip */
	}
}

/* ---- tuned: field reads per exit and the cache ---------------------------------- */
static void test_tuned_io_out_reads(void **unused)
{
	(void)unused;
	fake_reset(SEL4_POLICY_TUNED);
	/* out 0x10, al: size 1, immediate port */
	fake_fault(VMX_EXIT_IO, vmx_io_qualification(0x10, 1, 0, 0, 0) | VMX_IOQ_IMM,
		   2, 0, CODE_GPA);
	handler(ROOF_EXIT_IO, 0);
	assert_int_equal(enter_and_dispatch(), ROOF_RESUME);
	static const uint32_t want[] = {VMCS_GUEST_EFER, VMCS_GUEST_CS_AR};
	reads_are(want, 2);
	assert_int_equal(fk.nwrites, 0);
	assert_int_equal(state.exit_reason, ROOF_EXIT_IO);
	assert_int_equal(state.info.io.port, 0x10);
	assert_int_equal(state.info.io.data, 0x01);
	/* the decode's cs.ar was for the decode only: the handler did not ask
	 * for CSSS, so it is not valid */
	assert_false(state.valid & ROOF_G_CSSS);
	assert_true(state.valid & ROOF_G_EFER);

	/* the next VMEnter: ip + 2 in MR0, the primary controls from MR1, no
	 * event to inject after an instruction exit */
	counts_zero();
	fake_fault(VMX_EXIT_IO, vmx_io_qualification(0x10, 1, 0, 0, 0), 2, 0,
		   CODE_GPA + 2);
	enter_and_dispatch();
	assert_int_equal(fk.sent[0], CODE_GPA + 2);
	assert_int_equal(fk.sent[1], 0x92000080);
	assert_int_equal(fk.sent[2], 0);
	/* the guest ran: efer and cs.ar are read again */
	reads_are(want, 2);

	/* outside long mode: efer alone tells the decode */
	fake_reset(SEL4_POLICY_TUNED);
	fk.vmcs[VMCS_GUEST_EFER] = 0;
	fake_fault(VMX_EXIT_IO, vmx_io_qualification(0x10, 1, 0, 0, 0), 2, 0,
		   CODE_GPA);
	handler(ROOF_EXIT_IO, 0);
	enter_and_dispatch();
	assert_int_equal(fk.nreads, 1);
}

/* rdmsr, wrmsr, cpuid and hlt: everything the decode and the completion
 * need is in the MRs or implied by the exit; a result goes back with one
 * WriteRegisters. */
static roof_action answer(roof_vcpu *v, roof_state *s, void *p)
{
	(void)v;
	(void)p;
	if (s->exit_reason == ROOF_EXIT_MSR_READ)
		s->info.msr.value = 0x1122334455667788ull;
	if (s->exit_reason == ROOF_EXIT_CPUID)
		s->info.cpuid.eax = 0x99;
	return ROOF_RESUME;
}

static void test_tuned_instruction_exits(void **unused)
{
	(void)unused;
	static const struct { uint32_t reason; roof_exit exit; unsigned regs; }
	cases[] = {
		{VMX_EXIT_RDMSR, ROOF_EXIT_MSR_READ, 1},
		{VMX_EXIT_WRMSR, ROOF_EXIT_MSR_WRITE, 0},
		{VMX_EXIT_CPUID, ROOF_EXIT_CPUID, 1},
		{VMX_EXIT_HLT, ROOF_EXIT_HLT, 0},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		fake_reset(SEL4_POLICY_TUNED);
		fake_fault(cases[i].reason, 0, cases[i].reason == VMX_EXIT_HLT ? 1 : 2,
			   0, CODE_GPA);
		vcpu.handlers[cases[i].exit] = (struct roof_handler_slot){
			answer, NULL, roof_default_mask(cases[i].exit),
			ROOF_INLINE, 1};
		enter_and_dispatch();
		assert_int_equal(state.exit_reason, cases[i].exit);
		assert_int_equal(fk.nreads, 0);
		assert_int_equal(fk.nwrites, 0);
		assert_int_equal(fk.nregs, cases[i].regs);
		if (cases[i].exit == ROOF_EXIT_MSR_READ) {
			assert_int_equal(fk.regs.eax, 0x55667788);
			assert_int_equal(fk.regs.edx, 0x11223344);
		}
		/* the next entry: ip past the instruction (hlt: the handler
		 * left it), nothing to inject, no read */
		fake_fault(VMX_EXIT_HLT, 0, 1, 0, CODE_GPA);
		handler(ROOF_EXIT_HLT, 0);
		enter_and_dispatch();
		assert_int_equal(fk.sent[0], CODE_GPA + (cases[i].exit ==
							 ROOF_EXIT_HLT ? 0 : 2));
		assert_int_equal(fk.sent[2], 0);
		assert_int_equal(fk.nreads, 0);
	}
}

static void test_tuned_cache_rules(void **unused)
{
	(void)unused;
	fake_reset(SEL4_POLICY_TUNED);
	fake_fault(VMX_EXIT_HLT, 0, 1, 0, CODE_GPA);
	handler(ROOF_EXIT_HLT, ROOF_G_CR | ROOF_G_EFER | ROOF_G_STA | ROOF_G_INJ);
	enter_and_dispatch();
	/* cr0 cr0_shadow cr0_mask cr4 cr4_shadow cr4_mask efer; sta and inj
	 * are MRs or implied by the hlt */
	assert_int_equal(fk.nreads, 7);
	assert_int_equal(state.cr0, 0x80050033);
	assert_int_equal(state.actv_state, 0);
	assert_int_equal(state.inj_info, 0);

	/* the guest ran: guest state is read again, the VMM-owned shadows and
	 * masks are not */
	counts_zero();
	fake_fault(VMX_EXIT_HLT, 0, 1, 0, CODE_GPA);
	enter_and_dispatch();
	static const uint32_t again[] = {VMCS_GUEST_CR0, VMCS_GUEST_CR4,
					 VMCS_GUEST_EFER};
	reads_are(again, 3);

	/* a notification that returns at once (pause of a stopped vCPU): the
	 * guest did not run, everything known stays known */
	counts_zero();
	fk.ran = false;
	fk.result = SEL4_VMENTER_RESULT_NOTIF;
	handler(ROOF_EXIT_PAUSED, ROOF_G_CR | ROOF_G_EFER | ROOF_G_EIP);
	enter_and_dispatch();
	assert_int_equal(state.exit_reason, ROOF_EXIT_PAUSED);
	assert_int_equal(fk.nreads, 0);
	assert_int_equal(state.ip_len, 0);

	/* a notification after the guest ran: read again */
	counts_zero();
	fake_fault(SEL4_FAULT_REASON_NONE, ~0ull, 0, 0, CODE_GPA);
	fk.result = SEL4_VMENTER_RESULT_NOTIF;
	enter_and_dispatch();
	reads_are(again, 3);
}

/* The writes cr0 takes: real = cr & ~mask, shadow = cr; tuned writes the
 * real value only when the bits the guest sees from it change, the shadow
 * only when its owned bits do. */
static roof_action set_cr0(roof_vcpu *v, roof_state *s, void *p)
{
	(void)v;
	roof_set_cr0(s, *(uint64_t *)p);
	return ROOF_RESUME;
}

static void test_cr0_shadow_writes(void **unused)
{
	(void)unused;
	static const struct { uint64_t cr0; unsigned writes; uint32_t first; }
	cases[] = {
		{0x80050033, 0, 0},                 /* unchanged */
		{0x80040033, 1, VMCS_GUEST_CR0},    /* WP: the guest's own bit */
		{0x80050031, 1, VMCS_CR0_SHADOW},   /* MP: masked, shadow only */
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		fake_reset(SEL4_POLICY_TUNED);
		uint64_t v = cases[i].cr0;
		fake_fault(VMX_EXIT_HLT, 0, 1, 0, CODE_GPA);
		vcpu.handlers[ROOF_EXIT_HLT] = (struct roof_handler_slot){
			set_cr0, &v, ROOF_G_CR, ROOF_INLINE, 1};
		enter_and_dispatch();
		assert_int_equal(fk.nwrites, cases[i].writes);
		if (cases[i].writes)
			assert_int_equal(fk.writes[0], cases[i].first);
		uint64_t m = fk.vmcs[VMCS_CR0_MASK];
		assert_int_equal((fk.vmcs[VMCS_GUEST_CR0] & ~m) |
					 (fk.vmcs[VMCS_CR0_SHADOW] & m),
				 cases[i].cr0);
	}
}

/* ---- MMIO: the decode reads single fields; r8-r15 cannot be emulated ------------ */
static roof_action mmio_seen(roof_vcpu *v, roof_state *s, void *p)
{
	(void)v;
	*(struct roof_exit_mmio *)p = s->info.mmio;
	return ROOF_RESUME;
}

static void test_mmio_decode(void **unused)
{
	(void)unused;
	struct roof_exit_mmio seen;
	fake_reset(SEL4_POLICY_TUNED);
	static const uint8_t mov_rbx[] = {0x48, 0x89, 0x18}; /* mov [rax], rbx */
	memcpy(fk.mem + CODE_GPA, mov_rbx, sizeof mov_rbx);
	fake_fault(VMX_EXIT_EPT_VIOLATION, VMX_EPTQ_WRITE, 0, 0x10000000, CODE_GPA);
	vcpu.handlers[ROOF_EXIT_MMIO] = (struct roof_handler_slot){
		mmio_seen, &seen, 0, ROOF_INLINE, 1};
	enter_and_dispatch();
	assert_int_equal(state.exit_reason, ROOF_EXIT_MMIO);
	assert_int_equal(seen.len, 8);
	assert_int_equal(seen.data, 0x0202020202020202ull); /* rbx: MR11 */
	static const uint32_t want[] = {VMCS_GUEST_CR0, VMCS_CR0_SHADOW,
					VMCS_CR0_MASK, VMCS_GUEST_CR4,
					VMCS_CR4_SHADOW, VMCS_CR4_MASK,
					VMCS_GUEST_EFER, VMCS_GUEST_CS_AR};
	reads_are(want, 8); /* shadows and masks: once per vCPU */

	/* an EPT violation can interrupt an event delivery: the next entry
	 * checks the IDT-vectoring info and injects it again */
	counts_zero();
	fk.vmcs[VMCS_IDT_VECTORING_INFO] = 0x80000020; /* ext. interrupt 0x20 */
	fake_fault(VMX_EXIT_HLT, 0, 1, 0, CODE_GPA + 3);
	handler(ROOF_EXIT_HLT, 0);
	enter_and_dispatch();
	assert_int_equal(fk.reads[0], VMCS_IDT_VECTORING_INFO);
	assert_int_equal(fk.sent[2], 0x80000020);

	/* mov [rax], r8: seL4 cannot give r8 */
	fake_reset(SEL4_POLICY_TUNED);
	static const uint8_t mov_r8[] = {0x4c, 0x89, 0x00};
	memcpy(fk.mem + CODE_GPA, mov_r8, sizeof mov_r8);
	fake_fault(VMX_EXIT_EPT_VIOLATION, VMX_EPTQ_WRITE, 0, 0x10000000, CODE_GPA);
	vcpu.handlers[ROOF_EXIT_MMIO] = (struct roof_handler_slot){
		mmio_seen, &seen, 0, ROOF_INLINE, 1};
	enter_and_dispatch();
	assert_int_equal(state.exit_reason, ROOF_EXIT_BACKEND_ERROR);
	if (!state.info.error || !strstr(state.info.error, "r8-r15"))
		fail_msg("error text: %s", state.info.error ? state.info.error : "-");
}

/* ---- refusals -------------------------------------------------------------------- */
struct refusal {
	const char *what;
	void (*write)(roof_state *s);
	const char *words;
};

static void w_r8(roof_state *s) { roof_set_r8(s, 1); }
static void w_tsc_offset(roof_state *s) { roof_set_tsc_offset(s, 5); }
static void w_cr2(roof_state *s) { roof_set_cr2(s, 0x1234); }
static void w_nmi_window(roof_state *s) { roof_set_inj_info(s, SEL4_INJ_REQ_NMI_WINDOW); }
static void w_fpu(roof_state *s) { roof_fpu_write(s)[0] = 1; }

static roof_action refuse_handler(roof_vcpu *v, roof_state *s, void *p)
{
	(void)v;
	((const struct refusal *)p)->write(s);
	return ROOF_RESUME;
}

static void test_refusals(void **unused)
{
	(void)unused;
	static const struct refusal cases[] = {
		{"r8", w_r8, "R8_R15"},
		{"tsc_offset", w_tsc_offset, "TSC offsetting"},
		{"cr2", w_cr2, "cr2"},
		{"nmi window", w_nmi_window, "NMI-window"},
		{"fpu", w_fpu, "FPU"},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		fake_reset(SEL4_POLICY_TUNED);
		fake_fault(VMX_EXIT_HLT, 0, 1, 0, CODE_GPA);
		vcpu.handlers[ROOF_EXIT_HLT] = (struct roof_handler_slot){
			refuse_handler, (void *)&cases[i], 0, ROOF_INLINE, 1};
		assert_int_equal(enter_and_dispatch(), ROOF_STOP);
		if (!strstr(fk.reported, cases[i].words))
			fail_msg("%s: text \"%s\" lacks \"%s\"", cases[i].what,
				 fk.reported, cases[i].words);
	}
	/* a fetch of a group seL4 cannot give fails, naming it */
	fake_reset(SEL4_POLICY_TUNED);
	fake_fault(VMX_EXIT_HLT, 0, 1, 0, CODE_GPA);
	handler(ROOF_EXIT_HLT, ROOF_G_XSAVE);
	enter_and_dispatch();
	assert_int_equal(state.exit_reason, ROOF_EXIT_BACKEND_ERROR);
	assert_non_null(strstr(fk.reported, "XSAVE"));
}

/* cr0 bits 63:32: seL4's WriteVMCS would drop them (applyFixedBits takes
 * uint32_t). Tuned refuses the entry with INVALID_STATE, writes nothing,
 * and does not enter; genode writes (and the kernel would truncate). */
static void test_cr0_upper_bits(void **unused)
{
	(void)unused;
	for (int p = 0; p < 2; p++) {
		fake_reset(p ? SEL4_POLICY_GENODE : SEL4_POLICY_TUNED);
		uint64_t v = 0x80050033ull | (1ull << 40);
		fake_fault(VMX_EXIT_HLT, 0, 1, 0, CODE_GPA);
		vcpu.handlers[ROOF_EXIT_HLT] = (struct roof_handler_slot){
			set_cr0, &v, ROOF_G_CR, ROOF_INLINE, 1};
		enter_and_dispatch();
		if (p == 0) {
			/* a pause first: its VMEnter returns at once, the
			 * refusal waits for the real entry */
			fk.result = SEL4_VMENTER_RESULT_NOTIF;
			fk.ran = false;
			handler(ROOF_EXIT_PAUSED, 0);
			assert_int_equal(sel4_client_pause(&client, true),
					 SEL4_RETURN_NOTIF);
			assert_true(fk.signalled);
			sel4_client_begin_exit(&client, ROOF_EXIT_PAUSED);
			roof_dispatch_exit(&vcpu);
			assert_int_equal(state.exit_reason, ROOF_EXIT_PAUSED);
			fake_fault(VMX_EXIT_HLT, 0, 1, 0, CODE_GPA);
		}
		counts_zero();
		unsigned entries = fk.nvmenter;
		handler(ROOF_EXIT_INVALID_STATE, 0);
		vcpu.handlers[ROOF_EXIT_HLT].set = 0;
		enter_and_dispatch();
		if (p == 0) {
			assert_int_equal(state.exit_reason, ROOF_EXIT_INVALID_STATE);
			assert_non_null(strstr(state.info.error, "cr0 bits 63:32"));
			assert_int_equal(fk.nvmenter, entries);
			assert_int_equal(fk.vmcs[VMCS_GUEST_CR0], 0x80050031);
		} else {
			assert_int_equal(state.exit_reason, ROOF_EXIT_HLT);
			assert_int_equal(fk.nvmenter, entries + 1);
		}
	}
}

/* ---- the hop accounting --------------------------------------------------------- */
static void test_hop_charges(void **unused)
{
	(void)unused;
	fake_reset(SEL4_POLICY_GENODE);
	vcpu.counters.hops = 1; /* the dispatch counted the hop */
	sel4_client_charge_hop(&client);
	/* Genode: signal through core and the signal proxy, semaphore back */
	assert_int_equal(vcpu.counters.crossings, SEL4_GENODE_HOP_CROSSINGS);
	assert_int_equal(vcpu.counters.hops, 3);
	fake_reset(SEL4_POLICY_TUNED);
	vcpu.counters.hops = 1;
	sel4_client_charge_hop(&client);
	assert_int_equal(vcpu.counters.crossings, SEL4_TUNED_HOP_CROSSINGS);
	assert_int_equal(vcpu.counters.hops, 1);
}

/* ---- the transfer plan between the fault MRs and roof_state ------------------------ */
#define PLANNED                                                            \
	(ROOF_G_ACDB | ROOF_G_EBSD | ROOF_G_EIP | ROOF_G_EFL | ROOF_G_CR |  \
	 ROOF_G_QUAL | ROOF_G_CTRL | ROOF_G_STA)

/* The copies as the client made them field by field before the plan, by
 * vmenter.h's MR indices (msg[] as the IPC buffer holds them). */
static void gather_by_field(const sel4_word *msg, uint64_t mask, roof_state *s)
{
	if (mask & ROOF_G_ACDB) {
		s->ax = msg[SEL4_VMENTER_FAULT_EAX];
		s->cx = msg[SEL4_VMENTER_FAULT_ECX];
		s->dx = msg[SEL4_VMENTER_FAULT_EDX];
		s->bx = msg[SEL4_VMENTER_FAULT_EBX];
	}
	if (mask & ROOF_G_EBSD) {
		s->bp = msg[SEL4_VMENTER_FAULT_EBP];
		s->si = msg[SEL4_VMENTER_FAULT_ESI];
		s->di = msg[SEL4_VMENTER_FAULT_EDI];
	}
	if (mask & ROOF_G_EIP)
		s->ip = msg[SEL4_VMENTER_CALL_EIP_MR];
	if (mask & ROOF_G_EFL)
		s->flags = msg[SEL4_VMENTER_FAULT_RFLAGS_MR];
	if (mask & ROOF_G_CR)
		s->cr3 = msg[SEL4_VMENTER_FAULT_CR3_MR];
	if (mask & ROOF_G_QUAL) {
		s->qual_primary = msg[SEL4_VMENTER_FAULT_QUALIFICATION_MR];
		s->qual_secondary = msg[SEL4_VMENTER_FAULT_GUEST_PHYSICAL_MR];
	}
	if (mask & ROOF_G_CTRL)
		s->ctrl_primary = (uint32_t)msg[SEL4_VMENTER_CALL_CONTROL_PPC_MR];
	if (mask & ROOF_G_STA)
		s->intr_state = (uint32_t)msg[SEL4_VMENTER_FAULT_GUEST_INT_MR];
}

/* The bits of each MR the plan's groups in `mask` carry. */
static void planned_bits(uint64_t mask, sel4_word *bits)
{
	static const struct { uint64_t group; unsigned mr; sel4_word bits; } c[] = {
		{ROOF_G_ACDB, SEL4_VMENTER_FAULT_EAX, ~0ull},
		{ROOF_G_ACDB, SEL4_VMENTER_FAULT_EBX, ~0ull},
		{ROOF_G_ACDB, SEL4_VMENTER_FAULT_ECX, ~0ull},
		{ROOF_G_ACDB, SEL4_VMENTER_FAULT_EDX, ~0ull},
		{ROOF_G_EBSD, SEL4_VMENTER_FAULT_ESI, ~0ull},
		{ROOF_G_EBSD, SEL4_VMENTER_FAULT_EDI, ~0ull},
		{ROOF_G_EBSD, SEL4_VMENTER_FAULT_EBP, ~0ull},
		{ROOF_G_EIP, SEL4_VMENTER_CALL_EIP_MR, ~0ull},
		{ROOF_G_EFL, SEL4_VMENTER_FAULT_RFLAGS_MR, ~0ull},
		{ROOF_G_CR, SEL4_VMENTER_FAULT_CR3_MR, ~0ull},
		{ROOF_G_QUAL, SEL4_VMENTER_FAULT_QUALIFICATION_MR, ~0ull},
		{ROOF_G_QUAL, SEL4_VMENTER_FAULT_GUEST_PHYSICAL_MR, ~0ull},
		{ROOF_G_CTRL, SEL4_VMENTER_CALL_CONTROL_PPC_MR, 0xffffffffull},
		{ROOF_G_STA, SEL4_VMENTER_FAULT_GUEST_INT_MR, 0xffffffffull},
	};
	memset(bits, 0, SEL4_VMENTER_NUM_FAULT_MSGS * sizeof *bits);
	for (unsigned i = 0; i < sizeof c / sizeof c[0]; i++)
		if (mask & c[i].group)
			bits[c[i].mr] = c[i].bits;
}

/* And back: the 32-bit values replace the low halves of MR1 and MR8. */
static void scatter_by_field(const roof_state *s, uint64_t mask, sel4_word *msg)
{
	const uint64_t high = 0xffffffff00000000ull;
	if (mask & ROOF_G_ACDB) {
		msg[SEL4_VMENTER_FAULT_EAX] = s->ax;
		msg[SEL4_VMENTER_FAULT_ECX] = s->cx;
		msg[SEL4_VMENTER_FAULT_EDX] = s->dx;
		msg[SEL4_VMENTER_FAULT_EBX] = s->bx;
	}
	if (mask & ROOF_G_EBSD) {
		msg[SEL4_VMENTER_FAULT_EBP] = s->bp;
		msg[SEL4_VMENTER_FAULT_ESI] = s->si;
		msg[SEL4_VMENTER_FAULT_EDI] = s->di;
	}
	if (mask & ROOF_G_EIP)
		msg[SEL4_VMENTER_CALL_EIP_MR] = s->ip;
	if (mask & ROOF_G_EFL)
		msg[SEL4_VMENTER_FAULT_RFLAGS_MR] = s->flags;
	if (mask & ROOF_G_CR)
		msg[SEL4_VMENTER_FAULT_CR3_MR] = s->cr3;
	if (mask & ROOF_G_QUAL) {
		msg[SEL4_VMENTER_FAULT_QUALIFICATION_MR] = s->qual_primary;
		msg[SEL4_VMENTER_FAULT_GUEST_PHYSICAL_MR] = s->qual_secondary;
	}
	if (mask & ROOF_G_CTRL)
		msg[SEL4_VMENTER_CALL_CONTROL_PPC_MR] =
			(msg[SEL4_VMENTER_CALL_CONTROL_PPC_MR] & high) | s->ctrl_primary;
	if (mask & ROOF_G_STA)
		msg[SEL4_VMENTER_FAULT_GUEST_INT_MR] =
			(msg[SEL4_VMENTER_FAULT_GUEST_INT_MR] & high) | s->intr_state;
}

static uint64_t plan_rng;
static uint64_t plan_rand(void)
{
	plan_rng ^= plan_rng << 13;
	plan_rng ^= plan_rng >> 7;
	plan_rng ^= plan_rng << 17;
	return plan_rng;
}

static void random_bytes(void *p, size_t n)
{
	uint8_t *b = p;
	for (size_t i = 0; i < n; i++)
		b[i] = (uint8_t)plan_rand();
}

/* The descriptors land in the MRs vmenter.h names, and nowhere else. */
static void test_mr_plan_lands_in_the_mrs(void **unused)
{
	(void)unused;
	static struct roof_transfer_plan p;
	assert_int_equal(sel4_mr_plan_init(&p), 0);
	assert_int_equal(p.native_size, SEL4_VMENTER_NUM_FAULT_MSGS * sizeof(sel4_word));
	assert_int_equal(p.copyable, PLANNED);
	assert_int_equal(SEL4_PLAN_SCATTERED & ~PLANNED, 0);
	/* no group seL4 cannot transfer, nothing the MRs do not carry */
	assert_int_equal(p.copyable & SEL4_UNSUPPORTED_GROUPS, 0);
	assert_int_equal(p.group_bytes[ROOF_GB_ACDB], 4 * 8);
	assert_int_equal(p.group_bytes[ROOF_GB_EBSD], 3 * 8);
	assert_int_equal(p.group_bytes[ROOF_GB_EIP], 8);      /* ip; ip_len in C */
	assert_int_equal(p.group_bytes[ROOF_GB_CR], 8);       /* cr3 */
	assert_int_equal(p.group_bytes[ROOF_GB_QUAL], 2 * 8);
	assert_int_equal(p.group_bytes[ROOF_GB_CTRL], 4);     /* ctrl_primary */
	assert_int_equal(p.group_bytes[ROOF_GB_STA], 4);      /* intr_state */
	for (unsigned d = 0; d < p.ndesc; d++) /* whole MRs or their low half */
		assert_true(p.desc[d].native_off % sizeof(sel4_word) == 0);

	sel4_word msg[SEL4_VMENTER_NUM_FAULT_MSGS];
	for (unsigned i = 0; i < SEL4_VMENTER_NUM_FAULT_MSGS; i++)
		msg[i] = 0x1111111111111111ull * (i % 15 + 1) + i;
	struct sel4_fault_mrs mrs;
	memcpy(&mrs, msg, sizeof mrs); /* the IPC buffer's msg[0..16] */
	static roof_state got, want;
	memset(&got, 0, sizeof got);
	memset(&want, 0, sizeof want);
	assert_int_equal(roof_gather_c(&p, ROOF_G_VALID_BITS, &mrs, &got),
			 4 * 8 + 3 * 8 + 8 + 8 + 8 + 2 * 8 + 4 + 4);
	gather_by_field(msg, PLANNED, &want);
	assert_memory_equal(&got, &want, sizeof got); /* nothing else moved */
	assert_int_equal(got.ax, msg[10]);
	assert_int_equal(got.bx, msg[11]);
	assert_int_equal(got.bp, msg[16]);
	assert_int_equal(got.ctrl_primary, (uint32_t)msg[1]);

	/* and back: the same MRs, nothing else written */
	sel4_word back[SEL4_VMENTER_NUM_FAULT_MSGS], expect[SEL4_VMENTER_NUM_FAULT_MSGS];
	memset(back, 0xa5, sizeof back);
	memcpy(expect, back, sizeof expect);
	struct sel4_fault_mrs img;
	memcpy(&img, back, sizeof img);
	roof_scatter_c(&p, ROOF_G_VALID_BITS, &got, &img);
	scatter_by_field(&got, PLANNED, expect);
	memcpy(back, &img, sizeof back);
	assert_memory_equal(back, expect, sizeof back);
	assert_int_equal(back[SEL4_VMENTER_FAULT_REASON_MR], 0xa5a5a5a5a5a5a5a5ull);
	assert_int_equal(back[SEL4_VMENTER_FAULT_INSTRUCTION_LEN_MR],
			 0xa5a5a5a5a5a5a5a5ull);
}

/* Random MRs, states and masks: the nasm and the C routines through the
 * plan give the field-by-field result, and a gather/scatter round trip
 * gives the MRs back. ROOF_SEL4_PLAN_CASES overrides the case count. */
static void test_mr_plan_round_trip_random(void **unused)
{
	(void)unused;
	static struct roof_transfer_plan p;
	assert_int_equal(sel4_mr_plan_init(&p), 0);
	typedef uint64_t (*gather_fn)(const struct roof_transfer_plan *, uint64_t,
				      const void *, roof_state *);
	typedef uint64_t (*scatter_fn)(const struct roof_transfer_plan *, uint64_t,
				       const roof_state *, void *);
	static const struct { const char *name; gather_fn gather; scatter_fn scatter; }
	variant[] = {{"asm", roof_gather_asm, roof_scatter_asm},
		     {"c", roof_gather_c, roof_scatter_c}};
	const char *env = getenv("ROOF_SEL4_PLAN_CASES");
	unsigned cases = env ? (unsigned)strtoul(env, NULL, 0) : 20000;
	static roof_state start, got, want, again;
	plan_rng = 0x5e14c0ffee15ull;
	for (unsigned n = 0; n < cases; n++) {
		uint64_t seed = plan_rng;
		sel4_word msg[SEL4_VMENTER_NUM_FAULT_MSGS];
		random_bytes(msg, sizeof msg);
		random_bytes(&start, sizeof start);
		/* any mask; the plan copies only its groups */
		uint64_t mask = plan_rand();
		if (n % 4 == 0)
			mask &= SEL4_PLAN_SCATTERED; /* what the write path sends */
		uint64_t bytes = 0;
		for (unsigned b = 0; b < ROOF_GB_LIMIT; b++)
			if (mask & PLANNED & (UINT64_C(1) << b))
				bytes += p.group_bytes[b];
		struct sel4_fault_mrs mrs;
		memcpy(&mrs, msg, sizeof mrs);
		memcpy(&want, &start, sizeof want);
		gather_by_field(msg, mask, &want);
		for (unsigned v = 0; v < 2; v++) {
			memcpy(&got, &start, sizeof got);
			if (variant[v].gather(&p, mask, &mrs, &got) != bytes)
				fail_msg("%s gather: byte count (case %u, seed %llx)",
					 variant[v].name, n, (unsigned long long)seed);
			if (memcmp(&got, &want, sizeof got))
				fail_msg("%s gather of mask %llx differs from the field "
					 "copies (case %u, seed %llx)", variant[v].name,
					 (unsigned long long)mask, n,
					 (unsigned long long)seed);
			/* back into other MRs: the field-by-field writes */
			sel4_word out[SEL4_VMENTER_NUM_FAULT_MSGS], expect[SEL4_VMENTER_NUM_FAULT_MSGS];
			random_bytes(out, sizeof out);
			memcpy(expect, out, sizeof expect);
			scatter_by_field(&got, mask, expect);
			struct sel4_fault_mrs img;
			memcpy(&img, out, sizeof img);
			if (variant[v].scatter(&p, mask, &got, &img) != bytes)
				fail_msg("%s scatter: byte count (case %u)",
					 variant[v].name, n);
			memcpy(out, &img, sizeof out);
			if (memcmp(out, expect, sizeof out))
				fail_msg("%s scatter of mask %llx differs from the field "
					 "copies (case %u, seed %llx)", variant[v].name,
					 (unsigned long long)mask, n,
					 (unsigned long long)seed);
			/* the round trip: the planned MRs are the original ones
			 * (the 32-bit groups: their low halves), and gathering
			 * them again gives the same state */
			sel4_word bits[SEL4_VMENTER_NUM_FAULT_MSGS];
			planned_bits(mask, bits);
			for (unsigned i = 0; i < SEL4_VMENTER_NUM_FAULT_MSGS; i++)
				if ((out[i] & bits[i]) != (msg[i] & bits[i]))
					fail_msg("%s round trip: MR%u (case %u, seed %llx)",
						 variant[v].name, i, n,
						 (unsigned long long)seed);
			memcpy(&again, &start, sizeof again);
			variant[v].gather(&p, mask, &img, &again);
			if (memcmp(&again, &got, sizeof again))
				fail_msg("%s round trip: state differs (case %u, seed %llx)",
					 variant[v].name, n, (unsigned long long)seed);
		}
	}
	print_message("sel4 MR plan: %u random cases agree (asm, c)\n", cases);
}

/* The client: a handler sees the MRs of the fault it handles, and the
 * registers it writes reach WriteRegisters with the rest kept. */
static roof_action gprs_swapped(roof_vcpu *v, roof_state *s, void *p)
{
	(void)v;
	(void)p;
	roof_set_dx(s, roof_get_ax(s));
	roof_set_di(s, roof_get_bp(s));
	return ROOF_RESUME;
}

static void test_client_fetch_is_the_mrs(void **unused)
{
	(void)unused;
	plan_rng = 0x5e14ba5eull;
	for (int p = 0; p < 2; p++) {
		fake_reset(p ? SEL4_POLICY_GENODE : SEL4_POLICY_TUNED);
		fake_fault(VMX_EXIT_HLT, 0, 1, 0, CODE_GPA);
		for (unsigned i = SEL4_VMENTER_FAULT_RFLAGS_MR; i < SEL4_VMENTER_NUM_FAULT_MSGS; i++)
			fk.ret[i] = plan_rand();
		fk.ret[SEL4_VMENTER_FAULT_CR3_MR] = 0x1000;
		/* Genode reads the interruptibility by ReadVMCS as well */
		fk.vmcs[VMCS_GUEST_INTERRUPTIBILITY] = fk.ret[SEL4_VMENTER_FAULT_GUEST_INT_MR];
		vcpu.handlers[ROOF_EXIT_HLT] = (struct roof_handler_slot){
			gprs_swapped, NULL, PLANNED, ROOF_INLINE, 1};
		counts_zero();
		enter_and_dispatch();
		static roof_state want;
		memcpy(&want, &state, sizeof want);
		gather_by_field(fk.ret, PLANNED, &want);
		want.dx = fk.ret[SEL4_VMENTER_FAULT_EAX];
		want.di = fk.ret[SEL4_VMENTER_FAULT_EBP];
		assert_memory_equal(&state, &want, sizeof state);
		assert_int_equal(state.ip_len, 1);
		/* tuned: cr0 and cr4 cost their reads, the rest is in the MRs */
		assert_int_equal(fk.nreads, p ? 54 : 6);
		assert_int_equal(fk.nregs, 1);
		assert_int_equal(fk.regs.eax, fk.ret[SEL4_VMENTER_FAULT_EAX]);
		assert_int_equal(fk.regs.ebx, fk.ret[SEL4_VMENTER_FAULT_EBX]);
		assert_int_equal(fk.regs.ecx, fk.ret[SEL4_VMENTER_FAULT_ECX]);
		assert_int_equal(fk.regs.edx, fk.ret[SEL4_VMENTER_FAULT_EAX]);
		assert_int_equal(fk.regs.esi, fk.ret[SEL4_VMENTER_FAULT_ESI]);
		assert_int_equal(fk.regs.edi, fk.ret[SEL4_VMENTER_FAULT_EBP]);
		assert_int_equal(fk.regs.ebp, fk.ret[SEL4_VMENTER_FAULT_EBP]);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_layouts),
		cmocka_unit_test(test_fields_and_whitelists),
		cmocka_unit_test(test_genode_reads_in_order),
		cmocka_unit_test(test_write_paths),
		cmocka_unit_test(test_tuned_io_out_reads),
		cmocka_unit_test(test_tuned_instruction_exits),
		cmocka_unit_test(test_tuned_cache_rules),
		cmocka_unit_test(test_cr0_shadow_writes),
		cmocka_unit_test(test_mmio_decode),
		cmocka_unit_test(test_refusals),
		cmocka_unit_test(test_cr0_upper_bits),
		cmocka_unit_test(test_hop_charges),
		cmocka_unit_test(test_mr_plan_lands_in_the_mrs),
		cmocka_unit_test(test_mr_plan_round_trip_random),
		cmocka_unit_test(test_client_fetch_is_the_mrs),
	};
	return cmocka_run_group_tests_name("sel4-abi", tests, NULL, NULL);
}
