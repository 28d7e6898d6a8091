/*
 * test_api_vcpu.c - bad input to the entrypoint and vCPU calls of
 * include/oneroof.h: NULL and destroyed handles, a vCPU on a closed VM,
 * handlers registered twice or too late, run of a running vCPU, pause of a
 * paused one, with_state from the wrong thread or at the wrong time, stats
 * while running. Every refusal comes back as the documented code with a
 * text that names the problem, and loses nothing: the guest
 * (tests/guests/api64.asm, RIG_TICK_LOOP) keeps counting its exits in rbx,
 * and the VMM checks that count against the exits it handled.
 *
 * Backend: $ROOF_KERNEL (run once per backend by tests/run-tests.sh).
 */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "soak/rig.h"

/* ---- a ticking guest whose exits are all accounted for -------------------- */
struct ticker {
	struct rig rig;
	atomic_ulong ticks;      /* IO exits on RIG_PORT_TICK */
	atomic_ulong paused;     /* PAUSED exits */
	atomic_ulong bad;        /* rbx or rbp not what they must be */
	atomic_ulong first_handler, second_handler;
	uint64_t paused_ip[8];
	char why[256];
	struct roof_test_flag on_pause;
};

static roof_action tick(roof_vcpu *cpu, roof_state *st, void *p)
{
	(void)cpu;
	struct ticker *t = p;
	if (st->info.io.port != RIG_PORT_TICK) {
		atomic_fetch_add(&t->bad, 1);
		return ROOF_STOP;
	}
	unsigned long n = atomic_fetch_add(&t->ticks, 1) + 1;
	uint64_t count = roof_get_bx(st), constant = roof_get_bp(st);
	if (count != n || constant != 0x1414141414141414ull) {
		if (!atomic_fetch_add(&t->bad, 1))
			snprintf(t->why, sizeof t->why,
				 "exit %lu: guest counted rbx=%llu, rbp=0x%llx",
				 n, (unsigned long long)count,
				 (unsigned long long)constant);
		return ROOF_STOP;
	}
	atomic_fetch_add(&t->first_handler, 1);
	return ROOF_RESUME;
}

static roof_action tick_second(roof_vcpu *cpu, roof_state *st, void *p)
{
	(void)cpu;
	(void)st;
	struct ticker *t = p;
	atomic_fetch_add(&t->second_handler, 1);
	return ROOF_STOP;
}

static roof_action paused_stop(roof_vcpu *cpu, roof_state *st, void *p)
{
	(void)cpu;
	struct ticker *t = p;
	unsigned long n = atomic_fetch_add(&t->paused, 1);
	if (n < 8)
		t->paused_ip[n] = roof_get_ip(st);
	roof_test_flag_raise(&t->on_pause);
	return ROOF_STOP;
}

/* A guest in RIG_TICK_LOOP with the tick and PAUSED handlers, not run yet. */
static void ticker_open(struct ticker *t)
{
	memset(t, 0, sizeof *t);
	roof_test_flag_init(&t->on_pause);
	struct rig *r = &t->rig;
	rig_open(r, RIG_TICK_LOOP);
	ROOF_OK_OR_FAIL(roof_vcpu_on_exit(r->cpu, ROOF_EXIT_IO, tick, t,
					  ROOF_G_ACDB | ROOF_G_EBSD, ROOF_INLINE),
			roof_vcpu_error(r->cpu));
	ROOF_OK_OR_FAIL(roof_vcpu_on_exit(r->cpu, ROOF_EXIT_PAUSED, paused_stop,
					  t, ROOF_MASK_DEFAULT, ROOF_INLINE),
			roof_vcpu_error(r->cpu));
}

static void ticker_check(struct ticker *t)
{
	if (atomic_load(&t->bad))
		fail_msg("kernel %s: %lu bad exits: %s", roof_test_kernel(),
			 atomic_load(&t->bad), t->why);
}

