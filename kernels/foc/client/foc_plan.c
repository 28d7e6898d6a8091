/*
 * foc_plan.c - the transfer plan (fastpath/transfer_plan.h) between the
 * vCPU state page (foc_abi.h) and roof_state, built when the vCPU is
 * created: the GPRs of l4_vcpu_regs_t at fixed offsets, the software-VMCS
 * fields at the offsets the page's own offset table gives them
 * (foc_vmcs_offset, l4_vm_vmx_field_offset()), cr2 at the field the
 * page's cr2 index names (l4_vm_vmx_get_cr2_index()). Freestanding.
 *
 * On the plan: every field that holds the same value, with the same width,
 * in the page and in roof_state, both ways. Kept in C (foc_client.c),
 * because they are not a plain copy:
 *   - segment access rights: VMX format <-> Genode's 16-bit format;
 *   - cr0, cr4: the guest's view takes the VMM-owned bits (mask) from the
 *     shadow; a write splits into field and shadow (vm.cc);
 *   - ip_len: read from EXIT_INSTR_LEN (0 where no instruction exited),
 *     written to ENTRY_INSTR_LEN;
 *   - sysenter_cs: a 32-bit field zero-extended into a 64-bit register;
 *   - ctrl_primary: written with HLT exiting and INJ's window requests;
 *   - inj_info/inj_error: IDT vectoring or the entry fields, plus the
 *     window controls;
 *   - tsc/tsc_offset: host TSC + offset; a written tsc moves the offset;
 *   - QUAL is exit information: gathered, never scattered back.
 */
#include "foc_client.h"
#include "x86_arch.h"

#define PAGE_GPR(reg)                                                         \
	((uint32_t)(offsetof(struct foc_vcpu_page, vcpu.r) +                 \
		    offsetof(struct foc_vcpu_regs, reg)))
#define STATE(f) ((uint32_t)offsetof(roof_state, f))
#define SIZE(f) ((uint32_t)sizeof(((roof_state *)0)->f))
/* Stands for the field the page's cr2 index names (bit 15 set: no
 * hardware encoding has it). */
#define FIELD_CR2_BY_INDEX 0xffffu

struct plain_gpr {
	uint8_t bit;
	uint16_t page_off, state_off;
};

/* l4_vcpu_regs_t keeps r15 first and ax last: one descriptor each. */
static const struct plain_gpr plain_gprs[] = {
	{ROOF_GB_ACDB, PAGE_GPR(ax), STATE(ax)},
	{ROOF_GB_ACDB, PAGE_GPR(cx), STATE(cx)},
	{ROOF_GB_ACDB, PAGE_GPR(dx), STATE(dx)},
	{ROOF_GB_ACDB, PAGE_GPR(bx), STATE(bx)},
	{ROOF_GB_EBSD, PAGE_GPR(bp), STATE(bp)},
	{ROOF_GB_EBSD, PAGE_GPR(si), STATE(si)},
	{ROOF_GB_EBSD, PAGE_GPR(di), STATE(di)},
	{ROOF_GB_R8_R15, PAGE_GPR(r8), STATE(r8)},
	{ROOF_GB_R8_R15, PAGE_GPR(r9), STATE(r9)},
	{ROOF_GB_R8_R15, PAGE_GPR(r10), STATE(r10)},
	{ROOF_GB_R8_R15, PAGE_GPR(r11), STATE(r11)},
	{ROOF_GB_R8_R15, PAGE_GPR(r12), STATE(r12)},
	{ROOF_GB_R8_R15, PAGE_GPR(r13), STATE(r13)},
	{ROOF_GB_R8_R15, PAGE_GPR(r14), STATE(r14)},
	{ROOF_GB_R8_R15, PAGE_GPR(r15), STATE(r15)},
};

struct plain_field {
	uint8_t bit;
	uint16_t field; /* VMCS encoding */
	uint16_t state_off;
	uint8_t len;    /* = the field's width (checked when built) */
};

