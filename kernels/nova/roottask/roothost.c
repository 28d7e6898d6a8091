/*
 * roothost.c - oneroof's host inside a NOVA root task: VMs, entrypoints,
 * vCPUs and their exit portals over NOVA system calls (see rt.h for the
 * control flow, nova_sys.h for the ABI facts and their sources).
 * Freestanding.
 */
#include "rt.h"
#include "roof_guest.h"

#define RT_MAX_VMS 8
#define RT_MAX_EPS 4
#define RT_MAX_VCPUS 12
#define RT_MAX_REGIONS 4
#define RT_EP_STACK (16u * 1024)
/* UTCBs of the entrypoint ECs: free user addresses below the root's */
#define RT_UTCB_BASE 0x00007fffb0000000ull
/* Selectors the kernel does not use for the root task (config.hpp: the
 * exception portals 0..31, PD/EC/SC 32..34, two semaphores 35, 36) */
#define RT_SEL_FIRST 0x1000u
/* Portal ids (pt_ctrl): vCPU slot << 8 | exit reason, or a timer */
#define RT_PT_TIMER 0x10000u
/* vCPU SCs: priority of the root's own SC, a short quantum so that the
 * root EC's timer wake-ups interleave with a spinning guest */
#define RT_VCPU_PRIO 1u
#define RT_VCPU_QUANTUM_US 1000u
/* Kernel memory a VM's PD gets from the root's quota (set_limit moves
 * it): its vCPUs' VMCBs, MSR bitmaps, FPU areas and nested page tables */
#define RT_VM_QUOTA_PAGES 256u

enum rt_run { RT_NEW = 0, RT_RUNNING, RT_STOPPED };

struct rt_region {
	uint64_t gpa, size;
	uint8_t *host;
};

struct roof_vm {
	unsigned index, pd_sel, nvcpus;
	enum nova_policy policy;
	struct rt_region mem[RT_MAX_REGIONS];
	unsigned nmem;
	const struct roof_cpuid_entry *cpuid;
	size_t ncpuid;
	char err[160];
};

struct roof_ep {
	struct roof_vm *vm;
	const char *name;
	unsigned index, ec_sel, timer_pt;
	struct nova_utcb *utcb;
	uint8_t *stack_lo, *stack_top;
	roof_ep_fn timer_fn;
	void *timer_ctx;
	uint64_t period_tsc, deadline;
	bool armed;
};

struct rt_vcpu {
	struct roof_vcpu core; /* first: a roof_vcpu * is an rt_vcpu * */
	struct nova_client client;
	struct roof_vm *vm;
	struct roof_ep *ep;
	unsigned slot, ec_sel, sc_sel, sm_sel, pt_base, evt;
	atomic_int run;
	atomic_bool pause_pending;
	struct {
		uint64_t exits, out, in, mtd;
	} portal[NOVA_NUM_VMI];
	char err[160];
};

struct rt_boot rt_boot;
static struct roof_vm vms[RT_MAX_VMS];
static struct roof_ep eps[RT_MAX_EPS];
static struct rt_vcpu vcpus[RT_MAX_VCPUS];
static roof_state states[RT_MAX_VCPUS] __attribute__((aligned(64)));
static uint8_t ep_stacks[RT_MAX_EPS][RT_EP_STACK] __attribute__((aligned(16)));
static unsigned nvms, neps, nvcpus;
static unsigned sel_next = RT_SEL_FIRST;
static unsigned event_sm, timer_sm;

/* ---- console and power --------------------------------------------------- */
static inline void outb(uint16_t port, uint8_t v)
{
	__asm__ __volatile__("outb %0, %1" : : "a"(v), "Nd"(port));
}

static inline uint8_t inb(uint16_t port)
{
	uint8_t v;
	__asm__ __volatile__("inb %1, %0" : "=a"(v) : "Nd"(port));
	return v;
}

/* COM1 as NOVA's console left it: poll the line status for an empty
 * transmit holding register (bit 5), then write. */
static void serial_putc(char c)
{
	while (!(inb(0x3fd) & 0x20))
		;
	outb(0x3f8, (uint8_t)c);
}

