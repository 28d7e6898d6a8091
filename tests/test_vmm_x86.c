/*
 * test_vmm_x86.c - a port of Genode's VM acceptance test
 * (repos/os/src/test/vmm_x86/component.cc + repos/os/run/vmm_x86.run) onto
 * the unified API. One VM, two entrypoints ('ep' on CPU 0, 'second ep' on
 * CPU 1), four vCPUs (0,1 on 'ep'; 2,3 on 'second ep'), one 4 KiB guest page
 * at 0xfffff000 in real mode. A periodic timer on 'ep' drives vcpu1 and
 * vcpu2 through pause/resume; every handler runs on its entrypoint, as in
 * Genode. The test checks the exact per-vCPU sequence of (exit, ip), the
 * reset state set at STARTUP, that HLT does not advance ip, and that rdtscp
 * returned each vCPU's tsc_aux (0xaffe0000 | id) in cx.
 *
 * Differences from Genode's run script: exits are the unified reasons
 * (HLT, not 0xc/0x78); the timer ticks every 25 ms instead of 1 s (the
 * sequence is driven by states, not by time); guest memory is attached up
 * front (Genode's NPT-fault path is left to the MMIO tests).
 */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "roof_test.h"

#define GUEST_PAGE 0xfffff000ull
#define TICK_NS (25ull * 1000 * 1000)
#define TIMEOUT_MS 30000

enum tstate { INITIAL, HALTED, PAUSED, UNKNOWN, RUNNING };

struct event {
	roof_exit reason;
	uint64_t ip; /* HLT and PAUSED only, as Genode's log lines */
};

struct tvcpu {
	unsigned id;
	roof_vcpu *cpu;
	atomic_int state;
	atomic_uint exit_count, pause_count, hlt_count, timer_count;
	atomic_uint pause_at_timer;
	uint64_t cx_first_hlt;
	bool reset_checked;
	char reset_error[256];
	struct event events[32];
	atomic_uint nevents;
	char error[256];
};

static struct tvcpu vcpus[4];
static roof_vm *vm;
/* Genode's run script checks rdtscp only where the kernel transfers
 * tsc_aux (NOVA, hw); the same holds for the FPU transfer of resume A. */
static uint64_t groups;
static int timer_id; /* written before the first tick, read on 'ep' */
static atomic_int timer_armed_id;
static roof_ep *ep_first;
static struct roof_test_flag finished;

static void record(struct tvcpu *t, roof_exit reason, uint64_t ip)
{
	unsigned n = atomic_load(&t->nevents);
	if (n < 32) {
		t->events[n] = (struct event){reason, ip};
		atomic_store(&t->nevents, n + 1);
	}
}

static bool paused_nth(struct tvcpu *t, unsigned n)
{
	return atomic_load(&t->state) == PAUSED &&
	       atomic_load(&t->pause_count) == n;
}

/* Genode's Vcpu::_cpu_init: the x86 reset state (sandpile.org). */
static void cpu_init(struct tvcpu *t, roof_state *st)
{
	roof_test_set_real_mode(st);
	roof_set_dx(st, 0x600);
	roof_set_dr7(st, 0x400);
	if (groups & ROOF_G_TSC_AUX)
		roof_set_tsc_aux(st, 0xaffe0000u | t->id);
}

/* The state the vCPU runs with is the reset state it was given. */
static void check_reset_state(struct tvcpu *t, roof_state *st)
{
	struct roof_segment cs = roof_get_cs(st), ss = roof_get_ss(st);
	struct roof_segment tr = roof_get_tr(st);
	const char *bad = NULL;
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
	else if ((groups & ROOF_G_TSC_AUX) &&
		 roof_get_tsc_aux(st) != (0xaffe0000u | t->id))
		bad = "tsc_aux";
	if (bad)
		snprintf(t->reset_error, sizeof t->reset_error,
			 "vcpu %u: %s differs from the STARTUP reset state "
			 "(cs %x/%llx cr0 %llx dr7 %llx)", t->id, bad, cs.sel,
			 (unsigned long long)cs.base,
			 (unsigned long long)roof_get_cr0(st),
			 (unsigned long long)roof_get_dr7(st));
	t->reset_checked = true;
}

