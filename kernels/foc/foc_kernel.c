/*
 * foc_kernel.c - the Fiasco.OC kernel side (see foc_kernel.h). What it
 * copies, and when, follows fiasco src/kern/ia32/vm_vmx.cpp at fee4f8ed~1
 * (Vm_vmx_t::load_guest_state, store_guest_state, Vm_vmx_b::store_exit_info,
 * do_resume_vcpu, resume_vcpu, save/load_guest_msrs) with vm_vmx_ept.cpp's
 * load/store_vm_memory (cr3), for a VMM that sets what Genode's vm.cc sets
 * (save-EFER exit control, load-EFER entry control).
 */
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "foc_kernel.h"
#include "x86_arch.h"

/* Field roles. */
enum {
	K_STORE = 1u << 0,   /* copied VMCS -> page at an exit */
	K_LOAD = 1u << 1,    /* copied page -> VMCS at an entry */
	K_BACKED = 1u << 2,  /* the model hardware has it (vmx_hw_vmread) */
	K_EXIT = 1u << 3,    /* exit information, stored at once */
	K_EFER_S = 1u << 4,  /* stored with the save-EFER exit control */
	K_EFER_L = 1u << 5,  /* loaded with the load-EFER entry control */
	K_INJ = 1u << 6,     /* loaded with a valid injection ... */
	K_INJ_ERR = 1u << 7, /* ... that has an error code (bit 11) */
	K_INJ_LEN = 1u << 8, /* ... of a type with a length (bit 10) */
	K_EPT = 1u << 9,     /* stored on an EPT violation only */
	K_REFRESH = 1u << 10,/* model: refreshed although Fiasco does not
			      * store it (see SYSENTER below) */
	K_CR0 = 1u << 11,    /* loaded through the cr0 fixed bits */
	K_CR4 = 1u << 12,    /* loaded through the cr4 fixed bits */
	K_PROC = 1u << 13,   /* primary controls: window requests */
};
#define G_NONE 0xffu

struct kfield {
	uint16_t field;
	uint8_t group; /* roof group bit whose hardware fetch it needs */
	uint16_t flags;
};

#define SL (K_STORE | K_LOAD | K_BACKED)
#define LB (K_LOAD | K_BACKED)
#define XB (K_STORE | K_EXIT | K_BACKED)

/*
 * Every field load_guest_state / store_guest_state / store_exit_info
 * touches, with its role. SYSENTER_CS/ESP/EIP: Fiasco loads them but does
 * not store them ("we trap all msr accesses right now": a guest wrmsr exits
 * to the VMM, which writes the page). KVM runs a guest's wrmsr of them
 * itself, so the model refreshes them from the hardware when read
 * (K_REFRESH, not counted as a VMCS read).
 */
