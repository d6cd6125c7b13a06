/* api: builders of the claim, poke and health requests sent to this member's own Kylin
 * (api.h lists them with the Kylin source behind each header and body field). */
#include "api.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"

#define KYLIN_API_NAME_MAX 255

int kylin_api_base_check(const char *base, char *err, size_t err_size)
{
    const char *host;
    size_t len, i;

    if (base == NULL || base[0] == '\0') {
        kylin_errf(err, err_size, "raft.kylin.url is empty; set Kylin's base URL, e.g. http://127.0.0.1:7070/kylin");
        return KYLIN_EINVAL;
    }
    len = strlen(base);
    if (len > KYLIN_API_BASE_MAX) {
        kylin_errf(err, err_size, "raft.kylin.url is %zu bytes long, at most %d are accepted", len,
                   KYLIN_API_BASE_MAX);
        return KYLIN_EINVAL;
    }
    if (strncmp(base, "http://", 7) == 0) {
        host = base + 7;
    } else if (strncmp(base, "https://", 8) == 0) {
        host = base + 8;
    } else {
        kylin_errf(err, err_size, "raft.kylin.url \"%s\" must start with http:// or https://, e.g. "
                   "http://127.0.0.1:7070/kylin", base);
        return KYLIN_EINVAL;
    }
    if (host[0] == '\0' || host[0] == '/') {
        kylin_errf(err, err_size, "raft.kylin.url \"%s\" names no host", base);
        return KYLIN_EINVAL;
    }
    for (i = 0; i < len; i++) {
        unsigned char c = (unsigned char)base[i];
        if (c <= ' ' || c == 0x7f || c == '?' || c == '#') {
            kylin_errf(err, err_size, "raft.kylin.url \"%s\" has a space, control character, query or "
                       "fragment at byte %zu; give only scheme, host, port and path", base, i);
            return KYLIN_EINVAL;
        }
    }
    return KYLIN_OK;
}

bool kylin_word_valid(const char *s, size_t len, size_t max)
{
    size_t i;

    if (s == NULL || len == 0 || len > max) {
        return false;
    }
    for (i = 0; i < len; i++) {
        char c = s[i];
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_')) {
            return false;
        }
    }
    return true;
}

bool kylin_api_project_name_valid(const char *name)
{
    return name != NULL && kylin_word_valid(name, strnlen(name, KYLIN_API_NAME_MAX + 1), KYLIN_API_NAME_MAX);
}

/* out->url = BASE (without a trailing '/') + PATH. */
static int api_url(const char *base, const char *path, struct kylin_api_request *out, char *err,
                   size_t err_size)
{
    size_t blen, plen;
    int rc;

    rc = kylin_api_base_check(base, err, err_size);
    if (rc != KYLIN_OK) {
        return rc;
    }
    blen = strlen(base);
    while (blen > 0 && base[blen - 1] == '/') {
        blen--;
    }
    plen = strlen(path);
    out->url = malloc(blen + plen + 1);
    if (out->url == NULL) {
        kylin_errf(err, err_size, "out of memory building the URL of %s", path);
        return KYLIN_ENOMEM;
    }
    memcpy(out->url, base, blen);
    memcpy(out->url + blen, path, plen + 1);
    return KYLIN_OK;
}

