/*
 * foc_client.c - the Fiasco.OC client (see foc_client.h). The field
 * choices and conversions follow Genode's repos/base-foc/src/lib/base/x86/
 * vm.cc (_read_intel_state, _write_intel_state, entry()); the page layout
 * is foc_abi.h. The plain fields move through the transfer plan
 * (foc_plan.c); the conversions are here. Freestanding.
 */
#include "foc_client.h"
#include "x86_arch.h"

/* vm.cc Vmcs/enum: cr0 bits the VMM owns (NW "CR0_NM", CD, MP "CR0_CP",
 * NE; PE and PG stay with the guest under unrestricted guest), CR4.VMXE,
 * HLT exiting (always set), the irq-window control, EFER save/load. */
#define CR0_MASK ((1ull << 29) | (1ull << 30) | (1ull << 1) | (1ull << 5))
#define CR4_MASK (1ull << 13)
#define CR4_SET (1ull << 13)
#define CTRL0_ALWAYS (1u << 7)
#define CTRL0_IRQ_WINDOW (1u << 2)
#define CTRL0_NMI_WINDOW (1u << 22) /* SDM 24.6.2; vm.cc leaves it unimplemented */
#define EXIT_SAVE_EFER (1u << 20)
#define ENTRY_LOAD_EFER (1u << 15)
#define INJ_REQ_IRQ_WIN (1u << 12)  /* roof_state.h / Genode inj_info */
#define INJ_REQ_NMI_WIN (1u << 13)
#define INJ_VALID (1u << 31)
#define EXIT_REASON_IRQ 1u

/* Groups the page carries. */
#define FOC_GROUPS                                                            \
	(ROOF_G_EVERYTHING &                                                  \
	 ~(ROOF_G_PDPTE | ROOF_G_TPR | ROOF_G_TSC_AUX | ROOF_G_XSAVE))

uint64_t foc_client_groups(void)
{
	return FOC_GROUPS;
}

static struct foc_client *client_of(struct roof_vcpu *v)
{
	return v->backend;
}

/* ---- the page ------------------------------------------------------------------ */
uint64_t foc_client_vmcs_read(struct foc_client *c, uint32_t field)
{
	c->stats.page_reads++;
	uint32_t off = foc_vmcs_offset(c->page->vmcs, field);
	if (!off)
		return 0; /* not in the table: l4sys >= 2024 reads 0 as well */
	const uint8_t *p = c->page->vmcs + off;
	switch (foc_vmcs_width(field)) {
	case 2: {
		uint16_t v;
		__builtin_memcpy(&v, p, sizeof v);
		return v;
	}
	case 4: {
		uint32_t v;
		__builtin_memcpy(&v, p, sizeof v);
		return v;
	}
	default: {
		uint64_t v;
		__builtin_memcpy(&v, p, sizeof v);
		return v;
	}
	}
}

void foc_client_vmcs_write(struct foc_client *c, uint32_t field, uint64_t v)
{
	c->stats.page_writes++;
	uint32_t off = foc_vmcs_offset(c->page->vmcs, field);
	if (!off)
		return;
	uint8_t *p = c->page->vmcs + off;
	switch (foc_vmcs_width(field)) {
	case 2: {
		uint16_t x = (uint16_t)v;
		__builtin_memcpy(p, &x, sizeof x);
		break;
	}
	case 4: {
		uint32_t x = (uint32_t)v;
		__builtin_memcpy(p, &x, sizeof x);
		break;
	}
	default:
		__builtin_memcpy(p, &v, sizeof v);
		break;
	}
}

#define RD(f) foc_client_vmcs_read(c, (f))
#define WR(f, v) foc_client_vmcs_write(c, (f), (v))

/* ---- FPU ---------------------------------------------------------------------
 * The instructions run where vm.cc runs them, on 512-byte images. On this
 * substrate the guest FPU is not in the thread's registers, so a save is
 * followed by the hardware's guest image (fpu_from_guest), and a restore of
 * a guest image executes fxrstor on an image this thread saved itself (the
 * same instruction and size; the guest's bytes go to the hardware through
 * fpu_to_guest). The hot path must therefore not hold values in vector
 * registers across a restore: the asm says so. */
