/*
 * start.c - the root task's entry points and the four memory routines the
 * freestanding core may call (make check-freestanding: memcpy, memset,
 * memmove, memcmp). NOVA starts the root EC at the ELF entry with rsp at
 * the HIP (src/ec.cpp root_invoke), so _start switches to its own stack at
 * once; a portal call enters rt_portal_entry on the rsp of the
 * entrypoint's last reply (rt.h), which is its stack top. Freestanding.
 */
#include <stddef.h>
#include <stdint.h>

#include "rt.h"

#define BOOT_STACK (32u * 1024)
uint8_t rt_boot_stack[BOOT_STACK] __attribute__((aligned(16)));

__attribute__((noreturn)) void rt_main(void);

__attribute__((naked, noreturn, section(".text.start"))) void _start(void)
{
	__asm__("lea rt_boot_stack+%c0(%%rip), %%rsp\n\t"
		"call rt_main\n\t"
		"ud2" : : "i"(BOOT_STACK));
}

/* rdi = the portal id (pt_ctrl); align for the C ABI */
__attribute__((naked)) void rt_portal_entry(void)
{
	__asm__("and $-16, %rsp\n\t"
		"call rt_portal\n\t"
		"ud2");
}

/* String instructions: gcc must not turn these loops into calls of
 * themselves (the root task is built with -fno-tree-loop-distribute-
 * patterns as well). */
void *memcpy(void *dst, const void *src, size_t n)
{
	void *d = dst;
	__asm__ __volatile__("rep movsb"
			     : "+D"(d), "+S"(src), "+c"(n)
			     :
			     : "memory");
	return dst;
}

void *memset(void *dst, int c, size_t n)
{
	void *d = dst;
	__asm__ __volatile__("rep stosb"
			     : "+D"(d), "+c"(n)
			     : "a"(c)
			     : "memory");
	return dst;
}

void *memmove(void *dst, const void *src, size_t n)
{
	uint8_t *d = dst;
	const uint8_t *s = src;
	if (d <= s || d >= s + n)
		return memcpy(dst, src, n);
	while (n--)
		d[n] = s[n];
	return dst;
}

int memcmp(const void *a, const void *b, size_t n)
{
	const uint8_t *x = a, *y = b;
	for (size_t i = 0; i < n; i++)
		if (x[i] != y[i])
			return x[i] < y[i] ? -1 : 1;
	return 0;
}
