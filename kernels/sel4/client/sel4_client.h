/*
 * sel4_client.h - the seL4 VMM client of oneroof (the part that would be
 * Genode's ld.lib.so on seL4): turns seL4_VMEnter's message registers and
 * the VCPU invocations ReadVMCS / WriteVMCS / WriteRegisters into the
 * unified roof_state and back. Two policies:
 *
 *   genode  what repos/base-sel4/src/lib/base/x86/vm.cc does: after every
 *           return 54 ReadVMCS calls in Genode's order (plus its shadow
 *           write-backs), every group delivered, a handler hop; the write
 *           path issues one WriteVMCS per field of a written group and one
 *           WriteRegisters if a GPR group was written.
 *   tuned   lazy and cached: what the MRs carry is free; every other field
 *           is read only when a handler's mask or the exit decode needs
 *           it, once per exit; VMM-owned control fields (cr0/cr4 masks and
 *           read shadows, secondary controls, entry error code and
 *           instruction length) stay cached across exits because only the
 *           VMM writes them; guest state (segments, cr0/cr4, efer, ...) is
 *           cached only while the guest has not run (see README.md for the
 *           exact rules); the decode reads single fields, not whole groups;
 *           writes are skipped where the value is known and unchanged.
 *
 * Freestanding (kernels/<k>/client/): no libc, no threads; the kernel is
 * reached only through struct sel4_kernel_ops.
 */
#ifndef ROOF_SEL4_CLIENT_H
#define ROOF_SEL4_CLIENT_H

#include "roof_core.h"
#include "sel4_abi.h"
#include "transfer_plan.h"
#include "vmx_exit.h"

enum sel4_policy { SEL4_POLICY_TUNED = 0, SEL4_POLICY_GENODE = 1 };

/* VMCS fields the client works with: index into its field cache. */
enum sel4_field {
	SF_SEG = 0, /* 8 segments in VMX order es cs ss ds fs gs ldtr tr, each
		     * sel, limit, ar, base: SF_SEG + seg * 4 + part */
	SF_GDTR_LIMIT = 32, SF_GDTR_BASE, SF_IDTR_LIMIT, SF_IDTR_BASE,
	SF_RSP, SF_DR7, SF_CR0, SF_CR0_SHADOW, SF_CR4, SF_CR4_SHADOW,
	SF_SYSENTER_CS, SF_SYSENTER_SP, SF_SYSENTER_IP,
	SF_IDT_INFO, SF_IDT_ERROR, SF_ENTRY_INFO, SF_ENTRY_ERROR,
	SF_STATE_INTR, SF_STATE_ACTV,
	SF_PDPTE0, SF_PDPTE1, SF_PDPTE2, SF_PDPTE3, SF_EFER,
	SF_CTRL0, SF_CTRL1, SF_CR0_MASK, SF_CR4_MASK,
	SF_RIP, SF_RFLAGS, SF_ENTRY_INST_LEN, SF_CR3,
	SF_COUNT
};
_Static_assert(SF_COUNT == 64, "the field cache's valid set is one word");
enum { SF_PART_SEL = 0, SF_PART_LIMIT = 1, SF_PART_AR = 2, SF_PART_BASE = 3 };

/* The VMX encoding of a field (SDM Vol. 3C, Appendix B). */
uint32_t sel4_field_encoding(unsigned field);

/* What seL4 cannot transfer (Genode's vm.cc: "not supported by seL4"). */
#define SEL4_UNSUPPORTED_GROUPS                                           \
	(ROOF_G_R8_R15 | ROOF_G_SYSCALL | ROOF_G_TPR | ROOF_G_TSC_AUX |  \
	 ROOF_G_XSAVE | ROOF_G_FPU)
#define SEL4_SUPPORTED_GROUPS (ROOF_G_EVERYTHING & ~SEL4_UNSUPPORTED_GROUPS)

/* The result of one VMEnter as the host loop sees it. */
enum sel4_return {
	SEL4_RETURN_FAULT = 1,  /* a VM exit: dispatch it */
	SEL4_RETURN_NOTIF = 2,  /* the bound notification (recall) */
};

struct sel4_client {
	struct roof_vcpu *v;
	enum sel4_policy policy;
	const struct sel4_kernel_ops *ops;
	void *k;
	struct sel4_ipc_buffer *ipc;
	struct vmx_exit_env env; /* the VMM's own guest mapping, cpuid table */

