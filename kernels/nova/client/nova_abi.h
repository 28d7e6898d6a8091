/*
 * nova_abi.h - the NOVA microhypervisor's vCPU exit ABI, x86_64, as Genode's
 * NOVA fork (github alex-ab/NOVA, branch r10) and Genode's base-nova use it.
 * Shared by the kernel side (kernels/nova/) and the client (client/).
 * Freestanding.
 *
 * Sources (read, not copied):
 *   genodelabs/genode repos/base-nova/include/nova/syscall-generic.h
 *     (Nova::Mtd, Nova::Utcb - the client's view, __attribute__((packed)))
 *   alex-ab/NOVA include/utcb.hpp (Utcb_head, Utcb_data - the kernel's view;
 *     the same offsets by natural alignment), include/mtd.hpp,
 *     include/config.hpp (NUM_VMI 256, VM_EXIT_RECALL 255, VM_EXIT_STARTUP
 *     254, VM_EXIT_INVSTATE 253, VM_EXIT_NPT 252, VM_EXIT_NOSUPP 251).
 */
#ifndef NOVA_ABI_H
#define NOVA_ABI_H

#include <stddef.h>
#include <stdint.h>

#include "roof_state.h"

/* ---- MTD (message-transfer descriptor) bits: Nova::Mtd ---------------------
 * oneroof's group bits are these bits (state/roof_state.h), so a mask is an
 * MTD; the asserts below keep it that way. */
#define NOVA_MTD_ACDB (1u << 0)            /* rax rcx rdx rbx */
#define NOVA_MTD_EBSD (1u << 1)            /* rbp rsi rdi */
#define NOVA_MTD_ESP (1u << 2)
#define NOVA_MTD_EIP (1u << 3)             /* rip + instruction length */
#define NOVA_MTD_EFL (1u << 4)
#define NOVA_MTD_ESDS (1u << 5)
#define NOVA_MTD_FSGS (1u << 6)
#define NOVA_MTD_CSSS (1u << 7)
#define NOVA_MTD_TR (1u << 8)
#define NOVA_MTD_LDTR (1u << 9)
#define NOVA_MTD_GDTR (1u << 10)
#define NOVA_MTD_IDTR (1u << 11)
#define NOVA_MTD_CR (1u << 12)             /* cr0 cr2 cr3 cr4 */
#define NOVA_MTD_DR (1u << 13)             /* dr7 */
#define NOVA_MTD_SYS (1u << 14)            /* sysenter cs/esp/eip */
#define NOVA_MTD_QUAL (1u << 15)           /* exit qualification */
#define NOVA_MTD_CTRL (1u << 16)           /* execution controls */
#define NOVA_MTD_INJ (1u << 17)            /* injection info */
#define NOVA_MTD_STA (1u << 18)            /* interruptibility state */
#define NOVA_MTD_TSC (1u << 19)            /* tsc value + offset */
#define NOVA_MTD_EFER (1u << 20)
#define NOVA_MTD_PDPTE (1u << 21)
#define NOVA_MTD_R8_R15 (1u << 22)
#define NOVA_MTD_SYSCALL_SWAPGS (1u << 23) /* star lstar cstar fmask kgsbase */
#define NOVA_MTD_TPR (1u << 24)            /* tpr, tpr threshold */
#define NOVA_MTD_TSC_AUX (1u << 25)
#define NOVA_MTD_XSAVE (1u << 26)          /* xcr0, xss */
#define NOVA_MTD_FPU (1u << 31)
#define NOVA_MTD_IRQ (NOVA_MTD_EFL | NOVA_MTD_STA | NOVA_MTD_INJ | NOVA_MTD_TSC)
#define NOVA_MTD_ALL                                                          \
	((0x000fffffu & ~NOVA_MTD_CTRL) | NOVA_MTD_EFER | NOVA_MTD_R8_R15 |   \
	 NOVA_MTD_SYSCALL_SWAPGS | NOVA_MTD_TPR)

