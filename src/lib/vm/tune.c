/* Where a VM runs and what memory it gets: the NUMA node of its devices (vCPUs on that
 * node's CPUs, guest RAM bound to it, so the devices' DMA stays local), the huge pages
 * it asks for, and the locked-memory limit that VFIO's pinning of guest RAM runs into.
 * Node facts come from sys/devices/system/node, read through the root like everything
 * else. */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/types.h>

#include "alloc-util.h"
#include "fs/sysroot.h"
#include "inventory/critical.h"
#include "vm/vm.h"

#define NODE_DIR "sys/devices/system/node"
#define CAP_IPC_LOCK_BIT 14
#define MEMLOCK_SLACK_MIB 1024ULL   /* libvirt's rule: guest RAM + 1 GiB */

/* ---- cpu lists ("0-3,8-11") -------------------------------------------------------- */

static bool parse_cpu(const char **p, unsigned long *out)
{
	char *end;
	if (!isdigit((unsigned char)**p))
		return false;
	errno = 0;
	*out = strtoul(*p, &end, 10);
	if (errno || *out >= CPU_SETSIZE)
		return false;
	*p = end;
	return true;
}

int dp_vm_cpulist_parse(const char *text, cpu_set_t *out)
{
	CPU_ZERO(out);
	const char *p = text;
	while (*p && *p != '\n') {
		unsigned long a, b;
		if (!parse_cpu(&p, &a))
			return dp_error_set(-EINVAL, "'%s' is not a CPU list (at '%s')", text, p);
		b = a;
		if (*p == '-') {
			p++;
			if (!parse_cpu(&p, &b) || b < a)
				return dp_error_set(-EINVAL, "'%s' is not a CPU list (bad range before '%s')",
				                    text, p);
		}
		for (unsigned long c = a; c <= b; c++)
			CPU_SET(c, out);
		if (*p == ',' && p[1] && p[1] != '\n')
			p++;
		else if (*p && *p != '\n')
			return dp_error_set(-EINVAL, "'%s' is not a CPU list (at '%s')", text, p);
	}
	return 0;
}

/* ---- nodes -------------------------------------------------------------------------- */

int dp_vm_devices_node(const struct dp_pci_list *list, const struct dp_strv *addrs)
{
	for (size_t i = 0; i < addrs->n; i++)
		for (size_t k = 0; k < list->n; k++)   /* sorted or not */
			if (strcmp(list->dev[k].address, addrs->v[i]) == 0 && list->dev[k].numa_node != DP_NO_NUMA)
				return list->dev[k].numa_node;
	return DP_NO_NUMA;
}

/* A host without the node directory (no CONFIG_NUMA) is one node. */
int dp_vm_host_nodes(void)
{
	char text[256];
	cpu_set_t nodes;
	if (dp_fs_read_line(NODE_DIR "/online", text, sizeof(text)) <= 0 ||
	    dp_vm_cpulist_parse(text, &nodes) < 0 || CPU_COUNT(&nodes) < 1)
		return 1;
	return CPU_COUNT(&nodes);
}

/* The node's cpulist as the kernel prints it ("" for a node without CPUs). */
static int node_cpulist(int node, char *text, size_t size)
{
	char path[64];
	snprintf(path, sizeof(path), NODE_DIR "/node%d/cpulist", node);
	int r = node < 0 ? -ENOENT : dp_fs_read_line(path, text, size);
	if (r < 0)
		return dp_error_set(r, "NUMA node %d %s", node, r == -ENOENT ? "does not exist on this "
		                    "host" : "cannot be read");
	return 0;
}

int dp_vm_node_cpus(int node, cpu_set_t *out)
{
	char text[1024];
	int r = node_cpulist(node, text, sizeof(text));
	return r < 0 ? r : dp_vm_cpulist_parse(text, out);
}

int dp_vm_pin_threads(const pid_t *tids, size_t n, const cpu_set_t *cpus)
{
	for (size_t i = 0; i < n; i++)
		if (sched_setaffinity(tids[i], sizeof(*cpus), cpus) < 0)
			return dp_error_set(-errno, "cannot pin thread %d to its CPUs: %s", (int)tids[i],
			                    strerror(errno));
	return 0;
}

/* ---- memlock ------------------------------------------------------------------------ */

