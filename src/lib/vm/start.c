/* Starting a VM: validate -> take every device, all or nothing -> launch QEMU -> supervise
 * -> record. Explicit devices go through the binding engine (and are recorded as this
 * VM's in vm_devices), pool members through claims owned by "vm:NAME" and tied to QEMU's
 * pid, so a QEMU that dies leaves claims that the supervisor (or pool gc) releases. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "alloc-util.h"
#include "fs/sysroot.h"
#include "statedb/statedb.h"
#include "util/error.h"
#include "vm/vm.h"

#define START_TIMEOUT_MS 30000

void dp_vm_owner(const char *name, char *out, size_t size)
{
	snprintf(out, size, "vm:%s", name);
}

/* The VM's lock (run/devpass/vm/NAME.lock): start, stop, destroy and the supervisor's
 * release take it, so one of them changes a VM at a time. */
int dp_vm_lock(const char *name)
{
	char path[512];
	int r = dp_vm_path(name, DP_VM_RUN_DIR, NULL, path, sizeof(path));
	if (r < 0 || (r = dp_fs_mkdir_p(DP_VM_RUN_DIR, 0755)) < 0)
		return r;
	strncat(path, ".lock", sizeof(path) - strlen(path) - 1);
	return dp_fs_lock(path);
}

/* ---- taking devices ------------------------------------------------------------------- */
/* Records the plan's functions as the VM's (all of them, or only the pool members the
 * claim added), each with the driver it had, in one transaction. */
static int record_taken(struct vm_db *db, const struct dp_vm_plan *p, const struct dp_pci_list *list,
                        bool pool_members_only)
{
	int r = dp_vm_db_begin(db);
	for (size_t i = 0; r == 0 && i < p->nfns; i++) {
		if (pool_members_only && !p->fns[i].pool)
			continue;
		const struct dp_pci_device *dev = dp_pci_list_find(list, p->fns[i].address);
		struct dp_vm_taken t = {0};
		snprintf(t.address, sizeof(t.address), "%s", p->fns[i].address);
		if (p->fns[i].pool)
			snprintf(t.pool, sizeof(t.pool), "%s", p->fns[i].pool);
		snprintf(t.driver_before, sizeof(t.driver_before), "%s", dev ? dev->driver : "");
		r = dp_vm_db_take(db, p->def->name, &t);
	}
	if (r < 0) {
		dp_vm_db_rollback(db);
		return r;
	}
	return dp_vm_db_commit(db);
}

static int bind_explicit(const struct dp_vm_plan *p, const struct dp_pci_list *list, int timeout_ms)
{
	if (!p->explicit_addrs.n)
		return 0;
	struct dp_bind_options bo = { .timeout_ms = timeout_ms };
	struct dp_bind_plan bp = {0};
	int r = dp_bind_plan_make(DP_BIND, list, p->explicit_addrs.v, p->explicit_addrs.n, false, &bo, &bp);
	if (r == 0)
		r = dp_bind_plan_apply(&bp, list, &bo);
	dp_bind_plan_free(&bp);
	return r;
}

/* Pool requests of one pool are summed: a claim counts what the owner holds already. */
static bool wants_pool(const struct dp_vm_device *d)
{
	return d->want == DP_VM_WANT_POOL ||
	       (d->want == DP_VM_WANT_USB && dp_vm_usb_spec_kind(d->spec) == VM_USB_POOL) ||
	       d->want == DP_VM_WANT_MDEV;
}

static unsigned pool_total(const struct dp_vm_def *def, size_t upto, const char *pool, bool *first)
{
	unsigned total = 0;
	*first = true;
	for (size_t i = 0; i < def->ndevices; i++) {
		const struct dp_vm_device *d = &def->devices[i];
		if (!wants_pool(d) || strcmp(d->spec, pool) != 0)
			continue;
		if (i < upto)
			*first = false;
		total += d->count ? d->count : 1;
	}
	return total;
}

