/* devpass vm create NAME [IMAGE] --memory SIZE --cpus N [devices] [firmware] [boot] [--start] */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "alloc-util.h"
#include "cli.h"
#include "vm-cli.h"

enum {
	O_MEMORY = 1, O_CPUS, O_GPU, O_NVME, O_PASS, O_POOL, O_UEFI, O_BIOS, O_SECURE, O_CLOUD,
	O_SSHKEY, O_GRAPHICS, O_KERNEL, O_INITRD, O_APPEND, O_NUMA, O_HUGE, O_START, O_DRY, O_TIMEOUT, O_USB, O_MDEV
};

static const struct cli_option create_options[] = {
	{"memory", 'm', true, O_MEMORY}, {"cpus", 'c', true, O_CPUS}, {"gpu", 0, true, O_GPU},
	{"nvme", 0, true, O_NVME}, {"passthrough", 'p', true, O_PASS}, {"pool", 0, true, O_POOL},
	{"uefi", 0, false, O_UEFI}, {"bios", 0, false, O_BIOS}, {"secure-boot", 0, false, O_SECURE},
	{"cloud-init", 0, true, O_CLOUD}, {"ssh-key", 0, true, O_SSHKEY},
	{"graphics", 0, true, O_GRAPHICS}, {"kernel", 0, true, O_KERNEL}, {"initrd", 0, true, O_INITRD},
	{"append", 0, true, O_APPEND}, {"numa", 0, true, O_NUMA}, {"hugepages", 0, false, O_HUGE},
	{"start", 0, false, O_START}, {"dry-run", 'n', false, O_DRY}, {"timeout", 0, true, O_TIMEOUT},
	{"usb", 0, true, O_USB}, {"mdev", 0, true, O_MDEV},
	{NULL, 0, false, 0},
};

struct create_args {
	struct dp_vm_def def;
	struct dp_vm_options o;
	const char *user_data, *ssh_key;
	bool start, memory_set, cpus_set, uefi, bios, secure;
};

/* A path as the user meant it: relative ones are taken from the working directory. */
static int path_arg(const char *value, const char *what, char **out)
{
	char cwd[PATH_MAX];
	if (!value[0])
		return cli_error(EXIT_USAGE, "--%s needs a file name", what);
	if (value[0] != '/' && !getcwd(cwd, sizeof(cwd)))
		return cli_error(EXIT_FAILED, "cannot read the working directory: %s", strerror(errno));
	free(*out);
	if (value[0] == '/' ? !(*out = strdup(value)) : asprintf(out, "%s/%s", cwd, value) < 0)
		return cli_error(EXIT_FAILED, "out of memory");
	return 0;
}

static struct dp_vm_device *device_add(struct create_args *a, enum dp_vm_want want)
{
	struct dp_vm_def *def = &a->def;
	void *grown = realloc(def->devices, (def->ndevices + 1) * sizeof(*def->devices));
	if (!grown)
		return NULL;
	def->devices = grown;
	struct dp_vm_device *d = &def->devices[def->ndevices++];
	memset(d, 0, sizeof(*d));
	d->want = want;
	d->count = 1;
	return d;
}

/* ADDRESS[,x-vga=on,rombar=0,romfile=/PATH] */
static int passthrough_arg(struct create_args *a, const char *value)
{
	struct dp_vm_device *d = device_add(a, DP_VM_WANT_ADDRESS);
	if (!d)
		return cli_error(EXIT_FAILED, "out of memory");
	const char *comma = strchr(value, ',');
	size_t len = comma ? (size_t)(comma - value) : strlen(value);
	struct dp_pci_addr addr;
	snprintf(d->spec, sizeof(d->spec), "%.*s", (int)(len < sizeof(d->spec) ? len : sizeof(d->spec) - 1), value);
	if (dp_pci_addr_parse(d->spec, &addr) < 0)
		return cli_lib_error(EXIT_USAGE);
	dp_pci_addr_format(&addr, d->spec);
	if (comma && dp_vm_device_options_parse(comma + 1, d->options, sizeof(d->options)) < 0)
		return cli_lib_error(EXIT_USAGE);
	return 0;
}

/* POOL[:COUNT] */
static int pool_arg(struct create_args *a, const char *value)
{
	struct dp_vm_device *d = device_add(a, DP_VM_WANT_POOL);
	if (!d)
		return cli_error(EXIT_FAILED, "out of memory");
	const char *colon = strrchr(value, ':');
	char *end = NULL;
	size_t len = colon ? (size_t)(colon - value) : strlen(value);
	if (colon) {
		long n = strtol(colon + 1, &end, 10);
		if (!colon[1] || *end || n < 1 || n > 64)
			return cli_error(EXIT_USAGE, "--pool %s: the count after ':' is 1 to 64", value);
		d->count = (unsigned)n;
	}
	if (len == 0 || len > DP_POOL_NAME_MAX)
		return cli_error(EXIT_USAGE, "--pool needs a pool name (POOL or POOL:COUNT)");
	snprintf(d->spec, sizeof(d->spec), "%.*s", (int)len, value);
	return 0;
}

