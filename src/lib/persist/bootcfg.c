/* `setup iommu`: the kernel arguments this host needs for passthrough, written through
 * the boot loader in use. Each boot loader keeps the command line somewhere else:
 *   GRUB on Debian/Ubuntu   a drop-in in /etc/default/grub.d/ (grub-mkconfig sources them)
 *   GRUB with BLS (Fedora)  GRUB_CMDLINE_LINUX in /etc/default/grub for grub2-mkconfig, and
 *                           the options line of BLS entry (/boot/loader/entries) it boots
 *   other GRUB              the GRUB_CMDLINE_LINUX_DEFAULT line of /etc/default/grub
 *   systemd-boot            the options line of each loader entry on the ESP, plus
 *                           /etc/kernel/cmdline (kernel-install, UKIs) when it exists
 *   kernel-install alone    /etc/kernel/cmdline
 * Only missing arguments are appended, so a second run changes nothing, and every edit is
 * journaled, so `setup --undo` puts each file back byte for byte. */
#include <errno.h>
#include <fnmatch.h>
#include <stdlib.h>
#include <string.h>

#include "fs/sysroot.h"
#include "persist/persist.h"
#include "inventory/facts.h"
#include "util/cmdline.h"

#define FEATURE "setup-iommu"
#define GRUB_DEFAULT "/etc/default/grub"
#define GRUB_DROPIN_DIR "/etc/default/grub.d"
#define GRUB_DROPIN GRUB_DROPIN_DIR "/devpass-iommu.cfg"
#define KERNEL_CMDLINE "/etc/kernel/cmdline"

enum loader_kind { GRUB_DROPIN_KIND, GRUB_BLS, GRUB_PLAIN, SDBOOT, KERNEL_INSTALL, UNKNOWN };
static const char *const loader_names[] = {"grub-dropin", "grub-bls", "grub", "systemd-boot",
                                           "kernel-install", "unknown"};

struct loader {
	enum loader_kind kind;
	char esp[32];                 /* systemd-boot: "/boot", "/efi" or "/boot/efi" */
	struct dp_strv entries;       /* BLS entry files */
};

static int path_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static bool file_contains(const char *path, const char *needle)
{
	char *text = NULL;
	if (dp_fs_read_all(path, &text, NULL) < 0)
		return false;
	bool yes = strstr(text, needle) != NULL;
	free(text);
	return yes;
}

static void loader_detect(struct loader *l)
{
	static const char *const esps[] = {"/boot", "/efi", "/boot/efi"};
	memset(l, 0, sizeof(*l));
	l->kind = UNKNOWN;
	if (dp_fs_exists(GRUB_DEFAULT)) {
		if (file_contains(GRUB_DEFAULT, "GRUB_ENABLE_BLSCFG=true")) {
			l->kind = GRUB_BLS;
			dp_fs_list("/boot/loader/entries", ".conf", &l->entries);
		} else if (dp_fs_exists("/usr/sbin/update-grub") || dp_fs_exists(GRUB_DROPIN_DIR))
			l->kind = GRUB_DROPIN_KIND;
		else
			l->kind = GRUB_PLAIN;
		return;
	}
	for (size_t i = 0; i < sizeof(esps) / sizeof(*esps); i++) {
		char conf[64], entries[64];
		snprintf(conf, sizeof(conf), "%s/loader/loader.conf", esps[i]);
		snprintf(entries, sizeof(entries), "%s/loader/entries", esps[i]);
		if (dp_fs_exists(conf)) {
			l->kind = SDBOOT;
			snprintf(l->esp, sizeof(l->esp), "%s", esps[i]);
			dp_fs_list(entries, ".conf", &l->entries);
			return;
		}
	}
	if (dp_fs_exists(KERNEL_CMDLINE))
		l->kind = KERNEL_INSTALL;
}

/* ---- what this host needs -------------------------------------------------------------- */

static const char *iommu_name(const struct dp_host_facts *h)
{
	return h->vendor == DP_CPU_INTEL ? "intel" : h->vendor == DP_CPU_AMD ? "amd" : "";
}

/* Intel VT-d needs intel_iommu=on unless this kernel turns it on by itself (it is running
 * without the argument); AMD-Vi is on by default and knows no "amd_iommu=on". iommu=pt
 * keeps host-owned devices off the translation path. */
