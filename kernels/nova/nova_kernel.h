/*
 * nova_kernel.h - the kernel side of the NOVA model: a vCPU EC whose
 * hardware is vmx_hw (a KVM vCPU presented as VT-x), its 256 exit portals,
 * the UTCB transfer NOVA performs on a portal call and on the reply, and the
 * ec_ctrl calls the client uses. Host code; the client (client/) sees only
 * the UTCB and struct nova_syscalls.
 *
 * Cost model, counted into the vCPU's struct roof_stats (README.md):
 *   crossings  portal call + reply (2 per exit); ec_ctrl GET/SET, the
 *              VMM's EC_RECALL and sm_ctrl(UP) resuming a stopped vCPU: 1
 *   bytes      state bytes the kernel moves between vCPU and UTCB: the
 *              MTD groups (FPU 2560) and the exit reason word on the way
 *              out, the MTD groups on the reply (protocol words not counted)
 *   vmcs_*     VMREAD/VMWRITE that NOVA's load_vmx/save_vmx issue per group
 *   fpu_ops    NOVA's eager FPU switch: xsave + xrstor at both EC switches
 *              of a portal round trip (4)
 */
#ifndef NOVA_KERNEL_H
#define NOVA_KERNEL_H

#include "../kvm/vmx_model.h"
#include "client/nova_client.h"

struct nova_vcpu {
	struct nova_client client;   /* the VMM's side; v->backend */
	struct roof_vcpu *v;
	struct vmx_hw *hw;
	struct nova_utcb *utcb;      /* the portal handler's UTCB */
	struct roof_transfer_plan plan;
	uint64_t pt_mtd[NOVA_NUM_VMI]; /* the exit portals' MTDs */
	bool portals;                /* created */
	unsigned dst_portal;         /* reason of the last exit */
	bool recall_hazard;          /* HZD_RECALL: exit to RECALL before entry */
	bool blocked;                /* replied with the semaphore: stopped */
	int fault;                   /* a failed reply: vcpu_run returns it */
	char error[256];             /* text handed out with a NOSUPP exit */
};

/* Set up the kernel side of v (hardware, UTCB, portals not yet created). */
int nova_kernel_vcpu_create(struct roof_vm *vm, struct roof_vcpu *v,
			    enum nova_policy policy, struct nova_vcpu **out);
void nova_kernel_vcpu_destroy(struct nova_vcpu *nv);

/* Create the portals (the client's create_pt calls) and tell the hardware
 * which groups each exit kind will read. */
int nova_kernel_create_portals(struct nova_vcpu *nv);

/* An exit: the vCPU calls the portal of `reason`; the handler runs and
 * replies; returns its action (STOP: the vCPU blocks on its semaphore). */
roof_action nova_kernel_portal(struct nova_vcpu *nv, unsigned reason,
			       bool vmm_recall, const char *substrate_error);

/* Per-group VMCS accesses of NOVA's transfer (tests check them). */
uint32_t nova_exit_vmreads(uint64_t mtd);
uint32_t nova_reply_vmreads(uint64_t mtd);
uint32_t nova_reply_vmwrites(uint64_t mtd);

#endif
