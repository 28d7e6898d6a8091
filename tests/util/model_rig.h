/*
 * model_rig.h - the rig the model kernels' count tests share
 * (test_nova_counts, test_sel4_counts, test_foc_counts, test_hw_model): a
 * VM of one kernel under one client policy, an entrypoint, a vCPU, a test
 * guest entered in long mode at a STARTUP that stops the vCPU, the test's
 * own handlers, runs until the vCPU stopped, its stats. The handlers and
 * the assertions stay in each test.
 *
 *   model_rig_open(&r, "sel4", "tuned");          VM, policy, entrypoint
 *   model_rig_load(&r, &(struct model_rig_guest){"exits64", T_OUT});
 *   model_rig_vcpu(&r, handlers, n);              vCPU, STARTUP + handlers
 *   model_rig_startup(&r);                        to STARTUP's stop, stats 0
 *   model_rig_run_until(&r, &flag, "the check");  a handler raises flag
 *   model_rig_stats(&r, &st);
 *   model_rig_close(&r);
 */
#ifndef ROOF_MODEL_RIG_H
#define ROOF_MODEL_RIG_H

#include "roof_test.h"

#define MODEL_RIG_TIMEOUT_MS 20000
#define MODEL_RIG_TIMEOUT_NS (MODEL_RIG_TIMEOUT_MS * 1000000ull)
/* The MSR the VMM handles (model_rig_guest.vmm_msr; exits64 uses it). */
#define MODEL_RIG_VMM_MSR 0x4b564d00u

struct model_rig {
	const char *kernel, *policy;
	roof_vm *vm;
	roof_ep *ep;
	roof_vcpu *cpu;
	void *ram;       /* guest RAM at 0 (model_rig_load) */
	uint64_t groups; /* the state groups the kernel transfers */
	uint64_t subtest;
	/* raised by the STARTUP handler; the test's to use afterwards */
	struct roof_test_flag stopped;
};

/* A handler the test registers: ctx is its own, mask is taken as is. */
struct model_rig_handler {
	roof_exit reason;
	roof_exit_handler fn;
	void *ctx;
	uint64_t mask;
	roof_where where;
};

/* The guest (tests/guests/<name>.asm, 64-bit, at ROOF_TEST_GUEST_GPA). */
struct model_rig_guest {
	const char *name;  /* "exits64", "api64" */
	uint64_t subtest;  /* rdi at STARTUP */
	uint64_t loops;    /* exits64's t_loop iterations; 0 keeps the image's */
	bool vmm_msr;      /* MODEL_RIG_VMM_MSR exits to the VMM */
	bool cpuid_site;   /* exits64's cpuid site exits to the VMM */
};

/* Open a VM of `kernel` with the client policy, and an entrypoint. */
void model_rig_open(struct model_rig *r, const char *kernel,
		    const char *policy);
/* RAM, page tables and the guest image, with its knobs. */
void model_rig_load(struct model_rig *r, const struct model_rig_guest *g);
/* The vCPU; STARTUP (long mode at the guest with rdi = the subtest, mask
 * roof_test_long_mode_mask() & the kernel's groups, inline, stops) and the
 * n handlers registered. */
void model_rig_vcpu(struct model_rig *r, const struct model_rig_handler *h,
		    size_t n);
/* Run to STARTUP's stop, wait until stopped, reset the stats: what a test
 * counts comes after STARTUP. */
void model_rig_startup(struct model_rig *r);
/* Wait until a handler raised `flag` and the vCPU stopped; fails naming
 * `what` (what the test waited for) and the vCPU's error. */
void model_rig_wait(struct model_rig *r, struct roof_test_flag *flag,
		    const char *what);
/* roof_vcpu_run, then model_rig_wait. */
void model_rig_run_until(struct model_rig *r, struct roof_test_flag *flag,
			 const char *what);
/* roof_vcpu_run, then wait until the vCPU stopped (no flag). */
void model_rig_run_until_stopped(struct model_rig *r);
void model_rig_stats(struct model_rig *r, struct roof_stats *st);
void model_rig_reset_stats(struct model_rig *r);
/* Close the VM (its vCPU and entrypoint with it). */
void model_rig_close(struct model_rig *r);

#endif
