/*
 * roottask.c - oneroof's root task on the real NOVA microhypervisor: the
 * VMM side of the tests and of the bench, over the host in roothost.c.
 *
 * Test mode (roottask-test.elf): the exits64 guest through every subtest
 * the Linux suites run (tests/util/vmm_exits.c: the same handlers, GPR
 * expectations and verdict) on one vCPU, restarted by pause between
 * subtests, then Genode's vmm_x86 scenario (tests/util/vmm_x86.c: four
 * vCPUs, two entrypoints, a timer driving pause/with_state/resume).
 * Bench mode (roottask-bench.elf): the bench guests io-out, hlt and
 * cpuid-user (microbench/guests/) under both client policies, rounds
 * alternating between them, timed by the TSC (instructions under QEMU's
 * -icount shift=0), with the UTCB bytes NOVA moved per exit.
 *
 * Results go to the serial port, one line each, "roof-nova: ..." (parsed
 * by kernels/nova/roottask/run-nova-real.sh). Freestanding.
 */
#include "rt.h"
#include "roof_guest.h"
#include "vmm_exits.h"
#include "vmm_x86.h"
#include "x86_arch.h"

#define SECOND 1000000000ull

/* bench or test: the link points rt_mode at one of these (ld --defsym
 * rt_mode=rt_mode_test|rt_mode_bench), so one set of objects makes both */
const int rt_mode_test = 0, rt_mode_bench = 1;
extern const int rt_mode;

extern uint8_t rt_guest_exits64[], rt_guest_exits64_end[];
extern uint8_t rt_guest_vmm_x86[], rt_guest_vmm_x86_end[];
extern uint8_t rt_rom_io_out[], rt_rom_hlt[], rt_rom_cpuid[];

static unsigned tests_run, tests_failed;

static void report(const char *name, bool ok, const char *why)
{
	char line[900];
	struct roof_text t;
	roof_text_init(&t, line, sizeof line);
	roof_text_put(&t, "TEST ");
	roof_text_put(&t, name);
	roof_text_put(&t, ok ? " PASS" : " FAIL: ");
	if (!ok)
		roof_text_put(&t, why && why[0] ? why : "(no reason)");
	rt_say(line);
	tests_run++;
	tests_failed += !ok;
}

static void must(int rc, const char *what, const char *detail)
{
	if (rc == ROOF_OK)
		return;
	char line[300];
	struct roof_text t;
	roof_text_init(&t, line, sizeof line);
	roof_text_put(&t, what);
	roof_text_put(&t, ": ");
	roof_text_put(&t, detail && detail[0] ? detail : roof_strerror(rc));
	rt_fatal(line, 0);
}

/* Exits no VMM here handles: name them and stop, so the root EC learns
 * why a run ended early instead of waiting for its timeout. */
static char trouble[200];

static roof_action on_trouble(roof_vcpu *v, roof_state *s, void *ctx)
{
	(void)ctx;
	struct roof_text t;
	roof_text_init(&t, trouble, sizeof trouble);
	roof_text_put(&t, "vCPU ");
	roof_text_dec(&t, roof_vcpu_id(v));
	roof_text_put(&t, ": exit ");
	roof_text_put(&t, roof_exit_name(s->exit_reason));
	roof_text_put(&t, " native ");
	roof_text_hex(&t, s->info.native);
	roof_text_put(&t, ": ");
	roof_text_put(&t, s->info.error ? s->info.error : "");
	rt_signal();
	return ROOF_STOP;
}

static int catch_trouble(roof_vcpu *v)
{
	static const roof_exit bad[] = {ROOF_EXIT_SHUTDOWN,
					ROOF_EXIT_INVALID_STATE,
					ROOF_EXIT_BACKEND_ERROR};
	int rc = ROOF_OK;
	for (unsigned i = 0; !rc && i < sizeof bad / sizeof bad[0]; i++)
		rc = roof_vcpu_on_exit(v, bad[i], on_trouble, 0, ROOF_G_EIP,
				       ROOF_INLINE);
	return rc;
}

/* ---- the exits64 guest ----------------------------------------------------- */
/* 128 KiB at guest-physical 0: page tables 0x1000..0x3fff, the guest at
 * 0x10000 (exits64.asm), no stack (it uses none). MMIO at 0x10000000 is
 * unbacked: NOVA reports its nested-page faults (VM_EXIT_NPT). */
