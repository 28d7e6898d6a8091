/*
 * test_hw_client.c - the base-hw client (kernels/hw/client) without KVM:
 * the Vcpu_state page layout and charged flags, the page <-> roof_state
 * translation of every group, and the client's flow (signal_ack,
 * vcpu_pause, decode, write-back, vcpu_run) against a fake kernel that
 * stores what it is asked to and records what it loads.
 */
#include <stdlib.h>
#include <string.h>

#include "../kernels/hw/client/hw_client.h"
#include "roof_test.h"
#include "x86_arch.h"

/* ---- the page's translation, one group at a time ---------------------------- */
/* The page's transfer plan (the client builds its own at init). */
static const struct roof_transfer_plan *page_plan(void)
{
	static struct roof_transfer_plan plan;
	static bool built;
	if (!built) {
		assert_int_equal(hw_vcpu_state_plan_init(&plan), 0);
		built = true;
	}
	return &plan;
}

static bool hw_group_charged(const struct hw_vcpu_state *p, unsigned bit)
{
	return hw_page_charged(p, UINT64_C(1) << bit) != 0;
}

static void hw_group_to_page(struct hw_vcpu_state *p, const roof_state *s,
			     unsigned bit, uint64_t tsc_offset_seen)
{
	hw_state_to_page(page_plan(), p, s, UINT64_C(1) << bit,
			 tsc_offset_seen);
}

static void hw_group_to_state(const struct hw_vcpu_state *p, roof_state *s,
			      unsigned bit)
{
	hw_page_to_state(page_plan(), p, s, UINT64_C(1) << bit);
}

/* ---- a fake hw kernel ------------------------------------------------------ */
struct fake_kernel {
	struct hw_vcpu_state *page;
	roof_state hw;        /* the vCPU's registers it stores from */
	uint32_t reason;      /* exit_reason of the next store */
	bool started;         /* vcpu_run happened (Vcpu::run initializes) */
	bool config_on;
	uint64_t config[256];
	int pause_rc;
	unsigned acks, pauses, runs, configs;
	uint64_t last_groups;     /* groups argument of the last vcpu_pause */
	uint64_t loaded;          /* groups charged at the last vcpu_run */
	struct hw_vcpu_state seen;/* the page as vcpu_run found it */
	char reported[256];
};

static void fk_ack(void *k)
{
	((struct fake_kernel *)k)->acks++;
}

static int fk_pause(void *kp, uint64_t groups)
{
	struct fake_kernel *k = kp;
	k->pauses++;
	k->last_groups = groups;
	if (k->pause_rc)
		return k->pause_rc;
	if (!k->started)
		return 0; /* nothing stored before the first run */
	uint64_t g = HW_GROUPS;
	if (k->config_on)
		g = groups ? groups : k->config[k->reason & 0xff];
	hw_vcpu_state_discharge(k->page);
	k->page->exit_reason = k->reason;
	for (unsigned b = 0; b < ROOF_GB_LIMIT; b++)
		if (g & (UINT64_C(1) << b))
			hw_group_to_page(k->page, &k->hw, b, 0);
	k->reason = HW_EXIT_PAUSED;
	return 0;
}

static int fk_run(void *kp)
{
	struct fake_kernel *k = kp;
	k->runs++;
	k->started = true;
	k->loaded = 0;
	for (unsigned b = 0; b < ROOF_GB_LIMIT; b++)
		if (hw_group_charged(k->page, b))
			k->loaded |= UINT64_C(1) << b;
	memcpy(&k->seen, k->page, sizeof k->seen);
	return 0;
}

static int fk_config(void *kp, const uint64_t table[256])
{
	struct fake_kernel *k = kp;
	k->configs++;
	k->config_on = true;
	memcpy(k->config, table, sizeof k->config);
	return 0;
}

static const char *fk_error(void *kp)
{
	(void)kp;
	return "fake kernel: pause failed";
}

static void fk_report(void *kp, int err, const char *msg)
{
	(void)err;
	struct fake_kernel *k = kp;
	strncpy(k->reported, msg, sizeof k->reported - 1);
}

static const struct hw_syscalls fake_syscalls = {
	fk_ack, fk_pause, fk_run, fk_config, fk_error, fk_report,
};

struct rig {
	struct hw_client client; /* v.backend */
	struct fake_kernel kernel;
	struct hw_vcpu_state *page;
	roof_state *state;
	struct roof_vcpu v;
};

