/*
 * vm.c - the VM object: backend choice, guest memory, cpuid/MSR policy,
 * close. Genode's Vm_session semantics (repos/base/include/vm_session/).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "roof_host.h"
#include "roof_live.h"

#define PAGE 4096u
/* Guest-physical addresses are at most 52 bits on x86-64. */
#define GPA_LIMIT (UINT64_C(1) << 52)

static bool env_on(const char *name)
{
	const char *v = getenv(name);
	return v && *v && strcmp(v, "0") != 0;
}

#define CHECK_VM(vm)                                                          \
	do {                                                                  \
		if (!roof_live_check((vm), ROOF_LIVE_VM))                     \
			return roof_thread_fail(ROOF_EINVAL,                  \
				"%s: vm handle %p is not open (NULL, closed or " \
				"never opened)", __func__, (const void *)(vm)); \
	} while (0)

int roof_vm_open(roof_vm **out, const char *kernel)
{
	if (!out)
		return roof_thread_fail(ROOF_EINVAL, "roof_vm_open: out is NULL");
	*out = NULL;
	const char *name = kernel;
	if (!name || !*name)
		name = getenv("ROOF_KERNEL");
	if (!name || !*name)
		name = "kvm";
	const struct roof_backend_ops *ops = roof_backend_find(name);
	if (!ops)
		return roof_thread_fail(ROOF_ENOENT,
			"roof_vm_open: unknown kernel '%s' (available: %s)",
			name, roof_backend_names());
	struct roof_vm *vm = calloc(1, sizeof *vm);
	if (!vm)
		return roof_thread_fail(ROOF_ENOMEM, "roof_vm_open: out of memory");
	vm->ops = ops;
	snprintf(vm->kernel, sizeof vm->kernel, "%s", ops->name);
	pthread_mutex_init(&vm->lock, NULL);
	for (unsigned i = 0; i < ROOF_MAX_REGIONS; i++)
		vm->regions[i].slot = -1;
	if (env_on("ROOF_CHECK"))
		vm->mode |= ROOF_MODE_CHECK;
	if (env_on("ROOF_LEARN"))
		vm->mode |= ROOF_MODE_LEARN;
	int rc = ops->vm_open(vm);
	if (rc) {
		roof_thread_fail(rc, "%s", vm->err[0] ? vm->err
				 : "roof_vm_open: backend failed");
		pthread_mutex_destroy(&vm->lock);
		free(vm);
		return rc;
	}
	if (roof_live_add(vm, ROOF_LIVE_VM)) {
		ops->vm_close(vm);
		pthread_mutex_destroy(&vm->lock);
		free(vm);
		return roof_thread_fail(ROOF_ENOMEM, "roof_vm_open: out of memory");
	}
	*out = vm;
	return ROOF_OK;
}

const char *roof_vm_error(const roof_vm *vm)
{
	if (!roof_live_check(vm, ROOF_LIVE_VM))
		return roof_last_error();
	return vm->err;
}

const char *roof_vm_kernel(const roof_vm *vm)
{
	return roof_live_check(vm, ROOF_LIVE_VM) ? vm->kernel : "";
}

int roof_vm_set_mode(roof_vm *vm, uint32_t mode)
{
	CHECK_VM(vm);
	if (mode & ~(uint32_t)(ROOF_MODE_CHECK | ROOF_MODE_LEARN))
		return roof_vm_fail(vm, ROOF_EINVAL,
				    "roof_vm_set_mode: unknown mode bits 0x%x",
				    mode);
	vm->mode = mode;
	return ROOF_OK;
}

