/* Choosing a VM's devices and judging its host (src/lib/vm/select.c, tune.c) on the
 * `vmhost` fixture tree: 00:02.0 the boot VGA, 01:00.0 a free RTX 3090 on nouveau (with
 * audio and its root port in group 1), 30:00.0 an AMD GPU whose group 30 holds the NVMe
 * of /var, 40:00.0/.1 an RTX 3070 + audio on vfio-pci (group 40, node 1), 50:00.0 a
 * spare NVMe (node 1), 02:00.0 the root disk. Nodes 0 (0-7, 16 GiB free) and 1 (8-15,
 * 2 GiB free). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "devpass.h"
#include "fakekernel.h"
#include "fs/sysroot.h"
#include "vm/vm.h"

#define BOOT_VGA "0000:00:02.0"
#define FREE_GPU "0000:01:00.0"
#define AMD_GPU "0000:30:00.0"
#define VFIO_GPU "0000:40:00.0"
#define VFIO_AUDIO "0000:40:00.1"
#define SPARE_NVME "0000:50:00.0"

static char root[PATH_MAX];
static struct dp_pci_list list;

static int scan(void)
{
	dp_pci_list_free(&list);
	if (dp_pci_scan_flags(&list, DP_SCAN_NAMES) < 0 || dp_critical_mark(&list) < 0)
		return -1;
	return 0;
}

static int setup_scenario(const char *scenario)
{
	if (!fk_start(scenario, root, sizeof(root)))
		return -1;
	return scan();
}

static int setup(void **state)
{
	(void)state;
	return setup_scenario("vmhost");
}

static int setup_noiommu(void **state)
{
	(void)state;
	return setup_scenario("noiommu");
}

static int teardown(void **state)
{
	(void)state;
	dp_pci_list_free(&list);
	fk_stop(root);
	return 0;
}

/* Writes a file of the fixture tree (root-relative), as a test's change of the host. */
static void tree_write(const char *rel, const char *text)
{
	char path[PATH_MAX * 2];
	snprintf(path, sizeof(path), "%s/%s", root, rel);
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

/* The one line of sv that starts with prefix, or NULL. */
static const char *line_starting(const struct dp_strv *sv, const char *prefix)
{
	const char *found = NULL;
	for (size_t i = 0; i < sv->n; i++)
		if (strncmp(sv->v[i], prefix, strlen(prefix)) == 0) {
			assert_null(found);
			found = sv->v[i];
		}
	return found;
}

struct pick {
	int r;
	char out[DP_ADDR_LEN];
	struct dp_strv chosen, rejected;
};

static void pick_free(struct pick *p)
{
	dp_strv_free(&p->chosen);
	dp_strv_free(&p->rejected);
}

static int pick(const struct dp_pci_list *l, enum dp_vm_want want, const char *spec,
                const struct dp_strv *exclude, struct pick *p)
{
	memset(p, 0, sizeof(*p));
	p->r = dp_vm_pick(l, want, spec, exclude, p->out, &p->chosen, &p->rejected);
	return p->r;
}

/* ---- dp_vm_pick ------------------------------------------------------------------------ */

/* The vfio-pci pair wins over the free GPU at a lower address; the boot VGA and the GPU
 * sharing its group with /var's NVMe are rejected, with their reasons. */
static void test_gpu_auto(void **state)
{
	(void)state;
	struct pick p;
	assert_int_equal(pick(&list, DP_VM_WANT_GPU, "auto", NULL, &p), 0);
	assert_string_equal(p.out, VFIO_GPU);
	assert_int_equal(p.chosen.n, 1);
	assert_string_equal(p.chosen.v[0], "gpu auto: 0000:40:00.0 NVIDIA Corporation GA104 "
	                    "[GeForce RTX 3070] (group 40, with 0000:40:00.1 audio; already on vfio-pci)");
	assert_int_equal(p.rejected.n, 2);
	assert_string_equal(p.rejected.v[0], "0000:00:02.0 (Intel Corporation CoffeeLake-S GT2 [UHD "
	                    "Graphics 630]): boot VGA (the host console uses it)");
	const char *amd = line_starting(&p.rejected, AMD_GPU " (");
	assert_non_null(amd);
	assert_non_null(strstr(amd, "host-critical"));
	assert_non_null(strstr(amd, "0000:31:00.0"));
	assert_non_null(strstr(amd, "/var"));
	assert_null(line_starting(&p.rejected, FREE_GPU));   /* it could go: not rejected */
	pick_free(&p);
}

static void test_gpu_exclude(void **state)
{
	(void)state;
	struct dp_strv ex = {0};
	struct pick p;
	assert_int_equal(dp_strv_add(&ex, VFIO_GPU), 0);
	assert_int_equal(pick(&list, DP_VM_WANT_GPU, "auto", &ex, &p), 0);
	assert_string_equal(p.out, FREE_GPU);
	assert_string_equal(p.chosen.v[0], "gpu auto: 0000:01:00.0 NVIDIA Corporation GA102 "
	                    "[GeForce RTX 3090] (group 1, with 0000:01:00.1 audio)");
	assert_non_null(strstr(line_starting(&p.rejected, VFIO_GPU), ": already chosen for this VM"));
	pick_free(&p);

	/* a function of its group taken by another request takes the group */
	dp_strv_free(&ex);
	assert_int_equal(dp_strv_add(&ex, VFIO_AUDIO), 0);
	assert_int_equal(pick(&list, DP_VM_WANT_GPU, "auto", &ex, &p), 0);
	assert_string_equal(p.out, FREE_GPU);
	assert_non_null(strstr(line_starting(&p.rejected, VFIO_GPU),
	                       ": group 40 holds 0000:40:00.1, already chosen for this VM"));
	pick_free(&p);

	/* both taken: nothing left, every candidate with its reason */
	assert_int_equal(dp_strv_add(&ex, FREE_GPU), 0);
	assert_int_equal(pick(&list, DP_VM_WANT_GPU, "auto", &ex, &p), -ENODEV);
	assert_string_equal(dp_error_message(), "no GPU can be given to a VM: 4 candidates, none free");
	assert_int_equal(p.rejected.n, 4);
	assert_string_equal(p.out, "");
	assert_int_equal(p.chosen.n, 0);
	const char *subject;
	assert_int_equal(dp_error_remedy(&subject), DP_REMEDY_LIST_DEVICES);
	pick_free(&p);
	dp_strv_free(&ex);
}

static void test_gpu_vendor(void **state)
{
	(void)state;
	struct pick p;
	const char *nvidia[] = {"nvidia", "NVIDIA", "10de", "0x10DE"};
	for (size_t i = 0; i < 4; i++) {
		assert_int_equal(pick(&list, DP_VM_WANT_GPU, nvidia[i], NULL, &p), 0);
		assert_string_equal(p.out, VFIO_GPU);
		assert_int_equal(p.rejected.n, 0);   /* other vendors are not candidates */
		char prefix[64];
		snprintf(prefix, sizeof(prefix), "gpu %s: 0000:40:00.0 ", nvidia[i]);
		assert_non_null(line_starting(&p.chosen, prefix));
		pick_free(&p);
	}
	const char *amd[] = {"amd", "ati", "1002"};
	for (size_t i = 0; i < 3; i++) {
		assert_int_equal(pick(&list, DP_VM_WANT_GPU, amd[i], NULL, &p), -ENODEV);
		char msg[128];
		snprintf(msg, sizeof(msg), "no %s GPU can be given to a VM: 1 candidate, none free", amd[i]);
		assert_string_equal(dp_error_message(), msg);
		assert_int_equal(p.rejected.n, 1);
		assert_non_null(line_starting(&p.rejected, AMD_GPU));
		pick_free(&p);
	}
	assert_int_equal(pick(&list, DP_VM_WANT_GPU, "intel", NULL, &p), -ENODEV);
	assert_non_null(line_starting(&p.rejected, BOOT_VGA));
	pick_free(&p);
	assert_int_equal(pick(&list, DP_VM_WANT_GPU, "1af4", NULL, &p), -ENODEV);
	assert_string_equal(dp_error_message(), "no 1af4 GPU on this host");
	pick_free(&p);
	assert_int_equal(pick(&list, DP_VM_WANT_GPU, "geforce", NULL, &p), -EINVAL);
	assert_non_null(strstr(dp_error_message(), "'geforce' is neither auto, a vendor"));
	pick_free(&p);
	assert_int_equal(pick(&list, DP_VM_WANT_POOL, "auto", NULL, &p), -EINVAL);
	pick_free(&p);
}

static void test_nvme_auto(void **state)
{
	(void)state;
	struct pick p;
	assert_int_equal(pick(&list, DP_VM_WANT_NVME, "auto", NULL, &p), 0);
	assert_string_equal(p.out, SPARE_NVME);
	assert_string_equal(p.chosen.v[0], "nvme auto: 0000:50:00.0 Samsung Electronics Co Ltd NVMe "
	                    "SSD Controller SM981/PM981/PM983 (group 50)");
	assert_int_equal(p.rejected.n, 2);
	assert_non_null(strstr(line_starting(&p.rejected, "0000:02:00.0"), "host-critical: it backs "
	                       "nvme0n1p1: ext4 mounted at /"));
	assert_non_null(strstr(line_starting(&p.rejected, "0000:31:00.0"), "/var"));
	pick_free(&p);
}

/* A holder of /dev/vfio/40 (a running VM) makes the pair in use. */
static void test_in_use(void **state)
{
	(void)state;
	char dir[PATH_MAX * 2], link[PATH_MAX * 2];
	snprintf(dir, sizeof(dir), "%s/proc/4321", root);
	assert_int_equal(mkdir(dir, 0755), 0);
	strncat(dir, "/fd", sizeof(dir) - strlen(dir) - 1);
	assert_int_equal(mkdir(dir, 0755), 0);
	snprintf(link, sizeof(link), "%s/5", dir);
	assert_int_equal(symlink("/dev/vfio/40", link), 0);
	tree_write("proc/4321/comm", "qemu-system-x86\n");
	struct pick p;
	assert_int_equal(pick(&list, DP_VM_WANT_GPU, "auto", NULL, &p), 0);
	assert_string_equal(p.out, FREE_GPU);
	assert_non_null(strstr(line_starting(&p.rejected, VFIO_GPU),
	                       ": in use: pid 4321 (qemu-system-x86) holds /dev/vfio/40"));
	pick_free(&p);
	assert_int_equal(pick(&list, DP_VM_WANT_GPU, VFIO_AUDIO, NULL, &p), -EINVAL);   /* audio */
	pick_free(&p);
	assert_int_equal(pick(&list, DP_VM_WANT_GPU, VFIO_GPU, NULL, &p), -EPERM);
	assert_non_null(strstr(dp_error_message(), "0000:40:00.0 (NVIDIA Corporation GA104 [GeForce "
	                       "RTX 3070]) cannot be given to a VM: in use: pid 4321"));
	pick_free(&p);
	unlink(link);
	assert_int_equal(pick(&list, DP_VM_WANT_GPU, "auto", NULL, &p), 0);   /* asked afresh */
	assert_string_equal(p.out, VFIO_GPU);
	pick_free(&p);
}

static void test_explicit(void **state)
{
	(void)state;
	struct pick p;
	assert_int_equal(pick(&list, DP_VM_WANT_GPU, "01:00.0", NULL, &p), 0);
	assert_string_equal(p.out, FREE_GPU);
	assert_string_equal(p.chosen.v[0], "gpu 01:00.0: 0000:01:00.0 NVIDIA Corporation GA102 "
	                    "[GeForce RTX 3090] (group 1, with 0000:01:00.1 audio)");
	pick_free(&p);
	assert_int_equal(pick(&list, DP_VM_WANT_GPU, SPARE_NVME, NULL, &p), -EINVAL);
	assert_string_equal(dp_error_message(), "0000:50:00.0 is not a GPU: it is a Non-Volatile "
	                    "memory controller (Samsung Electronics Co Ltd NVMe SSD Controller "
	                    "SM981/PM981/PM983)");
	pick_free(&p);
	assert_int_equal(pick(&list, DP_VM_WANT_NVME, VFIO_GPU, NULL, &p), -EINVAL);
	assert_non_null(strstr(dp_error_message(), "0000:40:00.0 is not a NVMe drive: it is a VGA"));
	pick_free(&p);
	assert_int_equal(pick(&list, DP_VM_WANT_GPU, BOOT_VGA, NULL, &p), -EPERM);
	assert_non_null(strstr(dp_error_message(), "cannot be given to a VM: boot VGA (the host "
	                       "console uses it)"));
	assert_int_equal(p.rejected.n, 1);
	assert_string_equal(p.out, "");
	pick_free(&p);
	assert_int_equal(pick(&list, DP_VM_WANT_GPU, AMD_GPU, NULL, &p), -EPERM);
	assert_non_null(strstr(dp_error_message(), "0000:31:00.0"));
	pick_free(&p);
	assert_int_equal(pick(&list, DP_VM_WANT_NVME, "0000:77:00.0", NULL, &p), -ENODEV);
	assert_string_equal(dp_error_message(), "no PCI device 0000:77:00.0 on this host");
	pick_free(&p);
	struct dp_strv ex = {0};
	assert_int_equal(dp_strv_add(&ex, SPARE_NVME), 0);
	assert_int_equal(pick(&list, DP_VM_WANT_NVME, SPARE_NVME, &ex, &p), -EPERM);
	assert_non_null(strstr(dp_error_message(), "already chosen for this VM"));
	pick_free(&p);
	dp_strv_free(&ex);
}

static void strv_equal(const struct dp_strv *a, const struct dp_strv *b)
{
	assert_int_equal(a->n, b->n);
	for (size_t i = 0; i < a->n; i++)
		assert_string_equal(a->v[i], b->v[i]);
}

/* The same answer twice, and with the inventory in reverse order. */
static void test_deterministic(void **state)
{
	(void)state;
	struct dp_pci_list rev = {calloc(list.n, sizeof(*list.dev)), list.n};
	assert_non_null(rev.dev);
	for (size_t i = 0; i < list.n; i++)
		rev.dev[i] = list.dev[list.n - 1 - i];   /* shallow: list owns everything */
	enum dp_vm_want wants[] = {DP_VM_WANT_GPU, DP_VM_WANT_NVME};
	for (size_t w = 0; w < 2; w++) {
		struct pick a, b, c;
		assert_int_equal(pick(&list, wants[w], "auto", NULL, &a), 0);
		assert_int_equal(pick(&list, wants[w], "auto", NULL, &b), 0);
		assert_int_equal(pick(&rev, wants[w], "auto", NULL, &c), 0);
		assert_string_equal(a.out, b.out);
		assert_string_equal(a.out, c.out);
		strv_equal(&a.chosen, &b.chosen);
		strv_equal(&a.chosen, &c.chosen);
		strv_equal(&a.rejected, &b.rejected);
		strv_equal(&a.rejected, &c.rejected);
		pick_free(&a);
		pick_free(&b);
		pick_free(&c);
	}
	struct dp_strv ends = {0};
	assert_int_equal(dp_vm_group_endpoints(&rev, "0000:01:00.1", &ends), 0);
	assert_int_equal(ends.n, 2);
	assert_string_equal(ends.v[0], FREE_GPU);
	dp_strv_free(&ends);
	free(rev.dev);
}

/* Without an IOMMU nothing can go: every candidate says why. */
static void test_no_group(void **state)
{
	(void)state;
	struct pick p;
	assert_int_equal(pick(&list, DP_VM_WANT_GPU, "auto", NULL, &p), -ENODEV);
	assert_string_equal(dp_error_message(), "no GPU can be given to a VM: 2 candidates, none free");
	assert_int_equal(p.rejected.n, 2);
	assert_string_equal(p.rejected.v[1], "0000:01:00.0 (NVIDIA Corporation GA102 [GeForce RTX "
	                    "3090]): no IOMMU group");
	pick_free(&p);
	struct dp_strv ends = {0};
	assert_int_equal(dp_vm_group_endpoints(&list, "0000:01:00.0", &ends), 0);
	assert_int_equal(ends.n, 1);   /* a device without a group is alone */
	dp_strv_free(&ends);
}

/* ---- dp_vm_group_endpoints ------------------------------------------------------------- */

static void test_group_endpoints(void **state)
{
	(void)state;
	struct dp_strv ends = {0};
	/* group 1: root port 00:01.0 (a bridge: stays), the GPU and its audio */
	assert_int_equal(dp_vm_group_endpoints(&list, "0000:01:00.1", &ends), 0);
	assert_int_equal(ends.n, 2);
	assert_string_equal(ends.v[0], "0000:01:00.0");
	assert_string_equal(ends.v[1], "0000:01:00.1");
	dp_strv_free(&ends);
	/* group 30: two root ports, the GPU, its audio and the NVMe */
	assert_int_equal(dp_vm_group_endpoints(&list, "31:00.0", &ends), 0);
	assert_int_equal(ends.n, 3);
	assert_string_equal(ends.v[0], "0000:30:00.0");
	assert_string_equal(ends.v[1], "0000:30:00.1");
	assert_string_equal(ends.v[2], "0000:31:00.0");
	dp_strv_free(&ends);
	assert_int_equal(dp_vm_group_endpoints(&list, "0000:00:1f.4", &ends), 0);   /* no group */
	assert_int_equal(ends.n, 1);
	assert_string_equal(ends.v[0], "0000:00:1f.4");
	dp_strv_free(&ends);
	assert_int_equal(dp_vm_group_endpoints(&list, "0000:66:00.0", &ends), -ENODEV);
	assert_int_equal(dp_vm_group_endpoints(&list, "nonsense", &ends), -EINVAL);
	assert_int_equal(ends.n, 0);
}

/* ---- tune: nodes and CPUs --------------------------------------------------------------- */

static void test_cpulist(void **state)
{
	(void)state;
	cpu_set_t set;
	assert_int_equal(dp_vm_cpulist_parse("0-3,8-11", &set), 0);
	assert_int_equal(CPU_COUNT(&set), 8);
	assert_true(CPU_ISSET(0, &set) && CPU_ISSET(3, &set) && CPU_ISSET(8, &set) && CPU_ISSET(11, &set));
	assert_false(CPU_ISSET(4, &set) || CPU_ISSET(7, &set) || CPU_ISSET(12, &set));
	assert_int_equal(dp_vm_cpulist_parse("5", &set), 0);
	assert_int_equal(CPU_COUNT(&set), 1);
	assert_true(CPU_ISSET(5, &set));
	assert_int_equal(dp_vm_cpulist_parse("2,0,7-7\n", &set), 0);
	assert_int_equal(CPU_COUNT(&set), 3);
	assert_int_equal(dp_vm_cpulist_parse("", &set), 0);   /* a node without CPUs */
	assert_int_equal(CPU_COUNT(&set), 0);
	const char *bad[] = {"a", "3-1", "1-", "-1", "1,,2", "1,", ",1", "0-3 ", "1;2", "0x3",
	                     "99999", "0-99999"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(dp_vm_cpulist_parse(bad[i], &set), -EINVAL);
		assert_non_null(strstr(dp_error_message(), "is not a CPU list"));
	}
}

static void test_nodes(void **state)
{
	(void)state;
	cpu_set_t set;
	assert_int_equal(dp_vm_host_nodes(), 2);
	assert_int_equal(dp_vm_node_cpus(1, &set), 0);
	assert_int_equal(CPU_COUNT(&set), 8);
	assert_true(CPU_ISSET(8, &set) && CPU_ISSET(15, &set) && !CPU_ISSET(7, &set));
	assert_int_equal(dp_vm_node_cpus(2, &set), -ENOENT);
	assert_string_equal(dp_error_message(), "NUMA node 2 does not exist on this host");
	assert_int_equal(dp_vm_node_cpus(-1, &set), -ENOENT);
	struct dp_strv addrs = {0};
	assert_int_equal(dp_vm_devices_node(&list, &addrs), DP_NO_NUMA);
	assert_int_equal(dp_strv_add(&addrs, "0000:08:00.0"), 0);   /* numa_node -1 */
	assert_int_equal(dp_vm_devices_node(&list, &addrs), DP_NO_NUMA);
	assert_int_equal(dp_strv_add(&addrs, VFIO_GPU), 0);
	assert_int_equal(dp_strv_add(&addrs, FREE_GPU), 0);
	assert_int_equal(dp_vm_devices_node(&list, &addrs), 1);   /* the first known */
	dp_strv_free(&addrs);
	tree_write("sys/devices/system/node/online", "0\n");
	assert_int_equal(dp_vm_host_nodes(), 1);
	tree_write("sys/devices/system/node/online", "0-1\n");
}

static void test_pin_threads(void **state)
{
	(void)state;
	cpu_set_t now;
	assert_int_equal(sched_getaffinity(0, sizeof(now), &now), 0);
	pid_t self = gettid();
	assert_int_equal(dp_vm_pin_threads(&self, 1, &now), 0);   /* what it has: always allowed */
	pid_t gone[] = {self, 0x7ffffff0};
	assert_int_equal(dp_vm_pin_threads(gone, 2, &now), -ESRCH);
	assert_non_null(strstr(dp_error_message(), "cannot pin thread 2147483632 to its CPUs"));
}

/* ---- findings ------------------------------------------------------------------------- */

static const struct dp_vm_finding *finding(const struct dp_vm_report *r, const char *check,
                                           enum dp_vm_verdict v)
{
	for (size_t i = 0; i < r->n; i++)
		if (strcmp(r->f[i].check, check) == 0 && r->f[i].verdict == v)
			return &r->f[i];
	return NULL;
}

static void test_memlock(void **state)
{
	(void)state;
	struct dp_vm_report r = {0};
	/* the fixture's devpass has every capability */
	assert_int_equal(dp_vm_check_memlock(4096, &r), 0);
	assert_non_null(finding(&r, "memlock", DP_VM_OK));
	assert_non_null(strstr(r.f[0].detail, "CAP_IPC_LOCK"));
	dp_vm_report_free(&r);

	/* without CAP_IPC_LOCK the soft limit decides: lowered to at most 64 MiB here */
	tree_write("proc/self/status", "Name:\tdevpass\nCapEff:\t000001fffeffbfff\n");
	struct rlimit saved, low;
	assert_int_equal(getrlimit(RLIMIT_MEMLOCK, &saved), 0);
	low = saved;
	if (low.rlim_max == RLIM_INFINITY || low.rlim_max > (64 << 20))
		low.rlim_cur = 64 << 20;
	else
		low.rlim_cur = low.rlim_max;
	assert_int_equal(setrlimit(RLIMIT_MEMLOCK, &low), 0);
	int ret = dp_vm_check_memlock(64, &r);
	assert_int_equal(setrlimit(RLIMIT_MEMLOCK, &saved), 0);
	assert_int_equal(ret, 0);
	const struct dp_vm_finding *f = finding(&r, "memlock", DP_VM_FAIL);
	assert_non_null(f);
	assert_non_null(strstr(f->detail, "VFIO pins all 64 MiB of guest RAM, which needs 1088 MiB"));
	assert_non_null(strstr(f->advice, "ulimit -l 1114112"));
	assert_non_null(strstr(f->advice, "LimitMEMLOCK=1088M"));
	assert_non_null(strstr(f->advice, "/etc/security/limits.conf"));
	dp_vm_report_free(&r);

	/* the rule itself: RAM + 1 GiB */
	assert_int_equal(dp_vm_memlock_judge(512, false, 1536ULL << 20, &r), 0);
	assert_int_equal(dp_vm_memlock_judge(513, false, 1536ULL << 20, &r), 0);
	assert_int_equal(dp_vm_memlock_judge(1 << 20, false, ULLONG_MAX, &r), 0);
	assert_int_equal(dp_vm_memlock_judge(1 << 20, true, 0, &r), 0);
	assert_int_equal(r.n, 4);
	assert_int_equal(r.f[0].verdict, DP_VM_OK);
	assert_int_equal(r.f[1].verdict, DP_VM_FAIL);
	assert_int_equal(r.f[2].verdict, DP_VM_OK);
	assert_string_equal(r.f[2].detail, "RLIMIT_MEMLOCK unlimited");
	assert_int_equal(r.f[3].verdict, DP_VM_OK);
	dp_vm_report_free(&r);
}

/* The fixture's hugetlbfs mounts are plain directories: statfs says so, and that is a
 * FAIL (QEMU would run the guest on a regular file there). */
static void test_hugepages_tree(void **state)
{
	(void)state;
	struct dp_vm_report r = {0};
	char mount[256] = "x";
	assert_int_equal(dp_fs_is_hugetlbfs("dev/hugepages"), 0);
	assert_int_equal(dp_fs_is_hugetlbfs("dev/none"), -ENOENT);
	assert_int_equal(dp_vm_check_hugepages(1024, mount, sizeof(mount), &r), 0);
	const struct dp_vm_finding *f = finding(&r, "hugepages", DP_VM_FAIL);
	assert_non_null(f);
	assert_string_equal(mount, "");
	assert_non_null(strstr(f->detail, "/dev/hugepages is not hugetlbfs"));
	assert_non_null(strstr(f->detail, "/dev/hugepages1G is not hugetlbfs"));
	assert_non_null(strstr(f->advice, "mount -t hugetlbfs"));
	dp_vm_report_free(&r);

	/* no hugetlbfs line at all */
	tree_write("proc/self/mountinfo", "26 1 259:1 / / rw,relatime shared:1 - ext4 /dev/nvme0n1p1 rw\n");
	assert_int_equal(dp_vm_check_hugepages(1024, mount, sizeof(mount), &r), 0);
	assert_string_equal(r.f[0].detail, "no hugetlbfs is mounted");
	assert_non_null(strstr(r.f[0].advice, "mount -t hugetlbfs hugetlbfs /dev/hugepages"));
	dp_vm_report_free(&r);
}

/* The decision, given mounts that are hugetlbfs (which a test tree cannot be). */
static void test_hugepages_judge(void **state)
{
	(void)state;
	struct dp_vm_report r = {0};
	char mount[256];
	struct dp_vm_hugetlb_mount m[] = {
		{"dev/hugepages1G", 1 << 20, 1, 2, 4},
		{"dev/hugepages", 2048, 1, 1024, 1536},
	};
	/* 1.5 GiB is not whole 1 GiB pages; 768 free 2 MiB pages hold it */
	assert_int_equal(dp_vm_hugepages_judge(m, 2, 1536, mount, sizeof(mount), &r), 0);
	assert_int_equal(r.n, 1);
	assert_int_equal(r.f[0].verdict, DP_VM_OK);
	assert_string_equal(r.f[0].detail, "1024 free 2 MiB pages at /dev/hugepages cover 1536 MiB");
	assert_string_equal(mount, "dev/hugepages");
	dp_vm_report_free(&r);
	/* 2 GiB: the first mount that holds it wins */
	assert_int_equal(dp_vm_hugepages_judge(m, 2, 2048, mount, sizeof(mount), &r), 0);
	assert_string_equal(mount, "dev/hugepages1G");
	dp_vm_report_free(&r);
	/* 4 GiB: neither */
	assert_int_equal(dp_vm_hugepages_judge(m, 2, 4096, mount, sizeof(mount), &r), 0);
	assert_int_equal(r.f[0].verdict, DP_VM_FAIL);
	assert_string_equal(mount, "");
	assert_string_equal(r.f[0].detail, "no huge pages for 4096 MiB: /dev/hugepages1G: 2 free "
	                    "1 GiB pages, 4 needed; /dev/hugepages: 1024 free 2 MiB pages, 2048 needed");
	/* 2 of the 1 GiB pool's 4 are used: 2 + 4 */
	assert_non_null(strstr(r.f[0].advice, "echo 6 > /sys/kernel/mm/hugepages/hugepages-1048576kB/"
	                       "nr_hugepages, or hugepagesz=1G hugepages=6 on the kernel command line"));
	dp_vm_report_free(&r);
	/* one that is not hugetlbfs is never taken */
	m[1].fs = 0;
	assert_int_equal(dp_vm_hugepages_judge(&m[1], 1, 64, mount, sizeof(mount), &r), 0);
	assert_int_equal(r.f[0].verdict, DP_VM_FAIL);
	assert_non_null(strstr(r.f[0].detail, "not hugetlbfs"));
	dp_vm_report_free(&r);
	assert_int_equal(dp_vm_hugepages_judge(m, 0, 64, mount, sizeof(mount), &r), 0);
	assert_string_equal(r.f[0].detail, "no hugetlbfs is mounted");
	dp_vm_report_free(&r);
}

static void vm_def(struct dp_vm_def *def, struct dp_vm_device *devs, int numa,
                   unsigned long long mib)
{
	memset(def, 0, sizeof(*def));
	snprintf(def->name, sizeof(def->name), "t");
	def->memory_mib = mib;
	def->cpus = 2;
	def->numa = numa;
	def->devices = devs;
	def->ndevices = devs ? 1 : 0;
}

static void test_numa(void **state)
{
	(void)state;
	struct dp_vm_report r = {0};
	struct dp_vm_def def;
	struct dp_vm_device devs[2] = {{.want = DP_VM_WANT_GPU}, {.want = DP_VM_WANT_NVME}};
	snprintf(devs[0].address, sizeof(devs[0].address), VFIO_GPU);
	snprintf(devs[1].address, sizeof(devs[1].address), SPARE_NVME);

	vm_def(&def, devs, DP_VM_NUMA_AUTO, 1024);
	assert_int_equal(dp_vm_check_numa(&def, 1, &r), 0);
	assert_int_equal(r.n, 1);
	assert_int_equal(r.f[0].verdict, DP_VM_OK);
	assert_string_equal(r.f[0].detail, "vCPUs pinned to node 1's CPUs (8-15), memory bound to node 1");
	dp_vm_report_free(&r);

	/* node 1 has 2 GiB free */
	vm_def(&def, devs, DP_VM_NUMA_AUTO, 4096);
	assert_int_equal(dp_vm_check_numa(&def, 1, &r), 0);
	const struct dp_vm_finding *f = finding(&r, "numa memory", DP_VM_WARN);
	assert_non_null(f);
	assert_string_equal(f->detail, "node 1 has 2048 MiB free, less than the 4096 MiB of guest "
	                    "RAM bound to it");
	dp_vm_report_free(&r);
	def.hugepages = true;   /* reserved ahead: MemFree does not count them */
	assert_int_equal(dp_vm_check_numa(&def, 1, &r), 0);
	assert_null(finding(&r, "numa memory", DP_VM_WARN));
	dp_vm_report_free(&r);

	vm_def(&def, devs, DP_VM_NUMA_NONE, 1024);
	assert_int_equal(dp_vm_check_numa(&def, 1, &r), 0);
	f = finding(&r, "numa", DP_VM_WARN);
	assert_non_null(f);
	assert_string_equal(f->advice, "pinning to node 1 would keep DMA local");
	dp_vm_report_free(&r);
	assert_int_equal(dp_vm_check_numa(&def, DP_NO_NUMA, &r), 0);
	assert_int_equal(r.f[0].verdict, DP_VM_OK);
	dp_vm_report_free(&r);

	/* an explicit node that does not exist, or one the devices are not on */
	vm_def(&def, devs, 7, 1024);
	assert_int_equal(dp_vm_check_numa(&def, 1, &r), 0);
	f = finding(&r, "numa", DP_VM_FAIL);
	assert_non_null(f);
	assert_string_equal(f->detail, "NUMA node 7 does not exist (online nodes: 0-1)");
	dp_vm_report_free(&r);
	vm_def(&def, devs, 0, 1024);
	assert_int_equal(dp_vm_check_numa(&def, 1, &r), 0);
	assert_non_null(finding(&r, "numa", DP_VM_OK));
	assert_non_null(strstr(finding(&r, "numa", DP_VM_WARN)->detail, "devices are on node 1, the VM on node 0"));
	dp_vm_report_free(&r);

	/* devices on two nodes */
	snprintf(devs[1].address, sizeof(devs[1].address), FREE_GPU);
	vm_def(&def, devs, DP_VM_NUMA_AUTO, 1024);
	def.ndevices = 2;
	assert_int_equal(dp_vm_check_numa(&def, 1, &r), 0);
	f = finding(&r, "numa", DP_VM_WARN);
	assert_non_null(f);
	assert_string_equal(f->detail, "devices on different NUMA nodes: 0000:40:00.0 on node 1, "
	                    "0000:01:00.0 on node 0");
	dp_vm_report_free(&r);

	/* a node without CPUs */
	tree_write("sys/devices/system/node/node1/cpulist", "\n");
	vm_def(&def, devs, DP_VM_NUMA_AUTO, 1024);
	assert_int_equal(dp_vm_check_numa(&def, 1, &r), 0);
	f = finding(&r, "numa", DP_VM_FAIL);
	assert_non_null(f);
	assert_string_equal(f->detail, "NUMA node 1 has no CPUs (online nodes: 0-1)");
	dp_vm_report_free(&r);
	tree_write("sys/devices/system/node/node1/cpulist", "8-15\n");

	/* one node: nothing to pin, whatever was asked */
	tree_write("sys/devices/system/node/online", "0\n");
	vm_def(&def, devs, 7, 1024);
	assert_int_equal(dp_vm_check_numa(&def, 1, &r), 0);
	assert_int_equal(r.n, 1);
	assert_string_equal(r.f[0].detail, "one NUMA node: nothing to pin");
	dp_vm_report_free(&r);
	tree_write("sys/devices/system/node/online", "0-1\n");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_gpu_auto, setup, teardown),
		cmocka_unit_test_setup_teardown(test_gpu_exclude, setup, teardown),
		cmocka_unit_test_setup_teardown(test_gpu_vendor, setup, teardown),
		cmocka_unit_test_setup_teardown(test_nvme_auto, setup, teardown),
		cmocka_unit_test_setup_teardown(test_in_use, setup, teardown),
		cmocka_unit_test_setup_teardown(test_explicit, setup, teardown),
		cmocka_unit_test_setup_teardown(test_deterministic, setup, teardown),
		cmocka_unit_test_setup_teardown(test_no_group, setup_noiommu, teardown),
		cmocka_unit_test_setup_teardown(test_group_endpoints, setup, teardown),
		cmocka_unit_test(test_cpulist),
		cmocka_unit_test_setup_teardown(test_nodes, setup, teardown),
		cmocka_unit_test(test_pin_threads),
		cmocka_unit_test_setup_teardown(test_memlock, setup, teardown),
		cmocka_unit_test_setup_teardown(test_hugepages_tree, setup, teardown),
		cmocka_unit_test_setup_teardown(test_hugepages_judge, NULL, NULL),
		cmocka_unit_test_setup_teardown(test_numa, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