/* The effective capabilities of devpass (and so of the QEMU it starts, which inherits
 * them): proc/self/status "CapEff:\t000001ffffffffff". */
static bool has_cap_ipc_lock(void)
{
	_cleanup_free_ char *status = NULL;
	if (dp_fs_read_all("proc/self/status", &status, NULL) < 0)
		return false;
	const char *line = strstr(status, "\nCapEff:");
	uint64_t caps;
	return line && sscanf(line + 8, "%" SCNx64, &caps) == 1 && (caps >> CAP_IPC_LOCK_BIT) & 1;
}

int dp_vm_memlock_judge(unsigned long long mib, bool cap_ipc_lock, unsigned long long limit_bytes,
                        struct dp_vm_report *r)
{
	unsigned long long need = mib + MEMLOCK_SLACK_MIB;
	if (cap_ipc_lock)
		return dp_vm_report_add(r, "memlock", DP_VM_OK, NULL, "CAP_IPC_LOCK: no limit on the "
		                        "%llu MiB of guest RAM VFIO pins", mib);
	if (limit_bytes == ULLONG_MAX)
		return dp_vm_report_add(r, "memlock", DP_VM_OK, NULL, "RLIMIT_MEMLOCK unlimited");
	if (limit_bytes / (1024 * 1024) >= need)
		return dp_vm_report_add(r, "memlock", DP_VM_OK, NULL, "RLIMIT_MEMLOCK %llu MiB covers "
		                        "%llu MiB of guest RAM + 1 GiB", limit_bytes >> 20, mib);
	char advice[512];
	snprintf(advice, sizeof(advice), "raise the locked-memory limit to at least %llu MiB: "
	         "ulimit -l %llu in the shell that starts the VM, LimitMEMLOCK=%lluM in its systemd "
	         "unit, or a memlock line in /etc/security/limits.conf", need, need * 1024, need);
	return dp_vm_report_add(r, "memlock", DP_VM_FAIL, advice, "RLIMIT_MEMLOCK is %llu KiB: VFIO "
	                        "pins all %llu MiB of guest RAM, which needs %llu MiB (RAM + 1 GiB) "
	                        "without CAP_IPC_LOCK", limit_bytes >> 10, mib, need);
}

/* The limit devpass runs under is the one QEMU inherits. The lifecycle raises QEMU's own
 * limit with prlimit() after the fork when it may (CAP_SYS_RESOURCE); this finding says
 * whether that is needed. */
int dp_vm_check_memlock(unsigned long long mib, struct dp_vm_report *r)
{
	struct rlimit rl = {0};
	if (getrlimit(RLIMIT_MEMLOCK, &rl) < 0)
		return dp_error_set(-errno, "cannot read RLIMIT_MEMLOCK: %s", strerror(errno));
	unsigned long long limit = rl.rlim_cur == RLIM_INFINITY ? ULLONG_MAX : (unsigned long long)rl.rlim_cur;
	return dp_vm_memlock_judge(mib, has_cap_ipc_lock(), limit, r);
}

/* ---- huge pages --------------------------------------------------------------------- */

/* "2 MiB", "1 GiB" */
static void page_size_text(unsigned long long kib, char *out, size_t size)
{
	if (kib >= 1024 * 1024 && kib % (1024 * 1024) == 0)
		snprintf(out, size, "%llu GiB", kib >> 20);
	else if (kib >= 1024 && kib % 1024 == 0)
		snprintf(out, size, "%llu MiB", kib >> 10);
	else
		snprintf(out, size, "%llu KiB", kib);
}

/* The kernel command line's form: "2M", "1G" */
static void kernel_size_text(unsigned long long kib, char *out, size_t size)
{
	if (kib % (1024 * 1024) == 0)
		snprintf(out, size, "%lluG", kib >> 20);
	else if (kib % 1024 == 0)
		snprintf(out, size, "%lluM", kib >> 10);
	else
		snprintf(out, size, "%lluK", kib);
}

/* hugetlbfs's pagesize= option: "2M", "1024M", "1G" */
static unsigned long long page_size_parse(const char *text)
{
	char *end;
	unsigned long long v = strtoull(text, &end, 10);
	switch (*end) {
	case 'K': case 'k': return v;
	case 'M': case 'm': return v << 10;
	case 'G': case 'g': return v << 20;
	default: return *end ? 0 : v >> 10;
	}
}

