/*
 * roof_state.h - the unified x86 vCPU state of oneroof.
 *
 * Covers every field of Genode's Vcpu_state
 * (repos/base/include/spec/x86/cpu/vcpu_state.h) plus a decoded exit info.
 * Fields are grouped; each group is one bit of a transfer mask. The bit
 * positions are those of the NOVA MTD (repos/base-nova/include/nova/
 * syscall-generic.h, Nova::Mtd), so a NOVA client turns a mask into an MTD
 * without a table and every other backend maps the same bits onto its own
 * transfer (sync_regs for KVM, message registers + VMCS calls for seL4, ...).
 *
 * Per group the state tracks, as Genode's Register<T>::charged does:
 *   valid - the backend delivered it for this exit (or it was fetched lazily)
 *   dirty - the VMM wrote it; only dirty groups go back, each group whole.
 *
 * Freestanding: this header needs only <stdint.h>, <stddef.h>, <stdbool.h>.
 */
#ifndef ROOF_STATE_H
#define ROOF_STATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---- transfer-mask groups (bit = NOVA MTD bit) -------------------------- */
enum roof_group_bit {
	ROOF_GB_ACDB = 0,     /* ax cx dx bx */
	ROOF_GB_EBSD = 1,     /* bp si di */
	ROOF_GB_ESP = 2,      /* sp */
	ROOF_GB_EIP = 3,      /* ip, ip_len */
	ROOF_GB_EFL = 4,      /* flags */
	ROOF_GB_ESDS = 5,     /* es ds */
	ROOF_GB_FSGS = 6,     /* fs gs */
	ROOF_GB_CSSS = 7,     /* cs ss */
	ROOF_GB_TR = 8,       /* tr */
	ROOF_GB_LDTR = 9,     /* ldtr */
	ROOF_GB_GDTR = 10,    /* gdtr */
	ROOF_GB_IDTR = 11,    /* idtr */
	ROOF_GB_CR = 12,      /* cr0 cr2 cr3 cr4 */
	ROOF_GB_DR = 13,      /* dr7 */
	ROOF_GB_SYS = 14,     /* sysenter cs/sp/ip */
	ROOF_GB_QUAL = 15,    /* qual_primary, qual_secondary */
	ROOF_GB_CTRL = 16,    /* ctrl_primary, ctrl_secondary */
	ROOF_GB_INJ = 17,     /* inj_info, inj_error */
	ROOF_GB_STA = 18,     /* intr_state, actv_state */
	ROOF_GB_TSC = 19,     /* tsc, tsc_offset */
	ROOF_GB_EFER = 20,    /* efer */
	ROOF_GB_PDPTE = 21,   /* pdpte[0..3] */
	ROOF_GB_R8_R15 = 22,  /* r8..r15 */
	ROOF_GB_SYSCALL = 23, /* star lstar cstar fmask kernel_gs_base */
	ROOF_GB_TPR = 24,     /* tpr, tpr_threshold */
	ROOF_GB_TSC_AUX = 25, /* tsc_aux */
	ROOF_GB_XSAVE = 26,   /* xcr0, xss */
	ROOF_GB_FPU = 31,     /* fpu[], fpu_size */
	ROOF_GB_LIMIT = 32
};

#define ROOF_G(name) (UINT64_C(1) << ROOF_GB_##name)
#define ROOF_G_ACDB ROOF_G(ACDB)
#define ROOF_G_EBSD ROOF_G(EBSD)
#define ROOF_G_ESP ROOF_G(ESP)
#define ROOF_G_EIP ROOF_G(EIP)
#define ROOF_G_EFL ROOF_G(EFL)
#define ROOF_G_ESDS ROOF_G(ESDS)
#define ROOF_G_FSGS ROOF_G(FSGS)
#define ROOF_G_CSSS ROOF_G(CSSS)
#define ROOF_G_TR ROOF_G(TR)
#define ROOF_G_LDTR ROOF_G(LDTR)
#define ROOF_G_GDTR ROOF_G(GDTR)
#define ROOF_G_IDTR ROOF_G(IDTR)
#define ROOF_G_CR ROOF_G(CR)
#define ROOF_G_DR ROOF_G(DR)
#define ROOF_G_SYS ROOF_G(SYS)
#define ROOF_G_QUAL ROOF_G(QUAL)
#define ROOF_G_CTRL ROOF_G(CTRL)
#define ROOF_G_INJ ROOF_G(INJ)
#define ROOF_G_STA ROOF_G(STA)
#define ROOF_G_TSC ROOF_G(TSC)
#define ROOF_G_EFER ROOF_G(EFER)
#define ROOF_G_PDPTE ROOF_G(PDPTE)
#define ROOF_G_R8_R15 ROOF_G(R8_R15)
#define ROOF_G_SYSCALL ROOF_G(SYSCALL)
#define ROOF_G_TPR ROOF_G(TPR)
#define ROOF_G_TSC_AUX ROOF_G(TSC_AUX)
#define ROOF_G_XSAVE ROOF_G(XSAVE)
#define ROOF_G_FPU ROOF_G(FPU)

