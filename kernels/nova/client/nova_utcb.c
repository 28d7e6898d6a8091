/*
 * nova_utcb.c - the UTCB copy plan, the exit-reason mappings of the VMX and
 * the SVM variant, and what the SVM transfer copies (see nova_abi.h).
 * Freestanding.
 */
#include "nova_abi.h"
#include "transfer_plan.h"
#include "svm_exit.h"
#include "vmx_exit.h"
#include "x86_arch.h"

#define UTCB(f) ((uint32_t)offsetof(struct nova_utcb, f))
#define STATE(f) ((uint32_t)offsetof(roof_state, f))
#define SIZE(f) ((uint32_t)sizeof(((roof_state *)0)->f))

int nova_utcb_plan_init(struct roof_transfer_plan *p)
{
	/* roof_segment {u16 sel, u16 ar, u32 limit, u64 base} is the UTCB
	 * segment record; roof_dtr keeps the limit first, the UTCB second. */
	_Static_assert(sizeof(struct roof_segment) ==
			       sizeof(struct nova_utcb_segment),
		       "segment record");
	static const struct {
		uint8_t bit;
		uint16_t utcb, state, len;
	} d[] = {
		{ROOF_GB_ACDB, UTCB(ax), STATE(ax), 4 * 8},
		{ROOF_GB_EBSD, UTCB(bp), STATE(bp), 3 * 8},
		{ROOF_GB_ESP, UTCB(sp), STATE(sp), 8},
		{ROOF_GB_EIP, UTCB(ip), STATE(ip), 8},
		{ROOF_GB_EIP, UTCB(instr_len), STATE(ip_len), 8},
		{ROOF_GB_EFL, UTCB(flags), STATE(flags), 8},
		{ROOF_GB_ESDS, UTCB(es), STATE(es), 16},
		{ROOF_GB_ESDS, UTCB(ds), STATE(ds), 16},
		{ROOF_GB_FSGS, UTCB(fs), STATE(fs), 2 * 16},
		{ROOF_GB_CSSS, UTCB(cs), STATE(cs), 16},
		{ROOF_GB_CSSS, UTCB(ss), STATE(ss), 16},
		{ROOF_GB_TR, UTCB(tr), STATE(tr), 16},
		{ROOF_GB_LDTR, UTCB(ldtr), STATE(ldtr), 16},
		{ROOF_GB_GDTR, UTCB(gdtr.limit), STATE(gdtr.limit), 4},
		{ROOF_GB_GDTR, UTCB(gdtr.base), STATE(gdtr.base), 8},
		{ROOF_GB_IDTR, UTCB(idtr.limit), STATE(idtr.limit), 4},
		{ROOF_GB_IDTR, UTCB(idtr.base), STATE(idtr.base), 8},
		{ROOF_GB_CR, UTCB(cr0), STATE(cr0), 4 * 8},
		{ROOF_GB_DR, UTCB(dr7), STATE(dr7), 8},
		{ROOF_GB_SYS, UTCB(sysenter_cs), STATE(sysenter_cs), 3 * 8},
		{ROOF_GB_QUAL, UTCB(qual), STATE(qual_primary), 2 * 8},
		{ROOF_GB_CTRL, UTCB(ctrl), STATE(ctrl_primary), 2 * 4},
		{ROOF_GB_INJ, UTCB(inj_info), STATE(inj_info), 2 * 4},
		{ROOF_GB_STA, UTCB(intr_state), STATE(intr_state), 2 * 4},
		{ROOF_GB_EFER, UTCB(efer), STATE(efer), 8},
		{ROOF_GB_PDPTE, UTCB(pdpte), STATE(pdpte), 4 * 8},
		{ROOF_GB_R8_R15, UTCB(r8), STATE(r8), 8 * 8},
		{ROOF_GB_SYSCALL, UTCB(star), STATE(star), 5 * 8},
		{ROOF_GB_TPR, UTCB(tpr), STATE(tpr), 2 * 4},
		{ROOF_GB_TSC_AUX, UTCB(tsc_aux), STATE(tsc_aux), 8},
		{ROOF_GB_XSAVE, UTCB(xcr0), STATE(xcr0), 2 * 8},
		{ROOF_GB_FPU, UTCB(fpu), STATE(fpu), NOVA_UTCB_FPU_SIZE},
	};
	_Static_assert(SIZE(fpu) == NOVA_UTCB_FPU_SIZE, "FPU image size");
	_Static_assert(STATE(gs) == STATE(fs) + 16, "fs, gs adjacent in roof_state");
	_Static_assert(UTCB(gs) == UTCB(fs) + 16, "fs, gs adjacent in the UTCB");
	roof_plan_init(p, sizeof(struct nova_utcb));
	for (unsigned i = 0; i < sizeof d / sizeof d[0]; i++)
		if (roof_plan_add(p, d[i].bit, d[i].utcb, d[i].state, d[i].len))
			return -1;
	return 0;
}