/* pause() and wait for its PAUSED exit and for the vCPU to stop */
static void pause_and_wait(struct ticker *t)
{
	struct rig *r = &t->rig;
	ROOF_OK_OR_FAIL(roof_vcpu_pause(r->cpu), roof_vcpu_error(r->cpu));
	assert_true(roof_test_flag_wait(&t->on_pause, RIG_TIMEOUT_MS));
	ROOF_OK_OR_FAIL(roof_vcpu_wait_stopped(r->cpu, RIG_TIMEOUT_NS),
			roof_vcpu_error(r->cpu));
}

static void ticker_close(struct ticker *t)
{
	ticker_check(t);
	rig_close(&t->rig);
	roof_test_flag_destroy(&t->on_pause);
}

static void wait_ticks(struct ticker *t, unsigned long n)
{
	for (unsigned i = 0; i < RIG_TIMEOUT_MS && atomic_load(&t->ticks) < n;
	     i++)
		usleep(1000);
	if (atomic_load(&t->ticks) < n)
		fail_msg("kernel %s: guest made %lu of %lu exits", roof_test_kernel(),
			 atomic_load(&t->ticks), n);
}

/* ---- entrypoints ------------------------------------------------------------- */
static void noop(roof_ep *ep, void *ctx)
{
	(void)ep;
	(void)ctx;
}

static void test_entrypoint_bad_arguments(void **state)
{
	(void)state;
	ROOF_NEED_KVM();
	roof_ep *ep = (roof_ep *)(uintptr_t)1;
	RIG_EXPECT_ERR(roof_ep_create(NULL, "x", -1, &ep), ROOF_EINVAL,
		       roof_last_error(), "not open");
	roof_vm *vm = NULL;
	ROOF_OK_OR_FAIL(roof_vm_open(&vm, NULL), roof_last_error());
	RIG_EXPECT_ERR(roof_ep_create(vm, "x", -1, NULL), ROOF_EINVAL,
		       roof_vm_error(vm), "out is NULL");
	RIG_EXPECT_ERR(roof_ep_create(vm, "x", 100000, &ep), ROOF_EINVAL,
		       roof_vm_error(vm), "cpu 100000", "does not exist");
	assert_null(ep);
	/* a long name is cut, not overrun */
	ROOF_OK_OR_FAIL(roof_ep_create(vm, "an entrypoint name longer than "
					   "thirty-two characters", -1, &ep),
			roof_vm_error(vm));

	int id = 7;
	RIG_EXPECT_ERR(roof_ep_timer(NULL, 1000, noop, NULL, &id), ROOF_EINVAL,
		       roof_last_error(), "not open");
	RIG_EXPECT_ERR(roof_ep_timer(ep, 1000, NULL, NULL, &id), ROOF_EINVAL,
		       roof_ep_error(ep), "fn is NULL");
	RIG_EXPECT_ERR(roof_ep_timer(ep, 0, noop, NULL, &id), ROOF_EINVAL,
		       roof_ep_error(ep), "period 0");
	assert_int_equal(id, 7);
	RIG_EXPECT_ERR(roof_ep_timer_stop(ep, 12345), ROOF_ENOENT,
		       roof_ep_error(ep), "12345");
	RIG_EXPECT_ERR(roof_ep_timer_stop(NULL, 1), ROOF_EINVAL,
		       roof_last_error(), "not open");
	RIG_EXPECT_ERR(roof_ep_post(NULL, noop, NULL), ROOF_EINVAL,
		       roof_last_error(), "not open");
	RIG_EXPECT_ERR(roof_ep_post(ep, NULL, NULL), ROOF_EINVAL,
		       roof_ep_error(ep), "fn is NULL");
	assert_false(roof_ep_is_current(NULL));
	assert_false(roof_ep_is_current(ep));
	assert_ptr_equal(roof_ep_error(NULL), roof_last_error());
	/* a timer that is stopped twice: the second stop still finds it */
	ROOF_OK_OR_FAIL(roof_ep_timer(ep, 1000000000ull, noop, NULL, &id),
			roof_ep_error(ep));
	ROOF_OK_OR_FAIL(roof_ep_timer_stop(ep, id), roof_ep_error(ep));
	ROOF_OK_OR_FAIL(roof_ep_timer_stop(ep, id), roof_ep_error(ep));
	ROOF_OK_OR_FAIL(roof_vm_close(vm), roof_last_error());
	/* the entrypoint went with its VM */
	RIG_EXPECT_ERR(roof_ep_post(ep, noop, NULL), ROOF_EINVAL,
		       roof_last_error(), "not open");
	RIG_EXPECT_ERR(roof_ep_timer(ep, 1000, noop, NULL, NULL), ROOF_EINVAL,
		       roof_last_error(), "not open");
}

