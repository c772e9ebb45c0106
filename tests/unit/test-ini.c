/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "escape.h"
#include "ini.h"
#include "string-util.h"
#include "test-helpers.h"

/* Every callback as one line of text: "3 [Poll]" or "4 Poll Key=Value". */
struct record {
	char lines[32][160];
	size_t n;
	int stop_at; /* return -EUCLEAN from the callback with this index, or -1 */
};

static int record_add(struct record *r, const char *text)
{
	assert_true(r->n < ELEMENTSOF(r->lines));
	(void)snprintf(r->lines[r->n], sizeof(r->lines[0]), "%s", text);
	return (int)r->n++ == r->stop_at ? -EUCLEAN : 0;
}

static int on_section(void *userdata, const char *file, unsigned line, const char *section)
{
	char buf[160];

	assert_string_equal(file, "test.conf");
	(void)snprintf(buf, sizeof(buf), "%u [%s]", line, section);
	return record_add(userdata, buf);
}

static int on_key(void *userdata, const char *file, unsigned line, const char *section,
		  const char *key, const char *value)
{
	char buf[160];

	assert_string_equal(file, "test.conf");
	(void)snprintf(buf, sizeof(buf), "%u %s %s=%s", line, section, key, value);
	return record_add(userdata, buf);
}

/* Parse text; the callbacks' lines must equal expected (NULL-terminated). */
static int parse(const char *text, size_t len, struct diag_list *diags, const char **expected)
{
	struct record rec = { .stop_at = -1 };
	size_t n = 0;
	int r;

	r = ini_parse_buffer("test.conf", text, len, on_section, on_key, &rec, diags);
	for (; expected[n]; n++) {
		assert_true(n < rec.n);
		assert_string_equal(rec.lines[n], expected[n]);
	}
	assert_int_equal(rec.n, n);
	return r;
}

#define PARSE(text, diags, ...)                                                                    \
	parse((text), strlen(text), (diags), (const char *[]){ __VA_ARGS__, NULL })

static void assert_contains(const char *haystack, const char *needle)
{
	if (!strstr(haystack, needle)) {
		print_error("'%s' does not contain '%s'\n", haystack, needle);
		fail();
	}
}

/* Entry i of l is level at line, its message containing text. */
static void assert_diag(const struct diag_list *l, size_t i, enum diag_level level, unsigned line,
			const char *text)
{
	assert_true(i < l->n);
	assert_int_equal(l->items[i].level, level);
	assert_int_equal(l->items[i].line, line);
	assert_contains(l->items[i].message, text);
}

static void test_basic(void **state)
{
	struct diag_list d = {};

	assert_int_equal(PARSE("[Daemon]\n"
			       "JobsDirectory=/etc/jobwatch/jobs.d\n"
			       "\n"
			       "# comment\n"
			       "; another\n"
			       "   # indented comment\n"
			       "[Endpoint:support-bot]\n"
			       "  BaseURL  =  https://x/v1  \n"
			       "Empty=\n"
			       "Exec=/bin/x --a=b # not a comment\n",
			       &d, "1 [Daemon]", "2 Daemon JobsDirectory=/etc/jobwatch/jobs.d",
			       "7 [Endpoint:support-bot]",
			       "8 Endpoint:support-bot BaseURL=https://x/v1",
			       "9 Endpoint:support-bot Empty=",
			       "10 Endpoint:support-bot Exec=/bin/x --a=b # not a comment"),
			 0);
	assert_int_equal(d.n, 0);
}

static void test_crlf_bom_no_newline(void **state)
{
	struct diag_list d = {};

	assert_int_equal(PARSE("\xef\xbb\xbf[Job]\r\nA=1\r\n\r\nB=2 \r\nC=3", &d, "1 [Job]",
			       "2 Job A=1", "4 Job B=2", "5 Job C=3"),
			 0);
	assert_int_equal(d.n, 0);

	/* A BOM only counts at the very start. */
	assert_int_equal(PARSE("[Job]\n\xef\xbb\xbfK=v\n", &d, "1 [Job]", "2 Job \xef\xbb\xbfK=v"),
			 0);
	assert_int_equal(d.n, 0);

	assert_int_equal(PARSE("", &d, NULL), 0);
	assert_int_equal(PARSE("\n\n   \n", &d, NULL), 0);
	assert_int_equal(d.n, 0);
}