void rt_print(const char *s)
{
	for (; *s; s++) {
		if (*s == '\n')
			serial_putc('\r');
		serial_putc(*s);
	}
}

void rt_say(const char *text)
{
	rt_print(RT_PREFIX);
	rt_print(text);
	rt_print("\n");
}

void rt_poweroff(unsigned code)
{
	__asm__ __volatile__("outl %0, %1" : : "a"(code), "Nd"((uint16_t)0xf4));
	for (;;) /* QEMU is gone; without isa-debug-exit, block for good */
		nova_sm_down(event_sm, 0);
}

void rt_fatal(const char *what, unsigned status)
{
	char line[200];
	struct roof_text t;
	roof_text_init(&t, line, sizeof line);
	roof_text_put(&t, "FATAL ");
	roof_text_put(&t, what);
	if (status) {
		roof_text_put(&t, " (NOVA status ");
		roof_text_dec(&t, status);
		roof_text_put(&t, ")");
	}
	rt_say(line);
	rt_poweroff(1);
}

/* ---- time ------------------------------------------------------------------ */
uint64_t rt_ns_to_tsc(uint64_t ns)
{
	/* kHz * ns / 10^6, without overflow for runs of minutes */
	return ns / 1000000u * rt_boot.tsc_khz +
	       ns % 1000000u * rt_boot.tsc_khz / 1000000u;
}

void rt_sleep_ns(uint64_t ns)
{
	nova_sm_down(timer_sm, roof_rdtsc() + rt_ns_to_tsc(ns));
}

bool rt_wait_event(uint64_t timeout_ns)
{
	return nova_sm_down(event_sm, roof_rdtsc() + rt_ns_to_tsc(timeout_ns)) ==
	       NOVA_SUCCESS;
}

void rt_signal(void)
{
	nova_sm_up(event_sm);
}

/* ---- selectors, the current EC, delegation -------------------------------- */
static unsigned sel_alloc(unsigned n)
{
	unsigned s = (sel_next + n - 1) & ~(n - 1); /* n: a power of two */
	sel_next = s + n;
	return s;
}

static uint64_t stack_pointer(void)
{
	uint64_t sp;
	__asm__ __volatile__("mov %%rsp, %0" : "=r"(sp));
	return sp;
}

/* The entrypoint whose EC runs this code (by its stack), or NULL for the
 * root EC. */
static struct roof_ep *current_ep(void)
{
	uint64_t sp = stack_pointer();
	for (unsigned i = 0; i < neps; i++)
		if (sp >= (uint64_t)eps[i].stack_lo && sp < (uint64_t)eps[i].stack_top)
			return &eps[i];
	return 0;
}

static uint64_t *current_utcb(void)
{
	struct roof_ep *ep = current_ep();
	return ep ? (uint64_t *)ep->utcb : (uint64_t *)NOVA_ROOT_UTCB;
}

/* misc(DELEGATE): one typed item (crd + flags) at the end of the caller's
 * UTCB, items = 1 << 16 (utcb.hpp); window: where it lands in dst. */
static uint8_t delegate(unsigned dst_pd, uint64_t window, uint64_t item,
			unsigned flags)
{
	volatile uint64_t *u = current_utcb();
	u[4096 / 8 - 2] = item;
	u[4096 / 8 - 1] = flags; /* hotspot 0: window and item are aligned */
	u[0] = 1ull << 16;
	uint8_t st = nova_call5(NOVA_MISC, NOVA_MISC_DELEGATE, NOVA_SEL_ROOT_PD,
				window, dst_pd, 0, 0);
	u[0] = 0;
	return st;
}

/* ---- boot ------------------------------------------------------------------- */
static void cpuid(uint32_t leaf, uint32_t sub, uint32_t out[4])
{
	__asm__ __volatile__("cpuid"
			     : "=a"(out[0]), "=b"(out[1]), "=c"(out[2]),
			       "=d"(out[3])
			     : "a"(leaf), "c"(sub));
}

/* Fpu::size as NOVA's Fpu::probe (src/fpu.cpp) computes it: the XSAVE
 * area of the enabled components (cpuid 0xd, compact form if XSAVES),
 * the 512-byte legacy area without XSAVE. */
