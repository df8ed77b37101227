/* QEMU as a process: is it alive (its pidfile lock), stopping it (Proxmox's order:
 * powerdown, quit, SIGTERM, SIGKILL), and the supervisor that outlives the devpass that
 * started it and gives the VM's devices back when QEMU ends.
 *
 * QEMU is not our child (it daemonizes), so waitpid cannot wait for it: a pidfd can. A
 * pidfd names one process for good — a pid may be reused once that process is gone — and
 * polls readable when it exits, so every wait and every signal here goes through one. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "alloc-util.h"
#include "fs/sysroot.h"
#include "vm/vm.h"

static int pidfd_open(pid_t pid)
{
	return (int)syscall(SYS_pidfd_open, pid, 0);
}

static int pidfd_signal(int pidfd, int sig)
{
	return (int)syscall(SYS_pidfd_send_signal, pidfd, sig, NULL, 0);
}

static long long now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* true once the process behind pidfd has ended, waiting at most timeout_ms (< 0: forever) */
static bool pidfd_wait(int pidfd, int timeout_ms)
{
	long long deadline = now_ms() + (timeout_ms < 0 ? 0 : timeout_ms);
	for (;;) {
		long long left = deadline - now_ms();
		struct pollfd p = { .fd = pidfd, .events = POLLIN };
		int n = poll(&p, 1, timeout_ms < 0 ? -1 : left > 0 ? (int)left : 0);
		if (n > 0)
			return true;
		if (n == 0 || errno != EINTR)
			return false;
	}
}

/* ---- the pidfile ----------------------------------------------------------------- */

static pid_t pid_parse(const char *text)
{
	char *end;
	errno = 0;
	long v = strtol(text, &end, 10);
	if (errno || end == text || v <= 0 || v > INT_MAX || (*end && *end != '\n'))
		return 0;
	return (pid_t)v;
}

/* QEMU takes a POSIX record lock (lockf) on its pidfile and keeps it while it lives.
 * F_GETLK only asks who would conflict with a write lock: it takes nothing, so testing
 * can never keep QEMU from starting. For a POSIX lock it also names the holder. */
bool dp_vm_pidfile_locked(const char *pidfile, pid_t *pid)
{
	if (pid)
		*pid = 0;
	_cleanup_close_ int fd = dp_fs_open_read(pidfile);
	if (fd < 0)
		return false;
	struct flock fl = { .l_type = F_WRLCK, .l_whence = SEEK_SET };
	if (fcntl(fd, F_GETLK, &fl) < 0 || fl.l_type == F_UNLCK)
		return false;
	char text[32] = "";
	ssize_t n = pread(fd, text, sizeof(text) - 1, 0);
	text[n > 0 ? n : 0] = '\0';
	pid_t in_file = pid_parse(text);
	if (pid)   /* the holder wins: it is the process alive; the file may be half written */
		*pid = fl.l_pid > 0 && fl.l_pid != in_file ? fl.l_pid : in_file;
	return true;
}

/* ---- stopping ---------------------------------------------------------------------- */

const char *dp_vm_stop_step_name(enum dp_vm_stop_step s)
{
	switch (s) {
	case DP_VM_GONE_ALREADY:
		return "gone already";
	case DP_VM_BY_POWERDOWN:
		return "powerdown";
	case DP_VM_BY_QUIT:
		return "quit";
	case DP_VM_BY_SIGTERM:
		return "SIGTERM";
	case DP_VM_BY_SIGKILL:
		return "SIGKILL";
	}
	return "unknown";
}

/* DP_VM_PIDFILE in the directory of qmp_socket */
static int pidfile_beside(const char *qmp_socket, char *out, size_t size)
{
	const char *slash = strrchr(qmp_socket, '/');
	int dirlen = slash ? (int)(slash - qmp_socket) + 1 : 0;
	int n = snprintf(out, size, "%.*s%s", dirlen, qmp_socket, DP_VM_PIDFILE);
	return n < 0 || (size_t)n >= size ? -ENAMETOOLONG : 0;
}