static const struct kfield fields[] = {
	/* controls (load_guest_state, first part) */
	{VMCS_ENTRY_CTLS, G_NONE, LB},
	{VMCS_PIN_CTLS, G_NONE, LB},
	{VMCS_PROC_CTLS, G_NONE, LB | K_PROC},
	{VMCS_PROC_CTLS2, G_NONE, LB},
	{VMCS_EXIT_CTLS, G_NONE, LB},
	/* 16-bit guest state 0x800..0x80e */
	{VMCS_GUEST_ES_SEL, ROOF_GB_ESDS, SL},
	{VMCS_GUEST_CS_SEL, ROOF_GB_CSSS, SL},
	{VMCS_GUEST_SS_SEL, ROOF_GB_CSSS, SL},
	{VMCS_GUEST_DS_SEL, ROOF_GB_ESDS, SL},
	{VMCS_GUEST_FS_SEL, ROOF_GB_FSGS, SL},
	{VMCS_GUEST_GS_SEL, ROOF_GB_FSGS, SL},
	{VMCS_GUEST_LDTR_SEL, ROOF_GB_LDTR, SL},
	{VMCS_GUEST_TR_SEL, ROOF_GB_TR, SL},
	/* 64-bit guest state */
	{FOC_VMCS_GUEST_DEBUGCTL, G_NONE, K_STORE | K_LOAD},
	{VMCS_GUEST_EFER, ROOF_GB_EFER, SL | K_EFER_S | K_EFER_L},
	/* 32-bit guest state 0x4800..0x4826, 0x482a */
	{VMCS_GUEST_ES_LIMIT, ROOF_GB_ESDS, SL},
	{VMCS_GUEST_CS_LIMIT, ROOF_GB_CSSS, SL},
	{VMCS_GUEST_SS_LIMIT, ROOF_GB_CSSS, SL},
	{VMCS_GUEST_DS_LIMIT, ROOF_GB_ESDS, SL},
	{VMCS_GUEST_FS_LIMIT, ROOF_GB_FSGS, SL},
	{VMCS_GUEST_GS_LIMIT, ROOF_GB_FSGS, SL},
	{VMCS_GUEST_LDTR_LIMIT, ROOF_GB_LDTR, SL},
	{VMCS_GUEST_TR_LIMIT, ROOF_GB_TR, SL},
	{VMCS_GUEST_GDTR_LIMIT, ROOF_GB_GDTR, SL},
	{VMCS_GUEST_IDTR_LIMIT, ROOF_GB_IDTR, SL},
	{VMCS_GUEST_ES_AR, ROOF_GB_ESDS, SL},
	{VMCS_GUEST_CS_AR, ROOF_GB_CSSS, SL},
	{VMCS_GUEST_SS_AR, ROOF_GB_CSSS, SL},
	{VMCS_GUEST_DS_AR, ROOF_GB_ESDS, SL},
	{VMCS_GUEST_FS_AR, ROOF_GB_FSGS, SL},
	{VMCS_GUEST_GS_AR, ROOF_GB_FSGS, SL},
	{VMCS_GUEST_LDTR_AR, ROOF_GB_LDTR, SL},
	{VMCS_GUEST_TR_AR, ROOF_GB_TR, SL},
	{VMCS_GUEST_INTERRUPTIBILITY, ROOF_GB_STA, SL},
	{VMCS_GUEST_ACTIVITY, ROOF_GB_STA, SL},
	{VMCS_GUEST_SYSENTER_CS, ROOF_GB_SYS, LB | K_REFRESH},
	/* natural-width guest state 0x6800..0x6826 */
	{VMCS_GUEST_CR0, ROOF_GB_CR, SL | K_CR0},
	{VMCS_GUEST_CR3, ROOF_GB_CR, SL}, /* EPT: load/store_vm_memory */
	{VMCS_GUEST_CR4, ROOF_GB_CR, SL | K_CR4},
	{VMCS_GUEST_ES_BASE, ROOF_GB_ESDS, SL},
	{VMCS_GUEST_CS_BASE, ROOF_GB_CSSS, SL},
	{VMCS_GUEST_SS_BASE, ROOF_GB_CSSS, SL},
	{VMCS_GUEST_DS_BASE, ROOF_GB_ESDS, SL},
	{VMCS_GUEST_FS_BASE, ROOF_GB_FSGS, SL},
	{VMCS_GUEST_GS_BASE, ROOF_GB_FSGS, SL},
	{VMCS_GUEST_LDTR_BASE, ROOF_GB_LDTR, SL},
	{VMCS_GUEST_TR_BASE, ROOF_GB_TR, SL},
	{VMCS_GUEST_GDTR_BASE, ROOF_GB_GDTR, SL},
	{VMCS_GUEST_IDTR_BASE, ROOF_GB_IDTR, SL},
	{VMCS_GUEST_DR7, ROOF_GB_DR, SL},
	{VMCS_GUEST_RSP, ROOF_GB_ESP, SL},
	{VMCS_GUEST_RIP, ROOF_GB_EIP, SL},
	{VMCS_GUEST_RFLAGS, ROOF_GB_EFL, SL},
	{FOC_VMCS_PENDING_DBG, G_NONE, K_STORE | K_LOAD},
	{VMCS_GUEST_SYSENTER_ESP, ROOF_GB_SYS, LB | K_REFRESH},
	{VMCS_GUEST_SYSENTER_EIP, ROOF_GB_SYS, LB | K_REFRESH},
	/* controls (load_guest_state, second part) */
	{VMCS_TSC_OFFSET, G_NONE, LB},
	{VMCS_EXCEPTION_BITMAP, G_NONE, LB},
	{FOC_VMCS_PF_ERROR_MASK, G_NONE, K_LOAD},
	{FOC_VMCS_PF_ERROR_MATCH, G_NONE, K_LOAD},
	{VMCS_ENTRY_INTR_INFO, G_NONE, LB | K_INJ},
	{VMCS_ENTRY_EXC_ERROR, G_NONE, LB | K_INJ | K_INJ_ERR},
	{VMCS_ENTRY_INSTR_LEN, G_NONE, LB | K_INJ | K_INJ_LEN},
	{VMCS_CR0_MASK, G_NONE, LB},
	{VMCS_CR4_MASK, G_NONE, LB},
	{VMCS_CR0_SHADOW, G_NONE, LB},
	{VMCS_CR4_SHADOW, G_NONE, LB},
	/* store_exit_info: 0x4400..0x440e, 0x6400..0x640a */
	{VMCS_INSTR_ERROR, G_NONE, XB},
	{VMCS_EXIT_REASON, G_NONE, XB},
	{VMCS_EXIT_INTR_INFO, G_NONE, XB},
	{VMCS_EXIT_INTR_ERROR, G_NONE, XB},
	{VMCS_IDT_VECTORING_INFO, ROOF_GB_INJ, XB},
	{VMCS_IDT_VECTORING_ERROR, ROOF_GB_INJ, XB},
	{VMCS_EXIT_INSTR_LEN, G_NONE, XB},
	{VMCS_EXIT_INSTR_INFO, G_NONE, XB},
	{VMCS_EXIT_QUALIFICATION, G_NONE, XB},
	{FOC_VMCS_IO_RCX, G_NONE, K_STORE | K_EXIT},
	{FOC_VMCS_IO_RSI, G_NONE, K_STORE | K_EXIT},
	{FOC_VMCS_IO_RDI, G_NONE, K_STORE | K_EXIT},
	{FOC_VMCS_IO_RIP, G_NONE, K_STORE | K_EXIT},
	{VMCS_GUEST_LINEAR_ADDR, G_NONE, XB},
	/* do_resume_vcpu, reason 48: guest physical (+ linear, again) */
	{VMCS_GUEST_PHYS_ADDR, G_NONE, XB | K_EPT},
};
#define NFIELDS (sizeof fields / sizeof fields[0])