static unsigned long long default_page_kib(void)
{
	_cleanup_free_ char *meminfo = NULL;
	unsigned long long kib = 0;
	if (dp_fs_read_all("proc/meminfo", &meminfo, NULL) == 0) {
		const char *line = strstr(meminfo, "Hugepagesize:");
		if (line)
			sscanf(line + 13, "%llu", &kib);
	}
	return kib;
}

static long long pool_read(unsigned long long page_kib, const char *file)
{
	char path[128], text[32];
	snprintf(path, sizeof(path), "sys/kernel/mm/hugepages/hugepages-%llukB/%s", page_kib, file);
	return dp_fs_read_line(path, text, sizeof(text)) > 0 ? strtoll(text, NULL, 10) : -1;
}

static void hugetlb_mount_fill(const struct crit_mount *cm, struct dp_vm_hugetlb_mount *m)
{
	char opt[32];
	memset(m, 0, sizeof(*m));
	snprintf(m->path, sizeof(m->path), "%s", cm->point + (cm->point[0] == '/'));
	m->page_kib = crit_option(cm->options, "pagesize", opt, sizeof(opt)) ? page_size_parse(opt)
	                                                                        : default_page_kib();
	m->fs = dp_fs_is_hugetlbfs(m->path);
	m->free_pages = pool_read(m->page_kib, "free_hugepages");
	m->total_pages = pool_read(m->page_kib, "nr_hugepages");
}

/* Every hugetlbfs line of devpass's mount table, in its order. */
static int hugetlb_mounts_read(struct dp_vm_hugetlb_mount **out, size_t *n)
{
	_cleanup_free_ char *text = NULL;
	*out = NULL;
	*n = 0;
	int r = dp_fs_read_all("proc/self/mountinfo", &text, NULL);
	if (r < 0)
		return dp_error_set(r, "cannot read proc/self/mountinfo: %s", strerror(-r));
	char *save = NULL;
	for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		struct crit_mount cm;
		if (!crit_mountinfo_parse_line(line, &cm) || strcmp(cm.fstype, "hugetlbfs") != 0)
			continue;
		if (dp_array_grow(out, *n, 1, sizeof(**out)) < 0)
			return dp_oom();
		hugetlb_mount_fill(&cm, &(*out)[(*n)++]);
	}
	return 0;
}

enum hugetlb_problem { HP_NONE, HP_NOT_HUGETLBFS, HP_ALIGN, HP_SHORT };

static enum hugetlb_problem hugetlb_mount_judge(const struct dp_vm_hugetlb_mount *m,
                                                unsigned long long mib, char *why, size_t size)
{
	char page[32];
	page_size_text(m->page_kib, page, sizeof(page));
	unsigned long long need = m->page_kib ? (mib * 1024 + m->page_kib - 1) / m->page_kib : 0;
	if (m->fs < 0)
		snprintf(why, size, "/%s cannot be opened (%s)", m->path, strerror(-m->fs));
	else if (m->fs == 0)
		snprintf(why, size, "/%s is not hugetlbfs (QEMU would keep guest RAM in a regular file "
		         "there, on ordinary pages)", m->path);
	if (m->fs <= 0)
		return HP_NOT_HUGETLBFS;
	if (!m->page_kib || (mib * 1024) % m->page_kib) {
		snprintf(why, size, "/%s: %llu MiB is not a whole number of its %s pages", m->path, mib, page);
		return HP_ALIGN;
	}
	if (m->free_pages < 0 || (unsigned long long)m->free_pages < need) {
		snprintf(why, size, "/%s: %lld free %s pages, %llu needed", m->path,
		         m->free_pages < 0 ? 0 : m->free_pages, page, need);
		return HP_SHORT;
	}
	snprintf(why, size, "%lld free %s pages at /%s cover %llu MiB", m->free_pages, page, m->path, mib);
	return HP_NONE;
}

