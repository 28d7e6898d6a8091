/* x86_paging.c - see x86_paging.h. Freestanding. */
#include "x86_paging.h"

#define CR0_PG (1ull << 31)
#define CR4_PSE (1ull << 4)
#define CR4_PAE (1ull << 5)
#define CR4_LA57 (1ull << 12)
#define EFER_LMA (1ull << 10)
#define PTE_P 1ull
#define PTE_PS (1ull << 7)
#define ADDR_MASK 0x000ffffffffff000ull

static int load64(const struct x86_paging *p, uint64_t gpa, uint64_t *v)
{
	const uint8_t *b = p->mem(p->ctx, gpa, 8);
	if (!b)
		return -1;
	uint64_t x = 0;
	for (int i = 7; i >= 0; i--)
		x = (x << 8) | b[i];
	*v = x;
	return 0;
}

static int load32(const struct x86_paging *p, uint64_t gpa, uint32_t *v)
{
	const uint8_t *b = p->mem(p->ctx, gpa, 4);
	if (!b)
		return -1;
	*v = (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 |
	     (uint32_t)b[3] << 24;
	return 0;
}

int x86_translate(const struct x86_paging *p, uint64_t linear, uint64_t *gpa)
{
	if (!(p->cr0 & CR0_PG)) {
		*gpa = (p->efer & EFER_LMA) ? linear : linear & 0xffffffffull;
		return 0;
	}
	if (p->efer & EFER_LMA) {
		if (p->cr4 & CR4_LA57)
			return -1; /* 5-level paging: not modelled */
		uint64_t table = p->cr3 & ADDR_MASK, e;
		for (int level = 4; level >= 1; level--) {
			unsigned idx = (unsigned)(linear >> (12 + 9 * (level - 1))) &
				       511u;
			if (load64(p, table + 8ull * idx, &e) || !(e & PTE_P))
				return -1;
			if (level <= 3 && level >= 2 && (e & PTE_PS)) {
				uint64_t span = 1ull << (12 + 9 * (level - 1));
				*gpa = (e & ADDR_MASK & ~(span - 1)) |
				       (linear & (span - 1));
				return 0;
			}
			table = e & ADDR_MASK;
		}
		*gpa = table | (linear & 0xfffu);
		return 0;
	}
	linear &= 0xffffffffull;
	if (p->cr4 & CR4_PAE) {
		uint64_t e;
		if (load64(p, (p->cr3 & 0xffffffe0ull) + 8ull * (linear >> 30), &e) ||
		    !(e & PTE_P))
			return -1;
		uint64_t table = e & ADDR_MASK;
		if (load64(p, table + 8ull * ((linear >> 21) & 511u), &e) ||
		    !(e & PTE_P))
			return -1;
		if (e & PTE_PS) {
			*gpa = (e & ADDR_MASK & ~0x1fffffull) | (linear & 0x1fffffu);
			return 0;
		}
		table = e & ADDR_MASK;
		if (load64(p, table + 8ull * ((linear >> 12) & 511u), &e) ||
		    !(e & PTE_P))
			return -1;
		*gpa = (e & ADDR_MASK) | (linear & 0xfffu);
		return 0;
	}
	uint32_t pde, pte;
	if (load32(p, (p->cr3 & 0xfffff000ull) + 4ull * (linear >> 22), &pde) ||
	    !(pde & PTE_P))
		return -1;
	if ((pde & PTE_PS) && (p->cr4 & CR4_PSE)) {
		/* 4 MiB page; bits 20:13 hold physical-address bits 39:32 */
		uint64_t hi = (uint64_t)((pde >> 13) & 0xffu) << 32;
		*gpa = hi | (pde & 0xffc00000u) | (linear & 0x3fffffu);
		return 0;
	}
	if (load32(p, (pde & 0xfffff000u) + 4ull * ((linear >> 12) & 1023u),
		   &pte) ||
	    !(pte & PTE_P))
		return -1;
	*gpa = (pte & 0xfffff000u) | (linear & 0xfffu);
	return 0;
}

unsigned x86_read_linear(const struct x86_paging *p, uint64_t linear,
			 uint8_t *dst, unsigned len)
{
	unsigned done = 0;
	while (done < len) {
		uint64_t gpa;
		if (x86_translate(p, linear + done, &gpa))
			break;
		unsigned in_page = 4096u - (unsigned)((linear + done) & 0xfffu);
		unsigned n = len - done < in_page ? len - done : in_page;
		const uint8_t *src = p->mem(p->ctx, gpa, n);
		if (!src)
			break;
		for (unsigned i = 0; i < n; i++)
			dst[done + i] = src[i];
		done += n;
	}
	return done;
}
