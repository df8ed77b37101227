/* The one gateway between libdevpass and the host's filesystems (sysfs, procfs, devfs,
 * /etc, /run, /var/lib). Every path given here is relative to the filesystem root set by
 * dp_root_set() (a leading '/' is allowed and ignored). Paths with a ".." component are
 * refused, and opens are confined to the root with openat2(RESOLVE_IN_ROOT), so neither
 * user input nor an absolute symlink in a captured tree can reach outside it. */
#ifndef DP_SYSROOT_H
#define DP_SYSROOT_H

#include <dirent.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/stat.h>
#include <sys/types.h>

#include "devpass.h"

/* Reads at most size-1 bytes and NUL-terminates; returns the byte count or -errno. */
ssize_t dp_fs_read(const char *path, char *buf, size_t size);
/* Like dp_fs_read, with trailing white space removed. */
int dp_fs_read_line(const char *path, char *buf, size_t size);
/* Reads a whole file into a malloc'ed, NUL-terminated buffer. */
int dp_fs_read_all(const char *path, char **out, size_t *len);
/* Target of a symlink, as stored. */
int dp_fs_readlink(const char *path, char *buf, size_t size);
/* Last component of a symlink's target ("../../../kernel/iommu_groups/7" → "7"). */
int dp_fs_readlink_name(const char *path, char *buf, size_t size);
/* Resolves every symlink in path inside the root; the result is root-relative. */
int dp_fs_resolve(const char *path, char *out, size_t size);
bool dp_fs_exists(const char *path);
/* Appends "dir/name" for each entry of dir whose name ends in suffix (no dot files),
 * sorted by name, as config directories (modprobe.d, grub.d, loader entries) are read.
 * -errno when dir cannot be opened (-ENOENT: no such directory). */
int dp_fs_list(const char *dir, const char *suffix, struct dp_strv *paths);
int dp_fs_stat(const char *path, struct stat *st);
DIR *dp_fs_opendir(const char *path);
/* A directory opened once for reading many of its entries (the attributes of the
 * functions below one bridge): saves walking the whole path for each. Entries are
 * "name" or "sub/name" beneath the directory, opened without following any symlink
 * (readlink reads the last one), so nothing leads out of the directory. */
int dp_fs_dir_open(const char *path);     /* a descriptor, or -errno */
void dp_fs_dir_close(int dirfd);
ssize_t dp_fs_dir_read(int dirfd, const char *name, char *buf, size_t size);
int dp_fs_dir_read_line(int dirfd, const char *name, char *buf, size_t size);
int dp_fs_dir_readlink(int dirfd, const char *name, char *buf, size_t size);
int dp_fs_dir_readlink_name(int dirfd, const char *name, char *buf, size_t size);
/* Reading many small attributes, one system call per close is a third of the cost:
 * dp_fs_dir_read_line_deferred leaves the file open in the batch, and the batch closes
 * its descriptors in runs of consecutive numbers (close_range), when it is full and at
 * dp_fs_batch_close. A thread with a descriptor table of its own (unshare(CLONE_FILES))
 * gets consecutive numbers. */
#define DP_FS_BATCH 64
struct dp_fs_batch {
	int fd[DP_FS_BATCH];
	size_t n;
};
int dp_fs_dir_read_line_deferred(struct dp_fs_batch *b, int dirfd, const char *name, char *buf,
                                 size_t size);
void dp_fs_batch_close(struct dp_fs_batch *b);

/* ---- block devices ---------------------------------------------------------------- */
/* Asks the kernel whether block device rdev (its node at path) is in use: an exclusive
 * open, closed at once. 0: free; -EBUSY: mounted in some namespace, active swap, or
 * claimed by md/dm/btrfs/zfs/bcache; -ENOTBLK: path is not that block device (a regular
 * file in a captured tree, or a node that names another device); other -errno: unknown
 * (no permission). Nothing but a block device is ever opened. */
int dp_fs_block_probe_exclusive(const char *path, dev_t rdev);
/* The device of the file behind loop device rdev (LOOP_GET_STATUS64: lo_device), from
 * the kernel, whatever namespace or unmounted filesystem the file is on. */
int dp_fs_loop_backing(const char *path, dev_t rdev, dev_t *backing);

/* ---- writes ---------------------------------------------------------------------- */
/* Writes data to a kernel attribute (or any file) in one write(2). A timeout_ms > 0 runs
 * the write in a child process: a sysfs unbind can block in the driver's remove() for as
 * long as a user holds the device, and a stuck child is left behind rather than the
 * caller. Returns 0, -ETIMEDOUT, or -errno of the write. */
int dp_fs_write(const char *path, const char *data, int timeout_ms);
/* A read that can block the same way (driver_override waits for the device lock a hung
 * unbind holds), through the same helper. */
