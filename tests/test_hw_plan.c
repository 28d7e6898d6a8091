/*
 * test_hw_plan.c - the base-hw Vcpu_state page's transfer plan
 * (kernels/hw/client/hw_vcpu_state.c): its descriptors cover exactly the
 * Register values of the page (never a charged flag or padding) and land in
 * the same group of roof_state; the charged flags kept in C; and, on random
 * pages, states and masks, the plan's translation both ways - through
 * roof_gather_c/roof_scatter_c, roof_gather_asm/roof_scatter_asm and the
 * client's own hw_page_to_state/hw_state_to_page - equals the field-by-field
 * translation below, one way and round trip.
 *
 * ROOF_HW_PLAN_CASES overrides the number of random cases (default 5000).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../kernels/hw/client/hw_client.h"
#include "fuzz/rng.h"
#include "roof_test.h"

/* Every Register of Vcpu_state, in header order (vcpu_state.h). */
#define PAGE_REGS(X)                                                        \
	X(ax) X(cx) X(dx) X(bx) X(bp) X(si) X(di) X(sp) X(ip) X(ip_len)      \
	X(flags) X(es) X(ds) X(fs) X(gs) X(cs) X(ss) X(tr) X(ldtr) X(gdtr)   \
	X(idtr) X(cr0) X(cr2) X(cr3) X(cr4) X(dr7) X(sysenter_ip)            \
	X(sysenter_sp) X(sysenter_cs) X(qual_primary) X(qual_secondary)      \
	X(ctrl_primary) X(ctrl_secondary) X(inj_info) X(inj_error)           \
	X(intr_state) X(actv_state) X(tsc) X(tsc_offset) X(tsc_aux) X(efer)  \
	X(pdpte_0) X(pdpte_1) X(pdpte_2) X(pdpte_3) X(r8) X(r9) X(r10)       \
	X(r11) X(r12) X(r13) X(r14) X(r15) X(star) X(lstar) X(cstar)         \
	X(fmask) X(kernel_gs_base) X(tpr) X(tpr_threshold) X(xcr0) X(xss)
#define PAGE_REG_COUNT 62

#define PAGE_SIZE_HW ((uint32_t)sizeof(struct hw_vcpu_state))
#define PLANNED (ROOF_G_EVERYTHING & ~(ROOF_G_TSC | ROOF_G_FPU))

/* ---- the field-by-field translation (the reference) ----------------------- */
#define IN(g) (groups & ROOF_G_##g)
#define V(r) (p->r.value)

static void seg_to_state(struct roof_segment *d, const struct hw_reg_segment *r)
{
	d->sel = r->value.sel;
	d->ar = r->value.ar;
	d->limit = r->value.limit;
	d->base = r->value.base;
}

static void dtr_to_state(struct roof_dtr *d, const struct hw_reg_range *r)
{
	d->limit = r->value.limit;
	d->reserved = 0;
	d->base = r->value.base;
}

