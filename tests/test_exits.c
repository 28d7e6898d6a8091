/*
 * test_exits.c - integration tests on a real vCPU: io in/out, mmio
 * read/write, hlt, msr, cpuid (in-kernel and at a cpuid site), kernel-side
 * MSRs, the mixed loop's exit and ioctl counts, checked and learn mode.
 *
 * Backend: $ROOF_KERNEL (tests/run-tests.sh runs this binary once per
 * kernel). Every subtest of tests/guests/exits64.asm loads all 16 GPRs with
 * patterns, causes its exit, and reports on port 0x11, where the VMM
 * compares every GPR with what it expects: registers the handler wrote must
 * arrive, registers it did not write must be untouched.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "roof_test.h"
#include "vmm_exits.h"

#define TIMEOUT_MS 20000

/* A run of one subtest: the shared VMM (tests/util/vmm_exits.c, also built
 * into the NOVA root task) and the flags its notifications raise. */
struct ctx {
	struct roof_exits_vmm m;
	roof_where where;
	struct roof_test_flag done, stopped;
};

static void on_event(struct roof_exits_vmm *m, enum roof_exits_event e)
{
	struct ctx *c = m->host;
	roof_test_flag_raise(e == ROOF_EXITS_STARTUP_STOP ? &c->stopped
							  : &c->done);
}

struct rig {
	roof_vm *vm;
	roof_ep *ep;
	roof_vcpu *cpu;
	void *ram;
};

static void rig_open(struct rig *r, struct ctx *c, uint32_t mode)
{
	memset(r, 0, sizeof *r);
	ROOF_OK_OR_FAIL(roof_vm_open(&r->vm, NULL), roof_last_error());
	c->m.groups = roof_vm_state_groups(r->vm);
	roof_exits_begin(&c->m, c->m.sub); /* with prepare()'s settings */
	if (mode)
		ROOF_OK_OR_FAIL(roof_vm_set_mode(r->vm, mode), roof_vm_error(r->vm));
	roof_test_guest_vm(r->vm, "exits64", &r->ram);
	uint64_t site = *(uint64_t *)((uint8_t *)r->ram + ROOF_TEST_GUEST_GPA + 8);
	uint32_t msr = ROOF_EXITS_VMM_MSR;
	ROOF_OK_OR_FAIL(roof_vm_set_cpuid(r->vm, roof_exits_policy,
					  ROOF_EXITS_NPOLICY),
			roof_vm_error(r->vm));
	ROOF_OK_OR_FAIL(roof_vm_set_msr_exits(r->vm, &msr, 1),
			roof_vm_error(r->vm));
	ROOF_OK_OR_FAIL(roof_vm_set_cpuid_exits(r->vm, &site, 1),
			roof_vm_error(r->vm));
	ROOF_OK_OR_FAIL(roof_ep_create(r->vm, "ep", -1, &r->ep),
			roof_vm_error(r->vm));
	ROOF_OK_OR_FAIL(roof_vcpu_create(r->vm, r->ep, &r->cpu),
			roof_vm_error(r->vm));
	/* the check exit reads every GPR, so the io mask covers them; the
	 * loop runs on the shipped default masks */
	uint64_t io_mask = c->m.sub == ROOF_EXITS_LOOP
				   ? ROOF_MASK_DEFAULT
				   : roof_exits_check_mask(&c->m);
	ROOF_OK_OR_FAIL(roof_exits_register(r->cpu, &c->m, io_mask, c->where),
			roof_vcpu_error(r->cpu));
}

static void ctx_init(struct ctx *c, enum roof_exits_sub sub, roof_where where)
{
	memset(c, 0, sizeof *c);
	c->m.sub = sub;
	c->m.notify = on_event;
	c->m.host = c;
	c->where = where;
	roof_exits_begin(&c->m, sub);
	roof_test_flag_init(&c->done);
	roof_test_flag_init(&c->stopped);
}

