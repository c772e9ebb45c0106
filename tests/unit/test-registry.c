/* SPDX-License-Identifier: MIT */
/*
 * The registry's two indexes: a job whose file was removed leaves the file
 * index ("unfiled") but keeps its identity until it is given another file (a
 * rename) or removed; sizes and iteration count it; registry_done() frees
 * it.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>
#include <errno.h>
#include <string.h>

#include "registry.h"
#include "string-util.h"

static struct job *new_job(struct endpoint *e, uint8_t id_byte, const char *file)
{
	struct job *j = job_new();

	assert_non_null(j);
	memset(j->id, id_byte, sizeof(j->id));
	j->action = JOB_ACTION_ENABLE;
	j->endpoint = e;
	j->file = strdup_or_null(file);
	assert_non_null(j->file);
	return j;
}

static void test_unfile_and_refile(void **state)
{
	struct registry r;
	struct endpoint *e;
	struct job *a, *b;
	uint8_t id1[16];

	(void)state;
	registry_init(&r);
	e = registry_endpoint(&r, "default", true);
	assert_non_null(e);
	a = new_job(e, 1, "a.job");
	b = new_job(e, 2, "b.job");
	assert_int_equal(registry_add(&r, a), 0);
	assert_int_equal(registry_add(&r, b), 0);
	memset(id1, 1, sizeof(id1));

	/* a's file is gone: found by identity only, still counted */
	registry_unfile(&r, a);
	assert_null(registry_by_file(&r, "a.job"));
	assert_ptr_equal(registry_by_identity(&r, e, JOB_ACTION_ENABLE, id1), a);
	assert_int_equal(registry_size(&r), 2);
	assert_string_equal(a->file, "a.job"); /* kept for messages */
	registry_unfile(&r, a); /* twice is harmless */

	/* a name another job holds is refused; a free one is taken */
	assert_int_equal(registry_set_file(&r, a, "b.job"), -EEXIST);
	assert_ptr_equal(registry_by_file(&r, "b.job"), b);
	assert_int_equal(registry_set_file(&r, a, "c.job"), 0);
	assert_string_equal(a->file, "c.job");
	assert_ptr_equal(registry_by_file(&r, "c.job"), a);
	assert_null(registry_by_file(&r, "a.job"));

	/* the old name is free for another job */
	struct job *c = new_job(e, 3, "a.job");
	assert_int_equal(registry_add(&r, c), 0);
	assert_ptr_equal(registry_by_file(&r, "a.job"), c);

	/* unfiling must not take out another job holding the same name */
	registry_unfile(&r, b);
	assert_int_equal(registry_set_file(&r, b, "b2.job"), 0);
	registry_unfile(&r, b);
	assert_ptr_equal(registry_by_file(&r, "a.job"), c);

	/* removing an unfiled job takes it out of every index */
	registry_remove(&r, b);
	assert_int_equal(registry_size(&r), 2);
	assert_int_equal(e->n_jobs, 2);
	job_free(b);

	/* an unfiled job is iterated and freed with the registry */
	registry_unfile(&r, c);
	size_t i = 0, n = 0;
	while (registry_next(&r, &i)) {
		n++;
	}
	assert_int_equal(n, 2);
	registry_done(&r); /* frees a and c; ASan reports a leak otherwise */
}

/* n_stalled counts the jobs in the registry whose stall was announced. */
static void test_stalled_count(void **state)
{
	struct registry r;
	struct endpoint *e;
	struct job *a, *b, *outside;

	(void)state;
	registry_init(&r);
	e = registry_endpoint(&r, "default", true);
	assert_non_null(e);
	a = new_job(e, 1, "a.job");
	b = new_job(e, 2, "b.job");
	outside = new_job(e, 3, "c.job");
	assert_int_equal(registry_add(&r, a), 0);
	/* a job restored stalled counts when it is added */
	b->stall.stalled_usec = 1;
	assert_int_equal(registry_add(&r, b), 0);
	assert_int_equal(r.n_stalled, 1);
	a->stall.stalled_usec = 2;
	registry_stall_changed(&r, a, true);
	assert_int_equal(r.n_stalled, 2);
	/* a job not in the registry (detached) is not counted */
	outside->stall.stalled_usec = 3;
	registry_stall_changed(&r, outside, true);
	assert_int_equal(r.n_stalled, 2);
	a->stall.stalled_usec = 0;
	registry_stall_changed(&r, a, false);
	assert_int_equal(r.n_stalled, 1);
	/* removing a stalled job uncounts it */
	registry_remove(&r, b);
	assert_int_equal(r.n_stalled, 0);
	job_free(b);
	job_free(outside);
	registry_done(&r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_unfile_and_refile),
		cmocka_unit_test(test_stalled_count),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
