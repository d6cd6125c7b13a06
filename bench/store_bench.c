/* store_bench: the state machine's CPU per project.add, SQLite included, without raft, network
 * or other processes (bench/ab.sh measures the whole cluster; on a shared machine its figures
 * move by +-10% from run to run, this one's by a few percent). Not part of `make bench`:
 *     build/bench/store_bench [--projects N] [--batch B] [--dir D] [--rounds R] [--checkpoint-frames F]
 *                             [--commit-every G]
 * Replays what a member applies under bench/ab.sh's 64-client project.add load, on a store
 * file in D (default /tmp; the file is removed afterwards): three engines, then N projects
 * (default 20000) named as loadgen names them, B (default 55, the batch seen under 64
 * clients) per entry: one entry of B project_add commands, then one of the scheduler's B
 * assign commands (reason "new", round robin over the engines), committed every G entries
 * (default 1: group commit off; raftnode's group commit holds up to STORE_GROUP_MAX_ENTRIES
 * entries or raft.apply.group-commit-ms) and the WAL checkpointed from a second connection every
 * F (default 2048) frames, as raftnode's checkpointer does (here on this thread: its CPU is
 * counted).
 * R rounds (default 3), each on a fresh file. Prints, per round, the process CPU time per
 * project (add + assign) and its parts, then the median:
 *     RESULT store_cpu_us_per_project <median> us
 * Exit status: 0 done, 1 a step failed (the message says which), 2 usage. */
#include <inttypes.h>
#include <msgpack.h>
#include <raft.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "storage/checkpoint.h"
#include "storage/command.h"
#include "storage/store.h"

#define SB_ENGINES 3
#define SB_CLIENTS 64
#define SB_CHECKPOINT_FRAMES 2048 /* raftnode/checkpointer.h CHECKPOINTER_FRAMES */
#define SB_MAX_CHECKPOINT_FRAMES 8191 /* below STORE_WAL_INLINE_FRAMES */
#define SB_CHECKPOINT_ROUNDS 4
#define SB_MAX_BATCH 4096
#define SB_MAX_ROUNDS 50
#define SB_MAX_COMMIT_EVERY STORE_GROUP_MAX_ENTRIES

struct sb_run {
    struct store s;
    struct store_checkpointer c;
    struct store_wal_watch watch;
    int wal_frames;
    unsigned checkpoint_frames;
    unsigned commit_every, uncommitted;
    uint64_t index;
    double apply_s, commit_s, checkpoint_s;
};

static double sb_cpu_s(void)
{
    struct timespec ts;
    if (clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts) != 0) {
        return 0;
    }
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void sb_wal(void *arg, int frames)
{
    ((struct sb_run *)arg)->wal_frames = frames;
}

/* Packed commands, one buffer each, turned into one entry and applied, then committed. */
struct sb_batch {
    msgpack_sbuffer bufs[SB_MAX_BATCH];
    const void *data[SB_MAX_BATCH];
    size_t lens[SB_MAX_BATCH];
    unsigned n;
};

static msgpack_packer sb_next(struct sb_batch *b)
{
    msgpack_packer pk;
    msgpack_sbuffer_init(&b->bufs[b->n]);
    msgpack_packer_init(&pk, &b->bufs[b->n], msgpack_sbuffer_write);
    b->n++;
    return pk;
}