/* With the pidfd open first, a pidfile still locked and naming pid proves the pidfd is
 * that QEMU: the pid cannot have been reused while its holder lives. 0 vouched,
 * -ESRCH not. */
static int pid_vouched(const char *qmp_socket, pid_t pid, char *pidfile, size_t size)
{
	int r = pidfile_beside(qmp_socket, pidfile, size);
	if (r < 0)
		return dp_error_set(r, "path of QEMU's pidfile beside %s too long", qmp_socket);
	pid_t holder;
	if (dp_vm_pidfile_locked(pidfile, &holder) && holder == pid)
		return 0;
	return -ESRCH;
}

struct stop_run {
	int pidfd;
	pid_t pid;
	enum dp_vm_stop_step *ended_by;
};

/* true when the process ended within wait_ms after this step */
static bool step_ended(const struct stop_run *s, enum dp_vm_stop_step step, int wait_ms)
{
	if (!pidfd_wait(s->pidfd, wait_ms))
		return false;
	*s->ended_by = step;
	return true;
}

static bool signal_step(const struct stop_run *s, int sig, enum dp_vm_stop_step step,
                        int wait_ms)
{
	if (pidfd_signal(s->pidfd, sig) < 0 && errno != ESRCH)
		return false;
	return step_ended(s, step, wait_ms);
}

/* Asks QEMU over its monitor, then waits for it to end, wait_ms in all: an answer that
 * does not come (a busy or wedged monitor) or a monitor that closes (how quit answers)
 * still leaves the process the rest of the time. */
static bool monitor_step(const struct stop_run *s, struct dp_qmp *q, const char *command,
                         enum dp_vm_stop_step step, int wait_ms)
{
	long long start = now_ms();
	int r = dp_qmp_execute(q, command, NULL, NULL, wait_ms);
	if (r < 0 && r != -ECONNRESET && r != -ETIMEDOUT)
		return false;
	long long left = wait_ms - (now_ms() - start);
	return step_ended(s, step, left > 0 ? (int)left : 0);
}

static bool monitor_steps(const struct stop_run *s, const char *qmp_socket, int powerdown_ms,
                          const struct dp_vm_stop_waits *w)
{
	_cleanup_(dp_qmp_freep) struct dp_qmp *q = NULL;
	if (dp_qmp_connect(qmp_socket, 3000, &q) < 0)
		return false;   /* no monitor: the signals remain */
	return monitor_step(s, q, "system_powerdown", DP_VM_BY_POWERDOWN, powerdown_ms) ||
	       monitor_step(s, q, "quit", DP_VM_BY_QUIT, w->quit_ms);
}

static int not_vouched(const struct stop_run *s, const char *pidfile)
{
	if (step_ended(s, DP_VM_GONE_ALREADY, 1000))
		return 0;
	return dp_error_set(-ESRCH, "process %d does not hold QEMU's pidfile %s: not stopping "
	                    "it (QEMU is gone and the number was reused, or the pidfile is "
	                    "another's)", (int)s->pid, pidfile);
}

int dp_vm_qemu_stop_waits(const char *qmp_socket, pid_t pid, int powerdown_ms,
                          const struct dp_vm_stop_waits *w, enum dp_vm_stop_step *ended_by)
{
	if (pid <= 0)
		return dp_error_set(-EINVAL, "no QEMU process to stop (pid %d)", (int)pid);
	_cleanup_close_ int pidfd = pidfd_open(pid);
	if (pidfd < 0 && errno == ESRCH) {
		*ended_by = DP_VM_GONE_ALREADY;
		return 0;
	}
	if (pidfd < 0)
		return dp_error_set(-errno, "cannot watch QEMU process %d: %s", (int)pid,
		                    strerror(errno));
	struct stop_run s = { .pidfd = pidfd, .pid = pid, .ended_by = ended_by };
	if (step_ended(&s, DP_VM_GONE_ALREADY, 0))
		return 0;
	char pidfile[PATH_MAX];
	int r = pid_vouched(qmp_socket, pid, pidfile, sizeof(pidfile));
	if (r == -ESRCH)
		return not_vouched(&s, pidfile);
	if (r < 0)
		return r;
	if (monitor_steps(&s, qmp_socket, powerdown_ms, w) ||
	    signal_step(&s, SIGTERM, DP_VM_BY_SIGTERM, w->sigterm_ms) ||
	    signal_step(&s, SIGKILL, DP_VM_BY_SIGKILL, w->sigkill_ms))
		return 0;
	return dp_error_set(-ETIMEDOUT, "QEMU process %d is still alive %d ms after SIGKILL "
	                    "(stuck in the kernel)", (int)pid, w->sigkill_ms);
}