static struct rig *rig_new(bool tuned)
{
	struct rig *r = calloc(1, sizeof *r);
	assert_non_null(r);
	r->page = aligned_alloc(64, sizeof *r->page);
	r->state = aligned_alloc(64, sizeof *r->state);
	assert_non_null(r->page);
	assert_non_null(r->state);
	memset(r->page, 0, sizeof *r->page);
	memset(r->state, 0, sizeof *r->state);
	r->kernel.page = r->page;
	assert_int_equal(hw_client_init(&r->client, r->page, &fake_syscalls,
					&r->kernel,
					(struct vmx_exit_env){NULL, NULL, NULL},
					tuned),
			 0);
	roof_core_init(&r->v, r->state, 0, &hw_client_hot, &r->client, NULL,
		       NULL);
	for (unsigned e = 0; e < ROOF_EXIT_COUNT; e++)
		r->v.implicit[e] = hw_client_implicit((roof_exit)e);
	return r;
}

static void rig_free(struct rig *r)
{
	free(r->page);
	free(r->state);
	free(r);
}

/* Every register of a state a distinct value. */
static void fill(roof_state *s, uint8_t seed)
{
	for (unsigned b = 0; b < ROOF_GB_LIMIT; b++) {
		uint32_t off, len;
		if (roof_group_span(b, &off, &len))
			continue;
		for (uint32_t i = 0; i < len; i++)
			((uint8_t *)s)[off + i] = (uint8_t)(seed + b * 7 + i);
	}
	/* fields the page does not carry: the dtr pad */
	s->gdtr.reserved = s->idtr.reserved = 0;
	s->fpu_size = HW_FPU_CONTEXT_SIZE;
}

static bool group_equal(const roof_state *a, const roof_state *b, unsigned bit)
{
	uint32_t off, len;
	if (roof_group_span(bit, &off, &len))
		return true;
	if (bit == ROOF_GB_FPU)
		len = HW_FPU_CONTEXT_SIZE;
	return memcmp((const uint8_t *)a + off, (const uint8_t *)b + off, len) == 0;
}

/* ---- layout and translation ---------------------------------------------- */
static void test_discharge_keeps_values(void **state)
{
	(void)state;
	struct hw_vcpu_state *p = aligned_alloc(64, sizeof *p);
	assert_non_null(p);
	memset(p, 0, sizeof *p);
	roof_state *s = aligned_alloc(64, sizeof *s);
	assert_non_null(s);
	fill(s, 3);
	for (unsigned b = 0; b < ROOF_GB_LIMIT; b++)
		hw_group_to_page(p, s, b, 0);
	for (unsigned b = 0; b < ROOF_GB_LIMIT; b++)
		assert_int_equal(hw_group_charged(p, b),
				 (ROOF_G_EVERYTHING >> b) & 1);
	uint64_t ax = p->ax.value;
	hw_vcpu_state_discharge(p);
	for (unsigned b = 0; b < ROOF_GB_LIMIT; b++)
		assert_false(hw_group_charged(p, b));
	assert_int_equal(p->ax.value, ax); /* Vcpu_state::discharge keeps it */
	/* the charged flag sits right after each value, as in Register<T> */
	assert_int_equal(offsetof(struct hw_vcpu_state, cx) -
				 offsetof(struct hw_vcpu_state, ax), 16);
	assert_true(((uint8_t *)&p->ax.charged - (uint8_t *)p) == 8);
	free(p);
	free(s);
}

static void test_every_group_round_trips(void **state)
{
	(void)state;
	struct hw_vcpu_state *p = aligned_alloc(64, sizeof *p);
	roof_state *a = aligned_alloc(64, sizeof *a);
	roof_state *b = aligned_alloc(64, sizeof *b);
	assert_non_null(p);
	assert_non_null(a);
	assert_non_null(b);
	memset(p, 0, sizeof *p);
	memset(b, 0, sizeof *b);
	fill(a, 11);
	for (unsigned bit = 0; bit < ROOF_GB_LIMIT; bit++) {
		if (!((ROOF_G_EVERYTHING >> bit) & 1))
			continue;
		hw_vcpu_state_discharge(p);
		hw_group_to_page(p, a, bit, 0);
		/* exactly this group is charged */
		for (unsigned o = 0; o < ROOF_GB_LIMIT; o++)
			assert_int_equal(hw_group_charged(p, o), o == bit);
		hw_group_to_state(p, b, bit);
		if (!group_equal(a, b, bit))
			fail_msg("group %s does not survive page and back",
				 roof_group_name(bit));
	}
	/* the FPU: the kernel moves its 512-byte fxsave area */
	assert_int_equal(p->fpu.state_size, HW_FPU_CONTEXT_SIZE);
	assert_int_equal(b->fpu_size, HW_FPU_CONTEXT_SIZE);
	for (unsigned i = HW_FPU_CONTEXT_SIZE; i < ROOF_FPU_SIZE; i++)
		assert_int_equal(b->fpu[i], 0);
	free(p);
	free(a);
	free(b);
}

