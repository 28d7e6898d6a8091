/*
 * test_copy.c - the nasm masked copy against its C reference
 * (tests/fuzz/copy_diff.h): plan building refuses what it must, a
 * hand-made plan copies exactly its bytes, and a moderate number of random
 * (plan, mask, state) cases agree byte for byte. make fuzz-smoke runs the
 * same comparison 10^7 times; make fuzz lets libFuzzer drive it.
 *
 * ROOF_COPY_CASES overrides the number of random cases (default 200000).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "roof_test.h"
#include "fuzz/copy_diff.h"

#define STATE_SIZE ((uint32_t)sizeof(roof_state))

static void test_plan_add_refuses_bad_descriptors(void **state)
{
	(void)state;
	struct roof_transfer_plan p;
	roof_plan_init(&p, 128);
	assert_int_equal(roof_plan_add(&p, ROOF_GB_LIMIT, 0, 0, 8), -1);
	assert_int_equal(roof_plan_add(&p, 0, 0, 0, 0), -1);
	assert_int_equal(roof_plan_add(&p, 0, 121, 0, 8), -1);  /* past 128 */
	assert_int_equal(roof_plan_add(&p, 0, 129, 0, 1), -1);
	assert_int_equal(roof_plan_add(&p, 0, 0xfffffff8u, 0, 16), -1); /* wraps */
	assert_int_equal(roof_plan_add(&p, 0, 0, STATE_SIZE - 4, 8), -1);
	assert_int_equal(roof_plan_add(&p, 0, 0, 0xfffffff0u, 32), -1);
	assert_int_equal(p.ndesc, 0);
	assert_int_equal(p.copyable, 0);
	/* flush with both ends is fine */
	assert_int_equal(roof_plan_add(&p, 2, 120, STATE_SIZE - 8, 8), 0);
	assert_int_equal(roof_plan_add(&p, 2, 0, 0, 8), 0);
	/* a group's descriptors must be consecutive */
	assert_int_equal(roof_plan_add(&p, 5, 8, 8, 8), 0);
	assert_int_equal(roof_plan_add(&p, 2, 16, 16, 8), -1);
	assert_int_equal(p.count[2], 2);
	assert_int_equal(p.group_bytes[2], 16);
	/* full at ROOF_PLAN_MAX_DESC */
	while (p.ndesc < ROOF_PLAN_MAX_DESC)
		assert_int_equal(roof_plan_add(&p, 5, 0, 0, 1), 0);
	assert_int_equal(roof_plan_add(&p, 5, 0, 0, 1), -1);
	assert_int_equal(roof_plan_add(&p, 7, 0, 0, 1), -1);
	assert_int_equal(p.ndesc, ROOF_PLAN_MAX_DESC);
}