static void print_learned(struct roof_vm *vm)
{
	uint64_t touched[ROOF_EXIT_COUNT] = {0}, exits[ROOF_EXIT_COUNT] = {0};
	uint64_t registered[ROOF_EXIT_COUNT] = {0};
	for (unsigned i = 0; i < vm->nvcpus; i++) {
		struct roof_vcpu *v = vm->vcpus[i];
		for (unsigned r = 0; r < ROOF_EXIT_COUNT; r++) {
			touched[r] |= v->learned[r];
			exits[r] += v->counters.exits_by_reason[r];
			if (v->handlers[r].set)
				registered[r] |= v->handlers[r].mask;
		}
	}
	fprintf(stderr, "roof learn: minimal fetch masks (kernel %s, %u vCPUs)\n",
		vm->kernel, vm->nvcpus);
	fprintf(stderr, "  %-14s %10s  %-40s %s\n", "exit", "exits",
		"registered mask", "touched = minimal mask");
	for (unsigned r = 0; r < ROOF_EXIT_COUNT; r++) {
		if (!exits[r])
			continue;
		char reg[256], min[256];
		roof_mask_format(registered[r], reg, sizeof reg);
		roof_mask_format(touched[r], min, sizeof min);
		fprintf(stderr, "  %-14s %10llu  %-40s %s%s\n", roof_exit_name(r),
			(unsigned long long)exits[r], reg, min,
			(touched[r] & ~registered[r]) ? "  (mask too small)" : "");
	}
}

int roof_vm_close(roof_vm *vm)
{
	CHECK_VM(vm);
	for (unsigned i = 0; i < vm->neps; i++)
		if (roof_ep_is_current(vm->eps[i]))
			return roof_vm_fail(vm, ROOF_ETHREAD,
				"roof_vm_close: called on entrypoint '%s' of this "
				"VM; close it from a thread outside its entrypoints",
				vm->eps[i]->name);
	if (atomic_exchange(&vm->closing, true))
		return roof_vm_fail(vm, ROOF_ECLOSED,
				    "roof_vm_close: already closing");
	/* vCPUs first: their entrypoints must still answer pending hops. */
	for (unsigned i = 0; i < vm->nvcpus; i++)
		roof_vcpu_destroy(vm->vcpus[i]);
	if (vm->mode & ROOF_MODE_LEARN)
		print_learned(vm);
	for (unsigned i = 0; i < vm->neps; i++)
		roof_ep_destroy(vm->eps[i]);
	for (unsigned i = 0; i < vm->nvcpus; i++) {
		struct roof_vcpu *v = vm->vcpus[i];
		struct roof_vcpu_host *h = v->host;
		vm->ops->vcpu_destroy(vm, v);
		pthread_mutex_destroy(&h->lock);
		pthread_cond_destroy(&h->cond);
		free(v->state);
		free(h);
		free(v);
	}
	for (unsigned i = 0; i < ROOF_MAX_REGIONS; i++) {
		struct roof_mem_region *r = &vm->regions[i];
		if (r->slot < 0)
			continue;
		vm->ops->mem_unmap(vm, r);
		if (r->owned)
			munmap(r->host, r->size);
		r->slot = -1;
	}
	vm->ops->vm_close(vm);
	roof_live_remove(vm);
	pthread_mutex_destroy(&vm->lock);
	free(vm);
	return ROOF_OK;
}

