#include "fs/sysroot.h"

#include <errno.h>
#include <sched.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/magic.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <signal.h>
#include <linux/loop.h>
#include <sys/file.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "devpass.h"
#include "alloc-util.h"

static char root_path[PATH_MAX] = "/";
static int root_fd = -1;
static bool have_openat2 = true;
static int sys_is_sysfs = -1;   /* ROOT/sys checked once per root: -1 not yet, 0 or 1 */

/* Resolving ".." under RESOLVE_IN_ROOT fails with EAGAIN when a rename happens anywhere
 * on the system meanwhile (the kernel cannot prove the walk stayed inside): try again,
 * as the kernel asks. sysfs device links hold "..". */
static int openat2_retry(int dirfd, const char *path, struct open_how *how)
{
	int fd = -1;
	for (int attempt = 0; attempt < 4096; attempt++) {
		fd = (int)syscall(SYS_openat2, dirfd, path, how, sizeof(*how));
		if (fd >= 0 || errno != EAGAIN)
			break;
		if (attempt >= 16)
			sched_yield();   /* a burst of renames elsewhere: let it pass */
	}
	return fd;
}

static void writer_forget(void);

int dp_root_set(const char *dir)
{
	if (!dir || !*dir)
		dir = getenv("DEVPASS_ROOT");
	if (!dir || !*dir)
		dir = "/";
	int fd = open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return dp_error_set(-errno, "cannot use '%s' as the filesystem root: %s", dir,
		                    strerror(errno));
	if (!realpath(dir, root_path)) {
		close(fd);
		return dp_error_set(-errno, "cannot resolve root '%s': %s", dir, strerror(errno));
	}
	if (root_fd >= 0)
		close(root_fd);
	root_fd = fd;
	sys_is_sysfs = -1;
	writer_forget();
	return 0;
}

const char *dp_root_path(void)
{
	return root_path;
}

bool dp_root_is_host(void)
{
	return strcmp(root_path, "/") == 0;
}

bool dp_root_has_pci_bus(void)
{
	return dp_fs_exists("sys/bus/pci");
}

static int root_get(void)
{
	if (root_fd < 0 && dp_root_set(NULL) < 0)
		return -1;
	return root_fd;
}

bool dp_fs_path_is_safe(const char *path)
{
	const char *p = path;
	while (*p) {
		while (*p == '/')
			p++;
		const char *end = strchrnul(p, '/');
		if (end - p == 2 && p[0] == '.' && p[1] == '.')
			return false;
		p = end;
	}
	return true;
}

/* Root-relative form of path: strips leading slashes; "" means the root itself. */
static const char *relative(const char *path)
{
	while (*path == '/')
		path++;
	return *path ? path : ".";
}

static int open_in_root(const char *path, int flags)
{
	if (!dp_fs_path_is_safe(path)) {
		errno = EACCES;
		return -1;
	}
	int dirfd = root_get();
	if (dirfd < 0) {
		errno = EBADF;
		return -1;
	}
	if (have_openat2) {
		struct open_how how = {
			.flags = (unsigned)flags | O_CLOEXEC,
			.mode = (flags & O_CREAT) ? 0644 : 0,
			.resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS,
		};
		int fd = openat2_retry(dirfd, relative(path), &how);
		if (fd >= 0 || errno != ENOSYS)
			return fd;
		have_openat2 = false;   /* kernels before 5.6: fall back to lexical checks only */
	}
	return openat(dirfd, relative(path), flags | O_CLOEXEC, 0644);
}

static ssize_t fd_read_close(int fd, char *buf, size_t size)
{
	if (fd < 0)
		return -errno;
	ssize_t total = 0;
	while ((size_t)total < size - 1) {
		ssize_t r = read(fd, buf + total, size - 1 - (size_t)total);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			int err = errno;
			close(fd);
			buf[0] = '\0';
			return -err;
		}
		total += r;
		/* a short read is the end: sysfs hands over a whole attribute at once and
		 * regular files return less only at EOF; this saves a read per attribute */
		if (r == 0 || (size_t)r < size - 1 - (size_t)(total - r))
			break;
	}
	close(fd);
	buf[total] = '\0';
	return total;
}

ssize_t dp_fs_read(const char *path, char *buf, size_t size)
{
	return fd_read_close(open_in_root(path, O_RDONLY), buf, size);
}

static int trim_line(char *buf, ssize_t n)
{
	if (n < 0)
		return (int)n;
	while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == ' ' || buf[n - 1] == '\t'))
		buf[--n] = '\0';
	return (int)n;
}

int dp_fs_read_line(const char *path, char *buf, size_t size)
{
	return trim_line(buf, dp_fs_read(path, buf, size));
}

int dp_fs_dir_open(const char *path)
{
	int fd = open_in_root(path, O_PATH | O_DIRECTORY);
	return fd < 0 ? -errno : fd;
}

void dp_fs_dir_close(int dirfd)
{
	if (dirfd >= 0)
		close(dirfd);
}


