/*
 * dispatch.c - the exit dispatch: classify (done by the backend), fetch the
 * mask, handle inline or on the entrypoint, write the dirty groups back.
 * Freestanding: no libc, no threads; the host supplies the entrypoint hop.
 */
#include "roof_core.h"

/*
 * The shipped default fetch mask per exit reason.
 *
 * Started from Seoul's hand-tuned table (Genode 19.05, see
 * ../shared/reference/genode-vm-interface.md): IOIO = RIP_LEN|QUAL|GPR_ACDB|
 * STATE|RFLAGS, CPUID = RIP_LEN|GPR_ACDB|STATE, MSR adds TSC|SYSENTER,
 * HLT = RIP_LEN|IRQ, RECALL = IRQ|RIP_LEN|GPR_ACDB|GPR_BSD, STARTUP/invalid
 * state = ALL. Seoul needs RIP_LEN, QUAL and ACDB because it decodes the exit
 * and retires the instruction itself. oneroof decodes the exit into
 * state->info and the backend retires the instruction, so IO, MMIO, CPUID and
 * MSR handlers need no group at all; learn mode (ROOF_LEARN=1) over the tests'
 * and the bench's handlers confirms they touch none. HLT keeps ip and flags
 * (is IF set: can an interrupt ever wake the vCPU?) but not STA/INJ: a oneroof
 * VMM waits by returning ROOF_STOP, and the handler that injects at a hlt
 * names INJ|STA in its mask (or pays one lazy fetch); on KVM they would cost
 * the events sync class on every hlt exit (RESULTS.md, "Substrate"). TSC is
 * left out of the IRQ-style masks: on KVM it is a state ioctl, and no handler
 * here reads it.
 */
uint64_t roof_default_mask(roof_exit reason)
{
	switch (reason) {
	case ROOF_EXIT_STARTUP:
		return ROOF_G_ALL | ROOF_G_CTRL | ROOF_G_TSC_AUX;
	case ROOF_EXIT_PAUSED:
		return ROOF_G_EIP | ROOF_G_EFL | ROOF_G_STA | ROOF_G_INJ |
		       ROOF_G_ACDB | ROOF_G_EBSD;
	case ROOF_EXIT_IO:
	case ROOF_EXIT_MMIO:
	case ROOF_EXIT_CPUID:
	case ROOF_EXIT_MSR_READ:
	case ROOF_EXIT_MSR_WRITE:
		return 0;
	case ROOF_EXIT_HLT:
		return ROOF_G_EIP | ROOF_G_EFL;
	case ROOF_EXIT_IRQ_WINDOW:
		return ROOF_G_EFL | ROOF_G_STA | ROOF_G_INJ;
	case ROOF_EXIT_DEBUG:
		return ROOF_G_EIP | ROOF_G_EFL | ROOF_G_DR;
	case ROOF_EXIT_SHUTDOWN:
	case ROOF_EXIT_INVALID_STATE:
		return ROOF_G_ALL;
	case ROOF_EXIT_BACKEND_ERROR:
	default:
		return 0;
	}
}

/* State ops: a miss in the accessors fetches through the backend. */
static int state_fetch(void *ctx, roof_state *s, uint64_t groups)
{
	struct roof_vcpu *v = ctx;
	v->counters.misses++;
	int rc = v->hot->fetch(v, groups & ~s->valid);
	if (rc == 0)
		s->valid |= groups;
	return rc;
}

static void state_fatal(void *ctx, const char *msg)
{
	struct roof_vcpu *v = ctx;
	if (v->host_hooks && v->host_hooks->fatal)
		v->host_hooks->fatal(v, msg);
	__builtin_trap();
}

static const struct roof_state_ops core_state_ops = {
	.fetch = state_fetch,
	.fatal = state_fatal,
};

void roof_core_init(struct roof_vcpu *v, roof_state *state, unsigned id,
		    const struct roof_backend_hot_ops *hot, void *backend,
		    const struct roof_host_hooks *hooks, void *host)
{
	v->state = state;
	v->id = id;
	v->hot = hot;
	v->backend = backend;
	v->host_hooks = hooks;
	v->host = host;
	state->ops = &core_state_ops;
	state->ops_ctx = v;
	state->mode = v->mode;
#ifdef ROOF_CHECKED
	v->mode |= ROOF_MODE_CHECK;
	state->mode |= ROOF_MODE_CHECK;
#endif
}

