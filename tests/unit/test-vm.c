/* vm: starting, stopping and crashing VMs with devices through the in-process fake kernel
 * on the `vmhost` tree, QEMU played by tests/fixtures/fake-qemu.py ($DEVPASS_QEMU); and the
 * guest layout of the QEMU command line over many random sets of host functions. */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "devpass.h"
#include "fixture-env.h"
#include "fs/sysroot.h"
#include "vm/vm.h"

#define GPU "0000:01:00.0"         /* RTX 3090 on nouveau, group 1 */
#define GPU_AUDIO "0000:01:00.1"   /* its audio, snd_hda_intel */
#define VF "0000:04:00.2"          /* the first free VF of the pool (mlx5_core, group 13) */
#define VM "v1"

/* A VM with the GPU (its audio comes along: one group) and one member of pool vfs. */
static void vm_create(struct fk_fx *f, const char *name, const char *address)
{
	struct dp_vm_device devs[2] = {
		{ .want = DP_VM_WANT_ADDRESS },
		{ .want = DP_VM_WANT_POOL, .spec = "vfs", .count = 1 },
	};
	snprintf(devs[0].spec, sizeof(devs[0].spec), "%s", address);
	struct dp_vm_def def = { .memory_mib = 256, .cpus = 1, .firmware = DP_VM_FW_BIOS,
	                         .numa = DP_VM_NUMA_NONE, .devices = devs, .ndevices = 2 };
	snprintf(def.name, sizeof(def.name), "%s", name);
	def.kernel = (char *)"/vmlinuz";
	struct dp_vm_report rep = {0};
	int r = dp_vm_create(&def, &f->list, NULL, &rep);
	if (r < 0)
		fail_msg("vm create %s: %s", name, dp_error_message());
	dp_vm_report_free(&rep);
}

static void vm_destroy(const char *name)
{
	struct dp_vm_options o = { .force = true, .timeout_ms = 5000 };
	if (dp_vm_destroy(name, &o) < 0)
		fail_msg("vm destroy %s: %s", name, dp_error_message());
}

static void assert_driver(const char *addr, const char *want)
{
	char now[64];
	fk_driver(NULL, addr, now, sizeof(now));
	if (strcmp(now, want) != 0)
		fail_msg("%s is on '%s', expected '%s'", addr, now, want);
}

static void assert_override(const char *addr, const char *want)
{
	char now[64];
	fk_override(NULL, addr, now, sizeof(now));
	if (strcmp(now, want) != 0)
		fail_msg("%s has driver_override '%s', expected '%s'", addr, now, want);
}

static void assert_no_ledger(const char *addr)
{
	char was[64];
	dp_ledger_original_driver(addr, was);
	if (was[0])
		fail_msg("the ledger still has '%s' for %s", was, addr);
}

/* Every device where the tree had it, nothing claimed, nothing recorded, VM stopped. */
static void assert_all_back(struct fk_fx *f, const char *name)
{
	assert_driver(GPU, "nouveau");
	assert_driver(GPU_AUDIO, "snd_hda_intel");
	assert_driver(VF, "mlx5_core");
	const char *all[] = { GPU, GPU_AUDIO, VF };
	for (size_t i = 0; i < 3; i++) {
		assert_override(all[i], "");
		assert_no_ledger(all[i]);
	}
	fk_fx_rescan(f);
	struct dp_claim_list c = {0};
	assert_int_equal(dp_claims_read(&f->list, NULL, &c), 0);
	if (c.n)
		fail_msg("%zu claim(s) left, the first %s by %s", c.n, c.c[0].address, c.c[0].owner);
	dp_claim_list_free(&c);
	struct dp_vm_status st = {0};
	assert_int_equal(dp_vm_get(name, NULL, &st), 0);
	assert_int_equal(st.state, DP_VM_STOPPED);
	assert_int_equal(st.ntaken, 0);
	assert_int_equal(st.qemu_pid, 0);
	dp_vm_status_free(&st);
}

static int vm_start(struct fk_fx *f, const char *name, const char *mode)
{
	setenv("FAKE_QEMU_MODE", mode, 1);
	struct dp_vm_options o = { .timeout_ms = 5000 };
	struct dp_vm_report rep = {0};
	int r = dp_vm_start(name, &f->list, &o, &rep);
	dp_vm_report_free(&rep);
	setenv("FAKE_QEMU_MODE", "run", 1);
	fk_fx_rescan(f);
	return r;
}

