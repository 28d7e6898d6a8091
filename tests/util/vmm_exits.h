/*
 * vmm_exits.h - the VMM of tests/guests/exits64.asm: its handlers, what
 * each subtest must leave in the 16 GPRs and what the handlers must have
 * seen. One freestanding copy serves every place the guest runs: the
 * cmocka suites over KVM and the model kernels (tests/test_exits.c,
 * tests/test_nova_vmm.c) and the root task on the real NOVA microhypervisor
 * (kernels/nova/roottask/), which builds this file without libc.
 *
 * Each subtest loads the GPR patterns (roof_guest.h), causes its exit,
 * reports on PORT_CHECK (the VMM compares every GPR the kernel transfers
 * with expect[]) and ends on PORT_DONE (the handler stops the vCPU). A
 * paused vCPU whose VMM asked for a restart (roof_exits_restart) enters the
 * guest again with the next subtest, so one vCPU can run them all.
 */
#ifndef ROOF_VMM_EXITS_H
#define ROOF_VMM_EXITS_H

#include <stdbool.h>
#include <stdint.h>

#include "oneroof.h"
#include "roof_guest.h"

/* exits64.asm's ports and its MSR */
#define ROOF_EXITS_PORT_EXIT 0x10
#define ROOF_EXITS_PORT_CHECK 0x11
#define ROOF_EXITS_PORT_IN 0x12
#define ROOF_EXITS_PORT_DONE 0x1f
#define ROOF_EXITS_VMM_MSR 0x4b564d00u
#define ROOF_EXITS_LOOP_COUNT 1000u /* exits64.asm loop_count */

/* The subtests: exits64.asm's dispatch table, in its order. */
enum roof_exits_sub {
	ROOF_EXITS_OUT = 0, ROOF_EXITS_IN8, ROOF_EXITS_IN16, ROOF_EXITS_IN32,
	ROOF_EXITS_MMIO_READ, ROOF_EXITS_MMIO_WRITE, ROOF_EXITS_HLT,
	ROOF_EXITS_RDMSR, ROOF_EXITS_WRMSR, ROOF_EXITS_CPUID_KERNEL,
	ROOF_EXITS_CPUID_SITE, ROOF_EXITS_MSR_KERNEL, ROOF_EXITS_LOOP,
	ROOF_EXITS_MMIO_READ32, ROOF_EXITS_SPIN, ROOF_EXITS_SUB_COUNT
};
const char *roof_exits_sub_name(enum roof_exits_sub sub);

/* The VM's cpuid policy: leaf 0x40000000 is answered from it (inside the
 * kernel where it can, e.g. KVM; by the VMM's default where every cpuid
 * exits, e.g. NOVA on SVM), leaf 0x40000001 at the cpuid site by the
 * handler. */
#define ROOF_EXITS_NPOLICY 2
extern const struct roof_cpuid_entry roof_exits_policy[ROOF_EXITS_NPOLICY];

enum roof_exits_event {
	ROOF_EXITS_DONE,         /* the guest reached PORT_DONE: stopped */
	ROOF_EXITS_STARTUP_STOP, /* STARTUP stopped (stop_at_startup) */
	ROOF_EXITS_PAUSED_STOP,  /* a pause that was no restart: stopped */
};

/* What the handlers saw during one subtest. */
struct roof_exits_seen {
	unsigned checks;          /* PORT_CHECK exits */
	unsigned io_exits;        /* PORT_EXIT and PORT_IN */
	uint32_t io_data;
	uint8_t io_size;
	unsigned mmio_exits;
	struct { uint64_t gpa, data; uint8_t len, dir; } mmio[4];
	unsigned hlts;
	uint64_t hlt_ip[4];
	uint64_t hlt_ip_len;
	unsigned msr_exits;
	uint32_t msr_index;
	uint64_t msr_value;
	unsigned cpuid_exits;
	struct roof_exit_cpuid cpuid_in; /* the site's, as it arrived */
	uint32_t other_cpuid_leaf;       /* a cpuid exit that was not the site */
	uint64_t paused_ip;
};

struct roof_exits_vmm {
	/* the host's settings */
	uint64_t groups;       /* roof_vm_state_groups() */
	bool write_regs;       /* the PORT_EXIT handler writes bx, si, r12 */
	bool hlt_no_advance;   /* the first hlt resumes without moving ip */
	bool stop_at_startup;
	void (*notify)(struct roof_exits_vmm *m, enum roof_exits_event e);
	void *host;            /* the host's, for notify */
	/* the subtest */
	enum roof_exits_sub sub;
	bool restart;          /* the next PAUSED enters the guest again */
	uint64_t expect[16];
	struct roof_exits_seen seen;
	char mismatch[512];    /* what went wrong, empty if nothing */
};

/* Start subtest `sub`: expect[] from the table, observations cleared. */
void roof_exits_begin(struct roof_exits_vmm *m, enum roof_exits_sub sub);
/* Start `sub` on a vCPU that has run another one: the next PAUSED exit
 * (roof_vcpu_pause) enters the guest again with it. */
void roof_exits_restart(struct roof_exits_vmm *m, enum roof_exits_sub sub);

/* Register the handlers on v (before it first runs): STARTUP, PAUSED, IO,
 * MMIO, HLT, MSR_READ/WRITE, CPUID. io_mask is the IO handler's mask (the
 * check exit reads every GPR); the others use the shipped defaults.
 * Returns ROOF_OK or the first refusal (roof_vcpu_error says why). */
int roof_exits_register(roof_vcpu *v, struct roof_exits_vmm *m,
			uint64_t io_mask, roof_where where);
/* The IO mask that lets the check exit read every GPR the kernel has. */
uint64_t roof_exits_check_mask(const struct roof_exits_vmm *m);

/* The handlers, for hosts that register some of them themselves. */
roof_action roof_exits_on_startup(roof_vcpu *v, roof_state *s, void *m);
roof_action roof_exits_on_paused(roof_vcpu *v, roof_state *s, void *m);
roof_action roof_exits_on_io(roof_vcpu *v, roof_state *s, void *m);
roof_action roof_exits_on_mmio(roof_vcpu *v, roof_state *s, void *m);
roof_action roof_exits_on_hlt(roof_vcpu *v, roof_state *s, void *m);
roof_action roof_exits_on_msr(roof_vcpu *v, roof_state *s, void *m);
roof_action roof_exits_on_cpuid(roof_vcpu *v, roof_state *s, void *m);

/*
 * Whether the finished subtest did what it must on every kernel: the GPR
 * check passed once, and the exits its handlers saw are the guest's. Exits
 * a kernel may keep to itself (cpuid from the policy, kernel MSRs) are
 * allowed either way, but if they reached the VMM they must be the
 * guest's. Returns true, or false with the reason in why[size].
 */
bool roof_exits_verdict(const struct roof_exits_vmm *m, char *why,
			size_t size);

#endif