static void ref_to_state(const struct hw_vcpu_state *p, roof_state *s,
			 uint64_t groups)
{
	if (IN(ACDB)) {
		s->ax = V(ax); s->cx = V(cx); s->dx = V(dx); s->bx = V(bx);
	}
	if (IN(EBSD)) {
		s->bp = V(bp); s->si = V(si); s->di = V(di);
	}
	if (IN(ESP))
		s->sp = V(sp);
	if (IN(EIP)) {
		s->ip = V(ip); s->ip_len = V(ip_len);
	}
	if (IN(EFL))
		s->flags = V(flags);
	if (IN(ESDS)) {
		seg_to_state(&s->es, &p->es); seg_to_state(&s->ds, &p->ds);
	}
	if (IN(FSGS)) {
		seg_to_state(&s->fs, &p->fs); seg_to_state(&s->gs, &p->gs);
	}
	if (IN(CSSS)) {
		seg_to_state(&s->cs, &p->cs); seg_to_state(&s->ss, &p->ss);
	}
	if (IN(TR))
		seg_to_state(&s->tr, &p->tr);
	if (IN(LDTR))
		seg_to_state(&s->ldtr, &p->ldtr);
	if (IN(GDTR))
		dtr_to_state(&s->gdtr, &p->gdtr);
	if (IN(IDTR))
		dtr_to_state(&s->idtr, &p->idtr);
	if (IN(CR)) {
		s->cr0 = V(cr0); s->cr2 = V(cr2); s->cr3 = V(cr3);
		s->cr4 = V(cr4);
	}
	if (IN(DR))
		s->dr7 = V(dr7);
	if (IN(SYS)) {
		s->sysenter_cs = V(sysenter_cs);
		s->sysenter_sp = V(sysenter_sp);
		s->sysenter_ip = V(sysenter_ip);
	}
	if (IN(QUAL)) {
		s->qual_primary = V(qual_primary);
		s->qual_secondary = V(qual_secondary);
	}
	if (IN(CTRL)) {
		s->ctrl_primary = V(ctrl_primary);
		s->ctrl_secondary = V(ctrl_secondary);
	}
	if (IN(INJ)) {
		s->inj_info = V(inj_info); s->inj_error = V(inj_error);
	}
	if (IN(STA)) {
		s->intr_state = V(intr_state); s->actv_state = V(actv_state);
	}
	if (IN(TSC)) {
		s->tsc = V(tsc); s->tsc_offset = V(tsc_offset);
	}
	if (IN(EFER))
		s->efer = V(efer);
	if (IN(PDPTE)) {
		s->pdpte[0] = V(pdpte_0); s->pdpte[1] = V(pdpte_1);
		s->pdpte[2] = V(pdpte_2); s->pdpte[3] = V(pdpte_3);
	}
	if (IN(R8_R15)) {
		s->r8 = V(r8); s->r9 = V(r9); s->r10 = V(r10); s->r11 = V(r11);
		s->r12 = V(r12); s->r13 = V(r13); s->r14 = V(r14);
		s->r15 = V(r15);
	}
	if (IN(SYSCALL)) {
		s->star = V(star); s->lstar = V(lstar); s->cstar = V(cstar);
		s->fmask = V(fmask); s->kernel_gs_base = V(kernel_gs_base);
	}
	if (IN(TPR)) {
		s->tpr = V(tpr); s->tpr_threshold = V(tpr_threshold);
	}
	if (IN(TSC_AUX))
		s->tsc_aux = V(tsc_aux);
	if (IN(XSAVE)) {
		s->xcr0 = V(xcr0); s->xss = V(xss);
	}
	if (IN(FPU)) {
		uint64_t n = p->fpu.state_size;
		if (n > ROOF_FPU_SIZE)
			n = ROOF_FPU_SIZE;
		memcpy(s->fpu, p->fpu.buffer, n);
		memset(s->fpu + n, 0, ROOF_FPU_SIZE - n);
		s->fpu_size = (uint32_t)n;
	}
}

#define CHARGE(r, v) (p->r.value = (v), p->r.charged = true)

static void seg_to_page(struct hw_reg_segment *r, const struct roof_segment *g)
{
	r->value.sel = g->sel;
	r->value.ar = g->ar;
	r->value.limit = g->limit;
	r->value.base = g->base;
	r->charged = true;
}

static void dtr_to_page(struct hw_reg_range *r, const struct roof_dtr *d)
{
	r->value.limit = d->limit;
	r->value.base = d->base;
	r->charged = true;
}