/* Genode's Vcpu::_handle_vcpu_exit, on the vCPU's entrypoint. */
static roof_action on_vcpu_exit(roof_vcpu *cpu, roof_state *st, void *p)
{
	(void)cpu;
	struct tvcpu *t = p;
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
		snprintf(t->error, sizeof t->error, "vcpu %u: exit %s: %s",
			 t->id, roof_exit_name(exit),
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
		snprintf(t->error, sizeof t->error,
			 "vcpu %u: halting vCPU - unknown state", t->id);
		atomic_store(&t->state, UNKNOWN);
		return ROOF_STOP;
	}
	atomic_store(&t->state, RUNNING);
	return ROOF_RESUME;
}

static bool resume_a(roof_vcpu *cpu, roof_state *st, void *p)
{
	(void)cpu;
	(void)p;
	/* force an FPU-state transfer on the next entry, unchanged */
	if (groups & ROOF_G_FPU)
		(void)roof_fpu_write(st);
	return true;
}

static bool resume_b(roof_vcpu *cpu, roof_state *st, void *p)
{
	(void)cpu;
	struct tvcpu *t = p;
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

/* Genode's Vm::_handle_timer, on 'ep'. */
static void on_timer(roof_ep *ep, void *ctx)
{
	(void)ep;
	(void)ctx;
	for (int i = 0; i < 4; i++)
		atomic_fetch_add(&vcpus[i].timer_count, 1);
	struct tvcpu *v1 = &vcpus[1], *v2 = &vcpus[2];

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
		roof_ep_timer_stop(ep_first, atomic_load(&timer_armed_id));
		roof_test_flag_raise(&finished);
	}
}

struct expected {
	unsigned n;
	struct event e[10];
};

#define S {ROOF_EXIT_STARTUP, 0}
#define H(ip) {ROOF_EXIT_HLT, ip}
#define P(ip) {ROOF_EXIT_PAUSED, ip}
static const struct expected expect[4] = {
	{2, {S, H(0xff81)}},
	{8, {S, H(0xff81), P(0xff81), H(0xff81), P(0xff81), P(0xff83),
	     H(0xff85), P(0xff85)}},
	{9, {S, H(0xff81), P(0xff81), P(0xff81), H(0xff81), P(0xff81),
	     P(0xff81), H(0xff82), P(0xff82)}},
	{2, {S, H(0xff81)}},
};

static void describe(const struct tvcpu *t, char *buf, size_t size)
{
	size_t n = 0;
	unsigned cnt = atomic_load(&t->nevents);
	for (unsigned i = 0; i < cnt && n < size; i++)
		n += (size_t)snprintf(buf + n, size - n, "%s@%llx ",
				      roof_exit_name(t->events[i].reason),
				      (unsigned long long)t->events[i].ip);
}