static void run_to_done(struct rig *r, struct ctx *c)
{
	ROOF_OK_OR_FAIL(roof_vcpu_run(r->cpu), roof_vcpu_error(r->cpu));
	if (!roof_test_flag_wait(&c->done, TIMEOUT_MS))
		fail_msg("kernel %s: guest did not reach 'done' in %u ms (%s)",
			 roof_test_kernel(), TIMEOUT_MS, roof_vcpu_error(r->cpu));
	ROOF_OK_OR_FAIL(roof_vcpu_wait_stopped(r->cpu, TIMEOUT_MS * 1000000ull),
			roof_vcpu_error(r->cpu));
}

/* Close the VM, then the shared verdict: the GPR check and what the
 * handlers saw, the same expectations the real NOVA run checks. */
static void finish(struct rig *r, struct ctx *c)
{
	ROOF_OK_OR_FAIL(roof_vm_close(r->vm), roof_last_error());
	roof_test_flag_destroy(&c->done);
	roof_test_flag_destroy(&c->stopped);
	char why[1024];
	if (!roof_exits_verdict(&c->m, why, sizeof why))
		fail_msg("kernel %s: %s: %s", roof_test_kernel(),
			 roof_exits_sub_name(c->m.sub), why);
}

/* One subtest end to end, in both handler placements; verify adds what
 * only this host can see (its counters). */
static void run_subtest(enum roof_exits_sub sub, void (*prepare)(struct ctx *),
			void (*verify)(struct ctx *, struct roof_stats *))
{
	ROOF_NEED_KVM();
	for (int w = 0; w < 2; w++) {
		struct ctx c;
		struct rig r;
		ctx_init(&c, sub, w ? ROOF_ON_EP : ROOF_INLINE);
		if (prepare)
			prepare(&c);
		rig_open(&r, &c, 0);
		run_to_done(&r, &c);
		struct roof_stats st;
		ROOF_OK_OR_FAIL(roof_vcpu_stats(r.cpu, &st), roof_vcpu_error(r.cpu));
		if (verify)
			verify(&c, &st);
		finish(&r, &c);
	}
}

/* ---- io -------------------------------------------------------------------- */
static void verify_out(struct ctx *c, struct roof_stats *st)
{
	(void)c;
	assert_int_equal(st->exits_by_reason[ROOF_EXIT_IO], 3); /* out, check, done */
}

static void test_io_out(void **state)
{
	(void)state;
	run_subtest(ROOF_EXITS_OUT, NULL, verify_out);
}

static void prepare_out_write(struct ctx *c)
{
	c->m.write_regs = true;
}

static void test_io_out_handler_writes(void **state)
{
	(void)state;
	run_subtest(ROOF_EXITS_OUT, prepare_out_write, verify_out);
}

static void test_io_in(void **state)
{
	(void)state;
	run_subtest(ROOF_EXITS_IN8, NULL, NULL);
	run_subtest(ROOF_EXITS_IN16, NULL, NULL);
	run_subtest(ROOF_EXITS_IN32, NULL, NULL);
}

/* ---- mmio ------------------------------------------------------------------ */
static void test_mmio_read(void **state)
{
	(void)state;
	run_subtest(ROOF_EXITS_MMIO_READ, NULL, NULL);
	run_subtest(ROOF_EXITS_MMIO_READ32, NULL, NULL);
}

static void test_mmio_write(void **state)
{
	(void)state;
	run_subtest(ROOF_EXITS_MMIO_WRITE, NULL, NULL);
}

/* ---- hlt ------------------------------------------------------------------- */
static void test_hlt(void **state)
{
	(void)state;
	run_subtest(ROOF_EXITS_HLT, NULL, NULL);
}

static void prepare_hlt_again(struct ctx *c)
{
	c->m.hlt_no_advance = true;
}

static void test_hlt_does_not_advance(void **state)
{
	(void)state;
	run_subtest(ROOF_EXITS_HLT, prepare_hlt_again, NULL);
}

/* ---- msr ------------------------------------------------------------------- */
static void test_msr(void **state)
{
	(void)state;
	run_subtest(ROOF_EXITS_RDMSR, NULL, NULL);
	run_subtest(ROOF_EXITS_WRMSR, NULL, NULL);
}

