/*
 * test_race.c - races of the run/pause/close machinery (per kernel; make
 * test-tsan runs them under ThreadSanitizer):
 *   - pause racing with exits: pauses at random moments of a tight exit
 *     loop, from another thread, from the vCPU's own handler and from its
 *     entrypoint; each gives exactly one PAUSED exit, and the guest's exit
 *     counter (rbx) matches the exits handled: none lost, none doubled;
 *   - pause of a vCPU stopped after a HLT exit: PAUSED at the hlt, again,
 *     then the run goes on from the hlt;
 *   - close while vCPUs run: spinning in the guest, in handlers inline and
 *     on two entrypoints, stopped, never started; close returns, and no
 *     handler runs after it did;
 *   - two entrypoints on two cores, each driving its own vCPUs with
 *     handlers on the entrypoint while the other pauses them.
 * Guest: tests/guests/api64.asm (rig.h).
 */
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "soak/rig.h"
#include "fuzz/rng.h"

#define CONSTANT 0x1414141414141414ull

/* ---- a ticking vCPU whose every exit is accounted for ------------------- */
struct ticker {
	struct rig rig;
	atomic_ulong ticks, paused, bad, late;
	atomic_bool closed;       /* set after roof_vm_close returned */
	atomic_int self_pause;    /* handler pauses its own vCPU every n */
	atomic_int on_pause;      /* what the PAUSED handler returns */
	unsigned cpu_of_ep;       /* -1u: any */
	roof_ep *ep;
	char why[256];
	struct roof_test_flag paused_flag;
};

static void ticker_bad(struct ticker *t, const char *fmt, unsigned long a,
		       unsigned long long b)
{
	if (!atomic_fetch_add(&t->bad, 1))
		snprintf(t->why, sizeof t->why, fmt, a, b);
}

static roof_action tick(roof_vcpu *cpu, roof_state *st, void *p)
{
	struct ticker *t = p;
	if (atomic_load(&t->closed))
		atomic_fetch_add(&t->late, 1);
	if (st->info.io.port != RIG_PORT_TICK) {
		ticker_bad(t, "exit %lu: port 0x%llx", atomic_load(&t->ticks),
			   st->info.io.port);
		return ROOF_STOP;
	}
	unsigned long n = atomic_fetch_add(&t->ticks, 1) + 1;
	uint64_t count = roof_get_bx(st);
	if (count != n || roof_get_bp(st) != CONSTANT)
		ticker_bad(t, "exit %lu: guest counted %llu", n,
			   (unsigned long long)count);
	if (t->cpu_of_ep != ~0u && roof_ep_is_current(t->ep) &&
	    (unsigned)sched_getcpu() != t->cpu_of_ep)
		ticker_bad(t, "handler on cpu %lu, its entrypoint is on %llu",
			   (unsigned long)sched_getcpu(), t->cpu_of_ep);
	int every = atomic_load(&t->self_pause);
	if (every && n % (unsigned)every == 0)
		(void)roof_vcpu_pause(cpu); /* a pause from inside an exit */
	return ROOF_RESUME;
}

static roof_action paused(roof_vcpu *cpu, roof_state *st, void *p)
{
	(void)cpu;
	(void)st;
	struct ticker *t = p;
	if (atomic_load(&t->closed))
		atomic_fetch_add(&t->late, 1);
	atomic_fetch_add(&t->paused, 1);
	roof_test_flag_raise(&t->paused_flag);
	return (roof_action)atomic_load(&t->on_pause);
}

static void ticker_open_on(struct ticker *t, roof_vm *vm, roof_ep *ep,
			   roof_where where, void *ram, roof_exit_handler io)
{
	t->rig.vm = vm;
	t->rig.ep = ep;
	t->rig.ram = ram;
	t->rig.subtest = RIG_TICK_LOOP;
	t->rig.groups = roof_vm_state_groups(vm);
	t->ep = ep;
	t->cpu_of_ep = ~0u;
	roof_test_flag_init(&t->paused_flag);
	ROOF_OK_OR_FAIL(roof_vcpu_create(vm, ep, &t->rig.cpu), roof_vm_error(vm));
	roof_vcpu *v = t->rig.cpu;
	ROOF_OK_OR_FAIL(roof_vcpu_on_exit(v, ROOF_EXIT_STARTUP, rig_startup,
					  &t->rig,
					  roof_test_long_mode_mask() & t->rig.groups,
					  where),
			roof_vcpu_error(v));
	ROOF_OK_OR_FAIL(roof_vcpu_on_exit(v, ROOF_EXIT_IO, io, t,
					  ROOF_G_ACDB | ROOF_G_EBSD, where),
			roof_vcpu_error(v));
	ROOF_OK_OR_FAIL(roof_vcpu_on_exit(v, ROOF_EXIT_PAUSED, paused, t,
					  ROOF_MASK_DEFAULT, where),
			roof_vcpu_error(v));
}

