/*
 * sel4_client.c - the seL4 VMM client (see sel4_client.h and README.md).
 * Genode's behaviour modelled here is read from repos/base-sel4/src/lib/
 * base/x86/vm.cc (Sel4_vcpu::_read_sel4_state, _write_sel4_state, entry()).
 * Freestanding.
 */
#include "sel4_client.h"
#include "x86_arch.h"

#define FBIT(f) (UINT64_C(1) << (f))
#define SEG_FIELD(seg, part) (SF_SEG + (seg) * 4 + (part))

/* VMX segment order (SDM Vol. 3C, B.1.2): es cs ss ds fs gs ldtr tr. */
enum { VSEG_ES, VSEG_CS, VSEG_SS, VSEG_DS, VSEG_FS, VSEG_GS, VSEG_LDTR,
       VSEG_TR };

/* Control fields only the VMM writes: once known, they stay known across
 * exits (the guest cannot change them, and seL4 returns the owner's values:
 * vcpu.c readVMCSField answers cr0 mask/shadow from the vcpu object). */
#define STICKY_FIELDS                                                       \
	(FBIT(SF_CR0_SHADOW) | FBIT(SF_CR4_SHADOW) | FBIT(SF_CR0_MASK) |     \
	 FBIT(SF_CR4_MASK) | FBIT(SF_CTRL1) | FBIT(SF_ENTRY_ERROR) |         \
	 FBIT(SF_ENTRY_INST_LEN))
/* Not in seL4's ReadVMCS whitelist (vcpu.c decodeReadVMCS): secondary
 * controls (Genode: "no support by seL4 to read this value") and the
 * entry instruction length. */
#define UNREADABLE_FIELDS (FBIT(SF_CTRL1) | FBIT(SF_ENTRY_INST_LEN))
/* Fields a fault return carries in MR0, MR1, MR2, MR7, MR8, MR9. */
#define MR_FIELDS                                                           \
	(FBIT(SF_RIP) | FBIT(SF_CTRL0) | FBIT(SF_ENTRY_INFO) |              \
	 FBIT(SF_RFLAGS) | FBIT(SF_STATE_INTR) | FBIT(SF_CR3))
/* Groups that come from the MRs (GPRs, ip, flags): free to fetch. */
#define MR_GROUPS (ROOF_G_ACDB | ROOF_G_EBSD | ROOF_G_EIP)

#define INTR_VALID (1u << 31)
#define INTR_ERRCODE (1u << 11)
#define EFER_LMA (1u << 10)
#define CR_UPPER 0xffffffff00000000ull

uint32_t sel4_field_encoding(unsigned f)
{
	if (f < SF_GDTR_LIMIT) {
		static const uint32_t first[4] = {VMCS_GUEST_ES_SEL,
						  VMCS_GUEST_ES_LIMIT,
						  VMCS_GUEST_ES_AR,
						  VMCS_GUEST_ES_BASE};
		return first[f % 4] + 2 * (f / 4);
	}
	switch (f) {
	case SF_GDTR_LIMIT: return VMCS_GUEST_GDTR_LIMIT;
	case SF_GDTR_BASE: return VMCS_GUEST_GDTR_BASE;
	case SF_IDTR_LIMIT: return VMCS_GUEST_IDTR_LIMIT;
	case SF_IDTR_BASE: return VMCS_GUEST_IDTR_BASE;
	case SF_RSP: return VMCS_GUEST_RSP;
	case SF_DR7: return VMCS_GUEST_DR7;
	case SF_CR0: return VMCS_GUEST_CR0;
	case SF_CR0_SHADOW: return VMCS_CR0_SHADOW;
	case SF_CR4: return VMCS_GUEST_CR4;
	case SF_CR4_SHADOW: return VMCS_CR4_SHADOW;
	case SF_SYSENTER_CS: return VMCS_GUEST_SYSENTER_CS;
	case SF_SYSENTER_SP: return VMCS_GUEST_SYSENTER_ESP;
	case SF_SYSENTER_IP: return VMCS_GUEST_SYSENTER_EIP;
	case SF_IDT_INFO: return VMCS_IDT_VECTORING_INFO;
	case SF_IDT_ERROR: return VMCS_IDT_VECTORING_ERROR;
	case SF_ENTRY_INFO: return VMCS_ENTRY_INTR_INFO;
	case SF_ENTRY_ERROR: return VMCS_ENTRY_EXC_ERROR;
	case SF_STATE_INTR: return VMCS_GUEST_INTERRUPTIBILITY;
	case SF_STATE_ACTV: return VMCS_GUEST_ACTIVITY;
	case SF_PDPTE0: return VMCS_GUEST_PDPTE0;
	case SF_PDPTE1: return VMCS_GUEST_PDPTE1;
	case SF_PDPTE2: return VMCS_GUEST_PDPTE2;
	case SF_PDPTE3: return VMCS_GUEST_PDPTE3;
	case SF_EFER: return VMCS_GUEST_EFER;
	case SF_CTRL0: return VMCS_PROC_CTLS;
	case SF_CTRL1: return VMCS_PROC_CTLS2;
	case SF_CR0_MASK: return VMCS_CR0_MASK;
	case SF_CR4_MASK: return VMCS_CR4_MASK;
	case SF_RIP: return VMCS_GUEST_RIP;
	case SF_RFLAGS: return VMCS_GUEST_RFLAGS;
	case SF_ENTRY_INST_LEN: return VMCS_ENTRY_INSTR_LEN;
	default: return VMCS_GUEST_CR3;
	}
}

/* ---- error texts (no libc: a tiny string builder) ------------------------------ */
struct text {
	char *p;
	unsigned size, len;
};

static struct text text_begin(struct sel4_client *c)
{
	c->msg[0] = 0;
	return (struct text){c->msg, sizeof c->msg, 0};
}

static void put_str(struct text *t, const char *s)
{
	while (s && *s && t->len + 1 < t->size)
		t->p[t->len++] = *s++;
	t->p[t->len] = 0;
}

static void put_hex(struct text *t, uint64_t v)
{
	char b[24];
	roof_format_hex(v, b, sizeof b);
	put_str(t, b);
}

static int report(struct sel4_client *c, int err)
{
	c->ops->report(c->k, err, c->msg);
	return err;
}

/* ---- the field cache's storage ------------------------------------------------------ */
/* Where the cache keeps field f: the six fields a fault return carries in
 * the MR image itself (mr, whose plan copies them into roof_state), the
 * others in field[]. */
static uint64_t *slot(struct sel4_client *c, unsigned f)
{
	switch (f) {
	case SF_RIP: return &c->mr.eip;
	case SF_CTRL0: return &c->mr.control_ppc;
	case SF_ENTRY_INFO: return &c->mr.interrupt_info;
	case SF_RFLAGS: return &c->mr.rflags;
	case SF_STATE_INTR: return &c->mr.guest_int;
	case SF_CR3: return &c->mr.cr3;
	default: return &c->field[f];
	}
}

/* ---- the system calls, counted where libsel4's stubs would run ------------------ */
static struct roof_stats *counters(struct sel4_client *c)
{
	return &c->v->counters;
}