/* Entries are "name" or "sub/name" below the directory: relative, without "..". */
static bool beneath_path_ok(const char *rel)
{
	return *rel && rel[0] != '/' && dp_fs_path_is_safe(rel);
}

/* Opened beneath the directory with no symlink followed, so a crafted tree cannot lead
 * the read elsewhere. */
static int open_beneath(int dirfd, const char *rel)
{
	if (!beneath_path_ok(rel)) {
		errno = EACCES;
		return -1;
	}
	if (have_openat2) {
		struct open_how how = {
			.flags = O_RDONLY | O_CLOEXEC,
			.resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS,
		};
		int fd = openat2_retry(dirfd, rel, &how);
		if (fd >= 0 || errno != ENOSYS)
			return fd;
		have_openat2 = false;
	}
	return openat(dirfd, rel, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
}

ssize_t dp_fs_dir_read(int dirfd, const char *name, char *buf, size_t size)
{
	return fd_read_close(open_beneath(dirfd, name), buf, size);
}

int dp_fs_dir_read_line(int dirfd, const char *name, char *buf, size_t size)
{
	return trim_line(buf, dp_fs_dir_read(dirfd, name, buf, size));
}

/* Like fd_read_close, leaving the descriptor open. */
static ssize_t fd_read_keep(int fd, char *buf, size_t size)
{
	ssize_t total = 0;
	while ((size_t)total < size - 1) {
		ssize_t r = read(fd, buf + total, size - 1 - (size_t)total);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			buf[0] = '\0';
			return -errno;
		}
		total += r;
		if (r == 0 || (size_t)r < size - 1 - (size_t)(total - r))
			break;
	}
	buf[total] = '\0';
	return total;
}

static void fd_run_close(int first, int last)
{
	if (first == last || syscall(SYS_close_range, (unsigned)first, (unsigned)last, 0) < 0)
		for (int fd = first; fd <= last; fd++)
			close(fd);
}

void dp_fs_batch_close(struct dp_fs_batch *b)
{
	size_t i = 0;
	while (i < b->n) {
		size_t j = i;
		while (j + 1 < b->n && b->fd[j + 1] == b->fd[j] + 1)
			j++;
		fd_run_close(b->fd[i], b->fd[j]);
		i = j + 1;
	}
	b->n = 0;
}

int dp_fs_dir_read_line_deferred(struct dp_fs_batch *b, int dirfd, const char *name, char *buf,
                                 size_t size)
{
	if (b->n == DP_FS_BATCH)
		dp_fs_batch_close(b);
	int fd = open_beneath(dirfd, name);
	if (fd < 0 && errno == EMFILE && b->n) {   /* the caller is near its limit: make room */
		dp_fs_batch_close(b);
		fd = open_beneath(dirfd, name);
	}
	if (fd < 0)
		return -errno;
	b->fd[b->n++] = fd;
	return trim_line(buf, fd_read_keep(fd, buf, size));
}

static int last_component(const char *target, char *buf, size_t size)
{
	const char *slash = strrchr(target, '/');
	const char *name = slash ? slash + 1 : target;
	if (strlen(name) >= size)
		return -ENAMETOOLONG;
	strcpy(buf, name);
	return 0;
}

int dp_fs_dir_readlink(int dirfd, const char *name, char *buf, size_t size)
{
	if (!beneath_path_ok(name))
		return -EACCES;
	ssize_t n = readlinkat(dirfd, name, buf, size - 1);
	if (n < 0)
		return -errno;
	buf[n] = '\0';
	return (int)n;
}

int dp_fs_dir_readlink_name(int dirfd, const char *name, char *buf, size_t size)
{
	char target[PATH_MAX];
	int n = dp_fs_dir_readlink(dirfd, name, target, sizeof(target));
	return n < 0 ? n : last_component(target, buf, size);
}

int dp_fs_read_all(const char *path, char **out, size_t *len)
{
	_cleanup_close_ int fd = open_in_root(path, O_RDONLY);
	if (fd < 0)
		return -errno;
	size_t cap = 16384, used = 0;
	_cleanup_free_ char *buf = malloc(cap);
	if (!buf)
		return -ENOMEM;
	for (;;) {
		if (used + 1 >= cap) {
			char *grown = cap > SIZE_MAX / 2 ? NULL : realloc(buf, cap * 2);
			if (!grown)
				return -ENOMEM;
			buf = grown;
			cap *= 2;
		}
		ssize_t r = read(fd, buf + used, cap - used - 1);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -errno;
		if (r == 0)
			break;
		used += (size_t)r;
	}
	buf[used] = '\0';
	*out = TAKE_PTR(buf);
	if (len)
		*len = used;
	return 0;
}

int dp_fs_readlink(const char *path, char *buf, size_t size)
{
	if (!dp_fs_path_is_safe(path))
		return -EACCES;
	int dirfd = root_get();
	if (dirfd < 0)
		return -EBADF;
	/* readlinkat follows the intermediate components itself; sysfs links are all
	 * relative, and the callers pass paths built from validated device names. */
	ssize_t n = readlinkat(dirfd, relative(path), buf, size - 1);
	if (n < 0)
		return -errno;
	buf[n] = '\0';
	return (int)n;
}