static int sb_apply(struct sb_run *r, struct sb_batch *b)
{
    for (unsigned i = 0; i < b->n; i++) {
        b->data[i] = b->bufs[i].data;
        b->lens[i] = b->bufs[i].size;
    }
    void *buf = NULL;
    size_t len = 0;
    int rc = command_entry_build(1, b->data, b->lens, b->n, &buf, &len);
    for (unsigned i = 0; i < b->n; i++) {
        msgpack_sbuffer_destroy(&b->bufs[i]);
    }
    unsigned n = b->n;
    b->n = 0;
    if (rc != 0) {
        fprintf(stderr, "store_bench: building an entry of %u commands: out of memory\n", n);
        return -1;
    }
    struct store_results out;
    double t0 = sb_cpu_s();
    rc = store_apply(&r->s, ++r->index, buf, len, &out);
    double t1 = sb_cpu_s();
    raft_free(buf);
    if (rc != 0) {
        fprintf(stderr, "store_bench: apply of entry %" PRIu64 ": %s\n", r->index, r->s.errmsg);
        return -1;
    }
    for (uint32_t i = 0; i < out.n; i++) {
        if (out.cmds[i].err != STORE_OK) {
            fprintf(stderr, "store_bench: entry %" PRIu64 " command %" PRIu32 " refused: %s\n",
                    r->index, i, out.cmds[i].message);
            store_results_free(&out);
            return -1;
        }
    }
    store_results_free(&out);
    rc = 0;
    if (++r->uncommitted >= r->commit_every) {
        rc = store_commit(&r->s);
        r->uncommitted = 0;
    }
    double t2 = sb_cpu_s();
    if (rc != 0) {
        fprintf(stderr, "store_bench: commit of entry %" PRIu64 ": %s\n", r->index, r->s.errmsg);
        return -1;
    }
    r->apply_s += t1 - t0;
    r->commit_s += t2 - t1;
    if (r->wal_frames >= (int)r->checkpoint_frames) {
        rc = store_checkpointer_run(&r->c, SB_CHECKPOINT_ROUNDS);
        r->checkpoint_s += sb_cpu_s() - t2;
        r->wal_frames = 0;
        if (rc != 0) {
            fprintf(stderr, "store_bench: %s\n", r->c.errmsg);
            return -1;
        }
    }
    return 0;
}

/* One round on a fresh file; CPU seconds per project in *PER (total) and its parts. */
static int sb_round(const char *dir, unsigned projects, unsigned batch, unsigned ckpt, unsigned every,
                    double *per, struct sb_run *r)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/store_bench.%ld.db", dir, (long)getpid());
    static struct sb_batch b; /* large: not on the stack */
    memset(r, 0, sizeof *r);
    r->checkpoint_frames = ckpt;
    r->commit_every = 1; /* the engines' entry: committed at once */
    int rc = -1;
    if (store_open(&r->s, path) != 0) {
        fprintf(stderr, "store_bench: %s\n", r->s.errmsg);
        goto out_unlink;
    }
    if (store_checkpointer_open(&r->c, path) != 0) {
        fprintf(stderr, "store_bench: %s\n", r->c.errmsg);
        goto out_store;
    }
    r->watch = (struct store_wal_watch){.fn = sb_wal, .arg = r};
    store_wal_watch(&r->s, &r->watch);
    for (uint64_t e = 1; e <= SB_ENGINES; e++) {
        msgpack_packer pk = sb_next(&b);
        char identity[32];
        snprintf(identity, sizeof identity, "engine-%" PRIu64, e);
        command_pack_engine_set(&pk, e, "all", 1, identity, true);
    }
    if (sb_apply(r, &b) != 0) {
        goto out_ckpt;
    }
    r->apply_s = r->commit_s = r->checkpoint_s = 0;
    r->commit_every = every;
    double t0 = sb_cpu_s();
    unsigned seq[SB_CLIENTS] = {0};
    for (unsigned done = 0, k = 0; done < projects; done += batch) {
        unsigned n = projects - done < batch ? projects - done : batch;
        char names[SB_MAX_BATCH][64];
        for (unsigned i = 0; i < n; i++, k++) {
            unsigned client = k % SB_CLIENTS; /* as loadgen: <prefix>_<tag><client>_<seq> */
            snprintf(names[i], sizeof names[i], "t_t%u_%u", client, seq[client]++);
            msgpack_packer pk = sb_next(&b);
            command_pack_project_add(&pk, names[i], strlen(names[i]));
        }
        if (sb_apply(r, &b) != 0) {
            goto out_ckpt;
        }
        for (unsigned i = 0; i < n; i++) {
            msgpack_packer pk = sb_next(&b);
            command_pack_assign_by(&pk, names[i], strlen(names[i]), 0, 1 + (done + i) % SB_ENGINES,
                                   "new", 1700000000000ULL + done, NULL);
        }
        if (sb_apply(r, &b) != 0) {
            goto out_ckpt;
        }
    }
    if (r->uncommitted > 0) { /* the last group */
        double t1 = sb_cpu_s();
        if (store_commit(&r->s) != 0) {
            fprintf(stderr, "store_bench: commit of the last group: %s\n", r->s.errmsg);
            goto out_ckpt;
        }
        r->commit_s += sb_cpu_s() - t1;
    }
    *per = (sb_cpu_s() - t0) / projects;
    rc = 0;
