/*
 * nova_client.c - the NOVA client (see nova_client.h). Freestanding.
 *
 * Behaviour taken from genodelabs/genode repos/base-nova/src/lib/base/vm.cc
 * (_read_nova_state, _write_nova_state, _portal_mtd, with_state) and from
 * the kernel's transfer, alex-ab/NOVA src/utcb.cpp (load_vmx, save_vmx).
 */
#include "nova_client.h"

_Static_assert(NOVA_GENODE_PORTAL_MTD == ROOF_G_EVERYTHING,
	       "Genode's portal MTD names every group");

/* save_vmx writes no qualification back: it is read-only exit information. */
#define REPLY_GROUPS (ROOF_G_VALID_BITS & ~ROOF_G_QUAL)

static struct nova_client *client_of(struct roof_vcpu *v)
{
	return (struct nova_client *)v->backend;
}

void nova_client_read_utcb(struct nova_client *c, roof_state *s, uint64_t mtd)
{
	const struct nova_utcb *u = c->utcb;
	roof_gather(&c->plan, mtd, u, s);
	if (c->vmi == NOVA_VMI_SVM) {
		if (mtd & ROOF_G_EIP)
			s->ip_len = 0; /* load_svm leaves instr_len alone: the
					* decode computes the length of the
					* exits that have one */
		if (mtd & ROOF_G_EFER)
			s->efer &= ~(uint64_t)NOVA_SVM_EFER_SVME; /* not the
								   * guest's */
	}
	if (mtd & ROOF_G_TSC) {
		/* load_vmx: tsc_val = the host's rdtsc, tsc_off = the offset */
		s->tsc = u->tsc_val + u->tsc_off;
		s->tsc_offset = u->tsc_off;
		c->tsc = s->tsc;
		c->tsc_off = s->tsc_offset;
	}
	if (mtd & ROOF_G_FPU)
		s->fpu_size = NOVA_UTCB_FPU_SIZE;
}

uint64_t nova_client_write_utcb(struct nova_client *c, roof_state *s,
				uint64_t dirty)
{
	struct nova_utcb *u = c->utcb;
	uint64_t m = dirty & REPLY_GROUPS;
	roof_scatter(&c->plan, m, s, u);
	if ((m & ROOF_G_EFER) && c->vmi == NOVA_VMI_SVM)
		u->efer |= NOVA_SVM_EFER_SVME; /* VMRUN needs it */
	if (m & ROOF_G_TSC) {
		/* save_vmx adds tsc_off to the offset (add_tsc_offset). The
		 * unified offset is absolute: send the difference to what was
		 * delivered. A written tsc (the guest's TSC) wins, as on KVM:
		 * it moves the offset by its own difference. */
		uint64_t delta = s->tsc != c->tsc ? s->tsc - c->tsc
						  : s->tsc_offset - c->tsc_off;
		u->tsc_val = c->tsc - c->tsc_off; /* ignored by the kernel */
		u->tsc_off = delta;
		c->tsc += delta;
		c->tsc_off += delta;
		s->tsc = c->tsc;
		s->tsc_offset = c->tsc_off;
	}
	u->mtd = m;
	u->items = 0;
	return m;
}

/* ---- hot ops ------------------------------------------------------------ */
/* A read outside the portal MTD: NOVA has no per-field VMCS read, but
 * Genode's fork has ec_ctrl(EC_GET_VCPU_STATE) (alex-ab/NOVA 3448198f;
 * Genode's with_state uses it). It arms the vCPU's recall: the vCPU takes
 * a RECALL exit before it runs on, which this client then answers with an
 * empty reply. */