	/* The fault MRs as the vCPU holds them: copied from the IPC buffer
	 * at a return after the guest ran (before any ReadVMCS reply
	 * overwrites MR0: invokeReadVMCS answers in MR0), then kept current
	 * by the client's own calls. MR3..MR6 are the last return's exit
	 * information; MR0, MR1, MR2, MR7, MR8, MR9 are the field cache's
	 * storage for rip, the primary controls, the entry interruption info,
	 * rflags, the interruptibility and cr3 (their field[] slots are
	 * unused); MR10..MR16 are the 7 GPRs the kernel holds: the last
	 * return's or the last WriteRegisters (Genode's _recent_gpr). */
	struct sel4_fault_mrs mr;
	/* Copy descriptors between mr and roof_state (sel4_mr_plan_init). */
	struct roof_transfer_plan plan;
	uint32_t native;   /* last event: VMX basic reason, 0xfe, 0xff */
	bool mrs_valid;    /* a VMEnter has returned (no: STARTUP) */
	bool ran;          /* the guest executed before the last return */
	bool masks_written;

	/* Field cache: values (the MR-carried six in mr) and which are
	 * known. */
	uint64_t field[SF_COUNT];
	uint64_t field_valid;

	/* MR0..MR2 for the next VMEnter, and which the VMM has set. */
	sel4_word entry[SEL4_VMENTER_CALL_LEN];
	uint8_t entry_set;

	uint64_t cr2;      /* seL4 has no access to the guest's cr2 */

	uint64_t partial;  /* groups valid only during the decode */
	const char *pending_invalid; /* refused write: INVALID_STATE next */
	const char *invalid_text;    /* the text of that INVALID_STATE */
	struct vmx_exit_ctx ctx;
	char msg[200];
};

/* Crossings a handler hop costs in each policy (README.md: Genode's
 * signal through core and the entrypoint's signal proxy, and back over
 * the ready semaphore; tuned: one notification each way). */
#define SEL4_GENODE_HOP_CROSSINGS 12
#define SEL4_GENODE_HOP_EXTRA_THREADS 2 /* core, the signal proxy */
#define SEL4_TUNED_HOP_CROSSINGS 4

/*
 * The transfer plan between the fault MRs (struct sel4_fault_mrs) and
 * roof_state: the plain copies of what the MRs carry. 0, or -1 if it does
 * not fit (a layout bug).
 */
int sel4_mr_plan_init(struct roof_transfer_plan *p);

/* Groups whose plan copies the write path scatters back into the MRs: the
 * GPRs (WriteRegisters takes a seL4_VCPUContext, the layout of MR10..MR16)
 * and ip (MR0 of the next VMEnter). The other planned groups go back by
 * WriteVMCS or with a conversion, or not at all (the exit information). */
#define SEL4_PLAN_SCATTERED (ROOF_G_ACDB | ROOF_G_EBSD | ROOF_G_EIP)

/* 0, or -1 if the transfer plan cannot be built (a layout bug). */
int sel4_client_init(struct sel4_client *c, struct roof_vcpu *v,
		     enum sel4_policy policy, const struct sel4_kernel_ops *ops,
		     void *kernel, const struct vmx_exit_env *env,
		     struct sel4_ipc_buffer *ipc);

/* The hot operations (fetch, writeback, decode, finish) the dispatch
 * calls; v->backend must point at the sel4_client. */
extern const struct roof_backend_hot_ops sel4_client_hot;

/* Groups the decode and finish of each exit need from the MRs (the rest
 * the decode reads itself, field by field). */
uint64_t sel4_client_implicit(enum sel4_policy policy, roof_exit reason);

/*
 * seL4_VMEnter with the state the VMM left, and the intake of its return
 * (MR snapshot, cache invalidation, Genode's eager reads). Returns
 * SEL4_RETURN_FAULT / _NOTIF, or a negative roof_err (the substrate
 * failed; the text was reported). sel4_client_begin_exit() then prepares
 * v->state for the dispatch.
 */
int sel4_client_enter(struct sel4_client *c);

/* Genode's STARTUP: no VMEnter yet; the state as the client reads it. */
int sel4_client_startup(struct sel4_client *c);

/* A pause while the vCPU thread is outside VMEnter (Genode's PAUSE path):
 * seL4_Signal on the recall notification unless a recall has signalled it
 * already (`signal`), then VMEnter, which returns at once. A value the
 * tuned client refused waits for the next real entry. */
int sel4_client_pause(struct sel4_client *c, bool signal);

/* Turn the last return into the unified exit `reason` for the dispatch. */
void sel4_client_begin_exit(struct sel4_client *c, roof_exit reason);

/* Charge one handler hop of the dispatch (which counted the hop itself):
 * its crossings, and under genode the threads besides the entrypoint. */
void sel4_client_charge_hop(struct sel4_client *c);

#endif
