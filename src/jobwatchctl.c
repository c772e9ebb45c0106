/* SPDX-License-Identifier: MIT */
/*
 * jobwatchctl: the command line of jobwatch. It adds job files, lists what the
 * daemon knows from its state file, waits for results in the journal and
 * starts jobs on Dify. It reuses the pure layer (config, jobfile, dify,
 * response, timespan, util) and the state store's reader (state-read.c),
 * never the daemon's internals (no event loop, poller or registry): see
 * src/meson.build. The parts are described in ctl.h.
 */
#include <curl/curl.h>
#include <errno.h>

#include "ctl.h"
#include "log.h"

int main(int argc, char *argv[])
{
	const struct verb *v = NULL;
	_cleanup_(freep) char **args = NULL;
	enum ctl_exit r;
	size_t n = 0;

	/* state-read.c reports read failures through log.h: as us, on stderr */
	log_set_identifier("jobwatchctl");
	log_setup(LOG_TARGET_CONSOLE);

	r = ctl_parse_argv(argc, argv, &v, &args, &n);
	if (r != CTL_EXIT_SUCCESS || !v) {
		return (int)r; /* a usage error, or --help and --version done */
	}
	if (v->run == verb_start && curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		ctl_fail(-EIO, "cannot initialise libcurl");
		return CTL_EXIT_FAILURE;
	}
	r = v->run(args, n);
	if (v->run == verb_start) {
		curl_global_cleanup();
	}
	return (int)r;
}
