/* bench_planner: times the placement planner (raftnode/planner.c) on 100,000 projects and
 * 200 engines: (a) PLACE after one engine of 200 dies, (b) REBALANCE of a skewed cluster (all
 * projects on 10 engines, weights 1..4), (c) REBALANCE of the balanced result (zero moves).
 * Each is the median of REPS runs (argument 1, default 21) on CLOCK_MONOTONIC. Checks that
 * REBALANCE makes exactly planner_rebalance_lower_bound moves and ends within one project of
 * every weighted share; exits 1 when a check fails. Prints a table, then RESULT lines. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "raftnode/planner.h"

#define N_ENGINES 200
#define N_PROJECTS 100000
#define N_HOT 10 /* the skewed cluster's projects all sit on the first N_HOT engines */

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

struct timing {
    double median_ms, min_ms, max_ms;
    size_t n_moves;
};

/* Runs planner_plan REPS times; keeps the moves of the last run in *MOVES (caller frees). */
static int time_plan(const struct planner_engine *e, const struct planner_project *p, enum planner_mode mode,
                     int reps, struct timing *t, struct planner_move **moves)
{
    double *ms = calloc((size_t)reps, sizeof *ms);
    if (ms == NULL) {
        return -1;
    }
    *moves = NULL;
    for (int r = 0; r < reps; r++) {
        size_t n = 0;
        free(*moves);
        double t0 = now_ms();
        int rc = planner_plan(e, N_ENGINES, p, N_PROJECTS, mode, moves, &n);
        ms[r] = now_ms() - t0;
        if (rc != 0) {
            free(ms);
            return -1;
        }
        t->n_moves = n;
    }
    qsort(ms, (size_t)reps, sizeof *ms, cmp_double);
    t->median_ms = ms[reps / 2];
    t->min_ms = ms[0];
    t->max_ms = ms[reps - 1];
    free(ms);
    return 0;
}

static void apply(struct planner_project *p, const struct planner_move *m, size_t n)
{
    for (size_t k = 0; k < n; k++) {
        p[m[k].project].owner = m[k].to;
    }
}

/* Every eligible engine strictly within one project of its weighted share. */
static int within_one(const struct planner_engine *e, const struct planner_project *p)
{
    static size_t count[N_ENGINES + 1];
    double total_weight = 0;
    memset(count, 0, sizeof count);
    for (size_t i = 0; i < N_PROJECTS; i++) {
        if (p[i].owner >= 1 && p[i].owner <= N_ENGINES) {
            count[p[i].owner]++;
        }
    }
    for (size_t j = 0; j < N_ENGINES; j++) {
        total_weight += e[j].eligible ? e[j].weight : 0;
    }
    for (size_t j = 0; j < N_ENGINES; j++) {
        if (!e[j].eligible) {
            continue;
        }
        double share = (double)N_PROJECTS * e[j].weight / total_weight;
        double d = (double)count[e[j].id] - share;
        if (d >= 1.0 || d <= -1.0) {
            fprintf(stderr, "engine %llu holds %zu, share %.3f\n", (unsigned long long)e[j].id, count[e[j].id],
                    share);
            return 0;
        }
    }
    return 1;
}

