/* QEMU as a process: the QMP client against a real qemu-system-x86_64 (TCG, paused, no
 * devices) and against a fake monitor (tests/unit/fake-qmp.py) for what QEMU will not do
 * on demand (ignore quit and SIGTERM, split a reply); the stop sequence, pidfile liveness,
 * the detached supervisor, and the console relay on a pty. Every wait is for a condition,
 * with a deadline. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <limits.h>
#include <poll.h>
#include <pty.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "../../src/cli/cli.h"
#include "fs/sysroot.h"
#include "vm/vm.h"

#define FAKE SOURCE_ROOT "/tests/unit/fake-qmp.py"

static char root[PATH_MAX];
static int serial;

/* Every process a test starts, by pidfd: a failed assertion leaves none running (the
 * group's teardown kills them), and a pidfd cannot hit a process that reused a number. */
static int tracked[64];
static size_t ntracked;

static int pidfd_open(pid_t pid)
{
	return (int)syscall(SYS_pidfd_open, pid, 0);
}

static void track(pid_t pid)
{
	int fd = pidfd_open(pid);
	if (fd >= 0 && ntracked < sizeof(tracked) / sizeof(tracked[0]))
		tracked[ntracked++] = fd;
	else if (fd >= 0)
		close(fd);
}

static void kill_tracked(void)
{
	for (size_t i = 0; i < ntracked; i++) {
		syscall(SYS_pidfd_send_signal, tracked[i], SIGKILL, NULL, 0);
		close(tracked[i]);
	}
	ntracked = 0;
	while (waitpid(-1, NULL, WNOHANG) > 0)
		;
}

/* ---- helpers ------------------------------------------------------------------------ */

static long long now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static bool wait_for(bool (*cond)(void *), void *ctx, int timeout_ms)
{
	long long deadline = now_ms() + timeout_ms;
	for (;;) {
		if (cond(ctx))
			return true;
		if (now_ms() > deadline)
			return false;
		struct timespec pause = { .tv_nsec = 5 * 1000 * 1000 };
		nanosleep(&pause, NULL);
	}
}

/* A fresh directory under the root: rel is root-relative, full is absolute. */
static void new_dir(char *rel, size_t size, char *full, size_t fsize, const char *suffix)
{
	snprintf(rel, size, "t%d%s", ++serial, suffix);
	snprintf(full, fsize, "%s/%s", root, rel);
	assert_int_equal(mkdir(full, 0755), 0);
}

static pid_t spawn(char *const argv[])
{
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		execvp(argv[0], argv);
		_exit(127);
	}
	track(pid);
	return pid;
}

struct lock_wait {
	char pidfile[PATH_MAX];
	pid_t want;
};

static bool pidfile_held(void *ctx)
{
	struct lock_wait *w = ctx;
	pid_t pid;
	return dp_vm_pidfile_locked(w->pidfile, &pid) && (w->want == 0 || pid == w->want);
}

/* The fake monitor in dir (root-relative), ready once it holds its pidfile. */
static pid_t fake_start(const char *rel, const char *full, const char *mode)
{
	const char *python = access("/usr/bin/python3", X_OK) == 0 ? "/usr/bin/python3" : "python3";
	char *argv[] = { (char *)python, (char *)FAKE, (char *)full, (char *)mode, NULL };
	pid_t pid = spawn(argv);
	struct lock_wait w = { .want = pid };
	snprintf(w.pidfile, sizeof(w.pidfile), "%s/qemu.pid", rel);
	assert_true(wait_for(pidfile_held, &w, 10000));
	return pid;
}

static int reap(pid_t pid)
{
	int status = -1;
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	return status;
}

static bool have_qemu(void)
{
	return system("command -v qemu-system-x86_64 >/dev/null 2>&1") == 0;
}

