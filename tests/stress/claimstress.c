/* claimstress: many processes claiming and releasing the members of one pool at once,
 * through libdevpass, against the fake kernel of tests/unit (so that the state database
 * and the claim logic are what is measured, not sysfs).
 *
 *   claimstress [--procs N] [--cycles N]   N workers loop claim -> verify -> release
 *   claimstress --kill [--kills N]          workers are SIGKILLed at random moments;
 *                                           `pool gc` must then recover every claim
 *   claimstress --bench [--bench-cycles N]  claims/s at 1 and 8 processes, and the same
 *                                           cycle done the way Proxmox reserves PCI devices
 *
 * Double allocation is caught outside the library: a shared-memory array holds one slot
 * per VF, and a worker that got a claim must move the slot from 0 to its pid with an
 * atomic compare-and-swap; a slot already held by a live process means two owners. Output
 * is TAP-ish ("ok - stress: ...") with "# " lines for the figures. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "devpass.h"
#include "fakekernel.h"

#define FIXTURE "bench --pfs 2 --vfs 32 --gpus 0"
#define POOL "vfs"
#define RULE "id=15b3:101e"
#define MAX_VFS 64
#define MAX_PROCS 64
#define MAX_NOTES 8
#define WRITE_TIMEOUT_MS 10000
#define RUN_DEADLINE_S 300   /* a run still going after this is taken for a deadlock */

/* Where a worker is in its cycle, for telling where the kills landed. */
enum phase { PH_IDLE, PH_CLAIMING, PH_HOLDING, PH_RELEASING, PH_COUNT };
static const char *const phase_names[PH_COUNT] = {"between cycles", "in claim", "holding",
                                                  "in release"};

/* What the workers share with the parent (MAP_SHARED: survives fork). */
struct shared {
	int phase[MAX_PROCS];        /* per worker index */
	int slot[MAX_VFS];           /* pid of the process holding the VF, 0 free */
	long claims, releases, functions, errors, doubles, unbound, takeovers, lost;
	long gc_runs, gc_released;
	long claim_us, release_us;   /* time spent in the claim and in the release calls */
	int stop;                    /* set by the parent: finish the cycle and exit */
	int notes;
	char note[MAX_NOTES][384];   /* the first problems, for the report */
};

enum method { DEVPASS, BASELINE };

static struct shared *sh;
static char root[PATH_MAX];
static struct fk_state *fk;
static char vf[MAX_VFS][DP_ADDR_LEN];          /* the pool's VFs, in address order */
static char vf_driver[MAX_VFS][64];            /* their drivers before the run */
static char vf_override[MAX_VFS][64];
static int nvf;
static int failures;
static bool rescan_each_cycle;
static int worker_index;         /* in a worker: its index, for sh->phase */
static unsigned claim_count = 1; /* devices per claim */
static long hold_ms;             /* how long a worker holds its claim */

