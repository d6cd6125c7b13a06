/* health: Spring Boot actuator JSON -> UP / DOWN / INVALID from components.metaStore.status
 * (health.h gives the rules and the Kylin source behind them). */
#include "health.h"

#include <jansson.h>
#include <string.h>

#include "error.h"

const char *kylin_health_name(enum kylin_health h)
{
    switch (h) {
    case KYLIN_HEALTH_UP:
        return "UP";
    case KYLIN_HEALTH_DOWN:
        return "DOWN";
    case KYLIN_HEALTH_INVALID:
        break;
    }
    return "INVALID";
}

enum kylin_health kylin_health_parse(long http_status, const char *body, size_t len, char *reason,
                                     size_t reason_size)
{
    json_t *doc, *components, *meta, *status;
    json_error_t jerr;
    enum kylin_health result;
    const char *text;

    kylin_errf(reason, reason_size, "%s", "");
    if (http_status != 200 && http_status != 503) {
        kylin_errf(reason, reason_size,
                   "HTTP status %ld is not an actuator health answer (200 or 503); check that "
                   "raft.kylin.url is Kylin's base URL, e.g. http://127.0.0.1:7070/kylin",
                   http_status);
        return KYLIN_HEALTH_INVALID;
    }
    if (body == NULL || len == 0) {
        kylin_errf(reason, reason_size, "empty answer (HTTP %ld); expected actuator JSON", http_status);
        return KYLIN_HEALTH_INVALID;
    }
    doc = json_loadb(body, len, JSON_REJECT_DUPLICATES, &jerr);
    if (doc == NULL) {
        kylin_errf(reason, reason_size, "answer is not JSON (%s at byte %d); expected actuator JSON",
                   jerr.text, jerr.position);
        return KYLIN_HEALTH_INVALID;
    }
    if (!json_is_object(doc)) {
        kylin_errf(reason, reason_size, "answer is JSON but not an object; expected actuator JSON");
        json_decref(doc);
        return KYLIN_HEALTH_INVALID;
    }
    result = KYLIN_HEALTH_DOWN;
    components = json_object_get(doc, "components");
    meta = json_is_object(components) ? json_object_get(components, "metaStore") : NULL;
    status = json_is_object(meta) ? json_object_get(meta, "status") : NULL;
    if (!json_is_object(components)) {
        kylin_errf(reason, reason_size,
                   "no \"components\" object (management.endpoint.health.show-details must be "
                   "\"always\", as in Kylin's application.yaml)");
    } else if (!json_is_object(meta)) {
        kylin_errf(reason, reason_size,
                   "no components.metaStore (the metaStore indicator is off or not ready yet)");
    } else if (!json_is_string(status)) {
        kylin_errf(reason, reason_size, "components.metaStore.status is missing or not a string");
    } else {
        text = json_string_value(status);
        if (strcmp(text, "UP") == 0) {
            result = KYLIN_HEALTH_UP;
        } else {
            kylin_errf(reason, reason_size, "components.metaStore.status is \"%s\"", text);
        }
    }
    json_decref(doc);
    return result;
}