#define EXITS_RAM 0x20000u
static uint8_t exits_ram[EXITS_RAM] __attribute__((aligned(EXITS_RAM)));

static struct roof_exits_vmm exits;

static void exits_notify(struct roof_exits_vmm *m, enum roof_exits_event e)
{
	(void)m;
	(void)e;
	rt_signal();
}

static const struct {
	enum roof_exits_sub sub;
	const char *name;
	bool write_regs, hlt_no_advance;
} exit_plan[] = {
	{ROOF_EXITS_OUT, "exits/out", false, false},
	{ROOF_EXITS_OUT, "exits/out-handler-writes", true, false},
	{ROOF_EXITS_IN8, "exits/in8", false, false},
	{ROOF_EXITS_IN16, "exits/in16", false, false},
	{ROOF_EXITS_IN32, "exits/in32", false, false},
	{ROOF_EXITS_MMIO_READ, "exits/mmio-read", false, false},
	{ROOF_EXITS_MMIO_READ32, "exits/mmio-read32", false, false},
	{ROOF_EXITS_MMIO_WRITE, "exits/mmio-write", false, false},
	{ROOF_EXITS_HLT, "exits/hlt", false, false},
	{ROOF_EXITS_HLT, "exits/hlt-does-not-advance", false, true},
	{ROOF_EXITS_RDMSR, "exits/rdmsr", false, false},
	{ROOF_EXITS_WRMSR, "exits/wrmsr", false, false},
	{ROOF_EXITS_CPUID_KERNEL, "exits/cpuid-policy", false, false},
	{ROOF_EXITS_CPUID_SITE, "exits/cpuid-site", false, false},
	{ROOF_EXITS_LOOP, "exits/loop", false, false},
	{ROOF_EXITS_SPIN, "exits/pause-spinning-guest", false, false},
	/* not here: msr-kernel - NOVA's SVM MSR bitmap sends every MSR but
	 * the FS/GS bases to the VMM (src/svm.cpp), so SYSENTER_ESP is no
	 * kernel MSR; the VMM's #GP would triple-fault the IDT-less guest */
};

static void print_stats(const char *name, roof_vcpu *cpu,
			const struct roof_stats *before)
{
	struct roof_stats st;
	roof_vcpu_stats(cpu, &st);
	char line[300];
	struct roof_text t;
	roof_text_init(&t, line, sizeof line);
	roof_text_put(&t, "STATS ");
	roof_text_put(&t, name);
	roof_text_put(&t, " exits=");
	roof_text_dec(&t, st.exits - before->exits);
	roof_text_put(&t, " crossings=");
	roof_text_dec(&t, st.crossings - before->crossings);
	roof_text_put(&t, " bytes=");
	roof_text_dec(&t, st.bytes - before->bytes);
	roof_text_put(&t, " misses=");
	roof_text_dec(&t, st.misses - before->misses);
	rt_say(line);
}

