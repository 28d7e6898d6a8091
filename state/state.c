/*
 * state.c - names, masks and the miss path of the unified state.
 * Freestanding: no libc.
 */
#include "roof_state.h"
#include "roof_text.h"

static const char *const exit_names[ROOF_EXIT_COUNT] = {
	[ROOF_EXIT_STARTUP] = "STARTUP",
	[ROOF_EXIT_PAUSED] = "PAUSED",
	[ROOF_EXIT_IO] = "IO",
	[ROOF_EXIT_MMIO] = "MMIO",
	[ROOF_EXIT_HLT] = "HLT",
	[ROOF_EXIT_CPUID] = "CPUID",
	[ROOF_EXIT_MSR_READ] = "MSR_READ",
	[ROOF_EXIT_MSR_WRITE] = "MSR_WRITE",
	[ROOF_EXIT_SHUTDOWN] = "SHUTDOWN",
	[ROOF_EXIT_INVALID_STATE] = "INVALID_STATE",
	[ROOF_EXIT_IRQ_WINDOW] = "IRQ_WINDOW",
	[ROOF_EXIT_DEBUG] = "DEBUG",
	[ROOF_EXIT_BACKEND_ERROR] = "BACKEND_ERROR",
};

static const char *const group_names[ROOF_GB_LIMIT] = {
	[ROOF_GB_ACDB] = "ACDB",       [ROOF_GB_EBSD] = "EBSD",
	[ROOF_GB_ESP] = "ESP",         [ROOF_GB_EIP] = "EIP",
	[ROOF_GB_EFL] = "EFL",         [ROOF_GB_ESDS] = "ESDS",
	[ROOF_GB_FSGS] = "FSGS",       [ROOF_GB_CSSS] = "CSSS",
	[ROOF_GB_TR] = "TR",           [ROOF_GB_LDTR] = "LDTR",
	[ROOF_GB_GDTR] = "GDTR",       [ROOF_GB_IDTR] = "IDTR",
	[ROOF_GB_CR] = "CR",           [ROOF_GB_DR] = "DR",
	[ROOF_GB_SYS] = "SYS",         [ROOF_GB_QUAL] = "QUAL",
	[ROOF_GB_CTRL] = "CTRL",       [ROOF_GB_INJ] = "INJ",
	[ROOF_GB_STA] = "STA",         [ROOF_GB_TSC] = "TSC",
	[ROOF_GB_EFER] = "EFER",       [ROOF_GB_PDPTE] = "PDPTE",
	[ROOF_GB_R8_R15] = "R8_R15",   [ROOF_GB_SYSCALL] = "SYSCALL",
	[ROOF_GB_TPR] = "TPR",         [ROOF_GB_TSC_AUX] = "TSC_AUX",
	[ROOF_GB_XSAVE] = "XSAVE",     [ROOF_GB_FPU] = "FPU",
};

/* Where each group lives in roof_state: every group is one contiguous run. */
#define SPAN(first, last)                                                     \
	{(uint32_t)offsetof(roof_state, first),                               \
	 (uint32_t)(offsetof(roof_state, last) +                              \
		    sizeof(((roof_state *)0)->last) -                         \
		    offsetof(roof_state, first))}