static int sys_read(struct sel4_client *c, unsigned f)
{
	struct roof_stats *st = counters(c);
	st->crossings++;
	st->vmcs_reads++;
	st->bytes += 2 * sizeof(sel4_word); /* field in, value out */
	struct sel4_read_vmcs_result r = c->ops->read_vmcs(c->k, sel4_field_encoding(f));
	if (r.error) {
		struct text t = text_begin(c);
		put_str(&t, "seL4 ReadVMCS of field ");
		put_hex(&t, sel4_field_encoding(f));
		put_str(&t, " failed: ");
		put_str(&t, c->ops->error(c->k));
		return report(c, ROOF_EKERNEL);
	}
	*slot(c, f) = r.value;
	c->field_valid |= FBIT(f);
	return ROOF_OK;
}

static int sys_write(struct sel4_client *c, unsigned f, uint64_t value)
{
	struct roof_stats *st = counters(c);
	st->crossings++;
	st->vmcs_writes++;
	st->bytes += 2 * sizeof(sel4_word); /* field and value in */
	struct sel4_write_vmcs_result r =
		c->ops->write_vmcs(c->k, sel4_field_encoding(f), value);
	if (r.error) {
		struct text t = text_begin(c);
		put_str(&t, "seL4 WriteVMCS of field ");
		put_hex(&t, sel4_field_encoding(f));
		put_str(&t, " = ");
		put_hex(&t, value);
		put_str(&t, " failed: ");
		put_str(&t, c->ops->error(c->k));
		return report(c, ROOF_EKERNEL);
	}
	/* the reply carries what the kernel wrote (fixed bits applied) */
	*slot(c, f) = r.written;
	c->field_valid |= FBIT(f);
	return ROOF_OK;
}

static int sys_write_registers(struct sel4_client *c,
			       const struct sel4_vcpu_context *regs)
{
	struct roof_stats *st = counters(c);
	st->crossings++;
	st->bytes += sizeof *regs;
	if (c->ops->write_registers(c->k, regs)) {
		struct text t = text_begin(c);
		put_str(&t, "seL4 VCPU WriteRegisters failed: ");
		put_str(&t, c->ops->error(c->k));
		return report(c, ROOF_EKERNEL);
	}
	c->mr.gpr = *regs;
	return ROOF_OK;
}

/* ---- the field cache ---------------------------------------------------------------- */
static bool known(const struct sel4_client *c, unsigned f)
{
	return (c->field_valid & FBIT(f)) != 0;
}

static int field_get(struct sel4_client *c, unsigned f, uint64_t *out)
{
	if (!known(c, f)) {
		if (FBIT(f) & UNREADABLE_FIELDS) {
			struct text t = text_begin(c);
			put_str(&t, "seL4 cannot read VMCS field ");
			put_hex(&t, sel4_field_encoding(f));
			put_str(&t, " (not in ReadVMCS's whitelist, vcpu.c)");
			return report(c, ROOF_ENOSYS);
		}
		int rc = sys_read(c, f);
		if (rc)
			return rc;
	}
	*out = *slot(c, f);
	return ROOF_OK;
}

/* Make field f known (a ReadVMCS if it is not): the plan copies the
 * MR-carried ones from their slots. */
static int field_load(struct sel4_client *c, unsigned f)
{
	uint64_t unused;
	return field_get(c, f, &unused);
}

/* Tuned: skip a write whose value the field already holds. */
static int field_put(struct sel4_client *c, unsigned f, uint64_t value)
{
	if (c->policy == SEL4_POLICY_TUNED && known(c, f) && *slot(c, f) == value)
		return ROOF_OK;
	return sys_write(c, f, value);
}

/* ---- what an exit implies without a read ------------------------------------------------ */
/* Exits caused by executing an instruction (CPUID, HLT, IN/OUT, RDMSR,
 * WRMSR): they cannot occur during event delivery, so the IDT-vectoring
 * information is invalid, and the guest was in the active state (SDM Vol.
 * 3C, "Information for VM Exits During Event Delivery"; HLT exiting leaves
 * before the halt). */
static bool instruction_exit(const struct sel4_client *c)
{
	if (!c->ran)
		return false;
	switch (c->native) {
	case VMX_EXIT_CPUID:
	case VMX_EXIT_HLT:
	case VMX_EXIT_IO:
	case VMX_EXIT_RDMSR:
	case VMX_EXIT_WRMSR:
		return true;
	default:
		return false;
	}
}

/* Genode reads the entry fields on invalid-state and recall exits, the
 * IDT-vectoring fields otherwise (vm.cc, _read_sel4_state). */
static bool entry_side_inj(const struct sel4_client *c)
{
	return c->native == SEL4_VMEXIT_INVALID || c->native == SEL4_VMEXIT_RECALL ||
	       c->native == SEL4_FAULT_REASON_NONE;
}

static bool fault_with_mrs(const struct sel4_client *c)
{
	return c->mrs_valid && c->native != SEL4_VMEXIT_RECALL &&
	       c->native != SEL4_VMEXIT_STARTUP;
}

/* The qualification MRs are delivered after a fault; Genode's client takes
 * them after every return (and the zero MRs at STARTUP). */
static bool qual_from_mrs(const struct sel4_client *c)
{
	return fault_with_mrs(c) || c->policy == SEL4_POLICY_GENODE;
}

/* ---- the transfer plan: the MRs' plain copies ------------------------------------------- */
#define MR_OFF(member) ((uint32_t)offsetof(struct sel4_fault_mrs, member))
#define STATE_OFF(member) ((uint32_t)offsetof(roof_state, member))

/*
 * What the fault MRs carry, as copy descriptors per group. Not planned,
 * converted in C (fill_group, hot_writeback): ip_len (MR5 only after a
 * fault, 0 otherwise, and it goes back as the VM-entry instruction length
 * by WriteVMCS, not into MR5), cr0 cr4 (the guest-visible value from the
 * real value, shadow and mask: 2-3 ReadVMCS each), cr2 (no VMCS field),
 * ctrl_secondary (not readable: the value last written), inj_info/
 * inj_error (the IDT-vectoring or entry fields by ReadVMCS, the irq-window
 * request folded in from the primary controls), actv_state (ReadVMCS, or
 * implied), and every group the MRs do not carry (one ReadVMCS per field).
 * ctrl_primary and intr_state are the low halves of MR1 and MR8 (x86 is
 * little-endian: a 4-byte copy is the (uint32_t) conversion).
 */
