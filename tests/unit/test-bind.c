/* The binding engine against the fake kernel: whole groups, idempotence, dry runs,
 * refusals, and a fault at every step that must leave every device where it started. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include "devpass.h"
#include "fakekernel.h"
#include "fs/sysroot.h"

#define GPU "0000:01:00.0"
#define AUDIO "0000:01:00.1"
#define NVME "0000:02:00.0"
#define VF_ON_VFIO "0000:04:00.3"
#define VF1 "0000:04:00.2"
#define VF2 "0000:04:00.4"

static char root[PATH_MAX];
static struct fk_state *fk;

static int setup(void **state)
{
	fk = fk_start("standard", root, sizeof(root));
	return fk ? 0 : -1;
}

static int teardown(void **state)
{
	fk_stop(root);
	return 0;
}

static char *drv(const char *address)
{
	static char buf[4][64];
	static int i;
	char *b = buf[i++ % 4];
	fk_driver(root, address, b, 64);
	return b;
}

static char *ovr(const char *address)
{
	static char buf[4][64];
	static int i;
	char *b = buf[i++ % 4];
	fk_override(root, address, b, 64);
	return b;
}

/* scan, plan and apply, as the CLI does */
static int run(enum dp_bind_kind kind, const char *a1, const char *a2, struct dp_bind_options *o,
               struct dp_bind_plan *plan_out)
{
	struct dp_pci_list list = {0};
	struct dp_bind_plan plan;
	char *addrs[2] = {(char *)a1, (char *)a2};
	assert_int_equal(dp_pci_scan(&list), 0);
	dp_critical_mark(&list);
	int r = dp_bind_plan_make(kind, &list, addrs, a1 ? (a2 ? 2 : 1) : 0, !a1, o, &plan);
	if (r == 0)
		r = dp_bind_plan_apply(&plan, &list, o);
	if (plan_out)
		*plan_out = plan;
	else
		dp_bind_plan_free(&plan);
	dp_pci_list_free(&list);
	return r;
}

static struct dp_bind_options opts(void)
{
	struct dp_bind_options o = {.timeout_ms = 500};
	return o;
}

static void assert_gpu_at_start(void)
{
	assert_string_equal(drv(GPU), "nvidia");
	assert_string_equal(drv(AUDIO), "snd_hda_intel");
	assert_string_equal(ovr(GPU), "");
	assert_string_equal(ovr(AUDIO), "");
	assert_false(fk_vfio_node_exists(root, 1));
}

static void binds_the_whole_group_and_restores_it(void **state)
{
	struct dp_bind_options o = opts();
	assert_gpu_at_start();
	assert_int_equal(run(DP_BIND, GPU, NULL, &o, NULL), 0);
	assert_string_equal(drv(GPU), "vfio-pci");
	assert_string_equal(drv(AUDIO), "vfio-pci");
	assert_string_equal(drv("0000:00:01.0"), "pcieport");   /* the bridge stays */
	assert_true(fk_vfio_node_exists(root, 1));
	/* list and show say what each function had before */
	struct dp_pci_list list = {0};
	assert_int_equal(dp_pci_scan(&list), 0);
	char (*was)[64] = calloc(list.n, sizeof(*was));
	dp_ledger_original_drivers(&list, was);
	assert_string_equal(was[dp_pci_list_find(&list, GPU) - list.dev], "nvidia");
	assert_string_equal(was[dp_pci_list_find(&list, AUDIO) - list.dev], "snd_hda_intel");
	assert_string_equal(was[dp_pci_list_find(&list, NVME) - list.dev], "");
	free(was);
	dp_pci_list_free(&list);
	/* one function names the group: restore brings back all bind moved */
	assert_int_equal(run(DP_RESTORE, AUDIO, NULL, &o, NULL), 0);
	assert_gpu_at_start();
}

