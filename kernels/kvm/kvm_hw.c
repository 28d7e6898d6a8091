/*
 * kvm_hw.c - the KVM vCPU as x86 hardware (see kvm_hw.h).
 *
 * KVM API facts used here: Documentation/virt/kvm/api.rst (KVM_CAP_SYNC_REGS,
 * KVM_CAP_IMMEDIATE_EXIT, KVM_CAP_X86_USER_SPACE_MSR,
 * KVM_X86_SET_MSR_FILTER, KVM_SET_GUEST_DEBUG, KVM_VCPU_TSC_CTRL) and
 * <linux/kvm.h>. Behaviour of this substrate that the code relies on was
 * checked on the machine (RESULTS.md, "Substrate"):
 *   - out, mmio writes and hlt are retired before the exit reaches user
 *     space; in, mmio reads and rdmsr/wrmsr are finished on the next entry;
 *   - syncing sregs or events costs a measurable share of a round trip, so
 *     the sync classes are chosen per exit (prediction below);
 *   - rdtscp is not emulated (emulation failure): it is finished here from
 *     the vCPU's own TSC and TSC_AUX MSRs.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include <linux/kvm.h>

#include "kvm_exit_record.h"
#include "kvm_hw.h"
#include "transfer_plan.h"
#include "x86_arch.h"

/* MSR indices (Intel SDM Vol. 4, Table 2-2). */
#define MSR_TSC 0x10u
#define MSR_SYSENTER_CS 0x174u
#define MSR_SYSENTER_ESP 0x175u
#define MSR_SYSENTER_EIP 0x176u
#define MSR_XSS 0xda0u
#define MSR_STAR 0xc0000081u
#define MSR_LSTAR 0xc0000082u
#define MSR_CSTAR 0xc0000083u
#define MSR_FMASK 0xc0000084u
#define MSR_KERNEL_GS_BASE 0xc0000102u
#define MSR_TSC_AUX 0xc0000103u

#define CR0_PE (1ull << 0)
#define CR0_NW (1ull << 29)
#define CR0_CD (1ull << 30)
#define CR0_PG (1ull << 31)
#define CR4_PAE (1ull << 5)
#define CR4_OSXSAVE (1ull << 18)
#define EFER_LME (1ull << 8)
#define EFER_LMA (1ull << 10)

/* Group classes. */
#define G_SYNC_REGS                                                           \
	(ROOF_G_ACDB | ROOF_G_EBSD | ROOF_G_ESP | ROOF_G_EIP | ROOF_G_EFL |  \
	 ROOF_G_R8_R15)
#define G_SYNC_SREGS                                                          \
	(ROOF_G_ESDS | ROOF_G_FSGS | ROOF_G_CSSS | ROOF_G_TR | ROOF_G_LDTR |  \
	 ROOF_G_GDTR | ROOF_G_IDTR | ROOF_G_CR | ROOF_G_EFER | ROOF_G_TPR |   \
	 ROOF_G_PDPTE)
#define G_SYNC_EVENTS (ROOF_G_INJ | ROOF_G_STA)
#define G_LOCAL (ROOF_G_QUAL | ROOF_G_CTRL | ROOF_G_PDPTE | ROOF_G_TPR)
#define G_MSR                                                                 \
	(ROOF_G_SYS | ROOF_G_SYSCALL | ROOF_G_TSC | ROOF_G_TSC_AUX |          \
	 ROOF_G_XSAVE)
#define G_IOCTL (G_MSR | ROOF_G_DR | ROOF_G_FPU)
/* Groups an exit can change without an exit to user space, so the cache
 * drops them at every entry. SYSCALL (swapgs changes kernel_gs_base) only
 * in long mode; XSAVE (xsetbv changes xcr0) only with CR4.OSXSAVE. The rest
 * of the MSR groups change only through wrmsr, which the MSR filter sends
 * here (write intercept), so their cache is exact. */
#define G_VOLATILE (ROOF_G_TSC | ROOF_G_DR | ROOF_G_FPU)

#define CLS_REGS KVM_SYNC_X86_REGS
#define CLS_SREGS KVM_SYNC_X86_SREGS
#define CLS_EVENTS KVM_SYNC_X86_EVENTS
#define CLS_ALL (CLS_REGS | CLS_SREGS | CLS_EVENTS)

#define MAX_CPUID_SITES 4
/* exits a sync class stays on after the last exit that needed it */
#define CLASS_TTL 64
static unsigned classes_of(uint64_t groups);
#define MAX_FILTER_MSRS 96

struct khw_vm {
	struct roof_vm *vm;
	int kvm_fd, vm_fd;
	int run_size;
	unsigned nslots;
	bool tsc_offset_attr; /* KVM_VCPU_TSC_OFFSET available */
	bool configured;      /* cpuid table, MSR filter built */
	struct kvm_cpuid2 *cpuid; /* the table every vCPU gets */
	int recall_sig;
	bool recall_unblocked; /* khw_set_recall_unblocked() */
};

/* The ioctl-group register cache (kvm_hw.h). */
struct reg_cache {
	uint64_t valid; /* groups held */
	uint64_t dirty; /* groups to write before the next entry */
	uint64_t sys[3];
	uint64_t syscall[5];
	uint64_t tsc, tsc_offset;
	uint64_t tsc_aux;
	uint64_t xcr0, xss;
	struct kvm_debugregs dbg;
	struct kvm_xsave *xsave;
	/* what the TSC group delivered, to tell a write from a round trip */
	uint64_t tsc_delivered, offset_delivered;
};

/* The MSR-backed members of the ioctl groups: where each lives in the
 * cache and in roof_state. One table serves the batch reads and writes,
 * the copies to and from the state, and the write intercept. */
#define CACHE_AT(f) ((uint16_t)offsetof(struct reg_cache, f))
#define STATE_AT(f) ((uint16_t)offsetof(roof_state, f))
static const struct cached_msr {
	uint32_t index;
	uint64_t group;
	uint16_t cache_off, state_off;
} cached_msrs[] = {
	{MSR_SYSENTER_CS, ROOF_G_SYS, CACHE_AT(sys[0]), STATE_AT(sysenter_cs)},
	{MSR_SYSENTER_ESP, ROOF_G_SYS, CACHE_AT(sys[1]), STATE_AT(sysenter_sp)},
	{MSR_SYSENTER_EIP, ROOF_G_SYS, CACHE_AT(sys[2]), STATE_AT(sysenter_ip)},
	{MSR_STAR, ROOF_G_SYSCALL, CACHE_AT(syscall[0]), STATE_AT(star)},
	{MSR_LSTAR, ROOF_G_SYSCALL, CACHE_AT(syscall[1]), STATE_AT(lstar)},
	{MSR_CSTAR, ROOF_G_SYSCALL, CACHE_AT(syscall[2]), STATE_AT(cstar)},
	{MSR_FMASK, ROOF_G_SYSCALL, CACHE_AT(syscall[3]), STATE_AT(fmask)},
	{MSR_KERNEL_GS_BASE, ROOF_G_SYSCALL, CACHE_AT(syscall[4]),
	 STATE_AT(kernel_gs_base)},
	{MSR_TSC, ROOF_G_TSC, CACHE_AT(tsc), STATE_AT(tsc)},
	{MSR_TSC_AUX, ROOF_G_TSC_AUX, CACHE_AT(tsc_aux), STATE_AT(tsc_aux)},
	{MSR_XSS, ROOF_G_XSAVE, CACHE_AT(xss), STATE_AT(xss)},
};
#define N_CACHED_MSRS (sizeof cached_msrs / sizeof cached_msrs[0])

static uint64_t *cache_slot(struct reg_cache *rc, const struct cached_msr *m)
{
	return (uint64_t *)((uint8_t *)rc + m->cache_off);
}

static uint64_t *state_slot(roof_state *s, const struct cached_msr *m)
{
	return (uint64_t *)((uint8_t *)s + m->state_off);
}

struct khw_vcpu {
	struct khw_vm *k;
	struct roof_vcpu *core;
	int fd;
	unsigned id;
	struct kvm_run *run;
	pthread_t thread;
	bool thread_known;
	unsigned recalls; /* khw_recall calls (atomic) */
	struct roof_transfer_plan plan; /* kvm_sync_regs <-> roof_state */
	struct khw_counters cnt;
	uint64_t dummy_counter;

	struct khw_exit exit;
	unsigned fresh;          /* sync classes that hold the current state */
	unsigned dirty_cls;      /* sync classes written since the exit */
	uint64_t need[ROOF_EXIT_COUNT];
	uint64_t qual[2];
	uint32_t ctrl[2];
	uint32_t tpr_threshold;
	bool completed;          /* khw_complete ran for this exit */
	/* The last exit was HLT and the VMM has not set ip: KVM's rip is past
	 * the hlt, the unified state is at it; the next entry rewinds. */
	bool hlt_rewind;
	/* state writes queued while KVM still owes a completion */
	uint64_t deferred;
	const roof_state *deferred_src;
	/* a written value the entry checks refused: INVALID_STATE next entry */
	bool entry_invalid;

	struct reg_cache cache;
	uint64_t soft_tsc_offset; /* without KVM_VCPU_TSC_OFFSET: our delta */
	uint8_t class_ttl[3];     /* exits left for which a class is synced */
	bool cache_off;           /* khw_set_cache(false) */
	uint64_t cpuid_sites[MAX_CPUID_SITES];
	unsigned ncpuid_sites;
	char err[ROOF_ERR_LEN];
};

