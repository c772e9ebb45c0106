/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <locale.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "util.h"
#include "test-helpers.h"

static void test_grow_array(void **state)
{
	uint32_t *a = NULL;
	size_t cap = 0;

	(void)state;
	/* nothing needed: no allocation */
	assert_true(grow_array((void **)&a, &cap, sizeof(*a), 0));
	assert_null(a);
	assert_int_equal(cap, 0);
	/* the first growth allocates at least 16 */
	assert_true(grow_array((void **)&a, &cap, sizeof(*a), 1));
	assert_non_null(a);
	assert_int_equal(cap, 16);
	/* appends keep what was there; capacity doubles */
	for (uint32_t i = 0; i < 1000; i++) {
		assert_true(grow_array((void **)&a, &cap, sizeof(*a), i + 1));
		a[i] = i * 7;
	}
	assert_int_equal(cap, 1024);
	for (uint32_t i = 0; i < 1000; i++) {
		assert_int_equal(a[i], i * 7);
	}
	/* an overflowing need fails and leaves the array alone */
	assert_false(grow_array((void **)&a, &cap, sizeof(*a), SIZE_MAX / 2 + 2));
	assert_false(grow_array((void **)&a, &cap, sizeof(*a), SIZE_MAX / sizeof(*a) + 1));
	assert_int_equal(cap, 1024);
	assert_int_equal(a[999], 999 * 7);
	free(a);
}

static void test_safe_atou(void **state)
{
	unsigned u = 7;

	assert_int_equal(safe_atou("0", &u), 0);
	assert_int_equal(u, 0);
	assert_int_equal(safe_atou("42", &u), 0);
	assert_int_equal(u, 42);
	assert_int_equal(safe_atou("007", &u), 0);
	assert_int_equal(u, 7);
	assert_int_equal(safe_atou("4294967295", &u), 0);
	assert_int_equal(u, UINT_MAX);

	u = 5;
	assert_int_equal(safe_atou("4294967296", &u), -ERANGE);
	assert_int_equal(safe_atou("99999999999999999999999", &u), -ERANGE);
	assert_int_equal(safe_atou("", &u), -EINVAL);
	assert_int_equal(safe_atou(" 1", &u), -EINVAL);
	assert_int_equal(safe_atou("1 ", &u), -EINVAL);
	assert_int_equal(safe_atou("+1", &u), -EINVAL);
	assert_int_equal(safe_atou("-1", &u), -EINVAL);
	assert_int_equal(safe_atou("0x10", &u), -EINVAL);
	assert_int_equal(safe_atou("1a", &u), -EINVAL);
	assert_int_equal(safe_atou("1.0", &u), -EINVAL);
	assert_int_equal(safe_atou(NULL, &u), -EINVAL);
	/* Failures leave the output alone. */
	assert_int_equal(u, 5);
}

static void test_safe_atou64(void **state)
{
	uint64_t v = 0;

	assert_int_equal(safe_atou64("18446744073709551615", &v), 0);
	assert_true(v == UINT64_MAX);
	assert_int_equal(safe_atou64("18446744073709551616", &v), -ERANGE);
	assert_int_equal(safe_atou64("-0", &v), -EINVAL);
	assert_int_equal(safe_atou64("", &v), -EINVAL);
	assert_int_equal(safe_atou64("12", &v), 0);
	assert_int_equal(v, 12);
}

static void test_safe_atod(void **state)
{
	double d = 0;

	assert_int_equal(safe_atod("1.5", &d), 0);
	assert_true(d == 1.5);
	assert_int_equal(safe_atod("0", &d), 0);
	assert_true(d == 0.0);
	assert_int_equal(safe_atod("-2", &d), 0);
	assert_true(d == -2.0);
	assert_int_equal(safe_atod("1e2", &d), 0);
	assert_true(d == 100.0);
	assert_int_equal(safe_atod(".25", &d), 0);
	assert_true(d == 0.25);

	assert_int_equal(safe_atod("", &d), -EINVAL);
	assert_int_equal(safe_atod(" 1", &d), -EINVAL);
	assert_int_equal(safe_atod("1 ", &d), -EINVAL);
	assert_int_equal(safe_atod("nan", &d), -EINVAL);
	assert_int_equal(safe_atod("inf", &d), -EINVAL);
	assert_int_equal(safe_atod("0x1p3", &d), -EINVAL);
	assert_int_equal(safe_atod("1,5", &d), -EINVAL);
	assert_int_equal(safe_atod("1.5.", &d), -EINVAL);
	assert_int_equal(safe_atod("e", &d), -EINVAL);
	assert_int_equal(safe_atod("1e999", &d), -ERANGE);
	assert_int_equal(safe_atod(NULL, &d), -EINVAL);
}

