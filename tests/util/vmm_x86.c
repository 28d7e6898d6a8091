/* vmm_x86.c - see vmm_x86.h. Freestanding. */
#include "vmm_x86.h"
#include "roof_guest.h"
#include "roof_text.h"

enum tstate { INITIAL, HALTED, PAUSED, UNKNOWN, RUNNING };

static void record(struct roof_vmm_x86_vcpu *t, roof_exit reason, uint64_t ip)
{
	unsigned n = atomic_load(&t->nevents);
	if (n < ROOF_VMM_X86_MAX_EVENTS) {
		t->events[n] = (struct roof_vmm_x86_event){reason, ip};
		atomic_store(&t->nevents, n + 1);
	}
}

static bool paused_nth(struct roof_vmm_x86_vcpu *t, unsigned n)
{
	return atomic_load(&t->state) == PAUSED &&
	       atomic_load(&t->pause_count) == n;
}

/* Genode's Vcpu::_cpu_init: the x86 reset state (sandpile.org). */
static void cpu_init(struct roof_vmm_x86_vcpu *t, roof_state *st)
{
	roof_test_set_real_mode(st);
	roof_set_dx(st, 0x600);
	roof_set_dr7(st, 0x400);
	if (t->vmm->groups & ROOF_G_TSC_AUX)
		roof_set_tsc_aux(st, 0xaffe0000u | t->id);
}

/* The state the vCPU runs with is the reset state it was given. */
static void check_reset_state(struct roof_vmm_x86_vcpu *t, roof_state *st)
{
	struct roof_segment cs = roof_get_cs(st), ss = roof_get_ss(st);
	struct roof_segment tr = roof_get_tr(st);
	const char *bad = 0;
	if (cs.sel != 0xf000 || cs.base != 0xffff0000 || cs.limit != 0xffff)
		bad = "cs";
	else if (ss.sel != 0 || ss.base != 0 || ss.limit != 0xffff)
		bad = "ss";
	else if (roof_get_cr0(st) != 0x10)
		bad = "cr0";
	else if (roof_get_dr7(st) != 0x400)
		bad = "dr7";
	else if (tr.ar != 0x8b || tr.limit != 0xffff)
		bad = "tr";
	else if ((t->vmm->groups & ROOF_G_TSC_AUX) &&
		 roof_get_tsc_aux(st) != (0xaffe0000u | t->id))
		bad = "tsc_aux";
	if (bad) {
		struct roof_text m;
		roof_text_init(&m, t->reset_error, sizeof t->reset_error);
		roof_text_put(&m, "vcpu ");
		roof_text_dec(&m, t->id);
		roof_text_put(&m, ": ");
		roof_text_put(&m, bad);
		roof_text_put(&m, " differs from the STARTUP reset state (cs ");
		roof_text_hex(&m, cs.sel);
		roof_text_char(&m, '/');
		roof_text_hex(&m, cs.base);
		roof_text_put(&m, " cr0 ");
		roof_text_hex(&m, roof_get_cr0(st));
		roof_text_put(&m, " dr7 ");
		roof_text_hex(&m, roof_get_dr7(st));
		roof_text_put(&m, ")");
	}
	t->reset_checked = true;
}

static void set_error(struct roof_vmm_x86_vcpu *t, const char *what,
		      const char *detail)
{
	struct roof_text m;
	roof_text_init(&m, t->error, sizeof t->error);
	roof_text_put(&m, "vcpu ");
	roof_text_dec(&m, t->id);
	roof_text_put(&m, ": ");
	roof_text_put(&m, what);
	if (detail) {
		roof_text_put(&m, ": ");
		roof_text_put(&m, detail);
	}
}