static void ticker_open(struct ticker *t, roof_where where)
{
	memset(t, 0, sizeof *t);
	atomic_store(&t->on_pause, ROOF_STOP);
	struct rig r;
	memset(&r, 0, sizeof r);
	ROOF_OK_OR_FAIL(roof_vm_open(&r.vm, NULL), roof_last_error());
	roof_test_guest_vm(r.vm, "api64", &r.ram);
	ROOF_OK_OR_FAIL(roof_ep_create(r.vm, "ep", -1, &r.ep),
			roof_vm_error(r.vm));
	ticker_open_on(t, r.vm, r.ep, where, r.ram, tick);
}

static void ticker_check(struct ticker *t, const char *what)
{
	if (atomic_load(&t->bad))
		fail_msg("kernel %s, %s: %lu bad exits, first: %s",
			 roof_test_kernel(), what, atomic_load(&t->bad), t->why);
	assert_int_equal(atomic_load(&t->late), 0);
}

static void wait_ticks(struct ticker *t, unsigned long n)
{
	for (unsigned i = 0; i < RIG_TIMEOUT_MS * 10 && atomic_load(&t->ticks) < n;
	     i++)
		usleep(100);
	if (atomic_load(&t->ticks) < n)
		fail_msg("kernel %s: %lu of %lu exits", roof_test_kernel(),
			 atomic_load(&t->ticks), n);
}

static void sleep_us(unsigned us)
{
	struct timespec ts = {0, (long)us * 1000};
	nanosleep(&ts, NULL);
}

/* Waits for n exits; a pause still pending from before the last run may
 * stop the vCPU once more: it is run again then. */
static void wait_ticks_running(struct ticker *t, unsigned long n)
{
	for (unsigned i = 0; i < RIG_TIMEOUT_MS && atomic_load(&t->ticks) < n;
	     i++) {
		if (atomic_load(&t->on_pause) != ROOF_STOP) {
			sleep_us(1000);
			continue;
		}
		if (roof_test_flag_wait(&t->paused_flag, 1)) {
			ROOF_OK_OR_FAIL(roof_vcpu_wait_stopped(t->rig.cpu,
							       RIG_TIMEOUT_NS),
					roof_vcpu_error(t->rig.cpu));
			ROOF_OK_OR_FAIL(roof_vcpu_run(t->rig.cpu),
					roof_vcpu_error(t->rig.cpu));
		}
	}
	if (atomic_load(&t->ticks) < n)
		fail_msg("kernel %s: %lu of %lu exits", roof_test_kernel(),
			 atomic_load(&t->ticks), n);
}

/* Stopped for good: no pause in flight, the counters final. */
static void settle(roof_vcpu *cpu, struct roof_stats *st)
{
	for (int i = 0; i < 100; i++) {
		ROOF_OK_OR_FAIL(roof_vcpu_wait_stopped(cpu, RIG_TIMEOUT_NS),
				roof_vcpu_error(cpu));
		struct timespec ts = {0, 20 * 1000 * 1000};
		nanosleep(&ts, NULL);
		if (roof_vcpu_wait_stopped(cpu, 0) == ROOF_OK &&
		    roof_vcpu_stats(cpu, st) == ROOF_OK)
			return;
	}
	fail_msg("kernel %s: the vCPU does not stay stopped", roof_test_kernel());
}