static void verify_msr_kernel(struct ctx *c, struct roof_stats *st)
{
	/* SYSENTER_ESP is not a VMM MSR: no MSR exit reaches the VMM */
	assert_int_equal(c->m.seen.msr_exits, 0);
	assert_int_equal(st->exits_by_reason[ROOF_EXIT_MSR_READ], 0);
	assert_int_equal(st->exits_by_reason[ROOF_EXIT_MSR_WRITE], 0);
}

static void test_msr_stays_in_kernel(void **state)
{
	(void)state;
	run_subtest(ROOF_EXITS_MSR_KERNEL, NULL, verify_msr_kernel);
}

/* ---- cpuid ----------------------------------------------------------------- */
static void verify_cpuid_kernel(struct ctx *c, struct roof_stats *st)
{
	(void)c;
	/* answered from the policy table, without an exit to the VMM */
	assert_int_equal(st->exits_by_reason[ROOF_EXIT_CPUID], 0);
}

static void test_cpuid_policy(void **state)
{
	(void)state;
	run_subtest(ROOF_EXITS_CPUID_KERNEL, NULL, verify_cpuid_kernel);
}

static void verify_cpuid_site(struct ctx *c, struct roof_stats *st)
{
	(void)c;
	assert_int_equal(st->exits_by_reason[ROOF_EXIT_CPUID], 1);
}

static void test_cpuid_site(void **state)
{
	(void)state;
	run_subtest(ROOF_EXITS_CPUID_SITE, NULL, verify_cpuid_site);
}

/* ---- the mixed loop: no lost exits, no state ioctls under default masks ---- */
static void test_loop_counts(void **state)
{
	(void)state;
	ROOF_NEED_KVM();
	struct ctx c;
	struct rig r;
	ctx_init(&c, ROOF_EXITS_LOOP, ROOF_INLINE);
	c.m.stop_at_startup = true;
	rig_open(&r, &c, 0);
	ROOF_OK_OR_FAIL(roof_vcpu_run(r.cpu), roof_vcpu_error(r.cpu));
	assert_true(roof_test_flag_wait(&c.stopped, TIMEOUT_MS));
	ROOF_OK_OR_FAIL(roof_vcpu_wait_stopped(r.cpu, TIMEOUT_MS * 1000000ull),
			roof_vcpu_error(r.cpu));
	/* STARTUP (mask ALL) is done; count from here */
	struct roof_stats st;
	ROOF_OK_OR_FAIL(roof_vcpu_stats_reset(r.cpu), roof_vcpu_error(r.cpu));
	run_to_done(&r, &c);
	ROOF_OK_OR_FAIL(roof_vcpu_stats(r.cpu, &st), roof_vcpu_error(r.cpu));
	assert_int_equal(st.exits_by_reason[ROOF_EXIT_IO], 1001);
	assert_int_equal(st.exits_by_reason[ROOF_EXIT_MMIO], 2000);
	assert_int_equal(st.exits_by_reason[ROOF_EXIT_HLT], 1000);
	assert_int_equal(st.exits, 4001);
	assert_int_equal(st.misses, 0);
	print_message("kernel %s: %llu exits, %llu state crossings, %llu bytes\n",
		      roof_test_kernel(), (unsigned long long)st.exits,
		      (unsigned long long)st.crossings,
		      (unsigned long long)st.bytes);
	if (strcmp(roof_test_kernel(), "kvm") == 0)
		assert_int_equal(st.crossings, 0); /* no state ioctl at all */
	finish(&r, &c);
}