/* Composite masks. IRQ and ALL follow Nova::Mtd::IRQ and Nova::Mtd::ALL. */
#define ROOF_G_IRQ (ROOF_G_EFL | ROOF_G_STA | ROOF_G_INJ | ROOF_G_TSC)
#define ROOF_G_ALL                                                            \
	((UINT64_C(0x000fffff) & ~ROOF_G_CTRL) | ROOF_G_EFER | ROOF_G_R8_R15 | \
	 ROOF_G_SYSCALL | ROOF_G_TPR)
/* Every group, FPU included: what Genode transfers on every exit since 21.02. */
#define ROOF_G_EVERYTHING                                                    \
	(UINT64_C(0x07ffffff) | ROOF_G_FPU)
#define ROOF_G_VALID_BITS ROOF_G_EVERYTHING

/* ---- exit reasons (kernel-agnostic) ------------------------------------- */
typedef enum roof_exit {
	ROOF_EXIT_STARTUP = 0,   /* first event; the VMM sets the reset state */
	ROOF_EXIT_PAUSED,        /* answer to roof_vcpu_pause() (Genode RECALL) */
	ROOF_EXIT_IO,            /* port I/O, decoded in info.io */
	ROOF_EXIT_MMIO,          /* access to unbacked guest-physical memory */
	ROOF_EXIT_HLT,           /* ip points at the hlt, ip_len = 1 */
	ROOF_EXIT_CPUID,         /* cpuid forwarded to the VMM (info.cpuid) */
	ROOF_EXIT_MSR_READ,      /* rdmsr of a VMM-handled MSR (info.msr) */
	ROOF_EXIT_MSR_WRITE,     /* wrmsr of a VMM-handled MSR (info.msr) */
	ROOF_EXIT_SHUTDOWN,      /* triple fault */
	ROOF_EXIT_INVALID_STATE, /* VM entry failed on the guest state */
	ROOF_EXIT_IRQ_WINDOW,    /* the guest can take an interrupt now */
	ROOF_EXIT_DEBUG,         /* debug trap (breakpoint, single step) */
	ROOF_EXIT_BACKEND_ERROR, /* the backend failed; info.error says why */
	ROOF_EXIT_COUNT
} roof_exit;

/* ---- decoded exit info (what Genode's Vcpu_state lacks) ----------------- */
enum roof_dir { ROOF_DIR_OUT = 0, ROOF_DIR_IN = 1 };
#define ROOF_DIR_WRITE ROOF_DIR_OUT
#define ROOF_DIR_READ ROOF_DIR_IN

struct roof_exit_io {
	uint16_t port;
	uint8_t size;   /* 1, 2 or 4 bytes */
	uint8_t dir;    /* ROOF_DIR_OUT / ROOF_DIR_IN */
	uint8_t string; /* ins/outs: the items are in buffer, not in data */
	uint8_t rep;
	uint32_t data;  /* out: the value written; in: the handler sets it */
	uint32_t count; /* items (1 unless a string instruction batched more) */
	uint8_t *buffer;/* string: count*size bytes (out: read; in: fill) */
};

struct roof_exit_mmio {
	uint64_t gpa;
	uint8_t len;  /* 1..8 */
	uint8_t dir;  /* ROOF_DIR_WRITE / ROOF_DIR_READ */
	uint64_t data;/* write: the value; read: the handler sets it */
};

struct roof_exit_msr {
	uint32_t index;
	uint32_t fault; /* the handler sets it to 1 to inject #GP */
	uint64_t value; /* write: the value; read: the handler sets it */
};

struct roof_exit_cpuid {
	uint32_t leaf, subleaf;
	uint32_t eax, ebx, ecx, edx; /* the handler sets the result */
};

struct roof_exit_info {
	union {
		struct roof_exit_io io;
		struct roof_exit_mmio mmio;
		struct roof_exit_msr msr;
		struct roof_exit_cpuid cpuid;
	};
	uint64_t fault_gpa;  /* MMIO and EPT-style exits */
	uint32_t native;     /* the backend's own exit code (VMX/SVM/KVM) */
	const char *error;   /* BACKEND_ERROR / INVALID_STATE: a message */
};