#define FIELD(bit, field, member) {bit, field, STATE(member), SIZE(member)}
#define SEGMENT(bit, member, VMX)                                             \
	FIELD(bit, VMCS_GUEST_##VMX##_SEL, member.sel),                      \
	FIELD(bit, VMCS_GUEST_##VMX##_LIMIT, member.limit),                  \
	FIELD(bit, VMCS_GUEST_##VMX##_BASE, member.base)

/* The fields vm.cc's _read_intel_state / _write_intel_state copy as they
 * are, a group's fields one after the other. */
static const struct plain_field plain_fields[] = {
	FIELD(ROOF_GB_ESP, VMCS_GUEST_RSP, sp),
	FIELD(ROOF_GB_EIP, VMCS_GUEST_RIP, ip),
	FIELD(ROOF_GB_EFL, VMCS_GUEST_RFLAGS, flags),
	SEGMENT(ROOF_GB_ESDS, es, ES),
	SEGMENT(ROOF_GB_ESDS, ds, DS),
	SEGMENT(ROOF_GB_FSGS, fs, FS),
	SEGMENT(ROOF_GB_FSGS, gs, GS),
	SEGMENT(ROOF_GB_CSSS, cs, CS),
	SEGMENT(ROOF_GB_CSSS, ss, SS),
	SEGMENT(ROOF_GB_TR, tr, TR),
	SEGMENT(ROOF_GB_LDTR, ldtr, LDTR),
	FIELD(ROOF_GB_GDTR, VMCS_GUEST_GDTR_LIMIT, gdtr.limit),
	FIELD(ROOF_GB_GDTR, VMCS_GUEST_GDTR_BASE, gdtr.base),
	FIELD(ROOF_GB_IDTR, VMCS_GUEST_IDTR_LIMIT, idtr.limit),
	FIELD(ROOF_GB_IDTR, VMCS_GUEST_IDTR_BASE, idtr.base),
	FIELD(ROOF_GB_CR, FIELD_CR2_BY_INDEX, cr2),
	FIELD(ROOF_GB_CR, VMCS_GUEST_CR3, cr3),
	FIELD(ROOF_GB_DR, VMCS_GUEST_DR7, dr7),
	FIELD(ROOF_GB_SYS, VMCS_GUEST_SYSENTER_ESP, sysenter_sp),
	FIELD(ROOF_GB_SYS, VMCS_GUEST_SYSENTER_EIP, sysenter_ip),
	FIELD(ROOF_GB_QUAL, VMCS_EXIT_QUALIFICATION, qual_primary),
	FIELD(ROOF_GB_QUAL, VMCS_GUEST_PHYS_ADDR, qual_secondary),
	FIELD(ROOF_GB_CTRL, VMCS_PROC_CTLS2, ctrl_secondary),
	FIELD(ROOF_GB_STA, VMCS_GUEST_INTERRUPTIBILITY, intr_state),
	FIELD(ROOF_GB_STA, VMCS_GUEST_ACTIVITY, actv_state),
	FIELD(ROOF_GB_EFER, VMCS_GUEST_EFER, efer),
	FIELD(ROOF_GB_SYSCALL, FOC_VMCS_MSR_STAR, star),
	FIELD(ROOF_GB_SYSCALL, FOC_VMCS_MSR_LSTAR, lstar),
	FIELD(ROOF_GB_SYSCALL, FOC_VMCS_MSR_CSTAR, cstar),
	FIELD(ROOF_GB_SYSCALL, FOC_VMCS_MSR_SYSCALL_MASK, fmask),
	FIELD(ROOF_GB_SYSCALL, FOC_VMCS_MSR_KERNEL_GS_BASE, kernel_gs_base),
};

int foc_plan_init(struct roof_transfer_plan *p, const struct foc_vcpu_page *page)
{
	roof_plan_init(p, sizeof *page);
	for (unsigned i = 0; i < sizeof plain_gprs / sizeof plain_gprs[0]; i++) {
		const struct plain_gpr *g = &plain_gprs[i];
		if (roof_plan_add(p, g->bit, g->page_off, g->state_off, 8))
			return -1;
	}
	uint32_t cr2_field;
	__builtin_memcpy(&cr2_field, page->vmcs + FOC_VMCS_CR2_INDEX,
			 sizeof cr2_field);
	for (unsigned i = 0; i < sizeof plain_fields / sizeof plain_fields[0];
	     i++) {
		const struct plain_field *d = &plain_fields[i];
		uint32_t field = d->field == FIELD_CR2_BY_INDEX ? cr2_field
								 : d->field;
		uint32_t off = foc_vmcs_offset(page->vmcs, field);
		if (!off || foc_vmcs_width(field) != d->len)
			return -1; /* not Fiasco's table: no place, or a width
				    * that is no plain copy */
		if (roof_plan_add(p, d->bit,
				  (uint32_t)offsetof(struct foc_vcpu_page, vmcs) + off,
				  d->state_off, d->len))
			return -1;
	}
	return 0;
}

uint64_t foc_plan_fields(const struct roof_transfer_plan *p, uint64_t mask)
{
	uint64_t n = 0;
	mask &= p->copyable;
	while (mask) {
		n += p->count[__builtin_ctzll(mask)];
		mask &= mask - 1;
	}
	return n;
}
