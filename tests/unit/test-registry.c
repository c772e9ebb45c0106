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
	struct kind_ident id1 = { .kind = KIND_ANNOTATION_REPLY, .action = JOB_ACTION_ENABLE };

	(void)state;
	registry_init(&r);
	e = registry_endpoint(&r, "default", true);
	assert_non_null(e);
	a = new_job(e, 1, "a.job");
	b = new_job(e, 2, "b.job");
	assert_int_equal(registry_add(&r, a), 0);
	assert_int_equal(registry_add(&r, b), 0);
	memset(id1.id, 1, sizeof(id1.id));

	/* a's file is gone: found by identity only, still counted */
	registry_unfile(&r, a);
	assert_null(registry_by_file(&r, "a.job"));
	assert_ptr_equal(registry_by_identity(&r, e, &id1), a);
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

/* Identity is (endpoint, kind, the kind's fields): the same id bytes under
 * another kind, or a batch under another dataset, is another job. */
static void test_identity_per_kind(void **state)
{
	struct registry r;
	struct endpoint *e;
	struct kind_ident ia = { .kind = KIND_ANNOTATION_REPLY, .action = JOB_ACTION_ENABLE };
	struct kind_ident iw = { .kind = KIND_WORKFLOW_RUN };
	struct kind_ident ix = { .kind = KIND_DOCUMENT_INDEXING }, iy;
	struct job *ja, *jw, *jx, *jy;

	(void)state;
	registry_init(&r);
	e = registry_endpoint(&r, "default", true);
	assert_non_null(e);
	memset(ia.id, 7, sizeof(ia.id));
	memset(iw.id, 7, sizeof(iw.id));
	assert_int_equal(kind_field_parse(KIND_FIELD_BATCH, KIND_BATCH_EXAMPLE, &ix), 0);
	iy = ix;
	assert_int_equal(
		kind_field_parse(KIND_FIELD_DATASET, "3c90c3cc-0d44-4b50-8888-8dd25736052a", &ix),
		0);
	assert_int_equal(
		kind_field_parse(KIND_FIELD_DATASET, "4c90c3cc-0d44-4b50-8888-8dd25736052a", &iy),
		0);

	const struct kind_ident *ids[] = { &ia, &iw, &ix, &iy };
	struct job **jobs[] = { &ja, &jw, &jx, &jy };
	const char *files[] = { "a.job", "w.job", "x.job", "y.job" };
	for (size_t i = 0; i < ELEMENTSOF(ids); i++) {
		*jobs[i] = job_new_kind(ids[i]->kind);
		assert_non_null(*jobs[i]);
		assert_int_equal(job_set_ident(*jobs[i], ids[i]), 0);
		(*jobs[i])->endpoint = e;
		(*jobs[i])->file = strdup_or_null(files[i]);
		assert_int_equal(registry_add(&r, *jobs[i]), 0);
	}
	for (size_t i = 0; i < ELEMENTSOF(ids); i++) {
		assert_ptr_equal(registry_by_identity(&r, e, ids[i]), *jobs[i]);
	}
	char buf[KIND_ID_STRING_MAX];
	assert_string_equal(job_id_string(jx, buf), KIND_BATCH_EXAMPLE);
	assert_string_equal(job_dataset_string(jx, buf), "3c90c3cc-0d44-4b50-8888-8dd25736052a");
	assert_null(job_dataset_string(ja, buf));
	assert_null(job_indexing(jw));

	/* a second file naming the same batch of the same dataset is a duplicate */
	struct job *dup = job_new_kind(KIND_DOCUMENT_INDEXING);
	assert_non_null(dup);
	assert_int_equal(job_set_ident(dup, &ix), 0);
	dup->endpoint = e;
	dup->file = strdup_or_null("dup.job");
	assert_int_equal(registry_add(&r, dup), -EEXIST);
	job_free(dup);
	registry_done(&r);
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
		cmocka_unit_test(test_identity_per_kind),
		cmocka_unit_test(test_unfile_and_refile),
		cmocka_unit_test(test_stalled_count),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