out_ckpt:
    store_checkpointer_close(&r->c);
out_store:
    store_close(&r->s);
out_unlink:;
    const char *suffixes[] = {"", "-wal", "-shm"};
    for (size_t i = 0; i < 3; i++) {
        char p[4200];
        snprintf(p, sizeof p, "%s%s", path, suffixes[i]);
        (void)unlink(p); /* absent after an early failure: nothing to report */
    }
    return rc;
}

static int sb_cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static int sb_uint(const char *v, unsigned lo, unsigned hi, unsigned *out)
{
    char *end;
    unsigned long n = v != NULL ? strtoul(v, &end, 10) : 0;
    if (v == NULL || *v == '\0' || *end != '\0' || n < lo || n > hi) {
        return -1;
    }
    *out = (unsigned)n;
    return 0;
}

int main(int argc, char **argv)
{
    unsigned projects = 20000, batch = 55, rounds = 3, ckpt = SB_CHECKPOINT_FRAMES, every = 1;
    const char *dir = "/tmp";
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        int bad = 0;
        if (strcmp(a, "--projects") == 0) {
            bad = sb_uint(v, 1, 10000000, &projects);
        } else if (strcmp(a, "--batch") == 0) {
            bad = sb_uint(v, 1, SB_MAX_BATCH, &batch);
        } else if (strcmp(a, "--rounds") == 0) {
            bad = sb_uint(v, 1, SB_MAX_ROUNDS, &rounds);
        } else if (strcmp(a, "--checkpoint-frames") == 0) {
            bad = sb_uint(v, 1, SB_MAX_CHECKPOINT_FRAMES, &ckpt);
        } else if (strcmp(a, "--commit-every") == 0) {
            bad = sb_uint(v, 1, SB_MAX_COMMIT_EVERY, &every);
        } else if (strcmp(a, "--dir") == 0 && v != NULL) {
            dir = v;
        } else {
            bad = -1;
        }
        if (bad != 0) {
            fprintf(stderr, "usage: store_bench [--projects 1..10000000] [--batch 1..%d] "
                            "[--rounds 1..%d] [--checkpoint-frames 1..%d] [--commit-every 1..%d] "
                            "[--dir D] (bad or missing value at '%s')\n",
                    SB_MAX_BATCH, SB_MAX_ROUNDS, SB_MAX_CHECKPOINT_FRAMES, SB_MAX_COMMIT_EVERY, a);
            return 2;
        }
        i++;
    }
    double per[SB_MAX_ROUNDS];
    for (unsigned k = 0; k < rounds; k++) {
        struct sb_run r;
        if (sb_round(dir, projects, batch, ckpt, every, &per[k], &r) != 0) {
            return 1;
        }
        printf("round %u: %.1f us CPU per project (apply %.1f, commit %.1f, checkpoint %.1f)\n", k + 1,
               per[k] * 1e6, r.apply_s * 1e6 / projects, r.commit_s * 1e6 / projects,
               r.checkpoint_s * 1e6 / projects);
    }
    qsort(per, rounds, sizeof per[0], sb_cmp);
    printf("RESULT store_cpu_us_per_project %.1f us\n", per[rounds / 2] * 1e6);
    return 0;
}
