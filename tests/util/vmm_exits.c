/* vmm_exits.c - see vmm_exits.h. Freestanding. */
#include "vmm_exits.h"
#include "roof_text.h"

const struct roof_cpuid_entry roof_exits_policy[ROOF_EXITS_NPOLICY] = {
	{0x40000000, 0, 0x40000001, 0x72656e6f, 0x76666f6f, 0x00006d6d, 0},
	{0x40000001, 7, 1, 2, 3, 4, ROOF_CPUID_SUBLEAF},
};

/* The site's answer, from its handler. */
static const uint32_t site_answer[4] = {0x11, 0x22, 0x33, 0x44};
#define SITE_LEAF 0x40000001u
#define SITE_SUBLEAF 7u
#define READ_VALUE 0x1122334455667788ull   /* an 8-byte MMIO read */
#define READ32_VALUE 0xdeadbeefull         /* the 4-byte one at +0x20 */
#define RDMSR_VALUE 0xfeedface12345678ull

static const char *const sub_names[ROOF_EXITS_SUB_COUNT] = {
	"out", "in8", "in16", "in32", "mmio-read", "mmio-write", "hlt",
	"rdmsr", "wrmsr", "cpuid-kernel", "cpuid-site", "msr-kernel", "loop",
	"mmio-read32", "spin",
};

const char *roof_exits_sub_name(enum roof_exits_sub sub)
{
	return (unsigned)sub < ROOF_EXITS_SUB_COUNT ? sub_names[sub] : "?";
}

static uint64_t low_replaced(unsigned gpr, uint64_t mask, uint64_t value)
{
	return (roof_test_patterns[gpr] & ~mask) | value;
}

void roof_exits_begin(struct roof_exits_vmm *m, enum roof_exits_sub sub)
{
	m->sub = sub;
	m->restart = false;
	__builtin_memset(&m->seen, 0, sizeof m->seen);
	m->mismatch[0] = 0;
	uint64_t *e = m->expect;
	for (unsigned i = 0; i < 16; i++)
		e[i] = roof_test_patterns[i];
	switch (sub) {
	case ROOF_EXITS_OUT:
		if (m->write_regs) {
			e[G_BX] = 0xb0b0b0b0ull;
			e[G_SI] = 0x51515151ull;
			e[G_R12] = 0x1212ull; /* compared where r8-r15 travel */
		}
		break;
	case ROOF_EXITS_IN8:
		e[G_AX] = low_replaced(G_AX, 0xff, 0x5a);
		break;
	case ROOF_EXITS_IN16:
		e[G_AX] = low_replaced(G_AX, 0xffff, 0xbeef);
		e[G_DX] = low_replaced(G_DX, 0xffff, ROOF_EXITS_PORT_IN);
		break;
	case ROOF_EXITS_IN32:
		e[G_AX] = 0xcafebabeull; /* a 32-bit write zero-extends */
		e[G_DX] = low_replaced(G_DX, 0xffff, ROOF_EXITS_PORT_IN);
		break;
	case ROOF_EXITS_MMIO_READ:
		e[G_AX] = READ_VALUE;
		break;
	case ROOF_EXITS_MMIO_READ32:
		e[G_CX] = READ32_VALUE;
		break;
	case ROOF_EXITS_RDMSR:
		e[G_CX] = ROOF_EXITS_VMM_MSR;
		e[G_AX] = RDMSR_VALUE & 0xffffffffull;
		e[G_DX] = RDMSR_VALUE >> 32;
		break;
	case ROOF_EXITS_WRMSR:
		e[G_CX] = ROOF_EXITS_VMM_MSR;
		break;
	case ROOF_EXITS_MSR_KERNEL: /* SYSENTER_ESP written and read back */
		e[G_CX] = 0x175;
		e[G_AX] = 0x11223344ull;
		e[G_DX] = 0xffff8000ull;
		break;
	case ROOF_EXITS_CPUID_KERNEL:
		e[G_AX] = roof_exits_policy[0].eax;
		e[G_BX] = roof_exits_policy[0].ebx;
		e[G_CX] = roof_exits_policy[0].ecx;
		e[G_DX] = roof_exits_policy[0].edx;
		break;
	case ROOF_EXITS_CPUID_SITE:
		e[G_AX] = site_answer[0];
		e[G_BX] = site_answer[1];
		e[G_CX] = site_answer[2];
		e[G_DX] = site_answer[3];
		break;
	default:
		break;
	}
}

void roof_exits_restart(struct roof_exits_vmm *m, enum roof_exits_sub sub)
{
	roof_exits_begin(m, sub);
	m->restart = true;
}