static int wanted_args(const struct dp_host_facts *h, bool pt, struct dp_strv *out)
{
	if (h->vendor == DP_CPU_INTEL &&
	    !(h->iommu_active && !dp_cmdline_has(h->cmdline, "intel_iommu=on")) &&
	    dp_strv_add(out, "intel_iommu=on") < 0)
		return dp_oom();
	if (pt && dp_strv_add(out, "iommu=pt") < 0)
		return dp_oom();
	return 0;
}

/* ---- GRUB's shell variables ---------------------------------------------------------------- */

static bool var_line(const char *line, const char *var, const char **value)
{
	while (*line == ' ' || *line == '\t')
		line++;
	if (strncmp(line, "export ", 7) == 0)
		line += 7;
	size_t vl = strlen(var);
	if (strncmp(line, var, vl) != 0 || line[vl] != '=')
		return false;
	*value = line + vl + 1;
	return true;
}

/* The value of one assignment: quotes removed, $VAR / ${VAR} of the two cmdline
 * variables expanded (what `GRUB_CMDLINE_LINUX_DEFAULT="$GRUB_CMDLINE_LINUX_DEFAULT x"`
 * drop-ins rely on). */
static char *value_eval(const char *v, const char *linux_v, const char *default_v)
{
	char *out = dp_text_printf("%s", "");   /* NULL when out of memory, as the result */
	char quote = 0;
	for (const char *p = v; *p && *p != '\n'; p++) {
		if (!quote && (*p == '"' || *p == '\'')) {
			quote = *p;
			continue;
		}
		if (quote && *p == quote) {
			quote = 0;
			continue;
		}
		if (!quote && (*p == ' ' || *p == '#'))
			break;
		if (*p == '$' && quote != '\'') {
			bool brace = p[1] == '{';
			const char *name = p + 1 + brace;
			size_t n = strspn(name, "ABCDEFGHIJKLMNOPQRSTUVWXYZ_0123456789");
			char var[64];
			snprintf(var, sizeof(var), "%.*s", (int)n, name);
			const char *val = strcmp(var, "GRUB_CMDLINE_LINUX") == 0 ? linux_v
			                : strcmp(var, "GRUB_CMDLINE_LINUX_DEFAULT") == 0 ? default_v : "";
			dp_text_append(&out, "%s", val);
			p = name + n - 1 + (brace && name[n] == '}');
			continue;
		}
		dp_text_append(&out, "%c", *p);
	}
	return out;
}

struct grub_vars {
	char *linux_v, *default_v;
};

/* Out of memory, a variable is left NULL (and the result with it). */
static void grub_eval_text(const char *text, struct grub_vars *g)
{
	for (const char *line = text; line && *line && g->linux_v && g->default_v;
	     line = dp_text_next_line(line)) {
		const char *v;
		char *nv;
		if (var_line(line, "GRUB_CMDLINE_LINUX", &v)) {
			nv = value_eval(v, g->linux_v, g->default_v);
			free(g->linux_v);
			g->linux_v = nv;
		} else if (var_line(line, "GRUB_CMDLINE_LINUX_DEFAULT", &v)) {
			nv = value_eval(v, g->linux_v, g->default_v);
			free(g->default_v);
			g->default_v = nv;
		}
	}
}

/* GRUB's command line for normal entries as the config files set it (staged edits
 * included); skip: a drop-in to leave out. */
static char *grub_cmdline(const struct dp_changeset *cs, const char *skip)
{
	struct grub_vars g = {dp_text_printf("%s", ""), dp_text_printf("%s", "")};   /* freed below */
	_cleanup_(dp_strv_freep) struct dp_strv files = {0};
	bool listed = dp_strv_add(&files, GRUB_DEFAULT) == 0;
	dp_fs_list(GRUB_DROPIN_DIR, ".cfg", &files);
	if (listed && cs && dp_changeset_peek(cs, GRUB_DROPIN) && !dp_strv_contains(&files, GRUB_DROPIN)) {
		listed = dp_strv_add(&files, GRUB_DROPIN) == 0;   /* staged, not written yet: where grub sources it */
		qsort(files.v + 1, files.n - 1, sizeof(*files.v), path_cmp);
	}
	for (size_t i = 0; listed && i < files.n; i++) {
		if (skip && strcmp(files.v[i], skip) == 0)
			continue;
		const char *staged = cs ? dp_changeset_peek(cs, files.v[i]) : NULL;
		_cleanup_free_ char *text = NULL;
		if (staged)
			grub_eval_text(staged, &g);
		else if (dp_fs_read_all(files.v[i], &text, NULL) == 0)
			grub_eval_text(text, &g);
	}
	char *out = listed && g.linux_v && g.default_v
	            ? dp_text_printf("%s %s", g.linux_v, g.default_v) : NULL;   /* NULL: out of memory */
	free(g.linux_v);
	free(g.default_v);
	return out;
}