static void fx_save(struct foc_client *c, uint8_t *image)
{
	__asm__ __volatile__("fxsave %0"
			     : "=m"(*(uint8_t(*)[FOC_FXSAVE_SIZE])image));
	c->v->counters.fpu_ops++;
}

static void fx_restore(struct foc_client *c, const uint8_t *image)
{
	__asm__ __volatile__("fxrstor %0"
			     :
			     : "m"(*(const uint8_t(*)[FOC_FXSAVE_SIZE])image)
			     : "memory", "xmm0", "xmm1", "xmm2", "xmm3", "xmm4",
			       "xmm5", "xmm6", "xmm7", "xmm8", "xmm9", "xmm10",
			       "xmm11", "xmm12", "xmm13", "xmm14", "xmm15");
	c->v->counters.fpu_ops++;
}

static int guest_fpu_into(struct foc_client *c, uint8_t *image)
{
	return c->ops->fpu_from_guest(c->k, image);
}

/* ---- reading groups ------------------------------------------------------------- */
static const uint32_t seg_index[] = {
	/* roof group order es ds fs gs cs ss tr ldtr -> VMX index (es cs ss
	 * ds fs gs ldtr tr) */
	0, 3, 4, 5, 1, 2, 7, 6,
};

static struct roof_segment *seg_of(roof_state *s, unsigned i)
{
	struct roof_segment *segs[8] = {&s->es, &s->ds, &s->fs, &s->gs,
					&s->cs, &s->ss, &s->tr, &s->ldtr};
	return segs[i];
}

/* The segment groups' access rights (the rest of a segment is on the plan). */
static const unsigned seg_group[8] = {
	ROOF_GB_ESDS, ROOF_GB_ESDS, ROOF_GB_FSGS, ROOF_GB_FSGS,
	ROOF_GB_CSSS, ROOF_GB_CSSS, ROOF_GB_TR, ROOF_GB_LDTR};

static void read_ar(struct foc_client *c, roof_state *s, uint64_t g)
{
	for (unsigned i = 0; i < 8; i++)
		if (g & (UINT64_C(1) << seg_group[i]))
			seg_of(s, i)->ar = roof_ar_from_vmx(
				(uint32_t)RD(VMCS_GUEST_ES_AR + 2 * seg_index[i]));
}

static void write_ar(struct foc_client *c, const roof_state *s, uint64_t g)
{
	for (unsigned i = 0; i < 8; i++)
		if (g & (UINT64_C(1) << seg_group[i]))
			WR(VMCS_GUEST_ES_AR + 2 * seg_index[i],
			   roof_ar_to_vmx(seg_of((roof_state *)s, i)->ar));
}

/* The exit's entry-interruption view: an injection that the exit
 * interrupted (IDT vectoring), or for a failed entry the one still
 * requested; plus the irq-window request kept in the controls. */
static uint32_t read_inj(struct foc_client *c, uint32_t *error)
{
	bool failed_entry = (c->native & VMX_EXIT_ENTRY_FAILURE) != 0;
	uint32_t info = (uint32_t)RD(failed_entry ? VMCS_ENTRY_INTR_INFO
						  : VMCS_IDT_VECTORING_INFO);
	*error = (uint32_t)RD(failed_entry ? VMCS_ENTRY_EXC_ERROR
					  : VMCS_IDT_VECTORING_ERROR);
	uint32_t ctrl0 = (uint32_t)RD(VMCS_PROC_CTLS);
	if (ctrl0 & CTRL0_IRQ_WINDOW)
		info |= INJ_REQ_IRQ_WIN;
	if (ctrl0 & CTRL0_NMI_WINDOW)
		info |= INJ_REQ_NMI_WIN;
	return info;
}

/* The exit has no instruction length unless an instruction caused it. */
static bool has_insn_len(uint32_t native)
{
	return native != ROOF_NATIVE_STARTUP && native != ROOF_NATIVE_RECALL &&
	       native != EXIT_REASON_IRQ && !(native & VMX_EXIT_ENTRY_FAILURE);
}

