/*
 * copy_diff.h - the nasm masked copy (fastpath/asm/masked_copy.asm) against
 * its C reference (fastpath/transfer_plan.c) on the same plan, mask and
 * buffers. Shared by tests/test_copy.c (cmocka, in make test),
 * tests/fuzz_smoke_copy.c (make fuzz-smoke, 10^7 cases) and
 * tests/fuzz/fuzz_copy.c (libFuzzer). Header-only (see tests/soak/rig.h).
 *
 * A case is (plan, mask, native bytes, state bytes). gather() copies the
 * mask's groups native -> state, scatter() state -> native. Both versions
 * run on identical inputs and identical destination backgrounds; the whole
 * destinations and the returned byte counts must agree, and the count must
 * be the sum of the selected groups' bytes (an oracle independent of both).
 * The buffers end at a PROT_NONE page, so an overrun by the nasm code
 * (which no sanitizer instruments) faults instead of passing silently.
 */
#ifndef ROOF_COPY_DIFF_H
#define ROOF_COPY_DIFF_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>

#include "roof_state.h"
#include "transfer_plan.h"
#include "rng.h"

#define COPY_PAGE 4096u
#define COPY_NATIVE_MAX 8192u /* largest native layout a case uses */

/* One buffer that ends where a PROT_NONE page begins. */
struct copy_guarded {
	uint8_t *map;
	size_t map_size;
	uint8_t *end; /* first byte of the guard page */
};

