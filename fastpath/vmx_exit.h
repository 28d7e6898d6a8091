/*
 * vmx_exit.h - a VMX exit as a model kernel's client receives it, turned
 * into the unified exit (reason + decoded info), and finished VMX-style
 * after the handler: the VMM, not the CPU, completes port I/O, MMIO,
 * rdmsr/wrmsr and cpuid by writing registers and advancing rip (SDM Vol.
 * 3C, 28.2.1 exit qualifications; 26.x VMX non-root behaviour).
 *
 * Shared by the client sides of nova, sel4, foc and hw: all their native
 * exit records carry VMX basic reasons and qualifications. Freestanding.
 */
#ifndef ROOF_VMX_EXIT_H
#define ROOF_VMX_EXIT_H

#include <stdint.h>

#include "roof_state.h"
#include "x86_decode.h"
#include "x86_paging.h"

/* What the native record said about the exit. */
struct vmx_exit_record {
	uint32_t reason;      /* VMX basic reason, 0xfe STARTUP, 0xff RECALL */
	uint64_t qual;        /* exit qualification */
	uint64_t guest_phys;  /* EPT violation */
	uint32_t insn_len;    /* VM-exit instruction length */
	uint32_t intr_info;   /* exception exits */
};

/* Per exit: what vmx_exit_finish() needs from the decode. */
struct vmx_exit_ctx {
	struct x86_insn insn;  /* MMIO: the decoded mov */
	uint32_t insn_len;     /* io, msr, cpuid: from the record */
	uint8_t mode;          /* enum x86_mode at the exit */
	uint8_t insn_valid;
};

/* What the client offers the decode: guest memory (the VMM's mapping) and
 * the default cpuid answer (the policy table). */
struct vmx_exit_env {
	x86_guest_mem_fn mem;
	void (*cpuid)(void *ctx, uint32_t leaf, uint32_t subleaf,
		      uint32_t out[4]);
	void *ctx;
};

/* Groups the decode and the finish of each unified exit read and write,
 * whatever the handler's mask: a client fetches them with the exit. */
uint64_t vmx_exit_implicit(roof_exit reason);

/* The unified reason of a VMX basic reason (BACKEND_ERROR if unknown). */
roof_exit vmx_exit_unified(uint32_t vmx_reason);

/*
 * Fill s->exit_reason and s->info from the record and the registers in s
 * (the implicit groups must be valid). MMIO decodes the instruction at ip
 * from guest memory through env->mem. Returns 0, or -1 with s->info.error
 * set (the exit becomes BACKEND_ERROR).
 */
int vmx_exit_decode(roof_state *s, const struct vmx_exit_record *r,
		    const struct vmx_exit_env *env, struct vmx_exit_ctx *ctx);

/* After the handler: write the result registers, advance ip, or inject
 * #GP for a faulting rdmsr/wrmsr; marks the groups it wrote dirty. */
void vmx_exit_finish(roof_state *s, const struct vmx_exit_ctx *ctx);

#endif
