/*
 * rig.h - one VM with one of the 64-bit test guests, one entrypoint and one
 * vCPU whose STARTUP handler enters the guest in long mode. Shared by the
 * soak (tests/soak/), the race tests and the bad-input tests
 * (tests/test_race*.c, tests/test_api_*.c). Header-only: the Makefile links
 * each test from its own source plus tests/util/ only.
 *
 * The backend is $ROOF_KERNEL (tests/run-tests.sh runs these suites once
 * per backend in roof_backend_names()).
 */
#ifndef ROOF_SOAK_RIG_H
#define ROOF_SOAK_RIG_H

#include <stdio.h>
#include <string.h>

#include "roof_test.h"

/* Ports and addresses of tests/guests/api64.asm. */
#define RIG_PORT_TICK 0x10
#define RIG_PORT_CHECK 0x11
#define RIG_PORT_AFTER 0x12
#define RIG_PORT_DONE 0x1f
#define RIG_TIMEOUT_MS 20000u
#define RIG_TIMEOUT_NS (RIG_TIMEOUT_MS * 1000000ull)

enum rig_subtest {
	RIG_DONE = 0,        /* report done at once */
	RIG_READ = 1,        /* mmio write of the qword at [arg] */
	RIG_TRIPLE_FAULT = 2,
	RIG_TICK_LOOP = 3,   /* out RIG_PORT_TICK forever, rbx = count */
	RIG_HLT_LOOP = 4,    /* hlt; out RIG_PORT_AFTER; forever */
	RIG_SPIN = 5,        /* no exits */
	RIG_PATTERNS = 6,    /* GPR patterns, out RIG_PORT_CHECK, done */
};

struct rig {
	roof_vm *vm;
	roof_ep *ep;
	roof_vcpu *cpu;
	void *ram;
	uint64_t subtest, arg; /* rdi, rsi at entry */
	uint64_t groups;       /* what the kernel can transfer */
};

static inline roof_action rig_startup(roof_vcpu *cpu, roof_state *st,
				      void *ctx)
{
	(void)cpu;
	struct rig *r = ctx;
	roof_test_set_long_mode(st, ROOF_TEST_GUEST_GPA, r->subtest);
	roof_set_si(st, r->arg);
	return ROOF_RESUME;
}

/* VM + guest + entrypoint + vCPU with the STARTUP handler; no other
 * handler yet. Fails the test with the error text on any error. */
static inline void rig_open_guest(struct rig *r, const char *guest,
				  uint64_t subtest, roof_where where)
{
	memset(r, 0, sizeof *r);
	r->subtest = subtest;
	ROOF_OK_OR_FAIL(roof_vm_open(&r->vm, NULL), roof_last_error());
	r->groups = roof_vm_state_groups(r->vm);
	roof_test_guest_vm(r->vm, guest, &r->ram);
	ROOF_OK_OR_FAIL(roof_ep_create(r->vm, "ep", -1, &r->ep),
			roof_vm_error(r->vm));
	ROOF_OK_OR_FAIL(roof_vcpu_create(r->vm, r->ep, &r->cpu),
			roof_vm_error(r->vm));
	ROOF_OK_OR_FAIL(roof_vcpu_on_exit(r->cpu, ROOF_EXIT_STARTUP,
					  rig_startup, r,
					  roof_test_long_mode_mask() & r->groups,
					  where),
			roof_vcpu_error(r->cpu));
}

static inline void rig_open(struct rig *r, uint64_t subtest)
{
	rig_open_guest(r, "api64", subtest, ROOF_INLINE);
}

static inline void rig_close(struct rig *r)
{
	if (r->vm)
		ROOF_OK_OR_FAIL(roof_vm_close(r->vm), roof_last_error());
	r->vm = NULL;
}

/* Fails unless `text` contains every one of the NULL-terminated words. */
static inline void rig_expect_text(const char *what, const char *text, ...)
{
	va_list ap;
	va_start(ap, text);
	for (const char *w = va_arg(ap, const char *); w;
	     w = va_arg(ap, const char *)) {
		if (!text || !strstr(text, w)) {
			va_end(ap);
			fail_msg("%s: error text \"%s\" does not mention \"%s\"",
				 what, text ? text : "(null)", w);
		}
	}
	va_end(ap);
}

/* rc must be `want`, and the error text must name the words given. */
#define RIG_EXPECT_ERR(call, want, textfn, ...)                               \
	do {                                                                  \
		int rc_ = (call);                                             \
		if (rc_ != (want))                                            \
			fail_msg("%s: got %d (%s), want %d (%s); text: %s",   \
				 #call, rc_, roof_strerror(rc_), (int)(want), \
				 roof_strerror(want), (textfn));              \
		rig_expect_text(#call, (textfn), __VA_ARGS__, (char *)NULL); \
	} while (0)

#endif
