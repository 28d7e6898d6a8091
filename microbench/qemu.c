/*
 * qemu.c - --vs-qemu: the io-out guest under QEMU and under oneroof.
 *
 * The guest is the same 64 KiB ROM: QEMU boots it with -bios (its reset
 * vector jumps to the loop), oneroof maps it where QEMU does. Each side
 * runs the loop N_LOW and N_HIGH times, whole runs timed by the wall clock
 * (QEMU: fork to exit; oneroof: VM open to the guest's done port to close;
 * the bare KVM_RUN loop of kvm_raw.c likewise, for context); the per-exit
 * cost is the slope (t_high - t_low) / (n_high - n_low), so start-up and
 * tear-down cancel. Medians over REPS interleaved repetitions.
 * QEMU gets no network, no display, no serial: -nodefaults, and
 * isa-debug-exit at the guest's done port ends it with status 0x43.
 */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench.h"

#define REPS 7
#define QEMU_STATUS ((GUEST_DONE_CODE << 1) | 1)

static int find_qemu(char *path, size_t len)
{
	const char *env = getenv("ROOF_QEMU");
	if (env && *env) {
		snprintf(path, len, "%s", env);
		return access(path, X_OK) == 0 ? 0 : -1;
	}
	const char *p = getenv("PATH");
	char dirs[4096];
	snprintf(dirs, sizeof dirs, "%s", p && *p ? p : "/usr/bin:/bin");
	for (char *save, *d = strtok_r(dirs, ":", &save); d;
	     d = strtok_r(NULL, ":", &save)) {
		snprintf(path, len, "%s/qemu-system-x86_64", d);
		if (access(path, X_OK) == 0)
			return 0;
	}
	snprintf(path, len, "qemu-system-x86_64");
	return -1;
}

static int write_rom(const void *rom, uint32_t iterations, char *path,
		     size_t len)
{
	const char *tmp = getenv("TMPDIR");
	snprintf(path, len, "%s/roof-bench-rom-XXXXXX", tmp && *tmp ? tmp : "/tmp");
	int fd = mkstemp(path);
	if (fd < 0) {
		note("--vs-qemu: cannot create %s: %s", path, strerror(errno));
		return -1;
	}
	uint8_t *copy = malloc(GUEST_ROM_SIZE);
	if (!copy) {
		close(fd);
		unlink(path);
		return -1;
	}
	memcpy(copy, rom, GUEST_ROM_SIZE);
	guest_rom_patch(copy, iterations, 0);
	ssize_t put = write(fd, copy, GUEST_ROM_SIZE);
	free(copy);
	if (close(fd) != 0 || put != (ssize_t)GUEST_ROM_SIZE) {
		note("--vs-qemu: writing %s failed", path);
		unlink(path);
		return -1;
	}
	return 0;
}

/* One QEMU run of the ROM; wall time in ns, or a negative value. */
static double qemu_once(const char *qemu, const char *rom)
{
	char log[] = "/tmp/roof-bench-qemu-XXXXXX";
	int logfd = mkstemp(log);
	if (logfd < 0) {
		note("--vs-qemu: cannot create a log file: %s", strerror(errno));
		return -1;
	}
	uint64_t t0 = now_ns();
	pid_t pid = fork();
	if (pid == 0) {
		int null = open("/dev/null", O_RDWR);
		dup2(null, 0);
		dup2(logfd, 1);
		dup2(logfd, 2);
		char bios[600];
		snprintf(bios, sizeof bios, "%s", rom);
		char *argv[] = {
			(char *)qemu, "-accel", "kvm", "-machine", "pc",
			"-nodefaults", "-display", "none",
			"-monitor", "none", "-serial", "none", "-parallel", "none",
			"-net", "none", "-no-reboot", "-m", "16", "-bios", bios,
			"-device", "isa-debug-exit,iobase=0xf4,iosize=0x04",
			NULL};
		execv(qemu, argv);
		_exit(127);
	}
	int status = 0;
	if (pid > 0)
		waitpid(pid, &status, 0);
	uint64_t t1 = now_ns();
	bool ok = pid > 0 && WIFEXITED(status) &&
		  WEXITSTATUS(status) == QEMU_STATUS;
	if (!ok) {
		char buf[600] = "";
		lseek(logfd, 0, SEEK_SET);
		ssize_t n = read(logfd, buf, sizeof buf - 1);
		buf[n > 0 ? n : 0] = 0;
		note("--vs-qemu: %s did not end through isa-debug-exit "
		     "(status %d, want exit %d): %s", qemu,
		     WIFEXITED(status) ? WEXITSTATUS(status) : -1, QEMU_STATUS,
		     buf[0] ? buf : "(no output)");
	}
	close(logfd);
	unlink(log);
	return ok ? (double)(t1 - t0) : -1;
}

/* One oneroof run (fast policy) of the same loop. */
static double ours_once(const struct bench_opts *o, uint32_t iterations)
{
	struct arm a;
	memset(&a, 0, sizeof a);
	char why[128];
	arm_config(&a, "kvm", P_FAST, why, sizeof why);
	a.exit = E_IO_OUT;
	a.iterations = iterations;
	uint64_t t0 = now_ns();
	int rc = arm_setup(&a, o);
	if (!rc)
		rc = arm_run_to_done(&a);
	arm_teardown(&a);
	uint64_t t1 = now_ns();
	arm_free_samples(&a);
	if (rc) {
		note("--vs-qemu: oneroof run failed: %s", a.why);
		return -1;
	}
	return (double)(t1 - t0);
}