static void run_exits(void)
{
	roof_vm *vm;
	roof_ep *ep;
	roof_vcpu *cpu;
	must(roof_vm_open(&vm, "nova"), "vm_open", 0);
	roof_test_build_page_tables(exits_ram);
	__builtin_memcpy(exits_ram + ROOF_TEST_GUEST_GPA, rt_guest_exits64,
			 (size_t)(rt_guest_exits64_end - rt_guest_exits64));
	must(roof_vm_attach(vm, exits_ram, 0, EXITS_RAM, 0), "attach",
	     roof_vm_error(vm));
	must(roof_vm_set_cpuid(vm, roof_exits_policy, ROOF_EXITS_NPOLICY),
	     "set_cpuid", roof_vm_error(vm));
	must(roof_ep_create(vm, "ep", 0, &ep), "ep_create", roof_vm_error(vm));
	must(roof_vcpu_create(vm, ep, &cpu), "vcpu_create", roof_vm_error(vm));
	exits.groups = roof_vm_state_groups(vm);
	exits.notify = exits_notify;
	roof_exits_begin(&exits, exit_plan[0].sub);
	must(roof_exits_register(cpu, &exits, roof_exits_check_mask(&exits),
				 ROOF_INLINE),
	     "register the exits VMM", roof_vcpu_error(cpu));
	must(catch_trouble(cpu), "register", roof_vcpu_error(cpu));
	must(roof_vcpu_run(cpu), "run", roof_vcpu_error(cpu));
	for (unsigned i = 0; i < sizeof exit_plan / sizeof exit_plan[0]; i++) {
		struct roof_stats before;
		roof_vcpu_stats(cpu, &before);
		exits.write_regs = exit_plan[i].write_regs;
		exits.hlt_no_advance = exit_plan[i].hlt_no_advance;
		if (i > 0) { /* the vCPU is stopped: restart it by a pause */
			roof_exits_restart(&exits, exit_plan[i].sub);
			must(roof_vcpu_pause(cpu), "pause", roof_vcpu_error(cpu));
		}
		if (exit_plan[i].sub == ROOF_EXITS_SPIN) {
			rt_sleep_ns(SECOND / 50); /* let it spin */
			must(roof_vcpu_pause(cpu), "pause", roof_vcpu_error(cpu));
		}
		if (!rt_wait_event(10 * SECOND)) {
			report(exit_plan[i].name, false,
			       "no end within 10 s (the vCPU did not reach "
			       "PORT_DONE)");
			return; /* the vCPU is in an unknown state */
		}
		if (trouble[0]) {
			report(exit_plan[i].name, false, trouble);
			return;
		}
		char why[600];
		bool ok = roof_exits_verdict(&exits, why, sizeof why);
		report(exit_plan[i].name, ok, why);
		if (exit_plan[i].sub == ROOF_EXITS_LOOP)
			print_stats(exit_plan[i].name, cpu, &before);
	}
}

/* ---- Genode's vmm_x86 ----------------------------------------------------------- */
static uint8_t x86_page[4096] __attribute__((aligned(4096)));
static struct roof_vmm_x86 x86;
static atomic_bool x86_finished;

static void x86_on_finished(struct roof_vmm_x86 *x)
{
	(void)x;
	atomic_store(&x86_finished, true);
}

static bool x86_done(void *ctx)
{
	(void)ctx;
	return atomic_load(&x86_finished) && roof_vmm_x86_second_done(&x86);
}

static void run_vmm_x86(void)
{
	roof_vm *vm;
	roof_ep *ep_first, *ep_second;
	must(roof_vm_open(&vm, "nova"), "vm_open", 0);
	__builtin_memcpy(x86_page, rt_guest_vmm_x86,
			 (size_t)(rt_guest_vmm_x86_end - rt_guest_vmm_x86));
	must(roof_vm_attach(vm, x86_page, ROOF_VMM_X86_GUEST_PAGE, 4096, 0),
	     "attach", roof_vm_error(vm));
	must(roof_ep_create(vm, "ep", 0, &ep_first), "ep", roof_vm_error(vm));
	must(roof_ep_create(vm, "second ep", 0, &ep_second), "ep",
	     roof_vm_error(vm));
	roof_vmm_x86_init(&x86, roof_vm_state_groups(vm), ep_first);
	x86.finished = x86_on_finished;
	for (unsigned i = 0; i < ROOF_VMM_X86_VCPUS; i++) {
		roof_vcpu *cpu;
		must(roof_vcpu_create(vm, i < 2 ? ep_first : ep_second, &cpu),
		     "vcpu_create", roof_vm_error(vm));
		must(roof_vmm_x86_register(&x86, i, cpu), "register",
		     roof_vcpu_error(cpu));
	}
	for (unsigned i = 0; i < ROOF_VMM_X86_VCPUS; i++)
		must(roof_vcpu_run(x86.vcpus[i].cpu), "run",
		     roof_vcpu_error(x86.vcpus[i].cpu));
	int id;
	must(roof_ep_timer(ep_first, ROOF_VMM_X86_TICK_NS,
			   roof_vmm_x86_on_timer, &x86, &id),
	     "timer", 0);
	atomic_store(&x86.timer_id, id);
	bool done = rt_run_timers(x86_done, 0, 30 * SECOND);
	for (unsigned i = 0; i < ROOF_VMM_X86_VCPUS; i++) {
		char got[400];
		roof_vmm_x86_describe(&x86.vcpus[i], got, sizeof got);
		char line[500];
		struct roof_text t;
		roof_text_init(&t, line, sizeof line);
		roof_text_put(&t, "vmm_x86 vcpu ");
		roof_text_dec(&t, i);
		roof_text_put(&t, ": ");
		roof_text_put(&t, got);
		roof_text_put(&t, "cx@first hlt ");
		roof_text_hex(&t, x86.vcpus[i].cx_first_hlt);
		rt_say(line);
	}
	char why[900];
	bool ok = roof_vmm_x86_verdict(&x86, why, sizeof why);
	if (ok && !done) {
		ok = false;
		struct roof_text t;
		roof_text_init(&t, why, sizeof why);
		roof_text_put(&t, "the scenario did not end within 30 s");
	}
	report("vmm_x86", ok, why);
}