/* ---- memory ---------------------------------------------------------------- */
int roof_vm_attach(roof_vm *vm, void *host, uint64_t gpa, uint64_t size,
		   unsigned flags)
{
	CHECK_VM(vm);
	if (!host)
		return roof_vm_fail(vm, ROOF_EINVAL, "attach: host memory is NULL");
	if (size == 0)
		return roof_vm_fail(vm, ROOF_EINVAL, "attach: size is 0");
	if ((gpa | size) & (PAGE - 1) || ((uintptr_t)host & (PAGE - 1)))
		return roof_vm_fail(vm, ROOF_EINVAL,
			"attach: gpa 0x%llx, size 0x%llx and host %p must be "
			"4 KiB aligned", (unsigned long long)gpa,
			(unsigned long long)size, host);
	if (flags & ~(unsigned)ROOF_MEM_READONLY)
		return roof_vm_fail(vm, ROOF_EINVAL,
				    "attach: unknown flags 0x%x", flags);
	if (gpa >= GPA_LIMIT || size > GPA_LIMIT - gpa)
		return roof_vm_fail(vm, ROOF_ERANGE,
			"attach: [0x%llx, +0x%llx) exceeds the 52-bit "
			"guest-physical space", (unsigned long long)gpa,
			(unsigned long long)size);
	pthread_mutex_lock(&vm->lock);
	int rc = ROOF_OK;
	if (atomic_load(&vm->closing)) {
		rc = roof_vm_fail(vm, ROOF_ECLOSED, "attach: VM is closing");
		goto out;
	}
	int free_idx = -1;
	unsigned used = 0;
	for (unsigned i = 0; i < ROOF_MAX_REGIONS; i++) {
		struct roof_mem_region *r = &vm->regions[i];
		if (r->slot < 0) {
			if (free_idx < 0)
				free_idx = (int)i;
			continue;
		}
		used++;
		if (gpa < r->gpa + r->size && r->gpa < gpa + size) {
			rc = roof_vm_fail(vm, ROOF_EEXIST,
				"attach: [0x%llx, 0x%llx) overlaps attached "
				"[0x%llx, 0x%llx)", (unsigned long long)gpa,
				(unsigned long long)(gpa + size),
				(unsigned long long)r->gpa,
				(unsigned long long)(r->gpa + r->size));
			goto out;
		}
	}
	unsigned limit = vm->ops->max_slots(vm);
	if (limit > ROOF_MAX_REGIONS)
		limit = ROOF_MAX_REGIONS;
	if (free_idx < 0 || used >= limit) {
		rc = roof_vm_fail(vm, ROOF_ERANGE,
			"attach: no free memory slot (%u in use, limit %u)",
			used, limit);
		goto out;
	}
	struct roof_mem_region *r = &vm->regions[free_idx];
	*r = (struct roof_mem_region){gpa, size, host, flags, free_idx, false};
	rc = vm->ops->mem_map(vm, r);
	if (rc)
		r->slot = -1;
out:
	pthread_mutex_unlock(&vm->lock);
	return rc;
}

int roof_vm_detach(roof_vm *vm, uint64_t gpa, uint64_t size)
{
	CHECK_VM(vm);
	pthread_mutex_lock(&vm->lock);
	int rc = roof_vm_fail(vm, ROOF_ENOENT,
		"detach: nothing is attached at [0x%llx, +0x%llx)",
		(unsigned long long)gpa, (unsigned long long)size);
	for (unsigned i = 0; i < ROOF_MAX_REGIONS; i++) {
		struct roof_mem_region *r = &vm->regions[i];
		if (r->slot < 0 || r->gpa != gpa || r->size != size)
			continue;
		rc = vm->ops->mem_unmap(vm, r);
		if (rc == ROOF_OK) {
			if (r->owned)
				munmap(r->host, r->size);
			r->slot = -1;
			vm->err[0] = 0;
		}
		break;
	}
	pthread_mutex_unlock(&vm->lock);
	return rc;
}