int dp_fs_readlink_name(const char *path, char *buf, size_t size)
{
	char target[PATH_MAX];
	int n = dp_fs_readlink(path, target, sizeof(target));
	return n < 0 ? n : last_component(target, buf, size);
}

/* Appends component to the root-relative path in out (PATH_MAX bytes), handling "." and
 * "..". ".." never climbs above the root, as inside a chroot. False when it would not fit:
 * a captured tree can hold links of any length. */
static bool path_push(char *out, const char *comp, size_t len)
{
	if (len == 1 && comp[0] == '.')
		return true;
	if (len == 2 && comp[0] == '.' && comp[1] == '.') {
		char *slash = strrchr(out, '/');
		if (slash)
			*slash = '\0';
		else
			out[0] = '\0';
		return true;
	}
	size_t used = strlen(out);
	if (used + len + 2 > PATH_MAX)
		return false;
	if (used)
		out[used++] = '/';
	memcpy(out + used, comp, len);
	out[used + len] = '\0';
	return true;
}

int dp_fs_resolve(const char *path, char *out, size_t size)
{
	if (!dp_fs_path_is_safe(path))
		return -EACCES;
	char pending[PATH_MAX * 2];
	char resolved[PATH_MAX] = "";
	int hops = 0;
	snprintf(pending, sizeof(pending), "%s", path);
	char *p = pending;
	while (*p) {
		while (*p == '/')
			p++;
		if (!*p)
			break;
		char *end = strchrnul(p, '/');
		size_t len = (size_t)(end - p);
		char candidate[PATH_MAX];
		snprintf(candidate, sizeof(candidate), "%s", resolved);
		if (!path_push(candidate, p, len))
			return -ENAMETOOLONG;
		char target[PATH_MAX];
		int n = candidate[0] ? dp_fs_readlink(candidate, target, sizeof(target)) : -EINVAL;
		if (n >= 0) {
			if (++hops > 40)
				return -ELOOP;
			/* splice the target in front of what is left of the path */
			char rest[PATH_MAX * 2];
			snprintf(rest, sizeof(rest), "%s/%s", target, end);
			if (target[0] == '/')
				resolved[0] = '\0';
			snprintf(pending, sizeof(pending), "%s", rest);
			p = pending;
			continue;
		}
		if (n != -EINVAL)
			return n;   /* missing, or not a directory */
		snprintf(resolved, sizeof(resolved), "%s", candidate);
		p = end;
	}
	if (strlen(resolved) >= size)
		return -ENAMETOOLONG;
	strcpy(out, resolved);
	return 0;
}

bool dp_fs_exists(const char *path)
{
	struct stat st;
	return dp_fs_stat(path, &st) == 0;
}

int dp_fs_stat(const char *path, struct stat *st)
{
	int fd = open_in_root(path, O_PATH);
	if (fd < 0)
		return -errno;
	int r = fstat(fd, st);
	int err = errno;
	close(fd);
	return r < 0 ? -err : 0;
}

DIR *dp_fs_opendir(const char *path)
{
	int fd = open_in_root(path, O_RDONLY | O_DIRECTORY);
	if (fd < 0)
		return NULL;
	DIR *d = fdopendir(fd);
	if (!d)
		close(fd);
	return d;
}

int dp_fs_host_path(const char *path, char *out, size_t size)
{
	if (!dp_fs_path_is_safe(path))
		return -EACCES;
	root_get();
	int n = snprintf(out, size, "%s/%s", dp_root_is_host() ? "" : root_path, relative(path));
	return n < 0 || (size_t)n >= size ? -ENAMETOOLONG : 0;
}

/* ---- writes ------------------------------------------------------------------------ */

static dp_fs_write_hook write_hook;
static void *write_hook_ctx;

void dp_fs_set_write_hook(dp_fs_write_hook hook, void *ctx)
{
	writer_forget();
	write_hook = hook;
	write_hook_ctx = ctx;
}

/* A captured or generated tree has plain files where the kernel's attributes would be:
 * writing them changes nothing in any kernel and garbles the tree. Only a mounted sysfs
 * (or a test's fake kernel) carries a write out. */
bool dp_fs_kernel_present(void)
{
	if (write_hook)
		return true;
	if (sys_is_sysfs < 0) {
		struct statfs sf;
		int fd = open_in_root("sys", O_PATH | O_DIRECTORY);
		sys_is_sysfs = fd >= 0 && fstatfs(fd, &sf) == 0 && sf.f_type == SYSFS_MAGIC;
		if (fd >= 0)
			close(fd);
	}
	return sys_is_sysfs == 1;
}

int dp_fs_require_kernel(void)
{
	if (dp_fs_kernel_present())
		return 0;
	root_get();
	return dp_error_set(-ENXIO, "%s/sys is not a sysfs (no kernel behind it): binding needs a "
	                    "live sysfs; nothing was changed", dp_root_is_host() ? "" : root_path);
}

