/*
 * hw_vcpu_state.c - the Vcpu_state page <-> roof_state: the page's transfer
 * plan, and in C beside it what the plan cannot do (hw_vcpu_state.h).
 * Freestanding.
 *
 * Layout: repos/base/include/spec/x86/cpu/vcpu_state.h (genodelabs/genode):
 * every field a Register<T> { T _value; bool _charged; }, so no two values
 * are adjacent and the plan has one descriptor per value.
 */
#include "hw_vcpu_state.h"

#define PAGE(f) ((uint32_t)offsetof(struct hw_vcpu_state, f))
#define STATE(f) ((uint32_t)offsetof(roof_state, f))

/* A Segment is copied whole: the page's and the state's agree field for
 * field (the ar is the 16-bit format in both; the kernel converts). */
_Static_assert(sizeof(struct hw_segment) == sizeof(struct roof_segment),
	       "Segment size");
_Static_assert(offsetof(struct hw_segment, ar) ==
			       offsetof(struct roof_segment, ar) &&
		       offsetof(struct hw_segment, limit) ==
			       offsetof(struct roof_segment, limit) &&
		       offsetof(struct hw_segment, base) ==
			       offsetof(struct roof_segment, base),
	       "Segment fields");
/* ...a Range not: its padding is roof_dtr's reserved, which is no value */
_Static_assert(offsetof(struct hw_range, base) == 8, "Range base");