static void tap(bool ok, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void tap(bool ok, const char *fmt, ...)
{
	va_list ap;
	printf("%s - stress: ", ok ? "ok" : "not ok");
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	fflush(stdout);
	failures += !ok;
}

static void note(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void note(const char *fmt, ...)
{
	int i = __atomic_fetch_add(&sh->notes, 1, __ATOMIC_SEQ_CST);
	if (i >= MAX_NOTES)
		return;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(sh->note[i], sizeof(sh->note[i]), fmt, ap);
	va_end(ap);
}

static void notes_print(void)
{
	int n = sh->notes < MAX_NOTES ? sh->notes : MAX_NOTES;
	for (int i = 0; i < n; i++)
		printf("#   %s\n", sh->note[i]);
	if (sh->notes > n)
		printf("#   ... and %d more\n", sh->notes - n);
}

static void counters_reset(void)
{
	memset(sh, 0, sizeof(*sh));
}

static void phase_set(enum phase ph)
{
	__atomic_store_n(&sh->phase[worker_index], ph, __ATOMIC_SEQ_CST);
}

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void sleep_ms(long ms)
{
	nanosleep(&(struct timespec){ms / 1000, (ms % 1000) * 1000000L}, NULL);
}

static int vf_index(const char *address)
{
	for (int i = 0; i < nvf; i++)
		if (strcmp(vf[i], address) == 0)
			return i;
	return -1;
}

/* A zombie counts as gone: it holds nothing any more, only its exit status. */
static bool process_gone(pid_t pid)
{
	char path[64], buf[512];
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	FILE *f = fopen(path, "r");
	if (!f)
		return true;
	size_t n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	const char *paren = strrchr(buf, ')');
	return !paren || paren[1] == '\0' || paren[2] == 'Z' || paren[2] == 'X';
}

/* ---- the double-allocation detector ------------------------------------------------ */

/* Takes the slot of every function of a claim; a slot held by a live process is a
 * double allocation. A dead holder's slot is taken over, as the library takes over a
 * dead process's claim. */
static void slots_take(const struct dp_strv *functions, pid_t me)
{
	for (size_t f = 0; f < functions->n; f++) {
		int i = vf_index(functions->v[f]);
		if (i < 0) {
			__atomic_add_fetch(&sh->errors, 1, __ATOMIC_SEQ_CST);
			note("pid %d was given %s, which is not a VF of the pool", (int)me, functions->v[f]);
			continue;
		}
		for (;;) {
			int holder = 0;
			if (__atomic_compare_exchange_n(&sh->slot[i], &holder, (int)me, false,
			                                __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST))
				break;
			if (process_gone(holder)) {
				if (__atomic_compare_exchange_n(&sh->slot[i], &holder, (int)me, false,
				                                __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST))
					break;
				continue;
			}
			__atomic_add_fetch(&sh->doubles, 1, __ATOMIC_SEQ_CST);
			note("DOUBLE ALLOCATION: %s claimed by pid %d while pid %d (alive) holds it",
			     vf[i], (int)me, holder);
			sh->stop = 1;
			break;
		}
		char driver[64];
		fk_driver(root, functions->v[f], driver, sizeof(driver));
		if (strcmp(driver, "vfio-pci") != 0) {
			__atomic_add_fetch(&sh->unbound, 1, __ATOMIC_SEQ_CST);
			note("pid %d claimed %s but it is on %s, not vfio-pci", (int)me, functions->v[f],
			     *driver ? driver : "no driver");
		}
		__atomic_add_fetch(&sh->functions, 1, __ATOMIC_SEQ_CST);
	}
}

/* Before the release: after it another worker may rightly get the device. */
static void slots_give(const struct dp_strv *functions, pid_t me)
{
	for (size_t f = 0; f < functions->n; f++) {
		int i = vf_index(functions->v[f]);
		int mine = (int)me;
		if (i >= 0)
			__atomic_compare_exchange_n(&sh->slot[i], &mine, 0, false, __ATOMIC_SEQ_CST,
			                            __ATOMIC_SEQ_CST);
	}
}

/* A reaped worker holds nothing: frees the slots it had not given back. */
static void slots_free_of(pid_t pid)
{
	for (int i = 0; i < nvf; i++) {
		int holder = (int)pid;
		__atomic_compare_exchange_n(&sh->slot[i], &holder, 0, false, __ATOMIC_SEQ_CST,
		                            __ATOMIC_SEQ_CST);
	}
}

/* ---- inventory ---------------------------------------------------------------------- */

static int scan(struct dp_pci_list *list)
{
	int r = dp_pci_scan_flags(list, 0);
	if (r < 0)
		return r;
	dp_critical_mark(list);
	return 0;
}

/* A worker scans once; the driver of the function it is about to move is read again
 * (the other workers move functions meanwhile), as one sysfs readlink would. */
static void driver_refresh(struct dp_pci_list *list, const char *address)
{
	struct dp_pci_device *dev = dp_pci_list_find(list, address);
	if (dev)
		fk_driver(root, address, dev->driver, sizeof(dev->driver));
}

/* ---- one claim cycle through devpass ------------------------------------------------ */

/* While held, a claimed function must stay on vfio-pci: nobody else may move it. */
static void holding_check(const struct dp_strv *functions, const char *owner)
{
	for (size_t f = 0; f < functions->n; f++) {
		char driver[64];
		fk_driver(root, functions->v[f], driver, sizeof(driver));
		if (strcmp(driver, "vfio-pci") == 0)
			continue;
		__atomic_add_fetch(&sh->lost, 1, __ATOMIC_SEQ_CST);
		note("%s left vfio-pci (now on %s) while %s (alive) held it", functions->v[f],
		     *driver ? driver : "no driver", owner);
	}
}

static bool devpass_cycle(struct dp_pci_list *list, const char *owner, pid_t me)
{
	struct dp_claim_request req = {
		.pool = POOL, .owner = owner, .count = claim_count, .numa = DP_NO_NUMA,
		.pid = me, .timeout_ms = WRITE_TIMEOUT_MS,
	};
	struct dp_claim_list got = {0}, rel = {0};
	phase_set(PH_CLAIMING);
	double t0 = now_s();
	int r = dp_pool_claim(list, &req, &got);
	__atomic_add_fetch(&sh->claim_us, (long)((now_s() - t0) * 1e6), __ATOMIC_SEQ_CST);
	phase_set(r < 0 ? PH_IDLE : PH_HOLDING);
	if (r < 0) {
		__atomic_add_fetch(&sh->errors, 1, __ATOMIC_SEQ_CST);
		fk_trace("claim by %s failed: %s", owner, dp_error_message());
		note("claim by %s failed: %s", owner, dp_error_message());
		dp_claim_list_free(&got);
		return false;
	}
	__atomic_add_fetch(&sh->claims, 1, __ATOMIC_SEQ_CST);
	struct dp_strv functions = {0};
	for (size_t c = 0; c < got.n; c++)
		fk_trace("claimed %s for %s%s", got.c[c].address, owner, got.c[c].took_over ? " (took over)" : "");
	for (size_t c = 0; c < got.n; c++) {
		if (got.c[c].took_over)
			__atomic_add_fetch(&sh->takeovers, 1, __ATOMIC_SEQ_CST);
		for (size_t f = 0; f < got.c[c].functions.n; f++)
			dp_strv_add(&functions, got.c[c].functions.v[f]);
	}
	if (got.n != claim_count || functions.n < claim_count) {
		__atomic_add_fetch(&sh->errors, 1, __ATOMIC_SEQ_CST);
		note("claim by %s returned %zu claims with %zu functions, expected %u", owner, got.n,
		     functions.n, claim_count);
	}
	slots_take(&functions, me);
	if (hold_ms) {
		sleep_ms(hold_ms);
		holding_check(&functions, owner);
	}
	slots_give(&functions, me);
	phase_set(PH_RELEASING);
	t0 = now_s();
	fk_trace("releasing for %s", owner);
	r = dp_pool_release(list, owner, NULL, 0, WRITE_TIMEOUT_MS, &rel);
	fk_trace("released for %s: r=%d n=%zu", owner, r, rel.n);
	for (size_t w = 0; w < rel.warnings.n; w++)
		fk_trace("release warning: %s", rel.warnings.v[w]);
	__atomic_add_fetch(&sh->release_us, (long)((now_s() - t0) * 1e6), __ATOMIC_SEQ_CST);
	phase_set(PH_IDLE);
	if (r < 0) {
		__atomic_add_fetch(&sh->errors, 1, __ATOMIC_SEQ_CST);
		note("release by %s failed: %s", owner, dp_error_message());
	} else if (rel.n != got.n) {
		__atomic_add_fetch(&sh->errors, 1, __ATOMIC_SEQ_CST);
		note("release by %s returned %zu claims, it had %zu", owner, rel.n, got.n);
	} else {
		__atomic_add_fetch(&sh->releases, 1, __ATOMIC_SEQ_CST);
	}
	dp_strv_free(&functions);
	dp_claim_list_free(&got);
	dp_claim_list_free(&rel);
	return r >= 0;
}

/* ---- the baseline: a Proxmox-style reservation file (re-implemented) ---------------
 * qemu-server keeps PCI reservations in one flat file
 * (/run/qemu-server/pci-id-reservations), one "ADDR VMID pid:PID" line per reserved
 * device, read and rewritten whole (temporary file + rename) under a lock file (flock). A mapping with several devices is tried in order, first free one wins; a
 * reservation whose process is gone is taken over. The binding is done here with the
 * same library calls devpass makes (plan + apply, reset, restore), so the two differ in
 * the bookkeeping only. */

#define RESV_MAX (MAX_VFS * 2)
struct reservation {
	char address[DP_ADDR_LEN];
	char owner[64];
	int pid;
};

static void baseline_paths(char *file, char *lock, size_t size)
{
	snprintf(file, size, "%s/run/qemu-server/pci-id-reservations", root);
	snprintf(lock, size, "%s/run/qemu-server/pci-id-reservations.lock", root);
}

static int baseline_setup(void)
{
	char dir[PATH_MAX + 32];
	snprintf(dir, sizeof(dir), "%s/run", root);
	mkdir(dir, 0755);
	snprintf(dir, sizeof(dir), "%s/run/qemu-server", root);
	return mkdir(dir, 0755) == 0 || errno == EEXIST ? 0 : -errno;
}

static int reservation_order(const void *a, const void *b)
{
	return strcmp(((const struct reservation *)a)->address, ((const struct reservation *)b)->address);
}

static int reservations_read(const char *file, struct reservation *r)
{
	FILE *f = fopen(file, "r");
	char line[256];
	int n = 0;
	while (f && n < RESV_MAX && fgets(line, sizeof(line), f))
		if (sscanf(line, "%15s %63s pid:%d", r[n].address, r[n].owner, &r[n].pid) == 3)
			n++;
	if (f)
		fclose(f);
	return n;
}

static int reservations_write(const char *file, struct reservation *r, int n)
{
	char tmp[PATH_MAX + 32];
	snprintf(tmp, sizeof(tmp), "%s.tmp.%d", file, (int)getpid());
	FILE *f = fopen(tmp, "w");
	if (!f)
		return -errno;
	qsort(r, (size_t)n, sizeof(*r), reservation_order);   /* written sorted, as qemu-server does */
	for (int i = 0; i < n; i++)
		fprintf(f, "%s %s pid:%d\n", r[i].address, r[i].owner, r[i].pid);
	if (fclose(f) != 0 || rename(tmp, file) < 0)
		return -errno;
	return 0;
}

static int lock_take(const char *lock)
{
	int fd = open(lock, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
	if (fd < 0)
		return -errno;
	while (flock(fd, LOCK_EX) < 0)
		if (errno != EINTR) {
			close(fd);
			return -errno;
		}
	return fd;
}

static bool reservation_live(const struct reservation *r)
{
	return r->pid > 0 && (kill(r->pid, 0) == 0 || errno != ESRCH);
}

/* The first VF nobody (alive) has reserved becomes ours; -EBUSY when none is left. */
static int baseline_reserve(const char *owner, pid_t me, char out[DP_ADDR_LEN])
{
	char file[PATH_MAX], lock[PATH_MAX];
	struct reservation r[RESV_MAX];
	baseline_paths(file, lock, sizeof(file));
	int fd = lock_take(lock);
	if (fd < 0)
		return fd;
	int n = reservations_read(file, r), err = -EBUSY;
	for (int i = 0; i < nvf && err == -EBUSY; i++) {
		int at = n;
		for (int j = 0; j < n; j++)
			if (strcmp(r[j].address, vf[i]) == 0)
				at = j;
		if (at < n && reservation_live(&r[at]))
			continue;
		if (at == n)
			n++;
		snprintf(r[at].address, sizeof(r[at].address), "%s", vf[i]);
		snprintf(r[at].owner, sizeof(r[at].owner), "%s", owner);
		r[at].pid = (int)me;
		snprintf(out, DP_ADDR_LEN, "%s", vf[i]);
		err = reservations_write(file, r, n);
	}
	close(fd);
	return err;
}

static int baseline_unreserve(const char *address, const char *owner)
{
	char file[PATH_MAX], lock[PATH_MAX];
	struct reservation r[RESV_MAX];
	baseline_paths(file, lock, sizeof(file));
	int fd = lock_take(lock);
	if (fd < 0)
		return fd;
	int n = reservations_read(file, r), kept = 0;
	for (int i = 0; i < n; i++)
		if (strcmp(r[i].address, address) != 0 || strcmp(r[i].owner, owner) != 0)
			r[kept++] = r[i];
	int err = reservations_write(file, r, kept);
	close(fd);
	return err;
}

static int baseline_move(struct dp_pci_list *list, enum dp_bind_kind kind, const char *address)
{
	struct dp_bind_options o = {.timeout_ms = WRITE_TIMEOUT_MS};
	struct dp_bind_plan plan;
	char *addrs[1] = {(char *)address};
	driver_refresh(list, address);
	int r = dp_bind_plan_make(kind, list, addrs, 1, false, &o, &plan);
	if (r == 0)
		r = dp_bind_plan_apply(&plan, list, &o);
	dp_bind_plan_free(&plan);
	return r;
}

static bool baseline_cycle(struct dp_pci_list *list, const char *owner, pid_t me)
{
	char address[DP_ADDR_LEN];
	double t0 = now_s();
	int r = baseline_reserve(owner, me, address);
	if (r < 0) {
		__atomic_add_fetch(&sh->errors, 1, __ATOMIC_SEQ_CST);
		note("baseline reservation by %s failed: %s", owner,
		     r == -EBUSY ? "no free VF" : strerror(-r));
		return false;
	}
	if ((r = baseline_move(list, DP_BIND, address)) < 0) {
		__atomic_add_fetch(&sh->errors, 1, __ATOMIC_SEQ_CST);
		note("baseline bind by %s failed: %s", owner, dp_error_message());
		baseline_unreserve(address, owner);
		return false;
	}
	__atomic_add_fetch(&sh->claim_us, (long)((now_s() - t0) * 1e6), __ATOMIC_SEQ_CST);
	__atomic_add_fetch(&sh->claims, 1, __ATOMIC_SEQ_CST);
	struct dp_strv functions = {0};
	dp_strv_add(&functions, address);
	slots_take(&functions, me);
	slots_give(&functions, me);
	dp_strv_free(&functions);
	/* as devpass's release: reset, then back to the original driver */
	t0 = now_s();
	struct dp_pci_device *dev = dp_pci_list_find(list, address);
	r = dev ? dp_reset_apply(dev, WRITE_TIMEOUT_MS) : -ENODEV;
	if (r == 0)
		r = baseline_move(list, DP_RESTORE, address);
	if (r < 0)
		note("baseline release by %s failed: %s", owner, dp_error_message());
	int u = baseline_unreserve(address, owner);
	__atomic_add_fetch(&sh->release_us, (long)((now_s() - t0) * 1e6), __ATOMIC_SEQ_CST);
	if (u < 0)
		note("baseline unreservation by %s failed: %s", owner, strerror(-u));
	if (r < 0 || u < 0) {
		__atomic_add_fetch(&sh->errors, 1, __ATOMIC_SEQ_CST);
		return false;
	}
	__atomic_add_fetch(&sh->releases, 1, __ATOMIC_SEQ_CST);
	return true;
}

/* ---- workers -------------------------------------------------------------------------- */

/* cycles < 0: until the parent says stop */
static void __attribute__((noreturn)) worker(enum method m, int index, const char *owner,
                                             long cycles)
{
	struct dp_pci_list list = {0};
	worker_index = index;
	pid_t me = getpid();
	fk_trace("worker %s started", owner);
	if (scan(&list) < 0) {
		__atomic_add_fetch(&sh->errors, 1, __ATOMIC_SEQ_CST);
		note("%s: scan failed: %s", owner, dp_error_message());
		_exit(1);
	}
	for (long c = 0; (cycles < 0 || c < cycles) && !__atomic_load_n(&sh->stop, __ATOMIC_SEQ_CST); c++) {
		if (rescan_each_cycle) {
			dp_pci_list_free(&list);
			if (scan(&list) < 0)
				_exit(1);
		}
		if (m == DEVPASS)
			devpass_cycle(&list, owner, me);
		else
			baseline_cycle(&list, owner, me);
	}
	dp_pci_list_free(&list);
	fflush(NULL);
	_exit(0);
}

static pid_t worker_start(enum method m, int index, const char *owner, long cycles)
{
	fflush(NULL);
	sh->phase[index] = PH_IDLE;
	pid_t pid = fork();
	if (pid == 0)
		worker(m, index, owner, cycles);
	if (pid < 0)
		tap(false, "fork: %s", strerror(errno));
	return pid;
}

/* Reaps one worker; a worker killed by a signal other than the test's own SIGKILL crashed. */
static void worker_status_check(pid_t pid, int status, bool killed_by_us)
{
	if (WIFSIGNALED(status) && !(killed_by_us && WTERMSIG(status) == SIGKILL)) {
		__atomic_add_fetch(&sh->errors, 1, __ATOMIC_SEQ_CST);
		note("worker %d died of signal %d (%s)", (int)pid, WTERMSIG(status),
		     strsignal(WTERMSIG(status)));
	} else if (WIFEXITED(status) && WEXITSTATUS(status) != 0) {
		__atomic_add_fetch(&sh->errors, 1, __ATOMIC_SEQ_CST);
		note("worker %d exited %d", (int)pid, WEXITSTATUS(status));
	}
}

/* Waits for the workers; past the deadline they are taken for deadlocked, reported with
 * where they sleep, and killed. Returns false then. */
static bool workers_wait(pid_t *pids, int n, double deadline)
{
	int left = 0;
	for (int i = 0; i < n; i++)
		left += pids[i] > 0;
	while (left > 0) {
		int status;
		pid_t pid = waitpid(-1, &status, WNOHANG);
		if (pid > 0) {
			for (int i = 0; i < n; i++)
				if (pids[i] == pid) {
					worker_status_check(pid, status, false);
					slots_free_of(pid);
					pids[i] = 0;
					left--;
				}
			continue;
		}
		if (pid < 0 && errno == ECHILD)
			break;
		if (now_s() > deadline) {
			for (int i = 0; i < n; i++) {
				if (pids[i] <= 0)
					continue;
				char path[64], wchan[128] = "?";
				snprintf(path, sizeof(path), "/proc/%d/wchan", (int)pids[i]);
				FILE *f = fopen(path, "r");
				if (f) {
					if (!fgets(wchan, sizeof(wchan), f))
						snprintf(wchan, sizeof(wchan), "?");
					fclose(f);
				}
				note("worker %d still running at the deadline, sleeping in %s", (int)pids[i], wchan);
				kill(pids[i], SIGKILL);
				waitpid(pids[i], NULL, 0);
				pids[i] = 0;
			}
			return false;
		}
		sleep_ms(5);
	}
	return true;
}

/* Helpers of killed workers (the gateway's write process) are orphans: as the child
 * subreaper we get them; each exits as soon as its worker's socket closes, having
 * finished the write it was doing. Our own helper (the parent writes too, in gc) never
 * exits, so the wait ends once no child has come for a while. */
static void orphans_reap(void)
{
	double quiet_until = now_s() + 0.3, give_up = now_s() + 5;
	while (now_s() < quiet_until && now_s() < give_up) {
		pid_t pid = waitpid(-1, NULL, WNOHANG);
		if (pid < 0 && errno == ECHILD)
			return;
		if (pid > 0)
			quiet_until = now_s() + 0.3;
		else
			sleep_ms(5);
	}
}

/* ---- checks of the end state ------------------------------------------------------------ */

static int db_open(sqlite3 **db)
{
	char path[PATH_MAX + 64];
	snprintf(path, sizeof(path), "%s/var/lib/devpass/devpass.db", root);
	if (sqlite3_open_v2(path, db, SQLITE_OPEN_READWRITE, NULL) != SQLITE_OK) {
		printf("# cannot open %s: %s\n", path, sqlite3_errmsg(*db));
		sqlite3_close(*db);
		*db = NULL;
		return -1;
	}
	sqlite3_busy_timeout(*db, 10000);
	return 0;
}

/* The rows of a query, one per line ("|" between columns), into out; returns the count. */
static int db_rows(sqlite3 *db, const char *sql, char *out, size_t size)
{
	sqlite3_stmt *st;
	int n = 0;
	if (out && size)
		out[0] = '\0';
	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK) {
		if (out)
			snprintf(out, size, "%s: %s", sql, sqlite3_errmsg(db));
		return -1;
	}
	while (sqlite3_step(st) == SQLITE_ROW) {
		n++;
		for (int c = 0; out && c < sqlite3_column_count(st); c++) {
			const char *v = (const char *)sqlite3_column_text(st, c);
			size_t len = strlen(out);
			if (len + 1 < size)   /* truncated when long: it is for the report */
				snprintf(out + len, size - len, "%s%s", c ? "|" : (len ? "; " : ""), v ? v : "NULL");
		}
	}
	sqlite3_finalize(st);
	return n;
}

static long db_count(sqlite3 *db, const char *table)
{
	char sql[128], out[64];
	snprintf(sql, sizeof(sql), "SELECT count(*) FROM %s", table);
	return db_rows(db, sql, out, sizeof(out)) == 1 ? atol(out) : -1;
}

static void check_db_integrity(const char *label)
{
	sqlite3 *db;
	char out[2048];
	if (db_open(&db) < 0) {
		tap(false, "%s: cannot open the state database", label);
		return;
	}
	int n = db_rows(db, "PRAGMA integrity_check", out, sizeof(out));
	bool ok = n == 1 && strcmp(out, "ok") == 0;
	int fk_rows = db_rows(db, "PRAGMA foreign_key_check", out + (ok ? 0 : strlen(out)),
	                      sizeof(out) - (ok ? 0 : strlen(out)));
	tap(ok && fk_rows == 0, "%s: database integrity_check ok, foreign_key_check clean%s%s", label,
	    ok && fk_rows == 0 ? "" : ": ", ok && fk_rows == 0 ? "" : out);
	sqlite3_close(db);
}

/* No claim, quarantine or ledger row left, every VF on the driver and override it had. */
static void check_clean(const char *label)
{
	sqlite3 *db;
	char claims[1024] = "", ledger[1024] = "";
	long nclaims = -1, nquar = -1, nledger = -1;
	if (db_open(&db) == 0) {
		nclaims = db_rows(db, "SELECT address, owner, pid FROM claims ORDER BY address", claims,
		                  sizeof(claims));
		nquar = db_count(db, "quarantine");
		nledger = db_rows(db, "SELECT address, original_driver FROM devices ORDER BY address",
		                  ledger, sizeof(ledger));
		sqlite3_close(db);
	}
	tap(nclaims == 0 && nquar == 0 && nledger == 0,
	    "%s: no claims (%ld), quarantine (%ld) or ledger rows (%ld) left%s%s%s%s", label, nclaims,
	    nquar, nledger, nclaims ? "; claims: " : "", nclaims ? claims : "",
	    nledger ? "; ledger: " : "", nledger ? ledger : "");

	int wrong = 0;
	char first[256] = "";
	for (int i = 0; i < nvf; i++) {
		char driver[64], override[64];
		fk_driver(root, vf[i], driver, sizeof(driver));
		fk_override(root, vf[i], override, sizeof(override));
		if (strcmp(driver, vf_driver[i]) == 0 && strcmp(override, vf_override[i]) == 0)
			continue;
		if (!wrong++)
			snprintf(first, sizeof(first), "%s is on '%s' (override '%s'), was on '%s' ('%s')",
			         vf[i], driver, override, vf_driver[i], vf_override[i]);
	}
	tap(wrong == 0, "%s: all %d VFs back on their original drivers and overrides%s%s", label, nvf,
	    wrong ? ": " : "", first);
}

static void check_pool_free(const char *label)
{
	struct dp_pci_list list = {0};
	struct dp_pool_members m = {0};
	size_t nfree = 0;
	int r = scan(&list);
	if (r == 0)
		r = dp_pool_members_read(&list, POOL, &m);
	for (size_t i = 0; r >= 0 && i < m.n; i++)
		nfree += m.m[i].state == DP_MEMBER_FREE;
	tap(r >= 0 && nfree == (size_t)nvf && m.n == (size_t)nvf, "%s: the pool shows %zu of %zu members free%s%s",
	    label, nfree, m.n, r < 0 ? ": " : "", r < 0 ? dp_error_message() : "");
	dp_pool_members_free(&m);
	dp_pci_list_free(&list);
}

/* ---- setup -------------------------------------------------------------------------------- */

static int setup(void)
{
	fk = fk_start(FIXTURE, root, sizeof(root));
	if (!fk) {
		tap(false, "cannot generate the fixture '%s'", FIXTURE);
		return -1;
	}
	struct dp_pci_list list = {0};
	if (scan(&list) < 0) {
		tap(false, "scan: %s", dp_error_message());
		return -1;
	}
	for (size_t i = 0; i < list.n && nvf < MAX_VFS; i++) {
		const struct dp_pci_device *d = &list.dev[i];
		if (d->vendor != 0x15b3 || d->device != 0x101e)
			continue;
		snprintf(vf[nvf], sizeof(vf[nvf]), "%s", d->address);
		fk_driver(root, d->address, vf_driver[nvf], sizeof(vf_driver[nvf]));
		fk_override(root, d->address, vf_override[nvf], sizeof(vf_override[nvf]));
		nvf++;
	}
	int r = dp_pool_create(POOL, DP_POOL_SRIOV_VF, "claimstress", DP_RELEASE_RESTORE);
	if (r >= 0)
		r = dp_pool_rule_add(POOL, RULE, &list);
	dp_pci_list_free(&list);
	if (r < 0) {
		tap(false, "pool setup: %s", dp_error_message());
		return -1;
	}
	if (r != MAX_VFS || nvf != MAX_VFS) {
		tap(false, "pool setup: the rule matches %d devices, the fixture has %d VFs; %d expected",
		    r, nvf, MAX_VFS);
		return -1;
	}
	return 0;
}

/* ---- the modes ------------------------------------------------------------------------------ */

struct run_result {
	double seconds;
	long claims, cycles, doubles, errors, unbound;
	double claim_ms, release_ms;   /* mean time of one call */
	bool finished;
};

/* nprocs workers share cycles; returns when all are done. */
static struct run_result run(enum method m, int nprocs, long cycles_each, const char *prefix)
{
	pid_t pids[MAX_PROCS];
	counters_reset();
	double t0 = now_s();
	for (int i = 0; i < nprocs; i++) {
		char owner[32];
		snprintf(owner, sizeof(owner), "%s%d", prefix, i);
		pids[i] = worker_start(m, i, owner, cycles_each);
	}
	struct run_result res = {.finished = workers_wait(pids, nprocs, t0 + RUN_DEADLINE_S)};
	res.seconds = now_s() - t0;
	res.claims = sh->claims;
	res.cycles = sh->releases;
	res.doubles = sh->doubles;
	res.errors = sh->errors;
	res.unbound = sh->unbound;
	res.claim_ms = res.claims ? sh->claim_us / 1e3 / res.claims : 0;
	res.release_ms = res.cycles ? sh->release_us / 1e3 / res.cycles : 0;
	return res;
}

static void report_run(const char *label, int nprocs, long cycles_each, const struct run_result *res)
{
	tap(res->finished, "%s: %d procs x %ld cycles finished%s", label, nprocs, cycles_each,
	    res->finished ? "" : " (DEADLOCK? see below)");
	tap(res->doubles == 0, "%s: %d procs x %ld cycles, %ld double allocations", label, nprocs,
	    cycles_each, res->doubles);
	tap(res->unbound == 0, "%s: every claimed function was on vfio-pci (%ld claims, %ld not)", label,
	    res->claims, res->unbound);
	tap(res->errors == 0 && res->claims == nprocs * cycles_each,
	    "%s: %ld of %ld claims and %ld releases succeeded, %ld errors", label, res->claims,
	    nprocs * cycles_each, res->cycles, res->errors);
	notes_print();
}

static void mode_procs(int nprocs, long cycles)
{
	char label[64];
	snprintf(label, sizeof(label), "procs");
	struct run_result res = run(DEVPASS, nprocs, cycles, "w");
	report_run(label, nprocs, cycles, &res);
	check_db_integrity(label);
	check_clean(label);
	check_pool_free(label);
	printf("# stress figures: %ld claims in %.2f s by %d processes: %.0f claims/s, %.0f cycles/s "
	       "(claim + verify + release); a claim takes %.2f ms, a release %.2f ms; %d resets, "
	       "%ld CPUs\n", res.claims, res.seconds, nprocs, res.claims / res.seconds,
	       res.cycles / res.seconds, res.claim_ms, res.release_ms, fk->resets,
	       sysconf(_SC_NPROCESSORS_ONLN));
}

static long stale_claims(void)
{
	sqlite3 *db;
	if (db_open(&db) < 0)
		return -1;
	long n = db_count(db, "claims");
	sqlite3_close(db);
	return n;
}

/* Claims every VF at once (pid 0: until released), checks they are on vfio-pci, and
 * gives them back. Returns how many were taken over from dead processes. */
static long claim_everything(const char *label)
{
	struct dp_claim_request req = {
		.pool = POOL, .owner = "everything", .count = (unsigned)nvf, .numa = DP_NO_NUMA,
		.pid = 0, .timeout_ms = WRITE_TIMEOUT_MS,
	};
	struct dp_claim_list all = {0}, rel = {0};
	struct dp_pci_list list = {0};
	int r = scan(&list);
	if (r == 0)
		r = dp_pool_claim(&list, &req, &all);
	int on_vfio = 0;
	long took_over = 0;
	for (size_t i = 0; r >= 0 && i < all.n; i++) {
		took_over += all.c[i].took_over;
		for (size_t f = 0; f < all.c[i].functions.n; f++) {
			char driver[64];
			fk_driver(root, all.c[i].functions.v[f], driver, sizeof(driver));
			on_vfio += strcmp(driver, "vfio-pci") == 0;
		}
	}
	tap(r >= 0 && all.n == (size_t)nvf && on_vfio == nvf, "%s: one claim of all %d VFs: %zu claimed "
	    "(%ld taken over), %d on vfio-pci%s%s", label, nvf, all.n, took_over, on_vfio,
	    r < 0 ? ": " : "", r < 0 ? dp_error_message() : "");
	dp_pci_list_free(&list);
	r = scan(&list);
	if (r == 0)
		r = dp_pool_release(&list, "everything", NULL, 0, WRITE_TIMEOUT_MS, &rel);
	tap(r >= 0 && rel.n == all.n, "%s: releasing them returned %zu of %zu%s%s", label, rel.n, all.n,
	    r < 0 ? ": " : "", r < 0 ? dp_error_message() : "");
	dp_claim_list_free(&all);
	dp_claim_list_free(&rel);
	dp_pci_list_free(&list);
	return took_over;
}

/* nprocs workers cycle while `kills` of them, picked at random, are SIGKILLed over about
 * spread_ms and replaced (each replacement under a new owner name, so that its releases
 * leave the dead one's claims alone); then the survivors are stopped. Returns the claims
 * the dead left behind (rows in the claims table). */
static long kill_round(const char *label, int nprocs, int kills, long spread_ms)
{
	pid_t pids[MAX_PROCS];
	int gen[MAX_PROCS] = {0}, where[PH_COUNT] = {0};
	char owner[48];
	static int round;
	round++;
	counters_reset();
	for (int i = 0; i < nprocs; i++) {
		snprintf(owner, sizeof(owner), "r%d.k%d.%d", round, i, gen[i]);
		pids[i] = worker_start(DEVPASS, i, owner, -1);
	}
	sleep_ms(100);   /* let every worker get going */
	double t0 = now_s();
	for (int k = 0; k < kills; k++) {
		sleep_ms(rand() % (2 * spread_ms / kills + 1));
		int i = rand() % nprocs, status;
		kill(pids[i], SIGKILL);
		waitpid(pids[i], &status, 0);
		where[__atomic_load_n(&sh->phase[i], __ATOMIC_SEQ_CST)]++;
		worker_status_check(pids[i], status, true);
		slots_free_of(pids[i]);
		snprintf(owner, sizeof(owner), "r%d.k%d.%d", round, i, ++gen[i]);
		pids[i] = worker_start(DEVPASS, i, owner, -1);
	}
	double killing = now_s() - t0;
	sh->stop = 1;
	bool finished = workers_wait(pids, nprocs, now_s() + 60);
	orphans_reap();
	tap(finished, "%s: %d SIGKILLs over %.1f s among %d workers (%d %s, %d %s, %d %s, %d %s); the "
	    "live ones finished", label, kills, killing, nprocs, where[PH_CLAIMING],
	    phase_names[PH_CLAIMING], where[PH_HOLDING], phase_names[PH_HOLDING],
	    where[PH_RELEASING], phase_names[PH_RELEASING], where[PH_IDLE], phase_names[PH_IDLE]);
	tap(sh->doubles == 0, "%s: %ld claims (%ld members taken over), %ld double allocations", label,
	    sh->claims, sh->takeovers, sh->doubles);
	/* the dead worker's last write lands under its lock (lent to its write helper), before
	 * anyone else looks at the device: a live worker's claim has no reason to fail */
	tap(sh->errors == 0, "%s: %ld claim/release errors among live workers", label, sh->errors);
	notes_print();
	check_db_integrity(label);
	return stale_claims();
}

/* A process that runs `pool gc` over and over, as a timer would on a busy host. */
static pid_t gc_loop_start(long every_ms)
{
	fflush(NULL);
	pid_t pid = fork();
	if (pid != 0)
		return pid;
	struct dp_pci_list list = {0};
	if (scan(&list) < 0)
		_exit(1);
	while (!__atomic_load_n(&sh->stop, __ATOMIC_SEQ_CST)) {
		struct dp_claim_list gone = {0};
		int gr = dp_pool_gc(&list, WRITE_TIMEOUT_MS, &gone);
		for (size_t g = 0; g < gone.n; g++)
			fk_trace("gc released %s of %s (pid %d)", gone.c[g].address, gone.c[g].owner, gone.c[g].pid);
		for (size_t w = 0; w < gone.warnings.n; w++)
			fk_trace("gc warning: %s", gone.warnings.v[w]);
		if (gr < 0)
			fk_trace("gc failed: %s", dp_error_message());
		if (gr < 0) {
			__atomic_add_fetch(&sh->errors, 1, __ATOMIC_SEQ_CST);
			note("gc failed: %s", dp_error_message());
		}
		__atomic_add_fetch(&sh->gc_runs, 1, __ATOMIC_SEQ_CST);
		__atomic_add_fetch(&sh->gc_released, (long)gone.n, __ATOMIC_SEQ_CST);
		dp_claim_list_free(&gone);
		sleep_ms(every_ms);
	}
	_exit(0);
}

/* The pool is kept full (each worker claims its share of it and holds it a while), so a
 * dead worker's devices are taken over by the next claim at once, while `pool gc` runs
 * all along: the live owner of a device must keep it on vfio-pci whatever gc does. */
static void gc_race_round(int nprocs, int kills, long spread_ms, long gc_every_ms)
{
	const char *label = "gc race";
	pid_t pids[MAX_PROCS];
	int gen[MAX_PROCS] = {0};
	char owner[48];
	claim_count = (unsigned)(nvf / nprocs);
	hold_ms = 20;
	counters_reset();
	for (int i = 0; i < nprocs; i++) {
		snprintf(owner, sizeof(owner), "g.k%d.%d", i, gen[i]);
		pids[i] = worker_start(DEVPASS, i, owner, -1);
	}
	pid_t gc = gc_every_ms > 0 ? gc_loop_start(gc_every_ms) : 0;
	sleep_ms(100);
	double t0 = now_s();
	for (int k = 0; k < kills; k++) {
		sleep_ms(rand() % (2 * spread_ms / kills + 1));
		int i = rand() % nprocs, status;
		kill(pids[i], SIGKILL);
		fk_trace("KILLED %d (%s)", (int)pids[i], phase_names[__atomic_load_n(&sh->phase[i], __ATOMIC_SEQ_CST)]);
		waitpid(pids[i], &status, 0);
		worker_status_check(pids[i], status, true);
		slots_free_of(pids[i]);
		snprintf(owner, sizeof(owner), "g.k%d.%d", i, ++gen[i]);
		pids[i] = worker_start(DEVPASS, i, owner, -1);
	}
	double killing = now_s() - t0;
	sh->stop = 1;
	pid_t all[MAX_PROCS + 1];
	memcpy(all, pids, sizeof(pids[0]) * nprocs);
	all[nprocs] = gc;
	bool finished = workers_wait(all, gc ? nprocs + 1 : nprocs, now_s() + 60);
	orphans_reap();
	claim_count = 1;
	hold_ms = 0;
	tap(finished, "%s: %d workers claiming %d VFs each, %d SIGKILLs over %.1f s, gc run %ld times "
	    "meanwhile (released %ld); all finished", label, nprocs, nvf / nprocs, kills, killing,
	    sh->gc_runs, sh->gc_released);
	tap(sh->doubles == 0, "%s: %ld claims (%ld members taken over from dead workers), %ld double "
	    "allocations", label, sh->claims, sh->takeovers, sh->doubles);
	tap(sh->lost == 0 && sh->unbound == 0, "%s: claimed functions not on vfio-pci right after the "
	    "claim: %ld; moved off it while their live owner held them: %ld", label, sh->unbound,
	    sh->lost);
	printf("# %s: %ld claim/release/gc errors\n", label, sh->errors);
	notes_print();
	check_db_integrity(label);
	struct dp_pci_list list = {0};
	struct dp_claim_list gone = {0};
	int r = scan(&list);
	if (r == 0)
		r = dp_pool_gc(&list, WRITE_TIMEOUT_MS, &gone);
	tap(r >= 0, "%s: a last gc released %zu claims%s%s", label, gone.n, r < 0 ? ": " : "",
	    r < 0 ? dp_error_message() : "");
	dp_claim_list_free(&gone);
	dp_pci_list_free(&list);
	check_clean("gc race, end");
}

static void mode_kill(int nprocs, int kills, long spread_ms, unsigned seed)
{
	srand(seed);
	/* the gateway's write helpers of killed workers come to us, to be reaped */
	prctl(PR_SET_CHILD_SUBREAPER, 1);

	/* 1: pool gc releases whatever the dead held */
	long stale = kill_round("kill", nprocs, kills, spread_ms);
	struct dp_pci_list list = {0};
	struct dp_claim_list gone = {0};
	int r = scan(&list);
	if (r == 0)
		r = dp_pool_gc(&list, WRITE_TIMEOUT_MS, &gone);
	size_t functions = 0;
	for (size_t i = 0; i < gone.n; i++)
		functions += gone.c[i].functions.n;
	tap(r >= 0 && (long)functions == stale && stale > 0, "kill: pool gc released %zu claims (%zu "
	    "functions) of the %ld claimed functions the dead workers left%s%s", gone.n, functions,
	    stale, r < 0 ? ": " : "", r < 0 ? dp_error_message() : "");
	for (size_t i = 0; i < gone.warnings.n; i++)
		printf("#   gc: %s\n", gone.warnings.v[i]);
	dp_claim_list_free(&gone);
	dp_pci_list_free(&list);
	check_db_integrity("kill, after gc");
	check_clean("kill, after gc");
	check_pool_free("kill, after gc");
	claim_everything("kill, after gc");
	check_clean("kill, after gc, claimed and released");

	/* 2: no gc; the next claim takes over what the dead held */
	stale = kill_round("takeover", nprocs, kills / 2 ? kills / 2 : 1, spread_ms / 2);
	long took = claim_everything("takeover");
	tap(took == stale && stale > 0, "takeover: the claim of everything took over all %ld members "
	    "the dead workers held (%ld)", stale, took);
	check_db_integrity("takeover, end");
	check_clean("takeover, end");

	/* 3: gc all along, while the dead's devices are taken over */
	gc_race_round(nprocs, kills / 2 ? kills / 2 : 1, spread_ms / 2, 10);
}

static void mode_bench(long total)
{
	static const int procs[] = {1, 8};
	struct run_result res[2][2];
	if (baseline_setup() < 0)
		tap(false, "cannot create %s/run/qemu-server: %s", root, strerror(errno));
	const char *names[2] = {"devpass (SQLite claims)",
	                        "Proxmox-style reservation file (re-implemented)"};
	for (int m = 0; m < 2; m++)
		for (int p = 0; p < 2; p++) {
			long each = total / procs[p];
			char label[64];
			snprintf(label, sizeof(label), "bench %s %d", m == DEVPASS ? "devpass" : "baseline",
			         procs[p]);
			res[m][p] = run((enum method)m, procs[p], each, m == DEVPASS ? "b" : "p");
			report_run(label, procs[p], each, &res[m][p]);
			check_clean(label);
		}
	printf("# claim cycles (claim + bind to vfio-pci + verify + reset + restore + release) "
	       "against the fake kernel, %ld cycles per setting, %ld CPUs\n", total,
	       sysconf(_SC_NPROCESSORS_ONLN));
	for (int m = 0; m < 2; m++)
		for (int p = 0; p < 2; p++)
			printf("bench: %-48s %d proc%s %6ld claims in %6.2f s = %6.0f claims/s  "
			       "(claim %5.2f ms, release %5.2f ms)\n", names[m], procs[p],
			       procs[p] > 1 ? "s" : " ", res[m][p].claims, res[m][p].seconds,
			       res[m][p].claims / res[m][p].seconds, res[m][p].claim_ms,
			       res[m][p].release_ms);
	for (int p = 0; p < 2; p++) {
		double d = res[DEVPASS][p].claims / res[DEVPASS][p].seconds;
		double b = res[BASELINE][p].claims / res[BASELINE][p].seconds;
		printf("bench: ratio devpass / reservation file at %d proc%s: %.2fx  (>1: devpass faster)\n",
		       procs[p], procs[p] > 1 ? "s" : "", d / b);
	}
	double d8 = res[DEVPASS][1].claims / res[DEVPASS][1].seconds;
	printf("bench: target >= 1000 claims/s at 8 processes: %s (%.0f)\n", d8 >= 1000 ? "met" : "NOT met", d8);
}

static void usage(int code)
{
	fprintf(code ? stderr : stdout,
	        "usage: claimstress [--procs N] [--cycles N]\n"
	        "       claimstress --kill [--procs N] [--kills N] [--kill-ms MS] [--seed N]\n"
	        "       claimstress --gc-race [--procs N] [--kills N] [--kill-ms MS] [--gc-ms MS] [--seed N]\n"
	        "       claimstress --bench [--bench-cycles N]\n"
	        "common: --rescan (scan the devices every cycle), --keep (keep the fixture)\n");
	exit(code);
}

int main(int argc, char **argv)
{
	enum { PROCS, KILL, GC_RACE, BENCH } mode = PROCS;
	long gc_ms = 10;
	int nprocs = 8, kills = 20;
	long cycles = 1000, bench_cycles = 2000, kill_ms = 3000;
	unsigned seed = (unsigned)time(NULL) ^ (unsigned)getpid();
	bool keep = false;
	static const struct option opts[] = {
		{"procs", required_argument, NULL, 'p'}, {"cycles", required_argument, NULL, 'c'},
		{"kill", no_argument, NULL, 'k'}, {"kills", required_argument, NULL, 'K'},
		{"gc-race", no_argument, NULL, 'g'}, {"gc-ms", required_argument, NULL, 'G'},
		{"kill-ms", required_argument, NULL, 'M'}, {"seed", required_argument, NULL, 's'},
		{"bench", no_argument, NULL, 'b'}, {"bench-cycles", required_argument, NULL, 'B'},
		{"rescan", no_argument, NULL, 'r'}, {"keep", no_argument, NULL, 'e'},
		{"help", no_argument, NULL, 'h'}, {0},
	};
	int o;
	while ((o = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (o) {
		case 'p': nprocs = atoi(optarg); break;
		case 'c': cycles = atol(optarg); break;
		case 'k': mode = KILL; break;
		case 'K': kills = atoi(optarg); break;
		case 'g': mode = GC_RACE; break;
		case 'G': gc_ms = atol(optarg); break;
		case 'M': kill_ms = atol(optarg); break;
		case 's': seed = (unsigned)strtoul(optarg, NULL, 0); break;
		case 'b': mode = BENCH; break;
		case 'B': bench_cycles = atol(optarg); break;
		case 'r': rescan_each_cycle = true; break;
		case 'e': keep = true; break;
		case 'h': usage(0); break;
		default: usage(2);
		}
	}
	if (optind < argc || nprocs < 1 || nprocs > MAX_PROCS || cycles < 1 || kills < 1 || gc_ms < 0 ||
	    kill_ms < 1 || bench_cycles < 8)
		usage(2);
	setvbuf(stdout, NULL, _IOLBF, 0);
	sh = mmap(NULL, sizeof(*sh), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (sh == MAP_FAILED)
		return 1;
	counters_reset();
	if (setup() < 0) {
		notes_print();
		return 1;
	}
	printf("# fixture %s: %d VFs in pool '%s' (rule %s)%s\n", root, nvf, POOL, RULE,
	       rescan_each_cycle ? ", devices scanned every cycle" : "");
	if (mode == PROCS)
		mode_procs(nprocs, cycles);
	else if (mode == KILL) {
		printf("# kill: seed %u\n", seed);
		mode_kill(nprocs, kills, kill_ms, seed);
	} else if (mode == GC_RACE) {
		printf("# gc race: seed %u\n", seed);
		srand(seed);
		prctl(PR_SET_CHILD_SUBREAPER, 1);
		gc_race_round(nprocs, kills, kill_ms, gc_ms);
	} else
		mode_bench(bench_cycles);
	if (keep)
		printf("# fixture kept: %s\n", root);
	else
		fk_stop(root);
	return failures ? 1 : 0;
}