/* ---- pause racing with exits -------------------------------------------- */
static void pause_race(roof_where where)
{
	/* static: a failing test leaves threads that still point at it */
	static struct ticker t;
	ticker_open(&t, where);
	roof_vcpu *cpu = t.rig.cpu;
	uint64_t rng = 0x9a05e;
	enum { ROUNDS = 120 };
	ROOF_OK_OR_FAIL(roof_vcpu_run(cpu), roof_vcpu_error(cpu));
	for (unsigned i = 0; i < ROUNDS; i++) {
		/* a random moment: mid-exit, mid-guest, right after the run */
		sleep_us(rng_below(&rng, 300));
		unsigned long before = atomic_load(&t.paused);
		ROOF_OK_OR_FAIL(roof_vcpu_pause(cpu), roof_vcpu_error(cpu));
		bool twice = rng_below(&rng, 4) == 0;
		if (twice) /* before the first is answered: one or two PAUSED */
			ROOF_OK_OR_FAIL(roof_vcpu_pause(cpu), roof_vcpu_error(cpu));
		if (!roof_test_flag_wait(&t.paused_flag, RIG_TIMEOUT_MS))
			fail_msg("kernel %s: pause %u got no PAUSED exit (%s)",
				 roof_test_kernel(), i, roof_vcpu_error(cpu));
		struct roof_stats st;
		if (twice)
			settle(cpu, &st); /* the second may come after a stop */
		ROOF_OK_OR_FAIL(roof_vcpu_wait_stopped(cpu, RIG_TIMEOUT_NS),
				roof_vcpu_error(cpu));
		/* drained: no PAUSED is still on its way */
		while (roof_test_flag_wait(&t.paused_flag, 0))
			;
		assert_true(atomic_load(&t.paused) > before);
		unsigned long ticks = atomic_load(&t.ticks);
		ROOF_OK_OR_FAIL(roof_vcpu_run(cpu), roof_vcpu_error(cpu));
		if (i % 8 == 0) /* it runs on from where it stopped */
			wait_ticks_running(&t, ticks + 20);
	}
	/* pauses from the vCPU's own handler, answered with RESUME */
	atomic_store(&t.on_pause, ROOF_RESUME);
	atomic_store(&t.self_pause, 37);
	wait_ticks_running(&t, atomic_load(&t.ticks) + 200);
	atomic_store(&t.self_pause, 0);
	atomic_store(&t.on_pause, ROOF_STOP);
	ROOF_OK_OR_FAIL(roof_vcpu_pause(cpu), roof_vcpu_error(cpu));
	struct roof_stats st;
	settle(cpu, &st);
	assert_int_equal(st.exits_by_reason[ROOF_EXIT_IO], atomic_load(&t.ticks));
	assert_int_equal(st.exits_by_reason[ROOF_EXIT_PAUSED],
			 atomic_load(&t.paused));
	print_message("kernel %s (%s): %lu exits, %lu PAUSED, none lost\n",
		      roof_test_kernel(), where ? "on ep" : "inline",
		      atomic_load(&t.ticks), atomic_load(&t.paused));
	rig_close(&t.rig);
	ticker_check(&t, "pause race");
	roof_test_flag_destroy(&t.paused_flag);
}

static void test_pause_races_with_exits(void **state)
{
	(void)state;
	ROOF_NEED_KVM();
	pause_race(ROOF_INLINE);
	pause_race(ROOF_ON_EP);
}

/* ---- pause of a vCPU stopped after a HLT exit ---------------------------- */
struct halter {
	struct rig rig;
	atomic_uint hlts, pauses, afters;
	uint64_t hlt_ip[4], pause_ip[4], hlt_len;
	atomic_bool advance;
	struct roof_test_flag flag;
};

static roof_action on_hlt(roof_vcpu *cpu, roof_state *st, void *p)
{
	(void)cpu;
	struct halter *h = p;
	unsigned n = atomic_fetch_add(&h->hlts, 1);
	h->hlt_ip[n & 3] = roof_get_ip(st);
	h->hlt_len = roof_get_ip_len(st);
	if (atomic_load(&h->advance))
		roof_set_ip(st, roof_get_ip(st) + roof_get_ip_len(st));
	roof_test_flag_raise(&h->flag);
	return ROOF_STOP; /* stays in the hlt, as a VMM waiting for an irq */
}

static roof_action on_hlt_paused(roof_vcpu *cpu, roof_state *st, void *p)
{
	(void)cpu;
	struct halter *h = p;
	unsigned n = atomic_fetch_add(&h->pauses, 1);
	h->pause_ip[n & 3] = roof_get_ip(st);
	roof_test_flag_raise(&h->flag);
	return ROOF_STOP;
}