/* ---- the bench -------------------------------------------------------------------- */
/* microbench/bench_guest.h: a 64 KiB real-mode ROM at 0xf0000 and at
 * 0xffff0000, RAM at 0 (the stack at 0x7000), the loop count at offset 8 */
#define ROM_SIZE 0x10000u
#define ROM_LOW 0xf0000u
#define ROM_HIGH 0xffff0000u
#define ROM_OFF_ITERATIONS 0x08u
#define BENCH_RAM 0x8000u
#define BENCH_PORT 0x80u
#define DONE_PORT 0xf4u
#define BENCH_ROUNDS 3u

static const struct roof_cpuid_entry bench_cpuid[] = {
	{0x40000000, 0, 0x40000001, 0x666f6f72, 0x6e656220, 0x00006863, 0},
};

struct bench_guest {
	const char *name;
	uint8_t *rom;
	uint32_t iterations;
	unsigned portal; /* the exit the loop causes: its portal number */
};

static const struct bench_guest bench_guests[] = {
	{"io-out", rt_rom_io_out, 2000, SVM_EXIT_IOIO},
	{"hlt", rt_rom_hlt, 2000, SVM_EXIT_HLT},
	{"cpuid", rt_rom_cpuid, 2000, SVM_EXIT_CPUID},
};
#define NGUESTS (sizeof bench_guests / sizeof bench_guests[0])

struct bench_vm {
	const struct bench_guest *g;
	const char *policy;
	roof_vcpu *cpu;
	uint64_t t0, t1;
	bool restart;
};

static struct bench_vm bench_vms[NGUESTS * 2];
static uint8_t bench_ram[NGUESTS * 2][BENCH_RAM] __attribute__((aligned(BENCH_RAM)));

/* The bench VMM: reset state at STARTUP and at each round's restart, the
 * loop's exits answered with nothing to do, the done port ends a round. */
static roof_action bench_startup(roof_vcpu *v, roof_state *s, void *p)
{
	(void)v;
	(void)p;
	roof_test_set_real_mode(s);
	rt_signal();
	return ROOF_STOP; /* rounds start by a restart */
}

static roof_action bench_paused(roof_vcpu *v, roof_state *s, void *p)
{
	(void)v;
	struct bench_vm *b = p;
	if (!b->restart)
		return ROOF_STOP;
	b->restart = false;
	roof_test_set_real_mode(s);
	b->t0 = roof_rdtsc();
	return ROOF_RESUME;
}

static roof_action bench_io(roof_vcpu *v, roof_state *s, void *p)
{
	(void)v;
	struct bench_vm *b = p;
	if (s->info.io.port == BENCH_PORT)
		return ROOF_RESUME;
	b->t1 = roof_rdtsc();
	if (s->info.io.port != DONE_PORT) {
		struct roof_text t;
		roof_text_init(&t, trouble, sizeof trouble);
		roof_text_put(&t, "bench: unexpected port ");
		roof_text_hex(&t, s->info.io.port);
	}
	rt_signal();
	return ROOF_STOP;
}

static roof_action bench_hlt(roof_vcpu *v, roof_state *s, void *p)
{
	(void)v;
	(void)p;
	roof_set_ip(s, roof_get_ip(s) + roof_get_ip_len(s));
	return ROOF_RESUME;
}

static roof_action bench_cpuid_exit(roof_vcpu *v, roof_state *s, void *p)
{
	(void)v;
	(void)s;
	(void)p;
	return ROOF_RESUME; /* the policy's answer, prefilled */
}

