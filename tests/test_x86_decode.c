/*
 * test_x86_decode.c - the freestanding x86 decoder (mov forms, port I/O)
 * and the software page walk that the model kernels' clients use to
 * emulate MMIO. Encodings from the Intel SDM Vol. 2 instruction pages;
 * each case was assembled with nasm and is listed with its source.
 */
#include <string.h>

#include "roof_test.h"
#include "x86_decode.h"
#include "x86_paging.h"

static struct x86_insn dec(const uint8_t *b, unsigned n, enum x86_mode m)
{
	struct x86_insn i;
	if (x86_decode(b, n, m, &i) != 0)
		fail_msg("decode failed");
	return i;
}

static void test_mov_forms_64(void **state)
{
	(void)state;
	/* mov rax, [abs 0x10000000] = 48 8b 04 25 00 00 00 10 */
	const uint8_t a[] = {0x48, 0x8b, 0x04, 0x25, 0x00, 0x00, 0x00, 0x10};
	struct x86_insn i = dec(a, sizeof a, X86_MODE64);
	assert_int_equal(i.len, 8);
	assert_int_equal(i.kind, X86_MOV_LOAD);
	assert_int_equal(i.size, 8);
	assert_int_equal(i.reg, 0);
	assert_int_equal(i.base, X86_NO_REG);
	assert_int_equal(i.index, X86_NO_REG);
	uint64_t gpr[16] = {0};
	assert_int_equal(x86_operand_offset(&i, gpr, 0), 0x10000000);

	/* mov [rbx + rsi*4 + 0x10], r9d = 44 89 4c b3 10 */
	const uint8_t b[] = {0x44, 0x89, 0x4c, 0xb3, 0x10};
	i = dec(b, sizeof b, X86_MODE64);
	assert_int_equal(i.len, 5);
	assert_int_equal(i.kind, X86_MOV_STORE);
	assert_int_equal(i.size, 4);
	assert_int_equal(i.reg, 9);
	assert_int_equal(i.base, 3);
	assert_int_equal(i.index, 6);
	assert_int_equal(i.scale, 4);
	gpr[3] = 0x1000;
	gpr[6] = 0x20;
	assert_int_equal(x86_operand_offset(&i, gpr, 0), 0x1000 + 0x80 + 0x10);

	/* mov byte [rip + 0x100], 0x7f = c6 05 00 01 00 00 7f */
	const uint8_t c[] = {0xc6, 0x05, 0x00, 0x01, 0x00, 0x00, 0x7f};
	i = dec(c, sizeof c, X86_MODE64);
	assert_int_equal(i.len, 7);
	assert_true(i.rip_relative);
	assert_int_equal(i.reg, X86_NO_REG);
	assert_int_equal(i.imm, 0x7f);
	assert_int_equal(x86_operand_offset(&i, gpr, 0x5000), 0x5100);

	/* mov qword [r13], -1 (imm32 sign-extended) = 49 c7 45 00 ff ff ff ff */
	const uint8_t d[] = {0x49, 0xc7, 0x45, 0x00, 0xff, 0xff, 0xff, 0xff};
	i = dec(d, sizeof d, X86_MODE64);
	assert_int_equal(i.len, 8);
	assert_int_equal(i.size, 8);
	assert_int_equal(i.base, 13);
	assert_int_equal(i.imm, ~0ull);
	assert_int_equal(i.seg, X86_DS); /* r13, unlike rbp, is not ss-based */

	/* movzx eax, word [rdi] = 0f b7 07; movsx rcx, byte [rdi] = 48 0f be 0f */
	const uint8_t e[] = {0x0f, 0xb7, 0x07};
	i = dec(e, sizeof e, X86_MODE64);
	assert_int_equal(i.kind, X86_MOV_LOAD);
	assert_int_equal(i.size, 2);
	assert_int_equal(i.reg_size, 4);
	assert_int_equal(x86_load_value(&i, 0xffff8001), 0x8001);
	const uint8_t f[] = {0x48, 0x0f, 0xbe, 0x0f};
	i = dec(f, sizeof f, X86_MODE64);
	assert_true(i.sign_extend);
	assert_int_equal(i.reg, 1);
	assert_int_equal(x86_load_value(&i, 0x80), 0xffffffffffffff80ull);

	/* mov ah, [rax] = 8a 20: high byte register without REX */
	const uint8_t g[] = {0x8a, 0x20};
	i = dec(g, sizeof g, X86_MODE64);
	assert_true(i.high8);
	assert_int_equal(i.reg, 0);
	/* with a REX prefix the same encoding names spl: 40 8a 20 */
	const uint8_t h[] = {0x40, 0x8a, 0x20};
	i = dec(h, sizeof h, X86_MODE64);
	assert_false(i.high8);
	assert_int_equal(i.reg, 4);

	/* mov fs:[rax], ebx = 64 89 18 */
	const uint8_t j[] = {0x64, 0x89, 0x18};
	i = dec(j, sizeof j, X86_MODE64);
	assert_int_equal(i.seg, X86_FS);
	assert_int_equal(i.len, 3);
}

