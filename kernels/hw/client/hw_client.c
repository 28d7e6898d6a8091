/*
 * hw_client.c - oneroof's base-hw client (see hw_client.h). Freestanding.
 *
 * Genode's own client (repos/base-hw/src/lib/base/x86_64/vm.cc) is the
 * whole of with_state(): Kernel::vcpu_pause(), fn(state page),
 * Kernel::vcpu_run() if fn returned true. Everything else - storing the
 * state into the page and loading the charged fields - is in the kernel
 * (src/core/spec/x86_64/kernel/vcpu.cc, vmx.cc). This client adds what
 * the unified API needs: the page <-> roof_state translation, the VMX exit
 * decode and completion, and (tuned) the exit config.
 */
#include "hw_client.h"

/* Every Register of Vcpu_state, in header order. */
#define HW_REGS(X)                                                          \
	X(ax) X(cx) X(dx) X(bx) X(bp) X(si) X(di) X(sp) X(ip) X(ip_len)      \
	X(flags) X(es) X(ds) X(fs) X(gs) X(cs) X(ss) X(tr) X(ldtr) X(gdtr)   \
	X(idtr) X(cr0) X(cr2) X(cr3) X(cr4) X(dr7) X(sysenter_ip)            \
	X(sysenter_sp) X(sysenter_cs) X(qual_primary) X(qual_secondary)      \
	X(ctrl_primary) X(ctrl_secondary) X(inj_info) X(inj_error)           \
	X(intr_state) X(actv_state) X(tsc) X(tsc_offset) X(tsc_aux) X(efer)  \
	X(pdpte_0) X(pdpte_1) X(pdpte_2) X(pdpte_3) X(r8) X(r9) X(r10)       \
	X(r11) X(r12) X(r13) X(r14) X(r15) X(star) X(lstar) X(cstar)         \
	X(fmask) X(kernel_gs_base) X(tpr) X(tpr_threshold) X(xcr0) X(xss)

void hw_vcpu_state_discharge(struct hw_vcpu_state *s)
{
#define DISCHARGE(r) s->r.charged = false;
	HW_REGS(DISCHARGE)
#undef DISCHARGE
	s->fpu.charged = false;
}

void hw_vcpu_state_sanitize(struct hw_vcpu_state *s)
{
	/* read each flag as a byte (char may alias anything), store a bool */
#define SANE(r) s->r.charged = *(const unsigned char *)&s->r.charged != 0;
	HW_REGS(SANE)
#undef SANE
	s->fpu.charged = *(const unsigned char *)&s->fpu.charged != 0;
}

uint64_t hw_client_implicit(roof_exit reason)
{
	uint64_t g = vmx_exit_implicit(reason);
	if (reason == ROOF_EXIT_IO || reason == ROOF_EXIT_MMIO)
		g |= ROOF_G_QUAL;
	return g;
}

static struct hw_client *client_of(struct roof_vcpu *v)
{
	/* the host keeps struct hw_client first in its per-vCPU object */
	return (struct hw_client *)v->backend;
}

static void report(struct hw_client *c, int err, const char *msg)
{
	c->error = msg;
	if (c->sys->report)
		c->sys->report(c->kernel_vcpu, err, msg);
}

/* ---- page <-> roof_state, group by group ------------------------------------ */
#define C(r) (p->r.charged)

