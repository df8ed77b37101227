/* devpass sriov — SR-IOV NIC VFs: their count, and settings (MAC, VLAN, rates, trust...)
 * set through the PF over netlink, stored and re-applied when the VFs come back. */
#include <errno.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

static int sriov_fail(int r)
{
	return cli_lib_error(r == -EINVAL || r == -ERANGE ? EXIT_USAGE : EXIT_FAILED);
}

/* ---- show ------------------------------------------------------------------------------ */

static const struct dp_column pf_columns[] = {
	{"pf", "PF", DP_COL_TEXT, 0}, {"ifname", "Interface", DP_COL_TEXT, 0},
	{"address", "PCI address", DP_COL_TEXT, 0}, {"numvfs", "VFs", DP_COL_TEXT, 0},
	{"totalvfs", "Max VFs", DP_COL_TEXT, 0}, {"num_vf", "VFs (kernel)", 0, 0},
	{"up", "Up", DP_COL_TEXT, 0}, {"note", "Note", DP_COL_TEXT, 0}, {"vfs", "VFs", 0, 0},
};

static const struct dp_column vf_columns[] = {
	{"vf", "VF", DP_COL_TEXT, 0}, {"address", "ADDRESS", DP_COL_TEXT, 0},
	{"netdev", "NETDEV", DP_COL_TEXT, 0}, {"mac", "MAC", DP_COL_TEXT, 0},
	{"vlan", "VLAN", DP_COL_TEXT, 0}, {"qos", "QOS", DP_COL_TEXT, 0},
	{"proto", "PROTO", DP_COL_TEXT, 0}, {"min_rate", "MIN", DP_COL_TEXT, 0},
	{"max_rate", "MAX", DP_COL_TEXT, 0}, {"spoofchk", "SPOOFCHK", DP_COL_TEXT, 0},
	{"trust", "TRUST", DP_COL_TEXT, 0}, {"link_state", "LINK", DP_COL_TEXT, 0},
	{"stored_settings", "STORED", DP_COL_TEXT, 0}, {"stored", "Stored", 0, 0},
};

static const char *mac_text(const uint8_t *mac, char out[18])
{
	snprintf(out, 18, "%02x:%02x:%02x:%02x:%02x:%02x", mac[0], mac[1], mac[2], mac[3], mac[4], mac[5]);
	return out;
}

static void set_flag(struct dp_table *t, const char *key, int v)
{
	if (v < 0)
		dp_table_set_null(t, key);
	else
		dp_table_set_bool(t, key, v);
}

static void set_opt_str(struct dp_table *t, const char *key, const char *v)
{
	dp_table_set_str(t, key, v && *v ? v : NULL);
}

static struct json_object *stored_json(const struct dp_vf_settings *s)
{
	char mac[18];
	struct json_object *o = json_object_new_object();
	if (s->set & DP_VF_SET_MAC)
		json_object_object_add(o, "mac", json_object_new_string(mac_text(s->mac, mac)));
	if (s->set & DP_VF_SET_VLAN) {
		json_object_object_add(o, "vlan", json_object_new_int(s->vlan));
		json_object_object_add(o, "qos", json_object_new_int(s->qos));
		json_object_object_add(o, "proto", json_object_new_string(dp_vf_proto_name(s->proto)));
	}
	if (s->set & DP_VF_SET_MIN_RATE)
		json_object_object_add(o, "min_rate", json_object_new_int(s->min_rate));
	if (s->set & DP_VF_SET_MAX_RATE)
		json_object_object_add(o, "max_rate", json_object_new_int(s->max_rate));
	if (s->set & DP_VF_SET_SPOOFCHK)
		json_object_object_add(o, "spoofchk", json_object_new_boolean(s->spoofchk));
	if (s->set & DP_VF_SET_TRUST)
		json_object_object_add(o, "trust", json_object_new_boolean(s->trust));
	if (s->set & DP_VF_SET_LINK_STATE)
		json_object_object_add(o, "link_state",
		                       json_object_new_string(dp_vf_link_state_name(s->link_state)));
	return o;
}

