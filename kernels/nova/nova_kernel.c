/*
 * nova_kernel.c - the kernel side of the NOVA model (see nova_kernel.h).
 *
 * What NOVA does, read from alex-ab/NOVA (branch r10, the kernel Genode
 * uses; commit 60419b83):
 *   src/ec_vmx.cpp   handle_vmx: reason = EXI_REASON & 0xff, send_msg to
 *                    the portal evt + reason (external interrupts stay in
 *                    the kernel; a pending recall hazard exits to 0xff)
 *   src/syscall.cpp  send_msg: the portal's MTD; recv_kern: load_vmx into
 *                    the handler's UTCB; sys_reply: save_vmx from it;
 *                    sys_ec_ctrl op 6/7: get/set vCPU state by MTD (op 6
 *                    arms HZD_RECALL)
 *   src/utcb.cpp     load_vmx / save_vmx: the per-group VMCS accesses
 *                    counted below; INJ out = IDT-vectoring info (entry info
 *                    for 33 and RECALL), INJ in: bits 12/13 request the
 *                    interrupt/NMI window; TSC in = add_tsc_offset (a delta);
 *                    CTRL is written on the reply but never read out
 *   src/ec_exc.cpp   claim_fpu: without "fpu_lazy" (the default) every EC
 *                    switch saves the old and loads the new FPU state
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "roof_host.h"
#include "nova_kernel.h"
#include "x86_arch.h"

/* ---- per-group VMCS accesses (EPT on) ------------------------------------ */
/* load_vmx: GPRs live in the kernel's register file, cr2 in regs, tsc/
 * tsc_aux/xcr0/xss in regs; CR reads GUEST_CR0/3/4; SYSCALL reads the MSR
 * area address, TPR the virtual-APIC address and the threshold. */
static const uint8_t exit_reads[ROOF_GB_LIMIT] = {
	[ROOF_GB_ESP] = 1, [ROOF_GB_EIP] = 2, [ROOF_GB_EFL] = 1,
	[ROOF_GB_ESDS] = 8, [ROOF_GB_FSGS] = 8, [ROOF_GB_CSSS] = 8,
	[ROOF_GB_TR] = 4, [ROOF_GB_LDTR] = 4, [ROOF_GB_GDTR] = 2,
	[ROOF_GB_IDTR] = 2, [ROOF_GB_CR] = 3, [ROOF_GB_DR] = 1,
	[ROOF_GB_SYS] = 3, [ROOF_GB_QUAL] = 2, [ROOF_GB_INJ] = 2,
	[ROOF_GB_STA] = 2, [ROOF_GB_EFER] = 1, [ROOF_GB_PDPTE] = 4,
	[ROOF_GB_SYSCALL] = 1, [ROOF_GB_TPR] = 2,
};
/* save_vmx: write_cr reads cr0/cr4 (toggle check) and writes guest value +
 * read shadow; INJ reads and writes CPU_EXEC_CTRL0 (window bits) and the
 * entry info/error; EFER writes GUEST_EFER and ENT_CONTROLS (read first);
 * TSC writes TSC_OFFSET at the HZD_TSC hazard; TPR reads the APIC page
 * address. Every reply also reads the host MSR-load area address. */
static const uint8_t reply_writes[ROOF_GB_LIMIT] = {
	[ROOF_GB_ESP] = 1, [ROOF_GB_EIP] = 2, [ROOF_GB_EFL] = 1,
	[ROOF_GB_ESDS] = 8, [ROOF_GB_FSGS] = 8, [ROOF_GB_CSSS] = 8,
	[ROOF_GB_TR] = 4, [ROOF_GB_LDTR] = 4, [ROOF_GB_GDTR] = 2,
	[ROOF_GB_IDTR] = 2, [ROOF_GB_CR] = 5, [ROOF_GB_DR] = 1,
	[ROOF_GB_SYS] = 3, [ROOF_GB_CTRL] = 2, [ROOF_GB_INJ] = 3,
	[ROOF_GB_STA] = 2, [ROOF_GB_TSC] = 1, [ROOF_GB_EFER] = 2,
	[ROOF_GB_PDPTE] = 4, [ROOF_GB_TPR] = 1,
};
static const uint8_t reply_reads[ROOF_GB_LIMIT] = {
	[ROOF_GB_CR] = 2, [ROOF_GB_INJ] = 1, [ROOF_GB_EFER] = 1,
	[ROOF_GB_SYSCALL] = 1, [ROOF_GB_TPR] = 1,
};

static uint32_t sum_groups(const uint8_t t[ROOF_GB_LIMIT], uint64_t mtd)
{
	uint32_t n = 0;
	for (mtd &= ROOF_G_VALID_BITS; mtd; mtd &= mtd - 1)
		n += t[__builtin_ctzll(mtd)];
	return n;
}

uint32_t nova_exit_vmreads(uint64_t mtd) { return sum_groups(exit_reads, mtd); }
uint32_t nova_reply_vmreads(uint64_t mtd)
{
	return 1 + sum_groups(reply_reads, mtd);
}
uint32_t nova_reply_vmwrites(uint64_t mtd)
{
	return sum_groups(reply_writes, mtd);
}