static roof_action on_after(roof_vcpu *cpu, roof_state *st, void *p)
{
	(void)cpu;
	(void)st;
	struct halter *h = p;
	atomic_fetch_add(&h->afters, 1);
	return ROOF_RESUME;
}

static void wait_flag(struct roof_test_flag *f, const char *what,
		      roof_vcpu *cpu)
{
	if (!roof_test_flag_wait(f, RIG_TIMEOUT_MS))
		fail_msg("kernel %s: no %s (%s)", roof_test_kernel(), what,
			 roof_vcpu_error(cpu));
	ROOF_OK_OR_FAIL(roof_vcpu_wait_stopped(cpu, RIG_TIMEOUT_NS),
			roof_vcpu_error(cpu));
}

static void test_pause_of_vcpu_stopped_in_hlt(void **state)
{
	(void)state;
	ROOF_NEED_KVM();
	static struct halter h;
	memset(&h, 0, sizeof h);
	roof_test_flag_init(&h.flag);
	rig_open(&h.rig, RIG_HLT_LOOP);
	roof_vcpu *cpu = h.rig.cpu;
	uint64_t site = *(uint64_t *)((uint8_t *)h.rig.ram + ROOF_TEST_GUEST_GPA + 8);
	ROOF_OK_OR_FAIL(roof_vcpu_on_exit(cpu, ROOF_EXIT_HLT, on_hlt, &h,
					  ROOF_MASK_DEFAULT, ROOF_INLINE),
			roof_vcpu_error(cpu));
	ROOF_OK_OR_FAIL(roof_vcpu_on_exit(cpu, ROOF_EXIT_PAUSED, on_hlt_paused,
					  &h, ROOF_MASK_DEFAULT, ROOF_ON_EP),
			roof_vcpu_error(cpu));
	ROOF_OK_OR_FAIL(roof_vcpu_on_exit(cpu, ROOF_EXIT_IO, on_after, &h,
					  ROOF_MASK_DEFAULT, ROOF_INLINE),
			roof_vcpu_error(cpu));
	ROOF_OK_OR_FAIL(roof_vcpu_run(cpu), roof_vcpu_error(cpu));
	wait_flag(&h.flag, "HLT exit", cpu);
	assert_int_equal(h.hlt_ip[0], site);
	assert_int_equal(h.hlt_len, 1);
	/* paused in the hlt, twice: the same place, nothing runs */
	for (int i = 0; i < 2; i++) {
		ROOF_OK_OR_FAIL(roof_vcpu_pause(cpu), roof_vcpu_error(cpu));
		wait_flag(&h.flag, "PAUSED exit", cpu);
	}
	assert_int_equal(atomic_load(&h.pauses), 2);
	assert_int_equal(h.pause_ip[0], site);
	assert_int_equal(h.pause_ip[1], site);
	assert_int_equal(atomic_load(&h.afters), 0);
	/* run: the hlt runs again (HLT does not advance ip) */
	ROOF_OK_OR_FAIL(roof_vcpu_run(cpu), roof_vcpu_error(cpu));
	wait_flag(&h.flag, "second HLT exit", cpu);
	assert_int_equal(atomic_load(&h.hlts), 2);
	assert_int_equal(h.hlt_ip[1], site);
	/* a pause racing the run, then on: the guest leaves the hlt */
	atomic_store(&h.advance, true);
	ROOF_OK_OR_FAIL(roof_vcpu_run(cpu), roof_vcpu_error(cpu));
	ROOF_OK_OR_FAIL(roof_vcpu_pause(cpu), roof_vcpu_error(cpu));
	/* one or two stops (PAUSED before the hlt, or HLT then PAUSED) */
	wait_flag(&h.flag, "exit after run + pause", cpu);
	struct roof_stats st;
	settle(cpu, &st);
	while (roof_test_flag_wait(&h.flag, 0))
		;
	for (int i = 0; i < 20 && atomic_load(&h.afters) == 0; i++) {
		ROOF_OK_OR_FAIL(roof_vcpu_run(cpu), roof_vcpu_error(cpu));
		wait_flag(&h.flag, "exit while leaving the hlt", cpu);
	}
	assert_true(atomic_load(&h.afters) >= 1);
	rig_close(&h.rig);
	roof_test_flag_destroy(&h.flag);
}