static void test_vmm_x86(void **state)
{
	(void)state;
	ROOF_NEED_KVM();
	memset(vcpus, 0, sizeof vcpus);
	roof_test_flag_init(&finished);
	ROOF_OK_OR_FAIL(roof_vm_open(&vm, NULL), roof_last_error());
	groups = roof_vm_state_groups(vm);
	void *page;
	ROOF_OK_OR_FAIL(roof_vm_alloc_ram(vm, GUEST_PAGE, 4096, &page),
			roof_vm_error(vm));
	ROOF_OK_OR_FAIL(roof_vm_load_image(vm, ROOF_GUEST_DIR "/vmm_x86.bin",
					   GUEST_PAGE, NULL),
			roof_vm_error(vm));
	bool two_cpus = sysconf(_SC_NPROCESSORS_ONLN) >= 2;
	roof_ep *ep_second;
	ROOF_OK_OR_FAIL(roof_ep_create(vm, "ep", two_cpus ? 0 : -1, &ep_first),
			roof_vm_error(vm));
	ROOF_OK_OR_FAIL(roof_ep_create(vm, "second ep", two_cpus ? 1 : -1,
				       &ep_second),
			roof_vm_error(vm));
	static const roof_exit reasons[] = {
		ROOF_EXIT_STARTUP, ROOF_EXIT_PAUSED, ROOF_EXIT_HLT,
		ROOF_EXIT_INVALID_STATE, ROOF_EXIT_SHUTDOWN,
		ROOF_EXIT_BACKEND_ERROR};
	for (unsigned i = 0; i < 4; i++) {
		struct tvcpu *t = &vcpus[i];
		t->id = i;
		ROOF_OK_OR_FAIL(roof_vcpu_create(vm, i < 2 ? ep_first : ep_second,
						 &t->cpu),
				roof_vm_error(vm));
		assert_int_equal(roof_vcpu_id(t->cpu), i);
		for (size_t r = 0; r < sizeof reasons / sizeof reasons[0]; r++) {
			uint64_t mask = ROOF_MASK_DEFAULT;
			if (reasons[r] == ROOF_EXIT_HLT)
				mask = roof_default_mask(ROOF_EXIT_HLT) | ROOF_G_ACDB;
			if (reasons[r] == ROOF_EXIT_PAUSED)
				mask = (ROOF_G_ALL | ROOF_G_TSC_AUX) & groups;
			ROOF_OK_OR_FAIL(roof_vcpu_on_exit(t->cpu, reasons[r], on_vcpu_exit,
							  t, mask, ROOF_ON_EP),
					roof_vcpu_error(t->cpu));
		}
	}
	for (unsigned i = 0; i < 4; i++)
		ROOF_OK_OR_FAIL(roof_vcpu_run(vcpus[i].cpu),
				roof_vcpu_error(vcpus[i].cpu));
	ROOF_OK_OR_FAIL(roof_ep_timer(ep_first, TICK_NS, on_timer, NULL,
				      &timer_id),
			roof_ep_error(ep_first));
	atomic_store(&timer_armed_id, timer_id);

	bool done = roof_test_flag_wait(&finished, TIMEOUT_MS);
	/* vcpu2 ends on its own schedule: give it the same deadline */
	for (int i = 0; i < 2000 && atomic_load(&vcpus[2].nevents) < 9; i++)
		usleep(5000);
	for (unsigned i = 0; i < 4; i++)
		roof_vcpu_wait_stopped(vcpus[i].cpu, 5000000000ull);

	char got[4][1024];
	for (unsigned i = 0; i < 4; i++) {
		describe(&vcpus[i], got[i], sizeof got[i]);
		print_message("vcpu %u: %s cx@first hlt 0x%llx\n", i, got[i],
			      (unsigned long long)vcpus[i].cx_first_hlt);
	}
	ROOF_OK_OR_FAIL(roof_vm_close(vm), roof_last_error());
	roof_test_flag_destroy(&finished);

	for (unsigned i = 0; i < 4; i++) {
		struct tvcpu *t = &vcpus[i];
		if (t->error[0])
			fail_msg("kernel %s: %s", roof_test_kernel(), t->error);
		if (t->reset_error[0])
			fail_msg("kernel %s: %s", roof_test_kernel(), t->reset_error);
		const struct expected *e = &expect[i];
		bool same = atomic_load(&t->nevents) == e->n;
		for (unsigned j = 0; same && j < e->n; j++)
			same = t->events[j].reason == e->e[j].reason &&
			       t->events[j].ip == e->e[j].ip;
		if (!same)
			fail_msg("kernel %s: vcpu %u sequence: %s", roof_test_kernel(),
				 i, got[i]);
		/* rdtscp at 0xff7e returned this vCPU's tsc_aux */
		if (groups & ROOF_G_TSC_AUX)
			assert_int_equal((uint32_t)t->cx_first_hlt,
					 0xaffe0000u | i);
	}
	assert_true(done);
	assert_true(vcpus[1].reset_checked);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_vmm_x86),
	};
	char name[64];
	snprintf(name, sizeof name, "vmm_x86[%s]", roof_test_kernel());
	return cmocka_run_group_tests_name(name, tests, NULL, NULL);
}
