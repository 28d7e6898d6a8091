/*
 * sel4_abi.h - the seL4 x86-64 VT-x interface as the VMM sees it, for the
 * "sel4" model kernel: the IPC buffer that carries the message registers
 * (MRs), the MR layout of seL4_VMEnter, the VCPU invocations ReadVMCS /
 * WriteVMCS / WriteRegisters, and the kernel "system calls" the client
 * issues (modelled as function pointers the kernel side provides).
 *
 * Sources (seL4 at the revision Genode builds, 13.0.0, cd6d3b8c, plus
 * Genode's patches in repos/base-sel4/patches/):
 *   libsel4/include/sel4/shared_types.h      seL4_IPCBuffer
 *   libsel4/include/sel4/constants.h         seL4_MsgMaxLength 120,
 *                                            seL4_MsgExtraCapBits 2
 *   libsel4/include/sel4/errors.h            seL4_Error
 *   libsel4/arch_include/x86/sel4/arch/vmenter.h   MR indices, results
 *   libsel4/arch_include/x86/sel4/arch/types.h     seL4_VCPUContext
 *   libsel4/sel4_arch_include/x86_64/sel4/sel4_arch/syscalls.h
 *       seL4_VMEnter: MR0..MR3 travel in registers, the wrapper copies
 *       them to the IPC buffer, so the VMM reads all MRs from msg[].
 *   src/arch/x86/object/vcpu.c   decodeReadVMCS / decodeWriteVMCS field
 *       whitelists, readVMCSField, applyFixedBits(uint32_t ...),
 *       setMRs_vmexit, invokeVCPUWriteRegisters.
 *   Genode intel_vmcs.patch: ENTRY_INSTRUCTION_LENGTH writable,
 *       ENTRY_EXCEPTION_ERROR_CODE readable; intel_vmx_full_state.patch:
 *       a notification return carries the full fault MR set.
 * Genode builds seL4 without CONFIG_X86_64_VTX_64BIT_GUESTS
 * (repos/base-sel4/lib/mk/spec/x86_64/kernel-sel4-pc.mk defines only
 * CONFIG_VTX): 17 fault MRs, 7 GPRs, no r8-r15, no syscall MSRs.
 *
 * Freestanding: only <stdint.h>, <stddef.h>, <stdbool.h>.
 */
#ifndef ROOF_SEL4_ABI_H
#define ROOF_SEL4_ABI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef uint64_t sel4_word; /* seL4_Word on x86-64 */

/* ---- IPC buffer (shared_types.h, x86-64) ---------------------------------- */
#define SEL4_MSG_MAX_LENGTH 120 /* seL4_MsgMaxLength */
#define SEL4_MSG_MAX_EXTRA_CAPS 3 /* (1 << seL4_MsgExtraCapBits) - 1 */

struct sel4_ipc_buffer {
	sel4_word tag; /* seL4_MessageInfo_t */
	sel4_word msg[SEL4_MSG_MAX_LENGTH];
	sel4_word user_data;
	sel4_word caps_or_badges[SEL4_MSG_MAX_EXTRA_CAPS];
	sel4_word receive_cnode;
	sel4_word receive_index;
	sel4_word receive_depth;
} __attribute__((aligned(1024))); /* aligned to its own size */

_Static_assert(offsetof(struct sel4_ipc_buffer, msg) == 8, "seL4_IPCBuffer.msg");
_Static_assert(offsetof(struct sel4_ipc_buffer, user_data) == 968,
	       "seL4_IPCBuffer.userData");
_Static_assert(offsetof(struct sel4_ipc_buffer, caps_or_badges) == 976,
	       "seL4_IPCBuffer.caps_or_badges");
_Static_assert(offsetof(struct sel4_ipc_buffer, receive_depth) == 1016,
	       "seL4_IPCBuffer.receiveDepth");
_Static_assert(sizeof(struct sel4_ipc_buffer) == 1024, "seL4_IPCBuffer size");

/* ---- seL4_VMEnter message registers (vmenter.h, kernel_fault_context) ------ */
enum sel4_vmenter_mr {
	SEL4_VMENTER_CALL_EIP_MR = 0,
	SEL4_VMENTER_CALL_CONTROL_PPC_MR = 1,
	SEL4_VMENTER_CALL_INTERRUPT_INFO_MR = 2,
	SEL4_VMENTER_FAULT_REASON_MR = 3,
	SEL4_VMENTER_FAULT_QUALIFICATION_MR = 4,
	SEL4_VMENTER_FAULT_INSTRUCTION_LEN_MR = 5,
	SEL4_VMENTER_FAULT_GUEST_PHYSICAL_MR = 6,
	SEL4_VMENTER_FAULT_RFLAGS_MR = 7,
	SEL4_VMENTER_FAULT_GUEST_INT_MR = 8,
	SEL4_VMENTER_FAULT_CR3_MR = 9,
	SEL4_VMENTER_FAULT_EAX = 10,
	SEL4_VMENTER_FAULT_EBX = 11,
	SEL4_VMENTER_FAULT_ECX = 12,
	SEL4_VMENTER_FAULT_EDX = 13,
	SEL4_VMENTER_FAULT_ESI = 14,
	SEL4_VMENTER_FAULT_EDI = 15,
	SEL4_VMENTER_FAULT_EBP = 16,
	SEL4_VMENTER_NUM_FAULT_MSGS = 17 /* SEL4_VMENTER_RESULT_FAULT_LEN */
};
#define SEL4_VMENTER_CALL_LEN 3 /* MR0..MR2 go in with the call */
#define SEL4_VMENTER_RESULT_NOTIF_LEN 3

