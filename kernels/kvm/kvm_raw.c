/*
 * kvm_raw.c - the benchmark's reference VMMs on raw KVM (see kvm_raw.h).
 *
 * Written for the bench from the KVM API (Documentation/virt/kvm/api.rst:
 * KVM_RUN, kvm_run's io/mmio/msr exits, KVM_CAP_IMMEDIATE_EXIT,
 * KVM_X86_SET_MSR_FILTER, KVM_SET_GUEST_DEBUG, sync_regs). Nothing here
 * goes through the oneroof library: this is what it is measured against.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include <linux/kvm.h>

#include "kvm_raw.h"
#include "roof_core.h" /* roof_rdtsc */

#define ROM_MAX (128u << 10)
#define MIB1 (1ull << 20)
#define GIB4 (1ull << 32)
#define CPUID_CAP 512

enum thread_state { T_PARKED = 0, T_RUNNING, T_QUIT };

struct raw_vcpu {
	struct roof_raw *r;
	unsigned id;
	int fd;
	struct kvm_run *run;
	/* recall thread (roof_raw_thread) */
	pthread_t thread;
	bool has_thread;
	int cpu;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	int tstate; /* enum thread_state, under lock */
	bool resume_requested;
	atomic_bool quitting;
	bool failed; /* the thread stopped on an error (text in r->err) */
	roof_raw_recall_fn on_recall;
	void *ctx;
	struct roof_raw_trace *trace;
	struct roof_raw_counts *counts;
};

struct roof_raw {
	struct roof_raw_config cfg;
	int kvm_fd, vm_fd;
	int run_size;
	void *ram, *rom;
	struct raw_vcpu vcpu[ROOF_RAW_MAX_VCPUS];
	unsigned nvcpus;
	int recall_sig;
	char err[256];
};