/* ---- vCPU creation and handles -------------------------------------------------- */
static void test_vcpu_on_closed_vm_and_foreign_entrypoint(void **state)
{
	(void)state;
	ROOF_NEED_KVM();
	roof_vm *a = NULL, *b = NULL;
	roof_ep *ep_a = NULL, *ep_b = NULL;
	roof_vcpu *cpu = (roof_vcpu *)(uintptr_t)1;
	ROOF_OK_OR_FAIL(roof_vm_open(&a, NULL), roof_last_error());
	ROOF_OK_OR_FAIL(roof_vm_open(&b, NULL), roof_last_error());
	ROOF_OK_OR_FAIL(roof_ep_create(a, "a", -1, &ep_a), roof_vm_error(a));
	ROOF_OK_OR_FAIL(roof_ep_create(b, "b", -1, &ep_b), roof_vm_error(b));
	RIG_EXPECT_ERR(roof_vcpu_create(NULL, ep_a, &cpu), ROOF_EINVAL,
		       roof_last_error(), "not open");
	RIG_EXPECT_ERR(roof_vcpu_create(a, ep_a, NULL), ROOF_EINVAL,
		       roof_vm_error(a), "out is NULL");
	RIG_EXPECT_ERR(roof_vcpu_create(a, NULL, &cpu), ROOF_EINVAL,
		       roof_vm_error(a), "entrypoint");
	assert_null(cpu);
	RIG_EXPECT_ERR(roof_vcpu_create(a, ep_b, &cpu), ROOF_EINVAL,
		       roof_vm_error(a), "not an open entrypoint of this VM");
	ROOF_OK_OR_FAIL(roof_vcpu_create(a, ep_a, &cpu), roof_vm_error(a));
	ROOF_OK_OR_FAIL(roof_vm_close(a), roof_last_error());
	/* a vCPU on a closed VM */
	RIG_EXPECT_ERR(roof_vcpu_create(a, ep_a, &cpu), ROOF_EINVAL,
		       roof_last_error(), "not open");
	assert_null(cpu);
	ROOF_OK_OR_FAIL(roof_vm_close(b), roof_last_error());
}

static roof_action never(roof_vcpu *cpu, roof_state *st, void *p)
{
	(void)cpu;
	(void)st;
	(void)p;
	return ROOF_STOP;
}

static bool state_noop(roof_vcpu *cpu, roof_state *st, void *ctx)
{
	(void)cpu;
	(void)st;
	(void)ctx;
	return false;
}

