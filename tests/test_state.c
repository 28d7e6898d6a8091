/*
 * test_state.c - the unified state and the dispatch, without a kernel:
 * group masks, spans, charged (valid) / dirty bookkeeping, the lazy-fetch
 * and poison paths, checked mode, and roof_dispatch_exit's contract
 * (fetch exactly the mask, write back exactly the dirty groups, inline or
 * on the entrypoint, what an unhandled exit does), through a fake backend.
 */
#include <stdlib.h>
#include <string.h>

#include "roof_core.h"
#include "roof_test.h"

/* ---- masks --------------------------------------------------------------- */
static void test_mask_parse_format(void **state)
{
	(void)state;
	uint64_t m;
	assert_int_equal(roof_mask_parse("ACDB|EIP|qual", &m), 0);
	assert_int_equal(m, ROOF_G_ACDB | ROOF_G_EIP | ROOF_G_QUAL);
	char buf[256];
	roof_mask_format(m, buf, sizeof buf);
	assert_string_equal(buf, "ACDB|EIP|QUAL");
	assert_int_equal(roof_mask_parse("ALL", &m), 0);
	assert_int_equal(m, ROOF_G_ALL);
	/* NOVA's ALL: 0x000fffff without CTRL, plus EFER R8_R15 SYSCALL TPR */
	assert_int_equal(m, (0x000fffffull & ~(1ull << 16)) | (1ull << 20) |
				    (1ull << 22) | (1ull << 23) | (1ull << 24));
	assert_int_equal(roof_mask_parse("IRQ", &m), 0);
	assert_int_equal(m, ROOF_G_EFL | ROOF_G_STA | ROOF_G_INJ | ROOF_G_TSC);
	assert_int_equal(roof_mask_parse("0x9", &m), 0);
	assert_int_equal(m, ROOF_G_ACDB | ROOF_G_EIP);
	/* bad input: unknown name, empty element, a bit naming no group */
	assert_int_equal(roof_mask_parse("ACDB|NOPE", &m), -1);
	assert_int_equal(roof_mask_parse("ACDB||EIP", &m), -1);
	assert_int_equal(roof_mask_parse("0x8000000", &m), -1);
	assert_int_equal(roof_mask_parse(NULL, &m), -1);
	/* formatting truncates safely and reports the full length */
	char tiny[6];
	size_t n = roof_mask_format(ROOF_G_ALL, tiny, sizeof tiny);
	assert_true(n > sizeof tiny);
	assert_int_equal(strlen(tiny), sizeof tiny - 1);
}

static void test_group_spans(void **state)
{
	(void)state;
	/* every group is one contiguous run; runs do not overlap; together
	 * they account for roof_mask_bytes(EVERYTHING) */
	uint8_t owner[sizeof(roof_state)];
	memset(owner, 0xff, sizeof owner);
	uint32_t sum = 0;
	for (unsigned b = 0; b < ROOF_GB_LIMIT; b++) {
		uint32_t off, len;
		bool named = (ROOF_G_EVERYTHING >> b) & 1;
		assert_int_equal(roof_group_span(b, &off, &len) == 0, named);
		if (!named)
			continue;
		assert_true(off >= offsetof(roof_state, ax));
		assert_true(off + len <= sizeof(roof_state));
		for (uint32_t i = off; i < off + len; i++) {
			assert_int_equal(owner[i], 0xff);
			owner[i] = (uint8_t)b;
		}
		assert_int_equal(roof_group_bytes(b), len);
		sum += len;
	}
	assert_int_equal(roof_mask_bytes(ROOF_G_EVERYTHING), sum);
	assert_int_equal(roof_group_bytes(ROOF_GB_FPU), ROOF_FPU_SIZE);
	assert_int_equal(offsetof(roof_state, fpu) % 64, 0);
}

/* ---- a fake backend ---------------------------------------------------------- */
struct fake {
	uint64_t fetched, written;
	unsigned fetch_calls, writeback_calls, hops;
	bool fail_fetch;
	uint64_t value; /* what the "kernel" holds in every register */
	char fatal_msg[512];
	jmp_buf fatal_jump;
};

static struct fake *fake_of(struct roof_vcpu *v)
{
	return v->backend;
}

