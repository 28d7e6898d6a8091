/*
 * foc_client.h - the Fiasco.OC client: what Genode's base-foc vm.cc does on
 * the VMM side (repos/base-foc/src/lib/base/x86/vm.cc, Foc_vcpu), as the
 * part of oneroof that would port to a real Fiasco.OC. It turns the vCPU
 * state page (foc_abi.h) into the unified roof_state and back, runs the
 * FPU hand-over around the blocking resume, and serves the hot ops of the
 * dispatch. Freestanding: the kernel is reached only through the calls of
 * struct foc_kernel_ops.
 *
 * Two policies (vmx_model.h):
 *   genode  as vm.cc: every exit reads every field of the page into the
 *           state and saves the guest FPU (2x fxsave + 1x fxrstor after the
 *           resume, 1x fxsave + 1x fxrstor before it); every handler runs
 *           on the entrypoint (signal + ready semaphore).
 *   tuned   an exit reads the handler's mask plus what the decode needs
 *           from the page (memory reads, no syscall); a read outside the
 *           mask is served lazily from the page. The guest FPU stays in
 *           the vCPU thread's registers while the thread runs the hot
 *           loop: fxsave only for a mask (or lazy read) with the FPU,
 *           fxrstor only when the VMM wrote it, and one fxsave/fxrstor pair
 *           when the thread leaves and re-enters the hot loop (a stop).
 *           Handlers run where they were registered.
 *
 * Either way the plain fields move between page and state through the
 * transfer plan built at foc_client_init (foc_plan.c: roof_gather /
 * roof_scatter); the fields that need a conversion stay in C.
 */
#ifndef ROOF_FOC_CLIENT_H
#define ROOF_FOC_CLIENT_H

#include <stdbool.h>
#include <stdint.h>

#include "foc_abi.h"
#include "roof_core.h"
#include "transfer_plan.h"
#include "vmx_exit.h"

#define FOC_FXSAVE_SIZE 512u /* fxsave image: what vm.cc saves and restores */

/* Results of the resume call (the msgtag's error, as vm.cc tests it). */
enum foc_resume_result {
	FOC_RESUME_EXIT = 0, /* a VM exit; the page holds it */
	FOC_RESUME_IRQ = 1,  /* the vCPU IRQ ended or precluded the entry
			      * (l4_error(tag) with exit reason 1) */
};

/*
 * What the client calls. Kernel calls are syscalls on a real Fiasco.OC and
 * are counted as crossings; the substrate hooks stand in for what a real
 * kernel or CPU provides for free, and are not counted.
 */
struct foc_kernel_ops {
	/* l4_thread_vcpu_resume_start() + l4_thread_vcpu_resume_commit():
	 * load the page into the VMCS, enter, store the exit into the page.
	 * FOC_RESUME_EXIT / FOC_RESUME_IRQ, or a negative roof_err when the
	 * kernel (here: the substrate) failed. */
	int (*vcpu_resume)(void *k);
	/* l4_irq_receive(vCPU IRQ, timeout 0): consume a pending vCPU IRQ. */
	void (*irq_receive)(void *k);

	/* Substrate: make the page hold the current hardware values of these
	 * state groups. Real Fiasco.OC stores every field at every exit; the
	 * model defers the copy per group until a read needs it, because on
	 * KVM some groups cost an ioctl. 0 or a negative roof_err. */
	int (*page_sync)(void *k, uint64_t groups);
	/* Substrate: the guest's fxsave image (real: the thread's registers
	 * after the resume) and its way back into the model hardware. */
	int (*fpu_from_guest)(void *k, uint8_t image[FOC_FXSAVE_SIZE]);
	int (*fpu_to_guest)(void *k, const uint8_t image[FOC_FXSAVE_SIZE]);
	/* Substrate: the text the model hardware gave the last exit or failure
	 * (a real VMM would decode the VM-instruction error). */
	const char *(*hw_error)(void *k);
};

/* Page traffic of the client (memory accesses, not syscalls). */
struct foc_client_stats {
	uint64_t page_reads;  /* fields read from the page */
	uint64_t page_writes; /* fields written to the page */
};

