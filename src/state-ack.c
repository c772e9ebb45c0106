/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "endpoint.h"
#include "job.h"
#include "state-ack.h"
#include "string-util.h"

int state_ack_line(const struct job *j, char *buf, size_t size)
{
	char id[KIND_ID_STRING_MAX], dataset[KIND_ID_STRING_MAX];
	int n;

	if (j->kind == KIND_USER) {
		return -EINVAL;
	}
	if (j->kind == KIND_ANNOTATION_REPLY) {
		n = snprintf(buf, size, "%s %s %s\n", j->endpoint->name,
			     job_action_to_string(j->action), job_id_string(j, id));
	} else {
		const char *d = job_dataset_string(j, dataset);
		n = snprintf(buf, size, "%s %s - %s %s\n", j->endpoint->name, job_kind_name(j),
			     d ? d : "-", job_id_string(j, id));
	}
	if (n < 0) {
		return -EINVAL;
	}
	return (size_t)n < size ? n : -ENOBUFS;
}

bool state_ack_parse(char *line, const char *ret[static _STATE_ACK_FIELDS])
{
	char *w[_STATE_ACK_FIELDS];
	size_t n = 0;

	for (char *p = line, *sp; n < _STATE_ACK_FIELDS; p = sp + 1) {
		w[n++] = p;
		sp = strchr(p, ' ');
		if (!sp) {
			break;
		}
		*sp = '\0';
	}
	if (n == 3) {
		ret[STATE_ACK_ENDPOINT] = w[0];
		ret[STATE_ACK_KIND] = kind_type_to_string(KIND_ANNOTATION_REPLY);
		ret[STATE_ACK_ACTION] = w[1];
		ret[STATE_ACK_DATASET] = "";
		ret[STATE_ACK_JOB_ID] = w[2];
		return true;
	}
	if (n != _STATE_ACK_FIELDS) {
		return false;
	}
	for (size_t i = 0; i < n; i++) {
		bool may_be_empty = i == STATE_ACK_ACTION || i == STATE_ACK_DATASET;
		ret[i] = may_be_empty && streq(w[i], "-") ? "" : w[i];
	}
	return true;
}
