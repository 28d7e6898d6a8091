/*
 * hw_vcpu_state.h - the state page base-hw shares between its kernel and
 * the VMM: Genode's Vcpu_state (repos/base/include/spec/x86/cpu/
 * vcpu_state.h), as a C struct with the same field order, sizes and
 * offsets on x86_64, plus the exit codes and "syscalls" of the hw kernel.
 *
 * Layout facts (vcpu_state.h): every field is a Register<T> { T _value;
 * bool _charged; }; Segment = { uint16 sel, ar; uint32 limit; addr_t base },
 * Range = { uint32 limit; addr_t base }; r8..r15 come after pdpte_3 and
 * sysenter is stored ip, sp, cs (the header's order; the reference notes
 * list them elsewhere). exit_reason is a plain unsigned; the FPU is a
 * 2560-byte buffer aligned to 64 with its own charged flag and size.
 * Core allocates the page, the client attaches it (base-hw
 * src/lib/base/x86_64/vm.cc: Hw_vcpu::_state, Rpc_state).
 *
 * Freestanding: included by the client (kernels/hw/client/) and the kernel
 * model (kernels/hw/).
 */
#ifndef ROOF_HW_VCPU_STATE_H
#define ROOF_HW_VCPU_STATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "roof_state.h"
#include "transfer_plan.h"

/* Register<addr_t> and Register<uint64_t>: both 8-byte values on x86_64. */
struct hw_reg64 {
	uint64_t value;
	bool charged;
};

struct hw_reg32 {
	uint32_t value;
	bool charged;
};

struct hw_segment {
	uint16_t sel, ar; /* ar: 16-bit AMD/NOVA format (vmx.cc converts) */
	uint32_t limit;
	uint64_t base;
};

struct hw_range {
	uint32_t limit;
	uint64_t base;
};

struct hw_reg_segment {
	struct hw_segment value;
	bool charged;
};

struct hw_reg_range {
	struct hw_range value;
	bool charged;
};

#define HW_FPU_BUFFER 2560

/* Vcpu_state::Fpu: State (2560 bytes, aligned 64), charged, state size. */
struct hw_fpu {
	uint8_t buffer[HW_FPU_BUFFER] __attribute__((aligned(64)));
	bool charged;
	uint64_t state_size;
} __attribute__((aligned(64)));

struct hw_vcpu_state {
	struct hw_reg64 ax, cx, dx, bx;
	struct hw_reg64 bp, si, di;
	struct hw_reg64 sp, ip, ip_len, flags;
	struct hw_reg_segment es, ds, fs, gs, cs, ss, tr, ldtr;
	struct hw_reg_range gdtr, idtr;
	struct hw_reg64 cr0, cr2, cr3, cr4;
	struct hw_reg64 dr7;
	struct hw_reg64 sysenter_ip, sysenter_sp, sysenter_cs;
	struct hw_reg64 qual_primary, qual_secondary;
	struct hw_reg32 ctrl_primary, ctrl_secondary;
	struct hw_reg32 inj_info, inj_error;
	struct hw_reg32 intr_state, actv_state;
	struct hw_reg64 tsc, tsc_offset, tsc_aux;
	struct hw_reg64 efer;
	struct hw_reg64 pdpte_0, pdpte_1, pdpte_2, pdpte_3;
	struct hw_reg64 r8, r9, r10, r11, r12, r13, r14, r15;
	struct hw_reg64 star, lstar, cstar, fmask, kernel_gs_base;
	struct hw_reg32 tpr, tpr_threshold;
	struct hw_reg64 xcr0, xss;
	unsigned exit_reason;
	struct hw_fpu fpu __attribute__((aligned(64)));
};

/* Offsets of the C++ layout (x86_64 SysV: Register<addr_t> 16 bytes,
 * Register<Segment>/<Range> 24, Register<uint32_t> 8). */