static void test_safe_atod_locale(void **state)
{
	double d = 0;

	/* Only where such a locale is installed; the C-locale result is
	 * checked above either way. */
	if (!setlocale(LC_NUMERIC, "de_DE.UTF-8") && !setlocale(LC_NUMERIC, "fr_FR.UTF-8")) {
		skip();
	}
	assert_int_equal(safe_atod("1.5", &d), 0);
	assert_true(d == 1.5);
	assert_int_equal(safe_atod("1,5", &d), -EINVAL);
	(void)setlocale(LC_NUMERIC, "C");
}

static void test_strings(void **state)
{
	_cleanup_(freep) char *a = strjoin("a", "bc", "", "d");
	_cleanup_(freep) char *b = strjoin("only");
	_cleanup_(freep) char *c = strdup_or_null("x");
	char *l[] = { (char *)"a", (char *)"b", NULL };

	assert_string_equal(a, "abcd");
	assert_string_equal(b, "only");
	assert_string_equal(c, "x");
	assert_null(strdup_or_null(NULL));
	assert_int_equal(strv_length(l), 2);
	assert_int_equal(strv_length(NULL), 0);
	assert_true(streq_ptr(NULL, NULL));
	assert_false(streq_ptr("a", NULL));
	assert_true(isempty(""));
	assert_true(isempty(NULL));
	assert_string_equal(strempty(NULL), "");
}

/* Words joined with '|' for a readable comparison; "ERR<n>" on failure. */
static void check_split(const char *input, const char *expected)
{
	_cleanup_(strv_freep) char **words = NULL;
	char buf[256] = "";
	int r;

	r = split_words(input, &words);
	if (r < 0) {
		(void)snprintf(buf, sizeof(buf), "ERR%d", -r);
	} else {
		for (char **w = words; *w; w++) {
			size_t n = strlen(buf);

			(void)snprintf(buf + n, sizeof(buf) - n, "%s%s", w == words ? "" : "|", *w);
		}
	}
	assert_string_equal(buf, expected);
}

static void test_split_words(void **state)
{
	_cleanup_(strv_freep) char **empty = NULL;

	assert_int_equal(split_words("", &empty), 0);
	assert_non_null(empty);
	assert_null(empty[0]);

	check_split("   ", "");
	check_split("/bin/foo --quiet", "/bin/foo|--quiet");
	check_split("  a  b\tc  ", "a|b|c");
	check_split("'a b' \"c d\"", "a b|c d");
	check_split("a\"b c\"d", "ab cd");
	check_split("x \"\" y", "x||y");
	check_split("''", "");
	check_split("a\\ b", "a b");
	check_split("a\\nb", "a\nb");
	check_split("a\\tb", "a\tb");
	check_split("\\x41\\x62", "Ab");
	check_split("\\101", "A");
	check_split("\\s", " ");
	check_split("\"a\\\"b\"", "a\"b");
	check_split("'it\\'s'", "it's");
	check_split("\"a'b\"", "a'b");
	check_split("back\\\\slash", "back\\slash");
	check_split("--opt=\"x y\"", "--opt=x y");

	check_split("'unbalanced", "ERR22");
	check_split("\"x", "ERR22");
	check_split("a 'b\" c", "ERR22");
	check_split("trailing\\", "ERR22");
	check_split("\\q", "ERR22");
	check_split("\\x00", "ERR22");
	check_split("\\000", "ERR22");
	check_split("\\x4", "ERR22");
	check_split("\\x4g", "ERR22");
	check_split("\\19", "ERR22");
}

static void test_uuid(void **state)
{
	static const uint8_t expected[16] = { 0x3c, 0x90, 0xc3, 0xcc, 0x0d, 0x44, 0x4b, 0x50,
					      0x88, 0x88, 0x8d, 0xd2, 0x57, 0x36, 0x05, 0x2a };
	uint8_t id[16];
	char buf[UUID_STRING_MAX];

	assert_int_equal(uuid_from_string("3c90c3cc-0d44-4b50-8888-8dd25736052a", id), 0);
	assert_memory_equal(id, expected, 16);
	assert_int_equal(uuid_from_string("3C90C3CC-0D44-4B50-8888-8DD25736052A", id), 0);
	assert_memory_equal(id, expected, 16);
	assert_string_equal(uuid_to_string(id, buf), "3c90c3cc-0d44-4b50-8888-8dd25736052a");

	assert_int_equal(uuid_from_string("", id), -EINVAL);
	assert_int_equal(uuid_from_string(NULL, id), -EINVAL);
	assert_int_equal(uuid_from_string("3c90c3cc0d444b5088888dd25736052a", id), -EINVAL);
	assert_int_equal(uuid_from_string("3c90c3cc-0d44-4b50-8888-8dd25736052", id), -EINVAL);
	assert_int_equal(uuid_from_string("3c90c3cc-0d44-4b50-8888-8dd25736052aa", id), -EINVAL);
	assert_int_equal(uuid_from_string("3c90c3cc-0d44-4b50-8888-8dd25736052g", id), -EINVAL);
	assert_int_equal(uuid_from_string("3c90c3c-c0d44-4b50-8888-8dd25736052a", id), -EINVAL);
	assert_int_equal(uuid_from_string("{3c90c3cc-0d44-4b50-8888-8dd25736052}", id), -EINVAL);
	assert_int_equal(uuid_from_string(" 3c90c3cc-0d44-4b50-8888-8dd2573605a", id), -EINVAL);
}

