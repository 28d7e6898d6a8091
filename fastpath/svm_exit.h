/*
 * svm_exit.h - an AMD SVM exit as a client receives it (exit code, exit
 * info 1 and 2), turned into the unified exit and finished the way a VMM
 * finishes it on SVM: port I/O, MMIO, rdmsr/wrmsr and cpuid are completed by
 * writing registers and moving rip (AMD APM Vol. 2, 15.6 intercept
 * operation, 15.10.2 IOIO exit info, 15.11 MSR intercepts, 15.25.6 nested
 * page faults; exit codes in Appendix C).
 *
 * The SVM counterpart of fastpath/vmx_exit.h: it translates the SVM record
 * into the VMX one the shared decode takes (vmx_exit_decode,
 * vmx_exit_finish), so both architectures share one decode of the mov forms,
 * the I/O data widths and the cpuid/msr completion.
 *
 * What SVM does not hand over, the decode computes: without the nRIP-save
 * feature (QEMU's TCG has none; NOVA does not pass nRIP in the UTCB even
 * where the CPU has it), only an IOIO exit carries the next rip (exit info
 * 2); cpuid, rdmsr and wrmsr have one encoding of 2 bytes, hlt of 1 byte,
 * and an MMIO access is as long as the decoded mov. A prefixed cpuid (legal,
 * never emitted by compilers) would be under-advanced: listed as a limit in
 * kernels/nova/README.md. Freestanding.
 */
#ifndef ROOF_SVM_EXIT_H
#define ROOF_SVM_EXIT_H

#include <stdint.h>

#include "vmx_exit.h"

/* What the native record said about the exit. */
struct svm_exit_record {
	uint32_t code;  /* SVM exit code (SVM_EXIT_*), or ROOF_NATIVE_STARTUP /
			 * ROOF_NATIVE_RECALL */
	uint64_t info1; /* EXITINFO1 */
	uint64_t info2; /* EXITINFO2 */
};

/* The unified reason of an SVM exit (BACKEND_ERROR if unknown). info1
 * matters for SVM_EXIT_MSR only (0 rdmsr, 1 wrmsr). */
roof_exit svm_exit_unified(uint32_t code, uint64_t info1);

/* Groups the decode and the finish need: those of vmx_exit_implicit, which
 * include ip (the next rip of an IOIO exit is compared with it). The exit
 * information itself (info1, info2) travels as the kernel delivers it. */
uint64_t svm_exit_implicit(roof_exit reason);

/*
 * Fill s->exit_reason, s->info and s->ip_len (the length SVM does not
 * report) from the record and the registers in s (the implicit groups must
 * be valid). Returns 0, or -1 with s->info.error set (the exit becomes
 * BACKEND_ERROR). ctx then drives vmx_exit_finish().
 */
int svm_exit_decode(roof_state *s, const struct svm_exit_record *r,
		    const struct vmx_exit_env *env, struct vmx_exit_ctx *ctx);

#endif