static uint32_t nova_fpu_size(void)
{
	uint32_t r[4];
	cpuid(1, 0, r);
	if (!(r[2] & (1u << 26)))
		return 512;
	cpuid(0xd, 1, r);
	bool compact = (r[0] & (1u << 3)) != 0;
	cpuid(0xd, compact ? 1 : 0, r);
	return r[1] > 512 ? r[1] : 512;
}

int rt_init(void)
{
	const volatile uint8_t *hip = (const volatile uint8_t *)NOVA_HIP_ADDR;
	/* the ports first: the console needs them (from the kernel's PD) */
	uint8_t st = delegate(NOVA_SEL_ROOT_PD,
			      nova_crd(NOVA_CRD_PIO, 0, 16, NOVA_RIGHTS_ALL),
			      nova_crd(NOVA_CRD_PIO, 0, 16, NOVA_RIGHTS_ALL),
			      NOVA_XFER_DELEGATE | NOVA_XFER_FROM_KERNEL);
	if (st)
		return st; /* no console: the runner reports the silence */
	rt_boot.api_flags = *(const volatile uint32_t *)(hip + NOVA_HIP_API_FLG);
	rt_boot.tsc_khz = *(const volatile uint32_t *)(hip + NOVA_HIP_FREQ_TSC);
	rt_boot.vmi = (rt_boot.api_flags & NOVA_HIP_FEAT_SVM) ? NOVA_VMI_SVM
							      : NOVA_VMI_VMX;
	rt_boot.fpu_size = nova_fpu_size();
	if (!(rt_boot.api_flags & (NOVA_HIP_FEAT_SVM | NOVA_HIP_FEAT_VMX)))
		rt_fatal("the kernel offers neither SVM nor VMX vCPUs (HIP "
			 "api_flg); boot QEMU with -cpu ...,+svm", NOVA_BAD_FTR);
	if (!rt_boot.tsc_khz)
		rt_fatal("the HIP names no TSC frequency", NOVA_BAD_PAR);
	event_sm = sel_alloc(1);
	timer_sm = sel_alloc(1);
	if ((st = nova_create_sm(event_sm, NOVA_SEL_ROOT_PD, 0)) ||
	    (st = nova_create_sm(timer_sm, NOVA_SEL_ROOT_PD, 0)))
		rt_fatal("create_sm of the root's semaphores", st);
	return 0;
}

/* ---- the client's kernel calls ----------------------------------------------- */
static struct rt_vcpu *rt_of(const roof_vcpu *v)
{
	return (struct rt_vcpu *)v;
}

static uint32_t bytes_out(uint64_t mtd)
{
	return rt_boot.vmi == NOVA_VMI_SVM ? nova_svm_bytes_out(mtd, rt_boot.fpu_size)
					   : 0;
}

static uint32_t bytes_in(uint64_t mtd)
{
	return rt_boot.vmi == NOVA_VMI_SVM ? nova_svm_bytes_in(mtd, rt_boot.fpu_size)
					   : 0;
}

static void count_bytes(struct rt_vcpu *v, uint64_t out, uint64_t in)
{
	v->core.counters.bytes += out + in;
}

static uint8_t sys_create_pt(void *k, unsigned reason, uint64_t mtd)
{
	struct rt_vcpu *v = k;
	unsigned sel = v->pt_base + (reason & 0xffu);
	uint8_t st = nova_create_pt(sel, NOVA_SEL_ROOT_PD, v->ep->ec_sel, mtd,
				    (uint64_t)rt_portal_entry);
	if (!st)
		st = nova_pt_ctrl(sel, (uint64_t)v->slot << 8 | (reason & 0xffu));
	return st;
}

/* ec_ctrl(GET/SET_VCPU_STATE) copy through the caller's UTCB: only the
 * vCPU's entrypoint, whose UTCB the client reads, may call them. The bytes
 * counted are those of the MTD: the one asked for (GET), the UTCB's (SET). */
static uint8_t vcpu_state_call(struct rt_vcpu *v, unsigned op, uint64_t arg,
			       bool get, uint64_t mtd)
{
	if (current_ep() != v->ep)
		return NOVA_BAD_CPU;
	v->core.counters.crossings++;
	uint8_t st = nova_ec_ctrl(op, v->ec_sel, arg);
	if (!st)
		count_bytes(v, get ? bytes_out(mtd) : 0,
			    get ? 0 : bytes_in(v->ep->utcb->mtd));
	return st;
}

