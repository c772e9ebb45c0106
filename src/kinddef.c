/* SPDX-License-Identifier: MIT */
/* [Kind:NAME] sections: keys, validation, status path, words (kinddef.h). */
#include <errno.h>
#include <stdio.h>
#include <strings.h>

#include "alloc-util.h"
#include "escape.h"
#include "kind.h"
#include "kinddef.h"
#include "parse-util.h"
#include "string-util.h"
#include "strv.h"

#define kd_error(file, line, ...) diag_add(diags, DIAG_ERROR, file, line, __VA_ARGS__)

static const char *const list_keys[_KINDDEF_LIST_MAX] = {
	[KINDDEF_COMPLETED] = "Completed",
	[KINDDEF_FAILED] = "Failed",
	[KINDDEF_RUNNING] = "Running",
};

static const char *const class_table[_KINDDEF_CLASS_MAX] = {
	[KINDDEF_CLASS_UNKNOWN] = "unknown",
	[KINDDEF_CLASS_RUNNING] = "running",
	[KINDDEF_CLASS_COMPLETED] = "completed",
	[KINDDEF_CLASS_FAILED] = "failed",
};

const char *kinddef_class_to_string(enum kinddef_class c)
{
	return string_table_name(class_table, ELEMENTSOF(class_table), (int)c);
}

/* Job-file keys with a meaning of their own: never a {Key} placeholder. */
static const char *const reserved_keys[] = {
	"Kind",	 "Endpoint", "Description", "Hook",    "Timeout", "StallAfter",
	"JobID", "Id",	     "Action",	    "Dataset", "Batch",
};

/* HTTP statuses jobwatch reads itself (auth, rate limits, a proxy's
 * trouble): never "no such job". */
static const unsigned not_gone[] = { 401, 403, 407, 408, 429, 502, 503, 504 };

int kinddef_check_name(const char *name, const char *file, unsigned line, struct diag_list *diags)
{
	if (!name_is_valid(name)) {
		kd_error(
			file, line,
			"Invalid kind name '%s' in [Kind:NAME], expected 1 to 64 of A-Z a-z 0-9 _ . -",
			QUOTE(name));
		return -EINVAL;
	}
	for (int t = 0; t < _KIND_TYPE_MAX; t++) {
		if (strcasecmp(name, kind_type_to_string(t)) == 0) {
			kd_error(file, line, "[Kind:%s] clashes with the built-in kind '%s'",
				 QUOTE(name), kind_type_to_string(t));
			return -EINVAL;
		}
	}
	return 0;
}

struct kind_def *kinddef_new(const char *name, const char *file, unsigned line)
{
	struct kind_def *def = calloc(1, sizeof(*def));

	if (!def) {
		return NULL;
	}
	def->name = strdup(name);
	def->file = strdup_or_null(file);
	def->line = line;
	if (!def->name || (file && !def->file)) {
		return kinddef_free(def);
	}
	return def;
}

static void words_clear(struct kinddef_words *w)
{
	for (size_t i = 0; i < w->n; i++) {
		free(w->words[i]);
		free(w->files[i]);
	}
	free(w->words);
	free(w->lines);
	free(w->files);
	*w = (struct kinddef_words){};
}

struct kind_def *kinddef_free(struct kind_def *def)
{
	if (!def) {
		return NULL;
	}
	free(def->name);
	free(def->file);
	free(def->status_path);
	jsonptr_done(&def->status);
	jsonptr_done(&def->error);
	for (size_t i = 0; i < _KINDDEF_LIST_MAX; i++) {
		words_clear(&def->lists[i]);
	}
	strv_free(def->keys);
	free(def);
	return NULL;
}

static bool key_name_is_valid(const char *s, size_t len)
{
	if (len < 1 || len > KINDDEF_KEY_MAX || s[0] < 'A' || s[0] > 'Z') {
		return false;
	}
	for (size_t i = 1; i < len; i++) {
		bool ok = (s[i] >= 'A' && s[i] <= 'Z') || (s[i] >= 'a' && s[i] <= 'z') ||
			  (s[i] >= '0' && s[i] <= '9');
		if (!ok) {
			return false;
		}
	}
	return true;
}

static bool key_is_reserved(const char *s)
{
	for (size_t i = 0; i < ELEMENTSOF(reserved_keys); i++) {
		if (strcasecmp(s, reserved_keys[i]) == 0) {
			return true;
		}
	}
	return false;
}

