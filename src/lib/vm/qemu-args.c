/* The QEMU command line of a VM. Every device gets an explicit bus and address, so nothing
 * QEMU places by itself can collide with them:
 *   pcie.0 00.0 host bridge, 01.0 VGA (vnc), 02.0 virtio-net, 03.0 virtio-blk disk,
 *          1f.x the q35 chipset (the seed CD-ROM hangs off its AHCI, ide.2)
 *   pcie.0 04.0 qemu-xhci, when USB devices are passed (usb-host on its bus xhci.0)
 *   pcie.0 10.0-17.7 one pcie-root-port per passed host slot, chassis = port = index+1
 * A host slot's functions of one IOMMU group share a port (a GPU and its audio: 00.0 with
 * multifunction=on, 00.1); functions of other groups (SR-IOV VFs) get ports of their own,
 * since the guest must see function 0 of every slot. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc-util.h"
#include "util/error.h"
#include "vm/vm.h"

#define PORT_FIRST_SLOT 0x10
#define PORTS_MAX (8 * 8)        /* slots 0x10-0x17, eight functions each */

/* By slot, then group, then function: a slot's functions of one group sit together even
 * when a function of another group lies between them (they share a port) */
static int fn_compare(const void *a, const void *b)
{
	const struct dp_vm_hostfn *x = a, *y = b;
	const unsigned kx[] = { x->addr.domain, x->addr.bus, x->addr.slot };
	const unsigned ky[] = { y->addr.domain, y->addr.bus, y->addr.slot };
	for (size_t i = 0; i < 3; i++)
		if (kx[i] != ky[i])
			return kx[i] < ky[i] ? -1 : 1;
	if (x->group != y->group)
		return x->group < y->group ? -1 : 1;
	return x->addr.func < y->addr.func ? -1 : x->addr.func > y->addr.func;
}

static bool same_port(const struct dp_vm_hostfn *a, const struct dp_vm_hostfn *b)
{
	return a->addr.domain == b->addr.domain && a->addr.bus == b->addr.bus &&
	       a->addr.slot == b->addr.slot && a->group == b->group && a->group >= 0;
}

/* Assigns each function its port and guest function. A port whose functions include host
 * function 0 keeps the host numbers (what a GPU driver expects); otherwise they are
 * numbered from 0. fns is sorted in place. Returns the number of ports. */
int dp_vm_guest_layout(struct dp_vm_hostfn *fns, size_t n)
{
	qsort(fns, n, sizeof(*fns), fn_compare);
	int port = -1;
	for (size_t i = 0, first = 0; i < n; i++) {
		if (i == 0 || !same_port(&fns[i], &fns[first])) {
			first = i;
			if (++port >= PORTS_MAX)
				return dp_error_set(-E2BIG, "more than %d passed host slots in one VM", PORTS_MAX);
		}
		fns[i].port = port;
		bool keep = fns[first].addr.func == 0;
		fns[i].guest_func = keep ? (int)fns[i].addr.func : (int)(i - first);
		fns[i].multifunction = false;
		if (i > first)
			fns[first].multifunction = true;
		if (i > first && fns[i].options && !fns[first].options)
			fns[first].options = fns[i].options;   /* ROM and VGA options: function 0 */
	}
	return port + 1;
}

static int add(struct dp_strv *argv, const char *a, const char *b)
{
	return dp_strv_add(argv, a) < 0 || (b && dp_strv_add(argv, b) < 0) ? dp_oom() : 0;
}