/* A claimed USB device goes to usb-host by the port it is on now; one a claim holds while
 * it is unplugged, by its ids (the guest gets it when it is back). */
static int usb_claimed_add(struct dp_vm_plan *p, const struct dp_claim *c)
{
	if (c->address[0])
		return dp_vm_usb_host_add(&p->usb_hosts, VM_USB_PORT, c->address);
	char id[10];
	snprintf(id, sizeof(id), "%s", c->functions.n ? c->functions.v[0] : "");
	return dp_vm_usb_host_add(&p->usb_hosts, VM_USB_ID, id);
}

/* A claimed mediated device is known by its uuid (the claim's one function). */
static int mdev_claimed_add(struct dp_vm_plan *p, const struct dp_claim *c)
{
	for (size_t i = 0; i < c->functions.n; i++)
		if (dp_strv_add(&p->mdevs, c->functions.v[i]) < 0)
			return dp_oom();
	return 0;
}

/* Claims every pool request for the owner with pid; the claimed functions join the plan. */
int dp_vm_claim_pools(struct dp_vm_plan *p, const struct dp_pci_list *list, pid_t pid,
                      int timeout_ms, bool add)
{
	char owner[128];
	dp_vm_owner(p->def->name, owner, sizeof(owner));
	for (size_t i = 0; i < p->def->ndevices; i++) {
		const struct dp_vm_device *d = &p->def->devices[i];
		bool first;
		if (!wants_pool(d))
			continue;
		struct dp_claim_request req = { .pool = d->spec, .owner = owner, .pid = pid,
		                                .count = pool_total(p->def, i, d->spec, &first),
		                                .numa = p->host_node, .timeout_ms = timeout_ms };
		if (!first)
			continue;
		struct dp_claim_list out = {0};
		int r = dp_pool_claim(list, &req, &out);
		for (size_t c = 0; r == 0 && add && c < out.n; c++)
			r = d->want == DP_VM_WANT_USB ? usb_claimed_add(p, &out.c[c])
			    : d->want == DP_VM_WANT_MDEV ? mdev_claimed_add(p, &out.c[c])
			    : dp_vm_plan_add_functions(p, list, &out.c[c].functions, d->spec);
		dp_claim_list_free(&out);
		if (r < 0)
			return r;
	}
	return 0;
}

/* All or nothing: on any failure whatever was taken is given back, and the error of the
 * failure (not of the giving back) is what the caller sees. */
static int take_devices(struct vm_db *db, struct dp_vm_plan *p, const struct dp_pci_list *list,
                        int timeout_ms)
{
	int r = record_taken(db, p, list, false);
	if (r < 0)
		return r;
	if ((r = bind_explicit(p, list, timeout_ms)) == 0 &&
	    (r = dp_vm_claim_pools(p, list, getpid(), timeout_ms, true)) == 0 &&
	    (r = record_taken(db, p, list, true)) == 0)
		return 0;
	_cleanup_free_ char *why = strdup(dp_error_message());
	dp_vm_release(p->def->name, NULL, timeout_ms, NULL);
	return dp_error_set(r, "%s", why ? why : "taking the VM's devices failed");
}

/* ---- launching QEMU ------------------------------------------------------------------- */
static void child_exec(char *const *argv, int errfd, unsigned long long memory_mib)
{
	/* VFIO pins all guest RAM: without CAP_IPC_LOCK, QEMU needs RLIMIT_MEMLOCK for it (and
	 * some room: libvirt's rule of RAM + 1 GiB); raising it fails harmlessly if we may not */
	struct rlimit rl = { (memory_mib + 1024) << 20, (memory_mib + 1024) << 20 };
	struct rlimit cur;
	if (getrlimit(RLIMIT_MEMLOCK, &cur) == 0 && cur.rlim_cur != RLIM_INFINITY && cur.rlim_cur < rl.rlim_cur)
		setrlimit(RLIMIT_MEMLOCK, &rl);
	dup2(errfd, STDOUT_FILENO);
	dup2(errfd, STDERR_FILENO);
	execvp(argv[0], argv);
	dprintf(errfd, "%s: cannot run: %s\n", argv[0], strerror(errno));
	_exit(127);
}