static void note(struct roof_exits_vmm *m, const char *what, uint64_t value)
{
	struct roof_text t;
	roof_text_append_to(&t, m->mismatch, sizeof m->mismatch);
	roof_text_put(&t, what);
	roof_text_hex(&t, value);
	roof_text_put(&t, "; ");
}

static void notify(struct roof_exits_vmm *m, enum roof_exits_event e)
{
	if (m->notify)
		m->notify(m, e);
}

static void check_gprs(struct roof_exits_vmm *m, roof_state *s)
{
	roof_test_check_gprs(s, m->groups, m->expect, m->mismatch,
			     sizeof m->mismatch);
	m->seen.checks++;
}

roof_action roof_exits_on_startup(roof_vcpu *v, roof_state *s, void *p)
{
	(void)v;
	struct roof_exits_vmm *m = p;
	roof_test_set_long_mode(s, ROOF_TEST_GUEST_GPA, (uint64_t)m->sub);
	if (m->stop_at_startup) {
		notify(m, ROOF_EXITS_STARTUP_STOP);
		return ROOF_STOP;
	}
	return ROOF_RESUME;
}

roof_action roof_exits_on_paused(roof_vcpu *v, roof_state *s, void *p)
{
	(void)v;
	struct roof_exits_vmm *m = p;
	if (m->restart) {
		m->restart = false;
		roof_test_set_long_mode(s, ROOF_TEST_GUEST_GPA, (uint64_t)m->sub);
		return ROOF_RESUME;
	}
	/* paused where it was (the spin subtest): registers untouched */
	check_gprs(m, s);
	m->seen.paused_ip = roof_get_ip(s);
	notify(m, ROOF_EXITS_PAUSED_STOP);
	return ROOF_STOP;
}

roof_action roof_exits_on_io(roof_vcpu *v, roof_state *s, void *p)
{
	(void)v;
	struct roof_exits_vmm *m = p;
	struct roof_exit_io *io = &s->info.io;
	switch (io->port) {
	case ROOF_EXITS_PORT_CHECK:
		check_gprs(m, s);
		return ROOF_RESUME;
	case ROOF_EXITS_PORT_DONE:
		notify(m, ROOF_EXITS_DONE);
		return ROOF_STOP;
	case ROOF_EXITS_PORT_IN:
		m->seen.io_exits++;
		m->seen.io_size = io->size;
		io->data = m->sub == ROOF_EXITS_IN8	 ? 0x5a
			   : m->sub == ROOF_EXITS_IN16 ? 0xbeef
						      : 0xcafebabe;
		return ROOF_RESUME;
	case ROOF_EXITS_PORT_EXIT:
		m->seen.io_exits++;
		m->seen.io_data = io->data;
		m->seen.io_size = io->size;
		if (m->write_regs) {
			roof_set_bx(s, 0xb0b0b0b0ull);
			roof_set_si(s, 0x51515151ull);
			if (m->groups & ROOF_G_R8_R15)
				roof_set_r12(s, 0x1212ull);
		}
		return ROOF_RESUME;
	default:
		note(m, "unexpected io port ", io->port);
		return ROOF_STOP;
	}
}

roof_action roof_exits_on_mmio(roof_vcpu *v, roof_state *s, void *p)
{
	(void)v;
	struct roof_exits_vmm *m = p;
	struct roof_exit_mmio *x = &s->info.mmio;
	unsigned n = m->seen.mmio_exits++;
	if (n < 4) {
		m->seen.mmio[n].gpa = x->gpa;
		m->seen.mmio[n].data = x->data;
		m->seen.mmio[n].len = x->len;
		m->seen.mmio[n].dir = x->dir;
	}
	if (x->dir == ROOF_DIR_READ)
		x->data = x->gpa == ROOF_TEST_MMIO_BASE + 0x20 ? READ32_VALUE
							       : READ_VALUE;
	return ROOF_RESUME;
}

roof_action roof_exits_on_hlt(roof_vcpu *v, roof_state *s, void *p)
{
	(void)v;
	struct roof_exits_vmm *m = p;
	uint64_t ip = roof_get_ip(s);
	unsigned n = m->seen.hlts++;
	if (n < 4)
		m->seen.hlt_ip[n] = ip;
	m->seen.hlt_ip_len = roof_get_ip_len(s);
	if (m->hlt_no_advance && n == 0)
		return ROOF_RESUME; /* runs the hlt again */
	roof_set_ip(s, ip + roof_get_ip_len(s));
	return ROOF_RESUME;
}

roof_action roof_exits_on_msr(roof_vcpu *v, roof_state *s, void *p)
{
	(void)v;
	struct roof_exits_vmm *m = p;
	m->seen.msr_exits++;
	m->seen.msr_index = s->info.msr.index;
	if (s->info.msr.index != ROOF_EXITS_VMM_MSR) {
		s->info.msr.fault = 1; /* not the VMM's: #GP, as unhandled */
		return ROOF_RESUME;
	}
	if (s->exit_reason == ROOF_EXIT_MSR_READ)
		s->info.msr.value = RDMSR_VALUE;
	else
		m->seen.msr_value = s->info.msr.value;
	return ROOF_RESUME;
}