roof_exit nova_exit_unified(unsigned reason)
{
	switch (reason & 0xffu) {
	case NOVA_EXIT_INVSTATE:
		return ROOF_EXIT_INVALID_STATE;
	case NOVA_EXIT_NOSUPP:
	case NOVA_EXIT_NPT: /* SVM only: see nova_svm_unified */
		return ROOF_EXIT_BACKEND_ERROR;
	default:
		return vmx_exit_unified(reason & 0xffu);
	}
}

/* ---- SVM ------------------------------------------------------------------ */
uint32_t nova_svm_code(unsigned portal)
{
	switch (portal & 0xffu) {
	case NOVA_EXIT_NPT:
		return SVM_EXIT_NPF;
	case NOVA_EXIT_INVSTATE:
		return SVM_EXIT_INVALID;
	default:
		return portal & 0xffu; /* incl. STARTUP, RECALL, NOSUPP */
	}
}

roof_exit nova_svm_unified(unsigned portal, uint64_t info1)
{
	if ((portal & 0xffu) == NOVA_EXIT_NOSUPP)
		return ROOF_EXIT_BACKEND_ERROR;
	return svm_exit_unified(nova_svm_code(portal), info1);
}

/* Per MTD group, the UTCB bytes load_svm writes (out) and save_svm reads
 * (in), alex-ab/NOVA r10 src/utcb.cpp. Segments and descriptor tables are
 * whole 16-byte Utcb_segment records; FPU is added by the caller's size. */
static const struct {
	uint8_t out, in;
} svm_bytes[ROOF_GB_LIMIT] = {
	[ROOF_GB_ACDB] = {32, 32},   [ROOF_GB_EBSD] = {24, 24},
	[ROOF_GB_ESP] = {8, 8},      [ROOF_GB_EIP] = {8, 8}, /* rip only */
	[ROOF_GB_EFL] = {8, 8},      [ROOF_GB_ESDS] = {32, 32},
	[ROOF_GB_FSGS] = {32, 32},   [ROOF_GB_CSSS] = {32, 32},
	[ROOF_GB_TR] = {16, 16},     [ROOF_GB_LDTR] = {16, 16},
	[ROOF_GB_GDTR] = {16, 16},   [ROOF_GB_IDTR] = {16, 16},
	[ROOF_GB_CR] = {32, 32},     [ROOF_GB_DR] = {8, 8},
	[ROOF_GB_SYS] = {24, 24},    [ROOF_GB_QUAL] = {16, 0},
	[ROOF_GB_CTRL] = {0, 8},     [ROOF_GB_INJ] = {8, 8},
	[ROOF_GB_STA] = {8, 4},      [ROOF_GB_TSC] = {16, 8},
	[ROOF_GB_EFER] = {8, 8},     [ROOF_GB_R8_R15] = {64, 64},
	[ROOF_GB_SYSCALL] = {40, 40}, [ROOF_GB_TSC_AUX] = {8, 8},
	[ROOF_GB_XSAVE] = {16, 16},
};

static uint32_t svm_sum(uint64_t mtd, uint32_t fpu_size, bool out)
{
	uint32_t n = (mtd & ROOF_G_FPU) ? fpu_size : 0;
	for (mtd &= ROOF_G_VALID_BITS & ~ROOF_G_FPU; mtd; mtd &= mtd - 1) {
		unsigned g = (unsigned)__builtin_ctzll(mtd);
		n += out ? svm_bytes[g].out : svm_bytes[g].in;
	}
	return n;
}

uint32_t nova_svm_bytes_out(uint64_t mtd, uint32_t fpu_size)
{
	return svm_sum(mtd, fpu_size, true) + 8; /* exit_value */
}

uint32_t nova_svm_bytes_in(uint64_t mtd, uint32_t fpu_size)
{
	return svm_sum(mtd, fpu_size, false);
}
