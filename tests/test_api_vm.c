/*
 * test_api_vm.c - bad input to the VM calls of include/oneroof.h: open,
 * close, attach/detach, alloc_ram, load_image, write, host_ptr, the cpuid
 * and MSR policy, options and modes. Every refusal must come back as the
 * documented code with an error text that names the problem, and must lose
 * nothing: after each refusal a guest still reads the memory that was
 * attached before (tests/guests/api64.asm, subtest RIG_READ).
 *
 * Backend: $ROOF_KERNEL (run once per backend by tests/run-tests.sh).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "soak/rig.h"

#define PAGE 4096u
#define EXTRA_GPA 0x400000u /* inside the identity map, above the RAM */

/* ---- helpers ---------------------------------------------------------------- */
struct reader {
	uint64_t seen, gpa;
	unsigned mmio;
	struct roof_test_flag done;
};

static roof_action reader_mmio(roof_vcpu *cpu, roof_state *st, void *p)
{
	(void)cpu;
	struct reader *rd = p;
	rd->mmio++;
	rd->seen = st->info.mmio.data;
	rd->gpa = st->info.mmio.gpa;
	return ROOF_RESUME;
}

static roof_action reader_io(roof_vcpu *cpu, roof_state *st, void *p)
{
	(void)cpu;
	struct reader *rd = p;
	if (st->info.io.port == RIG_PORT_DONE) {
		roof_test_flag_raise(&rd->done);
		return ROOF_STOP;
	}
	return ROOF_RESUME;
}

/* Runs RIG_READ on r (vCPU not started yet): the guest loads the qword at
 * gpa and reports it; returns what it read. */
static uint64_t guest_reads(struct rig *r, uint64_t gpa)
{
	struct reader rd = {0};
	roof_test_flag_init(&rd.done);
	r->subtest = RIG_READ;
	r->arg = gpa;
	ROOF_OK_OR_FAIL(roof_vcpu_on_exit(r->cpu, ROOF_EXIT_MMIO, reader_mmio,
					  &rd, ROOF_MASK_DEFAULT, ROOF_INLINE),
			roof_vcpu_error(r->cpu));
	ROOF_OK_OR_FAIL(roof_vcpu_on_exit(r->cpu, ROOF_EXIT_IO, reader_io, &rd,
					  ROOF_MASK_DEFAULT, ROOF_INLINE),
			roof_vcpu_error(r->cpu));
	ROOF_OK_OR_FAIL(roof_vcpu_run(r->cpu), roof_vcpu_error(r->cpu));
	if (!roof_test_flag_wait(&rd.done, RIG_TIMEOUT_MS))
		fail_msg("kernel %s: guest read of 0x%llx did not finish (%s)",
			 roof_test_kernel(), (unsigned long long)gpa,
			 roof_vcpu_error(r->cpu));
	ROOF_OK_OR_FAIL(roof_vcpu_wait_stopped(r->cpu, RIG_TIMEOUT_NS),
			roof_vcpu_error(r->cpu));
	roof_test_flag_destroy(&rd.done);
	assert_int_equal(rd.mmio, 1);
	assert_int_equal(rd.gpa, ROOF_TEST_MMIO_BASE);
	return rd.seen;
}

/* A VM with the api64 guest but no vCPU yet (so policy calls still work). */
static roof_vm *open_vm_with_ram(void **ram)
{
	roof_vm *vm = NULL;
	ROOF_OK_OR_FAIL(roof_vm_open(&vm, NULL), roof_last_error());
	roof_test_guest_vm(vm, "api64", ram);
	return vm;
}