static void fail_msg(struct khw_vcpu *c, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static void fail_msg(struct khw_vcpu *c, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(c->err, sizeof c->err, fmt, ap);
	va_end(ap);
}

const char *khw_error(const struct khw_vcpu *c)
{
	return c->err;
}

static inline void count_ioctl(struct khw_vcpu *c)
{
	(*c->cnt.ioctls)++;
}

/* ---- VM ------------------------------------------------------------------ */
static void recall_handler(int sig)
{
	(void)sig; /* only interrupts KVM_RUN */
}

int khw_vm_open(struct roof_vm *vm, struct khw_vm **out)
{
	*out = NULL;
	struct khw_vm *k = calloc(1, sizeof *k);
	if (!k)
		return roof_vm_fail(vm, ROOF_ENOMEM, "kvm: out of memory");
	k->vm = vm;
	k->vm_fd = -1;
	k->kvm_fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	if (k->kvm_fd < 0) {
		int e = errno;
		free(k);
		return roof_vm_fail(vm, e == ENOENT ? ROOF_ENOENT : ROOF_EKERNEL,
				    "kvm: cannot open /dev/kvm: %s", strerror(e));
	}
	int api = ioctl(k->kvm_fd, KVM_GET_API_VERSION, 0);
	int rc = ROOF_OK;
	if (api != KVM_API_VERSION) {
		rc = roof_vm_fail(vm, ROOF_EKERNEL,
				  "kvm: API version %d, need %d", api,
				  KVM_API_VERSION);
		goto fail;
	}
	static const struct {
		int cap;
		const char *name;
	} need[] = {
		{KVM_CAP_SYNC_REGS, "KVM_CAP_SYNC_REGS"},
		{KVM_CAP_IMMEDIATE_EXIT, "KVM_CAP_IMMEDIATE_EXIT"},
		{KVM_CAP_X86_USER_SPACE_MSR, "KVM_CAP_X86_USER_SPACE_MSR"},
		{KVM_CAP_X86_MSR_FILTER, "KVM_CAP_X86_MSR_FILTER"},
		{KVM_CAP_SET_GUEST_DEBUG, "KVM_CAP_SET_GUEST_DEBUG"},
		{KVM_CAP_XSAVE, "KVM_CAP_XSAVE"},
		{KVM_CAP_XCRS, "KVM_CAP_XCRS"},
		{KVM_CAP_DEBUGREGS, "KVM_CAP_DEBUGREGS"},
		{KVM_CAP_VCPU_EVENTS, "KVM_CAP_VCPU_EVENTS"},
	};
	for (size_t i = 0; i < sizeof need / sizeof need[0]; i++) {
		if (ioctl(k->kvm_fd, KVM_CHECK_EXTENSION, need[i].cap) <= 0) {
			rc = roof_vm_fail(vm, ROOF_ENOSYS,
					  "kvm: this KVM lacks %s", need[i].name);
			goto fail;
		}
	}
	int sync = ioctl(k->kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_SYNC_REGS);
	if ((sync & CLS_ALL) != CLS_ALL) {
		rc = roof_vm_fail(vm, ROOF_ENOSYS,
				  "kvm: sync_regs classes 0x%x, need regs, "
				  "sregs and events", sync);
		goto fail;
	}
	k->run_size = ioctl(k->kvm_fd, KVM_GET_VCPU_MMAP_SIZE, 0);
	if (k->run_size < (int)sizeof(struct kvm_run)) {
		rc = roof_vm_fail(vm, ROOF_EKERNEL,
				  "kvm: KVM_GET_VCPU_MMAP_SIZE: %s",
				  strerror(errno));
		goto fail;
	}
	k->vm_fd = ioctl(k->kvm_fd, KVM_CREATE_VM, 0);
	if (k->vm_fd < 0) {
		rc = roof_vm_fail(vm, ROOF_EKERNEL, "kvm: KVM_CREATE_VM: %s",
				  strerror(errno));
		goto fail;
	}
	int slots = ioctl(k->vm_fd, KVM_CHECK_EXTENSION, KVM_CAP_NR_MEMSLOTS);
	k->nslots = slots > 0 ? (unsigned)slots : 32;
	/* MSRs the VMM or the register cache intercept exit to user space. */
	struct kvm_enable_cap cap = {.cap = KVM_CAP_X86_USER_SPACE_MSR,
				     .args = {KVM_MSR_EXIT_REASON_FILTER}};
	if (ioctl(k->vm_fd, KVM_ENABLE_CAP, &cap) < 0) {
		rc = roof_vm_fail(vm, ROOF_EKERNEL,
				  "kvm: enable KVM_CAP_X86_USER_SPACE_MSR: %s",
				  strerror(errno));
		goto fail;
	}
	/* Recall signal: a no-op handler. By default it is blocked in the
	 * vCPU thread outside KVM_RUN (KVM_SET_SIGNAL_MASK unblocks it only
	 * inside), so it never interrupts the VMM's own code; immediate_exit,
	 * set before the signal, covers a recall that lands outside KVM_RUN.
	 * Opt-in recall=unblocked leaves it unblocked and saves the mask
	 * switch of every KVM_RUN (RESULTS.md, "Substrate"), at the price of
	 * a signal that may interrupt a handler's own system calls
	 * (SA_RESTART restarts most of them). */
	k->recall_sig = SIGRTMIN + 5;
	struct sigaction old;
	if (sigaction(k->recall_sig, NULL, &old) == 0 &&
	    old.sa_handler == SIG_DFL) {
		struct sigaction sa = {.sa_handler = recall_handler,
				       .sa_flags = SA_RESTART};
		sigemptyset(&sa.sa_mask);
		sigaction(k->recall_sig, &sa, NULL);
	}
	*out = k;
	return ROOF_OK;
fail:
	if (k->vm_fd >= 0)
		close(k->vm_fd);
	close(k->kvm_fd);
	free(k);
	return rc;
}

void khw_vm_close(struct khw_vm *k)
{
	if (!k)
		return;
	free(k->cpuid);
	if (k->vm_fd >= 0)
		close(k->vm_fd);
	close(k->kvm_fd);
	free(k);
}

unsigned khw_max_slots(struct khw_vm *k)
{
	return k->nslots;
}

int khw_mem_map(struct khw_vm *k, struct roof_mem_region *r)
{
	struct kvm_userspace_memory_region m = {
		.slot = (uint32_t)r->slot,
		.flags = (r->flags & ROOF_MEM_READONLY) ? KVM_MEM_READONLY : 0,
		.guest_phys_addr = r->gpa,
		.memory_size = r->size,
		.userspace_addr = (uintptr_t)r->host,
	};
	if (ioctl(k->vm_fd, KVM_SET_USER_MEMORY_REGION, &m) < 0)
		return roof_vm_fail(k->vm, ROOF_EKERNEL,
			"kvm: map [0x%llx, +0x%llx) into slot %d: %s",
			(unsigned long long)r->gpa,
			(unsigned long long)r->size, r->slot, strerror(errno));
	return ROOF_OK;
}

int khw_mem_unmap(struct khw_vm *k, struct roof_mem_region *r)
{
	struct kvm_userspace_memory_region m = {
		.slot = (uint32_t)r->slot,
		.guest_phys_addr = r->gpa,
		.memory_size = 0,
		.userspace_addr = (uintptr_t)r->host,
	};
	if (ioctl(k->vm_fd, KVM_SET_USER_MEMORY_REGION, &m) < 0)
		return roof_vm_fail(k->vm, ROOF_EKERNEL,
			"kvm: unmap slot %d at 0x%llx: %s", r->slot,
			(unsigned long long)r->gpa, strerror(errno));
	return ROOF_OK;
}

void *khw_guest_ptr(struct khw_vcpu *c, uint64_t gpa, uint64_t len)
{
	return roof_host_gpa(c->k->vm, gpa, len);
}

/* ---- VM configuration at the first vCPU: cpuid table, MSR filter ---------- */
static struct kvm_cpuid_entry2 *cpuid_find(struct kvm_cpuid2 *t, uint32_t fn,
					   uint32_t idx)
{
	for (uint32_t i = 0; i < t->nent; i++) {
		struct kvm_cpuid_entry2 *e = &t->entries[i];
		if (e->function != fn)
			continue;
		if ((e->flags & KVM_CPUID_FLAG_SIGNIFCANT_INDEX) && e->index != idx)
			continue;
		return e;
	}
	return NULL;
}

static int build_cpuid(struct khw_vm *k)
{
	struct roof_vm *vm = k->vm;
	uint32_t cap = 256;
	struct kvm_cpuid2 *t = NULL;
	for (;;) {
		t = calloc(1, sizeof *t + (cap + ROOF_MAX_CPUID) *
					      sizeof(struct kvm_cpuid_entry2));
		if (!t)
			return roof_vm_fail(vm, ROOF_ENOMEM, "kvm: out of memory");
		t->nent = cap;
		if (ioctl(k->kvm_fd, KVM_GET_SUPPORTED_CPUID, t) == 0)
			break;
		int e = errno;
		free(t);
		if (e != E2BIG || cap >= 4096)
			return roof_vm_fail(vm, ROOF_EKERNEL,
					    "kvm: KVM_GET_SUPPORTED_CPUID: %s",
					    strerror(e));
		cap *= 2;
	}
	/* rdtscp: this backend finishes it when KVM cannot (see top). */
	struct kvm_cpuid_entry2 *ext = cpuid_find(t, 0x80000001u, 0);
	if (ext)
		ext->edx |= 1u << 27;
	/* The unified FPU image holds 2560 bytes (Genode's Vcpu_state): keep
	 * the XSAVE components the guest may enable within that. */
	struct kvm_cpuid_entry2 *xs = cpuid_find(t, 0xd, 0);
	if (xs && xs->ecx > ROOF_FPU_SIZE) {
		free(t);
		return roof_vm_fail(vm, ROOF_ENOSYS,
			"kvm: XSAVE area of %u bytes exceeds the %d-byte FPU "
			"image", xs->ecx, ROOF_FPU_SIZE);
	}
	/* The VMM's policy replaces whole leaves: drop the supported entries
	 * of every leaf it names, then add its entries. */
	for (size_t i = 0; i < vm->ncpuid; i++) {
		uint32_t leaf = vm->cpuid[i].leaf;
		uint32_t kept = 0;
		for (uint32_t j = 0; j < t->nent; j++)
			if (t->entries[j].function != leaf)
				t->entries[kept++] = t->entries[j];
		t->nent = kept;
	}
	for (size_t i = 0; i < vm->ncpuid; i++) {
		const struct roof_cpuid_entry *p = &vm->cpuid[i];
		struct kvm_cpuid_entry2 *e = &t->entries[t->nent++];
		memset(e, 0, sizeof *e);
		e->function = p->leaf;
		e->index = p->subleaf;
		if (p->flags & ROOF_CPUID_SUBLEAF)
			e->flags = KVM_CPUID_FLAG_SIGNIFCANT_INDEX;
		e->eax = p->eax;
		e->ebx = p->ebx;
		e->ecx = p->ecx;
		e->edx = p->edx;
	}
	k->cpuid = t;
	return ROOF_OK;
}

/* MSRs whose writes come to user space: the VMM's (reads too) and the
 * register cache's (cached_msrs, but the TSC: its group is never kept
 * across an entry). Bitmap bit = 1 allows, 0 sends to user space. */

static bool vmm_msr(const struct roof_vm *vm, uint32_t index)
{
	for (size_t i = 0; i < vm->nmsr_exits; i++)
		if (vm->msr_exits[i] == index)
			return true;
	return false;
}

static int add_filter_range(struct kvm_msr_filter *f, uint8_t bitmaps[][16],
			    uint32_t flags, const uint32_t *msrs, size_t n)
{
	/* One range per 128-MSR window that holds listed MSRs. */
	for (size_t i = 0; i < n; i++) {
		uint32_t base = msrs[i] & ~127u;
		unsigned r;
		for (r = 0; r < KVM_MSR_FILTER_MAX_RANGES && f->ranges[r].nmsrs;
		     r++)
			if (f->ranges[r].base == base &&
			    f->ranges[r].flags == flags)
				break;
		if (r == KVM_MSR_FILTER_MAX_RANGES)
			return -1;
		if (!f->ranges[r].nmsrs) {
			f->ranges[r].flags = flags;
			f->ranges[r].base = base;
			f->ranges[r].nmsrs = 128;
			memset(bitmaps[r], 0xff, 16);
			f->ranges[r].bitmap = bitmaps[r];
		}
		uint32_t bit = msrs[i] - base;
		bitmaps[r][bit / 8] &= (uint8_t)~(1u << (bit % 8));
	}
	return 0;
}

static int build_msr_filter(struct khw_vm *k)
{
	struct roof_vm *vm = k->vm;
	struct kvm_msr_filter f = {.flags = KVM_MSR_FILTER_DEFAULT_ALLOW};
	static uint8_t bitmaps[KVM_MSR_FILTER_MAX_RANGES][16];
	memset(bitmaps, 0, sizeof bitmaps);
	uint32_t writes[MAX_FILTER_MSRS];
	size_t nw = 0;
	for (size_t i = 0; i < N_CACHED_MSRS; i++)
		if (cached_msrs[i].group != ROOF_G_TSC &&
		    !vmm_msr(vm, cached_msrs[i].index))
			writes[nw++] = cached_msrs[i].index;
	if (add_filter_range(&f, bitmaps, KVM_MSR_FILTER_READ | KVM_MSR_FILTER_WRITE,
			     vm->msr_exits, vm->nmsr_exits) ||
	    add_filter_range(&f, bitmaps, KVM_MSR_FILTER_WRITE, writes, nw))
		return roof_vm_fail(vm, ROOF_ERANGE,
			"kvm: the MSR exits span more than %d windows of 128 "
			"MSRs", KVM_MSR_FILTER_MAX_RANGES);
	if (ioctl(k->vm_fd, KVM_X86_SET_MSR_FILTER, &f) < 0)
		return roof_vm_fail(vm, ROOF_EKERNEL,
				    "kvm: KVM_X86_SET_MSR_FILTER: %s",
				    strerror(errno));
	return ROOF_OK;
}

/* ---- vCPU ---------------------------------------------------------------- */
#define SYNC_OFF(field) ((uint32_t)offsetof(struct kvm_sync_regs, field))
#define STATE_OFF(field) ((uint32_t)offsetof(roof_state, field))

/* The copyable groups of kvm_sync_regs; the rest are converted in C. */
static int build_plan(struct roof_transfer_plan *p)
{
	roof_plan_init(p, sizeof(struct kvm_sync_regs));
	int rc = 0;
	rc |= roof_plan_add(p, ROOF_GB_ACDB, SYNC_OFF(regs.rax), STATE_OFF(ax), 8);
	rc |= roof_plan_add(p, ROOF_GB_ACDB, SYNC_OFF(regs.rcx), STATE_OFF(cx), 8);
	rc |= roof_plan_add(p, ROOF_GB_ACDB, SYNC_OFF(regs.rdx), STATE_OFF(dx), 8);
	rc |= roof_plan_add(p, ROOF_GB_ACDB, SYNC_OFF(regs.rbx), STATE_OFF(bx), 8);
	rc |= roof_plan_add(p, ROOF_GB_EBSD, SYNC_OFF(regs.rbp), STATE_OFF(bp), 8);
	rc |= roof_plan_add(p, ROOF_GB_EBSD, SYNC_OFF(regs.rsi), STATE_OFF(si), 8);
	rc |= roof_plan_add(p, ROOF_GB_EBSD, SYNC_OFF(regs.rdi), STATE_OFF(di), 8);
	rc |= roof_plan_add(p, ROOF_GB_ESP, SYNC_OFF(regs.rsp), STATE_OFF(sp), 8);
	rc |= roof_plan_add(p, ROOF_GB_EFL, SYNC_OFF(regs.rflags),
			    STATE_OFF(flags), 8);
	rc |= roof_plan_add(p, ROOF_GB_R8_R15, SYNC_OFF(regs.r8), STATE_OFF(r8),
			    64);
	/* kvm_sregs: cr0 cr2 cr3 cr4 are consecutive, as in roof_state */
	rc |= roof_plan_add(p, ROOF_GB_CR, SYNC_OFF(sregs.cr0), STATE_OFF(cr0),
			    32);
	rc |= roof_plan_add(p, ROOF_GB_EFER, SYNC_OFF(sregs.efer),
			    STATE_OFF(efer), 8);
	return rc;
}
_Static_assert(offsetof(struct kvm_sregs, cr4) ==
		       offsetof(struct kvm_sregs, cr0) + 24,
	       "kvm_sregs cr0..cr4 layout");
_Static_assert(offsetof(roof_state, cr4) == offsetof(roof_state, cr0) + 24,
	       "roof_state cr0..cr4 layout");
_Static_assert(offsetof(struct kvm_regs, r15) ==
		       offsetof(struct kvm_regs, r8) + 56,
	       "kvm_regs r8..r15 layout");

static int vcpu_configure(struct khw_vcpu *c)
{
	struct khw_vm *k = c->k;
	struct kvm_device_attr tsc_attr = {.group = KVM_VCPU_TSC_CTRL,
					   .attr = KVM_VCPU_TSC_OFFSET};
	k->tsc_offset_attr = ioctl(c->fd, KVM_HAS_DEVICE_ATTR, &tsc_attr) == 0;
	if (ioctl(c->fd, KVM_SET_CPUID2, k->cpuid) < 0) {
		fail_msg(c, "kvm: KVM_SET_CPUID2: %s", strerror(errno));
		return ROOF_EKERNEL;
	}
	/* cpuid sites: hardware breakpoints make those cpuids exit here. */
	struct roof_vm *vm = k->vm;
	c->ncpuid_sites = (unsigned)vm->ncpuid_sites;
	if (c->ncpuid_sites) {
		struct kvm_guest_debug d = {
			.control = KVM_GUESTDBG_ENABLE | KVM_GUESTDBG_USE_HW_BP};
		for (unsigned i = 0; i < c->ncpuid_sites; i++) {
			c->cpuid_sites[i] = vm->cpuid_sites[i];
			d.arch.debugreg[i] = vm->cpuid_sites[i];
			d.arch.debugreg[7] |= 1ull << (2 * i); /* Ln, exec, len 1 */
		}
		if (ioctl(c->fd, KVM_SET_GUEST_DEBUG, &d) < 0) {
			fail_msg(c, "kvm: KVM_SET_GUEST_DEBUG: %s",
				 strerror(errno));
			return ROOF_EKERNEL;
		}
	}
	return ROOF_OK;
}

int khw_vcpu_create(struct khw_vm *k, struct roof_vcpu *core,
		    struct khw_vcpu **out)
{
	struct roof_vm *vm = k->vm;
	*out = NULL;
	if (!k->configured) {
		int rc = build_cpuid(k);
		if (rc == ROOF_OK)
			rc = build_msr_filter(k);
		if (rc)
			return rc;
		k->configured = true;
	}
	struct khw_vcpu *c = calloc(1, sizeof *c);
	if (!c)
		return roof_vm_fail(vm, ROOF_ENOMEM, "kvm: out of memory");
	c->cache.xsave = aligned_alloc(64, sizeof(struct kvm_xsave));
	if (!c->cache.xsave) {
		free(c);
		return roof_vm_fail(vm, ROOF_ENOMEM, "kvm: out of memory");
	}
	c->k = k;
	c->core = core;
	c->id = core->id;
	c->cnt = (struct khw_counters){&c->dummy_counter, &c->dummy_counter};
	c->fd = ioctl(k->vm_fd, KVM_CREATE_VCPU, (unsigned long)c->id);
	int rc = ROOF_OK;
	if (c->fd < 0) {
		rc = roof_vm_fail(vm, ROOF_EKERNEL, "kvm: KVM_CREATE_VCPU %u: %s",
				  c->id, strerror(errno));
		goto fail;
	}
	c->run = mmap(NULL, (size_t)k->run_size, PROT_READ | PROT_WRITE,
		      MAP_SHARED, c->fd, 0);
	if (c->run == MAP_FAILED) {
		c->run = NULL;
		rc = roof_vm_fail(vm, ROOF_EKERNEL, "kvm: mmap kvm_run: %s",
				  strerror(errno));
		goto fail;
	}
	if (build_plan(&c->plan)) {
		rc = roof_vm_fail(vm, ROOF_EINVAL,
				  "kvm: transfer plan does not fit");
		goto fail;
	}
	rc = vcpu_configure(c);
	if (rc) {
		roof_vm_fail(vm, rc, "%s", c->err);
		goto fail;
	}
	/* Before the first entry KVM has filled nothing: fetch on demand. */
	c->fresh = 0;
	memset(c->class_ttl, CLASS_TTL, sizeof c->class_ttl);
	*out = c;
	return ROOF_OK;
fail:
	if (c->run)
		munmap(c->run, (size_t)k->run_size);
	if (c->fd >= 0)
		close(c->fd);
	free(c->cache.xsave);
	free(c);
	return rc;
}

void khw_vcpu_destroy(struct khw_vcpu *c)
{
	if (!c)
		return;
	if (c->run)
		munmap(c->run, (size_t)c->k->run_size);
	if (c->fd >= 0)
		close(c->fd);
	free(c->cache.xsave);
	free(c);
}

void khw_set_cache(struct khw_vcpu *c, bool on)
{
	c->cache_off = !on;
}

void khw_set_counters(struct khw_vcpu *c, struct khw_counters counters)
{
	c->cnt = counters;
	if (!c->cnt.ioctls)
		c->cnt.ioctls = &c->dummy_counter;
	if (!c->cnt.bytes)
		c->cnt.bytes = &c->dummy_counter;
}

void khw_set_recall_unblocked(struct khw_vm *k, bool unblocked)
{
	k->recall_unblocked = unblocked;
}

int khw_thread_init(struct khw_vcpu *c)
{
	sigset_t recall;
	sigemptyset(&recall);
	sigaddset(&recall, c->k->recall_sig);
	int e = pthread_sigmask(c->k->recall_unblocked ? SIG_UNBLOCK : SIG_BLOCK,
				&recall, NULL);
	if (e) {
		fail_msg(c, "kvm: pthread_sigmask: %s", strerror(e));
		return ROOF_EKERNEL;
	}
	if (!c->k->recall_unblocked) {
		/* inside KVM_RUN: this thread's mask minus the recall signal */
		sigset_t during;
		pthread_sigmask(SIG_BLOCK, NULL, &during);
		sigdelset(&during, c->k->recall_sig);
		struct {
			struct kvm_signal_mask m;
			uint8_t bits[8];
		} mask = {.m.len = 8};
		memcpy(mask.m.sigset, &during, 8);
		if (ioctl(c->fd, KVM_SET_SIGNAL_MASK, &mask) < 0) {
			fail_msg(c, "kvm: KVM_SET_SIGNAL_MASK: %s",
				 strerror(errno));
			return ROOF_EKERNEL;
		}
	}
	c->thread = pthread_self();
	__atomic_store_n(&c->thread_known, true, __ATOMIC_RELEASE);
	return ROOF_OK;
}

void khw_recall(struct khw_vcpu *c)
{
	__atomic_fetch_add(&c->recalls, 1, __ATOMIC_SEQ_CST);
	__atomic_store_n(&c->run->immediate_exit, 1, __ATOMIC_SEQ_CST);
	if (__atomic_load_n(&c->thread_known, __ATOMIC_ACQUIRE))
		pthread_kill(c->thread, c->k->recall_sig);
}

/* A blocked recall signal stays pending after the EINTR it caused, or
 * arrives while the thread is outside KVM_RUN: take it, so that the next
 * KVM_RUN does not return EINTR for a recall already served. The
 * recall itself is never lost: pause_pending/destroying are set before
 * the signal and checked before every entry, and immediate_exit is set
 * again below when a recall raced with the clear. */
static void take_recall_signals(struct khw_vcpu *c)
{
	if (c->k->recall_unblocked)
		return;
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, c->k->recall_sig);
	struct timespec zero = {0, 0};
	while (sigtimedwait(&set, NULL, &zero) >= 0)
		;
}

