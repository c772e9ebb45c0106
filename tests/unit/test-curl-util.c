/* SPDX-License-Identifier: MIT */
/*
 * curl_easy_set_security(): libcurl cannot read options back
 * (curl_easy_getinfo() knows none of them), so each one is checked by what a
 * request then does: a file:// or ftp:// URL is refused, a redirect from a
 * local listener is not followed, and the listener sees our User-Agent. A
 * failing curl_easy_setopt() is reported with the option's name. TLS
 * verification is not exercised here (that needs a TLS server); the
 * integration tests cover it.
 */
#include <errno.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "curl-util.h"
#include "http.h"
#include "string-util.h"

static CURL *new_easy(void)
{
	CURL *e = curl_easy_init();

	assert_non_null(e);
	return e;
}

static size_t discard(char *p, size_t size, size_t n, void *userdata)
{
	return size * n;
}

static void test_protocols(void **state)
{
	CURL *e = new_easy();
	const char *option = NULL;

	/* without the options libcurl reads local files */
	assert_int_equal(curl_easy_setopt(e, CURLOPT_URL, "file:///dev/null"), CURLE_OK);
	assert_int_equal(curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, discard), CURLE_OK);
	assert_int_equal(curl_easy_perform(e), CURLE_OK);

	assert_int_equal(curl_easy_set_security(e, "test-agent/1", &option), 0);
	assert_null(option);
	assert_int_equal(curl_easy_perform(e), CURLE_UNSUPPORTED_PROTOCOL);
	assert_int_equal(curl_easy_setopt(e, CURLOPT_URL, "ftp://127.0.0.1:1/x"), CURLE_OK);
	assert_int_equal(curl_easy_perform(e), CURLE_UNSUPPORTED_PROTOCOL);
	curl_easy_cleanup(e);
}

/* A listener that answers one request with a redirect whose body is the
 * request it got. */
static pid_t serve_redirect(int *ret_port)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(a);
	int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	pid_t pid;

	assert_true(s >= 0);
	assert_int_equal(bind(s, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(listen(s, 4), 0);
	assert_int_equal(getsockname(s, (struct sockaddr *)&a, &len), 0);
	*ret_port = ntohs(a.sin_port);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		char req[4096], head[256];
		size_t n = 0;
		int c = accept(s, NULL, NULL);

		while (c >= 0 && n < sizeof(req) - 1) {
			ssize_t k = read(c, req + n, sizeof(req) - 1 - n);
			if (k <= 0) {
				break;
			}
			n += (size_t)k;
			req[n] = '\0';
			if (strstr(req, "\r\n\r\n")) {
				break;
			}
		}
		int h = snprintf(head, sizeof(head),
				 "HTTP/1.1 302 Found\r\nLocation: http://127.0.0.1:%d/elsewhere\r\n"
				 "Content-Length: %zu\r\nConnection: close\r\n\r\n",
				 *ret_port, n);
		if (write(c, head, (size_t)h) != h || write(c, req, n) != (ssize_t)n) {
			_exit(1);
		}
		_exit(0);
	}
	close(s);
	return pid;
}

struct buf {
	char data[4096];
	size_t len;
};

static size_t collect(char *p, size_t size, size_t n, void *userdata)
{
	struct buf *b = userdata;
	size_t k = size * n;

	if (k > sizeof(b->data) - 1 - b->len) {
		return 0;
	}
	memcpy(b->data + b->len, p, k);
	b->len += k;
	b->data[b->len] = '\0';
	return k;
}

static void test_redirect_and_agent(void **state)
{
	CURL *e = new_easy();
	struct buf b = { .len = 0 };
	char url[64];
	long code = 0, redirects = -1;
	int port, status;
	pid_t pid = serve_redirect(&port);

	(void)snprintf(url, sizeof(url), "http://127.0.0.1:%d/start", port);
	assert_int_equal(curl_easy_setopt(e, CURLOPT_URL, url), CURLE_OK);
	assert_int_equal(curl_easy_setopt(e, CURLOPT_PROXY, ""), CURLE_OK);
	assert_int_equal(curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, 20000L), CURLE_OK);
	assert_int_equal(curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, collect), CURLE_OK);
	assert_int_equal(curl_easy_setopt(e, CURLOPT_WRITEDATA, &b), CURLE_OK);
	/* as if a caller had asked for redirects: the function turns them off */
	assert_int_equal(curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 1L), CURLE_OK);
	assert_int_equal(curl_easy_set_security(e, "test-agent/1", NULL), 0);

	assert_int_equal(curl_easy_perform(e), CURLE_OK);
	assert_int_equal(curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &code), CURLE_OK);
	assert_int_equal(code, 302);
	assert_int_equal(curl_easy_getinfo(e, CURLINFO_REDIRECT_COUNT, &redirects), CURLE_OK);
	assert_int_equal(redirects, 0);
	assert_non_null(strstr(b.data, "GET /start HTTP/1.1\r\n"));
	assert_non_null(strstr(b.data, "\r\nUser-Agent: test-agent/1\r\n"));
	curl_easy_cleanup(e);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