static bool under_sys(const char *path)
{
	const char *rel = relative(path);
	return strncmp(rel, "sys", 3) == 0 && (rel[3] == '/' || rel[3] == '\0');
}

static int write_now(const char *path, const char *data)
{
	if (write_hook)
		return write_hook(path, data, write_hook_ctx);
	int fd = open_in_root(path, O_WRONLY);
	if (fd < 0)
		return -errno;
	size_t len = strlen(data);
	ssize_t n = write(fd, data, len);
	int err = n < 0 ? errno : (size_t)n != len ? EIO : 0;
	if (close(fd) < 0 && !err)
		err = errno;
	return -err;
}

static dp_fs_event_hook event_hook;

void dp_fs_set_event_hook(dp_fs_event_hook hook)
{
	event_hook = hook;
}

/* The locks this process holds (dp_fs_lock) are lent to the helper with every write: a
 * process killed while its helper writes then leaves the lock held until that write is
 * done, so the next holder never sees a write land behind its back. dp_fs_unlock drops
 * a lock explicitly (LOCK_UN acts on the lock itself, whoever else has a copy): a helper
 * left behind in a hung write does not keep its lock. */
#define LOCKS_LENT_MAX 253   /* SCM_MAX_FD: what one message carries */
static int *locks_held;
static size_t nlocks_held;

static int lock_note(int fd)
{
	int *grown = realloc(locks_held, (nlocks_held + 1) * sizeof(*locks_held));
	if (!grown)
		return -ENOMEM;
	locks_held = grown;
	locks_held[nlocks_held++] = fd;
	return 0;
}

static void lock_forget(int fd)
{
	for (size_t i = 0; i < nlocks_held; i++)
		if (locks_held[i] == fd) {
			locks_held[i] = locks_held[--nlocks_held];
			return;
		}
}

/* Writes that can block go through a helper process, started at the first such write
 * and kept for the rest: the caller waits for its answer at most timeout_ms. A helper
 * stuck in the kernel cannot be killed; it is abandoned (it finishes or stays alone)
 * and the next write starts a new one. */
static pid_t writer_pid = -1;
static int writer_fd = -1;
static pid_t writer_owner;   /* a forked copy of us must not share our helper */

/* One request and the descriptors lent with it (closed by the caller, *nfds of them). */
static ssize_t request_receive(int fd, char *req, size_t size, int *fds, size_t *nfds)
{
	union {
		char buf[CMSG_SPACE(LOCKS_LENT_MAX * sizeof(int))];
		struct cmsghdr align;
	} control;
	struct iovec iov = {.iov_base = req, .iov_len = size};
	struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = control.buf,
	                     .msg_controllen = sizeof(control.buf)};
	ssize_t n = recvmsg(fd, &msg, MSG_CMSG_CLOEXEC);
	*nfds = 0;
	for (struct cmsghdr *c = n >= 0 ? CMSG_FIRSTHDR(&msg) : NULL; c; c = CMSG_NXTHDR(&msg, c))
		if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS) {
			size_t k = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
			if (k > LOCKS_LENT_MAX - *nfds)   /* never more than one message carries */
				k = LOCKS_LENT_MAX - *nfds;
			memcpy(fds + *nfds, CMSG_DATA(c), k * sizeof(int));
			*nfds += k;
		}
	return n;
}

/* Requests are "W<path>\0<data>" (answered with an int) or "R<path>" (answered with the
 * int result and the bytes read). A write whose sender is gone (killed while waiting) is
 * not made: a killed devpass stops moving devices; what it lent is given back at once. */
static void __attribute__((noreturn)) writer_serve(int fd, pid_t sender)
{
	char req[PATH_MAX + 4096];
	int lent[LOCKS_LENT_MAX];
	size_t nlent;
	struct {
		int r;
		char data[4096];
	} answer;
	for (;;) {
		ssize_t n = request_receive(fd, req, sizeof(req) - 1, lent, &nlent);
		if (n <= 0)
			_exit(0);
		req[n] = '\0';
		size_t len = sizeof(answer.r);
		if (event_hook)
			event_hook("helper-request", req);
		if (getppid() != sender)
			_exit(0);
		if (req[0] == 'R') {
			ssize_t got = fd_read_close(open_in_root(req + 1, O_RDONLY), answer.data,
			                            sizeof(answer.data));
			answer.r = (int)got;
			len += got > 0 ? (size_t)got + 1 : 0;
		} else
			answer.r = write_now(req + 1, req + strlen(req) + 1);
		for (size_t i = 0; i < nlent; i++)
			close(lent[i]);
		if (send(fd, &answer, len, MSG_NOSIGNAL) != (ssize_t)len)
			_exit(1);
	}
}