/* What the hardware layer itself reads for an exit (hlt rewind, cpuid
 * site operands). */
static uint64_t own_need(roof_exit reason)
{
	switch (reason) {
	case ROOF_EXIT_HLT:
		return ROOF_G_EIP;
	case ROOF_EXIT_CPUID:
		return ROOF_G_EIP | ROOF_G_ACDB;
	default:
		return 0;
	}
}

void khw_set_need(struct khw_vcpu *c, roof_exit reason, uint64_t groups)
{
	if ((unsigned)reason < ROOF_EXIT_COUNT)
		c->need[reason] = groups | own_need(reason);
}

const struct khw_exit *khw_last_exit(const struct khw_vcpu *c)
{
	return &c->exit;
}

/* ---- sync classes ---------------------------------------------------------- */
/*
 * Which classes KVM fills at the next exit. The next exit's reason is not
 * known before the entry, so a class stays synced for CLASS_TTL exits after
 * the last exit whose consumer needed it: a steady stream of io exits with
 * mask 0 syncs nothing (as cheap as a bare KVM_RUN loop), a mix that needs
 * regs somewhere keeps them synced. A miss costs one ioctl (counted).
 */
static const unsigned class_bits[3] = {CLS_REGS, CLS_SREGS, CLS_EVENTS};

static unsigned predict_classes(struct khw_vcpu *c)
{
	unsigned cls = 0;
	for (unsigned i = 0; i < 3; i++) {
		if (c->class_ttl[i]) {
			cls |= class_bits[i];
			c->class_ttl[i]--;
		}
	}
	return cls;
}

static void note_need(struct khw_vcpu *c, roof_exit reason)
{
	unsigned cls = classes_of(c->need[(unsigned)reason < ROOF_EXIT_COUNT
						  ? reason
						  : ROOF_EXIT_BACKEND_ERROR]);
	for (unsigned i = 0; i < 3; i++)
		if (cls & class_bits[i])
			c->class_ttl[i] = CLASS_TTL;
}

static unsigned classes_of(uint64_t groups)
{
	unsigned cls = 0;
	if (groups & G_SYNC_REGS)
		cls |= CLS_REGS;
	if (groups & G_SYNC_SREGS)
		cls |= CLS_SREGS;
	if (groups & G_SYNC_EVENTS)
		cls |= CLS_EVENTS;
	return cls;
}

/* Make sync classes current in run->s.regs by ioctl where KVM did not fill
 * them at the exit (a misprediction, or state after a synthetic exit). */
static int refresh_classes(struct khw_vcpu *c, unsigned cls)
{
	unsigned missing = cls & ~c->fresh;
	struct kvm_sync_regs *sr = &c->run->s.regs;
	if (missing & CLS_REGS) {
		count_ioctl(c);
		if (ioctl(c->fd, KVM_GET_REGS, &sr->regs) < 0) {
			fail_msg(c, "kvm: KVM_GET_REGS: %s", strerror(errno));
			return ROOF_EKERNEL;
		}
	}
	if (missing & CLS_SREGS) {
		count_ioctl(c);
		if (ioctl(c->fd, KVM_GET_SREGS, &sr->sregs) < 0) {
			fail_msg(c, "kvm: KVM_GET_SREGS: %s", strerror(errno));
			return ROOF_EKERNEL;
		}
	}
	if (missing & CLS_EVENTS) {
		count_ioctl(c);
		if (ioctl(c->fd, KVM_GET_VCPU_EVENTS, &sr->events) < 0) {
			fail_msg(c, "kvm: KVM_GET_VCPU_EVENTS: %s",
				 strerror(errno));
			return ROOF_EKERNEL;
		}
	}
	c->fresh |= missing;
	return ROOF_OK;
}

/* ---- conversions between KVM and unified layouts --------------------------- */
static void seg_from_kvm(struct roof_segment *d, const struct kvm_segment *k)
{
	d->sel = k->selector;
	d->limit = k->limit;
	d->base = k->base;
	d->ar = (uint16_t)((k->type & 15u) | (k->s & 1u) << 4 |
			   (k->dpl & 3u) << 5 | (k->present & 1u) << 7 |
			   (k->avl & 1u) << 8 | (k->l & 1u) << 9 |
			   (k->db & 1u) << 10 | (k->g & 1u) << 11 |
			   (k->unusable & 1u) << 12);
}

static void seg_to_kvm(struct kvm_segment *k, const struct roof_segment *d)
{
	k->selector = d->sel;
	k->limit = d->limit;
	k->base = d->base;
	k->type = d->ar & 15u;
	k->s = (d->ar >> 4) & 1u;
	k->dpl = (d->ar >> 5) & 3u;
	k->present = (d->ar >> 7) & 1u;
	k->avl = (d->ar >> 8) & 1u;
	k->l = (d->ar >> 9) & 1u;
	k->db = (d->ar >> 10) & 1u;
	k->g = (d->ar >> 11) & 1u;
	k->unusable = (d->ar >> 12) & 1u;
}

/* The eight segments: the group each is in, its place in roof_state and in
 * struct kvm_sregs (linux/kvm.h), for the copies both ways. */
static const struct {
	uint64_t group;
	size_t state_off, sregs_off;
} segments[] = {
	{ROOF_G_ESDS, offsetof(roof_state, es), offsetof(struct kvm_sregs, es)},
	{ROOF_G_ESDS, offsetof(roof_state, ds), offsetof(struct kvm_sregs, ds)},
	{ROOF_G_FSGS, offsetof(roof_state, fs), offsetof(struct kvm_sregs, fs)},
	{ROOF_G_FSGS, offsetof(roof_state, gs), offsetof(struct kvm_sregs, gs)},
	{ROOF_G_CSSS, offsetof(roof_state, cs), offsetof(struct kvm_sregs, cs)},
	{ROOF_G_CSSS, offsetof(roof_state, ss), offsetof(struct kvm_sregs, ss)},
	{ROOF_G_TR, offsetof(roof_state, tr), offsetof(struct kvm_sregs, tr)},
	{ROOF_G_LDTR, offsetof(roof_state, ldtr), offsetof(struct kvm_sregs, ldt)},
};

static void segments_from_kvm(roof_state *s, const struct kvm_sregs *sr,
			      uint64_t g)
{
	for (size_t i = 0; i < sizeof segments / sizeof segments[0]; i++)
		if (g & segments[i].group)
			seg_from_kvm((struct roof_segment *)((char *)s +
							     segments[i].state_off),
				     (const struct kvm_segment *)
					     ((const char *)sr +
					      segments[i].sregs_off));
}

