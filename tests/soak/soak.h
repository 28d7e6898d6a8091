/*
 * soak.h - the soak engine: a long mixed exit stream through one backend
 * in which every register is checked at every exit, both ways.
 *
 * The guest (tests/guests/soak64.asm) keeps 16 GPRs whose values the VMM
 * draws. Before every exit it computes a checksum over its 16 registers,
 * compares it with the checksum of what the VMM says they must hold
 * (a difference: the guest dumps them and reports on PORT_CORRUPT), stores
 * it in the mailbox with its exit number (seq), and takes the exit the VMM
 * picked (io out/in 8/16/32, mmio write/read 8/4, hlt, rdmsr/wrmsr of a
 * VMM MSR, a cpuid at a cpuid site). At every exit the VMM:
 *   - checks seq (no exit lost or seen twice) and the exit's decoded info
 *     against the registers (port, data, gpa, msr index and value, leaf);
 *   - reads the GPRs through the checked accessors (the handler's random
 *     fetch mask decides which come with the exit, which lazily) and
 *     recomputes the guest's checksum; a difference is a corrupted
 *     register, named by comparing with its model of the registers;
 *   - answers the exit (in data, mmio read data, rdmsr value, cpuid
 *     registers) with random values, writes random values into random
 *     GPRs, picks the next exit and sets its operands, and stores the
 *     checksum of the registers as they must be after this exit.
 * Every VM of the run draws new fetch masks, handler placements (inline or
 * on the entrypoint) and backend options (kvm: cache=on|off; model
 * kernels: policy=genode|tuned); a timer on the entrypoint pauses the vCPU
 * at random points, and the PAUSED handler writes some registers back
 * unchanged, which must change nothing. At each VM's end the backend's
 * exit counters must equal the exits the handlers saw.
 *
 * Used by tests/test_soak_short.c (make test) and tests/soak/roof_soak.c
 * (make soak). Header-only (see tests/soak/rig.h); inside a cmocka test.
 */
#ifndef ROOF_SOAK_H
#define ROOF_SOAK_H

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "roof_test.h"
#include "fuzz/rng.h"

/* tests/guests/soak64.asm */
#define SOAK_MBOX 0x8000u
enum soak_mbox { /* qword index into the mailbox */
	MB_SEQ = 0, MB_SUM = 1, MB_EXPECT_SUM = 2, MB_NEXT_EXIT = 3,
	MB_INIT = 0x80 / 8, MB_POST = 0x100 / 8,
};
#define SOAK_STUBS_OFFSET 8 /* the stub table in the guest's header */
enum soak_kind { K_OUT, K_IN8, K_IN16, K_IN32, K_MMIO_W8, K_MMIO_W4,
		 K_MMIO_R8, K_MMIO_R4, K_HLT, K_RDMSR, K_WRMSR, K_CPUID,
		 K_COUNT };
#define SOAK_PORT_OUT 0x20
#define SOAK_PORT_IN 0x21
#define SOAK_PORT_CORRUPT 0x22
#define SOAK_MMIO 0x10000000ull
#define SOAK_MSR 0x4b564d01u
#define SOAK_CPUID_LEAF 0x40000100u
#define SOAK_LOW32 0xffffffffull

struct soak_opts {
	uint64_t exits;        /* exits to soak (checked ones, not PAUSED) */
	uint64_t exits_per_vm; /* a new VM, new masks after this many */
	uint64_t seed;
	bool progress;         /* a line on stderr every few seconds */
};

struct soak_result {
	uint64_t exits;             /* checked exits */
	uint64_t by_kind[K_COUNT];
	uint64_t paused;
	uint64_t guest_checks;      /* guest-side checksum comparisons */
	uint64_t corrupt_vmm;       /* registers the VMM found wrong */
	uint64_t corrupt_guest;     /* registers the guest found wrong */
	uint64_t lost;              /* seq gaps and repeats, counter drift */
	uint64_t info_wrong;        /* decoded exit info not what the guest did */
	uint64_t vms;
	double seconds;
	char first_error[512];
};

