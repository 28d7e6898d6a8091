/*
 * nova_sys.h - the system calls and boot facts a NOVA root task uses, for
 * Genode's NOVA fork (github alex-ab/NOVA, branch r10), x86_64. Written
 * from the kernel's sources (read, not copied) and checked by booting it:
 *
 *   include/syscall.hpp   argument registers of each call (Sys_create_pd,
 *                         Sys_create_ec, Sys_create_sc, Sys_create_pt,
 *                         Sys_create_sm, Sys_misc, Sys_reply, Sys_ec_ctrl,
 *                         Sys_pt_ctrl, Sys_sm_ctrl)
 *   include/regs.hpp      Sys_regs: ARG_1 = rdi (selector << 8 | flags << 4
 *                         | call number; the status comes back in its low
 *                         byte), ARG_2 = rsi, ARG_3 = rdx, ARG_4 = rax,
 *                         ARG_5 = r8; Status codes
 *   src/syscall.cpp       the call table (syscall[]), sys_misc delegate
 *                         (flag 0x800: "from the kernel PD", root only),
 *                         ec_ctrl ops 0 RECALL, 6/7 GET/SET_VCPU_STATE,
 *                         sys_reply with a semaphore (blocks the caller)
 *   include/crd.hpp       Crd: base << 12 | order << 7 | rights << 2 | type;
 *                         Xfer: the typed item's flags | hotspot << 12
 *   include/utcb.hpp      Utcb_head.items: untyped words 0-15, typed 16-31;
 *                         typed items (Xfer) at the end of the UTCB
 *   include/qpd.hpp       Qpd: quantum << 12 | priority
 *   include/hip.hpp       the HIP: api_flg at 0x10 (FEAT_VMX, FEAT_SVM),
 *                         freq_tsc (kHz) at 0x30
 *   include/config.hpp    NUM_EXC 32; the root task's PD, EC and SC are
 *                         selectors 32, 33, 34
 *   include/memory.hpp    USER_ADDR 0x7fffc0000000; src/ec.cpp
 *                         root_invoke: the HIP at USER_ADDR - 4 KiB is the
 *                         initial rsp, the root's UTCB one page below;
 *                         every ELF segment needs filesz == memsz
 *   include/svm.hpp       forced SVM intercepts (ORed to the VMM's CTRL)
 *
 * Freestanding; used by kernels/nova/roottask only.
 */
#ifndef NOVA_SYS_H
#define NOVA_SYS_H

#include <stdint.h>

/* ---- call numbers (src/syscall.cpp syscall[]) ---------------------------- */
enum nova_call {
	NOVA_CALL = 0,
	NOVA_REPLY = 1,
	NOVA_CREATE_PD = 2,
	NOVA_CREATE_EC = 3,
	NOVA_CREATE_SC = 4,
	NOVA_CREATE_PT = 5,
	NOVA_CREATE_SM = 6,
	NOVA_REVOKE = 7,
	NOVA_MISC = 8,
	NOVA_EC_CTRL = 9,
	NOVA_SC_CTRL = 10,
	NOVA_PT_CTRL = 11,
	NOVA_SM_CTRL = 12,
};

/* Sys_regs::Status */
enum nova_sys_status {
	NOVA_SUCCESS = 0, NOVA_COM_TIM = 1, NOVA_COM_ABT = 2, NOVA_BAD_HYP = 3,
	NOVA_BAD_CAP = 4, NOVA_BAD_PAR = 5, NOVA_BAD_FTR = 6, NOVA_BAD_CPU = 7,
	NOVA_BAD_DEV = 8, NOVA_QUO_OOM = 9,
};

/* Flags of the calls that take some (ARG_1 bits 4..7). */
#define NOVA_EC_GLOBAL 1u       /* create_ec: own SC (a vCPU is global) */
#define NOVA_MISC_DELEGATE 1u   /* misc op */
#define NOVA_SM_UP 0u           /* sm_ctrl ops */
#define NOVA_SM_DOWN 1u

/* ---- capability range descriptors and typed items ------------------------ */
enum nova_crd_type { NOVA_CRD_MEM = 1, NOVA_CRD_PIO = 2, NOVA_CRD_OBJ = 3 };
#define NOVA_MEM_R 1u
#define NOVA_MEM_W 2u
#define NOVA_MEM_X 4u
#define NOVA_RIGHTS_ALL 0x1fu

static inline uint64_t nova_crd(enum nova_crd_type type, uint64_t base,
				unsigned order, unsigned rights)
{
	return base << 12 | (uint64_t)order << 7 | (uint64_t)rights << 2 | type;
}

/* Xfer flags of a typed item: bits 0-1 = 1 delegate; bits 8-9 the
 * sub-space (memory: 0x200 = the guest-physical space, i.e. the NPT/EPT
 * of a VM's PD); 0x800: the root task delegates from the kernel's PD. */
#define NOVA_XFER_DELEGATE 0x1u
#define NOVA_XFER_GUEST 0x200u
#define NOVA_XFER_FROM_KERNEL 0x800u

