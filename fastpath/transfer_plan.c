/*
 * transfer_plan.c - building transfer plans, and the plain C reference of the
 * masked copy routines (fastpath/asm/masked_copy.asm is the nasm version;
 * tests/test_copy.c compares the two). Freestanding: no libc.
 */
#include "transfer_plan.h"

/* The nasm routines hard-code these offsets (see masked_copy.asm). */
_Static_assert(offsetof(struct roof_transfer_plan, first) == 0,
	       "asm: PLAN_FIRST");
_Static_assert(offsetof(struct roof_transfer_plan, count) == 32,
	       "asm: PLAN_COUNT");
_Static_assert(offsetof(struct roof_transfer_plan, desc) == 208,
	       "asm: PLAN_DESC");
_Static_assert(sizeof(struct roof_copy_desc) == 12, "asm: DESC_SIZE");
_Static_assert(offsetof(struct roof_copy_desc, native_off) == 0, "asm");
_Static_assert(offsetof(struct roof_copy_desc, state_off) == 4, "asm");
_Static_assert(offsetof(struct roof_copy_desc, len) == 8, "asm");

void roof_plan_init(struct roof_transfer_plan *p, uint32_t native_size)
{
	uint8_t *b = (uint8_t *)p;
	for (size_t i = 0; i < sizeof *p; i++)
		b[i] = 0;
	p->native_size = native_size;
}

int roof_plan_add(struct roof_transfer_plan *p, unsigned group_bit,
		  uint32_t native_off, uint32_t state_off, uint32_t len)
{
	if (group_bit >= ROOF_GB_LIMIT || len == 0 ||
	    p->ndesc >= ROOF_PLAN_MAX_DESC)
		return -1;
	if (native_off > p->native_size || len > p->native_size - native_off)
		return -1;
	if (state_off > sizeof(roof_state) ||
	    len > sizeof(roof_state) - state_off)
		return -1;
	uint64_t bit = UINT64_C(1) << group_bit;
	if (p->copyable & bit) {
		/* a group's descriptors must be consecutive */
		if ((uint32_t)p->first[group_bit] + p->count[group_bit] !=
		    p->ndesc)
			return -1;
		if (p->count[group_bit] == 255)
			return -1;
	} else {
		p->first[group_bit] = (uint8_t)p->ndesc;
		p->copyable |= bit;
	}
	p->desc[p->ndesc++] = (struct roof_copy_desc){native_off, state_off, len};
	p->count[group_bit]++;
	p->group_bytes[group_bit] += len;
	return 0;
}

static void copy_bytes(uint8_t *dst, const uint8_t *src, uint32_t len)
{
	for (uint32_t i = 0; i < len; i++)
		dst[i] = src[i];
}

uint64_t roof_gather_c(const struct roof_transfer_plan *p, uint64_t mask,
		       const void *native, roof_state *s)
{
	uint64_t bytes = 0;
	mask &= p->copyable;
	while (mask) {
		unsigned g = (unsigned)__builtin_ctzll(mask);
		mask &= mask - 1;
		const struct roof_copy_desc *d = &p->desc[p->first[g]];
		for (unsigned i = 0; i < p->count[g]; i++, d++) {
			copy_bytes((uint8_t *)s + d->state_off,
				   (const uint8_t *)native + d->native_off, d->len);
			bytes += d->len;
		}
	}
	return bytes;
}

uint64_t roof_scatter_c(const struct roof_transfer_plan *p, uint64_t mask,
			const roof_state *s, void *native)
{
	uint64_t bytes = 0;
	mask &= p->copyable;
	while (mask) {
		unsigned g = (unsigned)__builtin_ctzll(mask);
		mask &= mask - 1;
		const struct roof_copy_desc *d = &p->desc[p->first[g]];
		for (unsigned i = 0; i < p->count[g]; i++, d++) {
			copy_bytes((uint8_t *)native + d->native_off,
				   (const uint8_t *)s + d->state_off, d->len);
			bytes += d->len;
		}
	}
	return bytes;
}