int sel4_mr_plan_init(struct roof_transfer_plan *p)
{
	/* the MRs carry eax ebx ecx edx esi edi ebp, roof_state keeps ax cx
	 * dx bx ... bp si di: ecx edx and esi edi are adjacent runs in both */
	_Static_assert(MR_OFF(gpr.edx) == MR_OFF(gpr.ecx) + 8, "MR12, MR13");
	_Static_assert(MR_OFF(gpr.edi) == MR_OFF(gpr.esi) + 8, "MR14, MR15");
	_Static_assert(STATE_OFF(dx) == STATE_OFF(cx) + 8, "cx, dx");
	_Static_assert(STATE_OFF(di) == STATE_OFF(si) + 8, "si, di");
	static const struct {
		uint8_t bit;
		uint16_t mr, state, len;
	} d[] = {
		{ROOF_GB_ACDB, MR_OFF(gpr.eax), STATE_OFF(ax), 8},
		{ROOF_GB_ACDB, MR_OFF(gpr.ecx), STATE_OFF(cx), 2 * 8},
		{ROOF_GB_ACDB, MR_OFF(gpr.ebx), STATE_OFF(bx), 8},
		{ROOF_GB_EBSD, MR_OFF(gpr.esi), STATE_OFF(si), 2 * 8},
		{ROOF_GB_EBSD, MR_OFF(gpr.ebp), STATE_OFF(bp), 8},
		{ROOF_GB_EIP, MR_OFF(eip), STATE_OFF(ip), 8},
		{ROOF_GB_EFL, MR_OFF(rflags), STATE_OFF(flags), 8},
		{ROOF_GB_CR, MR_OFF(cr3), STATE_OFF(cr3), 8},
		{ROOF_GB_QUAL, MR_OFF(qualification), STATE_OFF(qual_primary), 8},
		{ROOF_GB_QUAL, MR_OFF(guest_physical), STATE_OFF(qual_secondary), 8},
		{ROOF_GB_CTRL, MR_OFF(control_ppc), STATE_OFF(ctrl_primary), 4},
		{ROOF_GB_STA, MR_OFF(guest_int), STATE_OFF(intr_state), 4},
	};
	roof_plan_init(p, sizeof(struct sel4_fault_mrs));
	for (unsigned i = 0; i < sizeof d / sizeof d[0]; i++)
		if (roof_plan_add(p, d[i].bit, d[i].mr, d[i].state, d[i].len))
			return -1;
	return 0;
}

/* ---- MRs and fields into the unified state --------------------------------------------- */
static int seg_fill(struct sel4_client *c, unsigned seg, struct roof_segment *out)
{
	uint64_t sel, limit, ar, base;
	int rc;
	if ((rc = field_get(c, SEG_FIELD(seg, SF_PART_SEL), &sel)) ||
	    (rc = field_get(c, SEG_FIELD(seg, SF_PART_LIMIT), &limit)) ||
	    (rc = field_get(c, SEG_FIELD(seg, SF_PART_AR), &ar)) ||
	    (rc = field_get(c, SEG_FIELD(seg, SF_PART_BASE), &base)))
		return rc;
	out->sel = (uint16_t)sel;
	out->limit = (uint32_t)limit;
	out->ar = roof_ar_from_vmx((uint32_t)ar);
	out->base = base;
	return ROOF_OK;
}

static int dtr_fill(struct sel4_client *c, unsigned f_limit, unsigned f_base,
		    struct roof_dtr *out)
{
	uint64_t limit, base;
	int rc;
	if ((rc = field_get(c, f_limit, &limit)) || (rc = field_get(c, f_base, &base)))
		return rc;
	*out = (struct roof_dtr){(uint32_t)limit, 0, base};
	return ROOF_OK;
}

/* Guest-visible cr0/cr4 = (cr & ~mask) | (shadow & mask). Genode uses its
 * constant masks; tuned the masks in force (cached: only the VMM writes
 * them). */
static int visible_cr(struct sel4_client *c, unsigned f_real, unsigned f_shadow,
		      unsigned f_mask, uint64_t genode_mask, uint64_t *out)
{
	uint64_t real, shadow, mask = genode_mask;
	int rc;
	if ((rc = field_get(c, f_real, &real)) ||
	    (rc = field_get(c, f_shadow, &shadow)))
		return rc;
	if (c->policy == SEL4_POLICY_TUNED && (rc = field_get(c, f_mask, &mask)))
		return rc;
	*out = (real & ~mask) | (shadow & mask);
	return ROOF_OK;
}

static int fill_inj(struct sel4_client *c, roof_state *s)
{
	uint64_t info = 0, err = 0;
	int rc;
	bool genode = c->policy == SEL4_POLICY_GENODE;
	if (!genode && instruction_exit(c)) {
		/* implied: no event was being delivered; known until the
		 * guest runs again */
		c->field[SF_IDT_INFO] = c->field[SF_IDT_ERROR] = 0;
		c->field_valid |= FBIT(SF_IDT_INFO) | FBIT(SF_IDT_ERROR);
	} else {
		unsigned fi = entry_side_inj(c) ? SF_ENTRY_INFO : SF_IDT_INFO;
		unsigned fe = entry_side_inj(c) ? SF_ENTRY_ERROR : SF_IDT_ERROR;
		if ((rc = field_get(c, fi, &info)))
			return rc;
		/* the error code means something only with valid + deliver */
		if (genode || ((info & INTR_VALID) && (info & INTR_ERRCODE)))
			if ((rc = field_get(c, fe, &err)))
				return rc;
	}
	if (!genode) { /* the irq-window request lives in the primary ctls */
		uint64_t ppc;
		if ((rc = field_get(c, SF_CTRL0, &ppc)))
			return rc;
		if (ppc & SEL4_GENODE_IRQ_WINDOW)
			info |= SEL4_INJ_REQ_IRQ_WINDOW;
	}
	s->inj_info = (uint32_t)info;
	s->inj_error = (uint32_t)err;
	return ROOF_OK;
}

/* Groups seL4 gives no access to, named in the refusal. */
static int refuse_groups(struct sel4_client *c, const char *verb,
			 uint64_t groups)
{
	struct text t = text_begin(c);
	char names[160];
	roof_mask_format(groups & SEL4_UNSUPPORTED_GROUPS, names, sizeof names);
	put_str(&t, "seL4 cannot ");
	put_str(&t, verb);
	put_str(&t, " ");
	put_str(&t, names);
	put_str(&t, ": no VMCS field or VCPU invocation gives access to them "
		    "(Genode's seL4 client: not supported by seL4)");
	return report(c, ROOF_ENOSYS);
}