/* Groups an exit stores into the page. */
#define G_STORED                                                              \
	(ROOF_G_ACDB | ROOF_G_EBSD | ROOF_G_R8_R15 | ROOF_G_ESP | ROOF_G_EIP | \
	 ROOF_G_EFL | ROOF_G_ESDS | ROOF_G_FSGS | ROOF_G_CSSS | ROOF_G_TR |   \
	 ROOF_G_LDTR | ROOF_G_GDTR | ROOF_G_IDTR | ROOF_G_CR | ROOF_G_DR |    \
	 ROOF_G_SYS | ROOF_G_INJ | ROOF_G_STA | ROOF_G_EFER | ROOF_G_SYSCALL)

#define EXIT_SAVE_EFER (1u << 20)
#define ENTRY_LOAD_EFER (1u << 15)
#define EFER_LMA (1ull << 10)
#define INJ_VALID (1u << 31)
#define INJ_HAS_ERROR (1u << 11)
#define INJ_HAS_LEN (1u << 10)    /* types 4, 5, 6 (vm_vmx.cpp) */
#define INJ_REQ_IRQ_WIN (1u << 12) /* vmx_hw's entry-interruption format */
#define CTRL0_IRQ_WINDOW (1u << 2)
#define CTRL0_NMI_WINDOW (1u << 22)
#define CR4_VMXE (1ull << 13)
#define CR0_NE (1ull << 5)

/* vmx.cpp: max over Vmx::F_max_* & 0x3ff (F_max_64bit_guest = 0x284d,
 * after the software MSR fields); Vmcs_field::Shift<>. */
#define FIASCO_MAX_FIELD_INDEX 0x4du
static const uint8_t index_shift[4] = {0, 2, 1, 2};

/* The syscall MSRs Fiasco switches in IA-32e mode (save/load_guest_msrs). */
static const uint16_t msr_fields[5] = {
	FOC_VMCS_MSR_SYSCALL_MASK, FOC_VMCS_MSR_CSTAR, FOC_VMCS_MSR_LSTAR,
	FOC_VMCS_MSR_STAR, FOC_VMCS_MSR_KERNEL_GS_BASE};

struct foc_kernel {
	struct vmx_hw *hw;
	struct roof_vcpu *v;
	struct foc_vcpu_page *page;
	/* the kernel's own table (Fo_table::master_offsets): the page's copy
	 * is user-writable */
	uint8_t hdr[FOC_VMCS_DATA];
	struct foc_vmx_caps caps; /* Vmx_info: the kernel's own */
	/* what the kernel last copied between page and VMCS, per field
	 * (same offsets as the page's VMCS), and per GPR */
	uint8_t shadow[FOC_VMCS_SIZE];
	struct foc_vcpu_regs gpr_shadow;
	uint64_t filled;    /* stored groups the page holds for this exit */
	bool initial;       /* before the first entry: page = hardware */
	bool entered_lma;   /* IA-32e mode of the state last entered */
	atomic_bool irq_pending;
	atomic_bool in_guest;
	int run_rc;         /* the hardware failed at the last entry */
	char err[256];
};

/* ---- the offset table ----------------------------------------------------- */
void foc_kernel_offset_table(uint8_t t[32])
{
	memset(t, 0, 32);
	/* Vmcs_field: blocks in the order control, read-only, guest; within
	 * each 16-bit, 64-bit, 32-bit, natural width; granule 0 is the header */
	unsigned granule = FOC_VMCS_DATA / 64;
	for (unsigned type = 0; type < 3; type++) {
		for (unsigned w = 0; w < 4; w++) {
			t[w * 8 + type] = (uint8_t)granule;
			granule += (((FIASCO_MAX_FIELD_INDEX + 1) << index_shift[w]) +
				    63) / 64;
		}
	}
	for (unsigned w = 0; w < 4; w++)
		t[FOC_TABLE_SHIFTS + w] = index_shift[w];
	t[FOC_TABLE_FIRST] = FOC_VMCS_DATA / 64;
	t[FOC_TABLE_END] = (uint8_t)granule;
}