/* What happens to an exit nobody registered a handler for (see oneroof.h). */
static roof_action unhandled_exit(roof_state *s)
{
	switch (s->exit_reason) {
	case ROOF_EXIT_STARTUP:
	case ROOF_EXIT_IRQ_WINDOW:
		return ROOF_RESUME;
	case ROOF_EXIT_IO:
		if (s->info.io.dir == ROOF_DIR_IN) {
			/* floating bus: all ones, as wide as the access */
			s->info.io.data = s->info.io.size == 1   ? 0xffu
					  : s->info.io.size == 2 ? 0xffffu
								 : 0xffffffffu;
			if (s->info.io.string && s->info.io.buffer) {
				uint32_t n = s->info.io.count * s->info.io.size;
				for (uint32_t i = 0; i < n; i++)
					s->info.io.buffer[i] = 0xff;
			}
		}
		return ROOF_RESUME;
	case ROOF_EXIT_MMIO: /* unbacked memory reads all ones, len wide */
		if (s->info.mmio.dir == ROOF_DIR_READ)
			s->info.mmio.data = s->info.mmio.len >= 8
						    ? ~UINT64_C(0)
						    : (UINT64_C(1) << (8 * s->info.mmio.len)) - 1;
		return ROOF_RESUME;
	case ROOF_EXIT_MSR_READ:
	case ROOF_EXIT_MSR_WRITE:
		s->info.msr.fault = 1; /* #GP, as for an unknown MSR */
		return ROOF_RESUME;
	case ROOF_EXIT_CPUID:
		return ROOF_RESUME; /* the backend prefilled the policy's answer */
	default:
		return ROOF_STOP;
	}
}

roof_action roof_dispatch_exit(struct roof_vcpu *v)
{
	roof_state *s = v->state;
	unsigned reason = (unsigned)s->exit_reason;
	if (reason >= ROOF_EXIT_COUNT) {
		s->exit_reason = ROOF_EXIT_BACKEND_ERROR;
		s->info.error = "backend reported an unknown exit reason";
		reason = ROOF_EXIT_BACKEND_ERROR;
	}
	const struct roof_handler_slot *h =
		v->handlers[reason].set ? &v->handlers[reason] : 0;

	v->counters.exits++;
	v->counters.exits_by_reason[reason]++;

	uint64_t need = roof_exit_fetch_mask(v, (roof_exit)reason) & ~s->valid;
	bool failed = need && v->hot->fetch(v, need) != 0;
	if (!failed)
		s->valid |= need;
	if (!failed && v->hot->decode && v->hot->decode(v) != 0)
		failed = true;
	if (failed && reason != ROOF_EXIT_BACKEND_ERROR) {
		/* The transfer or decode failed: hand the VMM an error, never
		 * a state that was not delivered. */
		s->exit_reason = ROOF_EXIT_BACKEND_ERROR;
		if (!s->info.error)
			s->info.error = "state transfer failed";
		reason = ROOF_EXIT_BACKEND_ERROR;
		h = v->handlers[reason].set ? &v->handlers[reason] : 0;
		v->counters.exits_by_reason[reason]++;
	}

	s->touched = 0;
	roof_action action;
	if (!h) {
		action = unhandled_exit(s);
	} else if ((h->where == ROOF_ON_EP || v->force_hop) && v->host_hooks &&
		   v->host_hooks->call_on_ep) {
		v->counters.hops++;
		action = v->host_hooks->call_on_ep(v, h);
	} else {
		action = h->fn(v, s, h->ctx);
	}
	if (action != ROOF_RESUME)
		action = ROOF_STOP;

	if (v->mode & ROOF_MODE_LEARN)
		v->learned[reason] |= s->touched;
	if (v->hot->finish && !failed)
		v->hot->finish(v, action);

	if (s->dirty) {
		if (v->hot->writeback(v, s->dirty) != 0)
			action = ROOF_STOP; /* backend recorded the error */
		s->dirty = 0;
	}
	if (s->fetch_failed)
		action = ROOF_STOP; /* a lazy fetch failed: do not run on */
	return action;
}
