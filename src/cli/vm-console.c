/* devpass vm console NAME (the serial console, Ctrl-] detaches, as virsh console) and
 * devpass vm log NAME (what the guest wrote to it so far). */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "alloc-util.h"
#include "cli.h"
#include "vm-cli.h"

#define ESCAPE 0x1d   /* Ctrl-] */

int vm_console(int argc, char **argv, const struct cli_ctx *ctx)
{
	(void)ctx;
	struct cli_opts p;
	const char *name;
	int r = cli_opts_none(argc, argv, "vm console", 1, 1, &p) ?: vm_name_arg(&p, "console", &name);
	if (r)
		return r;
	_cleanup_close_ int fd = dp_vm_console_open(name);
	if (fd < 0)
		return cli_lib_error(cli_exit_for(fd));
	fprintf(stderr, "Connected to the console of VM %s; escape character is ^]\n", name);
	r = cli_console_relay(fd, STDIN_FILENO, STDOUT_FILENO, ESCAPE);
	fprintf(stderr, "\n%s\n", r == 0 ? "Detached." : "The console closed (the VM stopped?).");
	return r < 0 ? EXIT_FAILED : EXIT_OK;
}

int vm_log(int argc, char **argv, const struct cli_ctx *ctx)
{
	(void)ctx;
	struct cli_opts p;
	const char *name;
	int r = cli_opts_none(argc, argv, "vm log", 1, 1, &p) ?: vm_name_arg(&p, "log", &name);
	if (r)
		return r;
	_cleanup_free_ char *text = NULL;
	size_t len = 0;
	if (dp_vm_log_read(name, &text, &len) < 0)
		return cli_lib_error(EXIT_FAILED);
	fwrite(text, 1, len, stdout);
	return EXIT_OK;
}