static void binding_again_writes_nothing(void **state)
{
	struct dp_bind_options o = opts();
	assert_int_equal(run(DP_BIND, GPU, NULL, &o, NULL), 0);
	int before = fk->writes;
	struct dp_bind_plan plan;
	assert_int_equal(run(DP_BIND, AUDIO, NULL, &o, &plan), 0);
	assert_int_equal(fk->writes, before);
	for (size_t i = 0; i < plan.n; i++)
		assert_int_equal(plan.steps[i].action, DP_STEP_SKIP);
	dp_bind_plan_free(&plan);
	assert_int_equal(run(DP_RESTORE, NULL, NULL, &o, NULL), 0);   /* --all */
	assert_gpu_at_start();
}

static void dry_run_writes_nothing(void **state)
{
	struct dp_bind_options o = opts();
	o.dry_run = true;
	struct dp_bind_plan plan;
	assert_int_equal(run(DP_BIND, AUDIO, NULL, &o, &plan), 0);
	assert_int_equal(fk->writes, 0);
	assert_int_equal(plan.n, 2);
	assert_int_equal(plan.steps[0].result, DP_STEP_PLANNED);
	dp_bind_plan_free(&plan);
	assert_gpu_at_start();
}

static void refuses_host_critical_unless_forced(void **state)
{
	struct dp_bind_options o = opts();
	assert_int_equal(run(DP_BIND, NVME, NULL, &o, NULL), -EPERM);
	assert_non_null(strstr(dp_error_message(), "mounted at /"));
	assert_non_null(strstr(dp_error_message(), NVME));
	/* the message is the library's; the override is a remedy the front end names */
	assert_null(strstr(dp_error_message(), "--force"));
	const char *subject;
	assert_int_equal(dp_error_remedy(&subject), DP_REMEDY_FORCE);
	assert_string_equal(subject, NVME);
	assert_int_equal(fk->writes, 0);
	assert_string_equal(drv(NVME), "nvme");
	o.force = true;
	struct dp_bind_plan plan;
	assert_int_equal(run(DP_BIND, NVME, NULL, &o, &plan), 0);
	assert_int_equal(plan.warnings.n, 1);
	dp_bind_plan_free(&plan);
	assert_string_equal(drv(NVME), "vfio-pci");
	assert_int_equal(run(DP_RESTORE, NVME, NULL, &o, NULL), 0);
	assert_string_equal(drv(NVME), "nvme");
}

static void other_driver_moves_only_the_named_function(void **state)
{
	struct dp_bind_options o = opts();
	o.driver = "vfio-pci";
	assert_int_equal(run(DP_BIND, GPU, NULL, &o, NULL), 0);
	o.driver = "snd_hda_intel";
	assert_int_equal(run(DP_BIND, AUDIO, NULL, &o, NULL), 0);
	assert_string_equal(drv(AUDIO), "snd_hda_intel");
	assert_string_equal(drv(GPU), "vfio-pci");
	/* restore knows the first originals, not the intermediate state */
	assert_int_equal(run(DP_RESTORE, NULL, NULL, &o, NULL), 0);
	assert_gpu_at_start();
}

static void unbind_leaves_no_driver(void **state)
{
	struct dp_bind_options o = opts();
	assert_int_equal(run(DP_UNBIND, VF1, NULL, &o, NULL), 0);
	assert_string_equal(drv(VF1), "");
	assert_string_equal(ovr(VF1), "none");
	assert_int_equal(run(DP_RESTORE, VF1, NULL, &o, NULL), 0);
	assert_string_equal(drv(VF1), "mlx5_core");
	assert_string_equal(ovr(VF1), "");
}

static void unknown_and_bad_devices(void **state)
{
	struct dp_bind_options o = opts();
	assert_int_equal(run(DP_BIND, "0000:7f:00.0", NULL, &o, NULL), -ENODEV);
	assert_non_null(strstr(dp_error_message(), "0000:7f:00.0"));
	assert_int_equal(run(DP_BIND, "0000:00:1f.4", NULL, &o, NULL), -ENODEV);   /* no group */
	assert_non_null(strstr(dp_error_message(), "no IOMMU group"));
	o.driver = "../../etc";
	assert_int_equal(run(DP_BIND, GPU, NULL, &o, NULL), -EINVAL);
	assert_int_equal(fk->writes, 0);
}