static void test_vcpu_handle_after_close(void **state)
{
	(void)state;
	ROOF_NEED_KVM();
	struct rig r;
	rig_open(&r, RIG_PATTERNS);
	roof_vcpu *cpu = r.cpu;
	assert_int_equal(roof_vcpu_id(cpu), 0);
	assert_ptr_equal(roof_vcpu_vm(cpu), r.vm);
	rig_close(&r);
	struct roof_stats st;
	RIG_EXPECT_ERR(roof_vcpu_run(cpu), ROOF_EINVAL, roof_last_error(),
		       "not open");
	RIG_EXPECT_ERR(roof_vcpu_pause(cpu), ROOF_EINVAL, roof_last_error(),
		       "not open");
	RIG_EXPECT_ERR(roof_vcpu_on_exit(cpu, ROOF_EXIT_IO, never, NULL, 0,
					 ROOF_INLINE),
		       ROOF_EINVAL, roof_last_error(), "not open");
	RIG_EXPECT_ERR(roof_vcpu_wait_stopped(cpu, 1000), ROOF_EINVAL,
		       roof_last_error(), "not open");
	RIG_EXPECT_ERR(roof_vcpu_with_state(cpu, state_noop, NULL), ROOF_EINVAL,
		       roof_last_error(), "not open");
	RIG_EXPECT_ERR(roof_vcpu_stats(cpu, &st), ROOF_EINVAL, roof_last_error(),
		       "not open");
	RIG_EXPECT_ERR(roof_vcpu_stats_reset(cpu), ROOF_EINVAL,
		       roof_last_error(), "not open");
	RIG_EXPECT_ERR(roof_vcpu_set_probe(cpu, NULL), ROOF_EINVAL,
		       roof_last_error(), "not open");
	assert_int_equal(roof_vcpu_id(cpu), ~0u);
	assert_null(roof_vcpu_vm(cpu));
	assert_int_equal(roof_vcpu_learned_mask(cpu, ROOF_EXIT_IO), 0);
	assert_ptr_equal(roof_vcpu_error(cpu), roof_last_error());
	/* and NULL */
	RIG_EXPECT_ERR(roof_vcpu_run(NULL), ROOF_EINVAL, roof_last_error(),
		       "not open");
	RIG_EXPECT_ERR(roof_vcpu_stats(NULL, &st), ROOF_EINVAL,
		       roof_last_error(), "not open");
	assert_int_equal(roof_default_mask((roof_exit)ROOF_EXIT_COUNT), 0);
	assert_int_equal(roof_default_mask((roof_exit)-1), 0);
}

