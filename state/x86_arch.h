/*
 * x86_arch.h - hardware facts shared by the backends: VMX field encodings,
 * VMX basic exit reasons, SVM exit codes, the VMX I/O qualification and the
 * segment access-rights formats. Sources: Intel SDM Vol. 3C, Appendix B
 * (field encodings) and Appendix C (basic exit reasons), Table 28-5 (I/O
 * qualification); AMD APM Vol. 2, Appendix C (SVM exit codes).
 * These are architecture definitions, not any kernel's ABI. Freestanding.
 */
#ifndef ROOF_X86_ARCH_H
#define ROOF_X86_ARCH_H

#include <stdint.h>

/* ---- VMX basic exit reasons (SDM Vol. 3C, Appendix C) -------------------- */
enum vmx_exit_reason {
	VMX_EXIT_EXCEPTION_NMI = 0,
	VMX_EXIT_EXTERNAL_INTERRUPT = 1,
	VMX_EXIT_TRIPLE_FAULT = 2,
	VMX_EXIT_INTERRUPT_WINDOW = 7,
	VMX_EXIT_NMI_WINDOW = 8,
	VMX_EXIT_CPUID = 10,
	VMX_EXIT_HLT = 12,
	VMX_EXIT_RDTSC = 16,
	VMX_EXIT_VMCALL = 18,
	VMX_EXIT_CR_ACCESS = 28,
	VMX_EXIT_IO = 30,
	VMX_EXIT_RDMSR = 31,
	VMX_EXIT_WRMSR = 32,
	VMX_EXIT_INVALID_GUEST_STATE = 33,
	VMX_EXIT_MSR_LOADING = 34,
	VMX_EXIT_PAUSE = 40,
	VMX_EXIT_EPT_VIOLATION = 48,
	VMX_EXIT_EPT_MISCONFIG = 49,
	VMX_EXIT_RDTSCP = 51,
	VMX_EXIT_XSETBV = 55,
};
/* Bit 31 of the exit-reason field: the VM entry failed. */
#define VMX_EXIT_ENTRY_FAILURE (1u << 31)

/* Synthetic reasons used by Genode's kernels on top of the hardware ones
 * (genode-vm-interface.md: 0xfe STARTUP, 0xff RECALL; SVM NPF -> 0xfc). */
#define ROOF_NATIVE_STARTUP 0xfeu
#define ROOF_NATIVE_RECALL 0xffu

/* ---- SVM exit codes (AMD APM Vol. 2, Appendix C) -------------------------- */
enum svm_exit_code {
	SVM_EXIT_INTR = 0x60,
	SVM_EXIT_NMI = 0x61,
	SVM_EXIT_VINTR = 0x64,
	SVM_EXIT_CPUID = 0x72,
	SVM_EXIT_PAUSE = 0x77,
	SVM_EXIT_HLT = 0x78,
	SVM_EXIT_IOIO = 0x7b,
	SVM_EXIT_MSR = 0x7c,
	SVM_EXIT_SHUTDOWN = 0x7f,
	SVM_EXIT_VMRUN = 0x80,
	SVM_EXIT_VMMCALL = 0x81,
	SVM_EXIT_NPF = 0x400,
	SVM_EXIT_INVALID = 0xffffffffu,
};
/* SVM IOIO exit info 1 (APM Vol. 2, 15.10.2): type bit 0 (1 = in), string
 * bit 2, rep bit 3, size one-hot bits 4..6, port bits 16..31. */
#define SVM_IOIO_IN (1u << 0)
#define SVM_IOIO_STR (1u << 2)
#define SVM_IOIO_REP (1u << 3)
#define SVM_IOIO_SZ8 (1u << 4)
#define SVM_IOIO_SZ16 (1u << 5)
#define SVM_IOIO_SZ32 (1u << 6)