bool hw_group_charged(const struct hw_vcpu_state *p, unsigned bit)
{
	switch (bit) {
	case ROOF_GB_ACDB: return C(ax) && C(cx) && C(dx) && C(bx);
	case ROOF_GB_EBSD: return C(bp) && C(si) && C(di);
	case ROOF_GB_ESP: return C(sp);
	case ROOF_GB_EIP: return C(ip) && C(ip_len);
	case ROOF_GB_EFL: return C(flags);
	case ROOF_GB_ESDS: return C(es) && C(ds);
	case ROOF_GB_FSGS: return C(fs) && C(gs);
	case ROOF_GB_CSSS: return C(cs) && C(ss);
	case ROOF_GB_TR: return C(tr);
	case ROOF_GB_LDTR: return C(ldtr);
	case ROOF_GB_GDTR: return C(gdtr);
	case ROOF_GB_IDTR: return C(idtr);
	case ROOF_GB_CR: return C(cr0) && C(cr2) && C(cr3) && C(cr4);
	case ROOF_GB_DR: return C(dr7);
	case ROOF_GB_SYS:
		return C(sysenter_ip) && C(sysenter_sp) && C(sysenter_cs);
	case ROOF_GB_QUAL: return C(qual_primary) && C(qual_secondary);
	case ROOF_GB_CTRL: return C(ctrl_primary) && C(ctrl_secondary);
	case ROOF_GB_INJ: return C(inj_info) && C(inj_error);
	case ROOF_GB_STA: return C(intr_state) && C(actv_state);
	case ROOF_GB_TSC: return C(tsc) && C(tsc_offset);
	case ROOF_GB_EFER: return C(efer);
	case ROOF_GB_PDPTE:
		return C(pdpte_0) && C(pdpte_1) && C(pdpte_2) && C(pdpte_3);
	case ROOF_GB_R8_R15:
		return C(r8) && C(r9) && C(r10) && C(r11) && C(r12) &&
		       C(r13) && C(r14) && C(r15);
	case ROOF_GB_SYSCALL:
		return C(star) && C(lstar) && C(cstar) && C(fmask) &&
		       C(kernel_gs_base);
	case ROOF_GB_TPR: return C(tpr) && C(tpr_threshold);
	case ROOF_GB_TSC_AUX: return C(tsc_aux);
	case ROOF_GB_XSAVE: return C(xcr0) && C(xss);
	case ROOF_GB_FPU: return p->fpu.charged;
	default: return false;
	}
}
#undef C

static struct roof_segment seg_in(const struct hw_reg_segment *r)
{
	return (struct roof_segment){r->value.sel, r->value.ar, r->value.limit,
				     r->value.base};
}

static struct roof_dtr dtr_in(const struct hw_reg_range *r)
{
	return (struct roof_dtr){r->value.limit, 0, r->value.base};
}