static uint8_t sys_get_vcpu_state(void *k, uint64_t mtd)
{
	return vcpu_state_call(k, NOVA_EC_GET_VCPU_STATE, mtd, true, mtd);
}

static uint8_t sys_set_vcpu_state(void *k, bool recall)
{
	return vcpu_state_call(k, NOVA_EC_SET_VCPU_STATE, recall ? 1 : 0, false,
			       0);
}

static const struct nova_syscalls rt_sys = {
	.create_pt = sys_create_pt,
	.get_vcpu_state = sys_get_vcpu_state,
	.set_vcpu_state = sys_set_vcpu_state,
};

/* The VMM's own view of guest memory, for the MMIO decode. */
static const void *guest_mem(void *ctx, uint64_t gpa, uint64_t len)
{
	struct roof_vm *vm = ctx;
	for (unsigned i = 0; i < vm->nmem; i++) {
		struct rt_region *r = &vm->mem[i];
		if (gpa >= r->gpa && gpa - r->gpa < r->size &&
		    len <= r->size - (gpa - r->gpa))
			return r->host + (gpa - r->gpa);
	}
	return 0;
}

/* The cpuid answer a VMM prefills: the VM's policy, else the CPU's. */
static void guest_cpuid(void *ctx, uint32_t leaf, uint32_t sub, uint32_t out[4])
{
	struct roof_vm *vm = ctx;
	for (size_t i = 0; i < vm->ncpuid; i++) {
		const struct roof_cpuid_entry *e = &vm->cpuid[i];
		if (e->leaf == leaf &&
		    (!(e->flags & ROOF_CPUID_SUBLEAF) || e->subleaf == sub)) {
			out[0] = e->eax;
			out[1] = e->ebx;
			out[2] = e->ecx;
			out[3] = e->edx;
			return;
		}
	}
	cpuid(leaf, sub, out);
}

static void host_fatal(struct roof_vcpu *v, const char *msg)
{
	(void)v;
	rt_say(msg);
	rt_poweroff(1);
}

static const struct roof_host_hooks rt_hooks = {
	.call_on_ep = 0, /* every handler already runs on its entrypoint */
	.fatal = host_fatal,
};

/* ---- the portal ---------------------------------------------------------------- */
/* Reply from the entrypoint with its stack reset (the next portal call
 * starts on the rsp of this syscall); sm != 0 blocks the caller on it. */
__attribute__((noreturn)) static void reply(struct roof_ep *ep, unsigned sm)
{
	__asm__ __volatile__("mov %0, %%rsp\n\tsyscall"
			     :
			     : "r"(ep->stack_top),
			       "D"(nova_arg1(NOVA_REPLY, 0, sm))
			     : "memory");
	__builtin_unreachable();
}

void rt_portal(uint64_t id)
{
	if (id & RT_PT_TIMER) {
		struct roof_ep *ep = &eps[id & 0xffu];
		if (ep->armed && ep->timer_fn)
			ep->timer_fn(ep, ep->timer_ctx);
		ep->utcb->items = 0; /* no words back to the root EC */
		reply(ep, 0);
	}
	struct rt_vcpu *v = &vcpus[(id >> 8) & 0xffu];
	unsigned reason = (unsigned)(id & 0xffu);
	struct roof_ep *ep = v->ep;
	struct nova_utcb *u = ep->utcb;
	v->core.counters.crossings += 2; /* the exit's call, the reply */
	uint64_t out = bytes_out(u->mtd);
	v->portal[reason].exits++;
	v->portal[reason].mtd = u->mtd;
	v->portal[reason].out += out;
	count_bytes(v, out, 0);
	bool vmm_recall = reason == NOVA_EXIT_RECALL &&
			  atomic_exchange(&v->pause_pending, false);
	roof_action a = nova_client_portal(&v->client, &v->core, vmm_recall, 0);
	if (reason == NOVA_EXIT_STARTUP && rt_boot.vmi == NOVA_VMI_SVM) {
		/* The VMM's intercepts (Genode's VMMs charge them at STARTUP):
		 * cpuid exits (SVM has no per-site intercept), and VMRUN, which
		 * QEMU's VMRUN check demands (nova-real.md). */
		u->ctrl[0] = NOVA_SVM_CTRL0_CPUID;
		u->ctrl[1] = NOVA_SVM_CTRL1_VMRUN;
		u->mtd |= NOVA_MTD_CTRL;
	}
	uint64_t in = bytes_in(u->mtd);
	v->portal[reason].in += in;
	count_bytes(v, 0, in);
	if (a == ROOF_RESUME)
		reply(ep, 0);
	atomic_store(&v->run, RT_STOPPED);
	/* a pause that came before this stop takes effect now, as on Linux */
	int stopped = RT_STOPPED;
	if (atomic_load(&v->pause_pending) &&
	    atomic_compare_exchange_strong(&v->run, &stopped, RT_RUNNING))
		reply(ep, 0); /* the recall hazard exits to RECALL at once */
	reply(ep, v->sm_sel);
}