/* What would help, for the kinds of problem met (bits of 1 << enum hugetlb_problem). */
static void hugetlb_advice(unsigned kinds, const struct dp_vm_hugetlb_mount *m, size_t n,
                           unsigned long long mib, char *out, size_t size)
{
	size_t len = 0;
	out[0] = '\0';
	if (kinds & (1u << HP_NOT_HUGETLBFS) || n == 0)
		len += (size_t)snprintf(out, size, "mount one: mount -t hugetlbfs hugetlbfs "
		                        "/dev/hugepages (or an fstab line); ");
	for (size_t i = 0; len < size && i < n && kinds & (1u << HP_SHORT); i++) {
		if (m[i].fs != 1 || !m[i].page_kib)
			continue;
		unsigned long long need = (mib * 1024 + m[i].page_kib - 1) / m[i].page_kib;
		long long used = m[i].total_pages > m[i].free_pages ? m[i].total_pages - m[i].free_pages : 0;
		char arg[32];
		kernel_size_text(m[i].page_kib, arg, sizeof(arg));
		len += (size_t)snprintf(out + len, size - len, "reserve pages: echo %llu > /sys/kernel/mm/"
		                        "hugepages/hugepages-%llukB/nr_hugepages, or hugepagesz=%s "
		                        "hugepages=%llu on the kernel command line; ", used + need,
		                        m[i].page_kib, arg, used + need);
		break;
	}
	if (len < size && kinds & (1u << HP_ALIGN))
		snprintf(out + len, size - len, "give the VM a memory size that is a multiple of the page size; ");
	len = strlen(out);
	if (len >= 2)
		out[len - 2] = '\0';   /* the last "; " */
}

int dp_vm_hugepages_judge(const struct dp_vm_hugetlb_mount *m, size_t n, unsigned long long mib,
                          char *mount, size_t size, struct dp_vm_report *r)
{
	char why[512], problems[2048] = "", advice[1024];
	unsigned kinds = 0;
	for (size_t i = 0; i < n; i++) {
		enum hugetlb_problem p = hugetlb_mount_judge(&m[i], mib, why, sizeof(why));
		if (p == HP_NONE) {
			snprintf(mount, size, "%s", m[i].path);
			return dp_vm_report_add(r, "hugepages", DP_VM_OK, NULL, "%s", why);
		}
		kinds |= 1u << p;
		size_t len = strlen(problems);
		snprintf(problems + len, sizeof(problems) - len, "%s%s", len ? "; " : "", why);
	}
	mount[0] = '\0';
	hugetlb_advice(kinds, m, n, mib, advice, sizeof(advice));
	if (n == 0)
		return dp_vm_report_add(r, "hugepages", DP_VM_FAIL, advice, "no hugetlbfs is mounted");
	return dp_vm_report_add(r, "hugepages", DP_VM_FAIL, advice, "no huge pages for %llu MiB: %s",
	                        mib, problems);
}

int dp_vm_check_hugepages(unsigned long long mib, char *mount, size_t size,
                          struct dp_vm_report *r)
{
	_cleanup_free_ struct dp_vm_hugetlb_mount *m = NULL;
	size_t n;
	int ret = hugetlb_mounts_read(&m, &n);
	if (ret < 0)
		return ret;
	return dp_vm_hugepages_judge(m, n, mib, mount, size, r);
}

/* ---- NUMA ----------------------------------------------------------------------------- */

static int device_node_read(const char *address)
{
	char path[PATH_MAX], text[16];
	snprintf(path, sizeof(path), "sys/bus/pci/devices/%s/numa_node", address);
	if (dp_fs_read_line(path, text, sizeof(text)) <= 0)
		return DP_NO_NUMA;
	int n = atoi(text);
	return n < 0 ? DP_NO_NUMA : n;
}

/* A WARN when the VM's devices sit on different nodes: one of them DMAs across. */
static int devices_spread_check(const struct dp_vm_def *def, struct dp_vm_report *r)
{
	char where[1024] = "";
	int first = DP_NO_NUMA;
	bool spread = false;
	for (size_t i = 0; i < def->ndevices; i++) {
		const char *address = def->devices[i].address;
		int n = address[0] ? device_node_read(address) : DP_NO_NUMA;
		if (n == DP_NO_NUMA)
			continue;
		size_t len = strlen(where);
		snprintf(where + len, sizeof(where) - len, "%s%s on node %d", len ? ", " : "", address, n);
		spread |= first != DP_NO_NUMA && n != first;
		if (first == DP_NO_NUMA)
			first = n;
	}
	if (!spread)
		return 0;
	return dp_vm_report_add(r, "numa", DP_VM_WARN, "devices of one node keep all DMA local",
	                        "devices on different NUMA nodes: %s", where);
}