int hw_vcpu_state_plan_init(struct roof_transfer_plan *p)
{
	/*
	 * Plain copies only. Not here, converted in C (hw_convert_to_*):
	 *   TSC  tsc_offset goes to the page as a delta to the offset the
	 *        VMM was shown (the kernel adds it, vmx.cc Vmcs::load)
	 *   FPU  page -> state copies the page's state_size (bounded) and
	 *        clears the rest; state -> page Fpu_context::SIZE bytes
	 *   GDTR/IDTR  roof_dtr.reserved is cleared (no value in the page)
	 *   the charged flags (hw_group_flags below)
	 */
	static const struct {
		uint8_t bit;
		uint16_t page, state, len;
	} d[] = {
		{ROOF_GB_ACDB, PAGE(ax.value), STATE(ax), 8},
		{ROOF_GB_ACDB, PAGE(cx.value), STATE(cx), 8},
		{ROOF_GB_ACDB, PAGE(dx.value), STATE(dx), 8},
		{ROOF_GB_ACDB, PAGE(bx.value), STATE(bx), 8},
		{ROOF_GB_EBSD, PAGE(bp.value), STATE(bp), 8},
		{ROOF_GB_EBSD, PAGE(si.value), STATE(si), 8},
		{ROOF_GB_EBSD, PAGE(di.value), STATE(di), 8},
		{ROOF_GB_ESP, PAGE(sp.value), STATE(sp), 8},
		{ROOF_GB_EIP, PAGE(ip.value), STATE(ip), 8},
		{ROOF_GB_EIP, PAGE(ip_len.value), STATE(ip_len), 8},
		{ROOF_GB_EFL, PAGE(flags.value), STATE(flags), 8},
		{ROOF_GB_ESDS, PAGE(es.value), STATE(es), 16},
		{ROOF_GB_ESDS, PAGE(ds.value), STATE(ds), 16},
		{ROOF_GB_FSGS, PAGE(fs.value), STATE(fs), 16},
		{ROOF_GB_FSGS, PAGE(gs.value), STATE(gs), 16},
		{ROOF_GB_CSSS, PAGE(cs.value), STATE(cs), 16},
		{ROOF_GB_CSSS, PAGE(ss.value), STATE(ss), 16},
		{ROOF_GB_TR, PAGE(tr.value), STATE(tr), 16},
		{ROOF_GB_LDTR, PAGE(ldtr.value), STATE(ldtr), 16},
		{ROOF_GB_GDTR, PAGE(gdtr.value.limit), STATE(gdtr.limit), 4},
		{ROOF_GB_GDTR, PAGE(gdtr.value.base), STATE(gdtr.base), 8},
		{ROOF_GB_IDTR, PAGE(idtr.value.limit), STATE(idtr.limit), 4},
		{ROOF_GB_IDTR, PAGE(idtr.value.base), STATE(idtr.base), 8},
		{ROOF_GB_CR, PAGE(cr0.value), STATE(cr0), 8},
		{ROOF_GB_CR, PAGE(cr2.value), STATE(cr2), 8},
		{ROOF_GB_CR, PAGE(cr3.value), STATE(cr3), 8},
		{ROOF_GB_CR, PAGE(cr4.value), STATE(cr4), 8},
		{ROOF_GB_DR, PAGE(dr7.value), STATE(dr7), 8},
		/* the page has sysenter ip, sp, cs; roof_state cs, sp, ip */
		{ROOF_GB_SYS, PAGE(sysenter_cs.value), STATE(sysenter_cs), 8},
		{ROOF_GB_SYS, PAGE(sysenter_sp.value), STATE(sysenter_sp), 8},
		{ROOF_GB_SYS, PAGE(sysenter_ip.value), STATE(sysenter_ip), 8},
		{ROOF_GB_QUAL, PAGE(qual_primary.value), STATE(qual_primary), 8},
		{ROOF_GB_QUAL, PAGE(qual_secondary.value), STATE(qual_secondary),
		 8},
		{ROOF_GB_CTRL, PAGE(ctrl_primary.value), STATE(ctrl_primary), 4},
		{ROOF_GB_CTRL, PAGE(ctrl_secondary.value), STATE(ctrl_secondary),
		 4},
		{ROOF_GB_INJ, PAGE(inj_info.value), STATE(inj_info), 4},
		{ROOF_GB_INJ, PAGE(inj_error.value), STATE(inj_error), 4},
		{ROOF_GB_STA, PAGE(intr_state.value), STATE(intr_state), 4},
		{ROOF_GB_STA, PAGE(actv_state.value), STATE(actv_state), 4},
		{ROOF_GB_EFER, PAGE(efer.value), STATE(efer), 8},
		{ROOF_GB_PDPTE, PAGE(pdpte_0.value), STATE(pdpte[0]), 8},
		{ROOF_GB_PDPTE, PAGE(pdpte_1.value), STATE(pdpte[1]), 8},
		{ROOF_GB_PDPTE, PAGE(pdpte_2.value), STATE(pdpte[2]), 8},
		{ROOF_GB_PDPTE, PAGE(pdpte_3.value), STATE(pdpte[3]), 8},
		{ROOF_GB_R8_R15, PAGE(r8.value), STATE(r8), 8},
		{ROOF_GB_R8_R15, PAGE(r9.value), STATE(r9), 8},
		{ROOF_GB_R8_R15, PAGE(r10.value), STATE(r10), 8},
		{ROOF_GB_R8_R15, PAGE(r11.value), STATE(r11), 8},
		{ROOF_GB_R8_R15, PAGE(r12.value), STATE(r12), 8},
		{ROOF_GB_R8_R15, PAGE(r13.value), STATE(r13), 8},
		{ROOF_GB_R8_R15, PAGE(r14.value), STATE(r14), 8},
		{ROOF_GB_R8_R15, PAGE(r15.value), STATE(r15), 8},
		{ROOF_GB_SYSCALL, PAGE(star.value), STATE(star), 8},
		{ROOF_GB_SYSCALL, PAGE(lstar.value), STATE(lstar), 8},
		{ROOF_GB_SYSCALL, PAGE(cstar.value), STATE(cstar), 8},
		{ROOF_GB_SYSCALL, PAGE(fmask.value), STATE(fmask), 8},
		{ROOF_GB_SYSCALL, PAGE(kernel_gs_base.value),
		 STATE(kernel_gs_base), 8},
		{ROOF_GB_TPR, PAGE(tpr.value), STATE(tpr), 4},
		{ROOF_GB_TPR, PAGE(tpr_threshold.value), STATE(tpr_threshold), 4},
		{ROOF_GB_TSC_AUX, PAGE(tsc_aux.value), STATE(tsc_aux), 8},
		{ROOF_GB_XSAVE, PAGE(xcr0.value), STATE(xcr0), 8},
		{ROOF_GB_XSAVE, PAGE(xss.value), STATE(xss), 8},
	};
	roof_plan_init(p, sizeof(struct hw_vcpu_state));
	for (unsigned i = 0; i < sizeof d / sizeof d[0]; i++)
		if (roof_plan_add(p, d[i].bit, d[i].page, d[i].state, d[i].len))
			return -1;
	return 0;
}