/* Genode's Vcpu::_handle_vcpu_exit, on the vCPU's entrypoint. */
static roof_action on_vcpu_exit(roof_vcpu *cpu, roof_state *st, void *p)
{
	(void)cpu;
	struct roof_vmm_x86_vcpu *t = p;
	roof_exit exit = st->exit_reason;
	unsigned count = atomic_fetch_add(&t->exit_count, 1) + 1;
	switch (exit) {
	case ROOF_EXIT_STARTUP:
		record(t, exit, 0);
		cpu_init(t, st);
		break;
	case ROOF_EXIT_INVALID_STATE:
	case ROOF_EXIT_SHUTDOWN:
	case ROOF_EXIT_BACKEND_ERROR:
		set_error(t, roof_exit_name(exit),
			  st->info.error ? st->info.error : "");
		atomic_store(&t->state, UNKNOWN);
		return ROOF_STOP;
	case ROOF_EXIT_PAUSED:
		record(t, exit, roof_get_ip(st));
		if (!t->reset_checked)
			check_reset_state(t, st);
		if (t->id == 2) {
			if (paused_nth(t, 1))
				return ROOF_RESUME;
			if (paused_nth(t, 2)) {
				/* skip the next hlt */
				roof_set_ip(st, roof_get_ip(st) + 1);
				atomic_store(&t->state, UNKNOWN);
				return ROOF_RESUME;
			}
		}
		atomic_fetch_add(&t->pause_count, 1);
		atomic_store(&t->state, PAUSED);
		return ROOF_STOP;
	case ROOF_EXIT_HLT:
		record(t, exit, roof_get_ip(st));
		if (atomic_load(&t->hlt_count) == 0)
			t->cx_first_hlt = roof_get_cx(st);
		atomic_store(&t->state, HALTED);
		atomic_fetch_add(&t->hlt_count, 1);
		return ROOF_STOP;
	default:
		record(t, exit, 0);
		break;
	}
	if (count >= 5) {
		set_error(t, "halting vCPU - unknown state", 0);
		atomic_store(&t->state, UNKNOWN);
		return ROOF_STOP;
	}
	atomic_store(&t->state, RUNNING);
	return ROOF_RESUME;
}

static bool resume_a(roof_vcpu *cpu, roof_state *st, void *p)
{
	(void)cpu;
	struct roof_vmm_x86_vcpu *t = p;
	/* force an FPU-state transfer on the next entry, unchanged */
	if (t->vmm->groups & ROOF_G_FPU)
		(void)roof_fpu_write(st);
	return true;
}

static bool resume_b(roof_vcpu *cpu, roof_state *st, void *p)
{
	(void)cpu;
	struct roof_vmm_x86_vcpu *t = p;
	roof_set_ip(st, roof_get_ip(st) + 2); /* over 2 hlt */
	atomic_store(&t->state, UNKNOWN);
	return true;
}

static bool resume_c(roof_vcpu *cpu, roof_state *st, void *p)
{
	(void)cpu;
	(void)p;
	roof_set_ip(st, roof_get_ip(st) + 2); /* over the jmp . */
	return true;
}

void roof_vmm_x86_on_timer(roof_ep *ep, void *ctx)
{
	(void)ep;
	struct roof_vmm_x86 *x = ctx;
	for (unsigned i = 0; i < ROOF_VMM_X86_VCPUS; i++)
		atomic_fetch_add(&x->vcpus[i].timer_count, 1);
	struct roof_vmm_x86_vcpu *v1 = &x->vcpus[1], *v2 = &x->vcpus[2];

	/* vCPU 2 lives on the other entrypoint: pause it remotely */
	if (atomic_load(&v2->state) == HALTED || paused_nth(v2, 1) ||
	    paused_nth(v2, 2))
		roof_vcpu_pause(v2->cpu);

	unsigned at = atomic_load(&v1->pause_at_timer);
	if (at && atomic_load(&v1->timer_count) >= at) {
		atomic_store(&v1->pause_at_timer, 0);
		roof_vcpu_pause(v1->cpu); /* stop the jmp . loop */
		return;
	}
	if (atomic_load(&v1->state) == HALTED)
		roof_vcpu_pause(v1->cpu);

	if (paused_nth(v1, 1)) {
		roof_vcpu_with_state(v1->cpu, resume_a, v1);
	} else if (paused_nth(v1, 2)) {
		roof_vcpu_with_state(v1->cpu, resume_b, v1);
		atomic_store(&v1->pause_at_timer,
			     atomic_load(&v1->timer_count) + 3);
	} else if (paused_nth(v1, 3)) {
		roof_vcpu_with_state(v1->cpu, resume_c, v1);
	} else if (paused_nth(v1, 4)) {
		roof_ep_timer_stop(x->ep_first, atomic_load(&x->timer_id));
		if (x->finished)
			x->finished(x);
	}
}

void roof_vmm_x86_init(struct roof_vmm_x86 *x, uint64_t groups,
		       roof_ep *ep_first)
{
	__builtin_memset(x, 0, sizeof *x);
	x->groups = groups;
	x->ep_first = ep_first;
	for (unsigned i = 0; i < ROOF_VMM_X86_VCPUS; i++) {
		x->vcpus[i].vmm = x;
		x->vcpus[i].id = i;
	}
}

