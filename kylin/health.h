/* health: reads Kylin's GET /kylin/api/health answer (Spring Boot actuator JSON) into
 * UP / DOWN / INVALID, from components.metaStore.status, not from the aggregate "status":
 * the aggregate goes DOWN with Spark or the file system, while an engine only needs its
 * metastore to claim and run projects (kylin5-epoch-protocol.md §4: MetaStoreHealthIndicator
 * writes, reads and deletes /_health/<uuid> in a UnitOfWork every
 * kylin.env.health-check-interval ms and reports DOWN until the first check passed).
 *
 *   UP       components.metaStore.status is the string "UP" (whatever the HTTP status: an
 *            actuator answers 503 when any indicator is DOWN)
 *   DOWN     an actuator document that does not say metaStore UP: metaStore DOWN,
 *            OUT_OF_SERVICE or UNKNOWN, or components / metaStore / status missing
 *   INVALID  not an actuator document at all (not JSON, not an object, an HTTP status other
 *            than 200 or 503): probably raft.kylin.url points at something else
 *
 * Every result but UP comes with a reason for the log. The engine is alive only on UP.
 *
 * Owns: nothing. Calls: jansson. */
#ifndef KYLIN_HEALTH_H
#define KYLIN_HEALTH_H

#include <stddef.h>

enum kylin_health { KYLIN_HEALTH_UP = 0, KYLIN_HEALTH_DOWN, KYLIN_HEALTH_INVALID };

/* Reads BODY (LEN bytes, need not be NUL-terminated) that came with HTTP_STATUS. REASON (of
 * REASON_SIZE bytes; may be NULL) receives why the result is not UP ("" on UP). */
enum kylin_health kylin_health_parse(long http_status, const char *body, size_t len, char *reason,
                                     size_t reason_size);

/* "UP", "DOWN" or "INVALID". */
const char *kylin_health_name(enum kylin_health h);

#endif