/* Raw copies: the caller owns the valid/dirty bookkeeping. */
void hw_group_to_state(const struct hw_vcpu_state *p, roof_state *s,
		       unsigned bit)
{
#define V(r) (p->r.value)
	switch (bit) {
	case ROOF_GB_ACDB:
		s->ax = V(ax); s->cx = V(cx); s->dx = V(dx); s->bx = V(bx);
		break;
	case ROOF_GB_EBSD: s->bp = V(bp); s->si = V(si); s->di = V(di); break;
	case ROOF_GB_ESP: s->sp = V(sp); break;
	case ROOF_GB_EIP: s->ip = V(ip); s->ip_len = V(ip_len); break;
	case ROOF_GB_EFL: s->flags = V(flags); break;
	case ROOF_GB_ESDS: s->es = seg_in(&p->es); s->ds = seg_in(&p->ds); break;
	case ROOF_GB_FSGS: s->fs = seg_in(&p->fs); s->gs = seg_in(&p->gs); break;
	case ROOF_GB_CSSS: s->cs = seg_in(&p->cs); s->ss = seg_in(&p->ss); break;
	case ROOF_GB_TR: s->tr = seg_in(&p->tr); break;
	case ROOF_GB_LDTR: s->ldtr = seg_in(&p->ldtr); break;
	case ROOF_GB_GDTR: s->gdtr = dtr_in(&p->gdtr); break;
	case ROOF_GB_IDTR: s->idtr = dtr_in(&p->idtr); break;
	case ROOF_GB_CR:
		s->cr0 = V(cr0); s->cr2 = V(cr2); s->cr3 = V(cr3);
		s->cr4 = V(cr4);
		break;
	case ROOF_GB_DR: s->dr7 = V(dr7); break;
	case ROOF_GB_SYS:
		s->sysenter_cs = V(sysenter_cs);
		s->sysenter_sp = V(sysenter_sp);
		s->sysenter_ip = V(sysenter_ip);
		break;
	case ROOF_GB_QUAL:
		s->qual_primary = V(qual_primary);
		s->qual_secondary = V(qual_secondary);
		break;
	case ROOF_GB_CTRL:
		s->ctrl_primary = V(ctrl_primary);
		s->ctrl_secondary = V(ctrl_secondary);
		break;
	case ROOF_GB_INJ: s->inj_info = V(inj_info); s->inj_error = V(inj_error);
		break;
	case ROOF_GB_STA:
		s->intr_state = V(intr_state);
		s->actv_state = V(actv_state);
		break;
	case ROOF_GB_TSC: s->tsc = V(tsc); s->tsc_offset = V(tsc_offset); break;
	case ROOF_GB_EFER: s->efer = V(efer); break;
	case ROOF_GB_PDPTE:
		s->pdpte[0] = V(pdpte_0); s->pdpte[1] = V(pdpte_1);
		s->pdpte[2] = V(pdpte_2); s->pdpte[3] = V(pdpte_3);
		break;
	case ROOF_GB_R8_R15:
		s->r8 = V(r8); s->r9 = V(r9); s->r10 = V(r10); s->r11 = V(r11);
		s->r12 = V(r12); s->r13 = V(r13); s->r14 = V(r14);
		s->r15 = V(r15);
		break;
	case ROOF_GB_SYSCALL:
		s->star = V(star); s->lstar = V(lstar); s->cstar = V(cstar);
		s->fmask = V(fmask); s->kernel_gs_base = V(kernel_gs_base);
		break;
	case ROOF_GB_TPR: s->tpr = V(tpr); s->tpr_threshold = V(tpr_threshold);
		break;
	case ROOF_GB_TSC_AUX: s->tsc_aux = V(tsc_aux); break;
	case ROOF_GB_XSAVE: s->xcr0 = V(xcr0); s->xss = V(xss); break;
	case ROOF_GB_FPU: {
		uint64_t n = p->fpu.state_size;
		if (n > ROOF_FPU_SIZE)
			n = ROOF_FPU_SIZE;
		__builtin_memcpy(s->fpu, p->fpu.buffer, n);
		__builtin_memset(s->fpu + n, 0, ROOF_FPU_SIZE - n);
		s->fpu_size = (uint32_t)n;
		break;
	}
	default:
		break;
	}
#undef V
}

#define CHARGE(r, v) (p->r.value = (v), p->r.charged = true)

static void seg_out(struct hw_reg_segment *r, const struct roof_segment *g)
{
	r->value = (struct hw_segment){g->sel, g->ar, g->limit, g->base};
	r->charged = true;
}

static void dtr_out(struct hw_reg_range *r, const struct roof_dtr *d)
{
	r->value = (struct hw_range){d->limit, d->base};
	r->charged = true;
}