static int fake_fetch(struct roof_vcpu *v, uint64_t mask)
{
	struct fake *f = fake_of(v);
	f->fetch_calls++;
	if (f->fail_fetch)
		return ROOF_EKERNEL;
	f->fetched |= mask;
	if (mask & ROOF_G_ACDB)
		v->state->ax = v->state->bx = f->value;
	if (mask & ROOF_G_EBSD)
		v->state->si = f->value;
	return ROOF_OK;
}

static int fake_writeback(struct roof_vcpu *v, uint64_t dirty)
{
	struct fake *f = fake_of(v);
	f->writeback_calls++;
	f->written |= dirty;
	return ROOF_OK;
}

static const struct roof_backend_hot_ops fake_hot = {fake_fetch, fake_writeback,
						     NULL, NULL};

static roof_action fake_call_on_ep(struct roof_vcpu *v,
				   const struct roof_handler_slot *slot)
{
	fake_of(v)->hops++;
	return slot->fn(v, v->state, slot->ctx);
}

static void fake_fatal(struct roof_vcpu *v, const char *msg)
{
	struct fake *f = fake_of(v);
	strncpy(f->fatal_msg, msg, sizeof f->fatal_msg - 1);
	longjmp(f->fatal_jump, 1);
}

static const struct roof_host_hooks fake_hooks = {fake_call_on_ep, fake_fatal};

struct rig {
	struct roof_vcpu v;
	roof_state *s;
	struct fake f;
};

static struct rig *rig_new(uint32_t mode)
{
	struct rig *r = calloc(1, sizeof *r);
	r->s = aligned_alloc(64, sizeof(roof_state));
	memset(r->s, 0, sizeof(roof_state));
	r->v.mode = mode;
	r->f.value = 0x1234;
	roof_core_init(&r->v, r->s, 0, &fake_hot, &r->f, &fake_hooks, NULL);
	return r;
}

static void rig_free(struct rig *r)
{
	free(r->s);
	free(r);
}

static void set_handler(struct rig *r, roof_exit e, roof_exit_handler fn,
			uint64_t mask, roof_where where)
{
	r->v.handlers[e] = (struct roof_handler_slot){fn, r, mask,
						      (uint8_t)where, 1};
}

static roof_action read_bx_write_si(roof_vcpu *cpu, roof_state *s, void *ctx)
{
	(void)cpu;
	(void)ctx;
	roof_set_si(s, roof_get_bx(s) + 1);
	return ROOF_RESUME;
}

static void test_dispatch_fetches_mask_writes_dirty(void **state)
{
	(void)state;
	struct rig *r = rig_new(0);
	set_handler(r, ROOF_EXIT_IO, read_bx_write_si, ROOF_G_ACDB | ROOF_G_EBSD,
		    ROOF_INLINE);
	roof_state_begin_exit(r->s, ROOF_EXIT_IO, 0);
	assert_int_equal(roof_dispatch_exit(&r->v), ROOF_RESUME);
	/* one transfer of exactly the mask; only the written group goes back */
	assert_int_equal(r->f.fetch_calls, 1);
	assert_int_equal(r->f.fetched, ROOF_G_ACDB | ROOF_G_EBSD);
	assert_int_equal(r->f.written, ROOF_G_EBSD);
	assert_int_equal(r->s->si, 0x1235);
	assert_int_equal(r->s->dirty, 0);
	assert_int_equal(r->v.counters.exits_by_reason[ROOF_EXIT_IO], 1);
	assert_int_equal(r->v.counters.hops, 0);
	assert_int_equal(r->f.hops, 0);

	/* groups the backend delivered for free are not fetched again */
	r->f.fetch_calls = 0;
	roof_state_begin_exit(r->s, ROOF_EXIT_IO, ROOF_G_ACDB);
	roof_dispatch_exit(&r->v);
	assert_int_equal(r->f.fetch_calls, 1);
	rig_free(r);
}