/* ---- register types (Genode Vcpu_state::Segment / Range) ---------------- */
struct roof_segment {
	uint16_t sel;
	uint16_t ar;    /* 16-bit AMD/NOVA format, as in Genode */
	uint32_t limit;
	uint64_t base;
};

struct roof_dtr {
	uint32_t limit;
	uint32_t reserved;
	uint64_t base;
};

#define ROOF_FPU_SIZE 2560

/* Set by the backend: how a miss (read of an unfetched group) is served. */
struct roof_state;
struct roof_state_ops {
	/* fetch groups lazily; returns 0 or a negative error */
	int (*fetch)(void *ctx, struct roof_state *s, uint64_t groups);
	/* report a fatal mask violation (checked mode); must not return */
	void (*fatal)(void *ctx, const char *msg);
};

enum roof_state_mode {
	ROOF_MODE_LAZY = 0,  /* a miss fetches the group (counted) */
	ROOF_MODE_CHECK = 1, /* a miss is fatal: names register + exit */
	ROOF_MODE_LEARN = 2  /* record touched groups per exit reason */
};

/*
 * The unified state. The group fields below are laid out so that a group is
 * one contiguous run whenever the source layout allows; the transfer plan
 * (fastpath/transfer_plan.h) holds the copy descriptors between this layout
 * and each backend's native one.
 */
typedef struct roof_state {
	/* header: bookkeeping, exit, decoded info */
	uint64_t valid;   /* groups delivered/fetched for this exit */
	uint64_t dirty;   /* groups written by the VMM since the exit */
	uint64_t touched; /* groups read or written by the handler */
	uint32_t mode;    /* enum roof_state_mode bits */
	roof_exit exit_reason;
	struct roof_exit_info info;
	const struct roof_state_ops *ops;
	void *ops_ctx;
	uint64_t misses;  /* lazy fetches served (a mask that is too small) */
	uint64_t fetch_failed; /* groups a lazy fetch could not serve (poisoned) */

	/* ACDB */
	uint64_t ax, cx, dx, bx;
	/* EBSD */
	uint64_t bp, si, di;
	/* ESP */
	uint64_t sp;
	/* EIP: ip and the exiting instruction's length. HLT: ip is the hlt and
	 * ip_len 1; resuming without moving ip runs the hlt again (VMX). IO,
	 * MMIO, MSR and CPUID exits are completed and retired by the backend: a
	 * handler leaves ip alone; ip_len is 0 where the backend does not know
	 * the length (kvm), the VMX length on the model kernels. PAUSED and
	 * STARTUP: ip is where the guest resumes, ip_len 0. */
	uint64_t ip, ip_len;
	/* EFL */
	uint64_t flags;
	/* R8_R15 */
	uint64_t r8, r9, r10, r11, r12, r13, r14, r15;
	/* segments: ESDS, FSGS, CSSS, TR, LDTR; GDTR; IDTR */
	struct roof_segment es, ds, fs, gs, cs, ss, tr, ldtr;
	struct roof_dtr gdtr, idtr;
	/* CR */
	uint64_t cr0, cr2, cr3, cr4;
	/* DR */
	uint64_t dr7;
	/* SYS */
	uint64_t sysenter_cs, sysenter_sp, sysenter_ip;
	/* QUAL */
	uint64_t qual_primary, qual_secondary;
	/* CTRL */
	uint32_t ctrl_primary, ctrl_secondary;
	/* INJ */
	uint32_t inj_info, inj_error;
	/* STA */
	uint32_t intr_state, actv_state;
	/* TSC: tsc_offset = guest TSC - host TSC. Writing it sets the offset;
	 * a backend whose kernel takes a delta (Genode's NOVA) sends the
	 * difference to the delivered value. */
	uint64_t tsc, tsc_offset;
	/* EFER */
	uint64_t efer;
	/* PDPTE */
	uint64_t pdpte[4];
	/* SYSCALL */
	uint64_t star, lstar, cstar, fmask, kernel_gs_base;
	/* TPR */
	uint32_t tpr, tpr_threshold;
	/* TSC_AUX */
	uint64_t tsc_aux;
	/* XSAVE */
	uint64_t xcr0, xss;
	/* FPU: fxsave/xsave image */
	uint32_t fpu_size;
	uint8_t fpu[ROOF_FPU_SIZE] __attribute__((aligned(64)));
} roof_state;

