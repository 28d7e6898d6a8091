/*
 * x86_paging.h - guest-linear to guest-physical translation by a software
 * page walk, for VMM-side instruction decoding (no access-right checks: the
 * CPU already performed the access that exited). Paging structures: Intel
 * SDM Vol. 3A, 4.3 (32-bit), 4.4 (PAE), 4.5 (4-level). Freestanding.
 */
#ifndef ROOF_X86_PAGING_H
#define ROOF_X86_PAGING_H

#include <stdint.h>

/* Guest memory access: a pointer to [gpa, gpa+len) or NULL. */
typedef const void *(*x86_guest_mem_fn)(void *ctx, uint64_t gpa, uint64_t len);

struct x86_paging {
	uint64_t cr0, cr3, cr4, efer;
	x86_guest_mem_fn mem;
	void *ctx;
};

/* 0 and *gpa, or -1 (not present, unsupported mode, memory not attached). */
int x86_translate(const struct x86_paging *p, uint64_t linear, uint64_t *gpa);

/* Copy len bytes at guest-linear `linear` (may cross pages); returns the
 * number of bytes copied (less than len where translation stopped). */
unsigned x86_read_linear(const struct x86_paging *p, uint64_t linear,
			 uint8_t *dst, unsigned len);

#endif
