/* roof_test.c - see roof_test.h. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "roof_test.h"

const char *roof_test_kernel(void)
{
	const char *k = getenv("ROOF_KERNEL");
	return k && *k ? k : "kvm";
}

bool roof_test_have_kvm(void)
{
	int fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	if (fd < 0)
		return false;
	close(fd);
	return true;
}

void roof_test_guest_vm(roof_vm *vm, const char *name, void **ram_out)
{
	void *ram = NULL;
	ROOF_OK_OR_FAIL(roof_vm_alloc_ram(vm, 0, ROOF_TEST_RAM_SIZE, &ram),
			roof_vm_error(vm));
	roof_test_build_page_tables(ram);
	char path[512];
	snprintf(path, sizeof path, "%s/%s.bin", ROOF_GUEST_DIR, name);
	ROOF_OK_OR_FAIL(roof_vm_load_image(vm, path, ROOF_TEST_GUEST_GPA, NULL),
			roof_vm_error(vm));
	if (ram_out)
		*ram_out = ram;
}

void *roof_test_zalloc(size_t align, size_t size)
{
	size_t rounded = (size + align - 1) & ~(align - 1);
	void *p = aligned_alloc(align, rounded);
	if (!p)
		fail_msg("out of memory: %zu bytes aligned %zu", rounded, align);
	memset(p, 0, rounded);
	return p;
}

void roof_test_flag_init(struct roof_test_flag *f)
{
	pthread_mutex_init(&f->lock, NULL);
	pthread_condattr_t a;
	pthread_condattr_init(&a);
	pthread_condattr_setclock(&a, CLOCK_MONOTONIC);
	pthread_cond_init(&f->cond, &a);
	pthread_condattr_destroy(&a);
	f->raised = 0;
}

void roof_test_flag_raise(struct roof_test_flag *f)
{
	pthread_mutex_lock(&f->lock);
	f->raised++;
	pthread_cond_broadcast(&f->cond);
	pthread_mutex_unlock(&f->lock);
}

bool roof_test_flag_wait(struct roof_test_flag *f, unsigned timeout_ms)
{
	struct timespec until;
	clock_gettime(CLOCK_MONOTONIC, &until);
	until.tv_sec += timeout_ms / 1000;
	until.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
	if (until.tv_nsec >= 1000000000L) {
		until.tv_sec++;
		until.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&f->lock);
	int rc = 0;
	while (!f->raised && rc != ETIMEDOUT)
		rc = pthread_cond_timedwait(&f->cond, &f->lock, &until);
	bool ok = f->raised > 0;
	if (ok)
		f->raised--;
	pthread_mutex_unlock(&f->lock);
	return ok;
}

void roof_test_flag_destroy(struct roof_test_flag *f)
{
	pthread_mutex_destroy(&f->lock);
	pthread_cond_destroy(&f->cond);
}
