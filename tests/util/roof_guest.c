/* roof_guest.c - see roof_guest.h. Freestanding. */
#include "roof_guest.h"
#include "roof_text.h"

const uint64_t roof_test_patterns[16] = {
	0x0101010101010101ull, 0x0202020202020202ull, 0x0303030303030303ull,
	0x0404040404040404ull, 0x0505050505050505ull, 0x0606060606060606ull,
	0x0707070707070707ull, 0x0808080808080808ull, 0x0909090909090909ull,
	0x0a0a0a0a0a0a0a0aull, 0x0b0b0b0b0b0b0b0bull, 0x0c0c0c0c0c0c0c0cull,
	0x0d0d0d0d0d0d0d0dull, 0x0e0e0e0e0e0e0e0eull, 0x0f0f0f0f0f0f0f0full,
	0x1010101010101010ull,
};

static const char *const gpr_names[16] = {
	"rax", "rcx", "rdx", "rbx", "rsp", "rbp", "rsi", "rdi",
	"r8",  "r9",  "r10", "r11", "r12", "r13", "r14", "r15",
};

const char *roof_test_gpr_name(unsigned i)
{
	return i < 16 ? gpr_names[i] : "?";
}

unsigned roof_test_read_gprs(roof_state *s, uint64_t out[16], uint64_t groups)
{
	unsigned n = groups & ROOF_G_R8_R15 ? 16 : 8;
	for (unsigned i = 0; i < n; i++)
		out[i] = roof_get_gpr(s, i);
	return n;
}

unsigned roof_test_check_gprs(roof_state *s, uint64_t groups,
			      const uint64_t want[16], char *report,
			      size_t size)
{
	uint64_t got[16];
	unsigned n_gprs = roof_test_read_gprs(s, got, groups), bad = 0;
	struct roof_text t;
	roof_text_append_to(&t, report, size);
	for (unsigned i = 0; i < n_gprs; i++) {
		if (got[i] == want[i])
			continue;
		bad++;
		roof_text_put(&t, roof_test_gpr_name(i));
		roof_text_char(&t, '=');
		roof_text_hex(&t, got[i]);
		roof_text_put(&t, " (want ");
		roof_text_hex(&t, want[i]);
		roof_text_put(&t, ") ");
	}
	return bad;
}

/* Page tables: PML4 0x1000 -> PDPT 0x2000 -> PD 0x3000, 2 MiB pages.
 * Entry bits (SDM Vol. 3A, 4.5): P 1, RW 2, PS 0x80. */
#define PT_PML4 0x1000u
#define PT_PDPT 0x2000u
#define PT_PD 0x3000u
_Static_assert(PT_PD + 0x1000 == ROOF_TEST_PT_END, "page-table end");

void roof_test_build_page_tables(void *ram)
{
	uint64_t *pml4 = (uint64_t *)((uint8_t *)ram + PT_PML4);
	uint64_t *pdpt = (uint64_t *)((uint8_t *)ram + PT_PDPT);
	uint64_t *pd = (uint64_t *)((uint8_t *)ram + PT_PD);
	pml4[0] = PT_PDPT | 3;
	pdpt[0] = PT_PD | 3;
	for (uint64_t i = 0; i < 512; i++)
		pd[i] = (i << 21) | 0x83;
}

uint64_t roof_test_long_mode_mask(void)
{
	return ROOF_G_ALL;
}

void roof_test_set_long_mode(roof_state *s, uint64_t rip, uint64_t rdi)
{
	/* ar in the AMD/NOVA 16-bit format (roof_state.h) */
	struct roof_segment code = {0x08, 0xa9b, 0xffffffff, 0};
	struct roof_segment data = {0x10, 0xc93, 0xffffffff, 0};
	struct roof_segment tr = {0x18, 0x08b, 0x67, 0};
	struct roof_segment ldtr = {0, 0x1000, 0, 0};
	roof_set_cs(s, code);
	roof_set_ss(s, data);
	roof_set_ds(s, data);
	roof_set_es(s, data);
	roof_set_fs(s, data);
	roof_set_gs(s, data);
	roof_set_tr(s, tr);
	roof_set_ldtr(s, ldtr);
	roof_set_gdtr(s, (struct roof_dtr){0x1f, 0, 0x4000});
	roof_set_idtr(s, (struct roof_dtr){0, 0, 0});
	roof_set_cr3(s, PT_PML4);
	roof_set_cr4(s, 0x620);        /* PAE, OSFXSR, OSXMMEXCPT */
	roof_set_efer(s, 0x500);       /* LME, LMA */
	roof_set_cr0(s, 0x80050033);   /* PG, AM, WP, NE, ET, MP, PE */
	roof_set_ip(s, rip);
	roof_set_flags(s, 2);
	roof_set_di(s, rdi);
}

void roof_test_set_real_mode(roof_state *s)
{
	struct roof_segment data = {0, 0x93, 0xffff, 0};
	roof_set_flags(s, 2);
	roof_set_ip(s, 0xfff0);
	roof_set_cr0(s, 0x10);
	roof_set_cs(s, (struct roof_segment){0xf000, 0x93, 0xffff, 0xffff0000});
	roof_set_ss(s, data);
	roof_set_es(s, data);
	roof_set_ds(s, data);
	roof_set_fs(s, data);
	roof_set_gs(s, data);
	roof_set_tr(s, (struct roof_segment){0, 0x8b, 0xffff, 0});
	roof_set_ldtr(s, (struct roof_segment){0, 0x1000, 0xffff, 0});
	roof_set_gdtr(s, (struct roof_dtr){0xffff, 0, 0});
	roof_set_idtr(s, (struct roof_dtr){0xffff, 0, 0});
}