/* Closes every descriptor but two (close_range where the kernel has it, 5.9 and later). */
static void fds_close_except(int a, int b)
{
	int lo = a < b ? a : b, hi = a < b ? b : a;
	bool ok = (lo == 0 || close_range(0, (unsigned)lo - 1, 0) == 0) &&
	          (hi == lo + 1 || close_range((unsigned)lo + 1, (unsigned)hi - 1, 0) == 0) &&
	          close_range((unsigned)hi + 1, ~0U, 0) == 0;
	if (ok)
		return;
	long max = sysconf(_SC_OPEN_MAX);
	for (int fd = 0; fd < (max > 0 && max < 65536 ? max : 65536); fd++)
		if (fd != a && fd != b)
			close(fd);
}

static int writer_start(void)
{
	int sv[2];
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
		return -errno;
	fflush(NULL);
	pid_t sender = getpid();
	pid_t pid = fork();
	if (pid < 0) {
		close(sv[0]);
		close(sv[1]);
		return -errno;
	}
	if (pid == 0) {
		/* keep only the socket and the root: an inherited lock file would keep its
		 * flock held, and an inherited pipe would keep the caller's reader waiting */
		fds_close_except(sv[1], root_fd);
		writer_serve(sv[1], sender);
	}
	close(sv[1]);
	writer_pid = pid;
	writer_fd = sv[0];
	writer_owner = getpid();
	return 0;
}

/* The helper holds the root and the write hook of its birth: after either changes, or in
 * a forked copy of this process, a new one is started. */
static void writer_forget(void)
{
	if (writer_fd < 0)
		return;
	close(writer_fd);
	if (writer_owner == getpid())
		waitpid(writer_pid, NULL, 0);   /* it exits at EOF */
	writer_fd = -1;
	writer_pid = -1;
}

static void writer_abandon(void)
{
	close(writer_fd);
	kill(writer_pid, SIGKILL);
	waitpid(writer_pid, NULL, WNOHANG);
	writer_fd = -1;
	writer_pid = -1;
}

/* Sends a request, with the locks held (a write: up to what one message carries). */
static ssize_t request_send(const char *req, size_t len, bool lend)
{
	union {
		char buf[CMSG_SPACE(LOCKS_LENT_MAX * sizeof(int))];
		struct cmsghdr align;
	} control;
	struct iovec iov = {.iov_base = (void *)req, .iov_len = len};
	struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1};
	size_t n = lend ? nlocks_held : 0;
	if (n > LOCKS_LENT_MAX)
		n = LOCKS_LENT_MAX;
	if (n) {
		msg.msg_control = control.buf;
		msg.msg_controllen = CMSG_SPACE(n * sizeof(int));
		struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(n * sizeof(int));
		memcpy(CMSG_DATA(c), locks_held, n * sizeof(int));
	}
	return sendmsg(writer_fd, &msg, MSG_NOSIGNAL);
}

/* One request to the helper; the answer (an int, then any bytes) lands in answer. */
static int helper_call(const char *req, size_t len, void *answer, size_t size, int timeout_ms)
{
	if (writer_fd >= 0 && writer_owner != getpid())
		writer_forget();
	if (writer_fd < 0 && writer_start() < 0)
		return -errno;
	if (request_send(req, len, req[0] == 'W') < 0) {
		writer_abandon();   /* the helper died: the next request starts another */
		return -EIO;
	}
	struct pollfd pfd = {.fd = writer_fd, .events = POLLIN};
	int r = -ETIMEDOUT, ready;
	do
		ready = poll(&pfd, 1, timeout_ms);
	while (ready < 0 && errno == EINTR);
	if (ready > 0) {
		ssize_t n = recv(writer_fd, answer, size, 0);
		r = n >= (ssize_t)sizeof(int) ? *(int *)answer : -EIO;
	}
	if (r == -ETIMEDOUT || r == -EIO)
		writer_abandon();
	return r;
}

static int write_with_timeout(const char *path, const char *data, int timeout_ms)
{
	char req[PATH_MAX + 4096];
	size_t plen = strlen(path), dlen = strlen(data);
	int answer;
	if (plen + dlen + 3 > sizeof(req))
		return -E2BIG;
	req[0] = 'W';
	memcpy(req + 1, path, plen + 1);
	memcpy(req + plen + 2, data, dlen + 1);
	return helper_call(req, plen + dlen + 3, &answer, sizeof(answer), timeout_ms);
}

int dp_fs_read_line_timeout(const char *path, char *buf, size_t size, int timeout_ms)
{
	char req[PATH_MAX + 2];
	struct {
		int r;
		char data[4096];
	} answer;
	if (!dp_fs_path_is_safe(path) || strlen(path) + 2 > sizeof(req))
		return -EACCES;
	req[0] = 'R';
	strcpy(req + 1, path);
	int r = helper_call(req, strlen(req), &answer, sizeof(answer), timeout_ms);
	if (r < 0)
		return r;
	answer.data[r < (int)sizeof(answer.data) ? r : (int)sizeof(answer.data) - 1] = '\0';
	snprintf(buf, size, "%s", answer.data);
	return trim_line(buf, (ssize_t)strlen(buf));
}