static void test_dispatch_on_entrypoint_hops(void **state)
{
	(void)state;
	struct rig *r = rig_new(0);
	set_handler(r, ROOF_EXIT_HLT, read_bx_write_si, ROOF_G_ACDB | ROOF_G_EBSD,
		    ROOF_ON_EP);
	roof_state_begin_exit(r->s, ROOF_EXIT_HLT, 0);
	roof_dispatch_exit(&r->v);
	assert_int_equal(r->f.hops, 1);
	assert_int_equal(r->v.counters.hops, 1);
	/* force_hop (Genode's seL4/FOC/hw clients) hops inline handlers too */
	set_handler(r, ROOF_EXIT_IO, read_bx_write_si, ROOF_G_ACDB | ROOF_G_EBSD,
		    ROOF_INLINE);
	r->v.force_hop = true;
	roof_state_begin_exit(r->s, ROOF_EXIT_IO, 0);
	roof_dispatch_exit(&r->v);
	assert_int_equal(r->f.hops, 2);
	rig_free(r);
}

static roof_action read_outside(roof_vcpu *cpu, roof_state *s, void *ctx)
{
	(void)cpu;
	(void)ctx;
	(void)roof_get_si(s); /* EBSD is not in the mask */
	return ROOF_RESUME;
}

static void test_lazy_fetch_counts_a_miss(void **state)
{
	(void)state;
	struct rig *r = rig_new(0);
	set_handler(r, ROOF_EXIT_IO, read_outside, ROOF_G_ACDB, ROOF_INLINE);
	roof_state_begin_exit(r->s, ROOF_EXIT_IO, 0);
	assert_int_equal(roof_dispatch_exit(&r->v), ROOF_RESUME);
	/* never stale: the read fetched EBSD, and it was counted */
	assert_int_equal(r->f.fetched, ROOF_G_ACDB | ROOF_G_EBSD);
	assert_int_equal(r->v.counters.misses, 1);
	assert_int_equal(r->s->misses, 1);
	rig_free(r);
}

static void test_failed_fetch_poisons_and_stops(void **state)
{
	(void)state;
	struct rig *r = rig_new(0);
	set_handler(r, ROOF_EXIT_IO, read_outside, 0, ROOF_INLINE);
	r->s->si = 0x5555; /* a stale value from an earlier exit */
	roof_state_begin_exit(r->s, ROOF_EXIT_IO, 0);
	r->f.fail_fetch = true;
	assert_int_equal(roof_dispatch_exit(&r->v), ROOF_STOP);
	/* the stale value was not served: the group was poisoned */
	uint8_t poison[8];
	memset(poison, ROOF_POISON_BYTE, sizeof poison);
	assert_memory_equal(&r->s->si, poison, 8);
	rig_free(r);
}

static void test_failed_transfer_becomes_backend_error(void **state)
{
	(void)state;
	struct rig *r = rig_new(0);
	set_handler(r, ROOF_EXIT_IO, read_bx_write_si, ROOF_G_ACDB, ROOF_INLINE);
	roof_state_begin_exit(r->s, ROOF_EXIT_IO, 0);
	r->f.fail_fetch = true;
	/* no BACKEND_ERROR handler: the vCPU stops, the handler never ran */
	assert_int_equal(roof_dispatch_exit(&r->v), ROOF_STOP);
	assert_int_equal(r->s->exit_reason, ROOF_EXIT_BACKEND_ERROR);
	assert_non_null(r->s->info.error);
	assert_int_equal(r->f.written, 0);
	rig_free(r);
}

static void test_checked_mode_names_register_and_exit(void **state)
{
	(void)state;
	struct rig *r = rig_new(ROOF_MODE_CHECK);
	set_handler(r, ROOF_EXIT_MMIO, read_outside, ROOF_G_ACDB, ROOF_INLINE);
	roof_state_begin_exit(r->s, ROOF_EXIT_MMIO, 0);
	if (setjmp(r->f.fatal_jump) == 0) {
		roof_dispatch_exit(&r->v);
		fail_msg("checked mode did not stop the read outside the mask");
	}
	assert_non_null(strstr(r->f.fatal_msg, "register 'si'"));
	assert_non_null(strstr(r->f.fatal_msg, "exit MMIO"));
	assert_non_null(strstr(r->f.fatal_msg, "EBSD"));
	rig_free(r);
}