/* A real QEMU, paused (-S), daemonized: returns its pid once the launcher exited 0. */
static pid_t qemu_start(const char *rel, const char *full)
{
	char pidfile[PATH_MAX * 2], qmp[PATH_MAX * 2], path[PATH_MAX];
	snprintf(pidfile, sizeof(pidfile), "%s/qemu.pid", full);
	snprintf(qmp, sizeof(qmp), "unix:%s/qmp.sock,server=on,wait=off", full);
	char *argv[] = { "qemu-system-x86_64", "-machine", "q35", "-accel", "tcg", "-m", "64",
	                 "-nodefaults", "-display", "none", "-S", "-daemonize", "-pidfile", pidfile,
	                 "-qmp", qmp, NULL };
	int status = reap(spawn(argv));
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	snprintf(path, sizeof(path), "%s/qemu.pid", rel);
	pid_t pid = 0;
	assert_true(dp_vm_pidfile_locked(path, &pid));
	assert_true(pid > 0);
	track(pid);
	return pid;
}

static void rel_path(char *out, size_t size, const char *rel, const char *file)
{
	snprintf(out, size, "%s/%s", rel, file);
}

static const char *status_of(struct json_object *ret)
{
	struct json_object *s;
	return json_object_object_get_ex(ret, "status", &s) ? json_object_get_string(s) : "";
}

/* ---- QMP against QEMU ---------------------------------------------------------------- */

static void test_qemu_monitor(void **state)
{
	(void)state;
	if (!have_qemu())
		skip();
	char rel[64], full[PATH_MAX], sock[128];
	new_dir(rel, sizeof(rel), full, sizeof(full), "");
	pid_t pid = qemu_start(rel, full);
	rel_path(sock, sizeof(sock), rel, "qmp.sock");

	struct dp_qmp *q = NULL;
	assert_int_equal(dp_qmp_connect(sock, 5000, &q), 0);
	struct json_object *ret = NULL;
	assert_int_equal(dp_qmp_execute(q, "query-status", NULL, &ret, 5000), 0);
	assert_string_equal(status_of(ret), "prelaunch");   /* -S: never started */
	json_object_put(ret);

	/* QEMU's own error, its desc in the message */
	assert_int_equal(dp_qmp_execute(q, "no-such-command", NULL, &ret, 5000), -EIO);
	assert_null(ret);
	assert_non_null(strstr(dp_error_message(), "The command no-such-command has not been found"));
	struct json_object *args = json_object_new_object();
	json_object_object_add(args, "bogus", json_object_new_int(1));
	assert_int_equal(dp_qmp_execute(q, "query-status", args, NULL, 5000), -EIO);
	assert_non_null(strstr(dp_error_message(), "bogus"));
	json_object_put(args);

	pid_t *tids = NULL;
	size_t n = 0;
	assert_int_equal(dp_qmp_vcpu_threads(q, &tids, &n), 0);
	assert_int_equal(n, 1);
	char task[64];
	snprintf(task, sizeof(task), "/proc/%d/task/%d", (int)pid, (int)tids[0]);
	assert_int_equal(access(task, F_OK), 0);   /* a thread of that QEMU */
	free(tids);
	dp_qmp_free(q);

	enum dp_vm_stop_step by = DP_VM_GONE_ALREADY;
	assert_int_equal(dp_vm_qemu_stop(sock, pid, 500, &by), 0);
	assert_int_equal(by, DP_VM_BY_QUIT);
}

/* A paused guest ignores the power button: quit ends it, well within powerdown + 2 s. */
static void test_qemu_stop_by_quit(void **state)
{
	(void)state;
	if (!have_qemu())
		skip();
	char rel[64], full[PATH_MAX], sock[128], pidfile[128];
	new_dir(rel, sizeof(rel), full, sizeof(full), "");
	pid_t pid = qemu_start(rel, full);
	rel_path(sock, sizeof(sock), rel, "qmp.sock");
	rel_path(pidfile, sizeof(pidfile), rel, "qemu.pid");
	pid_t seen = 0;
	assert_true(dp_vm_pidfile_locked(pidfile, &seen));
	assert_int_equal(seen, pid);

	long long t0 = now_ms();
	enum dp_vm_stop_step by = DP_VM_GONE_ALREADY;
	assert_int_equal(dp_vm_qemu_stop(sock, pid, 500, &by), 0);
	long long took = now_ms() - t0;
	assert_int_equal(by, DP_VM_BY_QUIT);
	assert_string_equal(dp_vm_stop_step_name(by), "quit");
	assert_true(took >= 500 && took < 2500);
	assert_false(dp_vm_pidfile_locked(pidfile, &seen));
	assert_int_equal(seen, 0);
	/* QEMU removed its socket: nothing to connect to */
	struct dp_qmp *q = NULL;
	assert_int_equal(dp_qmp_connect(sock, 1000, &q), -ENOENT);
	assert_null(q);
	/* and stopping it again finds it gone */
	assert_int_equal(dp_vm_qemu_stop(sock, pid, 500, &by), 0);
	assert_int_equal(by, DP_VM_GONE_ALREADY);
}