/* ---- pause of a guest that never exits ------------------------------------------ */
static void pause_spinning(const char *recall)
{
	struct ctx c;
	struct rig r;
	ctx_init(&c, ROOF_EXITS_SPIN, ROOF_INLINE);
	memset(&r, 0, sizeof r);
	ROOF_OK_OR_FAIL(roof_vm_open(&r.vm, NULL), roof_last_error());
	c.m.groups = roof_vm_state_groups(r.vm);
	if (recall)
		ROOF_OK_OR_FAIL(roof_vm_set_option(r.vm, "recall", recall),
				roof_vm_error(r.vm));
	roof_test_guest_vm(r.vm, "exits64", &r.ram);
	ROOF_OK_OR_FAIL(roof_ep_create(r.vm, "ep", -1, &r.ep), roof_vm_error(r.vm));
	ROOF_OK_OR_FAIL(roof_vcpu_create(r.vm, r.ep, &r.cpu), roof_vm_error(r.vm));
	roof_vcpu_on_exit(r.cpu, ROOF_EXIT_STARTUP, roof_exits_on_startup, &c.m,
			  roof_test_long_mode_mask() & c.m.groups, ROOF_INLINE);
	ROOF_OK_OR_FAIL(roof_vcpu_on_exit(r.cpu, ROOF_EXIT_PAUSED,
					  roof_exits_on_paused, &c.m,
					  roof_exits_check_mask(&c.m) | ROOF_G_EIP,
					  ROOF_ON_EP),
			roof_vcpu_error(r.cpu));
	ROOF_OK_OR_FAIL(roof_vcpu_run(r.cpu), roof_vcpu_error(r.cpu));
	usleep(20000); /* let it spin */
	ROOF_OK_OR_FAIL(roof_vcpu_pause(r.cpu), roof_vcpu_error(r.cpu));
	if (!roof_test_flag_wait(&c.done, TIMEOUT_MS))
		fail_msg("kernel %s: recall=%s: no PAUSED exit of a spinning guest",
			 roof_test_kernel(), recall ? recall : "default");
	ROOF_OK_OR_FAIL(roof_vcpu_wait_stopped(r.cpu, TIMEOUT_MS * 1000000ull),
			roof_vcpu_error(r.cpu));
	/* paused in the loop: ip is inside the guest, registers untouched */
	finish(&r, &c);
}

static void test_pause_spinning_guest(void **state)
{
	(void)state;
	ROOF_NEED_KVM();
	pause_spinning(NULL);
	if (strcmp(roof_test_kernel(), "kvm") == 0)
		pause_spinning("unblocked"); /* kvm's opt-in recall mode */
}

/* ---- checked and learn mode --------------------------------------------------- */
static roof_action read_outside_mask(roof_vcpu *cpu, roof_state *st, void *p)
{
	(void)cpu;
	(void)p;
	/* mask is 0, and no backend fetches si for an io exit itself */
	if (st->info.io.port == ROOF_EXITS_PORT_EXIT)
		(void)roof_get_si(st);
	return st->info.io.port == ROOF_EXITS_PORT_DONE ? ROOF_STOP : ROOF_RESUME;
}

static void test_checked_mode_catches_read_outside_mask(void **state)
{
	(void)state;
	ROOF_NEED_KVM();
	int pipefd[2];
	assert_int_equal(pipe(pipefd), 0);
	fflush(NULL);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		dup2(pipefd[1], 2);
		close(pipefd[0]);
		setenv("ROOF_CHECK", "1", 1);
		struct ctx c;
		struct rig r;
		ctx_init(&c, ROOF_EXITS_OUT, ROOF_INLINE);
		memset(&r, 0, sizeof r);
		roof_vm_open(&r.vm, NULL);
		roof_test_guest_vm(r.vm, "exits64", &r.ram);
		roof_ep_create(r.vm, "ep", -1, &r.ep);
		roof_vcpu_create(r.vm, r.ep, &r.cpu);
		roof_vcpu_on_exit(r.cpu, ROOF_EXIT_STARTUP,
				  roof_exits_on_startup, &c.m,
				  ROOF_G_ALL & roof_vm_state_groups(r.vm),
				  ROOF_INLINE);
		roof_vcpu_on_exit(r.cpu, ROOF_EXIT_IO, read_outside_mask, &c, 0,
				  ROOF_INLINE);
		roof_vcpu_run(r.cpu);
		sleep(20); /* checked mode aborts long before */
		_exit(0);
	}
	close(pipefd[1]);
	char buf[4096] = {0};
	size_t n = 0;
	ssize_t got;
	while (n < sizeof buf - 1 &&
	       (got = read(pipefd[0], buf + n, sizeof buf - 1 - n)) > 0)
		n += (size_t)got;
	close(pipefd[0]);
	int status = 0;
	waitpid(pid, &status, 0);
	assert_true(WIFSIGNALED(status));
	assert_int_equal(WTERMSIG(status), SIGABRT);
	if (!strstr(buf, "register 'si'") || !strstr(buf, "exit IO"))
		fail_msg("checked mode message lacks register/exit: %s", buf);
}

