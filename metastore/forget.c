/* forget: deleting the old cluster's sync row before a restored cluster starts (forget.h). */
#include "metastore/forget.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "metastore/backend.h"
#include "metastore/sync.h"
#include "metastore/url.h"

int ms_forget_cluster(const char *metastore_url, const char *metadata_url, const char *password_file,
                      uint64_t member_id, int *done, char *where, size_t where_cap, char *err, size_t cap)
{
    static struct ms_url url; /* large: off the stack */
    struct ms_backend b;
    char sql[256];
    *done = 0;
    where[0] = '\0';
    memset(&url, 0, sizeof url);
    int rc = ms_url_resolve(metastore_url, metadata_url, &url, err, cap);
    if (rc <= 0) {
        return rc;
    }
    snprintf(where, where_cap, "%s_raft_sync on %s %s", url.prefix, ms_kind_name(url.kind), url.redacted);
    if (password_file != NULL && password_file[0] != '\0' &&
        ms_password_file_read(password_file, url.password, sizeof url.password, err, cap) != 0) {
        return -1;
    }
    if (ms_backend_global_init(url.kind) != 0) {
        snprintf(err, cap, "cannot initialise the %s client library", ms_kind_name(url.kind));
        memset(&url, 0, sizeof url);
        return -1;
    }
    ms_backend_init(&b, &url, -1);
    b.member_id = member_id;
    snprintf(sql, sizeof sql, "DELETE FROM %s_raft_sync", url.prefix); /* prefix: a checked identifier */
    /* Members restored at the same moment race to seed the row in sync_prepare; the loser's
     * INSERT fails on the primary key and its second attempt finds the row there. */
    rc = -1;
    for (int attempt = 0; attempt < 3 && rc != 0; attempt++) {
        rc = b.ops->connect(&b) != 0 || sync_prepare(&b, url.prefix) != 0 || b.ops->exec(&b, sql) != 0 ? -1 : 0;
        if (rc != 0) {
            snprintf(err, cap, "%s", b.errmsg);
        }
        b.ops->disconnect(&b);
    }
    ms_backend_global_end(url.kind);
    memset(&url, 0, sizeof url);
    *done = rc == 0;
    return rc;
}