/* the text column: the names of the stored settings ("mac,vlan,trust") */
static void stored_names(const struct dp_vf_settings *s, struct dp_strv *out)
{
	static const struct { unsigned bit; const char *name; } names[] = {
		{DP_VF_SET_MAC, "mac"}, {DP_VF_SET_VLAN, "vlan"}, {DP_VF_SET_MIN_RATE, "min-rate"},
		{DP_VF_SET_MAX_RATE, "max-rate"}, {DP_VF_SET_SPOOFCHK, "spoofchk"},
		{DP_VF_SET_TRUST, "trust"}, {DP_VF_SET_LINK_STATE, "link-state"},
	};
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (s->set & names[i].bit)
			dp_strv_add(out, names[i].name);
}

static void vf_row_kernel(struct dp_table *t, const struct dp_vf_info *v)
{
	char mac[18];
	if (!v->reported) {
		static const char *const keys[] = {"mac", "vlan", "qos", "proto", "min_rate", "max_rate",
		                                   "spoofchk", "trust", "link_state"};
		for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
			dp_table_set_null(t, keys[i]);
		return;
	}
	dp_table_set_str(t, "mac", mac_text(v->mac, mac));
	dp_table_set_int(t, "vlan", v->vlan);
	dp_table_set_int(t, "qos", v->qos);
	dp_table_set_str(t, "proto", dp_vf_proto_name(v->proto));
	dp_table_set_int(t, "min_rate", v->min_rate);
	dp_table_set_int(t, "max_rate", v->max_rate);
	set_flag(t, "spoofchk", v->spoofchk);
	set_flag(t, "trust", v->trust);
	if (v->link_state < 0)
		dp_table_set_null(t, "link_state");
	else
		dp_table_set_str(t, "link_state", dp_vf_link_state_name(v->link_state));
}

static void vf_row(struct dp_table *t, const struct dp_vf_info *v)
{
	struct dp_strv names = {0};
	dp_table_add_row(t);
	dp_table_set_int(t, "vf", v->index);
	set_opt_str(t, "address", v->address);
	set_opt_str(t, "netdev", v->netdev);
	vf_row_kernel(t, v);
	if (v->stored)
		stored_names(&v->want, &names);
	dp_table_set_strv(t, "stored_settings", &names);
	dp_table_set_json(t, "stored", v->stored ? stored_json(&v->want) : NULL);
	dp_strv_free(&names);
}

static void pf_row(struct dp_table *t, const struct dp_sriov_pf *pf, struct dp_table *vfs)
{
	dp_table_add_row(t);
	dp_table_set_str(t, "pf", pf->key);
	set_opt_str(t, "ifname", pf->ifname);
	set_opt_str(t, "address", pf->address);
	dp_table_set_int(t, "numvfs", pf->numvfs);
	if (pf->totalvfs >= 0)
		dp_table_set_int(t, "totalvfs", pf->totalvfs);
	else
		dp_table_set_null(t, "totalvfs");
	if (pf->num_vf >= 0)
		dp_table_set_int(t, "num_vf", pf->num_vf);
	else
		dp_table_set_null(t, "num_vf");
	dp_table_set_bool(t, "up", pf->up);
	set_opt_str(t, "note", pf->note);
	dp_table_set_json(t, "vfs", dp_table_to_json(vfs));
}

static int sriov_show(int argc, char **argv, const struct cli_ctx *ctx)
{
	struct cli_opts p;
	struct dp_sriov_pf pf;
	int r = cli_opts_none(argc, argv, "sriov show", 1, 1, &p);
	if (r)
		return r;
	if ((r = dp_sriov_show(p.args[0], &pf)) < 0)
		return sriov_fail(r);
	struct dp_table *vfs = dp_table_new(vf_columns, sizeof(vf_columns) / sizeof(vf_columns[0]));
	struct dp_table *rec = dp_table_new(pf_columns, sizeof(pf_columns) / sizeof(pf_columns[0]));
	if (!vfs || !rec) {
		dp_table_free(vfs);
		dp_table_free(rec);
		dp_sriov_pf_free(&pf);
		return cli_error(EXIT_FAILED, "out of memory");
	}
	for (size_t i = 0; i < pf.n; i++)
		vf_row(vfs, &pf.vf[i]);
	pf_row(rec, &pf, vfs);
	dp_table_print_record(rec, stdout, ctx->json);
	if (!ctx->json && pf.n) {
		printf("\n");
		cli_table_print_fitted(vfs, stdout, false);
	}
	dp_table_free(vfs);
	dp_table_free(rec);
	dp_sriov_pf_free(&pf);
	return EXIT_OK;
}

