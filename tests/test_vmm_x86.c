/*
 * test_vmm_x86.c - a port of Genode's VM acceptance test
 * (repos/os/src/test/vmm_x86/component.cc + repos/os/run/vmm_x86.run) onto
 * the unified API. The VMM - handlers, timer, expected sequences - is
 * tests/util/vmm_x86.c, the same freestanding file the NOVA root task runs
 * on the real kernel; this host gives it a VM, two entrypoints ('ep' on CPU
 * 0, 'second ep' on CPU 1), four vCPUs (0,1 on 'ep'; 2,3 on 'second ep'),
 * one 4 KiB guest page at 0xfffff000 in real mode, and the periodic timer.
 *
 * Differences from Genode's run script: exits are the unified reasons
 * (HLT, not 0xc/0x78); the timer ticks every 25 ms instead of 1 s (the
 * sequence is driven by states, not by time); guest memory is attached up
 * front (Genode's NPT-fault path is left to the MMIO tests).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "roof_test.h"
#include "vmm_x86.h"

#define TIMEOUT_MS 30000

static struct roof_vmm_x86 vmm;
static struct roof_test_flag finished;

static void on_finished(struct roof_vmm_x86 *x)
{
	(void)x;
	roof_test_flag_raise(&finished);
}

static void test_vmm_x86(void **state)
{
	(void)state;
	ROOF_NEED_KVM();
	roof_vm *vm;
	roof_test_flag_init(&finished);
	ROOF_OK_OR_FAIL(roof_vm_open(&vm, NULL), roof_last_error());
	void *page;
	ROOF_OK_OR_FAIL(roof_vm_alloc_ram(vm, ROOF_VMM_X86_GUEST_PAGE, 4096,
					  &page),
			roof_vm_error(vm));
	ROOF_OK_OR_FAIL(roof_vm_load_image(vm, ROOF_GUEST_DIR "/vmm_x86.bin",
					   ROOF_VMM_X86_GUEST_PAGE, NULL),
			roof_vm_error(vm));
	bool two_cpus = sysconf(_SC_NPROCESSORS_ONLN) >= 2;
	roof_ep *ep_first, *ep_second;
	ROOF_OK_OR_FAIL(roof_ep_create(vm, "ep", two_cpus ? 0 : -1, &ep_first),
			roof_vm_error(vm));
	ROOF_OK_OR_FAIL(roof_ep_create(vm, "second ep", two_cpus ? 1 : -1,
				       &ep_second),
			roof_vm_error(vm));
	roof_vmm_x86_init(&vmm, roof_vm_state_groups(vm), ep_first);
	vmm.finished = on_finished;
	for (unsigned i = 0; i < ROOF_VMM_X86_VCPUS; i++) {
		roof_vcpu *cpu;
		ROOF_OK_OR_FAIL(roof_vcpu_create(vm, i < 2 ? ep_first : ep_second,
						 &cpu),
				roof_vm_error(vm));
		assert_int_equal(roof_vcpu_id(cpu), i);
		ROOF_OK_OR_FAIL(roof_vmm_x86_register(&vmm, i, cpu),
				roof_vcpu_error(cpu));
	}
	for (unsigned i = 0; i < ROOF_VMM_X86_VCPUS; i++)
		ROOF_OK_OR_FAIL(roof_vcpu_run(vmm.vcpus[i].cpu),
				roof_vcpu_error(vmm.vcpus[i].cpu));
	int timer_id;
	ROOF_OK_OR_FAIL(roof_ep_timer(ep_first, ROOF_VMM_X86_TICK_NS,
				      roof_vmm_x86_on_timer, &vmm, &timer_id),
			roof_ep_error(ep_first));
	atomic_store(&vmm.timer_id, timer_id);

	bool done = roof_test_flag_wait(&finished, TIMEOUT_MS);
	/* vcpu2 ends on its own schedule: give it the same deadline */
	for (int i = 0; i < 2000 && !roof_vmm_x86_second_done(&vmm); i++)
		usleep(5000);
	for (unsigned i = 0; i < ROOF_VMM_X86_VCPUS; i++)
		roof_vcpu_wait_stopped(vmm.vcpus[i].cpu, 5000000000ull);

	for (unsigned i = 0; i < ROOF_VMM_X86_VCPUS; i++) {
		char got[1024];
		roof_vmm_x86_describe(&vmm.vcpus[i], got, sizeof got);
		print_message("vcpu %u: %s cx@first hlt 0x%llx\n", i, got,
			      (unsigned long long)vmm.vcpus[i].cx_first_hlt);
	}
	ROOF_OK_OR_FAIL(roof_vm_close(vm), roof_last_error());
	roof_test_flag_destroy(&finished);

	char why[2048];
	if (!roof_vmm_x86_verdict(&vmm, why, sizeof why))
		fail_msg("kernel %s: %s", roof_test_kernel(), why);
	assert_true(done);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_vmm_x86),
	};
	char name[64];
	snprintf(name, sizeof name, "vmm_x86[%s]", roof_test_kernel());
	return cmocka_run_group_tests_name(name, tests, NULL, NULL);
}
