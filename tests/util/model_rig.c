/* model_rig.c - see model_rig.h. */
#include <string.h>

#include "model_rig.h"

void model_rig_open(struct model_rig *r, const char *kernel,
		    const char *policy)
{
	memset(r, 0, sizeof *r);
	r->kernel = kernel;
	r->policy = policy;
	roof_test_flag_init(&r->stopped);
	ROOF_OK_OR_FAIL(roof_vm_open(&r->vm, kernel), roof_last_error());
	ROOF_OK_OR_FAIL(roof_vm_set_option(r->vm, "policy", policy),
			roof_vm_error(r->vm));
	r->groups = roof_vm_state_groups(r->vm);
	ROOF_OK_OR_FAIL(roof_ep_create(r->vm, "ep", -1, &r->ep),
			roof_vm_error(r->vm));
}

void model_rig_load(struct model_rig *r, const struct model_rig_guest *g)
{
	r->subtest = g->subtest;
	roof_test_guest_vm(r->vm, g->name, &r->ram);
	/* exits64's header: +8 the cpuid site, +16 where t_loop's count is */
	const uint8_t *head = (const uint8_t *)r->ram + ROOF_TEST_GUEST_GPA;
	if (g->loops) {
		uint64_t count_at;
		memcpy(&count_at, head + 16, sizeof count_at);
		memcpy((uint8_t *)r->ram + count_at, &g->loops, sizeof g->loops);
	}
	if (g->vmm_msr) {
		uint32_t msr = MODEL_RIG_VMM_MSR;
		ROOF_OK_OR_FAIL(roof_vm_set_msr_exits(r->vm, &msr, 1),
				roof_vm_error(r->vm));
	}
	if (g->cpuid_site) {
		uint64_t site;
		memcpy(&site, head + 8, sizeof site);
		ROOF_OK_OR_FAIL(roof_vm_set_cpuid_exits(r->vm, &site, 1),
				roof_vm_error(r->vm));
	}
}

static roof_action on_startup(roof_vcpu *cpu, roof_state *s, void *p)
{
	(void)cpu;
	struct model_rig *r = p;
	roof_test_set_long_mode(s, ROOF_TEST_GUEST_GPA, r->subtest);
	roof_test_flag_raise(&r->stopped);
	return ROOF_STOP; /* counting starts after STARTUP */
}

void model_rig_vcpu(struct model_rig *r, const struct model_rig_handler *h,
		    size_t n)
{
	ROOF_OK_OR_FAIL(roof_vcpu_create(r->vm, r->ep, &r->cpu),
			roof_vm_error(r->vm));
	ROOF_OK_OR_FAIL(roof_vcpu_on_exit(r->cpu, ROOF_EXIT_STARTUP, on_startup, r,
					  roof_test_long_mode_mask() & r->groups,
					  ROOF_INLINE),
			roof_vcpu_error(r->cpu));
	for (size_t i = 0; i < n; i++)
		ROOF_OK_OR_FAIL(roof_vcpu_on_exit(r->cpu, h[i].reason, h[i].fn,
						  h[i].ctx, h[i].mask,
						  h[i].where),
				roof_vcpu_error(r->cpu));
}

void model_rig_startup(struct model_rig *r)
{
	model_rig_run_until(r, &r->stopped, "STARTUP");
	model_rig_reset_stats(r);
}

void model_rig_wait(struct model_rig *r, struct roof_test_flag *flag,
		    const char *what)
{
	if (!roof_test_flag_wait(flag, MODEL_RIG_TIMEOUT_MS))
		fail_msg("%s %s: %s did not come (%s)", r->kernel, r->policy,
			 what, roof_vcpu_error(r->cpu));
	ROOF_OK_OR_FAIL(roof_vcpu_wait_stopped(r->cpu, MODEL_RIG_TIMEOUT_NS),
			roof_vcpu_error(r->cpu));
}

void model_rig_run_until(struct model_rig *r, struct roof_test_flag *flag,
			 const char *what)
{
	ROOF_OK_OR_FAIL(roof_vcpu_run(r->cpu), roof_vcpu_error(r->cpu));
	model_rig_wait(r, flag, what);
}

void model_rig_run_until_stopped(struct model_rig *r)
{
	ROOF_OK_OR_FAIL(roof_vcpu_run(r->cpu), roof_vcpu_error(r->cpu));
	ROOF_OK_OR_FAIL(roof_vcpu_wait_stopped(r->cpu, MODEL_RIG_TIMEOUT_NS),
			roof_vcpu_error(r->cpu));
}

void model_rig_stats(struct model_rig *r, struct roof_stats *st)
{
	ROOF_OK_OR_FAIL(roof_vcpu_stats(r->cpu, st), roof_vcpu_error(r->cpu));
}

void model_rig_reset_stats(struct model_rig *r)
{
	ROOF_OK_OR_FAIL(roof_vcpu_stats_reset(r->cpu), roof_vcpu_error(r->cpu));
}

void model_rig_close(struct model_rig *r)
{
	ROOF_OK_OR_FAIL(roof_vm_close(r->vm), roof_last_error());
	roof_test_flag_destroy(&r->stopped);
}