static int fill_group(struct sel4_client *c, unsigned bit)
{
	roof_state *s = c->v->state;
	uint64_t a;
	int rc = ROOF_OK;
	switch (bit) {
	case ROOF_GB_ACDB:
	case ROOF_GB_EBSD:
		return ROOF_OK; /* the plan copies MR10..MR16 */
	case ROOF_GB_ESP:
		return field_get(c, SF_RSP, &s->sp);
	case ROOF_GB_EIP:
		/* ip_len: MR5 of a fault; 0 at STARTUP and PAUSED (oneroof.h) */
		s->ip_len = fault_with_mrs(c) ? c->mr.instruction_len : 0;
		return field_load(c, SF_RIP); /* the plan copies ip */
	case ROOF_GB_EFL:
		return field_load(c, SF_RFLAGS);
	case ROOF_GB_ESDS:
		if ((rc = seg_fill(c, VSEG_ES, &s->es)))
			return rc;
		return seg_fill(c, VSEG_DS, &s->ds);
	case ROOF_GB_FSGS:
		if ((rc = seg_fill(c, VSEG_FS, &s->fs)))
			return rc;
		return seg_fill(c, VSEG_GS, &s->gs);
	case ROOF_GB_CSSS:
		if ((rc = seg_fill(c, VSEG_CS, &s->cs)))
			return rc;
		return seg_fill(c, VSEG_SS, &s->ss);
	case ROOF_GB_TR:
		return seg_fill(c, VSEG_TR, &s->tr);
	case ROOF_GB_LDTR:
		return seg_fill(c, VSEG_LDTR, &s->ldtr);
	case ROOF_GB_GDTR:
		return dtr_fill(c, SF_GDTR_LIMIT, SF_GDTR_BASE, &s->gdtr);
	case ROOF_GB_IDTR:
		return dtr_fill(c, SF_IDTR_LIMIT, SF_IDTR_BASE, &s->idtr);
	case ROOF_GB_CR:
		if ((rc = visible_cr(c, SF_CR0, SF_CR0_SHADOW, SF_CR0_MASK,
				     SEL4_GENODE_CR0_MASK, &s->cr0)) ||
		    (rc = visible_cr(c, SF_CR4, SF_CR4_SHADOW, SF_CR4_MASK,
				     SEL4_GENODE_CR4_MASK, &s->cr4)))
			return rc;
		s->cr2 = c->cr2; /* "cr2 not supported on seL4" */
		return field_load(c, SF_CR3); /* the plan copies cr3 */
	case ROOF_GB_DR:
		return field_get(c, SF_DR7, &s->dr7);
	case ROOF_GB_SYS:
		if ((rc = field_get(c, SF_SYSENTER_CS, &s->sysenter_cs)) ||
		    (rc = field_get(c, SF_SYSENTER_SP, &s->sysenter_sp)))
			return rc;
		return field_get(c, SF_SYSENTER_IP, &s->sysenter_ip);
	case ROOF_GB_QUAL:
		/* the plan copies MR4, MR6 when they are delivered */
		if (!qual_from_mrs(c))
			s->qual_primary = s->qual_secondary = 0;
		return ROOF_OK;
	case ROOF_GB_CTRL:
		if ((rc = field_load(c, SF_CTRL0))) /* the plan copies it */
			return rc;
		/* not readable on seL4: what the VMM last wrote, 0 before */
		s->ctrl_secondary = known(c, SF_CTRL1) ? (uint32_t)c->field[SF_CTRL1] : 0;
		return ROOF_OK;
	case ROOF_GB_INJ:
		return fill_inj(c, s);
	case ROOF_GB_STA:
		if ((rc = field_load(c, SF_STATE_INTR))) /* the plan copies it */
			return rc;
		if (c->policy == SEL4_POLICY_TUNED && instruction_exit(c)) {
			c->field[SF_STATE_ACTV] = 0; /* implied: active */
			c->field_valid |= FBIT(SF_STATE_ACTV);
		}
		if ((rc = field_get(c, SF_STATE_ACTV, &a)))
			return rc;
		s->actv_state = (uint32_t)a;
		return ROOF_OK;
	case ROOF_GB_TSC:
		/* seL4 runs guests without TSC offsetting: the guest's TSC is
		 * the host's timestamp (Genode: Trace::timestamp()) */
		s->tsc = c->ops->timestamp(c->k);
		s->tsc_offset = 0;
		return ROOF_OK;
	case ROOF_GB_EFER:
		return field_get(c, SF_EFER, &s->efer);
	case ROOF_GB_PDPTE:
		for (unsigned i = 0; i < 4 && !rc; i++)
			rc = field_get(c, SF_PDPTE0 + i, &s->pdpte[i]);
		return rc;
	default:
		return refuse_groups(c, "transfer", UINT64_C(1) << bit);
	}
}

/* The groups' conversions and reads, group by group in bit order (the
 * order of the ReadVMCS calls); then the plan's copies from the MRs. */
static int fill_groups(struct sel4_client *c, uint64_t groups)
{
	if (groups & SEL4_UNSUPPORTED_GROUPS)
		return refuse_groups(c, "transfer", groups);
	for (unsigned b = 0; b < ROOF_GB_LIMIT; b++) {
		if (!(groups & (UINT64_C(1) << b)))
			continue;
		int rc = fill_group(c, b);
		if (rc)
			return rc;
	}
	uint64_t planned = groups & c->plan.copyable;
	if (!qual_from_mrs(c))
		planned &= ~ROOF_G_QUAL;
	roof_gather(&c->plan, planned, &c->mr, c->v->state);
	return ROOF_OK;
}

/* ---- hot ops -------------------------------------------------------------------------- */
static struct sel4_client *client_of(struct roof_vcpu *v)
{
	return v->backend;
}

static int hot_fetch(struct roof_vcpu *v, uint64_t mask)
{
	return fill_groups(client_of(v), mask);
}

/* Make groups valid for the decode (no miss counted: the decode's own
 * need, not the handler's). */
static int ensure(struct sel4_client *c, uint64_t groups)
{
	roof_state *s = c->v->state;
	groups &= ~s->valid;
	if (!groups)
		return ROOF_OK;
	int rc = fill_groups(c, groups);
	if (!rc)
		s->valid |= groups;
	return rc;
}

/* One field of cs for the decode, without the rest of CSSS: the group is
 * marked valid only until the decode returns. */
static int cs_field(struct sel4_client *c, unsigned part, uint64_t *out)
{
	roof_state *s = c->v->state;
	if (s->valid & ROOF_G_CSSS) {
		*out = part == SF_PART_AR ? s->cs.ar : s->cs.base;
		return ROOF_OK;
	}
	int rc = field_get(c, SEG_FIELD(VSEG_CS, part), out);
	if (rc)
		return rc;
	if (part == SF_PART_AR) {
		*out = roof_ar_from_vmx((uint32_t)*out);
		s->cs.ar = (uint16_t)*out;
	} else {
		s->cs.base = *out;
	}
	c->partial |= ROOF_G_CSSS;
	s->valid |= ROOF_G_CSSS;
	return ROOF_OK;
}

static int decode_fail(struct sel4_client *c, const char *why)
{
	roof_state *s = c->v->state;
	s->exit_reason = ROOF_EXIT_BACKEND_ERROR;
	s->info.error = why;
	return -1;
}

/* The decode's inputs, field by field. IO: efer, and cs.ar only in long
 * mode (a 32-bit in zero-extends rax in 64-bit mode). MMIO: cr0 cr3 cr4
 * efer and cs.ar (+ cs.base outside 64-bit mode) to find and read the
 * instruction, then the group of its register operand. */
