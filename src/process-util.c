/* SPDX-License-Identifier: MIT */
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "process-util.h"

uint64_t process_start_time(pid_t pid)
{
	char path[64], buf[1024];
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		return 0;
	}
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0) {
		return 0;
	}
	buf[n] = '\0';
	/* comm may hold spaces and parentheses: fields resume after the last ')' */
	char *p = strrchr(buf, ')');
	if (!p) {
		return 0;
	}
	p++;
	/* a zombie has ended: only its parent has not reaped it yet */
	const char *st = p;
	while (*st == ' ') {
		st++;
	}
	if (*st == 'Z' || *st == 'X') {
		return 0;
	}
	/* state is field 3; starttime is field 22, i.e. 19 fields after state */
	unsigned field = 2;
	char *tok = p;
	while (*tok && field < 22) {
		while (*tok == ' ') {
			tok++;
		}
		field++;
		if (field == 22) {
			break;
		}
		while (*tok && *tok != ' ') {
			tok++;
		}
	}
	uint64_t v = 0;
	while (*tok >= '0' && *tok <= '9') {
		v = v * 10 + (uint64_t)(*tok - '0');
		tok++;
	}
	return v;
}