/* ---- page and shadow access ----------------------------------------------- */
static uint32_t off_of(const struct foc_kernel *k, uint32_t field)
{
	return foc_vmcs_offset(k->hdr, field);
}

static uint64_t get_at(const uint8_t *base, uint32_t off, unsigned width)
{
	uint64_t v = 0;
	memcpy(&v, base + off, width); /* little endian */
	return v;
}

static void put_at(uint8_t *base, uint32_t off, unsigned width, uint64_t v)
{
	memcpy(base + off, &v, width);
}

static uint64_t page_get(const struct foc_kernel *k, uint32_t field)
{
	uint32_t off = off_of(k, field);
	return off ? get_at(k->page->vmcs, off, foc_vmcs_width(field)) : 0;
}

static void page_put(struct foc_kernel *k, uint32_t field, uint64_t v)
{
	uint32_t off = off_of(k, field);
	if (off) {
		put_at(k->page->vmcs, off, foc_vmcs_width(field), v);
		put_at(k->shadow, off, foc_vmcs_width(field), v);
	}
}

/* A stored value reaches the page unless the VMM wrote the field since the
 * kernel's last copy: that write is still to be loaded (an IRQ return in
 * between stores nothing, vm_vmx.cpp resume_vcpu()). */
static void store_field(struct foc_kernel *k, uint32_t field, uint64_t v)
{
	uint32_t off = off_of(k, field);
	unsigned w = foc_vmcs_width(field);
	if (off && memcmp(k->page->vmcs + off, k->shadow + off, w) == 0)
		page_put(k, field, v);
}

static int fail(struct foc_kernel *k, int rc, const char *what)
{
	snprintf(k->err, sizeof k->err, "Fiasco.OC model: %s: %s", what,
		 vmx_hw_error(k->hw));
	return rc;
}

/* GPRs in l4_vcpu_regs_t and in the hardware view. */
struct gpr_ref {
	size_t page_off; /* offset in struct foc_vcpu_regs */
	size_t state_off;
	uint8_t group;
};
#define GPR(r, g) {offsetof(struct foc_vcpu_regs, r), offsetof(roof_state, r), g}
static const struct gpr_ref gprs[15] = {
	GPR(ax, ROOF_GB_ACDB), GPR(cx, ROOF_GB_ACDB), GPR(dx, ROOF_GB_ACDB),
	GPR(bx, ROOF_GB_ACDB), GPR(bp, ROOF_GB_EBSD), GPR(si, ROOF_GB_EBSD),
	GPR(di, ROOF_GB_EBSD), GPR(r8, ROOF_GB_R8_R15), GPR(r9, ROOF_GB_R8_R15),
	GPR(r10, ROOF_GB_R8_R15), GPR(r11, ROOF_GB_R8_R15),
	GPR(r12, ROOF_GB_R8_R15), GPR(r13, ROOF_GB_R8_R15),
	GPR(r14, ROOF_GB_R8_R15), GPR(r15, ROOF_GB_R8_R15),
};

static uint64_t *gpr_in(void *base, size_t off)
{
	return (uint64_t *)((uint8_t *)base + off);
}

/* The hardware state the syscall-MSR fields mirror. */
static uint64_t *msr_in(roof_state *s, unsigned i)
{
	uint64_t *m[5] = {&s->fmask, &s->cstar, &s->lstar, &s->star,
			  &s->kernel_gs_base};
	return m[i];
}

