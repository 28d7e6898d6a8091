/*
 * transfer_plan.h - copy descriptors between a backend's native state layout
 * and the unified roof_state, built once when a vCPU is created.
 *
 * For every group bit the plan holds a run of descriptors {native offset,
 * state offset, length}. gather() copies the groups of a mask from the native
 * layout into the state; scatter() copies them back. Both walk the set bits of
 * the mask (tzcnt/blsr in the nasm version) with no per-register branches.
 * Groups that need a conversion (e.g. KVM's split segment attributes) carry no
 * descriptors; their backend converts them in C after gather / before scatter.
 *
 * Freestanding.
 */
#ifndef ROOF_TRANSFER_PLAN_H
#define ROOF_TRANSFER_PLAN_H

#include "roof_state.h"

#define ROOF_PLAN_MAX_DESC 96

struct roof_copy_desc {
	uint32_t native_off;
	uint32_t state_off;
	uint32_t len;
};

struct roof_transfer_plan {
	uint8_t first[ROOF_GB_LIMIT]; /* index of the group's first descriptor */
	uint8_t count[ROOF_GB_LIMIT]; /* number of descriptors of the group */
	uint32_t group_bytes[ROOF_GB_LIMIT];
	uint64_t copyable;            /* groups that have descriptors */
	uint32_t ndesc;
	uint32_t native_size;         /* size of the native layout, for checks */
	struct roof_copy_desc desc[ROOF_PLAN_MAX_DESC];
};

void roof_plan_init(struct roof_transfer_plan *p, uint32_t native_size);
/*
 * Add one descriptor to a group. Descriptors of a group must be added
 * consecutively. Returns 0, or -1 if the plan is full, a group is added out of
 * order, or a range lies outside the native layout or roof_state.
 */
int roof_plan_add(struct roof_transfer_plan *p, unsigned group_bit,
		  uint32_t native_off, uint32_t state_off, uint32_t len);

/* Copy routines; they return the number of bytes copied. Groups in the mask
 * that have no descriptors are skipped (their backend converts them). */
uint64_t roof_gather_c(const struct roof_transfer_plan *p, uint64_t mask,
		       const void *native, roof_state *s);
uint64_t roof_scatter_c(const struct roof_transfer_plan *p, uint64_t mask,
			const roof_state *s, void *native);
uint64_t roof_gather_asm(const struct roof_transfer_plan *p, uint64_t mask,
			 const void *native, roof_state *s);
uint64_t roof_scatter_asm(const struct roof_transfer_plan *p, uint64_t mask,
			  const roof_state *s, void *native);

/* The build selects one (ROOF_COPY=asm, the default, or ROOF_COPY=c). */
#ifdef ROOF_COPY_C
#define roof_gather roof_gather_c
#define roof_scatter roof_scatter_c
#else
#define roof_gather roof_gather_asm
#define roof_scatter roof_scatter_asm
#endif

#endif
