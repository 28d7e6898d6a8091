/*
 * foc_abi.h - the Fiasco.OC VMX vCPU state page, as the kernel and the VMM
 * share it: one 4 KiB page per vCPU thread in extended vCPU mode.
 *
 *   0x000  l4_vcpu_state_t: version, user data, the GPRs (l4_vcpu_regs_t),
 *          IPC state, state/saved_state/sticky_flags, user_task, entry
 *          sp/ip, arch state.
 *   0x200  VMX capability MSRs the kernel exports (Vmx_user_info).
 *   0x400  the software VMCS: 0x08 current-VMCS pointer (user data),
 *          0x10 field index of the software CR2 field, 0x20..0x3f the
 *          field-offset table, 0x40..0xbff the field data. A field is
 *          addressed by its hardware VMCS encoding:
 *            offset = table[field >> 10] * 64
 *                     + ((field & 0x3ff) << table[4 + (field >> 13)])
 *          and read or written as plain memory.
 *
 * Sources (the layout that Genode's base-foc client uses; L4Re/Fiasco
 * replaced it in 2024 with a dirty-bitmap VMCS, commit 7a1c78d84):
 *   l4re-core l4sys/include/ARCH-amd64/__vcpu-arch.h (l4_vcpu_regs_t,
 *     l4_vcpu_ipc_regs_t, l4_vcpu_arch_state_t, L4_VCPU_STATE_VERSION 0x23)
 *   l4re-core l4sys/include/vcpu.h (l4_vcpu_state_t, L4_VCPU_F_*,
 *     L4_VCPU_SF_IRQ_PENDING, L4_VCPU_OFFSET_EXT_INFOS/EXT_STATE)
 *   l4re-core l4sys/include/__vm-vmx.h at 03f84354b (2023): the table
 *     layout comment, l4_vm_vmx_field_offset(), l4_vm_vmx_get_cr2_index()
 *     (u32 at VMCS+0x10), L4_VM_VMX_VMCS_CR2 0x683e, the virtual MSR
 *     fields 0x2840..0x284c, l4_vm_vmx_get_caps()
 *   fiasco src/kern/ia32/vmx.cpp at fee4f8ed~1 (2023): Vmx_user_info (the
 *     0x200 block), Vmx_user_info::Fo_table::master_offsets[] (the table
 *     contents), Vmcs_field::Block_size/Offset_* (how they are computed),
 *     Vmx::init_vmcs_infos() (table at +0x420, cr2 index at +0x410)
 *   genode repos/base-foc/src/lib/base/x86/vm.cc (how Genode uses it)
 *
 * Freestanding: included by the client (kernels/foc/client/) and by the
 * kernel model (kernels/foc/).
 */
#ifndef ROOF_FOC_ABI_H
#define ROOF_FOC_ABI_H

#include <stddef.h>
#include <stdint.h>

/* ---- l4_vcpu_state_t (amd64) ---------------------------------------------- */
#define FOC_VCPU_STATE_VERSION 0x23 /* ARCH-amd64 L4_VCPU_STATE_VERSION */

/* l4_vcpu_regs_t, amd64: the kernel saves the guest GPRs here on a VM exit
 * (rsp, rip and rflags live in the VMCS). */
struct foc_vcpu_regs {
	uint64_t r15, r14, r13, r12, r11, r10, r9, r8;
	uint64_t di, si, bp, pfa, bx, dx, cx, ax;
	uint64_t trapno, err, ip, cs, flags, sp, ss;
	uint64_t fs_base, gs_base;
	uint16_t ds, es, fs, gs;
};

struct foc_vcpu_ipc_regs {
	uint64_t reserved0[1];
	uint64_t label;
	uint64_t reserved1[5];
	uint64_t tag; /* l4_msgtag_t */
};

struct foc_vcpu_arch_state {
	uint64_t host_fs_base, host_gs_base;
	uint16_t host_ds, host_es, host_fs, host_gs;
	uint16_t user_ds32, user_cs64, user_cs32;
};

struct foc_vcpu_state {
	uint64_t version;
	uint64_t user_data[7];
	struct foc_vcpu_regs r;
	struct foc_vcpu_ipc_regs i;
	uint16_t state, saved_state, sticky_flags, reserved;
	uint64_t user_task; /* l4_cap_idx_t */
	uint64_t entry_sp, entry_ip, reserved_sp;
	struct foc_vcpu_arch_state arch_state;
};