static long long now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000LL + ts.tv_nsec / 1000000;
}

/* Reads the child's output until it closes (QEMU's -daemonize parent exits once the VM is
 * set up, its daemon then drops its stdio), at most timeout_ms. */
static int output_collect(int fd, char *buf, size_t size, int timeout_ms)
{
	size_t len = 0;
	long long end = now_ms() + timeout_ms;
	for (;;) {
		struct pollfd pfd = { fd, POLLIN, 0 };
		long long left = end - now_ms();
		if (left <= 0 || poll(&pfd, 1, (int)left) <= 0)
			return -ETIMEDOUT;
		char tmp[1024];
		ssize_t n = read(fd, tmp, sizeof(tmp));
		if (n <= 0)
			break;
		size_t keep = len + (size_t)n < size - 1 ? (size_t)n : size - 1 - len;
		memcpy(buf + len, tmp, keep);
		len += keep;
	}
	buf[len] = '\0';
	return 0;
}

/* QEMU's own error line: the last one naming qemu, else the last non-empty one. */
static void error_line(char *text, char *out, size_t size)
{
	char *best = NULL, *last = NULL, *save = NULL;
	for (char *l = strtok_r(text, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
		last = l;
		if (strstr(l, "qemu") || strstr(l, "vfio"))
			best = l;
	}
	snprintf(out, size, "%s", best ? best : last ? last : "(no message)");
}

int dp_vm_qemu_launch(const struct dp_strv *argv, unsigned long long memory_mib, int timeout_ms,
                      struct dp_vm_report *report)
{
	_cleanup_free_ char **args = calloc(argv->n + 1, sizeof(*args));   /* execvp's NULL end */
	if (!args)
		return dp_oom();
	memcpy(args, argv->v, argv->n * sizeof(*args));
	int pipefd[2];
	if (pipe2(pipefd, O_CLOEXEC) < 0)
		return dp_error_set(-errno, "cannot make a pipe: %s", strerror(errno));
	pid_t pid = fork();
	if (pid == 0)
		child_exec(args, pipefd[1], memory_mib);
	close(pipefd[1]);
	_cleanup_close_ int rd = pipefd[0];
	if (pid < 0)
		return dp_error_set(-errno, "cannot start QEMU: %s", strerror(errno));
	_cleanup_free_ char *out = malloc(16384);
	int r = out ? output_collect(rd, out, 16384, timeout_ms) : dp_oom();
	if (r == -ETIMEDOUT)
		kill(pid, SIGKILL);
	int status = 0;
	waitpid(pid, &status, 0);
	if (r == -ENOMEM)
		return r;
	char line[512];
	bool ok = r == 0 && WIFEXITED(status) && WEXITSTATUS(status) == 0;
	if (ok) {
		if (out[0])
			error_line(out, line, sizeof(line)), dp_vm_report_add(report, "qemu", DP_VM_WARN, NULL, "%s", line);
		return 0;
	}
	if (r == -ETIMEDOUT)
		return dp_error_set(-ETIMEDOUT, "QEMU did not finish starting within %d s", timeout_ms / 1000);
	error_line(out, line, sizeof(line));
	return dp_error_set(-EIO, "QEMU did not start (exit %d): %s",
	                    WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status), line);
}

static void run_files_remove(const char *name)
{
	static const char *const files[] = { "qemu.pid", "qmp.sock", "serial.sock", "vnc.sock" };
	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		char path[512];
		if (dp_vm_path(name, DP_VM_RUN_DIR, files[i], path, sizeof(path)) == 0)
			dp_fs_unlink(path);
	}
}

void dp_vm_run_files_remove(const char *name)
{
	run_files_remove(name);
}