/* ---- edits --------------------------------------------------------------------------------- */

/* have NULL: a command line that could not be read for lack of memory. */
static int missing_args(const char *have, const struct dp_strv *wanted, struct dp_strv *out)
{
	if (!have)
		return dp_oom();
	for (size_t i = 0; i < wanted->n; i++)
		if (!dp_cmdline_has(have, wanted->v[i]) && dp_strv_add(out, wanted->v[i]) < 0)
			return dp_oom();
	return 0;
}

static int file_text(const struct dp_changeset *cs, const char *path, char **out)
{
	const char *staged = dp_changeset_peek(cs, path);
	if (staged) {
		*out = strdup(staged);
		return *out ? 0 : dp_oom();
	}
	int r = dp_fs_read_all(path, out, NULL);
	return r < 0 ? dp_error_set(r, "cannot read %s: %s", path, strerror(-r)) : 0;
}

static unsigned file_mode(const char *path)
{
	struct stat st;
	return dp_fs_stat(path, &st) == 0 ? (st.st_mode & 07777) : 0644;
}

/* The text of file with var's last assignment given args (or the assignment added);
 * NULL when out of memory. */
static char *grub_var_append(const char *text, const char *var, const char *args)
{
	const char *last = NULL, *v;
	for (const char *line = text; line && *line; line = dp_text_next_line(line))
		if (var_line(line, var, &v))
			last = line;
	if (!last) {
		size_t len = strlen(text);
		return dp_text_printf("%s%s%s=\"%s\"\n", text, len && text[len - 1] != '\n' ? "\n" : "",
		                      var, args);
	}
	var_line(last, var, &v);
	const char *eol = strchrnul(v, '\n');
	const char *close = (*v == '"' || *v == '\'') ? memrchr(v + 1, *v, (size_t)(eol - v - 1)) : NULL;
	if (close)   /* var="a b" -> var="a b args" */
		return dp_text_printf("%.*s%s%s%s", (int)(close - text), text,
		                      close > v + 1 ? " " : "", args, close);
	/* var=a -> var="a args" */
	return dp_text_printf("%.*s\"%.*s%s%s\"%s", (int)(v - text), text, (int)(eol - v), v,
	                      eol > v ? " " : "", args, eol);
}

/* Appends args inside the quotes of the last `var=` line (or adds the line). */
static int edit_grub_var(struct dp_changeset *cs, const char *var, const struct dp_strv *wanted)
{
	_cleanup_free_ char *text = NULL;
	int r = file_text(cs, GRUB_DEFAULT, &text);
	if (r < 0)
		return r;
	_cleanup_free_ char *have = grub_cmdline(cs, NULL);
	_cleanup_(dp_strv_freep) struct dp_strv add = {0};
	if ((r = missing_args(have, wanted, &add)) < 0 || !add.n)
		return r;
	_cleanup_free_ char *args = dp_strv_join(&add, " ");
	if (!args)
		return dp_oom();
	_cleanup_free_ char *out = grub_var_append(text, var, args);
	return dp_changeset_put(cs, GRUB_DEFAULT, out, file_mode(GRUB_DEFAULT));
}