/* A USB port (1-1.2), an id (046d:c52b), or a usb pool as POOL[:COUNT] */
static int usb_arg(struct create_args *a, const char *value)
{
	size_t bus = strspn(value, "0123456789");
	bool port = bus > 0 && value[bus] == '-';
	bool id = strlen(value) == 9 && value[4] == ':' && strspn(value, "0123456789abcdefABCDEF") == 4 &&
	          strspn(value + 5, "0123456789abcdefABCDEF") == 4;
	if (!port && !id) {
		int r = pool_arg(a, value);   /* the same POOL[:COUNT], then marked as USB */
		if (r == 0)
			a->def.devices[a->def.ndevices - 1].want = DP_VM_WANT_USB;
		return r;
	}
	struct dp_vm_device *d = device_add(a, DP_VM_WANT_USB);
	if (!d)
		return cli_error(EXIT_FAILED, "out of memory");
	if (port && (strlen(value) > 32 || strspn(value + bus + 1, "0123456789.") != strlen(value + bus + 1) ||
	             !value[bus + 1]))
		return cli_error(EXIT_USAGE, "--usb %.40s: a port is BUS-PORT[.PORT...] as sysfs names it "
		                 "(1-1.2)", value);
	snprintf(d->spec, sizeof(d->spec), "%s", value);
	for (char *c = d->spec; id && *c; c++)   /* ids in lower case, as rules and lsusb have them */
		*c = (char)(*c >= 'A' && *c <= 'F' ? *c - 'A' + 'a' : *c);
	return 0;
}

/* An mdev pool as POOL[:COUNT]: its devices are made when the VM starts */
static int mdev_arg(struct create_args *a, const char *value)
{
	int r = pool_arg(a, value);
	if (r == 0)
		a->def.devices[a->def.ndevices - 1].want = DP_VM_WANT_MDEV;
	return r;
}

/* auto, an address or a vendor */
static int kind_arg(struct create_args *a, enum dp_vm_want want, const char *value)
{
	struct dp_vm_device *d = device_add(a, want);
	struct dp_pci_addr addr;
	if (!d)
		return cli_error(EXIT_FAILED, "out of memory");
	if (!value[0] || strlen(value) >= sizeof(d->spec))
		return cli_error(EXIT_USAGE, "--%s takes auto, an address or a vendor",
		                 want == DP_VM_WANT_GPU ? "gpu" : "nvme");
	snprintf(d->spec, sizeof(d->spec), "%s", value);
	if (strchr(value, ':') && dp_pci_addr_parse(value, &addr) == 0)
		dp_pci_addr_format(&addr, d->spec);
	return 0;
}

static int number_arg(const char *value, const char *what, long min, long max, long *out)
{
	char *end = NULL;
	long n = strtol(value, &end, 10);
	if (!value[0] || *end || n < min || n > max)
		return cli_error(EXIT_USAGE, "--%s %.40s: a number from %ld to %ld", what, value, min, max);
	*out = n;
	return 0;
}

static int numa_arg(struct create_args *a, const char *value)
{
	long n;
	if (strcmp(value, "auto") == 0) {
		a->def.numa = DP_VM_NUMA_AUTO;
		return 0;
	}
	int r = number_arg(value, "numa", 0, 1023, &n);
	a->def.numa = (int)n;
	return r;
}

static int take_boot(struct create_args *a, int id, const char *value)
{
	switch (id) {
	case O_UEFI: a->uefi = true; return 0;
	case O_BIOS: a->bios = true; return 0;
	case O_SECURE: a->secure = true; return 0;
	case O_CLOUD: a->user_data = value; return 0;
	case O_SSHKEY: a->ssh_key = value; return 0;
	case O_KERNEL: return path_arg(value, "kernel", &a->def.kernel);
	case O_INITRD: return path_arg(value, "initrd", &a->def.initrd);
	case O_APPEND:
		free(a->def.append);
		return (a->def.append = strdup(value)) ? 0 : cli_error(EXIT_FAILED, "out of memory");
	case O_GRAPHICS:
		if (strcmp(value, "none") && strcmp(value, "vnc"))
			return cli_error(EXIT_USAGE, "--graphics takes none or vnc");
		a->def.graphics = strcmp(value, "vnc") == 0 ? DP_VM_GRAPHICS_VNC : DP_VM_GRAPHICS_NONE;
		return 0;
	}
	return -1;
}