static unsigned long long node_memfree_kib(int node)
{
	char path[64];
	_cleanup_free_ char *text = NULL;
	unsigned long long kib = ULLONG_MAX;   /* unknown: no warning */
	snprintf(path, sizeof(path), NODE_DIR "/node%d/meminfo", node);
	if (dp_fs_read_all(path, &text, NULL) == 0) {
		const char *line = strstr(text, "MemFree:");
		if (line)
			sscanf(line + 8, "%llu", &kib);
	}
	return kib;
}

/* Guest RAM bound to the node must fit in what it has free. Huge pages are reserved
 * ahead, outside MemFree: the hugepages finding covers them. */
static int node_memory_check(const struct dp_vm_def *def, int node, struct dp_vm_report *r)
{
	unsigned long long free_kib = node_memfree_kib(node);
	if (def->hugepages || free_kib == ULLONG_MAX || free_kib / 1024 >= def->memory_mib)
		return 0;
	return dp_vm_report_add(r, "numa memory", DP_VM_WARN, "a smaller memory size, or another "
	                        "node, lets the guest's RAM fit where it is bound",
	                        "node %d has %llu MiB free, less than the %llu MiB of guest RAM "
	                        "bound to it", node, free_kib / 1024, def->memory_mib);
}

/* The node the VM is pinned to: it must exist and have CPUs. */
static int pinned_check(const struct dp_vm_def *def, int target, int devices_node,
                        struct dp_vm_report *r)
{
	char cpus[1024], online[256] = "?";
	dp_fs_read_line(NODE_DIR "/online", online, sizeof(online));
	if (node_cpulist(target, cpus, sizeof(cpus)) < 0)
		return dp_vm_report_add(r, "numa", DP_VM_FAIL, "choose an online node", "NUMA node %d "
		                        "does not exist (online nodes: %s)", target, online);
	if (!cpus[0])
		return dp_vm_report_add(r, "numa", DP_VM_FAIL, "choose a node with CPUs", "NUMA node %d "
		                        "has no CPUs (online nodes: %s)", target, online);
	int ret = dp_vm_report_add(r, "numa", DP_VM_OK, NULL, "vCPUs pinned to node %d's CPUs (%s), "
	                           "memory bound to node %d", target, cpus, target);
	if (ret == 0 && devices_node != DP_NO_NUMA && devices_node != target)
		ret = dp_vm_report_add(r, "numa", DP_VM_WARN, NULL, "the devices are on node %d, the VM "
		                       "on node %d: their DMA crosses nodes", devices_node, target);
	return ret < 0 ? ret : node_memory_check(def, target, r);
}

int dp_vm_check_numa(const struct dp_vm_def *def, int node, struct dp_vm_report *r)
{
	if (dp_vm_host_nodes() <= 1)
		return dp_vm_report_add(r, "numa", DP_VM_OK, NULL, "one NUMA node: nothing to pin");
	int ret = devices_spread_check(def, r);
	if (ret < 0)
		return ret;
	if (def->numa == DP_VM_NUMA_NONE && node != DP_NO_NUMA) {
		char advice[96];
		snprintf(advice, sizeof(advice), "pinning to node %d would keep DMA local", node);
		return dp_vm_report_add(r, "numa", DP_VM_WARN, advice, "vCPUs and memory not pinned; "
		                        "the devices are on node %d", node);
	}
	if (def->numa == DP_VM_NUMA_NONE)
		return dp_vm_report_add(r, "numa", DP_VM_OK, NULL, "not pinned (the devices' NUMA node "
		                        "is unknown)");
	if (def->numa == DP_VM_NUMA_AUTO && node == DP_NO_NUMA)
		return dp_vm_report_add(r, "numa", DP_VM_OK, NULL, "the devices' NUMA node is unknown: "
		                        "vCPUs and memory not pinned");
	return pinned_check(def, def->numa == DP_VM_NUMA_AUTO ? node : def->numa, node, r);
}