int roof_vm_alloc_ram(roof_vm *vm, uint64_t gpa, uint64_t size, void **host)
{
	CHECK_VM(vm);
	if (size == 0 || (size & (PAGE - 1)))
		return roof_vm_fail(vm, ROOF_EINVAL,
			"alloc_ram: size 0x%llx must be a non-zero multiple "
			"of 4 KiB", (unsigned long long)size);
	void *mem = mmap(NULL, size, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (mem == MAP_FAILED)
		return roof_vm_fail(vm, ROOF_ENOMEM, "alloc_ram: mmap of %llu "
				    "bytes: %s", (unsigned long long)size,
				    strerror(errno));
	int rc = roof_vm_attach(vm, mem, gpa, size, 0);
	if (rc) {
		munmap(mem, size);
		return rc;
	}
	pthread_mutex_lock(&vm->lock);
	for (unsigned i = 0; i < ROOF_MAX_REGIONS; i++)
		if (vm->regions[i].slot >= 0 && vm->regions[i].host == mem)
			vm->regions[i].owned = true;
	pthread_mutex_unlock(&vm->lock);
	if (host)
		*host = mem;
	return ROOF_OK;
}

void *roof_host_gpa(struct roof_vm *vm, uint64_t gpa, uint64_t len)
{
	for (unsigned i = 0; i < ROOF_MAX_REGIONS; i++) {
		struct roof_mem_region *r = &vm->regions[i];
		if (r->slot < 0 || gpa < r->gpa)
			continue;
		uint64_t off = gpa - r->gpa;
		if (off < r->size && len <= r->size - off)
			return (uint8_t *)r->host + off;
	}
	return NULL;
}

void *roof_vm_host_ptr(roof_vm *vm, uint64_t gpa, uint64_t len)
{
	if (!roof_live_check(vm, ROOF_LIVE_VM))
		return NULL;
	pthread_mutex_lock(&vm->lock);
	void *p = roof_host_gpa(vm, gpa, len);
	pthread_mutex_unlock(&vm->lock);
	return p;
}

int roof_vm_write(roof_vm *vm, uint64_t gpa, const void *src, uint64_t len)
{
	CHECK_VM(vm);
	if (!src && len)
		return roof_vm_fail(vm, ROOF_EINVAL, "write: source is NULL");
	pthread_mutex_lock(&vm->lock);
	void *dst = roof_host_gpa(vm, gpa, len);
	if (dst && !(len == 0))
		memcpy(dst, src, len);
	pthread_mutex_unlock(&vm->lock);
	if (!dst && len)
		return roof_vm_fail(vm, ROOF_ERANGE,
			"write: [0x%llx, +0x%llx) is not inside one attached "
			"range", (unsigned long long)gpa, (unsigned long long)len);
	return ROOF_OK;
}

int roof_vm_load_image(roof_vm *vm, const char *path, uint64_t gpa,
		       uint64_t *size_out)
{
	CHECK_VM(vm);
	if (!path)
		return roof_vm_fail(vm, ROOF_EINVAL, "load_image: path is NULL");
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return roof_vm_fail(vm, errno == ENOENT ? ROOF_ENOENT : ROOF_EIO,
				    "load_image: %s: %s", path, strerror(errno));
	struct stat st;
	int rc = ROOF_OK;
	if (fstat(fd, &st) < 0) {
		rc = roof_vm_fail(vm, ROOF_EIO, "load_image: %s: %s", path,
				  strerror(errno));
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		rc = roof_vm_fail(vm, ROOF_EINVAL,
				  "load_image: %s is not a regular file", path);
		goto out;
	}
	if (st.st_size == 0) {
		rc = roof_vm_fail(vm, ROOF_EINVAL, "load_image: %s is empty",
				  path);
		goto out;
	}
	pthread_mutex_lock(&vm->lock);
	uint8_t *dst = roof_host_gpa(vm, gpa, (uint64_t)st.st_size);
	pthread_mutex_unlock(&vm->lock);
	if (!dst) {
		rc = roof_vm_fail(vm, ROOF_ERANGE,
			"load_image: %s (%lld bytes) does not fit into attached "
			"guest memory at 0x%llx", path, (long long)st.st_size,
			(unsigned long long)gpa);
		goto out;
	}
	for (off_t done = 0; done < st.st_size;) {
		ssize_t n = read(fd, dst + done, (size_t)(st.st_size - done));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			rc = roof_vm_fail(vm, ROOF_EIO, "load_image: read %s: %s",
					  path, n ? strerror(errno)
						  : "file shrank while reading");
			goto out;
		}
		done += n;
	}
	if (size_out)
		*size_out = (uint64_t)st.st_size;
out:
	close(fd);
	return rc;
}

uint64_t roof_vm_state_groups(const roof_vm *vm)
{
	if (!roof_live_check(vm, ROOF_LIVE_VM))
		return 0;
	uint64_t g = vm->ops->supported_groups;
	return g ? g & ROOF_G_EVERYTHING : ROOF_G_EVERYTHING;
}

int roof_vm_set_option(roof_vm *vm, const char *key, const char *value)
{
	CHECK_VM(vm);
	if (!key || !value)
		return roof_vm_fail(vm, ROOF_EINVAL, "set_option: key or value NULL");
	if (vm->nvcpus)
		return roof_vm_fail(vm, ROOF_EBUSY,
			"set_option: set options before creating vCPUs");
	if (vm->ops->set_option)
		return vm->ops->set_option(vm, key, value);
	const char *def = vm->ops->default_policy ? vm->ops->default_policy
						  : "fast";
	if (strcmp(key, "policy") == 0 && strcmp(value, def) == 0)
		return ROOF_OK;
	return roof_vm_fail(vm, ROOF_EINVAL,
		"set_option: kernel %s does not know %s=%s (policy: %s)",
		vm->kernel, key, value, def);
}