/* ---- the API: VMs ---------------------------------------------------------------- */
/* The error text of a VM or vCPU: what failed and NOVA's status, if any. */
static int fail_into(char *buf, size_t len, int err, const char *what,
		     unsigned st)
{
	struct roof_text t;
	roof_text_init(&t, buf, len);
	roof_text_put(&t, what);
	if (st) {
		roof_text_put(&t, " (NOVA status ");
		roof_text_dec(&t, st);
		roof_text_put(&t, ")");
	}
	return err;
}

static int vm_fail(struct roof_vm *vm, int err, const char *what, unsigned st)
{
	return fail_into(vm->err, sizeof vm->err, err, what, st);
}

int roof_vm_open(roof_vm **out, const char *kernel)
{
	*out = 0;
	if (kernel && (kernel[0] != 'n' || kernel[1] != 'o' || kernel[2] != 'v' ||
		       kernel[3] != 'a' || kernel[4]))
		return ROOF_ENOENT; /* this host is NOVA only */
	if (nvms >= RT_MAX_VMS)
		return ROOF_ERANGE;
	struct roof_vm *vm = &vms[nvms];
	vm->index = nvms;
	vm->policy = NOVA_POLICY_TUNED; /* the default, as on Linux */
	vm->pd_sel = sel_alloc(1);
	uint8_t st = nova_create_pd(vm->pd_sel, NOVA_SEL_ROOT_PD, RT_VM_QUOTA_PAGES);
	if (st)
		return vm_fail(vm, ROOF_EKERNEL, "create_pd", st);
	nvms++;
	*out = vm;
	return ROOF_OK;
}

const char *roof_vm_error(const roof_vm *vm)
{
	return vm ? vm->err : "no VM";
}

int roof_vm_set_option(roof_vm *vm, const char *key, const char *value)
{
	if (vm->nvcpus)
		return vm_fail(vm, ROOF_EBUSY, "set_option: before the first vCPU",
			       0);
	if (!key || !value || key[0] != 'p')
		return vm_fail(vm, ROOF_EINVAL, "set_option: only policy", 0);
	if (value[0] == 'g')
		vm->policy = NOVA_POLICY_GENODE;
	else if (value[0] == 't')
		vm->policy = NOVA_POLICY_TUNED;
	else
		return vm_fail(vm, ROOF_EINVAL, "policy: genode or tuned", 0);
	return ROOF_OK;
}

int roof_vm_set_cpuid(roof_vm *vm, const struct roof_cpuid_entry *e, size_t n)
{
	vm->cpuid = e;
	vm->ncpuid = n;
	return ROOF_OK;
}

uint64_t roof_vm_state_groups(const roof_vm *vm)
{
	(void)vm;
	return rt_boot.vmi == NOVA_VMI_SVM ? NOVA_SVM_GROUPS : ROOF_G_VALID_BITS;
}

/* The largest naturally aligned power-of-two block at both addresses. */
static unsigned block_order(uint64_t gpa, uint64_t host, uint64_t pages)
{
	unsigned o = 0;
	while (o < 30 && !((gpa >> 12) & (1ull << o)) &&
	       !((host >> 12) & (1ull << o)) && (2ull << o) <= pages)
		o++;
	return o;
}