static const struct {
	uint32_t off, len;
} group_span[ROOF_GB_LIMIT] = {
	[ROOF_GB_ACDB] = SPAN(ax, bx),        [ROOF_GB_EBSD] = SPAN(bp, di),
	[ROOF_GB_ESP] = SPAN(sp, sp),         [ROOF_GB_EIP] = SPAN(ip, ip_len),
	[ROOF_GB_EFL] = SPAN(flags, flags),   [ROOF_GB_ESDS] = SPAN(es, ds),
	[ROOF_GB_FSGS] = SPAN(fs, gs),        [ROOF_GB_CSSS] = SPAN(cs, ss),
	[ROOF_GB_TR] = SPAN(tr, tr),          [ROOF_GB_LDTR] = SPAN(ldtr, ldtr),
	[ROOF_GB_GDTR] = SPAN(gdtr, gdtr),    [ROOF_GB_IDTR] = SPAN(idtr, idtr),
	[ROOF_GB_CR] = SPAN(cr0, cr4),        [ROOF_GB_DR] = SPAN(dr7, dr7),
	[ROOF_GB_SYS] = SPAN(sysenter_cs, sysenter_ip),
	[ROOF_GB_QUAL] = SPAN(qual_primary, qual_secondary),
	[ROOF_GB_CTRL] = SPAN(ctrl_primary, ctrl_secondary),
	[ROOF_GB_INJ] = SPAN(inj_info, inj_error),
	[ROOF_GB_STA] = SPAN(intr_state, actv_state),
	[ROOF_GB_TSC] = SPAN(tsc, tsc_offset), [ROOF_GB_EFER] = SPAN(efer, efer),
	[ROOF_GB_PDPTE] = SPAN(pdpte, pdpte),  [ROOF_GB_R8_R15] = SPAN(r8, r15),
	[ROOF_GB_SYSCALL] = SPAN(star, kernel_gs_base),
	[ROOF_GB_TPR] = SPAN(tpr, tpr_threshold),
	[ROOF_GB_TSC_AUX] = SPAN(tsc_aux, tsc_aux),
	[ROOF_GB_XSAVE] = SPAN(xcr0, xss),    [ROOF_GB_FPU] = SPAN(fpu, fpu),
};
#undef SPAN

const char *roof_exit_name(roof_exit e)
{
	if ((unsigned)e < ROOF_EXIT_COUNT)
		return exit_names[e];
	return "UNKNOWN";
}

const char *roof_group_name(unsigned bit)
{
	if (bit < ROOF_GB_LIMIT && group_names[bit])
		return group_names[bit];
	return "?";
}

uint32_t roof_group_bytes(unsigned bit)
{
	return bit < ROOF_GB_LIMIT ? group_span[bit].len : 0;
}

uint32_t roof_mask_bytes(uint64_t mask)
{
	/* set bits only: backends call it on every fetch and write-back,
	 * mostly with few groups or none (roof-bench: the 32-step loop was a
	 * tenth of the hlt fast path's VMM time) */
	uint32_t sum = 0;
	for (mask &= ROOF_G_VALID_BITS; mask; mask &= mask - 1)
		sum += group_span[__builtin_ctzll(mask)].len;
	return sum;
}

/* ---- tiny freestanding string helpers ---------------------------------- */
static size_t str_len(const char *s)
{
	size_t n = 0;
	while (s[n])
		n++;
	return n;
}

static bool str_eq_n(const char *a, size_t alen, const char *b)
{
	size_t blen = str_len(b);
	if (alen != blen)
		return false;
	for (size_t i = 0; i < alen; i++) {
		char x = a[i], y = b[i];
		if (x >= 'a' && x <= 'z')
			x = (char)(x - 'a' + 'A');
		if (x != y)
			return false;
	}
	return true;
}

size_t roof_mask_format(uint64_t mask, char *out, size_t size)
{
	struct roof_text b;
	roof_text_init(&b, out, size);
	if (mask == 0) {
		roof_text_put(&b, "0");
		return b.len;
	}
	bool first = true;
	for (unsigned bit = 0; bit < 64; bit++) {
		if (!(mask & (UINT64_C(1) << bit)))
			continue;
		if (!first)
			roof_text_put(&b, "|");
		first = false;
		if (bit < ROOF_GB_LIMIT && group_names[bit]) {
			roof_text_put(&b, group_names[bit]);
		} else {
			roof_text_put(&b, "BIT");
			char d[3] = {(char)('0' + bit / 10), (char)('0' + bit % 10),
				     0};
			roof_text_put(&b, d);
		}
	}
	return b.len;
}

static bool parse_number(const char *s, size_t n, uint64_t *out)
{
	uint64_t v = 0;
	unsigned base = 10;
	size_t i = 0;
	if (n > 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
		base = 16;
		i = 2;
	}
	if (i >= n)
		return false;
	for (; i < n; i++) {
		char c = s[i];
		unsigned d;
		if (c >= '0' && c <= '9')
			d = (unsigned)(c - '0');
		else if (base == 16 && c >= 'a' && c <= 'f')
			d = (unsigned)(c - 'a' + 10);
		else if (base == 16 && c >= 'A' && c <= 'F')
			d = (unsigned)(c - 'A' + 10);
		else
			return false;
		if (v > (UINT64_MAX - d) / base)
			return false;
		v = v * base + d;
	}
	*out = v;
	return true;
}

