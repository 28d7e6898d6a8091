/* counts_run.c - see counts_run.h. */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "counts_run.h"

const char *const counts_policy[COUNTS_POLICIES] = {"tuned", "genode"};

static void check_gprs(struct counts_run *r, roof_state *s)
{
	uint64_t want[16];
	memcpy(want, roof_test_patterns, sizeof want);
	if (r->write_regs) {
		want[G_BX] = 0xb0b0b0b0ull;
		want[G_R12] = 0x1212ull;
	}
	roof_test_check_gprs(s, r->rig.groups, want, r->error, sizeof r->error);
	r->checks++;
}

static roof_action on_io(roof_vcpu *cpu, roof_state *s, void *p)
{
	(void)cpu;
	struct counts_run *r = p;
	r->ios++;
	if (s->info.io.dir != ROOF_DIR_OUT)
		r->bad++;
	uint16_t port = s->info.io.port;
	if (port == ROOF_EXITS_PORT_CHECK && r->check)
		check_gprs(r, s);
	if (port == ROOF_EXITS_PORT_EXIT && r->read_si &&
	    roof_get_si(s) != roof_test_patterns[G_SI])
		r->bad++;
	if (port == ROOF_EXITS_PORT_EXIT && r->read_fpu) {
		const uint8_t *f = roof_fpu_read(s);
		r->fpu_ok = f[0] == 0x7f && f[1] == 0x03; /* fcw after reset */
	}
	if (port == ROOF_EXITS_PORT_EXIT && r->write_regs) {
		roof_set_bx(s, 0xb0b0b0b0ull);
		roof_set_r12(s, 0x1212ull);
	}
	if (port == ROOF_EXITS_PORT_DONE && !r->resume_on_done) {
		roof_test_flag_raise(&r->done);
		return ROOF_STOP;
	}
	return ROOF_RESUME;
}

static roof_action on_mmio(roof_vcpu *cpu, roof_state *s, void *p)
{
	(void)cpu;
	(void)p;
	if (s->info.mmio.dir == ROOF_DIR_READ)
		s->info.mmio.data = 0x1122334455667788ull;
	return ROOF_RESUME;
}

static roof_action on_hlt(roof_vcpu *cpu, roof_state *s, void *p)
{
	(void)cpu;
	struct counts_run *r = p;
	if (r->nmi_window) /* the VMX control's bit; KVM has no such exit */
		roof_set_inj_info(s, roof_get_inj_info(s) | (1u << 13));
	roof_set_ip(s, roof_get_ip(s) + roof_get_ip_len(s));
	return ROOF_RESUME;
}

/* PAUSED ends a run as PORT_DONE does; an error exit ends it with its
 * text, which counts_run_finish fails on. */
static roof_action on_stop(roof_vcpu *cpu, roof_state *s, void *p)
{
	(void)cpu;
	struct counts_run *r = p;
	if (s->exit_reason != ROOF_EXIT_PAUSED)
		snprintf(r->error, sizeof r->error, "%s: %s",
			 roof_exit_name(s->exit_reason),
			 s->info.error ? s->info.error : "(no text)");
	roof_test_flag_raise(&r->done);
	return ROOF_STOP;
}

void counts_run_start(struct counts_run *r)
{
	roof_test_flag_init(&r->done);
	model_rig_open(&r->rig, r->kernel, r->policy);
	model_rig_load(&r->rig, &(struct model_rig_guest){
		.name = "exits64", .subtest = r->sub, .loops = COUNTS_RUN_LOOPS});
	const struct model_rig_handler h[] = {
		{ROOF_EXIT_IO, on_io, r, r->io_mask, r->where},
		{ROOF_EXIT_HLT, on_hlt, r, ROOF_MASK_DEFAULT, r->where},
		{ROOF_EXIT_PAUSED, on_stop, r, 0, ROOF_INLINE},
		{ROOF_EXIT_BACKEND_ERROR, on_stop, r, 0, ROOF_INLINE},
		{ROOF_EXIT_INVALID_STATE, on_stop, r, 0, ROOF_INLINE},
		/* last, so that it can be left out */
		{ROOF_EXIT_MMIO, on_mmio, r, ROOF_MASK_DEFAULT, r->where},
	};
	size_t n = sizeof h / sizeof h[0];
	model_rig_vcpu(&r->rig, h, r->answer_mmio ? n : n - 1);
	model_rig_startup(&r->rig);
}