int main(int argc, char **argv)
{
    static struct planner_engine e[N_ENGINES];
    static struct planner_project p[N_PROJECTS];
    struct planner_move *moves = NULL;
    struct timing place, skewed, balanced;
    int reps = argc > 1 ? atoi(argv[1]) : 21;
    int ok = 1;

    if (reps < 1) {
        reps = 1;
    }
    /* Engine ids 1..200, weights 1..4. */
    for (size_t j = 0; j < N_ENGINES; j++) {
        e[j] = (struct planner_engine){.id = j + 1, .weight = 1 + (unsigned)(j % 4), .eligible = true};
    }

    /* (a) A cluster filled by PLACE from nothing, then engine 1 of 200 dies. */
    memset(p, 0, sizeof p);
    size_t n0 = 0;
    if (planner_plan(e, N_ENGINES, p, N_PROJECTS, PLANNER_PLACE, &moves, &n0) != 0) {
        fprintf(stderr, "bench_planner: out of memory\n");
        return 1;
    }
    apply(p, moves, n0);
    free(moves);
    size_t dead_held = 0;
    for (size_t i = 0; i < N_PROJECTS; i++) {
        dead_held += p[i].owner == 1;
    }
    e[0].eligible = false;
    if (time_plan(e, p, PLANNER_PLACE, reps, &place, &moves) != 0) {
        fprintf(stderr, "bench_planner: out of memory\n");
        return 1;
    }
    free(moves);
    if (place.n_moves != dead_held) {
        fprintf(stderr, "PLACE moved %zu projects, the dead engine held %zu\n", place.n_moves, dead_held);
        ok = 0;
    }
    e[0].eligible = true;

    /* (b) Every project on the first N_HOT engines, round robin. */
    for (size_t i = 0; i < N_PROJECTS; i++) {
        p[i] = (struct planner_project){.owner = 1 + i % N_HOT, .pinned = 0};
    }
    size_t bound = planner_rebalance_lower_bound(e, N_ENGINES, p, N_PROJECTS);
    double lb0 = now_ms();
    (void)planner_rebalance_lower_bound(e, N_ENGINES, p, N_PROJECTS);
    double lb_ms = now_ms() - lb0;
    if (time_plan(e, p, PLANNER_REBALANCE, reps, &skewed, &moves) != 0) {
        fprintf(stderr, "bench_planner: out of memory\n");
        return 1;
    }
    if (skewed.n_moves != bound) {
        fprintf(stderr, "REBALANCE made %zu moves, lower bound %zu\n", skewed.n_moves, bound);
        ok = 0;
    }
    apply(p, moves, skewed.n_moves);
    free(moves);
    if (!within_one(e, p)) {
        ok = 0;
    }

    /* (c) The balanced result again: nothing to do. */
    if (time_plan(e, p, PLANNER_REBALANCE, reps, &balanced, &moves) != 0) {
        fprintf(stderr, "bench_planner: out of memory\n");
        return 1;
    }
    free(moves);
    if (balanced.n_moves != 0) {
        fprintf(stderr, "REBALANCE of a balanced cluster made %zu moves\n", balanced.n_moves);
        ok = 0;
    }

    printf("planner: %d projects x %d engines (weights 1..4), median of %d runs\n", N_PROJECTS, N_ENGINES, reps);
    printf("%-40s %10s %10s %10s %8s\n", "case", "median ms", "min ms", "max ms", "moves");
    printf("%-40s %10.3f %10.3f %10.3f %8zu\n", "PLACE, 1 of 200 engines dead", place.median_ms, place.min_ms,
           place.max_ms, place.n_moves);
    printf("%-40s %10.3f %10.3f %10.3f %8zu\n", "REBALANCE, all on 10 engines", skewed.median_ms, skewed.min_ms,
           skewed.max_ms, skewed.n_moves);
    printf("%-40s %10.3f %10.3f %10.3f %8zu\n", "REBALANCE, already balanced", balanced.median_ms,
           balanced.min_ms, balanced.max_ms, balanced.n_moves);
    printf("%-40s %10.3f %10s %10s %8zu\n", "lower bound, all on 10 engines", lb_ms, "-", "-", bound);
    printf("checks: moves == lower bound, within one of every share, balanced -> 0 moves: %s\n",
           ok ? "ok" : "FAILED");
    printf("RESULT planner_rebalance_100k_x_200_ms %.3f ms\n", skewed.median_ms);
    printf("RESULT planner_place_100k_x_200_ms %.3f ms\n", place.median_ms);
    printf("RESULT planner_rebalance_moves %zu moves\n", skewed.n_moves);
    printf("RESULT planner_rebalance_lower_bound %zu moves\n", bound);
    return ok ? 0 : 1;
}
