/* Internal pieces of host setup and persistence. */
#ifndef DP_PERSIST_H
#define DP_PERSIST_H

#include "devpass.h"
#include "alloc-util.h"

/* Where the boot path finds devpass: the installed binary, never the build tree. */
#ifndef DP_BINDIR
#define DP_BINDIR "/usr/local/bin"
#endif
#define DP_PERSIST_BIN DP_BINDIR "/devpass"

/* rules.c: the VF count a PF has now, or -errno */
int dp_sriov_numvfs(const char *address);
bool dp_persist_rule_matches(const struct dp_persist_rule *rule, const struct dp_pci_device *dev,
                             const struct dp_pci_details *details);

/* bootcfg.c: kernel arguments the boot configuration has that /proc/cmdline lacks
 * (a reboot is needed) */
int dp_setup_pending_args(struct dp_strv *pending, struct dp_strv *where);

/* ids.c: vfio-pci ids configured in modprobe.d or on the command line: "VVVV:DDDD" and
 * where */
int dp_vfio_ids_configured(struct dp_strv *ids, struct dp_strv *where);

/* diff.c */
/* -ENOMEM: the file's diff could not be made (nothing printed for it). */
int dp_diff_print(FILE *f, const char *name_a, const char *a_text, size_t a_len,
                  const char *name_b, const char *b_text, size_t b_len);

/* changeset.c: staging (a change equal to what is there already is dropped) */
int dp_changeset_put(struct dp_changeset *cs, const char *path, const char *content,
                     unsigned mode);
int dp_changeset_delete(struct dp_changeset *cs, const char *path);
/* Creates path's missing parent directories when applied, journaled for undo. */
int dp_changeset_mkdirs_for(struct dp_changeset *cs, const char *path);
int dp_changeset_command(struct dp_changeset *cs, const char *line);
/* A file devpass wrote that was edited since (it goes to cs->kept): a plan leaves it be.
 * 1 edited, 0 not, -ENOMEM. */
int dp_changeset_edited_since(struct dp_changeset *cs, const char *path);
int dp_changeset_command_optional(struct dp_changeset *cs, const char *line);
/* Adds a note that names a step (next, about the devices in subjects: see enum
 * dp_remedy), for the front end to give the command with it. -ENOMEM. */
int dp_changeset_note_step(struct dp_changeset *cs, const char *note, enum dp_remedy next,
                           const struct dp_strv *subjects);
/* The content a put staged for path, else what is on disk (NULL when absent); for plans
 * that edit one file twice. */
const char *dp_changeset_peek(const struct dp_changeset *cs, const char *path);

/* journal.c: the files devpass wrote, per feature */
struct dp_journal_file {
	char *path;
	bool existed;
	char *before;
	size_t before_len;
	unsigned before_mode;
	char *written;
	size_t written_len;
};
struct dp_journal_list {
	struct dp_journal_file *f;
	size_t n;
	struct dp_strv dirs;         /* directories the feature created */
};
int dp_journal_list(const char *feature, struct dp_journal_list *out);
void dp_journal_list_free(struct dp_journal_list *l);
DEFINE_CLEANUP_STRUCT(dp_journal_list, dp_journal_list_free)
/* The journal side of dp_changeset_apply, in one synced transaction before any write. */
int dp_journal_record(const struct dp_changeset *cs);
/* After the writes: rows for files back at their original state, and removed dirs, go. */
int dp_journal_settle(const struct dp_changeset *cs);
/* Plans putting back every file of a feature (undo / remove all). */
int dp_journal_undo_plan(struct dp_changeset *cs);

/* text helpers: out of memory, dp_text_printf returns NULL and dp_text_append frees the
 * text and leaves NULL, and appending to NULL does nothing; a text is checked once, when
 * built (dp_changeset_put takes a NULL content as out of memory). */
char *dp_text_printf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* The line after this one, NULL after the last. */
const char *dp_text_next_line(const char *line);
/* Appends to a malloc'ed string. */
void dp_text_append(char **s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