static void test_continuation(void **state)
{
	struct diag_list d = {};

	assert_int_equal(PARSE("[Hook]\n"
			       "Exec=/bin/foo \\\n"
			       "  --bar \\\n"
			       "# a comment in between\n"
			       "  --baz\n"
			       "Next=1\n",
			       &d, "1 [Hook]", "2 Hook Exec=/bin/foo    --bar    --baz",
			       "6 Hook Next=1"),
			 0);

	/* CRLF before the line end does not hide the backslash. */
	assert_int_equal(PARSE("[Hook]\r\nExec=a\\\r\nb\r\n", &d, "1 [Hook]", "2 Hook Exec=a b"),
			 0);

	/* An even number of backslashes is an escaped backslash, no continuation. */
	assert_int_equal(
		PARSE("[Hook]\nA=x\\\\\nB=y\n", &d, "1 [Hook]", "2 Hook A=x\\\\", "3 Hook B=y"), 0);

	/* A continuation at EOF ends there. */
	assert_int_equal(PARSE("[Hook]\nA=x \\", &d, "1 [Hook]", "2 Hook A=x"), 0);
	assert_int_equal(PARSE("[Hook]\nA=x \\\n", &d, "1 [Hook]", "2 Hook A=x"), 0);

	/* A comment never continues. */
	assert_int_equal(PARSE("[Hook]\n# c \\\nA=1\n", &d, "1 [Hook]", "3 Hook A=1"), 0);

	/* A blank line ends a continuation. */
	assert_int_equal(
		PARSE("[Hook]\nA=1 \\\n\nB=2\n", &d, "1 [Hook]", "2 Hook A=1", "4 Hook B=2"), 0);
	assert_int_equal(d.n, 0);
}

static void test_sections(void **state)
{
	struct diag_list d = {};

	assert_int_equal(PARSE("[ Poll ]\nA=1\n[Poll]  \nB=2\n", &d, "1 [Poll]", "2 Poll A=1",
			       "3 [Poll]", "4 Poll B=2"),
			 0);
	assert_int_equal(d.n, 0);

	/* Bad headers: one error each, their keys dropped without more noise. */
	assert_int_equal(PARSE("[]\nA=1\n[Poll] x\nB=2\n[Poll\nC=3\n[Hook]\nD=4\n", &d, "7 [Hook]",
			       "8 Hook D=4"),
			 0);
	assert_int_equal(d.n, 3);
	assert_int_equal(d.n_errors, 3);
	assert_diag(&d, 0, DIAG_ERROR, 1, "Empty section name");
	assert_diag(&d, 1, DIAG_ERROR, 3, "Unexpected text ' x' after section header");
	assert_diag(&d, 2, DIAG_ERROR, 5, "Invalid section header '[Poll', missing ']'");
	assert_string_equal(d.items[0].file, "test.conf");
	diag_list_done(&d);
}

static void test_bad_lines(void **state)
{
	struct diag_list d = {};

	assert_int_equal(PARSE("Key=1\n[Poll]\nnoequals\n=value\n  = v\nGood=1\n", &d, "2 [Poll]",
			       "6 Poll Good=1"),
			 0);
	assert_int_equal(d.n_errors, 4);
	assert_diag(&d, 0, DIAG_ERROR, 1, "Key 'Key' outside of any section");
	assert_diag(&d, 1, DIAG_ERROR, 3, "Missing '=' in 'noequals'");
	assert_diag(&d, 2, DIAG_ERROR, 4, "Empty key");
	assert_diag(&d, 3, DIAG_ERROR, 5, "Empty key");
	diag_list_done(&d);
}

/* A bad line is quoted escaped and short: a file hard-linked into the jobs
 * directory does not have its content echoed, nor its escapes run. */
