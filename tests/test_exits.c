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

#define PORT_EXIT 0x10
#define PORT_CHECK 0x11
#define PORT_IN 0x12
#define PORT_DONE 0x1f
#define VMM_MSR 0x4b564d00u
#define TIMEOUT_MS 20000

enum subtest {
	T_OUT = 0, T_IN8, T_IN16, T_IN32, T_MMIO_READ, T_MMIO_WRITE, T_HLT,
	T_RDMSR, T_WRMSR, T_CPUID_KERNEL, T_CPUID_SITE, T_MSR_KERNEL, T_LOOP,
	T_MMIO_READ32, T_SPIN,
};

struct ctx {
	enum subtest sub;
	uint64_t groups;     /* what the kernel can transfer */
	roof_where where;
	bool write_regs;     /* the exit handler writes bx, si, r12 */
	bool hlt_no_advance; /* first hlt: resume without moving ip */
	bool stop_at_startup;
	uint64_t expect[16];
	/* observations */
	unsigned exits_seen, checks, hlts;
	uint64_t hlt_ip[4];
	uint64_t hlt_ip_len;
	uint32_t io_data;
	uint8_t io_size;
	struct mmio_seen { uint64_t gpa, data; uint8_t len, dir; } mmio[4];
	unsigned nmmio;
	uint64_t msr_value;
	uint32_t msr_index;
	struct roof_exit_cpuid cpuid_in;
	char mismatch[1024];
	struct roof_test_flag done, stopped;
};

static const struct roof_cpuid_entry policy[] = {
	{0x40000000, 0, 0x40000001, 0x72656e6f, 0x76666f6f, 0x00006d6d, 0},
	{0x40000001, 7, 1, 2, 3, 4, ROOF_CPUID_SUBLEAF},
};

static roof_action on_startup(roof_vcpu *cpu, roof_state *st, void *p)
{
	(void)cpu;
	struct ctx *c = p;
	roof_test_set_long_mode(st, ROOF_TEST_GUEST_GPA, (uint64_t)c->sub);
	if (c->stop_at_startup) {
		roof_test_flag_raise(&c->stopped);
		return ROOF_STOP;
	}
	return ROOF_RESUME;
}

static void check_gprs(struct ctx *c, roof_state *st)
{
	roof_test_check_gprs(st, c->groups, c->expect, c->mismatch,
			     sizeof c->mismatch);
	c->checks++;
}

static roof_action on_io(roof_vcpu *cpu, roof_state *st, void *p)
{
	(void)cpu;
	struct ctx *c = p;
	struct roof_exit_io *io = &st->info.io;
	switch (io->port) {
	case PORT_CHECK:
		check_gprs(c, st);
		return ROOF_RESUME;
	case PORT_DONE:
		roof_test_flag_raise(&c->done);
		return ROOF_STOP;
	case PORT_IN:
		c->exits_seen++;
		c->io_size = io->size;
		io->data = c->sub == T_IN8 ? 0x5a : c->sub == T_IN16 ? 0xbeef
								  : 0xcafebabe;
		return ROOF_RESUME;
	case PORT_EXIT:
		c->exits_seen++;
		c->io_data = io->data;
		c->io_size = io->size;
		if (c->write_regs) {
			roof_set_bx(st, 0xb0b0b0b0ull);
			roof_set_si(st, 0x51515151ull);
			if (c->groups & ROOF_G_R8_R15)
				roof_set_r12(st, 0x1212ull);
		}
		return ROOF_RESUME;
	default:
		snprintf(c->mismatch, sizeof c->mismatch,
			 "unexpected io port 0x%x", io->port);
		return ROOF_STOP;
	}
}

static roof_action on_mmio(roof_vcpu *cpu, roof_state *st, void *p)
{
	(void)cpu;
	struct ctx *c = p;
	struct roof_exit_mmio *m = &st->info.mmio;
	c->exits_seen++;
	if (c->nmmio < 4)
		c->mmio[c->nmmio++] = (struct mmio_seen){m->gpa, m->data, m->len,
						     m->dir};
	if (m->dir == ROOF_DIR_READ)
		m->data = m->gpa == ROOF_TEST_MMIO_BASE + 0x20
				  ? 0xdeadbeefull
				  : 0x1122334455667788ull;
	return ROOF_RESUME;
}