static inline bool copy_guarded_init(struct copy_guarded *g, size_t size)
{
	size_t pages = (size + COPY_PAGE - 1) / COPY_PAGE;
	g->map_size = (pages + 1) * COPY_PAGE;
	g->map = mmap(NULL, g->map_size, PROT_READ | PROT_WRITE,
		      MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (g->map == MAP_FAILED)
		return false;
	g->end = g->map + pages * COPY_PAGE;
	return mprotect(g->end, COPY_PAGE, PROT_NONE) == 0;
}

static inline void copy_guarded_free(struct copy_guarded *g)
{
	munmap(g->map, g->map_size);
}

/* The buffers of one worker: sources and the two destinations per
 * direction, each ending at its guard page. */
struct copy_bench {
	struct copy_guarded g[6];
	uint32_t native_size;
	uint8_t *native_src, *native_c, *native_asm; /* native_size bytes */
	uint8_t *state_src, *state_c, *state_asm;    /* sizeof(roof_state) */
	uint64_t cases, bytes;
};

static inline bool copy_bench_init(struct copy_bench *b)
{
	memset(b, 0, sizeof *b);
	for (int i = 0; i < 6; i++)
		if (!copy_guarded_init(&b->g[i], i < 3 ? COPY_NATIVE_MAX
						       : sizeof(roof_state)))
			return false;
	/* sizeof(roof_state) is a multiple of 64: the states stay aligned */
	b->state_src = b->g[3].end - sizeof(roof_state);
	b->state_c = b->g[4].end - sizeof(roof_state);
	b->state_asm = b->g[5].end - sizeof(roof_state);
	return true;
}

static inline void copy_bench_free(struct copy_bench *b)
{
	for (int i = 0; i < 6; i++)
		copy_guarded_free(&b->g[i]);
}

/* Place the native buffers for a plan of native_size bytes (at most
 * COPY_NATIVE_MAX) flush against their guard pages. */
static inline void copy_bench_native(struct copy_bench *b, uint32_t native_size)
{
	b->native_size = native_size;
	b->native_src = b->g[0].end - native_size;
	b->native_c = b->g[1].end - native_size;
	b->native_asm = b->g[2].end - native_size;
}

/* A random length: mostly register-sized, sometimes odd, sometimes long
 * enough for the rep movsb path (>= 256), up to the whole FPU image. */
static inline uint32_t copy_random_len(uint64_t *s, uint32_t room)
{
	uint32_t len;
	switch (rng_below(s, 32)) {
	case 0: len = 250 + rng_below(s, 20); break;   /* around the switch */
	case 1: len = 256 + rng_below(s, 2400); break; /* rep movsb */
	case 2: case 3: case 4: case 5: len = 1 + rng_below(s, 7); break;
	case 6: case 7: case 8: case 9: len = 1 + rng_below(s, 64); break;
	case 10: case 11: case 12: case 13: len = 8 * (1 + rng_below(s, 8)); break;
	default: len = 8; break;
	}
	return len < room ? len : room;
}

/*
 * A random plan over a native layout of `native_size` bytes: a random set
 * of groups added in random order, 1..8 descriptors each, descriptors that
 * may overlap each other and may end exactly at either buffer's end.
 * Returns the number of descriptors roof_plan_add refused (it must refuse
 * none of these, all are in bounds).
 */
static inline unsigned copy_random_plan(struct roof_transfer_plan *p,
					uint64_t *s, uint32_t native_size)
{
	roof_plan_init(p, native_size);
	unsigned order[ROOF_GB_LIMIT], refused = 0;
	for (unsigned i = 0; i < ROOF_GB_LIMIT; i++)
		order[i] = i;
	for (unsigned i = ROOF_GB_LIMIT - 1; i > 0; i--) {
		unsigned j = rng_below(s, i + 1), t = order[i];
		order[i] = order[j];
		order[j] = t;
	}
	/* usually a handful of groups, as real layouts; sometimes all */
	unsigned groups = rng_below(s, 4) ? 1 + rng_below(s, 12)
					   : 1 + rng_below(s, ROOF_GB_LIMIT);
	for (unsigned gi = 0; gi < groups; gi++) {
		unsigned n = 1 + rng_below(s, rng_below(s, 4) ? 3 : 8);
		for (unsigned d = 0; d < n && p->ndesc < ROOF_PLAN_MAX_DESC; d++) {
			uint32_t state_size = (uint32_t)sizeof(roof_state);
			uint32_t len = copy_random_len(s, native_size < state_size
								  ? native_size
								  : state_size);
			uint32_t noff = rng_below(s, native_size - len + 1);
			uint32_t soff = rng_below(s, state_size - len + 1);
			if (rng_below(s, 16) == 0)
				noff = native_size - len; /* flush at the end */
			if (rng_below(s, 16) == 0)
				soff = state_size - len;
			if (roof_plan_add(p, order[gi], noff, soff, len))
				refused++;
		}
	}
	return refused;
}


/*
 * The libFuzzer input of the copy target (tests/fuzz/fuzz_copy.c), and of
 * its seeds: little-endian
 *   u16 native size (64 + n % (COPY_NATIVE_MAX - 63)), u64 mask,
 *   u64 content seed, then 7-byte descriptors: u8 group, u16 native
 *   offset, u16 state offset, u16 length
 * Descriptors go to roof_plan_add as they are, bad ones included: whether
 * it takes each must match the rules of transfer_plan.h, checked here
 * independently (copy_plan_should_take).
 */
#define COPY_INPUT_HEADER 18
#define COPY_INPUT_DESC 7

struct copy_input {
	uint32_t native_size;
	uint64_t mask, seed;
	const uint8_t *desc;
	size_t ndesc;
};

static inline uint64_t copy_le(const uint8_t *p, unsigned n)
{
	uint64_t v = 0;
	for (unsigned i = 0; i < n; i++)
		v |= (uint64_t)p[i] << (8 * i);
	return v;
}

static inline bool copy_input_parse(const uint8_t *data, size_t size,
				    struct copy_input *in)
{
	if (size < COPY_INPUT_HEADER)
		return false;
	in->native_size = 64 + (uint32_t)(copy_le(data, 2) %
					  (COPY_NATIVE_MAX - 63));
	in->mask = copy_le(data + 2, 8);
	in->seed = copy_le(data + 10, 8);
	in->desc = data + COPY_INPUT_HEADER;
	in->ndesc = (size - COPY_INPUT_HEADER) / COPY_INPUT_DESC;
	return true;
}

/* Writes the input for a plan's descriptors (the inverse of parse for a
 * plan built in order); returns its size, 0 if it does not fit. */
static inline size_t copy_input_encode(const struct roof_transfer_plan *p,
				       uint64_t mask, uint64_t seed,
				       uint8_t *out, size_t room)
{
	size_t n = COPY_INPUT_HEADER;
	if (room < n || p->native_size < 64)
		return 0;
	uint64_t hdr[3] = {p->native_size - 64, mask, seed};
	unsigned widths[3] = {2, 8, 8};
	for (unsigned f = 0, at = 0; f < 3; at += widths[f], f++)
		for (unsigned i = 0; i < widths[f]; i++)
			out[at + i] = (uint8_t)(hdr[f] >> (8 * i));
	for (unsigned g = 0; g < ROOF_GB_LIMIT; g++) {
		for (unsigned d = 0; d < p->count[g]; d++) {
			const struct roof_copy_desc *c = &p->desc[p->first[g] + d];
			uint64_t f[4] = {g, c->native_off, c->state_off, c->len};
			if (n + COPY_INPUT_DESC > room || c->native_off > 0xffff ||
			    c->state_off > 0xffff || c->len > 0xffff)
				return 0;
			out[n++] = (uint8_t)f[0];
			for (unsigned k = 1; k < 4; k++, n += 2) {
				out[n] = (uint8_t)f[k];
				out[n + 1] = (uint8_t)(f[k] >> 8);
			}
		}
	}
	return n;
}

/* transfer_plan.h's rules for roof_plan_add, restated: `last` is the group
 * of the descriptor added before (or -1). */
static inline bool copy_plan_should_take(const struct roof_transfer_plan *p,
					 int last, unsigned g, uint32_t noff,
					 uint32_t soff, uint32_t len)
{
	if (g >= ROOF_GB_LIMIT || len == 0 || p->ndesc >= ROOF_PLAN_MAX_DESC)
		return false;
	if ((uint64_t)noff + len > p->native_size ||
	    (uint64_t)soff + len > sizeof(roof_state))
		return false;
	if (p->copyable & (1ull << g))
		return last == (int)g && p->count[g] < 255;
	return true;
}

/* A mask: random bits, all copyable groups, none, one, or bits above the
 * groups (which the routines must ignore). */
static inline uint64_t copy_random_mask(uint64_t *s,
					const struct roof_transfer_plan *p)
{
	switch (rng_below(s, 8)) {
	case 0: return p->copyable;
	case 1: return ~0ull;
	case 2: return 0;
	case 3: return 1ull << rng_below(s, 64);
	case 4: return rng_next(s) & p->copyable;
	default: return rng_next(s);
	}
}

/* Bytes the mask's groups hold: what both routines must return. */
static inline uint64_t copy_expected_bytes(const struct roof_transfer_plan *p,
					   uint64_t mask)
{
	uint64_t n = 0;
	mask &= p->copyable;
	for (unsigned g = 0; g < ROOF_GB_LIMIT; g++)
		if (mask & (1ull << g))
			n += p->group_bytes[g];
	return n;
}

/* Fresh random sources and backgrounds (the destinations start equal). */
static inline void copy_bench_randomize(struct copy_bench *b, uint64_t *s)
{
	rng_fill(s, b->native_src, b->native_size);
	rng_fill(s, b->state_src, sizeof(roof_state));
	rng_fill(s, b->native_c, b->native_size);
	memcpy(b->native_asm, b->native_c, b->native_size);
	rng_fill(s, b->state_c, sizeof(roof_state));
	memcpy(b->state_asm, b->state_c, sizeof(roof_state));
}

/* A new random state between cases: 16 random words land at random
 * places of the sources (a full refill per case would cost more than the
 * copies under test). */
static inline void copy_bench_mutate(struct copy_bench *b, uint64_t *s)
{
	for (int i = 0; i < 16; i++) {
		uint64_t v = rng_next(s);
		uint32_t so = rng_below(s, (uint32_t)sizeof(roof_state) - 7);
		uint32_t no = rng_below(s, b->native_size - 7);
		memcpy(b->state_src + so, &v, 8);
		memcpy(b->native_src + no, &v, 8);
	}
}

/* Counts of a run of random cases. */
struct copy_run {
	uint64_t plans, descs, refused;
};

/* Prepares random case i of a run: a new plan on fresh buffers every
 * per_plan cases, a mutated state in between. Returns the case's mask. */
static inline uint64_t copy_next_case(struct copy_bench *b,
				      struct roof_transfer_plan *p, uint64_t *s,
				      uint64_t i, unsigned per_plan,
				      struct copy_run *run)
{
	if (i % per_plan == 0) {
		copy_bench_native(b, 64 + rng_below(s, COPY_NATIVE_MAX - 63));
		run->refused += copy_random_plan(p, s, b->native_size);
		copy_bench_randomize(b, s);
		run->plans++;
		run->descs += p->ndesc;
	} else {
		copy_bench_mutate(b, s);
	}
	return copy_random_mask(s, p);
}

/* Describes the first differing byte of two buffers. */
static inline void copy_first_diff(char *why, size_t size, const char *what,
				   const uint8_t *c, const uint8_t *a, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (c[i] != a[i]) {
			snprintf(why, size, "%s differs at byte %zu: C 0x%02x, "
				 "nasm 0x%02x", what, i, c[i], a[i]);
			return;
		}
	}
}