static void bench_setup(struct bench_vm *b, const struct bench_guest *g,
			const char *policy, roof_ep **ep, uint8_t *ram)
{
	roof_vm *vm;
	b->g = g;
	b->policy = policy;
	must(roof_vm_open(&vm, "nova"), "vm_open", 0);
	must(roof_vm_set_option(vm, "policy", policy), "policy",
	     roof_vm_error(vm));
	must(roof_vm_attach(vm, ram, 0, BENCH_RAM, 0), "attach",
	     roof_vm_error(vm));
	must(roof_vm_attach(vm, g->rom, ROM_LOW, ROM_SIZE, ROOF_MEM_READONLY),
	     "attach", roof_vm_error(vm));
	must(roof_vm_attach(vm, g->rom, ROM_HIGH, ROM_SIZE, ROOF_MEM_READONLY),
	     "attach", roof_vm_error(vm));
	must(roof_vm_set_cpuid(vm, bench_cpuid, 1), "cpuid", 0);
	if (!*ep)
		must(roof_ep_create(vm, "ep", 0, ep), "ep", roof_vm_error(vm));
	must(roof_vcpu_create(vm, *ep, &b->cpu), "vcpu", roof_vm_error(vm));
	uint64_t all = ROOF_G_ALL & roof_vm_state_groups(vm);
	roof_vcpu *c = b->cpu;
	must(roof_vcpu_on_exit(c, ROOF_EXIT_STARTUP, bench_startup, b, all,
			       ROOF_INLINE), "on_exit", roof_vcpu_error(c));
	must(roof_vcpu_on_exit(c, ROOF_EXIT_PAUSED, bench_paused, b, all,
			       ROOF_INLINE), "on_exit", roof_vcpu_error(c));
	must(roof_vcpu_on_exit(c, ROOF_EXIT_IO, bench_io, b, ROOF_MASK_DEFAULT,
			       ROOF_INLINE), "on_exit", roof_vcpu_error(c));
	must(roof_vcpu_on_exit(c, ROOF_EXIT_HLT, bench_hlt, b, ROOF_MASK_DEFAULT,
			       ROOF_INLINE), "on_exit", roof_vcpu_error(c));
	must(roof_vcpu_on_exit(c, ROOF_EXIT_CPUID, bench_cpuid_exit, b,
			       ROOF_MASK_DEFAULT, ROOF_INLINE),
	     "on_exit", roof_vcpu_error(c));
	must(catch_trouble(c), "on_exit", roof_vcpu_error(c));
	must(roof_vcpu_run(c), "run", roof_vcpu_error(c));
	if (!rt_wait_event(10 * SECOND) || trouble[0])
		rt_fatal(trouble[0] ? trouble : "bench: no STARTUP", 0);
}

static void bench_round(struct bench_vm *b, unsigned round)
{
	struct roof_stats s0, s1;
	roof_vcpu_stats(b->cpu, &s0);
	uint64_t o0, i0, o1, i1, pe0 = rt_portal_exits(b->cpu, b->g->portal);
	rt_portal_transfer(b->cpu, b->g->portal, &o0, &i0);
	b->restart = true;
	must(roof_vcpu_pause(b->cpu), "pause", roof_vcpu_error(b->cpu));
	if (!rt_wait_event(60 * SECOND) || trouble[0])
		rt_fatal(trouble[0] ? trouble : "bench: a round did not end", 0);
	roof_vcpu_stats(b->cpu, &s1);
	rt_portal_transfer(b->cpu, b->g->portal, &o1, &i1);
	uint64_t loop_exits = (uint64_t)b->g->iterations;
	char line[400];
	struct roof_text t;
	roof_text_init(&t, line, sizeof line);
	roof_text_put(&t, "BENCH guest=");
	roof_text_put(&t, b->g->name);
	roof_text_put(&t, " policy=");
	roof_text_put(&t, b->policy);
	roof_text_put(&t, " round=");
	roof_text_dec(&t, round);
	roof_text_put(&t, " loop_exits=");
	roof_text_dec(&t, loop_exits);
	roof_text_put(&t, " exits=");
	roof_text_dec(&t, s1.exits - s0.exits);
	roof_text_put(&t, " tsc=");
	roof_text_dec(&t, b->t1 - b->t0);
	roof_text_put(&t, " portal=");
	roof_text_hex(&t, b->g->portal);
	roof_text_put(&t, " portal_exits=");
	roof_text_dec(&t, rt_portal_exits(b->cpu, b->g->portal) - pe0);
	roof_text_put(&t, " bytes_out=");
	roof_text_dec(&t, o1 - o0);
	roof_text_put(&t, " bytes_in=");
	roof_text_dec(&t, i1 - i0);
	roof_text_put(&t, " crossings=");
	roof_text_dec(&t, s1.crossings - s0.crossings);
	roof_text_put(&t, " mtd=");
	roof_text_hex(&t, rt_portal_mtd(b->cpu, b->g->portal));
	rt_say(line);
}