/* ---- cpuid and MSR policy ------------------------------------------------- */
int roof_vm_set_cpuid(roof_vm *vm, const struct roof_cpuid_entry *e, size_t n)
{
	CHECK_VM(vm);
	if (n && !e)
		return roof_vm_fail(vm, ROOF_EINVAL, "set_cpuid: entries NULL");
	if (n > ROOF_MAX_CPUID)
		return roof_vm_fail(vm, ROOF_ERANGE,
				    "set_cpuid: %zu entries (limit %d)", n,
				    ROOF_MAX_CPUID);
	for (size_t i = 0; i < n; i++)
		if (e[i].flags & ~ROOF_CPUID_SUBLEAF)
			return roof_vm_fail(vm, ROOF_EINVAL,
				"set_cpuid: entry %zu has unknown flags 0x%x", i,
				e[i].flags);
	pthread_mutex_lock(&vm->lock);
	int rc = ROOF_OK;
	if (vm->nvcpus)
		rc = roof_vm_fail(vm, ROOF_EBUSY,
			"set_cpuid: set the policy before creating vCPUs");
	else {
		if (n)
			memcpy(vm->cpuid, e, n * sizeof *e);
		vm->ncpuid = n;
	}
	pthread_mutex_unlock(&vm->lock);
	return rc;
}

int roof_vm_cpuid_lookup(roof_vm *vm, uint32_t leaf, uint32_t subleaf,
			 struct roof_cpuid_entry *out)
{
	CHECK_VM(vm);
	if (!out)
		return roof_vm_fail(vm, ROOF_EINVAL, "cpuid_lookup: out is NULL");
	for (size_t i = 0; i < vm->ncpuid; i++) {
		const struct roof_cpuid_entry *e = &vm->cpuid[i];
		if (e->leaf == leaf &&
		    (!(e->flags & ROOF_CPUID_SUBLEAF) || e->subleaf == subleaf)) {
			*out = *e;
			return ROOF_OK;
		}
	}
	return roof_vm_fail(vm, ROOF_ENOENT,
			    "cpuid_lookup: leaf 0x%x.%u is not in the policy",
			    leaf, subleaf);
}

int roof_vm_set_msr_exits(roof_vm *vm, const uint32_t *msrs, size_t n)
{
	CHECK_VM(vm);
	if (n && !msrs)
		return roof_vm_fail(vm, ROOF_EINVAL, "set_msr_exits: list NULL");
	if (n > ROOF_MAX_MSR_EXITS)
		return roof_vm_fail(vm, ROOF_ERANGE,
				    "set_msr_exits: %zu MSRs (limit %d)", n,
				    ROOF_MAX_MSR_EXITS);
	pthread_mutex_lock(&vm->lock);
	int rc = ROOF_OK;
	if (vm->nvcpus)
		rc = roof_vm_fail(vm, ROOF_EBUSY,
			"set_msr_exits: set the MSR list before creating vCPUs");
	else {
		if (n)
			memcpy(vm->msr_exits, msrs, n * sizeof *msrs);
		vm->nmsr_exits = n;
	}
	pthread_mutex_unlock(&vm->lock);
	return rc;
}

int roof_vm_set_cpuid_exits(roof_vm *vm, const uint64_t *gva, size_t n)
{
	CHECK_VM(vm);
	if (n && !gva)
		return roof_vm_fail(vm, ROOF_EINVAL, "set_cpuid_exits: list NULL");
	if (n > ROOF_MAX_CPUID_SITES)
		return roof_vm_fail(vm, ROOF_ERANGE,
			"set_cpuid_exits: %zu sites; at most %d (they are "
			"hardware breakpoints)", n, ROOF_MAX_CPUID_SITES);
	pthread_mutex_lock(&vm->lock);
	int rc = ROOF_OK;
	if (vm->nvcpus)
		rc = roof_vm_fail(vm, ROOF_EBUSY,
			"set_cpuid_exits: set the sites before creating vCPUs");
	else {
		if (n)
			memcpy(vm->cpuid_sites, gva, n * sizeof *gva);
		vm->ncpuid_sites = n;
	}
	pthread_mutex_unlock(&vm->lock);
	return rc;
}
