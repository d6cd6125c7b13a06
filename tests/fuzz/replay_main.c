/* replay_main: runs a fuzz target's LLVMFuzzerTestOneInput on saved inputs without libFuzzer,
 * so the corpus and the regressions are replayed by any compiler (with ASan/UBSan).
 *
 *   replay NAME PATH...   PATH is a file or a directory (its regular files, sorted; a
 *                         missing directory is skipped)
 *
 * Each input runs in a forked child, so one crash (or leak, or sanitizer report) fails that
 * input only and the others still run. Prints a line per failure and a closing
 * "NAME: N passed, N failed"; exit status 1 when any failed. */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tests/fuzz/fuzz.h"

static unsigned passed, failed;

/* Child: reads PATH whole and runs the target on it. Never returns. */
static void run_child(const char *path)
{
    FILE *f = fopen(path, "rb");
    uint8_t *buf = NULL;
    size_t len = 0, cap = 0;

    if (f == NULL) {
        fprintf(stderr, "%s: %s\n", path, strerror(errno));
        _exit(2);
    }
    for (;;) {
        if (len == cap) {
            uint8_t *grown = realloc(buf, cap ? cap * 2 : 4096);
            if (grown == NULL) {
                fprintf(stderr, "%s: out of memory\n", path);
                _exit(2);
            }
            buf = grown;
            cap = cap ? cap * 2 : 4096;
        }
        size_t n = fread(buf + len, 1, cap - len, f);
        len += n;
        if (n == 0) {
            break;
        }
    }
    if (ferror(f) || fclose(f) != 0) {
        fprintf(stderr, "%s: read error\n", path);
        _exit(2);
    }
    /* A private copy of exactly LEN bytes, so ASan catches any read past the input. */
    uint8_t *input = malloc(len ? len : 1);
    if (input == NULL) {
        _exit(2);
    }
    if (len > 0) {
        memcpy(input, buf, len);
    }
    free(buf);
    (void)LLVMFuzzerTestOneInput(input, len);
    free(input);
    exit(0); /* exit, not _exit: LeakSanitizer checks at exit */
}

static void run_one(const char *name, const char *path)
{
    int status;
    pid_t pid;

    if (fflush(NULL) != 0) {
        perror("fflush");
    }
    pid = fork();
    if (pid < 0) {
        fprintf(stderr, "%s: %s: fork: %s\n", name, path, strerror(errno));
        failed++;
        return;
    }
    if (pid == 0) {
        run_child(path);
    }
    while (waitpid(pid, &status, 0) < 0) {
        if (errno != EINTR) {
            fprintf(stderr, "%s: %s: waitpid: %s\n", name, path, strerror(errno));
            failed++;
            return;
        }
    }
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0) {
        passed++;
        return;
    }
    failed++;
    if (WIFSIGNALED(status)) {
        printf("%s: FAILED %s (signal %d)\n", name, path, WTERMSIG(status));
    } else {
        printf("%s: FAILED %s (exit status %d)\n", name, path, WEXITSTATUS(status));
    }
}

static int not_hidden(const struct dirent *d)
{
    return d->d_name[0] != '.';
}

static void run_path(const char *name, const char *path)
{
    struct stat st;
    struct dirent **list;
    int n;

    if (stat(path, &st) != 0) {
        if (errno != ENOENT) {
            fprintf(stderr, "%s: %s: %s\n", name, path, strerror(errno));
            failed++;
        }
        return; /* e.g. no regressions for this target yet */
    }
    if (!S_ISDIR(st.st_mode)) {
        run_one(name, path);
        return;
    }
    n = scandir(path, &list, not_hidden, alphasort);
    if (n < 0) {
        fprintf(stderr, "%s: %s: %s\n", name, path, strerror(errno));
        failed++;
        return;
    }
    for (int i = 0; i < n; i++) {
        char file[4096];
        struct stat fst;
        int len = snprintf(file, sizeof file, "%s/%s", path, list[i]->d_name);
        if (len > 0 && (size_t)len < sizeof file && stat(file, &fst) == 0 && S_ISREG(fst.st_mode)) {
            run_one(name, file);
        }
        free(list[i]);
    }
    free(list);
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: %s NAME PATH...\n", argv[0]);
        return 2;
    }
    for (int i = 2; i < argc; i++) {
        run_path(argv[1], argv[i]);
    }
    printf("%s: %u passed, %u failed\n", argv[1], passed, failed);
    return failed == 0 ? 0 : 1;
}