static pid_t qemu_pid_of(const char *name)
{
	struct dp_vm_status st = {0};
	assert_int_equal(dp_vm_get(name, NULL, &st), 0);
	pid_t pid = st.qemu_pid;
	dp_vm_status_free(&st);
	return pid;
}

static bool pid_ended(pid_t pid)
{
	char path[64], buf[512];
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	FILE *s = fopen(path, "r");
	if (!s)
		return true;
	size_t n = fread(buf, 1, sizeof(buf) - 1, s);
	fclose(s);
	buf[n] = '\0';
	const char *paren = strrchr(buf, ')');   /* a zombie nobody reaps has ended too */
	return !paren || paren[1] == '\0' || paren[2] == 'Z' || paren[2] == 'X';
}

/* (a) QEMU fails to start: every device where it was, QEMU's line in the error. */
static void test_qemu_fails(void **state)
{
	struct fk_fx *f = *state;
	vm_create(f, VM, GPU);
	int r = vm_start(f, VM, "fail");
	assert_true(r < 0);
	const char *msg = dp_error_message();
	if (!strstr(msg, "group 40 is not viable") || !strstr(msg, "given back"))
		fail_msg("the error lacks QEMU's line or 'given back': %s", msg);
	assert_all_back(f, VM);
	vm_destroy(VM);
}

/* (b) QEMU runs: the devices on vfio-pci, the claim the VM's and tied to QEMU; stop gives
 * every one back. */
static void test_start_stop(void **state)
{
	struct fk_fx *f = *state;
	vm_create(f, VM, GPU);
	if (vm_start(f, VM, "run") < 0)
		fail_msg("start: %s", dp_error_message());
	pid_t qemu = qemu_pid_of(VM);
	assert_true(qemu > 0);
	assert_driver(GPU, "vfio-pci");
	assert_driver(GPU_AUDIO, "vfio-pci");
	assert_driver(VF, "vfio-pci");
	struct dp_claim_list c = {0};
	assert_int_equal(dp_claims_read(&f->list, "vm:" VM, &c), 0);
	assert_int_equal(c.n, 1);
	assert_string_equal(c.c[0].address, VF);
	assert_string_equal(c.c[0].owner, "vm:" VM);
	assert_int_equal(c.c[0].pid, qemu);
	dp_claim_list_free(&c);
	struct dp_vm_status st = {0};
	assert_int_equal(dp_vm_get(VM, NULL, &st), 0);
	assert_int_equal(st.state, DP_VM_RUNNING);
	assert_int_equal(st.ntaken, 3);
	dp_vm_status_free(&st);

	/* a second start of a running VM changes nothing */
	assert_int_equal(vm_start(f, VM, "run"), -EBUSY);
	assert_int_equal(qemu_pid_of(VM), qemu);

	struct dp_vm_options o = { .timeout_ms = 5000 };
	struct dp_claim_list rel = {0};
	if (dp_vm_stop(VM, &f->list, &o, &rel) < 0)
		fail_msg("stop: %s", dp_error_message());
	/* a named device is reset before it goes back, as pool members are, whenever the
	 * kernel offers a reset for it (this GPU shares its bus with its audio and has no FLR) */
	for (size_t i = 0; i < rel.n; i++) {
		const struct dp_pci_device *d = dp_pci_list_find(&f->list, rel.c[i].address);
		char methods[128];
		bool resettable = d && dp_reset_methods(d, methods, sizeof(methods)) == 0;
		if (rel.c[i].reset != resettable)
			fail_msg("stop: %s reset=%d, but the kernel %s a reset", rel.c[i].address,
			         rel.c[i].reset, resettable ? "offers" : "offers no");
	}
	dp_claim_list_free(&rel);
	for (int i = 0; i < 50 && !pid_ended(qemu); i++)
		usleep(100 * 1000);
	assert_true(pid_ended(qemu));
	assert_all_back(f, VM);
	vm_destroy(VM);
}