_Static_assert(NOVA_MTD_ACDB == ROOF_G_ACDB && NOVA_MTD_EBSD == ROOF_G_EBSD &&
	       NOVA_MTD_ESP == ROOF_G_ESP && NOVA_MTD_EIP == ROOF_G_EIP &&
	       NOVA_MTD_EFL == ROOF_G_EFL && NOVA_MTD_ESDS == ROOF_G_ESDS &&
	       NOVA_MTD_FSGS == ROOF_G_FSGS && NOVA_MTD_CSSS == ROOF_G_CSSS &&
	       NOVA_MTD_TR == ROOF_G_TR && NOVA_MTD_LDTR == ROOF_G_LDTR &&
	       NOVA_MTD_GDTR == ROOF_G_GDTR && NOVA_MTD_IDTR == ROOF_G_IDTR &&
	       NOVA_MTD_CR == ROOF_G_CR && NOVA_MTD_DR == ROOF_G_DR &&
	       NOVA_MTD_SYS == ROOF_G_SYS && NOVA_MTD_QUAL == ROOF_G_QUAL &&
	       NOVA_MTD_CTRL == ROOF_G_CTRL && NOVA_MTD_INJ == ROOF_G_INJ &&
	       NOVA_MTD_STA == ROOF_G_STA && NOVA_MTD_TSC == ROOF_G_TSC &&
	       NOVA_MTD_EFER == ROOF_G_EFER && NOVA_MTD_PDPTE == ROOF_G_PDPTE &&
	       NOVA_MTD_R8_R15 == ROOF_G_R8_R15 &&
	       NOVA_MTD_SYSCALL_SWAPGS == ROOF_G_SYSCALL &&
	       NOVA_MTD_TPR == ROOF_G_TPR && NOVA_MTD_TSC_AUX == ROOF_G_TSC_AUX &&
	       NOVA_MTD_XSAVE == ROOF_G_XSAVE && NOVA_MTD_FPU == ROOF_G_FPU,
	       "oneroof group bits must be the NOVA MTD bits");
_Static_assert(NOVA_MTD_ALL == ROOF_G_ALL && NOVA_MTD_IRQ == ROOF_G_IRQ,
	       "composite MTDs");

/* ---- exit reasons a VMX portal is called with ---------------------------
 * VMX basic exit reason cut to 8 bits (NOVA src/ec_vmx.cpp handle_vmx:
 * EXI_REASON & 0xff, so a failed entry 33|1<<31 arrives as 33), plus the
 * synthetic ones of include/config.hpp. One portal per reason and vCPU. */
#define NOVA_NUM_VMI 256u
#define NOVA_EXIT_RECALL 0xffu   /* VM_EXIT_RECALL: ec_ctrl(EC_RECALL) */
#define NOVA_EXIT_STARTUP 0xfeu  /* VM_EXIT_STARTUP: first event */
#define NOVA_EXIT_INVSTATE 0xfdu /* VM_EXIT_INVSTATE (SVM only) */
#define NOVA_EXIT_NPT 0xfcu      /* VM_EXIT_NPT (SVM only) */
#define NOVA_EXIT_NOSUPP 0xfbu   /* VM_EXIT_NOSUPP; the model also uses it
				  * for a failure of its KVM substrate */

/* ---- ec_ctrl operations (Nova::Ec_op) and status codes (Nova::Status) --- */
enum nova_ec_op {
	NOVA_EC_RECALL = 0,
	NOVA_EC_GET_VCPU_STATE = 6, /* alex-ab/NOVA 3448198f (2023-07) */
	NOVA_EC_SET_VCPU_STATE = 7,
};
enum nova_status {
	NOVA_OK = 0,
	NOVA_INV_PARAMETER = 5,
	NOVA_INV_FEATURE = 6,
	NOVA_INV_CPU = 7,
};

/* ---- the UTCB (4 KiB): Nova::Utcb / NOVA Utcb_head + Utcb_data ---------- */
struct nova_utcb_segment {
	uint16_t sel, ar; /* ar: VMX access rights compressed to 13 bits,
			   * ((vmx >> 4) & 0x1f00) | (vmx & 0xff) */
	uint32_t limit;
	uint64_t base;
};

struct nova_utcb_range { /* gdtr, idtr: a segment without sel/ar */
	uint32_t reserved0;
	uint32_t limit;
	uint64_t base;
};

#define NOVA_UTCB_FPU_SIZE 2560 /* Genode's Nova::Utcb::fpu[] */