static int prefetch(struct sel4_client *c, roof_exit reason)
{
	roof_state *s = c->v->state;
	uint64_t ar = 0, base = 0;
	int rc;
	if (reason == ROOF_EXIT_IO) {
		if ((rc = ensure(c, ROOF_G_EFER)))
			return rc;
		return (s->efer & EFER_LMA) ? cs_field(c, SF_PART_AR, &ar) : ROOF_OK;
	}
	if (reason != ROOF_EXIT_MMIO)
		return ROOF_OK;
	if ((rc = ensure(c, ROOF_G_CR | ROOF_G_EFER | ROOF_G_EIP)) ||
	    (rc = cs_field(c, SF_PART_AR, &ar)))
		return rc;
	enum x86_mode mode = x86_mode_of(s->cr0, s->efer, (uint16_t)ar);
	if (mode != X86_MODE64 && (rc = cs_field(c, SF_PART_BASE, &base)))
		return rc;
	struct x86_paging pg = {s->cr0, s->cr3, s->cr4, s->efer, c->env.mem,
				c->env.ctx};
	uint8_t bytes[15];
	unsigned got = x86_read_linear(&pg, base + s->ip, bytes, sizeof bytes);
	struct x86_insn i;
	if (!got || x86_decode(bytes, got, mode, &i) || i.reg == X86_NO_REG)
		return ROOF_OK; /* vmx_exit_decode reports what is wrong */
	if (i.reg >= 8) {
		struct text t = text_begin(c);
		put_str(&t, "seL4 does not transfer r8-r15, and the MMIO "
			    "instruction at ip ");
		put_hex(&t, s->ip);
		put_str(&t, " uses one (register number ");
		put_hex(&t, i.reg);
		put_str(&t, ")");
		report(c, ROOF_ENOSYS);
		return decode_fail(c, c->msg);
	}
	return ensure(c, i.reg == 4 ? ROOF_G_ESP
			    : i.reg >= 5 ? ROOF_G_EBSD : ROOF_G_ACDB);
}

static int hot_decode(struct roof_vcpu *v)
{
	struct sel4_client *c = client_of(v);
	roof_state *s = v->state;
	if (s->exit_reason == ROOF_EXIT_BACKEND_ERROR && s->info.error)
		return 0; /* a failed return: its text is set */
	c->partial = 0;
	struct vmx_exit_record rec = {
		c->native,
		c->mr.qualification, c->mr.guest_physical,
		(uint32_t)c->mr.instruction_len, 0};
	if (s->exit_reason == ROOF_EXIT_PAUSED)
		rec.reason = SEL4_VMEXIT_RECALL;
	int rc = prefetch(c, s->exit_reason);
	if (rc) {
		s->valid &= ~c->partial;
		if (s->exit_reason != ROOF_EXIT_BACKEND_ERROR)
			decode_fail(c, c->msg);
		return -1;
	}
	rc = vmx_exit_decode(s, &rec, &c->env, &c->ctx);
	s->valid &= ~c->partial;
	c->partial = 0;
	return rc;
}

static void hot_finish(struct roof_vcpu *v, roof_action action)
{
	(void)action;
	struct sel4_client *c = client_of(v);
	vmx_exit_finish(v->state, &c->ctx);
}

/* ---- the write path --------------------------------------------------------------------- */
static int refuse(struct sel4_client *c, const char *what)
{
	struct text t = text_begin(c);
	put_str(&t, what);
	return report(c, ROOF_ENOSYS);
}

/* `n`: the kernel's GPRs with the written groups scattered in. */
static int write_gprs(struct sel4_client *c, const struct sel4_vcpu_context *n)
{
	if (c->policy == SEL4_POLICY_TUNED &&
	    __builtin_memcmp(n, &c->mr.gpr, sizeof *n) == 0)
		return ROOF_OK;
	return sys_write_registers(c, n);
}

static int write_seg(struct sel4_client *c, unsigned seg,
		     const struct roof_segment *v)
{
	int rc;
	if ((rc = field_put(c, SEG_FIELD(seg, SF_PART_SEL), v->sel)) ||
	    (rc = field_put(c, SEG_FIELD(seg, SF_PART_LIMIT), v->limit)) ||
	    (rc = field_put(c, SEG_FIELD(seg, SF_PART_AR), roof_ar_to_vmx(v->ar))))
		return rc;
	return field_put(c, SEG_FIELD(seg, SF_PART_BASE), v->base);
}

/* cr0/cr4 as Genode writes them: real = set | (cr & ~mask), shadow = cr.
 * Tuned skips the real write when the bits the guest sees from it are
 * unchanged, and the shadow write when its owned bits are. */
static int write_cr(struct sel4_client *c, unsigned f_real, unsigned f_shadow,
		    uint64_t mask, uint64_t set, uint64_t cr)
{
	uint64_t real = set | (cr & ~mask);
	int rc;
	if (c->policy == SEL4_POLICY_GENODE)
		return (rc = sys_write(c, f_real, real)) ? rc
							 : sys_write(c, f_shadow, cr);
	if (!known(c, f_real) || ((*slot(c, f_real) ^ real) & ~mask))
		if ((rc = sys_write(c, f_real, real)))
			return rc;
	if (!known(c, f_shadow) || ((*slot(c, f_shadow) ^ cr) & mask))
		return sys_write(c, f_shadow, cr);
	return ROOF_OK;
}

static int write_inj(struct sel4_client *c, uint64_t dirty)
{
	roof_state *s = c->v->state;
	uint64_t ppc = 0;
	int rc = ROOF_OK;
	if (s->inj_info & SEL4_INJ_REQ_NMI_WINDOW)
		return refuse(c, "seL4: an NMI-window exit (inj_info bit 13) "
				 "cannot be requested (Genode's seL4 client: "
				 "\"inj_info for NMI not supported\")");
	if (dirty & ROOF_G_CTRL)
		ppc = s->ctrl_primary;
	else if (c->policy == SEL4_POLICY_GENODE)
		/* Genode re-reads the primary controls here */
		rc = sys_read(c, SF_CTRL0), ppc = c->mr.control_ppc;
	else
		rc = field_get(c, SF_CTRL0, &ppc);
	if (!(dirty & ROOF_G_CTRL) && rc)
		return rc;
	if (s->inj_info & SEL4_INJ_REQ_IRQ_WINDOW)
		ppc |= SEL4_GENODE_IRQ_WINDOW;
	else
		ppc &= ~(uint64_t)SEL4_GENODE_IRQ_WINDOW;
	c->entry[1] = c->mr.control_ppc = ppc;
	c->entry[2] = c->mr.interrupt_info =
		s->inj_info & ~(SEL4_INJ_REQ_IRQ_WINDOW | SEL4_INJ_REQ_NMI_WINDOW);
	c->field_valid |= FBIT(SF_CTRL0) | FBIT(SF_ENTRY_INFO);
	c->entry_set |= 6;
	if (c->policy == SEL4_POLICY_GENODE)
		return sys_write(c, SF_ENTRY_ERROR, s->inj_error);
	if ((s->inj_info & INTR_VALID) && (s->inj_info & INTR_ERRCODE))
		return field_put(c, SF_ENTRY_ERROR, s->inj_error);
	return ROOF_OK;
}

