/*
 * test_foc_abi.c - the Fiasco.OC model without a vCPU: the vCPU state page
 * layout (kernels/foc/client/foc_abi.h) against the figures of its sources,
 * the software-VMCS offset table and field formula (l4sys __vm-vmx.h at
 * 03f84354b, fiasco vmx.cpp at fee4f8ed~1), and the client
 * (kernels/foc/client/foc_client.c) driven by a fake kernel: exit decoding,
 * the conversions of Genode's vm.cc, both policies' page traffic, FPU
 * instructions and crossings, the recall, a failing kernel; and the
 * client's transfer plan (kernels/foc/client/foc_plan.c) against the page
 * layout and a field-by-field copy, with both copy routines (nasm and C).
 */
#include <stdlib.h>
#include <string.h>

#include "../kernels/foc/foc_kernel.h"
#include "x86_arch.h"
#include "fuzz/rng.h"
#include "roof_test.h"

/* ---- layout ------------------------------------------------------------------- */
static void test_page_layout(void **state)
{
	(void)state;
	/* l4_vcpu_state_t, amd64 (ARCH-amd64/__vcpu-arch.h, vcpu.h) */
	assert_int_equal(offsetof(struct foc_vcpu_page, vcpu.version), 0);
	assert_int_equal(offsetof(struct foc_vcpu_page, vcpu.r.r15), 0x40);
	assert_int_equal(offsetof(struct foc_vcpu_page, vcpu.r.r8), 0x78);
	assert_int_equal(offsetof(struct foc_vcpu_page, vcpu.r.di), 0x80);
	assert_int_equal(offsetof(struct foc_vcpu_page, vcpu.r.ax), 0xb8);
	assert_int_equal(offsetof(struct foc_vcpu_page, vcpu.r.gs), 0x10e);
	assert_int_equal(offsetof(struct foc_vcpu_page, vcpu.i.tag), 0x148);
	assert_int_equal(offsetof(struct foc_vcpu_page, vcpu.saved_state), 0x152);
	assert_int_equal(offsetof(struct foc_vcpu_page, vcpu.entry_ip), 0x168);
	/* Vmx::init_vmcs_infos(): caps at +0x200, cr2 index at +0x410,
	 * offset table at +0x420; data from +0x440 (granule 1) */
	assert_int_equal(offsetof(struct foc_vcpu_page, caps), 0x200);
	assert_int_equal(offsetof(struct foc_vcpu_page, vmcs) + FOC_VMCS_CR2_INDEX,
			 0x410);
	assert_int_equal(offsetof(struct foc_vcpu_page, vmcs) +
				 FOC_VMCS_OFFSET_TABLE, 0x420);
	assert_int_equal(offsetof(struct foc_vcpu_page, vmcs) + FOC_VMCS_DATA,
			 0x440);
	/* l4_vm_vmx_get_caps_default1: u32 index 2 * 13 */
	assert_int_equal(offsetof(struct foc_vcpu_page, caps.dfl1) - 0x200,
			 FOC_VMX_NUM_CAPS * 8);
	assert_int_equal(sizeof(struct foc_vcpu_page), 4096);
}

/* vmx.cpp master_offsets[] worked out by hand from its definition: the
 * largest field index is 0x4d (F_max_64bit_guest = 0x284d), so a block is
 * 2 (16-bit), 5 (64-bit), 3 (32-bit), 5 (natural) granules, in the order
 * control, read-only, guest, starting at granule 1. */
static const uint8_t fiasco_master_offsets[32] = {
	1, 16, 31, 0, 0, 2, 1, 2,  3, 18, 33, 0, 0, 0, 0, 0,
	8, 23, 38, 0, 0, 0, 0, 0,  11, 26, 41, 0, 1, 46, 0, 0,
};

static void test_offset_table(void **state)
{
	(void)state;
	uint8_t t[32];
	foc_kernel_offset_table(t);
	assert_memory_equal(t, fiasco_master_offsets, sizeof t);
	/* the fields end inside the page */
	assert_true(t[FOC_TABLE_END] * 64u <= FOC_VMCS_SIZE);
}

/* A VMCS header carrying the kernel's table. */
static void header(uint8_t vmcs[FOC_VMCS_DATA])
{
	memset(vmcs, 0, FOC_VMCS_DATA);
	foc_kernel_offset_table(vmcs + FOC_VMCS_OFFSET_TABLE);
}