static void test_tsc_offset_is_a_delta(void **state)
{
	(void)state;
	struct hw_vcpu_state *p = aligned_alloc(64, sizeof *p);
	roof_state *s = aligned_alloc(64, sizeof *s);
	assert_non_null(p);
	assert_non_null(s);
	memset(p, 0, sizeof *p);
	memset(s, 0, sizeof *s);
	/* the VMM moves the absolute offset from 1000 to 1500; hw adds the
	 * charged value to the VMCS offset (vmx.cc Vmcs::load) */
	s->tsc_offset = 1500;
	hw_group_to_page(p, s, ROOF_GB_TSC, 1000);
	assert_true(p->tsc_offset.charged);
	assert_int_equal(p->tsc_offset.value, 500);
	s->tsc_offset = 200;
	hw_group_to_page(p, s, ROOF_GB_TSC, 1000);
	assert_int_equal(p->tsc_offset.value, (uint64_t)200 - 1000);
	free(p);
	free(s);
}

/* ---- the flow -------------------------------------------------------------- */
struct seen {
	roof_exit reason;
	struct roof_exit_io io;
	uint64_t ip, ip_len;
	bool write_si;
	bool read_r8;
	uint64_t r8;
};

static roof_action record_exit(roof_vcpu *cpu, roof_state *st, void *p)
{
	(void)cpu;
	struct seen *x = p;
	x->reason = st->exit_reason;
	x->io = st->info.io;
	if (x->write_si)
		roof_set_si(st, 0x5151);
	if (x->read_r8)
		x->r8 = roof_get_r8(st);
	return ROOF_RESUME;
}

static void startup(struct rig *r)
{
	/* Hw_vcpu wrote STARTUP into the page; nothing is stored yet */
	assert_int_equal(r->page->exit_reason, HW_EXIT_STARTUP);
	assert_int_equal(hw_client_configure(&r->v), 0);
	assert_int_equal(hw_client_begin_exit(&r->v, ROOF_EXIT_STARTUP), 0);
	assert_int_equal(r->state->exit_reason, ROOF_EXIT_STARTUP);
	assert_int_equal(roof_dispatch_exit(&r->v), ROOF_RESUME);
	assert_int_equal(hw_client_resume(&r->v), 0);
}

/* An `out 0x10, al` exit as the kernel presents it. */
static void io_out_exit(struct rig *r)
{
	r->kernel.reason = VMX_EXIT_IO;
	r->kernel.hw.qual_primary = vmx_io_qualification(0x10, 1, 0, 0, 0) |
				    VMX_IOQ_IMM;
	r->kernel.hw.ip = 0x1000;
	r->kernel.hw.ip_len = 2;
	r->kernel.hw.ax = 0x1234567801ull;
	r->kernel.hw.si = 0x7777;
}

static void test_startup_delivers_the_page_as_is(void **state)
{
	(void)state;
	struct rig *r = rig_new(true);
	assert_int_equal(hw_client_begin_exit(&r->v, ROOF_EXIT_STARTUP), 0);
	/* acked, paused, nothing stored: every hw group reads the page */
	assert_int_equal(r->kernel.acks, 1);
	assert_int_equal(r->kernel.pauses, 1);
	assert_int_equal(r->state->exit_reason, ROOF_EXIT_STARTUP);
	assert_int_equal(r->state->valid, HW_GROUPS);
	assert_int_equal(roof_get_cr0(r->state), 0);
	rig_free(r);
}

