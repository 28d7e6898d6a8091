/*
 * test_bench_cli.c - smoke test of build/roof-bench: option parsing, error
 * messages that list the valid values, and the record format (CSV header,
 * JSON keys) of a tiny run. The bench itself is not a test: nothing here
 * judges a latency.
 */
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/select.h>
#include <sys/wait.h>
#include <unistd.h>

#include "roof_test.h"

#define BENCH ROOF_GUEST_DIR "/../roof-bench"
#define OUT_MAX (256 * 1024)

static const char *const keys[] = {
	"kernel", "exit", "policy", "iters", "p50_ns", "p90_ns", "p99_ns",
	"max_ns", "handler_p50_ns", "handler_p99_ns", "crossings_per_exit",
	"bytes_per_exit", "hops_per_exit", "ratio_to_bare",
};
#define NKEYS (sizeof keys / sizeof keys[0])

struct result {
	int status; /* exit status, or 128 + signal */
	char out[OUT_MAX], err[OUT_MAX];
};

static void slurp(int fd, char *buf, size_t cap, size_t *len)
{
	ssize_t n = read(fd, buf + *len, cap - 1 - *len);
	if (n > 0)
		*len += (size_t)n;
	buf[*len] = 0;
}

/* Run roof-bench with args (NULL-terminated); capture both streams. */
static void run(struct result *r, const char *const *args)
{
	if (access(BENCH, X_OK) != 0)
		fail_msg("%s is missing: make builds it with the tests", BENCH);
	int out[2], err[2];
	assert_int_equal(pipe(out), 0);
	assert_int_equal(pipe(err), 0);
	fflush(NULL);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		dup2(out[1], 1);
		dup2(err[1], 2);
		close(out[0]);
		close(err[0]);
		const char *argv[32] = {BENCH};
		for (size_t i = 0; args[i] && i < 30; i++)
			argv[i + 1] = args[i];
		execv(BENCH, (char *const *)argv);
		_exit(127);
	}
	close(out[1]);
	close(err[1]);
	size_t no = 0, ne = 0;
	r->out[0] = r->err[0] = 0;
	/* poll both pipes until both close */
	int open_fds = 2;
	while (open_fds) {
		fd_set set;
		FD_ZERO(&set);
		if (out[0] >= 0)
			FD_SET(out[0], &set);
		if (err[0] >= 0)
			FD_SET(err[0], &set);
		int maxfd = out[0] > err[0] ? out[0] : err[0];
		if (select(maxfd + 1, &set, NULL, NULL, NULL) < 0)
			break;
		for (int k = 0; k < 2; k++) {
			int *fd = k ? &err[0] : &out[0];
			if (*fd < 0 || !FD_ISSET(*fd, &set))
				continue;
			char *buf = k ? r->err : r->out;
			size_t *len = k ? &ne : &no;
			size_t before = *len;
			if (*len + 1 < OUT_MAX)
				slurp(*fd, buf, OUT_MAX, len);
			if (*len == before) { /* EOF (or full) */
				char sink[4096];
				if (*len + 1 >= OUT_MAX &&
				    read(*fd, sink, sizeof sink) > 0)
					continue;
				close(*fd);
				*fd = -1;
				open_fds--;
			}
		}
	}
	int status = 0;
	waitpid(pid, &status, 0);
	r->status = WIFEXITED(status) ? WEXITSTATUS(status)
				      : 128 + WTERMSIG(status);
}

static struct result *result_new(void)
{
	struct result *r = calloc(1, sizeof *r);
	assert_non_null(r);
	return r;
}

/* ---- option parsing ---------------------------------------------------------- */
static void test_help_lists_everything(void **state)
{
	(void)state;
	struct result *r = result_new();
	run(r, (const char *[]){"--help", NULL});
	assert_int_equal(r->status, 0);
	static const char *const words[] = {
		"io-out", "io-in", "mmio-read", "mmio-write", "hlt", "msr-read",
		"msr-write", "cpuid", "cpuid-user", "pause", "io-out-2vcpu",
		"bare", "fast", "full", "entrypoint", "naive", "genode", "tuned",
		"--vs-qemu", "--format", "--iters", "--kernel", "--exit",
		"--policy", "ratio_to_bare", "hops_per_exit"};
	for (size_t i = 0; i < sizeof words / sizeof words[0]; i++)
		if (!strstr(r->out, words[i]))
			fail_msg("--help does not mention %s", words[i]);
	free(r);
}

static void expect_refused(const char *const *args, const char *const *must)
{
	struct result *r = result_new();
	run(r, args);
	if (r->status != 1)
		fail_msg("%s %s: status %d, want 1 (stderr: %s)", args[0],
			 args[1] ? args[1] : "", r->status, r->err);
	assert_string_equal(r->out, ""); /* nothing measured, nothing printed */
	for (size_t i = 0; must[i]; i++)
		if (!strstr(r->err, must[i]))
			fail_msg("error for '%s %s' lacks '%s': %s", args[0],
				 args[1] ? args[1] : "", must[i], r->err);
	free(r);
}