static int read_fpu(struct foc_client *c, roof_state *s)
{
	int rc;
	if (c->fpu_parked || !c->started) {
		/* the image is in memory (parked, or never entered) */
		if (!c->fpu_vcpu_valid) {
			if ((rc = guest_fpu_into(c, c->fpu_vcpu)))
				return rc;
			c->fpu_vcpu_valid = true;
		}
		__builtin_memcpy(s->fpu, c->fpu_vcpu, FOC_FXSAVE_SIZE);
	} else {
		/* in the vCPU thread's registers: save them */
		fx_save(c, s->fpu);
		if ((rc = guest_fpu_into(c, s->fpu)))
			return rc;
	}
	__builtin_memset(s->fpu + FOC_FXSAVE_SIZE, 0, ROOF_FPU_SIZE - FOC_FXSAVE_SIZE);
	s->fpu_size = FOC_FXSAVE_SIZE;
	return 0;
}

/* Copy the groups from the page into the state (vm.cc _read_intel_state):
 * the plain fields through the plan, the conversions (foc_plan.c lists
 * them) here. The caller synced the groups. */
static void read_groups(struct foc_client *c, roof_state *s, uint64_t g)
{
	roof_gather(&c->plan, g, c->page, s);
	c->stats.page_reads += foc_plan_fields(&c->plan, g);
	if (g & ROOF_G_EIP)
		s->ip_len = has_insn_len(c->native) ? RD(VMCS_EXIT_INSTR_LEN) : 0;
	read_ar(c, s, g);
	if (g & ROOF_G_CR) {
		/* guest view = VMM-owned bits from the shadow (vm.cc); vm.cc
		 * writes the shadow back when they differ */
		uint64_t cr0 = RD(VMCS_GUEST_CR0), sh0 = RD(VMCS_CR0_SHADOW);
		s->cr0 = (cr0 & ~CR0_MASK) | (sh0 & CR0_MASK);
		if (s->cr0 != sh0)
			WR(VMCS_CR0_SHADOW, s->cr0);
		uint64_t cr4 = RD(VMCS_GUEST_CR4), sh4 = RD(VMCS_CR4_SHADOW);
		s->cr4 = (cr4 & ~CR4_MASK) | (sh4 & CR4_MASK);
		if (s->cr4 != sh4)
			WR(VMCS_CR4_SHADOW, s->cr4);
	}
	if (g & ROOF_G_SYS) /* a 32-bit field into a 64-bit register */
		s->sysenter_cs = RD(VMCS_GUEST_SYSENTER_CS);
	if (g & ROOF_G_CTRL)
		s->ctrl_primary = (uint32_t)RD(VMCS_PROC_CTLS);
	if (g & ROOF_G_INJ)
		s->inj_info = read_inj(c, &s->inj_error);
	if (g & ROOF_G_TSC) {
		/* no guest-TSC field: host TSC + offset, the VMX relation
		 * (vm.cc reports the host's Trace::timestamp()) */
		s->tsc_offset = RD(VMCS_TSC_OFFSET);
		s->tsc = roof_rdtsc() + s->tsc_offset;
		c->tsc_delivered = s->tsc;
		c->offset_delivered = s->tsc_offset;
	}
}