static roof_action on_hlt(roof_vcpu *cpu, roof_state *st, void *p)
{
	(void)cpu;
	struct ctx *c = p;
	c->exits_seen++;
	uint64_t ip = roof_get_ip(st);
	if (c->hlts < 4)
		c->hlt_ip[c->hlts] = ip;
	c->hlt_ip_len = roof_get_ip_len(st);
	c->hlts++;
	if (c->hlt_no_advance && c->hlts == 1)
		return ROOF_RESUME; /* runs the hlt again */
	roof_set_ip(st, ip + roof_get_ip_len(st));
	return ROOF_RESUME;
}

static roof_action on_msr(roof_vcpu *cpu, roof_state *st, void *p)
{
	(void)cpu;
	struct ctx *c = p;
	c->exits_seen++;
	c->msr_index = st->info.msr.index;
	if (st->exit_reason == ROOF_EXIT_MSR_READ)
		st->info.msr.value = 0xfeedface12345678ull;
	else
		c->msr_value = st->info.msr.value;
	return ROOF_RESUME;
}

static roof_action on_cpuid(roof_vcpu *cpu, roof_state *st, void *p)
{
	(void)cpu;
	struct ctx *c = p;
	c->exits_seen++;
	c->cpuid_in = st->info.cpuid;
	st->info.cpuid.eax = 0x11;
	st->info.cpuid.ebx = 0x22;
	st->info.cpuid.ecx = 0x33;
	st->info.cpuid.edx = 0x44;
	return ROOF_RESUME;
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
	c->groups = roof_vm_state_groups(r->vm);
	if (mode)
		ROOF_OK_OR_FAIL(roof_vm_set_mode(r->vm, mode), roof_vm_error(r->vm));
	roof_test_guest_vm(r->vm, "exits64", &r->ram);
	uint64_t site = *(uint64_t *)((uint8_t *)r->ram + ROOF_TEST_GUEST_GPA + 8);
	uint32_t msr = VMM_MSR;
	ROOF_OK_OR_FAIL(roof_vm_set_cpuid(r->vm, policy, 2), roof_vm_error(r->vm));
	ROOF_OK_OR_FAIL(roof_vm_set_msr_exits(r->vm, &msr, 1),
			roof_vm_error(r->vm));
	ROOF_OK_OR_FAIL(roof_vm_set_cpuid_exits(r->vm, &site, 1),
			roof_vm_error(r->vm));
	ROOF_OK_OR_FAIL(roof_ep_create(r->vm, "ep", -1, &r->ep),
			roof_vm_error(r->vm));
	ROOF_OK_OR_FAIL(roof_vcpu_create(r->vm, r->ep, &r->cpu),
			roof_vm_error(r->vm));
	roof_vcpu *v = r->cpu;
	roof_where w = c->where;
	ROOF_OK_OR_FAIL(roof_vcpu_on_exit(v, ROOF_EXIT_STARTUP, on_startup, c,
					  roof_test_long_mode_mask() & c->groups,
					  w),
			roof_vcpu_error(v));
	/* the check exit reads every GPR, so the io mask covers them; the
	 * loop runs on the shipped default masks */
	uint64_t io_mask = c->sub == T_LOOP ? ROOF_MASK_DEFAULT
					    : (ROOF_G_ACDB | ROOF_G_EBSD |
					       ROOF_G_ESP | ROOF_G_R8_R15) &
						      c->groups;
	ROOF_OK_OR_FAIL(roof_vcpu_on_exit(v, ROOF_EXIT_IO, on_io, c, io_mask, w),
			roof_vcpu_error(v));
	ROOF_OK_OR_FAIL(roof_vcpu_on_exit(v, ROOF_EXIT_MMIO, on_mmio, c,
					  ROOF_MASK_DEFAULT, w),
			roof_vcpu_error(v));
	ROOF_OK_OR_FAIL(roof_vcpu_on_exit(v, ROOF_EXIT_HLT, on_hlt, c,
					  ROOF_MASK_DEFAULT, w),
			roof_vcpu_error(v));
	ROOF_OK_OR_FAIL(roof_vcpu_on_exit(v, ROOF_EXIT_MSR_READ, on_msr, c,
					  ROOF_MASK_DEFAULT, w),
			roof_vcpu_error(v));
	ROOF_OK_OR_FAIL(roof_vcpu_on_exit(v, ROOF_EXIT_MSR_WRITE, on_msr, c,
					  ROOF_MASK_DEFAULT, w),
			roof_vcpu_error(v));
	ROOF_OK_OR_FAIL(roof_vcpu_on_exit(v, ROOF_EXIT_CPUID, on_cpuid, c,
					  ROOF_MASK_DEFAULT, w),
			roof_vcpu_error(v));
}