static void test_field_formula(void **state)
{
	(void)state;
	uint8_t vmcs[FOC_VMCS_SIZE];
	header(vmcs);
	/* offset = table[field >> 10] * 64 + ((field & 0x3ff) << shift) */
	assert_int_equal(foc_vmcs_offset(vmcs, VMCS_EXIT_REASON), 23 * 64 + (2 << 1));
	assert_int_equal(foc_vmcs_offset(vmcs, VMCS_GUEST_ES_SEL), 31 * 64);
	assert_int_equal(foc_vmcs_offset(vmcs, VMCS_GUEST_RIP), 41 * 64 + (0x1e << 2));
	assert_int_equal(foc_vmcs_offset(vmcs, VMCS_TSC_OFFSET), 3 * 64 + (0x10 << 2));
	/* the high half of a 64-bit field (vm.cc TSC_OFF_HI) is 4 bytes on */
	assert_int_equal(foc_vmcs_offset(vmcs, VMCS_TSC_OFFSET + 1),
			 foc_vmcs_offset(vmcs, VMCS_TSC_OFFSET) + 4);
	assert_int_equal(foc_vmcs_offset(vmcs, FOC_VMCS_CR2), 41 * 64 + (0x3e << 2));
	assert_int_equal(foc_vmcs_offset(vmcs, FOC_VMCS_MSR_KERNEL_GS_BASE),
			 33 * 64 + (0x4c << 2));
	/* no block for host fields, nothing with the reserved bits 12 or 15,
	 * nothing beyond the page */
	assert_int_equal(foc_vmcs_offset(vmcs, 0x0c00), 0);
	assert_int_equal(foc_vmcs_offset(vmcs, 0x6c16), 0);
	assert_int_equal(foc_vmcs_offset(vmcs, 0x1000), 0);
	assert_int_equal(foc_vmcs_offset(vmcs, 0x8800), 0);
	assert_int_equal(foc_vmcs_offset(vmcs, 0x6bfe), 0);
	/* vmx.cpp check_offsets(): every index up to the largest stays in its
	 * block, blocks do not overlap */
	uint8_t owner[FOC_VMCS_SIZE];
	memset(owner, 0xff, sizeof owner);
	for (unsigned type = 0; type < 3; type++)
		for (unsigned w = 0; w < 4; w++)
			for (unsigned idx = 0; idx <= 0x4d; idx += 2) {
				uint32_t f = (w << 13) | (type << 10) | idx;
				uint32_t off = foc_vmcs_offset(vmcs, f);
				assert_true(off >= FOC_VMCS_DATA);
				for (unsigned b = 0; b < foc_vmcs_width(f); b++) {
					assert_int_equal(owner[off + b], 0xff);
					owner[off + b] = (uint8_t)(type * 4 + w);
				}
			}
}

/* ---- the client against a fake kernel ------------------------------------------- */
struct fake {
	struct foc_vcpu_page *page;
	unsigned resumes, irq_receives, fpu_reads, fpu_writes;
	uint64_t synced;  /* groups page_sync was asked for */
	int tag;          /* what the next resume returns */
	uint32_t reason;  /* and the exit it stores */
	uint64_t qual, rip;
	uint32_t insn_len;
	uint8_t guest_fpu[FOC_FXSAVE_SIZE];
	uint8_t written_fpu[FOC_FXSAVE_SIZE];
};

static void put(struct foc_vcpu_page *p, uint32_t field, uint64_t v)
{
	uint32_t off = foc_vmcs_offset(p->vmcs, field);
	assert_true(off != 0);
	memcpy(p->vmcs + off, &v, foc_vmcs_width(field));
}

static uint64_t get(struct foc_vcpu_page *p, uint32_t field)
{
	uint64_t v = 0;
	uint32_t off = foc_vmcs_offset(p->vmcs, field);
	assert_true(off != 0);
	memcpy(&v, p->vmcs + off, foc_vmcs_width(field));
	return v;
}

static int f_resume(void *k)
{
	struct fake *f = k;
	f->resumes++;
	if (f->tag < 0)
		return f->tag;
	put(f->page, VMCS_EXIT_REASON, f->reason);
	put(f->page, VMCS_EXIT_QUALIFICATION, f->qual);
	put(f->page, VMCS_EXIT_INSTR_LEN, f->insn_len);
	put(f->page, VMCS_GUEST_RIP, f->rip);
	return f->tag;
}

static void f_irq_receive(void *k)
{
	struct fake *f = k;
	f->irq_receives++;
	f->page->vcpu.sticky_flags &= (uint16_t)~FOC_VCPU_SF_IRQ_PENDING;
}

static int f_page_sync(void *k, uint64_t groups)
{
	((struct fake *)k)->synced |= groups;
	return 0;
}

static int f_fpu_from(void *k, uint8_t image[FOC_FXSAVE_SIZE])
{
	struct fake *f = k;
	f->fpu_reads++;
	memcpy(image, f->guest_fpu, FOC_FXSAVE_SIZE);
	return 0;
}

static int f_fpu_to(void *k, const uint8_t image[FOC_FXSAVE_SIZE])
{
	struct fake *f = k;
	f->fpu_writes++;
	memcpy(f->written_fpu, image, FOC_FXSAVE_SIZE);
	return 0;
}

static const char *f_error(void *k)
{
	(void)k;
	return "fake kernel: entry refused";
}

static const struct foc_kernel_ops fake_ops = {
	f_resume, f_irq_receive, f_page_sync, f_fpu_from, f_fpu_to, f_error,
};

static const void *no_mem(void *ctx, uint64_t gpa, uint64_t len)
{
	(void)ctx, (void)gpa, (void)len;
	return NULL;
}