static void test_mov_forms_16_32(void **state)
{
	(void)state;
	/* 16-bit: mov [bp+di+4], ax = 89 43 04; default segment ss */
	const uint8_t a[] = {0x89, 0x43, 0x04};
	struct x86_insn i = dec(a, sizeof a, X86_MODE16);
	assert_int_equal(i.len, 3);
	assert_int_equal(i.size, 2);
	assert_int_equal(i.base, 5);
	assert_int_equal(i.index, 7);
	assert_int_equal(i.seg, X86_SS);
	uint64_t gpr[16] = {0};
	gpr[5] = 0xfff0;
	gpr[7] = 0x20;
	/* 16-bit address arithmetic wraps */
	assert_int_equal(x86_operand_offset(&i, gpr, 0), (0xfff0 + 0x20 + 4) & 0xffff);

	/* 32-bit: mov eax, [0x1234] (moffs) = a1 34 12 00 00 */
	const uint8_t b[] = {0xa1, 0x34, 0x12, 0x00, 0x00};
	i = dec(b, sizeof b, X86_MODE32);
	assert_int_equal(i.len, 5);
	assert_int_equal(i.kind, X86_MOV_LOAD);
	assert_int_equal(x86_operand_offset(&i, gpr, 0), 0x1234);
	/* 32-bit: [disp32] is absolute, not rip-relative: 8b 05 78 56 34 12
	 * (the ModR/M form of mov eax, [0x12345678]; nasm emits moffs a1) */
	const uint8_t c[] = {0x8b, 0x05, 0x78, 0x56, 0x34, 0x12};
	i = dec(c, sizeof c, X86_MODE32);
	assert_false(i.rip_relative);
	assert_int_equal(x86_operand_offset(&i, gpr, 0x9999), 0x12345678);
	/* 32-bit with 66: mov word [ecx], 0xbeef = 66 c7 01 ef be */
	const uint8_t d[] = {0x66, 0xc7, 0x01, 0xef, 0xbe};
	i = dec(d, sizeof d, X86_MODE32);
	assert_int_equal(i.len, 5);
	assert_int_equal(i.size, 2);
	assert_int_equal(i.imm, 0xbeef);
}

static void test_port_io(void **state)
{
	(void)state;
	const uint8_t a[] = {0xe6, 0x10};       /* out 0x10, al */
	struct x86_insn i = dec(a, sizeof a, X86_MODE64);
	assert_int_equal(i.kind, X86_OUT);
	assert_int_equal(i.len, 2);
	assert_int_equal(i.imm, 0x10);
	assert_false(i.port_in_dx);
	const uint8_t b[] = {0x66, 0xed};       /* in ax, dx */
	i = dec(b, sizeof b, X86_MODE64);
	assert_int_equal(i.kind, X86_IN);
	assert_int_equal(i.size, 2);
	assert_true(i.port_in_dx);
	assert_int_equal(i.len, 2);
	const uint8_t c[] = {0xed};             /* in eax, dx (16-bit: ax) */
	i = dec(c, sizeof c, X86_MODE16);
	assert_int_equal(i.size, 2);
	const uint8_t d[] = {0xf3, 0x6e};       /* rep outsb */
	i = dec(d, sizeof d, X86_MODE32);
	assert_int_equal(i.kind, X86_OUTS);
	assert_true(i.rep);
}

static void test_register_merge(void **state)
{
	(void)state;
	uint64_t gpr[16] = {0x1111222233334444ull};
	x86_reg_write(gpr, 0, 1, false, 0xab, X86_MODE64);
	assert_int_equal(gpr[0], 0x11112222333344abull);
	x86_reg_write(gpr, 0, 1, true, 0xcd, X86_MODE64);   /* ah */
	assert_int_equal(gpr[0], 0x111122223333cdabull);
	x86_reg_write(gpr, 0, 2, false, 0xbeef, X86_MODE64);
	assert_int_equal(gpr[0], 0x111122223333beefull);
	x86_reg_write(gpr, 0, 4, false, 0xcafebabe, X86_MODE64); /* zero-ext */
	assert_int_equal(gpr[0], 0xcafebabeull);
	gpr[0] = 0x1111222233334444ull;
	x86_reg_write(gpr, 0, 4, false, 0xcafebabe, X86_MODE32);
	assert_int_equal(gpr[0], 0x11112222cafebabeull);
}

static void test_rejects(void **state)
{
	(void)state;
	struct x86_insn i;
	const uint8_t reg_direct[] = {0x89, 0xd8};  /* mov eax, ebx */
	assert_int_equal(x86_decode(reg_direct, 2, X86_MODE64, &i), -1);
	const uint8_t truncated[] = {0x48, 0x8b, 0x04};
	assert_int_equal(x86_decode(truncated, 3, X86_MODE64, &i), -1);
	const uint8_t other[] = {0x0f, 0xa2};       /* cpuid */
	assert_int_equal(x86_decode(other, 2, X86_MODE64, &i), -1);
	const uint8_t c7_not_mov[] = {0xc7, 0x08, 1, 0, 0, 0}; /* /1 */
	assert_int_equal(x86_decode(c7_not_mov, 6, X86_MODE32, &i), -1);
	/* fifteen prefixes and nothing else: no instruction */
	uint8_t prefixes[15];
	memset(prefixes, 0x66, sizeof prefixes);
	assert_int_equal(x86_decode(prefixes, 15, X86_MODE64, &i), -1);
	assert_int_equal(x86_decode(prefixes, 0, X86_MODE64, &i), -1);
}