struct nova_utcb {
	/* header */
	uint64_t items;   /* untyped items (bits 0-15), typed (16-31) */
	uint64_t crd_xlt; /* receive window: translation */
	uint64_t crd_rcv; /* receive window: delegation */
	uint64_t tls;
	/* vCPU state (exception / VM-exit message) */
	uint64_t mtd, instr_len, ip, flags;
	uint32_t intr_state, actv_state, inj_info, inj_error;
	uint64_t ax, cx, dx, bx;
	uint64_t sp, bp, si, di;
	uint64_t r8, r9, r10, r11, r12, r13, r14, r15;
	uint64_t qual[2]; /* exit qualification, guest-physical address */
	uint32_t ctrl[2]; /* primary, secondary processor-based controls */
	uint64_t cr0, cr2, cr3, cr4;
	uint64_t xcr0, xss;
	uint64_t pdpte[4];
	uint64_t cr8, efer;
	uint64_t star, lstar, cstar, fmask, kernel_gs_base;
	uint32_t tpr, tpr_threshold;
	uint64_t dr7, sysenter_cs, sysenter_sp, sysenter_ip;
	struct nova_utcb_segment es, cs, ss, ds, fs, gs, ldtr, tr;
	struct nova_utcb_range gdtr, idtr;
	uint64_t tsc_val, tsc_off, tsc_aux;
	uint64_t exit_reason;
	uint8_t fpu[NOVA_UTCB_FPU_SIZE];
	uint8_t rest[4096 - 3160];
};