int dp_vm_qemu_stop(const char *qmp_socket, pid_t pid, int powerdown_ms,
                    enum dp_vm_stop_step *ended_by)
{
	static const struct dp_vm_stop_waits waits = {
		.quit_ms = 5000, .sigterm_ms = 5000, .sigkill_ms = 60000,
	};
	return dp_vm_qemu_stop_waits(qmp_socket, pid, powerdown_ms, &waits, ended_by);
}

/* ---- the supervisor ---------------------------------------------------------------- */

/* Why a pidfd and not the pidfile lock: both tell when QEMU ends, but waiting for the lock
 * means taking it (F_SETLKW), and a supervisor holding QEMU's pidfile lock would make the
 * next start's QEMU fail ("Cannot lock pid file") until it let go, and make every
 * liveness test (dp_vm_pidfile_locked) say "running" for a dead VM in between. A pidfd
 * is only a watch: it takes nothing from QEMU, it is opened before the fork so a QEMU
 * that dies meanwhile is still seen, and it cannot mistake a reused pid for QEMU. */

struct supervisor {
	pid_t qemu_pid;
	int pidfd;
	int null_fd;
	int log_fd;                  /* -1: none */
	int (*on_exit)(void *ctx);
	void *ctx;
};

static void log_line(const struct supervisor *s, const char *what, int value)
{
	time_t now = time(NULL);
	struct tm tm;
	char stamp[32] = "";
	if (gmtime_r(&now, &tm))
		strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%SZ", &tm);
	dprintf(STDERR_FILENO, "%s supervisor %d: QEMU %d %s %d\n", stamp, (int)getpid(),
	        (int)s->qemu_pid, what, value);
}

static void detach_stdio(const struct supervisor *s)
{
	int out = s->log_fd >= 0 ? s->log_fd : s->null_fd;
	dup2(s->null_fd, STDIN_FILENO);
	dup2(out, STDOUT_FILENO);
	dup2(out, STDERR_FILENO);
}

static void signals_default(void)
{
	sigset_t none;
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	for (int sig = 1; sig < NSIG; sig++)
		if (sig != SIGKILL && sig != SIGSTOP)
			signal(sig, SIG_DFL);
	signal(SIGHUP, SIG_IGN);   /* the terminal that started it may go away */
	signal(SIGPIPE, SIG_IGN);
}

/* A descriptor numbered 0, 1 or 2 (the caller ran with its stdio closed) would be
 * overwritten by the new stdio: moved above first. */
static int above_stdio(int fd)
{
	return fd < 0 || fd > STDERR_FILENO ? fd : fcntl(fd, F_DUPFD_CLOEXEC, STDERR_FILENO + 1);
}

static void __attribute__((noreturn)) supervise(struct supervisor *s)
{
	signals_default();
	s->pidfd = above_stdio(s->pidfd);
	s->null_fd = above_stdio(s->null_fd);
	s->log_fd = above_stdio(s->log_fd);
	if (s->pidfd < 0 || s->null_fd < 0)
		_exit(1);
	detach_stdio(s);
	dp_fs_close_inherited(s->pidfd);
	if (chdir("/") < 0)
		_exit(1);
	log_line(s, "watched; pidfd", s->pidfd);
	pidfd_wait(s->pidfd, -1);
	log_line(s, "ended; releasing, pidfd", s->pidfd);
	int r = s->on_exit ? s->on_exit(s->ctx) : 0;
	log_line(s, "released; on_exit returned", r);
	fflush(NULL);
	_exit(r == 0 ? 0 : 1);
}

