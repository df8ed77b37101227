/* The one option parser every verb uses.
 *
 * Why not getopt_long: it accepts any unique prefix of a long option, so `bind --f` meant
 * --force (the one flag that overrides the root-disk protection), and its error path
 * quotes argv[optind - 1], which names the verb for grouped short options (`list -nn`).
 * Here names match exactly, errors quote what was typed, and near misses get a
 * suggestion. Global options (--json, --root, --help) are understood after the verb too,
 * so `pool create x --description --json` can tell that --json is an option. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

static const struct cli_option global_options[] = {
	{"json", 0, false, CLI_OPT_JSON},
	{"root", 0, true, CLI_OPT_ROOT},
	{"help", 'h', false, CLI_OPT_HELP},
	{NULL, 0, false, 0},
};

/* Optimal string alignment distance (edits, with swapped neighbours counting as one),
 * capped: anything past 3 is "far" and never suggested. */
size_t cli_edit_distance(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);
	if (la > 40 || lb > 40)
		return 99;
	size_t d[41][41];
	for (size_t i = 0; i <= la; i++)
		d[i][0] = i;
	for (size_t j = 0; j <= lb; j++)
		d[0][j] = j;
	for (size_t i = 1; i <= la; i++)
		for (size_t j = 1; j <= lb; j++) {
			size_t cost = a[i - 1] != b[j - 1];
			size_t best = d[i - 1][j - 1] + cost;
			if (d[i - 1][j] + 1 < best)
				best = d[i - 1][j] + 1;
			if (d[i][j - 1] + 1 < best)
				best = d[i][j - 1] + 1;
			if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] &&
			    d[i - 2][j - 2] + 1 < best)
				best = d[i - 2][j - 2] + 1;
			d[i][j] = best;
		}
	return d[la][lb];
}

/* Close enough to suggest: one edit for short words, two for longer ones. */
bool cli_is_near_miss(const char *typed, const char *name)
{
	size_t dist = cli_edit_distance(typed, name);
	return dist > 0 && dist <= (strlen(name) > 4 ? 2u : 1u);
}

/* the message is printed; the caller stops parsing */
static int failed(int code)
{
	(void)code;
	return -1;
}

static const struct cli_option *option_find(const struct cli_option *opts, const char *name,
                                            size_t len)
{
	for (const struct cli_option *o = opts; o->name; o++)
		if (strlen(o->name) == len && strncmp(o->name, name, len) == 0)
			return o;
	return NULL;
}

static const struct cli_option *option_find_short(const struct cli_option *opts, char c)
{
	for (const struct cli_option *o = opts; o->name; o++)
		if (o->short_name && o->short_name == c)
			return o;
	return NULL;
}

/* Appends "--NAME" to the suggestion text when NAME fits: a prefix of it was typed
 * (what getopt_long used to accept silently) or it is a near miss. */
static void suggest_from(const struct cli_option *opts, const char *typed, char *out, size_t size)
{
	for (const struct cli_option *o = opts; o->name; o++) {
		bool prefix = *typed && strncmp(o->name, typed, strlen(typed)) == 0;
		if (!prefix && !cli_is_near_miss(typed, o->name))
			continue;
		size_t len = strlen(out);
		snprintf(out + len, size - len, "%s--%s", len ? " or " : "", o->name);
	}
}

static int unknown_long(const struct cli_opts *p, const char *arg, size_t len)
{
	char typed[64], hint[256] = "";
	snprintf(typed, sizeof(typed), "%.*s", (int)(len < 63 ? len : 63), arg + 2);
	suggest_from(p->options, typed, hint, sizeof(hint));
	suggest_from(global_options, typed, hint, sizeof(hint));
	if (*hint)
		return failed(cli_error(EXIT_USAGE, "unknown option '--%.*s' (did you mean %s?)", (int)len > 200
		                 ? 200 : (int)len, arg + 2, hint));
	return failed(cli_error(EXIT_USAGE, "unknown option '--%.*s' (see '%s')",
	                 (int)len > 200 ? 200 : (int)len, arg + 2, p->help_cmd));
}

void cli_opts_init(struct cli_opts *p, int argc, char **argv, const char *verb,
                   const struct cli_option *options)
{
	memset(p, 0, sizeof(*p));
	p->argc = argc;
	p->argv = argv;
	p->next = 1;
	p->verb = verb;
	p->options = options;
	/* the first word names the help to point to: "pool create" -> pool */
	snprintf(p->help_verb, sizeof(p->help_verb), "%.*s", (int)strcspn(verb, " "), verb);
	snprintf(p->help_cmd, sizeof(p->help_cmd), "devpass %s%s--help", p->help_verb,
	         *p->help_verb ? " " : "");
	p->args = argv + 1;
	p->exit = EXIT_USAGE;
}

/* A value that looks like a long option is refused: `--description --json` would
 * otherwise take --json as the text. --NAME=VALUE still gives any value. */