/* ---- exit: stored groups into the page ------------------------------------ */
static int sync_groups(struct foc_kernel *k, uint64_t groups)
{
	uint64_t todo = groups & ~k->filled;
	if (!(todo & G_STORED)) {
		k->filled |= todo;
		return 0;
	}
	struct vmx_hw *h = k->hw;
	bool save_efer = k->initial ||
			 (page_get(k, VMCS_EXIT_CTLS) & EXIT_SAVE_EFER);
	for (size_t i = 0; i < NFIELDS; i++) {
		const struct kfield *f = &fields[i];
		if (f->group == G_NONE || !(todo & (UINT64_C(1) << f->group)) ||
		    !(f->flags & K_BACKED) || (f->flags & K_EXIT) ||
		    !(f->flags & (K_STORE | K_REFRESH)))
			continue;
		if ((f->flags & K_EFER_S) && !save_efer)
			continue;
		uint64_t v;
		if (vmx_hw_vmread(h, f->field, &v))
			return fail(k, ROOF_EKERNEL, "VMREAD");
		store_field(k, f->field, v);
	}
	uint64_t gpr_groups = todo & (ROOF_G_ACDB | ROOF_G_EBSD | ROOF_G_R8_R15);
	if (gpr_groups) {
		roof_state *s = vmx_hw_state(h, gpr_groups);
		if (!s)
			return fail(k, ROOF_EKERNEL, "GPRs");
		for (unsigned i = 0; i < 15; i++) {
			if (!(gpr_groups & (UINT64_C(1) << gprs[i].group)))
				continue;
			uint64_t *p = gpr_in(&k->page->vcpu.r, gprs[i].page_off);
			uint64_t *sh = gpr_in(&k->gpr_shadow, gprs[i].page_off);
			if (*p == *sh)
				*p = *sh = *gpr_in(s, gprs[i].state_off);
		}
	}
	if (todo & ROOF_G_CR) { /* the hardware cr2 into the software field */
		roof_state *s = vmx_hw_state(h, ROOF_G_CR);
		if (!s)
			return fail(k, ROOF_EKERNEL, "cr2");
		store_field(k, FOC_VMCS_CR2, s->cr2);
	}
	if ((todo & ROOF_G_SYSCALL) && (k->initial || k->entered_lma)) {
		roof_state *s = vmx_hw_state(h, ROOF_G_SYSCALL);
		if (!s)
			return fail(k, ROOF_EKERNEL, "syscall MSRs");
		for (unsigned i = 0; i < 5; i++)
			store_field(k, msr_fields[i], *msr_in(s, i));
	}
	if (todo & ROOF_G_INJ) {
		/* KVM keeps an event whose delivery the exit interrupted as
		 * pending injection; VMX reports it as IDT vectoring */
		uint64_t info = 0, err = 0;
		if (vmx_hw_vmread(h, VMCS_ENTRY_INTR_INFO, &info) ||
		    vmx_hw_vmread(h, VMCS_ENTRY_EXC_ERROR, &err))
			return fail(k, ROOF_EKERNEL, "event injection");
		bool valid = (info & INJ_VALID) && !k->initial;
		page_put(k, VMCS_IDT_VECTORING_INFO,
			 valid ? info & ~(uint64_t)0x3000 : 0);
		page_put(k, VMCS_IDT_VECTORING_ERROR, valid ? err : 0);
	}
	k->filled |= todo;
	return 0;
}

/* store_guest_state + store_exit_info, as counted; the exit information
 * goes to the page now, the guest state when read (sync_groups). */
static void store_exit(struct foc_kernel *k, const struct vmx_exit_info *x)
{
	struct roof_stats *st = &k->v->counters;
	bool ept = x->reason == VMX_EXIT_EPT_VIOLATION;
	bool save_efer = page_get(k, VMCS_EXIT_CTLS) & EXIT_SAVE_EFER;
	for (size_t i = 0; i < NFIELDS; i++) {
		const struct kfield *f = &fields[i];
		if (!(f->flags & K_STORE) || ((f->flags & K_EPT) && !ept) ||
		    ((f->flags & K_EFER_S) && !save_efer))
			continue;
		st->vmcs_reads++;
		st->bytes += foc_vmcs_width(f->field);
		if (!(f->flags & K_EXIT))
			continue;
		uint64_t v = 0;
		if ((f->flags & K_BACKED) && f->group == G_NONE &&
		    vmx_hw_vmread(k->hw, f->field, &v))
			v = 0;
		page_put(k, f->field, v);
	}
	if (ept) { /* do_resume_vcpu stores the linear address once more */
		st->vmcs_reads++;
		st->bytes += 8;
	}
	/* GPRs (resume_vm_vmx), cr2, the syscall MSRs in IA-32e mode */
	st->bytes += 15 * 8 + 8 + (k->entered_lma ? 5 * 8 : 0);
	/* store_exit_info: the injection is consumed */
	uint64_t inj = page_get(k, VMCS_ENTRY_INTR_INFO);
	if (inj & INJ_VALID)
		page_put(k, VMCS_ENTRY_INTR_INFO, inj & ~(uint64_t)INJ_VALID);
	k->filled = 0;
}

/* ---- entry: the page into the VMCS ---------------------------------------- */
static bool load_condition(const struct kfield *f, uint32_t entry_ctls,
			   uint32_t inj)
{
	if ((f->flags & K_EFER_L) && !(entry_ctls & ENTRY_LOAD_EFER))
		return false;
	if ((f->flags & K_INJ) && !(inj & INJ_VALID))
		return false;
	if ((f->flags & K_INJ_ERR) && !(inj & INJ_HAS_ERROR))
		return false;
	if ((f->flags & K_INJ_LEN) && !(inj & INJ_HAS_LEN))
		return false;
	return true;
}