/* msgInfo after seL4_VMEnter returns */
#define SEL4_VMENTER_RESULT_NOTIF 0
#define SEL4_VMENTER_RESULT_FAULT 1

/* A VM-entry failure is a fault with reason and qualification -1
 * (vcpu.c handleVmEntryFail); a notification return with Genode's
 * intel_vmx_full_state.patch carries reason/qualification -1 as well. */
#define SEL4_FAULT_REASON_NONE 0xffffffffu

/* ---- seL4_VCPUContext (types.h, without 64-bit guests) --------------------- */
struct sel4_vcpu_context {
	sel4_word eax, ebx, ecx, edx, esi, edi, ebp;
};
_Static_assert(sizeof(struct sel4_vcpu_context) == 7 * 8, "seL4_VCPUContext");
_Static_assert(offsetof(struct sel4_vcpu_context, esi) == 32, "esi");
_Static_assert(offsetof(struct sel4_vcpu_context, ebp) == 48, "ebp");

/* The 17 MRs of a fault return (msg[0..16]) as one record: the layout the
 * client's transfer plan copies from. MR0..MR2 are also what seL4_VMEnter
 * takes; MR10..MR16 are a seL4_VCPUContext (types.h lists the GPRs in the
 * order vmenter.h gives their MRs). */
struct sel4_fault_mrs {
	sel4_word eip;             /* MR0  SEL4_VMENTER_CALL_EIP_MR */
	sel4_word control_ppc;     /* MR1  primary processor-based controls */
	sel4_word interrupt_info;  /* MR2  VM-entry interruption info */
	sel4_word reason;          /* MR3  exit reason */
	sel4_word qualification;   /* MR4 */
	sel4_word instruction_len; /* MR5  VM-exit instruction length */
	sel4_word guest_physical;  /* MR6 */
	sel4_word rflags;          /* MR7 */
	sel4_word guest_int;       /* MR8  guest interruptibility */
	sel4_word cr3;             /* MR9 */
	struct sel4_vcpu_context gpr; /* MR10..MR16 eax ebx ecx edx esi edi ebp */
};
#define SEL4_MR_OFFSET(mr) ((mr) * sizeof(sel4_word))
_Static_assert(offsetof(struct sel4_fault_mrs, eip) ==
		       SEL4_MR_OFFSET(SEL4_VMENTER_CALL_EIP_MR), "MR0");
_Static_assert(offsetof(struct sel4_fault_mrs, control_ppc) ==
		       SEL4_MR_OFFSET(SEL4_VMENTER_CALL_CONTROL_PPC_MR), "MR1");
_Static_assert(offsetof(struct sel4_fault_mrs, interrupt_info) ==
		       SEL4_MR_OFFSET(SEL4_VMENTER_CALL_INTERRUPT_INFO_MR), "MR2");
_Static_assert(offsetof(struct sel4_fault_mrs, reason) ==
		       SEL4_MR_OFFSET(SEL4_VMENTER_FAULT_REASON_MR), "MR3");
_Static_assert(offsetof(struct sel4_fault_mrs, qualification) ==
		       SEL4_MR_OFFSET(SEL4_VMENTER_FAULT_QUALIFICATION_MR), "MR4");
_Static_assert(offsetof(struct sel4_fault_mrs, instruction_len) ==
		       SEL4_MR_OFFSET(SEL4_VMENTER_FAULT_INSTRUCTION_LEN_MR), "MR5");
_Static_assert(offsetof(struct sel4_fault_mrs, guest_physical) ==
		       SEL4_MR_OFFSET(SEL4_VMENTER_FAULT_GUEST_PHYSICAL_MR), "MR6");
_Static_assert(offsetof(struct sel4_fault_mrs, rflags) ==
		       SEL4_MR_OFFSET(SEL4_VMENTER_FAULT_RFLAGS_MR), "MR7");
_Static_assert(offsetof(struct sel4_fault_mrs, guest_int) ==
		       SEL4_MR_OFFSET(SEL4_VMENTER_FAULT_GUEST_INT_MR), "MR8");
_Static_assert(offsetof(struct sel4_fault_mrs, cr3) ==
		       SEL4_MR_OFFSET(SEL4_VMENTER_FAULT_CR3_MR), "MR9");
_Static_assert(offsetof(struct sel4_fault_mrs, gpr.eax) ==
		       SEL4_MR_OFFSET(SEL4_VMENTER_FAULT_EAX), "MR10");