/* ---- writing groups (vm.cc _write_intel_state) --------------------------------- */
/* QUAL is exit information: nothing of it goes back. */
static void write_groups(struct foc_client *c, const roof_state *s, uint64_t g)
{
	uint64_t planned = g & ~ROOF_G_QUAL;
	roof_scatter(&c->plan, planned, s, c->page);
	c->stats.page_writes += foc_plan_fields(&c->plan, planned);
	if (g & ROOF_G_TSC) {
		/* a changed tsc moves the offset by the difference */
		uint64_t off = s->tsc != c->tsc_delivered
				       ? c->offset_delivered +
						 (s->tsc - c->tsc_delivered)
				       : s->tsc_offset;
		WR(VMCS_TSC_OFFSET, off);
	}
	if (g & ROOF_G_CR) {
		WR(VMCS_GUEST_CR0, ~CR0_MASK & s->cr0);
		WR(VMCS_CR0_SHADOW, s->cr0);
		WR(VMCS_GUEST_CR4, CR4_SET | (~CR4_MASK & s->cr4));
		WR(VMCS_CR4_SHADOW, s->cr4);
	}
	uint32_t ctrl0 = 0;
	if (g & ROOF_G_CTRL)
		ctrl0 = s->ctrl_primary;
	else if (g & ROOF_G_INJ)
		ctrl0 = (uint32_t)RD(VMCS_PROC_CTLS);
	if (g & ROOF_G_INJ) {
		/* the window requests are controls, the rest the entry
		 * interruption (vm.cc; NMI window: VMX's control bit) */
		ctrl0 &= ~(CTRL0_IRQ_WINDOW | CTRL0_NMI_WINDOW);
		if (s->inj_info & INJ_REQ_IRQ_WIN)
			ctrl0 |= CTRL0_IRQ_WINDOW;
		if (s->inj_info & INJ_REQ_NMI_WIN)
			ctrl0 |= CTRL0_NMI_WINDOW;
		WR(VMCS_ENTRY_INTR_INFO,
		   s->inj_info & ~(INJ_REQ_IRQ_WIN | INJ_REQ_NMI_WIN));
		WR(VMCS_ENTRY_EXC_ERROR, s->inj_error);
	}
	if (g & ROOF_G_EIP)
		WR(VMCS_ENTRY_INSTR_LEN, s->ip_len);
	if (g & (ROOF_G_CTRL | ROOF_G_INJ))
		WR(VMCS_PROC_CTLS, CTRL0_ALWAYS | ctrl0);
	write_ar(c, s, g);
	if (g & ROOF_G_SYS)
		WR(VMCS_GUEST_SYSENTER_CS, s->sysenter_cs);
}

/* ---- hot ops -------------------------------------------------------------------- */
static int fetch(struct roof_vcpu *v, uint64_t mask)
{
	struct foc_client *c = client_of(v);
	uint64_t page_groups = mask & ~ROOF_G_FPU;
	int rc;
	if (page_groups) {
		if ((rc = c->ops->page_sync(c->k, page_groups)))
			return rc;
		read_groups(c, v->state, page_groups);
	}
	if ((mask & ROOF_G_FPU) && (rc = read_fpu(c, v->state)))
		return rc;
	return 0;
}

static int writeback(struct roof_vcpu *v, uint64_t dirty)
{
	struct foc_client *c = client_of(v);
	uint64_t page_groups = dirty & ~ROOF_G_FPU;
	if (page_groups) {
		/* the kernel side tells a VMM write from a stale field by
		 * comparing with what it stored: sync what is overwritten */
		int rc = c->ops->page_sync(c->k, page_groups);
		if (rc)
			return rc;
		write_groups(c, v->state, page_groups);
	}
	if (dirty & ROOF_G_FPU) {
		if (!c->genode && c->fpu_parked) {
			__builtin_memcpy(c->fpu_vcpu, v->state->fpu, FOC_FXSAVE_SIZE);
			c->fpu_vcpu_valid = true;
			c->fpu_vcpu_charged = true;
		} else {
			c->fpu_charged = true;
		}
	}
	return 0;
}

static int decode(struct roof_vcpu *v)
{
	struct foc_client *c = client_of(v);
	if (v->state->exit_reason == ROOF_EXIT_BACKEND_ERROR && v->state->info.error)
		return 0; /* a failed resume (fail_exit): its text is set */
	if (c->native == ROOF_NATIVE_STARTUP || c->native == ROOF_NATIVE_RECALL)
		return 0;
	struct vmx_exit_record rec = {
		.reason = c->native,
		.qual = RD(VMCS_EXIT_QUALIFICATION),
		.guest_phys = RD(VMCS_GUEST_PHYS_ADDR),
		.insn_len = (uint32_t)RD(VMCS_EXIT_INSTR_LEN),
		.intr_info = (uint32_t)RD(VMCS_EXIT_INTR_INFO),
	};
	if (c->native & VMX_EXIT_ENTRY_FAILURE)
		v->state->info.error = c->ops->hw_error(c->k);
	return vmx_exit_decode(v->state, &rec, &c->env, &c->ctx);
}