void hw_group_to_page(struct hw_vcpu_state *p, const roof_state *s,
		      unsigned bit, uint64_t tsc_offset_seen)
{
	switch (bit) {
	case ROOF_GB_ACDB:
		CHARGE(ax, s->ax); CHARGE(cx, s->cx); CHARGE(dx, s->dx);
		CHARGE(bx, s->bx);
		break;
	case ROOF_GB_EBSD:
		CHARGE(bp, s->bp); CHARGE(si, s->si); CHARGE(di, s->di);
		break;
	case ROOF_GB_ESP: CHARGE(sp, s->sp); break;
	case ROOF_GB_EIP: CHARGE(ip, s->ip); CHARGE(ip_len, s->ip_len); break;
	case ROOF_GB_EFL: CHARGE(flags, s->flags); break;
	case ROOF_GB_ESDS: seg_out(&p->es, &s->es); seg_out(&p->ds, &s->ds); break;
	case ROOF_GB_FSGS: seg_out(&p->fs, &s->fs); seg_out(&p->gs, &s->gs); break;
	case ROOF_GB_CSSS: seg_out(&p->cs, &s->cs); seg_out(&p->ss, &s->ss); break;
	case ROOF_GB_TR: seg_out(&p->tr, &s->tr); break;
	case ROOF_GB_LDTR: seg_out(&p->ldtr, &s->ldtr); break;
	case ROOF_GB_GDTR: dtr_out(&p->gdtr, &s->gdtr); break;
	case ROOF_GB_IDTR: dtr_out(&p->idtr, &s->idtr); break;
	case ROOF_GB_CR:
		CHARGE(cr0, s->cr0); CHARGE(cr2, s->cr2); CHARGE(cr3, s->cr3);
		CHARGE(cr4, s->cr4);
		break;
	case ROOF_GB_DR: CHARGE(dr7, s->dr7); break;
	case ROOF_GB_SYS:
		CHARGE(sysenter_cs, s->sysenter_cs);
		CHARGE(sysenter_sp, s->sysenter_sp);
		CHARGE(sysenter_ip, s->sysenter_ip);
		break;
	case ROOF_GB_QUAL:
		CHARGE(qual_primary, s->qual_primary);
		CHARGE(qual_secondary, s->qual_secondary);
		break;
	case ROOF_GB_CTRL:
		CHARGE(ctrl_primary, s->ctrl_primary);
		CHARGE(ctrl_secondary, s->ctrl_secondary);
		break;
	case ROOF_GB_INJ:
		CHARGE(inj_info, s->inj_info); CHARGE(inj_error, s->inj_error);
		break;
	case ROOF_GB_STA:
		CHARGE(intr_state, s->intr_state);
		CHARGE(actv_state, s->actv_state);
		break;
	case ROOF_GB_TSC:
		/* the kernel ignores tsc and adds tsc_offset to the VMCS one */
		CHARGE(tsc, s->tsc);
		CHARGE(tsc_offset, s->tsc_offset - tsc_offset_seen);
		break;
	case ROOF_GB_EFER: CHARGE(efer, s->efer); break;
	case ROOF_GB_PDPTE:
		CHARGE(pdpte_0, s->pdpte[0]); CHARGE(pdpte_1, s->pdpte[1]);
		CHARGE(pdpte_2, s->pdpte[2]); CHARGE(pdpte_3, s->pdpte[3]);
		break;
	case ROOF_GB_R8_R15:
		CHARGE(r8, s->r8); CHARGE(r9, s->r9); CHARGE(r10, s->r10);
		CHARGE(r11, s->r11); CHARGE(r12, s->r12); CHARGE(r13, s->r13);
		CHARGE(r14, s->r14); CHARGE(r15, s->r15);
		break;
	case ROOF_GB_SYSCALL:
		CHARGE(star, s->star); CHARGE(lstar, s->lstar);
		CHARGE(cstar, s->cstar); CHARGE(fmask, s->fmask);
		CHARGE(kernel_gs_base, s->kernel_gs_base);
		break;
	case ROOF_GB_TPR:
		CHARGE(tpr, s->tpr); CHARGE(tpr_threshold, s->tpr_threshold);
		break;
	case ROOF_GB_TSC_AUX: CHARGE(tsc_aux, s->tsc_aux); break;
	case ROOF_GB_XSAVE: CHARGE(xcr0, s->xcr0); CHARGE(xss, s->xss); break;
	case ROOF_GB_FPU:
		/* the kernel loads its fxsave area, Fpu_context::SIZE bytes */
		__builtin_memcpy(p->fpu.buffer, s->fpu, HW_FPU_CONTEXT_SIZE);
		p->fpu.state_size = HW_FPU_CONTEXT_SIZE;
		p->fpu.charged = true;
		break;
	default:
		break;
	}
}
#undef CHARGE