/* ---- boot facts ----------------------------------------------------------- */
#define NOVA_USER_ADDR 0x00007fffc0000000ull
#define NOVA_HIP_ADDR (NOVA_USER_ADDR - 0x1000)
#define NOVA_ROOT_UTCB (NOVA_USER_ADDR - 0x2000)
#define NOVA_SEL_ROOT_PD 32u
#define NOVA_SEL_ROOT_EC 33u
#define NOVA_SEL_ROOT_SC 34u
#define NOVA_HIP_API_FLG 0x10u
#define NOVA_HIP_FREQ_TSC 0x30u /* kHz */
#define NOVA_SC_PRIORITIES 128u

/* ---- the system call ------------------------------------------------------ */
struct nova_args {
	uint64_t a1, a2, a3, a4, a5; /* rdi rsi rdx rax r8 */
};

/* One syscall; returns the status byte, leaves the out-registers in a. */
static inline uint8_t nova_syscall(struct nova_args *a)
{
	register uint64_t r8 __asm__("r8") = a->a5;
	__asm__ __volatile__("syscall"
			     : "+D"(a->a1), "+S"(a->a2), "+d"(a->a3),
			       "+a"(a->a4), "+r"(r8)
			     :
			     : "rcx", "r11", "r9", "r10", "memory");
	a->a5 = r8;
	return (uint8_t)(a->a1 & 0xffu);
}

static inline uint64_t nova_arg1(unsigned call, unsigned flags, uint64_t sel)
{
	return sel << 8 | (uint64_t)(flags & 0xfu) << 4 | call;
}

static inline uint8_t nova_call5(unsigned call, unsigned flags, uint64_t sel,
				 uint64_t a2, uint64_t a3, uint64_t a4,
				 uint64_t a5)
{
	struct nova_args a = {nova_arg1(call, flags, sel), a2, a3, a4, a5};
	return nova_syscall(&a);
}

/* create_pd(sel, parent pd, crd to delegate, quota lower | upper << 32) */
static inline uint8_t nova_create_pd(unsigned sel, unsigned parent,
				     uint32_t quota_upper)
{
	return nova_call5(NOVA_CREATE_PD, 0, sel, parent, 0,
			  (uint64_t)quota_upper << 32, 0);
}

/* create_ec(sel, pd, utcb | cpu, stack, event base); utcb 0 = a vCPU */
static inline uint8_t nova_create_ec(unsigned sel, unsigned flags, unsigned pd,
				     uint64_t utcb, uint64_t sp, uint64_t evt)
{
	return nova_call5(NOVA_CREATE_EC, flags, sel, pd, utcb, sp, evt);
}

/* create_sc(sel, pd, ec, quantum (us) << 12 | priority) */
static inline uint8_t nova_create_sc(unsigned sel, unsigned pd, unsigned ec,
				     unsigned quantum_us, unsigned prio)
{
	return nova_call5(NOVA_CREATE_SC, 0, sel, pd, ec,
			  (uint64_t)quantum_us << 12 | prio, 0);
}

/* create_pt(sel, pd, ec, mtd, ip): the portal's MTD is fixed here */
static inline uint8_t nova_create_pt(unsigned sel, unsigned pd, unsigned ec,
				     uint64_t mtd, uint64_t ip)
{
	return nova_call5(NOVA_CREATE_PT, 0, sel, pd, ec, mtd, ip);
}

/* pt_ctrl(pt, id): the id the handler finds in rdi */
static inline uint8_t nova_pt_ctrl(unsigned pt, uint64_t id)
{
	return nova_call5(NOVA_PT_CTRL, 0, pt, id, 0, 0, 0);
}

/* create_sm(sel, pd, initial count) */
static inline uint8_t nova_create_sm(unsigned sel, unsigned pd, uint64_t count)
{
	return nova_call5(NOVA_CREATE_SM, 0, sel, pd, count, 0, 0);
}

static inline uint8_t nova_sm_up(unsigned sm)
{
	return nova_call5(NOVA_SM_CTRL, NOVA_SM_UP, sm, 0, 0, 0, 0);
}

/* sm_ctrl down; deadline: absolute TSC (0 = none); COM_TIM on timeout */
static inline uint8_t nova_sm_down(unsigned sm, uint64_t deadline)
{
	return nova_call5(NOVA_SM_CTRL, NOVA_SM_DOWN, sm, deadline >> 32,
			  deadline & 0xffffffffu, 0, 0);
}

/* ec_ctrl(op, ec, arg) - arg: GET: mtd; SET: 1 = keep the recall */
static inline uint8_t nova_ec_ctrl(unsigned op, unsigned ec, uint64_t arg)
{
	return nova_call5(NOVA_EC_CTRL, op, ec, arg, 0, 0, 0);
}

/* call(pt): an IPC call through a portal; the reply comes back in the
 * caller's UTCB */
static inline uint8_t nova_call(unsigned pt)
{
	return nova_call5(NOVA_CALL, 0, pt, 0, 0, 0, 0);
}

#endif
