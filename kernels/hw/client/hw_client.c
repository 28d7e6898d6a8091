/*
 * hw_client.c - oneroof's base-hw client (see hw_client.h). Freestanding.
 *
 * Genode's own client (repos/base-hw/src/lib/base/x86_64/vm.cc) is the
 * whole of with_state(): Kernel::vcpu_pause(), fn(state page),
 * Kernel::vcpu_run() if fn returned true. Everything else - storing the
 * state into the page and loading the charged fields - is in the kernel
 * (src/core/spec/x86_64/kernel/vcpu.cc, vmx.cc). This client adds what
 * the unified API needs: the page <-> roof_state translation (through the
 * page's transfer plan, hw_vcpu_state.c), the VMX exit decode and
 * completion, and (tuned) the exit config.
 */
#include "hw_client.h"

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

/* ---- set-up and exit config ------------------------------------------------- */
int hw_client_init(struct hw_client *c, struct hw_vcpu_state *page,
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
	if (hw_vcpu_state_plan_init(&c->plan)) {
		c->error = "hw: the Vcpu_state transfer plan does not fit "
			   "(a layout bug)";
		return ROOF_EINVAL;
	}
	return ROOF_OK;
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
	uint64_t take = want & ~c->pending;
	if (!all_as_is)
		take = hw_page_charged(c->page, take);
	hw_page_to_state(&c->plan, c->page, s, take);
	if (take & ROOF_G_TSC)
		c->tsc_offset_seen = s->tsc_offset;
	return (want & c->pending) | take;
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
	hw_state_to_page(&c->plan, c->page, v->state, c->pending,
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
