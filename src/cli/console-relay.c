/* `devpass vm console`: the local terminal joined to a VM's serial console socket, like
 * virsh console. The terminal goes raw (every key, Ctrl-C included, goes to the guest) and
 * comes back as it was on every way out: the escape byte, the console closing, an error,
 * or SIGINT/SIGTERM/SIGHUP sent from outside. Those signals are blocked except inside
 * ppoll, so one can never land between a check and the wait. */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include "cli.h"

static volatile sig_atomic_t relay_signal;

static void on_signal(int sig)
{
	relay_signal = sig;
}

static const int relay_signals[] = { SIGINT, SIGTERM, SIGHUP };
#define NSIGNALS (sizeof(relay_signals) / sizeof(relay_signals[0]))

struct relay {
	int sock, in_fd, out_fd;
	unsigned char escape;
	bool tty;
	struct termios saved;
	struct sigaction old[NSIGNALS];
	sigset_t old_mask;
};

static void signals_catch(struct relay *r)
{
	sigset_t block;
	sigemptyset(&block);
	struct sigaction sa = { .sa_handler = on_signal };   /* no SA_RESTART: ppoll returns */
	sigemptyset(&sa.sa_mask);
	for (size_t i = 0; i < NSIGNALS; i++) {
		sigaddset(&block, relay_signals[i]);
		sigaction(relay_signals[i], &sa, &r->old[i]);
	}
	relay_signal = 0;
	sigprocmask(SIG_BLOCK, &block, &r->old_mask);
}

static void signals_restore(struct relay *r)
{
	for (size_t i = 0; i < NSIGNALS; i++)
		sigaction(relay_signals[i], &r->old[i], NULL);
	sigprocmask(SIG_SETMASK, &r->old_mask, NULL);
}

static int tty_raw(struct relay *r)
{
	r->tty = isatty(r->in_fd);
	if (!r->tty)
		return 0;
	if (tcgetattr(r->in_fd, &r->saved) < 0)
		return -errno;
	struct termios raw = r->saved;
	cfmakeraw(&raw);
	return tcsetattr(r->in_fd, TCSANOW, &raw) < 0 ? -errno : 0;
}

static void tty_restore(const struct relay *r)
{
	if (r->tty)
		tcsetattr(r->in_fd, TCSANOW, &r->saved);
}

/* Writes all of buf, waiting (inside ppoll, signals open) while fd is full. */
static int write_all(int fd, const unsigned char *buf, size_t len, const sigset_t *mask)
{
	while (len) {
		ssize_t n = write(fd, buf, len);
		if (n > 0) {
			buf += n;
			len -= (size_t)n;
			continue;
		}
		if (n < 0 && errno != EAGAIN && errno != EINTR)
			return -errno;
		struct pollfd p = { .fd = fd, .events = POLLOUT };
		if (ppoll(&p, 1, NULL, mask) < 0 && errno != EINTR)
			return -errno;
		if (relay_signal)
			return -EINTR;
	}
	return 0;
}

/* Local keys to the console: up to the escape byte, which ends the relay (1). */
static int from_keyboard(struct relay *r, bool *in_open)
{
	unsigned char buf[4096];
	ssize_t n = read(r->in_fd, buf, sizeof(buf));
	if (n < 0)
		return errno == EAGAIN || errno == EINTR ? 0 : -errno;
	if (n == 0) {   /* stdin ended (a pipe): the console's output still comes */
		*in_open = false;
		return 0;
	}
	unsigned char *esc = memchr(buf, r->escape, (size_t)n);
	size_t len = esc ? (size_t)(esc - buf) : (size_t)n;
	int w = write_all(r->sock, buf, len, &r->old_mask);
	return w < 0 ? w : esc ? 1 : 0;
}

/* The console's output to the terminal; 1 when the console closed. */
static int from_console(struct relay *r)
{
	unsigned char buf[4096];
	ssize_t n = read(r->sock, buf, sizeof(buf));
	if (n < 0)
		return errno == EAGAIN || errno == EINTR ? 0 : errno == ECONNRESET ? 1 : -errno;
	if (n == 0)
		return 1;
	return write_all(r->out_fd, buf, (size_t)n, &r->old_mask);
}

static int relay_loop(struct relay *r)
{
	bool in_open = true;
	for (;;) {
		struct pollfd p[2] = { { .fd = r->sock, .events = POLLIN },
		                       { .fd = in_open ? r->in_fd : -1, .events = POLLIN } };
		if (ppoll(p, 2, NULL, &r->old_mask) < 0 && errno != EINTR)
			return -errno;
		if (relay_signal)
			return CLI_CONSOLE_SIGNALLED;
		int k = 0;
		if (p[0].revents)
			k = from_console(r);
		if (k == 1)
			return CLI_CONSOLE_CLOSED;
		if (k == 0 && p[1].revents)
			k = from_keyboard(r, &in_open);
		if (k == 1)
			return CLI_CONSOLE_ESCAPED;
		if (k < 0)
			return relay_signal ? CLI_CONSOLE_SIGNALLED : k;
	}
}

int cli_console_relay(int sock, int in_fd, int out_fd, unsigned char escape)
{
	struct relay r = { .sock = sock, .in_fd = in_fd, .out_fd = out_fd, .escape = escape };
	signals_catch(&r);
	int res = tty_raw(&r);
	if (res == 0)
		res = relay_loop(&r);
	tty_restore(&r);
	signals_restore(&r);
	if (res == CLI_CONSOLE_CLOSED)
		fprintf(stderr, "the console closed\n");
	return res;
}