/* Adds ep + vCPU + STARTUP handler to a VM opened by open_vm_with_ram. */
static void rig_adopt(struct rig *r, roof_vm *vm, void *ram)
{
	memset(r, 0, sizeof *r);
	r->vm = vm;
	r->ram = ram;
	ROOF_OK_OR_FAIL(roof_ep_create(vm, "ep", -1, &r->ep), roof_vm_error(vm));
	ROOF_OK_OR_FAIL(roof_vcpu_create(vm, r->ep, &r->cpu), roof_vm_error(vm));
	/* only the groups the kernel can transfer (Fiasco.OC, seL4: no TPR) */
	r->groups = roof_vm_state_groups(vm);
	ROOF_OK_OR_FAIL(roof_vcpu_on_exit(r->cpu, ROOF_EXIT_STARTUP, rig_startup,
					  r, roof_test_long_mode_mask() & r->groups,
					  ROOF_INLINE),
			roof_vcpu_error(r->cpu));
}

/* The VM gets its vCPU, the guest reads gpa, the VM is closed. */
static void expect_guest_reads(roof_vm *vm, void *ram, uint64_t gpa,
			       uint64_t want)
{
	struct rig r;
	rig_adopt(&r, vm, ram);
	assert_int_equal(guest_reads(&r, gpa), want);
	rig_close(&r);
}