roof_action roof_exits_on_cpuid(roof_vcpu *v, roof_state *s, void *p)
{
	(void)v;
	struct roof_exits_vmm *m = p;
	struct roof_exit_cpuid *q = &s->info.cpuid;
	m->seen.cpuid_exits++;
	if (q->leaf != SITE_LEAF) {
		m->seen.other_cpuid_leaf = q->leaf; /* keeps the policy answer */
		return ROOF_RESUME;
	}
	m->seen.cpuid_in = *q;
	q->eax = site_answer[0];
	q->ebx = site_answer[1];
	q->ecx = site_answer[2];
	q->edx = site_answer[3];
	return ROOF_RESUME;
}

uint64_t roof_exits_check_mask(const struct roof_exits_vmm *m)
{
	return (ROOF_G_ACDB | ROOF_G_EBSD | ROOF_G_ESP | ROOF_G_R8_R15) &
	       m->groups;
}

int roof_exits_register(roof_vcpu *v, struct roof_exits_vmm *m,
			uint64_t io_mask, roof_where where)
{
	static const struct {
		roof_exit reason;
		roof_exit_handler fn;
	} h[] = {
		{ROOF_EXIT_MMIO, roof_exits_on_mmio},
		{ROOF_EXIT_HLT, roof_exits_on_hlt},
		{ROOF_EXIT_MSR_READ, roof_exits_on_msr},
		{ROOF_EXIT_MSR_WRITE, roof_exits_on_msr},
		{ROOF_EXIT_CPUID, roof_exits_on_cpuid},
	};
	uint64_t all = roof_test_long_mode_mask() & m->groups;
	int rc = roof_vcpu_on_exit(v, ROOF_EXIT_STARTUP, roof_exits_on_startup,
				   m, all, where);
	if (!rc)
		rc = roof_vcpu_on_exit(v, ROOF_EXIT_PAUSED, roof_exits_on_paused,
				       m, all, where);
	if (!rc)
		rc = roof_vcpu_on_exit(v, ROOF_EXIT_IO, roof_exits_on_io, m,
				       io_mask, where);
	for (unsigned i = 0; !rc && i < sizeof h / sizeof h[0]; i++)
		rc = roof_vcpu_on_exit(v, h[i].reason, h[i].fn, m,
				       ROOF_MASK_DEFAULT, where);
	return rc;
}

/* ---- the verdict ------------------------------------------------------- */
struct verdict {
	struct roof_text t;
	bool ok;
};

static void expect_eq(struct verdict *d, const char *what, uint64_t got,
		      uint64_t want)
{
	if (got == want)
		return;
	d->ok = false;
	roof_text_put(&d->t, what);
	roof_text_put(&d->t, " ");
	roof_text_hex(&d->t, got);
	roof_text_put(&d->t, " (want ");
	roof_text_hex(&d->t, want);
	roof_text_put(&d->t, "); ");
}

/* ip must lie inside the guest's code */
static void expect_in_guest(struct verdict *d, const char *what, uint64_t ip)
{
	if (ip > ROOF_TEST_GUEST_GPA)
		return;
	d->ok = false;
	roof_text_put(&d->t, what);
	roof_text_put(&d->t, " ");
	roof_text_hex(&d->t, ip);
	roof_text_put(&d->t, " is not in the guest; ");
}

static void expect_mmio(struct verdict *d, const struct roof_exits_vmm *m,
			unsigned i, uint64_t gpa, uint8_t len, uint8_t dir)
{
	expect_eq(d, "mmio gpa", m->seen.mmio[i].gpa, gpa);
	expect_eq(d, "mmio len", m->seen.mmio[i].len, len);
	expect_eq(d, "mmio dir", m->seen.mmio[i].dir, dir);
}