struct foc_client {
	/* fxsave images: 16-byte aligned (first, the struct is 64-aligned) */
	uint8_t fpu_ep[FOC_FXSAVE_SIZE] __attribute__((aligned(64)));
	uint8_t fpu_vcpu[FOC_FXSAVE_SIZE] __attribute__((aligned(16)));
	uint8_t fpu_host[FOC_FXSAVE_SIZE] __attribute__((aligned(16)));
	struct roof_vcpu *v;
	struct foc_vcpu_page *page;
	const struct foc_kernel_ops *ops;
	void *k;
	struct vmx_exit_env env;
	/* page <-> roof_state for the plain fields (foc_plan.c) */
	struct roof_transfer_plan plan;
	bool genode;
	bool started;
	uint32_t native;       /* VMX exit reason of the exit being handled,
				* 0xfe STARTUP, 0xff RECALL */
	struct vmx_exit_ctx ctx;
	/* FPU: the VMM wrote state->fpu (genode: Genode's fpu.charged()) */
	bool fpu_charged;
	/* tuned: the thread left the hot loop, the guest image is in
	 * fpu_vcpu; fpu_vcpu_valid: that buffer holds the guest's bytes */
	bool fpu_parked, fpu_vcpu_valid, fpu_vcpu_charged;
	uint64_t tsc_delivered, offset_delivered;
	struct foc_client_stats stats;
};

/* The state groups Fiasco.OC can transfer (README: PDPTE, TPR, TSC_AUX
 * and XSAVE it cannot). */
uint64_t foc_client_groups(void);

/* Builds the transfer plan from the page's offset table and cr2 index, so
 * the kernel must have set them up (Vmx::init_vmcs_infos()). 0, or
 * ROOF_EKERNEL when they give a plain field no place (FOC_PLAN_REFUSED). */
int foc_client_init(struct foc_client *c, struct roof_vcpu *v,
		    struct foc_vcpu_page *page, const struct foc_kernel_ops *ops,
		    void *k, const struct vmx_exit_env *env, bool genode);
#define FOC_PLAN_REFUSED                                                      \
	"Fiasco.OC model: the vCPU state page's offset table or cr2 index "  \
	"gives a field of the transfer plan no place of its width (not "     \
	"Fiasco's table)"
/* On the vCPU thread, once: the host FPU image the stand-in restores use. */
void foc_client_thread_init(struct foc_client *c);

/* STARTUP (vm.cc entry(): no kernel call, the page as it is). Writes the
 * controls vm.cc sets before its loop and prepares the exit. */
void foc_client_startup(struct foc_client *c);
/* One trip through the kernel: FPU hand-over, the resume syscall, the exit
 * reason from the page into c->native; consumes the vCPU IRQ on a recall
 * (c->native = ROOF_NATIVE_RECALL). Returns 0, or a negative roof_err with
 * the state prepared as a BACKEND_ERROR exit. */
int foc_client_resume(struct foc_client *c);
/* The exit the kernel left in the page after a resume that returned `tag`
 * (>= 0) into c->native; on a recall, consumes the vCPU IRQ. 0, or a
 * negative roof_err with a BACKEND_ERROR exit prepared. */
int foc_client_take_exit(struct foc_client *c, int tag);
/* Prepare the state for the dispatch of c->native as `reason` (genode:
 * read everything). */
void foc_client_deliver(struct foc_client *c, roof_exit reason);
/* tuned, a stopped vCPU: the page is its state, a pause needs no kernel. */
void foc_client_deliver_stopped_pause(struct foc_client *c);
/* The vCPU thread leaves the hot loop (a handler stopped the vCPU). */
void foc_client_park(struct foc_client *c);

extern const struct roof_backend_hot_ops foc_client_hot;

/* The plan of the page's plain fields (foc_plan.c): the GPRs, and the
 * VMCS fields at the offsets the page's offset table gives them now.
 * 0, or -1 when a field has no place of its width. */
int foc_plan_init(struct roof_transfer_plan *p, const struct foc_vcpu_page *page);
/* Fields the plan copies for the groups of `mask` (one page access each). */
uint64_t foc_plan_fields(const struct roof_transfer_plan *p, uint64_t mask);

/* Page field access by VMCS encoding (counted in c->stats). */
uint64_t foc_client_vmcs_read(struct foc_client *c, uint32_t field);
void foc_client_vmcs_write(struct foc_client *c, uint32_t field, uint64_t v);

#endif
