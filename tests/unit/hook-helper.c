/* SPDX-License-Identifier: MIT */
/*
 * A hook for test-hook: what it does is chosen by argv[1], so that the test
 * runs a real program without a shell.
 *   lines       stdout and stderr lines, a CRLF line, an unterminated last
 *               line; exit 3
 *   cat         copies stdin to stdout; exit 0
 *   sleep MS    sleeps MS milliseconds; exit 0
 *   ignore-term ignores SIGTERM, says so, then waits for a signal it cannot
 *               ignore
 *   leave       starts a child in its group that sleeps 60 s, prints its pid,
 *               closes its output and exits 0 (the child does not hold the
 *               pipes)
 *   self        prints its environment ("env X=Y"), its open fds ("fd N"),
 *               whether it leads its session and process group, and its cwd
 */
#include <dirent.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

extern char **environ;

static void say(int fd, const char *s)
{
	(void)!write(fd, s, strlen(s));
}

int main(int argc, char **argv)
{
	const char *mode = argc > 1 ? argv[1] : "";

	if (strcmp(mode, "lines") == 0) {
		/* one write each, in this order: the streams are two pipes, so
		 * only the order within each stream is defined */
		say(1, "out one\n");
		say(2, "err one\n");
		say(1, "out two\r\n");
		say(2, "err two\n");
		say(1, "out tail");
		return 3;
	}
	if (strcmp(mode, "cat") == 0) {
		char buf[4096];
		ssize_t n;
		while ((n = read(0, buf, sizeof(buf))) > 0) {
			(void)!write(1, buf, (size_t)n);
		}
		return n < 0 ? 1 : 0;
	}
	if (strcmp(mode, "sleep") == 0 && argc > 2) {
		unsigned ms;
		if (sscanf(argv[2], "%u", &ms) != 1) {
			return 2;
		}
		usleep((useconds_t)ms * 1000);
		return 0;
	}
	if (strcmp(mode, "ignore-term") == 0) {
		signal(SIGTERM, SIG_IGN);
		say(1, "ignoring SIGTERM\n");
		for (;;) {
			pause();
		}
	}
	if (strcmp(mode, "leave") == 0) {
		pid_t pid = fork();
		if (pid < 0) {
			return 1;
		}
		if (pid == 0) {
			close(1);
			close(2);
			sleep(60);
			_exit(0);
		}
		printf("child %d\n", (int)pid);
		return 0;
	}
	if (strcmp(mode, "self") == 0) {
		char cwd[PATH_MAX];
		DIR *d = opendir("/proc/self/fd");
		struct dirent *de;

		for (char **e = environ; *e; e++) {
			printf("env %s\n", *e);
		}
		if (!d) {
			return 1;
		}
		while ((de = readdir(d))) {
			int fd;
			if (sscanf(de->d_name, "%d", &fd) == 1 && fd != dirfd(d)) {
				printf("fd %d\n", fd);
			}
		}
		closedir(d);
		printf("session leader %s\n", getsid(0) == getpid() ? "yes" : "no");
		printf("group leader %s\n", getpgid(0) == getpid() ? "yes" : "no");
		printf("cwd %s\n", getcwd(cwd, sizeof(cwd)) ? cwd : "?");
		return 0;
	}
	fprintf(stderr, "hook-helper: unknown mode '%s'\n", mode);
	return 2;
}