/* One line of a BLS entry, with the missing args when it is an `options` line. */
static int bls_line_edit(char **out, const char *l, const struct dp_strv *wanted,
                         bool *any_options, bool *changed)
{
	const char *k = l + strspn(l, " \t");
	if (!(strncmp(k, "options", 7) == 0 && (k[7] == ' ' || k[7] == '\t' || !k[7]))) {
		dp_text_append(out, "%s", l);
		return 0;
	}
	_cleanup_(dp_strv_freep) struct dp_strv add = {0};
	int r = missing_args(k + 7, wanted, &add);
	_cleanup_free_ char *args = r < 0 ? NULL : dp_strv_join(&add, " ");
	if (!args)
		return dp_oom();
	dp_text_append(out, "%s%s%s", l, add.n ? " " : "", args);
	*changed |= add.n > 0;
	*any_options = true;
	return 0;
}

/* Appends the missing args to every `options` line of a BLS entry (or adds one). */
static int edit_bls_entry(struct dp_changeset *cs, const char *path, const struct dp_strv *wanted)
{
	_cleanup_free_ char *text = NULL;
	int r = file_text(cs, path, &text);
	if (r < 0)
		return r;
	_cleanup_free_ char *out = dp_text_printf("%s", "");
	bool any_options = false, changed = false;
	for (const char *line = text; *line;) {
		const char *eol = strchrnul(line, '\n');
		_cleanup_free_ char *l = dp_text_printf("%.*s", (int)(eol - line), line);
		if (!l || (r = bls_line_edit(&out, l, wanted, &any_options, &changed)) < 0)
			return dp_oom();
		if (*eol)
			dp_text_append(&out, "\n");
		line = *eol ? eol + 1 : eol;
	}
	if (!out)
		return dp_oom();
	if (!any_options) {
		_cleanup_free_ char *args = dp_strv_join(wanted, " ");
		if (!args)
			return dp_oom();
		size_t len = strlen(out);
		dp_text_append(&out, "%soptions %s\n", len && out[len - 1] != '\n' ? "\n" : "", args);
		changed = true;
	}
	return changed ? dp_changeset_put(cs, path, out, file_mode(path)) : 0;
}

static int edit_kernel_cmdline(struct dp_changeset *cs, const struct dp_strv *wanted)
{
	_cleanup_free_ char *text = NULL;
	int r = file_text(cs, KERNEL_CMDLINE, &text);
	if (r < 0)
		return r;
	_cleanup_(dp_strv_freep) struct dp_strv add = {0};
	if ((r = missing_args(text, wanted, &add)) < 0 || !add.n)
		return r;
	_cleanup_free_ char *args = dp_strv_join(&add, " ");
	if (!args)
		return dp_oom();
	size_t len = strcspn(text, "\n");
	while (len && (text[len - 1] == ' ' || text[len - 1] == '\t'))
		len--;
	const char *rest = text + strcspn(text, "\n");
	_cleanup_free_ char *out = dp_text_printf("%.*s%s%s%s", (int)len, text, len ? " " : "", args,
	                                          *rest ? rest : "\n");
	return dp_changeset_put(cs, KERNEL_CMDLINE, out, file_mode(KERNEL_CMDLINE));
}

static int write_grub_dropin(struct dp_changeset *cs, const struct dp_strv *wanted)
{
	_cleanup_free_ char *have = grub_cmdline(NULL, GRUB_DROPIN);
	_cleanup_(dp_strv_freep) struct dp_strv add = {0};
	int r = missing_args(have, wanted, &add);
	if (r < 0 || !add.n)
		return r;
	_cleanup_free_ char *args = dp_strv_join(&add, " ");
	if (!args)
		return dp_oom();
	_cleanup_free_ char *text = dp_text_printf(
		"# Kernel arguments for PCI device passthrough, written by 'devpass setup iommu'.\n"
		"# 'devpass setup --undo' removes this file; run update-grub after editing it.\n"
		"GRUB_CMDLINE_LINUX_DEFAULT=\"${GRUB_CMDLINE_LINUX_DEFAULT} %s\"\n", args);
	return dp_changeset_put(cs, GRUB_DROPIN, text, 0644);
}

/* A drop-in sourced after devpass's that sets the variable outright would throw the
 * arguments away: better no change than one that silently does nothing. */