/* One {name} of a template: -EINVAL with a reason, or collected. */
static int check_placeholder(const char *name, size_t len, bool *seen_id, char ***keys,
			     size_t *n_keys, size_t *allocated, char *reason, size_t size)
{
	char buf[KINDDEF_KEY_MAX + 1];

	if (len == 2 && memcmp(name, "id", 2) == 0) {
		*seen_id = true;
		return 0;
	}
	if (!key_name_is_valid(name, len)) {
		snprintf(reason, size,
			 "unknown placeholder '{%s}', expected {id} or {Key} naming a job file key",
			 QUOTE(strndupa(name, MIN(len, (size_t)KINDDEF_PATH_MAX))));
		return -EINVAL;
	}
	memcpy(buf, name, len);
	buf[len] = '\0';
	if (key_is_reserved(buf)) {
		snprintf(reason, size,
			 "placeholder '{%s}' names a job file key with a meaning of its own%s", buf,
			 strcasecmp(buf, "JobID") == 0 || strcasecmp(buf, "Id") == 0
				 ? ", write {id}"
				 : "");
		return -EINVAL;
	}
	for (size_t i = 0; i < *n_keys; i++) {
		if (streq((*keys)[i], buf)) {
			return 0;
		}
	}
	if (*n_keys >= KINDDEF_KEYS_MAX) {
		snprintf(reason, size, "more than %d different {Key} placeholders",
			 KINDDEF_KEYS_MAX);
		return -EINVAL;
	}
	char *copy = strdup(buf);
	if (!copy) {
		return -ENOMEM;
	}
	int r = strv_push(keys, n_keys, allocated, copy);
	if (r < 0) {
		free(copy);
	}
	return r;
}

int kinddef_check_template(const char *t, char ***ret_keys, char *reason, size_t size)
{
	_cleanup_(strv_freep) char **keys = NULL;
	size_t n_keys = 0, allocated = 0, len = strlen(t);
	bool seen_id = false;
	int r;

	if (t[0] != '/') {
		snprintf(reason, size, "expected a path starting with '/'");
		return -EINVAL;
	}
	if (len > KINDDEF_PATH_MAX) {
		snprintf(reason, size, "longer than %d bytes", KINDDEF_PATH_MAX);
		return -EINVAL;
	}
	for (const char *c = t; *c; c++) {
		if ((unsigned char)*c <= ' ' || *c == 0x7f || *c == '#' || *c == '\\') {
			snprintf(reason, size,
				 "a path may not contain blanks, control characters, '#' or '\\'");
			return -EINVAL;
		}
		if (*c == '}') {
			snprintf(reason, size, "'}' without '{'");
			return -EINVAL;
		}
		if (*c != '{') {
			continue;
		}
		size_t n = strcspn(c + 1, "{}");
		if (c[1 + n] != '}') {
			snprintf(reason, size, "'{' without '}'");
			return -EINVAL;
		}
		r = check_placeholder(c + 1, n, &seen_id, &keys, &n_keys, &allocated, reason, size);
		if (r < 0) {
			return r;
		}
		c += n + 1;
	}
	if (!seen_id) {
		snprintf(reason, size, "{id} (the job file's JobID=) is missing");
		return -EINVAL;
	}
	if (ret_keys) {
		if (!keys) {
			keys = calloc(1, sizeof(char *));
			if (!keys) {
				return -ENOMEM;
			}
		}
		*ret_keys = TAKE_PTR(keys);
	}
	return 0;
}

static int set_status_path(struct kind_def *def, const char *value, const char *file, unsigned line,
			   struct diag_list *diags)
{
	char reason[256];
	char **keys = NULL;

	int r = kinddef_check_template(value, &keys, reason, sizeof(reason));
	if (r == -EINVAL) {
		kd_error(file, line, "Invalid StatusPath= value '%s': %s", QUOTE(value), reason);
		return 0;
	}
	if (r < 0) {
		return r;
	}
	char *copy = strdup(value);
	if (!copy) {
		strv_free(keys);
		return -ENOMEM;
	}
	free(def->status_path);
	strv_free(def->keys);
	def->status_path = copy;
	def->keys = keys;
	def->n_keys = strv_length(keys);
	def->line_status_path = line;
	return 0;
}