int roof_vm_attach(roof_vm *vm, void *host, uint64_t gpa, uint64_t size,
		   unsigned flags)
{
	uint64_t h = (uint64_t)host;
	if ((h | gpa | size) & 0xfff || !size)
		return vm_fail(vm, ROOF_EINVAL, "attach: 4 KiB aligned", 0);
	if (vm->nmem >= RT_MAX_REGIONS)
		return vm_fail(vm, ROOF_ERANGE, "attach: too many regions", 0);
	unsigned rights = NOVA_MEM_R | NOVA_MEM_X |
			  ((flags & ROOF_MEM_READONLY) ? 0 : NOVA_MEM_W);
	for (uint64_t off = 0; off < size;) {
		unsigned o = block_order(gpa + off, h + off, (size - off) >> 12);
		uint8_t st = delegate(vm->pd_sel,
				      nova_crd(NOVA_CRD_MEM, (gpa + off) >> 12, o,
					       rights),
				      nova_crd(NOVA_CRD_MEM, (h + off) >> 12, o,
					       rights),
				      NOVA_XFER_DELEGATE | NOVA_XFER_GUEST);
		if (st)
			return vm_fail(vm, ROOF_EKERNEL, "delegate guest memory",
				       st);
		off += 4096ull << o;
	}
	vm->mem[vm->nmem++] = (struct rt_region){gpa, size, host};
	return ROOF_OK;
}

/* ---- entrypoints ------------------------------------------------------------------ */
int roof_ep_create(roof_vm *vm, const char *name, int cpu, roof_ep **out)
{
	(void)cpu; /* one CPU */
	*out = 0;
	if (neps >= RT_MAX_EPS)
		return vm_fail(vm, ROOF_ERANGE, "too many entrypoints", 0);
	struct roof_ep *ep = &eps[neps];
	ep->vm = vm;
	ep->name = name;
	ep->index = neps;
	ep->ec_sel = sel_alloc(1);
	ep->timer_pt = sel_alloc(1);
	ep->utcb = (struct nova_utcb *)(RT_UTCB_BASE + 0x1000ull * neps);
	ep->stack_lo = ep_stacks[neps];
	ep->stack_top = ep_stacks[neps] + RT_EP_STACK;
	/* a local EC: no SC, runs on its callers' (create_ec flags 0) */
	uint8_t st = nova_create_ec(ep->ec_sel, 0, NOVA_SEL_ROOT_PD,
				    (uint64_t)ep->utcb, (uint64_t)ep->stack_top, 0);
	if (!st)
		st = nova_create_pt(ep->timer_pt, NOVA_SEL_ROOT_PD, ep->ec_sel, 0,
				    (uint64_t)rt_portal_entry);
	if (!st)
		st = nova_pt_ctrl(ep->timer_pt, RT_PT_TIMER | ep->index);
	if (st)
		return vm_fail(vm, ROOF_EKERNEL, "entrypoint EC or portal", st);
	neps++;
	*out = ep;
	return ROOF_OK;
}

bool roof_ep_is_current(const roof_ep *ep)
{
	return current_ep() == ep;
}

int roof_ep_timer(roof_ep *ep, uint64_t period_ns, roof_ep_fn fn, void *ctx,
		  int *timer_id)
{
	if (!fn || !period_ns)
		return ROOF_EINVAL;
	ep->timer_fn = fn;
	ep->timer_ctx = ctx;
	ep->period_tsc = rt_ns_to_tsc(period_ns);
	ep->deadline = roof_rdtsc() + ep->period_tsc;
	ep->armed = true;
	if (timer_id)
		*timer_id = (int)ep->index + 1;
	return ROOF_OK;
}

int roof_ep_timer_stop(roof_ep *ep, int timer_id)
{
	if (timer_id != (int)ep->index + 1)
		return ROOF_ENOENT;
	ep->armed = false;
	return ROOF_OK;
}