/* ---- QMP against the fake ------------------------------------------------------------ */

/* A reply in three writes, an event cut in two before it; a directory too long for
 * sun_path; timeouts, a closed monitor and stale replies. */
static void test_partial_reply(void **state)
{
	(void)state;
	char rel[256], full[PATH_MAX], sock[300], longname[140];
	memset(longname, 'd', sizeof(longname) - 1);
	longname[0] = '-';
	longname[sizeof(longname) - 1] = '\0';
	new_dir(rel, sizeof(rel), full, sizeof(full), longname);
	assert_true(strlen(full) + strlen("/qmp.sock") > 108);
	pid_t fake = fake_start(rel, full, "chunks");
	rel_path(sock, sizeof(sock), rel, "qmp.sock");

	struct dp_qmp *q = NULL;
	assert_int_equal(dp_qmp_connect(sock, 5000, &q), 0);
	assert_false(dp_qmp_saw_event(q, "POWERDOWN"));
	struct json_object *ret = NULL;
	assert_int_equal(dp_qmp_execute(q, "query-status", NULL, &ret, 5000), 0);
	assert_string_equal(status_of(ret), "paused");
	json_object_put(ret);
	assert_true(dp_qmp_saw_event(q, "POWERDOWN"));
	assert_false(dp_qmp_saw_event(q, "SHUTDOWN"));

	long long t0 = now_ms();
	assert_int_equal(dp_qmp_execute(q, "x-hang", NULL, NULL, 200), -ETIMEDOUT);
	assert_true(now_ms() - t0 >= 200);
	assert_non_null(strstr(dp_error_message(), "did not answer 'x-hang' within 200 ms"));
	/* the monitor still works after a command given up on */
	assert_int_equal(dp_qmp_execute(q, "query-status", NULL, &ret, 5000), 0);
	assert_string_equal(status_of(ret), "paused");
	json_object_put(ret);

	assert_int_equal(dp_qmp_execute(q, "x-close", NULL, NULL, 5000), -ECONNRESET);
	assert_non_null(strstr(dp_error_message(), "QEMU closed its monitor"));
	dp_qmp_free(q);

	kill(fake, SIGKILL);
	reap(fake);
}

static void test_not_a_monitor(void **state)
{
	(void)state;
	char rel[64], full[PATH_MAX], sock[128];
	new_dir(rel, sizeof(rel), full, sizeof(full), "");
	pid_t fake = fake_start(rel, full, "notqmp");
	rel_path(sock, sizeof(sock), rel, "qmp.sock");
	struct dp_qmp *q = NULL;
	assert_int_equal(dp_qmp_connect(sock, 5000, &q), -EPROTO);
	assert_null(q);
	assert_non_null(strstr(dp_error_message(), "is not a QMP monitor"));
	kill(fake, SIGKILL);
	reap(fake);

	/* a socket nobody listens on any more */
	assert_int_equal(dp_qmp_connect(sock, 1000, &q), -ECONNREFUSED);
}

/* ---- the pidfile ----------------------------------------------------------------------- */

