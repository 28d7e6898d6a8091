/*
 * sel4_kernel.c - an seL4 VCPU over vmx_hw (see sel4_kernel.h).
 *
 * Modelled on seL4 13.0.0 (cd6d3b8c, the revision Genode's
 * repos/base-sel4/ports/sel4.port builds) with Genode's patches:
 *   src/arch/x86/object/vcpu.c  vcpu_init (cr0 = fixed bits, masks and
 *       shadow 0, cr4 = fixed bits), decodeReadVMCS / decodeWriteVMCS
 *       (whitelists; applyFixedBits(uint32_t, ...) on controls, cr0,
 *       cr4), readVMCSField (cr0 and its mask/shadow from the vcpu
 *       object), invokeVCPUWriteRegisters, vcpu_update_state_sysvmenter
 *       (MR0..MR2 into RIP, primary controls, entry info), setMRs_vmexit
 *       and handleVmexit (which reasons carry a qualification),
 *       finishVmexitSaving (cr0 read back after every exit).
 *   src/arch/x86/c_traps.c  a SysVMEnter with the bound notification
 *       active returns at once with the MRs as sent.
 *   Genode's intel_vmcs.patch (ENTRY_INSTRUCTION_LENGTH writable,
 *       ENTRY_EXCEPTION_ERROR_CODE readable), intel_vmx_full_state.patch
 *       (a notification return after the guest ran carries all MRs),
 *       intel_ug.patch (unrestricted guest: PE and PG are not fixed).
 *
 * What the substrate forces (README.md): the hardware's cr0/cr4 are the
 * guest-visible values (KVM keeps no read shadow of ours), so the VMCS cr0,
 * cr4, their masks and shadows live here and the visible value
 * (cr & ~mask) | (shadow & mask) goes to the hardware; cr4.VMXE, which
 * VMX forces on, never reaches it.
 */
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sel4_kernel.h"
#include "x86_arch.h"

#define BIT(n) (1ull << (n))
#define CR4_VMXE BIT(13)
#define CR0_NE BIT(5)
#define INJ_REQ_BITS 0x3000u /* vmx_hw's irq/nmi-window request bits */
#define PPC_IRQ_WINDOW BIT(2)

/* The fixed-1 bits seL4 applies on WriteVMCS (vcpu.c init_vtx_fixed_values:
 * its own required controls; the CPU's default-1 bits are none on the
 * model's hardware; with Genode's intel_ug.patch cr0 needs only NE). */
#define PIN_HIGH (BIT(0) | BIT(3) | BIT(5))
#define PRIMARY_HIGH (BIT(25) | BIT(28) | BIT(31))
#define SECONDARY_HIGH BIT(1)
#define EXIT_HIGH (BIT(2) | BIT(9) | BIT(18) | BIT(19) | BIT(20) | BIT(21))
#define CR0_HIGH CR0_NE
#define CR4_HIGH CR4_VMXE

/* Groups the kernel reads from the hardware at every exit to fill the MRs:
 * rip, flags, GPRs (regs), entry info and interruptibility (events), cr3
 * and cr0/cr4 (sregs), primary controls (local). */
#define KERNEL_EXIT_GROUPS                                                   \
	(ROOF_G_ACDB | ROOF_G_EBSD | ROOF_G_EIP | ROOF_G_EFL | ROOF_G_CTRL |  \
	 ROOF_G_INJ | ROOF_G_STA | ROOF_G_CR)

struct sel4_kernel {
	struct vmx_hw *hw;
	struct roof_vcpu *v;
	struct sel4_ipc_buffer *ipc;
	/* vcpu_t: the GPRs the kernel saves (eax ebx ecx edx esi edi ebp),
	 * cr0 with its mask and shadow; the cr4 ones are VMCS fields */
	sel4_word gp[7];
	bool gp_dirty;
	uint64_t cr0, cr0_mask, cr0_shadow;
	uint64_t cr4, cr4_mask, cr4_shadow;
	/* What the hardware holds, to skip writes of unchanged values. */
	uint64_t hw_cr0, hw_cr4;
	bool hw_cr_known;
	sel4_word hw_rip, hw_ppc;
	uint32_t hw_info;
	bool hw_entry_known;
	atomic_bool notification;
	atomic_uint remote_signals;
	int64_t tsc_delta; /* guest TSC - host TSC, measured at STARTUP */
	char err[256];
};