/* ---- charged flags ----------------------------------------------------------- */
/* Per group, the charged flags of its Registers (a group is charged when
 * all are; the client charges and the kernel stores groups whole). */
#define FLAG(r) ((uint16_t)offsetof(struct hw_vcpu_state, r.charged))
static const struct {
	uint8_t n;
	uint16_t at[8];
} hw_group_flags[ROOF_GB_LIMIT] = {
	[ROOF_GB_ACDB] = {4, {FLAG(ax), FLAG(cx), FLAG(dx), FLAG(bx)}},
	[ROOF_GB_EBSD] = {3, {FLAG(bp), FLAG(si), FLAG(di)}},
	[ROOF_GB_ESP] = {1, {FLAG(sp)}},
	[ROOF_GB_EIP] = {2, {FLAG(ip), FLAG(ip_len)}},
	[ROOF_GB_EFL] = {1, {FLAG(flags)}},
	[ROOF_GB_ESDS] = {2, {FLAG(es), FLAG(ds)}},
	[ROOF_GB_FSGS] = {2, {FLAG(fs), FLAG(gs)}},
	[ROOF_GB_CSSS] = {2, {FLAG(cs), FLAG(ss)}},
	[ROOF_GB_TR] = {1, {FLAG(tr)}},
	[ROOF_GB_LDTR] = {1, {FLAG(ldtr)}},
	[ROOF_GB_GDTR] = {1, {FLAG(gdtr)}},
	[ROOF_GB_IDTR] = {1, {FLAG(idtr)}},
	[ROOF_GB_CR] = {4, {FLAG(cr0), FLAG(cr2), FLAG(cr3), FLAG(cr4)}},
	[ROOF_GB_DR] = {1, {FLAG(dr7)}},
	[ROOF_GB_SYS] = {3, {FLAG(sysenter_ip), FLAG(sysenter_sp),
			     FLAG(sysenter_cs)}},
	[ROOF_GB_QUAL] = {2, {FLAG(qual_primary), FLAG(qual_secondary)}},
	[ROOF_GB_CTRL] = {2, {FLAG(ctrl_primary), FLAG(ctrl_secondary)}},
	[ROOF_GB_INJ] = {2, {FLAG(inj_info), FLAG(inj_error)}},
	[ROOF_GB_STA] = {2, {FLAG(intr_state), FLAG(actv_state)}},
	[ROOF_GB_TSC] = {2, {FLAG(tsc), FLAG(tsc_offset)}},
	[ROOF_GB_EFER] = {1, {FLAG(efer)}},
	[ROOF_GB_PDPTE] = {4, {FLAG(pdpte_0), FLAG(pdpte_1), FLAG(pdpte_2),
			       FLAG(pdpte_3)}},
	[ROOF_GB_R8_R15] = {8, {FLAG(r8), FLAG(r9), FLAG(r10), FLAG(r11),
				FLAG(r12), FLAG(r13), FLAG(r14), FLAG(r15)}},
	[ROOF_GB_SYSCALL] = {5, {FLAG(star), FLAG(lstar), FLAG(cstar),
				 FLAG(fmask), FLAG(kernel_gs_base)}},
	[ROOF_GB_TPR] = {2, {FLAG(tpr), FLAG(tpr_threshold)}},
	[ROOF_GB_TSC_AUX] = {1, {FLAG(tsc_aux)}},
	[ROOF_GB_XSAVE] = {2, {FLAG(xcr0), FLAG(xss)}},
	[ROOF_GB_FPU] = {1, {FLAG(fpu)}},
};
#undef FLAG

static bool *flag_at(struct hw_vcpu_state *p, uint16_t off)
{
	return (bool *)((unsigned char *)p + off);
}