static void segments_to_kvm(struct kvm_sregs *sr, const roof_state *s,
			    uint64_t g)
{
	for (size_t i = 0; i < sizeof segments / sizeof segments[0]; i++)
		if (g & segments[i].group)
			seg_to_kvm((struct kvm_segment *)((char *)sr +
							  segments[i].sregs_off),
				   (const struct roof_segment *)
					   ((const char *)s +
					    segments[i].state_off));
}

/* VMX entry-interruption info (SDM Vol. 3C, 24.8.3): vector 7:0, type
 * 10:8, error code valid 11, valid 31; Genode's request bits 12 (irq
 * window) and 13 (nmi window). */
#define INJ_VALID (1u << 31)
#define INJ_ERRCODE (1u << 11)
#define INJ_REQ_IRQ_WIN (1u << 12)
#define INJ_REQ_NMI_WIN (1u << 13)
enum { INJ_EXTINT = 0, INJ_NMI = 2, INJ_HWEXC = 3, INJ_SWINT = 4,
       INJ_SWEXC = 6 };

static void events_to_state(struct khw_vcpu *c, roof_state *s, uint64_t g)
{
	const struct kvm_vcpu_events *e = &c->run->s.regs.events;
	if (g & ROOF_G_INJ) {
		uint32_t info = 0, err = 0;
		if (e->exception.injected) {
			info = INJ_VALID | (uint32_t)INJ_HWEXC << 8 |
			       e->exception.nr;
			if (e->exception.has_error_code) {
				info |= INJ_ERRCODE;
				err = e->exception.error_code;
			}
		} else if (e->interrupt.injected) {
			info = INJ_VALID |
			       (uint32_t)(e->interrupt.soft ? INJ_SWINT
							    : INJ_EXTINT) << 8 |
			       e->interrupt.nr;
		} else if (e->nmi.injected) {
			info = INJ_VALID | (uint32_t)INJ_NMI << 8 | 2;
		}
		if (c->run->request_interrupt_window)
			info |= INJ_REQ_IRQ_WIN;
		s->inj_info = info;
		s->inj_error = err;
	}
	if (g & ROOF_G_STA) {
		/* VMX interruptibility (SDM 24.4.2): bit 0 STI, 1 MOV SS,
		 * 3 NMI blocking. */
		uint32_t st = 0;
		if (e->interrupt.shadow & KVM_X86_SHADOW_INT_STI)
			st |= 1u;
		if (e->interrupt.shadow & KVM_X86_SHADOW_INT_MOV_SS)
			st |= 2u;
		if (e->nmi.masked)
			st |= 8u;
		s->intr_state = st;
		s->actv_state = 0; /* an exit to user space means active */
	}
}

static int events_from_state(struct khw_vcpu *c, const roof_state *s,
			     uint64_t g, struct kvm_vcpu_events *e)
{
	if (g & ROOF_G_INJ) {
		uint32_t info = s->inj_info;
		e->exception.injected = 0;
		e->interrupt.injected = 0;
		e->nmi.injected = 0;
		if (info & INJ_VALID) {
			unsigned type = (info >> 8) & 7u;
			uint8_t vec = (uint8_t)info;
			switch (type) {
			case INJ_EXTINT:
			case INJ_SWINT:
				e->interrupt.injected = 1;
				e->interrupt.nr = vec;
				e->interrupt.soft = type == INJ_SWINT;
				break;
			case INJ_NMI:
				e->nmi.injected = 1;
				break;
			case INJ_HWEXC:
			case INJ_SWEXC:
				e->exception.injected = 1;
				e->exception.nr = vec;
				e->exception.has_error_code =
					(info & INJ_ERRCODE) != 0;
				e->exception.error_code = s->inj_error;
				break;
			default:
				fail_msg(c, "kvm: inj_info 0x%x has event type "
					 "%u, which x86 does not define", info,
					 type);
				return ROOF_ESTATE;
			}
		}
		c->run->request_interrupt_window = (info & INJ_REQ_IRQ_WIN) != 0;
		if (info & INJ_REQ_NMI_WIN) {
			fail_msg(c, "kvm: inj_info requests an NMI window exit, "
				 "which KVM's API does not offer");
			return ROOF_ENOSYS;
		}
	}
	if (g & ROOF_G_STA) {
		if (s->actv_state != 0) {
			fail_msg(c, "kvm: actv_state %u: only 0 (active) can "
				 "be set on KVM without an in-kernel APIC",
				 s->actv_state);
			return ROOF_ESTATE;
		}
		if (s->intr_state & ~0xbu) {
			fail_msg(c, "kvm: intr_state 0x%x has bits beyond STI, "
				 "MOV SS and NMI blocking", s->intr_state);
			return ROOF_ESTATE;
		}
		e->interrupt.shadow =
			(uint8_t)(((s->intr_state & 1u) ? KVM_X86_SHADOW_INT_STI
							: 0) |
				  ((s->intr_state & 2u) ? KVM_X86_SHADOW_INT_MOV_SS
							: 0));
		e->nmi.masked = (s->intr_state & 8u) != 0;
		e->flags |= KVM_VCPUEVENT_VALID_SHADOW;
	}
	return ROOF_OK;
}

/* ---- state fetch ------------------------------------------------------------ */
static void local_to_state(struct khw_vcpu *c, roof_state *s, uint64_t g)
{
	if (g & ROOF_G_QUAL) {
		s->qual_primary = c->qual[0];
		s->qual_secondary = c->qual[1];
	}
	if (g & ROOF_G_CTRL) {
		s->ctrl_primary = c->ctrl[0];
		s->ctrl_secondary = c->ctrl[1];
	}
	if (g & ROOF_G_TPR) {
		/* tpr is the vTPR byte: priority class in bits 7:4 = CR8 */
		s->tpr = (uint32_t)(c->run->s.regs.sregs.cr8 & 15u) << 4;
		s->tpr_threshold = c->tpr_threshold;
	}
	if (g & ROOF_G_PDPTE) {
		/* The four PDPTEs the CPU loads at cr3 in PAE paging (SDM
		 * 4.4.1); zero outside PAE paging. */
		const struct kvm_sregs *sr = &c->run->s.regs.sregs;
		memset(s->pdpte, 0, sizeof s->pdpte);
		if ((sr->cr0 & CR0_PG) && (sr->cr4 & CR4_PAE) &&
		    !(sr->efer & EFER_LMA)) {
			const void *p = khw_guest_ptr(c, sr->cr3 & ~0x1full, 32);
			if (p)
				memcpy(s->pdpte, p, 32);
		}
	}
}

static void sregs_to_state(struct khw_vcpu *c, roof_state *s, uint64_t g)
{
	const struct kvm_sregs *sr = &c->run->s.regs.sregs;
	segments_from_kvm(s, sr, g);
	if (g & ROOF_G_GDTR)
		s->gdtr = (struct roof_dtr){sr->gdt.limit, 0, sr->gdt.base};
	if (g & ROOF_G_IDTR)
		s->idtr = (struct roof_dtr){sr->idt.limit, 0, sr->idt.base};
}

static int msr_get(struct khw_vcpu *c, const uint32_t *idx, uint64_t *val,
		   unsigned n)
{
	struct {
		struct kvm_msrs h;
		struct kvm_msr_entry e[16];
	} m;
	memset(&m, 0, sizeof m);
	m.h.nmsrs = n;
	for (unsigned i = 0; i < n; i++)
		m.e[i].index = idx[i];
	count_ioctl(c);
	int got = ioctl(c->fd, KVM_GET_MSRS, &m);
	if (got != (int)n) {
		fail_msg(c, "kvm: KVM_GET_MSRS: %s at MSR 0x%x",
			 got < 0 ? strerror(errno) : "refused",
			 got >= 0 && got < (int)n ? idx[got] : 0);
		return ROOF_EKERNEL;
	}
	for (unsigned i = 0; i < n; i++)
		val[i] = m.e[i].data;
	return ROOF_OK;
}

/* Fill the cache for ioctl groups not held yet: one GET_MSRS for all MSR
 * groups, one ioctl each for tsc offset, xcr0, debug registers, xsave. */
static int cache_fill(struct khw_vcpu *c, uint64_t g)
{
	struct reg_cache *rc = &c->cache;
	g &= ~rc->valid;
	if (!g)
		return ROOF_OK;
	uint32_t idx[N_CACHED_MSRS];
	uint64_t val[N_CACHED_MSRS];
	const struct cached_msr *which[N_CACHED_MSRS];
	unsigned n = 0;
	for (size_t i = 0; i < N_CACHED_MSRS; i++)
		if (g & cached_msrs[i].group) {
			which[n] = &cached_msrs[i];
			idx[n++] = cached_msrs[i].index;
		}
	if (n) {
		int r = msr_get(c, idx, val, n);
		if (r)
			return r;
		for (unsigned i = 0; i < n; i++)
			*cache_slot(rc, which[i]) = val[i];
	}
	if (g & ROOF_G_TSC) {
		rc->tsc_offset = c->soft_tsc_offset;
		if (c->k->tsc_offset_attr) {
			struct kvm_device_attr a = {.group = KVM_VCPU_TSC_CTRL,
						    .attr = KVM_VCPU_TSC_OFFSET,
						    .addr = (uintptr_t)&rc->tsc_offset};
			count_ioctl(c);
			if (ioctl(c->fd, KVM_GET_DEVICE_ATTR, &a) < 0) {
				fail_msg(c, "kvm: read KVM_VCPU_TSC_OFFSET: %s",
					 strerror(errno));
				return ROOF_EKERNEL;
			}
		}
		rc->tsc_delivered = rc->tsc;
		rc->offset_delivered = rc->tsc_offset;
	}
	if (g & ROOF_G_XSAVE) {
		struct kvm_xcrs x;
		memset(&x, 0, sizeof x);
		count_ioctl(c);
		if (ioctl(c->fd, KVM_GET_XCRS, &x) < 0) {
			fail_msg(c, "kvm: KVM_GET_XCRS: %s", strerror(errno));
			return ROOF_EKERNEL;
		}
		rc->xcr0 = 0;
		for (uint32_t i = 0; i < x.nr_xcrs; i++)
			if (x.xcrs[i].xcr == 0)
				rc->xcr0 = x.xcrs[i].value;
	}
	if (g & ROOF_G_DR) {
		count_ioctl(c);
		if (ioctl(c->fd, KVM_GET_DEBUGREGS, &rc->dbg) < 0) {
			fail_msg(c, "kvm: KVM_GET_DEBUGREGS: %s",
				 strerror(errno));
			return ROOF_EKERNEL;
		}
	}
	if (g & ROOF_G_FPU) {
		count_ioctl(c);
		if (ioctl(c->fd, KVM_GET_XSAVE, rc->xsave) < 0) {
			fail_msg(c, "kvm: KVM_GET_XSAVE: %s", strerror(errno));
			return ROOF_EKERNEL;
		}
	}
	rc->valid |= g;
	return ROOF_OK;
}

static void cache_to_state(struct khw_vcpu *c, roof_state *s, uint64_t g)
{
	struct reg_cache *rc = &c->cache;
	for (size_t i = 0; i < N_CACHED_MSRS; i++)
		if (g & cached_msrs[i].group)
			*state_slot(s, &cached_msrs[i]) =
				*cache_slot(rc, &cached_msrs[i]);
	if (g & ROOF_G_TSC)
		s->tsc_offset = rc->tsc_offset;
	if (g & ROOF_G_XSAVE)
		s->xcr0 = rc->xcr0;
	if (g & ROOF_G_DR)
		s->dr7 = rc->dbg.dr7;
	if (g & ROOF_G_FPU) {
		memcpy(s->fpu, rc->xsave->region, ROOF_FPU_SIZE);
		s->fpu_size = ROOF_FPU_SIZE;
	}
}

int khw_fetch(struct khw_vcpu *c, roof_state *s, uint64_t g)
{
	unsigned cls = classes_of(g);
	if (cls & ~c->fresh) {
		int r = refresh_classes(c, cls);
		if (r)
			return r;
	}
	uint64_t bytes = 0;
	const struct kvm_sync_regs *sr = &c->run->s.regs;
	if (g & c->plan.copyable)
		bytes += roof_gather(&c->plan, g, sr, s);
	if (g & ROOF_G_EIP) {
		/* HLT: ip is the hlt, KVM's rip is past it (see classify) */
		s->ip = sr->regs.rip - (c->hlt_rewind ? 1 : 0);
		s->ip_len = c->exit.reason == ROOF_EXIT_HLT ? 1 : 0;
		bytes += 16;
	}
	uint64_t conv = g & (G_SYNC_SREGS & ~c->plan.copyable & ~G_LOCAL);
	if (conv) {
		sregs_to_state(c, s, conv);
		bytes += roof_mask_bytes(conv);
	}
	if (g & G_SYNC_EVENTS) {
		events_to_state(c, s, g);
		bytes += roof_mask_bytes(g & G_SYNC_EVENTS);
	}
	if (g & G_LOCAL) {
		local_to_state(c, s, g);
		bytes += roof_mask_bytes(g & G_LOCAL);
	}
	if (g & G_IOCTL) {
		int r = cache_fill(c, g & G_IOCTL);
		if (r)
			return r;
		cache_to_state(c, s, g & G_IOCTL);
		bytes += roof_mask_bytes(g & G_IOCTL);
	}
	*c->cnt.bytes += bytes;
	return ROOF_OK;
}