static int addf(struct dp_strv *argv, const char *opt, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static int addf(struct dp_strv *argv, const char *opt, const char *fmt, ...)
{
	_cleanup_free_ char *v = NULL;
	va_list ap;
	va_start(ap, fmt);
	int len = vasprintf(&v, fmt, ap);
	va_end(ap);
	if (len < 0)
		return dp_oom();
	return add(argv, opt, v);
}

static int args_machine(const struct dp_vm_launch *l, struct dp_strv *argv)
{
	const struct dp_vm_def *def = l->def;
	bool secure = def->firmware == DP_VM_FW_SECURE_BOOT;
	bool backend = def->hugepages || l->host_node >= 0;
	int r = addf(argv, "-name", "%s,debug-threads=on", def->name) ?:
	        addf(argv, "-machine", "q35%s%s", secure ? ",smm=on" : "",
	             backend ? ",memory-backend=ram0" : "") ?:
	        add(argv, "-accel", l->kvm ? "kvm" : "tcg") ?:
	        add(argv, "-cpu", l->kvm ? "host" : "max") ?:
	        addf(argv, "-m", "%lluM", def->memory_mib) ?:
	        addf(argv, "-smp", "%u", def->cpus) ?:
	        add(argv, "-nodefaults", NULL) ?: add(argv, "-no-user-config", NULL);
	if (r || !backend)
		return r;
	char nodes[48] = "";
	if (l->host_node >= 0)
		snprintf(nodes, sizeof(nodes), ",host-nodes=%d,policy=bind", l->host_node);
	if (def->hugepages)
		return addf(argv, "-object", "memory-backend-file,id=ram0,size=%lluM,mem-path=%s,"
		            "prealloc=on,share=on%s", def->memory_mib, l->hugepages_dir, nodes);
	return addf(argv, "-object", "memory-backend-ram,id=ram0,size=%lluM%s", def->memory_mib, nodes);
}

static int args_firmware(const struct dp_vm_launch *l, struct dp_strv *argv)
{
	if (l->def->firmware == DP_VM_FW_BIOS)
		return 0;
	int r = l->def->firmware == DP_VM_FW_SECURE_BOOT
	        ? add(argv, "-global", "driver=cfi.pflash01,property=secure,value=on") : 0;
	return r ?: addf(argv, "-drive", "if=pflash,format=raw,unit=0,readonly=on,file=%s", l->fw_code) ?:
	       addf(argv, "-drive", "if=pflash,format=raw,unit=1,file=%s", l->fw_vars);
}

static int args_media(const struct dp_vm_launch *l, struct dp_strv *argv)
{
	const struct dp_vm_def *def = l->def;
	int r = 0;
	if (l->disk)
		r = addf(argv, "-drive", "file=%s,format=qcow2,if=none,id=disk0", l->disk) ?:
		    add(argv, "-device", "virtio-blk-pci,drive=disk0,bus=pcie.0,addr=0x3,bootindex=1");
	if (!r && l->seed)
		r = addf(argv, "-drive", "file=%s,format=raw,if=none,id=seed,media=cdrom,readonly=on",
		         l->seed) ?: add(argv, "-device", "ide-cd,drive=seed,bus=ide.2");
	if (!r && def->kernel)
		r = add(argv, "-kernel", l->kernel);
	if (!r && def->initrd)
		r = add(argv, "-initrd", l->initrd);
	if (!r && def->append)
		r = add(argv, "-append", def->append);
	return r;
}

static int args_io(const struct dp_vm_launch *l, struct dp_strv *argv)
{
	const char *run = l->rundir;
	int r = l->def->graphics == DP_VM_GRAPHICS_VNC
	        ? add(argv, "-device", "VGA,bus=pcie.0,addr=0x1") ?: addf(argv, "-vnc", "unix:%s/vnc.sock", run)
	        : add(argv, "-display", "none");
	return r ?: add(argv, "-netdev", "user,id=net0") ?:
	       add(argv, "-device", "virtio-net-pci,netdev=net0,bus=pcie.0,addr=0x2") ?:
	       addf(argv, "-chardev", "socket,id=serial0,path=%s/serial.sock,server=on,wait=off,"
	            "logfile=%s/serial.log,logappend=on", run, l->statedir) ?:
	       add(argv, "-serial", "chardev:serial0") ?:
	       addf(argv, "-qmp", "unix:%s/qmp.sock,server=on,wait=off", run) ?:
	       addf(argv, "-pidfile", "%s/qemu.pid", run) ?: add(argv, "-daemonize", NULL);
}

static int args_port(int port, int nports, struct dp_strv *argv)
{
	int slot = PORT_FIRST_SLOT + port / 8, func = port % 8;
	bool more = func == 0 && port + 1 < nports;   /* other ports share this slot */
	return addf(argv, "-device", "pcie-root-port,id=rp%d,bus=pcie.0,addr=0x%x.%d%s,chassis=%d,port=%d",
	            port, slot, func, more ? ",multifunction=on" : "", port + 1, port + 1);
}

static int args_hostfn(const struct dp_vm_hostfn *f, struct dp_strv *argv)
{
	bool opts = f->guest_func == 0 && f->options && f->options[0];
	return addf(argv, "-device", "vfio-pci,host=%s,id=hostdev%d-%d,bus=rp%d,addr=00.%d%s%s%s",
	            f->address, f->port, f->guest_func, f->port, f->guest_func,
	            f->multifunction ? ",multifunction=on" : "", opts ? "," : "", opts ? f->options : "");
}

static int args_passthrough(const struct dp_vm_launch *l, struct dp_strv *argv)
{
	for (size_t i = 0; i < l->nfns; i++) {
		int r = (i == 0 || l->fns[i].port != l->fns[i - 1].port) ? args_port(l->fns[i].port, l->nports, argv) : 0;
		if (r || (r = args_hostfn(&l->fns[i], argv)) < 0)
			return r;
	}
	return 0;
}

/* One xHCI controller (pcie.0 04.0) carries every passed USB device; usb-host follows the
 * port (a replug there is the same device to the guest) or the ids it is given. */
static int args_usb(const struct dp_vm_launch *l, struct dp_strv *argv)
{
	if (!l->usb_hosts || l->usb_hosts->n == 0)
		return 0;
	int r = add(argv, "-device", "qemu-xhci,id=xhci,bus=pcie.0,addr=0x4");
	for (size_t i = 0; r == 0 && i < l->usb_hosts->n; i++)
		r = addf(argv, "-device", "usb-host,bus=xhci.0,id=usbhost%zu,%s", i, l->usb_hosts->v[i]);
	return r;
}

/* Mediated devices come last and without an address: QEMU gives each the next free slot
 * on pcie.0 once every fixed address is taken. The path is the host's own sysfs: QEMU
 * opens it, not devpass. */
static int args_mdev(const struct dp_vm_launch *l, struct dp_strv *argv)
{
	int r = 0;
	for (size_t i = 0; r == 0 && l->mdevs && i < l->mdevs->n; i++)
		r = addf(argv, "-device", "vfio-pci,id=mdev%zu,sysfsdev=/sys/bus/mdev/devices/%s", i,
		         l->mdevs->v[i]);
	return r;
}

/* The whole command line; l->fns must have been laid out by dp_vm_guest_layout. */
int dp_vm_qemu_argv(const struct dp_vm_launch *l, struct dp_strv *argv)
{
	return add(argv, l->qemu, NULL) ?: args_machine(l, argv) ?: args_firmware(l, argv) ?:
	       args_media(l, argv) ?: args_io(l, argv) ?: args_passthrough(l, argv) ?:
	       args_usb(l, argv) ?: args_mdev(l, argv);
}