static void ctx_init(struct ctx *c, enum subtest sub, roof_where where)
{
	memset(c, 0, sizeof *c);
	c->sub = sub;
	c->where = where;
	memcpy(c->expect, roof_test_patterns, sizeof c->expect);
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

static void finish(struct rig *r, struct ctx *c)
{
	ROOF_OK_OR_FAIL(roof_vm_close(r->vm), roof_last_error());
	roof_test_flag_destroy(&c->done);
	roof_test_flag_destroy(&c->stopped);
	if (c->mismatch[0])
		fail_msg("kernel %s: %s", roof_test_kernel(), c->mismatch);
	assert_int_equal(c->checks, 1);
}

/* One subtest end to end, in both handler placements. */
static void run_subtest(enum subtest sub, void (*prepare)(struct ctx *),
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
	assert_int_equal(c->exits_seen, 1);
	assert_int_equal(c->io_size, 1);
	assert_int_equal(c->io_data, 0x01); /* al of the rax pattern */
	assert_int_equal(st->exits_by_reason[ROOF_EXIT_IO], 3); /* out, check, done */
}

static void test_io_out(void **state)
{
	(void)state;
	run_subtest(T_OUT, NULL, verify_out);
}

static void prepare_out_write(struct ctx *c)
{
	c->write_regs = true;
	c->expect[G_BX] = 0xb0b0b0b0ull;
	c->expect[G_SI] = 0x51515151ull;
	c->expect[G_R12] = 0x1212ull; /* compared only where r8-r15 travel */
}

static void test_io_out_handler_writes(void **state)
{
	(void)state;
	run_subtest(T_OUT, prepare_out_write, verify_out);
}

static void prepare_in8(struct ctx *c)
{
	c->expect[G_AX] = (roof_test_patterns[G_AX] & ~0xffull) | 0x5a;
}

static void prepare_in16(struct ctx *c)
{
	c->expect[G_AX] = (roof_test_patterns[G_AX] & ~0xffffull) | 0xbeef;
	c->expect[G_DX] = (roof_test_patterns[G_DX] & ~0xffffull) | PORT_IN;
}

static void prepare_in32(struct ctx *c)
{
	c->expect[G_AX] = 0xcafebabeull; /* a 32-bit write zero-extends */
	c->expect[G_DX] = (roof_test_patterns[G_DX] & ~0xffffull) | PORT_IN;
}

static void verify_in(struct ctx *c, struct roof_stats *st)
{
	(void)st;
	assert_int_equal(c->exits_seen, 1);
	assert_int_equal(c->io_size, c->sub == T_IN8 ? 1 : c->sub == T_IN16 ? 2 : 4);
}

static void test_io_in(void **state)
{
	(void)state;
	run_subtest(T_IN8, prepare_in8, verify_in);
	run_subtest(T_IN16, prepare_in16, verify_in);
	run_subtest(T_IN32, prepare_in32, verify_in);
}

/* ---- mmio ------------------------------------------------------------------ */
static void prepare_mmio_read(struct ctx *c)
{
	c->expect[G_AX] = 0x1122334455667788ull;
}

static void verify_mmio_read(struct ctx *c, struct roof_stats *st)
{
	(void)st;
	assert_int_equal(c->nmmio, 1);
	assert_int_equal(c->mmio[0].gpa, ROOF_TEST_MMIO_BASE);
	assert_int_equal(c->mmio[0].len, 8);
	assert_int_equal(c->mmio[0].dir, ROOF_DIR_READ);
}

static void prepare_mmio_read32(struct ctx *c)
{
	c->expect[G_CX] = 0xdeadbeefull;
}

static void verify_mmio_read32(struct ctx *c, struct roof_stats *st)
{
	(void)st;
	assert_int_equal(c->nmmio, 1);
	assert_int_equal(c->mmio[0].gpa, ROOF_TEST_MMIO_BASE + 0x20);
	assert_int_equal(c->mmio[0].len, 4);
}

static void test_mmio_read(void **state)
{
	(void)state;
	run_subtest(T_MMIO_READ, prepare_mmio_read, verify_mmio_read);
	run_subtest(T_MMIO_READ32, prepare_mmio_read32, verify_mmio_read32);
}

static void verify_mmio_write(struct ctx *c, struct roof_stats *st)
{
	(void)st;
	assert_int_equal(c->nmmio, 2);
	assert_int_equal(c->mmio[0].gpa, ROOF_TEST_MMIO_BASE + 8);
	assert_int_equal(c->mmio[0].len, 8);
	assert_int_equal(c->mmio[0].dir, ROOF_DIR_WRITE);
	assert_int_equal(c->mmio[0].data, roof_test_patterns[G_BX]);
	assert_int_equal(c->mmio[1].gpa, ROOF_TEST_MMIO_BASE + 0x10);
	assert_int_equal(c->mmio[1].len, 4);
	assert_int_equal(c->mmio[1].data, roof_test_patterns[G_CX] & 0xffffffffull);
}

static void test_mmio_write(void **state)
{
	(void)state;
	run_subtest(T_MMIO_WRITE, NULL, verify_mmio_write);
}

/* ---- hlt ------------------------------------------------------------------- */
static void verify_hlt(struct ctx *c, struct roof_stats *st)
{
	(void)st;
	assert_int_equal(c->hlts, 1);
	assert_int_equal(c->hlt_ip_len, 1);
	/* ip is the hlt itself: the byte there is 0xf4 */
	assert_true(c->hlt_ip[0] > ROOF_TEST_GUEST_GPA);
}

static void test_hlt(void **state)
{
	(void)state;
	run_subtest(T_HLT, NULL, verify_hlt);
}

static void prepare_hlt_again(struct ctx *c)
{
	c->hlt_no_advance = true;
}

static void verify_hlt_again(struct ctx *c, struct roof_stats *st)
{
	(void)st;
	/* HLT does not advance ip: resuming without moving it halts again */
	assert_int_equal(c->hlts, 2);
	assert_int_equal(c->hlt_ip[0], c->hlt_ip[1]);
}

static void test_hlt_does_not_advance(void **state)
{
	(void)state;
	run_subtest(T_HLT, prepare_hlt_again, verify_hlt_again);
}

/* ---- msr ------------------------------------------------------------------- */
static void prepare_rdmsr(struct ctx *c)
{
	c->expect[G_CX] = VMM_MSR;
	c->expect[G_AX] = 0x12345678ull;
	c->expect[G_DX] = 0xfeedfaceull;
}

static void verify_msr(struct ctx *c, struct roof_stats *st)
{
	(void)st;
	assert_int_equal(c->exits_seen, 1);
	assert_int_equal(c->msr_index, VMM_MSR);
}

static void prepare_wrmsr(struct ctx *c)
{
	c->expect[G_CX] = VMM_MSR;
}

static void verify_wrmsr(struct ctx *c, struct roof_stats *st)
{
	verify_msr(c, st);
	assert_int_equal(c->msr_value,
			 (roof_test_patterns[G_DX] & 0xffffffffull) << 32 |
				 (roof_test_patterns[G_AX] & 0xffffffffull));
}

static void test_msr(void **state)
{
	(void)state;
	run_subtest(T_RDMSR, prepare_rdmsr, verify_msr);
	run_subtest(T_WRMSR, prepare_wrmsr, verify_wrmsr);
}

static void prepare_msr_kernel(struct ctx *c)
{
	c->expect[G_CX] = 0x175;
	c->expect[G_AX] = 0x11223344ull;
	c->expect[G_DX] = 0xffff8000ull;
}

static void verify_msr_kernel(struct ctx *c, struct roof_stats *st)
{
	/* SYSENTER_ESP is not a VMM MSR: no MSR exit reaches the VMM */
	assert_int_equal(c->exits_seen, 0);
	assert_int_equal(st->exits_by_reason[ROOF_EXIT_MSR_READ], 0);
	assert_int_equal(st->exits_by_reason[ROOF_EXIT_MSR_WRITE], 0);
}

static void test_msr_stays_in_kernel(void **state)
{
	(void)state;
	run_subtest(T_MSR_KERNEL, prepare_msr_kernel, verify_msr_kernel);
}

/* ---- cpuid ----------------------------------------------------------------- */
static void prepare_cpuid_kernel(struct ctx *c)
{
	c->expect[G_AX] = policy[0].eax;
	c->expect[G_BX] = policy[0].ebx;
	c->expect[G_CX] = policy[0].ecx;
	c->expect[G_DX] = policy[0].edx;
}

static void verify_cpuid_kernel(struct ctx *c, struct roof_stats *st)
{
	(void)c;
	/* answered from the policy table, without an exit to the VMM */
	assert_int_equal(st->exits_by_reason[ROOF_EXIT_CPUID], 0);
}

static void test_cpuid_policy(void **state)
{
	(void)state;
	run_subtest(T_CPUID_KERNEL, prepare_cpuid_kernel, verify_cpuid_kernel);
}

static void prepare_cpuid_site(struct ctx *c)
{
	c->expect[G_AX] = 0x11;
	c->expect[G_BX] = 0x22;
	c->expect[G_CX] = 0x33;
	c->expect[G_DX] = 0x44;
}

static void verify_cpuid_site(struct ctx *c, struct roof_stats *st)
{
	assert_int_equal(st->exits_by_reason[ROOF_EXIT_CPUID], 1);
	assert_int_equal(c->cpuid_in.leaf, 0x40000001);
	assert_int_equal(c->cpuid_in.subleaf, 7);
	/* prefilled with the policy's answer */
	assert_int_equal(c->cpuid_in.eax, 1);
	assert_int_equal(c->cpuid_in.edx, 4);
}

static void test_cpuid_site(void **state)
{
	(void)state;
	run_subtest(T_CPUID_SITE, prepare_cpuid_site, verify_cpuid_site);
}

/* ---- the mixed loop: no lost exits, no state ioctls under default masks ---- */
static void test_loop_counts(void **state)
{
	(void)state;
	ROOF_NEED_KVM();
	struct ctx c;
	struct rig r;
	ctx_init(&c, T_LOOP, ROOF_INLINE);
	c.stop_at_startup = true;
	c.checks = 1; /* the loop has no check exit */
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
static roof_action on_paused(roof_vcpu *cpu, roof_state *st, void *p)
{
	(void)cpu;
	struct ctx *c = p;
	check_gprs(c, st);
	c->hlt_ip[0] = roof_get_ip(st);
	roof_test_flag_raise(&c->done);
	return ROOF_STOP;
}

static void pause_spinning(const char *recall)
{
	struct ctx c;
	struct rig r;
	ctx_init(&c, T_SPIN, ROOF_INLINE);
	memset(&r, 0, sizeof r);
	ROOF_OK_OR_FAIL(roof_vm_open(&r.vm, NULL), roof_last_error());
	c.groups = roof_vm_state_groups(r.vm);
	if (recall)
		ROOF_OK_OR_FAIL(roof_vm_set_option(r.vm, "recall", recall),
				roof_vm_error(r.vm));
	roof_test_guest_vm(r.vm, "exits64", &r.ram);
	ROOF_OK_OR_FAIL(roof_ep_create(r.vm, "ep", -1, &r.ep), roof_vm_error(r.vm));
	ROOF_OK_OR_FAIL(roof_vcpu_create(r.vm, r.ep, &r.cpu), roof_vm_error(r.vm));
	roof_vcpu_on_exit(r.cpu, ROOF_EXIT_STARTUP, on_startup, &c,
			  roof_test_long_mode_mask() & c.groups, ROOF_INLINE);
	ROOF_OK_OR_FAIL(roof_vcpu_on_exit(r.cpu, ROOF_EXIT_PAUSED, on_paused, &c,
					  (ROOF_G_ACDB | ROOF_G_EBSD | ROOF_G_ESP |
					   ROOF_G_R8_R15 | ROOF_G_EIP) & c.groups,
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
	assert_true(c.hlt_ip[0] > ROOF_TEST_GUEST_GPA);
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
	if (st->info.io.port == PORT_EXIT)
		(void)roof_get_si(st);
	return st->info.io.port == PORT_DONE ? ROOF_STOP : ROOF_RESUME;
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
		ctx_init(&c, T_OUT, ROOF_INLINE);
		memset(&r, 0, sizeof r);
		roof_vm_open(&r.vm, NULL);
		roof_test_guest_vm(r.vm, "exits64", &r.ram);
		roof_ep_create(r.vm, "ep", -1, &r.ep);
		roof_vcpu_create(r.vm, r.ep, &r.cpu);
		roof_vcpu_on_exit(r.cpu, ROOF_EXIT_STARTUP, on_startup, &c,
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
	if (st->info.io.port == PORT_EXIT)
		roof_set_si(st, roof_get_si(st));
	if (st->info.io.port == PORT_DONE) {
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
	ctx_init(&c, T_OUT, ROOF_INLINE);
	memset(&r, 0, sizeof r);
	ROOF_OK_OR_FAIL(roof_vm_open(&r.vm, NULL), roof_last_error());
	ROOF_OK_OR_FAIL(roof_vm_set_mode(r.vm, ROOF_MODE_LEARN), roof_vm_error(r.vm));
	roof_test_guest_vm(r.vm, "exits64", &r.ram);
	ROOF_OK_OR_FAIL(roof_ep_create(r.vm, "ep", -1, &r.ep), roof_vm_error(r.vm));
	ROOF_OK_OR_FAIL(roof_vcpu_create(r.vm, r.ep, &r.cpu), roof_vm_error(r.vm));
	roof_vcpu_on_exit(r.cpu, ROOF_EXIT_STARTUP, on_startup, &c,
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