int kylin_api_claim(const char *base, const char *const *names, size_t n, size_t max_per_call,
                    size_t *taken, struct kylin_api_request *out, char *err, size_t err_size)
{
    json_t *doc = NULL, *list = NULL;
    size_t count, batch, i;
    char *text;
    int rc;

    memset(out, 0, sizeof *out);
    if (taken != NULL) {
        *taken = 0;
    }
    if (names == NULL || n == 0 || taken == NULL) {
        kylin_errf(err, err_size, "claim: no project names given (Kylin refuses an empty list)");
        return KYLIN_EINVAL;
    }
    batch = max_per_call == 0 ? KYLIN_API_CLAIM_BATCH : max_per_call;
    count = n < batch ? n : batch;
    for (i = 0; i < count; i++) {
        if (!kylin_api_project_name_valid(names[i])) {
            kylin_errf(err, err_size, "claim: \"%s\" is not a Kylin project name (1 to %d letters, digits or _)",
                       names[i] == NULL ? "(null)" : names[i], KYLIN_API_NAME_MAX);
            return KYLIN_EINVAL;
        }
        if (strcmp(names[i], "_global") == 0) {
            kylin_errf(err, err_size, "claim: _global cannot be claimed through /api/epoch (Kylin answers "
                       "PROJECT_NOT_EXIST); it is written with a compare-and-set instead");
            return KYLIN_EINVAL;
        }
    }
    rc = api_url(base, "/api/epoch", out, err, err_size);
    if (rc != KYLIN_OK) {
        return rc;
    }
    rc = KYLIN_ENOMEM;
    list = json_array();
    if (list == NULL) {
        goto err_nomem;
    }
    for (i = 0; i < count; i++) {
        if (json_array_append_new(list, json_string(names[i])) != 0) {
            goto err_nomem;
        }
    }
    doc = json_pack("{s:o,s:b,s:b}", "projects", list, "force", 1, "client", 1);
    list = NULL; /* json_pack's "o" took the reference, also on failure */
    if (doc == NULL) {
        goto err_nomem;
    }
    text = json_dumps(doc, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(doc);
    if (text == NULL) {
        goto err_nomem;
    }
    out->method = "POST";
    out->headers[0] = KYLIN_API_ACCEPT;
    out->headers[1] = KYLIN_API_CONTENT_TYPE;
    out->headers[2] = NULL;
    out->body = text;
    out->body_len = strlen(text);
    *taken = count;
    return KYLIN_OK;

err_nomem:
    json_decref(list);
    kylin_errf(err, err_size, "claim: out of memory building the body for %s", out->url);
    kylin_api_request_free(out);
    return rc;
}

int kylin_api_poke(const char *base, struct kylin_api_request *out, char *err, size_t err_size)
{
    int rc;

    memset(out, 0, sizeof *out);
    rc = api_url(base, "/api/broadcast", out, err, err_size);
    if (rc != KYLIN_OK) {
        return rc;
    }
    out->body_len = strlen(KYLIN_API_POKE_BODY);
    out->body = malloc(out->body_len + 1);
    if (out->body == NULL) {
        kylin_errf(err, err_size, "poke: out of memory building the body for %s", out->url);
        kylin_api_request_free(out);
        return KYLIN_ENOMEM;
    }
    memcpy(out->body, KYLIN_API_POKE_BODY, out->body_len + 1);
    out->method = "POST";
    out->headers[0] = KYLIN_API_ROUTED;
    out->headers[1] = KYLIN_API_CONTENT_TYPE;
    out->headers[2] = NULL;
    return KYLIN_OK;
}

int kylin_api_health(const char *base, struct kylin_api_request *out, char *err, size_t err_size)
{
    int rc;

    memset(out, 0, sizeof *out);
    rc = api_url(base, "/api/health", out, err, err_size);
    if (rc != KYLIN_OK) {
        return rc;
    }
    out->method = "GET";
    out->headers[0] = "Accept: application/json";
    out->headers[1] = NULL;
    return KYLIN_OK;
}

void kylin_api_request_free(struct kylin_api_request *r)
{
    if (r == NULL) {
        return;
    }
    free(r->url);
    free(r->body);
    memset(r, 0, sizeof *r);
}

bool kylin_api_claim_refused(long status, const char *body, size_t len, const char *name, char *msg,
                             size_t msg_size)
{
    json_error_t jerr;
    json_t *doc;
    const char *text;
    bool refused = false;

    if (status < 400 || status > 599 || body == NULL || len == 0 || name == NULL) {
        return false;
    }
    doc = json_loadb(body, len, 0, &jerr);
    text = json_is_object(doc) ? json_string_value(json_object_get(doc, "msg")) : NULL;
    if (text != NULL) {
        size_t n = strlen(name);
        for (const char *p = strchr(text, '"'); p != NULL && !refused; p = strchr(p + 1, '"')) {
            refused = strncmp(p + 1, name, n) == 0 && p[1 + n] == '"';
        }
    }
    if (refused && msg != NULL && msg_size > 0) {
        kylin_errf(msg, msg_size, "%s", text);
    }
    json_decref(doc);
    return refused;
}
