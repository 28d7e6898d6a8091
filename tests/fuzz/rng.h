/*
 * rng.h - the small deterministic random generator of the fuzz, soak and
 * differential tests: splitmix64, so any seed gives a full-period sequence
 * and a failing case is reproduced from its seed. Header-only.
 */
#ifndef ROOF_TEST_RNG_H
#define ROOF_TEST_RNG_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

static inline uint64_t rng_next(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

/* Uniform enough in [0, n) for test purposes; 0 when n is 0. */
static inline uint32_t rng_below(uint64_t *s, uint32_t n)
{
	return n ? (uint32_t)(rng_next(s) % n) : 0;
}

static inline void rng_fill(uint64_t *s, uint8_t *p, size_t n)
{
	size_t i = 0;
	for (; i + 8 <= n; i += 8) {
		uint64_t v = rng_next(s);
		memcpy(p + i, &v, 8);
	}
	for (; i < n; i++)
		p[i] = (uint8_t)rng_next(s);
}

#endif