/* (b2) a named device the kernel can reset (FLR) is reset before it goes back to nvme */
static void test_named_reset(void **state)
{
	struct fk_fx *f = *state;
	const char *nvme = "0000:50:00.0";   /* the spare NVMe, alone on its bus */
	vm_create(f, VM, nvme);
	if (vm_start(f, VM, "run") < 0)
		fail_msg("start: %s", dp_error_message());
	assert_driver(nvme, "vfio-pci");
	struct dp_vm_options o = { .timeout_ms = 5000 };
	struct dp_claim_list rel = {0};
	if (dp_vm_stop(VM, &f->list, &o, &rel) < 0)
		fail_msg("stop: %s", dp_error_message());
	bool reset = false;
	for (size_t i = 0; i < rel.n; i++)
		reset |= strcmp(rel.c[i].address, nvme) == 0 && rel.c[i].reset;
	if (!reset)
		fail_msg("stop did not reset %s (warnings: %s)", nvme, rel.warnings.n ? rel.warnings.v[0] : "none");
	dp_claim_list_free(&rel);
	assert_driver(nvme, "nvme");
	vm_destroy(VM);
}

/* (c) QEMU killed: the supervisor gives the devices back with no call. */
static void test_crash_supervisor(void **state)
{
	struct fk_fx *f = *state;
	vm_create(f, VM, GPU);
	if (vm_start(f, VM, "run") < 0)
		fail_msg("start: %s", dp_error_message());
	pid_t qemu = qemu_pid_of(VM);
	assert_true(qemu > 0);
	assert_driver(GPU, "vfio-pci");
	assert_int_equal(kill(qemu, SIGKILL), 0);
	char gpu[64] = "", vf[64] = "";
	for (int i = 0; i < 100; i++) {   /* 10 s */
		fk_driver(NULL, GPU, gpu, sizeof(gpu));
		fk_driver(NULL, VF, vf, sizeof(vf));
		if (strcmp(gpu, "nouveau") == 0 && strcmp(vf, "mlx5_core") == 0)
			break;
		usleep(100 * 1000);
	}
	if (strcmp(gpu, "nouveau") != 0 || strcmp(vf, "mlx5_core") != 0) {
		char log[600], text[2048] = "";
		snprintf(log, sizeof(log), "%s/var/lib/devpass/vm/" VM "/supervisor.log", f->root);
		FILE *l = fopen(log, "r");
		if (l) {
			text[fread(text, 1, sizeof(text) - 1, l)] = '\0';
			fclose(l);
		}
		fail_msg("10 s after the kill: %s on '%s', %s on '%s'; supervisor log: %s", GPU, gpu,
		         VF, vf, text);
	}
	/* the supervisor ends the run once the devices are back: wait for its record */
	struct dp_vm_status st = {0};
	for (int i = 0; i < 50; i++) {
		dp_vm_status_free(&st);
		memset(&st, 0, sizeof(st));
		assert_int_equal(dp_vm_get(VM, NULL, &st), 0);
		if (st.state == DP_VM_STOPPED && st.ntaken == 0 && strstr(st.last_exit, "without a stop"))
			break;   /* (the state is derived at once; the supervisor's record follows) */
		usleep(100 * 1000);
	}
	if (!strstr(st.last_exit, "without a stop"))
		fail_msg("last exit: '%s'", st.last_exit);
	dp_vm_status_free(&st);
	assert_all_back(f, VM);
	vm_destroy(VM);
}

/* Two VMs asking for one device: the second start fails and changes nothing. */
static void test_two_vms_one_device(void **state)
{
	struct fk_fx *f = *state;
	vm_create(f, "a", GPU);
	vm_create(f, "b", GPU);
	if (vm_start(f, "a", "run") < 0)
		fail_msg("start a: %s", dp_error_message());
	pid_t qemu = qemu_pid_of("a");
	int r = vm_start(f, "b", "run");
	assert_true(r < 0);
	if (!strstr(dp_error_message(), GPU))
		fail_msg("the refusal does not name %s: %s", GPU, dp_error_message());
	struct dp_vm_status st = {0};
	assert_int_equal(dp_vm_get("b", NULL, &st), 0);
	assert_int_equal(st.state, DP_VM_STOPPED);
	assert_int_equal(st.ntaken, 0);
	dp_vm_status_free(&st);
	assert_driver(GPU, "vfio-pci");   /* still a's */
	assert_int_equal(qemu_pid_of("a"), qemu);
	assert_false(pid_ended(qemu));
	struct dp_vm_options o = { .timeout_ms = 5000 };
	assert_int_equal(dp_vm_stop("a", &f->list, &o, NULL), 0);
	assert_all_back(f, "a");
	vm_destroy("a");
	vm_destroy("b");
}