/* A VM with the api64 guest and two entrypoints, pinned to cpu 0 and 1
 * when `pinned`. */
static roof_vm *vm_with_two_eps(roof_ep *ep[2], void **ram, bool pinned)
{
	roof_vm *vm = NULL;
	ROOF_OK_OR_FAIL(roof_vm_open(&vm, NULL), roof_last_error());
	roof_test_guest_vm(vm, "api64", ram);
	for (int e = 0; e < 2; e++)
		ROOF_OK_OR_FAIL(roof_ep_create(vm, e ? "second ep" : "ep",
					       pinned ? e : -1, &ep[e]),
				roof_vm_error(vm));
	return vm;
}

/* ---- close while vCPUs run ---------------------------------------------- */
static roof_action slow_tick(roof_vcpu *cpu, roof_state *st, void *p)
{
	struct ticker *t = p;
	if ((atomic_load(&t->ticks) & 7) == 0)
		usleep(300); /* a handler busy on the entrypoint at close */
	return tick(cpu, st, p);
}

static void test_close_while_vcpus_run(void **state)
{
	(void)state;
	ROOF_NEED_KVM();
	uint64_t rng = 0xc105e;
	enum { ROUNDS = 12, TICKERS = 3 };
	for (unsigned round = 0; round < ROUNDS; round++) {
		void *ram = NULL;
		roof_ep *ep[2];
		roof_vm *vm = vm_with_two_eps(ep, &ram, false);
		/* tickers: inline, on ep a, on ep b with a slow handler */
		static struct ticker t[TICKERS];
		for (unsigned i = 0; i < TICKERS; i++) {
			memset(&t[i], 0, sizeof t[i]);
			atomic_store(&t[i].on_pause, ROOF_RESUME);
			ticker_open_on(&t[i], vm, ep[i & 1],
				       i ? ROOF_ON_EP : ROOF_INLINE, ram,
				       i == 2 ? slow_tick : tick);
		}
		/* a spinner without exits, one stopped in the hlt, one new */
		struct rig spin = {.vm = vm, .ep = ep[0], .ram = ram,
				   .subtest = RIG_SPIN,
				   .groups = roof_vm_state_groups(vm)};
		ROOF_OK_OR_FAIL(roof_vcpu_create(vm, ep[0], &spin.cpu),
				roof_vm_error(vm));
		ROOF_OK_OR_FAIL(roof_vcpu_on_exit(spin.cpu, ROOF_EXIT_STARTUP,
						  rig_startup, &spin,
						  roof_test_long_mode_mask() &
							  spin.groups,
						  ROOF_INLINE),
				roof_vcpu_error(spin.cpu));
		roof_vcpu *never = NULL;
		ROOF_OK_OR_FAIL(roof_vcpu_create(vm, ep[1], &never),
				roof_vm_error(vm));
		for (unsigned i = 0; i < TICKERS; i++)
			ROOF_OK_OR_FAIL(roof_vcpu_run(t[i].rig.cpu),
					roof_vcpu_error(t[i].rig.cpu));
		ROOF_OK_OR_FAIL(roof_vcpu_run(spin.cpu), roof_vcpu_error(spin.cpu));
		if (round & 1) /* pauses in flight at close */
			for (unsigned i = 0; i < TICKERS; i++)
				(void)roof_vcpu_pause(t[i].rig.cpu);
		sleep_us(rng_below(&rng, 20000));
		struct timespec a, b;
		clock_gettime(CLOCK_MONOTONIC, &a);
		ROOF_OK_OR_FAIL(roof_vm_close(vm), roof_last_error());
		clock_gettime(CLOCK_MONOTONIC, &b);
		double ms = (double)(b.tv_sec - a.tv_sec) * 1e3 +
			    (double)(b.tv_nsec - a.tv_nsec) * 1e-6;
		unsigned long ticks[TICKERS];
		for (unsigned i = 0; i < TICKERS; i++) {
			atomic_store(&t[i].closed, true);
			ticks[i] = atomic_load(&t[i].ticks);
		}
		sleep_us(5000);
		for (unsigned i = 0; i < TICKERS; i++) {
			/* nothing ran after close returned */
			assert_int_equal(atomic_load(&t[i].ticks), ticks[i]);
			ticker_check(&t[i], "close while running");
			roof_test_flag_destroy(&t[i].paused_flag);
		}
		if (ms > 5000)
			fail_msg("kernel %s: close took %.0f ms", roof_test_kernel(),
				 ms);
		/* the handles are gone */
		assert_int_equal(roof_vcpu_run(spin.cpu), ROOF_EINVAL);
		assert_int_equal(roof_ep_post(ep[0], NULL, NULL), ROOF_EINVAL);
	}
}