static int launch(struct dp_vm_plan *p, const struct dp_vm_options *o, pid_t *qemu_pid,
                  struct dp_vm_report *report)
{
	char run[512], pidfile[512];
	const struct dp_vm_def *def = p->def;
	int r = dp_vm_path(def->name, DP_VM_RUN_DIR, NULL, run, sizeof(run)) ?:
	        dp_vm_path(def->name, DP_VM_RUN_DIR, "qemu.pid", pidfile, sizeof(pidfile)) ?:
	        dp_fs_mkdir_p(run, 0700);
	if (r < 0)
		return r;
	run_files_remove(def->name);
	dp_strv_free(&report->argv);
	if ((r = dp_vm_plan_argv(p, o, &report->argv)) < 0)
		return r;
	int timeout = START_TIMEOUT_MS + (int)(def->memory_mib / 1024) * 1000 * (p->nfns ? 4 : 1);
	if ((r = dp_vm_qemu_launch(&report->argv, def->memory_mib, timeout, report)) < 0)
		return r;
	if (!dp_vm_pidfile_locked(pidfile, qemu_pid))
		return dp_error_set(-ESRCH, "QEMU of VM '%s' started but is gone already (see its "
		                    "console log)", def->name);
	return 0;
}

/* ---- after the launch ----------------------------------------------------------------- */
static int supervisor_release(void *ctx)
{
	const char *name = ctx;
	int fd = dp_vm_lock(name);
	int r = fd < 0 ? fd : dp_vm_release(name, "QEMU exited without a stop (guest poweroff, crash "
	                                    "or kill)", 0, NULL);
	if (r < 0)   /* into the supervisor's log */
		fprintf(stderr, "devpass supervisor of VM %s: %s\n", name, dp_error_message());
	if (fd >= 0)
		dp_fs_unlock(fd);
	return r < 0 ? 1 : 0;
}

static void pin_vcpus(const struct dp_vm_plan *p, struct dp_vm_report *report)
{
	char sock[512];
	cpu_set_t cpus;
	if (p->host_node < 0 || dp_vm_path(p->def->name, DP_VM_RUN_DIR, "qmp.sock", sock, sizeof(sock)) < 0)
		return;
	struct dp_qmp *q = NULL;
	pid_t *tids = NULL;
	size_t n = 0;
	int r = dp_vm_node_cpus(p->host_node, &cpus) ?: dp_qmp_connect(sock, 5000, &q) ?:
	        dp_qmp_vcpu_threads(q, &tids, &n) ?: dp_vm_pin_threads(tids, n, &cpus);
	if (r < 0)
		dp_vm_report_add(report, "numa", DP_VM_WARN, NULL, "vCPUs not pinned: %s", dp_error_message());
	else
		dp_vm_report_add(report, "numa", DP_VM_OK, NULL, "%zu vCPU thread(s) pinned to node %d's CPUs",
		                 n, p->host_node);
	free(tids);
	if (q)
		dp_qmp_free(q);
}

static int after_launch(struct vm_db **db, struct dp_vm_plan *p, const struct dp_pci_list *list,
                        pid_t qemu, int timeout_ms, struct dp_vm_report *report)
{
	pid_t sup = 0;
	char name[DP_VM_NAME_MAX + 1];
	snprintf(name, sizeof(name), "%s", p->def->name);
	/* SQLite's per-file state must not cross a fork with a connection open: the
	 * supervisor opens the database afresh, so ours is closed around the fork */
	dp_vm_db_close(*db);
	*db = NULL;
	dp_statedb_cache_drop();   /* the pools' and ledger's connection, kept open: the same */
	char log[512];
	int r = dp_vm_path(name, DP_VM_STATE_DIR, "supervisor.log", log, sizeof(log)) ?:
	        dp_vm_supervisor_spawn_logged(qemu, log, supervisor_release, name, &sup);
	if (r < 0)
		dp_vm_report_add(report, "supervisor", DP_VM_WARN, NULL, "no supervisor: %s "
		                 "(devices come back at the next stop, or by pool gc)", dp_error_message());
	if ((r = dp_vm_db_open(db, true)) < 0 || (r = dp_vm_db_run_set(*db, name, "running", qemu, sup)) < 0)
		return r;
	/* the claims now live with QEMU: a dead QEMU makes them stale */
	if (dp_vm_claim_pools(p, list, qemu, timeout_ms, false) < 0)
		dp_vm_report_add(report, "pool", DP_VM_WARN, NULL, "claims still tied to devpass's pid: %s",
		                 dp_error_message());
	pin_vcpus(p, report);
	return 0;
}