static int set_pointer(struct jsonptr *ptr, bool *has, const char *key, const char *value,
		       const char *file, unsigned line, struct diag_list *diags)
{
	struct jsonptr p;
	const char *reason = NULL;

	int r = jsonptr_parse(value, &p, &reason);
	if (r == -EINVAL) {
		kd_error(file, line,
			 "Invalid %s= value '%s', expected a JSON pointer (RFC 6901): %s", key,
			 QUOTE(value), reason ? reason : "invalid");
		return 0;
	}
	if (r < 0) {
		return r;
	}
	jsonptr_done(ptr);
	*ptr = p;
	*has = true;
	return 0;
}

/* The index of word in w, or -1. */
static ssize_t words_find(const struct kinddef_words *w, const char *word, size_t len)
{
	for (size_t i = 0; i < w->n; i++) {
		if (strlen(w->words[i]) == len && memcmp(w->words[i], word, len) == 0) {
			return (ssize_t)i;
		}
	}
	return -1;
}

static int words_add(struct kinddef_words *w, const char *word, size_t len, const char *file,
		     unsigned line)
{
	if (!grow_array((void **)&w->words, &w->allocated_words, sizeof(*w->words), w->n + 1) ||
	    !grow_array((void **)&w->lines, &w->allocated_lines, sizeof(*w->lines), w->n + 1) ||
	    !grow_array((void **)&w->files, &w->allocated_files, sizeof(*w->files), w->n + 1)) {
		return -ENOMEM;
	}
	w->words[w->n] = strndup(word, len);
	w->files[w->n] = strdup_or_null(file);
	if (!w->words[w->n] || (file && !w->files[w->n])) {
		free(w->words[w->n]);
		free(w->files[w->n]);
		return -ENOMEM;
	}
	w->lines[w->n++] = line;
	return 0;
}

/* Whether file:line (a) was read after file:line (b). Drop-ins are read
 * after the main file, in strcmp() order, and their paths extend the main
 * file's ("<config>.d/NAME.conf"): the path order is the reading order. */
static bool read_after(const char *file_a, unsigned a, const char *file_b, unsigned b)
{
	int c = strcmp(strempty(file_a), strempty(file_b));
	return c > 0 || (c == 0 && a > b);
}

/* The next blank-separated word of *c (advanced past it): its length, 0 at
 * the end. */
static size_t next_word(const char **c, const char **ret_word)
{
	*c += strspn(*c, " \t");
	*ret_word = *c;
	size_t len = strcspn(*c, " \t");
	*c += len;
	return len;
}

/* Completed=, Failed=, Running=: every word checked before any is added, so
 * that a bad line changes nothing. */
static int set_words(struct kind_def *def, enum kinddef_list which, const char *value,
		     const char *file, unsigned line, struct diag_list *diags)
{
	struct kinddef_words *w = &def->lists[which];
	const char *key = list_keys[which];
	size_t n = 0;

	if (isempty(value)) {
		words_clear(w);
		def->line_lists[which] = line;
		return 0;
	}
	const char *c = value, *word;
	for (size_t len; (len = next_word(&c, &word)) > 0;) {
		for (size_t i = 0; i < len; i++) {
			if ((unsigned char)word[i] < 0x20 || word[i] == 0x7f) {
				kd_error(file, line, "Invalid %s= value '%s': a control character",
					 key, QUOTE(value));
				return 0;
			}
		}
		if (len > KINDDEF_WORD_MAX - 1) {
			kd_error(file, line,
				 "Invalid %s= value '%s': a status word longer than %d bytes", key,
				 QUOTE(value), KINDDEF_WORD_MAX - 1);
			return 0;
		}
		n++;
	}
	if (w->n + n > KINDDEF_WORDS_MAX) {
		kd_error(file, line, "Too many %s= words, at most %d", key, KINDDEF_WORDS_MAX);
		return 0;
	}
	c = value;
	for (size_t len; (len = next_word(&c, &word)) > 0;) {
		if (words_find(w, word, len) < 0) {
			int r = words_add(w, word, len, file, line);
			if (r < 0) {
				return r;
			}
		}
	}
	def->line_lists[which] = line;
	return 0;
}

static bool code_may_be_gone(unsigned v)
{
	if (v < 400 || v > 599) {
		return false;
	}
	for (size_t i = 0; i < ELEMENTSOF(not_gone); i++) {
		if (v == not_gone[i]) {
			return false;
		}
	}
	return true;
}

static int set_gone(struct kind_def *def, const char *value, const char *file, unsigned line,
		    struct diag_list *diags)
{
	_cleanup_(strv_freep) char **words = NULL;
	unsigned codes[KINDDEF_GONE_MAX];
	size_t n = def->n_gone;