static void ref_to_page(struct hw_vcpu_state *p, const roof_state *s,
			uint64_t groups, uint64_t tsc_offset_seen)
{
	if (IN(ACDB)) {
		CHARGE(ax, s->ax); CHARGE(cx, s->cx); CHARGE(dx, s->dx);
		CHARGE(bx, s->bx);
	}
	if (IN(EBSD)) {
		CHARGE(bp, s->bp); CHARGE(si, s->si); CHARGE(di, s->di);
	}
	if (IN(ESP))
		CHARGE(sp, s->sp);
	if (IN(EIP)) {
		CHARGE(ip, s->ip); CHARGE(ip_len, s->ip_len);
	}
	if (IN(EFL))
		CHARGE(flags, s->flags);
	if (IN(ESDS)) {
		seg_to_page(&p->es, &s->es); seg_to_page(&p->ds, &s->ds);
	}
	if (IN(FSGS)) {
		seg_to_page(&p->fs, &s->fs); seg_to_page(&p->gs, &s->gs);
	}
	if (IN(CSSS)) {
		seg_to_page(&p->cs, &s->cs); seg_to_page(&p->ss, &s->ss);
	}
	if (IN(TR))
		seg_to_page(&p->tr, &s->tr);
	if (IN(LDTR))
		seg_to_page(&p->ldtr, &s->ldtr);
	if (IN(GDTR))
		dtr_to_page(&p->gdtr, &s->gdtr);
	if (IN(IDTR))
		dtr_to_page(&p->idtr, &s->idtr);
	if (IN(CR)) {
		CHARGE(cr0, s->cr0); CHARGE(cr2, s->cr2); CHARGE(cr3, s->cr3);
		CHARGE(cr4, s->cr4);
	}
	if (IN(DR))
		CHARGE(dr7, s->dr7);
	if (IN(SYS)) {
		CHARGE(sysenter_cs, s->sysenter_cs);
		CHARGE(sysenter_sp, s->sysenter_sp);
		CHARGE(sysenter_ip, s->sysenter_ip);
	}
	if (IN(QUAL)) {
		CHARGE(qual_primary, s->qual_primary);
		CHARGE(qual_secondary, s->qual_secondary);
	}
	if (IN(CTRL)) {
		CHARGE(ctrl_primary, s->ctrl_primary);
		CHARGE(ctrl_secondary, s->ctrl_secondary);
	}
	if (IN(INJ)) {
		CHARGE(inj_info, s->inj_info); CHARGE(inj_error, s->inj_error);
	}
	if (IN(STA)) {
		CHARGE(intr_state, s->intr_state);
		CHARGE(actv_state, s->actv_state);
	}
	if (IN(TSC)) {
		CHARGE(tsc, s->tsc);
		CHARGE(tsc_offset, s->tsc_offset - tsc_offset_seen);
	}
	if (IN(EFER))
		CHARGE(efer, s->efer);
	if (IN(PDPTE)) {
		CHARGE(pdpte_0, s->pdpte[0]); CHARGE(pdpte_1, s->pdpte[1]);
		CHARGE(pdpte_2, s->pdpte[2]); CHARGE(pdpte_3, s->pdpte[3]);
	}
	if (IN(R8_R15)) {
		CHARGE(r8, s->r8); CHARGE(r9, s->r9); CHARGE(r10, s->r10);
		CHARGE(r11, s->r11); CHARGE(r12, s->r12); CHARGE(r13, s->r13);
		CHARGE(r14, s->r14); CHARGE(r15, s->r15);
	}
	if (IN(SYSCALL)) {
		CHARGE(star, s->star); CHARGE(lstar, s->lstar);
		CHARGE(cstar, s->cstar); CHARGE(fmask, s->fmask);
		CHARGE(kernel_gs_base, s->kernel_gs_base);
	}
	if (IN(TPR)) {
		CHARGE(tpr, s->tpr); CHARGE(tpr_threshold, s->tpr_threshold);
	}
	if (IN(TSC_AUX))
		CHARGE(tsc_aux, s->tsc_aux);
	if (IN(XSAVE)) {
		CHARGE(xcr0, s->xcr0); CHARGE(xss, s->xss);
	}
	if (IN(FPU)) {
		memcpy(p->fpu.buffer, s->fpu, HW_FPU_CONTEXT_SIZE);
		p->fpu.state_size = HW_FPU_CONTEXT_SIZE;
		p->fpu.charged = true;
	}
}
#undef CHARGE
#undef V
#undef IN

/* ---- the plan's translation, per copy routine ----------------------------- */
static void to_state_c(const struct roof_transfer_plan *plan,
		       const struct hw_vcpu_state *p, roof_state *s, uint64_t g)
{
	roof_gather_c(plan, g, p, s);
	hw_convert_to_state(p, s, g);
}

static void to_state_asm(const struct roof_transfer_plan *plan,
			 const struct hw_vcpu_state *p, roof_state *s,
			 uint64_t g)
{
	roof_gather_asm(plan, g, p, s);
	hw_convert_to_state(p, s, g);
}

static void to_page_c(const struct roof_transfer_plan *plan,
		      struct hw_vcpu_state *p, const roof_state *s, uint64_t g,
		      uint64_t seen)
{
	roof_scatter_c(plan, g, s, p);
	hw_convert_to_page(p, s, g, seen);
}

static void to_page_asm(const struct roof_transfer_plan *plan,
			struct hw_vcpu_state *p, const roof_state *s,
			uint64_t g, uint64_t seen)
{
	roof_scatter_asm(plan, g, s, p);
	hw_convert_to_page(p, s, g, seen);
}