static void test_read_file_capped(void **state)
{
	_cleanup_(freep) char *file = test_tmp_path("file"), *link = test_tmp_path("link"),
			      *fifo = test_tmp_path("fifo"), *empty = test_tmp_path("empty");
	_cleanup_(closep) int dirfd = -1;
	char *buf = NULL;
	size_t len = 99;

	assert_int_equal(test_write_file_at(AT_FDCWD, file, "hello\n", 6), 0);
	assert_int_equal(test_write_file_at(AT_FDCWD, empty, "", 0), 0);
	assert_int_equal(symlink(file, link), 0);
	assert_int_equal(mkfifo(fifo, 0600), 0);

	assert_int_equal(read_file_capped(AT_FDCWD, file, 100, true, &buf, &len), 0);
	assert_int_equal(len, 6);
	assert_string_equal(buf, "hello\n");
	free(buf);

	/* Exactly max bytes is fine, one more is not. */
	assert_int_equal(read_file_capped(AT_FDCWD, file, 6, false, &buf, &len), 0);
	free(buf);
	buf = NULL;
	assert_int_equal(read_file_capped(AT_FDCWD, file, 5, false, &buf, &len), -EFBIG);
	assert_null(buf);

	assert_int_equal(read_file_capped(AT_FDCWD, empty, 10, false, &buf, &len), 0);
	assert_int_equal(len, 0);
	assert_string_equal(buf, "");
	free(buf);

	/* Relative to a directory fd. */
	dirfd = open(test_tmpdir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	assert_true(dirfd >= 0);
	assert_int_equal(read_file_capped(dirfd, "file", 100, true, &buf, NULL), 0);
	assert_string_equal(buf, "hello\n");
	free(buf);

	assert_int_equal(read_file_capped(dirfd, "link", 100, true, &buf, &len), -ELOOP);
	assert_int_equal(read_file_capped(dirfd, "link", 100, false, &buf, &len), 0);
	assert_string_equal(buf, "hello\n");
	free(buf);

	/* Would block forever without O_NONBLOCK: there is no writer. */
	alarm(10);
	assert_int_equal(read_file_capped(dirfd, "fifo", 100, true, &buf, &len), -EBADFD);
	alarm(0);
	assert_int_equal(read_file_capped(AT_FDCWD, test_tmpdir, 100, true, &buf, &len), -EBADFD);
	assert_int_equal(read_file_capped(dirfd, "missing", 100, true, &buf, &len), -ENOENT);
}

static void test_fsync_directory_of(void **state)
{
	_cleanup_(freep) char *file = test_tmp_path("sync");

	assert_int_equal(test_write_file_at(AT_FDCWD, file, "x", 1), 0);
	assert_int_equal(fsync_directory_of(file), 0);
	assert_int_equal(fsync_directory_of("relative-name"), 0);
	assert_int_equal(fsync_directory_of("/etc"), 0);
	assert_int_equal(fsync_directory_of("/nonexistent-dir-jobwatch/x"), -ENOENT);
	assert_int_equal(fsync_directory_of(""), -EINVAL);
}

static bool has_cloexec(int fd)
{
	int flags = fcntl(fd, F_GETFD);
	assert_true(flags >= 0);
	return flags & FD_CLOEXEC;
}

/* fds without close-on-exec (as libcurl's socketpair, or one inherited) get
 * it; fds below first are left alone. */
static void check_cloexec_from(int (*fn)(int first))
{
	int p[2], q[2];
	int in_flags = fcntl(0, F_GETFD);

	assert_int_equal(pipe(p), 0);
	assert_int_equal(pipe(q), 0);
	assert_false(has_cloexec(p[0]));
	assert_false(has_cloexec(q[1]));
	/* first above p's fds: q only */
	assert_int_equal(fn(MAX(p[0], p[1]) + 1), 0);
	assert_true(has_cloexec(q[0]));
	assert_true(has_cloexec(q[1]));
	assert_false(has_cloexec(p[0]));
	assert_false(has_cloexec(p[1]));
	assert_int_equal(fn(3), 0);
	assert_true(has_cloexec(p[0]));
	assert_true(has_cloexec(p[1]));
	assert_true(has_cloexec(q[0]));
	assert_true(has_cloexec(q[1]));
	assert_int_equal(fcntl(0, F_GETFD), in_flags);
	for (int i = 0; i < 2; i++) {
		close(p[i]);
		close(q[i]);
	}
}

static void test_fd_cloexec_from(void **state)
{
	check_cloexec_from(fd_cloexec_from);
	check_cloexec_from(fd_cloexec_from_proc);
}

static void test_clocks(void **state)
{
	usec_t a = now_monotonic_usec(), b = now_monotonic_usec();

	assert_true(a > 0);
	assert_true(b >= a);
	/* After 2020-01-01. */
	assert_true(now_realtime_usec() > 1577836800ULL * USEC_PER_SEC);
}

static void test_erase_and_free(void **state)
{
	_cleanup_(erase_and_freep) char *secret = strdup("sekrit");

	assert_non_null(secret);
	erase_and_free(NULL);
}

static void test_name_is_valid(void **state)
{
	char long_name[66];

	assert_true(name_is_valid("a"));
	assert_true(name_is_valid("support-bot"));
	assert_true(name_is_valid("A_b.c-9"));
	assert_true(name_is_valid("..."));
	memset(long_name, 'x', 64);
	long_name[64] = '\0';
	assert_true(name_is_valid(long_name));
	long_name[64] = 'x';
	long_name[65] = '\0';
	assert_false(name_is_valid(long_name));

	assert_false(name_is_valid(""));
	assert_false(name_is_valid(NULL));
	assert_false(name_is_valid("a b"));
	assert_false(name_is_valid("a/b"));
	assert_false(name_is_valid("caf\xc3\xa9"));
	assert_false(name_is_valid("a:b"));
	assert_false(name_is_valid("."));
	assert_false(name_is_valid(".."));
}

static void test_url_host_is_loopback(void **state)
{
	assert_true(url_host_is_loopback("http://localhost"));
	assert_true(url_host_is_loopback("http://LOCALHOST:8080/v1"));
	assert_true(url_host_is_loopback("HTTP://localhost/"));
	assert_true(url_host_is_loopback("http://127.0.0.1/v1"));
	assert_true(url_host_is_loopback("http://127.1.2.3:80"));
	assert_true(url_host_is_loopback("https://[::1]:443/x"));
	assert_true(url_host_is_loopback("http://[::1]"));
	assert_true(url_host_is_loopback("http://user:pw@localhost/"));
	assert_true(url_host_is_loopback("http://localhost?x"));
	/* The last '@' ends the user part, as in curl. */
	assert_true(url_host_is_loopback("http://user@evil.example@localhost/"));

	assert_false(url_host_is_loopback("http://localhost.example.com"));
	assert_false(url_host_is_loopback("http://127.0.0.1.evil.example/"));
	assert_false(url_host_is_loopback("http://10.0.0.1"));
	assert_false(url_host_is_loopback("http://128.0.0.1"));
	assert_false(url_host_is_loopback("http://[::2]"));
	assert_false(url_host_is_loopback("http://[::1"));
	assert_false(url_host_is_loopback("http://::1/"));
	assert_false(url_host_is_loopback("ftp://localhost"));
	assert_false(url_host_is_loopback("localhost"));
	assert_false(url_host_is_loopback("http://"));
	assert_false(url_host_is_loopback("http://localhost@evil.example/"));
	assert_false(url_host_is_loopback("http://evil.example/?x=@localhost"));
	assert_false(url_host_is_loopback(NULL));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_grow_array),
		cmocka_unit_test(test_safe_atou),
		cmocka_unit_test(test_safe_atou64),
		cmocka_unit_test(test_safe_atod),
		cmocka_unit_test(test_safe_atod_locale),
		cmocka_unit_test(test_strings),
		cmocka_unit_test(test_split_words),
		cmocka_unit_test(test_uuid),
		cmocka_unit_test(test_read_file_capped),
		cmocka_unit_test(test_fsync_directory_of),
		cmocka_unit_test(test_fd_cloexec_from),
		cmocka_unit_test(test_clocks),
		cmocka_unit_test(test_erase_and_free),
		cmocka_unit_test(test_name_is_valid),
		cmocka_unit_test(test_url_host_is_loopback),
	};

	return cmocka_run_group_tests(tests, test_tmpdir_setup, test_tmpdir_teardown);
}