/* ---- two entrypoints on two cores ---------------------------------------- */
struct cross_pause {
	struct ticker *other[2];
	atomic_uint sent;
};

static void pause_others(roof_ep *ep, void *p)
{
	(void)ep;
	struct cross_pause *c = p;
	for (int i = 0; i < 2; i++)
		if (roof_vcpu_pause(c->other[i]->rig.cpu) == ROOF_OK)
			atomic_fetch_add(&c->sent, 1);
}

static void flushed(roof_ep *ep, void *p)
{
	(void)ep;
	roof_test_flag_raise(p);
}

/* Returns when everything queued on ep before has run. */
static void flush_ep(roof_ep *ep)
{
	struct roof_test_flag f;
	roof_test_flag_init(&f);
	ROOF_OK_OR_FAIL(roof_ep_post(ep, flushed, &f), roof_ep_error(ep));
	assert_true(roof_test_flag_wait(&f, RIG_TIMEOUT_MS));
	roof_test_flag_destroy(&f);
}

static void test_two_entrypoints_on_two_cores(void **state)
{
	(void)state;
	ROOF_NEED_KVM();
	long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
	if (ncpu < 2) {
		print_message("needs 2 CPUs, this machine has %ld: skipped\n", ncpu);
		skip();
	}
	void *ram = NULL;
	roof_ep *ep[2];
	roof_vm *vm = vm_with_two_eps(ep, &ram, true);
	static struct ticker t[4];
	for (unsigned i = 0; i < 4; i++) {
		memset(&t[i], 0, sizeof t[i]);
		atomic_store(&t[i].on_pause, ROOF_RESUME);
		ticker_open_on(&t[i], vm, ep[i / 2], ROOF_ON_EP, ram, tick);
		t[i].cpu_of_ep = i / 2;
	}
	/* each entrypoint's timer pauses the other entrypoint's vCPUs */
	struct cross_pause cp[2] = {{{&t[2], &t[3]}, 0}, {{&t[0], &t[1]}, 0}};
	int timer[2];
	for (int e = 0; e < 2; e++)
		ROOF_OK_OR_FAIL(roof_ep_timer(ep[e], 700000 + 300000u * (unsigned)e,
					      pause_others, &cp[e], &timer[e]),
				roof_ep_error(ep[e]));
	for (unsigned i = 0; i < 4; i++)
		ROOF_OK_OR_FAIL(roof_vcpu_run(t[i].rig.cpu),
				roof_vcpu_error(t[i].rig.cpu));
	for (unsigned i = 0; i < 4; i++)
		wait_ticks(&t[i], 400);
	while (atomic_load(&t[0].paused) + atomic_load(&t[2].paused) < 4)
		sleep_us(1000);
	for (int e = 0; e < 2; e++) {
		ROOF_OK_OR_FAIL(roof_ep_timer_stop(ep[e], timer[e]),
				roof_ep_error(ep[e]));
		flush_ep(ep[e]); /* a tick running now has sent its pauses */
	}
	unsigned long pauses = 0;
	for (unsigned i = 0; i < 4; i++) {
		atomic_store(&t[i].on_pause, ROOF_STOP);
		(void)roof_vcpu_pause(t[i].rig.cpu);
	}
	for (unsigned i = 0; i < 4; i++) {
		struct roof_stats st;
		settle(t[i].rig.cpu, &st);
		assert_int_equal(st.exits_by_reason[ROOF_EXIT_IO],
				 atomic_load(&t[i].ticks));
		assert_int_equal(st.exits_by_reason[ROOF_EXIT_PAUSED],
				 atomic_load(&t[i].paused));
		assert_true(st.hops >= atomic_load(&t[i].ticks));
		pauses += atomic_load(&t[i].paused);
	}
	print_message("kernel %s: 4 vCPUs on 2 entrypoints (cpu 0, 1): %lu, "
		      "%lu, %lu, %lu exits, %lu PAUSED, %u cross pauses\n",
		      roof_test_kernel(), atomic_load(&t[0].ticks),
		      atomic_load(&t[1].ticks), atomic_load(&t[2].ticks),
		      atomic_load(&t[3].ticks), pauses,
		      atomic_load(&cp[0].sent) + atomic_load(&cp[1].sent));
	ROOF_OK_OR_FAIL(roof_vm_close(vm), roof_last_error());
	for (unsigned i = 0; i < 4; i++) {
		ticker_check(&t[i], "two entrypoints");
		roof_test_flag_destroy(&t[i].paused_flag);
	}
}