int dp_fs_write(const char *path, const char *data, int timeout_ms)
{
	if (!dp_fs_path_is_safe(path))
		return -EACCES;
	/* the callers check first (dp_fs_require_kernel); this is the last guard */
	if (under_sys(path) && !dp_fs_kernel_present())
		return -ENXIO;
	return timeout_ms > 0 ? write_with_timeout(path, data, timeout_ms) : write_now(path, data);
}

/* One component at a time, each parent opened inside the root, so that a link in a
 * captured tree (var -> /var) cannot make the directory appear on the host. */
int dp_fs_mkdir_p(const char *path, mode_t mode)
{
	if (!dp_fs_path_is_safe(path))
		return -EACCES;
	char buf[PATH_MAX];
	snprintf(buf, sizeof(buf), "%s", relative(path));
	for (char *p = buf;; p++) {
		if (*p != '/' && *p)
			continue;
		char saved = *p;
		*p = '\0';
		int fd = open_in_root(buf, O_PATH | O_DIRECTORY);
		if (fd >= 0)
			close(fd);
		else if (errno != ENOENT)
			return -errno;
		else {
			char *slash = strrchr(buf, '/');
			const char *name = slash ? slash + 1 : buf;
			if (slash)
				*slash = '\0';
			int parent = open_in_root(slash ? buf : ".", O_PATH | O_DIRECTORY);
			if (slash)
				*slash = '/';
			if (parent < 0)
				return -errno;
			int r = mkdirat(parent, name, mode);
			int err = errno;
			close(parent);
			if (r < 0 && err != EEXIST)
				return -err;
		}
		if (!saved)
			return 0;
		*p = saved;
	}
}

/* A directory inside the root, as a path libraries can open (SQLite): /proc/self/fd/N
 * names the directory the root-confined open found, wherever links pointed. */
int dp_fs_dir_handle_path(const char *path, int *fd_out, char *out, size_t size)
{
	int fd = open_in_root(path, O_PATH | O_DIRECTORY);
	if (fd < 0)
		return -errno;
	*fd_out = fd;
	snprintf(out, size, "/proc/self/fd/%d", fd);
	return 0;
}

int dp_fs_lock(const char *path)
{
	int fd = open_in_root(path, O_RDWR | O_CREAT);
	if (fd < 0)
		return -errno;
	bool got = event_hook && flock(fd, LOCK_EX | LOCK_NB) == 0;
	if (!got && event_hook)
		event_hook("lock-wait", path);
	while (!got && flock(fd, LOCK_EX) < 0) {
		if (errno != EINTR) {
			int err = errno;
			close(fd);
			return -err;
		}
	}
	if (lock_note(fd) < 0) {
		close(fd);
		return -ENOMEM;
	}
	return fd;
}

void dp_fs_unlock(int fd)
{
	if (fd < 0)
		return;
	lock_forget(fd);
	flock(fd, LOCK_UN);   /* the lock itself, even where a helper still has a copy */
	close(fd);
}

int dp_fs_chown(const char *path, uid_t uid, gid_t gid)
{
	int fd = open_in_root(path, O_PATH);
	if (fd < 0)
		return -errno;
	int r = fchownat(fd, "", uid, gid, AT_EMPTY_PATH);
	int err = errno;
	close(fd);
	return r < 0 ? -err : 0;
}

/* ---- configuration files (/etc, /boot): whole-file replacement ------------------------- */

/* The directory holding path, opened inside the root, and the last component. */
static int parent_open(const char *path, char *name, size_t size)
{
	if (!dp_fs_path_is_safe(path))
		return -EACCES;
	char dir[PATH_MAX];
	snprintf(dir, sizeof(dir), "%s", relative(path));
	char *slash = strrchr(dir, '/');
	snprintf(name, size, "%s", slash ? slash + 1 : dir);
	if (slash)
		*slash = '\0';
	if (!*name || strcmp(name, ".") == 0)
		return -EINVAL;
	int fd = open_in_root(slash ? dir : ".", O_RDONLY | O_DIRECTORY);
	return fd < 0 ? -errno : fd;
}

static int write_all(int fd, const char *data, size_t len)
{
	while (len) {
		ssize_t w = write(fd, data, len);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return -errno;
		data += w;
		len -= (size_t)w;
	}
	return 0;
}

/* A reader sees the old file or the new one, never half of either: the data goes to a
 * temporary file beside the target, is synced, and renamed over it. */
int dp_fs_self_exe(char *out, size_t size)
{
	ssize_t n = readlink("/proc/self/exe", out, size - 1);
	if (n < 0)
		return -errno;
	if ((size_t)n >= size - 1)
		return -ENAMETOOLONG;
	out[n] = '\0';
	return 0;
}