/* The middle process: a new session, then a child that the middle one leaves to init
 * by exiting at once; the grandchild's pid goes back through the pipe. */
static void __attribute__((noreturn)) middle(struct supervisor *s, int report_fd)
{
	pid_t child = setsid() < 0 ? -1 : fork();
	if (child == 0) {
		close(report_fd);
		supervise(s);
	}
	int err = child < 0 ? -errno : 0;
	pid_t msg = child > 0 ? child : err;
	ssize_t n = write(report_fd, &msg, sizeof(msg));
	_exit(n == sizeof(msg) ? 0 : 1);
}

static int read_report(int fd, pid_t *out)
{
	pid_t msg = 0;
	ssize_t n;
	do
		n = read(fd, &msg, sizeof(msg));
	while (n < 0 && errno == EINTR);
	if (n != sizeof(msg))
		return -EIO;
	if (msg <= 0)
		return msg < 0 ? msg : -EIO;
	*out = msg;
	return 0;
}

static int spawn_detached(struct supervisor *s, pid_t *out)
{
	int report[2];
	if (pipe2(report, O_CLOEXEC) < 0)
		return -errno;
	fflush(NULL);   /* buffered output must not be written twice */
	pid_t mid = fork();
	if (mid == 0) {
		close(report[0]);
		middle(s, report[1]);
	}
	int err = errno;
	close(report[1]);
	int r = mid < 0 ? -err : read_report(report[0], out);
	close(report[0]);
	if (mid > 0)
		while (waitpid(mid, NULL, 0) < 0 && errno == EINTR)
			;
	return r;
}

static int supervisor_fds(struct supervisor *s, const char *log)
{
	s->pidfd = pidfd_open(s->qemu_pid);
	if (s->pidfd < 0)
		return errno == ESRCH
		       ? dp_error_set(-ESRCH, "QEMU process %d is already gone", (int)s->qemu_pid)
		       : dp_error_set(-errno, "cannot watch QEMU process %d: %s",
		                      (int)s->qemu_pid, strerror(errno));
	s->null_fd = dp_fs_open_devnull();
	if (s->null_fd < 0)
		return dp_error_set(s->null_fd, "cannot open /dev/null: %s", strerror(-s->null_fd));
	s->log_fd = log ? dp_fs_open_append(log) : -1;
	if (log && s->log_fd < 0)
		return dp_error_set(s->log_fd, "cannot open the supervisor's log %s: %s", log,
		                    strerror(-s->log_fd));
	return 0;
}

int dp_vm_supervisor_spawn_logged(pid_t qemu_pid, const char *log, int (*on_exit)(void *ctx),
                                  void *ctx, pid_t *out)
{
	if (qemu_pid <= 0)
		return dp_error_set(-EINVAL, "no QEMU process to supervise (pid %d)", (int)qemu_pid);
	struct supervisor s = { .qemu_pid = qemu_pid, .pidfd = -1, .null_fd = -1, .log_fd = -1,
	                        .on_exit = on_exit, .ctx = ctx };
	int r = supervisor_fds(&s, log);
	if (r == 0) {
		r = spawn_detached(&s, out);
		if (r < 0)
			dp_error_set(r, "cannot start the supervisor of QEMU process %d: %s",
			             (int)qemu_pid, strerror(-r));
	}
	closep(&s.pidfd);
	closep(&s.null_fd);
	closep(&s.log_fd);
	return r;
}

int dp_vm_supervisor_spawn(pid_t qemu_pid, int (*on_exit)(void *ctx), void *ctx, pid_t *out)
{
	return dp_vm_supervisor_spawn_logged(qemu_pid, NULL, on_exit, ctx, out);
}