/* ---- GPRs by index (x86 encoding order, roof_state.h roof_get_gpr:
 * rax rcx rdx rbx rsp rbp rsi rdi r8..r15), through the checked accessors */

/* Writes the groups holding the GPRs in `regs` (bit i: GPR i) whole, every
 * register of them from v[]: a backend transfers a group whole anyway. */
static inline void soak_write_groups(roof_state *s, unsigned regs,
				     const uint64_t v[16])
{
	uint64_t g = 0;
	for (unsigned i = 0; i < 16; i++)
		if (regs >> i & 1)
			g |= roof_gpr_group(i);
	for (unsigned i = 0; i < 16; i++)
		if (g & roof_gpr_group(i))
			roof_set_gpr(s, i, v[i]);
}

/* How many of the 16 differ; *first: the first that does (16: none). */
static inline unsigned soak_diff(const uint64_t a[16], const uint64_t b[16],
				 unsigned *first)
{
	unsigned bad = 0;
	*first = 16;
	for (unsigned i = 0; i < 16; i++)
		if (a[i] != b[i] && bad++ == 0)
			*first = i;
	return bad;
}

/* The guest's checksum (soak64.asm, loop). */
static inline uint64_t soak_checksum(const uint64_t r[16])
{
	uint64_t h = r[0];
	for (unsigned i = 1; i < 16; i++)
		h = (h << 5 | h >> 59) ^ r[i];
	return h;
}

/* Registers an exit stub needs set: ecx for rdmsr/wrmsr, eax for cpuid. */
static inline unsigned soak_operand_regs(enum soak_kind k)
{
	return k == K_RDMSR || k == K_WRMSR ? 1u << 1 : k == K_CPUID ? 1u : 0;
}

/* Registers an exit's completion writes (in, mmio read, rdmsr, cpuid): the
 * handler leaves them to the completion. */
static inline unsigned soak_completion_regs(enum soak_kind k)
{
	switch (k) {
	case K_IN8: case K_IN16: case K_IN32: case K_MMIO_R8: return 1u << 0;
	case K_MMIO_R4: return 1u << 1;
	case K_RDMSR: return 1u << 0 | 1u << 2;
	case K_CPUID: return 0xfu;
	default: return 0;
	}
}

/* ---- one VM ------------------------------------------------------------ */
struct soak_vm {
	roof_vm *vm;
	roof_ep *ep;
	roof_vcpu *cpu;
	uint8_t *ram;
	volatile uint64_t *mb;  /* the mailbox in guest memory */
	uint64_t groups;        /* what the kernel can transfer */
	uint16_t readable;      /* GPRs the kernel can transfer */
	uint64_t rng, hlt_ip;
	uint64_t stubs[K_COUNT];/* guest addresses of the exit stubs */
	uint64_t model[16];     /* what the guest's GPRs hold now */
	enum soak_kind next;    /* the exit the guest takes next */
	uint64_t seq;           /* last seq seen */
	uint64_t target;
	uint64_t calls;         /* handler invocations but PAUSED */
	atomic_bool finished;
	int timer;
	char config[160];
	struct soak_result *res;
	struct roof_test_flag done;
};