/* ---- set-up and exit config ------------------------------------------------- */
void hw_client_init(struct hw_client *c, struct hw_vcpu_state *page,
		    const struct hw_syscalls *sys, void *kernel_vcpu,
		    struct vmx_exit_env env, bool tuned)
{
	__builtin_memset(c, 0, sizeof *c);
	c->page = page;
	c->sys = sys;
	c->kernel_vcpu = kernel_vcpu;
	c->env = env;
	c->tuned = tuned;
	/* Hw_vcpu's constructor: the first signal reads as STARTUP */
	page->exit_reason = HW_EXIT_STARTUP;
}

uint64_t hw_client_store_groups(const struct hw_client *c, roof_exit reason)
{
	if (!c->tuned)
		return HW_GROUPS; /* the unmodified kernel stores everything */
	for (unsigned n = 0; n < 256; n++)
		if (vmx_exit_unified(n) == reason)
			return c->exit_config[n];
	return 0;
}

int hw_client_configure(struct roof_vcpu *v)
{
	struct hw_client *c = client_of(v);
	if (!c->tuned)
		return ROOF_OK;
	for (unsigned n = 0; n < 256; n++) {
		roof_exit r = vmx_exit_unified(n);
		c->exit_config[n] = r != ROOF_EXIT_BACKEND_ERROR &&
						    r != ROOF_EXIT_STARTUP
					    ? roof_exit_fetch_mask(v, r) & HW_GROUPS
					    : 0;
	}
	int rc = c->sys->vcpu_exit_config(c->kernel_vcpu, c->exit_config);
	if (rc)
		report(c, rc, "hw: vcpu_exit_config failed");
	return rc;
}

/* ---- the exit ------------------------------------------------------------------ */
/* Translate the charged groups of `want` (pending ones keep the VMM's newer
 * values) and return the groups now valid. */
static uint64_t take_charged(struct hw_client *c, roof_state *s, uint64_t want,
			     bool all_as_is)
{
	uint64_t got = 0;
	for (uint64_t m = want; m; m &= m - 1) {
		unsigned bit = (unsigned)__builtin_ctzll(m);
		uint64_t g = UINT64_C(1) << bit;
		if (c->pending & g) {
			got |= g;
			continue;
		}
		if (!all_as_is && !hw_group_charged(c->page, bit))
			continue;
		hw_group_to_state(c->page, s, bit);
		if (bit == ROOF_GB_TSC)
			c->tsc_offset_seen = s->tsc_offset;
		got |= g;
	}
	return got;
}

int hw_client_begin_exit(struct roof_vcpu *v, roof_exit synthetic)
{
	struct hw_client *c = client_of(v);
	roof_state *s = v->state;
	c->error = 0;
	c->sys->signal_ack(c->kernel_vcpu);
	int rc = c->sys->vcpu_pause(c->kernel_vcpu, 0);
	if (rc) {
		roof_state_begin_error(s, c->sys->error(c->kernel_vcpu));
		c->native = 0;
		c->stored = false;
		return rc;
	}
	uint32_t native = c->page->exit_reason;
	/* The kernel stores nothing before the vCPU's first run (vcpu.cc
	 * Vcpu::pause: init_state != STARTED): the page still reads STARTUP
	 * and its fields are what the VMM last left there. */
	c->stored = native != HW_EXIT_STARTUP;
	if (synthetic == ROOF_EXIT_STARTUP)
		native = HW_EXIT_STARTUP;
	else if (synthetic == ROOF_EXIT_PAUSED)
		native = HW_EXIT_PAUSED;
	c->native = native;
	roof_state_begin_exit(s, vmx_exit_unified(native), 0);
	__builtin_memset(&s->info, 0, sizeof s->info);
	s->valid = take_charged(c, s, HW_GROUPS, !c->stored);
	return ROOF_OK;
}