/* ---- state write-back --------------------------------------------------------- */
/*
 * VM-entry checks on the guest state, SDM Vol. 3C 27.3.1 ("Checks on the
 * Guest State Area"), for a guest run with "unrestricted guest" (as KVM
 * does): a state the hardware would refuse comes back as INVALID_STATE
 * naming the value, instead of whatever the substrate makes of it (this
 * KVM emulates many such states and runs on). KVM sets the accessed bit of
 * every segment but LDTR itself, so that bit is not checked.
 */
#define CR0_RESERVED_HIGH (~0ull << 32)
#define CR4_RESERVED_HIGH (~0ull << 32)
#define CR4_LA57 (1ull << 12)
/* EFER bits x86 defines: SCE, LME, LMA, NXE, SVME, LMSLE, FFXSR, TCE */
#define EFER_DEFINED 0xfd01ull
/* RFLAGS: bit 1 is one; 63:22, 15, 5 and 3 are zero (27.3.1.4) */
#define RFLAGS_FIXED1 (1ull << 1)
#define RFLAGS_RESERVED (~0ull << 22 | 1ull << 15 | 1ull << 5 | 1ull << 3)
#define RFLAGS_VM (1ull << 17)

static bool canonical(uint64_t a, bool la57)
{
	uint64_t top = a >> (la57 ? 56 : 47); /* bits that must all be equal */
	return top == 0 || top == ~0ull >> (la57 ? 56 : 47);
}

/* The limit of a segment in bytes must fit its granularity (G) bit. */
static bool limit_fits_g(const struct kvm_segment *s)
{
	if ((s->limit & 0xfff) != 0xfff && s->g)
		return false;
	if ((s->limit & 0xfff00000u) && !s->g)
		return false;
	return true;
}

/* Physical-address width the guest sees (cpuid 0x80000008 eax[7:0]). */
static unsigned guest_maxphyaddr(const struct khw_vcpu *c)
{
	const struct kvm_cpuid_entry2 *e =
		c->k->cpuid ? cpuid_find(c->k->cpuid, 0x80000008u, 0) : NULL;
	unsigned w = e ? (e->eax & 0xffu) : 0;
	return w >= 32 && w <= 52 ? w : 52;
}

#define REFUSE(...)                                                           \
	do {                                                                  \
		fail_msg(c, "invalid guest state: " __VA_ARGS__);             \
		return ROOF_ESTATE;                                           \
	} while (0)

/* cs, ss, ds, es, fs, gs outside real and virtual-8086 mode. */
static int check_data_code_segments(struct khw_vcpu *c,
				    const struct kvm_sregs *s, bool ia32e)
{
	const struct kvm_segment *cs = &s->cs, *ss = &s->ss;
	if (!cs->unusable) {
		bool code = cs->type & 8;
		if (!cs->present)
			REFUSE("cs not present in protected mode (ar type %u)",
			       cs->type);
		if (!cs->s)
			REFUSE("cs is a system segment (S=0, ar type %u)",
			       cs->type);
		if (!code && !((cs->type & 0xe) == 2 && cs->dpl == 0))
			REFUSE("cs ar type %u is neither code nor a DPL-0 "
			       "read/write data segment", cs->type);
		if (code && !(cs->type & 4) && !ss->unusable &&
		    cs->dpl != ss->dpl)
			REFUSE("cs DPL %u differs from ss DPL %u for a "
			       "non-conforming code segment", cs->dpl, ss->dpl);
		if (code && (cs->type & 4) && !ss->unusable && cs->dpl > ss->dpl)
			REFUSE("cs DPL %u above ss DPL %u", cs->dpl, ss->dpl);
		if (ia32e && cs->l && cs->db)
			REFUSE("cs has both L and D/B set in IA-32e mode");
		if (cs->base >> 32)
			REFUSE("cs base 0x%llx has bits 63:32 set",
			       (unsigned long long)cs->base);
		if (!limit_fits_g(cs))
			REFUSE("cs limit 0x%x does not fit its G bit %u",
			       cs->limit, cs->g);
	}
	if (!ss->unusable) {
		if ((ss->type & 0xb) != 3) /* 3 or 7: read/write data */
			REFUSE("ss ar type %u is not a read/write data segment",
			       ss->type);
		if (!ss->s || !ss->present)
			REFUSE("ss is %s", !ss->s ? "a system segment (S=0)"
						  : "not present");
		if (!cs->unusable && !(cs->type & 8) && ss->dpl != 0)
			REFUSE("ss DPL %u with a data-type cs (must be 0)",
			       ss->dpl);
		if (ss->base >> 32)
			REFUSE("ss base 0x%llx has bits 63:32 set",
			       (unsigned long long)ss->base);
		if (!limit_fits_g(ss))
			REFUSE("ss limit 0x%x does not fit its G bit %u",
			       ss->limit, ss->g);
	}
	const struct {
		const char *name;
		const struct kvm_segment *seg;
		bool base64; /* fs, gs: canonical base; ds, es: 32-bit */
	} data[] = {{"ds", &s->ds, false}, {"es", &s->es, false},
		    {"fs", &s->fs, true}, {"gs", &s->gs, true}};
	for (size_t i = 0; i < sizeof data / sizeof data[0]; i++) {
		const struct kvm_segment *d = data[i].seg;
		if (d->unusable)
			continue;
		if (!d->s || !d->present)
			REFUSE("%s is %s", data[i].name,
			       !d->s ? "a system segment (S=0)" : "not present");
		if ((d->type & 8) && !(d->type & 2))
			REFUSE("%s is an execute-only code segment (ar type %u)",
			       data[i].name, d->type);
		if (data[i].base64 ? !canonical(d->base, s->cr4 & CR4_LA57)
				   : (d->base >> 32) != 0)
			REFUSE("%s base 0x%llx is %s", data[i].name,
			       (unsigned long long)d->base,
			       data[i].base64 ? "not canonical"
					      : "beyond 32 bits");
		if (!limit_fits_g(d))
			REFUSE("%s limit 0x%x does not fit its G bit %u",
			       data[i].name, d->limit, d->g);
	}
	return ROOF_OK;
}

/* Control registers, EFER, tr, ldtr, gdtr, idtr: every mode. */
static int check_system_state(struct khw_vcpu *c, const struct kvm_sregs *s)
{
	bool la57 = s->cr4 & CR4_LA57;
	if (s->cr0 & CR0_RESERVED_HIGH)
		REFUSE("cr0 0x%llx has bits 63:32 set",
		       (unsigned long long)s->cr0);
	if ((s->cr0 & CR0_PG) && !(s->cr0 & CR0_PE))
		REFUSE("cr0 0x%llx has PG without PE",
		       (unsigned long long)s->cr0);
	if ((s->cr0 & CR0_NW) && !(s->cr0 & CR0_CD))
		REFUSE("cr0 0x%llx has NW without CD",
		       (unsigned long long)s->cr0);
	if (s->cr4 & CR4_RESERVED_HIGH)
		REFUSE("cr4 0x%llx has bits 63:32 set",
		       (unsigned long long)s->cr4);
	unsigned maxphy = guest_maxphyaddr(c);
	if (s->cr3 >> maxphy)
		REFUSE("cr3 0x%llx has bits above the %u-bit physical "
		       "address width", (unsigned long long)s->cr3, maxphy);
	if (s->efer & ~EFER_DEFINED)
		REFUSE("efer 0x%llx has reserved bits set",
		       (unsigned long long)s->efer);
	if ((s->efer & EFER_LMA) && !(s->cr0 & CR0_PG))
		REFUSE("efer.LMA without cr0.PG");
	if ((s->efer & EFER_LMA) && !(s->cr4 & CR4_PAE))
		REFUSE("efer.LMA (IA-32e mode) without cr4.PAE");
	if ((s->cr0 & CR0_PG) &&
	    !(s->efer & EFER_LMA) != !(s->efer & EFER_LME))
		REFUSE("efer 0x%llx: with paging on, LMA and LME differ",
		       (unsigned long long)s->efer);
	bool ia32e = s->efer & EFER_LMA;
	const struct kvm_segment *tr = &s->tr, *ldt = &s->ldt;
	if (tr->unusable)
		REFUSE("tr is unusable; VM entry needs a TSS");
	if (!(tr->type == 11 || (!ia32e && tr->type == 3)))
		REFUSE("tr ar type %u is not a busy %sTSS", tr->type,
		       ia32e ? "64-bit " : "");
	if (tr->s || !tr->present)
		REFUSE("tr is %s", tr->s ? "not a system segment (S=1)"
					 : "not present");
	if (tr->selector & 4)
		REFUSE("tr selector 0x%x points into the LDT", tr->selector);
	if (!canonical(tr->base, la57) || !limit_fits_g(tr))
		REFUSE("tr base 0x%llx not canonical or limit 0x%x does not "
		       "fit G", (unsigned long long)tr->base, tr->limit);
	if (!ldt->unusable) {
		if (ldt->type != 2 || ldt->s || !ldt->present)
			REFUSE("ldtr ar type %u S %u P %u is not a present LDT",
			       ldt->type, ldt->s, ldt->present);
		if (ldt->selector & 4)
			REFUSE("ldtr selector 0x%x points into the LDT",
			       ldt->selector);
		if (!canonical(ldt->base, la57) || !limit_fits_g(ldt))
			REFUSE("ldtr base 0x%llx not canonical or limit 0x%x "
			       "does not fit G", (unsigned long long)ldt->base,
			       ldt->limit);
	}
	if (!canonical(s->gdt.base, la57))
		REFUSE("gdtr base 0x%llx is not canonical",
		       (unsigned long long)s->gdt.base);
	if (!canonical(s->idt.base, la57))
		REFUSE("idtr base 0x%llx is not canonical",
		       (unsigned long long)s->idt.base);
	return ROOF_OK;
}

/* Runs where a sync class was written since the exit (dirty_cls). */
static int check_entry_state(struct khw_vcpu *c)
{
	struct kvm_sync_regs *sr = &c->run->s.regs;
	const struct kvm_sregs *s = &sr->sregs;
	int r;
	/* segment rules depend on rflags.VM: know the regs for them */
	if ((c->dirty_cls & CLS_SREGS) && (s->cr0 & CR0_PE) &&
	    (r = refresh_classes(c, CLS_REGS)))
		return r;
	bool regs = c->fresh & CLS_REGS, sregs = c->fresh & CLS_SREGS;
	uint64_t rip = sr->regs.rip, rflags = sr->regs.rflags;
	if (regs && (c->dirty_cls & CLS_REGS)) {
		if (!(rflags & RFLAGS_FIXED1) || (rflags & RFLAGS_RESERVED))
			REFUSE("rflags 0x%llx: bit 1 must be set, bits 63:22, "
			       "15, 5 and 3 clear", (unsigned long long)rflags);
		/* no mode keeps a non-canonical rip */
		if (!canonical(rip, sregs && (s->cr4 & CR4_LA57)))
			REFUSE("rip 0x%llx is not canonical",
			       (unsigned long long)rip);
	}
	if (!sregs)
		return ROOF_OK;
	bool ia32e = s->efer & EFER_LMA;
	if (c->dirty_cls & CLS_SREGS) {
		if ((r = check_system_state(c, s)))
			return r;
		if (regs && (rflags & RFLAGS_VM) && (ia32e || !(s->cr0 & CR0_PE)))
			REFUSE("rflags.VM set %s", ia32e ? "in IA-32e mode"
							 : "with cr0.PE clear");
		if ((s->cr0 & CR0_PE) && !(regs && (rflags & RFLAGS_VM)) &&
		    (r = check_data_code_segments(c, s, ia32e)))
			return r;
	}
	if (regs && (c->dirty_cls & (CLS_REGS | CLS_SREGS)) &&
	    !(ia32e && s->cs.l) && (rip >> 32))
		REFUSE("rip 0x%llx has bits 63:32 set outside 64-bit mode",
		       (unsigned long long)rip);
	return ROOF_OK;
}
#undef REFUSE

static int sync_from_state(struct khw_vcpu *c, const roof_state *s,
			   uint64_t g, struct kvm_sync_regs *sr)
{
	uint64_t bytes = 0;
	if (g & c->plan.copyable)
		bytes += roof_scatter(&c->plan, g, s, sr);
	if (g & ROOF_G_EIP) {
		sr->regs.rip = s->ip;
		bytes += 16;
	}
	struct kvm_sregs *x = &sr->sregs;
	segments_to_kvm(x, s, g);
	if (g & ROOF_G_GDTR) {
		if (s->gdtr.limit > 0xffff) {
			fail_msg(c, "invalid guest state: gdtr limit 0x%x "
				 "exceeds 16 bits", s->gdtr.limit);
			return ROOF_ESTATE;
		}
		x->gdt.base = s->gdtr.base;
		x->gdt.limit = (uint16_t)s->gdtr.limit;
	}
	if (g & ROOF_G_IDTR) {
		if (s->idtr.limit > 0xffff) {
			fail_msg(c, "invalid guest state: idtr limit 0x%x "
				 "exceeds 16 bits", s->idtr.limit);
			return ROOF_ESTATE;
		}
		x->idt.base = s->idtr.base;
		x->idt.limit = (uint16_t)s->idtr.limit;
	}
	if (g & ROOF_G_TPR) {
		x->cr8 = (s->tpr >> 4) & 15u;
		c->tpr_threshold = s->tpr_threshold;
	}
	bytes += roof_mask_bytes(g & (G_SYNC_SREGS & ~c->plan.copyable));
	if (g & G_SYNC_EVENTS) {
		int r = events_from_state(c, s, g, &sr->events);
		if (r)
			return r;
		bytes += roof_mask_bytes(g & G_SYNC_EVENTS);
	}
	*c->cnt.bytes += bytes;
	return ROOF_OK;
}

