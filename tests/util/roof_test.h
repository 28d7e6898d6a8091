/*
 * roof_test.h - helpers shared by the cmocka suites: backend choice,
 * /dev/kvm skip, guest loading, waiting for a vCPU; the freestanding part
 * (GPR patterns, entry states) is roof_guest.h.
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
#include "roof_guest.h"

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

/* Allocate ROOF_TEST_RAM_SIZE of RAM at 0, build the identity page tables
 * (roof_guest.h) and load build/guests/<name>.bin at ROOF_TEST_GUEST_GPA. */
void roof_test_guest_vm(roof_vm *vm, const char *name, void **ram);

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

#endif