static void *pages(size_t n)
{
	void *p = mmap(NULL, n * PAGE, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	assert_true(p != MAP_FAILED);
	return p;
}

/* ---- codes, open, close ------------------------------------------------------- */
static void test_strerror_names_every_code(void **state)
{
	(void)state;
	for (int e = ROOF_OK; e >= ROOF_EIO; e--) {
		const char *t = roof_strerror(e);
		assert_non_null(t);
		if (strcmp(t, "unknown error") == 0)
			fail_msg("roof_strerror(%d) has no name", e);
	}
	assert_string_equal(roof_strerror(ROOF_EIO - 1), "unknown error");
	assert_string_equal(roof_strerror(42), "unknown error");
}

static void test_open_bad_arguments(void **state)
{
	(void)state;
	RIG_EXPECT_ERR(roof_vm_open(NULL, NULL), ROOF_EINVAL, roof_last_error(),
		       "out is NULL");
	roof_vm *vm = (roof_vm *)(uintptr_t)0x1234;
	RIG_EXPECT_ERR(roof_vm_open(&vm, "no-such-kernel"), ROOF_ENOENT,
		       roof_last_error(), "no-such-kernel", "available",
		       "kvm");
	assert_null(vm); /* a failed open leaves no handle behind */
}

static void test_null_and_closed_vm_handles(void **state)
{
	(void)state;
	ROOF_NEED_KVM();
	RIG_EXPECT_ERR(roof_vm_close(NULL), ROOF_EINVAL, roof_last_error(),
		       "not open");
	assert_string_equal(roof_vm_kernel(NULL), "");
	assert_int_equal(roof_vm_state_groups(NULL), 0);
	assert_ptr_equal(roof_vm_error(NULL), roof_last_error());
	assert_null(roof_vm_host_ptr(NULL, 0, 1));

	roof_vm *vm = NULL;
	ROOF_OK_OR_FAIL(roof_vm_open(&vm, NULL), roof_last_error());
	assert_string_equal(roof_vm_kernel(vm), roof_test_kernel());
	ROOF_OK_OR_FAIL(roof_vm_close(vm), roof_last_error());
	/* vm is a dangling handle now: every call refuses it by value,
	 * without touching the freed object */
	RIG_EXPECT_ERR(roof_vm_close(vm), ROOF_EINVAL, roof_last_error(),
		       "not open");
	void *mem = NULL;
	RIG_EXPECT_ERR(roof_vm_alloc_ram(vm, 0, PAGE, &mem), ROOF_EINVAL,
		       roof_last_error(), "not open");
	assert_null(mem);
	char buf[8] = {0};
	RIG_EXPECT_ERR(roof_vm_attach(vm, buf, 0, PAGE, 0), ROOF_EINVAL,
		       roof_last_error(), "not open");
	RIG_EXPECT_ERR(roof_vm_detach(vm, 0, PAGE), ROOF_EINVAL,
		       roof_last_error(), "not open");
	RIG_EXPECT_ERR(roof_vm_write(vm, 0, buf, 1), ROOF_EINVAL,
		       roof_last_error(), "not open");
	RIG_EXPECT_ERR(roof_vm_load_image(vm, "/dev/null", 0, NULL),
		       ROOF_EINVAL, roof_last_error(), "not open");
	RIG_EXPECT_ERR(roof_vm_set_cpuid(vm, NULL, 0), ROOF_EINVAL,
		       roof_last_error(), "not open");
	RIG_EXPECT_ERR(roof_vm_set_msr_exits(vm, NULL, 0), ROOF_EINVAL,
		       roof_last_error(), "not open");
	RIG_EXPECT_ERR(roof_vm_set_cpuid_exits(vm, NULL, 0), ROOF_EINVAL,
		       roof_last_error(), "not open");
	RIG_EXPECT_ERR(roof_vm_set_option(vm, "policy", "x"), ROOF_EINVAL,
		       roof_last_error(), "not open");
	RIG_EXPECT_ERR(roof_vm_set_mode(vm, 0), ROOF_EINVAL, roof_last_error(),
		       "not open");
	struct roof_cpuid_entry e;
	RIG_EXPECT_ERR(roof_vm_cpuid_lookup(vm, 0, 0, &e), ROOF_EINVAL,
		       roof_last_error(), "not open");
	assert_null(roof_vm_host_ptr(vm, 0, 1));
	assert_string_equal(roof_vm_kernel(vm), "");
	assert_int_equal(roof_vm_state_groups(vm), 0);
}

struct close_on_ep {
	roof_vm *vm;
	int rc;
	char text[512];
	struct roof_test_flag done;
};

static void close_from_ep(roof_ep *ep, void *p)
{
	(void)ep;
	struct close_on_ep *c = p;
	c->rc = roof_vm_close(c->vm);
	snprintf(c->text, sizeof c->text, "%s", roof_vm_error(c->vm));
	roof_test_flag_raise(&c->done);
}

static void test_close_on_own_entrypoint_is_refused(void **state)
{
	(void)state;
	ROOF_NEED_KVM();
	struct rig r;
	rig_open(&r, RIG_PATTERNS);
	struct close_on_ep c = {.vm = r.vm, .rc = 1};
	roof_test_flag_init(&c.done);
	ROOF_OK_OR_FAIL(roof_ep_post(r.ep, close_from_ep, &c),
			roof_ep_error(r.ep));
	assert_true(roof_test_flag_wait(&c.done, RIG_TIMEOUT_MS));
	assert_int_equal(c.rc, ROOF_ETHREAD);
	rig_expect_text("close on its entrypoint", c.text, "entrypoint", "ep",
			(char *)NULL);
	/* nothing was torn down: the VM still runs a guest */
	assert_int_equal(guest_reads(&r, ROOF_TEST_GUEST_GPA),
			 *(uint64_t *)((uint8_t *)r.ram + ROOF_TEST_GUEST_GPA));
	rig_close(&r);
	roof_test_flag_destroy(&c.done);
}

/* ---- attach / detach --------------------------------------------------------------- */
static void test_attach_bad_ranges(void **state)
{
	(void)state;
	ROOF_NEED_KVM();
	void *ram = NULL;
	roof_vm *vm = open_vm_with_ram(&ram);
	uint8_t *mem = pages(4);
	memset(mem, 0x5c, 4 * PAGE);
	uint64_t *word = (uint64_t *)mem;
	*word = 0x1122334455667788ull;
	ROOF_OK_OR_FAIL(roof_vm_attach(vm, mem, EXTRA_GPA, 2 * PAGE, 0),
			roof_vm_error(vm));

	RIG_EXPECT_ERR(roof_vm_attach(vm, NULL, EXTRA_GPA + 8 * PAGE, PAGE, 0),
		       ROOF_EINVAL, roof_vm_error(vm), "NULL");
	RIG_EXPECT_ERR(roof_vm_attach(vm, mem + 2 * PAGE, EXTRA_GPA + 8 * PAGE,
				      0, 0),
		       ROOF_EINVAL, roof_vm_error(vm), "size is 0");
	RIG_EXPECT_ERR(roof_vm_attach(vm, mem + 2 * PAGE,
				      EXTRA_GPA + 8 * PAGE + 16, PAGE, 0),
		       ROOF_EINVAL, roof_vm_error(vm), "aligned", "0x408010");
	RIG_EXPECT_ERR(roof_vm_attach(vm, mem + 2 * PAGE, EXTRA_GPA + 8 * PAGE,
				      PAGE + 1, 0),
		       ROOF_EINVAL, roof_vm_error(vm), "aligned", "0x1001");
	RIG_EXPECT_ERR(roof_vm_attach(vm, mem + 2 * PAGE + 8,
				      EXTRA_GPA + 8 * PAGE, PAGE, 0),
		       ROOF_EINVAL, roof_vm_error(vm), "aligned");
	RIG_EXPECT_ERR(roof_vm_attach(vm, mem + 2 * PAGE, EXTRA_GPA + 8 * PAGE,
				      PAGE, 0x80),
		       ROOF_EINVAL, roof_vm_error(vm), "flags", "0x80");
	/* overlaps: the same range, inside, straddling either end */
	RIG_EXPECT_ERR(roof_vm_attach(vm, mem + 2 * PAGE, EXTRA_GPA, 2 * PAGE, 0),
		       ROOF_EEXIST, roof_vm_error(vm), "overlaps", "0x400000");
	RIG_EXPECT_ERR(roof_vm_attach(vm, mem + 2 * PAGE, EXTRA_GPA + PAGE,
				      PAGE, 0),
		       ROOF_EEXIST, roof_vm_error(vm), "overlaps");
	RIG_EXPECT_ERR(roof_vm_attach(vm, mem + 2 * PAGE, EXTRA_GPA - PAGE,
				      2 * PAGE, 0),
		       ROOF_EEXIST, roof_vm_error(vm), "overlaps");
	RIG_EXPECT_ERR(roof_vm_attach(vm, mem + 2 * PAGE, EXTRA_GPA + PAGE,
				      2 * PAGE, 0),
		       ROOF_EEXIST, roof_vm_error(vm), "overlaps");
	RIG_EXPECT_ERR(roof_vm_attach(vm, mem + 2 * PAGE, 0, PAGE, 0),
		       ROOF_EEXIST, roof_vm_error(vm), "overlaps"); /* the RAM */
	/* beyond the 52-bit guest-physical space, and wrapping around */
	RIG_EXPECT_ERR(roof_vm_attach(vm, mem + 2 * PAGE, 1ull << 52, PAGE, 0),
		       ROOF_ERANGE, roof_vm_error(vm), "52-bit");
	RIG_EXPECT_ERR(roof_vm_attach(vm, mem + 2 * PAGE, (1ull << 52) - PAGE,
				      2 * PAGE, 0),
		       ROOF_ERANGE, roof_vm_error(vm), "52-bit");
	RIG_EXPECT_ERR(roof_vm_attach(vm, mem + 2 * PAGE, ~0ull & ~0xfffull,
				      2 * PAGE, 0),
		       ROOF_ERANGE, roof_vm_error(vm), "52-bit");
	/* alloc_ram: the same checks, and no memory leaks on refusal */
	void *got = (void *)1;
	RIG_EXPECT_ERR(roof_vm_alloc_ram(vm, EXTRA_GPA, PAGE, &got), ROOF_EEXIST,
		       roof_vm_error(vm), "overlaps");
	assert_ptr_equal(got, (void *)1);
	RIG_EXPECT_ERR(roof_vm_alloc_ram(vm, EXTRA_GPA + 8 * PAGE, 0, &got),
		       ROOF_EINVAL, roof_vm_error(vm), "multiple of 4 KiB");
	RIG_EXPECT_ERR(roof_vm_alloc_ram(vm, EXTRA_GPA + 8 * PAGE, 100, &got),
		       ROOF_EINVAL, roof_vm_error(vm), "multiple of 4 KiB");
	/* touching ranges are fine */
	ROOF_OK_OR_FAIL(roof_vm_attach(vm, mem + 2 * PAGE, EXTRA_GPA + 2 * PAGE,
				       PAGE, ROOF_MEM_READONLY),
			roof_vm_error(vm));

	/* nothing was lost: the first mapping still holds what the guest
	 * reads, host_ptr still finds it */
	assert_ptr_equal(roof_vm_host_ptr(vm, EXTRA_GPA + 8, 8), mem + 8);
	assert_null(roof_vm_host_ptr(vm, EXTRA_GPA + 2 * PAGE - 4, 8));
	assert_null(roof_vm_host_ptr(vm, EXTRA_GPA + 8 * PAGE, 1));
	expect_guest_reads(vm, ram, EXTRA_GPA, 0x1122334455667788ull);
	munmap(mem, 4 * PAGE);
}

static void test_detach_of_what_is_not_attached(void **state)
{
	(void)state;
	ROOF_NEED_KVM();
	void *ram = NULL;
	roof_vm *vm = open_vm_with_ram(&ram);
	uint8_t *mem = pages(2);
	*(uint64_t *)mem = 0xa1a2a3a4a5a6a7a8ull;
	ROOF_OK_OR_FAIL(roof_vm_attach(vm, mem, EXTRA_GPA, 2 * PAGE, 0),
			roof_vm_error(vm));
	RIG_EXPECT_ERR(roof_vm_detach(vm, 0x800000, PAGE), ROOF_ENOENT,
		       roof_vm_error(vm), "nothing is attached", "0x800000");
	/* a part of a range, or the right start with the wrong size */
	RIG_EXPECT_ERR(roof_vm_detach(vm, EXTRA_GPA, PAGE), ROOF_ENOENT,
		       roof_vm_error(vm), "nothing is attached", "0x400000");
	RIG_EXPECT_ERR(roof_vm_detach(vm, EXTRA_GPA + PAGE, PAGE), ROOF_ENOENT,
		       roof_vm_error(vm), "nothing is attached");
	/* detach, then detach again */
	ROOF_OK_OR_FAIL(roof_vm_detach(vm, EXTRA_GPA, 2 * PAGE), roof_vm_error(vm));
	assert_null(roof_vm_host_ptr(vm, EXTRA_GPA, 8));
	RIG_EXPECT_ERR(roof_vm_detach(vm, EXTRA_GPA, 2 * PAGE), ROOF_ENOENT,
		       roof_vm_error(vm), "nothing is attached");
	/* and attach again: the slot was given back */
	ROOF_OK_OR_FAIL(roof_vm_attach(vm, mem, EXTRA_GPA, 2 * PAGE, 0),
			roof_vm_error(vm));
	expect_guest_reads(vm, ram, EXTRA_GPA, 0xa1a2a3a4a5a6a7a8ull);
	munmap(mem, 2 * PAGE);
}

static void test_slot_exhaustion(void **state)
{
	(void)state;
	ROOF_NEED_KVM();
	void *ram = NULL;
	roof_vm *vm = open_vm_with_ram(&ram);
	enum { MAX = 4096 };
	uint8_t *mem = pages(MAX);
	unsigned n = 0;
	int rc = ROOF_OK;
	/* one page every other page, so no two ranges touch */
	while (n < MAX) {
		uint64_t *w = (uint64_t *)(mem + (size_t)n * PAGE);
		*w = 0x5107000000000000ull | n;
		rc = roof_vm_attach(vm, w, EXTRA_GPA + 2ull * n * PAGE, PAGE, 0);
		if (rc != ROOF_OK)
			break;
		n++;
	}
	print_message("kernel %s: %u ranges attached besides the RAM, then: %s\n",
		      roof_test_kernel(), n, roof_vm_error(vm));
	assert_true(n >= 1 && n < MAX);
	RIG_EXPECT_ERR(rc, ROOF_ERANGE, roof_vm_error(vm), "no free memory slot",
		       "limit");
	/* again: still refused, nothing changed */
	RIG_EXPECT_ERR(roof_vm_attach(vm, mem + (size_t)n * PAGE,
				      EXTRA_GPA + 2ull * n * PAGE, PAGE, 0),
		       ROOF_ERANGE, roof_vm_error(vm), "no free memory slot");
	/* every mapping still there; one freed slot can be used again */
	struct rig r;
	rig_adopt(&r, vm, ram);
	ROOF_OK_OR_FAIL(roof_vm_detach(vm, EXTRA_GPA, PAGE), roof_vm_error(vm));
	ROOF_OK_OR_FAIL(roof_vm_attach(vm, mem + (size_t)n * PAGE,
				       EXTRA_GPA + 2ull * n * PAGE, PAGE, 0),
			roof_vm_error(vm));
	*(uint64_t *)(mem + (size_t)n * PAGE) = 0x5107000000000000ull | n;
	assert_int_equal(guest_reads(&r, EXTRA_GPA + 2ull * (n - 1) * PAGE),
			 0x5107000000000000ull | (n - 1));
	rig_close(&r);
	/* all of them again in a fresh VM: the middle one reads back */
	vm = open_vm_with_ram(&ram);
	for (unsigned i = 0; i < n; i++)
		ROOF_OK_OR_FAIL(roof_vm_attach(vm, mem + (size_t)i * PAGE,
					       EXTRA_GPA + 2ull * i * PAGE, PAGE,
					       0),
				roof_vm_error(vm));
	expect_guest_reads(vm, ram, EXTRA_GPA + 2ull * (n / 2) * PAGE,
			   0x5107000000000000ull | (n / 2));
	munmap(mem, (size_t)MAX * PAGE);
}

/* ---- load_image, write, host_ptr -------------------------------------------------- */
static void write_file(const char *path, size_t size)
{
	FILE *f = fopen(path, "wb");
	assert_non_null(f);
	for (size_t i = 0; i < size; i++)
		fputc(0xc3, f);
	assert_int_equal(fclose(f), 0);
}

static void test_load_image_bad_files(void **state)
{
	(void)state;
	ROOF_NEED_KVM();
	void *ram = NULL;
	roof_vm *vm = open_vm_with_ram(&ram);
	uint8_t before[64];
	memcpy(before, (uint8_t *)ram + ROOF_TEST_GUEST_GPA, sizeof before);
	char dir[] = "/tmp/roof-api-XXXXXX";
	assert_non_null(mkdtemp(dir));
	char missing[128], empty[128], big[128];
	snprintf(missing, sizeof missing, "%s/missing.bin", dir);
	snprintf(empty, sizeof empty, "%s/empty.bin", dir);
	snprintf(big, sizeof big, "%s/big.bin", dir);
	write_file(empty, 0);
	write_file(big, ROOF_TEST_RAM_SIZE + 1);
	uint64_t size = 77;

	RIG_EXPECT_ERR(roof_vm_load_image(vm, NULL, 0, &size), ROOF_EINVAL,
		       roof_vm_error(vm), "path is NULL");
	RIG_EXPECT_ERR(roof_vm_load_image(vm, missing, ROOF_TEST_GUEST_GPA,
					  &size),
		       ROOF_ENOENT, roof_vm_error(vm), missing,
		       "No such file");
	RIG_EXPECT_ERR(roof_vm_load_image(vm, empty, ROOF_TEST_GUEST_GPA, &size),
		       ROOF_EINVAL, roof_vm_error(vm), empty, "empty");
	RIG_EXPECT_ERR(roof_vm_load_image(vm, dir, ROOF_TEST_GUEST_GPA, &size),
		       ROOF_EINVAL, roof_vm_error(vm), "not a regular file");
	/* larger than all of guest memory; and fits, but not from this gpa */
	RIG_EXPECT_ERR(roof_vm_load_image(vm, big, 0, &size), ROOF_ERANGE,
		       roof_vm_error(vm), big, "does not fit", "2097153");
	write_file(big, 2 * PAGE);
	RIG_EXPECT_ERR(roof_vm_load_image(vm, big, ROOF_TEST_RAM_SIZE - PAGE,
					  &size),
		       ROOF_ERANGE, roof_vm_error(vm), "does not fit");
	RIG_EXPECT_ERR(roof_vm_load_image(vm, big, 0x800000, &size),
		       ROOF_ERANGE, roof_vm_error(vm), "does not fit",
		       "0x800000");
	assert_int_equal(size, 77); /* untouched on failure */
	/* nothing was written anywhere */
	assert_memory_equal(before, (uint8_t *)ram + ROOF_TEST_GUEST_GPA,
			    sizeof before);
	for (size_t i = ROOF_TEST_RAM_SIZE - PAGE; i < ROOF_TEST_RAM_SIZE; i++)
		if (((uint8_t *)ram)[i] != 0)
			fail_msg("refused load_image wrote guest memory at 0x%zx",
				 i);
	/* a good load reports its size */
	ROOF_OK_OR_FAIL(roof_vm_load_image(vm, big, 0x100000, &size),
			roof_vm_error(vm));
	assert_int_equal(size, 2 * PAGE);
	unlink(empty);
	unlink(big);
	rmdir(dir);

	/* roof_vm_write and host_ptr */
	uint8_t src[16] = {1, 2, 3};
	RIG_EXPECT_ERR(roof_vm_write(vm, 0x1000, NULL, 4), ROOF_EINVAL,
		       roof_vm_error(vm), "source is NULL");
	RIG_EXPECT_ERR(roof_vm_write(vm, ROOF_TEST_RAM_SIZE - 8, src, 16),
		       ROOF_ERANGE, roof_vm_error(vm), "not inside one attached");
	RIG_EXPECT_ERR(roof_vm_write(vm, 0x900000, src, 1), ROOF_ERANGE,
		       roof_vm_error(vm), "0x900000");
	ROOF_OK_OR_FAIL(roof_vm_write(vm, 0x900000, NULL, 0), roof_vm_error(vm));
	assert_null(roof_vm_host_ptr(vm, ROOF_TEST_RAM_SIZE - 8, 16));
	assert_null(roof_vm_host_ptr(vm, ~0ull - 4, 8));
	assert_ptr_equal(roof_vm_host_ptr(vm, ROOF_TEST_RAM_SIZE - 8, 8),
			 (uint8_t *)ram + ROOF_TEST_RAM_SIZE - 8);
	ROOF_OK_OR_FAIL(roof_vm_close(vm), roof_last_error());
}

/* ---- policy, options, mode ------------------------------------------------------- */
static void test_policy_calls_bad_arguments(void **state)
{
	(void)state;
	ROOF_NEED_KVM();
	void *ram = NULL;
	roof_vm *vm = open_vm_with_ram(&ram);
	struct roof_cpuid_entry many[200];
	memset(many, 0, sizeof many);
	struct roof_cpuid_entry good = {0x40000000, 0, 1, 2, 3, 4, 0};
	ROOF_OK_OR_FAIL(roof_vm_set_cpuid(vm, &good, 1), roof_vm_error(vm));

	RIG_EXPECT_ERR(roof_vm_set_cpuid(vm, NULL, 1), ROOF_EINVAL,
		       roof_vm_error(vm), "NULL");
	RIG_EXPECT_ERR(roof_vm_set_cpuid(vm, many, 200), ROOF_ERANGE,
		       roof_vm_error(vm), "200", "limit");
	struct roof_cpuid_entry badflags = {1, 0, 0, 0, 0, 0, 0x10};
	RIG_EXPECT_ERR(roof_vm_set_cpuid(vm, &badflags, 1), ROOF_EINVAL,
		       roof_vm_error(vm), "flags", "0x10");
	struct roof_cpuid_entry got;
	RIG_EXPECT_ERR(roof_vm_cpuid_lookup(vm, 0x40000000, 0, NULL),
		       ROOF_EINVAL, roof_vm_error(vm), "NULL");
	RIG_EXPECT_ERR(roof_vm_cpuid_lookup(vm, 0x4fffffff, 3, &got),
		       ROOF_ENOENT, roof_vm_error(vm), "0x4fffffff");
	/* the refusals kept the policy that was set */
	ROOF_OK_OR_FAIL(roof_vm_cpuid_lookup(vm, 0x40000000, 0, &got),
			roof_vm_error(vm));
	assert_int_equal(got.ebx, 2);

	uint32_t msrs[100] = {0};
	RIG_EXPECT_ERR(roof_vm_set_msr_exits(vm, NULL, 1), ROOF_EINVAL,
		       roof_vm_error(vm), "NULL");
	RIG_EXPECT_ERR(roof_vm_set_msr_exits(vm, msrs, 100), ROOF_ERANGE,
		       roof_vm_error(vm), "100", "limit");
	uint64_t sites[5] = {0x10000, 0x10010, 0x10020, 0x10030, 0x10040};
	RIG_EXPECT_ERR(roof_vm_set_cpuid_exits(vm, NULL, 1), ROOF_EINVAL,
		       roof_vm_error(vm), "NULL");
	RIG_EXPECT_ERR(roof_vm_set_cpuid_exits(vm, sites, 5), ROOF_ERANGE,
		       roof_vm_error(vm), "5 sites", "at most 4");

	RIG_EXPECT_ERR(roof_vm_set_option(vm, NULL, "x"), ROOF_EINVAL,
		       roof_vm_error(vm), "NULL");
	RIG_EXPECT_ERR(roof_vm_set_option(vm, "policy", NULL), ROOF_EINVAL,
		       roof_vm_error(vm), "NULL");
	RIG_EXPECT_ERR(roof_vm_set_option(vm, "no-such-key", "1"), ROOF_EINVAL,
		       roof_vm_error(vm), "no-such-key");
	RIG_EXPECT_ERR(roof_vm_set_option(vm, "policy", "no-such-policy"),
		       ROOF_EINVAL, roof_vm_error(vm), "no-such-policy");
	RIG_EXPECT_ERR(roof_vm_set_mode(vm, 0x100), ROOF_EINVAL,
		       roof_vm_error(vm), "mode", "0x100");

	/* once a vCPU exists, the VM-wide policy is fixed */
	struct rig r;
	rig_adopt(&r, vm, ram);
	RIG_EXPECT_ERR(roof_vm_set_cpuid(vm, &good, 1), ROOF_EBUSY,
		       roof_vm_error(vm), "before creating vCPUs");
	RIG_EXPECT_ERR(roof_vm_set_msr_exits(vm, msrs, 1), ROOF_EBUSY,
		       roof_vm_error(vm), "before creating vCPUs");
	RIG_EXPECT_ERR(roof_vm_set_cpuid_exits(vm, sites, 1), ROOF_EBUSY,
		       roof_vm_error(vm), "before creating vCPUs");
	RIG_EXPECT_ERR(roof_vm_set_option(vm, "policy", "tuned"), ROOF_EBUSY,
		       roof_vm_error(vm), "before creating vCPUs");
	assert_int_equal(guest_reads(&r, ROOF_TEST_GUEST_GPA),
			 *(uint64_t *)((uint8_t *)ram + ROOF_TEST_GUEST_GPA));
	rig_close(&r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_strerror_names_every_code),
		cmocka_unit_test(test_open_bad_arguments),
		cmocka_unit_test(test_null_and_closed_vm_handles),
		cmocka_unit_test(test_close_on_own_entrypoint_is_refused),
		cmocka_unit_test(test_attach_bad_ranges),
		cmocka_unit_test(test_detach_of_what_is_not_attached),
		cmocka_unit_test(test_slot_exhaustion),
		cmocka_unit_test(test_load_image_bad_files),
		cmocka_unit_test(test_policy_calls_bad_arguments),
	};
	char name[64];
	snprintf(name, sizeof name, "api-vm[%s]", roof_test_kernel());
	return cmocka_run_group_tests_name(name, tests, NULL, NULL);
}
