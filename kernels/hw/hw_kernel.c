/*
 * hw_kernel.c - the base-hw kernel's x86 vCPU over vmx_hw (hw_kernel.h).
 *
 * Follows, in order and in what it charges:
 *   repos/base-hw/src/core/spec/x86_64/kernel/vcpu.cc
 *     Vcpu::run, Vcpu::pause, Vcpu::proceed, Vcpu::exception,
 *     Board::Vcpu_context::load / store (GPRs, FPU, tsc, tsc_aux)
 *   repos/base-hw/src/core/spec/x86_64/kernel/vmx.cc
 *     Vmcs::store / load (VMCS fields), enforce_execution_controls,
 *     handle_vm_exit
 * Field encodings: Intel SDM Vol. 3C Appendix B (state/x86_arch.h).
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "hw_kernel.h"
#include "x86_arch.h"

/* Control bits base-hw touches (SDM Vol. 3C 25.6.2, 25.8.1; vmx.h). */
#define PROC_IRQ_WINDOW (1u << 2)
#define PROC_HLT (1u << 7)
#define PROC_INVLPG (1u << 9)
#define PROC_CR3_LOAD (1u << 15)
#define PROC_CR3_STORE (1u << 16)
#define PROC_TPR_SHADOW (1u << 21)
#define PROC_NMI_WINDOW (1u << 22)
#define PROC_UNCOND_IO (1u << 24)
#define PROC_IO_BITMAPS (1u << 25)
#define PROC_MSR_BITMAPS (1u << 28)
#define PROC_SECONDARY (1u << 31)
#define PROC2_EPT (1u << 1)
#define PROC2_VPID (1u << 5)
#define PROC2_UNRESTRICTED (1u << 7)
#define ENTRY_IA32E_GUEST (1u << 9)
#define EFER_LMA (1u << 10)
/* Genode's request bits in inj_info (vmx.cc Vmcs::load: 0x1000, 0x2000) */
#define INJ_REQ_IRQ_WINDOW 0x1000u
#define INJ_REQ_NMI_WINDOW 0x2000u
/* XSAVE header: XSTATE_BV at byte 512 of the image (SDM Vol. 1, 13.4.2) */
#define XSTATE_BV_OFFSET 512
#define XSTATE_X87_SSE 3u

/* The model's VT-x reports no forced CR bits: IA32_VMX_CR0_FIXED0 is 0 once
 * hw clears PE and PG for unrestricted guests, FIXED1 all ones, likewise
 * CR4 (vmx.cc setup_vmx_info). Its guest sees GUEST_CR0 itself (vmx_hw keeps
 * the read shadow but the substrate has none), so the guest-visible value,
 * (cr0 & fixed1) | fixed0 = cr0, is what the load writes to both. */
#define CR_FIXED0 UINT64_C(0)
#define CR_FIXED1 (~UINT64_C(0))