/* ---- names ---------------------------------------------------------------- */
const char *roof_exit_name(roof_exit e);
const char *roof_group_name(unsigned bit);
/* Parse "ACDB|EIP|QUAL" (or "ALL", "IRQ", "EVERYTHING", a number); 0 = ok */
int roof_mask_parse(const char *text, uint64_t *out);
/* Format a mask as "ACDB|EIP"; returns the length (truncates safely). */
size_t roof_mask_format(uint64_t mask, char *buf, size_t size);
/* Bytes of unified state one group holds (for bytes-per-exit figures). */
uint32_t roof_group_bytes(unsigned bit);
uint32_t roof_mask_bytes(uint64_t mask);
/* Offset and length of a group inside roof_state (each group is contiguous). */
int roof_group_span(unsigned bit, uint32_t *off, uint32_t *len);
/* Hex formatting for diagnostics ("0x1f"); returns the length. */
size_t roof_format_hex(uint64_t v, char *out, size_t size);
/* Byte written over a group whose lazy fetch failed. */
#define ROOF_POISON_BYTE 0xa5

/* Reset bookkeeping at a new exit: nothing valid, nothing dirty. */
void roof_state_begin_exit(roof_state *s, roof_exit reason, uint64_t delivered);
/* Begin a BACKEND_ERROR exit whose info holds nothing but the text `why`. */
void roof_state_begin_error(roof_state *s, const char *why);

/* Slow path of the accessors: a group was not fetched. Serves a lazy fetch,
 * or, in checked mode, calls ops->fatal naming the register and the exit. */
void roof_state_miss(roof_state *s, uint64_t group, const char *reg);

static inline void roof_state_touch(roof_state *s, uint64_t group,
				    const char *reg)
{
	s->touched |= group;
	if (__builtin_expect(!(s->valid & group), 0))
		roof_state_miss(s, group, reg);
}

/*
 * Checked accessors: roof_get_<reg>(s) and roof_set_<reg>(s, v).
 * A read of a group that was not fetched never returns a stale value: it is
 * fetched lazily (counted in s->misses) or, in checked mode, aborts. A write
 * marks the whole group dirty; the rest of the group must therefore be valid,
 * so a write to an unfetched group fetches (or aborts) first.
 */
#define ROOF_STATE_REGS(X)                                                  \
	X(ax, uint64_t, ACDB) X(cx, uint64_t, ACDB) X(dx, uint64_t, ACDB)    \
	X(bx, uint64_t, ACDB) X(bp, uint64_t, EBSD) X(si, uint64_t, EBSD)    \
	X(di, uint64_t, EBSD) X(sp, uint64_t, ESP) X(ip, uint64_t, EIP)      \
	X(ip_len, uint64_t, EIP) X(flags, uint64_t, EFL)                     \
	X(r8, uint64_t, R8_R15) X(r9, uint64_t, R8_R15)                      \
	X(r10, uint64_t, R8_R15) X(r11, uint64_t, R8_R15)                    \
	X(r12, uint64_t, R8_R15) X(r13, uint64_t, R8_R15)                    \
	X(r14, uint64_t, R8_R15) X(r15, uint64_t, R8_R15)                    \
	X(es, struct roof_segment, ESDS) X(ds, struct roof_segment, ESDS)    \
	X(fs, struct roof_segment, FSGS) X(gs, struct roof_segment, FSGS)    \
	X(cs, struct roof_segment, CSSS) X(ss, struct roof_segment, CSSS)    \
	X(tr, struct roof_segment, TR) X(ldtr, struct roof_segment, LDTR)    \
	X(gdtr, struct roof_dtr, GDTR) X(idtr, struct roof_dtr, IDTR)        \
	X(cr0, uint64_t, CR) X(cr2, uint64_t, CR) X(cr3, uint64_t, CR)       \
	X(cr4, uint64_t, CR) X(dr7, uint64_t, DR)                            \
	X(sysenter_cs, uint64_t, SYS) X(sysenter_sp, uint64_t, SYS)          \
	X(sysenter_ip, uint64_t, SYS)                                        \
	X(qual_primary, uint64_t, QUAL) X(qual_secondary, uint64_t, QUAL)    \
	X(ctrl_primary, uint32_t, CTRL) X(ctrl_secondary, uint32_t, CTRL)    \
	X(inj_info, uint32_t, INJ) X(inj_error, uint32_t, INJ)               \
	X(intr_state, uint32_t, STA) X(actv_state, uint32_t, STA)            \
	X(tsc, uint64_t, TSC) X(tsc_offset, uint64_t, TSC)                   \
	X(efer, uint64_t, EFER) X(star, uint64_t, SYSCALL)                   \
	X(lstar, uint64_t, SYSCALL) X(cstar, uint64_t, SYSCALL)              \
	X(fmask, uint64_t, SYSCALL) X(kernel_gs_base, uint64_t, SYSCALL)     \
	X(tpr, uint32_t, TPR) X(tpr_threshold, uint32_t, TPR)                \
	X(tsc_aux, uint64_t, TSC_AUX) X(xcr0, uint64_t, XSAVE)               \
	X(xss, uint64_t, XSAVE)