/* Only a register class whose bytes change goes back to KVM: on this
 * substrate KVM takes a written regs class for ~100 ns inside KVM_RUN, more
 * than the 144-byte compare (RESULTS.md, hlt: a VMM that steps over the hlt
 * writes back KVM's own rip). */
static int sync_from_state_live(struct khw_vcpu *c, const roof_state *s,
				uint64_t g)
{
	struct kvm_sync_regs *sr = &c->run->s.regs;
	unsigned cls = classes_of(g);
	bool regs_clean = (cls & CLS_REGS) && !(c->dirty_cls & CLS_REGS);
	struct kvm_regs before;
	if (regs_clean)
		before = sr->regs;
	int r = sync_from_state(c, s, g, sr);
	if (r == ROOF_OK) {
		if (regs_clean && memcmp(&before, &sr->regs, sizeof before) == 0)
			cls &= ~CLS_REGS;
		if (g & ROOF_G_EIP)
			c->hlt_rewind = false; /* the VMM chose ip itself */
		c->dirty_cls |= cls;
		c->run->kvm_dirty_regs |= cls;
	}
	return r;
}

static int msr_set(struct khw_vcpu *c, const uint32_t *idx,
		   const uint64_t *val, unsigned n)
{
	struct {
		struct kvm_msrs h;
		struct kvm_msr_entry e[16];
	} m;
	memset(&m, 0, sizeof m);
	m.h.nmsrs = n;
	for (unsigned i = 0; i < n; i++) {
		m.e[i].index = idx[i];
		m.e[i].data = val[i];
	}
	count_ioctl(c);
	int set = ioctl(c->fd, KVM_SET_MSRS, &m);
	if (set != (int)n) {
		if (set >= 0 && set < (int)n)
			fail_msg(c, "kvm: KVM refused value 0x%llx for MSR 0x%x",
				 (unsigned long long)val[set], idx[set]);
		else
			fail_msg(c, "kvm: KVM_SET_MSRS: %s", strerror(errno));
		return ROOF_ESTATE;
	}
	return ROOF_OK;
}

/* Write the dirty ioctl groups of the cache to KVM (before an entry). */
static int cache_flush(struct khw_vcpu *c)
{
	struct reg_cache *rc = &c->cache;
	uint64_t g = rc->dirty;
	if (!g)
		return ROOF_OK;
	rc->dirty = 0;
	uint32_t idx[N_CACHED_MSRS];
	uint64_t val[N_CACHED_MSRS];
	unsigned n = 0;
	/* the TSC goes in below, and only when it was written */
	for (size_t i = 0; i < N_CACHED_MSRS; i++)
		if ((g & cached_msrs[i].group) && cached_msrs[i].group != ROOF_G_TSC) {
			idx[n] = cached_msrs[i].index;
			val[n++] = *cache_slot(rc, &cached_msrs[i]);
		}
	bool tsc_written = (g & ROOF_G_TSC) && rc->tsc != rc->tsc_delivered;
	bool off_written = (g & ROOF_G_TSC) &&
			   rc->tsc_offset != rc->offset_delivered;
	int r = ROOF_OK;
	if (off_written && !c->k->tsc_offset_attr) {
		/* no offset control: move the TSC by the same delta */
		uint64_t delta = rc->tsc_offset - rc->offset_delivered;
		c->soft_tsc_offset = rc->tsc_offset;
		if (!tsc_written)
			rc->tsc = rc->tsc_delivered;
		rc->tsc += delta;
		tsc_written = true;
		off_written = false;
	}
	if (off_written) {
		struct kvm_device_attr a = {.group = KVM_VCPU_TSC_CTRL,
					    .attr = KVM_VCPU_TSC_OFFSET,
					    .addr = (uintptr_t)&rc->tsc_offset};
		count_ioctl(c);
		if (ioctl(c->fd, KVM_SET_DEVICE_ATTR, &a) < 0) {
			fail_msg(c, "kvm: set KVM_VCPU_TSC_OFFSET: %s",
				 strerror(errno));
			return ROOF_EKERNEL;
		}
	}
	if (tsc_written)
		idx[n] = MSR_TSC, val[n++] = rc->tsc;
	if (n && (r = msr_set(c, idx, val, n)))
		goto out;
	if (g & ROOF_G_XSAVE) {
		struct kvm_xcrs x;
		memset(&x, 0, sizeof x);
		x.nr_xcrs = 1;
		x.xcrs[0].xcr = 0;
		x.xcrs[0].value = rc->xcr0;
		count_ioctl(c);
		if (ioctl(c->fd, KVM_SET_XCRS, &x) < 0) {
			fail_msg(c, "invalid guest state: KVM refused xcr0 "
				 "0x%llx: %s", (unsigned long long)rc->xcr0,
				 strerror(errno));
			r = ROOF_ESTATE;
			goto out;
		}
	}
	if (g & ROOF_G_DR) {
		count_ioctl(c);
		if (ioctl(c->fd, KVM_SET_DEBUGREGS, &rc->dbg) < 0) {
			fail_msg(c, "invalid guest state: KVM refused dr7 "
				 "0x%llx: %s", (unsigned long long)rc->dbg.dr7,
				 strerror(errno));
			r = ROOF_ESTATE;
			goto out;
		}
	}
	if (g & ROOF_G_FPU) {
		count_ioctl(c);
		if (ioctl(c->fd, KVM_SET_XSAVE, rc->xsave) < 0) {
			fail_msg(c, "invalid guest state: KVM refused the FPU "
				 "image: %s", strerror(errno));
			r = ROOF_ESTATE;
			goto out;
		}
	}
out:
	if (r) /* what KVM holds now is unknown to the cache */
		rc->valid &= ~g;
	return r;
}

static int cache_from_state(struct khw_vcpu *c, const roof_state *s,
			    uint64_t g)
{
	struct reg_cache *rc = &c->cache;
	/* A group is written whole: the cache must hold the rest of it. */
	int r = cache_fill(c, g);
	if (r)
		return r;
	for (size_t i = 0; i < N_CACHED_MSRS; i++)
		if (g & cached_msrs[i].group)
			*cache_slot(rc, &cached_msrs[i]) =
				*state_slot((roof_state *)s, &cached_msrs[i]);
	if (g & ROOF_G_TSC)
		rc->tsc_offset = s->tsc_offset;
	if (g & ROOF_G_XSAVE)
		rc->xcr0 = s->xcr0;
	if (g & ROOF_G_DR)
		rc->dbg.dr7 = s->dr7;
	if (g & ROOF_G_FPU)
		memcpy(rc->xsave->region, s->fpu, ROOF_FPU_SIZE);
	rc->dirty |= g;
	*c->cnt.bytes += roof_mask_bytes(g);
	return ROOF_OK;
}

static int local_from_state(struct khw_vcpu *c, const roof_state *s,
			    uint64_t g)
{
	if (g & ROOF_G_CTRL) {
		c->ctrl[0] = s->ctrl_primary;
		c->ctrl[1] = s->ctrl_secondary;
	}
	if (g & ROOF_G_PDPTE) {
		roof_state now;
		local_to_state(c, &now, ROOF_G_PDPTE);
		if (memcmp(now.pdpte, s->pdpte, sizeof now.pdpte) != 0) {
			fail_msg(c, "kvm: PDPTEs cannot be written on KVM; it "
				 "loads them from guest memory at cr3");
			return ROOF_ENOSYS;
		}
	}
	/* QUAL is read-only exit information: a write has no effect. */
	return ROOF_OK;
}

/* KVM owes the guest a completion (in data, mmio read, msr): new register
 * values must go in after it, or KVM's completion would overwrite them. */
static int writeback(struct khw_vcpu *c, const roof_state *s, uint64_t g)
{
	uint64_t sync = g & (G_SYNC_REGS | G_SYNC_SREGS | G_SYNC_EVENTS) &
			~ROOF_G_PDPTE;
	int r;
	if (g & G_LOCAL) {
		if ((r = local_from_state(c, s, g & G_LOCAL)))
			return r;
	}
	if (sync) {
		/* The whole class goes in: make sure it holds the rest. */
		if ((r = refresh_classes(c, classes_of(sync))))
			return r;
		if (c->exit.pending) {
			c->deferred |= sync;
			c->deferred_src = s;
		} else if ((r = sync_from_state_live(c, s, sync))) {
			return r;
		}
	}
	if (g & G_IOCTL) {
		if ((r = cache_from_state(c, s, g & G_IOCTL)))
			return r;
	}
	return ROOF_OK;
}

/* Values the hardware would refuse are refused at the next entry, as VMX
 * does: the VMM gets an INVALID_STATE exit naming the value. */
int khw_writeback(struct khw_vcpu *c, const roof_state *s, uint64_t g)
{
	int r = writeback(c, s, g);
	if (r == ROOF_ESTATE || r == ROOF_ENOSYS) {
		c->entry_invalid = true;
		return ROOF_OK;
	}
	return r;
}

/* ---- exit completion -------------------------------------------------------- */
void khw_complete(struct khw_vcpu *c, const struct roof_exit_info *info)
{
	if (c->completed)
		return;
	c->completed = true;
	struct kvm_run *run = c->run;
	/* keyed on what classify() accepted: a record it refused as
	 * malformed (BACKEND_ERROR) gets nothing written back */
	switch (c->exit.reason) {
	case ROOF_EXIT_IO:
		if (run->io.direction == KVM_EXIT_IO_IN &&
		    !c->exit.info.io.string) {
			uint8_t *p = (uint8_t *)run + run->io.data_offset;
			uint32_t d = info->io.data;
			memcpy(p, &d, run->io.size);
		}
		break;
	case ROOF_EXIT_MMIO:
		if (!run->mmio.is_write) {
			uint64_t d = info->mmio.data;
			memcpy(run->mmio.data, &d, run->mmio.len);
		}
		break;
	case ROOF_EXIT_MSR_READ:
		run->msr.data = info->msr.value;
		run->msr.error = info->msr.fault ? 1 : 0;
		break;
	case ROOF_EXIT_MSR_WRITE:
		run->msr.error = info->msr.fault ? 1 : 0;
		break;
	case ROOF_EXIT_CPUID: {
		/* a cpuid site (KVM_EXIT_DEBUG): eax..edx zero-extended, rip
		 * past 0f a2 */
		struct kvm_regs *g = &run->s.regs.regs;
		g->rax = info->cpuid.eax;
		g->rbx = info->cpuid.ebx;
		g->rcx = info->cpuid.ecx;
		g->rdx = info->cpuid.edx;
		g->rip = c->exit.rip + 2;
		run->kvm_dirty_regs |= CLS_REGS;
		c->dirty_cls |= CLS_REGS;
		break;
	}
	default:
		break;
	}
}

/* ---- run -------------------------------------------------------------------- */
static void exit_error(struct khw_vcpu *c, roof_exit reason, const char *fmt,
		       ...) __attribute__((format(printf, 3, 4)));
static void exit_error(struct khw_vcpu *c, roof_exit reason, const char *fmt,
		       ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(c->exit.msg, sizeof c->exit.msg, fmt, ap);
	va_end(ap);
	c->exit.reason = reason;
	c->exit.info.error = c->exit.msg;
}

static bool is_cpuid_site(const struct khw_vcpu *c, uint64_t pc)
{
	for (unsigned i = 0; i < c->ncpuid_sites; i++)
		if (c->cpuid_sites[i] == pc)
			return true;
	return false;
}

static void cpuid_default(struct khw_vcpu *c, struct roof_exit_cpuid *q)
{
	const struct kvm_cpuid_entry2 *e =
		cpuid_find(c->k->cpuid, q->leaf, q->subleaf);
	q->eax = e ? e->eax : 0;
	q->ebx = e ? e->ebx : 0;
	q->ecx = e ? e->ecx : 0;
	q->edx = e ? e->edx : 0;
}

void khw_cpuid(struct khw_vcpu *c, uint32_t leaf, uint32_t subleaf,
	       uint32_t out[4])
{
	struct roof_exit_cpuid q = {.leaf = leaf, .subleaf = subleaf};
	cpuid_default(c, &q);
	out[0] = q.eax;
	out[1] = q.ebx;
	out[2] = q.ecx;
	out[3] = q.edx;
}

/* Guest-linear rip to host pointer for the simple cases: real mode and
 * paging off (linear = physical). */
static const uint8_t *code_at_rip(struct khw_vcpu *c, unsigned len)
{
	const struct kvm_sregs *s = &c->run->s.regs.sregs;
	if (s->cr0 & CR0_PG)
		return NULL;
	uint64_t lin = s->cs.base + c->run->s.regs.regs.rip;
	return khw_guest_ptr(c, lin, len);
}

/* Finish instructions KVM cannot emulate (RESULTS.md, "Substrate"): rdtscp.
 * Returns true when handled and the guest can go on. */
static bool finish_unemulated(struct khw_vcpu *c)
{
	if (refresh_classes(c, CLS_REGS | CLS_SREGS))
		return false;
	const uint8_t *p = code_at_rip(c, 3);
	if (!p || p[0] != 0x0f || p[1] != 0x01 || p[2] != 0xf9)
		return false;
	uint32_t idx[2] = {MSR_TSC, MSR_TSC_AUX};
	uint64_t val[2];
	if (msr_get(c, idx, val, 2))
		return false;
	struct kvm_regs *g = &c->run->s.regs.regs;
	g->rax = (uint32_t)val[0];
	g->rdx = val[0] >> 32;
	g->rcx = (uint32_t)val[1];
	g->rip += 3;
	c->run->kvm_dirty_regs |= CLS_REGS;
	return true;
}

