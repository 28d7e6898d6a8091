/*
 * svm_exit.c - see svm_exit.h. Freestanding.
 */
#include "svm_exit.h"
#include "x86_arch.h"

#define SVM_EXIT_EXCP_DB 0x41u /* exception intercepts are 0x40 + vector */
#define NOT_KNOWN 0xffffffffu

/* NPF exit info 1 is a page-fault error code (APM Vol. 2, 15.25.6). */
#define NPF_WRITE (1u << 1)
#define NPF_FETCH (1u << 4)

/* The VMX basic reason that means the same exit, or NOT_KNOWN. */
static uint32_t vmx_reason_of(uint32_t code, uint64_t info1)
{
	switch (code) {
	case ROOF_NATIVE_STARTUP:
	case ROOF_NATIVE_RECALL:
		return code;
	case SVM_EXIT_IOIO: return VMX_EXIT_IO;
	case SVM_EXIT_NPF: return VMX_EXIT_EPT_VIOLATION;
	case SVM_EXIT_HLT: return VMX_EXIT_HLT;
	case SVM_EXIT_CPUID: return VMX_EXIT_CPUID;
	case SVM_EXIT_MSR:
		return info1 == 0 ? VMX_EXIT_RDMSR
				  : info1 == 1 ? VMX_EXIT_WRMSR : NOT_KNOWN;
	case SVM_EXIT_SHUTDOWN: return VMX_EXIT_TRIPLE_FAULT;
	case SVM_EXIT_INVALID: return VMX_EXIT_INVALID_GUEST_STATE;
	case SVM_EXIT_VINTR: return VMX_EXIT_INTERRUPT_WINDOW;
	case SVM_EXIT_EXCP_DB: return VMX_EXIT_EXCEPTION_NMI;
	default: return NOT_KNOWN;
	}
}

roof_exit svm_exit_unified(uint32_t code, uint64_t info1)
{
	uint32_t r = vmx_reason_of(code, info1);
	return r == NOT_KNOWN ? ROOF_EXIT_BACKEND_ERROR : vmx_exit_unified(r);
}

uint64_t svm_exit_implicit(roof_exit reason)
{
	return vmx_exit_implicit(reason);
}

static int fail(roof_state *s, uint32_t code, const char *why)
{
	s->exit_reason = ROOF_EXIT_BACKEND_ERROR;
	s->info.native = code;
	s->info.error = why;
	return -1;
}

/* IOIO exit info 1 (APM Vol. 2, 15.10.2) as the VMX qualification, and the
 * length from exit info 2, the rip of the next instruction. */
static int io_record(roof_state *s, const struct svm_exit_record *r,
		     struct vmx_exit_record *v)
{
	uint64_t i1 = r->info1;
	unsigned size = (i1 & SVM_IOIO_SZ8) ? 1 : (i1 & SVM_IOIO_SZ16) ? 2
					  : (i1 & SVM_IOIO_SZ32) ? 4 : 0;
	if (!size)
		return fail(s, r->code, "I/O: the IOIO exit information names no "
				       "access size");
	uint64_t ip = roof_get_ip(s);
	if (r->info2 <= ip || r->info2 - ip > 15)
		return fail(s, r->code, "I/O: IOIO exit info 2 is not the rip of "
				       "the next instruction");
	v->qual = vmx_io_qualification((uint16_t)(i1 >> 16), size,
				       (i1 & SVM_IOIO_IN) != 0,
				       (i1 & SVM_IOIO_STR) != 0,
				       (i1 & SVM_IOIO_REP) != 0);
	v->insn_len = (uint32_t)(r->info2 - ip);
	return 0;
}

int svm_exit_decode(roof_state *s, const struct svm_exit_record *r,
		    const struct vmx_exit_env *env, struct vmx_exit_ctx *ctx)
{
	struct vmx_exit_record v = {vmx_reason_of(r->code, r->info1), 0, 0, 0, 0};
	if (v.reason == NOT_KNOWN)
		return fail(s, r->code, "the kernel reported an SVM exit the "
					"client does not know");
	switch (r->code) {
	case SVM_EXIT_IOIO:
		if (io_record(s, r, &v))
			return -1;
		break;
	case SVM_EXIT_CPUID:
	case SVM_EXIT_MSR:
		v.insn_len = 2; /* 0f a2, 0f 32, 0f 30 */
		break;
	case SVM_EXIT_HLT:
		v.insn_len = 1; /* f4; HLT does not advance ip */
		break;
	case SVM_EXIT_NPF:
		v.qual = ((r->info1 & NPF_WRITE) ? VMX_EPTQ_WRITE : VMX_EPTQ_READ) |
			 ((r->info1 & NPF_FETCH) ? VMX_EPTQ_FETCH : 0);
		v.guest_phys = r->info2;
		break;
	default:
		break;
	}
	int rc = vmx_exit_decode(s, &v, env, ctx);
	s->info.native = r->code;
	if (rc)
		return rc;
	/* the length SVM did not report; ip stays where the exit left it */
	if (r->code == SVM_EXIT_NPF)
		s->ip_len = ctx->insn_valid ? ctx->insn.len : 0;
	else if (v.insn_len)
		s->ip_len = v.insn_len;
	return 0;
}