static int dropin_effect_check(const struct dp_changeset *cs, const struct dp_strv *wanted)
{
	_cleanup_free_ char *have = grub_cmdline(cs, NULL);
	_cleanup_(dp_strv_freep) struct dp_strv lost = {0};
	int r = missing_args(have, wanted, &lost);
	if (r < 0 || !lost.n)
		return r;
	return dp_error_set(-ENOTSUP, "a drop-in in %s sourced after %s sets GRUB_CMDLINE_LINUX_DEFAULT "
		                 "without keeping what came before, so %s would never reach the kernel: make it "
		                 "append (VAR=\"$VAR ...\") or add the arguments there yourself",
		                 GRUB_DROPIN_DIR, GRUB_DROPIN, lost.v[0]);
}

static int grub_command(struct dp_changeset *cs)
{
	if (dp_fs_exists("/usr/sbin/update-grub"))
		return dp_changeset_command(cs, "update-grub");
	if (dp_fs_exists("/usr/sbin/grub2-mkconfig"))
		return dp_changeset_command(cs, "grub2-mkconfig -o /boot/grub2/grub.cfg");
	return dp_changeset_command(cs, "grub-mkconfig -o /boot/grub/grub.cfg");
}

static int loader_edit(const struct loader *l, struct dp_changeset *cs, const struct dp_strv *wanted)
{
	int r = 0;
	switch (l->kind) {
	case GRUB_DROPIN_KIND:
		r = write_grub_dropin(cs, wanted);
		if (r == 0)
			r = dropin_effect_check(cs, wanted);
		break;
	case GRUB_PLAIN:
		r = edit_grub_var(cs, file_contains(GRUB_DEFAULT, "GRUB_CMDLINE_LINUX_DEFAULT=")
		                      ? "GRUB_CMDLINE_LINUX_DEFAULT" : "GRUB_CMDLINE_LINUX", wanted);
		break;
	case GRUB_BLS:
		/* grub2-mkconfig rebuilds entries from GRUB_CMDLINE_LINUX; GRUB boots the
		 * entries' options lines as they are, so both are edited and nothing needs
		 * regenerating */
		r = edit_grub_var(cs, "GRUB_CMDLINE_LINUX", wanted);
		/* fall through */
	case SDBOOT:
		for (size_t i = 0; r == 0 && i < l->entries.n; i++)
			r = edit_bls_entry(cs, l->entries.v[i], wanted);
		if (r == 0 && l->kind == SDBOOT && dp_fs_exists(KERNEL_CMDLINE))
			r = edit_kernel_cmdline(cs, wanted);
		break;
	case KERNEL_INSTALL:
		r = edit_kernel_cmdline(cs, wanted);
		break;
	case UNKNOWN:
		break;
	}
	/* grub.cfg is generated: regenerated only when its inputs changed */
	if (r == 0 && !dp_changeset_empty(cs) && (l->kind == GRUB_DROPIN_KIND || l->kind == GRUB_PLAIN))
		return grub_command(cs);
	return r;
}

static const char *base_name(const char *path)
{
	const char *slash = strrchr(path, '/');
	return slash ? slash + 1 : path;
}

/* A "key value" setting of a small config file (loader.conf, grubenv uses key=value). */
static bool setting_read(const char *path, const char *key, char sep, char *out, size_t size)
{
	char *text = NULL;
	bool found = false;
	size_t kl = strlen(key);
	if (dp_fs_read_all(path, &text, NULL) < 0)
		return false;
	for (const char *line = text; line && *line && !found;) {
		if (strncmp(line, key, kl) == 0 && line[kl] == sep) {
			const char *v = line + kl + 1;
			while (*v == ' ' || *v == '\t')
				v++;
			snprintf(out, size, "%.*s", (int)strcspn(v, " \t\n"), v);
			found = *out != '\0';
		}
		line = dp_text_next_line(line);
	}
	free(text);
	return found;
}

/* The entry booted next: systemd-boot's `default` pattern, GRUB's saved_entry, else the
 * newest version that is not a rescue or fallback entry. */
