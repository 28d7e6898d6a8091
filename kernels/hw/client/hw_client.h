/*
 * hw_client.h - oneroof's base-hw client: the part that would sit in
 * ld.lib.so next to Genode's repos/base-hw/src/lib/base/x86_64/vm.cc.
 * FREESTANDING (no libc, threads or Linux): it sees the shared Vcpu_state
 * page (hw_vcpu_state.h) and the kernel's syscalls (struct hw_syscalls),
 * nothing of the hardware.
 *
 * Per exit (README.md has the whole flow):
 *   hw_client_begin_exit  the exit signal arrived: signal_ack, vcpu_pause
 *                         (the kernel stores into the page), read the
 *                         native exit_reason, begin the unified exit
 *   hot ops (fetch...)    page -> roof_state (the charged groups, through
 *                         the page's transfer plan); decode / finish
 *                         with fastpath/vmx_exit; write-back records the
 *                         groups the VMM wrote
 *   hw_client_resume      discharge the page, charge what the VMM wrote,
 *                         vcpu_run (the kernel loads the charged fields)
 */
#ifndef ROOF_HW_CLIENT_H
#define ROOF_HW_CLIENT_H

#include "hw_vcpu_state.h"
#include "roof_core.h"
#include "vmx_exit.h"

struct hw_client {
	struct hw_vcpu_state *page;     /* the attached Vcpu_state dataspace */
	const struct hw_syscalls *sys;
	void *kernel_vcpu;              /* the vCPU capability */
	struct vmx_exit_env env;        /* the VMM's own view of the guest
					 * (not the kernel's): guest memory
					 * for the MMIO decode, cpuid table */
	bool tuned;                     /* policy: tuned (else genode) */
	bool stored;                    /* the kernel stored for this exit */
	uint32_t native;                /* this exit's native reason */
	uint64_t pending;               /* written, charged at the next run */
	uint64_t tsc_offset_seen;       /* absolute offset the VMM was shown */
	struct roof_transfer_plan plan; /* the page's plain copies, built at
					 * init (hw_vcpu_state_plan_init) */
	struct vmx_exit_ctx exit_ctx;
	uint64_t exit_config[256];      /* tuned: groups per native reason */
	const char *error;              /* last failure, for the host */
};

/* Set up: page is the shared page, sys/kernel_vcpu the kernel, env the
 * VMM's memory and cpuid. Writes the startup exit code into the page, as
 * Hw_vcpu's constructor does, and builds the page's transfer plan. Returns
 * 0, or ROOF_EINVAL if the plan does not fit (c->error says so). */
int hw_client_init(struct hw_client *c, struct hw_vcpu_state *page,
		   const struct hw_syscalls *sys, void *kernel_vcpu,
		   struct vmx_exit_env env, bool tuned);

/* Tuned: compute the per-reason store groups from the vCPU's handlers
 * (mask | implicit) and hand them to the kernel (vcpu_exit_config). The
 * unified reason of each native one comes from vmx_exit_unified(). */
int hw_client_configure(struct roof_vcpu *v);
/* The groups the client's exit config (or the genode full store) names
 * for a unified exit: what the kernel will store for it. */
uint64_t hw_client_store_groups(const struct hw_client *c, roof_exit reason);

/*
 * The vCPU's exit signal arrived (on the handler thread): signal_ack,
 * vcpu_pause, then begin the unified exit from the page. `synthetic` is
 * ROOF_EXIT_STARTUP or ROOF_EXIT_PAUSED for a host-initiated exit of a
 * stopped vCPU, ROOF_EXIT_COUNT for a real one. Returns 0 or a negative
 * roof error (c->error says why; the state is then a BACKEND_ERROR exit).
 */
int hw_client_begin_exit(struct roof_vcpu *v, roof_exit synthetic);

/* Charge the groups the VMM wrote into the page and call vcpu_run. */
int hw_client_resume(struct roof_vcpu *v);

/* Groups the client's decode and finish need for a unified exit, whatever
 * the handler's mask (v->implicit): fastpath/vmx_exit's, plus QUAL for io
 * and mmio, whose qualification and guest-physical address hw passes in
 * qual_primary/qual_secondary. */
uint64_t hw_client_implicit(roof_exit reason);

/* The hot ops for roof_core (fetch, writeback, decode, finish). */
extern const struct roof_backend_hot_ops hw_client_hot;

#endif
