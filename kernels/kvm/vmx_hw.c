/*
 * vmx_hw.c - the KVM vCPU as VT-x hardware (see vmx_hw.h).
 * Field encodings: Intel SDM Vol. 3C, Appendix B; exit reasons: Appendix C;
 * qualifications: Tables 28-5 (I/O) and 28-7 (EPT violation).
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vmx_hw.h"
#include "x86_arch.h"
#include "x86_paging.h"

/* Decode inputs: every GPR (address registers), segments, mode, paging. */
#define G_GPRS                                                                \
	(ROOF_G_ACDB | ROOF_G_EBSD | ROOF_G_ESP | ROOF_G_R8_R15 | ROOF_G_EIP)
#define G_DECODE                                                              \
	(G_GPRS | ROOF_G_ESDS | ROOF_G_FSGS | ROOF_G_CSSS | ROOF_G_CR |       \
	 ROOF_G_EFER)

struct vmx_hw {
	struct khw_vcpu *c;
	roof_state *hw;           /* the hardware view */
	uint64_t loaded, dirty;   /* groups of hw, for this exit */
	struct vmx_exit_info exit;
	roof_exit kind;           /* kvm_hw's classification */
	struct roof_exit_info khw_info;
	bool retired;             /* KVM already executed the instruction */
	struct x86_insn insn;     /* the decoded exiting instruction */
	bool insn_valid;
	enum x86_mode mode;
	/* control fields without a substrate counterpart */
	uint32_t pin_ctls, exc_bitmap, entry_insn_len, exit_ctls, entry_ctls;
	uint64_t cr0_mask, cr4_mask, cr0_shadow, cr4_shadow;
	/* the GPRs as delivered at this exit (x86 order), for telling the
	 * VMM's completion from a real change (reconcile) */
	uint64_t delivered[16];
	char err[256];
	char msg[256];
};