/* ---- (d) the guest layout over random device sets --------------------------------------- */

static unsigned rnd(unsigned n)
{
	return (unsigned)(random() % n);
}

/* A random set of distinct host functions: slots with some functions, groups shared by
 * some functions of a slot, VFs (functions of their own group), options here and there. */
static size_t random_set(struct dp_vm_hostfn *fns, size_t max)
{
	static const char *const opts[] = { "x-vga=on", "rombar=0", "x-vga=on,rombar=0" };
	size_t n = 0;
	int group = 1;
	unsigned slots = 1 + rnd(10);
	for (unsigned s = 0; s < slots && n < max; s++) {
		unsigned bus = rnd(4) * 0x10 + rnd(3), slot = rnd(4);
		bool vfs = rnd(3) == 0;
		int slot_group = group++;
		unsigned mask = 1 + rnd(255);
		for (unsigned fn = 0; fn < 8 && n < max; fn++) {
			if (!(mask & (1u << fn)))
				continue;
			struct dp_vm_hostfn h = { .addr = { 0, bus, slot, fn } };
			dp_pci_addr_format(&h.addr, h.address);
			bool dup = false;
			for (size_t i = 0; i < n; i++)
				dup |= strcmp(fns[i].address, h.address) == 0;
			if (dup)
				continue;
			h.group = vfs || rnd(4) == 0 ? group++ : slot_group;
			h.options = rnd(5) == 0 ? opts[rnd(3)] : NULL;
			fns[n++] = h;
		}
	}
	return n;
}

static bool option_in(const char *dev)
{
	return strstr(dev, "x-vga=") || strstr(dev, "rombar=");
}

/* "addr=0x10.3" / "addr=0x2" / "addr=00.5" -> slot*8+func */
static int dev_addr(const char *dev, const char **bus_out, size_t *bus_len)
{
	const char *b = strstr(dev, "bus="), *a = strstr(dev, ",addr=");
	if (!b || !a)
		return -1;
	*bus_out = b + 4;
	*bus_len = strcspn(b + 4, ",");
	unsigned slot = 0, func = 0;
	const char *v = a + 6;
	char *end;
	slot = (unsigned)strtoul(v, &end, strncmp(v, "0x", 2) == 0 ? 16 : 16);
	if (*end == '.')
		func = (unsigned)strtoul(end + 1, NULL, 10);
	return (int)(slot * 8 + func);
}

struct seen {
	char bus[32];
	int addr;
};

static void check_argv(const struct dp_strv *argv, const struct dp_vm_hostfn *fns, size_t n,
                       int nports, unsigned iter)
{
	struct seen seen[256];
	size_t nseen = 0;
	int chassis[128] = {0}, port_f0[128] = {0};
	char host_bus[64][32];
	for (size_t i = 0; i + 1 < argv->n; i++) {
		if (strcmp(argv->v[i], "-device") != 0)
			continue;
		const char *dev = argv->v[i + 1], *bus;
		size_t blen;
		int addr = dev_addr(dev, &bus, &blen);
		if (addr < 0)
			continue;   /* ide-cd on ide.2: no PCI address of ours */
		for (size_t k = 0; k < nseen; k++)
			if (strlen(seen[k].bus) == blen && strncmp(seen[k].bus, bus, blen) == 0 && seen[k].addr == addr)
				fail_msg("set %u: two devices at %.*s addr %d: %s", iter, (int)blen, bus, addr, dev);
		assert_true(nseen < 256 && blen < 32);
		snprintf(seen[nseen].bus, sizeof(seen[nseen].bus), "%.*s", (int)blen, bus);
		seen[nseen++].addr = addr;
		int c, p;
		const char *ch = strstr(dev, "chassis=");
		if (strncmp(dev, "pcie-root-port,", 15) == 0) {
			assert_non_null(ch);
			assert_int_equal(sscanf(ch, "chassis=%d,port=%d", &c, &p), 2);
			assert_true(c > 0 && c < 128 && p == c);
			if (chassis[c]++)
				fail_msg("set %u: chassis %d twice", iter, c);
		}
		if (strncmp(dev, "vfio-pci,", 9) == 0) {
			int port = atoi(bus + 2);
			assert_true(port >= 0 && port < nports);
			if (addr % 8 == 0)
				port_f0[port] = 1;
			else if (option_in(dev))
				fail_msg("set %u: options on a function other than 0: %s", iter, dev);
			const char *host = strstr(dev, "host=") + 5;
			for (size_t k = 0; k < n; k++)
				if (strncmp(fns[k].address, host, strlen(fns[k].address)) == 0)
					snprintf(host_bus[k], sizeof(host_bus[k]), "%.*s", (int)blen, bus);
		}
	}
	for (int p = 0; p < nports; p++)
		if (!port_f0[p])
			fail_msg("set %u: port rp%d has no guest function 0", iter, p);
	for (size_t a = 0; a < n; a++)
		for (size_t b = a + 1; b < n; b++) {
			bool same = fns[a].addr.bus == fns[b].addr.bus && fns[a].addr.slot == fns[b].addr.slot &&
			            fns[a].group == fns[b].group;
			if (same && strcmp(host_bus[a], host_bus[b]) != 0)
				fail_msg("set %u: %s and %s (one slot, group %d) on %s and %s", iter, fns[a].address,
				         fns[b].address, fns[a].group, host_bus[a], host_bus[b]);
		}
}

