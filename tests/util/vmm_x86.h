/*
 * vmm_x86.h - the VMM of Genode's VM acceptance test
 * (repos/os/src/test/vmm_x86/component.cc + repos/os/run/vmm_x86.run) on
 * the unified API: four vCPUs of one VM, 0 and 1 on entrypoint 'ep', 2 and
 * 3 on 'second ep', one 4 KiB guest page (tests/guests/vmm_x86.asm) at
 * 0xfffff000 in real mode. A periodic timer on 'ep' drives vcpu1 and vcpu2
 * through pause/resume; every handler runs on its entrypoint, as in Genode.
 * The verdict checks the exact per-vCPU sequence of (exit, ip), the reset
 * state set at STARTUP, that HLT does not advance ip, and that rdtscp
 * returned each vCPU's tsc_aux (0xaffe0000 | id) in cx where the kernel
 * transfers TSC_AUX.
 *
 * Freestanding: tests/test_vmm_x86.c runs it over KVM and the model
 * kernels, kernels/nova/roottask/ on the real NOVA microhypervisor; each
 * host creates the VM, the entrypoints and the vCPUs and arms the timer.
 */
#ifndef ROOF_VMM_X86_H
#define ROOF_VMM_X86_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "oneroof.h"

#define ROOF_VMM_X86_GUEST_PAGE 0xfffff000ull
#define ROOF_VMM_X86_VCPUS 4u
/* The sequence does not depend on the tick (it is driven by states); 25 ms
 * instead of Genode's 1 s keeps the run short. */
#define ROOF_VMM_X86_TICK_NS (25ull * 1000 * 1000)
#define ROOF_VMM_X86_MAX_EVENTS 32u

struct roof_vmm_x86_event {
	roof_exit reason;
	uint64_t ip; /* HLT and PAUSED only, as Genode's log lines */
};

struct roof_vmm_x86;

struct roof_vmm_x86_vcpu {
	struct roof_vmm_x86 *vmm;
	unsigned id;
	roof_vcpu *cpu;
	atomic_int state;
	atomic_uint exit_count, pause_count, hlt_count, timer_count;
	atomic_uint pause_at_timer;
	uint64_t cx_first_hlt;
	bool reset_checked;
	char reset_error[160];
	struct roof_vmm_x86_event events[ROOF_VMM_X86_MAX_EVENTS];
	atomic_uint nevents;
	char error[160];
};

struct roof_vmm_x86 {
	struct roof_vmm_x86_vcpu vcpus[ROOF_VMM_X86_VCPUS];
	/* Genode's run script checks rdtscp only where the kernel transfers
	 * tsc_aux (NOVA, hw); the same holds for the FPU transfer of
	 * resume A. */
	uint64_t groups;
	roof_ep *ep_first;       /* the timer's entrypoint */
	atomic_int timer_id;     /* the host stores it once the timer is armed */
	/* the host's: called on 'ep' once vcpu1 has paused the 4th time */
	void (*finished)(struct roof_vmm_x86 *x);
	void *host;
};

/* Clear x for a VM whose kernel transfers `groups`. */
void roof_vmm_x86_init(struct roof_vmm_x86 *x, uint64_t groups,
		       roof_ep *ep_first);
/* Register vCPU id's handlers (STARTUP, PAUSED, HLT, INVALID_STATE,
 * SHUTDOWN, BACKEND_ERROR, all on its entrypoint). ROOF_OK or the first
 * refusal. */
int roof_vmm_x86_register(struct roof_vmm_x86 *x, unsigned id, roof_vcpu *cpu);
/* Genode's Vm::_handle_timer: the roof_ep_timer callback, ctx = x. */
void roof_vmm_x86_on_timer(roof_ep *ep, void *ctx);
/* vcpu2 ends on its own schedule, after vcpu1: true once it is through. */
bool roof_vmm_x86_second_done(const struct roof_vmm_x86 *x);
/* "STARTUP@0 HLT@ff81 ..." of one vCPU. */
void roof_vmm_x86_describe(const struct roof_vmm_x86_vcpu *t, char *buf,
			   size_t size);
/* The sequences, the errors, the reset state, rdtscp's cx. True, or false
 * with the reason in why[size]. */
bool roof_vmm_x86_verdict(const struct roof_vmm_x86 *x, char *why,
			  size_t size);

#endif