static void finish(struct roof_vcpu *v, roof_action action)
{
	(void)action;
	struct foc_client *c = client_of(v);
	if (c->native == ROOF_NATIVE_STARTUP || c->native == ROOF_NATIVE_RECALL)
		return;
	vmx_exit_finish(v->state, &c->ctx);
}

const struct roof_backend_hot_ops foc_client_hot = {
	.fetch = fetch,
	.writeback = writeback,
	.decode = decode,
	.finish = finish,
};

/* ---- the loop around the kernel ------------------------------------------------- */
int foc_client_init(struct foc_client *c, struct roof_vcpu *v,
		    struct foc_vcpu_page *page, const struct foc_kernel_ops *ops,
		    void *k, const struct vmx_exit_env *env, bool genode)
{
	__builtin_memset(c, 0, sizeof *c);
	c->v = v;
	c->page = page;
	c->ops = ops;
	c->k = k;
	c->env = *env;
	c->genode = genode;
	c->native = ROOF_NATIVE_STARTUP;
	/* tuned: before the first entry the guest FPU is nowhere but in the
	 * hardware: as if parked */
	c->fpu_parked = !genode;
	foc_client_thread_init(c); /* a valid image before the thread's own */
	return foc_plan_init(&c->plan, page) ? ROOF_EKERNEL : 0;
}

void foc_client_thread_init(struct foc_client *c)
{
	__asm__ __volatile__("fxsave %0"
			     : "=m"(*(uint8_t(*)[FOC_FXSAVE_SIZE])c->fpu_host));
}

/* vm.cc entry(), before the loop: cr masks, cr4 shadow, EFER save/load. */
static void setup_controls(struct foc_client *c)
{
	WR(VMCS_CR0_MASK, CR0_MASK);
	WR(VMCS_CR4_MASK, CR4_MASK);
	WR(VMCS_CR4_SHADOW, 0);
	WR(VMCS_EXIT_CTLS, EXIT_SAVE_EFER);
	WR(VMCS_ENTRY_CTLS, ENTRY_LOAD_EFER);
	c->page->vcpu.saved_state = FOC_VCPU_F_USER_MODE | FOC_VCPU_F_FPU_ENABLED;
	c->stats.page_writes++;
}

/* Genode reads everything it can; the FPU only after a resume. */
static void deliver_everything(struct foc_client *c, bool fpu_saved)
{
	roof_state *s = c->v->state;
	uint64_t g = FOC_GROUPS & ~ROOF_G_FPU;
	if (c->ops->page_sync(c->k, g)) {
		/* nothing delivered: the dispatch fetches and reports */
		return;
	}
	read_groups(c, s, g);
	s->valid |= g | (fpu_saved ? ROOF_G_FPU : 0);
}

void foc_client_startup(struct foc_client *c)
{
	roof_state *s = c->v->state;
	setup_controls(c);
	c->native = ROOF_NATIVE_STARTUP;
	roof_state_begin_exit(s, ROOF_EXIT_STARTUP, 0);
	__builtin_memset(&s->info, 0, sizeof s->info);
	s->info.native = ROOF_NATIVE_STARTUP;
	if (c->genode)
		deliver_everything(c, false);
}

static void fail_exit(struct foc_client *c, const char *why)
{
	roof_state_begin_error(c->v->state, why);
}

/* A well-behaved kernel clears the pending flag at the first receive;
 * the bound keeps a broken one from holding the vCPU thread forever. */
#define IRQ_RECEIVE_MAX 64

