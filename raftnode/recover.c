/* recover: --force-new-cluster, making a survivor the only voter (see recover.h).
 *
 * Steps: load the log as libraft will (io->load) -> find the last configuration in it (the
 * last RAFT_CHANGE entry, else the snapshot's) -> decide: refuse, nothing to do, or recover ->
 * log every member that is discarded -> raft_recover (libraft 0.22.1 appends the one-voter
 * configuration at the next index, with the term of the last entry) -> raise the term by
 * RECOVER_TERM_JUMP -> record the index in DATA_DIR/force-new-cluster.
 *
 * Failure modes: an unreadable log (libraft's message is logged, nothing written); this
 * member absent from its own last configuration (it was removed, or never finished joining:
 * its data is not the cluster's, refused); a second run after members joined the new
 * cluster (refused, see recover.h). */
#include "recover.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "common/log.h"
#include "marker.h"
#include "membership.h"

/* How far the term jumps at a forced recovery. libraft's lone voter takes leadership in its
 * current term, so without a jump its new entries would carry the very term in which the lost
 * leader may have written different entries at the same indexes (Raft's log matching rests on
 * (index, term) naming one entry), and a discarded member coming back with such entries would
 * look as up to date as the survivor. Past the jump, every new entry has a term no old member
 * can hold, unless the lost majority went through more elections than this after the survivor
 * lost it. */
#define RECOVER_TERM_JUMP 1000

/* What this member's log holds, as far as the decision needs it. */
struct loaded_log {
    struct raft_configuration conf; /* the last configuration in the log or snapshot */
    raft_index conf_index;          /* its index (0: none found) */
    raft_index last_index;          /* last entry in the log (or the snapshot's index) */
    raft_term last_term;
    raft_term current_term;         /* from the metadata file */
};

static void free_loaded(struct raft_snapshot *snapshot, struct raft_entry *entries, size_t n)
{
    void *batch = NULL;
    if (snapshot != NULL) {
        raft_configuration_close(&snapshot->configuration);
        for (unsigned i = 0; i < snapshot->n_bufs; i++) {
            raft_free(snapshot->bufs[i].base);
        }
        raft_free(snapshot->bufs);
        raft_free(snapshot);
    }
    /* io->load hands entries out in batches: each batch is freed once (libraft's
     * entryBatchesDestroy does the same). */
    for (size_t i = 0; i < n; i++) {
        if (entries[i].batch != batch) {
            batch = entries[i].batch;
            raft_free(batch);
        }
    }
    raft_free(entries);
}

static int copy_conf(const struct raft_configuration *from, struct raft_configuration *to)
{
    for (unsigned i = 0; i < from->n; i++) {
        if (raft_configuration_add(to, from->servers[i].id, from->servers[i].address, from->servers[i].role) != 0) {
            return -1;
        }
    }
    return 0;
}

/* Loads the log through IO (what raft_start will load again). 0 or -1 (logged). */
static int load_log(struct raft_io *io, const char *data_dir, struct loaded_log *out)
{
    struct raft_snapshot *snapshot = NULL;
    struct raft_entry *entries = NULL;
    raft_index start_index = 0;
    raft_id voted_for = 0;
    size_t n = 0;
    int rv;

    memset(out, 0, sizeof *out);
    raft_configuration_init(&out->conf);
    rv = io->load(io, &out->current_term, &voted_for, &snapshot, &start_index, &entries, &n);
    if (rv != 0) {
        log_error("--force-new-cluster: cannot load the raft log in %s/raft: %s (%s); nothing was changed",
                  data_dir, raft_strerror(rv), io->errmsg);
        return -1;
    }
    if (snapshot != NULL) {
        out->last_index = snapshot->index;
        out->last_term = snapshot->term;
    }
    if (n > 0) {
        out->last_index = start_index + n - 1;
        out->last_term = entries[n - 1].term;
    }
    rv = 0;
    for (size_t i = n; i-- > 0 && out->conf_index == 0;) {
        if (entries[i].type == RAFT_CHANGE) {
            rv = raft_configuration_decode(&entries[i].buf, &out->conf);
            out->conf_index = start_index + i;
        }
    }
    if (out->conf_index == 0 && snapshot != NULL) {
        rv = copy_conf(&snapshot->configuration, &out->conf);
        out->conf_index = snapshot->configuration_index;
    }
    free_loaded(snapshot, entries, n);
    if (rv != 0) {
        log_error("--force-new-cluster: cannot decode the last configuration of the raft log in %s/raft "
                  "(index %llu); nothing was changed", data_dir, (unsigned long long)out->conf_index);
        raft_configuration_close(&out->conf);
        return -1;
    }
    return 0;
}

