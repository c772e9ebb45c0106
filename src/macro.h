/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * Small macros shared by every module: scope-bound cleanup, ownership transfer,
 * container_of, array sizes. Nothing here allocates or logs.
 */

#include <assert.h>
#include <stdarg.h>
#include <sys/param.h> /* its MIN/MAX are replaced below */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* Microseconds; the only time type outside the uv/curl boundary. */
typedef uint64_t usec_t;
#define USEC_INFINITY ((usec_t)UINT64_MAX)
#define USEC_PER_MSEC ((usec_t)1000ULL)
#define USEC_PER_SEC ((usec_t)1000000ULL)
#define USEC_PER_MINUTE (60ULL * USEC_PER_SEC)
#define USEC_PER_HOUR (60ULL * USEC_PER_MINUTE)
#define USEC_PER_DAY (24ULL * USEC_PER_HOUR)

#define _cleanup_(f) __attribute__((cleanup(f)))
#define _unused_ __attribute__((unused))
#define _printf_(a, b) __attribute__((format(printf, a, b)))
#define _warn_unused_result_ __attribute__((warn_unused_result))
#define _likely_(x) (__builtin_expect(!!(x), 1))
#define _unlikely_(x) (__builtin_expect(!!(x), 0))

#define ELEMENTSOF(x) (sizeof(x) / sizeof((x)[0]))

#define container_of(ptr, type, member) ((type *)(void *)((char *)(ptr) - offsetof(type, member)))

/* Hand ownership of *ptr to the caller and leave NULL behind. */
#define TAKE_PTR(p)                                                                                \
	({                                                                                         \
		__typeof__(p) _tp_ = (p);                                                          \
		(p) = NULL;                                                                        \
		_tp_;                                                                              \
	})

#define TAKE_FD(fd)                                                                                \
	({                                                                                         \
		int _tfd_ = (fd);                                                                  \
		(fd) = -1;                                                                         \
		_tfd_;                                                                             \
	})

#undef MIN
#undef MAX
#define MIN(a, b)                                                                                  \
	({                                                                                         \
		__typeof__(a) _a_ = (a);                                                           \
		__typeof__(b) _b_ = (b);                                                           \
		_a_ < _b_ ? _a_ : _b_;                                                             \
	})
#define MAX(a, b)                                                                                  \
	({                                                                                         \
		__typeof__(a) _a_ = (a);                                                           \
		__typeof__(b) _b_ = (b);                                                           \
		_a_ > _b_ ? _a_ : _b_;                                                             \
	})

static inline void freep(void *p)
{
	free(*(void **)p);
}

#define DEFINE_TRIVIAL_CLEANUP_FUNC(type, func)                                                    \
	static inline void func##p(type *p)                                                        \
	{                                                                                          \
		if (*p) {                                                                          \
			func(*p);                                                                  \
		}                                                                                  \
	}