	if (isempty(value)) {
		def->n_gone = 0;
		def->line_gone = line;
		return 0;
	}
	memcpy(codes, def->gone, sizeof(codes));
	int r = split_words(value, &words);
	if (r == -ENOMEM) {
		return r;
	}
	for (size_t i = 0; r >= 0 && words[i]; i++) {
		unsigned v;
		if (safe_atou(words[i], &v) < 0 || !code_may_be_gone(v)) {
			kd_error(
				file, line,
				"Invalid GoneStatus= value '%s', expected HTTP statuses from 400 to 599 other than 401, 403, 407, 408, 429, 502, 503, 504",
				QUOTE(value));
			return 0;
		}
		bool dup = false;
		for (size_t j = 0; j < n; j++) {
			dup |= codes[j] == v;
		}
		if (dup) {
			continue;
		}
		if (n >= KINDDEF_GONE_MAX) {
			kd_error(file, line, "Too many GoneStatus= codes, at most %d",
				 KINDDEF_GONE_MAX);
			return 0;
		}
		codes[n++] = v;
	}
	if (r < 0) {
		kd_error(file, line, "Invalid GoneStatus= value '%s'", QUOTE(value));
		return 0;
	}
	memcpy(def->gone, codes, sizeof(codes));
	def->n_gone = n;
	def->line_gone = line;
	return 0;
}

int kinddef_set(struct kind_def *def, const char *key, const char *value, const char *file,
		unsigned line, struct diag_list *diags)
{
	if (streq(key, "StatusPath")) {
		return set_status_path(def, value, file, line, diags);
	}
	if (streq(key, "StatusField")) {
		int r = set_pointer(&def->status, &def->has_status, key, value, file, line, diags);
		if (r >= 0 && def->has_status) {
			def->line_status = line;
		}
		return r;
	}
	if (streq(key, "ErrorField")) {
		if (isempty(value)) { /* no error text */
			jsonptr_done(&def->error);
			def->has_error = false;
			def->line_error = line;
			return 0;
		}
		int r = set_pointer(&def->error, &def->has_error, key, value, file, line, diags);
		if (r >= 0 && def->has_error) {
			def->line_error = line;
		}
		return r;
	}
	for (int i = 0; i < _KINDDEF_LIST_MAX; i++) {
		if (streq(key, list_keys[i])) {
			return set_words(def, i, value, file, line, diags);
		}
	}
	if (streq(key, "GoneStatus")) {
		return set_gone(def, value, file, line, diags);
	}
	diag_add(diags, DIAG_WARNING, file, line, "Unknown key '%s' in section [Kind:%s], ignoring",
		 QUOTE(key), QUOTE(def->name));
	return 0;
}

int kinddef_validate(const struct kind_def *def, struct diag_list *diags)
{
	bool ok = true;

	if (!def->status_path) {
		kd_error(def->file, def->line, "[Kind:%s] has no StatusPath=", QUOTE(def->name));
		ok = false;
	}
	if (!def->has_status) {
		kd_error(def->file, def->line, "[Kind:%s] has no StatusField=", QUOTE(def->name));
		ok = false;
	}
	if (def->lists[KINDDEF_COMPLETED].n == 0) {
		kd_error(def->file, def->line,
			 "[Kind:%s] has no Completed= status: no answer could ever complete a job",
			 QUOTE(def->name));
		ok = false;
	}
	/* a word in two lists: reported once, where the later of the two is */
	for (int a = 0; a < _KINDDEF_LIST_MAX; a++) {
		for (int b = a + 1; b < _KINDDEF_LIST_MAX; b++) {
			const struct kinddef_words *wa = &def->lists[a], *wb = &def->lists[b];
			for (size_t i = 0; i < wb->n; i++) {
				const char *w = wb->words[i];
				ssize_t j = words_find(wa, w, strlen(w));
				if (j < 0) {
					continue;
				}
				const char *fa = wa->files[j], *fb = wb->files[i];
				unsigned la = wa->lines[j], lb = wb->lines[i];
				bool later_a = read_after(fa, la, fb, lb);
				/* the other line's file is named when it is not the one reported */
				bool other = !streq_ptr(fa, fb);
				const char *of_a = other && !later_a ? " of " : "";
				const char *of_b = other && later_a ? " of " : "";
				kd_error(
					later_a ? fa : fb, later_a ? la : lb,
					"Status '%s' is in both %s= (line %u%s%s) and %s= (line %u%s%s) of [Kind:%s]",
					QUOTE(w), list_keys[a], la, of_a, *of_a ? strempty(fa) : "",
					list_keys[b], lb, of_b, *of_b ? strempty(fb) : "",
					QUOTE(def->name));
				ok = false;
			}
		}
	}
	return ok ? 0 : -EINVAL;
}