void recover_refuse_empty(uint64_t id, const char *data_dir)
{
    log_error("--force-new-cluster refused: the data directory %s of member %llu holds no raft log (empty or "
              "missing), so there is nothing to keep. Run it on the survivor whose raft.data-dir still holds "
              "the cluster's log; a member with an empty data directory joins the recovered cluster with "
              "raft.join instead (docs/operations-force.md)", data_dir, (unsigned long long)id);
}

/* The forced recovery recorded in DATA_DIR, if any: its configuration index (0: none). */
static int previous_recovery(const char *data_dir, raft_index *index)
{
    char text[512], err[256];
    unsigned long long v = 0;
    int rv = marker_read(data_dir, RECOVER_MARKER, text, sizeof text, err, sizeof err);

    *index = 0;
    if (rv < 0) {
        log_error("--force-new-cluster: %s; nothing was changed", err);
        return -1;
    }
    if (rv == 1 && sscanf(text, "index=%llu", &v) == 1) {
        *index = v;
    }
    return 0;
}

static void record(const char *data_dir, raft_index index, raft_term term, const struct loaded_log *old,
                   uint64_t id)
{
    char text[4096], err[256];
    size_t len;
    time_t now = time(NULL);
    struct tm tm;

    gmtime_r(&now, &tm);
    len = (size_t)snprintf(text, sizeof text, "index=%llu\nterm=%llu\nat=%04d-%02d-%02dT%02d:%02d:%02dZ\ndiscarded=",
                           (unsigned long long)index, (unsigned long long)term, tm.tm_year + 1900, tm.tm_mon + 1,
                           tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
    for (unsigned i = 0; i < old->conf.n && len < sizeof text; i++) {
        if (old->conf.servers[i].id != id) {
            len += (size_t)snprintf(text + len, sizeof text - len, "%llu=%s ",
                                    (unsigned long long)old->conf.servers[i].id, old->conf.servers[i].address);
        }
    }
    if (len < sizeof text) {
        snprintf(text + len, sizeof text - len, "\n");
    }
    if (marker_write(data_dir, RECOVER_MARKER, text, err, sizeof err) != 0) {
        log_warn("--force-new-cluster: the recovery is done but could not be recorded (%s): do not run "
                 "--force-new-cluster again once other members have joined", err);
    }
}

static void log_discarded(const struct loaded_log *old, uint64_t id, const char *address)
{
    log_warn("FORCE-NEW-CLUSTER: member %llu becomes the ONLY voter of the cluster at %s, keeping its whole "
             "log (last index %llu, term %llu) and state. Entries the lost majority committed after index "
             "%llu, if any, are lost for good", (unsigned long long)id, address,
             (unsigned long long)old->last_index, (unsigned long long)old->last_term,
             (unsigned long long)old->last_index);
    for (unsigned i = 0; i < old->conf.n; i++) {
        const struct raft_server *s = &old->conf.servers[i];
        if (s->id == id) {
            if (strcmp(s->address, address) != 0) {
                log_warn("FORCE-NEW-CLUSTER: this member's raft address changes from %s to %s", s->address, address);
            }
            continue;
        }
        log_warn("FORCE-NEW-CLUSTER: discarded member %llu at %s (was %s): it is no longer part of the "
                 "cluster; it must never start again with its old data directory (wipe it first, then "
                 "join with raft.join)", (unsigned long long)s->id, s->address, membership_role_name(s->role));
    }
}

int recover_force_new_cluster(struct raft *raft, struct raft_io *io, uint64_t id, const char *address,
                              const char *data_dir)
{
    struct raft_configuration conf;
    struct loaded_log old;
    raft_index previous;
    bool listed = false;
    int rv;

    if (previous_recovery(data_dir, &previous) != 0 || load_log(io, data_dir, &old) != 0) {
        return -1;
    }
    if (old.conf_index == 0) {
        raft_configuration_close(&old.conf);
        recover_refuse_empty(id, data_dir);
        return -1;
    }
    for (unsigned i = 0; i < old.conf.n; i++) {
        listed = listed || old.conf.servers[i].id == id;
    }
    if (!listed) {
        log_error("--force-new-cluster refused: member %llu is not in the last configuration of its own log "
                  "(index %llu, %u member(s)): it was removed from the cluster or never finished joining, "
                  "so its data is not the cluster's. Run it on a survivor that was a member; nothing was "
                  "changed", (unsigned long long)id, (unsigned long long)old.conf_index, old.conf.n);
        raft_configuration_close(&old.conf);
        return -1;
    }
    if (old.conf.n == 1 && old.conf.servers[0].role == RAFT_VOTER) {
        log_warn("FORCE-NEW-CLUSTER: nothing to do: member %llu is already the only member of its configuration "
                 "(index %llu%s); starting normally. Remove --force-new-cluster from the command line",
                 (unsigned long long)id, (unsigned long long)old.conf_index,
                 previous != 0 ? ", recorded in " RECOVER_MARKER : "");
        /* Not recorded: a recovery cut short before the term jump and the record (or a lone
         * member from the start, for which the jump is harmless): finish it. */
        rv = previous == 0 ? io->set_term(io, old.current_term + RECOVER_TERM_JUMP) : 0;
        if (rv != 0) {
            log_error("--force-new-cluster: cannot raise the term in %s/raft: %s (%s)", data_dir,
                      raft_strerror(rv), io->errmsg);
        } else if (previous == 0) {
            record(data_dir, old.conf_index, old.last_term, &old, id);
        }
        raft_configuration_close(&old.conf);
        return rv == 0 ? 0 : -1;
    }
    if (previous != 0 && old.conf_index > previous) {
        log_error("--force-new-cluster refused: this member already forced a new cluster at index %llu (%s/%s) "
                  "and the configuration has changed since (index %llu, %u members): running it again would "
                  "throw those members out. Start it without --force-new-cluster. Only if this cluster has "
                  "lost its quorum again, delete %s/%s and run it again",
                  (unsigned long long)previous, data_dir, RECOVER_MARKER, (unsigned long long)old.conf_index,
                  old.conf.n, data_dir, RECOVER_MARKER);
        raft_configuration_close(&old.conf);
        return -1;
    }
    raft_configuration_init(&conf);
    rv = raft_configuration_add(&conf, id, address, RAFT_VOTER);
    if (rv == 0) {
        log_discarded(&old, id, address);
        rv = raft_recover(raft, &conf);
    }
    raft_configuration_close(&conf);
    if (rv != 0) {
        log_error("--force-new-cluster: libraft could not write the new configuration to %s/raft: %s (%s); "
                  "the log is as it was", data_dir, raft_strerror(rv), io->errmsg);
        raft_configuration_close(&old.conf);
        return -1;
    }
    rv = io->set_term(io, old.current_term + RECOVER_TERM_JUMP);
    if (rv != 0) {
        log_error("--force-new-cluster: the new configuration is written but the term could not be raised in "
                  "%s/raft: %s (%s); fix the disk and run --force-new-cluster again (it finishes the job)",
                  data_dir, raft_strerror(rv), io->errmsg);
        raft_configuration_close(&old.conf);
        return -1;
    }
    record(data_dir, old.last_index + 1, old.last_term, &old, id);
    log_warn("FORCE-NEW-CLUSTER: configuration {%llu=%s voter} written at index %llu, term raised from %llu to "
             "%llu; this member now elects itself. Let new members join with raft.join=<this member's "
             "raft.api.address>, and remove --force-new-cluster from the command line", (unsigned long long)id,
             address, (unsigned long long)(old.last_index + 1), (unsigned long long)old.current_term,
             (unsigned long long)(old.current_term + RECOVER_TERM_JUMP));
    raft_configuration_close(&old.conf);
    return 0;
}