static const struct variant {
	const char *name;
	void (*to_state)(const struct roof_transfer_plan *,
			 const struct hw_vcpu_state *, roof_state *, uint64_t);
	void (*to_page)(const struct roof_transfer_plan *,
			struct hw_vcpu_state *, const roof_state *, uint64_t,
			uint64_t);
} variants[] = {
	{"roof_gather_c/roof_scatter_c", to_state_c, to_page_c},
	{"roof_gather_asm/roof_scatter_asm", to_state_asm, to_page_asm},
	{"hw_page_to_state/hw_state_to_page (as built)", hw_page_to_state,
	 hw_state_to_page},
};

static void *alloc64(size_t size)
{
	void *p = aligned_alloc(64, size); /* both sizes are multiples of 64 */
	assert_non_null(p);
	return p;
}

/* Byte map of the page: 1 where a Register's value lies (a Range's
 * padding between limit and base excluded), 2 where a charged flag is. */
static void page_map(uint8_t map[PAGE_SIZE_HW])
{
	memset(map, 0, PAGE_SIZE_HW);
#define MARK(r)                                                               \
	memset(map + offsetof(struct hw_vcpu_state, r.value), 1,              \
	       sizeof(((struct hw_vcpu_state *)0)->r.value));                 \
	map[offsetof(struct hw_vcpu_state, r.charged)] = 2;
	PAGE_REGS(MARK)
#undef MARK
	size_t pad = offsetof(struct hw_range, limit) + sizeof(uint32_t);
	memset(map + offsetof(struct hw_vcpu_state, gdtr.value) + pad, 0,
	       offsetof(struct hw_range, base) - pad);
	memset(map + offsetof(struct hw_vcpu_state, idtr.value) + pad, 0,
	       offsetof(struct hw_range, base) - pad);
	map[offsetof(struct hw_vcpu_state, fpu.charged)] = 2;
}

/* ---- layout --------------------------------------------------------------- */
static void test_descriptors_cover_the_register_values(void **state)
{
	(void)state;
	struct roof_transfer_plan plan;
	assert_int_equal(hw_vcpu_state_plan_init(&plan), 0);
	assert_int_equal(plan.native_size, PAGE_SIZE_HW);
	/* every group is a plain copy but TSC (a delta to the page) and FPU
	 * (a length of its own); HW_GROUPS' omissions CTRL and XSAVE are in
	 * the page and in the plan */
	assert_int_equal(plan.copyable, PLANNED);
	/* one descriptor per Register value, two per Range (limit, base) */
	static const uint8_t per_group[ROOF_GB_LIMIT] = {
		[ROOF_GB_ACDB] = 4, [ROOF_GB_EBSD] = 3, [ROOF_GB_ESP] = 1,
		[ROOF_GB_EIP] = 2, [ROOF_GB_EFL] = 1, [ROOF_GB_ESDS] = 2,
		[ROOF_GB_FSGS] = 2, [ROOF_GB_CSSS] = 2, [ROOF_GB_TR] = 1,
		[ROOF_GB_LDTR] = 1, [ROOF_GB_GDTR] = 2, [ROOF_GB_IDTR] = 2,
		[ROOF_GB_CR] = 4, [ROOF_GB_DR] = 1, [ROOF_GB_SYS] = 3,
		[ROOF_GB_QUAL] = 2, [ROOF_GB_CTRL] = 2, [ROOF_GB_INJ] = 2,
		[ROOF_GB_STA] = 2, [ROOF_GB_EFER] = 1, [ROOF_GB_PDPTE] = 4,
		[ROOF_GB_R8_R15] = 8, [ROOF_GB_SYSCALL] = 5, [ROOF_GB_TPR] = 2,
		[ROOF_GB_TSC_AUX] = 1, [ROOF_GB_XSAVE] = 2,
	};
	unsigned total = 0;
	for (unsigned b = 0; b < ROOF_GB_LIMIT; b++) {
		if (plan.count[b] != per_group[b])
			fail_msg("group %s: %u descriptors, want %u",
				 roof_group_name(b), plan.count[b], per_group[b]);
		total += per_group[b];
	}
	assert_int_equal(plan.ndesc, total);

	/* each descriptor copies value bytes only, no byte twice, into its
	 * own group's span of roof_state */
	uint8_t map[PAGE_SIZE_HW], used[PAGE_SIZE_HW];
	static uint8_t state_used[sizeof(roof_state)];
	page_map(map);
	memset(used, 0, sizeof used);
	memset(state_used, 0, sizeof state_used);
	for (unsigned b = 0; b < ROOF_GB_LIMIT; b++) {
		uint32_t off, len;
		for (unsigned i = 0; i < plan.count[b]; i++) {
			const struct roof_copy_desc *d = &plan.desc[plan.first[b] + i];
			assert_int_equal(roof_group_span(b, &off, &len), 0);
			if (d->state_off < off || d->state_off + d->len > off + len)
				fail_msg("group %s: state bytes %u+%u outside "
					 "its span %u+%u", roof_group_name(b),
					 d->state_off, d->len, off, len);
			for (uint32_t k = 0; k < d->len; k++) {
				uint32_t n = d->native_off + k;
				if (map[n] != 1)
					fail_msg("group %s: page byte %u is %s",
						 roof_group_name(b), n,
						 map[n] == 2 ? "a charged flag"
							     : "no value");
				if (used[n]++ || state_used[d->state_off + k]++)
					fail_msg("group %s: byte copied twice",
						 roof_group_name(b));
			}
		}
	}
	/* and every value byte but TSC's is copied by some descriptor */
	uint32_t tsc = offsetof(struct hw_vcpu_state, tsc);
	uint32_t tsc_end = offsetof(struct hw_vcpu_state, tsc_aux);
	for (uint32_t n = 0; n < PAGE_SIZE_HW; n++)
		if (map[n] == 1 && !used[n] && (n < tsc || n >= tsc_end))
			fail_msg("page byte %u (a value) is not in the plan", n);
}