/* Offsets of the packed Genode struct (x86_64), checked field by field. */
#define NOVA_UTCB_AT(field, off)                                              \
	_Static_assert(offsetof(struct nova_utcb, field) == (off),            \
		       "NOVA UTCB offset of " #field)
NOVA_UTCB_AT(items, 0);
NOVA_UTCB_AT(tls, 24);
NOVA_UTCB_AT(mtd, 32);
NOVA_UTCB_AT(instr_len, 40);
NOVA_UTCB_AT(ip, 48);
NOVA_UTCB_AT(flags, 56);
NOVA_UTCB_AT(intr_state, 64);
NOVA_UTCB_AT(actv_state, 68);
NOVA_UTCB_AT(inj_info, 72);
NOVA_UTCB_AT(inj_error, 76);
NOVA_UTCB_AT(ax, 80);
NOVA_UTCB_AT(bx, 104);
NOVA_UTCB_AT(sp, 112);
NOVA_UTCB_AT(di, 136);
NOVA_UTCB_AT(r8, 144);
NOVA_UTCB_AT(r15, 200);
NOVA_UTCB_AT(qual, 208);
NOVA_UTCB_AT(ctrl, 224);
NOVA_UTCB_AT(cr0, 232);
NOVA_UTCB_AT(cr4, 256);
NOVA_UTCB_AT(xcr0, 264);
NOVA_UTCB_AT(xss, 272);
NOVA_UTCB_AT(pdpte, 280);
NOVA_UTCB_AT(cr8, 312);
NOVA_UTCB_AT(efer, 320);
NOVA_UTCB_AT(star, 328);
NOVA_UTCB_AT(fmask, 352);
NOVA_UTCB_AT(kernel_gs_base, 360);
NOVA_UTCB_AT(tpr, 368);
NOVA_UTCB_AT(tpr_threshold, 372);
NOVA_UTCB_AT(dr7, 376);
NOVA_UTCB_AT(sysenter_cs, 384);
NOVA_UTCB_AT(sysenter_ip, 400);
NOVA_UTCB_AT(es, 408);
NOVA_UTCB_AT(cs, 424);
NOVA_UTCB_AT(ss, 440);
NOVA_UTCB_AT(ds, 456);
NOVA_UTCB_AT(fs, 472);
NOVA_UTCB_AT(gs, 488);
NOVA_UTCB_AT(ldtr, 504);
NOVA_UTCB_AT(tr, 520);
NOVA_UTCB_AT(gdtr, 536);
NOVA_UTCB_AT(idtr, 552);
NOVA_UTCB_AT(tsc_val, 568);
NOVA_UTCB_AT(tsc_off, 576);
NOVA_UTCB_AT(tsc_aux, 584);
NOVA_UTCB_AT(exit_reason, 592);
NOVA_UTCB_AT(fpu, 600);
#undef NOVA_UTCB_AT
_Static_assert(sizeof(struct nova_utcb) == 4096, "a UTCB is one page");
_Static_assert(sizeof(struct nova_utcb_segment) == 16 &&
	       sizeof(struct nova_utcb_range) == 16, "segment records");
/* The kernel sets items to the data words: (4096 - header) / 8. */
#define NOVA_UTCB_DATA_WORDS ((4096u - 32u) / 8u)

/* ---- copy plan between the UTCB and the unified state ----------------------
 * Descriptors per MTD group (fastpath/transfer_plan.h) for every group that
 * is a plain copy. TSC (a delta on the way back) has none: the kernel side
 * and the client convert it in C. Used by both sides: it describes the ABI. */
struct roof_transfer_plan;
int nova_utcb_plan_init(struct roof_transfer_plan *p);

/* The unified exit reason of a VMX portal (VMX basic reason or synthetic). */
roof_exit nova_exit_unified(unsigned reason);

/* ---- the SVM variant of the same ABI ---------------------------------------
 * On AMD, NOVA calls the portal of the SVM exit code (alex-ab/NOVA
 * src/ec_svm.cpp handle_svm: codes >= NUM_VMI become VM_EXIT_NOSUPP, the
 * nested-page fault 0x400 becomes VM_EXIT_NPT 0xfc, an invalid VMCB
 * VM_EXIT_INVSTATE 0xfd; external interrupts 0x60 stay in the kernel) with
 * the same UTCB and MTD bits, copied by src/utcb.cpp load_svm / save_svm:
 *   QUAL       exit info 1 and 2 (NPT: the fault's error code and address)
 *   EIP        rip only: instr_len is neither written nor read
 *   INJ        out: EXITINTINFO (VMCB event injection of RECALL/INVSTATE);
 *              in: bit 12 requests the VINTR window
 *   CTRL       in only: ctrl[0], ctrl[1] are VMCB intercept words 0 and 1,
 *              ORed with NOVA's forced intercepts (include/svm.hpp)
 *   STA        out: int_shadow, actv_state 0; in: int_shadow only
 *   EFER       the VMCB's EFER, which holds SVME (VMRUN demands it; src/
 *              svm.cpp sets it in the Vmcb constructor, save_svm writes the
 *              UTCB's value as it is): a client hides it from the VMM and
 *              sets it again on the way in, as Genode's VirtualBox on NOVA
 *              does (repos/ports/src/virtualbox5/spec/nova/svm.h: efer |
 *              MSR_K6_EFER_SVME)
 *   PDPTE, TPR not transferred at all
 * The HIP's feature flags say which variant the kernel runs (include/
 * hip.hpp: FEAT_VMX 1 << 1, FEAT_SVM 1 << 2). */
enum nova_vmi {
	NOVA_VMI_VMX = 0, /* portal = VMX basic exit reason */
	NOVA_VMI_SVM = 1, /* portal = SVM exit code */
};
#define NOVA_HIP_FEAT_VMX (1u << 1)
#define NOVA_HIP_FEAT_SVM (1u << 2)
/* The groups load_svm/save_svm copy; reading any other is an error. */
#define NOVA_SVM_GROUPS (ROOF_G_VALID_BITS & ~(ROOF_G_PDPTE | ROOF_G_TPR))
/* The SVM intercept words a VMM charges into CTRL (AMD APM Vol. 2,
 * Appendix B, VMCB offset 0x0c/0x10): CPUID exits only when intercepted;
 * QEMU's VMRUN check wants the VMRUN intercept set (nova-real.md). */
#define NOVA_SVM_CTRL0_CPUID (1u << 18)
#define NOVA_SVM_EFER_SVME (1u << 12) /* AMD APM Vol. 2, 3.1.7 */
#define NOVA_SVM_CTRL1_VMRUN (1u << 0)

/* The SVM exit code of a portal number (0xfc -> 0x400, 0xfd -> -1). */
uint32_t nova_svm_code(unsigned portal);
/* The unified exit reason of an SVM portal; info1 = qual[0] (MSR: 0 read,
 * 1 write). NOSUPP and unknown codes are BACKEND_ERROR. */
roof_exit nova_svm_unified(unsigned portal, uint64_t info1);

/* Bytes of vCPU state NOVA's load_svm copies into the UTCB for a portal or
 * GET MTD (the exit-reason word included), and save_svm copies back for a
 * reply or SET MTD, field by field as src/utcb.cpp does (a segment or
 * descriptor-table record is 16 bytes, FPU = Fpu::size, the XSAVE size of
 * the CPU). */
uint32_t nova_svm_bytes_out(uint64_t mtd, uint32_t fpu_size);
uint32_t nova_svm_bytes_in(uint64_t mtd, uint32_t fpu_size);

#endif