#define ROOF_STATE_ACCESSORS(reg, type, grp)                                \
	static inline type roof_get_##reg(roof_state *s)                     \
	{                                                                    \
		roof_state_touch(s, ROOF_G_##grp, #reg);                     \
		return s->reg;                                               \
	}                                                                    \
	static inline void roof_set_##reg(roof_state *s, type v)             \
	{                                                                    \
		roof_state_touch(s, ROOF_G_##grp, #reg);                     \
		s->reg = v;                                                  \
		s->dirty |= ROOF_G_##grp;                                    \
	}
ROOF_STATE_REGS(ROOF_STATE_ACCESSORS)
#undef ROOF_STATE_ACCESSORS

static inline uint64_t roof_get_pdpte(roof_state *s, unsigned i)
{
	roof_state_touch(s, ROOF_G_PDPTE, "pdpte");
	return s->pdpte[i & 3];
}
static inline void roof_set_pdpte(roof_state *s, unsigned i, uint64_t v)
{
	roof_state_touch(s, ROOF_G_PDPTE, "pdpte");
	s->pdpte[i & 3] = v;
	s->dirty |= ROOF_G_PDPTE;
}
/*
 * GPRs by x86 register number, the order of the instruction encoding
 * (ModRM.reg/rm with REX.R/B; SDM Vol. 2A, 2.1.5 and Table 3-1):
 *   0 ax  1 cx  2 dx  3 bx  4 sp  5 bp  6 si  7 di  8..15 r8..r15
 * Only the low four bits of idx count. roof_get_gpr/roof_set_gpr are the
 * checked accessors of that register (as roof_get_ax ... roof_get_r15);
 * roof_gpr_raw is its storage without the check, for a backend's own view
 * of the hardware, whose valid/dirty bits nobody keeps.
 */
static inline uint64_t roof_gpr_group(unsigned idx)
{
	idx &= 15u;
	return idx < 4 ? ROOF_G_ACDB : idx == 4 ? ROOF_G_ESP
		       : idx < 8 ? ROOF_G_EBSD : ROOF_G_R8_R15;
}

static inline uint64_t *roof_gpr_raw(roof_state *s, unsigned idx)
{
	switch (idx & 15u) {
	case 0: return &s->ax;
	case 1: return &s->cx;
	case 2: return &s->dx;
	case 3: return &s->bx;
	case 4: return &s->sp;
	case 5: return &s->bp;
	case 6: return &s->si;
	case 7: return &s->di;
	case 8: return &s->r8;
	case 9: return &s->r9;
	case 10: return &s->r10;
	case 11: return &s->r11;
	case 12: return &s->r12;
	case 13: return &s->r13;
	case 14: return &s->r14;
	default: return &s->r15;
	}
}

/* The register's name as the checked accessors report it ("ax", "r8"). */
static inline const char *roof_gpr_name(unsigned idx)
{
	static const char *const names[16] = {
		"ax", "cx", "dx", "bx", "sp", "bp", "si", "di",
		"r8", "r9", "r10", "r11", "r12", "r13", "r14", "r15"};
	return names[idx & 15u];
}

static inline uint64_t roof_get_gpr(roof_state *s, unsigned idx)
{
	roof_state_touch(s, roof_gpr_group(idx), roof_gpr_name(idx));
	return *roof_gpr_raw(s, idx);
}

static inline void roof_set_gpr(roof_state *s, unsigned idx, uint64_t v)
{
	roof_state_touch(s, roof_gpr_group(idx), roof_gpr_name(idx));
	*roof_gpr_raw(s, idx) = v;
	s->dirty |= roof_gpr_group(idx);
}

/* FPU image: read access returns the buffer, write access marks it dirty. */
static inline const uint8_t *roof_fpu_read(roof_state *s)
{
	roof_state_touch(s, ROOF_G_FPU, "fpu");
	return s->fpu;
}
static inline uint8_t *roof_fpu_write(roof_state *s)
{
	roof_state_touch(s, ROOF_G_FPU, "fpu");
	s->dirty |= ROOF_G_FPU;
	return s->fpu;
}

#ifdef __cplusplus
}
#endif
#endif