static void test_pidfile(void **state)
{
	(void)state;
	char rel[64], full[PATH_MAX], path[128], file[PATH_MAX * 2];
	new_dir(rel, sizeof(rel), full, sizeof(full), "");
	rel_path(path, sizeof(path), rel, "qemu.pid");
	pid_t pid = 7;
	assert_false(dp_vm_pidfile_locked(path, &pid));   /* missing */
	assert_int_equal(pid, 0);

	snprintf(file, sizeof(file), "%s/qemu.pid", full);
	FILE *f = fopen(file, "w");
	assert_non_null(f);
	fprintf(f, "%d\n", (int)getpid());
	fclose(f);
	assert_false(dp_vm_pidfile_locked(path, &pid));   /* a stale file: nobody holds it */

	pid_t fake = fake_start(rel, full, "nosocket");
	assert_true(dp_vm_pidfile_locked(path, &pid));
	assert_int_equal(pid, fake);
	/* only tested: the holder still has it */
	assert_true(dp_vm_pidfile_locked(path, NULL));
	kill(fake, SIGKILL);
	reap(fake);
	assert_false(dp_vm_pidfile_locked(path, &pid));
}

/* ---- the stop sequence against fakes ----------------------------------------------------- */

static const struct dp_vm_stop_waits short_waits = {
	.quit_ms = 300, .sigterm_ms = 300, .sigkill_ms = 5000,
};

static enum dp_vm_stop_step stop_fake(const char *mode, int powerdown_ms, long long *took,
                                      int *status)
{
	char rel[64], full[PATH_MAX], sock[128];
	new_dir(rel, sizeof(rel), full, sizeof(full), "");
	pid_t fake = fake_start(rel, full, mode);
	rel_path(sock, sizeof(sock), rel, "qmp.sock");
	enum dp_vm_stop_step by = DP_VM_GONE_ALREADY;
	long long t0 = now_ms();
	assert_int_equal(dp_vm_qemu_stop_waits(sock, fake, powerdown_ms, &short_waits, &by), 0);
	*took = now_ms() - t0;
	*status = reap(fake);
	return by;
}

static void test_stop_stubborn(void **state)
{
	(void)state;
	long long took;
	int status;
	assert_int_equal(stop_fake("stubborn", 200, &took, &status), DP_VM_BY_SIGKILL);
	assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
	assert_true(took >= 200 + 300 + 300 && took < 4000);
}

static void test_stop_obedient(void **state)
{
	(void)state;
	long long took;
	int status;
	assert_int_equal(stop_fake("obedient", 3000, &took, &status), DP_VM_BY_POWERDOWN);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	assert_true(took < 2000);
}

static void test_stop_deaf(void **state)
{
	(void)state;
	long long took;
	int status;
	assert_int_equal(stop_fake("deaf", 200, &took, &status), DP_VM_BY_SIGTERM);
	assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGTERM);
}

/* No monitor to reach: straight to SIGTERM, without the powerdown and quit waits. */
static void test_stop_no_monitor(void **state)
{
	(void)state;
	long long took;
	int status;
	assert_int_equal(stop_fake("nosocket", 3000, &took, &status), DP_VM_BY_SIGTERM);
	assert_true(took < 2000);
}

static void test_stop_gone(void **state)
{
	(void)state;
	pid_t child = fork();
	assert_true(child >= 0);
	if (child == 0)
		_exit(0);
	reap(child);
	enum dp_vm_stop_step by = DP_VM_BY_SIGKILL;
	assert_int_equal(dp_vm_qemu_stop("nowhere/qmp.sock", child, 500, &by), 0);
	assert_int_equal(by, DP_VM_GONE_ALREADY);
	assert_string_equal(dp_vm_stop_step_name(by), "gone already");
}

/* A live process the pidfile does not vouch for is never signalled. */
static void test_stop_not_vouched(void **state)
{
	(void)state;
	char rel[64], full[PATH_MAX], sock[128];
	new_dir(rel, sizeof(rel), full, sizeof(full), "");
	rel_path(sock, sizeof(sock), rel, "qmp.sock");
	char *argv[] = { "sleep", "30", NULL };
	pid_t other = spawn(argv);
	enum dp_vm_stop_step by = DP_VM_BY_SIGKILL;
	assert_int_equal(dp_vm_qemu_stop(sock, other, 500, &by), -ESRCH);
	assert_non_null(strstr(dp_error_message(), "does not hold QEMU's pidfile"));
	assert_int_equal(waitpid(other, NULL, WNOHANG), 0);   /* still alive */
	kill(other, SIGKILL);
	reap(other);
}