bool roof_exits_verdict(const struct roof_exits_vmm *m, char *why,
			size_t size)
{
	struct verdict d = {{0, 0, 0}, true};
	roof_text_init(&d.t, why, size);
	const struct roof_exits_seen *e = &m->seen;
	if (m->mismatch[0]) {
		d.ok = false;
		roof_text_put(&d.t, m->mismatch);
	}
	bool loop = m->sub == ROOF_EXITS_LOOP;
	expect_eq(&d, "check exits", e->checks, loop ? 0 : 1);
	switch (m->sub) {
	case ROOF_EXITS_OUT:
		expect_eq(&d, "io exits", e->io_exits, 1);
		expect_eq(&d, "io size", e->io_size, 1);
		expect_eq(&d, "io data", e->io_data, roof_test_patterns[G_AX] & 0xff);
		break;
	case ROOF_EXITS_IN8:
	case ROOF_EXITS_IN16:
	case ROOF_EXITS_IN32:
		expect_eq(&d, "io exits", e->io_exits, 1);
		expect_eq(&d, "io size", e->io_size,
			  m->sub == ROOF_EXITS_IN8 ? 1 : m->sub == ROOF_EXITS_IN16
							 ? 2 : 4);
		break;
	case ROOF_EXITS_MMIO_READ:
		expect_eq(&d, "mmio exits", e->mmio_exits, 1);
		expect_mmio(&d, m, 0, ROOF_TEST_MMIO_BASE, 8, ROOF_DIR_READ);
		break;
	case ROOF_EXITS_MMIO_READ32:
		expect_eq(&d, "mmio exits", e->mmio_exits, 1);
		expect_mmio(&d, m, 0, ROOF_TEST_MMIO_BASE + 0x20, 4,
			    ROOF_DIR_READ);
		break;
	case ROOF_EXITS_MMIO_WRITE:
		expect_eq(&d, "mmio exits", e->mmio_exits, 2);
		expect_mmio(&d, m, 0, ROOF_TEST_MMIO_BASE + 8, 8, ROOF_DIR_WRITE);
		expect_eq(&d, "mmio data", e->mmio[0].data,
			  roof_test_patterns[G_BX]);
		expect_mmio(&d, m, 1, ROOF_TEST_MMIO_BASE + 0x10, 4,
			    ROOF_DIR_WRITE);
		expect_eq(&d, "mmio data", e->mmio[1].data,
			  roof_test_patterns[G_CX] & 0xffffffffull);
		break;
	case ROOF_EXITS_HLT:
		expect_eq(&d, "hlt exits", e->hlts, m->hlt_no_advance ? 2 : 1);
		expect_eq(&d, "hlt ip_len", e->hlt_ip_len, 1);
		expect_in_guest(&d, "hlt ip", e->hlt_ip[0]);
		if (m->hlt_no_advance) /* HLT does not advance ip */
			expect_eq(&d, "second hlt ip", e->hlt_ip[1],
				  e->hlt_ip[0]);
		break;
	case ROOF_EXITS_RDMSR:
	case ROOF_EXITS_WRMSR:
		expect_eq(&d, "msr exits", e->msr_exits, 1);
		expect_eq(&d, "msr index", e->msr_index, ROOF_EXITS_VMM_MSR);
		if (m->sub == ROOF_EXITS_WRMSR)
			expect_eq(&d, "msr value", e->msr_value,
				  (roof_test_patterns[G_DX] & 0xffffffffull) << 32 |
					  (roof_test_patterns[G_AX] &
					   0xffffffffull));
		break;
	case ROOF_EXITS_MSR_KERNEL:
		/* a kernel MSR: the VMM may see it only as its own index */
		if (e->msr_exits)
			expect_eq(&d, "msr index", e->msr_index, 0x175);
		break;
	case ROOF_EXITS_CPUID_KERNEL:
		/* answered from the policy, in the kernel or by the VMM's
		 * default; never the site's handler */
		if (e->cpuid_exits)
			expect_eq(&d, "cpuid leaf", e->other_cpuid_leaf,
				  roof_exits_policy[0].leaf);
		expect_eq(&d, "site cpuid exits", e->cpuid_in.leaf, 0);
		break;
	case ROOF_EXITS_CPUID_SITE:
		expect_eq(&d, "cpuid exits", e->cpuid_exits, 1);
		expect_eq(&d, "cpuid leaf", e->cpuid_in.leaf, SITE_LEAF);
		expect_eq(&d, "cpuid subleaf", e->cpuid_in.subleaf, SITE_SUBLEAF);
		/* prefilled with the policy's answer */
		expect_eq(&d, "cpuid eax in", e->cpuid_in.eax,
			  roof_exits_policy[1].eax);
		expect_eq(&d, "cpuid edx in", e->cpuid_in.edx,
			  roof_exits_policy[1].edx);
		break;
	case ROOF_EXITS_LOOP:
		expect_eq(&d, "io exits", e->io_exits, ROOF_EXITS_LOOP_COUNT);
		expect_eq(&d, "mmio exits", e->mmio_exits,
			  2 * ROOF_EXITS_LOOP_COUNT);
		expect_eq(&d, "hlt exits", e->hlts, ROOF_EXITS_LOOP_COUNT);
		break;
	case ROOF_EXITS_SPIN:
		expect_in_guest(&d, "paused ip", e->paused_ip);
		break;
	default:
		break;
	}
	return d.ok;
}