/* Guest wrote an MSR the register cache tracks: apply and update. */
static bool finish_cache_wrmsr(struct khw_vcpu *c)
{
	struct kvm_run *run = c->run;
	uint32_t idx = run->msr.index;
	uint64_t val = run->msr.data;
	run->msr.error = msr_set(c, &idx, &val, 1) ? 1 : 0;
	for (size_t i = 0; i < N_CACHED_MSRS; i++)
		if (cached_msrs[i].index == idx) /* re-read on next use: KVM */
			c->cache.valid &= ~cached_msrs[i].group; /* may mask bits */
	return true;
}

static void classify(struct khw_vcpu *c)
{
	struct kvm_run *run = c->run;
	struct khw_exit *x = &c->exit;
	x->kvm_reason = run->exit_reason;
	x->rip = run->s.regs.regs.rip; /* valid only if REGS fresh */
	c->qual[0] = c->qual[1] = 0;
	switch (run->exit_reason) {
	case KVM_EXIT_IO: {
		struct roof_exit_io *io = &x->info.io;
		bool in = run->io.direction == KVM_EXIT_IO_IN;
		/* the data lie in the mmap'ed run area, after struct kvm_run
		 * (api.rst: data_offset); a record that says otherwise would
		 * send the handler's in data anywhere */
		uint64_t items = (uint64_t)run->io.size * run->io.count;
		uint64_t room = (uint64_t)c->k->run_size;
		if ((run->io.size != 1 && run->io.size != 2 &&
		     run->io.size != 4) || run->io.count == 0 ||
		    run->io.direction > KVM_EXIT_IO_OUT ||
		    run->io.data_offset < sizeof(struct kvm_run) ||
		    run->io.data_offset > room ||
		    items > room - run->io.data_offset) {
			exit_error(c, ROOF_EXIT_BACKEND_ERROR,
				   "malformed KVM io exit: port 0x%x size %u "
				   "count %u direction %u data offset %llu (run "
				   "area %llu bytes)", run->io.port, run->io.size,
				   run->io.count, run->io.direction,
				   (unsigned long long)run->io.data_offset,
				   (unsigned long long)room);
			break;
		}
		uint8_t *p = (uint8_t *)run + run->io.data_offset;
		x->reason = ROOF_EXIT_IO;
		io->port = run->io.port;
		io->size = run->io.size;
		io->dir = in ? ROOF_DIR_IN : ROOF_DIR_OUT;
		io->count = run->io.count;
		io->string = io->rep = run->io.count > 1;
		io->buffer = p;
		io->data = 0;
		if (!in)
			memcpy(&io->data, p, io->size);
		x->pending = in;
		x->retired = !in;
		c->qual[0] = vmx_io_qualification(io->port, io->size, in,
						  io->string, io->rep);
		break;
	}
	case KVM_EXIT_MMIO: {
		struct roof_exit_mmio *m = &x->info.mmio;
		if (run->mmio.len == 0 || run->mmio.len > 8) {
			exit_error(c, ROOF_EXIT_BACKEND_ERROR,
				   "malformed KVM mmio exit: %u bytes at gpa "
				   "0x%llx", run->mmio.len,
				   (unsigned long long)run->mmio.phys_addr);
			break;
		}
		x->reason = ROOF_EXIT_MMIO;
		m->gpa = run->mmio.phys_addr;
		m->len = (uint8_t)run->mmio.len;
		m->dir = run->mmio.is_write ? ROOF_DIR_WRITE : ROOF_DIR_READ;
		m->data = 0;
		if (run->mmio.is_write)
			memcpy(&m->data, run->mmio.data, m->len);
		x->info.fault_gpa = m->gpa;
		x->pending = !run->mmio.is_write;
		x->retired = run->mmio.is_write;
		c->qual[0] = run->mmio.is_write ? VMX_EPTQ_WRITE : VMX_EPTQ_READ;
		c->qual[1] = m->gpa;
		break;
	}
	case KVM_EXIT_HLT:
		/* KVM retired the hlt; VMX reports it unretired, ip at the
		 * hlt, so resuming runs it again. The rewind is lazy (see
		 * hlt_rewind): a VMM that steps over the hlt sets ip back to
		 * KVM's own rip and no register write-back is needed. */
		x->reason = ROOF_EXIT_HLT;
		x->insn_len = 1;
		if (refresh_classes(c, CLS_REGS) == ROOF_OK) {
			c->hlt_rewind = true;
			x->rip = run->s.regs.regs.rip - 1;
		} else {
			exit_error(c, ROOF_EXIT_BACKEND_ERROR, "%s", c->err);
		}
		break;
	case KVM_EXIT_X86_RDMSR:
	case KVM_EXIT_X86_WRMSR:
		x->reason = run->exit_reason == KVM_EXIT_X86_RDMSR
				    ? ROOF_EXIT_MSR_READ
				    : ROOF_EXIT_MSR_WRITE;
		x->info.msr.index = run->msr.index;
		x->info.msr.value =
			x->reason == ROOF_EXIT_MSR_WRITE ? run->msr.data : 0;
		x->info.msr.fault = 0;
		x->insn_len = 2;
		x->pending = 1;
		break;
	case KVM_EXIT_DEBUG:
		if (refresh_classes(c, CLS_REGS) == ROOF_OK &&
		    (run->debug.arch.dr6 & 15u) &&
		    is_cpuid_site(c, run->debug.arch.pc)) {
			x->reason = ROOF_EXIT_CPUID;
			x->rip = run->s.regs.regs.rip;
			x->insn_len = 2;
			x->info.cpuid.leaf = (uint32_t)run->s.regs.regs.rax;
			x->info.cpuid.subleaf = (uint32_t)run->s.regs.regs.rcx;
			cpuid_default(c, &x->info.cpuid);
		} else {
			x->reason = ROOF_EXIT_DEBUG;
		}
		break;
	case KVM_EXIT_IRQ_WINDOW_OPEN:
		x->reason = ROOF_EXIT_IRQ_WINDOW;
		break;
	case KVM_EXIT_SHUTDOWN:
		exit_error(c, ROOF_EXIT_SHUTDOWN,
			   "triple fault: the guest shut down");
		break;
	case KVM_EXIT_SYSTEM_EVENT:
		exit_error(c, ROOF_EXIT_SHUTDOWN,
			   "KVM system event type %u (shutdown/reset)",
			   run->system_event.type);
		break;
	case KVM_EXIT_FAIL_ENTRY:
		exit_error(c, ROOF_EXIT_INVALID_STATE,
			   "VM entry failed: hardware reason 0x%llx",
			   (unsigned long long)run->fail_entry
				   .hardware_entry_failure_reason);
		break;
	case KVM_EXIT_INTERNAL_ERROR:
		exit_error(c, ROOF_EXIT_BACKEND_ERROR,
			   "KVM internal error %u (%s) at rip 0x%llx",
			   run->internal.suberror,
			   run->internal.suberror == KVM_INTERNAL_ERROR_EMULATION
				   ? "cannot emulate the instruction"
				   : "see KVM_INTERNAL_ERROR_*",
			   (unsigned long long)run->s.regs.regs.rip);
		break;
	default:
		exit_error(c, ROOF_EXIT_BACKEND_ERROR,
			   "unexpected KVM exit reason %u", run->exit_reason);
		break;
	}
}

/* Apply state writes that waited for KVM's completion of the last exit:
 * enter with immediate_exit so KVM finishes the instruction and returns,
 * then put in the registers the VMM changed. Compared per 8-byte word
 * against what was delivered, so a VMM that wrote a register back unchanged
 * does not undo the completion (e.g. rax of an in). */
static int apply_deferred(struct khw_vcpu *c)
{
	struct kvm_run *run = c->run;
	unsigned cls = classes_of(c->deferred);
	int r = refresh_classes(c, cls);
	if (r)
		return r;
	struct kvm_sync_regs before = run->s.regs, wanted = run->s.regs;
	r = sync_from_state(c, c->deferred_src, c->deferred, &wanted);
	c->deferred = 0;
	c->deferred_src = NULL;
	if (r)
		return r;
	/* Let KVM finish the pending instruction and store the result. */
	run->kvm_dirty_regs = 0;
	run->kvm_valid_regs = cls;
	unsigned recalls = __atomic_load_n(&c->recalls, __ATOMIC_SEQ_CST);
	__atomic_store_n(&run->immediate_exit, 1, __ATOMIC_SEQ_CST);
	count_ioctl(c);
	int rc = ioctl(c->fd, KVM_RUN, 0);
	int e = errno;
	/* A recall meanwhile must still stop the entry that follows: clear,
	 * then look (khw_recall counts, then sets). */
	__atomic_store_n(&run->immediate_exit, 0, __ATOMIC_SEQ_CST);
	take_recall_signals(c);
	if (__atomic_load_n(&c->recalls, __ATOMIC_SEQ_CST) != recalls)
		__atomic_store_n(&run->immediate_exit, 1, __ATOMIC_SEQ_CST);
	if (rc == 0 || e != EINTR) {
		fail_msg(c, "kvm: finishing the pending instruction: %s",
			 rc ? strerror(e) : "KVM ran the guest");
		return ROOF_EKERNEL;
	}
	c->exit.pending = 0;
	c->fresh = cls;
	const uint64_t *bw = (const uint64_t *)&before;
	const uint64_t *ww = (const uint64_t *)&wanted;
	uint64_t *live = (uint64_t *)&run->s.regs;
	for (size_t i = 0; i < sizeof before / 8; i++)
		if (ww[i] != bw[i])
			live[i] = ww[i];
	run->kvm_dirty_regs = cls;
	c->dirty_cls = cls;
	return ROOF_OK;
}

void khw_synthetic(struct khw_vcpu *c, roof_exit reason)
{
	struct khw_exit *x = &c->exit;
	memset(&x->info, 0, sizeof x->info);
	x->reason = reason;
	x->kvm_reason = KVM_EXIT_UNKNOWN;
	x->retired = 0;
	x->insn_len = 0;
	x->recalled = reason == ROOF_EXIT_PAUSED;
	x->msg[0] = 0;
	c->qual[0] = c->qual[1] = 0;
	c->completed = true; /* nothing owed to KVM for a synthetic exit */
	/* x->pending stays: a stopped vCPU may still owe a completion. State
	 * written meanwhile (with_state) goes in now, so that this exit's
	 * fetch reads it back. */
	if (c->deferred && apply_deferred(c) != ROOF_OK)
		c->entry_invalid = true;
}

int khw_run(struct khw_vcpu *c)
{
	struct kvm_run *run = c->run;
	struct khw_exit *x = &c->exit;
	int r = ROOF_OK;
	if (!c->completed)
		khw_complete(c, &x->info);
	if (c->entry_invalid) {
		c->entry_invalid = false;
		c->cache.dirty = 0;
		c->cache.valid = 0;
		r = ROOF_ESTATE;
		goto fail;
	}
	if (c->hlt_rewind) { /* resume at the hlt: it runs again */
		if ((r = refresh_classes(c, CLS_REGS)))
			goto fail;
		c->hlt_rewind = false;
		run->s.regs.regs.rip -= 1;
		run->kvm_dirty_regs |= CLS_REGS;
		c->dirty_cls |= CLS_REGS;
	}
	if (c->deferred && (r = apply_deferred(c)))
		goto fail;
	if ((r = cache_flush(c)))
		goto fail;
	if (c->dirty_cls && (r = check_entry_state(c)))
		goto fail;
	unsigned cls = predict_classes(c);
	for (;;) {
		unsigned recalls = __atomic_load_n(&c->recalls, __ATOMIC_SEQ_CST);
		run->kvm_valid_regs = cls;
		bool lma_before = (c->fresh & CLS_SREGS) &&
				  (run->s.regs.sregs.efer & EFER_LMA);
		roof_probe_entry(c->core);
		int rc = ioctl(c->fd, KVM_RUN, 0);
		int e = errno;
		roof_probe_exit(c->core);
		unsigned wrote = c->dirty_cls;
		run->kvm_dirty_regs = 0;
		c->dirty_cls = 0;
		c->fresh = rc == 0 || e == EINTR ? cls : 0;
		/* registers an exit can change unseen (see G_VOLATILE) */
		uint64_t drop = c->cache_off ? G_IOCTL : G_VOLATILE | ROOF_G_XSAVE;
		if (lma_before || !(c->fresh & CLS_SREGS) ||
		    (run->s.regs.sregs.efer & EFER_LMA))
			drop |= ROOF_G_SYSCALL;
		c->cache.valid &= ~drop;
		memset(&x->info, 0, sizeof x->info);
		x->pending = x->retired = x->insn_len = x->recalled = 0;
		x->msg[0] = 0;
		c->completed = false;
		if (rc < 0) {
			if (e == EINTR || e == EAGAIN) {
				__atomic_store_n(&run->immediate_exit, 0,
						 __ATOMIC_SEQ_CST);
				take_recall_signals(c);
				/* a recall after the one that stopped this entry
				 * must stop the next */
				if (__atomic_load_n(&c->recalls, __ATOMIC_SEQ_CST) !=
				    recalls + 1 &&
				    __atomic_load_n(&c->recalls, __ATOMIC_SEQ_CST) !=
					    recalls)
					__atomic_store_n(&run->immediate_exit, 1,
							 __ATOMIC_SEQ_CST);
				x->kvm_reason = KVM_EXIT_INTR;
				x->reason = ROOF_EXIT_PAUSED;
				x->recalled = 1;
				x->rip = run->s.regs.regs.rip;
				c->completed = true;
				break;
			}
			c->completed = true;
			if (e == EINVAL && wrote) {
				/* KVM refused the state the VMM wrote; it was
				 * not applied. */
				exit_error(c, ROOF_EXIT_INVALID_STATE,
					   "KVM refused the guest state written "
					   "before this entry: %s", strerror(e));
				break;
			}
			exit_error(c, ROOF_EXIT_BACKEND_ERROR, "KVM_RUN: %s",
				   strerror(e));
			snprintf(c->err, sizeof c->err, "%s", x->msg);
			return ROOF_EKERNEL;
		}
		classify(c);
		/* exits the hardware layer finishes itself */
		if (run->exit_reason == KVM_EXIT_INTERNAL_ERROR &&
		    run->internal.suberror == KVM_INTERNAL_ERROR_EMULATION &&
		    finish_unemulated(c)) {
			c->dirty_cls = CLS_REGS;
			continue;
		}
		if (run->exit_reason == KVM_EXIT_X86_WRMSR &&
		    !vmm_msr(c->k->vm, run->msr.index) &&
		    finish_cache_wrmsr(c))
			continue;
		break;
	}
	note_need(c, x->reason);
	return ROOF_OK;
fail:
	c->completed = true;
	memset(&x->info, 0, sizeof x->info);
	exit_error(c, r == ROOF_ESTATE ? ROOF_EXIT_INVALID_STATE
				       : ROOF_EXIT_BACKEND_ERROR,
		   "%s", c->err);
	x->kvm_reason = KVM_EXIT_UNKNOWN;
	run->kvm_dirty_regs = 0;
	c->dirty_cls = 0;
	c->fresh = 0; /* what KVM holds is authoritative again */
	c->hlt_rewind = false;
	c->deferred = 0;
	c->deferred_src = NULL;
	return ROOF_OK;
}