/* ---- the supervisor ------------------------------------------------------------------ */

static int write_marker(void *ctx)
{
	return dp_fs_write_file(ctx, "released\n", 9, 0644);
}

static bool marker_written(void *ctx)
{
	return dp_fs_exists(ctx);
}

static void test_supervisor(void **state)
{
	(void)state;
	char rel[64], full[PATH_MAX], marker[128], log[128];
	new_dir(rel, sizeof(rel), full, sizeof(full), "");
	rel_path(marker, sizeof(marker), rel, "released");
	rel_path(log, sizeof(log), rel, "supervisor.log");
	char *argv[] = { "sleep", "30", NULL };
	pid_t qemu = spawn(argv);
	int inherited[2];
	assert_int_equal(pipe(inherited), 0);   /* not close-on-exec: must not reach it */

	pid_t sup = 0;
	assert_int_equal(dp_vm_supervisor_spawn_logged(qemu, log, write_marker, marker, &sup), 0);
	assert_true(sup > 0 && sup != qemu);
	track(sup);
	assert_int_equal(waitpid(sup, NULL, WNOHANG), -1);   /* not our child */
	assert_int_equal(errno, ECHILD);
	assert_true(getsid(sup) != getsid(0));
	int supfd = pidfd_open(sup);
	assert_true(supfd >= 0);

	/* the supervisor kept no copy of the pipe's write end: EOF as soon as ours closes */
	close(inherited[1]);
	struct pollfd p = { .fd = inherited[0], .events = POLLIN };
	assert_int_equal(poll(&p, 1, 2000), 1);
	char c;
	assert_int_equal(read(inherited[0], &c, 1), 0);
	close(inherited[0]);
	assert_false(dp_fs_exists(marker));

	long long t0 = now_ms();
	kill(qemu, SIGKILL);
	assert_true(wait_for(marker_written, marker, 1000));
	assert_true(now_ms() - t0 < 1000);
	struct pollfd sp = { .fd = supfd, .events = POLLIN };
	assert_int_equal(poll(&sp, 1, 2000), 1);   /* and it exited */
	close(supfd);
	reap(qemu);

	char *text = NULL;
	assert_int_equal(dp_fs_read_all(log, &text, NULL), 0);
	assert_non_null(strstr(text, "ended"));
	assert_non_null(strstr(text, "on_exit returned 0"));
	free(text);
}

static void test_supervisor_gone(void **state)
{
	(void)state;
	pid_t child = fork();
	assert_true(child >= 0);
	if (child == 0)
		_exit(0);
	reap(child);
	pid_t sup = 0;
	assert_int_equal(dp_vm_supervisor_spawn(child, write_marker, "never", &sup), -ESRCH);
	assert_int_equal(sup, 0);
}

/* ---- the console relay ------------------------------------------------------------------ */

struct console {
	int master, slave, sock;   /* sock: the test's end of the "console" */
	int err;                   /* the relay's stderr */
	pid_t child;
	struct termios before;
};

static bool tty_is_raw(void *ctx)
{
	struct termios t;
	return tcgetattr(*(int *)ctx, &t) == 0 && !(t.c_lflag & ICANON) && !(t.c_lflag & ECHO);
}

static void console_start(struct console *c)
{
	int sv[2], err[2];
	assert_int_equal(openpty(&c->master, &c->slave, NULL, NULL, NULL), 0);
	assert_int_equal(tcgetattr(c->slave, &c->before), 0);
	assert_true(c->before.c_lflag & ICANON);
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	assert_int_equal(pipe(err), 0);
	c->child = fork();
	assert_true(c->child >= 0);
	if (c->child == 0) {
		close(c->master);
		close(sv[1]);
		dup2(err[1], STDERR_FILENO);
		int r = cli_console_relay(sv[0], c->slave, c->slave, CLI_CONSOLE_ESCAPE);
		_exit(r < 0 ? 100 : r);
	}
	close(sv[0]);
	close(err[1]);
	c->sock = sv[1];
	c->err = err[0];
	assert_true(wait_for(tty_is_raw, &c->slave, 5000));
}