/* A hand-made plan: exactly the named bytes move, nothing else. */
static void test_known_plan_moves_exactly_its_bytes(void **state)
{
	(void)state;
	struct copy_bench b;
	assert_true(copy_bench_init(&b));
	copy_bench_native(&b, 1024);
	struct roof_transfer_plan p;
	roof_plan_init(&p, 1024);
	/* group 0: two registers; group 3: 300 bytes (the rep movsb path);
	 * group 31: 3 odd bytes ending at the native end */
	assert_int_equal(roof_plan_add(&p, 0, 16, 64, 8), 0);
	assert_int_equal(roof_plan_add(&p, 0, 40, 80, 8), 0);
	assert_int_equal(roof_plan_add(&p, 3, 100, 1000, 300), 0);
	assert_int_equal(roof_plan_add(&p, 31, 1021, STATE_SIZE - 3, 3), 0);
	for (uint32_t i = 0; i < 1024; i++)
		b.native_src[i] = (uint8_t)(i * 7 + 1);
	uint64_t masks[] = {ROOF_G_ACDB, 1ull << 3, 1ull << 31,
			    ROOF_G_ACDB | 1ull << 31 | 1ull << 40, 0};
	uint64_t bytes[] = {16, 300, 3, 19, 0};
	for (int m = 0; m < 5; m++) {
		for (int impl = 0; impl < 2; impl++) {
			uint8_t *st = impl ? b.state_asm : b.state_c;
			memset(st, 0xee, STATE_SIZE);
			uint64_t n = impl ? roof_gather_asm(&p, masks[m], b.native_src,
							    (roof_state *)(void *)st)
					  : roof_gather_c(&p, masks[m], b.native_src,
							  (roof_state *)(void *)st);
			assert_int_equal(n, bytes[m]);
			for (uint32_t i = 0; i < STATE_SIZE; i++) {
				uint8_t want = 0xee;
				if ((masks[m] & 1) && i >= 64 && i < 72)
					want = b.native_src[16 + i - 64];
				if ((masks[m] & 1) && i >= 80 && i < 88)
					want = b.native_src[40 + i - 80];
				if ((masks[m] & 8) && i >= 1000 && i < 1300)
					want = b.native_src[100 + i - 1000];
				if ((masks[m] >> 31 & 1) && i >= STATE_SIZE - 3)
					want = b.native_src[1021 + i - (STATE_SIZE - 3)];
				if (st[i] != want)
					fail_msg("%s gather, mask 0x%llx: state byte %u "
						 "is 0x%02x, want 0x%02x",
						 impl ? "nasm" : "C",
						 (unsigned long long)masks[m], i,
						 st[i], want);
			}
		}
	}
	/* and back: scatter writes only the descriptors' native bytes */
	memset(b.state_src, 0x5a, STATE_SIZE);
	memset(b.native_c, 0, 1024);
	assert_int_equal(roof_scatter_asm(&p, ~0ull,
					  (roof_state *)(void *)b.state_src,
					  b.native_c),
			 319);
	for (uint32_t i = 0; i < 1024; i++) {
		bool in = (i >= 16 && i < 24) || (i >= 40 && i < 48) ||
			  (i >= 100 && i < 400) || i >= 1021;
		assert_int_equal(b.native_c[i], in ? 0x5a : 0);
	}
	copy_bench_free(&b);
}

static void test_random_cases_agree(void **state)
{
	(void)state;
	const char *env = getenv("ROOF_COPY_CASES");
	uint64_t cases = env ? strtoull(env, NULL, 0) : 200000;
	uint64_t seed = 0x0e1f2a3b4c5d6e7full, s = seed;
	struct copy_bench b;
	assert_true(copy_bench_init(&b));
	struct roof_transfer_plan p;
	struct copy_run run = {0};
	char why[256];
	for (uint64_t i = 0; i < cases; i++) {
		uint64_t mask = copy_next_case(&b, &p, &s, i, 500, &run);
		if (!copy_diff_case(&b, &p, mask, why, sizeof why))
			fail_msg("case %llu (seed 0x%llx, plan %llu, mask 0x%llx): %s",
				 (unsigned long long)i, (unsigned long long)seed,
				 (unsigned long long)run.plans, (unsigned long long)mask,
				 why);
	}
	print_message("%llu random cases over %llu plans (%.1f descriptors "
		      "each), %llu bytes compared: 0 mismatches\n",
		      (unsigned long long)b.cases, (unsigned long long)run.plans,
		      run.plans ? (double)run.descs / (double)run.plans : 0.0,
		      (unsigned long long)b.bytes);
	assert_int_equal(b.cases, cases);
	assert_int_equal(run.refused, 0); /* every random descriptor is valid */
	copy_bench_free(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_plan_add_refuses_bad_descriptors),
		cmocka_unit_test(test_known_plan_moves_exactly_its_bytes),
		cmocka_unit_test(test_random_cases_agree),
	};
	return cmocka_run_group_tests_name("copy (nasm vs C)", tests, NULL,
					   NULL);
}