/* restoring a function a process still holds through /dev/vfio/N is refused */
static void refuses_a_device_in_use(void **state)
{
	char dir[PATH_MAX * 2], link[PATH_MAX * 3];
	snprintf(dir, sizeof(dir), "%s/proc/4242/fd", root);
	assert_int_equal(system((snprintf(link, sizeof(link), "mkdir -p '%s'", dir), link)), 0);
	snprintf(link, sizeof(link), "%s/7", dir);
	/* a VM started in a chroot: its /dev/vfio is seen under the chroot's path */
	assert_int_equal(symlink("/srv/vmroot/dev/vfio/14", link), 0);
	snprintf(link, sizeof(link), "%s/proc/4242/comm", root);
	FILE *f = fopen(link, "w");
	fputs("qemu-system-x86\n", f);
	fclose(f);
	struct dp_bind_options o = opts();
	assert_int_equal(run(DP_UNBIND, VF_ON_VFIO, NULL, &o, NULL), -EBUSY);
	assert_non_null(strstr(dp_error_message(), "pid 4242 (qemu-system-x86) holds /srv/vmroot/dev/vfio/14"));
	assert_string_equal(drv(VF_ON_VFIO), "vfio-pci");
}

/* devpass died after moving the functions back but before dropping their records: the
 * next restore finds them as recorded and drops the records */
static void restore_forgets_what_is_already_back(void **state)
{
	struct dp_bind_options o = opts();
	assert_int_equal(run(DP_BIND, GPU, NULL, &o, NULL), 0);
	const char *fn[2][2] = {{GPU, "nvidia"}, {AUDIO, "snd_hda_intel"}};
	for (int i = 0; i < 2; i++) {   /* back by hand, as the crashed restore had done */
		char path[128];
		snprintf(path, sizeof(path), "sys/bus/pci/devices/%s/driver_override", fn[i][0]);
		assert_int_equal(dp_fs_write(path, "\n", 0), 0);
		assert_int_equal(dp_fs_write("sys/bus/pci/drivers/vfio-pci/unbind", fn[i][0], 0), 0);
		assert_int_equal(dp_fs_write("sys/bus/pci/drivers_probe", fn[i][0], 0), 0);
	}
	assert_gpu_at_start();
	struct dp_bind_plan plan;
	assert_int_equal(run(DP_RESTORE, NULL, NULL, &o, &plan), 0);
	assert_int_equal(plan.n, 2);
	assert_int_equal(plan.steps[0].action, DP_STEP_SKIP);
	dp_bind_plan_free(&plan);
	assert_int_equal(run(DP_RESTORE, NULL, NULL, &o, &plan), 0);
	assert_int_equal(plan.n, 0);   /* the records are gone */
	dp_bind_plan_free(&plan);
}

/* a recorded VF destroyed since must not block restoring the others */
static void restore_all_skips_vanished_devices(void **state)
{
	struct dp_bind_options o = opts();
	assert_int_equal(run(DP_BIND, VF1, NULL, &o, NULL), 0);
	assert_int_equal(run(DP_BIND, GPU, NULL, &o, NULL), 0);
	char link[PATH_MAX * 2];
	snprintf(link, sizeof(link), "%s/sys/bus/pci/devices/%s", root, VF1);
	assert_int_equal(unlink(link), 0);   /* sriov_numvfs lowered: the VF is gone */
	struct dp_bind_plan plan;
	assert_int_equal(run(DP_RESTORE, NULL, NULL, &o, &plan), 0);
	assert_int_equal(plan.warnings.n, 1);
	assert_non_null(strstr(plan.warnings.v[0], VF1));
	dp_bind_plan_free(&plan);
	assert_gpu_at_start();
}