static bool flag_of(const struct hw_vcpu_state *p, uint16_t off)
{
	return *(const bool *)((const unsigned char *)p + off);
}

uint64_t hw_page_charged(const struct hw_vcpu_state *p, uint64_t groups)
{
	uint64_t charged = 0;
	for (uint64_t m = groups & ROOF_G_EVERYTHING; m; m &= m - 1) {
		unsigned bit = (unsigned)__builtin_ctzll(m);
		unsigned n = hw_group_flags[bit].n, i = 0;
		while (i < n && flag_of(p, hw_group_flags[bit].at[i]))
			i++;
		if (n && i == n)
			charged |= UINT64_C(1) << bit;
	}
	return charged;
}

static void set_flags(struct hw_vcpu_state *p, uint64_t groups, bool to)
{
	for (uint64_t m = groups & ROOF_G_EVERYTHING; m; m &= m - 1) {
		unsigned bit = (unsigned)__builtin_ctzll(m);
		for (unsigned i = 0; i < hw_group_flags[bit].n; i++)
			*flag_at(p, hw_group_flags[bit].at[i]) = to;
	}
}

void hw_page_charge(struct hw_vcpu_state *p, uint64_t groups)
{
	set_flags(p, groups, true);
}

void hw_vcpu_state_discharge(struct hw_vcpu_state *s)
{
	set_flags(s, ROOF_G_EVERYTHING, false);
}

void hw_vcpu_state_sanitize(struct hw_vcpu_state *s)
{
	/* read each flag as a byte (char may alias anything), store a bool */
	for (unsigned bit = 0; bit < ROOF_GB_LIMIT; bit++)
		for (unsigned i = 0; i < hw_group_flags[bit].n; i++) {
			uint16_t off = hw_group_flags[bit].at[i];
			*flag_at(s, off) = ((const unsigned char *)s)[off] != 0;
		}
}

/* ---- page <-> roof_state ----------------------------------------------------- */
void hw_convert_to_state(const struct hw_vcpu_state *p, roof_state *s,
			 uint64_t groups)
{
	if (groups & ROOF_G_GDTR)
		s->gdtr.reserved = 0;
	if (groups & ROOF_G_IDTR)
		s->idtr.reserved = 0;
	if (groups & ROOF_G_TSC) {
		s->tsc = p->tsc.value;
		s->tsc_offset = p->tsc_offset.value;
	}
	if (groups & ROOF_G_FPU) {
		uint64_t n = p->fpu.state_size;
		if (n > ROOF_FPU_SIZE)
			n = ROOF_FPU_SIZE;
		__builtin_memcpy(s->fpu, p->fpu.buffer, n);
		__builtin_memset(s->fpu + n, 0, ROOF_FPU_SIZE - n);
		s->fpu_size = (uint32_t)n;
	}
}

void hw_convert_to_page(struct hw_vcpu_state *p, const roof_state *s,
			uint64_t groups, uint64_t tsc_offset_seen)
{
	if (groups & ROOF_G_TSC) {
		/* the kernel ignores tsc and adds tsc_offset to the VMCS one */
		p->tsc.value = s->tsc;
		p->tsc_offset.value = s->tsc_offset - tsc_offset_seen;
	}
	if (groups & ROOF_G_FPU) {
		/* the kernel loads its fxsave area, Fpu_context::SIZE bytes */
		__builtin_memcpy(p->fpu.buffer, s->fpu, HW_FPU_CONTEXT_SIZE);
		p->fpu.state_size = HW_FPU_CONTEXT_SIZE;
	}
	hw_page_charge(p, groups);
}

void hw_page_to_state(const struct roof_transfer_plan *plan,
		      const struct hw_vcpu_state *p, roof_state *s,
		      uint64_t groups)
{
	roof_gather(plan, groups, p, s);
	hw_convert_to_state(p, s, groups);
}

void hw_state_to_page(const struct roof_transfer_plan *plan,
		      struct hw_vcpu_state *p, const roof_state *s,
		      uint64_t groups, uint64_t tsc_offset_seen)
{
	roof_scatter(plan, groups, s, p);
	hw_convert_to_page(p, s, groups, tsc_offset_seen);
}