/* ---- handlers ------------------------------------------------------------------- */
static void test_handler_bad_arguments_and_twice(void **state)
{
	(void)state;
	ROOF_NEED_KVM();
	struct ticker t;
	ticker_open(&t);
	roof_vcpu *cpu = t.rig.cpu;
	RIG_EXPECT_ERR(roof_vcpu_on_exit(cpu, ROOF_EXIT_IO, tick_second, &t,
					 ROOF_MASK_DEFAULT, ROOF_INLINE),
		       ROOF_EEXIST, roof_vcpu_error(cpu), "already has a handler",
		       "IO");
	RIG_EXPECT_ERR(roof_vcpu_on_exit(cpu, ROOF_EXIT_STARTUP, tick_second,
					 &t, ROOF_MASK_DEFAULT, ROOF_ON_EP),
		       ROOF_EEXIST, roof_vcpu_error(cpu), "STARTUP");
	RIG_EXPECT_ERR(roof_vcpu_on_exit(cpu, ROOF_EXIT_COUNT, never, NULL, 0,
					 ROOF_INLINE),
		       ROOF_EINVAL, roof_vcpu_error(cpu), "unknown exit reason");
	RIG_EXPECT_ERR(roof_vcpu_on_exit(cpu, (roof_exit)-3, never, NULL, 0,
					 ROOF_INLINE),
		       ROOF_EINVAL, roof_vcpu_error(cpu), "unknown exit reason",
		       "-3");
	RIG_EXPECT_ERR(roof_vcpu_on_exit(cpu, ROOF_EXIT_HLT, NULL, NULL, 0,
					 ROOF_INLINE),
		       ROOF_EINVAL, roof_vcpu_error(cpu), "handler is NULL");
	RIG_EXPECT_ERR(roof_vcpu_on_exit(cpu, ROOF_EXIT_HLT, never, NULL, 0,
					 (roof_where)5),
		       ROOF_EINVAL, roof_vcpu_error(cpu), "ROOF_INLINE");
	RIG_EXPECT_ERR(roof_vcpu_on_exit(cpu, ROOF_EXIT_HLT, never, NULL,
					 1ull << 40, ROOF_INLINE),
		       ROOF_EINVAL, roof_vcpu_error(cpu), "name no group");
	/* a group the kernel cannot transfer */
	uint64_t missing = ROOF_G_EVERYTHING & ~roof_vm_state_groups(t.rig.vm);
	if (missing)
		RIG_EXPECT_ERR(roof_vcpu_on_exit(cpu, ROOF_EXIT_HLT, never, NULL,
						 missing & -missing, ROOF_INLINE),
			       ROOF_ENOSYS, roof_vcpu_error(cpu), "cannot transfer",
			       roof_test_kernel());
	else
		print_message("kernel %s transfers every group\n",
			      roof_test_kernel());
	/* the refused registrations left HLT free */
	ROOF_OK_OR_FAIL(roof_vcpu_on_exit(cpu, ROOF_EXIT_HLT, never, NULL, 0,
					  ROOF_INLINE),
			roof_vcpu_error(cpu));

	ROOF_OK_OR_FAIL(roof_vcpu_run(cpu), roof_vcpu_error(cpu));
	wait_ticks(&t, 100);
	/* too late: the vCPU runs */
	RIG_EXPECT_ERR(roof_vcpu_on_exit(cpu, ROOF_EXIT_MMIO, never, NULL, 0,
					 ROOF_INLINE),
		       ROOF_EBUSY, roof_vcpu_error(cpu), "before the vCPU first runs");
	pause_and_wait(&t);
	/* the first registration is the one that ran, every time */
	assert_int_equal(atomic_load(&t.second_handler), 0);
	assert_int_equal(atomic_load(&t.first_handler), atomic_load(&t.ticks));
	ticker_close(&t);
}

/* ---- run, pause, with_state, stats at the wrong time ------------------------ */
struct on_ep_call {
	roof_vcpu *cpu;
	int rc;
	char text[512];
	bool resume;
	struct roof_test_flag done;
};

static bool state_resume(roof_vcpu *cpu, roof_state *st, void *ctx)
{
	(void)cpu;
	(void)st;
	return *(bool *)ctx;
}

static void with_state_on_ep(roof_ep *ep, void *p)
{
	(void)ep;
	struct on_ep_call *c = p;
	c->rc = roof_vcpu_with_state(c->cpu, state_resume, &c->resume);
	snprintf(c->text, sizeof c->text, "%s", roof_vcpu_error(c->cpu));
	roof_test_flag_raise(&c->done);
}

static int call_with_state_on_ep(struct rig *r, bool resume, char *text)
{
	struct on_ep_call c = {.cpu = r->cpu, .rc = 1, .resume = resume};
	roof_test_flag_init(&c.done);
	ROOF_OK_OR_FAIL(roof_ep_post(r->ep, with_state_on_ep, &c),
			roof_ep_error(r->ep));
	assert_true(roof_test_flag_wait(&c.done, RIG_TIMEOUT_MS));
	roof_test_flag_destroy(&c.done);
	snprintf(text, 512, "%s", c.text);
	return c.rc;
}