static int take(int id, const char *value, void *ctx)
{
	struct create_args *a = ctx;
	long n;
	int r = take_boot(a, id, value);
	if (r >= 0)
		return r;
	switch (id) {
	case O_MEMORY:
		a->memory_set = true;
		return dp_vm_size_parse(value, &a->def.memory_mib) < 0 ? cli_lib_error(EXIT_USAGE) : 0;
	case O_CPUS:
		a->cpus_set = true;
		r = number_arg(value, "cpus", 1, 512, &n);
		a->def.cpus = (unsigned)n;
		return r;
	case O_GPU: return kind_arg(a, DP_VM_WANT_GPU, value);
	case O_NVME: return kind_arg(a, DP_VM_WANT_NVME, value);
	case O_PASS: return passthrough_arg(a, value);
	case O_POOL: return pool_arg(a, value);
	case O_USB: return usb_arg(a, value);
	case O_MDEV: return mdev_arg(a, value);
	case O_NUMA: return numa_arg(a, value);
	case O_HUGE: a->def.hugepages = true; return 0;
	case O_START: a->start = true; return 0;
	case O_DRY: a->o.dry_run = true; return 0;
	case O_TIMEOUT: return cli_timeout_parse(value, &a->o.timeout_ms) ? EXIT_USAGE : 0;
	}
	return 0;
}

static int firmware_settle(struct create_args *a)
{
	if (a->bios && (a->uefi || a->secure))
		return cli_error(EXIT_USAGE, "--bios cannot go with --uefi or --secure-boot");
	if (!a->memory_set || !a->cpus_set)
		return cli_error(EXIT_USAGE, "devpass vm create needs --memory SIZE and --cpus N");
	a->def.firmware = a->secure ? DP_VM_FW_SECURE_BOOT : a->uefi ? DP_VM_FW_UEFI
	                : a->bios || a->def.kernel ? DP_VM_FW_BIOS : DP_VM_FW_UEFI;
	return 0;
}

static int args_settle(struct create_args *a, const struct cli_opts *p)
{
	if (p->nargs < 1 || p->nargs > 2)
		return cli_error(EXIT_USAGE, "usage: devpass vm create NAME [IMAGE] --memory SIZE --cpus N ... "
		                 "(devpass vm --help)");
	if (dp_vm_name_check(p->args[0]) < 0)
		return cli_lib_error(EXIT_USAGE);
	snprintf(a->def.name, sizeof(a->def.name), "%s", p->args[0]);
	if (a->user_data && a->ssh_key)   /* before either file is read as the other */
		return cli_error(EXIT_USAGE, "give --cloud-init or --ssh-key, not both");
	int r = p->nargs == 2 ? path_arg(p->args[1], "image", &a->def.image) : 0;
	char *file = NULL;
	const char *given = a->user_data ? a->user_data : a->ssh_key;
	if (r == 0 && given && (r = path_arg(given, a->ssh_key ? "ssh-key" : "cloud-init", &file)) == 0 &&
	    dp_vm_def_load_user_data(&a->def, file, a->ssh_key != NULL) < 0)
		r = cli_lib_error(EXIT_USAGE);
	free(file);
	return r ?: firmware_settle(a);
}

int vm_create(int argc, char **argv, const struct cli_ctx *ctx)
{
	struct create_args a = { .def = { .numa = DP_VM_NUMA_NONE } };
	struct cli_opts p;
	int r = vm_opts_parse(argc, argv, "create", create_options, take, &a, &p) ?: args_settle(&a, &p);
	struct dp_pci_list list = {0};
	if (r == 0 && !(r = cli_inventory_load(&list, DP_SCAN_NAMES))) {
		_cleanup_(dp_vm_report_freep) struct dp_vm_report rep = {0};
		int err = dp_vm_create(&a.def, &list, &a.o, &rep);
		struct vm_report_how how = { .dry_run = a.o.dry_run, .print_argv = a.o.dry_run };
		r = vm_report(a.def.name, &rep, ctx, &how, err);
		if (r == EXIT_OK && !ctx->json && !a.o.dry_run)
			printf("Created VM %s.\n", a.def.name);   /* what auto chose is in "Chosen:" */
		if (r == EXIT_OK && a.start && !a.o.dry_run)
			r = vm_start_named(a.def.name, &a.o, ctx);
	}
	dp_pci_list_free(&list);
	dp_vm_def_free(&a.def);
	return r;
}