/* vcpu.h L4_vcpu_state_flags / L4_vcpu_sticky_flags */
#define FOC_VCPU_F_IRQ 0x01u
#define FOC_VCPU_F_USER_MODE 0x20u
#define FOC_VCPU_F_FPU_ENABLED 0x80u
#define FOC_VCPU_SF_IRQ_PENDING 0x01u

_Static_assert(offsetof(struct foc_vcpu_state, r) == 0x40, "l4_vcpu_state_t.r");
_Static_assert(offsetof(struct foc_vcpu_state, r.ax) == 0xb8, "r.ax");
_Static_assert(offsetof(struct foc_vcpu_state, r.ip) == 0xd0, "r.ip");
_Static_assert(offsetof(struct foc_vcpu_state, r.ds) == 0x108, "r.ds");
_Static_assert(sizeof(struct foc_vcpu_regs) == 0xd0, "l4_vcpu_regs_t");
_Static_assert(offsetof(struct foc_vcpu_state, i) == 0x110, "l4_vcpu_state_t.i");
_Static_assert(offsetof(struct foc_vcpu_state, state) == 0x150, "state");
_Static_assert(offsetof(struct foc_vcpu_state, sticky_flags) == 0x154,
	       "sticky_flags");
_Static_assert(offsetof(struct foc_vcpu_state, user_task) == 0x158, "user_task");
_Static_assert(offsetof(struct foc_vcpu_state, arch_state) == 0x178,
	       "arch_state");
_Static_assert(sizeof(struct foc_vcpu_state) <= 0x200,
	       "l4_vcpu_state_t fits below L4_VCPU_OFFSET_EXT_INFOS");

/* ---- VMX capabilities at 0x200 (Vmx_user_info, vmx.cpp) ---------------------
 * caps[] in L4_vm_vmx_caps_regs order (__vm-vmx.h): a control register
 * pair is {u32 must-be-one (_or), u32 may-be-one (_and)}, as the MSR. */
enum foc_vmx_caps_reg {
	FOC_VMX_BASIC = 0,
	FOC_VMX_TRUE_PINBASED_CTLS = 1,
	FOC_VMX_TRUE_PROCBASED_CTLS = 2,
	FOC_VMX_TRUE_EXIT_CTLS = 3,
	FOC_VMX_TRUE_ENTRY_CTLS = 4,
	FOC_VMX_MISC = 5,
	FOC_VMX_CR0_FIXED0 = 6,
	FOC_VMX_CR0_FIXED1 = 7,
	FOC_VMX_CR4_FIXED0 = 8,
	FOC_VMX_CR4_FIXED1 = 9,
	FOC_VMX_VMCS_ENUM = 10,
	FOC_VMX_PROCBASED_CTLS2 = 11,
	FOC_VMX_EPT_VPID_CAP = 12,
	FOC_VMX_NUM_CAPS = 13
};

struct foc_vmx_caps {
	uint64_t caps[FOC_VMX_NUM_CAPS];
	uint32_t dfl1[4]; /* default-1 bits: pin, proc, exit, entry ctls */
};

/* ---- the software VMCS at 0x400 ----------------------------------------------- */
#define FOC_VCPU_OFFSET_EXT_INFOS 0x200u
#define FOC_VCPU_OFFSET_EXT_STATE 0x400u
#define FOC_VMCS_SIZE 0xc00u          /* to the end of the page */
#define FOC_VMCS_CURRENT_PTR 0x08u    /* user data: current VMCS (clear/ptrld) */
#define FOC_VMCS_CR2_INDEX 0x10u      /* u32: field index of the CR2 field */
#define FOC_VMCS_OFFSET_TABLE 0x20u   /* 32 bytes */
#define FOC_VMCS_DATA 0x40u           /* field data start (table granule 1) */

/* Offset-table bytes (relative to FOC_VMCS_OFFSET_TABLE):
 *   0x00..0x02 16-bit control, read-only, guest granules; 0x04..0x07 index
 *   shifts for 16-bit, 64-bit, 32-bit, natural width; 0x08..0x0a 64-bit,
 *   0x10..0x12 32-bit, 0x18..0x1a natural-width granules; 0x1c first field
 *   granule, 0x1d end granule. Index = field >> 10 (width << 3 | type). */
