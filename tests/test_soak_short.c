/*
 * test_soak_short.c - the soak of tests/soak/soak.h, short: 21 000 checked
 * exits in three VMs (each with its own random masks, placements,
 * options and pause timer) on $ROOF_KERNEL; 0 corrupted registers, 0 lost
 * exits. make soak runs the long one (tests/soak/roof_soak.c).
 * ROOF_SOAK_EXITS overrides the count.
 */
#include <stdlib.h>

#include "soak/soak.h"

static void test_soak_short(void **state)
{
	(void)state;
	ROOF_NEED_KVM();
	const char *env = getenv("ROOF_SOAK_EXITS");
	struct soak_opts o = {
		.exits = env ? strtoull(env, NULL, 0) : 21000,
		.exits_per_vm = 7000,
		.seed = 0x50a4c0de5eedull,
	};
	struct soak_result r;
	soak_run(&o, &r);
	soak_print_result(stdout, &r);
	soak_assert_clean(&o, &r);
	for (unsigned k = 0; k < K_COUNT; k++)
		if (!r.by_kind[k])
			fail_msg("exit kind %u never came in %llu exits", k,
				 (unsigned long long)r.exits);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_soak_short),
	};
	char name[64];
	snprintf(name, sizeof name, "soak-short[%s]", roof_test_kernel());
	return cmocka_run_group_tests_name(name, tests, NULL, NULL);
}