/* A run the database still records, whose QEMU is gone: give its devices back first. */
static int start_prepare(struct vm_db *db, const char *name)
{
	struct dp_vm_status st = {0};
	char pidfile[512];
	int r = dp_vm_db_status(db, name, &st) ?: dp_vm_path(name, DP_VM_RUN_DIR, "qemu.pid", pidfile, sizeof(pidfile));
	pid_t pid = 0;
	bool alive = r == 0 && dp_vm_pidfile_locked(pidfile, &pid);
	bool stale = r == 0 && !alive && (st.ntaken || st.state != DP_VM_STOPPED);
	dp_vm_status_free(&st);
	if (r < 0)
		return r;
	if (alive)
		return dp_error_set(-EBUSY, "VM '%s' is running already (QEMU pid %d)", name, (int)pid);
	return stale ? dp_vm_release(name, "QEMU had exited; found at the next start", 0, NULL) : 0;
}

static int start_locked(struct vm_db **db, const struct dp_vm_def *def, const struct dp_pci_list *list,
                        const struct dp_vm_options *o, struct dp_vm_report *report)
{
	_cleanup_(dp_vm_plan_freep) struct dp_vm_plan p = {0};
	int r = dp_vm_plan_make(def, list, &p, report, o->dry_run) ?: dp_vm_plan_check(&p, list, report);
	if (r == 0 && !o->dry_run && (r = dp_vm_prepare_files(def)) < 0)
		return r;
	if (r < 0)
		return r;
	if (!dp_vm_report_ok(report))
		return dp_vm_report_error(report, def->name);
	if (o->dry_run)
		return dp_vm_plan_argv(&p, o, &report->argv);
	if ((r = take_devices(*db, &p, list, o->timeout_ms)) < 0)
		return r;
	pid_t qemu = 0;
	if ((r = launch(&p, o, &qemu, report)) < 0) {
		_cleanup_free_ char *why = strdup(dp_error_message());
		dp_vm_release(def->name, NULL, o->timeout_ms, NULL);
		return dp_error_set(r, "%s; every device was given back", why ? why : "QEMU did not start");
	}
	return after_launch(db, &p, list, qemu, o->timeout_ms, report);
}

int dp_vm_start(const char *name, const struct dp_pci_list *list, const struct dp_vm_options *o,
                struct dp_vm_report *out)
{
	struct dp_vm_options none = {0};
	o = o ? o : &none;
	_cleanup_(dp_vm_def_freep) struct dp_vm_def def = {0};
	int r = dp_vm_get(name, &def, NULL);
	if (r < 0)
		return r;
	if (!o->dry_run && def.ndevices && (r = dp_fs_require_kernel()) < 0)
		return r;   /* a tree with no kernel behind it: no device can be taken */
	_cleanup_(dp_vm_db_closep) struct vm_db *db = NULL;
	int lock = o->dry_run ? 0 : dp_vm_lock(name);
	if (lock < 0)
		return lock;
	r = o->dry_run ? 0 : dp_vm_db_open(&db, true) ?: start_prepare(db, name);
	if (r == 0)
		r = start_locked(&db, &def, list, o, out);
	if (lock > 0)
		dp_fs_unlock(lock);
	return r;
}