struct rig {
	struct foc_client c; /* 64-byte aligned first member */
	roof_state st __attribute__((aligned(64)));
	struct roof_vcpu v;
	struct foc_vcpu_page page __attribute__((aligned(4096)));
	struct fake f;
	unsigned handled;
	uint64_t seen_si;
	bool read_si, read_fpu, write_inj;
};

static struct rig *rig_new(bool genode)
{
	struct rig *r = aligned_alloc(4096, sizeof *r);
	assert_non_null(r);
	memset(r, 0, sizeof *r);
	header(r->page.vmcs);
	uint32_t cr2 = FOC_VMCS_CR2;
	memcpy(r->page.vmcs + FOC_VMCS_CR2_INDEX, &cr2, sizeof cr2);
	r->f.page = &r->page;
	for (unsigned i = 0; i < FOC_FXSAVE_SIZE; i++)
		r->f.guest_fpu[i] = (uint8_t)(i * 7);
	roof_core_init(&r->v, &r->st, 0, &foc_client_hot, &r->c, NULL, NULL);
	struct vmx_exit_env env = {no_mem, NULL, NULL};
	assert_int_equal(foc_client_init(&r->c, &r->v, &r->page, &fake_ops,
					 &r->f, &env, genode),
			 0);
	foc_client_thread_init(&r->c);
	for (unsigned e = 0; e < ROOF_EXIT_COUNT; e++)
		r->v.implicit[e] = vmx_exit_implicit((roof_exit)e);
	r->v.force_hop = genode;
	return r;
}

/* ---- the transfer plan ------------------------------------------------------------ */
/* A page whose VMCS header is the kernel's: table and cr2 index. */
static void fiasco_header(struct foc_vcpu_page *p)
{
	header(p->vmcs);
	uint32_t cr2 = FOC_VMCS_CR2;
	memcpy(p->vmcs + FOC_VMCS_CR2_INDEX, &cr2, sizeof cr2);
}

/* The plain fields field by field, as the client copied them before the
 * plan: what the plan must do (foc_plan.c names the conversions left out:
 * access rights, cr0/cr4, ip_len, sysenter_cs, ctrl_primary, INJ, TSC). */
#define GPRS(X)                                                               \
	X(ACDB, ax) X(ACDB, cx) X(ACDB, dx) X(ACDB, bx) X(EBSD, bp)          \
	X(EBSD, si) X(EBSD, di) X(R8_R15, r8) X(R8_R15, r9) X(R8_R15, r10)   \
	X(R8_R15, r11) X(R8_R15, r12) X(R8_R15, r13) X(R8_R15, r14)          \
	X(R8_R15, r15)
#define SEGMENTS(X)                                                           \
	X(ESDS, es, ES) X(ESDS, ds, DS) X(FSGS, fs, FS) X(FSGS, gs, GS)      \
	X(CSSS, cs, CS) X(CSSS, ss, SS) X(TR, tr, TR) X(LDTR, ldtr, LDTR)
#define FIELDS(X)                                                             \
	X(ESP, sp, VMCS_GUEST_RSP) X(EIP, ip, VMCS_GUEST_RIP)                \
	X(EFL, flags, VMCS_GUEST_RFLAGS)                                     \
	X(GDTR, gdtr.limit, VMCS_GUEST_GDTR_LIMIT)                           \
	X(GDTR, gdtr.base, VMCS_GUEST_GDTR_BASE)                             \
	X(IDTR, idtr.limit, VMCS_GUEST_IDTR_LIMIT)                           \
	X(IDTR, idtr.base, VMCS_GUEST_IDTR_BASE)                             \
	X(CR, cr2, FOC_VMCS_CR2) X(CR, cr3, VMCS_GUEST_CR3)                  \
	X(DR, dr7, VMCS_GUEST_DR7)                                           \
	X(SYS, sysenter_sp, VMCS_GUEST_SYSENTER_ESP)                         \
	X(SYS, sysenter_ip, VMCS_GUEST_SYSENTER_EIP)                         \
	X(QUAL, qual_primary, VMCS_EXIT_QUALIFICATION)                       \
	X(QUAL, qual_secondary, VMCS_GUEST_PHYS_ADDR)                        \
	X(CTRL, ctrl_secondary, VMCS_PROC_CTLS2)                             \
	X(STA, intr_state, VMCS_GUEST_INTERRUPTIBILITY)                      \
	X(STA, actv_state, VMCS_GUEST_ACTIVITY)                              \
	X(EFER, efer, VMCS_GUEST_EFER)                                       \
	X(SYSCALL, star, FOC_VMCS_MSR_STAR)                                  \
	X(SYSCALL, lstar, FOC_VMCS_MSR_LSTAR)                                \
	X(SYSCALL, cstar, FOC_VMCS_MSR_CSTAR)                                \
	X(SYSCALL, fmask, FOC_VMCS_MSR_SYSCALL_MASK)                         \
	X(SYSCALL, kernel_gs_base, FOC_VMCS_MSR_KERNEL_GS_BASE)