static void set_err(struct vmx_hw *h, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static void set_err(struct vmx_hw *h, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(h->err, sizeof h->err, fmt, ap);
	va_end(ap);
}

const char *vmx_hw_error(const struct vmx_hw *h)
{
	return h->err[0] ? h->err : khw_error(h->c);
}

int vmx_hw_create(struct khw_vm *k, struct roof_vcpu *core,
		  struct vmx_hw **out)
{
	*out = NULL;
	struct vmx_hw *h = calloc(1, sizeof *h);
	if (!h)
		return ROOF_ENOMEM;
	h->hw = aligned_alloc(64, sizeof(roof_state));
	if (!h->hw) {
		free(h);
		return ROOF_ENOMEM;
	}
	memset(h->hw, 0, sizeof *h->hw);
	int rc = khw_vcpu_create(k, core, &h->c);
	if (rc) {
		free(h->hw);
		free(h);
		return rc;
	}
	for (unsigned r = 0; r < ROOF_EXIT_COUNT; r++)
		vmx_hw_set_need(h, (roof_exit)r, 0);
	*out = h;
	return ROOF_OK;
}

void vmx_hw_destroy(struct vmx_hw *h)
{
	if (!h)
		return;
	khw_vcpu_destroy(h->c);
	free(h->hw);
	free(h);
}

void vmx_hw_set_counters(struct vmx_hw *h, struct khw_counters substrate)
{
	khw_set_counters(h->c, substrate);
}

void vmx_hw_set_need(struct vmx_hw *h, roof_exit kind, uint64_t groups)
{
	uint64_t own = 0;
	switch (kind) {
	case ROOF_EXIT_IO:
		own = ROOF_G_EIP | ROOF_G_ACDB | ROOF_G_CSSS | ROOF_G_CR |
		      ROOF_G_EFER;
		break;
	case ROOF_EXIT_MMIO:
		own = G_DECODE;
		break;
	case ROOF_EXIT_HLT:
	case ROOF_EXIT_MSR_READ:
	case ROOF_EXIT_MSR_WRITE:
	case ROOF_EXIT_CPUID:
	case ROOF_EXIT_PAUSED:
		own = ROOF_G_EIP;
		break;
	default:
		break;
	}
	khw_set_need(h->c, kind, groups | own);
}

int vmx_hw_thread_init(struct vmx_hw *h)
{
	return khw_thread_init(h->c);
}

void vmx_hw_recall(struct vmx_hw *h)
{
	khw_recall(h->c);
}

const struct vmx_exit_info *vmx_hw_exit(const struct vmx_hw *h)
{
	return &h->exit;
}

roof_exit vmx_hw_kind(const struct vmx_hw *h)
{
	return h->kind;
}

const void *vmx_hw_guest(struct vmx_hw *h, uint64_t gpa, uint64_t len)
{
	return khw_guest_ptr(h->c, gpa, len);
}

void vmx_hw_cpuid(struct vmx_hw *h, uint32_t leaf, uint32_t subleaf,
		  uint32_t out[4])
{
	khw_cpuid(h->c, leaf, subleaf, out);
}

/* ---- the hardware view -----------------------------------------------------
 * h->hw holds the hardware's registers, not a handler's view: vmx_hw keeps
 * its own record of what is loaded (h->loaded) and written (h->dirty), so
 * it reads GPRs by number raw (roof_gpr_raw), not through the checked
 * accessors, whose valid/dirty bits nobody keeps here. */
roof_state *vmx_hw_state(struct vmx_hw *h, uint64_t groups)
{
	uint64_t need = groups & ~h->loaded;
	if (need) {
		if (khw_fetch(h->c, h->hw, need) != ROOF_OK) {
			set_err(h, "%s", khw_error(h->c));
			return NULL;
		}
		if (need & ROOF_G_EIP) { /* VMX: rip is the exiting instruction */
			h->hw->ip = h->exit.rip;
			h->hw->ip_len = h->exit.insn_len;
		}
		if (need & G_GPRS)
			for (unsigned i = 0; i < 16; i++)
				h->delivered[i] = *roof_gpr_raw(h->hw, i);
		h->loaded |= need;
	}
	return h->hw;
}

void vmx_hw_mark_dirty(struct vmx_hw *h, uint64_t groups)
{
	h->dirty |= groups & h->loaded;
}

/* KVM's rip for this exit, before the VMX view replaces it. */
static int kvm_rip(struct vmx_hw *h, uint64_t *rip)
{
	if (khw_fetch(h->c, h->hw, ROOF_G_EIP) != ROOF_OK) {
		set_err(h, "%s", khw_error(h->c));
		return -1;
	}
	*rip = h->hw->ip;
	h->loaded &= ~ROOF_G_EIP;
	return 0;
}

static void gprs_of(roof_state *s, uint64_t gpr[16])
{
	for (unsigned i = 0; i < 16; i++)
		gpr[i] = *roof_gpr_raw(s, i);
}

/* ---- software VMCS ----------------------------------------------------------- */
enum fkind { F_NONE, F_SEL, F_LIMIT, F_AR, F_BASE, F_MEM64, F_MEM32,
	     F_LOCAL32, F_LOCAL64, F_EXIT };

struct fref {
	enum fkind kind;
	uint64_t group;
	void *p;           /* F_MEM*, F_LOCAL*: the storage */
	struct roof_segment *seg;
	struct roof_dtr *dtr;
	bool read_only;
};

static struct roof_segment *seg_at(roof_state *s, unsigned idx,
				   uint64_t *group)
{
	/* VMX order: es cs ss ds fs gs ldtr tr */
	static const uint64_t groups[8] = {ROOF_G_ESDS, ROOF_G_CSSS, ROOF_G_CSSS,
					   ROOF_G_ESDS, ROOF_G_FSGS, ROOF_G_FSGS,
					   ROOF_G_LDTR, ROOF_G_TR};
	struct roof_segment *segs[8] = {&s->es, &s->cs, &s->ss, &s->ds,
					&s->fs, &s->gs, &s->ldtr, &s->tr};
	*group = groups[idx & 7u];
	return segs[idx & 7u];
}

static struct fref field_ref(struct vmx_hw *h, uint32_t f)
{
	roof_state *s = h->hw;
	struct fref r = {F_NONE, 0, NULL, NULL, NULL, false};
	if (f >= VMCS_GUEST_ES_SEL && f <= VMCS_GUEST_TR_SEL && !(f & 1)) {
		r.kind = F_SEL;
		r.seg = seg_at(s, (f - VMCS_GUEST_ES_SEL) / 2, &r.group);
	} else if (f >= VMCS_GUEST_ES_LIMIT && f <= VMCS_GUEST_TR_LIMIT &&
		   !(f & 1)) {
		r.kind = F_LIMIT;
		r.seg = seg_at(s, (f - VMCS_GUEST_ES_LIMIT) / 2, &r.group);
	} else if (f >= VMCS_GUEST_ES_AR && f <= VMCS_GUEST_TR_AR && !(f & 1)) {
		r.kind = F_AR;
		r.seg = seg_at(s, (f - VMCS_GUEST_ES_AR) / 2, &r.group);
	} else if (f >= VMCS_GUEST_ES_BASE && f <= VMCS_GUEST_TR_BASE &&
		   !(f & 1)) {
		r.kind = F_BASE;
		r.seg = seg_at(s, (f - VMCS_GUEST_ES_BASE) / 2, &r.group);
	}
	if (r.kind != F_NONE)
		return r;
	r.kind = F_MEM64;
	switch (f) {
	case VMCS_GUEST_GDTR_LIMIT: r.kind = F_LIMIT; r.dtr = &s->gdtr;
		r.group = ROOF_G_GDTR; break;
	case VMCS_GUEST_IDTR_LIMIT: r.kind = F_LIMIT; r.dtr = &s->idtr;
		r.group = ROOF_G_IDTR; break;
	case VMCS_GUEST_GDTR_BASE: r.kind = F_BASE; r.dtr = &s->gdtr;
		r.group = ROOF_G_GDTR; break;
	case VMCS_GUEST_IDTR_BASE: r.kind = F_BASE; r.dtr = &s->idtr;
		r.group = ROOF_G_IDTR; break;
	case VMCS_GUEST_CR0: r.p = &s->cr0; r.group = ROOF_G_CR; break;
	case VMCS_GUEST_CR3: r.p = &s->cr3; r.group = ROOF_G_CR; break;
	case VMCS_GUEST_CR4: r.p = &s->cr4; r.group = ROOF_G_CR; break;
	case VMCS_GUEST_DR7: r.p = &s->dr7; r.group = ROOF_G_DR; break;
	case VMCS_GUEST_RSP: r.p = &s->sp; r.group = ROOF_G_ESP; break;
	case VMCS_GUEST_RIP: r.p = &s->ip; r.group = ROOF_G_EIP; break;
	case VMCS_GUEST_RFLAGS: r.p = &s->flags; r.group = ROOF_G_EFL; break;
	case VMCS_GUEST_SYSENTER_CS: r.p = &s->sysenter_cs; r.group = ROOF_G_SYS;
		break;
	case VMCS_GUEST_SYSENTER_ESP: r.p = &s->sysenter_sp; r.group = ROOF_G_SYS;
		break;
	case VMCS_GUEST_SYSENTER_EIP: r.p = &s->sysenter_ip; r.group = ROOF_G_SYS;
		break;
	case VMCS_GUEST_EFER: r.p = &s->efer; r.group = ROOF_G_EFER; break;
	case VMCS_GUEST_PDPTE0: case VMCS_GUEST_PDPTE1:
	case VMCS_GUEST_PDPTE2: case VMCS_GUEST_PDPTE3:
		r.p = &s->pdpte[(f - VMCS_GUEST_PDPTE0) / 2];
		r.group = ROOF_G_PDPTE;
		break;
	case VMCS_TSC_OFFSET: r.p = &s->tsc_offset; r.group = ROOF_G_TSC; break;
	case VMCS_GUEST_INTERRUPTIBILITY: r.kind = F_MEM32; r.p = &s->intr_state;
		r.group = ROOF_G_STA; break;
	case VMCS_GUEST_ACTIVITY: r.kind = F_MEM32; r.p = &s->actv_state;
		r.group = ROOF_G_STA; break;
	case VMCS_ENTRY_INTR_INFO: r.kind = F_MEM32; r.p = &s->inj_info;
		r.group = ROOF_G_INJ; break;
	case VMCS_ENTRY_EXC_ERROR: r.kind = F_MEM32; r.p = &s->inj_error;
		r.group = ROOF_G_INJ; break;
	case VMCS_TPR_THRESHOLD: r.kind = F_MEM32; r.p = &s->tpr_threshold;
		r.group = ROOF_G_TPR; break;
	case VMCS_PROC_CTLS: r.kind = F_MEM32; r.p = &s->ctrl_primary;
		r.group = ROOF_G_CTRL; break;
	case VMCS_PROC_CTLS2: r.kind = F_MEM32; r.p = &s->ctrl_secondary;
		r.group = ROOF_G_CTRL; break;
	case VMCS_PIN_CTLS: r.kind = F_LOCAL32; r.p = &h->pin_ctls; break;
	case VMCS_EXCEPTION_BITMAP: r.kind = F_LOCAL32; r.p = &h->exc_bitmap;
		break;
	case VMCS_EXIT_CTLS: r.kind = F_LOCAL32; r.p = &h->exit_ctls; break;
	case VMCS_ENTRY_CTLS: r.kind = F_LOCAL32; r.p = &h->entry_ctls; break;
	case VMCS_ENTRY_INSTR_LEN: r.kind = F_LOCAL32; r.p = &h->entry_insn_len;
		break;
	case VMCS_CR0_MASK: r.kind = F_LOCAL64; r.p = &h->cr0_mask; break;
	case VMCS_CR4_MASK: r.kind = F_LOCAL64; r.p = &h->cr4_mask; break;
	case VMCS_CR0_SHADOW: r.kind = F_LOCAL64; r.p = &h->cr0_shadow; break;
	case VMCS_CR4_SHADOW: r.kind = F_LOCAL64; r.p = &h->cr4_shadow; break;
	case VMCS_EXIT_REASON: case VMCS_EXIT_QUALIFICATION:
	case VMCS_GUEST_PHYS_ADDR: case VMCS_GUEST_LINEAR_ADDR:
	case VMCS_EXIT_INSTR_LEN: case VMCS_EXIT_INSTR_INFO:
	case VMCS_EXIT_INTR_INFO: case VMCS_EXIT_INTR_ERROR:
	case VMCS_IDT_VECTORING_INFO: case VMCS_IDT_VECTORING_ERROR:
	case VMCS_INSTR_ERROR:
		r.kind = F_EXIT;
		r.read_only = true;
		break;
	default:
		r.kind = F_NONE;
		break;
	}
	return r;
}

static uint64_t exit_field(const struct vmx_hw *h, uint32_t f)
{
	switch (f) {
	case VMCS_EXIT_REASON: return h->exit.reason;
	case VMCS_EXIT_QUALIFICATION: return h->exit.qualification;
	case VMCS_GUEST_PHYS_ADDR: return h->exit.guest_phys;
	case VMCS_GUEST_LINEAR_ADDR: return h->exit.guest_linear;
	case VMCS_EXIT_INSTR_LEN: return h->exit.insn_len;
	case VMCS_EXIT_INTR_INFO: return h->exit.intr_info;
	default: return 0; /* instr info, idt vectoring, vm-instr error */
	}
}

int vmx_hw_vmread(struct vmx_hw *h, uint32_t field, uint64_t *value)
{
	struct fref r = field_ref(h, field);
	if (r.kind == F_NONE) {
		set_err(h, "VMREAD: field 0x%x is not implemented", field);
		return -1;
	}
	if (r.group && !vmx_hw_state(h, r.group))
		return -1;
	switch (r.kind) {
	case F_SEL: *value = r.seg->sel; break;
	case F_LIMIT: *value = r.seg ? r.seg->limit : r.dtr->limit; break;
	case F_AR:
		*value = roof_ar_to_vmx(r.seg->ar);
		break;
	case F_BASE: *value = r.seg ? r.seg->base : r.dtr->base; break;
	case F_MEM64: case F_LOCAL64: *value = *(uint64_t *)r.p; break;
	case F_MEM32: case F_LOCAL32: *value = *(uint32_t *)r.p; break;
	case F_EXIT: *value = exit_field(h, field); break;
	default: return -1;
	}
	return 0;
}

int vmx_hw_vmwrite(struct vmx_hw *h, uint32_t field, uint64_t value)
{
	struct fref r = field_ref(h, field);
	if (r.kind == F_NONE || r.read_only) {
		set_err(h, "VMWRITE: field 0x%x is %s", field,
			r.read_only ? "read-only" : "not implemented");
		return -1;
	}
	if (r.group && !vmx_hw_state(h, r.group))
		return -1;
	switch (r.kind) {
	case F_SEL: r.seg->sel = (uint16_t)value; break;
	case F_LIMIT:
		if (r.seg)
			r.seg->limit = (uint32_t)value;
		else
			r.dtr->limit = (uint32_t)value;
		break;
	case F_AR: r.seg->ar = roof_ar_from_vmx((uint32_t)value); break;
	case F_BASE:
		if (r.seg)
			r.seg->base = value;
		else
			r.dtr->base = value;
		break;
	case F_MEM64: case F_LOCAL64: *(uint64_t *)r.p = value; break;
	case F_MEM32: case F_LOCAL32: *(uint32_t *)r.p = (uint32_t)value; break;
	default: return -1;
	}
	if (r.group)
		vmx_hw_mark_dirty(h, r.group);
	return 0;
}

/* ---- decoding the exiting instruction ----------------------------------------- */
static const void *guest_mem(void *ctx, uint64_t gpa, uint64_t len)
{
	return khw_guest_ptr(ctx, gpa, len);
}

static struct x86_paging paging_of(struct vmx_hw *h)
{
	roof_state *s = h->hw;
	return (struct x86_paging){s->cr0, s->cr3, s->cr4, s->efer, guest_mem,
				   h->c};
}

static uint64_t seg_base(struct vmx_hw *h, unsigned seg)
{
	roof_state *s = h->hw;
	if (h->mode == X86_MODE64 && seg != X86_FS && seg != X86_GS)
		return 0;
	const struct roof_segment *t[6] = {&s->es, &s->cs, &s->ss,
					   &s->ds, &s->fs, &s->gs};
	return t[seg % 6]->base;
}

/* Decode the instruction at guest-linear cs:ip. */
static int decode_at(struct vmx_hw *h, uint64_t ip, struct x86_insn *i)
{
	uint8_t bytes[15];
	struct x86_paging pg = paging_of(h);
	uint64_t lin = seg_base(h, X86_CS) + ip;
	unsigned got = x86_read_linear(&pg, lin, bytes, sizeof bytes);
	if (got == 0)
		return -1;
	return x86_decode(bytes, got, h->mode, i);
}

static bool io_matches(struct vmx_hw *h, const struct x86_insn *i, bool in)
{
	const struct roof_exit_io *io = &h->khw_info.io;
	bool string = i->kind == X86_INS || i->kind == X86_OUTS;
	if (in != (i->kind == X86_IN || i->kind == X86_INS))
		return false;
	/* KVM cannot tell outsb from outb for one item; more need a string */
	if (i->size != io->size || (io->count > 1 && !string))
		return false;
	uint64_t port = i->port_in_dx ? (h->hw->dx & 0xffffu) : i->imm;
	return port == io->port;
}

static void describe_bytes(struct vmx_hw *h, uint64_t ip, char *out,
			   size_t size)
{
	uint8_t b[8];
	struct x86_paging pg = paging_of(h);
	unsigned n = x86_read_linear(&pg, seg_base(h, X86_CS) + ip, b, 8);
	size_t len = 0;
	for (unsigned k = 0; k < n && len + 4 < size; k++)
		len += (size_t)snprintf(out + len, size - len, "%02x ", b[k]);
	if (!n)
		snprintf(out, size, "(not readable)");
}

static int classify_io(struct vmx_hw *h)
{
	roof_state *s = vmx_hw_state(h, ROOF_G_EIP | ROOF_G_ACDB | ROOF_G_CSSS |
					       ROOF_G_CR | ROOF_G_EFER);
	if (!s)
		return -1;
	uint64_t rip = h->exit.rip; /* KVM's rip, set by the caller */
	const struct roof_exit_io *io = &h->khw_info.io;
	bool in = io->dir == ROOF_DIR_IN;
	h->mode = x86_mode_of(s->cr0, s->efer, s->cs.ar);
	bool found = false;
	if (h->retired) {
		/* KVM retired it: find the start that decodes to this very
		 * port access ending at rip */
		for (unsigned k = 1; k <= 6 && k <= rip && !found; k++)
			found = decode_at(h, rip - k, &h->insn) == 0 &&
				h->insn.len == k && io_matches(h, &h->insn, in);
		if (found)
			rip -= h->insn.len;
	} else {
		found = decode_at(h, rip, &h->insn) == 0 &&
			io_matches(h, &h->insn, in);
	}
	if (!found) {
		char bytes[40];
		describe_bytes(h, rip, bytes, sizeof bytes);
		snprintf(h->msg, sizeof h->msg,
			 "vmx_hw: no %s instruction for port 0x%x size %u at rip "
			 "0x%llx (bytes %s)", in ? "in" : "out", io->port,
			 io->size, (unsigned long long)rip, bytes);
		return -1;
	}
	if (io->count > 1) {
		snprintf(h->msg, sizeof h->msg,
			 "vmx_hw: rep string I/O at rip 0x%llx (%u items) is not "
			 "modelled: the substrate batches it",
			 (unsigned long long)rip, io->count);
		return -1;
	}
	bool string = h->insn.kind == X86_INS || h->insn.kind == X86_OUTS;
	h->insn_valid = true;
	h->exit.reason = VMX_EXIT_IO;
	h->exit.rip = rip;
	h->exit.insn_len = h->insn.len;
	h->exit.io_port = io->port;
	h->exit.io_size = io->size;
	h->exit.qualification =
		vmx_io_qualification(io->port, io->size, in, string, h->insn.rep) |
		(h->insn.port_in_dx ? 0 : VMX_IOQ_IMM);
	return 0;
}

static bool mmio_matches(struct vmx_hw *h, const struct x86_insn *i,
			 uint64_t next_ip, bool write, uint64_t *linear)
{
	const struct roof_exit_mmio *m = &h->khw_info.mmio;
	if (i->kind != (write ? X86_MOV_STORE : X86_MOV_LOAD) || i->size != m->len)
		return false;
	uint64_t gpr[16];
	gprs_of(h->hw, gpr);
	uint64_t lin = seg_base(h, i->seg) + x86_operand_offset(i, gpr, next_ip);
	struct x86_paging pg = paging_of(h);
	uint64_t gpa;
	if (x86_translate(&pg, lin, &gpa) || gpa != m->gpa)
		return false;
	if (write) {
		uint64_t mask = m->len >= 8 ? ~0ull : (1ull << (8 * m->len)) - 1;
		uint64_t v = i->reg == X86_NO_REG
				     ? i->imm
				     : x86_reg_read(gpr, i->reg, i->size, i->high8);
		if ((v & mask) != (m->data & mask))
			return false;
	}
	*linear = lin;
	return true;
}

static int classify_mmio(struct vmx_hw *h)
{
	roof_state *s = vmx_hw_state(h, G_DECODE);
	if (!s)
		return -1;
	const struct roof_exit_mmio *m = &h->khw_info.mmio;
	bool write = m->dir == ROOF_DIR_WRITE;
	uint64_t rip = h->exit.rip, lin = 0;
	h->mode = x86_mode_of(s->cr0, s->efer, s->cs.ar);
	bool found = false;
	if (h->retired) {
		/* KVM retired the store: the shortest start that decodes to a
		 * store of this size, to this address, of this value */
		for (unsigned k = 1; k <= 15 && k <= rip && !found; k++)
			found = decode_at(h, rip - k, &h->insn) == 0 &&
				h->insn.len == k &&
				mmio_matches(h, &h->insn, rip, true, &lin);
		if (found)
			rip -= h->insn.len;
	} else {
		found = decode_at(h, rip, &h->insn) == 0 &&
			mmio_matches(h, &h->insn, rip + h->insn.len, write, &lin);
	}
	if (!found) {
		char bytes[40];
		describe_bytes(h, rip, bytes, sizeof bytes);
		snprintf(h->msg, sizeof h->msg,
			 "vmx_hw: no mov form for the %u-byte MMIO %s of gpa "
			 "0x%llx at rip 0x%llx (bytes %s)", m->len,
			 write ? "write" : "read", (unsigned long long)m->gpa,
			 (unsigned long long)rip, bytes);
		return -1;
	}
	h->insn_valid = true;
	h->exit.reason = VMX_EXIT_EPT_VIOLATION;
	h->exit.rip = rip;
	h->exit.insn_len = 0; /* not defined for EPT violations */
	h->exit.guest_phys = m->gpa;
	h->exit.guest_linear = lin;
	h->exit.mmio_len = m->len;
	h->exit.mmio_data = m->data;
	/* bit 7: guest-linear address valid, bit 8: access to its translation */
	h->exit.qualification = (write ? VMX_EPTQ_WRITE : VMX_EPTQ_READ) |
				(1u << 7) | (1u << 8);
	return 0;
}

static void classify(struct vmx_hw *h)
{
	const struct khw_exit *x = khw_last_exit(h->c);
	h->kind = x->reason;
	h->khw_info = x->info;
	h->retired = x->retired;
	h->loaded = h->dirty = 0;
	h->insn_valid = false;
	h->msg[0] = 0;
	memset(&h->exit, 0, sizeof h->exit);
	/* KVM's rip, before any VMX adjustment */
	bool have_rip = h->kind == ROOF_EXIT_BACKEND_ERROR ||
			kvm_rip(h, &h->exit.rip) == 0;
	int rc = 0;
	switch (h->kind) {
	case ROOF_EXIT_IO:
		rc = classify_io(h);
		break;
	case ROOF_EXIT_MMIO:
		rc = classify_mmio(h);
		break;
	case ROOF_EXIT_HLT:
		h->exit.reason = VMX_EXIT_HLT;
		h->exit.insn_len = 1;
		break;
	case ROOF_EXIT_MSR_READ:
		h->exit.reason = VMX_EXIT_RDMSR;
		h->exit.insn_len = 2;
		break;
	case ROOF_EXIT_MSR_WRITE:
		h->exit.reason = VMX_EXIT_WRMSR;
		h->exit.insn_len = 2;
		break;
	case ROOF_EXIT_CPUID:
		h->exit.reason = VMX_EXIT_CPUID;
		h->exit.insn_len = 2;
		break;
	case ROOF_EXIT_PAUSED:
		h->exit.reason = VMX_EXIT_EXTERNAL_INTERRUPT;
		h->exit.recalled = true;
		break;
	case ROOF_EXIT_IRQ_WINDOW:
		h->exit.reason = VMX_EXIT_INTERRUPT_WINDOW;
		break;
	case ROOF_EXIT_SHUTDOWN:
		h->exit.reason = VMX_EXIT_TRIPLE_FAULT;
		break;
	case ROOF_EXIT_DEBUG:
		/* exception exit, #DB: valid, hardware exception, vector 1 */
		h->exit.reason = VMX_EXIT_EXCEPTION_NMI;
		h->exit.intr_info = (1u << 31) | (3u << 8) | 1u;
		break;
	case ROOF_EXIT_INVALID_STATE:
		h->exit.reason = VMX_EXIT_INVALID_GUEST_STATE |
				 VMX_EXIT_ENTRY_FAILURE;
		snprintf(h->msg, sizeof h->msg, "%s", x->msg);
		h->exit.error = h->msg;
		break;
	default:
		snprintf(h->msg, sizeof h->msg, "%s",
			 x->msg[0] ? x->msg : "substrate failure");
		rc = -1;
		break;
	}
	if (!have_rip) {
		snprintf(h->msg, sizeof h->msg, "%s", khw_error(h->c));
		rc = -1;
	}
	if (rc) {
		h->exit.reason = VMX_HW_NOT_VMX;
		h->exit.error = h->msg;
	}
	if (h->loaded & ROOF_G_EIP) { /* decoding loaded it: the VMX view */
		h->hw->ip = h->exit.rip;
		h->hw->ip_len = h->exit.insn_len;
	}
}

/* ---- entry: hand the VMM's completion to KVM ------------------------------------ */
static bool completes_itself(roof_exit kind)
{
	return kind == ROOF_EXIT_IO || kind == ROOF_EXIT_MMIO ||
	       kind == ROOF_EXIT_MSR_READ || kind == ROOF_EXIT_MSR_WRITE ||
	       kind == ROOF_EXIT_CPUID;
}

/* GPR groups the VMM wrote only with what KVM's own completion will write
 * (the in data into rax, an mmio read into its register, rdmsr into
 * edx:eax) carry no change: dropping them spares the extra entry that
 * would otherwise have to finish KVM's instruction first (kvm_hw.c,
 * apply_deferred). KVM's emulator zero-extends 32-bit results in every
 * mode; where the VMM merged differently the group stays and goes the
 * slow, exact way. */
static void drop_completed_gprs(struct vmx_hw *h,
				const struct roof_exit_info *comp)
{
	static const struct {
		uint64_t group;
		uint8_t n;
		uint8_t regs[8];
	} groups[] = {
		{ROOF_G_ACDB, 4, {0, 1, 2, 3}},
		{ROOF_G_EBSD, 3, {5, 6, 7}},
		{ROOF_G_ESP, 1, {4}},
		{ROOF_G_R8_R15, 8, {8, 9, 10, 11, 12, 13, 14, 15}},
	};
	if (!(h->dirty & G_GPRS & ~ROOF_G_EIP))
		return;
	uint64_t after[16];
	memcpy(after, h->delivered, sizeof after);
	switch (h->kind) {
	case ROOF_EXIT_IO:
		if (comp->io.dir != ROOF_DIR_IN)
			return;
		x86_reg_write(after, 0, comp->io.size, false, comp->io.data,
			      X86_MODE64);
		break;
	case ROOF_EXIT_MMIO:
		if (comp->mmio.dir != ROOF_DIR_READ || !h->insn_valid)
			return;
		x86_reg_write(after, h->insn.reg, h->insn.reg_size, h->insn.high8,
			      x86_load_value(&h->insn, comp->mmio.data),
			      X86_MODE64);
		break;
	case ROOF_EXIT_MSR_READ:
		if (comp->msr.fault)
			return;
		after[0] = comp->msr.value & 0xffffffffull;
		after[2] = comp->msr.value >> 32;
		break;
	default:
		return;
	}
	for (size_t g = 0; g < sizeof groups / sizeof groups[0]; g++) {
		if (!(h->dirty & groups[g].group))
			continue;
		bool same = true;
		for (unsigned i = 0; i < groups[g].n && same; i++) {
			unsigned r = groups[g].regs[i];
			same = *roof_gpr_raw(h->hw, r) == after[r];
		}
		if (same)
			h->dirty &= ~groups[g].group;
	}
}

/* The VMM answered the exit VMX-style; turn that into KVM's completion. */
static int reconcile(struct vmx_hw *h, struct roof_exit_info *comp)
{
	*comp = h->khw_info;
	if (h->exit.reason == VMX_HW_NOT_VMX || h->exit.startup ||
	    h->exit.recalled)
		return 0;
	roof_state *s;
	switch (h->kind) {
	case ROOF_EXIT_IO:
		if (comp->io.dir == ROOF_DIR_IN) {
			if (!(s = vmx_hw_state(h, ROOF_G_ACDB)))
				return -1;
			comp->io.data = (uint32_t)s->ax;
		}
		break;
	case ROOF_EXIT_MMIO:
		if (comp->mmio.dir == ROOF_DIR_READ && h->insn_valid) {
			if (!(s = vmx_hw_state(h, G_GPRS)))
				return -1;
			uint64_t gpr[16];
			gprs_of(s, gpr);
			comp->mmio.data = x86_reg_read(gpr, h->insn.reg,
						       h->insn.size, h->insn.high8);
		}
		break;
	case ROOF_EXIT_MSR_READ:
	case ROOF_EXIT_MSR_WRITE:
		if (!(s = vmx_hw_state(h, ROOF_G_ACDB | ROOF_G_INJ)))
			return -1;
		comp->msr.value = (s->dx << 32) | (s->ax & 0xffffffffull);
		/* a #GP the VMM injects is the failure of the rdmsr/wrmsr */
		if ((h->dirty & ROOF_G_INJ) && (s->inj_info & (1u << 31)) &&
		    ((s->inj_info >> 8) & 7u) == 3 && (s->inj_info & 0xffu) == 13) {
			comp->msr.fault = 1;
			s->inj_info = 0;
			s->inj_error = 0;
		}
		break;
	case ROOF_EXIT_CPUID:
		if (!(s = vmx_hw_state(h, ROOF_G_ACDB)))
			return -1;
		comp->cpuid.eax = (uint32_t)s->ax;
		comp->cpuid.ebx = (uint32_t)s->bx;
		comp->cpuid.ecx = (uint32_t)s->cx;
		comp->cpuid.edx = (uint32_t)s->dx;
		break;
	default:
		break;
	}
	/* rip + length is what KVM's completion does itself */
	if ((h->dirty & ROOF_G_EIP) && completes_itself(h->kind)) {
		uint64_t len = h->kind == ROOF_EXIT_MMIO ? h->insn.len
							 : h->exit.insn_len;
		if (h->hw->ip == h->exit.rip + len)
			h->dirty &= ~ROOF_G_EIP;
	}
	drop_completed_gprs(h, comp);
	return 0;
}

/* Everything the VMM wrote goes to the substrate. */
static int flush_view(struct vmx_hw *h)
{
	struct roof_exit_info comp;
	if (reconcile(h, &comp))
		return -1;
	if (h->dirty && khw_writeback(h->c, h->hw, h->dirty) != ROOF_OK) {
		set_err(h, "%s", khw_error(h->c));
		return -1;
	}
	h->dirty = 0;
	khw_complete(h->c, &comp);
	return 0;
}

int vmx_hw_run(struct vmx_hw *h)
{
	h->err[0] = 0;
	if (flush_view(h)) {
		snprintf(h->msg, sizeof h->msg, "%s", h->err);
		h->exit.reason = VMX_HW_NOT_VMX;
		h->exit.error = h->msg;
		return ROOF_EKERNEL;
	}
	int rc = khw_run(h->c);
	classify(h);
	if (rc)
		set_err(h, "%s", h->msg);
	return rc;
}

void vmx_hw_synthetic(struct vmx_hw *h, bool startup)
{
	flush_view(h); /* a stopped vCPU keeps what its VMM wrote */
	khw_synthetic(h->c, startup ? ROOF_EXIT_STARTUP : ROOF_EXIT_PAUSED);
	h->kind = startup ? ROOF_EXIT_STARTUP : ROOF_EXIT_PAUSED;
	memset(&h->khw_info, 0, sizeof h->khw_info);
	h->loaded = h->dirty = 0;
	h->insn_valid = false;
	memset(&h->exit, 0, sizeof h->exit);
	if (kvm_rip(h, &h->exit.rip))
		h->exit.rip = 0; /* the fetch error surfaces at the next access */
	h->exit.startup = startup;
	h->exit.recalled = !startup;
	h->exit.reason = startup ? ROOF_NATIVE_STARTUP
				 : VMX_EXIT_EXTERNAL_INTERRUPT;
}
