/* kylin_follow: the leader adds the projects created in Kylin and removes those dropped in it
 * (kylin_follow.h; docs/kylin.md "Projects follow Kylin"). Stateless between reads: which
 * quorum projects came from Kylin is in the replicated state (projects.kylin_listed). */
#include "kylin_follow.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../kylin/error.h"
#include "../kylin/follow.h"
#include "../kylin/projects.h"
#include "../storage/command.h"
#include "common/log.h"
#include "kylin_follow_async.h"
#include "kylin_link.h"
#include "node.h"

/* ---- hooks: run on the reader's thread, touch only their arguments ---- */

static int plan_hook(const char *prefix, const char *const *tables, size_t n, char *sql, size_t size, int *variant,
                     char *err, size_t err_size)
{
    enum kylin_schema schema;
    if (kylin_projects_detect(prefix, tables, n, &schema, err, err_size) != KYLIN_OK) {
        return -1; /* the later line, or an identifier Kylin cannot have: ERR says which */
    }
    if (schema == KYLIN_SCHEMA_NONE) {
        return 1;
    }
    if (kylin_projects_sql_names(schema, prefix, sql, size, err, err_size) != KYLIN_OK) {
        return -1;
    }
    *variant = (int)schema;
    return 0;
}

static int name_hook(int variant, const char *cell, char *name, size_t size, char *err, size_t err_size)
{
    if (size < KYLIN_PROJECT_NAME_MAX + 1) {
        snprintf(err, err_size, "name buffer too small");
        return -1;
    }
    return kylin_project_name_from_row((enum kylin_schema)variant, cell, name, err, err_size) == KYLIN_OK ? 0 : -1;
}

/* ---- loop thread ---- */

static bool is_leader(const struct kylin_link *k)
{
    return raft_state(&k->node->raft) == RAFT_LEADER && k->node->phase == NODE_RUNNING;
}

/* Logs TEXT at LEVEL once (until another note replaces it). */
static void note(struct kylin_link *k, bool error, const char *text)
{
    if (strcmp(text, k->follow_note) == 0) {
        return;
    }
    snprintf(k->follow_note, sizeof k->follow_note, "%s", text);
    if (error) {
        log_error("kylin: %s", text);
    } else {
        log_warn("kylin: %s", text);
    }
}

static void proposed(void *data, uint64_t index, int status, const char *code, const char *message)
{
    struct kylin_link *k = data;
    (void)index;
    if (k->follow_inflight > 0) {
        k->follow_inflight--;
    }
    if (status != 0) {
        log_warn("kylin: following Kylin's projects: %s (%s); tried again after the next read", message,
                 code != NULL ? code : "");
    }
}

enum follow_op { FOLLOW_ADD, FOLLOW_ADOPT, FOLLOW_REMOVE };

static void propose(struct kylin_link *k, const char *name, enum follow_op op)
{
    bool add = op != FOLLOW_REMOVE;
    msgpack_sbuffer sb;
    msgpack_packer pk;
    msgpack_sbuffer_init(&sb);
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    /* both adds carry "kylin": true: the project is stored kylin_listed (replicated), so
     * whichever member leads later removes it once Kylin drops it */
    int rc = add ? command_pack_project_add_kylin(&pk, name, strlen(name))
                 : command_pack_project_remove(&pk, name, strlen(name));
    if (rc == 0) {
        rc = proposals_submit(&k->node->proposals, sb.data, sb.size, proposed, k);
    }
    msgpack_sbuffer_destroy(&sb);
    if (rc != 0) {
        log_warn("kylin: cannot propose %s of project %s (out of memory); tried again after the next read",
                 add ? "the add" : "the removal", name);
        return;
    }
    k->follow_inflight++;
    if (op == FOLLOW_ADD) {
        k->follow_adds++;
        log_info("kylin: project %s exists in Kylin: adding it", name);
    } else if (op == FOLLOW_ADOPT) {
        log_info("kylin: project %s is listed in Kylin's metadata too: it follows Kylin from now on (removed "
                 "when dropped there)", name);
    } else {
        k->follow_removes++;
        log_info("kylin: project %s was dropped in Kylin: removing it", name);
    }
}

/* Proposes the plan the comparison in FA made (RC 0), with the notes of what it skipped. */
static void follow_finish(struct kylin_link *k, struct kylin_follow_async *fa, int rc, const char *errmsg)
{
    char text[512];
    if (rc != 0) {
        log_warn("kylin: following Kylin's projects: %s", errmsg);
        kylin_follow_async_free(fa);
        return;
    }
    if (!is_leader(k)) { /* deposed meanwhile: the next leader compares again */
        kylin_follow_async_free(fa);
        return;
    }
    const struct kylin_follow_plan *plan = &fa->plan;
    if (fa->skipped > 0) {
        snprintf(text, sizeof text, "%zu Kylin project(s) not followed: their names break raftnode's rule (first: %s: %s)",
                 fa->skipped, fa->first_skipped,
                 store_check_project_name(fa->first_skipped, strlen(fa->first_skipped)));
        note(k, false, text);
    }
    if (plan->n_clash > 0) {
        snprintf(text, sizeof text, "%zu Kylin project rows have names equal ignoring case (Kylin takes them for one "
                 "project); none of them is added", plan->n_clash);
        note(k, false, text);
    }
    for (size_t i = 0; i < plan->n_add; i++) {
        propose(k, plan->add[i], FOLLOW_ADD);
    }
    for (size_t i = 0; i < plan->n_adopt; i++) {
        propose(k, plan->adopt[i], FOLLOW_ADOPT);
    }
    for (size_t i = 0; i < plan->n_remove; i++) {
        propose(k, plan->remove[i], FOLLOW_REMOVE);
    }
    kylin_follow_async_free(fa);
}