static inline void soak_error(struct soak_vm *s, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static inline void soak_error(struct soak_vm *s, const char *fmt, ...)
{
	if (s->res->first_error[0])
		return;
	int n = snprintf(s->res->first_error, sizeof s->res->first_error,
			 "%s, VM %llu (%s), exit %llu: ", roof_test_kernel(),
			 (unsigned long long)s->res->vms,
			 s->config, (unsigned long long)s->seq);
	va_list ap;
	va_start(ap, fmt);
	if (n > 0 && (size_t)n < sizeof s->res->first_error)
		vsnprintf(s->res->first_error + n,
			  sizeof s->res->first_error - (size_t)n, fmt, ap);
	va_end(ap);
}

/* The exit's decoded info must say what the guest did (k, with registers
 * reg[]); answer it with random values, updating reg[] with what the
 * completion writes. Returns the registers the completion writes. */
static inline unsigned soak_check_and_answer(struct soak_vm *s, roof_state *st,
					     enum soak_kind k, uint64_t reg[16])
{
	struct roof_exit_info *in = &st->info;
	static const roof_exit reason[K_COUNT] = {
		ROOF_EXIT_IO, ROOF_EXIT_IO, ROOF_EXIT_IO, ROOF_EXIT_IO,
		ROOF_EXIT_MMIO, ROOF_EXIT_MMIO, ROOF_EXIT_MMIO, ROOF_EXIT_MMIO,
		ROOF_EXIT_HLT, ROOF_EXIT_MSR_READ, ROOF_EXIT_MSR_WRITE,
		ROOF_EXIT_CPUID};
	bool ok = st->exit_reason == reason[k];
	uint64_t r = rng_next(&s->rng);
	unsigned size = k == K_IN8 ? 1 : k == K_IN16 ? 2 : 4;
	uint64_t low = size == 4 ? SOAK_LOW32 : (1ull << (8 * size)) - 1;
	switch (ok ? k : K_COUNT) {
	case K_OUT:
		ok = in->io.port == SOAK_PORT_OUT && in->io.size == 1 &&
		     in->io.dir == ROOF_DIR_OUT && in->io.data == (reg[0] & 0xff);
		break;
	case K_IN8: case K_IN16: case K_IN32:
		ok = in->io.port == SOAK_PORT_IN && in->io.size == size &&
		     in->io.dir == ROOF_DIR_IN;
		in->io.data = (uint32_t)(r & low);
		/* in al/ax keeps the rest of rax; in eax zero-extends */
		reg[0] = size == 4 ? (r & low) : (reg[0] & ~low) | (r & low);
		break;
	case K_MMIO_W8: case K_MMIO_W4: {
		bool w8 = k == K_MMIO_W8;
		ok = in->mmio.gpa == SOAK_MMIO + (w8 ? 0 : 8) &&
		     in->mmio.len == (w8 ? 8 : 4) && in->mmio.dir == ROOF_DIR_WRITE &&
		     in->mmio.data == (w8 ? reg[3] : reg[1] & SOAK_LOW32);
		break;
	}
	case K_MMIO_R8: case K_MMIO_R4: {
		bool r8 = k == K_MMIO_R8;
		ok = in->mmio.gpa == SOAK_MMIO + (r8 ? 0x10 : 0x18) &&
		     in->mmio.len == (r8 ? 8 : 4) && in->mmio.dir == ROOF_DIR_READ;
		in->mmio.data = r8 ? r : r & SOAK_LOW32;
		reg[r8 ? 0 : 1] = in->mmio.data; /* a 32-bit load zero-extends */
		break;
	}
	case K_HLT: {
		uint64_t ip = roof_get_ip(st), len = roof_get_ip_len(st);
		ok = ip == s->hlt_ip && len == 1;
		roof_set_ip(st, ip + len); /* HLT does not advance ip */
		break;
	}
	case K_RDMSR:
		ok = in->msr.index == SOAK_MSR;
		in->msr.value = r;
		reg[0] = r & SOAK_LOW32;
		reg[2] = r >> 32;
		break;
	case K_WRMSR:
		ok = in->msr.index == SOAK_MSR &&
		     in->msr.value == ((reg[2] << 32) | (reg[0] & SOAK_LOW32));
		break;
	case K_CPUID:
		ok = in->cpuid.leaf == SOAK_CPUID_LEAF &&
		     in->cpuid.subleaf == (uint32_t)reg[1];
		in->cpuid.eax = (uint32_t)r;
		in->cpuid.ebx = (uint32_t)(r >> 32);
		in->cpuid.ecx = (uint32_t)rng_next(&s->rng);
		in->cpuid.edx = (uint32_t)rng_next(&s->rng);
		reg[0] = in->cpuid.eax;
		reg[3] = in->cpuid.ebx;
		reg[1] = in->cpuid.ecx;
		reg[2] = in->cpuid.edx;
		break;
	default:
		break;
	}
	if (!ok) {
		s->res->info_wrong++;
		soak_error(s, "guest took exit kind %u, the VMM got %s (io port "
			   "0x%x size %u data 0x%x, mmio gpa 0x%llx len %u data "
			   "0x%llx, msr 0x%x, cpuid 0x%x)", k,
			   roof_exit_name(st->exit_reason), in->io.port,
			   in->io.size, in->io.data,
			   (unsigned long long)in->mmio.gpa, in->mmio.len,
			   (unsigned long long)in->mmio.data, in->msr.index,
			   in->cpuid.leaf);
	}
	return soak_completion_regs(k);
}

/* The VM's last exit: stop the vCPU and let soak_vm_run go on. */
static inline roof_action soak_finish(struct soak_vm *s)
{
	atomic_store(&s->finished, true);
	roof_test_flag_raise(&s->done);
	return ROOF_STOP;
}

/* Registers seen[] differ from the model: counted into *count, the first
 * named; the VMM stops there. */
static inline roof_action soak_corrupted(struct soak_vm *s, const char *what,
					 const uint64_t seen[16],
					 uint64_t *count)
{
	unsigned first;
	unsigned bad = soak_diff(seen, s->model, &first);
	*count += bad ? bad : 1;
	soak_error(s, "%s %u registers wrong, first %s = 0x%llx, must be "
		   "0x%llx", what, bad, roof_test_gpr_name(first & 15),
		   (unsigned long long)seen[first & 15],
		   (unsigned long long)s->model[first & 15]);
	return soak_finish(s);
}

/* The guest found its registers differ from what the VMM said. */
static inline roof_action soak_guest_report(struct soak_vm *s)
{
	uint64_t post[16];
	for (unsigned i = 0; i < 16; i++)
		post[i] = s->mb[MB_POST + i];
	return soak_corrupted(s, "after the exit the guest found", post,
			      &s->res->corrupt_guest);
}

/* Picks the guest's next exit and the register values it needs (into
 * reg[], their bits into *written). The completion of this exit must not
 * own those registers. */
static inline void soak_pick_next(struct soak_vm *s, unsigned completion,
				  uint64_t reg[16], unsigned *written)
{
	enum soak_kind k;
	do
		k = (enum soak_kind)rng_below(&s->rng, K_COUNT);
	while (soak_operand_regs(k) & completion);
	s->next = k;
	s->mb[MB_NEXT_EXIT] = s->stubs[k];
	uint64_t r = rng_next(&s->rng);
	if (k == K_RDMSR || k == K_WRMSR) {
		reg[1] = (r & ~SOAK_LOW32) | SOAK_MSR; /* upper half random */
		*written |= 1u << 1;
	} else if (k == K_CPUID) {
		reg[0] = (r & ~SOAK_LOW32) | SOAK_CPUID_LEAF;
		*written |= 1u;
	}
}

static inline roof_action soak_on_exit(roof_vcpu *cpu, roof_state *st,
				       void *p)
{
	(void)cpu;
	struct soak_vm *s = p;
	volatile uint64_t *mb = s->mb;
	s->calls++;
	if (atomic_load(&s->finished))
		return ROOF_STOP;
	if (st->exit_reason == ROOF_EXIT_IO &&
	    st->info.io.port == SOAK_PORT_CORRUPT)
		return soak_guest_report(s);
	uint64_t seq = mb[MB_SEQ];
	if (seq != s->seq + 1) {
		uint64_t off = seq > s->seq ? seq - s->seq - 1 : s->seq + 1 - seq;
		s->res->lost += off ? off : 1;
		soak_error(s, "exit number %llu after %llu: %s",
			   (unsigned long long)seq, (unsigned long long)s->seq,
			   seq > s->seq ? "exits lost" : "an exit seen twice");
	}
	s->seq = seq;
	s->res->exits++;
	s->res->guest_checks++; /* the guest compared before this exit */
	enum soak_kind k = s->next;
	s->res->by_kind[k]++;

	/* the registers as the VMM reads them, against the guest's checksum
	 * (registers the kernel cannot transfer: the VMM's model) */
	uint64_t got[16];
	memcpy(got, s->model, sizeof got);
	roof_test_read_gprs(st, got, s->groups);
	if (soak_checksum(got) != mb[MB_SUM])
		return soak_corrupted(s, "checksum: the VMM read", got,
				      &s->res->corrupt_vmm);
	unsigned completion = soak_check_and_answer(s, st, k, s->model);
	unsigned written = 0;
	soak_pick_next(s, completion, s->model, &written);
	/* random values into random registers the completion leaves alone;
	 * their groups are written whole, the completion's registers in them
	 * with the value the completion gives them */
	unsigned n = rng_below(&s->rng, 5);
	for (unsigned j = 0; j < n; j++) {
		unsigned i = rng_below(&s->rng, 16);
		unsigned bit = 1u << i;
		if (!(s->readable & bit) || ((completion | written) & bit))
			continue;
		s->model[i] = rng_next(&s->rng);
		written |= bit;
	}
	soak_write_groups(st, written, s->model);
	mb[MB_EXPECT_SUM] = soak_checksum(s->model);
	if (seq >= s->target || s->res->first_error[0])
		return soak_finish(s); /* done, or the first report is enough */
	return ROOF_RESUME;
}

static inline roof_action soak_on_paused(roof_vcpu *cpu, roof_state *st,
					 void *p)
{
	(void)cpu;
	struct soak_vm *s = p;
	s->res->paused++;
	if (atomic_load(&s->finished))
		return ROOF_STOP;
	/* some groups written back unchanged: must change nothing (a
	 * completion pending in the backend included) */
	uint64_t now[16];
	memcpy(now, s->model, sizeof now);
	roof_test_read_gprs(st, now, s->groups);
	soak_write_groups(st, (unsigned)rng_next(&s->rng) & s->readable, now);
	return ROOF_RESUME;
}

static inline roof_action soak_on_failure(roof_vcpu *cpu, roof_state *st,
					  void *p)
{
	(void)cpu;
	struct soak_vm *s = p;
	s->calls++;
	s->res->info_wrong++;
	soak_error(s, "%s exit: %s", roof_exit_name(st->exit_reason),
		   st->info.error ? st->info.error : "(no text)");
	return soak_finish(s);
}

static inline roof_action soak_on_startup(roof_vcpu *cpu, roof_state *st,
					  void *p)
{
	(void)cpu;
	struct soak_vm *s = p;
	s->calls++;
	roof_test_set_long_mode(st, ROOF_TEST_GUEST_GPA, 0);
	return ROOF_RESUME; /* the guest loads its GPRs from init[] */
}

static inline void soak_pause_tick(roof_ep *ep, void *p)
{
	(void)ep;
	struct soak_vm *s = p;
	if (!atomic_load(&s->finished))
		(void)roof_vcpu_pause(s->cpu); /* refused when stopped: fine */
}

/* A random fetch mask out of the groups the kernel transfers. */
static inline uint64_t soak_random_mask(uint64_t *rng, uint64_t groups)
{
	switch (rng_below(rng, 4)) {
	case 0: return 0;
	case 1: return ROOF_MASK_DEFAULT;
	case 2: return groups;
	default: return rng_next(rng) & groups;
	}
}

/* Opens a VM with random masks, placements and options; returns false
 * (first_error set) if the backend refused the set-up. */
static inline bool soak_vm_open(struct soak_vm *s, struct soak_result *res,
				uint64_t *rng, uint64_t target)
{
	memset(s, 0, sizeof *s);
	s->res = res;
	s->rng = rng_next(rng);
	s->target = target;
	roof_test_flag_init(&s->done);
	ROOF_OK_OR_FAIL(roof_vm_open(&s->vm, NULL), roof_last_error());
	s->groups = roof_vm_state_groups(s->vm);
	for (unsigned i = 0; i < 16; i++)
		if ((s->groups & roof_gpr_group(i)) == roof_gpr_group(i))
			s->readable |= (uint16_t)(1u << i);
	/* backend options: try both values of what each kind of kernel has */
	const char *key = strcmp(roof_test_kernel(), "kvm") == 0 ? "cache"
								 : "policy";
	const char *value = strcmp(key, "cache") == 0
				    ? (rng_below(rng, 2) ? "on" : "off")
				    : (rng_below(rng, 2) ? "tuned" : "genode");
	bool option = roof_vm_set_option(s->vm, key, value) == ROOF_OK;
	void *ram = NULL;
	roof_test_guest_vm(s->vm, "soak64", &ram);
	s->ram = ram;
	s->mb = (volatile uint64_t *)(void *)(s->ram + SOAK_MBOX);
	memcpy(s->stubs, s->ram + ROOF_TEST_GUEST_GPA + SOAK_STUBS_OFFSET,
	       sizeof s->stubs);
	s->hlt_ip = s->stubs[K_HLT];
	uint64_t site = s->stubs[K_CPUID];
	/* the guest starts with random registers and a random first exit */
	for (unsigned i = 0; i < 16; i++)
		s->model[i] = rng_next(&s->rng);
	s->next = (enum soak_kind)rng_below(&s->rng, K_COUNT);
	if (s->next == K_RDMSR || s->next == K_WRMSR)
		s->model[1] = (s->model[1] & ~SOAK_LOW32) | SOAK_MSR;
	if (s->next == K_CPUID)
		s->model[0] = (s->model[0] & ~SOAK_LOW32) | SOAK_CPUID_LEAF;
	for (unsigned i = 0; i < 16; i++)
		s->mb[MB_INIT + i] = s->model[i];
	s->mb[MB_SEQ] = 0;
	s->mb[MB_EXPECT_SUM] = soak_checksum(s->model);
	s->mb[MB_NEXT_EXIT] = s->stubs[s->next];
	uint32_t msr = SOAK_MSR;
	ROOF_OK_OR_FAIL(roof_vm_set_msr_exits(s->vm, &msr, 1),
			roof_vm_error(s->vm));
	ROOF_OK_OR_FAIL(roof_vm_set_cpuid_exits(s->vm, &site, 1),
			roof_vm_error(s->vm));
	ROOF_OK_OR_FAIL(roof_ep_create(s->vm, "soak", -1, &s->ep),
			roof_vm_error(s->vm));
	ROOF_OK_OR_FAIL(roof_vcpu_create(s->vm, s->ep, &s->cpu),
			roof_vm_error(s->vm));
	roof_vcpu *v = s->cpu;
	ROOF_OK_OR_FAIL(roof_vcpu_on_exit(v, ROOF_EXIT_STARTUP, soak_on_startup,
					  s, roof_test_long_mode_mask() & s->groups,
					  ROOF_INLINE),
			roof_vcpu_error(v));
	static const roof_exit checked[] = {
		ROOF_EXIT_IO, ROOF_EXIT_MMIO, ROOF_EXIT_HLT, ROOF_EXIT_MSR_READ,
		ROOF_EXIT_MSR_WRITE, ROOF_EXIT_CPUID, ROOF_EXIT_PAUSED};
	size_t n = snprintf(s->config, sizeof s->config, "%s=%s%s, masks",
			    key, value, option ? "" : " (refused)");
	unsigned on_ep = 0;
	for (size_t i = 0; i < sizeof checked / sizeof checked[0]; i++) {
		uint64_t mask = soak_random_mask(rng, s->groups);
		roof_where where = rng_below(rng, 4) ? ROOF_INLINE : ROOF_ON_EP;
		on_ep += where == ROOF_ON_EP;
		roof_exit_handler fn = checked[i] == ROOF_EXIT_PAUSED
					       ? soak_on_paused : soak_on_exit;
		ROOF_OK_OR_FAIL(roof_vcpu_on_exit(v, checked[i], fn, s, mask, where),
				roof_vcpu_error(v));
		if (n < sizeof s->config)
			n += (size_t)snprintf(s->config + n, sizeof s->config - n,
					      " %llx", (unsigned long long)
					      (mask == ROOF_MASK_DEFAULT ? 0xdef
									 : mask));
	}
	if (n < sizeof s->config)
		snprintf(s->config + n, sizeof s->config - n, ", %u on ep", on_ep);
	static const roof_exit failures[] = {
		ROOF_EXIT_SHUTDOWN, ROOF_EXIT_INVALID_STATE,
		ROOF_EXIT_BACKEND_ERROR, ROOF_EXIT_DEBUG};
	for (size_t i = 0; i < sizeof failures / sizeof failures[0]; i++)
		ROOF_OK_OR_FAIL(roof_vcpu_on_exit(v, failures[i], soak_on_failure,
						  s, ROOF_MASK_DEFAULT, ROOF_INLINE),
				roof_vcpu_error(v));
	uint64_t period_ns = getenv("SOAK_NOPAUSE") ? 1000000000000ull : 200000 + rng_below(rng, 1800000);
	ROOF_OK_OR_FAIL(roof_ep_timer(s->ep, period_ns, soak_pause_tick, s,
				      &s->timer),
			roof_ep_error(s->ep));
	return true;
}

#define SOAK_STOP_TIMEOUT_NS (20ull * 1000 * 1000 * 1000)

/* The stopped vCPU's counters. A pause the timer sent just before the end
 * may still make a PAUSED exit after the last checked one: retry while
 * that runs. */
static inline bool soak_stats(struct soak_vm *s, struct roof_stats *st)
{
	for (int i = 0; i < 1000; i++) {
		if (roof_vcpu_wait_stopped(s->cpu, SOAK_STOP_TIMEOUT_NS) != ROOF_OK)
			return false;
		if (roof_vcpu_stats(s->cpu, st) == ROOF_OK)
			return true;
	}
	return false;
}

/* Runs the VM to its target and closes it; false on a stall. */
static inline bool soak_vm_run(struct soak_vm *s)
{
	ROOF_OK_OR_FAIL(roof_vcpu_run(s->cpu), roof_vcpu_error(s->cpu));
	/* generous: a slow backend does ~20 us per exit, a loaded host less */
	unsigned timeout_ms = 60000 + (unsigned)(s->target / 5);
	bool done = roof_test_flag_wait(&s->done, timeout_ms);
	atomic_store(&s->finished, true);
	ROOF_OK_OR_FAIL(roof_ep_timer_stop(s->ep, s->timer), roof_ep_error(s->ep));
	if (!done) {
		s->res->lost++;
		soak_error(s, "stalled: no progress for %u ms at exit %llu (%s)",
			   timeout_ms, (unsigned long long)s->seq,
			   roof_vcpu_error(s->cpu));
	}
	/* every exit the backend dispatched (but PAUSED, see soak_stats)
	 * reached a handler, and no handler ran for an exit not counted */
	struct roof_stats st;
	if (done && !soak_stats(s, &st)) {
		soak_error(s, "the vCPU did not stop: %s", roof_vcpu_error(s->cpu));
	} else if (done) {
		uint64_t dispatched = st.exits - st.exits_by_reason[ROOF_EXIT_PAUSED];
		if (dispatched != s->calls) {
			s->res->lost += dispatched > s->calls ? dispatched - s->calls
							      : s->calls - dispatched;
			soak_error(s, "the backend dispatched %llu exits, the "
				   "handlers saw %llu",
				   (unsigned long long)dispatched,
				   (unsigned long long)s->calls);
		}
	}
	ROOF_OK_OR_FAIL(roof_vm_close(s->vm), roof_last_error());
	roof_test_flag_destroy(&s->done);
	s->res->vms++;
	return done;
}

static inline double soak_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static inline uint64_t soak_corrupt(const struct soak_result *r)
{
	return r->corrupt_vmm + r->corrupt_guest;
}

/* The whole soak on $ROOF_KERNEL. Fails the cmocka test only on set-up
 * errors; corruption and lost exits are counted in *res. */
static inline void soak_run(const struct soak_opts *o, struct soak_result *res)
{
	memset(res, 0, sizeof *res);
	uint64_t rng = o->seed;
	double t0 = soak_now(), last = t0;
	static struct soak_vm vm; /* one at a time; too big for the stack */
	while (res->exits < o->exits && !res->first_error[0]) {
		uint64_t left = o->exits - res->exits;
		soak_vm_open(&vm, res, &rng,
			     left < o->exits_per_vm ? left : o->exits_per_vm);
		if (!soak_vm_run(&vm))
			break;
		double now = soak_now();
		if (o->progress && (now - last >= 5 || res->exits >= o->exits)) {
			last = now;
			fprintf(stderr, "soak[%s]: %llu/%llu exits, %llu VMs, "
				"%llu corrupted registers, %llu lost exits, "
				"%.0f s\n", roof_test_kernel(),
				(unsigned long long)res->exits,
				(unsigned long long)o->exits,
				(unsigned long long)res->vms,
				(unsigned long long)soak_corrupt(res),
				(unsigned long long)res->lost, now - t0);
		}
	}
	res->seconds = soak_now() - t0;
}

/* Fails the cmocka test unless the soak came out clean. */
static inline void soak_assert_clean(const struct soak_opts *o,
				     const struct soak_result *r)
{
	if (r->first_error[0])
		fail_msg("%s", r->first_error);
	assert_int_equal(soak_corrupt(r), 0);
	assert_int_equal(r->lost, 0);
	assert_int_equal(r->info_wrong, 0);
	assert_true(r->exits >= o->exits);
}

/* The figures as one machine-readable line (tests/soak/results.py). */
static inline void soak_print_result(FILE *f, const struct soak_result *r)
{
	fprintf(f, "RESULT soak kernel=%s exits=%llu io=%llu mmio=%llu hlt=%llu "
		"msr=%llu cpuid=%llu paused=%llu checks=%llu corrupt=%llu "
		"lost=%llu wrong_info=%llu vms=%llu seconds=%.0f\n",
		roof_test_kernel(), (unsigned long long)r->exits,
		(unsigned long long)(r->by_kind[K_OUT] + r->by_kind[K_IN8] +
				     r->by_kind[K_IN16] + r->by_kind[K_IN32]),
		(unsigned long long)(r->by_kind[K_MMIO_W8] + r->by_kind[K_MMIO_W4] +
				     r->by_kind[K_MMIO_R8] + r->by_kind[K_MMIO_R4]),
		(unsigned long long)r->by_kind[K_HLT],
		(unsigned long long)(r->by_kind[K_RDMSR] + r->by_kind[K_WRMSR]),
		(unsigned long long)r->by_kind[K_CPUID],
		(unsigned long long)r->paused,
		(unsigned long long)(r->exits + r->guest_checks),
		(unsigned long long)soak_corrupt(r), (unsigned long long)r->lost,
		(unsigned long long)r->info_wrong, (unsigned long long)r->vms,
		r->seconds);
}

#endif
