/*
 * test_api_exit_records.c - the backend's exit decoding on native exit
 * records that no kernel produced: the good and malformed examples the
 * backend ships (its fuzz seeds) must decode to their stated reason, a
 * malformed one as BACKEND_ERROR with a text, never as an exit whose
 * fields point outside the record; then a few thousand byte-flipped
 * variants must still honour the contract (tests/fuzz/exit_decoders.h).
 * make fuzz runs the same check under libFuzzer for minutes.
 *
 * Backend: $ROOF_KERNEL, through its row in tests/fuzz/exit_decoders.h; a
 * backend that has not added its decoder hook yet is skipped, saying so.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "roof_test.h"
#include "fuzz/rng.h"
#include "fuzz/exit_decoders.h"

#define MUTANTS_PER_SEED 300

struct replay {
	roof_exit_record_decode_fn decode;
	unsigned seeds, mutants, bad;
	char report[4096];
	size_t used;
	uint64_t rng;
};

static roof_state *scratch_state(void)
{
	static roof_state st; /* 64-byte aligned by its type */
	memset(&st, 0, sizeof st);
	return &st;
}

static void note(struct replay *r, const char *name, const char *fmt,
		 const char *detail)
{
	r->bad++;
	if (r->used < sizeof r->report)
		r->used += (size_t)snprintf(r->report + r->used,
					    sizeof r->report - r->used,
					    "\n  %s: ", name);
	if (r->used < sizeof r->report)
		r->used += (size_t)snprintf(r->report + r->used,
					    sizeof r->report - r->used, fmt,
					    detail);
}

static int check_seed(void *ctx, const char *name, roof_exit want,
		      const uint8_t *data, size_t size)
{
	struct replay *r = ctx;
	roof_state *st = scratch_state();
	const void *mem = NULL;
	size_t mem_size = 0;
	char why[256];
	r->seeds++;
	if (r->decode(data, size, st, &mem, &mem_size) != 0) {
		note(r, name, "%s", "refused by the decoder");
		return 0;
	}
	if (!roof_exit_record_sane(st, mem, mem_size, why, sizeof why))
		note(r, name, "%s", why);
	else if (st->exit_reason != want) {
		snprintf(why, sizeof why, "%s, want %s (%s)",
			 roof_exit_name(st->exit_reason), roof_exit_name(want),
			 st->info.error ? st->info.error : "no text");
		note(r, name, "decoded as %s", why);
	}
	/* byte-flipped variants: any reason, but always within contract */
	static uint8_t copy[1 << 14];
	size_t n = size < sizeof copy ? size : sizeof copy;
	for (unsigned m = 0; m < MUTANTS_PER_SEED; m++) {
		memcpy(copy, data, n);
		unsigned flips = 1 + rng_below(&r->rng, 8);
		for (unsigned f = 0; f < flips; f++)
			copy[rng_below(&r->rng, (uint32_t)n)] ^=
				(uint8_t)(1u << rng_below(&r->rng, 8));
		size_t len = rng_below(&r->rng, 8) ? n : rng_below(&r->rng, (uint32_t)n);
		r->mutants++;
		st = scratch_state();
		if (r->decode(copy, len, st, &mem, &mem_size) == 0 &&
		    !roof_exit_record_sane(st, mem, mem_size, why, sizeof why)) {
			note(r, name, "a byte-flipped variant: %s", why);
			break;
		}
	}
	return 0;
}

static void test_records_decode_as_stated(void **state)
{
	(void)state;
	struct roof_exit_decoder d = roof_exit_decoder_of(roof_test_kernel());
	if (!d.decode || !d.seeds) {
		print_message("kernel %s has no exit-record decoder hook yet "
			      "(tests/fuzz/exit_decoders.h): skipped\n",
			      roof_test_kernel());
		skip();
	}
	struct replay r = {.decode = d.decode, .rng = 0x5eed5eedull};
	int accepted = d.seeds(check_seed, &r);
	assert_int_equal(accepted, (int)r.seeds);
	assert_true(r.seeds >= 10);
	/* too short to be a record */
	roof_state *st = scratch_state();
	uint8_t one = 0;
	assert_int_equal(d.decode(NULL, 0, st, NULL, NULL), -1);
	assert_int_equal(d.decode(&one, 1, st, NULL, NULL), -1);
	if (r.bad) {
		fprintf(stderr, "kernel %s: %u of %u records:%s\n",
			roof_test_kernel(), r.bad, r.seeds, r.report);
		fail_msg("%u exit records decoded wrongly", r.bad);
	}
	print_message("kernel %s: %u example records and %u byte-flipped "
		      "variants decoded within contract\n", roof_test_kernel(),
		      r.seeds, r.mutants);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_records_decode_as_stated),
	};
	char name[64];
	snprintf(name, sizeof name, "exit-records[%s]", roof_test_kernel());
	return cmocka_run_group_tests_name(name, tests, NULL, NULL);
}