/* Reads exactly len bytes within a few seconds. */
static void read_exact(int fd, char *buf, size_t len)
{
	size_t got = 0;
	long long deadline = now_ms() + 5000;
	while (got < len) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		assert_int_equal(poll(&p, 1, (int)(deadline - now_ms())), 1);
		ssize_t n = read(fd, buf + got, len - got);
		assert_true(n > 0);
		got += (size_t)n;
	}
}

/* The relay's exit code; the tty is back as it was. */
static int console_end(struct console *c, char *err, size_t size)
{
	int status = reap(c->child);
	struct termios after;
	assert_int_equal(tcgetattr(c->slave, &after), 0);
	assert_int_equal(after.c_lflag, c->before.c_lflag);
	assert_int_equal(after.c_iflag, c->before.c_iflag);
	assert_int_equal(after.c_oflag, c->before.c_oflag);
	assert_int_equal(after.c_cflag, c->before.c_cflag);
	ssize_t n = read(c->err, err, size - 1);
	err[n > 0 ? n : 0] = '\0';
	close(c->master);
	close(c->slave);
	close(c->sock);
	close(c->err);
	assert_true(WIFEXITED(status));
	return WEXITSTATUS(status);
}

static void test_console_escape(void **state)
{
	(void)state;
	struct console c;
	console_start(&c);
	char buf[16], err[256];
	assert_int_equal(write(c.master, "hi", 2), 2);          /* keyboard to console */
	read_exact(c.sock, buf, 2);
	assert_memory_equal(buf, "hi", 2);
	assert_int_equal(write(c.sock, "out\r\n", 5), 5);       /* console to screen */
	read_exact(c.master, buf, 5);
	assert_memory_equal(buf, "out\r\n", 5);
	assert_int_equal(write(c.master, "\x03x\x1dy", 4), 4);  /* ^C is a key; ^] leaves */
	read_exact(c.sock, buf, 2);
	assert_memory_equal(buf, "\x03x", 2);
	assert_int_equal(console_end(&c, err, sizeof(err)), CLI_CONSOLE_ESCAPED);
	assert_string_equal(err, "");
}

static void test_console_closed(void **state)
{
	(void)state;
	struct console c;
	console_start(&c);
	char err[256];
	close(c.sock);
	c.sock = -1;
	assert_int_equal(console_end(&c, err, sizeof(err)), CLI_CONSOLE_CLOSED);
	assert_string_equal(err, "the console closed\n");
}

static void test_console_signal(void **state)
{
	(void)state;
	struct console c;
	console_start(&c);
	char err[256];
	kill(c.child, SIGTERM);
	assert_int_equal(console_end(&c, err, sizeof(err)), CLI_CONSOLE_SIGNALLED);
}

/* ---- setup --------------------------------------------------------------------------- */

static int rm_tree(void)
{
	char cmd[PATH_MAX + 16];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", root);
	return system(cmd);
}

static int setup(void **state)
{
	(void)state;
	snprintf(root, sizeof(root), "/tmp/devpass-qmp-XXXXXX");
	assert_non_null(mkdtemp(root));
	return dp_root_set(root);
}

static int teardown(void **state)
{
	(void)state;
	kill_tracked();
	return rm_tree() == 0 ? 0 : -1;
}

int main(void)
{
	signal(SIGPIPE, SIG_IGN);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_qemu_monitor),
		cmocka_unit_test(test_qemu_stop_by_quit),
		cmocka_unit_test(test_partial_reply),
		cmocka_unit_test(test_not_a_monitor),
		cmocka_unit_test(test_pidfile),
		cmocka_unit_test(test_stop_stubborn),
		cmocka_unit_test(test_stop_obedient),
		cmocka_unit_test(test_stop_deaf),
		cmocka_unit_test(test_stop_no_monitor),
		cmocka_unit_test(test_stop_gone),
		cmocka_unit_test(test_stop_not_vouched),
		cmocka_unit_test(test_supervisor),
		cmocka_unit_test(test_supervisor_gone),
		cmocka_unit_test(test_console_escape),
		cmocka_unit_test(test_console_closed),
		cmocka_unit_test(test_console_signal),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