static int hot_writeback(struct roof_vcpu *v, uint64_t dirty)
{
	struct sel4_client *c = client_of(v);
	roof_state *s = v->state;
	bool genode = c->policy == SEL4_POLICY_GENODE;
	int rc;
	if (dirty & SEL4_UNSUPPORTED_GROUPS)
		return refuse_groups(c, "write", dirty);
	if ((dirty & ROOF_G_CR) && s->cr2 != c->cr2)
		return refuse(c, "seL4 cannot set the guest's cr2: it is neither "
				 "a VMCS field nor saved by the kernel");
	/* tsc is a reading; only an offset would be a request */
	if ((dirty & ROOF_G_TSC) && s->tsc_offset != 0)
		return refuse(c, "seL4 has no TSC offsetting: TSC_OFFSET (0x2010) "
				 "is not in WriteVMCS's whitelist (Genode's seL4 "
				 "client keeps the offset and never applies it)");
	if (!genode && (dirty & ROOF_G_CR) && ((s->cr0 | s->cr4) & CR_UPPER)) {
		/* seL4's WriteVMCS passes cr0/cr4 through applyFixedBits(
		 * uint32_t ...): bits 63:32 would vanish silently. Refuse the
		 * entry instead, as the CPU refuses such a value. */
		c->pending_invalid = (s->cr0 & CR_UPPER)
			? "invalid guest state: cr0 bits 63:32 are reserved (seL4's "
			  "WriteVMCS would cut them off silently: applyFixedBits takes "
			  "uint32_t); not written"
			: "invalid guest state: cr4 bits 63:32 are reserved (seL4's "
			  "WriteVMCS would cut them off silently: applyFixedBits takes "
			  "uint32_t); not written";
		dirty &= ~ROOF_G_CR;
	}

	/* The plan's copies back: GPRs and ip into a copy of the MRs as the
	 * vCPU holds them; WriteRegisters and the next VMEnter send them on. */
	struct sel4_fault_mrs next;
	if (dirty & SEL4_PLAN_SCATTERED) {
		next = c->mr;
		roof_scatter(&c->plan, dirty & SEL4_PLAN_SCATTERED, s, &next);
	}

	/* Genode's order: GPRs, dr7, cr0, cr3, cr4, inj, flags, sp, ip,
	 * ip_len, efer, ctrl, sta, segments, idtr, gdtr, pdpte, sysenter. */
	if ((dirty & (ROOF_G_ACDB | ROOF_G_EBSD)) && (rc = write_gprs(c, &next.gpr)))
		return rc;
	if ((dirty & ROOF_G_DR) && (rc = field_put(c, SF_DR7, s->dr7)))
		return rc;
	if (dirty & ROOF_G_CR) {
		if ((rc = write_cr(c, SF_CR0, SF_CR0_SHADOW, SEL4_GENODE_CR0_MASK, 0,
				   s->cr0)) ||
		    (rc = field_put(c, SF_CR3, s->cr3)) ||
		    (rc = write_cr(c, SF_CR4, SF_CR4_SHADOW, SEL4_GENODE_CR4_MASK,
				   SEL4_GENODE_CR4_SET, s->cr4)))
			return rc;
	}
	if (dirty & ROOF_G_CTRL) {
		c->entry[1] = s->ctrl_primary;
		c->entry_set |= 2;
	}
	if ((dirty & ROOF_G_INJ) && (rc = write_inj(c, dirty)))
		return rc;
	if ((dirty & ROOF_G_EFL) && (rc = field_put(c, SF_RFLAGS, s->flags)))
		return rc;
	if ((dirty & ROOF_G_ESP) && (rc = field_put(c, SF_RSP, s->sp)))
		return rc;
	if (dirty & ROOF_G_EIP) {
		/* MR0 carries ip into the VMEnter; Genode writes RIP as well */
		if (genode && (rc = sys_write(c, SF_RIP, next.eip)))
			return rc;
		c->entry[0] = c->mr.eip = next.eip;
		c->entry_set |= 1;
		c->field_valid |= FBIT(SF_RIP);
		uint64_t delivered = fault_with_mrs(c) ? c->mr.instruction_len : 0;
		if (s->ip_len != delivered &&
		    (rc = field_put(c, SF_ENTRY_INST_LEN, s->ip_len)))
			return rc;
	}
	if ((dirty & ROOF_G_EFER) && (rc = field_put(c, SF_EFER, s->efer)))
		return rc;
	if (dirty & ROOF_G_CTRL) {
		c->mr.control_ppc = c->entry[1];
		c->field_valid |= FBIT(SF_CTRL0);
		if ((rc = field_put(c, SF_CTRL1, s->ctrl_secondary)))
			return rc;
	}
	if (dirty & ROOF_G_STA) {
		if ((rc = field_put(c, SF_STATE_INTR, s->intr_state)) ||
		    (rc = field_put(c, SF_STATE_ACTV, s->actv_state)))
			return rc;
	}
	static const struct { uint64_t group; unsigned seg; size_t off; } segs[] = {
		{ROOF_G_CSSS, VSEG_CS, offsetof(roof_state, cs)},
		{ROOF_G_CSSS, VSEG_SS, offsetof(roof_state, ss)},
		{ROOF_G_ESDS, VSEG_ES, offsetof(roof_state, es)},
		{ROOF_G_ESDS, VSEG_DS, offsetof(roof_state, ds)},
		{ROOF_G_FSGS, VSEG_FS, offsetof(roof_state, fs)},
		{ROOF_G_FSGS, VSEG_GS, offsetof(roof_state, gs)},
		{ROOF_G_TR, VSEG_TR, offsetof(roof_state, tr)},
		{ROOF_G_LDTR, VSEG_LDTR, offsetof(roof_state, ldtr)},
	};
	for (unsigned i = 0; i < sizeof segs / sizeof segs[0]; i++)
		if ((dirty & segs[i].group) &&
		    (rc = write_seg(c, segs[i].seg,
				    (const struct roof_segment *)((const uint8_t *)s +
								  segs[i].off))))
			return rc;
	if ((dirty & ROOF_G_IDTR) &&
	    ((rc = field_put(c, SF_IDTR_BASE, s->idtr.base)) ||
	     (rc = field_put(c, SF_IDTR_LIMIT, s->idtr.limit))))
		return rc;
	if ((dirty & ROOF_G_GDTR) &&
	    ((rc = field_put(c, SF_GDTR_BASE, s->gdtr.base)) ||
	     (rc = field_put(c, SF_GDTR_LIMIT, s->gdtr.limit))))
		return rc;
	for (unsigned i = 0; (dirty & ROOF_G_PDPTE) && i < 4; i++)
		if ((rc = field_put(c, SF_PDPTE0 + i, s->pdpte[i])))
			return rc;
	if ((dirty & ROOF_G_SYS) &&
	    ((rc = field_put(c, SF_SYSENTER_CS, s->sysenter_cs)) ||
	     (rc = field_put(c, SF_SYSENTER_SP, s->sysenter_sp)) ||
	     (rc = field_put(c, SF_SYSENTER_IP, s->sysenter_ip))))
		return rc;
	return ROOF_OK;
}

const struct roof_backend_hot_ops sel4_client_hot = {
	.fetch = hot_fetch,
	.writeback = hot_writeback,
	.decode = hot_decode,
	.finish = hot_finish,
};