/* ---- faults: every step of every device, and the state afterwards ------------------ */

struct fault_case {
	enum fk_fault fault;
	int at;
	const char *cause;
};

static void faults_leave_everything_as_it_was(void **state)
{
	static const struct fault_case cases[] = {
		/* binding a function writes: driver_override, unbind, drivers_probe; the group
		 * has two functions, so each step fails once on the first and once on the second */
		{FK_OVERRIDE_FAILS, 1, "driver_override"}, {FK_OVERRIDE_FAILS, 2, "driver_override"},
		{FK_UNBIND_FAILS, 1, "cannot unbind"}, {FK_UNBIND_FAILS, 2, "cannot unbind"},
		{FK_PROBE_WRONG, 1, "not bound to vfio-pci"}, {FK_PROBE_WRONG, 2, "not bound to vfio-pci"},
		{FK_PROBE_NOTHING, 1, "not bound to any driver"}, {FK_PROBE_NOTHING, 2, "not bound to any driver"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct dp_bind_options o = opts();
		fk->fault = cases[i].fault;
		fk->fault_at = cases[i].at;
		fk->seen = 0;
		int r = run(DP_BIND, GPU, NULL, &o, NULL);
		fk->fault = FK_NONE;
		if (r == 0 || !strstr(dp_error_message(), cases[i].cause))
			fail_msg("case %zu: r=%d msg=%s", i, r, dp_error_message());
		assert_non_null(strstr(dp_error_message(), "put back"));
		assert_gpu_at_start();
		/* nothing left in the ledger: a later restore has nothing to do */
		struct dp_bind_plan plan;
		assert_int_equal(run(DP_RESTORE, NULL, NULL, &o, &plan), 0);
		assert_int_equal(plan.n, 0);
		dp_bind_plan_free(&plan);
	}
}

/* an unbind that hangs leaves that function alone (the kernel holds its lock), puts the
 * others back, and keeps the record that restore needs once the holder lets go */
/* A rollback that fails is not reported as done: every function is read back, and the
 * message names the one not as it was (the GPU, left on vfio-pci), not the audio
 * function whose own put-back write failed although it never moved. */
static void failed_rollback_names_what_is_not_back(void **state)
{
	struct dp_bind_options o = opts();
	struct dp_bind_plan plan;
	fk->fault = FK_OVERRIDE_FAILS_FROM;   /* the audio's override write and all after it */
	fk->fault_at = 2;
	fk->seen = 0;
	int r = run(DP_BIND, GPU, NULL, &o, &plan);
	fk->fault = FK_NONE;
	assert_int_not_equal(r, 0);
	const char *msg = dp_error_message();
	if (strstr(msg, "every device touched was put back") || !strstr(msg, "putting the devices back failed") ||
	    !strstr(msg, GPU " is on vfio-pci (was nvidia)") || strstr(msg, AUDIO " is"))
		fail_msg("message: %s", msg);
	assert_string_equal(drv(GPU), "vfio-pci");
	assert_string_equal(drv(AUDIO), "snd_hda_intel");
	assert_string_equal(dp_step_result_name(plan.steps[0].result), "done");
	assert_string_equal(dp_step_result_name(plan.steps[1].result), "failed");
	dp_bind_plan_free(&plan);
	/* the record stays: restore brings the GPU back */
	assert_int_equal(run(DP_RESTORE, GPU, NULL, &o, NULL), 0);
	assert_gpu_at_start();
}

/* A plain tree (no fake kernel) has no kernel behind sys: writes are refused before
 * anything changes. */
static void no_kernel_refuses_before_any_change(void **state)
{
	struct dp_bind_options o = opts();
	struct dp_bind_plan plan;
	dp_fs_set_write_hook(NULL, NULL);
	int r = run(DP_BIND, GPU, NULL, &o, &plan);
	assert_int_equal(r, -ENXIO);
	assert_non_null(strstr(dp_error_message(), "is not a sysfs (no kernel behind it)"));
	assert_string_equal(dp_step_result_name(plan.steps[0].result), "refused");
	dp_bind_plan_free(&plan);
	char path[PATH_MAX + 32];
	snprintf(path, sizeof(path), "%s/var/lib/devpass", root);
	assert_int_not_equal(access(path, F_OK), 0);
	snprintf(path, sizeof(path), "%s/run/devpass", root);
	assert_int_not_equal(access(path, F_OK), 0);
	assert_gpu_at_start();
}

static void hung_unbind_is_left_for_restore(void **state)
{
	for (int at = 1; at <= 2; at++) {
		struct dp_bind_options o = opts();
		fk->fault = FK_UNBIND_HANGS;
		fk->fault_at = at;
		fk->seen = 0;
		assert_int_equal(run(DP_BIND, GPU, NULL, &o, NULL), -EIO);
		fk->fault = FK_NONE;
		assert_non_null(strstr(dp_error_message(), "did not finish"));
		assert_non_null(strstr(dp_error_message(), "left as it is"));
		const char *stuck = at == 1 ? GPU : AUDIO, *other = at == 1 ? AUDIO : GPU;
		assert_non_null(strstr(dp_error_message(), stuck));
		const char *subject;
		assert_int_equal(dp_error_remedy(&subject), DP_REMEDY_RESTORE);
		assert_string_equal(subject, stuck);
		assert_string_equal(ovr(other), "");
		assert_string_equal(ovr(stuck), "vfio-pci");
		assert_int_equal(run(DP_RESTORE, NULL, NULL, &o, NULL), 0);
		assert_gpu_at_start();
	}
}

/* devpass dies between the two functions of a group: restore puts both back */
static void crash_then_restore(void **state)
{
	struct dp_bind_options o = opts();
	fk->fault = FK_CRASH;
	fk->fault_at = 2;   /* the override of the second function: the first is done */
	fk->seen = 0;
	pid_t pid = fork();
	if (pid == 0) {
		fk->crash_pid = getpid();
		_exit(run(DP_BIND, GPU, NULL, &o, NULL) == 0 ? 0 : 1);
	}
	int status;
	waitpid(pid, &status, 0);
	fk->fault = FK_NONE;
	assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
	assert_string_equal(drv(GPU), "vfio-pci");          /* half done */
	assert_int_equal(run(DP_RESTORE, NULL, NULL, &o, NULL), 0);
	assert_gpu_at_start();
}

/* two processes bind the same group at once: the lock makes one wait, the other skips */
static void concurrent_binds_agree(void **state)
{
	struct dp_bind_options o = opts();
	pid_t a = fork();
	if (a == 0)
		_exit(run(DP_BIND, GPU, NULL, &o, NULL) == 0 ? 0 : 1);
	pid_t b = fork();
	if (b == 0)
		_exit(run(DP_BIND, AUDIO, NULL, &o, NULL) == 0 ? 0 : 1);
	int sa, sb;
	waitpid(a, &sa, 0);
	waitpid(b, &sb, 0);
	assert_true(WIFEXITED(sa) && WEXITSTATUS(sa) == 0);
	assert_true(WIFEXITED(sb) && WEXITSTATUS(sb) == 0);
	assert_string_equal(drv(GPU), "vfio-pci");
	assert_string_equal(drv(AUDIO), "vfio-pci");
	assert_int_equal(run(DP_RESTORE, NULL, NULL, &o, NULL), 0);
	assert_gpu_at_start();
}

/* ---- many independent groups: moved by parallel workers ---------------------------- */

static char broot[PATH_MAX];
/* the VFs the generator left on mlx5_core (every other one starts on vfio-pci) */
static const char *const vfs[] = {"0000:03:00.1", "0000:03:00.3", "0000:03:00.5", "0000:03:00.7",
                                  "0000:03:01.1", "0000:03:01.3"};
#define NVFS (sizeof(vfs) / sizeof(vfs[0]))

static int setup_many(void **state)
{
	fk = fk_start("bench --pfs 1 --vfs 12 --gpus 1", broot, sizeof(broot));
	memcpy(root, broot, sizeof(root));
	return fk ? 0 : -1;
}

static int run_vfs(enum dp_bind_kind kind, struct dp_bind_options *o)
{
	struct dp_pci_list list = {0};
	struct dp_bind_plan plan;
	assert_int_equal(dp_pci_scan(&list), 0);
	dp_critical_mark(&list);
	int r = dp_bind_plan_make(kind, &list, (char *const *)vfs, NVFS, false, o, &plan);
	if (r == 0)
		r = dp_bind_plan_apply(&plan, &list, o);
	dp_bind_plan_free(&plan);
	dp_pci_list_free(&list);
	return r;
}

static void vfs_all_on(const char *driver)
{
	for (size_t i = 0; i < NVFS; i++)
		if (strcmp(drv(vfs[i]), driver) != 0)
			fail_msg("%s is on '%s', not '%s'", vfs[i], drv(vfs[i]), driver);
}

static void many_groups_move_in_parallel(void **state)
{
	struct dp_bind_options o = opts();
	vfs_all_on("mlx5_core");
	assert_int_equal(run_vfs(DP_BIND, &o), 0);
	vfs_all_on("vfio-pci");
	assert_int_equal(run_vfs(DP_RESTORE, &o), 0);
	vfs_all_on("mlx5_core");
	/* a failure in one worker: every function of every worker is put back */
	for (int at = 1; at <= (int)NVFS; at += 3) {
		fk->fault = FK_PROBE_NOTHING;
		fk->fault_at = at;
		fk->seen = 0;
		assert_int_equal(run_vfs(DP_BIND, &o), -EIO);
		fk->fault = FK_NONE;
		assert_non_null(strstr(dp_error_message(), "put back"));
		vfs_all_on("mlx5_core");
		for (size_t i = 0; i < NVFS; i++)
			assert_string_equal(ovr(vfs[i]), "");
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(binds_the_whole_group_and_restores_it, setup, teardown),
		cmocka_unit_test_setup_teardown(binding_again_writes_nothing, setup, teardown),
		cmocka_unit_test_setup_teardown(dry_run_writes_nothing, setup, teardown),
		cmocka_unit_test_setup_teardown(refuses_host_critical_unless_forced, setup, teardown),
		cmocka_unit_test_setup_teardown(other_driver_moves_only_the_named_function, setup, teardown),
		cmocka_unit_test_setup_teardown(unbind_leaves_no_driver, setup, teardown),
		cmocka_unit_test_setup_teardown(unknown_and_bad_devices, setup, teardown),
		cmocka_unit_test_setup_teardown(refuses_a_device_in_use, setup, teardown),
		cmocka_unit_test_setup_teardown(restore_forgets_what_is_already_back, setup, teardown),
		cmocka_unit_test_setup_teardown(restore_all_skips_vanished_devices, setup, teardown),
		cmocka_unit_test_setup_teardown(faults_leave_everything_as_it_was, setup, teardown),
		cmocka_unit_test_setup_teardown(failed_rollback_names_what_is_not_back, setup, teardown),
		cmocka_unit_test_setup_teardown(no_kernel_refuses_before_any_change, setup, teardown),
		cmocka_unit_test_setup_teardown(hung_unbind_is_left_for_restore, setup, teardown),
		cmocka_unit_test_setup_teardown(crash_then_restore, setup, teardown),
		cmocka_unit_test_setup_teardown(concurrent_binds_agree, setup, teardown),
		cmocka_unit_test_setup_teardown(many_groups_move_in_parallel, setup_many, teardown),
	};
	return cmocka_run_group_tests_name("bind", tests, NULL, NULL);
}