static void test_setopt_failure(void **state)
{
	const char *option = NULL;

	/* curl_easy_setopt() on no handle fails: the first option says so */
	assert_int_equal(curl_easy_set_security(NULL, "x", &option), -EINVAL);
	assert_string_equal(option, "CURLOPT_NOSIGNAL");
	assert_int_equal(curl_code_to_errno(CURLE_OK), 0);
	assert_int_equal(curl_code_to_errno(CURLE_OUT_OF_MEMORY), -ENOMEM);
	assert_int_equal(curl_code_to_errno(CURLE_UNKNOWN_OPTION), -EOPNOTSUPP);
}

/* The list's lines joined with "|". */
static void assert_list(const struct curl_slist *l, const char *expected)
{
	char buf[1024];
	size_t n = 0;

	buf[0] = '\0';
	for (; l; l = l->next) {
		int k = snprintf(buf + n, sizeof(buf) - n, "%s%s", n > 0 ? "|" : "", l->data);
		assert_true(k > 0 && (size_t)k < sizeof(buf) - n);
		n += (size_t)k;
	}
	assert_string_equal(buf, expected);
}

static void test_headers_build(void **state)
{
	static const char *const defaults[] = { "Content-Type: application/json",
						"Accept: application/json", NULL };
	struct authheader h = {};
	struct diag_list d = {};
	struct curl_slist *l;
	int r;

	/* no AuthHeader=: Dify's */
	l = curl_headers_build(&h, "app-123", defaults, &r);
	assert_int_equal(r, 0);
	assert_list(l, "Authorization: Bearer app-123|Content-Type: application/json|"
		       "Accept: application/json");
	curl_slist_erase_and_free(l);

	/* the key in another header, fixed headers after it; a Header= that
	 * names Accept replaces the default one (in any letter case) */
	assert_int_equal(authheader_set_auth(&h, "x-api-key: {key}", "t.conf", 1, &d), 0);
	assert_int_equal(authheader_add_extra(&h, "anthropic-version: 2023-06-01", "t.conf", 2, &d),
			 0);
	assert_int_equal(authheader_add_extra(&h, "accept: application/x-ndjson", "t.conf", 3, &d),
			 0);
	assert_int_equal(d.n, 0);
	l = curl_headers_build(&h, "sk-xyz", defaults, &r);
	assert_int_equal(r, 0);
	assert_list(l, "x-api-key: sk-xyz|anthropic-version: 2023-06-01|"
		       "accept: application/x-ndjson|Content-Type: application/json");
	curl_slist_erase_and_free(l);

	/* a key that would end the header line is refused, not sent */
	assert_null(curl_headers_build(&h, "a\r\nX-Evil: 1", defaults, &r));
	assert_int_equal(r, -EINVAL);
	assert_null(curl_headers_build(&h, "", defaults, &r));
	assert_int_equal(r, -EINVAL);
	authheader_done(&h);
}

static void test_http_headers(void **state)
{
	struct authheader h = {};
	struct diag_list d = {};
	struct http_headers *hh;
	int r;

	assert_int_equal(authheader_set_auth(&h, "api-key: {key}", "t.conf", 1, &d), 0);
	assert_int_equal(authheader_add_extra(&h, "OpenAI-Beta: assistants=v2", "t.conf", 2, &d),
			 0);
	hh = http_headers_new(&h, "sk-1", &r);
	assert_non_null(hh);
	assert_int_equal(r, 0);
	assert_list(hh->list, "api-key: sk-1|OpenAI-Beta: assistants=v2|Accept: application/json");
	/* the key, for redaction */
	assert_string_equal(http_headers_key(hh), "sk-1");
	assert_ptr_equal(http_headers_ref(hh), hh);
	http_headers_unref(hh);
	assert_string_equal(http_headers_key(hh), "sk-1"); /* one reference left */
	http_headers_unref(hh);
	assert_null(http_headers_key(NULL));

	assert_null(http_headers_new(&h, "k\n", &r));
	assert_int_equal(r, -EINVAL);
	authheader_done(&h);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_protocols),      cmocka_unit_test(test_redirect_and_agent),
		cmocka_unit_test(test_setopt_failure), cmocka_unit_test(test_headers_build),
		cmocka_unit_test(test_http_headers),
	};

	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		return 1;
	}
	int r = cmocka_run_group_tests(tests, NULL, NULL);
	curl_global_cleanup();
	return r;
}