_Static_assert(sizeof(struct hw_reg64) == 16, "Register<addr_t>");
_Static_assert(sizeof(struct hw_reg32) == 8, "Register<uint32_t>");
_Static_assert(sizeof(struct hw_reg_segment) == 24, "Register<Segment>");
_Static_assert(sizeof(struct hw_reg_range) == 24, "Register<Range>");
_Static_assert(offsetof(struct hw_vcpu_state, ax) == 0, "ax");
_Static_assert(offsetof(struct hw_vcpu_state, bp) == 64, "bp");
_Static_assert(offsetof(struct hw_vcpu_state, sp) == 112, "sp");
_Static_assert(offsetof(struct hw_vcpu_state, ip) == 128, "ip");
_Static_assert(offsetof(struct hw_vcpu_state, ip_len) == 144, "ip_len");
_Static_assert(offsetof(struct hw_vcpu_state, flags) == 160, "flags");
_Static_assert(offsetof(struct hw_vcpu_state, es) == 176, "es");
_Static_assert(offsetof(struct hw_vcpu_state, cs) == 272, "cs");
_Static_assert(offsetof(struct hw_vcpu_state, ldtr) == 344, "ldtr");
_Static_assert(offsetof(struct hw_vcpu_state, gdtr) == 368, "gdtr");
_Static_assert(offsetof(struct hw_vcpu_state, idtr) == 392, "idtr");
_Static_assert(offsetof(struct hw_vcpu_state, cr0) == 416, "cr0");
_Static_assert(offsetof(struct hw_vcpu_state, dr7) == 480, "dr7");
_Static_assert(offsetof(struct hw_vcpu_state, sysenter_ip) == 496, "sysenter");
_Static_assert(offsetof(struct hw_vcpu_state, qual_primary) == 544, "qual");
_Static_assert(offsetof(struct hw_vcpu_state, ctrl_primary) == 576, "ctrl");
_Static_assert(offsetof(struct hw_vcpu_state, inj_info) == 592, "inj");
_Static_assert(offsetof(struct hw_vcpu_state, intr_state) == 608, "intr");
_Static_assert(offsetof(struct hw_vcpu_state, tsc) == 624, "tsc");
_Static_assert(offsetof(struct hw_vcpu_state, tsc_aux) == 656, "tsc_aux");
_Static_assert(offsetof(struct hw_vcpu_state, efer) == 672, "efer");
_Static_assert(offsetof(struct hw_vcpu_state, pdpte_0) == 688, "pdpte");
_Static_assert(offsetof(struct hw_vcpu_state, r8) == 752, "r8");
_Static_assert(offsetof(struct hw_vcpu_state, star) == 880, "star");
_Static_assert(offsetof(struct hw_vcpu_state, tpr) == 960, "tpr");
_Static_assert(offsetof(struct hw_vcpu_state, xcr0) == 976, "xcr0");
_Static_assert(offsetof(struct hw_vcpu_state, exit_reason) == 1008,
	       "exit_reason");
_Static_assert(offsetof(struct hw_vcpu_state, fpu) == 1024, "fpu");
_Static_assert(offsetof(struct hw_vcpu_state, fpu.charged) == 1024 + 2560,
	       "fpu charged");
_Static_assert(offsetof(struct hw_vcpu_state, fpu.state_size) == 1024 + 2568,
	       "fpu size");
_Static_assert(sizeof(struct hw_vcpu_state) == 3648, "Vcpu_state size");

/* ---- the page <-> roof_state (hw_vcpu_state.c) -------------------------------
 * The plain copies go through a transfer plan (fastpath/transfer_plan.h):
 * one descriptor per Register value (a Range two: limit and base around its
 * padding), since every value is followed by its charged flag. The rest is
 * C beside the plan: the charged flags, the TSC group (tsc_offset goes to
 * the page as a delta) and the FPU (its length is the page's state_size one
 * way, Fpu_context::SIZE the other).
 */
/* The page's plan; 0, or -1 if it does not fit (a layout bug). */
int hw_vcpu_state_plan_init(struct roof_transfer_plan *p);

/* The groups of `groups` whose every Register is charged (a group without
 * Registers in the page, bits 27..30, never is). */