static int load_guest_state(struct foc_kernel *k)
{
	struct roof_stats *st = &k->v->counters;
	struct vmx_hw *h = k->hw;
	uint32_t entry_ctls = (uint32_t)page_get(k, VMCS_ENTRY_CTLS);
	uint32_t inj = (uint32_t)page_get(k, VMCS_ENTRY_INTR_INFO);
	bool window = false;
	for (size_t i = 0; i < NFIELDS; i++) {
		const struct kfield *f = &fields[i];
		if (!(f->flags & K_LOAD) || !load_condition(f, entry_ctls, inj))
			continue;
		st->vmcs_writes++;
		st->bytes += foc_vmcs_width(f->field);
		uint32_t off = off_of(k, f->field);
		unsigned w = foc_vmcs_width(f->field);
		if (!(f->flags & K_BACKED) || !off ||
		    memcmp(k->page->vmcs + off, k->shadow + off, w) == 0)
			continue;
		uint64_t v = get_at(k->page->vmcs, off, w);
		uint64_t put = v;
		/* the fixed bits of the model hardware (vmx.cpp load() with
		 * cr0_defs/cr4_defs: the kernel's copy, not the page's) */
		if (f->flags & K_CR0)
			put = (v | k->caps.caps[FOC_VMX_CR0_FIXED0]) &
			      k->caps.caps[FOC_VMX_CR0_FIXED1];
		if (f->flags & K_CR4)
			put = (v | k->caps.caps[FOC_VMX_CR4_FIXED0]) &
			      k->caps.caps[FOC_VMX_CR4_FIXED1];
		if ((f->flags & K_PROC) && (v & CTRL0_NMI_WINDOW)) {
			snprintf(k->err, sizeof k->err,
				 "Fiasco.OC model: NMI-window exiting requested "
				 "(inj_info bit 13): the model hardware (KVM) has "
				 "no NMI-window exit");
			return ROOF_ENOSYS;
		}
		if (vmx_hw_vmwrite(h, f->field, put))
			return fail(k, ROOF_EKERNEL, "VMWRITE");
		put_at(k->shadow, off, w, v);
		if (f->field == VMCS_PROC_CTLS || f->field == VMCS_ENTRY_INTR_INFO)
			window = true;
	}
	/* GPRs (resume_vm_vmx), changed ones only */
	uint64_t dirty = 0;
	for (unsigned i = 0; i < 15; i++)
		if (*gpr_in(&k->page->vcpu.r, gprs[i].page_off) !=
		    *gpr_in(&k->gpr_shadow, gprs[i].page_off))
			dirty |= UINT64_C(1) << gprs[i].group;
	if (dirty) {
		roof_state *s = vmx_hw_state(h, dirty);
		if (!s)
			return fail(k, ROOF_EKERNEL, "GPRs");
		for (unsigned i = 0; i < 15; i++) {
			if (!(dirty & (UINT64_C(1) << gprs[i].group)))
				continue;
			uint64_t v = *gpr_in(&k->page->vcpu.r, gprs[i].page_off);
			*gpr_in(s, gprs[i].state_off) = v;
			*gpr_in(&k->gpr_shadow, gprs[i].page_off) = v;
		}
		vmx_hw_mark_dirty(h, dirty);
	}
	/* cr2 ("mov %0, %%cr2" from the software field) */
	uint32_t cr2_off = off_of(k, FOC_VMCS_CR2);
	if (memcmp(k->page->vmcs + cr2_off, k->shadow + cr2_off, 8)) {
		roof_state *s = vmx_hw_state(h, ROOF_G_CR);
		if (!s)
			return fail(k, ROOF_EKERNEL, "cr2");
		s->cr2 = page_get(k, FOC_VMCS_CR2);
		put_at(k->shadow, cr2_off, 8, s->cr2);
		vmx_hw_mark_dirty(h, ROOF_G_CR);
	}
	/* the syscall MSRs when the entered state is in IA-32e mode (Fiasco:
	 * the IA-32e-mode entry control, which must match EFER.LMA) */
	k->entered_lma = page_get(k, VMCS_GUEST_EFER) & EFER_LMA;
	if (k->entered_lma) {
		bool changed = false;
		for (unsigned i = 0; i < 5; i++) {
			uint32_t off = off_of(k, msr_fields[i]);
			changed |= memcmp(k->page->vmcs + off, k->shadow + off, 8) != 0;
		}
		if (changed) {
			roof_state *s = vmx_hw_state(h, ROOF_G_SYSCALL);
			if (!s)
				return fail(k, ROOF_EKERNEL, "syscall MSRs");
			for (unsigned i = 0; i < 5; i++) {
				*msr_in(s, i) = page_get(k, msr_fields[i]);
				page_put(k, msr_fields[i], *msr_in(s, i));
			}
			vmx_hw_mark_dirty(h, ROOF_G_SYSCALL);
		}
	}
	st->bytes += 15 * 8 + 8 + (k->entered_lma ? 5 * 8 : 0) + 8 /* xcr0 */;
	/* the model hardware takes the irq-window request with the injection
	 * (vmx_hw.h: bit 12 of its entry-interruption field) */
	if (window) {
		uint64_t info;
		if (vmx_hw_vmread(h, VMCS_ENTRY_INTR_INFO, &info))
			return fail(k, ROOF_EKERNEL, "VMREAD");
		bool want = page_get(k, VMCS_PROC_CTLS) & CTRL0_IRQ_WINDOW;
		uint64_t now = want ? info | INJ_REQ_IRQ_WIN : info & ~(uint64_t)INJ_REQ_IRQ_WIN;
		if (now != info && vmx_hw_vmwrite(h, VMCS_ENTRY_INTR_INFO, now))
			return fail(k, ROOF_EKERNEL, "VMWRITE");
	}
	return 0;
}