int foc_client_take_exit(struct foc_client *c, int tag)
{
	if (!foc_vmcs_offset(c->page->vmcs, VMCS_EXIT_REASON)) {
		c->native = 0;
		fail_exit(c, "Fiasco.OC model: the page's offset table has no "
			     "place for the exit reason");
		return ROOF_EKERNEL;
	}
	uint32_t reason = (uint32_t)RD(VMCS_EXIT_REASON);
	if (tag == FOC_RESUME_IRQ && (reason & 0xffffu) == EXIT_REASON_IRQ) {
		/* remotely paused: consume the notification (vm.cc) */
		unsigned n = 0;
		while (__atomic_load_n(&c->page->vcpu.sticky_flags,
				       __ATOMIC_ACQUIRE) &
		       FOC_VCPU_SF_IRQ_PENDING) {
			if (n++ == IRQ_RECEIVE_MAX) {
				c->native = 0;
				fail_exit(c, "Fiasco.OC model: the vCPU IRQ stays "
					     "pending after 64 l4_irq_receive");
				return ROOF_EKERNEL;
			}
			c->ops->irq_receive(c->k);
			c->v->counters.crossings++;
		}
		reason = ROOF_NATIVE_RECALL;
	}
	c->native = reason;
	return 0;
}

int foc_client_resume(struct foc_client *c)
{
	roof_state *s = c->v->state;
	int rc;
	/* before the resume: the guest FPU into the registers */
	if (c->genode) {
		fx_save(c, c->fpu_ep);
		fx_restore(c, c->fpu_ep); /* stands in for fxrstor(guest) */
		if (c->fpu_charged && (rc = c->ops->fpu_to_guest(c->k, s->fpu))) {
			fail_exit(c, c->ops->hw_error(c->k));
			return rc;
		}
	} else if (c->fpu_parked || c->fpu_charged) {
		fx_restore(c, c->fpu_host); /* stands in for fxrstor(guest) */
		const uint8_t *img = c->fpu_parked ? c->fpu_vcpu : s->fpu;
		bool charged = c->fpu_parked ? c->fpu_vcpu_charged : true;
		if (charged && (rc = c->ops->fpu_to_guest(c->k, img))) {
			fail_exit(c, c->ops->hw_error(c->k));
			return rc;
		}
		c->fpu_parked = c->fpu_vcpu_charged = false;
	}
	c->fpu_charged = false;
	c->started = true;

	int tag = c->ops->vcpu_resume(c->k);
	c->v->counters.crossings++;

	if (c->genode) {
		/* vm.cc: save the guest FPU twice, restore the entrypoint's */
		fx_save(c, s->fpu);
		fx_save(c, c->fpu_vcpu);
		fx_restore(c, c->fpu_ep);
	}
	if (tag < 0) {
		c->native = 0;
		fail_exit(c, c->ops->hw_error(c->k));
		return tag;
	}
	if ((rc = foc_client_take_exit(c, tag)))
		return rc;
	if (c->genode) {
		/* the two saves above held the guest's image */
		if ((rc = guest_fpu_into(c, s->fpu))) {
			fail_exit(c, c->ops->hw_error(c->k));
			return rc;
		}
		__builtin_memset(s->fpu + FOC_FXSAVE_SIZE, 0,
				 ROOF_FPU_SIZE - FOC_FXSAVE_SIZE);
		s->fpu_size = FOC_FXSAVE_SIZE;
	}
	return 0;
}

void foc_client_deliver(struct foc_client *c, roof_exit reason)
{
	roof_state *s = c->v->state;
	roof_state_begin_exit(s, reason, 0);
	__builtin_memset(&s->info, 0, sizeof s->info);
	s->info.native = c->native;
	if (c->genode)
		deliver_everything(c, true);
}

void foc_client_deliver_stopped_pause(struct foc_client *c)
{
	c->native = ROOF_NATIVE_RECALL;
	foc_client_deliver(c, ROOF_EXIT_PAUSED);
}

void foc_client_park(struct foc_client *c)
{
	if (c->genode || c->fpu_parked || !c->started)
		return; /* genode saved it at the exit */
	fx_save(c, c->fpu_vcpu);
	c->fpu_vcpu_valid = false; /* the hardware has the guest's bytes */
	if (c->fpu_charged) {
		/* written but not yet entered: the image is the VMM's */
		__builtin_memcpy(c->fpu_vcpu, c->v->state->fpu, FOC_FXSAVE_SIZE);
		c->fpu_vcpu_valid = c->fpu_vcpu_charged = true;
		c->fpu_charged = false;
	}
	c->fpu_parked = true;
}