uint64_t hw_page_charged(const struct hw_vcpu_state *p, uint64_t groups);
/* Charge every Register of `groups`; values untouched. */
void hw_page_charge(struct hw_vcpu_state *p, uint64_t groups);
/* Vcpu_state::discharge(): every charged flag cleared, values kept. */
void hw_vcpu_state_discharge(struct hw_vcpu_state *s);
/* Make every charged flag of a page that came from untrusted bytes (an
 * exit record) a valid bool: any nonzero byte reads as charged. */
void hw_vcpu_state_sanitize(struct hw_vcpu_state *s);

/* Copy `groups` from the page into s, whether charged or not (raw: the
 * caller owns valid/dirty): roof_gather, then hw_convert_to_state. */
void hw_page_to_state(const struct roof_transfer_plan *plan,
		      const struct hw_vcpu_state *p, roof_state *s,
		      uint64_t groups);
/* Copy `groups` from s into the page and charge them: roof_scatter, then
 * hw_convert_to_page. tsc_offset is charged as the delta to
 * `tsc_offset_seen` (base-hw adds it to the VMCS TSC offset: vmx.cc
 * Vmcs::load). */
void hw_state_to_page(const struct roof_transfer_plan *plan,
		      struct hw_vcpu_state *p, const roof_state *s,
		      uint64_t groups, uint64_t tsc_offset_seen);
/* The part of those two the plan does not do (the tests run it after both
 * copy routines, roof_gather_c and roof_gather_asm). */
void hw_convert_to_state(const struct hw_vcpu_state *p, roof_state *s,
			 uint64_t groups);
void hw_convert_to_page(struct hw_vcpu_state *p, const roof_state *s,
			uint64_t groups, uint64_t tsc_offset_seen);

/* ---- exit codes (base-hw src/core/spec/x86_64/board.h, vmx.cc) ----------- */
/* exit_reason holds the VMX basic reason (vmx.cc handle_vm_exit: EXIT_REASON
 * & 0xffff, so a failed entry arrives as 33), or: */
#define HW_EXIT_STARTUP 0xfeu /* vm.cc Hw_vcpu: Initial_exitcode */
#define HW_EXIT_PAUSED 0xffu  /* board.h Platform_exitcodes */
#define HW_EXIT_NPF 0xfcu     /* SVM nested page fault (not on VMX) */

/* The state groups (roof_state.h bits) base-hw transfers: its store never
 * charges ctrl_primary/secondary (vmx.cc Vmcs::store: "Charging
 * ctrl_primary and ctrl_secondary breaks Virtualbox 6") nor xcr0/xss, and
 * its load ignores xcr0/xss. */
#define HW_GROUPS (ROOF_G_EVERYTHING & ~(ROOF_G_CTRL | ROOF_G_XSAVE))

/* Bytes of x87/SSE state the kernel moves (cpu.h Fpu_context::SIZE, the
 * fxsave area saved at every kernel entry). */
#define HW_FPU_CONTEXT_SIZE 512u

/*
 * The kernel's "syscalls" as the client sees them. Kernel::vcpu_pause and
 * Kernel::vcpu_run are the real ones (vm.cc Hw_vcpu::with_state); receiving
 * the exit signal costs signal_ack on top of the signal itself
 * (signal_receiver.cc block_for_signal). vcpu_exit_config and the groups
 * argument of vcpu_pause are oneroof's tuned extension (README.md): the
 * unmodified kernel stores everything and ignores them.
 */
struct hw_syscalls {
	void (*signal_ack)(void *kernel_vcpu);
	/* groups = 0: what the exit config names for this exit (everything
	 * on the unmodified kernel); otherwise exactly these groups. */
	int (*vcpu_pause)(void *kernel_vcpu, uint64_t groups);
	int (*vcpu_run)(void *kernel_vcpu);
	/* per native exit reason: the groups vcpu_pause stores (tuned) */
	int (*vcpu_exit_config)(void *kernel_vcpu, const uint64_t table[256]);
	/* Model diagnostics, not hw syscalls: why the last call failed, and
	 * where the client reports its own errors (the host's error text). */
	const char *(*error)(void *kernel_vcpu);
	void (*report)(void *kernel_vcpu, int err, const char *msg);
};

#endif