/* ---- the kernel calls ----------------------------------------------------- */
static int k_resume(void *ctx)
{
	struct foc_kernel *k = ctx;
	k->err[0] = 0;
	k->run_rc = 0;
	atomic_store(&k->in_guest, true);
	if (atomic_load(&k->irq_pending)) {
		/* resume_vcpu(): IRQ pending, nothing loaded or stored */
		atomic_store(&k->in_guest, false);
		page_put(k, VMCS_EXIT_REASON, VMX_EXIT_EXTERNAL_INTERRUPT);
		return FOC_RESUME_IRQ;
	}
	int rc = load_guest_state(k);
	if (rc) {
		atomic_store(&k->in_guest, false);
		return rc;
	}
	k->initial = false;
	rc = vmx_hw_run(k->hw);
	atomic_store(&k->in_guest, false);
	const struct vmx_exit_info *x = vmx_hw_exit(k->hw);
	k->run_rc = rc;
	if (rc)
		return rc;
	if (x->reason == VMX_HW_NOT_VMX)
		return ROOF_EKERNEL; /* the substrate's exit is no VMX exit */
	store_exit(k, x);
	return x->recalled ? FOC_RESUME_IRQ : FOC_RESUME_EXIT;
}

static void k_irq_receive(void *ctx)
{
	struct foc_kernel *k = ctx;
	atomic_store(&k->irq_pending, false);
	__atomic_fetch_and(&k->page->vcpu.sticky_flags,
			   (uint16_t)~FOC_VCPU_SF_IRQ_PENDING, __ATOMIC_ACQ_REL);
}

static int k_page_sync(void *ctx, uint64_t groups)
{
	return sync_groups(ctx, groups);
}

static int k_fpu_from_guest(void *ctx, uint8_t image[FOC_FXSAVE_SIZE])
{
	struct foc_kernel *k = ctx;
	roof_state *s = vmx_hw_state(k->hw, ROOF_G_FPU);
	if (!s)
		return fail(k, ROOF_EKERNEL, "guest FPU");
	memcpy(image, s->fpu, FOC_FXSAVE_SIZE); /* the legacy region */
	return 0;
}

static int k_fpu_to_guest(void *ctx, const uint8_t image[FOC_FXSAVE_SIZE])
{
	struct foc_kernel *k = ctx;
	roof_state *s = vmx_hw_state(k->hw, ROOF_G_FPU);
	if (!s)
		return fail(k, ROOF_EKERNEL, "guest FPU");
	memcpy(s->fpu, image, FOC_FXSAVE_SIZE);
	/* XSAVE header XSTATE_BV (SDM Vol. 1, 13.4.2): x87 and SSE are in
	 * the image, not in their initial configuration */
	uint64_t bv;
	memcpy(&bv, s->fpu + 512, sizeof bv);
	bv |= 3;
	memcpy(s->fpu + 512, &bv, sizeof bv);
	vmx_hw_mark_dirty(k->hw, ROOF_G_FPU);
	return 0;
}

static const char *k_hw_error(void *ctx)
{
	struct foc_kernel *k = ctx;
	if (k->err[0])
		return k->err;
	const struct vmx_exit_info *x = vmx_hw_exit(k->hw);
	return x->error ? x->error : vmx_hw_error(k->hw);
}

const struct foc_kernel_ops foc_kernel_ops = {
	.vcpu_resume = k_resume,
	.irq_receive = k_irq_receive,
	.page_sync = k_page_sync,
	.fpu_from_guest = k_fpu_from_guest,
	.fpu_to_guest = k_fpu_to_guest,
	.hw_error = k_hw_error,
};

void foc_kernel_irq_trigger(struct foc_kernel *k)
{
	atomic_store(&k->irq_pending, true);
	__atomic_fetch_or(&k->page->vcpu.sticky_flags,
			  (uint16_t)FOC_VCPU_SF_IRQ_PENDING, __ATOMIC_ACQ_REL);
	if (atomic_load(&k->in_guest))
		vmx_hw_recall(k->hw);
}

/* ---- set-up --------------------------------------------------------------- */
/* The capabilities of the model hardware (not of a real CPU): no control
 * is required; cr0 needs NE, as on every VMX CPU; cr4 cannot have VMXE,
 * because KVM offers the guest no VMX. Everything else the entry checks
 * of the hardware decide. */