static int value_take(struct cli_opts *p, const char *shown)
{
	if (p->next >= p->argc)
		return failed(cli_error(EXIT_USAGE, "option '%s' needs a value (see '%s')", shown, p->help_cmd));
	const char *v = p->argv[p->next];
	if (strncmp(v, "--", 2) == 0 && v[2])
		return failed(cli_error(EXIT_USAGE, "option '%s' needs a value, and '%.100s' is an option; "
		                 "write %s=%.100s for a value that starts with '--'", shown, v, shown, v));
	p->value = p->argv[p->next++];
	return 0;
}

/* Global options met after the verb take effect here; the verb never sees them. */
static int global_apply(struct cli_opts *p, int id)
{
	switch (id) {
	case CLI_OPT_JSON: cli_json_request(); return 0;
	case CLI_OPT_ROOT: return cli_root_request(p->value) ? -1 : 0;
	default:
		if (p->stop_at_arg) {   /* before the verb: main shows the help it asks for */
			p->help = true;
			return 0;
		}
		/* parsing comes before any work, so nothing is left half done: stop here rather
		 * than make every verb tell "help shown" from "parsed" */
		cli_print_usage(p->help_verb);
		exit(fflush(stdout) == 0 ? EXIT_OK : EXIT_FAILED);
	}
}

static int long_option(struct cli_opts *p, const char *arg)
{
	const char *eq = strchr(arg, '=');
	size_t len = eq ? (size_t)(eq - arg - 2) : strlen(arg + 2);
	const struct cli_option *o = option_find(p->options, arg + 2, len);
	if (!o)
		o = option_find(global_options, arg + 2, len);
	if (!o)
		return unknown_long(p, arg, len);
	char *shown = p->name;
	snprintf(p->name, sizeof(p->name), "--%s", o->name);
	if (!o->takes_value && eq)
		return failed(cli_error(EXIT_USAGE, "option '%s' takes no value", shown));
	p->value = eq ? eq + 1 : NULL;
	if (o->takes_value && !eq && value_take(p, shown))
		return -1;
	if (o->takes_value && !*p->value)
		return failed(cli_error(EXIT_USAGE, "option '%s' needs a value, not an empty string", shown));
	return o->id;
}

/* -s VALUE, -sVALUE, and flags grouped as -ab; the error names the letter, not the word */
static int short_option(struct cli_opts *p, const char *arg)
{
	char c = arg[p->short_pos];
	const struct cli_option *o = option_find_short(p->options, c);
	if (!o)
		o = option_find_short(global_options, c);
	if (!o)
		return failed(cli_error(EXIT_USAGE, "unknown option '-%c' (see '%s')", c, p->help_cmd));
	p->short_pos++;
	p->value = NULL;
	snprintf(p->name, sizeof(p->name), "-%c", c);
	if (o->takes_value) {
		const char *shown = p->name;
		if (arg[p->short_pos]) {
			p->value = arg + p->short_pos;
		} else if (value_take(p, shown)) {
			return -1;
		}
		p->short_pos = 0;
	} else if (!arg[p->short_pos]) {
		p->short_pos = 0;
	}
	return o->id;
}

static int next_raw(struct cli_opts *p)
{
	if (p->short_pos) {
		const char *arg = p->argv[p->next - 1];
		return short_option(p, arg);
	}
	while (p->next < p->argc) {
		char *arg = p->argv[p->next++];
		if (p->no_more_options || arg[0] != '-' || arg[1] == '\0') {
			if (p->stop_at_arg) {
				p->next--;
				return 0;
			}
			p->args[p->nargs++] = arg;   /* never ahead of the reading position */
			continue;
		}
		if (strcmp(arg, "--") == 0) {
			p->no_more_options = true;
			continue;
		}
		if (arg[1] == '-')
			return long_option(p, arg);
		p->short_pos = 1;
		return short_option(p, arg);
	}
	return 0;
}

int cli_opts_next(struct cli_opts *p)
{
	for (;;) {
		int id = next_raw(p);
		if (id < 0) {
			p->short_pos = 0;
			return -1;
		}
		if (id == 0)
			return !p->stop_at_arg && cli_root_apply() ? -1 : 0;
		if (id < CLI_OPT_GLOBAL)
			return id;
		if (global_apply(p, id) < 0)
			return -1;
	}
}

int cli_opts_none(int argc, char **argv, const char *verb, size_t min_args, size_t max_args,
                  struct cli_opts *p)
{
	static const struct cli_option none[] = {{NULL, 0, false, 0}};
	cli_opts_init(p, argc, argv, verb, none);
	int id = cli_opts_next(p);
	if (id < 0)
		return p->exit;
	return cli_opts_count(p, min_args, max_args, NULL);
}

int cli_opts_count(const struct cli_opts *p, size_t min_args, size_t max_args, const char *what)
{
	if (p->nargs > max_args && max_args == 0)
		return cli_error(EXIT_USAGE, "unexpected argument '%.100s' (see '%s')", p->args[0],
		                 p->help_cmd);
	if (p->nargs < min_args || p->nargs > max_args)
		return cli_error(EXIT_USAGE, "devpass %s takes %s (see '%s')", p->verb,
		                 what ? what : "other arguments", p->help_cmd);
	return 0;
}