_Static_assert(offsetof(struct sel4_fault_mrs, gpr.ebx) ==
		       SEL4_MR_OFFSET(SEL4_VMENTER_FAULT_EBX), "MR11");
_Static_assert(offsetof(struct sel4_fault_mrs, gpr.ecx) ==
		       SEL4_MR_OFFSET(SEL4_VMENTER_FAULT_ECX), "MR12");
_Static_assert(offsetof(struct sel4_fault_mrs, gpr.edx) ==
		       SEL4_MR_OFFSET(SEL4_VMENTER_FAULT_EDX), "MR13");
_Static_assert(offsetof(struct sel4_fault_mrs, gpr.esi) ==
		       SEL4_MR_OFFSET(SEL4_VMENTER_FAULT_ESI), "MR14");
_Static_assert(offsetof(struct sel4_fault_mrs, gpr.edi) ==
		       SEL4_MR_OFFSET(SEL4_VMENTER_FAULT_EDI), "MR15");
_Static_assert(offsetof(struct sel4_fault_mrs, gpr.ebp) ==
		       SEL4_MR_OFFSET(SEL4_VMENTER_FAULT_EBP), "MR16");
_Static_assert(sizeof(struct sel4_fault_mrs) ==
		       SEL4_MR_OFFSET(SEL4_VMENTER_NUM_FAULT_MSGS),
	       "the fault MRs, nothing else");

/* ---- seL4_Error (errors.h) -------------------------------------------------- */
enum sel4_error {
	SEL4_NO_ERROR = 0,
	SEL4_INVALID_ARGUMENT = 1,
	SEL4_INVALID_CAPABILITY = 2,
	SEL4_ILLEGAL_OPERATION = 3,
	SEL4_RANGE_ERROR = 4,
	SEL4_ALIGNMENT_ERROR = 5,
	SEL4_FAILED_LOOKUP = 6,
	SEL4_TRUNCATED_MESSAGE = 7,
};

/* seL4_X86_VCPU_ReadVMCS_t / seL4_X86_VCPU_WriteVMCS_t (generated stubs:
 * error, then the value read / the value the kernel actually wrote). */
struct sel4_read_vmcs_result {
	int error;
	sel4_word value;
};
struct sel4_write_vmcs_result {
	int error;
	sel4_word written;
};

/* ---- constants of Genode's seL4 client (repos/base-sel4/src/lib/base/x86/
 * vm.cc, Sel4_vcpu) ----------------------------------------------------------- */
#define SEL4_GENODE_EXIT_ON_HLT (1u << 7)   /* always ORed into MR1 */
#define SEL4_GENODE_IRQ_WINDOW (1u << 2)    /* primary ctls: irq-window exiting */
#define SEL4_GENODE_CR0_MASK \
	((1ull << 1) | (1ull << 5) | (1ull << 29) | (1ull << 30)) /* MP NE NW CD */
#define SEL4_GENODE_CR4_MASK (1ull << 13)   /* VMXE */
#define SEL4_GENODE_CR4_SET (1ull << 13)    /* VMXE forced into the real cr4 */
#define SEL4_VMEXIT_INVALID 0x21u           /* invalid guest state */
#define SEL4_VMEXIT_STARTUP 0xfeu
#define SEL4_VMEXIT_RECALL 0xffu
/* Genode's inj_info request bits: 12 irq window, 13 nmi window. */
#define SEL4_INJ_REQ_IRQ_WINDOW 0x1000u
#define SEL4_INJ_REQ_NMI_WINDOW 0x2000u

/*
 * The kernel "system calls" of the model. Each is one kernel entry on a
 * real seL4; the client counts them (crossings, vmcs_reads/writes, bytes)
 * where it issues them, as libsel4's stubs sit in the client.
 */
struct sel4_kernel_ops {
	/* seL4_VMEnter: MR0..MR2 from ipc->msg. Returns
	 * SEL4_VMENTER_RESULT_FAULT or _NOTIF and fills ipc->msg as the
	 * kernel does; *ran tells the model whether the guest executed (a
	 * pending notification returns at once, without entering), *badge is
	 * the notification badge. A negative value: the substrate failed
	 * (no seL4 result; the text is in error()). */
	int (*vmenter)(void *k, sel4_word *badge, bool *ran);
	struct sel4_read_vmcs_result (*read_vmcs)(void *k, sel4_word field);
	struct sel4_write_vmcs_result (*write_vmcs)(void *k, sel4_word field,
						    sel4_word value);
	int (*write_registers)(void *k, const struct sel4_vcpu_context *regs);
	/* seL4_Signal on the vCPU thread's bound notification (the recall). */
	void (*signal)(void *k);
	/* Not system calls: the host timestamp (Genode: Trace::timestamp())
	 * and the text of the kernel's last refusal (a debug kernel's
	 * userError). The VMM's own guest mapping and cpuid policy table
	 * come with the client's struct vmx_exit_env. */
	uint64_t (*timestamp)(void *k);
	const char *(*error)(void *k);
	/* The host's error record of this vCPU (roof_vcpu_error()). */
	void (*report)(void *k, int roof_err, const char *text);
};

#endif