/* A scatter of everything writes value bytes, never a flag or padding. */
static void test_scatter_touches_only_values(void **state)
{
	(void)state;
	struct roof_transfer_plan plan;
	assert_int_equal(hw_vcpu_state_plan_init(&plan), 0);
	static uint8_t map[PAGE_SIZE_HW];
	page_map(map);
	struct hw_vcpu_state *p = alloc64(sizeof *p);
	struct hw_vcpu_state *before = alloc64(sizeof *before);
	roof_state *s = alloc64(sizeof *s);
	uint64_t seed = 0x4857u;
	for (int impl = 0; impl < 2; impl++) {
		rng_fill(&seed, (uint8_t *)before, sizeof *before);
		hw_vcpu_state_sanitize(before);
		memcpy(p, before, sizeof *p);
		rng_fill(&seed, (uint8_t *)s, sizeof *s);
		uint64_t bytes = impl ? roof_scatter_asm(&plan, ~0ull, s, p)
				      : roof_scatter_c(&plan, ~0ull, s, p);
		/* every value byte but tsc's and tsc_offset's */
		uint64_t values = 0;
		for (uint32_t n = 0; n < PAGE_SIZE_HW; n++)
			values += map[n] == 1;
		assert_int_equal(bytes, values - 2 * 8);
		const uint8_t *a = (const uint8_t *)before, *b = (const uint8_t *)p;
		for (uint32_t n = 0; n < PAGE_SIZE_HW; n++)
			if (map[n] != 1 && a[n] != b[n])
				fail_msg("%s: page byte %u (%s) changed",
					 impl ? "nasm" : "C", n,
					 map[n] == 2 ? "a charged flag" : "padding");
	}
	free(p);
	free(before);
	free(s);
}

