/* api: the exact requests raftnode sends to the Kylin node on its own host
 * (kylin5-epoch-protocol.md §2, §3, §4, §7). Pure functions: they build method, URL, headers
 * and body; kylin/http.h sends them.
 *
 *   claim   POST {base}/api/epoch   Accept: application/vnd.apache.kylin-v4-public+json
 *           Content-Type: application/json  {"projects":[...],"force":true,"client":true}
 *           (NEpochController L39-65; EpochRequest L36-45). "client":true needs no credentials
 *           (EpochService L46-47), "force":true takes a row whatever its owner and legality
 *           (EM getNewEpoch L616-645). Kylin answers success even when a claim failed: only
 *           the epoch table tells (reconcile.h verifies).
 *   poke    POST {base}/api/broadcast  routed: true  Content-Type: application/json
 *           {"@class":"org.apache.kylin.common.persistence.transaction.EpochCheckBroadcastNotifier"}
 *           (BroadcastController L41-50): Kylin runs updateAllEpochs() at once, so a node that
 *           lost a project releases it (escape path) and a node that claimed one puts it into
 *           lastRenewEpochSet. Without "routed: true" Kylin forwards the POST to the _global
 *           owner (QueryNodeFilter L251-262).
 *   health  GET {base}/api/health  (actuator, permitAll; kylin/health.h reads the answer)
 *
 * {base} is raft.kylin.url, e.g. http://127.0.0.1:7070/kylin (the servlet context /kylin
 * included; a trailing '/' is dropped).
 *
 * Ownership: a built request owns its url and body (malloc); kylin_api_request_free frees
 * them. Method and header strings are static. On failure nothing is left to free (the request
 * is zeroed) and ERR (may be NULL) says what was wrong.
 *
 * Owns: nothing between calls. Calls: jansson (body encoding), libc. */
#ifndef KYLIN_API_H
#define KYLIN_API_H

#include <stdbool.h>
#include <stddef.h>

#define KYLIN_API_HEADERS_MAX 4
/* Default largest batch of one claim call: keeps the body small (names are <= 255 bytes) and
 * one Kylin request short (Kylin claims the projects one after another). */
#define KYLIN_API_CLAIM_BATCH 100
/* Longest raft.kylin.url accepted. */
#define KYLIN_API_BASE_MAX 1024

#define KYLIN_API_ACCEPT "Accept: application/vnd.apache.kylin-v4-public+json"
#define KYLIN_API_CONTENT_TYPE "Content-Type: application/json"
#define KYLIN_API_ROUTED "routed: true"
#define KYLIN_API_POKE_BODY \
    "{\"@class\":\"org.apache.kylin.common.persistence.transaction.EpochCheckBroadcastNotifier\"}"

struct kylin_api_request {
    const char *method;                              /* read-only: "GET" or "POST" (static) */
    char *url;                                       /* read-only: owned */
    const char *headers[KYLIN_API_HEADERS_MAX + 1];  /* read-only: static, NULL-terminated */
    char *body;                                      /* read-only: owned, NUL-terminated; NULL on GET */
    size_t body_len;                                 /* read-only: bytes of body without the NUL */
};

/* Checks raft.kylin.url: http:// or https://, a host, no query, fragment, spaces or control
 * characters, at most KYLIN_API_BASE_MAX bytes. KYLIN_OK or KYLIN_EINVAL with ERR. */
int kylin_api_base_check(const char *base, char *err, size_t err_size);

/* Whether the LEN bytes at S are 1..MAX of [A-Za-z0-9_]: Kylin's rule for project names and
 * the shape of a metadata identifier that may be put into SQL text. */
bool kylin_word_valid(const char *s, size_t len, size_t max);

/* Kylin's project name rule: 1..255 bytes of [A-Za-z0-9_] (NProjectController L111, L175;
 * DESIGN.md's 255-byte bound). */
bool kylin_api_project_name_valid(const char *name);

/* The claim of the first min(N, MAX_PER_CALL) of NAMES (MAX_PER_CALL 0 means
 * KYLIN_API_CLAIM_BATCH); *TAKEN receives how many were put in; the caller calls again with
 * NAMES + *TAKEN until none are left. Every name must pass kylin_api_project_name_valid and
 * must not be "_global" (Kylin refuses it on /api/epoch: PROJECT_NOT_EXIST, §2); N >= 1. */
int kylin_api_claim(const char *base, const char *const *names, size_t n, size_t max_per_call,
                    size_t *taken, struct kylin_api_request *out, char *err, size_t err_size);

/* Whether the answer (HTTP STATUS, BODY of LEN bytes) to a claim of the single project NAME
 * is Kylin refusing that project: an error status (Kylin answers PROJECT_NOT_EXIST with HTTP
 * 500, NBasicController's KylinException handler; 4xx from a proxy or an older line counted
 * too) whose error envelope's "msg" names the project in double quotes, as Kylin's
 * PROJECT_NOT_EXIST message does in every language ("Can't find project \"NAME\". ...";
 * checkProjectName, NBasicController L404-409, L595-600). Kylin checks every name before it
 * claims any, so one such project fails a whole batch: the caller splits batches that fail
 * with an error status and marks a single project refused this way as unknown to Kylin. On
 * refusal, MSG (may be NULL) receives Kylin's message. */
bool kylin_api_claim_refused(long status, const char *body, size_t len, const char *name, char *msg,
                             size_t msg_size);

/* The broadcast poke (EpochCheckBroadcastNotifier). */
int kylin_api_poke(const char *base, struct kylin_api_request *out, char *err, size_t err_size);

/* The health probe. */
int kylin_api_health(const char *base, struct kylin_api_request *out, char *err, size_t err_size);

void kylin_api_request_free(struct kylin_api_request *r);

#endif