/*
 * One case in both directions. The destinations keep what the copies
 * wrote (both agree, or the case fails), so consecutive cases run on
 * fresh backgrounds without a refill. Returns true when C and nasm agree;
 * otherwise `why` says where they first differ.
 */
static inline bool copy_diff_case(struct copy_bench *b,
				  const struct roof_transfer_plan *p,
				  uint64_t mask, char *why, size_t why_size)
{
	uint64_t want = copy_expected_bytes(p, mask);
	roof_state *sc = (roof_state *)(void *)b->state_c;
	roof_state *sa = (roof_state *)(void *)b->state_asm;
	const roof_state *ss = (const roof_state *)(const void *)b->state_src;
	b->cases++;
	uint64_t nc = roof_gather_c(p, mask, b->native_src, sc);
	uint64_t na = roof_gather_asm(p, mask, b->native_src, sa);
	if (nc != want || na != want) {
		snprintf(why, why_size, "gather returned C %llu, nasm %llu bytes; "
			 "the mask's groups hold %llu", (unsigned long long)nc,
			 (unsigned long long)na, (unsigned long long)want);
		return false;
	}
	if (memcmp(b->state_c, b->state_asm, sizeof(roof_state)) != 0) {
		copy_first_diff(why, why_size, "gather: state", b->state_c,
				b->state_asm, sizeof(roof_state));
		return false;
	}
	nc = roof_scatter_c(p, mask, ss, b->native_c);
	na = roof_scatter_asm(p, mask, ss, b->native_asm);
	if (nc != want || na != want) {
		snprintf(why, why_size, "scatter returned C %llu, nasm %llu bytes; "
			 "the mask's groups hold %llu", (unsigned long long)nc,
			 (unsigned long long)na, (unsigned long long)want);
		return false;
	}
	if (memcmp(b->native_c, b->native_asm, b->native_size) != 0) {
		copy_first_diff(why, why_size, "scatter: native", b->native_c,
				b->native_asm, b->native_size);
		return false;
	}
	b->bytes += 2 * want;
	return true;
}

#endif