static roof_action touch_si(roof_vcpu *cpu, roof_state *st, void *p)
{
	(void)cpu;
	struct ctx *c = p;
	if (st->info.io.port == ROOF_EXITS_PORT_EXIT)
		roof_set_si(st, roof_get_si(st));
	if (st->info.io.port == ROOF_EXITS_PORT_DONE) {
		roof_test_flag_raise(&c->done);
		return ROOF_STOP;
	}
	return ROOF_RESUME;
}

static void test_learn_mode_records_touched_groups(void **state)
{
	(void)state;
	ROOF_NEED_KVM();
	struct ctx c;
	struct rig r;
	ctx_init(&c, ROOF_EXITS_OUT, ROOF_INLINE);
	memset(&r, 0, sizeof r);
	ROOF_OK_OR_FAIL(roof_vm_open(&r.vm, NULL), roof_last_error());
	ROOF_OK_OR_FAIL(roof_vm_set_mode(r.vm, ROOF_MODE_LEARN), roof_vm_error(r.vm));
	roof_test_guest_vm(r.vm, "exits64", &r.ram);
	ROOF_OK_OR_FAIL(roof_ep_create(r.vm, "ep", -1, &r.ep), roof_vm_error(r.vm));
	ROOF_OK_OR_FAIL(roof_vcpu_create(r.vm, r.ep, &r.cpu), roof_vm_error(r.vm));
	roof_vcpu_on_exit(r.cpu, ROOF_EXIT_STARTUP, roof_exits_on_startup, &c.m,
			  ROOF_G_ALL & roof_vm_state_groups(r.vm), ROOF_INLINE);
	roof_vcpu_on_exit(r.cpu, ROOF_EXIT_IO, touch_si, &c, 0, ROOF_INLINE);
	run_to_done(&r, &c);
	/* lazy fetch served the read, learn mode recorded it */
	assert_int_equal(roof_vcpu_learned_mask(r.cpu, ROOF_EXIT_IO), ROOF_G_EBSD);
	assert_int_equal(roof_vcpu_learned_mask(r.cpu, ROOF_EXIT_STARTUP) &
				 ~ROOF_G_ALL, 0);
	struct roof_stats st;
	ROOF_OK_OR_FAIL(roof_vcpu_stats(r.cpu, &st), roof_vcpu_error(r.cpu));
	assert_int_equal(st.misses, 1);
	ROOF_OK_OR_FAIL(roof_vm_close(r.vm), roof_last_error());
	roof_test_flag_destroy(&c.done);
	roof_test_flag_destroy(&c.stopped);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_io_out),
		cmocka_unit_test(test_io_out_handler_writes),
		cmocka_unit_test(test_io_in),
		cmocka_unit_test(test_mmio_read),
		cmocka_unit_test(test_mmio_write),
		cmocka_unit_test(test_hlt),
		cmocka_unit_test(test_hlt_does_not_advance),
		cmocka_unit_test(test_msr),
		cmocka_unit_test(test_msr_stays_in_kernel),
		cmocka_unit_test(test_cpuid_policy),
		cmocka_unit_test(test_cpuid_site),
		cmocka_unit_test(test_loop_counts),
		cmocka_unit_test(test_pause_spinning_guest),
		cmocka_unit_test(test_checked_mode_catches_read_outside_mask),
		cmocka_unit_test(test_learn_mode_records_touched_groups),
	};
	char name[64];
	snprintf(name, sizeof name, "exits[%s]", roof_test_kernel());
	return cmocka_run_group_tests_name(name, tests, NULL, NULL);
}