/* ---- a timer that stops itself with the id roof_ep_timer returned ---------- */
struct self_stop {
	int id;
	atomic_int rc, fired;
	struct roof_test_flag flag;
};

static void stop_myself(roof_ep *ep, void *p)
{
	struct self_stop *s = p;
	if (atomic_fetch_add(&s->fired, 1) == 0) {
		atomic_store(&s->rc, roof_ep_timer_stop(ep, s->id));
		roof_test_flag_raise(&s->flag);
	}
}

static void test_timer_sees_its_id(void **state)
{
	(void)state;
	ROOF_NEED_KVM();
	roof_vm *vm = NULL;
	roof_ep *ep = NULL;
	ROOF_OK_OR_FAIL(roof_vm_open(&vm, NULL), roof_last_error());
	ROOF_OK_OR_FAIL(roof_ep_create(vm, "ep", -1, &ep), roof_vm_error(vm));
	for (int round = 0; round < 50; round++) {
		static struct self_stop s;
		memset(&s, 0, sizeof s);
		s.id = -1;
		atomic_store(&s.rc, 1);
		roof_test_flag_init(&s.flag);
		/* fires at once: the id must be there before the first tick */
		ROOF_OK_OR_FAIL(roof_ep_timer(ep, 1, stop_myself, &s, &s.id),
				roof_ep_error(ep));
		assert_true(roof_test_flag_wait(&s.flag, RIG_TIMEOUT_MS));
		if (atomic_load(&s.rc) != ROOF_OK)
			fail_msg("round %d: the timer's first tick did not find its "
				 "own id (%s)", round, roof_ep_error(ep));
		roof_test_flag_destroy(&s.flag);
	}
	ROOF_OK_OR_FAIL(roof_vm_close(vm), roof_last_error());
}

/* ---- calls without a handle from two threads at once ------------------------ */
struct opener {
	pthread_t thread;
	unsigned bad;
	char text[512];
};

static void *open_unknown(void *p)
{
	struct opener *o = p;
	for (int i = 0; i < 300; i++) {
		roof_vm *vm = NULL;
		int rc = roof_vm_open(&vm, "no-such-kernel");
		const char *t = roof_last_error();
		if (rc != ROOF_ENOENT || vm || !strstr(t, "available: kvm")) {
			if (!o->bad++)
				snprintf(o->text, sizeof o->text, "%d: %s", rc, t);
		}
	}
	return NULL;
}

/* The refusal names the backends there are; the list is built once, not
 * rewritten under a concurrent reader (TSan saw that). */
static void test_concurrent_refused_opens(void **state)
{
	(void)state;
	struct opener o[2];
	memset(o, 0, sizeof o);
	for (int i = 0; i < 2; i++)
		assert_int_equal(pthread_create(&o[i].thread, NULL, open_unknown,
						&o[i]), 0);
	for (int i = 0; i < 2; i++) {
		pthread_join(o[i].thread, NULL);
		if (o[i].bad)
			fail_msg("%u refused opens with a wrong text: %s", o[i].bad,
				 o[i].text);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_pause_races_with_exits),
		cmocka_unit_test(test_pause_of_vcpu_stopped_in_hlt),
		cmocka_unit_test(test_close_while_vcpus_run),
		cmocka_unit_test(test_two_entrypoints_on_two_cores),
		cmocka_unit_test(test_timer_sees_its_id),
		cmocka_unit_test(test_concurrent_refused_opens),
	};
	char name[64];
	snprintf(name, sizeof name, "race[%s]", roof_test_kernel());
	return cmocka_run_group_tests_name(name, tests, NULL, NULL);
}