uint64_t sel4_client_implicit(enum sel4_policy policy, roof_exit reason)
{
	uint64_t g = vmx_exit_implicit(reason) & SEL4_SUPPORTED_GROUPS;
	if (policy == SEL4_POLICY_GENODE)
		return g; /* everything is delivered anyway */
	/* tuned: the MR groups; the decode reads the rest field by field.
	 * rdmsr/wrmsr keep INJ: their #GP goes there, and an instruction
	 * exit implies it without a read. */
	return g & (MR_GROUPS | ROOF_G_INJ);
}

/* ---- entering and returning ---------------------------------------------------------------- */
int sel4_client_init(struct sel4_client *c, struct roof_vcpu *v,
		     enum sel4_policy policy, const struct sel4_kernel_ops *ops,
		     void *kernel, const struct vmx_exit_env *env,
		     struct sel4_ipc_buffer *ipc)
{
	__builtin_memset(c, 0, sizeof *c);
	c->v = v;
	c->policy = policy;
	c->ops = ops;
	c->k = kernel;
	c->env = *env;
	c->ipc = ipc;
	c->native = SEL4_VMEXIT_STARTUP;
	return sel4_mr_plan_init(&c->plan);
}

void sel4_client_charge_hop(struct sel4_client *c)
{
	struct roof_stats *st = counters(c);
	if (c->policy == SEL4_POLICY_GENODE) {
		st->crossings += SEL4_GENODE_HOP_CROSSINGS;
		st->hops += SEL4_GENODE_HOP_EXTRA_THREADS;
	} else {
		st->crossings += SEL4_TUNED_HOP_CROSSINGS;
	}
}

static int write_masks(struct sel4_client *c)
{
	int rc;
	if (c->masks_written)
		return ROOF_OK;
	/* vm.cc entry(): CR0_MASK and CR4_MASK once, before the loop */
	if ((rc = sys_write(c, SF_CR0_MASK, SEL4_GENODE_CR0_MASK)) ||
	    (rc = sys_write(c, SF_CR4_MASK, SEL4_GENODE_CR4_MASK)))
		return rc;
	c->masks_written = true;
	return ROOF_OK;
}

/* Genode's _read_sel4_state, after the MRs: 54 ReadVMCS calls in its
 * order, and the shadow write-backs it does on the way. */
static int genode_read_all(struct sel4_client *c)
{
	static const uint8_t order[] = {
		SF_RSP, SF_DR7, SF_CR0, SF_CR0_SHADOW, SF_CR4, SF_CR4_SHADOW,
		SEG_FIELD(VSEG_CS, 0), SEG_FIELD(VSEG_CS, 2), SEG_FIELD(VSEG_CS, 1), SEG_FIELD(VSEG_CS, 3),
		SEG_FIELD(VSEG_SS, 0), SEG_FIELD(VSEG_SS, 2), SEG_FIELD(VSEG_SS, 1), SEG_FIELD(VSEG_SS, 3),
		SEG_FIELD(VSEG_ES, 0), SEG_FIELD(VSEG_ES, 2), SEG_FIELD(VSEG_ES, 1), SEG_FIELD(VSEG_ES, 3),
		SEG_FIELD(VSEG_DS, 0), SEG_FIELD(VSEG_DS, 2), SEG_FIELD(VSEG_DS, 1), SEG_FIELD(VSEG_DS, 3),
		SEG_FIELD(VSEG_FS, 0), SEG_FIELD(VSEG_FS, 2), SEG_FIELD(VSEG_FS, 1), SEG_FIELD(VSEG_FS, 3),
		SEG_FIELD(VSEG_GS, 0), SEG_FIELD(VSEG_GS, 2), SEG_FIELD(VSEG_GS, 1), SEG_FIELD(VSEG_GS, 3),
		SEG_FIELD(VSEG_TR, 0), SEG_FIELD(VSEG_TR, 2), SEG_FIELD(VSEG_TR, 1), SEG_FIELD(VSEG_TR, 3),
		SEG_FIELD(VSEG_LDTR, 0), SEG_FIELD(VSEG_LDTR, 2), SEG_FIELD(VSEG_LDTR, 1), SEG_FIELD(VSEG_LDTR, 3),
		SF_IDTR_LIMIT, SF_IDTR_BASE, SF_GDTR_LIMIT, SF_GDTR_BASE,
		SF_SYSENTER_CS, SF_SYSENTER_SP, SF_SYSENTER_IP,
		SF_IDT_INFO, SF_IDT_ERROR, /* or the entry pair, below */
		SF_STATE_INTR, SF_STATE_ACTV,
		SF_PDPTE0, SF_PDPTE1, SF_PDPTE2, SF_PDPTE3, SF_EFER,
	};
	_Static_assert(sizeof order == 54, "Genode's 54 ReadVMCS calls");
	bool entry_side = entry_side_inj(c);
	for (unsigned i = 0; i < sizeof order; i++) {
		unsigned f = order[i];
		if (entry_side && f == SF_IDT_INFO)
			f = SF_ENTRY_INFO;
		if (entry_side && f == SF_IDT_ERROR)
			f = SF_ENTRY_ERROR;
		int rc = sys_read(c, f);
		if (rc)
			return rc;
		/* "if (state.cr0.value() != cr0_shadow) _write_vmcs(CR0_SHADOW)" */
		if (f == SF_CR0_SHADOW || f == SF_CR4_SHADOW) {
			bool cr0 = f == SF_CR0_SHADOW;
			uint64_t mask = cr0 ? SEL4_GENODE_CR0_MASK : SEL4_GENODE_CR4_MASK;
			uint64_t real = *slot(c, cr0 ? SF_CR0 : SF_CR4);
			uint64_t shadow = *slot(c, f);
			uint64_t vis = (real & ~mask) | (shadow & mask);
			if (vis != shadow && (rc = sys_write(c, f, vis)))
				return rc;
		}
	}
	return ROOF_OK;
}