static void compared(struct kylin_follow_async *fa, int rc, const char *errmsg)
{
    struct kylin_link *k = fa->data;
    k->follow_deciding = false;
    if (!k->enabled || !k->follow) { /* closed meanwhile */
        kylin_follow_async_free(fa);
        return;
    }
    follow_finish(k, fa, rc, errmsg);
}

/* Compares Kylin's list P (taken) with the quorum's projects, on the background thread
 * (kylin_follow_async.h), then proposes. */
static void follow(struct kylin_link *k, struct epoch_projects *p)
{
    struct kylin_follow_async *fa = &k->follow_job;
    fa->data = k;
    int rc = kylin_follow_async_start(fa, p, &k->node->store, &k->node->bg, compared);
    if (rc == 0) {
        k->follow_deciding = true;
        return;
    }
    if (rc > 0) { /* an in-memory store: compared here */
        rc = kylin_follow_async_run_here(fa, &k->node->store);
    }
    follow_finish(k, fa, rc, fa->errmsg);
}

static void projects_read(struct epoch_reader *r, struct epoch_projects *p)
{
    struct kylin_link *k = r->data;
    char text[1024];
    int was = k->follow_status;

    k->follow_status = p->status;
    if (!k->enabled || !k->follow) {
        goto done;
    }
    switch (p->status) {
    case EPOCH_PROJECTS_REFUSED:
        snprintf(text, sizeof text, "projects do not follow Kylin: %s. The member keeps running; add and remove "
                 "projects with raftctl meanwhile", p->error);
        note(k, true, text);
        goto done;
    case EPOCH_PROJECTS_NONE:
        if (was != EPOCH_PROJECTS_NONE) {
            log_info("kylin: no Kylin metadata table %s or %s_project yet: projects follow Kylin once it exists",
                     r->url.prefix, r->url.prefix);
        }
        goto done;
    case EPOCH_PROJECTS_FAILED:
        snprintf(text, sizeof text, "reading Kylin's project list: %s; retried every %u ms", p->error,
                 k->node->cfg->kylin_repair_ms);
        note(k, false, text);
        goto done;
    default:
        break;
    }
    if (was != EPOCH_PROJECTS_OK) {
        log_info("kylin: projects follow Kylin's metadata (%zu project(s) listed)", p->n);
        k->follow_note[0] = '\0';
    }
    if (p->skipped > 0) {
        snprintf(text, sizeof text, "%zu row(s) of Kylin's project list skipped (first: %s)", p->skipped,
                 p->skip_reason);
        note(k, false, text);
    }
    /* Only the leader proposes, and only once the answers of its last proposals are in (the
     * state it compares with then includes them). */
    if (is_leader(k) && k->follow_inflight == 0 && !k->follow_deciding) {
        follow(k, p); /* takes P */
        return;
    }
done:
    epoch_projects_free(p);
    free(p);
}

void kylin_follow_start(struct kylin_link *k)
{
    const struct config *c = k->node->cfg;
    struct epoch_projects_hooks h = {.tables_sql = k->follow_tables_sql, .plan = plan_hook, .name = name_hook};

    k->follow_status = -1;
    if (!c->kylin_follow_projects) {
        return;
    }
    if (kylin_projects_sql_tables(k->reader.url.kind == MS_KIND_MYSQL ? KYLIN_SQL_MYSQL : KYLIN_SQL_POSTGRES,
                                  k->follow_tables_sql, sizeof k->follow_tables_sql) != KYLIN_OK) {
        log_error("kylin: projects do not follow Kylin: table query too long");
        return;
    }
    epoch_reader_follow(&k->reader, &h, projects_read);
    k->follow = true;
    log_info("kylin: projects follow Kylin's metadata (%s or %s_project) on the leader, every %u ms",
             k->reader.url.prefix, k->reader.url.prefix, c->kylin_repair_ms);
}

void kylin_follow_round(struct kylin_link *k, uint64_t now)
{
    if (!k->follow) {
        return;
    }
    if (!is_leader(k)) {
        return;
    }
    if (now >= k->follow_next_ms) {
        k->follow_next_ms = now + k->node->cfg->kylin_repair_ms;
        epoch_reader_request_projects(&k->reader);
    }
}

bool kylin_follow_due(const struct kylin_link *k, uint64_t now)
{
    return k->follow && now >= k->follow_next_ms && is_leader(k);
}

void kylin_follow_close(struct kylin_link *k)
{
    k->follow = false;
}