int roof_mask_parse(const char *text, uint64_t *out)
{
	if (!text || !out)
		return -1;
	uint64_t mask = 0;
	const char *p = text;
	for (;;) {
		const char *start = p;
		while (*p && *p != '|' && *p != ',' && *p != '+')
			p++;
		size_t n = (size_t)(p - start);
		while (n && *start == ' ') {
			start++;
			n--;
		}
		while (n && start[n - 1] == ' ')
			n--;
		if (n == 0)
			return -1;
		uint64_t v;
		bool found = false;
		if (str_eq_n(start, n, "ALL")) {
			v = ROOF_G_ALL;
			found = true;
		} else if (str_eq_n(start, n, "IRQ")) {
			v = ROOF_G_IRQ;
			found = true;
		} else if (str_eq_n(start, n, "EVERYTHING")) {
			v = ROOF_G_EVERYTHING;
			found = true;
		} else if (str_eq_n(start, n, "NONE")) {
			v = 0;
			found = true;
		} else {
			for (unsigned b = 0; b < ROOF_GB_LIMIT && !found; b++) {
				if (group_names[b] &&
				    str_eq_n(start, n, group_names[b])) {
					v = UINT64_C(1) << b;
					found = true;
				}
			}
			if (!found && parse_number(start, n, &v)) {
				if (v & ~ROOF_G_VALID_BITS)
					return -1;
				found = true;
			}
		}
		if (!found)
			return -1;
		mask |= v;
		if (!*p)
			break;
		p++;
	}
	*out = mask;
	return 0;
}

void roof_state_begin_exit(roof_state *s, roof_exit reason, uint64_t delivered)
{
	s->exit_reason = reason;
	s->valid = delivered;
	s->dirty = 0;
	s->touched = 0;
	s->fetch_failed = 0;
	s->info.error = 0;
}

void roof_state_begin_error(roof_state *s, const char *why)
{
	roof_state_begin_exit(s, ROOF_EXIT_BACKEND_ERROR, 0);
	__builtin_memset(&s->info, 0, sizeof s->info);
	s->info.error = why;
}

void roof_state_miss(roof_state *s, uint64_t group, const char *reg)
{
	if (s->mode & ROOF_MODE_CHECK) {
		char msg[256];
		struct roof_text b;
		roof_text_init(&b, msg, sizeof msg);
		char groups[96];
		roof_mask_format(group, groups, sizeof groups);
		roof_text_put(&b, "roof checked mode: handler for exit ");
		roof_text_put(&b, roof_exit_name(s->exit_reason));
		roof_text_put(&b, " accessed register '");
		roof_text_put(&b, reg);
		roof_text_put(&b, "' (group ");
		roof_text_put(&b, groups);
		roof_text_put(&b, ") outside its fetch mask; valid groups ");
		char valid[160];
		roof_mask_format(s->valid, valid, sizeof valid);
		roof_text_put(&b, valid);
		if (s->ops && s->ops->fatal)
			s->ops->fatal(s->ops_ctx, msg);
		__builtin_trap(); /* fatal must not return */
	}
	/* Lazy mode (and learn mode): fetch the group now, never serve stale. */
	s->misses++;
	if (s->ops && s->ops->fetch && s->ops->fetch(s->ops_ctx, s, group) == 0)
		return;
	/* The fetch failed: poison the group rather than serve a stale value,
	 * and record it; the dispatch turns the exit into an error afterwards. */
	for (unsigned bit = 0; bit < ROOF_GB_LIMIT; bit++) {
		if (!(group & (UINT64_C(1) << bit)))
			continue;
		uint8_t *p = (uint8_t *)s + group_span[bit].off;
		for (uint32_t i = 0; i < group_span[bit].len; i++)
			p[i] = ROOF_POISON_BYTE;
	}
	s->valid |= group; /* poisoned, not stale: reads stay consistent */
	s->fetch_failed |= group;
}

int roof_group_span(unsigned bit, uint32_t *off, uint32_t *len)
{
	if (bit >= ROOF_GB_LIMIT || !group_span[bit].len)
		return -1;
	*off = group_span[bit].off;
	*len = group_span[bit].len;
	return 0;
}

size_t roof_format_hex(uint64_t v, char *out, size_t size)
{
	struct roof_text b;
	roof_text_init(&b, out, size);
	roof_text_hex(&b, v);
	return b.len;
}