/* The MRs and what they make known, after a return (or at STARTUP). */
static int intake(struct sel4_client *c, bool ran, bool fault, uint32_t native)
{
	const sel4_word *msg = c->ipc->msg;
	bool genode = c->policy == SEL4_POLICY_GENODE;
	/* MR0, MR1 as this return left them (ReadVMCS replies overwrite MR0) */
	const sel4_word mr0 = msg[SEL4_VMENTER_CALL_EIP_MR];
	const sel4_word mr1 = msg[SEL4_VMENTER_CALL_CONTROL_PPC_MR];
	c->ran = ran;
	c->entry_set = 0;
	c->invalid_text = 0;
	__builtin_memset(&c->ctx, 0, sizeof c->ctx);
	if (ran || (genode && native == SEL4_VMEXIT_STARTUP)) {
		/* (Genode's STARTUP reads the never-written, zero MRs.) After
		 * an immediate notification return MR3..MR16 are the previous
		 * exit's (c_traps.c: "the user picks up the values they put
		 * in"): Genode's client reads them anyway and can hand back
		 * GPRs older than its own WriteRegisters (README.md, "Noticed");
		 * neither policy here takes them, both keep what they know. */
		__builtin_memcpy(&c->mr, msg, sizeof c->mr);
		/* the guest ran: only what the VMM alone writes is still known,
		 * and the fields the MRs carry (their slots are in mr) */
		c->field_valid = (genode ? 0 : c->field_valid & STICKY_FIELDS) |
				 MR_FIELDS;
	}
	/* else the guest did not run: MR0..MR2 are what went in, MR3..MR16
	 * the previous exit's; what the client knows stays known (genode
	 * re-reads its 54 anyway) */
	c->mrs_valid = native != SEL4_VMEXIT_STARTUP;
	c->native = fault ? (uint32_t)c->mr.reason : native;
	if (!genode)
		return ROOF_OK;
	int rc = genode_read_all(c);
	if (rc)
		return rc;
	/* what the next VMEnter sends unless the VMM charges more */
	c->entry[0] = mr0;
	c->entry[1] = mr1;
	c->entry[2] = *slot(c, entry_side_inj(c) ? SF_ENTRY_INFO : SF_IDT_INFO) &
		      ~(uint64_t)(SEL4_INJ_REQ_IRQ_WINDOW | SEL4_INJ_REQ_NMI_WINDOW);
	c->entry_set = 7;
	return ROOF_OK;
}

/* Tuned: what MR2 sends when the VMM did not write INJ. An event whose
 * delivery the exit interrupted (IDT-vectoring info valid) is injected
 * again, as a VT-x VMM must; an instruction exit has none. */
static int reinjection(struct sel4_client *c, uint64_t *info)
{
	uint64_t v = 0, err;
	int rc;
	*info = 0;
	if (instruction_exit(c))
		return ROOF_OK;
	if (entry_side_inj(c) || c->native == SEL4_VMEXIT_STARTUP) {
		if ((rc = field_get(c, SF_ENTRY_INFO, &v)))
			return rc;
	} else {
		if ((rc = field_get(c, SF_IDT_INFO, &v)))
			return rc;
		if ((v & INTR_VALID) && (v & INTR_ERRCODE) &&
		    ((rc = field_get(c, SF_IDT_ERROR, &err)) ||
		     (rc = field_put(c, SF_ENTRY_ERROR, err))))
			return rc;
	}
	*info = (v & INTR_VALID) ? v : 0;
	return ROOF_OK;
}

static int entry_mrs(struct sel4_client *c)
{
	int rc;
	if (c->policy == SEL4_POLICY_GENODE) {
		c->ipc->msg[0] = c->entry[0];
		c->ipc->msg[1] = SEL4_GENODE_EXIT_ON_HLT | c->entry[1];
		c->ipc->msg[2] = c->entry[2];
		return ROOF_OK;
	}
	if (!(c->entry_set & 1) && (rc = field_get(c, SF_RIP, &c->entry[0])))
		return rc;
	if (!(c->entry_set & 2) && (rc = field_get(c, SF_CTRL0, &c->entry[1])))
		return rc;
	if (!(c->entry_set & 4) && (rc = reinjection(c, &c->entry[2])))
		return rc;
	for (unsigned i = 0; i < SEL4_VMENTER_CALL_LEN; i++)
		c->ipc->msg[i] = c->entry[i];
	return ROOF_OK;
}

/* `entry`: the call may enter the guest (not: a pause, whose VMEnter
 * returns at once; a refused value waits for the real entry). */
static int enter(struct sel4_client *c, bool entry)
{
	struct roof_vcpu *v = c->v;
	int rc = write_masks(c);
	if (rc)
		return rc;
	if (entry && c->pending_invalid) {
		/* a value seL4 would mangle was refused before the entry:
		 * report it like the CPU's invalid-guest-state exit */
		c->invalid_text = c->pending_invalid;
		c->pending_invalid = 0;
		c->ran = false;
		c->native = SEL4_VMEXIT_INVALID;
		return SEL4_RETURN_FAULT;
	}
	if ((rc = entry_mrs(c)))
		return rc;
	sel4_word badge = 0;
	bool ran = false;
	roof_probe_entry(v);
	int r = c->ops->vmenter(c->k, &badge, &ran);
	roof_probe_exit(v);
	if (r < 0) {
		struct text t = text_begin(c);
		put_str(&t, "seL4 VMEnter: ");
		put_str(&t, c->ops->error(c->k));
		return report(c, r);
	}
	bool fault = r == SEL4_VMENTER_RESULT_FAULT;
	/* MR0..MR2 in; the full fault set (or, with Genode's patch, the
	 * full set on a notification after the guest ran) back */
	v->counters.bytes += (SEL4_VMENTER_CALL_LEN +
			      (ran ? SEL4_VMENTER_NUM_FAULT_MSGS
				   : SEL4_VMENTER_RESULT_NOTIF_LEN)) *
			     sizeof(sel4_word);
	if ((rc = intake(c, ran, fault, SEL4_VMEXIT_RECALL)))
		return rc;
	return fault ? SEL4_RETURN_FAULT : SEL4_RETURN_NOTIF;
}

int sel4_client_enter(struct sel4_client *c)
{
	return enter(c, true);
}

int sel4_client_startup(struct sel4_client *c)
{
	c->native = SEL4_VMEXIT_STARTUP;
	c->ran = false;
	if (c->policy == SEL4_POLICY_GENODE)
		/* vm.cc: _read_sel4_state before any VMEnter: the MRs are
		 * the IPC buffer's, never written (zero) */
		return intake(c, false, false, SEL4_VMEXIT_STARTUP);
	/* tuned: no MR holds guest state yet; the GPRs of a new seL4 vCPU
	 * object are zero (objects are cleared when retyped) */
	c->mrs_valid = false;
	c->field_valid = 0;
	c->entry_set = 0;
	__builtin_memset(&c->mr.gpr, 0, sizeof c->mr.gpr);
	return write_masks(c);
}

int sel4_client_pause(struct sel4_client *c, bool signal)
{
	if (signal) {
		counters(c)->crossings++; /* seL4_Signal(_recall) */
		c->ops->signal(c->k);
	}
	return enter(c, false);
}

void sel4_client_begin_exit(struct sel4_client *c, roof_exit reason)
{
	roof_state *s = c->v->state;
	roof_state_begin_exit(s, reason, 0);
	__builtin_memset(&s->info, 0, sizeof s->info);
	c->partial = 0;
	if (c->invalid_text)
		s->info.error = c->invalid_text;
	else if (c->native == SEL4_VMEXIT_INVALID ||
		 c->native == SEL4_FAULT_REASON_NONE)
		s->info.error = c->ops->error(c->k);
	if (c->policy == SEL4_POLICY_GENODE && reason != ROOF_EXIT_BACKEND_ERROR) {
		/* Genode delivers everything; all of it is in the cache */
		if (fill_groups(c, SEL4_SUPPORTED_GROUPS) == ROOF_OK)
			s->valid = SEL4_SUPPORTED_GROUPS;
	}
}