static int client_fetch(struct roof_vcpu *v, uint64_t mask)
{
	struct nova_client *c = client_of(v);
	if (mask & ~c->groups) {
		/* the kernel would answer OK and leave the UTCB stale */
		v->state->info.error = c->vmi == NOVA_VMI_SVM
			? "NOVA (SVM): the kernel does not transfer PDPTE or TPR"
			: "NOVA: a group the kernel does not transfer";
		return ROOF_ENOSYS;
	}
	if (c->sys->get_vcpu_state(c->kctx, mask) != NOVA_OK)
		return ROOF_EKERNEL; /* the kernel side recorded why */
	c->recall_expected = true;
	nova_client_read_utcb(c, v->state, mask);
	c->utcb->mtd = 0; /* the reply so far carries nothing */
	c->utcb->items = 0;
	return ROOF_OK;
}

static int client_writeback(struct roof_vcpu *v, uint64_t dirty)
{
	struct nova_client *c = client_of(v);
	nova_client_write_utcb(c, v->state, dirty);
	if (c->in_portal)
		return ROOF_OK; /* travels with the reply */
	/* outside an exit (with_state on a stopped vCPU): Genode's remote
	 * with_state; recall stays armed as Genode's !(resume && last_resume)
	 * is for a stopped vCPU */
	return c->sys->set_vcpu_state(c->kctx, true) == NOVA_OK ? ROOF_OK
								: ROOF_EKERNEL;
}

static const void *no_guest_memory(void *ctx, uint64_t gpa, uint64_t len)
{
	(void)ctx;
	(void)gpa;
	(void)len;
	return 0;
}

static int client_decode(struct roof_vcpu *v)
{
	struct nova_client *c = client_of(v);
	roof_state *s = v->state;
	unsigned reason = c->rec.reason;
	s->info.native = c->vmi == NOVA_VMI_SVM ? c->svm.code : reason;
	switch (reason) {
	case NOVA_EXIT_STARTUP:
	case NOVA_EXIT_RECALL:
		return 0;
	case NOVA_EXIT_INVSTATE:
		if (!s->info.error)
			s->info.error = "NOVA: VM entry failed (invalid state)";
		return 0;
	case NOVA_EXIT_NOSUPP:
	case NOVA_EXIT_NPT:
		if (reason == NOVA_EXIT_NPT && c->vmi == NOVA_VMI_SVM)
			break; /* a nested-page fault: decoded below */
		if (!s->info.error)
			s->info.error = "NOVA: the kernel could not handle the "
					"exit (VM_EXIT_NOSUPP)";
		return 0;
	default:
		break;
	}
	struct vmx_exit_env env = c->env;
	if (!env.mem)
		env.mem = no_guest_memory;
	if (c->vmi == NOVA_VMI_SVM)
		return svm_exit_decode(s, &c->svm, &env, &c->xctx);
	return vmx_exit_decode(s, &c->rec, &env, &c->xctx);
}

static void client_finish(struct roof_vcpu *v, roof_action action)
{
	(void)action;
	vmx_exit_finish(v->state, &client_of(v)->xctx);
}

static const struct roof_backend_hot_ops nova_hot = {
	.fetch = client_fetch,
	.writeback = client_writeback,
	.decode = client_decode,
	.finish = client_finish,
};

/* ---- set-up --------------------------------------------------------------- */
int nova_client_init(struct nova_client *c, struct nova_utcb *utcb,
		     const struct nova_syscalls *sys, void *kctx,
		     const struct vmx_exit_env *env, enum nova_policy policy,
		     enum nova_vmi vmi)
{
	__builtin_memset(c, 0, sizeof *c);
	c->utcb = utcb;
	c->sys = sys;
	c->kctx = kctx;
	c->env = *env;
	c->policy = policy;
	c->vmi = vmi;
	c->groups = vmi == NOVA_VMI_SVM ? NOVA_SVM_GROUPS : ROOF_G_VALID_BITS;
	return nova_utcb_plan_init(&c->plan);
}