/* Exit interruption-info request bits (Genode/NOVA convention). */
#define INJ_WINDOW_REQUESTS 0x3000u
/* The AR bits a VMX round trip keeps (NOVA's 13-bit compressed format). */
#define AR_BITS 0x1fffu

static void fail_text(struct nova_vcpu *nv, const char *what)
{
	snprintf(nv->error, sizeof nv->error, "nova: %s: %s", what,
		 vmx_hw_error(nv->hw));
}

/* ---- load_vmx / save_vmx ------------------------------------------------ */
/* The groups of mtd from the vCPU into the UTCB. 0, or -1 (nv->error). */
static int load_vmx(struct nova_vcpu *nv, uint64_t mtd)
{
	struct roof_vcpu *v = nv->v;
	struct nova_utcb *u = nv->utcb;
	uint64_t m = mtd & ROOF_G_VALID_BITS;
	/* QUAL comes from the exit fields; CTRL is never read out */
	uint64_t from_view = m & ~(ROOF_G_QUAL | ROOF_G_CTRL);
	roof_state *hw = vmx_hw_state(nv->hw, from_view);
	if (!hw) {
		fail_text(nv, "reading the vCPU state");
		return -1;
	}
	uint64_t bytes = roof_scatter(&nv->plan, from_view, hw, u);
	if (m & ROOF_G_INJ)
		u->inj_info &= ~INJ_WINDOW_REQUESTS;
	if (m & ROOF_G_QUAL) {
		uint64_t q0 = 0, q1 = 0;
		if (vmx_hw_vmread(nv->hw, VMCS_EXIT_QUALIFICATION, &q0) ||
		    vmx_hw_vmread(nv->hw, VMCS_GUEST_PHYS_ADDR, &q1)) {
			fail_text(nv, "VMREAD of the exit qualification");
			return -1;
		}
		u->qual[0] = q0;
		u->qual[1] = q1;
		bytes += sizeof u->qual;
	}
	if (m & ROOF_G_TSC) {
		u->tsc_val = hw->tsc - hw->tsc_offset; /* the host's rdtsc */
		u->tsc_off = hw->tsc_offset;
		bytes += sizeof u->tsc_val + sizeof u->tsc_off;
	}
	u->exit_reason = nv->dst_portal;
	u->mtd = m;
	u->items = NOVA_UTCB_DATA_WORDS;
	v->counters.bytes += bytes + sizeof u->exit_reason;
	v->counters.vmcs_reads += nova_exit_vmreads(m);
	return 0;
}

/* The groups of utcb->mtd from the UTCB into the vCPU. 0, or -1. */
static int save_vmx(struct nova_vcpu *nv)
{
	struct roof_vcpu *v = nv->v;
	struct nova_utcb *u = nv->utcb;
	uint64_t m = u->mtd & ROOF_G_VALID_BITS & ~ROOF_G_QUAL;
	v->counters.vmcs_reads += nova_reply_vmreads(m);
	v->counters.vmcs_writes += nova_reply_vmwrites(m);
	if (!m)
		return 0;
	/* groups are written whole; load them so the view stays complete */
	roof_state *hw = vmx_hw_state(nv->hw, m);
	if (!hw) {
		fail_text(nv, "writing the vCPU state");
		return -1;
	}
	uint64_t bytes = roof_gather(&nv->plan, m, u, hw);
	struct { uint64_t group; struct roof_segment *seg; } segs[8] = {
		{ROOF_G_ESDS, &hw->es}, {ROOF_G_ESDS, &hw->ds},
		{ROOF_G_FSGS, &hw->fs}, {ROOF_G_FSGS, &hw->gs},
		{ROOF_G_CSSS, &hw->cs}, {ROOF_G_CSSS, &hw->ss},
		{ROOF_G_TR, &hw->tr}, {ROOF_G_LDTR, &hw->ldtr}};
	for (unsigned i = 0; i < 8; i++)
		if (m & segs[i].group)
			segs[i].seg->ar &= AR_BITS;
	if (m & ROOF_G_TSC) {
		hw->tsc_offset += u->tsc_off; /* add_tsc_offset */
		bytes += sizeof u->tsc_off;
	}
	vmx_hw_mark_dirty(nv->hw, m);
	v->counters.bytes += bytes;
	return 0;
}

/* ---- the client's kernel calls -------------------------------------------- */
static uint8_t sys_create_pt(void *kctx, unsigned reason, uint64_t mtd)
{
	struct nova_vcpu *nv = kctx;
	if (reason >= NOVA_NUM_VMI || (mtd & ~ROOF_G_VALID_BITS))
		return NOVA_INV_PARAMETER;
	nv->pt_mtd[reason] = mtd;
	return NOVA_OK;
}

