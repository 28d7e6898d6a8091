/*
 * nova_client.h - the NOVA client of oneroof: the part of Genode's
 * base-nova ld.lib.so (repos/base-nova/src/lib/base/vm.cc) that would port
 * to the real kernel. It creates the exit portals with their MTDs, is the
 * portal handler (copies the UTCB into the unified state, runs the exit
 * dispatch, writes the reply MTD), and serves reads outside the portal MTD
 * with ec_ctrl(EC_GET_VCPU_STATE). It sees only the native ABI (nova_abi.h)
 * and the kernel calls in struct nova_syscalls. Freestanding.
 */
#ifndef NOVA_CLIENT_H
#define NOVA_CLIENT_H

#include <stdbool.h>
#include <stdint.h>

#include "nova_abi.h"
#include "roof_core.h"
#include "svm_exit.h"
#include "transfer_plan.h"
#include "vmx_exit.h"

enum nova_policy {
	NOVA_POLICY_TUNED = 0,  /* per-portal MTD = handler mask | implicit */
	NOVA_POLICY_GENODE = 1, /* every portal: all groups + XSAVE + FPU */
};

/* What Genode's NOVA client puts into every portal MTD today
 * (Nova_vcpu::_portal_mtd ignores the exit and the Exit_config). */
#define NOVA_GENODE_PORTAL_MTD                                                \
	((uint64_t)(NOVA_MTD_ACDB | NOVA_MTD_EBSD | NOVA_MTD_EFL |            \
		    NOVA_MTD_ESP | NOVA_MTD_EIP | NOVA_MTD_DR |               \
		    NOVA_MTD_R8_R15 | NOVA_MTD_CR | NOVA_MTD_CSSS |           \
		    NOVA_MTD_ESDS | NOVA_MTD_FSGS | NOVA_MTD_TR |             \
		    NOVA_MTD_LDTR | NOVA_MTD_GDTR | NOVA_MTD_IDTR |           \
		    NOVA_MTD_SYS | NOVA_MTD_CTRL | NOVA_MTD_INJ |             \
		    NOVA_MTD_STA | NOVA_MTD_TSC | NOVA_MTD_TSC_AUX |          \
		    NOVA_MTD_EFER | NOVA_MTD_PDPTE |                          \
		    NOVA_MTD_SYSCALL_SWAPGS | NOVA_MTD_TPR | NOVA_MTD_QUAL |  \
		    NOVA_MTD_XSAVE | NOVA_MTD_FPU))

/* The kernel calls the client makes; each returns a NOVA status. The kernel
 * side (kernels/nova/nova_kernel.c) implements and counts them. */
struct nova_syscalls {
	/* create_pt: the portal of exit `reason` with its MTD */
	uint8_t (*create_pt)(void *kctx, unsigned reason, uint64_t mtd);
	/* ec_ctrl(EC_GET_VCPU_STATE, vcpu, mtd): the groups of mtd into the
	 * caller's UTCB; arms the vCPU's recall */
	uint8_t (*get_vcpu_state)(void *kctx, uint64_t mtd);
	/* ec_ctrl(EC_SET_VCPU_STATE, vcpu, recall): the UTCB's mtd groups
	 * into the vCPU; recall = false disarms its recall */
	uint8_t (*set_vcpu_state)(void *kctx, bool recall);
};

struct nova_client {
	struct nova_utcb *utcb; /* the portal handler's UTCB */
	const struct nova_syscalls *sys;
	void *kctx;
	struct vmx_exit_env env; /* the VMM's own guest mapping, cpuid table */
	enum nova_policy policy;
	enum nova_vmi vmi;      /* VMX or SVM portals (the HIP says which) */
	uint64_t groups;        /* the groups the kernel transfers */
	struct roof_transfer_plan plan;
	/* the exit being handled */
	struct vmx_exit_record rec;
	struct svm_exit_record svm; /* SVM: code, exit info 1/2 */
	struct vmx_exit_ctx xctx;
	uint64_t tsc, tsc_off;  /* as delivered: the base of the reply delta */
	bool in_portal;         /* between portal entry and reply */
	bool recall_expected;   /* a GET armed a recall nobody asked for */
};

/* 0, or -1 if the UTCB plan cannot be built (a layout bug). vmi: the
 * variant of the exit ABI the kernel runs (the model: VMX; NOVA on AMD:
 * SVM). */
int nova_client_init(struct nova_client *c, struct nova_utcb *utcb,
		     const struct nova_syscalls *sys, void *kctx,
		     const struct vmx_exit_env *env, enum nova_policy policy,
		     enum nova_vmi vmi);
/* Make c the vCPU's backend: hot ops, implicit groups per exit. */
void nova_client_bind(struct nova_client *c, struct roof_vcpu *v);

/* The MTD of the portal of exit `reason` under the client's policy. */
uint64_t nova_client_portal_mtd(const struct nova_client *c,
				const struct roof_vcpu *v, unsigned reason);
/* The groups the client itself needs with a unified exit: the decode and
 * finish (vmx_exit_implicit / svm_exit_implicit) plus QUAL where the exit
 * record travels in it (I/O: port/size/direction, SVM: next rip; EPT/NPT
 * fault: access, gpa; SVM MSR: read or write). */
uint64_t nova_client_implicit(enum nova_vmi vmi, roof_exit reason);
/* The unified exit of portal `reason` under the client's variant; info1 is
 * the SVM exit info 1 (it tells rdmsr from wrmsr), ignored for VMX. */
roof_exit nova_client_unified(const struct nova_client *c, unsigned reason,
			      uint64_t info1);
/* create_pt for all 256 exit reasons (Genode does it when it constructs
 * the vCPU; here at STARTUP, when the handlers are known). */
int nova_client_create_portals(struct nova_client *c, const struct roof_vcpu *v);

/*
 * The portal handler (Genode: Nova_vcpu::_exit_entry/_handle_exit). The
 * kernel called the portal of utcb->exit_reason with utcb->mtd groups in
 * the UTCB. vmm_recall: this RECALL answers the VMM's pause.
 * substrate_error: the model's text for a NOSUPP exit or failed entry (the
 * real kernel has none). Returns the handler's action; utcb->mtd then holds
 * the reply MTD (the groups the VMM wrote).
 */
roof_action nova_client_portal(struct nova_client *c, struct roof_vcpu *v,
			       bool vmm_recall, const char *substrate_error);

/* UTCB <-> unified state, as the portal and GET/SET transfers use them;
 * exported for tests. write returns the MTD it put into the UTCB. */
void nova_client_read_utcb(struct nova_client *c, roof_state *s, uint64_t mtd);
uint64_t nova_client_write_utcb(struct nova_client *c, roof_state *s,
				uint64_t dirty);

#endif