static const char *default_entry(const struct loader *l)
{
	char want[256], conf[64];
	snprintf(conf, sizeof(conf), "%s/loader/loader.conf", l->esp);
	bool have = l->kind == SDBOOT ? setting_read(conf, "default", ' ', want, sizeof(want))
	          : setting_read("/boot/grub2/grubenv", "saved_entry", '=', want, sizeof(want)) ||
	            setting_read("/boot/efi/EFI/fedora/grubenv", "saved_entry", '=', want, sizeof(want));
	if (have && l->kind == GRUB_BLS)
		strncat(want, ".conf", sizeof(want) - strlen(want) - 1);
	const char *best = NULL;
	for (size_t i = 0; i < l->entries.n; i++) {
		const char *name = base_name(l->entries.v[i]);
		if (have && fnmatch(want, name, 0) == 0)
			return l->entries.v[i];
		if (strstr(name, "rescue") || strstr(name, "fallback"))
			continue;
		if (!best || strverscmp(name, base_name(best)) > 0)
			best = l->entries.v[i];
	}
	return best ? best : l->entries.n ? l->entries.v[0] : NULL;
}

/* The command line the boot configuration gives the next boot. */
static char *loader_cmdline(const struct loader *l)
{
	char *text = NULL;
	switch (l->kind) {
	case GRUB_DROPIN_KIND:
	case GRUB_PLAIN:
		return grub_cmdline(NULL, NULL);
	case GRUB_BLS:
	case SDBOOT: {
		char *all = dp_text_printf("%s", "");
		const char *entry = default_entry(l);
		if (entry && dp_fs_read_all(entry, &text, NULL) == 0) {
			for (const char *p = text; (p = strstr(p, "options"));) {
				const char *eol = strchrnul(p, '\n');
				if (p == text || p[-1] == '\n')
					dp_text_append(&all, " %.*s", (int)(eol - p - 7), p + 7);
				p = eol;
			}
			free(text);
		}
		return all;
	}
	case KERNEL_INSTALL:
		if (dp_fs_read_all(KERNEL_CMDLINE, &text, NULL) == 0)
			return text;
		return dp_text_printf("%s", "");
	case UNKNOWN:
		break;
	}
	return NULL;
}

static void loader_free(struct loader *l)
{
	dp_strv_free(&l->entries);
}
DEFINE_CLEANUP_STRUCT(loader, loader_free)

static const char *const conflicting[] = {"intel_iommu=off", "amd_iommu=off", "iommu=off",
                                          "amd_iommu=on", "iommu=nopt"};

static int conflicts_warn(const struct loader *l, struct dp_changeset *cs)
{
	_cleanup_free_ char *have = loader_cmdline(l);
	for (size_t i = 0; have && i < sizeof(conflicting) / sizeof(*conflicting); i++)
		if (dp_cmdline_has(have, conflicting[i]) &&
		    dp_strv_addf(&cs->warnings, "the boot configuration also has %s: %s", conflicting[i],
			             strcmp(conflicting[i], "amd_iommu=on") == 0
			             ? "it is not a value the kernel knows; remove it"
			             : "devpass's arguments come later and win, but remove it to avoid confusion") < 0)
			return dp_oom();
	return 0;
}

static int instructions(const struct dp_strv *wanted, struct dp_setup_info *info)
{
	_cleanup_free_ char *args = dp_strv_join(wanted, " ");
	if (!args)
		return dp_oom();
	int r = 0;
	r |= dp_strv_addf(&info->instructions, "devpass could not tell which boot loader this host uses "
	             "(no /etc/default/grub, no systemd-boot loader.conf, no /etc/kernel/cmdline).");
	r |= dp_strv_addf(&info->instructions, "Add these kernel arguments where your boot loader keeps "
	             "the command line: %s", args);
	r |= dp_strv_addf(&info->instructions, "  GRUB: append them to GRUB_CMDLINE_LINUX_DEFAULT in "
	             "/etc/default/grub, then run update-grub (or grub2-mkconfig -o <grub.cfg>)");
	r |= dp_strv_addf(&info->instructions, "  systemd-boot / rEFInd / extlinux: append them to the "
	             "'options' (or 'append') line of each boot entry");
	r |= dp_strv_addf(&info->instructions, "Then reboot.");
	return r < 0 ? dp_oom() : 0;
}