static void test_layout_random(void **state)
{
	(void)state;
	srandom(20261205);
	struct dp_vm_def def = { .memory_mib = 1024, .cpus = 2, .firmware = DP_VM_FW_BIOS,
	                         .numa = DP_VM_NUMA_NONE };
	snprintf(def.name, sizeof(def.name), "layout");
	unsigned laid_out = 0, shared_ports = 0;
	for (unsigned iter = 0; iter < 500; iter++) {
		struct dp_vm_hostfn fns[64];
		size_t n = random_set(fns, 64);
		int nports = dp_vm_guest_layout(fns, n);
		if (nports < 0) {   /* more host slots than ports: refused, never laid out wrong */
			assert_int_equal(nports, -E2BIG);
			continue;
		}
		struct dp_vm_launch l = { .def = &def, .qemu = "qemu-system-x86_64", .host_node = -1,
		                          .rundir = "/run/x", .statedir = "/var/x", .fns = fns, .nfns = n,
		                          .nports = nports };
		struct dp_strv argv = {0};
		assert_int_equal(dp_vm_qemu_argv(&l, &argv), 0);
		check_argv(&argv, fns, n, nports, iter);
		dp_strv_free(&argv);
		laid_out++;
		shared_ports += (size_t)nports < n;
	}
	/* the sets are what they are meant to be: most fit, many share ports */
	if (laid_out < 450 || shared_ports < 200)
		fail_msg("%u of 500 sets laid out, %u with functions sharing a port", laid_out, shared_ports);
}

/* --usb: one xHCI at its own address, then one usb-host per device, by port or by id; a
 * spec that is neither is refused, and no controller appears without USB devices. */