static void test_learn_mode_records(void **state)
{
	(void)state;
	struct rig *r = rig_new(ROOF_MODE_LEARN);
	set_handler(r, ROOF_EXIT_IO, read_bx_write_si, ROOF_G_ACDB | ROOF_G_EBSD,
		    ROOF_INLINE);
	roof_state_begin_exit(r->s, ROOF_EXIT_IO, 0);
	roof_dispatch_exit(&r->v);
	assert_int_equal(r->v.learned[ROOF_EXIT_IO], ROOF_G_ACDB | ROOF_G_EBSD);
	rig_free(r);
}

static void test_unhandled_exits(void **state)
{
	(void)state;
	struct rig *r = rig_new(0);
	struct { roof_exit e; roof_action want; } cases[] = {
		{ROOF_EXIT_STARTUP, ROOF_RESUME}, {ROOF_EXIT_IRQ_WINDOW, ROOF_RESUME},
		{ROOF_EXIT_IO, ROOF_RESUME},      {ROOF_EXIT_MMIO, ROOF_RESUME},
		{ROOF_EXIT_MSR_READ, ROOF_RESUME}, {ROOF_EXIT_CPUID, ROOF_RESUME},
		{ROOF_EXIT_PAUSED, ROOF_STOP},    {ROOF_EXIT_HLT, ROOF_STOP},
		{ROOF_EXIT_SHUTDOWN, ROOF_STOP},  {ROOF_EXIT_INVALID_STATE, ROOF_STOP},
		{ROOF_EXIT_DEBUG, ROOF_STOP},     {ROOF_EXIT_BACKEND_ERROR, ROOF_STOP},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		roof_state_begin_exit(r->s, cases[i].e, 0);
		memset(&r->s->info, 0, sizeof r->s->info);
		r->s->info.io.dir = ROOF_DIR_IN;
		r->s->info.mmio.dir = ROOF_DIR_READ;
		assert_int_equal(roof_dispatch_exit(&r->v), cases[i].want);
		if (cases[i].e == ROOF_EXIT_IO)
			assert_int_equal(r->s->info.io.data, 0xffffffffu);
		if (cases[i].e == ROOF_EXIT_MSR_READ)
			assert_int_equal(r->s->info.msr.fault, 1);
	}
	/* an unhandled in reads all ones as wide as the access (roof_state.h:
	 * io.data holds no bits beyond io.size) */
	static const struct { uint8_t size; uint32_t data; } ins[] = {
		{1, 0xffu}, {2, 0xffffu}, {4, 0xffffffffu}};
	for (size_t i = 0; i < sizeof ins / sizeof ins[0]; i++) {
		roof_state_begin_exit(r->s, ROOF_EXIT_IO, 0);
		memset(&r->s->info, 0, sizeof r->s->info);
		r->s->info.io.dir = ROOF_DIR_IN;
		r->s->info.io.size = ins[i].size;
		r->s->info.io.count = 1;
		assert_int_equal(roof_dispatch_exit(&r->v), ROOF_RESUME);
		assert_int_equal(r->s->info.io.data, ins[i].data);
	}
	/* a backend's failure: BACKEND_ERROR, nothing valid, info only the text */
	roof_state_begin_exit(r->s, ROOF_EXIT_IO, ROOF_G_ACDB);
	r->s->info.io.port = 0x10;
	r->s->info.native = 30;
	roof_state_begin_error(r->s, "kernel said no");
	assert_int_equal(r->s->exit_reason, ROOF_EXIT_BACKEND_ERROR);
	assert_int_equal(r->s->valid, 0);
	assert_int_equal(r->s->info.io.port, 0);
	assert_int_equal(r->s->info.native, 0);
	assert_string_equal(r->s->info.error, "kernel said no");
	/* an out-of-range reason from a backend is turned into an error */
	roof_state_begin_exit(r->s, (roof_exit)99, 0);
	assert_int_equal(roof_dispatch_exit(&r->v), ROOF_STOP);
	assert_int_equal(r->s->exit_reason, ROOF_EXIT_BACKEND_ERROR);
	rig_free(r);
}

/* GPRs by x86 register number reach the same register, group and name as
 * the named accessors. */