uint64_t nova_client_implicit(enum nova_vmi vmi, roof_exit reason)
{
	if (vmi == NOVA_VMI_SVM) {
		uint64_t g = svm_exit_implicit(reason);
		if (reason == ROOF_EXIT_IO || reason == ROOF_EXIT_MMIO ||
		    reason == ROOF_EXIT_MSR_READ || reason == ROOF_EXIT_MSR_WRITE)
			g |= ROOF_G_QUAL;
		return g;
	}
	uint64_t g = vmx_exit_implicit(reason);
	if (reason == ROOF_EXIT_IO || reason == ROOF_EXIT_MMIO)
		g |= ROOF_G_QUAL;
	return g;
}

roof_exit nova_client_unified(const struct nova_client *c, unsigned reason,
			      uint64_t info1)
{
	return c->vmi == NOVA_VMI_SVM ? nova_svm_unified(reason, info1)
				      : nova_exit_unified(reason);
}

void nova_client_bind(struct nova_client *c, struct roof_vcpu *v)
{
	for (unsigned e = 0; e < ROOF_EXIT_COUNT; e++)
		v->implicit[e] = nova_client_implicit(c->vmi, (roof_exit)e);
	v->hot = &nova_hot;
	v->backend = c;
}

uint64_t nova_client_portal_mtd(const struct nova_client *c,
				const struct roof_vcpu *v, unsigned reason)
{
	if (c->policy == NOVA_POLICY_GENODE)
		return NOVA_GENODE_PORTAL_MTD;
	/* one SVM portal takes rdmsr (info1 0) and wrmsr (1) alike */
	return (roof_exit_fetch_mask(v, nova_client_unified(c, reason, 0)) |
		roof_exit_fetch_mask(v, nova_client_unified(c, reason, 1))) &
	       ROOF_G_VALID_BITS;
}

int nova_client_create_portals(struct nova_client *c, const struct roof_vcpu *v)
{
	for (unsigned r = 0; r < NOVA_NUM_VMI; r++)
		if (c->sys->create_pt(c->kctx, r,
				      nova_client_portal_mtd(c, v, r)) != NOVA_OK)
			return ROOF_EKERNEL;
	return ROOF_OK;
}

/* ---- the portal handler --------------------------------------------------- */
roof_action nova_client_portal(struct nova_client *c, struct roof_vcpu *v,
			       bool vmm_recall, const char *substrate_error)
{
	struct nova_utcb *u = c->utcb;
	unsigned reason = (unsigned)(u->exit_reason & 0xffu);
	if (reason == NOVA_EXIT_RECALL) {
		bool armed_by_get = c->recall_expected;
		c->recall_expected = false;
		if (armed_by_get && !vmm_recall) {
			/* nobody paused: reply empty, as Genode's _handle_exit
			 * answers every RECALL */
			u->mtd = 0;
			u->items = 0;
			return ROOF_RESUME;
		}
	}
	/* what the kernel delivered: the portal MTD's groups it transfers */
	uint64_t mtd = u->mtd & c->groups;
	uint64_t qual0 = (mtd & ROOF_G_QUAL) ? u->qual[0] : 0;
	uint64_t qual1 = (mtd & ROOF_G_QUAL) ? u->qual[1] : 0;
	roof_state *s = v->state;
	roof_state_begin_exit(s, nova_client_unified(c, reason, qual0), mtd);
	__builtin_memset(&s->info, 0, sizeof s->info);
	s->info.error = substrate_error;
	nova_client_read_utcb(c, s, mtd);
	c->rec = (struct vmx_exit_record){
		.reason = reason,
		.qual = qual0,
		.guest_phys = qual1,
		.insn_len = (mtd & ROOF_G_EIP) && c->vmi == NOVA_VMI_VMX
				    ? (uint32_t)u->instr_len
				    : 0,
		.intr_info = 0, /* NOVA passes no exit interruption info */
	};
	c->svm = (struct svm_exit_record){nova_svm_code(reason), qual0, qual1};
	/* _write_nova_state: the reply carries what the VMM charges */
	u->mtd = 0;
	u->items = 0;
	c->in_portal = true;
	roof_action a = roof_dispatch_exit(v);
	c->in_portal = false;
	return a;
}