/* ---- VMX I/O exit qualification (SDM Vol. 3C, Table 28-5) ------------------ */
#define VMX_IOQ_SIZE_MASK 0x7u      /* access size - 1 */
#define VMX_IOQ_IN (1u << 3)        /* direction: 1 = in */
#define VMX_IOQ_STRING (1u << 4)
#define VMX_IOQ_REP (1u << 5)
#define VMX_IOQ_IMM (1u << 6)       /* operand encoding: immediate port */
#define VMX_IOQ_PORT_SHIFT 16

static inline uint64_t vmx_io_qualification(uint16_t port, unsigned size,
					    int in, int string, int rep)
{
	return (uint64_t)((size - 1) & VMX_IOQ_SIZE_MASK) |
	       (in ? VMX_IOQ_IN : 0) | (string ? VMX_IOQ_STRING : 0) |
	       (rep ? VMX_IOQ_REP : 0) | ((uint64_t)port << VMX_IOQ_PORT_SHIFT);
}

/* EPT violation qualification bits (SDM Vol. 3C, Table 28-7). */
#define VMX_EPTQ_READ (1u << 0)
#define VMX_EPTQ_WRITE (1u << 1)
#define VMX_EPTQ_FETCH (1u << 2)

/* ---- VMCS field encodings (SDM Vol. 3C, Appendix B) ------------------------ */
enum vmcs_field {
	/* 16-bit guest state */
	VMCS_GUEST_ES_SEL = 0x0800,
	VMCS_GUEST_CS_SEL = 0x0802,
	VMCS_GUEST_SS_SEL = 0x0804,
	VMCS_GUEST_DS_SEL = 0x0806,
	VMCS_GUEST_FS_SEL = 0x0808,
	VMCS_GUEST_GS_SEL = 0x080a,
	VMCS_GUEST_LDTR_SEL = 0x080c,
	VMCS_GUEST_TR_SEL = 0x080e,
	/* 64-bit control / read-only / guest state */
	VMCS_TSC_OFFSET = 0x2010,
	VMCS_GUEST_PHYS_ADDR = 0x2400,
	VMCS_GUEST_EFER = 0x2806,
	VMCS_GUEST_PDPTE0 = 0x280a,
	VMCS_GUEST_PDPTE1 = 0x280c,
	VMCS_GUEST_PDPTE2 = 0x280e,
	VMCS_GUEST_PDPTE3 = 0x2810,
	/* 32-bit control */
	VMCS_PIN_CTLS = 0x4000,
	VMCS_PROC_CTLS = 0x4002,
	VMCS_EXCEPTION_BITMAP = 0x4004,
	VMCS_EXIT_CTLS = 0x400c,
	VMCS_ENTRY_CTLS = 0x4012,
	VMCS_ENTRY_INTR_INFO = 0x4016,
	VMCS_ENTRY_EXC_ERROR = 0x4018,
	VMCS_ENTRY_INSTR_LEN = 0x401a,
	VMCS_TPR_THRESHOLD = 0x401c,
	VMCS_PROC_CTLS2 = 0x401e,
	/* 32-bit read-only */
	VMCS_INSTR_ERROR = 0x4400,
	VMCS_EXIT_REASON = 0x4402,
	VMCS_EXIT_INTR_INFO = 0x4404,
	VMCS_EXIT_INTR_ERROR = 0x4406,
	VMCS_IDT_VECTORING_INFO = 0x4408,
	VMCS_IDT_VECTORING_ERROR = 0x440a,
	VMCS_EXIT_INSTR_LEN = 0x440c,
	VMCS_EXIT_INSTR_INFO = 0x440e,
	/* 32-bit guest state */
	VMCS_GUEST_ES_LIMIT = 0x4800,
	VMCS_GUEST_CS_LIMIT = 0x4802,
	VMCS_GUEST_SS_LIMIT = 0x4804,
	VMCS_GUEST_DS_LIMIT = 0x4806,
	VMCS_GUEST_FS_LIMIT = 0x4808,
	VMCS_GUEST_GS_LIMIT = 0x480a,
	VMCS_GUEST_LDTR_LIMIT = 0x480c,
	VMCS_GUEST_TR_LIMIT = 0x480e,
	VMCS_GUEST_GDTR_LIMIT = 0x4810,
	VMCS_GUEST_IDTR_LIMIT = 0x4812,
	VMCS_GUEST_ES_AR = 0x4814,
	VMCS_GUEST_CS_AR = 0x4816,
	VMCS_GUEST_SS_AR = 0x4818,
	VMCS_GUEST_DS_AR = 0x481a,
	VMCS_GUEST_FS_AR = 0x481c,
	VMCS_GUEST_GS_AR = 0x481e,
	VMCS_GUEST_LDTR_AR = 0x4820,
	VMCS_GUEST_TR_AR = 0x4822,
	VMCS_GUEST_INTERRUPTIBILITY = 0x4824,
	VMCS_GUEST_ACTIVITY = 0x4826,
	VMCS_GUEST_SYSENTER_CS = 0x482a,
	/* natural-width control */
	VMCS_CR0_MASK = 0x6000,
	VMCS_CR4_MASK = 0x6002,
	VMCS_CR0_SHADOW = 0x6004,
	VMCS_CR4_SHADOW = 0x6006,
	/* natural-width read-only */
	VMCS_EXIT_QUALIFICATION = 0x6400,
	VMCS_GUEST_LINEAR_ADDR = 0x640a,
	/* natural-width guest state */
	VMCS_GUEST_CR0 = 0x6800,
	VMCS_GUEST_CR3 = 0x6802,
	VMCS_GUEST_CR4 = 0x6804,
	VMCS_GUEST_ES_BASE = 0x6806,
	VMCS_GUEST_CS_BASE = 0x6808,
	VMCS_GUEST_SS_BASE = 0x680a,
	VMCS_GUEST_DS_BASE = 0x680c,
	VMCS_GUEST_FS_BASE = 0x680e,
	VMCS_GUEST_GS_BASE = 0x6810,
	VMCS_GUEST_LDTR_BASE = 0x6812,
	VMCS_GUEST_TR_BASE = 0x6814,
	VMCS_GUEST_GDTR_BASE = 0x6816,
	VMCS_GUEST_IDTR_BASE = 0x6818,
	VMCS_GUEST_DR7 = 0x681a,
	VMCS_GUEST_RSP = 0x681c,
	VMCS_GUEST_RIP = 0x681e,
	VMCS_GUEST_RFLAGS = 0x6820,
	VMCS_GUEST_SYSENTER_ESP = 0x6824,
	VMCS_GUEST_SYSENTER_EIP = 0x6826,
};

/* Field width class from the encoding (SDM Vol. 3C, B.1): bits 14:13. */
enum vmcs_width { VMCS_W16 = 0, VMCS_W64 = 1, VMCS_W32 = 2, VMCS_WNAT = 3 };
static inline unsigned vmcs_field_width(uint32_t field)
{
	return (field >> 13) & 3u;
}

/* ---- segment access rights --------------------------------------------------
 * Genode/NOVA keep a 16-bit "ar": type 0-3, s 4, dpl 5-6, p 7, avl 8, l 9,
 * db 10, g 11, unusable 12. VMX's access-rights field has bits 8..11 reserved
 * and the upper nibble at 12..15, unusable at bit 16. Conversion as in the
 * Genode VMX backends: ((ar << 4) & 0x1f000) | (ar & 0xff). */
static inline uint32_t roof_ar_to_vmx(uint16_t ar)
{
	return (((uint32_t)ar << 4) & 0x1f000u) | (ar & 0xffu);
}
static inline uint16_t roof_ar_from_vmx(uint32_t vmx_ar)
{
	return (uint16_t)(((vmx_ar >> 4) & 0x1f00u) | (vmx_ar & 0xffu));
}

#endif