static void test_unknown_values_list_valid_ones(void **state)
{
	(void)state;
	expect_refused((const char *[]){"--kernel", "l4linux", NULL},
		       (const char *[]){"unknown kernel 'l4linux'", "kvm", NULL});
	expect_refused((const char *[]){"--exit", "io-out,rdtsc", NULL},
		       (const char *[]){"unknown exit 'rdtsc'", "mmio-read",
					"io-out-2vcpu", NULL});
	expect_refused((const char *[]){"--policy", "fastest", NULL},
		       (const char *[]){"unknown policy 'fastest'", "bare",
					"entrypoint", "tuned", NULL});
	expect_refused((const char *[]){"--format", "xml", NULL},
		       (const char *[]){"unknown format 'xml'", "json", NULL});
	expect_refused((const char *[]){"--frobnicate", NULL},
		       (const char *[]){"unknown option '--frobnicate'", NULL});
}

static void test_bad_numbers_refused(void **state)
{
	(void)state;
	static const char *const bad[] = {"0", "-5", "abc", "12x", "",
					  "99999999999"};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
		expect_refused((const char *[]){"--iters", bad[i], NULL},
			       (const char *[]){"--iters must be a number", NULL});
	expect_refused((const char *[]){"--iters", NULL},
		       (const char *[]){"--iters needs a value", NULL});
}

/* ---- records ------------------------------------------------------------------- */
/* A JSON value at p: a number, null or a string; returns the end. */
static const char *json_value(const char *p, bool *is_null)
{
	*is_null = strncmp(p, "null", 4) == 0;
	if (*is_null)
		return p + 4;
	if (*p == '"') {
		const char *e = strchr(p + 1, '"');
		return e ? e + 1 : NULL;
	}
	char *end;
	strtod(p, &end);
	return end == p ? NULL : end;
}

/* Check one record line: exactly the keys, in order; returns the count of
 * null values among the numbers. */
static unsigned check_record(const char *line, const char *want_policy)
{
	const char *p = strchr(line, '{');
	assert_non_null(p);
	p++;
	unsigned nulls = 0;
	for (size_t k = 0; k < NKEYS; k++) {
		char key[64];
		snprintf(key, sizeof key, "\"%s\": ", keys[k]);
		while (*p == ' ' || *p == ',')
			p++;
		if (strncmp(p, key, strlen(key)) != 0)
			fail_msg("record key %zu is not %s: %.80s", k, keys[k], p);
		p += strlen(key);
		if (k == 2 && strncmp(p + 1, want_policy, strlen(want_policy)))
			fail_msg("policy is not %s: %.40s", want_policy, p);
		bool is_null;
		const char *end = json_value(p, &is_null);
		if (!end)
			fail_msg("value of %s is not JSON: %.40s", keys[k], p);
		nulls += is_null;
		p = end;
	}
	while (*p == ' ')
		p++;
	if (*p != '}')
		fail_msg("record has more than the %zu keys: %.80s", NKEYS, p);
	return nulls;
}

static void test_json_records(void **state)
{
	(void)state;
	ROOF_NEED_KVM();
	struct result *r = result_new();
	run(r, (const char *[]){"--kernel", "kvm", "--exit", "io-out",
				"--policy", "naive,fast", "--iters", "200",
				"--chunk", "50", "--format", "json", NULL});
	if (r->status != 0)
		fail_msg("status %d: %s", r->status, r->err);
	assert_true(r->out[0] == '[');
	/* policies come in --help order: fast before naive; the hidden bare
	 * reference gives both a ratio */
	const char *fast = strstr(r->out, "\"policy\": \"fast\"");
	const char *naive = strstr(r->out, "\"policy\": \"naive\"");
	assert_non_null(fast);
	assert_non_null(naive);
	assert_true(fast < naive);
	assert_null(strstr(r->out, "\"policy\": \"bare\""));
	char *line = r->out;
	unsigned records = 0;
	while ((line = strchr(line, '{')) != NULL) {
		char *eol = strchr(line, '\n');
		assert_non_null(eol);
		*eol = 0;
		assert_int_equal(check_record(line, records ? "naive" : "fast"), 0);
		assert_non_null(strstr(line, "\"iters\": 200,"));
		records++;
		line = eol + 1;
	}
	assert_int_equal(records, 2);
	assert_non_null(strstr(r->err, "goal kvm io-out naive/fast p50"));
	free(r);
}

static void test_csv_header_and_tuned_on_kvm(void **state)
{
	(void)state;
	ROOF_NEED_KVM();
	struct result *r = result_new();
	run(r, (const char *[]){"--kernel", "kvm", "--exit", "cpuid-user",
				"--policy", "tuned", "--iters", "100", "--chunk",
				"50", "--format", "csv", "--no-reference", NULL});
	if (r->status != 0)
		fail_msg("status %d: %s", r->status, r->err);
	char header[512] = "";
	for (size_t k = 0; k < NKEYS; k++) {
		strcat(header, keys[k]);
		strcat(header, k + 1 < NKEYS ? "," : "\n");
	}
	assert_memory_equal(r->out, header, strlen(header));
	const char *row = r->out + strlen(header);
	assert_memory_equal(row, "kvm,cpuid-user,tuned,100,", 25);
	/* no reference: the ratio column is empty */
	const char *eol = strchr(row, '\n');
	assert_non_null(eol);
	assert_true(eol[-1] == ',');
	free(r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_help_lists_everything),
		cmocka_unit_test(test_unknown_values_list_valid_ones),
		cmocka_unit_test(test_bad_numbers_refused),
		cmocka_unit_test(test_json_records),
		cmocka_unit_test(test_csv_header_and_tuned_on_kvm),
	};
	return cmocka_run_group_tests_name("bench_cli", tests, NULL, NULL);
}