static int fail(struct roof_raw *r, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static int fail(struct roof_raw *r, int code, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(r->err, sizeof r->err, fmt, ap);
	va_end(ap);
	return code;
}

const char *roof_raw_error(const struct roof_raw *r)
{
	return r ? r->err : "raw: no VM";
}

static void no_op_handler(int sig)
{
	(void)sig; /* only interrupts KVM_RUN */
}

static int map(struct roof_raw *r, unsigned slot, uint64_t gpa, void *host,
	       uint64_t size, bool readonly)
{
	struct kvm_userspace_memory_region m = {
		.slot = slot,
		.flags = readonly ? KVM_MEM_READONLY : 0,
		.guest_phys_addr = gpa,
		.memory_size = size,
		.userspace_addr = (uintptr_t)host,
	};
	if (ioctl(r->vm_fd, KVM_SET_USER_MEMORY_REGION, &m) < 0)
		return fail(r, ROOF_EKERNEL, "raw: map 0x%llx+0x%llx: %s",
			    (unsigned long long)gpa, (unsigned long long)size,
			    strerror(errno));
	return ROOF_OK;
}

/* The VMM's MSR exits: one filter range whose bitmap denies just that MSR
 * (a 0 bit sends the access to user space). */
static int msr_exits(struct roof_raw *r, uint32_t msr)
{
	struct kvm_enable_cap cap = {.cap = KVM_CAP_X86_USER_SPACE_MSR,
				     .args = {KVM_MSR_EXIT_REASON_FILTER}};
	if (ioctl(r->vm_fd, KVM_ENABLE_CAP, &cap) < 0)
		return fail(r, ROOF_EKERNEL, "raw: KVM_CAP_X86_USER_SPACE_MSR: %s",
			    strerror(errno));
	uint8_t bitmap[16]; /* KVM copies it */
	memset(bitmap, 0xff, sizeof bitmap);
	bitmap[(msr & 127u) / 8] &= (uint8_t)~(1u << (msr % 8));
	struct kvm_msr_filter f = {.flags = KVM_MSR_FILTER_DEFAULT_ALLOW};
	f.ranges[0] = (struct kvm_msr_filter_range){
		.flags = KVM_MSR_FILTER_READ | KVM_MSR_FILTER_WRITE,
		.nmsrs = 128, .base = msr & ~127u, .bitmap = bitmap};
	if (ioctl(r->vm_fd, KVM_X86_SET_MSR_FILTER, &f) < 0)
		return fail(r, ROOF_EKERNEL, "raw: KVM_X86_SET_MSR_FILTER: %s",
			    strerror(errno));
	return ROOF_OK;
}

/* KVM's supported table with the policy's leaves replacing whole leaves and
 * appended last, the shape kvm_hw.c gives the library's vCPUs. */
static struct kvm_cpuid2 *cpuid_table(struct roof_raw *r)
{
	struct kvm_cpuid2 *t = calloc(1, sizeof *t + CPUID_CAP *
					      sizeof(struct kvm_cpuid_entry2));
	if (!t) {
		fail(r, ROOF_ENOMEM, "raw: out of memory");
		return NULL;
	}
	t->nent = CPUID_CAP - (uint32_t)r->cfg.ncpuid;
	if (ioctl(r->kvm_fd, KVM_GET_SUPPORTED_CPUID, t) < 0) {
		fail(r, ROOF_EKERNEL, "raw: KVM_GET_SUPPORTED_CPUID: %s",
		     strerror(errno));
		free(t);
		return NULL;
	}
	for (size_t i = 0; i < r->cfg.ncpuid; i++) {
		uint32_t kept = 0;
		for (uint32_t j = 0; j < t->nent; j++)
			if (t->entries[j].function != r->cfg.cpuid[i].leaf)
				t->entries[kept++] = t->entries[j];
		t->nent = kept;
	}
	for (size_t i = 0; i < r->cfg.ncpuid; i++) {
		const struct roof_cpuid_entry *p = &r->cfg.cpuid[i];
		t->entries[t->nent++] = (struct kvm_cpuid_entry2){
			.function = p->leaf, .index = p->subleaf,
			.flags = (p->flags & ROOF_CPUID_SUBLEAF)
					 ? KVM_CPUID_FLAG_SIGNIFCANT_INDEX : 0,
			.eax = p->eax, .ebx = p->ebx, .ecx = p->ecx,
			.edx = p->edx};
	}
	return t;
}

static int vcpu_open(struct roof_raw *r, struct raw_vcpu *c,
		     const struct kvm_cpuid2 *cpuid)
{
	c->fd = ioctl(r->vm_fd, KVM_CREATE_VCPU, (unsigned long)c->id);
	if (c->fd < 0)
		return fail(r, ROOF_EKERNEL, "raw: KVM_CREATE_VCPU: %s",
			    strerror(errno));
	c->run = mmap(NULL, (size_t)r->run_size, PROT_READ | PROT_WRITE,
		      MAP_SHARED, c->fd, 0);
	if (c->run == MAP_FAILED) {
		c->run = NULL;
		return fail(r, ROOF_EKERNEL, "raw: mmap kvm_run: %s",
			    strerror(errno));
	}
	if (ioctl(c->fd, KVM_SET_CPUID2, cpuid) < 0)
		return fail(r, ROOF_EKERNEL, "raw: KVM_SET_CPUID2: %s",
			    strerror(errno));
	if (r->cfg.cpuid_site) {
		struct kvm_guest_debug d = {
			.control = KVM_GUESTDBG_ENABLE | KVM_GUESTDBG_USE_HW_BP};
		d.arch.debugreg[0] = r->cfg.cpuid_site;
		d.arch.debugreg[7] = 1; /* L0, execute, length 1 */
		if (ioctl(c->fd, KVM_SET_GUEST_DEBUG, &d) < 0)
			return fail(r, ROOF_EKERNEL, "raw: KVM_SET_GUEST_DEBUG: %s",
				    strerror(errno));
		/* bare completes the cpuid through sync_regs */
		c->run->kvm_valid_regs = KVM_SYNC_X86_REGS;
	}
	pthread_mutex_init(&c->lock, NULL);
	pthread_cond_init(&c->cond, NULL);
	return ROOF_OK;
}

int roof_raw_open(struct roof_raw **out, const struct roof_raw_config *cfg,
		  char *err, size_t errlen)
{
	*out = NULL;
	struct roof_raw *r = calloc(1, sizeof *r);
	if (!r) {
		snprintf(err, errlen, "raw: out of memory");
		return ROOF_ENOMEM;
	}
	r->cfg = *cfg;
	r->kvm_fd = r->vm_fd = -1;
	for (unsigned i = 0; i < ROOF_RAW_MAX_VCPUS; i++)
		r->vcpu[i].fd = -1;
	int rc = ROOF_OK;
	struct kvm_cpuid2 *cpuid = NULL;
	if (!cfg->rom || !cfg->rom_size || cfg->rom_size > ROM_MAX ||
	    (cfg->rom_size & 4095) || !cfg->ram_size || (cfg->ram_size & 4095) ||
	    cfg->ram_size > MIB1 - cfg->rom_size || !cfg->nvcpus ||
	    cfg->nvcpus > ROOF_RAW_MAX_VCPUS) {
		rc = fail(r, ROOF_EINVAL, "raw: bad config (rom %llu bytes, ram "
			  "%llu bytes, %u vCPUs)",
			  (unsigned long long)cfg->rom_size,
			  (unsigned long long)cfg->ram_size, cfg->nvcpus);
		goto out;
	}
	r->kvm_fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	if (r->kvm_fd < 0) {
		rc = fail(r, errno == ENOENT ? ROOF_ENOENT : ROOF_EKERNEL,
			  "raw: cannot open /dev/kvm: %s", strerror(errno));
		goto out;
	}
	r->run_size = ioctl(r->kvm_fd, KVM_GET_VCPU_MMAP_SIZE, 0);
	r->vm_fd = ioctl(r->kvm_fd, KVM_CREATE_VM, 0);
	if (r->run_size < (int)sizeof(struct kvm_run) || r->vm_fd < 0) {
		rc = fail(r, ROOF_EKERNEL, "raw: KVM_CREATE_VM: %s",
			  strerror(errno));
		goto out;
	}
	r->ram = mmap(NULL, cfg->ram_size, PROT_READ | PROT_WRITE,
		      MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	r->rom = mmap(NULL, cfg->rom_size, PROT_READ | PROT_WRITE,
		      MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (r->ram == MAP_FAILED || r->rom == MAP_FAILED) {
		if (r->ram == MAP_FAILED)
			r->ram = NULL;
		if (r->rom == MAP_FAILED)
			r->rom = NULL;
		rc = fail(r, ROOF_ENOMEM, "raw: out of memory");
		goto out;
	}
	memcpy(r->rom, cfg->rom, cfg->rom_size);
	bool ro = ioctl(r->kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_READONLY_MEM) > 0;
	if ((rc = map(r, 0, 0, r->ram, cfg->ram_size, false)) ||
	    (rc = map(r, 1, MIB1 - cfg->rom_size, r->rom, cfg->rom_size, ro)) ||
	    (rc = map(r, 2, GIB4 - cfg->rom_size, r->rom, cfg->rom_size, ro)))
		goto out;
	if (cfg->vmm_msr && (rc = msr_exits(r, cfg->vmm_msr)))
		goto out;
	if (!(cpuid = cpuid_table(r))) {
		rc = ROOF_EKERNEL;
		goto out;
	}
	r->recall_sig = SIGRTMIN + 6;
	struct sigaction old;
	if (sigaction(r->recall_sig, NULL, &old) == 0 &&
	    old.sa_handler == SIG_DFL) {
		struct sigaction sa = {.sa_handler = no_op_handler};
		sigemptyset(&sa.sa_mask);
		sigaction(r->recall_sig, &sa, NULL);
	}
	for (unsigned i = 0; i < cfg->nvcpus; i++) {
		r->vcpu[i].r = r;
		r->vcpu[i].id = i;
		if ((rc = vcpu_open(r, &r->vcpu[i], cpuid)))
			goto out;
		r->nvcpus = i + 1;
	}
out:
	free(cpuid);
	if (rc) {
		snprintf(err, errlen, "%s", r->err);
		roof_raw_close(r);
		return rc;
	}
	*out = r;
	return ROOF_OK;
}

static void thread_quit(struct raw_vcpu *c)
{
	atomic_store(&c->quitting, true);
	pthread_mutex_lock(&c->lock);
	c->tstate = T_QUIT;
	pthread_cond_broadcast(&c->cond);
	pthread_mutex_unlock(&c->lock);
	__atomic_store_n(&c->run->immediate_exit, 1, __ATOMIC_SEQ_CST);
	pthread_kill(c->thread, c->r->recall_sig);
	pthread_join(c->thread, NULL);
}

void roof_raw_close(struct roof_raw *r)
{
	if (!r)
		return;
	for (unsigned i = 0; i < ROOF_RAW_MAX_VCPUS; i++) {
		struct raw_vcpu *c = &r->vcpu[i];
		if (c->has_thread)
			thread_quit(c);
		if (c->run) {
			munmap(c->run, (size_t)r->run_size);
			pthread_mutex_destroy(&c->lock);
			pthread_cond_destroy(&c->cond);
		}
		if (c->fd >= 0)
			close(c->fd);
	}
	if (r->vm_fd >= 0)
		close(r->vm_fd);
	if (r->kvm_fd >= 0)
		close(r->kvm_fd);
	if (r->ram)
		munmap(r->ram, r->cfg.ram_size);
	if (r->rom)
		munmap(r->rom, r->cfg.rom_size);
	free(r);
}

/* ---- one exit ------------------------------------------------------------ */
enum exit_verdict { X_GO = 0, X_STOP, X_RECALL, X_ERROR };

/* The textbook VMM's state transfer: every exit reads the GPRs (and the
 * segments where an MMIO access must be decoded) and writes them back. */
static int naive_get(struct raw_vcpu *c, struct roof_raw_counts *n,
		     struct kvm_regs *regs)
{
	struct roof_raw *r = c->r;
	n->crossings++;
	n->bytes += sizeof *regs;
	if (ioctl(c->fd, KVM_GET_REGS, regs) < 0)
		return fail(r, ROOF_EKERNEL, "raw: KVM_GET_REGS: %s",
			    strerror(errno));
	if (c->run->exit_reason == KVM_EXIT_MMIO) {
		struct kvm_sregs sregs;
		n->crossings++;
		n->bytes += sizeof sregs;
		if (ioctl(c->fd, KVM_GET_SREGS, &sregs) < 0)
			return fail(r, ROOF_EKERNEL, "raw: KVM_GET_SREGS: %s",
				    strerror(errno));
	}
	return ROOF_OK;
}

static int naive_set(struct raw_vcpu *c, struct roof_raw_counts *n,
		     const struct kvm_regs *regs)
{
	n->crossings++;
	n->bytes += sizeof *regs;
	if (ioctl(c->fd, KVM_SET_REGS, regs) < 0)
		return fail(c->r, ROOF_EKERNEL, "raw: KVM_SET_REGS: %s",
			    strerror(errno));
	return ROOF_OK;
}

/* Complete what KVM owes the guest, as cheaply as the style allows. */
static enum exit_verdict handle_exit(struct raw_vcpu *c, int rc, int e,
				     struct roof_raw_counts *n)
{
	struct roof_raw *r = c->r;
	struct kvm_run *run = c->run;
	bool naive = r->cfg.style == ROOF_RAW_NAIVE;
	struct kvm_regs regs;
	enum exit_verdict v = X_GO;
	if (rc < 0) {
		if (e != EINTR && e != EAGAIN) {
			fail(r, ROOF_EKERNEL, "raw: KVM_RUN: %s", strerror(e));
			return X_ERROR;
		}
		__atomic_store_n(&run->immediate_exit, 0, __ATOMIC_SEQ_CST);
		if (naive && (naive_get(c, n, &regs) || naive_set(c, n, &regs)))
			return X_ERROR;
		return X_RECALL;
	}
	n->exits++;
	if (naive && naive_get(c, n, &regs))
		return X_ERROR;
	switch (run->exit_reason) {
	case KVM_EXIT_IO:
		if (run->io.direction == KVM_EXIT_IO_IN)
			memset((uint8_t *)run + run->io.data_offset, 0xff,
			       (size_t)run->io.size * run->io.count);
		else if (r->cfg.stop_port && run->io.port == r->cfg.stop_port)
			v = X_STOP;
		break;
	case KVM_EXIT_MMIO:
		if (!run->mmio.is_write)
			memset(run->mmio.data, 0xff, sizeof run->mmio.data);
		break;
	case KVM_EXIT_HLT: /* KVM has retired it */
		break;
	case KVM_EXIT_X86_RDMSR:
		run->msr.data = 0x1122334455667788ull;
		run->msr.error = 0;
		break;
	case KVM_EXIT_X86_WRMSR:
		run->msr.error = 0;
		break;
	case KVM_EXIT_DEBUG: {
		/* the cpuid site: answer it and step over 0f a2 */
		struct kvm_regs *g = naive ? &regs : &run->s.regs.regs;
		if (run->debug.arch.pc != r->cfg.cpuid_site) {
			fail(r, ROOF_EKERNEL, "raw: debug exit at 0x%llx, not at "
			     "the cpuid site",
			     (unsigned long long)run->debug.arch.pc);
			return X_ERROR;
		}
		g->rax = 0x11;
		g->rbx = 0x22;
		g->rcx = 0x33;
		g->rdx = 0x44;
		g->rip += 2;
		if (!naive)
			run->kvm_dirty_regs = KVM_SYNC_X86_REGS;
		break;
	}
	case KVM_EXIT_INTERNAL_ERROR:
		fail(r, ROOF_EKERNEL, "raw: KVM internal error %u",
		     run->internal.suberror);
		return X_ERROR;
	default:
		fail(r, ROOF_EKERNEL, "raw: unexpected KVM exit %u",
		     run->exit_reason);
		return X_ERROR;
	}
	if (naive && naive_set(c, n, &regs))
		return X_ERROR;
	return v;
}

static inline void trace_exit(struct roof_raw_trace *t, uint64_t tsc)
{
	if (t) {
		if (t->exit_tsc && t->count < t->capacity)
			t->exit_tsc[t->count] = tsc;
		t->pending_exit = tsc;
	}
}

static inline void trace_entry(struct roof_raw_trace *t)
{
	if (t && t->pending_exit) {
		if (t->handle && t->count < t->capacity)
			t->handle[t->count] = roof_rdtsc() - t->pending_exit;
		t->count++;
		t->pending_exit = 0;
	}
}

/* Close the trace of the last exit (it is not re-entered). */
static inline void trace_end(struct roof_raw_trace *t)
{
	if (t && t->pending_exit) {
		if (t->handle && t->count < t->capacity)
			t->handle[t->count] = 0;
		t->count++;
		t->pending_exit = 0;
	}
}

int roof_raw_run(struct roof_raw *r, unsigned vcpu, uint64_t exits,
		 struct roof_raw_trace *trace, struct roof_raw_counts *counts,
		 bool *stopped)
{
	if (stopped)
		*stopped = false;
	if (!r || vcpu >= r->nvcpus)
		return r ? fail(r, ROOF_EINVAL, "raw: no vCPU %u", vcpu)
			 : ROOF_EINVAL;
	struct raw_vcpu *c = &r->vcpu[vcpu];
	if (c->has_thread)
		return fail(r, ROOF_EBUSY, "raw: vCPU %u has a recall thread",
			    vcpu);
	struct roof_raw_counts dummy = {0};
	struct roof_raw_counts *n = counts ? counts : &dummy;
	for (uint64_t done = 0; done < exits;) {
		trace_entry(trace);
		int rc = ioctl(c->fd, KVM_RUN, 0);
		uint64_t tsc = roof_rdtsc();
		int e = errno;
		trace_exit(trace, tsc);
		enum exit_verdict v = handle_exit(c, rc, e, n);
		if (v == X_ERROR) {
			trace_end(trace);
			return ROOF_EKERNEL;
		}
		if (v == X_RECALL)
			continue; /* a stray signal: not an exit */
		done++;
		if (v == X_STOP) {
			if (stopped)
				*stopped = true;
			break;
		}
	}
	trace_end(trace);
	return ROOF_OK;
}

/* ---- recall thread --------------------------------------------------------- */
static void *recall_main(void *arg)
{
	struct raw_vcpu *c = arg;
	struct roof_raw_counts dummy = {0};
	if (c->cpu >= 0) {
		cpu_set_t set;
		CPU_ZERO(&set);
		CPU_SET(c->cpu, &set);
		pthread_setaffinity_np(pthread_self(), sizeof set, &set);
	}
	pthread_mutex_lock(&c->lock);
	for (;;) {
		while (c->tstate == T_PARKED && !c->resume_requested)
			pthread_cond_wait(&c->cond, &c->lock);
		if (c->tstate == T_QUIT)
			break;
		c->resume_requested = false;
		c->tstate = T_RUNNING;
		pthread_mutex_unlock(&c->lock);
		bool park = false;
		while (!park) {
			struct roof_raw_counts *n = c->counts ? c->counts : &dummy;
			trace_entry(c->trace);
			int rc = ioctl(c->fd, KVM_RUN, 0);
			uint64_t tsc = roof_rdtsc();
			int e = errno;
			trace_exit(c->trace, tsc);
			enum exit_verdict v = handle_exit(c, rc, e, n);
			if (v == X_ERROR) {
				c->failed = true;
				park = true;
			} else if (v == X_RECALL) {
				n->exits++;
				park = atomic_load(&c->quitting) ||
				       !c->on_recall(c->ctx, tsc);
			}
		}
		trace_end(c->trace);
		pthread_mutex_lock(&c->lock);
		if (c->tstate == T_QUIT)
			break;
		c->tstate = T_PARKED;
		pthread_cond_broadcast(&c->cond);
	}
	pthread_cond_broadcast(&c->cond);
	pthread_mutex_unlock(&c->lock);
	return NULL;
}

int roof_raw_thread(struct roof_raw *r, unsigned vcpu, int cpu,
		    roof_raw_recall_fn on_recall, void *ctx,
		    struct roof_raw_trace *trace, struct roof_raw_counts *counts)
{
	if (!r || vcpu >= r->nvcpus || !on_recall)
		return r ? fail(r, ROOF_EINVAL, "raw_thread: bad argument")
			 : ROOF_EINVAL;
	struct raw_vcpu *c = &r->vcpu[vcpu];
	if (c->has_thread)
		return fail(r, ROOF_EEXIST, "raw: vCPU %u has a thread", vcpu);
	c->cpu = cpu;
	c->on_recall = on_recall;
	c->ctx = ctx;
	c->trace = trace;
	c->counts = counts;
	c->tstate = T_PARKED;
	int e = pthread_create(&c->thread, NULL, recall_main, c);
	if (e)
		return fail(r, ROOF_EKERNEL, "raw: pthread_create: %s",
			    strerror(e));
	c->has_thread = true;
	return ROOF_OK;
}

int roof_raw_resume(struct roof_raw *r, unsigned vcpu)
{
	if (!r || vcpu >= r->nvcpus || !r->vcpu[vcpu].has_thread)
		return r ? fail(r, ROOF_EINVAL, "raw_resume: no thread")
			 : ROOF_EINVAL;
	struct raw_vcpu *c = &r->vcpu[vcpu];
	pthread_mutex_lock(&c->lock);
	int rc = ROOF_OK;
	if (c->tstate != T_PARKED || c->resume_requested)
		rc = fail(r, ROOF_EBUSY, "raw: vCPU %u is running", vcpu);
	else {
		c->resume_requested = true;
		pthread_cond_broadcast(&c->cond);
	}
	pthread_mutex_unlock(&c->lock);
	return rc;
}

int roof_raw_recall(struct roof_raw *r, unsigned vcpu)
{
	if (!r || vcpu >= r->nvcpus || !r->vcpu[vcpu].has_thread)
		return r ? fail(r, ROOF_EINVAL, "raw_recall: no thread")
			 : ROOF_EINVAL;
	struct raw_vcpu *c = &r->vcpu[vcpu];
	__atomic_store_n(&c->run->immediate_exit, 1, __ATOMIC_SEQ_CST);
	pthread_kill(c->thread, r->recall_sig);
	return ROOF_OK;
}

int roof_raw_wait_parked(struct roof_raw *r, unsigned vcpu, uint64_t timeout_ns)
{
	if (!r || vcpu >= r->nvcpus || !r->vcpu[vcpu].has_thread)
		return r ? fail(r, ROOF_EINVAL, "raw_wait: no thread")
			 : ROOF_EINVAL;
	struct raw_vcpu *c = &r->vcpu[vcpu];
	struct timespec until;
	clock_gettime(CLOCK_REALTIME, &until);
	uint64_t ns = (uint64_t)until.tv_nsec + timeout_ns % 1000000000u;
	until.tv_sec += (time_t)(timeout_ns / 1000000000u + ns / 1000000000u);
	until.tv_nsec = (long)(ns % 1000000000u);
	pthread_mutex_lock(&c->lock);
	int e = 0;
	while ((c->tstate == T_RUNNING || c->resume_requested) && e != ETIMEDOUT)
		e = pthread_cond_timedwait(&c->cond, &c->lock, &until);
	bool parked = c->tstate == T_PARKED && !c->resume_requested;
	bool failed = c->failed;
	pthread_mutex_unlock(&c->lock);
	if (!parked)
		return fail(r, ROOF_EBUSY, "raw: vCPU %u still running", vcpu);
	return failed ? ROOF_EKERNEL : ROOF_OK; /* r->err says why */
}