/* What the boot configuration gives the next boot, against what is wanted. */
static int configured_note(const struct loader *l, struct dp_setup_info *info,
                           struct dp_changeset *cs)
{
	_cleanup_free_ char *have = loader_cmdline(l);
	for (size_t i = 0; i < info->wanted.n; i++)
		if (have && dp_cmdline_has(have, info->wanted.v[i]) &&
		    dp_strv_add(&info->configured, info->wanted.v[i]) < 0)
			return dp_oom();
	int r = conflicts_warn(l, cs);
	if (r < 0)
		return r;
	if (info->active.n < info->wanted.n)
		return dp_changeset_note_step(cs, "reboot for the new kernel arguments to take effect, "
		                       "then check the host's readiness", DP_REMEDY_CHECK_HOST, NULL);
	return 0;
}

int dp_setup_iommu_plan(bool passthrough_mode, struct dp_setup_info *info, struct dp_changeset *cs)
{
	struct dp_host_facts h;
	_cleanup_(loader_freep) struct loader l = {0};
	memset(info, 0, sizeof(*info));
	dp_changeset_init(cs, FEATURE);
	dp_host_facts_read(&h);
	snprintf(info->iommu, sizeof(info->iommu), "%s", iommu_name(&h));
	if (!*info->iommu)
		return dp_error_set(-ENOTSUP, "cannot tell whether this host has an Intel or an AMD IOMMU "
		                    "(no ACPI DMAR or IVRS table, unknown CPU vendor)");
	int r = wanted_args(&h, passthrough_mode, &info->wanted);
	if (r < 0)
		return r;
	loader_detect(&l);
	snprintf(info->loader, sizeof(info->loader), "%s", loader_names[l.kind]);
	for (size_t i = 0; i < info->wanted.n; i++)
		if (dp_cmdline_has(h.cmdline, info->wanted.v[i]) &&
		    dp_strv_add(&info->active, info->wanted.v[i]) < 0)
			return dp_oom();
	if (l.kind == UNKNOWN) {
		if (info->active.n < info->wanted.n && (r = instructions(&info->wanted, info)) < 0)
			return r;
		cs->manual = info->instructions.n > 0;
		return 0;
	}
	if ((r = loader_edit(&l, cs, &info->wanted)) < 0)
		return r;
	return configured_note(&l, info, cs);
}

int dp_setup_undo_plan(struct dp_changeset *cs)
{
	_cleanup_(loader_freep) struct loader l = {0};
	dp_changeset_init(cs, FEATURE);
	int r = dp_journal_undo_plan(cs);
	loader_detect(&l);
	if (r == 0 && cs->n && (l.kind == GRUB_DROPIN_KIND || l.kind == GRUB_PLAIN))
		r = grub_command(cs);
	return r;
}

void dp_setup_info_free(struct dp_setup_info *info)
{
	dp_strv_free(&info->wanted);
	dp_strv_free(&info->configured);
	dp_strv_free(&info->active);
	dp_strv_free(&info->instructions);
}

static bool iommu_related(const char *arg)
{
	static const char *const keys[] = {"intel_iommu=", "amd_iommu=", "iommu=", "vfio-pci.ids=",
	                                   "vfio_pci.ids=", "iommu.passthrough="};
	for (size_t i = 0; i < sizeof(keys) / sizeof(*keys); i++)
		if (strncmp(arg, keys[i], strlen(keys[i])) == 0)
			return true;
	return false;
}

int dp_setup_pending_args(struct dp_strv *pending, struct dp_strv *where)
{
	_cleanup_(loader_freep) struct loader l = {0};
	struct dp_host_facts h;
	loader_detect(&l);
	dp_host_facts_read(&h);
	_cleanup_free_ char *have = loader_cmdline(&l);
	for (char *save = NULL, *arg = have ? strtok_r(have, " \t\n", &save) : NULL; arg;
	     arg = strtok_r(NULL, " \t\n", &save))
		if (iommu_related(arg) && !dp_cmdline_has(h.cmdline, arg) && !dp_strv_contains(pending, arg) &&
		    dp_strv_add(pending, arg) < 0)
			return dp_oom();
	if (l.kind != UNKNOWN &&
	    dp_strv_add(where, l.kind == GRUB_DROPIN_KIND || l.kind == GRUB_PLAIN ? GRUB_DEFAULT
	                     : l.kind == KERNEL_INSTALL ? KERNEL_CMDLINE
	                     : default_entry(&l) ? default_entry(&l) : GRUB_DEFAULT) < 0)
		return dp_oom();
	return 0;
}