#define FOC_TABLE_SHIFTS 4u
#define FOC_TABLE_FIRST 0x1cu
#define FOC_TABLE_END 0x1du

/* Software-defined fields (__vm-vmx.h, vmx.cpp Vmcs_64bit_guest_fields). */
enum foc_sw_field {
	FOC_VMCS_CR2 = 0x683e,
	FOC_VMCS_XCR0 = 0x2840,
	FOC_VMCS_MSR_SYSCALL_MASK = 0x2842,
	FOC_VMCS_MSR_LSTAR = 0x2844,
	FOC_VMCS_MSR_CSTAR = 0x2846,
	FOC_VMCS_MSR_TSC_AUX = 0x2848,
	FOC_VMCS_MSR_STAR = 0x284a,
	FOC_VMCS_MSR_KERNEL_GS_BASE = 0x284c,
};

/* Hardware fields Genode's client uses beyond state/x86_arch.h's list. */
enum foc_hw_field {
	FOC_VMCS_GUEST_DEBUGCTL = 0x2802,
	FOC_VMCS_PF_ERROR_MASK = 0x4006,
	FOC_VMCS_PF_ERROR_MATCH = 0x4008,
	FOC_VMCS_IO_RCX = 0x6402,
	FOC_VMCS_IO_RSI = 0x6404,
	FOC_VMCS_IO_RDI = 0x6406,
	FOC_VMCS_IO_RIP = 0x6408,
	FOC_VMCS_PENDING_DBG = 0x6822,
};

/* The whole page. */
struct foc_vcpu_page {
	struct foc_vcpu_state vcpu;
	uint8_t pad0[FOC_VCPU_OFFSET_EXT_INFOS - sizeof(struct foc_vcpu_state)];
	struct foc_vmx_caps caps;
	uint8_t pad1[FOC_VCPU_OFFSET_EXT_STATE - FOC_VCPU_OFFSET_EXT_INFOS -
		     sizeof(struct foc_vmx_caps)];
	uint8_t vmcs[FOC_VMCS_SIZE];
};
_Static_assert(offsetof(struct foc_vcpu_page, caps) == 0x200, "caps at 0x200");
_Static_assert(offsetof(struct foc_vcpu_page, caps.dfl1) == 0x268,
	       "dfl1 after 13 caps (l4_vm_vmx_get_caps_default1)");
_Static_assert(offsetof(struct foc_vcpu_page, vmcs) == 0x400, "VMCS at 0x400");
_Static_assert(sizeof(struct foc_vcpu_page) == 4096, "one page");

/* Byte offset of `field` inside the VMCS (relative to page + 0x400), by
 * l4_vm_vmx_field_offset()'s formula over the page's own table; 0 when the
 * table has no block for the field or its data would leave the page (the
 * 2023 l4sys has no such check; a bad field then scribbles over the page). */
static inline uint32_t foc_vmcs_offset(const uint8_t *vmcs, uint32_t field)
{
	const uint8_t *t = vmcs + FOC_VMCS_OFFSET_TABLE;
	uint32_t granule = t[(field >> 10) & 0x1fu];
	uint32_t width = (field >> 13) & 3u;
	uint32_t shift = t[FOC_TABLE_SHIFTS + width];
	/* bit 15 and bit 12 are reserved in an encoding (SDM Vol. 3C, B.1);
	 * with bit 12 set, field >> 10 would index the shift bytes. Fiasco's
	 * shifts are 0..2; a page with more is not Fiasco's. */
	if ((field & ~0x6fffu) || granule == 0 || shift > 3)
		return 0;
	uint32_t off = granule * 64u + ((field & 0x3ffu) << shift);
	uint32_t bytes = width == 0 ? 2u : width == 2 ? 4u : 8u;
	if (off < FOC_VMCS_DATA || off + bytes > FOC_VMCS_SIZE)
		return 0;
	return off;
}

/* Width of a field in bytes (l4_vm_vmx_field_len on amd64). */
static inline unsigned foc_vmcs_width(uint32_t field)
{
	static const uint8_t bytes[4] = {2, 8, 4, 8};
	return bytes[(field >> 13) & 3u];
}

#endif