static void test_hostile_lines(void **state)
{
	struct diag_list d = {};

	assert_int_equal(
		PARSE("[Poll]\n\x1b]0;pwned\x07xxxxxxxxxxyyyyyyyyyyyyTAILSECRETTAILSECRET\n"
		      "[S\xc2\x9b\x1b[2J"
		      "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\n"
		      "[T] \x1b[2Jtrailing\n",
		      &d, "1 [Poll]"),
		0);
	assert_int_equal(d.n_errors, 3);
	assert_diag(&d, 0, DIAG_ERROR, 2,
		    "Missing '=' in '\\x1b]0;pwned\\x07xxxxxxxxxxyyyyyyyyyyyy" ESCAPE_ELLIPSIS "'");
	assert_null(strstr(d.items[0].message, "TAIL"));
	assert_diag(
		&d, 1, DIAG_ERROR, 3,
		"Invalid section header '[S\\xc2\\x9b\\x1b[2JAAAAAAAAAAAAAAAAAAAAAAAA" ESCAPE_ELLIPSIS
		"', missing ']'");
	assert_diag(&d, 2, DIAG_ERROR, 4,
		    "Unexpected text ' \\x1b[2Jtrailing' after section header");
	diag_list_done(&d);
}

static void test_nul_byte(void **state)
{
	static const char text[] = "[Job]\nA=1\nB=\0x\nC=3\n";
	struct diag_list d = {};

	/* Refused before any callback: nothing of a binary file is applied. */
	assert_int_equal(parse(text, sizeof(text) - 1, &d, (const char *[]){ NULL }), -EBADMSG);
	assert_int_equal(d.n, 1);
	assert_diag(&d, 0, DIAG_ERROR, 3, "NUL byte");
	diag_list_done(&d);

	assert_int_equal(parse("\0", 1, &d, (const char *[]){ NULL }), -EBADMSG);
	assert_diag(&d, 0, DIAG_ERROR, 1, "NUL byte");
	diag_list_done(&d);
}

static void test_callback_stops(void **state)
{
	static const char text[] = "[A]\nx=1\ny=2\n[B]\nz=3\n";
	struct record rec = { .stop_at = 1 };

	assert_int_equal(
		ini_parse_buffer("test.conf", text, strlen(text), on_section, on_key, &rec, NULL),
		-EUCLEAN);
	assert_int_equal(rec.n, 2);

	rec = (struct record){ .stop_at = 3 };
	assert_int_equal(
		ini_parse_buffer("test.conf", text, strlen(text), on_section, on_key, &rec, NULL),
		-EUCLEAN);
	assert_int_equal(rec.n, 4);
	assert_string_equal(rec.lines[3], "4 [B]");

	/* Without a section callback. */
	rec = (struct record){ .stop_at = -1 };
	assert_int_equal(
		ini_parse_buffer("test.conf", text, strlen(text), NULL, on_key, &rec, NULL), 0);
	assert_int_equal(rec.n, 3);
	assert_string_equal(rec.lines[2], "5 B z=3");
}

static char *write_tmp(const char *name, const char *data, size_t len)
{
	char *path = test_tmp_path(name);

	assert_non_null(path);
	assert_int_equal(test_write_file_at(AT_FDCWD, path, data, len), 0);
	return path;
}

static int on_key_any(void *userdata, const char *file, unsigned line, const char *section,
		      const char *key, const char *value)
{
	(*(unsigned *)userdata)++;
	return 0;
}