void counts_run_wait_done(struct counts_run *r)
{
	model_rig_wait(&r->rig, &r->done, "the guest's end");
	model_rig_stats(&r->rig, &r->st);
}

void counts_run_guest(struct counts_run *r)
{
	counts_run_start(r);
	ROOF_OK_OR_FAIL(roof_vcpu_run(r->rig.cpu), roof_vcpu_error(r->rig.cpu));
	counts_run_wait_done(r);
}

void counts_run_pause_spinning(struct counts_run *r)
{
	r->resume_on_done = true;
	counts_run_start(r);
	ROOF_OK_OR_FAIL(roof_vcpu_run(r->rig.cpu), roof_vcpu_error(r->rig.cpu));
	usleep(20000); /* the guest loops on PORT_DONE */
	ROOF_OK_OR_FAIL(roof_vcpu_pause(r->rig.cpu), roof_vcpu_error(r->rig.cpu));
	counts_run_wait_done(r);
	assert_int_equal(r->st.exits_by_reason[ROOF_EXIT_PAUSED], 1);
	assert_true(r->st.exits_by_reason[ROOF_EXIT_IO] >= 3);
}

void counts_run_finish(struct counts_run *r)
{
	model_rig_close(&r->rig);
	roof_test_flag_destroy(&r->done);
	if (r->error[0])
		fail_msg("%s %s: %s", r->kernel, r->policy, r->error);
	assert_int_equal(r->bad, 0);
}

void counts_run_print(const struct counts_run *r, const char *what,
		      uint64_t n)
{
	double d = (double)n;
	print_message("%s %-6s %-8s per exit: %.2f crossings, %.1f bytes, "
		      "%.2f vmcs reads, %.2f writes, %.2f fpu ops, %.2f hops; "
		      "substrate: %.2f KVM ioctls (%llu exits)\n",
		      r->kernel, r->policy, what, (double)r->st.crossings / d,
		      (double)r->st.bytes / d, (double)r->st.vmcs_reads / d,
		      (double)r->st.vmcs_writes / d, (double)r->st.fpu_ops / d,
		      (double)r->st.hops / d, (double)r->st.substrate_ioctls / d,
		      (unsigned long long)r->st.exits);
}

void counts_run_both(struct counts_run r[COUNTS_POLICIES],
		     struct counts_run like)
{
	for (int i = 0; i < COUNTS_POLICIES; i++) {
		r[i] = like;
		r[i].policy = counts_policy[i];
		counts_run_guest(&r[i]);
	}
}

void counts_finish_both(struct counts_run r[COUNTS_POLICIES])
{
	for (int i = 0; i < COUNTS_POLICIES; i++)
		counts_run_finish(&r[i]);
}

void counts_run_fpu_on_request(struct counts_run r[COUNTS_POLICIES],
			       struct counts_run like)
{
	like.read_fpu = true;
	counts_run_both(r, like);
	assert_true(r[COUNTS_GENODE].fpu_ok);
	assert_true(r[COUNTS_TUNED].fpu_ok);
	assert_int_equal(r[COUNTS_GENODE].st.misses, 0);
	assert_int_equal(r[COUNTS_TUNED].st.misses, 1);
}

void counts_assert_guest_exits(const struct counts_run *r)
{
	const uint64_t *by = r->st.exits_by_reason;
	switch (r->sub) {
	case ROOF_EXITS_OUT: /* out, check, done */
		assert_int_equal(r->st.exits, 3);
		assert_int_equal(by[ROOF_EXIT_IO], 3);
		break;
	case ROOF_EXITS_HLT: /* hlt, check, done */
		assert_int_equal(r->st.exits, 3);
		assert_int_equal(by[ROOF_EXIT_HLT], 1);
		break;
	case ROOF_EXITS_LOOP: /* (out, mmio write, mmio read, hlt) x n, done */
		assert_int_equal(r->st.exits, 4 * COUNTS_RUN_LOOPS + 1);
		assert_int_equal(by[ROOF_EXIT_IO], COUNTS_RUN_LOOPS + 1);
		assert_int_equal(by[ROOF_EXIT_MMIO], 2 * COUNTS_RUN_LOOPS);
		assert_int_equal(by[ROOF_EXIT_HLT], COUNTS_RUN_LOOPS);
		break;
	default:
		fail_msg("no exits known for subtest %llu",
			 (unsigned long long)r->sub);
	}
}