static void test_io_exit_decoded_and_only_writes_loaded(void **state)
{
	(void)state;
	for (int tuned = 0; tuned < 2; tuned++) {
		struct rig *r = rig_new(tuned);
		struct seen x = {.write_si = true};
		r->v.handlers[ROOF_EXIT_IO] = (struct roof_handler_slot){
			record_exit, &x, 0, ROOF_INLINE, 1};
		startup(r);
		io_out_exit(r);
		r->kernel.acks = r->kernel.pauses = r->kernel.runs = 0;
		assert_int_equal(hw_client_begin_exit(&r->v, ROOF_EXIT_COUNT), 0);
		assert_int_equal(roof_dispatch_exit(&r->v), ROOF_RESUME);
		assert_int_equal(x.reason, ROOF_EXIT_IO);
		assert_int_equal(x.io.port, 0x10);
		assert_int_equal(x.io.size, 1);
		assert_int_equal(x.io.dir, ROOF_DIR_OUT);
		assert_int_equal(x.io.data, 0x01);
		/* tuned: the kernel was told to store the io exit's groups */
		if (tuned)
			assert_int_equal(r->kernel.config[VMX_EXIT_IO],
					 ROOF_G_ACDB | ROOF_G_EIP | ROOF_G_EFER |
						 ROOF_G_CSSS | ROOF_G_QUAL);
		assert_int_equal(hw_client_resume(&r->v), 0);
		assert_int_equal(r->kernel.acks, 1);
		/* si is outside the mask: tuned asks the kernel for it with a
		 * second vcpu_pause; genode's store had everything */
		assert_int_equal(r->kernel.pauses, tuned ? 2 : 1);
		assert_int_equal(r->kernel.runs, 1);
		/* the VMM discharged the store and charged what it wrote:
		 * ip (advanced by the instruction length) and bp/si/di */
		assert_int_equal(r->kernel.loaded, ROOF_G_EIP | ROOF_G_EBSD);
		assert_int_equal(r->kernel.seen.ip.value, 0x1002);
		assert_int_equal(r->kernel.seen.si.value, 0x5151);
		assert_int_equal(r->kernel.seen.di.value, r->kernel.hw.di);
		rig_free(r);
	}
}

static void test_tuned_miss_asks_for_exactly_the_group(void **state)
{
	(void)state;
	struct rig *r = rig_new(true);
	struct seen x = {.read_r8 = true};
	r->v.handlers[ROOF_EXIT_IO] = (struct roof_handler_slot){
		record_exit, &x, 0, ROOF_INLINE, 1};
	startup(r);
	io_out_exit(r);
	r->kernel.hw.r8 = 0x8888;
	r->kernel.pauses = 0;
	assert_int_equal(hw_client_begin_exit(&r->v, ROOF_EXIT_COUNT), 0);
	assert_false(r->state->valid & ROOF_G_R8_R15);
	assert_int_equal(roof_dispatch_exit(&r->v), ROOF_RESUME);
	assert_int_equal(x.r8, 0x8888);
	assert_int_equal(r->kernel.pauses, 2);
	assert_int_equal(r->kernel.last_groups, ROOF_G_R8_R15);
	assert_int_equal(r->v.counters.misses, 1);
	rig_free(r);
}

static void test_genode_store_is_everything(void **state)
{
	(void)state;
	struct rig *r = rig_new(false);
	struct seen x = {.read_r8 = true};
	r->v.handlers[ROOF_EXIT_IO] = (struct roof_handler_slot){
		record_exit, &x, 0, ROOF_INLINE, 1};
	startup(r);
	assert_int_equal(r->kernel.configs, 0); /* no extension on genode */
	io_out_exit(r);
	r->kernel.pauses = 0;
	assert_int_equal(hw_client_begin_exit(&r->v, ROOF_EXIT_COUNT), 0);
	assert_int_equal(r->state->valid, HW_GROUPS);
	assert_int_equal(roof_dispatch_exit(&r->v), ROOF_RESUME);
	assert_int_equal(r->kernel.pauses, 1); /* no second pause */
	assert_int_equal(r->v.counters.misses, 0);
	assert_int_equal(hw_client_store_groups(&r->client, ROOF_EXIT_HLT),
			 HW_GROUPS);
	rig_free(r);
}