/* ---- page walk -------------------------------------------------------------- */
static uint8_t mem[0x20000] __attribute__((aligned(4096)));

static const void *guest_mem(void *ctx, uint64_t gpa, uint64_t len)
{
	(void)ctx;
	return gpa + len <= sizeof mem ? mem + gpa : NULL;
}

static void put64(uint64_t gpa, uint64_t v)
{
	memcpy(mem + gpa, &v, 8);
}

static void put32(uint64_t gpa, uint32_t v)
{
	memcpy(mem + gpa, &v, 4);
}

static void test_page_walk(void **state)
{
	(void)state;
	memset(mem, 0, sizeof mem);
	struct x86_paging p = {0, 0, 0, 0, guest_mem, NULL};
	uint64_t gpa;
	/* paging off: linear = physical (32 bits outside long mode) */
	assert_int_equal(x86_translate(&p, 0x1234, &gpa), 0);
	assert_int_equal(gpa, 0x1234);

	/* 4-level: pml4 0x1000 -> pdpt 0x2000 -> pd 0x3000 -> pt 0x4000 */
	p.cr0 = 0x80000001;
	p.cr4 = 0x20;
	p.efer = 0x500;
	p.cr3 = 0x1000;
	put64(0x1000, 0x2000 | 3);
	put64(0x2000, 0x3000 | 3);
	put64(0x3000 + 8 * 1, 0x4000 | 3);         /* 2 MiB..4 MiB: a table */
	put64(0x4000 + 8 * 5, 0x7000 | 3);         /* page 5 of it */
	put64(0x3000 + 8 * 2, 0x600000 | 0x83);    /* 4 MiB: a 2 MiB page */
	assert_int_equal(x86_translate(&p, 0x200000 + 5 * 4096 + 0x123, &gpa), 0);
	assert_int_equal(gpa, 0x7123);
	assert_int_equal(x86_translate(&p, 0x400000 + 0x4567, &gpa), 0);
	assert_int_equal(gpa, 0x604567);
	assert_int_equal(x86_translate(&p, 0x800000, &gpa), -1); /* not present */

	/* PAE: pdpt at cr3 (32-byte aligned), 2 MiB page */
	memset(mem, 0, sizeof mem);
	p.efer = 0;
	p.cr3 = 0x1020;
	put64(0x1020 + 8 * 1, 0x3000 | 1);         /* 1 GiB..2 GiB */
	put64(0x3000, 0x400000 | 0x83);
	assert_int_equal(x86_translate(&p, 0x40000000 + 0x1abc, &gpa), 0);
	assert_int_equal(gpa, 0x401abc);

	/* 32-bit paging: 4 KiB page and a PSE 4 MiB page */
	memset(mem, 0, sizeof mem);
	p.cr4 = 0x10;
	p.cr3 = 0x1000;
	put32(0x1000, 0x2000 | 3);
	put32(0x2000 + 4 * 3, 0x9000 | 3);
	put32(0x1000 + 4 * 1, 0x00c00000 | 0x83);
	assert_int_equal(x86_translate(&p, 3 * 4096 + 0x10, &gpa), 0);
	assert_int_equal(gpa, 0x9010);
	assert_int_equal(x86_translate(&p, 0x400000 + 0x1234, &gpa), 0);
	assert_int_equal(gpa, 0xc01234);

	/* an instruction that crosses a page: the two halves live apart */
	memset(mem, 0, sizeof mem);
	p.cr4 = 0;
	put32(0x1000, 0x2000 | 3);
	put32(0x2000 + 4 * 0, 0x5000 | 3);
	put32(0x2000 + 4 * 1, 0x9000 | 3);
	mem[0x5ffe] = 0x48;
	mem[0x5fff] = 0x8b;
	mem[0x9000] = 0x07;
	uint8_t buf[3];
	assert_int_equal(x86_read_linear(&p, 0xffe, buf, 3), 3);
	assert_int_equal(buf[0], 0x48);
	assert_int_equal(buf[2], 0x07);
	/* unmapped memory stops the read */
	assert_int_equal(x86_read_linear(&p, 0x1ffe, buf, 3), 2);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_mov_forms_64),
		cmocka_unit_test(test_mov_forms_16_32),
		cmocka_unit_test(test_port_io),
		cmocka_unit_test(test_register_merge),
		cmocka_unit_test(test_rejects),
		cmocka_unit_test(test_page_walk),
	};
	return cmocka_run_group_tests_name("x86_decode", tests, NULL, NULL);
}