static void set_err(struct hw_kernel_vcpu *k, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static void set_err(struct hw_kernel_vcpu *k, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(k->err, sizeof k->err, fmt, ap);
	va_end(ap);
}

const char *hw_kernel_error(const struct hw_kernel_vcpu *k)
{
	return k->err[0] ? k->err : "hw kernel: no error";
}

void hw_kernel_init(struct hw_kernel_vcpu *k, struct vmx_hw *cpu,
		    struct hw_vcpu_state *page, struct roof_stats *counters,
		    unsigned cpu_id, bool exit_config_on)
{
	memset(k, 0, sizeof *k);
	k->cpu = cpu;
	k->page = page;
	k->counters = counters;
	k->init_state = HW_CREATED;
	k->exit_reason = HW_EXIT_PAUSED; /* board.h Vcpu_context default */
	k->cpu_id = cpu_id;
	k->exit_config_on = exit_config_on;
}

/* One kernel entry and the return from it: a crossing when user space
 * made it, and always an fxsave plus an fxrstor. */
static void kernel_entry(struct hw_kernel_vcpu *k, bool crossing)
{
	if (crossing)
		k->counters->crossings++;
	k->counters->fpu_ops += 2;
}

/* ---- VMCS access, counted -------------------------------------------------- */
static bool vmr(struct hw_kernel_vcpu *k, uint32_t field, uint64_t *v)
{
	k->counters->vmcs_reads++;
	if (vmx_hw_vmread(k->cpu, field, v) == 0)
		return true;
	set_err(k, "hw kernel: VMREAD 0x%x: %s", field, vmx_hw_error(k->cpu));
	return false;
}

static bool vmw(struct hw_kernel_vcpu *k, uint32_t field, uint64_t v)
{
	k->counters->vmcs_writes++;
	if (vmx_hw_vmwrite(k->cpu, field, v) == 0)
		return true;
	set_err(k, "hw kernel: VMWRITE 0x%x: %s", field, vmx_hw_error(k->cpu));
	return false;
}

/* The registers VMX keeps outside the VMCS (Cpu::Context regs, the FPU
 * area, the guest MSR store area, the virtual-APIC page, cr2). */
static roof_state *regs(struct hw_kernel_vcpu *k, uint64_t groups)
{
	roof_state *r = vmx_hw_state(k->cpu, groups);
	if (!r)
		set_err(k, "hw kernel: %s", vmx_hw_error(k->cpu));
	return r;
}

uint64_t hw_kernel_hw_groups(uint64_t groups)
{
	return groups & HW_GROUPS & ~ROOF_G_TSC_AUX;
}

/* ---- store: Vcpu_context::store + Vmcs::store ---------------------------------- */
#define STORE64(name, v)                                                     \
	do {                                                                 \
		p->name.value = (v);                                         \
		p->name.charged = true;                                      \
		bytes += 8;                                                  \
	} while (0)

static bool store_vmcs64(struct hw_kernel_vcpu *k, struct hw_reg64 *r,
			 uint32_t field, uint32_t *bytes)
{
	uint64_t v;
	if (!vmr(k, field, &v))
		return false;
	r->value = v;
	r->charged = true;
	*bytes += 8;
	return true;
}

static bool store_vmcs32(struct hw_kernel_vcpu *k, struct hw_reg32 *r,
			 uint32_t field, uint32_t *bytes)
{
	uint64_t v;
	if (!vmr(k, field, &v))
		return false;
	r->value = (uint32_t)v;
	r->charged = true;
	*bytes += 4;
	return true;
}

/* VMX order of the segment fields: es cs ss ds fs gs ldtr tr. */
static bool store_segment(struct hw_kernel_vcpu *k, struct hw_reg_segment *r,
			  unsigned vmx_index, uint32_t *bytes)
{
	uint64_t sel, ar, limit, base;
	if (!vmr(k, VMCS_GUEST_ES_SEL + 2 * vmx_index, &sel) ||
	    !vmr(k, VMCS_GUEST_ES_AR + 2 * vmx_index, &ar) ||
	    !vmr(k, VMCS_GUEST_ES_LIMIT + 2 * vmx_index, &limit) ||
	    !vmr(k, VMCS_GUEST_ES_BASE + 2 * vmx_index, &base))
		return false;
	r->value = (struct hw_segment){(uint16_t)sel,
				       roof_ar_from_vmx((uint32_t)ar),
				       (uint32_t)limit, base};
	r->charged = true;
	*bytes += sizeof r->value;
	return true;
}

static bool store_range(struct hw_kernel_vcpu *k, struct hw_reg_range *r,
			uint32_t limit_field, uint32_t base_field,
			uint32_t *bytes)
{
	uint64_t limit, base;
	if (!vmr(k, limit_field, &limit) || !vmr(k, base_field, &base))
		return false;
	r->value = (struct hw_range){(uint32_t)limit, base};
	r->charged = true;
	*bytes += sizeof r->value;
	return true;
}

static int store(struct hw_kernel_vcpu *k, uint64_t g)
{
	struct hw_vcpu_state *p = k->page;
	uint32_t bytes = 4;
	hw_vcpu_state_discharge(p);
	p->exit_reason = k->exit_reason;

	/* Vcpu_context::store: FPU, GPRs, tsc, tsc_aux from the kernel's
	 * context of the vCPU */
	uint64_t in_regs = g & (ROOF_G_FPU | ROOF_G_ACDB | ROOF_G_EBSD |
				ROOF_G_R8_R15 | ROOF_G_CR | ROOF_G_SYSCALL |
				ROOF_G_TPR);
	roof_state *r = in_regs ? regs(k, in_regs) : NULL;
	if (in_regs && !r)
		return ROOF_EKERNEL;
	if (g & ROOF_G_FPU) {
		memcpy(p->fpu.buffer, r->fpu, HW_FPU_CONTEXT_SIZE);
		p->fpu.state_size = HW_FPU_CONTEXT_SIZE;
		p->fpu.charged = true;
		bytes += HW_FPU_CONTEXT_SIZE;
	}
	if (g & ROOF_G_ACDB) {
		STORE64(ax, r->ax); STORE64(cx, r->cx);
		STORE64(dx, r->dx); STORE64(bx, r->bx);
	}
	if (g & ROOF_G_EBSD) {
		STORE64(di, r->di); STORE64(si, r->si); STORE64(bp, r->bp);
	}
	if (g & ROOF_G_R8_R15) {
		STORE64(r8, r->r8); STORE64(r9, r->r9); STORE64(r10, r->r10);
		STORE64(r11, r->r11); STORE64(r12, r->r12);
		STORE64(r13, r->r13); STORE64(r14, r->r14);
		STORE64(r15, r->r15);
	}
	if (g & ROOF_G_TSC_AUX)
		STORE64(tsc_aux, k->tsc_aux_guest);

	/* Vmcs::store */
	bool ok = true;
	if (g & ROOF_G_EIP)
		ok = ok && store_vmcs64(k, &p->ip, VMCS_GUEST_RIP, &bytes) &&
		     store_vmcs64(k, &p->ip_len, VMCS_EXIT_INSTR_LEN, &bytes);
	if (g & ROOF_G_EFL)
		ok = ok && store_vmcs64(k, &p->flags, VMCS_GUEST_RFLAGS, &bytes);
	if (g & ROOF_G_ESP)
		ok = ok && store_vmcs64(k, &p->sp, VMCS_GUEST_RSP, &bytes);
	if (g & ROOF_G_DR)
		ok = ok && store_vmcs64(k, &p->dr7, VMCS_GUEST_DR7, &bytes);
	if (g & ROOF_G_CR) {
		ok = ok && store_vmcs64(k, &p->cr0, VMCS_GUEST_CR0, &bytes);
		if (ok)
			STORE64(cr2, r->cr2); /* Vmcs::cr2, read at the exit */
		ok = ok && store_vmcs64(k, &p->cr3, VMCS_GUEST_CR3, &bytes) &&
		     store_vmcs64(k, &p->cr4, VMCS_GUEST_CR4, &bytes);
	}
	if (g & ROOF_G_CSSS)
		ok = ok && store_segment(k, &p->cs, 1, &bytes) &&
		     store_segment(k, &p->ss, 2, &bytes);
	if (g & ROOF_G_ESDS)
		ok = ok && store_segment(k, &p->es, 0, &bytes) &&
		     store_segment(k, &p->ds, 3, &bytes);
	if (g & ROOF_G_FSGS)
		ok = ok && store_segment(k, &p->fs, 4, &bytes) &&
		     store_segment(k, &p->gs, 5, &bytes);
	if (g & ROOF_G_TR)
		ok = ok && store_segment(k, &p->tr, 7, &bytes);
	if (g & ROOF_G_LDTR)
		ok = ok && store_segment(k, &p->ldtr, 6, &bytes);
	if (g & ROOF_G_GDTR)
		ok = ok && store_range(k, &p->gdtr, VMCS_GUEST_GDTR_LIMIT,
				       VMCS_GUEST_GDTR_BASE, &bytes);
	if (g & ROOF_G_IDTR)
		ok = ok && store_range(k, &p->idtr, VMCS_GUEST_IDTR_LIMIT,
				       VMCS_GUEST_IDTR_BASE, &bytes);
	if (g & ROOF_G_SYS)
		ok = ok &&
		     store_vmcs64(k, &p->sysenter_cs, VMCS_GUEST_SYSENTER_CS,
				  &bytes) &&
		     store_vmcs64(k, &p->sysenter_sp, VMCS_GUEST_SYSENTER_ESP,
				  &bytes) &&
		     store_vmcs64(k, &p->sysenter_ip, VMCS_GUEST_SYSENTER_EIP,
				  &bytes);
	if (g & ROOF_G_QUAL)
		ok = ok &&
		     store_vmcs64(k, &p->qual_primary, VMCS_EXIT_QUALIFICATION,
				  &bytes) &&
		     store_vmcs64(k, &p->qual_secondary, VMCS_GUEST_PHYS_ADDR,
				  &bytes);
	/* ctrl_primary/secondary: never charged (HW_GROUPS) */
	if (g & ROOF_G_INJ) {
		/* a pause or failed entry reports the pending injection, any
		 * other exit the event the exit interrupted */
		bool entry = k->exit_reason == HW_EXIT_PAUSED ||
			     k->exit_reason == VMX_EXIT_INVALID_GUEST_STATE;
		ok = ok &&
		     store_vmcs32(k, &p->inj_info,
				  entry ? VMCS_ENTRY_INTR_INFO
					: VMCS_IDT_VECTORING_INFO, &bytes) &&
		     store_vmcs32(k, &p->inj_error,
				  entry ? VMCS_ENTRY_EXC_ERROR
					: VMCS_IDT_VECTORING_ERROR, &bytes);
	}
	if (g & ROOF_G_STA)
		ok = ok &&
		     store_vmcs32(k, &p->intr_state, VMCS_GUEST_INTERRUPTIBILITY,
				  &bytes) &&
		     store_vmcs32(k, &p->actv_state, VMCS_GUEST_ACTIVITY, &bytes);
	if (g & ROOF_G_TSC) {
		STORE64(tsc, roof_rdtsc()); /* Hw::Tsc::rdtsc(): the host's */
		ok = ok && store_vmcs64(k, &p->tsc_offset, VMCS_TSC_OFFSET, &bytes);
	}
	if (g & ROOF_G_EFER)
		ok = ok && store_vmcs64(k, &p->efer, VMCS_GUEST_EFER, &bytes);
	if (g & ROOF_G_PDPTE)
		ok = ok &&
		     store_vmcs64(k, &p->pdpte_0, VMCS_GUEST_PDPTE0, &bytes) &&
		     store_vmcs64(k, &p->pdpte_1, VMCS_GUEST_PDPTE1, &bytes) &&
		     store_vmcs64(k, &p->pdpte_2, VMCS_GUEST_PDPTE2, &bytes) &&
		     store_vmcs64(k, &p->pdpte_3, VMCS_GUEST_PDPTE3, &bytes);
	if (ok && (g & ROOF_G_SYSCALL)) { /* guest MSR store area */
		STORE64(star, r->star); STORE64(lstar, r->lstar);
		STORE64(cstar, r->cstar); STORE64(fmask, r->fmask);
		STORE64(kernel_gs_base, r->kernel_gs_base);
	}
	if (ok && (g & ROOF_G_TPR)) {
		p->tpr.value = r->tpr; /* the virtual-APIC page's VTPR */
		p->tpr.charged = true;
		bytes += 4;
		ok = store_vmcs32(k, &p->tpr_threshold, VMCS_TPR_THRESHOLD,
				  &bytes);
	}
	k->counters->bytes += bytes;
	return ok ? ROOF_OK : ROOF_EKERNEL;
}
#undef STORE64

/* ---- load: Vmcs::load + Vcpu_context::load ---------------------------------------- */
/* Vmcs::enforce_execution_controls: the VMM's wish plus what hw forces,
 * within the allowed-0/1 settings (this hardware allows every bit). */
static bool enforce_controls(struct hw_kernel_vcpu *k, uint32_t primary,
			     uint32_t secondary)
{
	primary |= PROC_HLT | PROC_SECONDARY | PROC_UNCOND_IO | PROC_TPR_SHADOW;
	primary &= ~(PROC_INVLPG | PROC_CR3_LOAD | PROC_CR3_STORE |
		     PROC_IO_BITMAPS | PROC_MSR_BITMAPS);
	secondary |= PROC2_EPT | PROC2_UNRESTRICTED;
	secondary &= ~PROC2_VPID;
	return vmw(k, VMCS_PROC_CTLS, primary) &&
	       vmw(k, VMCS_PROC_CTLS2, secondary);
}

static bool load_segment(struct hw_kernel_vcpu *k, const struct hw_reg_segment *r,
			 unsigned vmx_index, uint32_t *bytes)
{
	*bytes += sizeof r->value;
	return vmw(k, VMCS_GUEST_ES_SEL + 2 * vmx_index, r->value.sel) &&
	       vmw(k, VMCS_GUEST_ES_AR + 2 * vmx_index,
		   roof_ar_to_vmx(r->value.ar)) &&
	       vmw(k, VMCS_GUEST_ES_LIMIT + 2 * vmx_index, r->value.limit) &&
	       vmw(k, VMCS_GUEST_ES_BASE + 2 * vmx_index, r->value.base);
}

static bool load_injection(struct hw_kernel_vcpu *k,
			   const struct hw_vcpu_state *p)
{
	uint64_t primary, secondary;
	if (!vmr(k, VMCS_PROC_CTLS, &primary) ||
	    !vmr(k, VMCS_PROC_CTLS2, &secondary))
		return false;
	uint32_t want = (uint32_t)primary & ~(PROC_IRQ_WINDOW | PROC_NMI_WINDOW);
	if (p->inj_info.value & INJ_REQ_IRQ_WINDOW)
		want |= PROC_IRQ_WINDOW;
	if (p->inj_info.value & INJ_REQ_NMI_WINDOW)
		want |= PROC_NMI_WINDOW;
	if (want != (uint32_t)primary &&
	    !enforce_controls(k, want, (uint32_t)secondary))
		return false;
	/* hw filters the request bits out of the entry field. vmx_hw takes a
	 * window request only in that field (its VT-x has no proc-based
	 * window control), so the model leaves them in: README "substrate". */
	return vmw(k, VMCS_ENTRY_INTR_INFO, p->inj_info.value) &&
	       vmw(k, VMCS_ENTRY_EXC_ERROR, p->inj_error.value);
}

#define CH(name) (p->name.charged)

static int load(struct hw_kernel_vcpu *k)
{
	const struct hw_vcpu_state *p = k->page;
	uint32_t bytes = 0;
	bool ok = true;
	/* Vmcs::load */
	if (CH(flags)) {
		ok = ok && vmw(k, VMCS_GUEST_RFLAGS, p->flags.value);
		bytes += 8;
	}
	if (CH(sp)) {
		ok = ok && vmw(k, VMCS_GUEST_RSP, p->sp.value);
		bytes += 8;
	}
	if (CH(ip)) {
		ok = ok && vmw(k, VMCS_GUEST_RIP, p->ip.value) &&
		     vmw(k, VMCS_ENTRY_INSTR_LEN, p->ip_len.value);
		bytes += 16;
	}
	if (CH(dr7)) {
		ok = ok && vmw(k, VMCS_GUEST_DR7, p->dr7.value);
		bytes += 8;
	}
	if (CH(cr0) || CH(cr2) || CH(cr3) || CH(cr4)) {
		uint64_t cr0 = (p->cr0.value & CR_FIXED1) | CR_FIXED0;
		uint64_t cr4 = (p->cr4.value & CR_FIXED1) | CR_FIXED0;
		ok = ok && vmw(k, VMCS_GUEST_CR0, cr0) &&
		     vmw(k, VMCS_CR0_SHADOW, cr0);
		roof_state *r = ok ? regs(k, ROOF_G_CR) : NULL;
		if (r) { /* Vmcs::cr2, written to the CPU in switch_world */
			r->cr2 = p->cr2.value;
			vmx_hw_mark_dirty(k->cpu, ROOF_G_CR);
		}
		ok = r && vmw(k, VMCS_GUEST_CR3, p->cr3.value) &&
		     vmw(k, VMCS_GUEST_CR4, cr4) && vmw(k, VMCS_CR4_SHADOW, cr4);
		bytes += 32;
	}
	if (CH(cs) || CH(ss))
		ok = ok && load_segment(k, &p->cs, 1, &bytes) &&
		     load_segment(k, &p->ss, 2, &bytes);
	if (CH(es) || CH(ds))
		ok = ok && load_segment(k, &p->es, 0, &bytes) &&
		     load_segment(k, &p->ds, 3, &bytes);
	if (CH(fs) || CH(gs))
		ok = ok && load_segment(k, &p->fs, 4, &bytes) &&
		     load_segment(k, &p->gs, 5, &bytes);
	if (CH(tr))
		ok = ok && load_segment(k, &p->tr, 7, &bytes);
	if (CH(ldtr))
		ok = ok && load_segment(k, &p->ldtr, 6, &bytes);
	if (CH(gdtr)) {
		ok = ok && vmw(k, VMCS_GUEST_GDTR_LIMIT, p->gdtr.value.limit) &&
		     vmw(k, VMCS_GUEST_GDTR_BASE, p->gdtr.value.base);
		bytes += sizeof p->gdtr.value;
	}
	if (CH(idtr)) {
		ok = ok && vmw(k, VMCS_GUEST_IDTR_LIMIT, p->idtr.value.limit) &&
		     vmw(k, VMCS_GUEST_IDTR_BASE, p->idtr.value.base);
		bytes += sizeof p->idtr.value;
	}
	if (CH(sysenter_cs) || CH(sysenter_sp) || CH(sysenter_ip)) {
		ok = ok && vmw(k, VMCS_GUEST_SYSENTER_CS, p->sysenter_cs.value) &&
		     vmw(k, VMCS_GUEST_SYSENTER_ESP, p->sysenter_sp.value) &&
		     vmw(k, VMCS_GUEST_SYSENTER_EIP, p->sysenter_ip.value);
		bytes += 24;
	}
	/* ctrl_primary/secondary: the client never charges them (HW_GROUPS),
	 * so hw's enforce_execution_controls for them is not reached here */
	if (CH(inj_info) || CH(inj_error)) {
		ok = ok && load_injection(k, p);
		bytes += 8;
	}
	if (CH(intr_state)) {
		ok = ok && vmw(k, VMCS_GUEST_INTERRUPTIBILITY, p->intr_state.value);
		bytes += 4;
	}
	if (CH(actv_state)) {
		ok = ok && vmw(k, VMCS_GUEST_ACTIVITY, p->actv_state.value);
		bytes += 4;
	}
	if (CH(tsc_offset)) { /* a delta to the current offset */
		uint64_t off;
		ok = ok && vmr(k, VMCS_TSC_OFFSET, &off) &&
		     vmw(k, VMCS_TSC_OFFSET, off + p->tsc_offset.value);
		bytes += 8;
	}
	if (CH(efer)) {
		uint64_t entry;
		ok = ok && vmw(k, VMCS_GUEST_EFER, p->efer.value) &&
		     vmr(k, VMCS_ENTRY_CTLS, &entry);
		if (ok) {
			entry = (p->efer.value & EFER_LMA)
					? entry | ENTRY_IA32E_GUEST
					: entry & ~(uint64_t)ENTRY_IA32E_GUEST;
			ok = vmw(k, VMCS_ENTRY_CTLS, entry);
		}
		bytes += 8;
	}
	/* vmx.cc tests pdpte_1 twice and never pdpte_3; kept as it is */
	if (CH(pdpte_0) || CH(pdpte_1) || CH(pdpte_2)) {
		ok = ok && vmw(k, VMCS_GUEST_PDPTE0, p->pdpte_0.value) &&
		     vmw(k, VMCS_GUEST_PDPTE1, p->pdpte_1.value) &&
		     vmw(k, VMCS_GUEST_PDPTE2, p->pdpte_2.value) &&
		     vmw(k, VMCS_GUEST_PDPTE3, p->pdpte_3.value);
		bytes += 32;
	}
	/* memory the kernel loads: the MSR area, the virtual-APIC page, the
	 * vCPU's register context and FPU area */
	uint64_t mem = 0;
	if (CH(star) || CH(lstar) || CH(cstar) || CH(fmask) ||
	    CH(kernel_gs_base))
		mem |= ROOF_G_SYSCALL;
	if (CH(tpr))
		mem |= ROOF_G_TPR;
	/* Vcpu_context::load: ax goes with cx/dx/bx only, as in vcpu.cc */
	if (CH(cx) || CH(dx) || CH(bx))
		mem |= ROOF_G_ACDB;
	if (CH(bp) || CH(di) || CH(si))
		mem |= ROOF_G_EBSD;
	if (CH(r8) || CH(r9) || CH(r10) || CH(r11) || CH(r12) || CH(r13) ||
	    CH(r14) || CH(r15))
		mem |= ROOF_G_R8_R15;
	if (p->fpu.charged)
		mem |= ROOF_G_FPU;
	roof_state *r = ok && mem ? regs(k, mem) : NULL;
	if (mem && !r)
		ok = false;
	if (ok && (mem & ROOF_G_SYSCALL)) {
		r->star = p->star.value; r->lstar = p->lstar.value;
		r->cstar = p->cstar.value; r->fmask = p->fmask.value;
		r->kernel_gs_base = p->kernel_gs_base.value;
		bytes += 40;
	}
	if (ok && (mem & ROOF_G_TPR)) {
		r->tpr = p->tpr.value;
		ok = vmw(k, VMCS_TPR_THRESHOLD, p->tpr_threshold.value);
		bytes += 8;
	}
	if (ok && (mem & ROOF_G_ACDB)) {
		r->ax = p->ax.value; r->cx = p->cx.value;
		r->dx = p->dx.value; r->bx = p->bx.value;
		bytes += 32;
	}
	if (ok && (mem & ROOF_G_EBSD)) {
		r->di = p->di.value; r->si = p->si.value; r->bp = p->bp.value;
		bytes += 24;
	}
	if (ok && (mem & ROOF_G_R8_R15)) {
		r->r8 = p->r8.value; r->r9 = p->r9.value; r->r10 = p->r10.value;
		r->r11 = p->r11.value; r->r12 = p->r12.value;
		r->r13 = p->r13.value; r->r14 = p->r14.value;
		r->r15 = p->r15.value;
		bytes += 64;
	}
	if (ok && (mem & ROOF_G_FPU)) {
		memcpy(r->fpu, p->fpu.buffer, HW_FPU_CONTEXT_SIZE);
		/* the substrate restores with xrstor: mark x87/SSE as
		 * present so the image acts as fxrstor loads it */
		uint64_t bv;
		memcpy(&bv, r->fpu + XSTATE_BV_OFFSET, sizeof bv);
		bv |= XSTATE_X87_SSE;
		memcpy(r->fpu + XSTATE_BV_OFFSET, &bv, sizeof bv);
		bytes += HW_FPU_CONTEXT_SIZE;
	}
	if (ok && mem)
		vmx_hw_mark_dirty(k->cpu, mem);
	if (CH(tsc_aux)) {
		k->tsc_aux_guest = p->tsc_aux.value;
		bytes += 8;
	}
	k->counters->bytes += bytes;
	return ok ? ROOF_OK : ROOF_EKERNEL;
}
#undef CH

/* ---- syscalls ------------------------------------------------------------------- */
int hw_kernel_vcpu_run(struct hw_kernel_vcpu *k)
{
	kernel_entry(k, true);
	k->err[0] = 0;
	if (k->init_state == HW_CREATED) {
		/* Vcpu::run: initialize on the first start; tsc_aux starts as
		 * the CPU's id, before the load can replace it */
		k->tsc_aux_guest = k->cpu_id;
		k->init_state = HW_STARTED;
	}
	int rc = load(k);
	if (rc)
		return rc;
	k->scheduled = true;
	return ROOF_OK;
}

int hw_kernel_vcpu_pause(struct hw_kernel_vcpu *k, uint64_t groups)
{
	kernel_entry(k, true);
	k->err[0] = 0;
	/* not initialized yet: the VMM sees the page's startup exit code */
	if (k->init_state != HW_STARTED)
		return ROOF_OK;
	k->scheduled = false;
	uint64_t g = HW_GROUPS; /* the unmodified kernel stores everything */
	if (k->exit_config_on)
		g = groups ? groups & HW_GROUPS
			   : k->exit_config[k->exit_reason & 0xffu];
	int rc = store(k, g);
	/* a later pause without a run in between reads as a pause request */
	k->exit_reason = HW_EXIT_PAUSED;
	return rc;
}

int hw_kernel_exit_config(struct hw_kernel_vcpu *k, const uint64_t table[256])
{
	kernel_entry(k, true);
	if (!k->exit_config_on) {
		set_err(k, "hw kernel: vcpu_exit_config is oneroof's tuned "
			"extension; the unmodified kernel (policy=genode) has "
			"no such call");
		return ROOF_ENOSYS;
	}
	for (unsigned i = 0; i < 256; i++)
		k->exit_config[i] = table[i] & HW_GROUPS;
	return ROOF_OK;
}

void hw_kernel_signal_ack(struct hw_kernel_vcpu *k)
{
	kernel_entry(k, true);
}

void hw_kernel_signal_delivered(struct hw_kernel_vcpu *k)
{
	/* the receiver's signal_wait returns with it: one crossing, and the
	 * fxsave/fxrstor around its blocking entry */
	kernel_entry(k, true);
}

/* ---- running the vCPU ------------------------------------------------------------------ */
enum hw_proceed hw_kernel_proceed(struct hw_kernel_vcpu *k)
{
	k->err[0] = 0;
	if (!k->scheduled) {
		set_err(k, "hw kernel: proceed of a vCPU that is not scheduled");
		return HW_PROCEED_DEAD;
	}
	/* Vcpu::proceed: IA32_TSC_AUX = tsc_aux_guest on every entry. The
	 * model writes the substrate's MSR only when the value changes. */
	if (!k->tsc_aux_in_hw_known || k->tsc_aux_in_hw != k->tsc_aux_guest) {
		roof_state *r = regs(k, ROOF_G_TSC_AUX);
		if (!r)
			return HW_PROCEED_DEAD;
		r->tsc_aux = k->tsc_aux_guest;
		vmx_hw_mark_dirty(k->cpu, ROOF_G_TSC_AUX);
		k->tsc_aux_in_hw = k->tsc_aux_guest;
		k->tsc_aux_in_hw_known = true;
	}
	int rc = vmx_hw_run(k->cpu); /* Vmcs::switch_world */
	const struct vmx_exit_info *x = vmx_hw_exit(k->cpu);
	if (rc || x->reason == VMX_HW_NOT_VMX) {
		/* vmlaunch/vmresume failed: TRAP_VMDEAD, the vCPU is dead */
		k->scheduled = false;
		set_err(k, "hw kernel: %s",
			x->error ? x->error : vmx_hw_error(k->cpu));
		return HW_PROCEED_DEAD;
	}
	/* Vcpu::exception, TRAP_VMEXIT: Vmcs::handle_vm_exit */
	kernel_entry(k, false);
	uint64_t reason;
	if (!vmr(k, VMCS_EXIT_REASON, &reason)) {
		k->scheduled = false;
		return HW_PROCEED_DEAD;
	}
	reason &= 0xffffu;
	k->exit_reason = reason == VMX_EXIT_EXTERNAL_INTERRUPT
				 ? HW_EXIT_PAUSED
				 : (uint32_t)reason;
	if (k->exit_reason == HW_EXIT_PAUSED)
		return HW_PROCEED_INTERRUPT; /* _interrupt(): stays scheduled */
	k->scheduled = false;            /* _pause_vcpu() */
	hw_kernel_signal_delivered(k);   /* _context.submit(1) */
	return HW_PROCEED_SIGNAL;
}