int hw_client_resume(struct roof_vcpu *v)
{
	struct hw_client *c = client_of(v);
	/* the VMM discharges what the kernel charged and charges its writes
	 * (vcpu_state.h: "discharge all registers, charge some updates") */
	hw_vcpu_state_discharge(c->page);
	for (uint64_t m = c->pending; m; m &= m - 1)
		hw_group_to_page(c->page, v->state, (unsigned)__builtin_ctzll(m),
				 c->tsc_offset_seen);
	if (c->pending & ROOF_G_TSC)
		c->tsc_offset_seen = v->state->tsc_offset;
	c->pending = 0;
	int rc = c->sys->vcpu_run(c->kernel_vcpu);
	if (rc)
		report(c, rc, c->sys->error(c->kernel_vcpu));
	return rc;
}

/* ---- hot ops ------------------------------------------------------------------- */
static int hw_fetch(struct roof_vcpu *v, uint64_t mask)
{
	struct hw_client *c = client_of(v);
	roof_state *s = v->state;
	if (mask & ~HW_GROUPS) {
		s->info.error = "hw: the kernel transfers neither ctrl_primary/"
				"ctrl_secondary nor xcr0/xss (base-hw vmx.cc "
				"Vmcs::store)";
		report(c, ROOF_ENOSYS, s->info.error);
		return ROOF_ENOSYS;
	}
	uint64_t got = take_charged(c, s, mask, !c->stored);
	uint64_t missing = mask & ~got;
	if (missing) {
		/* tuned: ask the kernel for exactly these (the exit config
		 * did not name them); the unmodified kernel stores all again */
		int rc = c->sys->vcpu_pause(c->kernel_vcpu, missing);
		if (rc) {
			s->info.error = c->sys->error(c->kernel_vcpu);
			report(c, rc, s->info.error);
			return rc;
		}
		got |= take_charged(c, s, missing, false);
		if (mask & ~got) {
			s->info.error = "hw: vcpu_pause did not store a "
					"requested group";
			report(c, ROOF_EKERNEL, s->info.error);
			return ROOF_EKERNEL;
		}
	}
	return ROOF_OK;
}

static int hw_writeback(struct roof_vcpu *v, uint64_t dirty)
{
	struct hw_client *c = client_of(v);
	if (dirty & ~HW_GROUPS) {
		report(c, ROOF_ENOSYS, "hw: the kernel loads neither xcr0/xss "
		       "nor ctrl fields the client could deliver first");
		return ROOF_ENOSYS;
	}
	/* charged into the page right before vcpu_run (hw_client_resume), so
	 * that a pause in between cannot discard them */
	c->pending |= dirty;
	return ROOF_OK;
}

static int hw_decode(struct roof_vcpu *v)
{
	struct hw_client *c = client_of(v);
	roof_state *s = v->state;
	if (s->exit_reason == ROOF_EXIT_BACKEND_ERROR && s->info.error)
		return 0; /* the host reported a hardware failure */
	roof_exit r = vmx_exit_unified(c->native);
	struct vmx_exit_record rec = {c->native, 0, 0, 0, 0};
	/* hw passes no exit record beside the page: qualification and
	 * guest-physical address are qual_primary/secondary, the instruction
	 * length is ip_len (vmx.cc Vmcs::store) */
	if (r == ROOF_EXIT_IO || r == ROOF_EXIT_MMIO) {
		rec.qual = roof_get_qual_primary(s);
		rec.guest_phys = roof_get_qual_secondary(s);
	}
	if (r == ROOF_EXIT_IO || r == ROOF_EXIT_HLT || r == ROOF_EXIT_CPUID ||
	    r == ROOF_EXIT_MSR_READ || r == ROOF_EXIT_MSR_WRITE)
		rec.insn_len = (uint32_t)roof_get_ip_len(s);
	return vmx_exit_decode(s, &rec, &c->env, &c->exit_ctx);
}

static void hw_finish(struct roof_vcpu *v, roof_action action)
{
	(void)action;
	vmx_exit_finish(v->state, &client_of(v)->exit_ctx);
}

const struct roof_backend_hot_ops hw_client_hot = {
	.fetch = hw_fetch,
	.writeback = hw_writeback,
	.decode = hw_decode,
	.finish = hw_finish,
};
