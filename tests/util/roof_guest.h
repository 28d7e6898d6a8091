/*
 * roof_guest.h - what a VMM of the test guests (tests/guests) sets and
 * checks, without libc: the GPR patterns the guests load, their comparison,
 * the identity page tables, the long-mode and real-mode entry states.
 * Freestanding: the cmocka suites link it (tests/util/) and the NOVA root
 * task builds the same file (kernels/nova/roottask/).
 */
#ifndef ROOF_GUEST_H
#define ROOF_GUEST_H

#include <stddef.h>
#include <stdint.h>

#include "roof_state.h"

/* Guest memory of the 64-bit test guests. */
#define ROOF_TEST_RAM_SIZE (2u << 20)
#define ROOF_TEST_GUEST_GPA 0x10000u
#define ROOF_TEST_MMIO_BASE 0x10000000u
/* What roof_test_build_page_tables writes: PML4 0x1000, PDPT 0x2000,
 * PD 0x3000, identity for the first GiB. */
#define ROOF_TEST_PT_END 0x4000u

/* The GPR patterns the guest loads (rax..r15 in roof_state order). */
extern const uint64_t roof_test_patterns[16];
enum roof_test_gpr { G_AX, G_CX, G_DX, G_BX, G_SP, G_BP, G_SI, G_DI,
		     G_R8, G_R9, G_R10, G_R11, G_R12, G_R13, G_R14, G_R15 };
const char *roof_test_gpr_name(unsigned i);
/* Read the GPRs the kernel can transfer (checked accessors): all 16, or
 * the first 8 where r8-r15 are not in `groups`. Returns how many. */
unsigned roof_test_read_gprs(roof_state *s, uint64_t out[16], uint64_t groups);
/* Compare those GPRs with want[]: appends "rax=0x1 (want 0x2) " for each
 * that differs to report (kept NUL-terminated within size). Returns how
 * many differ. */
unsigned roof_test_check_gprs(roof_state *s, uint64_t groups,
			      const uint64_t want[16], char *report,
			      size_t size);

/* Identity page tables for the first GiB (2 MiB pages) in guest RAM that
 * starts at guest-physical 0 and is at least ROOF_TEST_PT_END long. */
void roof_test_build_page_tables(void *ram);
/* Enter long mode at rip with rdi = arg: for a STARTUP handler. */
void roof_test_set_long_mode(roof_state *s, uint64_t rip, uint64_t rdi);
uint64_t roof_test_long_mode_mask(void);
/* Real mode at the reset vector f000:fff0 with 64 KiB data segments: the
 * flags, ip, cr0, segment and table registers of Genode's Vcpu::_cpu_init
 * (the x86 reset state; its rdx and dr7 are the caller's). */
void roof_test_set_real_mode(roof_state *s);

#endif