static void test_usb_args(void **state)
{
	(void)state;
	struct dp_vm_def def = { .memory_mib = 512, .cpus = 1, .firmware = DP_VM_FW_BIOS,
	                         .numa = DP_VM_NUMA_NONE };
	snprintf(def.name, sizeof(def.name), "usb");
	struct dp_strv hosts = {0}, argv = {0};
	assert_int_equal(dp_vm_usb_spec_kind("3-1.2"), VM_USB_PORT);
	assert_int_equal(dp_vm_usb_spec_kind("046d:c52b"), VM_USB_ID);
	assert_int_equal(dp_vm_usb_spec_kind("keyboards"), VM_USB_POOL);
	assert_int_equal(dp_vm_usb_spec_kind("1-"), VM_USB_POOL);
	assert_int_equal(dp_vm_usb_host_add(&hosts, VM_USB_PORT, "3-1.2"), 0);
	assert_int_equal(dp_vm_usb_host_add(&hosts, VM_USB_ID, "046d:c52b"), 0);
	assert_int_equal(dp_vm_usb_host_add(&hosts, VM_USB_POOL, "keyboards"), -EINVAL);
	struct dp_vm_launch l = { .def = &def, .qemu = "qemu-system-x86_64", .host_node = -1,
	                          .rundir = "/run/x", .statedir = "/var/x", .usb_hosts = &hosts };
	assert_int_equal(dp_vm_qemu_argv(&l, &argv), 0);
	assert_true(argv.n >= 6);
	assert_string_equal(argv.v[argv.n - 6], "-device");
	assert_string_equal(argv.v[argv.n - 5], "qemu-xhci,id=xhci,bus=pcie.0,addr=0x4");
	assert_string_equal(argv.v[argv.n - 3], "usb-host,bus=xhci.0,id=usbhost0,hostbus=3,hostport=1.2");
	assert_string_equal(argv.v[argv.n - 1],
	                    "usb-host,bus=xhci.0,id=usbhost1,vendorid=0x046d,productid=0xc52b");
	dp_strv_free(&argv);
	dp_strv_free(&hosts);
	assert_int_equal(dp_vm_qemu_argv(&l, &argv), 0);   /* no devices: no controller */
	for (size_t i = 0; i < argv.n; i++)
		assert_null(strstr(argv.v[i], "xhci"));
	dp_strv_free(&argv);
}

/* --mdev: one vfio-pci per claimed mediated device, by its sysfs path and without an
 * address (after every fixed one), none without devices. */
static void test_mdev_args(void **state)
{
	(void)state;
	struct dp_vm_def def = { .memory_mib = 512, .cpus = 1, .firmware = DP_VM_FW_BIOS,
	                         .numa = DP_VM_NUMA_NONE };
	snprintf(def.name, sizeof(def.name), "vgpu");
	struct dp_strv mdevs = {0}, hosts = {0}, argv = {0};
	assert_int_equal(dp_strv_add(&mdevs, "8a1b2c3d-0000-4000-8000-000000000001"), 0);
	assert_int_equal(dp_strv_add(&mdevs, "8a1b2c3d-0000-4000-8000-000000000002"), 0);
	assert_int_equal(dp_vm_usb_host_add(&hosts, VM_USB_PORT, "3-1.2"), 0);
	struct dp_vm_launch l = { .def = &def, .qemu = "qemu-system-x86_64", .host_node = -1,
	                          .rundir = "/run/x", .statedir = "/var/x", .usb_hosts = &hosts,
	                          .mdevs = &mdevs };
	assert_int_equal(dp_vm_qemu_argv(&l, &argv), 0);
	assert_true(argv.n >= 4);
	assert_string_equal(argv.v[argv.n - 4], "-device");
	assert_string_equal(argv.v[argv.n - 3], "vfio-pci,id=mdev0,sysfsdev=/sys/bus/mdev/devices/"
	                    "8a1b2c3d-0000-4000-8000-000000000001");
	assert_string_equal(argv.v[argv.n - 1], "vfio-pci,id=mdev1,sysfsdev=/sys/bus/mdev/devices/"
	                    "8a1b2c3d-0000-4000-8000-000000000002");
	assert_non_null(strstr(argv.v[argv.n - 5], "usb-host"));   /* after the fixed addresses */
	dp_strv_free(&argv);
	dp_strv_free(&mdevs);
	assert_int_equal(dp_vm_qemu_argv(&l, &argv), 0);
	for (size_t i = 0; i < argv.n; i++)
		assert_null(strstr(argv.v[i], "sysfsdev"));
	dp_strv_free(&argv);
	dp_strv_free(&hosts);
}

int main(void)
{
	const struct CMUnitTest lifecycle[] = {
		cmocka_unit_test(test_qemu_fails),
		cmocka_unit_test(test_start_stop),
		cmocka_unit_test(test_named_reset),
		cmocka_unit_test(test_crash_supervisor),
		cmocka_unit_test(test_two_vms_one_device),
	};
	const struct CMUnitTest layout[] = {
		cmocka_unit_test(test_layout_random),
		cmocka_unit_test(test_usb_args),
		cmocka_unit_test(test_mdev_args),
	};
	int failed = cmocka_run_group_tests_name("vm lifecycle", lifecycle, fk_fx_vmhost_setup, fk_fx_teardown);
	failed += cmocka_run_group_tests_name("vm layout", layout, NULL, NULL);
	return failed ? 1 : 0;
}