int dp_fs_read_line_timeout(const char *path, char *buf, size_t size, int timeout_ms);
/* Tests install a fake kernel here: every dp_fs_write goes to it instead. */
typedef int (*dp_fs_write_hook)(const char *path, const char *data, void *ctx);
void dp_fs_set_write_hook(dp_fs_write_hook hook, void *ctx);
/* Whether writes to ROOT/sys reach a kernel: sys is a mounted sysfs (statfs magic), or a
 * fake kernel is installed. Writes to sys refuse (-ENXIO) when not. */
bool dp_fs_kernel_present(void);
/* 0 when dp_fs_kernel_present(), else -ENXIO with the message "ROOT/sys is not a sysfs
 * ...": every operation that writes to sys calls it before its first change of
 * anything (state files, locks, the ledger). */
int dp_fs_require_kernel(void);
int dp_fs_mkdir_p(const char *path, mode_t mode);
/* Opens (creating) a lock file and takes an exclusive flock; returns the descriptor. */
int dp_fs_lock(const char *path);
/* Tests are told of named points here, to stop a process at one: "lock-wait" (detail: the
 * lock file) when dp_fs_lock is about to wait for another holder; "helper-request" (the
 * request: W or R, then the path) when the write helper has received one. */
typedef void (*dp_fs_event_hook)(const char *event, const char *detail);
void dp_fs_set_event_hook(dp_fs_event_hook hook);
void dp_fs_unlock(int fd);
int dp_fs_chown(const char *path, uid_t uid, gid_t gid);
/* Configuration files: replaced whole and atomically (temporary file, fsync, rename), so
 * a crash leaves the old file or the new one. The parent directory must exist. */
int dp_fs_write_file(const char *path, const char *data, size_t len, mode_t mode);
int dp_fs_unlink(const char *path);
int dp_fs_rmdir(const char *path);          /* -ENOTEMPTY when something else is in it */

/* A path through /proc/self/fd to a directory opened inside the root; *fd must stay open
 * while the path is used. */
int dp_fs_dir_handle_path(const char *path, int *fd, char *out, size_t size);
/* An absolute path for libraries that must open files themselves (libkmod). */
int dp_fs_host_path(const char *path, char *out, size_t size);
/* The running program's own file (/proc/self/exe of this process, never under the root:
 * it names the binary a hook script is to run). */
int dp_fs_self_exe(char *out, size_t size);
/* Lexical checks shared with callers that build paths from user input. */
bool dp_fs_path_is_safe(const char *path);

/* ---- vm media: files made once and never replaced ------------------------------------ */
/* Copies src to dest (temporary file beside it, fsync, then moved into place): -EEXIST
 * when dest exists, which is left as it was; nothing is left behind on failure. */
int dp_fs_copy_file(const char *src, const char *dest, mode_t mode);
/* rename(2) that never replaces: -EEXIST when to exists. */
int dp_fs_rename_noreplace(const char *from, const char *to);
int dp_fs_chmod(const char *path, mode_t mode);   /* the path itself, not a link's target */
/* ---- unix sockets and read-only descriptors (vm: QMP, the console, pidfiles) ------ */
/* Connects a unix stream socket (non-blocking, close-on-exec) to the socket file at path
 * inside the root. The file is opened inside the root first and reached through
 * /proc/self/fd, so sun_path's 108 bytes never limit the root or the path. Returns the
 * descriptor or -errno: -ENOENT no such file, -ENOTSOCK not a socket, -ECONNREFUSED
 * nobody listens (a stale socket), -EAGAIN the listener's backlog is full (try again). */
int dp_fs_unix_connect(const char *path);
/* Opens a file read-only (close-on-exec, never a controlling tty); a descriptor or -errno. */
int dp_fs_open_read(const char *path);

/* Opens (creating, 0644) a file for appending: logs. A descriptor or -errno. */
int dp_fs_open_append(const char *path);
/* The host's /dev/null (not the root's: a detached process's stdin and stdout are not
 * part of the managed tree), read-write. A descriptor or -errno. */
int dp_fs_open_devnull(void);
/* For a detached process (the VM supervisor), after it has set up 0, 1 and 2: closes
 * every descriptor from 3 up but keep (-1: none) and the root's, and forgets the locks
 * and the write helper of the parent it was forked from (they stay the parent's: an
 * inherited lock descriptor would hold the parent's flock for as long as it lives). */
int dp_fs_close_inherited(int keep);
/* ---- vm ---------------------------------------------------------------------------- */
/* 1: the directory path is a mounted hugetlbfs (statfs: HUGETLBFS_MAGIC); 0: another
 * filesystem (a plain directory in a captured tree); -errno: it cannot be opened. */
int dp_fs_is_hugetlbfs(const char *path);

#endif