bool rt_run_timers(bool (*done)(void *ctx), void *ctx, uint64_t timeout_ns)
{
	uint64_t end = roof_rdtsc() + rt_ns_to_tsc(timeout_ns);
	for (;;) {
		if (done(ctx))
			return true;
		uint64_t now = roof_rdtsc(), next = end;
		if (now >= end)
			return false;
		for (unsigned i = 0; i < neps; i++)
			if (eps[i].armed && eps[i].deadline < next)
				next = eps[i].deadline;
		nova_sm_down(timer_sm, next);
		now = roof_rdtsc();
		for (unsigned i = 0; i < neps; i++) {
			struct roof_ep *ep = &eps[i];
			if (!ep->armed || ep->deadline > now)
				continue;
			ep->deadline = now + ep->period_tsc;
			uint8_t st = nova_call(ep->timer_pt); /* on 'ep' */
			if (st)
				rt_fatal("call of an entrypoint's timer portal", st);
		}
	}
}

/* ---- vCPUs ------------------------------------------------------------------------ */
static int vcpu_fail(struct rt_vcpu *v, int err, const char *what,
		     unsigned st)
{
	return fail_into(v->err, sizeof v->err, err, what, st);
}

int roof_vcpu_create(roof_vm *vm, roof_ep *ep, roof_vcpu **out)
{
	*out = 0;
	if (nvcpus >= RT_MAX_VCPUS)
		return vm_fail(vm, ROOF_ERANGE, "too many vCPUs", 0);
	struct rt_vcpu *v = &vcpus[nvcpus];
	roof_state *s = &states[nvcpus];
	v->slot = nvcpus;
	v->vm = vm;
	v->ep = ep;
	v->ec_sel = sel_alloc(1);
	v->sc_sel = sel_alloc(1);
	v->sm_sel = sel_alloc(1);
	v->pt_base = sel_alloc(NOVA_NUM_VMI);
	v->evt = vm->nvcpus * NOVA_NUM_VMI; /* in the VM's object space */
	uint8_t st = nova_create_sm(v->sm_sel, NOVA_SEL_ROOT_PD, 0);
	if (st)
		return vm_fail(vm, ROOF_EKERNEL, "create_sm of a vCPU", st);
	struct vmx_exit_env env = {guest_mem, guest_cpuid, vm};
	if (nova_client_init(&v->client, ep->utcb, &rt_sys, v, &env, vm->policy,
			     rt_boot.vmi))
		return vm_fail(vm, ROOF_EKERNEL, "the UTCB copy plan", 0);
	roof_core_init(&v->core, s, vm->nvcpus, 0, 0, &rt_hooks, v);
	nova_client_bind(&v->client, &v->core); /* the hot ops, the client */
	atomic_store(&v->run, RT_NEW);
	nvcpus++;
	vm->nvcpus++;
	*out = &v->core;
	return ROOF_OK;
}

unsigned roof_vcpu_id(const roof_vcpu *v)
{
	return v->id;
}

const char *roof_vcpu_error(const roof_vcpu *v)
{
	return rt_of(v)->err;
}

int roof_vcpu_on_exit(roof_vcpu *cv, roof_exit reason, roof_exit_handler fn,
		      void *ctx, uint64_t mask, roof_where where)
{
	struct rt_vcpu *v = rt_of(cv);
	int rc = roof_core_on_exit(cv, reason, fn, ctx, mask, where,
				   roof_vm_state_groups(v->vm),
				   atomic_load(&v->run) != RT_NEW, "nova", v->err,
				   sizeof v->err);
	return rc;
}

/* The first run: the portals (their MTDs follow the handlers now
 * registered), their delegation to the VM at the vCPU's event base, the
 * vCPU EC and its SC, which makes NOVA send STARTUP. */