static void test_writes_survive_a_pause_before_the_run(void **state)
{
	(void)state;
	struct rig *r = rig_new(true);
	startup(r);
	io_out_exit(r);
	assert_int_equal(hw_client_begin_exit(&r->v, ROOF_EXIT_COUNT), 0);
	/* the VMM writes si and stops; then a pause stores the old si */
	roof_set_si(r->state, 0xabcd);
	assert_int_equal(hw_client_hot.writeback(&r->v, r->state->dirty), 0);
	r->state->dirty = 0;
	r->kernel.config[HW_EXIT_PAUSED] = ROOF_G_EBSD | ROOF_G_EIP;
	assert_int_equal(hw_client_begin_exit(&r->v, ROOF_EXIT_PAUSED), 0);
	assert_int_equal(r->state->exit_reason, ROOF_EXIT_PAUSED);
	assert_int_equal(roof_get_si(r->state), 0xabcd);
	assert_int_equal(hw_client_resume(&r->v), 0);
	assert_true(r->kernel.loaded & ROOF_G_EBSD);
	assert_int_equal(r->kernel.seen.si.value, 0xabcd);
	rig_free(r);
}

static void test_unsupported_groups_refused(void **state)
{
	(void)state;
	struct rig *r = rig_new(true);
	startup(r);
	io_out_exit(r);
	assert_int_equal(hw_client_begin_exit(&r->v, ROOF_EXIT_COUNT), 0);
	assert_int_equal(hw_client_hot.fetch(&r->v, ROOF_G_XSAVE), ROOF_ENOSYS);
	assert_non_null(strstr(r->kernel.reported, "xcr0/xss"));
	assert_int_equal(hw_client_hot.writeback(&r->v, ROOF_G_CTRL),
			 ROOF_ENOSYS);
	rig_free(r);
}

static void test_failed_pause_is_a_backend_error(void **state)
{
	(void)state;
	struct rig *r = rig_new(true);
	startup(r);
	r->kernel.pause_rc = ROOF_EKERNEL;
	assert_int_equal(hw_client_begin_exit(&r->v, ROOF_EXIT_COUNT),
			 ROOF_EKERNEL);
	assert_int_equal(r->state->exit_reason, ROOF_EXIT_BACKEND_ERROR);
	assert_string_equal(r->state->info.error, "fake kernel: pause failed");
	/* the dispatch hands the error on without decoding anything */
	assert_int_equal(roof_dispatch_exit(&r->v), ROOF_STOP);
	assert_int_equal(r->state->exit_reason, ROOF_EXIT_BACKEND_ERROR);
	rig_free(r);
}

static void test_native_reasons(void **state)
{
	(void)state;
	static const struct { uint32_t native; roof_exit unified; } map[] = {
		{HW_EXIT_PAUSED, ROOF_EXIT_PAUSED},
		{VMX_EXIT_HLT, ROOF_EXIT_HLT},
		{VMX_EXIT_IO, ROOF_EXIT_IO},
		{VMX_EXIT_INTERRUPT_WINDOW, ROOF_EXIT_IRQ_WINDOW},
		/* hw cuts the reason to 16 bits: a failed entry reads 33 */
		{VMX_EXIT_INVALID_GUEST_STATE, ROOF_EXIT_INVALID_STATE},
		{VMX_EXIT_TRIPLE_FAULT, ROOF_EXIT_SHUTDOWN},
		{HW_EXIT_NPF, ROOF_EXIT_BACKEND_ERROR}, /* SVM only */
	};
	for (size_t i = 0; i < sizeof map / sizeof map[0]; i++) {
		struct rig *r = rig_new(true);
		startup(r);
		r->kernel.reason = map[i].native;
		r->kernel.hw.ip_len = 1;
		assert_int_equal(hw_client_begin_exit(&r->v, ROOF_EXIT_COUNT), 0);
		assert_int_equal(r->page->exit_reason, map[i].native);
		roof_dispatch_exit(&r->v);
		assert_int_equal(r->state->exit_reason, map[i].unified);
		rig_free(r);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_discharge_keeps_values),
		cmocka_unit_test(test_every_group_round_trips),
		cmocka_unit_test(test_tsc_offset_is_a_delta),
		cmocka_unit_test(test_startup_delivers_the_page_as_is),
		cmocka_unit_test(test_io_exit_decoded_and_only_writes_loaded),
		cmocka_unit_test(test_tuned_miss_asks_for_exactly_the_group),
		cmocka_unit_test(test_genode_store_is_everything),
		cmocka_unit_test(test_writes_survive_a_pause_before_the_run),
		cmocka_unit_test(test_unsupported_groups_refused),
		cmocka_unit_test(test_failed_pause_is_a_backend_error),
		cmocka_unit_test(test_native_reasons),
	};
	return cmocka_run_group_tests_name("hw client", tests, NULL, NULL);
}