static void test_run_running_and_pause_paused(void **state)
{
	(void)state;
	ROOF_NEED_KVM();
	struct ticker t;
	ticker_open(&t);
	roof_vcpu *cpu = t.rig.cpu;
	char text[512];
	struct roof_stats st;
	/* struct roof_probe is the bench's (roof_core.h); never used here */
	uint64_t probe_mem[8] = {0};
	struct roof_probe *probe = (struct roof_probe *)(void *)probe_mem;

	/* not started yet */
	RIG_EXPECT_ERR(roof_vcpu_pause(cpu), ROOF_ESTATE, roof_vcpu_error(cpu),
		       "not been started");
	RIG_EXPECT_ERR(call_with_state_on_ep(&t.rig, false, text), ROOF_EBUSY, text,
		       "not started");
	RIG_EXPECT_ERR(roof_vcpu_with_state(cpu, state_noop, NULL),
		       ROOF_ETHREAD, roof_vcpu_error(cpu), "entrypoint 'ep'");
	RIG_EXPECT_ERR(roof_vcpu_with_state(cpu, NULL, NULL), ROOF_EINVAL,
		       roof_vcpu_error(cpu), "fn is NULL");
	RIG_EXPECT_ERR(roof_vcpu_stats(cpu, NULL), ROOF_EINVAL,
		       roof_vcpu_error(cpu), "out is NULL");

	ROOF_OK_OR_FAIL(roof_vcpu_run(cpu), roof_vcpu_error(cpu));
	wait_ticks(&t, 50);
	/* running */
	RIG_EXPECT_ERR(roof_vcpu_run(cpu), ROOF_EBUSY, roof_vcpu_error(cpu),
		       "already running");
	RIG_EXPECT_ERR(call_with_state_on_ep(&t.rig, false, text), ROOF_EBUSY, text,
		       "running");
	RIG_EXPECT_ERR(roof_vcpu_wait_stopped(cpu, 2000000), ROOF_EBUSY,
		       roof_vcpu_error(cpu), "still running");
	RIG_EXPECT_ERR(roof_vcpu_stats(cpu, &st), ROOF_EBUSY,
		       roof_vcpu_error(cpu), "running");
	RIG_EXPECT_ERR(roof_vcpu_stats_reset(cpu), ROOF_EBUSY,
		       roof_vcpu_error(cpu), "running");
	RIG_EXPECT_ERR(roof_vcpu_set_probe(cpu, probe), ROOF_EBUSY,
		       roof_vcpu_error(cpu), "running");

	/* pause: one PAUSED exit, the vCPU stops */
	pause_and_wait(&t);
	unsigned long ticks = atomic_load(&t.ticks);
	/* pause of a paused vCPU: another PAUSED exit at the same place
	 * (Genode's vmm_x86 relies on it), nothing runs in between */
	pause_and_wait(&t);
	assert_int_equal(atomic_load(&t.paused), 2);
	assert_int_equal(t.paused_ip[0], t.paused_ip[1]);
	assert_int_equal(atomic_load(&t.ticks), ticks);
	/* stopped: stats work, with_state works and may keep it stopped */
	ROOF_OK_OR_FAIL(roof_vcpu_stats(cpu, &st), roof_vcpu_error(cpu));
	assert_int_equal(st.exits_by_reason[ROOF_EXIT_PAUSED], 2);
	assert_int_equal(st.exits_by_reason[ROOF_EXIT_IO], ticks);
	assert_int_equal(call_with_state_on_ep(&t.rig, false, text), ROOF_OK);
	assert_int_equal(atomic_load(&t.ticks), ticks);
	/* resume through with_state: the guest goes on counting from where it
	 * was, without a lost or doubled exit */
	assert_int_equal(call_with_state_on_ep(&t.rig, true, text), ROOF_OK);
	wait_ticks(&t, ticks + 50);
	pause_and_wait(&t);
	ticker_close(&t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_entrypoint_bad_arguments),
		cmocka_unit_test(test_vcpu_on_closed_vm_and_foreign_entrypoint),
		cmocka_unit_test(test_vcpu_handle_after_close),
		cmocka_unit_test(test_handler_bad_arguments_and_twice),
		cmocka_unit_test(test_run_running_and_pause_paused),
	};
	char name[64];
	snprintf(name, sizeof name, "api-vcpu[%s]", roof_test_kernel());
	return cmocka_run_group_tests_name(name, tests, NULL, NULL);
}
