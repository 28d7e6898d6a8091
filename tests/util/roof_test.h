/*
 * roof_test.h - helpers shared by the cmocka suites: backend choice,
 * /dev/kvm skip, guest loading, long-mode entry, waiting for a vCPU.
 */
#ifndef ROOF_TEST_H
#define ROOF_TEST_H

#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "oneroof.h"

#ifndef ROOF_GUEST_DIR
#define ROOF_GUEST_DIR "build/guests"
#endif

/* The backend under test: $ROOF_KERNEL, or "kvm". */
const char *roof_test_kernel(void);
bool roof_test_have_kvm(void);

/* Tests that run guests call this first: without /dev/kvm they are skipped
 * with a message saying so. */
#define ROOF_NEED_KVM()                                                       \
	do {                                                                  \
		if (!roof_test_have_kvm()) {                                  \
			print_message("needs /dev/kvm (not usable here): "    \
				      "skipped\n");                           \
			skip();                                               \
		}                                                             \
	} while (0)

/* Fails the test with the VM's error text when rc != ROOF_OK. */
#define ROOF_OK_OR_FAIL(rc, text)                                             \
	do {                                                                  \
		int rc_ = (rc);                                               \
		if (rc_ != ROOF_OK)                                           \
			fail_msg("%s: %s (%s)", #rc, roof_strerror(rc_),      \
				 (text));                                     \
	} while (0)

/* Guest memory of the 64-bit test guests. */
#define ROOF_TEST_RAM_SIZE (2u << 20)
#define ROOF_TEST_GUEST_GPA 0x10000u
#define ROOF_TEST_MMIO_BASE 0x10000000u

/* Allocate RAM at 0, build identity page tables for the first GiB (2 MiB
 * pages) and load build/guests/<name>.bin at ROOF_TEST_GUEST_GPA. */
void roof_test_guest_vm(roof_vm *vm, const char *name, void **ram);
/* Enter long mode at rip with rdi = arg: for a STARTUP handler. */
void roof_test_set_long_mode(roof_state *s, uint64_t rip, uint64_t rdi);
uint64_t roof_test_long_mode_mask(void);
/* Real mode at the reset vector f000:fff0 with 64 KiB data segments: the
 * flags, ip, cr0, segment and table registers of Genode's Vcpu::_cpu_init
 * (the x86 reset state; its rdx and dr7 are the caller's). */
void roof_test_set_real_mode(roof_state *s);

/* Zeroed memory aligned to align (a power of two), size rounded up to it
 * (C11 aligned_alloc); fails the test when there is none. free() it. */
void *roof_test_zalloc(size_t align, size_t size);

/* A one-shot flag a handler raises and the test waits for. */
struct roof_test_flag {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	int raised;
};
void roof_test_flag_init(struct roof_test_flag *f);
void roof_test_flag_raise(struct roof_test_flag *f);
/* Waits up to timeout_ms; true when raised (and consumes one raise). */
bool roof_test_flag_wait(struct roof_test_flag *f, unsigned timeout_ms);
void roof_test_flag_destroy(struct roof_test_flag *f);

/* The GPR patterns the guest loads (rax..r15 in roof_state order). */
extern const uint64_t roof_test_patterns[16];
enum roof_test_gpr { G_AX, G_CX, G_DX, G_BX, G_SP, G_BP, G_SI, G_DI,
		     G_R8, G_R9, G_R10, G_R11, G_R12, G_R13, G_R14, G_R15 };
/* Read the GPRs the kernel can transfer (checked accessors): all 16, or
 * the first 8 where r8-r15 are not in `groups`. Returns how many. */
unsigned roof_test_read_gprs(roof_state *s, uint64_t out[16], uint64_t groups);
/* Compare those GPRs with want[]: appends "rax=0x1 (want 0x2) " for each
 * that differs to report (kept NUL-terminated within size). Returns how
 * many differ. */
unsigned roof_test_check_gprs(roof_state *s, uint64_t groups,
			      const uint64_t want[16], char *report,
			      size_t size);
const char *roof_test_gpr_name(unsigned i);

#endif