static void fill_caps(struct foc_vmx_caps *c)
{
	memset(c, 0, sizeof *c);
	c->caps[FOC_VMX_BASIC] = (UINT64_C(0x1000) << 32) | 1; /* 4 KiB VMCS */
	c->caps[FOC_VMX_TRUE_PROCBASED_CTLS] =
		(uint64_t)(CTRL0_IRQ_WINDOW | (1u << 7) | (1u << 31)) << 32;
	c->caps[FOC_VMX_TRUE_EXIT_CTLS] = (uint64_t)EXIT_SAVE_EFER << 32;
	c->caps[FOC_VMX_TRUE_ENTRY_CTLS] =
		(uint64_t)(ENTRY_LOAD_EFER | (1u << 9)) << 32;
	c->caps[FOC_VMX_CR0_FIXED0] = CR0_NE;
	c->caps[FOC_VMX_CR0_FIXED1] = ~UINT64_C(0);
	c->caps[FOC_VMX_CR4_FIXED0] = 0;
	c->caps[FOC_VMX_CR4_FIXED1] = ~CR4_VMXE;
	c->caps[FOC_VMX_VMCS_ENUM] = FOC_VMCS_CR2 & 0x3ffu; /* vmx.cpp */
	/* EPT, unrestricted guest */
	c->caps[FOC_VMX_PROCBASED_CTLS2] = (uint64_t)((1u << 1) | (1u << 7)) << 32;
}

int foc_kernel_create(struct roof_vm *vm, struct roof_vcpu *v,
		      struct foc_kernel **out)
{
	*out = NULL;
	struct foc_kernel *k = calloc(1, sizeof *k);
	struct foc_vcpu_page *page = aligned_alloc(4096, sizeof *page);
	if (!k || !page) {
		free(k);
		free(page);
		return roof_vm_fail(vm, ROOF_ENOMEM, "foc: out of memory");
	}
	memset(page, 0, sizeof *page);
	int rc = vmx_model_vcpu_hw(vm, v, &v->counters.substrate_ioctls, &k->hw);
	if (rc) {
		free(page);
		free(k);
		return rc;
	}
	k->v = v;
	k->page = page;
	foc_kernel_offset_table(k->hdr + FOC_VMCS_OFFSET_TABLE);
	uint32_t cr2 = FOC_VMCS_CR2;
	memcpy(k->hdr + FOC_VMCS_CR2_INDEX, &cr2, sizeof cr2);
	/* Vmx::init_vmcs_infos(): caps, cr2 index, offset table */
	page->vcpu.version = FOC_VCPU_STATE_VERSION;
	fill_caps(&k->caps);
	page->caps = k->caps;
	memcpy(page->vmcs, k->hdr, FOC_VMCS_DATA);
	atomic_init(&k->irq_pending, false);
	atomic_init(&k->in_guest, false);
	*out = k;
	return ROOF_OK;
}

void foc_kernel_destroy(struct foc_kernel *k)
{
	if (!k)
		return;
	vmx_hw_destroy(k->hw);
	free(k->page);
	free(k);
}

struct foc_vcpu_page *foc_kernel_page(struct foc_kernel *k)
{
	return k->page;
}

struct vmx_hw *foc_kernel_hw(struct foc_kernel *k)
{
	return k->hw;
}

int foc_kernel_run_error(const struct foc_kernel *k)
{
	return k->run_rc;
}

int foc_kernel_startup(struct foc_kernel *k, const uint64_t need[ROOF_EXIT_COUNT])
{
	for (unsigned e = 0; e < ROOF_EXIT_COUNT; e++)
		vmx_hw_set_need(k->hw, (roof_exit)e, need[e]);
	vmx_hw_synthetic(k->hw, true);
	/* Fiasco hands out a zeroed page; a VMM cannot run a zero VMCS, so
	 * the model starts the page from the hardware's reset state: the
	 * controls now, the guest state when read. */
	k->initial = true;
	k->filled = 0;
	for (size_t i = 0; i < NFIELDS; i++) {
		const struct kfield *f = &fields[i];
		if ((f->flags & K_BACKED) && (f->flags & K_LOAD) &&
		    !(f->flags & (K_STORE | K_REFRESH))) {
			uint64_t v;
			if (vmx_hw_vmread(k->hw, f->field, &v))
				return fail(k, ROOF_EKERNEL, "VMREAD");
			if (f->field == VMCS_ENTRY_INTR_INFO)
				v &= ~(uint64_t)(INJ_VALID | INJ_REQ_IRQ_WIN);
			page_put(k, f->field, v);
		}
	}
	/* the guest's view at reset is the hardware's: shadows = cr0/cr4 */
	uint64_t cr0, cr4;
	if (vmx_hw_vmread(k->hw, VMCS_GUEST_CR0, &cr0) ||
	    vmx_hw_vmread(k->hw, VMCS_GUEST_CR4, &cr4))
		return fail(k, ROOF_EKERNEL, "VMREAD");
	put_at(k->page->vmcs, off_of(k, VMCS_CR0_SHADOW), 8, cr0);
	put_at(k->page->vmcs, off_of(k, VMCS_CR4_SHADOW), 8, cr4);
	page_put(k, VMCS_EXIT_REASON, ROOF_NATIVE_STARTUP);
	return 0;
}