/* ---- a synthetic exit record (kvm_exit_record.h: tests, fuzzing) ------------ */
/* x86 KVM maps kvm_run, the pio data page and the coalesced-mmio ring */
#define RECORD_RUN_SIZE (3 * 4096)

static _Thread_local struct {
	struct khw_vm k;
	struct khw_vcpu c;
	uint8_t *run; /* RECORD_RUN_SIZE bytes on the heap: ASan sees overruns */
	struct kvm_cpuid2 *cpuid;
	uint64_t counter;
	char msg[sizeof(((struct khw_exit *)0)->msg)];
} record;

static int record_setup(void)
{
	if (!record.run && !(record.run = malloc(RECORD_RUN_SIZE)))
		return -1;
	if (!record.cpuid) {
		record.cpuid = calloc(1, sizeof *record.cpuid +
					      2 * sizeof(struct kvm_cpuid_entry2));
		if (!record.cpuid)
			return -1;
		record.cpuid->nent = 2;
		record.cpuid->entries[0] = (struct kvm_cpuid_entry2){
			.function = 0, .eax = 0xd, .ebx = 0x756e6547};
		record.cpuid->entries[1] = (struct kvm_cpuid_entry2){
			.function = 0x40000000u, .eax = 0x40000001u};
	}
	return 0;
}

int roof_exit_record_decode_kvm(const uint8_t *data, size_t size,
				roof_state *out, const void **mem,
				size_t *mem_size)
{
	size_t need = 1 + offsetof(struct kvm_run, exit_reason) +
		      sizeof(((struct kvm_run *)0)->exit_reason);
	if (!data || size < need || !out || record_setup())
		return -1;
	size_t n = size - 1 < RECORD_RUN_SIZE ? size - 1 : RECORD_RUN_SIZE;
	memset(record.run, 0, RECORD_RUN_SIZE);
	memcpy(record.run, data + 1, n);
	struct khw_vm *k = &record.k;
	struct khw_vcpu *c = &record.c;
	memset(k, 0, sizeof *k);
	k->kvm_fd = k->vm_fd = -1;
	k->run_size = RECORD_RUN_SIZE;
	k->cpuid = record.cpuid;
	memset(c, 0, sizeof *c);
	c->k = k;
	c->fd = -1; /* every ioctl fails: EBADF */
	c->run = (struct kvm_run *)(void *)record.run;
	c->cnt = (struct khw_counters){&record.counter, &record.counter};
	c->fresh = data[0] & CLS_ALL;
	c->ncpuid_sites = 2;
	c->cpuid_sites[0] = KVM_RECORD_CPUID_SITE0;
	c->cpuid_sites[1] = KVM_RECORD_CPUID_SITE1;
	if (build_plan(&c->plan))
		return -1;
	/* as khw_run: a clean exit record, classify, then the completion
	 * with the decoded info standing in for the handler's answer */
	memset(&c->exit, 0, sizeof c->exit);
	classify(c);
	khw_complete(c, &c->exit.info);
	roof_state_begin_exit(out, c->exit.reason, 0);
	out->info = c->exit.info;
	if (out->info.error) {
		snprintf(record.msg, sizeof record.msg, "%s", c->exit.msg);
		out->info.error = record.msg;
	}
	/* what the fresh classes deliver without an ioctl; PDPTE would read
	 * guest memory, which a record has none of */
	uint64_t g = ROOF_G_QUAL | ROOF_G_CTRL;
	if (c->fresh & CLS_REGS)
		g |= G_SYNC_REGS;
	if (c->fresh & CLS_SREGS)
		g |= G_SYNC_SREGS & ~ROOF_G_PDPTE;
	if (c->fresh & CLS_EVENTS)
		g |= G_SYNC_EVENTS;
	if (khw_fetch(c, out, g) == ROOF_OK)
		out->valid |= g;
	if (mem)
		*mem = record.run;
	if (mem_size)
		*mem_size = RECORD_RUN_SIZE;
	return 0;
}

/* Named example records with the reason each decodes to: the fuzzer's seed
 * corpus (tests/fuzz/corpus/exit-kvm/) and the replay test. */
struct seed_record {
	uint8_t pad[7];
	uint8_t fresh; /* the record starts here: kvm_run stays aligned */
	uint8_t run[RECORD_RUN_SIZE];
} __attribute__((aligned(8)));

static struct kvm_run *seed_init(struct seed_record *r, uint32_t reason,
				 unsigned fresh)
{
	memset(r, 0, sizeof *r);
	r->fresh = (uint8_t)fresh;
	struct kvm_run *run = (struct kvm_run *)(void *)r->run;
	run->exit_reason = reason;
	run->s.regs.regs.rip = 0x10010;
	run->s.regs.regs.rflags = 2;
	return run;
}

static void seed_io(struct kvm_run *run, uint8_t dir, uint8_t size,
		    uint32_t count, uint64_t offset)
{
	run->io.direction = dir;
	run->io.size = size;
	run->io.port = 0x10;
	run->io.count = count;
	run->io.data_offset = offset;
	if (offset < RECORD_RUN_SIZE)
		memset((uint8_t *)run + offset, 0x5a,
		       RECORD_RUN_SIZE - offset < 64 ? RECORD_RUN_SIZE - offset
						     : 64);
}

int roof_exit_record_seeds_kvm(roof_exit_record_emit emit, void *ctx)
{
	static struct seed_record r; /* 12 KiB: not on the stack */
	struct kvm_run *run;
	size_t base = 1 + sizeof(struct kvm_run), pio = 1 + 4096 + 64;
	int n = 0;
#define EMIT(name, want, size) n += emit(ctx, name, want, &r.fresh, size) == 0
	run = seed_init(&r, KVM_EXIT_IO, CLS_REGS);
	seed_io(run, KVM_EXIT_IO_OUT, 1, 1, 4096);
	EMIT("io-out-1", ROOF_EXIT_IO, pio);
	seed_io(run, KVM_EXIT_IO_IN, 2, 1, 4096);
	EMIT("io-in-2", ROOF_EXIT_IO, pio);
	seed_io(run, KVM_EXIT_IO_IN, 4, 1, 4096);
	EMIT("io-in-4", ROOF_EXIT_IO, pio);
	seed_io(run, KVM_EXIT_IO_OUT, 1, 16, 4096);
	EMIT("io-outs-rep", ROOF_EXIT_IO, pio);
	seed_io(run, KVM_EXIT_IO_IN, 4, 1024, 4096); /* the whole pio page */
	EMIT("io-ins-rep-page", ROOF_EXIT_IO, pio);
	seed_io(run, KVM_EXIT_IO_IN, 3, 1, 4096);
	EMIT("io-bad-size", ROOF_EXIT_BACKEND_ERROR, pio);
	seed_io(run, KVM_EXIT_IO_IN, 1, 0, 4096);
	EMIT("io-zero-count", ROOF_EXIT_BACKEND_ERROR, pio);
	seed_io(run, KVM_EXIT_IO_IN, 4, 0x40000000u, 4096);
	EMIT("io-count-past-area", ROOF_EXIT_BACKEND_ERROR, pio);
	seed_io(run, KVM_EXIT_IO_IN, 1, 1, RECORD_RUN_SIZE);
	EMIT("io-offset-past-area", ROOF_EXIT_BACKEND_ERROR, pio);
	seed_io(run, KVM_EXIT_IO_IN, 1, 1, 16);
	EMIT("io-offset-in-kvm-run", ROOF_EXIT_BACKEND_ERROR, pio);
	seed_io(run, 7, 1, 1, 4096);
	EMIT("io-bad-direction", ROOF_EXIT_BACKEND_ERROR, pio);

	run = seed_init(&r, KVM_EXIT_MMIO, 0);
	run->mmio.phys_addr = 0x10000000;
	run->mmio.len = 8;
	EMIT("mmio-read-8", ROOF_EXIT_MMIO, base);
	run->mmio.is_write = 1;
	run->mmio.len = 4;
	memcpy(run->mmio.data, "\x11\x22\x33\x44", 4);
	EMIT("mmio-write-4", ROOF_EXIT_MMIO, base);
	run->mmio.len = 0;
	EMIT("mmio-len-0", ROOF_EXIT_BACKEND_ERROR, base);
	run->mmio.len = 9;
	EMIT("mmio-len-9", ROOF_EXIT_BACKEND_ERROR, base);

	seed_init(&r, KVM_EXIT_HLT, CLS_REGS);
	EMIT("hlt", ROOF_EXIT_HLT, base);
	seed_init(&r, KVM_EXIT_HLT, 0);
	EMIT("hlt-regs-not-synced", ROOF_EXIT_BACKEND_ERROR, base);

	run = seed_init(&r, KVM_EXIT_X86_RDMSR, 0);
	run->msr.index = 0x4b564d00u;
	EMIT("rdmsr", ROOF_EXIT_MSR_READ, base);
	run->exit_reason = KVM_EXIT_X86_WRMSR;
	run->msr.data = 0x1122334455667788ull;
	EMIT("wrmsr", ROOF_EXIT_MSR_WRITE, base);

	run = seed_init(&r, KVM_EXIT_DEBUG, CLS_REGS | CLS_SREGS | CLS_EVENTS);
	run->debug.arch.dr6 = 1;
	run->debug.arch.pc = KVM_RECORD_CPUID_SITE0;
	run->s.regs.regs.rip = KVM_RECORD_CPUID_SITE0;
	run->s.regs.regs.rax = 0x40000000u;
	EMIT("debug-cpuid-site", ROOF_EXIT_CPUID, base);
	run->debug.arch.pc = 0x1234;
	EMIT("debug-elsewhere", ROOF_EXIT_DEBUG, base);
	run->debug.arch.pc = KVM_RECORD_CPUID_SITE1;
	run->debug.arch.dr6 = 0x4000; /* single step, not a breakpoint */
	EMIT("debug-single-step-at-site", ROOF_EXIT_DEBUG, base);

	seed_init(&r, KVM_EXIT_IRQ_WINDOW_OPEN, CLS_EVENTS);
	EMIT("irq-window", ROOF_EXIT_IRQ_WINDOW, base);
	seed_init(&r, KVM_EXIT_SHUTDOWN, 0);
	EMIT("shutdown", ROOF_EXIT_SHUTDOWN, base);
	run = seed_init(&r, KVM_EXIT_SYSTEM_EVENT, 0);
	run->system_event.type = KVM_SYSTEM_EVENT_SHUTDOWN;
	EMIT("system-event", ROOF_EXIT_SHUTDOWN, base);
	run = seed_init(&r, KVM_EXIT_FAIL_ENTRY, 0);
	run->fail_entry.hardware_entry_failure_reason = 0x21;
	EMIT("fail-entry", ROOF_EXIT_INVALID_STATE, base);
	run = seed_init(&r, KVM_EXIT_INTERNAL_ERROR, CLS_REGS);
	run->internal.suberror = KVM_INTERNAL_ERROR_EMULATION;
	EMIT("internal-error", ROOF_EXIT_BACKEND_ERROR, base);
	seed_init(&r, 0x7777, CLS_ALL);
	EMIT("unknown-reason", ROOF_EXIT_BACKEND_ERROR, base);
#undef EMIT
	return n;
}