static void test_gprs_by_number(void **state)
{
	(void)state;
	struct rig *r = rig_new(0);
	roof_state *s = r->s;
	uint64_t *named[16] = {&s->ax, &s->cx, &s->dx, &s->bx, &s->sp, &s->bp,
			       &s->si, &s->di, &s->r8, &s->r9, &s->r10, &s->r11,
			       &s->r12, &s->r13, &s->r14, &s->r15};
	static const uint64_t groups[16] = {
		ROOF_G_ACDB, ROOF_G_ACDB, ROOF_G_ACDB, ROOF_G_ACDB, ROOF_G_ESP,
		ROOF_G_EBSD, ROOF_G_EBSD, ROOF_G_EBSD, ROOF_G_R8_R15,
		ROOF_G_R8_R15, ROOF_G_R8_R15, ROOF_G_R8_R15, ROOF_G_R8_R15,
		ROOF_G_R8_R15, ROOF_G_R8_R15, ROOF_G_R8_R15};
	static const char *const names[16] = {
		"ax", "cx", "dx", "bx", "sp", "bp", "si", "di",
		"r8", "r9", "r10", "r11", "r12", "r13", "r14", "r15"};
	roof_state_begin_exit(s, ROOF_EXIT_IO, ROOF_G_EVERYTHING);
	for (unsigned i = 0; i < 16; i++) {
		assert_int_equal(roof_gpr_group(i), groups[i]);
		assert_int_equal(roof_gpr_group(i + 16), groups[i]);
		assert_string_equal(roof_gpr_name(i), names[i]);
		assert_ptr_equal(roof_gpr_raw(s, i), named[i]);
		s->dirty = s->touched = 0;
		roof_set_gpr(s, i, 0x100 + i);
		assert_int_equal(*named[i], 0x100 + i);
		assert_int_equal(s->dirty, groups[i]);
		assert_int_equal(s->touched, groups[i]);
		assert_int_equal(roof_get_gpr(s, i + 16), 0x100 + i);
	}
	/* raw access touches no bookkeeping */
	s->dirty = s->touched = 0;
	*roof_gpr_raw(s, 5) = 7;
	assert_int_equal(s->dirty | s->touched, 0);
	/* a read outside the fetched groups is a lazy fetch, as by name */
	roof_state_begin_exit(s, ROOF_EXIT_IO, 0);
	assert_int_equal(roof_get_gpr(s, 6), 0x1234); /* si, from the "kernel" */
	assert_int_equal(r->f.fetched, ROOF_G_EBSD);
	assert_int_equal(r->v.counters.misses, 1);
	rig_free(r);
}

static void test_default_masks(void **state)
{
	(void)state;
	/* the fast path's hot exits transfer nothing: the backend decodes the
	 * exit into info and completes it */
	assert_int_equal(roof_default_mask(ROOF_EXIT_IO), 0);
	assert_int_equal(roof_default_mask(ROOF_EXIT_MMIO), 0);
	assert_int_equal(roof_default_mask(ROOF_EXIT_MSR_READ), 0);
	assert_int_equal(roof_default_mask(ROOF_EXIT_CPUID), 0);
	/* Seoul's HLT row cut to ip and flags: injecting handlers ask for
	 * INJ|STA themselves (dispatch.c) */
	assert_int_equal(roof_default_mask(ROOF_EXIT_HLT), ROOF_G_EIP | ROOF_G_EFL);
	assert_int_equal(roof_default_mask(ROOF_EXIT_STARTUP) & ROOF_G_ALL,
			 ROOF_G_ALL);
	assert_int_equal(roof_default_mask(ROOF_EXIT_INVALID_STATE), ROOF_G_ALL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_mask_parse_format),
		cmocka_unit_test(test_group_spans),
		cmocka_unit_test(test_dispatch_fetches_mask_writes_dirty),
		cmocka_unit_test(test_dispatch_on_entrypoint_hops),
		cmocka_unit_test(test_lazy_fetch_counts_a_miss),
		cmocka_unit_test(test_failed_fetch_poisons_and_stops),
		cmocka_unit_test(test_failed_transfer_becomes_backend_error),
		cmocka_unit_test(test_checked_mode_names_register_and_exit),
		cmocka_unit_test(test_learn_mode_records),
		cmocka_unit_test(test_unhandled_exits),
		cmocka_unit_test(test_gprs_by_number),
		cmocka_unit_test(test_default_masks),
	};
	return cmocka_run_group_tests_name("state", tests, NULL, NULL);
}