/* The same loop on the bare KVM_RUN loop (kernels/kvm/kvm_raw.c): where
 * any VMM's slope on this substrate starts. */
static double bare_once(const void *rom, uint32_t iterations)
{
	uint8_t *copy = aligned_alloc(4096, GUEST_ROM_SIZE);
	if (!copy)
		return -1;
	memcpy(copy, rom, GUEST_ROM_SIZE);
	guest_rom_patch(copy, iterations, 0);
	struct roof_raw_config cfg = {
		.style = ROOF_RAW_BARE, .rom = copy, .rom_size = GUEST_ROM_SIZE,
		.ram_size = GUEST_RAM_SIZE, .nvcpus = 1,
		.stop_port = GUEST_DONE_PORT};
	char err[256];
	struct roof_raw *r;
	bool stopped = false;
	uint64_t t0 = now_ns();
	int rc = roof_raw_open(&r, &cfg, err, sizeof err);
	if (rc == ROOF_OK) {
		rc = roof_raw_run(r, 0, UINT64_MAX, NULL, NULL, &stopped);
		if (rc)
			snprintf(err, sizeof err, "%s", roof_raw_error(r));
		roof_raw_close(r);
	}
	uint64_t t1 = now_ns();
	free(copy);
	if (rc || !stopped) {
		note("--vs-qemu: bare run failed: %s", rc ? err : "no done port");
		return -1;
	}
	return (double)(t1 - t0);
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

static double median(double *v, size_t n)
{
	qsort(v, n, sizeof *v, cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

int vs_qemu(const struct bench_opts *o, struct qemu_result *out)
{
	char qemu[512];
	if (find_qemu(qemu, sizeof qemu) != 0) {
		note("--vs-qemu: %s not found or not executable (Debian "
		     "package qemu-system-x86, installed by .ci/deps.sh; or "
		     "set ROOF_QEMU)", qemu);
		return -1;
	}
	char err[256];
	void *rom = guest_rom_load("io-out", err, sizeof err);
	if (!rom) {
		note("--vs-qemu: %s", err);
		return -1;
	}
	uint32_t n_high = o->iters * 4 < 20000 ? 20000 : o->iters * 4;
	uint32_t n_low = n_high / 20;
	uint32_t counts[2] = {n_low, n_high};
	char path[2][600];
	int rc = -1;
	bool have[2] = {false, false};
	for (int k = 0; k < 2; k++) {
		if (write_rom(rom, counts[k], path[k], sizeof path[k]))
			goto out;
		have[k] = true;
	}
	double tq[2][REPS], to[2][REPS], tb[2][REPS];
	for (int r = 0; r < REPS; r++) {
		progress("--vs-qemu: repetition %d/%d (%u and %u exits, qemu "
			 "and oneroof)", r + 1, REPS, n_low, n_high);
		for (int i = 0; i < 2; i++) {
			int k = (r + i) % 2; /* alternate which count runs first */
			tq[k][r] = qemu_once(qemu, path[k]);
			to[k][r] = ours_once(o, counts[k]);
			tb[k][r] = bare_once(rom, counts[k]);
			if (tq[k][r] < 0 || to[k][r] < 0 || tb[k][r] < 0)
				goto out;
		}
	}
	double d = (double)(n_high - n_low);
	out->qemu_ns = (median(tq[1], REPS) - median(tq[0], REPS)) / d;
	out->ours_ns = (median(to[1], REPS) - median(to[0], REPS)) / d;
	out->bare_ns = (median(tb[1], REPS) - median(tb[0], REPS)) / d;
	out->n_low = n_low;
	out->n_high = n_high;
	out->reps = REPS;
	out->ratio = out->ours_ns > 0 ? out->qemu_ns / out->ours_ns : NAN;
	rc = 0;
out:
	for (int k = 0; k < 2; k++)
		if (have[k])
			unlink(path[k]);
	free(rom);
	return rc;
}

void output_qemu(FILE *f, enum format fmt, const struct qemu_result *q)
{
	switch (fmt) {
	case F_TABLE:
		fprintf(f, "%-7s %12s %12s %10s\n", "exit", "ours (ns)",
			"qemu (ns)", "qemu/ours");
		fprintf(f, "%-7s %12.0f %12.0f %10.3f\n", "io-out", q->ours_ns,
			q->qemu_ns, q->ratio);
		fprintf(f, "(per exit, by slope over %u and %u exits, medians of "
			   "%u runs; QEMU -accel kvm vs oneroof fast;\n the bare "
			   "KVM_RUN loop by the same method: %.0f ns, qemu/bare "
			   "%.3f)\n", q->n_low, q->n_high, q->reps, q->bare_ns,
			q->qemu_ns / q->bare_ns);
		break;
	case F_CSV:
		fprintf(f, "exit,ours_ns,qemu_ns,ratio\nio-out,%.1f,%.1f,%.4f\n",
			q->ours_ns, q->qemu_ns, q->ratio);
		break;
	case F_JSON:
		fprintf(f, "{\"exit\": \"io-out\", \"ours_ns\": %.1f, "
			   "\"qemu_ns\": %.1f, \"ratio\": %.4f}\n",
			q->ours_ns, q->qemu_ns, q->ratio);
		break;
	}
}