static void test_parse_file(void **state)
{
	_cleanup_(freep) char *good = write_tmp("good.conf", "[A]\nx=1\n", 8);
	_cleanup_(freep) char *missing = test_tmp_path("missing.conf");
	_cleanup_(freep) char *big_data = malloc(70000);
	_cleanup_(freep) char *big = NULL;
	struct diag_list d = {};
	unsigned n = 0;
	char buf[256];

	assert_int_equal(ini_parse_file(good, NULL, on_key_any, &n, &d), 0);
	assert_int_equal(n, 1);
	assert_int_equal(d.n, 0);

	assert_int_equal(ini_parse_file(missing, NULL, on_key_any, &n, &d), -ENOENT);
	assert_int_equal(d.n, 1);
	assert_int_equal(d.items[0].line, 0);
	assert_string_equal(d.items[0].file, missing);
	assert_contains(d.items[0].message, "No such file or directory");
	(void)diag_format(&d.items[0], buf, sizeof(buf));
	assert_contains(buf, "missing.conf: Cannot read file");
	diag_list_done(&d);

	assert_non_null(big_data);
	memset(big_data, '#', 70000);
	big = write_tmp("big.conf", big_data, 70000);
	assert_int_equal(ini_parse_file(big, NULL, on_key_any, &n, &d), -EFBIG);
	assert_diag(&d, 0, DIAG_ERROR, 0, "File too large (70000 bytes, at most 65536)");
	diag_list_done(&d);

	assert_int_equal(ini_parse_file(test_tmpdir, NULL, on_key_any, &n, &d), -EBADFD);
	assert_diag(&d, 0, DIAG_ERROR, 0, "File is a directory, expected a regular file");
	diag_list_done(&d);

	/* missing_ok: a missing file is not reported, other failures are. */
	{
		char *text = NULL;
		size_t len;

		assert_int_equal(ini_read_file(AT_FDCWD, missing, "shown-name", false, true, &text,
					       &len, &d),
				 -ENOENT);
		assert_int_equal(d.n, 0);
		assert_int_equal(
			ini_read_file(AT_FDCWD, big, "shown-name", false, true, &text, &len, &d),
			-EFBIG);
		assert_int_equal(d.n, 1);
		assert_string_equal(d.items[0].file, "shown-name");
		diag_list_done(&d);
	}
}

static void test_diag(void **state)
{
	struct diag_list a = {}, b = {};
	char buf[64];

	diag_add(NULL, DIAG_ERROR, "x", 1, "ignored");
	diag_add(&a, DIAG_WARNING, "f.conf", 3, "Unknown key '%s'", "Foo");
	diag_add(&a, DIAG_ERROR, "f.conf", 0, "Broken");
	diag_add(&b, DIAG_ERROR, NULL, 0, "No file");
	assert_int_equal(a.n, 2);
	assert_int_equal(a.n_errors, 1);
	assert_true(diag_has_errors(&a));
	assert_false(diag_has_errors(NULL));

	assert_string_equal(diag_format(&a.items[0], buf, sizeof(buf)),
			    "f.conf:3: Unknown key 'Foo'");
	assert_string_equal(diag_format(&a.items[1], buf, sizeof(buf)), "f.conf: Broken");
	assert_string_equal(diag_format(&b.items[0], buf, sizeof(buf)), "No file");
	assert_string_equal(diag_format(&a.items[0], buf, 7), "f.conf");

	diag_list_move(&a, &b);
	assert_int_equal(a.n, 3);
	assert_int_equal(a.n_errors, 2);
	assert_int_equal(b.n, 0);
	assert_int_equal(b.n_errors, 0);
	assert_null(b.items);
	assert_string_equal(a.items[2].message, "No file");

	diag_add(&b, DIAG_ERROR, NULL, 0, "dropped");
	diag_list_move(NULL, &b);
	assert_int_equal(b.n, 0);

	/* A lost entry is an error wherever the list goes. */
	b.oom = true;
	diag_list_move(&a, &b);
	assert_true(a.oom);
	assert_false(b.oom);

	diag_list_done(&a);
	assert_int_equal(a.n, 0);
	assert_false(diag_has_errors(&a));
	diag_list_done(NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_basic),	       cmocka_unit_test(test_crlf_bom_no_newline),
		cmocka_unit_test(test_continuation),   cmocka_unit_test(test_sections),
		cmocka_unit_test(test_bad_lines),      cmocka_unit_test(test_nul_byte),
		cmocka_unit_test(test_callback_stops), cmocka_unit_test(test_parse_file),
		cmocka_unit_test(test_diag),	       cmocka_unit_test(test_hostile_lines),
	};

	return cmocka_run_group_tests(tests, test_tmpdir_setup, test_tmpdir_teardown);
}