/* ---- vfs, apply ----------------------------------------------------------------------- */

static int done_print(const struct cli_ctx *ctx, const char *pf, const char *msg)
{
	if (!ctx->json) {
		printf("%s\n", msg);
		return EXIT_OK;
	}
	struct json_object *o = json_object_new_object();
	json_object_object_add(o, "pf", json_object_new_string(pf));
	json_object_object_add(o, "ok", json_object_new_boolean(1));
	json_object_object_add(o, "message", json_object_new_string(msg));
	printf("%s\n", json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY |
	                                              JSON_C_TO_STRING_NOSLASHESCAPE));
	json_object_put(o);
	return EXIT_OK;
}

/* a VF count or a VF number: what names the value in the message */
static int vf_number_parse(const char *what, const char *text, int *out)
{
	char *end;
	long v = strtol(text, &end, 10);
	if (!*text || *end || v < 0 || v > 65535)
		return cli_error(EXIT_USAGE, "%s '%.40s' is not a number (0..65535)", what, text);
	*out = (int)v;
	return 0;
}

static int sriov_vfs(int argc, char **argv, const struct cli_ctx *ctx)
{
	static const struct cli_option opts[] = {{"no-autoprobe", 0, false, 'n'},
	                                         {"timeout", 0, true, 't'}, {NULL, 0, false, 0}};
	struct cli_opts p;
	bool no_autoprobe = false;
	int c, count = 0, timeout_ms = 0;
	char msg[512];
	cli_opts_init(&p, argc, argv, "sriov vfs", opts);
	while ((c = cli_opts_next(&p)) > 0)
		if (c == 'n')
			no_autoprobe = true;
		else if (c == 't' && cli_timeout_parse(p.value, &timeout_ms) < 0)
			return EXIT_USAGE;
	if (c < 0)
		return p.exit;
	int r = cli_opts_count(&p, 2, 2, "PF N");
	if (r || (r = vf_number_parse("devpass sriov vfs: the VF count", p.args[1], &count)))
		return r;
	if ((r = dp_sriov_vfs_set(p.args[0], count, no_autoprobe, timeout_ms, msg, sizeof(msg))) < 0)
		return sriov_fail(r);
	return done_print(ctx, p.args[0], msg);
}

static int sriov_apply(int argc, char **argv, const struct cli_ctx *ctx)
{
	struct cli_opts p;
	char msg[512];
	int r = cli_opts_none(argc, argv, "sriov apply", 1, 1, &p);
	if (r)
		return r;
	if ((r = dp_sriov_apply(p.args[0], msg, sizeof(msg))) < 0)
		return sriov_fail(r);
	return done_print(ctx, p.args[0], msg);
}

/* ---- set, forget ------------------------------------------------------------------------ */

static const struct cli_option set_options[] = {
	{"pf", 0, true, 'P'}, {"vf", 0, true, 'V'}, {"mac", 0, true, 'm'}, {"vlan", 0, true, 'v'},
	{"qos", 0, true, 'q'}, {"proto", 0, true, 'p'}, {"max-rate", 0, true, 'M'},
	{"min-rate", 0, true, 'N'}, {"spoofchk", 0, true, 's'}, {"trust", 0, true, 'T'},
	{"link-state", 0, true, 'l'}, {NULL, 0, false, 0},
};

struct set_args {
	const char *pf, *vf_text;
	struct dp_vf_settings s;
};

