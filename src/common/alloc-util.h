/* Header-only, shared by libdevpass and the devpass command (src/common is below every
 * layer of the library and part of neither API). */
/* Ownership in libdevpass: a variable declared with a _cleanup_*_ attribute owns what it
 * points to and frees it when it goes out of scope, on every return path; TAKE_PTR hands
 * the object on (to the caller, or into a structure) and leaves NULL behind, so the
 * cleanup frees nothing. One idiom for every function: no hand-written free ladders, no
 * "r == 0 &&" chains to reach a shared exit.
 *
 *     _cleanup_free_ char *text = NULL;
 *     if (dp_fs_read_all(path, &text, NULL) < 0) return -EIO;   (text freed)
 *     out->text = TAKE_PTR(text);                                (text kept)
 *
 * Allocation failures are checked where they happen: the helpers here return NULL or
 * -ENOMEM, never abort. */
#ifndef DP_ALLOC_UTIL_H
#define DP_ALLOC_UTIL_H

#include <dirent.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "devpass.h"

#define _cleanup_(f) __attribute__((cleanup(f)))

/* Returns the pointer and clears the variable: ownership moves to the receiver. */
#define TAKE_PTR(p)                          \
	({                                   \
		__typeof__(p) *_pp_ = &(p);  \
		__typeof__(p) _p_ = *_pp_;   \
		*_pp_ = NULL;                \
		_p_;                         \
	})

/* The same for descriptors: -1 is "owns nothing". */
#define TAKE_FD(fd)                          \
	({                                   \
		int *_fdp_ = &(fd);          \
		int _fd_ = *_fdp_;           \
		*_fdp_ = -1;                 \
		_fd_;                        \
	})

static inline void freep(void *p)
{
	free(*(void **)p);
}

static inline void closep(int *fd)
{
	if (*fd >= 0) {
		int saved = errno;   /* a cleanup must not change what the caller reports */
		close(*fd);
		errno = saved;
	}
}

static inline void fclosep(FILE **f)
{
	if (*f)
		fclose(*f);
}

static inline void closedirp(DIR **d)
{
	if (*d)
		closedir(*d);
}

#define _cleanup_free_ _cleanup_(freep)
#define _cleanup_close_ _cleanup_(closep)
#define _cleanup_fclose_ _cleanup_(fclosep)
#define _cleanup_closedir_ _cleanup_(closedirp)

/* For types with a free function taking a pointer to a struct that lives on the stack
 * (struct dp_strv sv = {0}; dp_strv_free(&sv)): DEFINE_CLEANUP_STRUCT(dp_strv, dp_strv_free)
 * makes _cleanup_(dp_strv_freep) work on the struct itself. */
#define DEFINE_CLEANUP_STRUCT(type, func)          \
	static inline void func##p(struct type *p) \
	{                                          \
		func(p);                           \
	}

/* For heap objects with a free function taking the pointer (json_object_put, ...). */
#define DEFINE_CLEANUP_PTR(type, func, name)     \
	static inline void name(type **p)        \
	{                                        \
		if (*p)                          \
			func(*p);                \
	}

DEFINE_CLEANUP_STRUCT(dp_strv, dp_strv_free)
DEFINE_CLEANUP_STRUCT(dp_pci_list, dp_pci_list_free)
DEFINE_CLEANUP_STRUCT(dp_group_list, dp_groups_free)
DEFINE_CLEANUP_STRUCT(dp_pool_list, dp_pool_list_free)
DEFINE_CLEANUP_STRUCT(dp_pool_members, dp_pool_members_free)
DEFINE_CLEANUP_STRUCT(dp_persist_rules, dp_persist_rules_free)
DEFINE_CLEANUP_STRUCT(dp_foreign_list, dp_foreign_list_free)
DEFINE_CLEANUP_STRUCT(dp_vm_def, dp_vm_def_free)
DEFINE_CLEANUP_STRUCT(dp_vm_status, dp_vm_status_free)
DEFINE_CLEANUP_STRUCT(dp_vm_list, dp_vm_list_free)
DEFINE_CLEANUP_STRUCT(dp_vm_report, dp_vm_report_free)
/* mediated devices */
DEFINE_CLEANUP_STRUCT(dp_mdev_type_list, dp_mdev_type_list_free)
DEFINE_CLEANUP_STRUCT(dp_mdev_list, dp_mdev_list_free)
DEFINE_CLEANUP_STRUCT(dp_mdev_def_list, dp_mdev_def_list_free)

/* Records "out of memory" as the library's message and returns -ENOMEM, for the places
 * with nothing more specific to say. */
static inline int dp_oom(void)
{
	return dp_error_set(-ENOMEM, "out of memory");
}

/* Grows an array of n elements of size sz to hold n+extra, checking for overflow and
 * failure; on failure *arr is untouched. Returns 0 or -ENOMEM. */
static inline int dp_array_grow(void *arr, size_t n, size_t extra, size_t sz)
{
	void **p = arr;
	if (extra > SIZE_MAX / sz - n)
		return -ENOMEM;
	void *grown = realloc(*p, (n + extra) * sz);
	if (!grown)
		return -ENOMEM;
	*p = grown;
	return 0;
}

#endif