static void ref_gather(struct foc_vcpu_page *p, roof_state *s, uint64_t g)
{
#define GPR_IN(grp, reg)                                                      \
	if (g & ROOF_G_##grp)                                                 \
		s->reg = p->vcpu.r.reg;
#define SEG_IN(grp, m, VMX)                                                   \
	if (g & ROOF_G_##grp) {                                               \
		s->m.sel = (uint16_t)get(p, VMCS_GUEST_##VMX##_SEL);          \
		s->m.limit = (uint32_t)get(p, VMCS_GUEST_##VMX##_LIMIT);      \
		s->m.base = get(p, VMCS_GUEST_##VMX##_BASE);                  \
	}
#define FIELD_IN(grp, m, f)                                                   \
	if (g & ROOF_G_##grp)                                                 \
		s->m = get(p, f);
	GPRS(GPR_IN)
	SEGMENTS(SEG_IN)
	FIELDS(FIELD_IN)
#undef GPR_IN
#undef SEG_IN
#undef FIELD_IN
}

static void ref_scatter(const roof_state *s, struct foc_vcpu_page *p, uint64_t g)
{
	g &= ~ROOF_G_QUAL; /* exit information: never written back */
#define GPR_OUT(grp, reg)                                                     \
	if (g & ROOF_G_##grp)                                                 \
		p->vcpu.r.reg = s->reg;
#define SEG_OUT(grp, m, VMX)                                                  \
	if (g & ROOF_G_##grp) {                                               \
		put(p, VMCS_GUEST_##VMX##_SEL, s->m.sel);                     \
		put(p, VMCS_GUEST_##VMX##_LIMIT, s->m.limit);                 \
		put(p, VMCS_GUEST_##VMX##_BASE, s->m.base);                   \
	}
#define FIELD_OUT(grp, m, f)                                                  \
	if (g & ROOF_G_##grp)                                                 \
		put(p, f, s->m);
	GPRS(GPR_OUT)
	SEGMENTS(SEG_OUT)
	FIELDS(FIELD_OUT)
#undef GPR_OUT
#undef SEG_OUT
#undef FIELD_OUT
}

/* The groups with plain fields, and how many each has. */
#define PLANNED                                                               \
	(ROOF_G_ACDB | ROOF_G_EBSD | ROOF_G_R8_R15 | ROOF_G_ESP | ROOF_G_EIP | \
	 ROOF_G_EFL | ROOF_G_ESDS | ROOF_G_FSGS | ROOF_G_CSSS | ROOF_G_TR |   \
	 ROOF_G_LDTR | ROOF_G_GDTR | ROOF_G_IDTR | ROOF_G_CR | ROOF_G_DR |    \
	 ROOF_G_SYS | ROOF_G_QUAL | ROOF_G_CTRL | ROOF_G_STA | ROOF_G_EFER |  \
	 ROOF_G_SYSCALL)

static const struct roof_copy_desc *desc_of(const struct roof_transfer_plan *p,
					    uint32_t state_off)
{
	for (uint32_t i = 0; i < p->ndesc; i++)
		if (p->desc[i].state_off == state_off)
			return &p->desc[i];
	fail_msg("no descriptor for state offset %u", state_off);
	return NULL;
}

static void test_plan_matches_page_layout(void **state)
{
	(void)state;
	struct foc_vcpu_page *page = aligned_alloc(4096, sizeof *page);
	struct roof_transfer_plan *p = malloc(sizeof *p);
	assert_non_null(page);
	assert_non_null(p);
	memset(page, 0, sizeof *page);
	fiasco_header(page);
	assert_int_equal(foc_plan_init(p, page), 0);
	assert_int_equal(p->copyable, PLANNED);
	static const struct {
		unsigned bit, fields;
	} counts[] = {
		{ROOF_GB_ACDB, 4}, {ROOF_GB_EBSD, 3}, {ROOF_GB_R8_R15, 8},
		{ROOF_GB_ESP, 1},  {ROOF_GB_EIP, 1},  {ROOF_GB_EFL, 1},
		{ROOF_GB_ESDS, 6}, {ROOF_GB_FSGS, 6}, {ROOF_GB_CSSS, 6},
		{ROOF_GB_TR, 3},   {ROOF_GB_LDTR, 3}, {ROOF_GB_GDTR, 2},
		{ROOF_GB_IDTR, 2}, {ROOF_GB_CR, 2},   {ROOF_GB_DR, 1},
		{ROOF_GB_SYS, 2},  {ROOF_GB_QUAL, 2}, {ROOF_GB_CTRL, 1},
		{ROOF_GB_STA, 2},  {ROOF_GB_EFER, 1}, {ROOF_GB_SYSCALL, 5},
	};
	uint64_t total = 0;
	for (size_t i = 0; i < sizeof counts / sizeof counts[0]; i++) {
		assert_int_equal(p->count[counts[i].bit], counts[i].fields);
		total += counts[i].fields;
	}
	assert_int_equal(p->ndesc, total);
	assert_int_equal(total, 62); /* README: "On the plan (62 fields)" */
	assert_int_equal(foc_plan_fields(p, ROOF_G_EVERYTHING), total);
	/* the io-out exit's groups: ACDB 4, EIP 1 (+ ip_len in C), EFER 1,
	 * CSSS 6 (+ 2 access rights in C) */
	assert_int_equal(foc_plan_fields(p, ROOF_G_ACDB | ROOF_G_EIP |
						    ROOF_G_EFER | ROOF_G_CSSS |
						    ROOF_G_INJ | ROOF_G_FPU),
			 12);
	/* page offsets worked out by hand (README: the formula and table) */
	const struct {
		uint32_t state_off, page_off, len;
	} at[] = {
		{offsetof(roof_state, r15), 0x40, 8},      /* l4_vcpu_regs_t */
		{offsetof(roof_state, ax), 0xb8, 8},
		{offsetof(roof_state, ip), 0x400 + 41 * 64 + (0x1e << 2), 8},
		{offsetof(roof_state, cr2), 0x400 + 41 * 64 + (0x3e << 2), 8},
		{offsetof(roof_state, es.sel), 0x400 + 31 * 64, 2},
		{offsetof(roof_state, ldtr.limit), 0x400 + 38 * 64 + (0x0c << 1), 4},
		{offsetof(roof_state, efer), 0x400 + 33 * 64 + (0x06 << 2), 8},
		{offsetof(roof_state, qual_secondary), 0x400 + 18 * 64, 8},
		{offsetof(roof_state, ctrl_secondary), 0x400 + 8 * 64 + (0x1e << 1), 4},
		{offsetof(roof_state, kernel_gs_base), 0x400 + 33 * 64 + (0x4c << 2), 8},
	};
	for (size_t i = 0; i < sizeof at / sizeof at[0]; i++) {
		const struct roof_copy_desc *d = desc_of(p, at[i].state_off);
		assert_int_equal(d->native_off, at[i].page_off);
		assert_int_equal(d->len, at[i].len);
	}
	/* the cr2 field is the one the page's index names */
	uint32_t cr2_elsewhere = 0x6830; /* natural width, unused */
	memcpy(page->vmcs + FOC_VMCS_CR2_INDEX, &cr2_elsewhere, 4);
	assert_int_equal(foc_plan_init(p, page), 0);
	assert_int_equal(desc_of(p, offsetof(roof_state, cr2))->native_off,
			 0x400 + 41 * 64 + (0x30 << 2));
	/* refused: a cr2 index naming a 32-bit field, a table without the
	 * natural-width guest block, a scribbled table */
	uint32_t cr2_narrow = 0x482e;
	memcpy(page->vmcs + FOC_VMCS_CR2_INDEX, &cr2_narrow, 4);
	assert_int_equal(foc_plan_init(p, page), -1);
	fiasco_header(page);
	page->vmcs[FOC_VMCS_OFFSET_TABLE + 0x1a] = 0;
	assert_int_equal(foc_plan_init(p, page), -1);
	memset(page->vmcs + FOC_VMCS_OFFSET_TABLE, 0xff, 32);
	assert_int_equal(foc_plan_init(p, page), -1);
	free(p);
	free(page);
}

typedef uint64_t (*gather_fn)(const struct roof_transfer_plan *, uint64_t,
			      const void *, roof_state *);
typedef uint64_t (*scatter_fn)(const struct roof_transfer_plan *, uint64_t,
			       const roof_state *, void *);

/* Random pages, states and masks: gather and scatter through the plan, with
 * the nasm and the C routine, equal the field-by-field copy byte for byte
 * (nothing else in the state or the page changes); a scatter then gather
 * brings the plain fields back. */
static void test_plan_round_trip_random(void **state)
{
	(void)state;
	static const struct {
		const char *name;
		gather_fn gather;
		scatter_fn scatter;
	} impl[2] = {{"nasm", roof_gather_asm, roof_scatter_asm},
		     {"C", roof_gather_c, roof_scatter_c}};
	struct foc_vcpu_page *page = aligned_alloc(4096, 3 * sizeof *page);
	roof_state *st = aligned_alloc(64, 3 * sizeof *st);
	struct roof_transfer_plan *p = malloc(sizeof *p);
	assert_non_null(page);
	assert_non_null(st);
	assert_non_null(p);
	struct foc_vcpu_page *plan_page = page + 1, *ref_page = page + 2;
	roof_state *plan_st = st + 1, *ref_st = st + 2;
	uint64_t rng = 0xf0cf0cull;
	memset(page, 0, sizeof *page);
	fiasco_header(page);
	assert_int_equal(foc_plan_init(p, page), 0);
	uint8_t hdr[FOC_VMCS_DATA];
	memcpy(hdr, page->vmcs, sizeof hdr);
	for (unsigned round = 0; round < 400; round++) {
		rng_fill(&rng, (uint8_t *)page, sizeof *page);
		memcpy(page->vmcs, hdr, sizeof hdr);
		rng_fill(&rng, (uint8_t *)st, sizeof *st);
		uint64_t mask = rng_next(&rng) & foc_client_groups();
		if (round % 8 == 0)
			mask = foc_client_groups();
		for (unsigned i = 0; i < 2; i++) {
			memcpy(plan_st, st, sizeof *st);
			memcpy(ref_st, st, sizeof *st);
			uint64_t bytes = impl[i].gather(p, mask, page, plan_st);
			ref_gather(page, ref_st, mask);
			if (memcmp(plan_st, ref_st, sizeof *st))
				fail_msg("%s gather of mask 0x%llx differs from the "
					 "field-by-field copy (round %u)", impl[i].name,
					 (unsigned long long)mask, round);
			uint64_t want = 0;
			for (unsigned b = 0; b < ROOF_GB_LIMIT; b++)
				if (mask & p->copyable & (UINT64_C(1) << b))
					want += p->group_bytes[b];
			assert_int_equal(bytes, want);

			memcpy(plan_page, page, sizeof *page);
			memcpy(ref_page, page, sizeof *page);
			impl[i].scatter(p, mask & ~ROOF_G_QUAL, st, plan_page);
			ref_scatter(st, ref_page, mask);
			if (memcmp(plan_page, ref_page, sizeof *page))
				fail_msg("%s scatter of mask 0x%llx differs from the "
					 "field-by-field copy (round %u)", impl[i].name,
					 (unsigned long long)mask, round);
			/* and back: the scattered fields gather to the state */
			memcpy(plan_st, st, sizeof *st);
			impl[i].gather(p, mask & ~ROOF_G_QUAL, plan_page, plan_st);
			assert_memory_equal(plan_st, st, sizeof *st);
		}
	}
	free(p);
	free(st);
	free(page);
}

static roof_action on_guest_exit(roof_vcpu *v, roof_state *s, void *p)
{
	(void)v;
	struct rig *r = p;
	r->handled++;
	if (r->read_si)
		r->seen_si = roof_get_si(s);
	if (r->read_fpu)
		(void)roof_fpu_read(s);
	if (r->write_inj)
		roof_set_inj_info(s, (1u << 12)); /* request an irq window */
	return ROOF_RESUME;
}

static void handle(struct rig *r, roof_exit e, uint64_t mask)
{
	r->v.handlers[e] = (struct roof_handler_slot){on_guest_exit, r, mask,
						      ROOF_INLINE, 1};
}

/* STARTUP, then one io-out exit at rip 0x1000 (out 0x10, al: 2 bytes). */
static void run_io_exit(struct rig *r)
{
	foc_client_startup(&r->c);
	assert_int_equal(roof_dispatch_exit(&r->v), ROOF_RESUME);
	r->f.reason = VMX_EXIT_IO;
	r->f.qual = vmx_io_qualification(0x10, 1, 0, 0, 0) | VMX_IOQ_IMM;
	r->f.insn_len = 2;
	r->f.rip = 0x1000;
	r->page.vcpu.r.ax = 0x1122334455667788ull;
	r->page.vcpu.r.si = 0x5151;
	assert_int_equal(foc_client_resume(&r->c), 0);
	assert_int_equal(r->c.native, VMX_EXIT_IO);
	foc_client_deliver(&r->c, vmx_exit_unified(r->c.native));
	assert_int_equal(roof_dispatch_exit(&r->v), ROOF_RESUME);
}

static void test_tuned_io_exit(void **state)
{
	(void)state;
	struct rig *r = rig_new(false);
	handle(r, ROOF_EXIT_IO, 0);
	run_io_exit(r);
	struct roof_exit_io *io = &r->st.info.io;
	assert_int_equal(r->handled, 1);
	assert_int_equal(io->port, 0x10);
	assert_int_equal(io->dir, ROOF_DIR_OUT);
	assert_int_equal(io->size, 1);
	assert_int_equal(io->data, 0x88);
	/* VMX completion: rip + length written to the page */
	assert_int_equal(get(&r->page, VMCS_GUEST_RIP), 0x1002);
	/* the implicit groups only, from memory; one syscall */
	assert_int_equal(r->f.synced & ~vmx_exit_implicit(ROOF_EXIT_IO), 0);
	assert_int_equal(r->v.counters.crossings, 1);
	assert_int_equal(r->v.counters.misses, 0);
	/* the guest FPU went into the thread once (first entry), not per exit */
	assert_int_equal(r->v.counters.fpu_ops, 1);
	r->c.stats.page_reads = 0;
	assert_int_equal(foc_client_resume(&r->c), 0);
	foc_client_deliver(&r->c, vmx_exit_unified(r->c.native));
	assert_int_equal(roof_dispatch_exit(&r->v), ROOF_RESUME);
	assert_int_equal(r->v.counters.fpu_ops, 1);
	assert_int_equal(r->v.counters.crossings, 2);
	print_message("tuned io exit: %llu page reads\n",
		      (unsigned long long)r->c.stats.page_reads);
	/* ACDB 4 + EIP 2 + EFER 1 + CSSS 8, and the exit record's 5 */
	assert_int_equal(r->c.stats.page_reads, 20);
	free(r);
}

static void test_genode_io_exit(void **state)
{
	(void)state;
	struct rig *r = rig_new(true);
	handle(r, ROOF_EXIT_IO, 0);
	run_io_exit(r);
	/* vm.cc: every group read, FPU saved twice, the EP's restored, and
	 * before the resume the EP's saved and the guest's restored */
	assert_int_equal(r->st.valid & foc_client_groups(), foc_client_groups());
	assert_int_equal(r->v.counters.fpu_ops, 5);
	assert_int_equal(r->f.fpu_reads, 1);
	assert_memory_equal(r->st.fpu, r->f.guest_fpu, FOC_FXSAVE_SIZE);
	assert_int_equal(r->st.fpu_size, FOC_FXSAVE_SIZE);
	r->c.stats.page_reads = 0;
	assert_int_equal(foc_client_resume(&r->c), 0);
	foc_client_deliver(&r->c, vmx_exit_unified(r->c.native));
	assert_int_equal(roof_dispatch_exit(&r->v), ROOF_RESUME);
	assert_int_equal(r->v.counters.fpu_ops, 10);
	print_message("genode io exit: %llu page reads\n",
		      (unsigned long long)r->c.stats.page_reads);
	assert_true(r->c.stats.page_reads >= 4 * 20);
	free(r);
}

static void test_tuned_lazy_read_is_memory(void **state)
{
	(void)state;
	struct rig *r = rig_new(false);
	handle(r, ROOF_EXIT_IO, 0);
	r->read_si = true;
	run_io_exit(r);
	assert_int_equal(r->seen_si, 0x5151);
	assert_int_equal(r->v.counters.misses, 1);
	assert_true(r->f.synced & ROOF_G_EBSD);
	assert_int_equal(r->v.counters.crossings, 1); /* no kernel call */
	free(r);
}

static void test_tuned_fpu_only_when_asked(void **state)
{
	(void)state;
	struct rig *r = rig_new(false);
	handle(r, ROOF_EXIT_IO, ROOF_G_FPU);
	run_io_exit(r);
	/* the first entry's restore + one save for the mask */
	assert_int_equal(r->v.counters.fpu_ops, 2);
	assert_memory_equal(r->st.fpu, r->f.guest_fpu, FOC_FXSAVE_SIZE);
	/* a written image goes back with one restore before the entry */
	roof_fpu_write(&r->st)[0] = 0x5a;
	assert_int_equal(foc_client_hot.writeback(&r->v, ROOF_G_FPU), 0);
	r->handled = 0;
	handle(r, ROOF_EXIT_IO, 0);
	assert_int_equal(foc_client_resume(&r->c), 0);
	assert_int_equal(r->v.counters.fpu_ops, 3);
	assert_int_equal(r->f.fpu_writes, 1);
	assert_int_equal(r->f.written_fpu[0], 0x5a);
	/* leaving the hot loop saves it once; coming back restores it */
	foc_client_park(&r->c);
	assert_int_equal(r->v.counters.fpu_ops, 4);
	assert_int_equal(foc_client_resume(&r->c), 0);
	assert_int_equal(r->v.counters.fpu_ops, 5);
	free(r);
}

static void test_conversions(void **state)
{
	(void)state;
	struct rig *r = rig_new(false);
	handle(r, ROOF_EXIT_IO, ROOF_G_CR | ROOF_G_CSSS | ROOF_G_INJ);
	r->write_inj = true;
	/* hardware cr0 with NE forced, the VMM's cr0 in the shadow */
	put(&r->page, VMCS_GUEST_CR0, 0x30);
	put(&r->page, VMCS_CR0_SHADOW, 0x10);
	put(&r->page, VMCS_GUEST_CR4, 0x2620);
	put(&r->page, VMCS_CR4_SHADOW, 0x620);
	put(&r->page, VMCS_GUEST_CS_AR, 0xa09b); /* VMX: G, L, P, code */
	put(&r->page, FOC_VMCS_CR2, 0xdead000);
	run_io_exit(r);
	assert_int_equal(r->st.cr0, 0x10);
	assert_int_equal(r->st.cr4, 0x620);
	assert_int_equal(r->st.cr2, 0xdead000);
	assert_int_equal(r->st.cs.ar, 0xa9b);
	/* the irq-window request became the control, not the injection; HLT
	 * exiting stays set (vm.cc _vmcs_ctrl0) */
	assert_int_equal(get(&r->page, VMCS_PROC_CTLS), (1u << 2) | (1u << 7));
	assert_int_equal(get(&r->page, VMCS_ENTRY_INTR_INFO), 0);
	/* reads back with the request */
	assert_int_equal(foc_client_hot.fetch(&r->v, ROOF_G_INJ), 0);
	assert_int_equal(r->st.inj_info & (1u << 12), 1u << 12);
	/* a cr4 write keeps VMXE in the VMCS, the VMM's value in the shadow */
	r->st.cr4 = 0x20;
	assert_int_equal(foc_client_hot.writeback(&r->v, ROOF_G_CR), 0);
	assert_int_equal(get(&r->page, VMCS_GUEST_CR4), 0x2020);
	assert_int_equal(get(&r->page, VMCS_CR4_SHADOW), 0x20);
	assert_int_equal(get(&r->page, VMCS_GUEST_CR0), 0x10 & ~0x22ull);
	free(r);
}

static void test_recall_consumes_the_irq(void **state)
{
	(void)state;
	struct rig *r = rig_new(false);
	foc_client_startup(&r->c);
	r->page.vcpu.sticky_flags = FOC_VCPU_SF_IRQ_PENDING;
	r->f.tag = FOC_RESUME_IRQ;
	r->f.reason = VMX_EXIT_EXTERNAL_INTERRUPT;
	assert_int_equal(foc_client_resume(&r->c), 0);
	assert_int_equal(r->c.native, ROOF_NATIVE_RECALL);
	assert_int_equal(r->f.irq_receives, 1);
	assert_int_equal(r->page.vcpu.sticky_flags, 0);
	assert_int_equal(r->v.counters.crossings, 2);
	foc_client_deliver(&r->c, ROOF_EXIT_PAUSED);
	assert_int_equal(foc_client_hot.fetch(&r->v, ROOF_G_EIP), 0);
	assert_int_equal(r->st.ip_len, 0); /* an interrupt has no length */
	free(r);
}

static void test_failing_kernel(void **state)
{
	(void)state;
	struct rig *r = rig_new(true);
	foc_client_startup(&r->c);
	r->f.tag = ROOF_EKERNEL;
	assert_int_equal(foc_client_resume(&r->c), ROOF_EKERNEL);
	assert_int_equal(r->st.exit_reason, ROOF_EXIT_BACKEND_ERROR);
	assert_string_equal(r->st.info.error, "fake kernel: entry refused");
	/* the backend dispatches that exit: it stays the kernel's failure
	 * (the decode must not read the page's stale exit reason) */
	roof_dispatch_exit(&r->v);
	assert_int_equal(r->st.exit_reason, ROOF_EXIT_BACKEND_ERROR);
	assert_string_equal(r->st.info.error, "fake kernel: entry refused");
	/* an unknown VMX reason decodes to BACKEND_ERROR with a text */
	r->f.tag = FOC_RESUME_EXIT;
	r->f.reason = 62;
	assert_int_equal(foc_client_resume(&r->c), 0);
	foc_client_deliver(&r->c, vmx_exit_unified(r->c.native));
	roof_dispatch_exit(&r->v);
	assert_int_equal(r->st.exit_reason, ROOF_EXIT_BACKEND_ERROR);
	assert_non_null(r->st.info.error);
	free(r);
}

/* The plan needs the kernel's table when the vCPU is created; a table
 * scribbled over later still fails the exit, as before the plan. */
static void test_table_refused_or_scribbled(void **state)
{
	(void)state;
	struct rig *r = rig_new(false);
	struct foc_client *c = aligned_alloc(64, sizeof *c);
	assert_non_null(c);
	struct vmx_exit_env env = {no_mem, NULL, NULL};
	uint8_t table[32];
	memcpy(table, r->page.vmcs + FOC_VMCS_OFFSET_TABLE, sizeof table);
	memset(r->page.vmcs + FOC_VMCS_OFFSET_TABLE, 0xff, sizeof table);
	assert_int_equal(foc_client_init(c, &r->v, &r->page, &fake_ops, &r->f,
					 &env, false),
			 ROOF_EKERNEL);
	free(c);
	/* r->c was built with the good table; the VMM scribbles over it
	 * while the kernel stores an exit */
	memcpy(r->page.vmcs + FOC_VMCS_OFFSET_TABLE, table, sizeof table);
	foc_client_startup(&r->c);
	assert_int_equal(roof_dispatch_exit(&r->v), ROOF_RESUME);
	put(&r->page, VMCS_EXIT_REASON, VMX_EXIT_HLT);
	memset(r->page.vmcs + FOC_VMCS_OFFSET_TABLE, 0xff, sizeof table);
	assert_int_equal(foc_client_take_exit(&r->c, FOC_RESUME_EXIT), ROOF_EKERNEL);
	assert_int_equal(r->st.exit_reason, ROOF_EXIT_BACKEND_ERROR);
	assert_non_null(strstr(r->st.info.error, "no place for the exit reason"));
	memcpy(r->page.vmcs + FOC_VMCS_OFFSET_TABLE, table, sizeof table);
	assert_int_equal(foc_client_take_exit(&r->c, FOC_RESUME_EXIT), 0);
	assert_int_equal(r->c.native, VMX_EXIT_HLT);
	free(r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_page_layout),
		cmocka_unit_test(test_offset_table),
		cmocka_unit_test(test_field_formula),
		cmocka_unit_test(test_plan_matches_page_layout),
		cmocka_unit_test(test_plan_round_trip_random),
		cmocka_unit_test(test_tuned_io_exit),
		cmocka_unit_test(test_genode_io_exit),
		cmocka_unit_test(test_tuned_lazy_read_is_memory),
		cmocka_unit_test(test_tuned_fpu_only_when_asked),
		cmocka_unit_test(test_conversions),
		cmocka_unit_test(test_recall_consumes_the_irq),
		cmocka_unit_test(test_failing_kernel),
		cmocka_unit_test(test_table_refused_or_scribbled),
	};
	return cmocka_run_group_tests_name("foc_abi", tests, NULL, NULL);
}