int roof_vmm_x86_register(struct roof_vmm_x86 *x, unsigned id, roof_vcpu *cpu)
{
	static const roof_exit reasons[] = {
		ROOF_EXIT_STARTUP, ROOF_EXIT_PAUSED, ROOF_EXIT_HLT,
		ROOF_EXIT_INVALID_STATE, ROOF_EXIT_SHUTDOWN,
		ROOF_EXIT_BACKEND_ERROR};
	if (id >= ROOF_VMM_X86_VCPUS)
		return ROOF_EINVAL;
	struct roof_vmm_x86_vcpu *t = &x->vcpus[id];
	t->cpu = cpu;
	for (unsigned r = 0; r < sizeof reasons / sizeof reasons[0]; r++) {
		uint64_t mask = ROOF_MASK_DEFAULT;
		if (reasons[r] == ROOF_EXIT_HLT)
			mask = roof_default_mask(ROOF_EXIT_HLT) | ROOF_G_ACDB;
		if (reasons[r] == ROOF_EXIT_PAUSED)
			mask = (ROOF_G_ALL | ROOF_G_TSC_AUX) & x->groups;
		int rc = roof_vcpu_on_exit(cpu, reasons[r], on_vcpu_exit, t, mask,
					   ROOF_ON_EP);
		if (rc)
			return rc;
	}
	return ROOF_OK;
}

/* Genode's expected log, as (exit, ip) per vCPU. */
struct expected {
	unsigned n;
	struct roof_vmm_x86_event e[10];
};

#define S {ROOF_EXIT_STARTUP, 0}
#define H(ip) {ROOF_EXIT_HLT, ip}
#define P(ip) {ROOF_EXIT_PAUSED, ip}
static const struct expected expect[ROOF_VMM_X86_VCPUS] = {
	{2, {S, H(0xff81)}},
	{8, {S, H(0xff81), P(0xff81), H(0xff81), P(0xff81), P(0xff83),
	     H(0xff85), P(0xff85)}},
	{9, {S, H(0xff81), P(0xff81), P(0xff81), H(0xff81), P(0xff81),
	     P(0xff81), H(0xff82), P(0xff82)}},
	{2, {S, H(0xff81)}},
};
#undef S
#undef H
#undef P

bool roof_vmm_x86_second_done(const struct roof_vmm_x86 *x)
{
	return atomic_load(&x->vcpus[2].nevents) >= expect[2].n;
}

void roof_vmm_x86_describe(const struct roof_vmm_x86_vcpu *t, char *buf,
			   size_t size)
{
	struct roof_text m;
	roof_text_init(&m, buf, size);
	unsigned n = atomic_load(&t->nevents);
	for (unsigned i = 0; i < n; i++) {
		roof_text_put(&m, roof_exit_name(t->events[i].reason));
		roof_text_char(&m, '@');
		roof_text_hex(&m, t->events[i].ip);
		roof_text_char(&m, ' ');
	}
}

bool roof_vmm_x86_verdict(const struct roof_vmm_x86 *x, char *why,
			  size_t size)
{
	struct roof_text m;
	roof_text_init(&m, why, size);
	bool ok = true;
	for (unsigned i = 0; i < ROOF_VMM_X86_VCPUS; i++) {
		const struct roof_vmm_x86_vcpu *t = &x->vcpus[i];
		if (t->error[0] || t->reset_error[0]) {
			ok = false;
			roof_text_put(&m, t->error[0] ? t->error : t->reset_error);
			roof_text_put(&m, "; ");
		}
		const struct expected *e = &expect[i];
		bool same = atomic_load(&t->nevents) == e->n;
		for (unsigned j = 0; same && j < e->n; j++)
			same = t->events[j].reason == e->e[j].reason &&
			       t->events[j].ip == e->e[j].ip;
		if (!same) {
			char got[512];
			roof_vmm_x86_describe(t, got, sizeof got);
			ok = false;
			roof_text_put(&m, "vcpu ");
			roof_text_dec(&m, i);
			roof_text_put(&m, " sequence: ");
			roof_text_put(&m, got);
			roof_text_put(&m, "; ");
		}
		/* rdtscp at 0xff7e returned this vCPU's tsc_aux */
		if ((x->groups & ROOF_G_TSC_AUX) &&
		    (uint32_t)t->cx_first_hlt != (0xaffe0000u | i)) {
			ok = false;
			roof_text_put(&m, "vcpu ");
			roof_text_dec(&m, i);
			roof_text_put(&m, " rdtscp cx ");
			roof_text_hex(&m, (uint32_t)t->cx_first_hlt);
			roof_text_put(&m, "; ");
		}
	}
	if (!x->vcpus[1].reset_checked) {
		ok = false;
		roof_text_put(&m, "vcpu 1 never checked its reset state; ");
	}
	return ok;
}