/* How QEMU's icount counts a rep-prefixed string instruction: NOVA's
 * memcpy and oneroof's gather of long runs (the FPU image) are rep movsb,
 * so the bench states what one byte of it weighs, measured here. */
static uint8_t calib_src[4096], calib_dst[4096];

static void bench_calibrate(void)
{
	void *d = calib_dst;
	const void *s = calib_src;
	uint64_t n = sizeof calib_dst;
	uint64_t t0 = roof_rdtsc(), t1 = roof_rdtsc();
	__asm__ __volatile__("rep movsb" : "+D"(d), "+S"(s), "+c"(n) : : "memory");
	uint64_t t2 = roof_rdtsc();
	char line[200];
	struct roof_text t;
	roof_text_init(&t, line, sizeof line);
	roof_text_put(&t, "CALIB rep_movsb_bytes=");
	roof_text_dec(&t, sizeof calib_dst);
	roof_text_put(&t, " tsc=");
	roof_text_dec(&t, t2 - t1);
	roof_text_put(&t, " rdtsc_pair=");
	roof_text_dec(&t, t1 - t0);
	rt_say(line);
}

static void run_bench(void)
{
	roof_ep *ep = 0;
	bench_calibrate();
	for (unsigned g = 0; g < NGUESTS; g++) {
		/* patch the loop count into the ROM before it is mapped */
		uint32_t n = bench_guests[g].iterations;
		uint8_t *hdr = bench_guests[g].rom + ROM_OFF_ITERATIONS;
		for (unsigned i = 0; i < 4; i++)
			hdr[i] = (uint8_t)(n >> (8 * i));
		bench_setup(&bench_vms[2 * g], &bench_guests[g], "genode", &ep,
			    bench_ram[2 * g]);
		bench_setup(&bench_vms[2 * g + 1], &bench_guests[g], "tuned", &ep,
			    bench_ram[2 * g + 1]);
	}
	for (unsigned r = 1; r <= BENCH_ROUNDS; r++)
		for (unsigned g = 0; g < NGUESTS; g++) {
			bench_round(&bench_vms[2 * g], r);
			bench_round(&bench_vms[2 * g + 1], r);
		}
}

/* ---- main ----------------------------------------------------------------------- */
void rt_main(void)
{
	int st = rt_init();
	if (st)
		rt_poweroff(2); /* no I/O ports, hence no console */
	char line[200];
	struct roof_text t;
	roof_text_init(&t, line, sizeof line);
	roof_text_put(&t, "BOOT vmi=");
	roof_text_put(&t, rt_boot.vmi == NOVA_VMI_SVM ? "svm" : "vmx");
	roof_text_put(&t, " tsc_khz=");
	roof_text_dec(&t, rt_boot.tsc_khz);
	roof_text_put(&t, " fpu_size=");
	roof_text_dec(&t, rt_boot.fpu_size);
	roof_text_put(&t, " mode=");
	roof_text_put(&t, rt_mode ? "bench" : "test");
	rt_say(line);
	if (rt_mode) {
		run_bench();
		rt_say("DONE bench");
		rt_poweroff(0);
	}
	run_exits();
	run_vmm_x86();
	roof_text_init(&t, line, sizeof line);
	roof_text_put(&t, "DONE tests=");
	roof_text_dec(&t, tests_run);
	roof_text_put(&t, " failed=");
	roof_text_dec(&t, tests_failed);
	rt_say(line);
	rt_poweroff(tests_failed ? 1 : 0);
}