static int start(struct rt_vcpu *v)
{
	int rc = nova_client_create_portals(&v->client, &v->core);
	if (rc)
		return vcpu_fail(v, rc, "create_pt of an exit portal", 0);
	uint8_t st = delegate(v->vm->pd_sel,
			      nova_crd(NOVA_CRD_OBJ, v->evt, 8, NOVA_RIGHTS_ALL),
			      nova_crd(NOVA_CRD_OBJ, v->pt_base, 8,
				       NOVA_RIGHTS_ALL),
			      NOVA_XFER_DELEGATE);
	if (st)
		return vcpu_fail(v, ROOF_EKERNEL, "delegate the exit portals", st);
	atomic_store(&v->run, RT_RUNNING);
	st = nova_create_ec(v->ec_sel, NOVA_EC_GLOBAL, v->vm->pd_sel, 0, 0,
			    v->evt);
	if (!st)
		st = nova_create_sc(v->sc_sel, NOVA_SEL_ROOT_PD, v->ec_sel,
				    RT_VCPU_QUANTUM_US, RT_VCPU_PRIO);
	if (st) {
		atomic_store(&v->run, RT_NEW);
		return vcpu_fail(v, ROOF_EKERNEL, "create the vCPU EC or SC", st);
	}
	return ROOF_OK;
}

/* A stopped vCPU runs on: sm_ctrl(UP) of the semaphore it blocks on. */
static bool wake(struct rt_vcpu *v)
{
	int stopped = RT_STOPPED;
	if (!atomic_compare_exchange_strong(&v->run, &stopped, RT_RUNNING))
		return false;
	v->core.counters.crossings++;
	uint8_t st = nova_sm_up(v->sm_sel);
	if (st)
		rt_fatal("sm_ctrl(UP) of a vCPU", st);
	return true;
}

int roof_vcpu_run(roof_vcpu *cv)
{
	struct rt_vcpu *v = rt_of(cv);
	if (atomic_load(&v->run) == RT_NEW)
		return start(v);
	if (!wake(v))
		return vcpu_fail(v, ROOF_EBUSY, "run: the vCPU is running", 0);
	return ROOF_OK;
}

int roof_vcpu_pause(roof_vcpu *cv)
{
	struct rt_vcpu *v = rt_of(cv);
	if (atomic_load(&v->run) == RT_NEW)
		return vcpu_fail(v, ROOF_ESTATE, "pause: not started; run it "
						 "first", 0);
	atomic_store(&v->pause_pending, true);
	v->core.counters.crossings++;
	uint8_t st = nova_ec_ctrl(NOVA_EC_RECALL, v->ec_sel, 0);
	if (st)
		return vcpu_fail(v, ROOF_EKERNEL, "ec_ctrl(EC_RECALL)", st);
	wake(v); /* stopped: it must run to take the recall */
	return ROOF_OK;
}

int roof_vcpu_with_state(roof_vcpu *cv, roof_state_fn fn, void *ctx)
{
	struct rt_vcpu *v = rt_of(cv);
	if (!fn)
		return vcpu_fail(v, ROOF_EINVAL, "with_state: fn is NULL", 0);
	if (current_ep() != v->ep)
		return vcpu_fail(v, ROOF_ETHREAD, "with_state: call it on the "
						  "vCPU's entrypoint", 0);
	if (atomic_load(&v->run) != RT_STOPPED)
		return vcpu_fail(v, ROOF_EBUSY, "with_state: the vCPU is not "
						"stopped", 0);
	roof_state *s = cv->state;
	s->touched = 0;
	bool resume = fn(cv, s, ctx);
	int rc = ROOF_OK;
	if (s->dirty) {
		if (cv->hot->writeback(cv, s->dirty))
			rc = vcpu_fail(v, ROOF_EKERNEL, "with_state: "
				       "ec_ctrl(SET_VCPU_STATE) failed", 0);
		s->dirty = 0;
	}
	if (resume && rc == ROOF_OK)
		wake(v);
	return rc;
}

int roof_vcpu_stats(const roof_vcpu *cv, struct roof_stats *out)
{
	*out = cv->counters;
	return ROOF_OK;
}

uint64_t rt_portal_exits(const roof_vcpu *cv, unsigned portal)
{
	return rt_of(cv)->portal[portal & 0xffu].exits;
}

void rt_portal_transfer(const roof_vcpu *cv, unsigned portal, uint64_t *out,
			uint64_t *in)
{
	*out = rt_of(cv)->portal[portal & 0xffu].out;
	*in = rt_of(cv)->portal[portal & 0xffu].in;
}

uint64_t rt_portal_mtd(const roof_vcpu *cv, unsigned portal)
{
	return rt_of(cv)->portal[portal & 0xffu].mtd;
}