int dp_fs_write_file(const char *path, const char *data, size_t len, mode_t mode)
{
	char name[NAME_MAX + 1], tmp[NAME_MAX + 32];
	int dirfd = parent_open(path, name, sizeof(name));
	if (dirfd < 0)
		return dirfd;
	snprintf(tmp, sizeof(tmp), ".%.200s.devpass-%d", name, (int)getpid());
	int fd = openat(dirfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
	int r = fd < 0 ? -errno : write_all(fd, data, len);
	if (r == 0 && fchmod(fd, mode) < 0)
		r = -errno;
	if (r == 0 && fsync(fd) < 0)
		r = -errno;
	if (fd >= 0)
		close(fd);
	if (r == 0 && renameat(dirfd, tmp, dirfd, name) < 0)
		r = -errno;
	if (r < 0 && fd >= 0)
		unlinkat(dirfd, tmp, 0);
	if (r == 0)
		fsync(dirfd);
	close(dirfd);
	return r;
}

static int remove_at(const char *path, int flags)
{
	char name[NAME_MAX + 1];
	int dirfd = parent_open(path, name, sizeof(name));
	if (dirfd < 0)
		return dirfd;
	int r = unlinkat(dirfd, name, flags) < 0 ? -errno : 0;
	close(dirfd);
	return r;
}

int dp_fs_unlink(const char *path)
{
	return remove_at(path, 0);
}

int dp_fs_rmdir(const char *path)
{
	return remove_at(path, AT_REMOVEDIR);
}

static int path_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

int dp_fs_list(const char *dir, const char *suffix, struct dp_strv *paths)
{
	_cleanup_closedir_ DIR *d = dp_fs_opendir(dir);
	if (!d)
		return -errno;
	size_t sl = strlen(suffix), first = paths->n;
	struct dirent *de;
	while ((de = readdir(d))) {
		size_t nl = strlen(de->d_name);
		if (de->d_name[0] != '.' && nl > sl && strcmp(de->d_name + nl - sl, suffix) == 0 &&
		    dp_strv_addf(paths, "%s/%s", dir, de->d_name) < 0)
			return -ENOMEM;
	}
	qsort(paths->v + first, paths->n - first, sizeof(*paths->v), path_cmp);
	return 0;
}

/* ---- block devices ------------------------------------------------------------------ */

/* Opens path with flags only when it is block device rdev: checked on an O_PATH
 * descriptor first (opening a character device can have effects: a watchdog starts, a
 * tape rewinds), then the same inode is reopened through /proc/self/fd, so nothing can
 * be swapped in between. */
static int block_open(const char *path, dev_t rdev, int flags)
{
	int pfd = open_in_root(path, O_PATH);
	if (pfd < 0)
		return errno == ENOENT ? -ENOTBLK : -errno;
	struct stat st;
	if (fstat(pfd, &st) < 0 || !S_ISBLK(st.st_mode) || st.st_rdev != rdev) {
		close(pfd);
		return -ENOTBLK;
	}
	char self[64];
	snprintf(self, sizeof(self), "/proc/self/fd/%d", pfd);
	int fd = open(self, flags | O_CLOEXEC | O_NONBLOCK);
	int err = errno;
	close(pfd);
	if (fd < 0)
		return -err;
	if (fstat(fd, &st) < 0 || !S_ISBLK(st.st_mode) || st.st_rdev != rdev) {
		close(fd);
		return -ENOTBLK;
	}
	return fd;
}

int dp_fs_block_probe_exclusive(const char *path, dev_t rdev)
{
	int fd = block_open(path, rdev, O_RDONLY | O_EXCL);
	if (fd < 0)
		return fd;
	close(fd);
	return 0;
}

int dp_fs_loop_backing(const char *path, dev_t rdev, dev_t *backing)
{
	int fd = block_open(path, rdev, O_RDONLY);
	if (fd < 0)
		return fd;
	struct loop_info64 info;
	int r = ioctl(fd, LOOP_GET_STATUS64, &info) < 0 ? -errno : 0;
	close(fd);
	if (r == 0)
		*backing = (dev_t)info.lo_device;
	return r;
}

/* ---- vm media: files made once and never replaced (firmware variables, disk overlay) -- */

/* Moves from to to within dirfd, failing with EEXIST rather than replacing to: a VM's
 * varstore or disk that exists holds a guest's state. Filesystems without
 * RENAME_NOREPLACE get a hard link, which refuses an existing name just as atomically. */
static int rename_noreplace_at(int fromdir, const char *from, int todir, const char *to)
{
	if (renameat2(fromdir, from, todir, to, RENAME_NOREPLACE) == 0)
		return 0;
	if (errno != EINVAL && errno != ENOSYS)
		return -errno;
	if (linkat(fromdir, from, todir, to, 0) < 0)
		return -errno;
	unlinkat(fromdir, from, 0);
	return 0;
}

int dp_fs_rename_noreplace(const char *from, const char *to)
{
	char fname[NAME_MAX + 1], tname[NAME_MAX + 1];
	_cleanup_close_ int fromdir = parent_open(from, fname, sizeof(fname));
	if (fromdir < 0)
		return fromdir;
	_cleanup_close_ int todir = parent_open(to, tname, sizeof(tname));
	if (todir < 0)
		return todir;
	int r = rename_noreplace_at(fromdir, fname, todir, tname);
	if (r == 0)
		fsync(todir);
	return r;
}

int dp_fs_chmod(const char *path, mode_t mode)
{
	_cleanup_close_ int fd = open_in_root(path, O_PATH | O_NOFOLLOW);
	if (fd < 0)
		return -errno;
	char proc[64];
	snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
	/* fchmod does not take an O_PATH descriptor; its /proc link names the same inode */
	return chmod(proc, mode) < 0 ? -errno : 0;
}

static int copy_fd(int in, int out)
{
	char buf[65536];
	for (;;) {
		ssize_t n = read(in, buf, sizeof(buf));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return n < 0 ? -errno : 0;
		int r = write_all(out, buf, (size_t)n);
		if (r < 0)
			return r;
	}
}

int dp_fs_copy_file(const char *src, const char *dest, mode_t mode)
{
	_cleanup_close_ int in = open_in_root(src, O_RDONLY);
	if (in < 0)
		return -errno;
	char name[NAME_MAX + 1], tmp[NAME_MAX + 32];
	_cleanup_close_ int dirfd = parent_open(dest, name, sizeof(name));
	if (dirfd < 0)
		return dirfd;
	snprintf(tmp, sizeof(tmp), ".%.200s.devpass-%d", name, (int)getpid());
	_cleanup_close_ int out = openat(dirfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC |
	                                 O_NOFOLLOW, 0600);
	if (out < 0)
		return -errno;
	int r = copy_fd(in, out);
	if (r == 0 && fchmod(out, mode) < 0)
		r = -errno;
	if (r == 0 && fsync(out) < 0)
		r = -errno;
	if (r == 0)
		r = rename_noreplace_at(dirfd, tmp, dirfd, name);
	if (r < 0)
		unlinkat(dirfd, tmp, 0);
	else
		fsync(dirfd);
	return r;
}

/* ---- unix sockets and read-only descriptors (vm: QMP, the console, pidfiles) ---------- */

int dp_fs_unix_connect(const char *path)
{
	/* The socket file is found inside the root like any other file, then connected to
	 * through its O_PATH descriptor: sun_path holds only "/proc/self/fd/N" whatever the
	 * length of the root and the path, and no symlink leads outside the root. */
	_cleanup_close_ int pfd = open_in_root(path, O_PATH);
	if (pfd < 0)
		return -errno;
	struct stat st;
	if (fstat(pfd, &st) < 0)
		return -errno;
	if (!S_ISSOCK(st.st_mode))
		return -ENOTSOCK;
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	snprintf(addr.sun_path, sizeof(addr.sun_path), "/proc/self/fd/%d", pfd);
	_cleanup_close_ int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return -errno;
	if (connect(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0)
		return -errno;
	return TAKE_FD(fd);
}

int dp_fs_open_read(const char *path)
{
	int fd = open_in_root(path, O_RDONLY | O_NOCTTY);
	return fd < 0 ? -errno : fd;
}

int dp_fs_open_append(const char *path)
{
	int fd = open_in_root(path, O_WRONLY | O_APPEND | O_CREAT | O_NOCTTY);
	return fd < 0 ? -errno : fd;
}

/* The host's own /dev/null, whatever the root: what a detached process reads and writes
 * is not part of the tree devpass manages. */
int dp_fs_open_devnull(void)
{
	int fd = open("/dev/null", O_RDWR | O_CLOEXEC | O_NOCTTY);
	return fd < 0 ? -errno : fd;
}

/* Closes [from, ~0U] except a and b (either may be -1 or below from). */
static void close_from_except(int from, int a, int b)
{
	int keep[2] = { a < b ? a : b, a < b ? b : a };
	unsigned next = (unsigned)from;
	for (int i = 0; i < 2; i++) {
		if (keep[i] < from)
			continue;
		if ((unsigned)keep[i] > next && close_range(next, (unsigned)keep[i] - 1, 0) < 0)
			for (unsigned fd = next; fd < (unsigned)keep[i]; fd++)
				close((int)fd);
		next = (unsigned)keep[i] + 1;
	}
	if (close_range(next, ~0U, 0) < 0)
		for (long fd = next, max = sysconf(_SC_OPEN_MAX); fd < (max > 0 && max < 65536 ? max : 65536); fd++)
			close((int)fd);
}

int dp_fs_close_inherited(int keep)
{
	/* the parent's locks and write helper stay the parent's: their descriptors go, and
	 * this process starts its own helper and takes its own locks if it needs them */
	nlocks_held = 0;
	writer_fd = -1;
	writer_pid = -1;
	close_from_except(3, keep, root_fd);
	return 0;
}

/* ---- vm: filesystems QEMU is pointed at ------------------------------------------------ */

/* A mem-path that is not a hugetlbfs still "works": QEMU creates a regular file there and
 * the guest runs on ordinary pages, so the filesystem itself is asked (statfs). */
int dp_fs_is_hugetlbfs(const char *path)
{
	_cleanup_close_ int fd = open_in_root(path, O_PATH | O_DIRECTORY);
	struct statfs sf;
	if (fd < 0 || fstatfs(fd, &sf) < 0)
		return -errno;
	return sf.f_type == HUGETLBFS_MAGIC;
}