static void set_err(struct sel4_kernel *k, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static void set_err(struct sel4_kernel *k, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(k->err, sizeof k->err, fmt, ap);
	va_end(ap);
}

/* ---- whitelists (vcpu.c decodeReadVMCS / decodeWriteVMCS) -------------------- */
static bool guest_state_field(uint32_t f)
{
	if (f >= VMCS_GUEST_ES_SEL && f <= VMCS_GUEST_TR_SEL && !(f & 1))
		return true;
	if (f >= VMCS_GUEST_ES_LIMIT && f <= 0x482a && !(f & 1))
		return true; /* limits, gdtr/idtr limits, ar, interruptibility,
			      * activity, smbase, sysenter_cs */
	if (f >= VMCS_GUEST_ES_BASE && f <= VMCS_GUEST_SYSENTER_EIP && !(f & 1))
		return true; /* bases, dr7, rsp, rip, rflags, pending dbg,
			      * sysenter esp/eip */
	switch (f) {
	case 0x2802: case 0x2804: case VMCS_GUEST_EFER: case 0x2808:
	case VMCS_GUEST_PDPTE0: case VMCS_GUEST_PDPTE1: case VMCS_GUEST_PDPTE2:
	case VMCS_GUEST_PDPTE3: case 0x482e:
	case VMCS_CR0_MASK: case VMCS_CR4_MASK: case VMCS_CR0_SHADOW:
	case VMCS_CR4_SHADOW: case VMCS_GUEST_CR0: case VMCS_GUEST_CR3:
	case VMCS_GUEST_CR4: case VMCS_EXCEPTION_BITMAP: case VMCS_ENTRY_INTR_INFO:
	case VMCS_PIN_CTLS: case VMCS_PROC_CTLS:
	case VMCS_ENTRY_EXC_ERROR: /* read: Genode's intel_vmcs.patch */
		return true;
	default:
		return false;
	}
}

bool sel4_kernel_readable(uint32_t f)
{
	if (guest_state_field(f))
		return true;
	switch (f) {
	case VMCS_INSTR_ERROR: case VMCS_EXIT_INTR_INFO: case VMCS_EXIT_INTR_ERROR:
	case VMCS_IDT_VECTORING_INFO: case VMCS_IDT_VECTORING_ERROR:
	case VMCS_EXIT_INSTR_LEN: case VMCS_EXIT_INSTR_INFO:
	case VMCS_GUEST_PHYS_ADDR: case 0x6402: case 0x6404: case 0x6406:
	case 0x6408: case VMCS_GUEST_LINEAR_ADDR: case 0x400c /* exit ctls */:
		return true;
	default:
		return false;
	}
}

bool sel4_kernel_writable(uint32_t f)
{
	if (guest_state_field(f))
		return true;
	switch (f) {
	case VMCS_PROC_CTLS2: case 0x400c /* exit ctls */:
	case VMCS_ENTRY_INSTR_LEN: /* Genode's intel_vmcs.patch */
		return true;
	default:
		return false;
	}
}

/* applyFixedBits takes and returns uint32_t: bits 63:32 vanish. */
static uint64_t apply_fixed(uint64_t value, uint32_t high)
{
	return (uint32_t)value | high;
}

/* ---- the hardware ------------------------------------------------------------------ */
static int hw_read(struct sel4_kernel *k, uint32_t field, uint64_t *value)
{
	if (vmx_hw_vmread(k->hw, field, value) == 0)
		return 0;
	set_err(k, "the model's VT-x hardware: %s", vmx_hw_error(k->hw));
	return -1;
}

static int hw_write(struct sel4_kernel *k, uint32_t field, uint64_t value)
{
	if (vmx_hw_vmwrite(k->hw, field, value) == 0)
		return 0;
	set_err(k, "the model's VT-x hardware: %s", vmx_hw_error(k->hw));
	return -1;
}

static uint64_t visible_cr0(const struct sel4_kernel *k)
{
	return (k->cr0 & ~k->cr0_mask) | (k->cr0_shadow & k->cr0_mask);
}

static uint64_t visible_cr4(const struct sel4_kernel *k)
{
	return ((k->cr4 & ~k->cr4_mask) | (k->cr4_shadow & k->cr4_mask)) &
	       ~CR4_VMXE;
}

/* Before an entry: the GPRs WriteRegisters set, the visible cr0/cr4. */
static int push(struct sel4_kernel *k)
{
	if (k->gp_dirty) {
		roof_state *s = vmx_hw_state(k->hw, ROOF_G_ACDB | ROOF_G_EBSD);
		if (!s) {
			set_err(k, "the model's VT-x hardware: %s", vmx_hw_error(k->hw));
			return -1;
		}
		s->ax = k->gp[0];
		s->bx = k->gp[1];
		s->cx = k->gp[2];
		s->dx = k->gp[3];
		s->si = k->gp[4];
		s->di = k->gp[5];
		s->bp = k->gp[6];
		vmx_hw_mark_dirty(k->hw, ROOF_G_ACDB | ROOF_G_EBSD);
		k->gp_dirty = false;
	}
	uint64_t cr0 = visible_cr0(k), cr4 = visible_cr4(k);
	if ((!k->hw_cr_known || cr0 != k->hw_cr0) && hw_write(k, VMCS_GUEST_CR0, cr0))
		return -1;
	if ((!k->hw_cr_known || cr4 != k->hw_cr4) && hw_write(k, VMCS_GUEST_CR4, cr4))
		return -1;
	k->hw_cr0 = cr0;
	k->hw_cr4 = cr4;
	k->hw_cr_known = true;
	return 0;
}

/* After the guest ran: the GPRs the exit saved, and cr0/cr4 as the guest
 * left them (finishVmexitSaving). The guest changes the bits it owns
 * freely. A change of a bit the VMM owns would have been a MOV-CR exit on
 * VT-x; the substrate has completed it, so it is folded into the read
 * shadow, where the VMM's emulation of that exit would have put it. */
static int sync(struct sel4_kernel *k)
{
	roof_state *s = vmx_hw_state(k->hw, ROOF_G_ACDB | ROOF_G_EBSD);
	uint64_t cr0, cr4;
	if (!s || hw_read(k, VMCS_GUEST_CR0, &cr0) || hw_read(k, VMCS_GUEST_CR4, &cr4)) {
		if (!s)
			set_err(k, "the model's VT-x hardware: %s", vmx_hw_error(k->hw));
		return -1;
	}
	k->gp[0] = s->ax;
	k->gp[1] = s->bx;
	k->gp[2] = s->cx;
	k->gp[3] = s->dx;
	k->gp[4] = s->si;
	k->gp[5] = s->di;
	k->gp[6] = s->bp;
	k->cr0 = (cr0 & ~k->cr0_mask) | (k->cr0 & k->cr0_mask);
	k->cr0_shadow ^= (cr0 ^ k->cr0_shadow) & k->cr0_mask;
	uint64_t owned4 = k->cr4_mask & ~CR4_VMXE;
	k->cr4 = (cr4 & ~k->cr4_mask) | (k->cr4 & k->cr4_mask) | CR4_HIGH;
	k->cr4_shadow ^= (cr4 ^ k->cr4_shadow) & owned4;
	k->hw_cr0 = cr0;
	k->hw_cr4 = cr4;
	k->hw_cr_known = true;
	return 0;
}

/* handleVmexit: the reasons whose exit qualification seL4 passes on */
static bool has_qualification(uint32_t reason)
{
	switch (reason) {
	case 0: case 4: case 9: case 14: case 19: case 21: case 22: case 23:
	case 25: case 27: case 28: case 29: case 30: case 36: case 43: case 44:
	case 46: case 47: case 48: case 50: case 53:
		return true;
	default:
		return false;
	}
}

/* setMRs_vmexit */
static int fill_mrs(struct sel4_kernel *k, uint32_t reason, uint64_t qual)
{
	sel4_word *mr = k->ipc->msg;
	uint64_t rip, info, len, gpa, flags, intr, cr3;
	if (hw_read(k, VMCS_GUEST_RIP, &rip) ||
	    hw_read(k, VMCS_ENTRY_INTR_INFO, &info) ||
	    hw_read(k, VMCS_EXIT_INSTR_LEN, &len) ||
	    hw_read(k, VMCS_GUEST_PHYS_ADDR, &gpa) ||
	    hw_read(k, VMCS_GUEST_RFLAGS, &flags) ||
	    hw_read(k, VMCS_GUEST_INTERRUPTIBILITY, &intr) ||
	    hw_read(k, VMCS_GUEST_CR3, &cr3))
		return -1;
	k->hw_rip = rip;
	k->hw_info = (uint32_t)info;
	k->hw_entry_known = true;
	mr[SEL4_VMENTER_CALL_EIP_MR] = rip;
	mr[SEL4_VMENTER_CALL_CONTROL_PPC_MR] = k->hw_ppc;
	mr[SEL4_VMENTER_CALL_INTERRUPT_INFO_MR] = (uint32_t)info & ~INJ_REQ_BITS;
	mr[SEL4_VMENTER_FAULT_REASON_MR] = reason;
	mr[SEL4_VMENTER_FAULT_QUALIFICATION_MR] = qual;
	mr[SEL4_VMENTER_FAULT_INSTRUCTION_LEN_MR] = len;
	mr[SEL4_VMENTER_FAULT_GUEST_PHYSICAL_MR] = gpa;
	mr[SEL4_VMENTER_FAULT_RFLAGS_MR] = flags;
	mr[SEL4_VMENTER_FAULT_GUEST_INT_MR] = intr;
	mr[SEL4_VMENTER_FAULT_CR3_MR] = cr3;
	for (unsigned i = 0; i < 7; i++)
		mr[SEL4_VMENTER_FAULT_EAX + i] = k->gp[i];
	return 0;
}

/* vcpu_update_state_sysvmenter: RIP, primary controls, entry info. The
 * irq-window request is a primary control on VT-x and an inj_info bit on
 * vmx_hw. */
static int update_entry(struct sel4_kernel *k)
{
	const sel4_word *mr = k->ipc->msg;
	sel4_word rip = mr[SEL4_VMENTER_CALL_EIP_MR];
	sel4_word ppc = apply_fixed(mr[SEL4_VMENTER_CALL_CONTROL_PPC_MR],
				    PRIMARY_HIGH);
	uint32_t info = (uint32_t)mr[SEL4_VMENTER_CALL_INTERRUPT_INFO_MR] &
			~INJ_REQ_BITS;
	if (ppc & PPC_IRQ_WINDOW)
		info |= 0x1000u;
	bool known = k->hw_entry_known;
	if ((!known || rip != k->hw_rip) && hw_write(k, VMCS_GUEST_RIP, rip))
		return -1;
	if ((!known || ppc != k->hw_ppc) && hw_write(k, VMCS_PROC_CTLS, ppc))
		return -1;
	if ((!known || info != k->hw_info) && hw_write(k, VMCS_ENTRY_INTR_INFO, info))
		return -1;
	k->hw_rip = rip;
	k->hw_ppc = ppc;
	k->hw_info = info;
	k->hw_entry_known = true;
	return 0;
}

/* ---- the system calls ----------------------------------------------------------------- */
static int sys_vmenter(void *kp, sel4_word *badge, bool *ran)
{
	struct sel4_kernel *k = kp;
	*ran = false;
	*badge = 0;
	k->err[0] = 0;
	if (update_entry(k) || push(k))
		return ROOF_EKERNEL;
	if (atomic_exchange(&k->notification, false)) {
		/* c_traps.c: the bound notification is active: return at once,
		 * MRs as sent. The hardware takes what was written. */
		vmx_hw_synthetic(k->hw, false);
		*badge = 1;
		return SEL4_VMENTER_RESULT_NOTIF;
	}
	for (;;) {
		int rc = vmx_hw_run(k->hw);
		const struct vmx_exit_info *x = vmx_hw_exit(k->hw);
		if (x->reason == VMX_HW_NOT_VMX) {
			set_err(k, "%s", x->error ? x->error : vmx_hw_error(k->hw));
			return rc ? rc : ROOF_EKERNEL;
		}
		if (sync(k))
			return ROOF_EKERNEL;
		*ran = true;
		if (x->recalled) {
			/* a recall without the notification is the substrate's
			 * (a kick that arrived late): not a seL4 event */
			if (!atomic_exchange(&k->notification, false))
				continue;
			/* Genode's intel_vmx_full_state.patch: all MRs */
			if (fill_mrs(k, SEL4_FAULT_REASON_NONE, ~0ull))
				return ROOF_EKERNEL;
			*badge = 1;
			return SEL4_VMENTER_RESULT_NOTIF;
		}
		/* basic reason: bits 15:0 (handleVmexit); an entry that failed
		 * on the guest state is reason 33 */
		uint32_t reason = x->reason & 0xffffu;
		if (x->error)
			set_err(k, "%s", x->error);
		if (fill_mrs(k, reason,
			     has_qualification(reason) ? x->qualification : 0))
			return ROOF_EKERNEL;
		return SEL4_VMENTER_RESULT_FAULT;
	}
}

static struct sel4_read_vmcs_result sys_read_vmcs(void *kp, sel4_word field)
{
	struct sel4_kernel *k = kp;
	struct sel4_read_vmcs_result r = {SEL4_NO_ERROR, 0};
	uint64_t v = 0;
	if (field > 0xffff || !sel4_kernel_readable((uint32_t)field)) {
		set_err(k, "VCPU ReadVMCS: Invalid field %llx.",
			(unsigned long long)field);
		r.error = SEL4_ILLEGAL_OPERATION;
		return r;
	}
	switch (field) {
	case VMCS_GUEST_CR0: v = k->cr0; break;
	case VMCS_CR0_MASK: v = k->cr0_mask; break;
	case VMCS_CR0_SHADOW: v = k->cr0_shadow; break;
	case VMCS_GUEST_CR4: v = k->cr4; break;
	case VMCS_CR4_MASK: v = k->cr4_mask; break;
	case VMCS_CR4_SHADOW: v = k->cr4_shadow; break;
	case VMCS_PROC_CTLS:
		if (!k->hw_entry_known && hw_read(k, VMCS_PROC_CTLS, &k->hw_ppc))
			goto fail;
		v = k->hw_ppc;
		break;
	case VMCS_ENTRY_INTR_INFO:
		if (hw_read(k, VMCS_ENTRY_INTR_INFO, &v))
			goto fail;
		v &= ~(uint64_t)INJ_REQ_BITS;
		break;
	default:
		if (hw_read(k, (uint32_t)field, &v))
			goto fail;
		break;
	}
	k->ipc->msg[0] = v; /* invokeReadVMCS replies in MR0 */
	r.value = v;
	return r;
fail:
	r.error = SEL4_ILLEGAL_OPERATION;
	return r;
}

static struct sel4_write_vmcs_result sys_write_vmcs(void *kp, sel4_word field,
						    sel4_word value)
{
	struct sel4_kernel *k = kp;
	struct sel4_write_vmcs_result r = {SEL4_NO_ERROR, 0};
	if (field > 0xffff || !sel4_kernel_writable((uint32_t)field)) {
		set_err(k, "VCPU WriteVMCS: Invalid field %llx.",
			(unsigned long long)field);
		r.error = SEL4_ILLEGAL_OPERATION;
		return r;
	}
	int rc = 0;
	switch (field) {
	case VMCS_GUEST_CR0: k->cr0 = value = apply_fixed(value, CR0_HIGH); break;
	case VMCS_CR0_MASK: k->cr0_mask = value; break;
	case VMCS_CR0_SHADOW: k->cr0_shadow = value; break;
	case VMCS_GUEST_CR4: k->cr4 = value = apply_fixed(value, CR4_HIGH); break;
	case VMCS_CR4_MASK: k->cr4_mask = value; break;
	case VMCS_CR4_SHADOW: k->cr4_shadow = value; break;
	case VMCS_PIN_CTLS:
		value = apply_fixed(value, PIN_HIGH);
		rc = hw_write(k, (uint32_t)field, value);
		break;
	case VMCS_PROC_CTLS:
		value = apply_fixed(value, PRIMARY_HIGH);
		rc = hw_write(k, (uint32_t)field, value);
		k->hw_ppc = value;
		break;
	case VMCS_PROC_CTLS2:
		value = apply_fixed(value, SECONDARY_HIGH);
		rc = hw_write(k, (uint32_t)field, value);
		break;
	case 0x400c: /* exit controls: fixed bits, then the hardware */
		value = apply_fixed(value, EXIT_HIGH);
		rc = hw_write(k, (uint32_t)field, value);
		break;
	case VMCS_GUEST_RIP:
		rc = hw_write(k, VMCS_GUEST_RIP, value);
		k->hw_rip = value;
		break;
	case VMCS_ENTRY_INTR_INFO: {
		uint32_t info = (uint32_t)value & ~INJ_REQ_BITS;
		if (k->hw_ppc & PPC_IRQ_WINDOW)
			info |= 0x1000u;
		rc = hw_write(k, VMCS_ENTRY_INTR_INFO, info);
		k->hw_info = info;
		break;
	}
	default:
		rc = hw_write(k, (uint32_t)field, value);
		break;
	}
	if (rc) {
		r.error = SEL4_ILLEGAL_OPERATION;
		return r;
	}
	k->ipc->msg[0] = value; /* invokeWriteVMCS replies what it wrote */
	r.written = value;
	return r;
}

static int sys_write_registers(void *kp, const struct sel4_vcpu_context *regs)
{
	struct sel4_kernel *k = kp;
	const sel4_word in[7] = {regs->eax, regs->ebx, regs->ecx, regs->edx,
				 regs->esi, regs->edi, regs->ebp};
	memcpy(k->gp, in, sizeof k->gp);
	k->gp_dirty = true;
	return SEL4_NO_ERROR;
}

/* The vCPU thread signals its own notification (Genode's PAUSE path for
 * a stopped vCPU): nothing runs that would have to leave. */
static void sys_signal(void *kp)
{
	struct sel4_kernel *k = kp;
	atomic_store(&k->notification, true);
}

/* Genode's tsc is Trace::timestamp(), an rdtsc: on seL4 the guest's TSC
 * too (no TSC offsetting). The substrate's guest TSC runs at a fixed
 * offset from the host's (KVM's TSC offset; it would change only if the
 * guest wrote IA32_TSC, which on seL4 exits to the VMM, as every MSR but
 * SYSENTER_* does): measured once at STARTUP, then an rdtsc, as Genode. */
static uint64_t host_timestamp(void *kp)
{
	struct sel4_kernel *k = kp;
	return roof_rdtsc() + (uint64_t)k->tsc_delta;
}

static void measure_tsc_delta(struct sel4_kernel *k)
{
	uint64_t before = roof_rdtsc();
	roof_state *s = vmx_hw_state(k->hw, ROOF_G_TSC);
	uint64_t after = roof_rdtsc();
	k->tsc_delta = s ? (int64_t)(s->tsc - (before + (after - before) / 2)) : 0;
}

static const char *host_error(void *kp)
{
	struct sel4_kernel *k = kp;
	return k->err[0] ? k->err : "no error recorded";
}

static void host_report(void *kp, int err, const char *text)
{
	struct sel4_kernel *k = kp;
	roof_vcpu_fail(k->v, err, "%s", text);
}

const struct sel4_kernel_ops sel4_kernel_ops = {
	.vmenter = sys_vmenter,
	.read_vmcs = sys_read_vmcs,
	.write_vmcs = sys_write_vmcs,
	.write_registers = sys_write_registers,
	.signal = sys_signal,
	.timestamp = host_timestamp,
	.error = host_error,
	.report = host_report,
};

/* ---- the object -------------------------------------------------------------------------- */
int sel4_kernel_create(struct roof_vm *vm, struct roof_vcpu *v,
		       struct sel4_kernel **out)
{
	*out = NULL;
	struct sel4_kernel *k = calloc(1, sizeof *k);
	struct sel4_ipc_buffer *ipc = aligned_alloc(sizeof *ipc, sizeof *ipc);
	if (!k || !ipc) {
		free(k);
		free(ipc);
		return roof_vm_fail(vm, ROOF_ENOMEM, "sel4: out of memory");
	}
	memset(ipc, 0, sizeof *ipc);
	int rc = vmx_model_vcpu_hw(vm, v, &v->counters.substrate_ioctls, &k->hw);
	if (rc) {
		free(k);
		free(ipc);
		return rc;
	}
	k->v = v;
	k->ipc = ipc;
	/* vcpu_init: cr0 = the fixed-1 bits, mask and shadow 0; cr4 = its
	 * fixed-1 bits (VMXE); a new object's GPRs are zero */
	k->cr0 = CR0_HIGH;
	k->cr4 = CR4_HIGH;
	atomic_init(&k->notification, false);
	atomic_init(&k->remote_signals, 0);
	for (unsigned e = 0; e < ROOF_EXIT_COUNT; e++)
		vmx_hw_set_need(k->hw, (roof_exit)e, KERNEL_EXIT_GROUPS);
	k->gp_dirty = true; /* the zero GPRs go in at the first entry */
	*out = k;
	return ROOF_OK;
}

void sel4_kernel_destroy(struct sel4_kernel *k)
{
	if (!k)
		return;
	vmx_hw_destroy(k->hw);
	free(k->ipc);
	free(k);
}

struct sel4_ipc_buffer *sel4_kernel_ipc(struct sel4_kernel *k)
{
	return k->ipc;
}

struct vmx_hw *sel4_kernel_hw(struct sel4_kernel *k)
{
	return k->hw;
}

int sel4_kernel_thread_init(struct sel4_kernel *k)
{
	return vmx_hw_thread_init(k->hw);
}

void sel4_kernel_startup(struct sel4_kernel *k)
{
	vmx_hw_synthetic(k->hw, true);
	measure_tsc_delta(k);
	k->hw_entry_known = false;
	k->hw_cr_known = false;
}

void sel4_kernel_recall(struct sel4_kernel *k)
{
	atomic_store(&k->notification, true);
	atomic_fetch_add(&k->remote_signals, 1);
	vmx_hw_recall(k->hw);
}

bool sel4_kernel_notification_pending(struct sel4_kernel *k)
{
	return atomic_load(&k->notification);
}

unsigned sel4_kernel_take_remote_signals(struct sel4_kernel *k)
{
	return atomic_exchange(&k->remote_signals, 0);
}