/* ---- charged flags ---------------------------------------------------------- */
static void test_charged_flags(void **state)
{
	(void)state;
	struct hw_vcpu_state *p = alloc64(sizeof *p);
	static uint8_t map[PAGE_SIZE_HW];
	page_map(map);
	memset(p, 0, sizeof *p);
	hw_page_charge(p, ROOF_G_EVERYTHING);
	/* exactly the 62 Registers' flags and the FPU's, each 1 */
	unsigned set = 0;
	for (uint32_t n = 0; n < PAGE_SIZE_HW; n++) {
		uint8_t byte = ((const uint8_t *)p)[n];
		if (byte && (map[n] != 2 || byte != 1))
			fail_msg("page byte %u is 0x%02x after charging", n, byte);
		set += map[n] == 2 && byte == 1;
	}
	assert_int_equal(set, PAGE_REG_COUNT + 1);
	assert_int_equal(hw_page_charged(p, ~0ull), ROOF_G_EVERYTHING);
	/* one Register uncharged uncharges its group, and only it */
#define ONE_OFF(r, g)                                                         \
	do {                                                                  \
		p->r.charged = false;                                         \
		assert_int_equal(hw_page_charged(p, ~0ull),                   \
				 ROOF_G_EVERYTHING & ~ROOF_G_##g);            \
		p->r.charged = true;                                          \
	} while (0)
	ONE_OFF(ax, ACDB); ONE_OFF(bx, ACDB); ONE_OFF(di, EBSD);
	ONE_OFF(sp, ESP); ONE_OFF(ip_len, EIP); ONE_OFF(flags, EFL);
	ONE_OFF(ds, ESDS); ONE_OFF(gs, FSGS); ONE_OFF(ss, CSSS);
	ONE_OFF(tr, TR); ONE_OFF(ldtr, LDTR); ONE_OFF(gdtr, GDTR);
	ONE_OFF(idtr, IDTR); ONE_OFF(cr2, CR); ONE_OFF(dr7, DR);
	ONE_OFF(sysenter_cs, SYS); ONE_OFF(qual_secondary, QUAL);
	ONE_OFF(ctrl_primary, CTRL); ONE_OFF(inj_error, INJ);
	ONE_OFF(actv_state, STA); ONE_OFF(tsc_offset, TSC);
	ONE_OFF(efer, EFER); ONE_OFF(pdpte_3, PDPTE); ONE_OFF(r15, R8_R15);
	ONE_OFF(kernel_gs_base, SYSCALL); ONE_OFF(tpr_threshold, TPR);
	ONE_OFF(tsc_aux, TSC_AUX); ONE_OFF(xss, XSAVE); ONE_OFF(fpu, FPU);
#undef ONE_OFF
	/* groups without a Register in the page are never charged */
	assert_int_equal(hw_page_charged(p, UINT64_C(0xf) << 27), 0);
	/* discharge clears every flag and nothing else */
	hw_vcpu_state_discharge(p);
	for (uint32_t n = 0; n < PAGE_SIZE_HW; n++)
		assert_int_equal(((const uint8_t *)p)[n], 0);
	/* sanitize: any nonzero flag byte reads as charged, values kept */
	memset(p, 0x80, sizeof *p);
	hw_vcpu_state_sanitize(p);
	assert_int_equal(hw_page_charged(p, ~0ull), ROOF_G_EVERYTHING);
	for (uint32_t n = 0; n < PAGE_SIZE_HW; n++)
		assert_int_equal(((const uint8_t *)p)[n], map[n] == 2 ? 1 : 0x80);
	free(p);
}

/* ---- random states against the field-by-field translation -------------- */
static unsigned first_diff(const void *a, const void *b, size_t n)
{
	const uint8_t *x = a, *y = b;
	for (size_t i = 0; i < n; i++)
		if (x[i] != y[i])
			return (unsigned)i;
	return (unsigned)n;
}

static void test_random_round_trips_match_field_by_field(void **state)
{
	(void)state;
	struct roof_transfer_plan plan;
	assert_int_equal(hw_vcpu_state_plan_init(&plan), 0);
	unsigned long cases = 5000;
	const char *env = getenv("ROOF_HW_PLAN_CASES");
	if (env && *env)
		cases = strtoul(env, NULL, 0);
	struct hw_vcpu_state *page = alloc64(sizeof *page);
	struct hw_vcpu_state *p_ref = alloc64(sizeof *p_ref);
	struct hw_vcpu_state *p_plan = alloc64(sizeof *p_plan);
	roof_state *a = alloc64(sizeof *a), *b = alloc64(sizeof *b);
	roof_state *s_ref = alloc64(sizeof *s_ref);
	roof_state *s_plan = alloc64(sizeof *s_plan);
	uint64_t seed = 0x68772d706c616eull, rng = seed;
	unsigned long compared = 0;
	for (unsigned long i = 0; i < cases; i++) {
		rng_fill(&rng, (uint8_t *)page, sizeof *page);
		hw_vcpu_state_sanitize(page);
		if (rng_below(&rng, 2)) /* mostly what the kernel stores */
			page->fpu.state_size = HW_FPU_CONTEXT_SIZE;
		rng_fill(&rng, (uint8_t *)a, sizeof *a);
		rng_fill(&rng, (uint8_t *)b, sizeof *b);
		uint64_t mask = rng_next(&rng) & ROOF_G_EVERYTHING;
		if (rng_below(&rng, 8) == 0)
			mask = ROOF_G_EVERYTHING;
		uint64_t seen = rng_below(&rng, 4) ? rng_next(&rng) : 0;
		for (size_t v = 0; v < sizeof variants / sizeof variants[0]; v++) {
			const struct variant *x = &variants[v];
			unsigned d;
			/* page -> state */
			memcpy(s_ref, a, sizeof *a);
			memcpy(s_plan, a, sizeof *a);
			ref_to_state(page, s_ref, mask);
			x->to_state(&plan, page, s_plan, mask);
			if ((d = first_diff(s_ref, s_plan, sizeof *a)) < sizeof *a)
				fail_msg("case %lu (seed 0x%llx), %s, mask 0x%llx: "
					 "page -> state differs at state byte %u",
					 i, (unsigned long long)seed, x->name,
					 (unsigned long long)mask, d);
			/* state -> page (charging the groups) */
			memcpy(p_ref, page, sizeof *page);
			memcpy(p_plan, page, sizeof *page);
			ref_to_page(p_ref, a, mask, seen);
			x->to_page(&plan, p_plan, a, mask, seen);
			if ((d = first_diff(p_ref, p_plan, sizeof *page)) <
			    sizeof *page)
				fail_msg("case %lu (seed 0x%llx), %s, mask 0x%llx: "
					 "state -> page differs at page byte %u",
					 i, (unsigned long long)seed, x->name,
					 (unsigned long long)mask, d);
			/* and back: the round trip through the plan's page */
			memcpy(s_ref, b, sizeof *b);
			memcpy(s_plan, b, sizeof *b);
			ref_to_state(p_ref, s_ref, mask);
			x->to_state(&plan, p_plan, s_plan, mask);
			if ((d = first_diff(s_ref, s_plan, sizeof *b)) < sizeof *b)
				fail_msg("case %lu (seed 0x%llx), %s, mask 0x%llx: "
					 "round trip differs at state byte %u",
					 i, (unsigned long long)seed, x->name,
					 (unsigned long long)mask, d);
			/* the plan's groups come back as they went out */
			for (uint64_t m = mask & plan.copyable; m; m &= m - 1) {
				unsigned g = (unsigned)__builtin_ctzll(m);
				for (unsigned n = 0; n < plan.count[g]; n++) {
					const struct roof_copy_desc *c =
						&plan.desc[plan.first[g] + n];
					if (memcmp((const uint8_t *)a + c->state_off,
						   (const uint8_t *)s_plan +
							   c->state_off,
						   c->len))
						fail_msg("case %lu, %s: group %s "
							 "lost its value on the "
							 "round trip", i, x->name,
							 roof_group_name(g));
				}
			}
			assert_int_equal(hw_page_charged(p_plan, ~0ull),
					 hw_page_charged(page, ~0ull) | mask);
			compared++;
		}
	}
	print_message("%lu random (page, state, mask) cases, %lu comparisons "
		      "over %zu copy routines: the plan equals the field-by-"
		      "field translation\n",
		      cases, compared, sizeof variants / sizeof variants[0]);
	free(page);
	free(p_ref);
	free(p_plan);
	free(a);
	free(b);
	free(s_ref);
	free(s_plan);
}

/* The client builds the plan when the vCPU is created (hw_client_init). */
static void test_client_builds_the_plan_at_init(void **state)
{
	(void)state;
	struct hw_client *c = malloc(sizeof *c);
	assert_non_null(c);
	struct hw_vcpu_state *p = alloc64(sizeof *p);
	struct roof_transfer_plan plan;
	memset(p, 0, sizeof *p);
	assert_int_equal(hw_client_init(c, p, NULL, NULL,
					(struct vmx_exit_env){NULL, NULL, NULL},
					true),
			 ROOF_OK);
	assert_int_equal(hw_vcpu_state_plan_init(&plan), 0);
	assert_memory_equal(&c->plan, &plan, sizeof plan);
	assert_int_equal(p->exit_reason, HW_EXIT_STARTUP);
	free(c);
	free(p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_descriptors_cover_the_register_values),
		cmocka_unit_test(test_scatter_touches_only_values),
		cmocka_unit_test(test_charged_flags),
		cmocka_unit_test(test_random_round_trips_match_field_by_field),
		cmocka_unit_test(test_client_builds_the_plan_at_init),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