bool kinddef_value_is_valid(const char *value)
{
	size_t len = value ? strlen(value) : 0;

	if (len < 1 || len > KINDDEF_VALUE_MAX || streq(value, ".") || streq(value, "..")) {
		return false;
	}
	for (size_t i = 0; i < len; i++) {
		if ((unsigned char)value[i] < 0x20 || value[i] == 0x7f) {
			return false;
		}
	}
	return true;
}

int kinddef_status_path(const struct kind_def *def, kinddef_lookup_fn lookup, void *userdata,
			char *buf, size_t size)
{
	char name[KINDDEF_KEY_MAX + 1];
	size_t n = 0;

	if (!def->status_path) {
		return -EINVAL;
	}
	for (const char *t = def->status_path; *t;) {
		if (*t != '{') {
			if (n + 1 >= size) {
				return -ENOBUFS;
			}
			buf[n++] = *t++;
			continue;
		}
		/* the template was checked: a valid name and a '}' follow */
		size_t len = strcspn(t + 1, "}");
		if (len > KINDDEF_KEY_MAX || t[1 + len] != '}') {
			return -EINVAL;
		}
		memcpy(name, t + 1, len);
		name[len] = '\0';
		const char *value = lookup(userdata, name);
		if (!value) {
			return -ENOENT;
		}
		if (!kinddef_value_is_valid(value)) {
			return -EINVAL;
		}
		int r = kind_url_escape(value, buf + n, size - n);
		if (r < 0) {
			return r;
		}
		n += (size_t)r;
		t += len + 2;
	}
	if (n >= size) {
		return -ENOBUFS;
	}
	buf[n] = '\0';
	return (int)n;
}

enum kinddef_class kinddef_classify_lists(const char *const *const lists[_KINDDEF_LIST_MAX],
					  const size_t n[_KINDDEF_LIST_MAX], const char *word)
{
	static const enum kinddef_class classes[_KINDDEF_LIST_MAX] = {
		[KINDDEF_COMPLETED] = KINDDEF_CLASS_COMPLETED,
		[KINDDEF_FAILED] = KINDDEF_CLASS_FAILED,
		[KINDDEF_RUNNING] = KINDDEF_CLASS_RUNNING,
	};

	for (int i = 0; i < _KINDDEF_LIST_MAX; i++) {
		for (size_t k = 0; k < n[i]; k++) {
			if (streq(lists[i][k], word)) {
				return classes[i];
			}
		}
	}
	return KINDDEF_CLASS_UNKNOWN;
}

enum kinddef_class kinddef_classify_word(const struct kind_def *def, const char *word)
{
	const char *const *lists[_KINDDEF_LIST_MAX];
	size_t n[_KINDDEF_LIST_MAX];

	for (int i = 0; i < _KINDDEF_LIST_MAX; i++) {
		lists[i] = (const char *const *)def->lists[i].words;
		n[i] = def->lists[i].n;
	}
	return kinddef_classify_lists(lists, n, word);
}

bool kinddef_key_is_placeholder(const char *key)
{
	return key && key_name_is_valid(key, strlen(key)) && !key_is_reserved(key);
}

bool kinddef_is_gone(const struct kind_def *def, long code)
{
	for (size_t i = 0; i < def->n_gone; i++) {
		if ((long)def->gone[i] == code) {
			return true;
		}
	}
	return false;
}

int kinddef_read_status(const struct jsonextract_value *v, const char **ret_word,
			const char **ret_reason)
{
	const char *reason = NULL;

	if (v->type != JSONEXTRACT_STRING) {
		reason = jsonextract_type_to_string(v->type);
	} else if (v->truncated || strlen(v->text) > KINDDEF_WORD_MAX - 1) {
		reason = "too long for a status";
	} else if (v->has_nul) {
		reason = "a string with \\u0000";
	} else if (v->text[0] == '\0') {
		reason = "empty";
	}
	if (reason) {
		*ret_word = NULL;
		*ret_reason = reason;
		return -EBADMSG;
	}
	*ret_word = v->text;
	*ret_reason = NULL;
	return 0;
}