static uint8_t sys_get_vcpu_state(void *kctx, uint64_t mtd)
{
	struct nova_vcpu *nv = kctx;
	nv->v->counters.crossings++;
	if (load_vmx(nv, mtd)) {
		roof_vcpu_fail(nv->v, ROOF_EKERNEL, "%s", nv->error);
		return NOVA_INV_PARAMETER;
	}
	nv->recall_hazard = true; /* op 6 sets HZD_RECALL */
	return NOVA_OK;
}

static uint8_t sys_set_vcpu_state(void *kctx, bool recall)
{
	struct nova_vcpu *nv = kctx;
	nv->v->counters.crossings++;
	if (save_vmx(nv)) {
		roof_vcpu_fail(nv->v, ROOF_EKERNEL, "%s", nv->error);
		return NOVA_INV_PARAMETER;
	}
	if (!recall)
		nv->recall_hazard = false;
	return NOVA_OK;
}

static const struct nova_syscalls nova_syscalls = {
	.create_pt = sys_create_pt,
	.get_vcpu_state = sys_get_vcpu_state,
	.set_vcpu_state = sys_set_vcpu_state,
};

/* ---- the portal call ------------------------------------------------------- */
roof_action nova_kernel_portal(struct nova_vcpu *nv, unsigned reason,
			       bool vmm_recall, const char *substrate_error)
{
	struct roof_vcpu *v = nv->v;
	v->counters.crossings += 2; /* the exit's IPC call, the reply */
	v->counters.fpu_ops += 4;   /* eager FPU switch, both directions */
	nv->dst_portal = reason & 0xffu;
	if (nv->dst_portal < NOVA_EXIT_NOSUPP)
		v->counters.vmcs_reads += 1; /* handle_vmx reads EXI_REASON */
	if (load_vmx(nv, nv->pt_mtd[nv->dst_portal])) {
		/* no state to deliver: the VMM learns why from a NOSUPP exit */
		nv->dst_portal = NOVA_EXIT_NOSUPP;
		nv->utcb->exit_reason = NOVA_EXIT_NOSUPP;
		nv->utcb->mtd = 0;
		substrate_error = nv->error;
	}
	roof_action a = nova_client_portal(&nv->client, v, vmm_recall,
					   substrate_error);
	if (save_vmx(nv)) {
		nv->fault = roof_vcpu_fail(v, ROOF_EKERNEL, "%s", nv->error);
		a = ROOF_STOP;
	}
	if (a != ROOF_RESUME)
		nv->blocked = true; /* Genode replies with the vCPU's semaphore */
	return a;
}

/* ---- set-up ----------------------------------------------------------------- */
int nova_kernel_vcpu_create(struct roof_vm *vm, struct roof_vcpu *v,
			    enum nova_policy policy, struct nova_vcpu **out)
{
	*out = NULL;
	struct nova_vcpu *nv = calloc(1, sizeof *nv);
	struct nova_utcb *u = aligned_alloc(4096, sizeof *u);
	if (!nv || !u) {
		free(nv);
		free(u);
		return roof_vm_fail(vm, ROOF_ENOMEM, "nova: out of memory");
	}
	memset(u, 0, sizeof *u);
	nv->v = v;
	nv->utcb = u;
	int rc = vmx_model_vcpu_hw(vm, v, &v->counters.substrate_ioctls, &nv->hw);
	if (rc) {
		free(u);
		free(nv);
		return rc;
	}
	struct vmx_exit_env env = vmx_model_exit_env(nv->hw);
	if (nova_utcb_plan_init(&nv->plan) ||
	    nova_client_init(&nv->client, u, &nova_syscalls, nv, &env, policy,
			     NOVA_VMI_VMX)) {
		nova_kernel_vcpu_destroy(nv);
		return roof_vm_fail(vm, ROOF_EKERNEL,
				    "nova: the UTCB copy plan does not fit");
	}
	nova_client_bind(&nv->client, v);
	*out = nv;
	return ROOF_OK;
}

void nova_kernel_vcpu_destroy(struct nova_vcpu *nv)
{
	if (!nv)
		return;
	vmx_hw_destroy(nv->hw);
	free(nv->utcb);
	free(nv);
}

int nova_kernel_create_portals(struct nova_vcpu *nv)
{
	if (nv->portals)
		return ROOF_OK;
	int rc = nova_client_create_portals(&nv->client, nv->v);
	if (rc) {
		snprintf(nv->error, sizeof nv->error,
			 "nova: create_pt refused a portal MTD");
		return roof_vcpu_fail(nv->v, rc, "%s", nv->error);
	}
	/* the hardware predicts which groups each exit kind will need */
	uint64_t need[ROOF_EXIT_COUNT] = {0};
	for (unsigned r = 0; r < NOVA_NUM_VMI; r++)
		need[nova_exit_unified(r)] |= nv->pt_mtd[r];
	for (unsigned e = 0; e < ROOF_EXIT_COUNT; e++)
		vmx_hw_set_need(nv->hw, (roof_exit)e, need[e]);
	nv->portals = true;
	return ROOF_OK;
}