/* --NAME VALUE: the library's setting name is the option's */
static int set_option(struct set_args *a, struct cli_opts *p, int c)
{
	if (c == 'P')
		a->pf = p->value;
	else if (c == 'V')
		a->vf_text = p->value;
	else if (dp_vf_setting_parse(p->name + 2, p->value, &a->s) < 0)
		return cli_error(EXIT_USAGE, "%s: %s", p->name, dp_error_message());
	return 0;
}

/* VF-ADDR, or --pf IFNAME --vf N: the PF and the VF number */
static int set_target(const struct set_args *a, const struct cli_opts *p, char *pf, size_t size,
                      int *vf)
{
	if (p->nargs == 1 && !a->pf && !a->vf_text) {
		int r = dp_sriov_vf_locate(p->args[0], pf, size, vf);
		return r < 0 ? sriov_fail(r) : 0;
	}
	if (p->nargs != 0 || !a->pf || !a->vf_text)
		return cli_error(EXIT_USAGE, "devpass sriov set takes a VF's PCI address, or --pf PF "
		                 "--vf N (see 'devpass sriov --help')");
	snprintf(pf, size, "%s", a->pf);
	return vf_number_parse("--vf: the VF number", a->vf_text, vf);
}

static int sriov_set(int argc, char **argv, const struct cli_ctx *ctx)
{
	struct cli_opts p;
	struct set_args a = {0};
	char pf[64], msg[160];
	int c, vf, r = 0;
	cli_opts_init(&p, argc, argv, "sriov set", set_options);
	while (r == 0 && (c = cli_opts_next(&p)) > 0)
		r = set_option(&a, &p, c);
	if (r)
		return r;
	if (c < 0)
		return p.exit;
	if ((r = set_target(&a, &p, pf, sizeof(pf), &vf)))
		return r;
	if ((r = dp_sriov_vf_set(pf, vf, &a.s)) < 0)
		return sriov_fail(r);
	snprintf(msg, sizeof(msg), "VF %d of %s: settings applied and stored", vf, pf);
	return done_print(ctx, pf, msg);
}

static int sriov_forget(int argc, char **argv, const struct cli_ctx *ctx)
{
	struct cli_opts p;
	char msg[160];
	int vf;
	int r = cli_opts_none(argc, argv, "sriov forget", 2, 2, &p);
	if (r || (r = vf_number_parse("devpass sriov forget: the VF number", p.args[1], &vf)))
		return r;
	if ((r = dp_sriov_vf_unset_stored(p.args[0], vf)) < 0)
		return sriov_fail(r);
	snprintf(msg, sizeof(msg), "VF %d of %s: stored settings forgotten (the VF keeps its "
	         "current ones)", vf, p.args[0]);
	return done_print(ctx, p.args[0], msg);
}

static const struct {
	const char *name;
	int (*run)(int argc, char **argv, const struct cli_ctx *ctx);
} sriov_verbs[] = {
	{"show", sriov_show}, {"vfs", sriov_vfs}, {"set", sriov_set}, {"apply", sriov_apply},
	{"forget", sriov_forget},
};

int cmd_sriov(int argc, char **argv, const struct cli_ctx *ctx)
{
	static const char names[] = "show, vfs, set, apply or forget";
	if (argc >= 2 && argv[1][0] == '-') {   /* sriov --help; or an option first */
		struct cli_opts p;
		int r = cli_opts_none(2, argv, "sriov", 0, 0, &p);
		if (r)
			return r;
	}
	if (argc < 2 || argv[1][0] == '-')
		return cli_error(EXIT_USAGE, "devpass sriov needs a sub-command first: %s (devpass "
		                 "sriov --help)", names);
	for (size_t i = 0; i < sizeof(sriov_verbs) / sizeof(sriov_verbs[0]); i++)
		if (strcmp(sriov_verbs[i].name, argv[1]) == 0)
			return sriov_verbs[i].run(argc - 1, argv + 1, ctx);
	return cli_error(EXIT_USAGE, "unknown sriov sub-command '%.100s': %s (devpass sriov --help)",
	                 argv[1], names);
}
