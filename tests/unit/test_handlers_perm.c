/* Unit tests of the API method table (raftnode/handlers.c): every method is classified, and
 * handlers_permit lets each certificate role call exactly what docs/security.md says. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "raftnode/handlers.h"

static const struct handler_method *method(const char *name)
{
    for (const struct handler_method *m = handler_methods; m->name != NULL; m++) {
        if (strcmp(m->name, name) == 0) {
            return m;
        }
    }
    fail_msg("method %s is not in the table", name);
    return NULL;
}

/* args {"id": ID} (ID 0: {}) */
struct args {
    msgpack_sbuffer sb;
    msgpack_unpacked u;
};

static const msgpack_object *args_id(struct args *a, uint64_t id)
{
    msgpack_packer pk;
    msgpack_sbuffer_init(&a->sb);
    msgpack_packer_init(&pk, &a->sb, msgpack_sbuffer_write);
    msgpack_pack_map(&pk, id != 0);
    if (id != 0) {
        msgpack_pack_str(&pk, 2);
        msgpack_pack_str_body(&pk, "id", 2);
        msgpack_pack_uint64(&pk, id);
    }
    msgpack_unpacked_init(&a->u);
    assert_int_equal(msgpack_unpack_next(&a->u, a->sb.data, a->sb.size, NULL), MSGPACK_UNPACK_SUCCESS);
    return &a->u.data;
}

static void args_free(struct args *a)
{
    msgpack_unpacked_destroy(&a->u);
    msgpack_sbuffer_destroy(&a->sb);
}

/* handlers_permit for METHOD with args {"id": ID}: 0 allowed, -1 refused ("permission denied"). */
static int permit(const char *name, bool tls, enum api_role role, uint64_t member, uint64_t id)
{
    struct args a;
    char why[512] = "";
    int rc = handlers_permit(method(name), tls, role, member, "cn", args_id(&a, id), why, sizeof why);
    args_free(&a);
    if (rc != 0) {
        assert_non_null(strstr(why, "permission denied"));
    }
    return rc;
}

/* The two columns agree: what changes state is never open to every certificate, and every
 * read is; names are unique. */
static void test_table_is_complete(void **state)
{
    (void)state;
    size_t n = 0;
    for (const struct handler_method *m = handler_methods; m->name != NULL; m++, n++) {
        bool writes = m->access == HANDLER_WRITE || m->access == HANDLER_CHANGE;
        assert_true(writes == (m->perm != PERM_READ));
        for (const struct handler_method *o = m + 1; o->name != NULL; o++) {
            assert_string_not_equal(m->name, o->name);
        }
    }
    assert_true(n >= 23);
    assert_int_equal(method("engine.heartbeat")->perm, PERM_SELF);
    assert_int_equal(method("member.join")->perm, PERM_ADMIN_OR_SELF);
    assert_int_equal(method("member.register")->perm, PERM_ADMIN_OR_SELF);
    assert_int_equal(method("audit")->perm, PERM_READ);
}

static void test_roles(void **state)
{
    (void)state;
    static const char *const reads[] = {"status", "hash", "project.list", "project.show", "engine.list",
                                        "history", "audit", "metastore.status", "kylin.status",
                                        "rebalance.status"};
    static const char *const admin_writes[] = {"project.add", "project.remove", "project.move", "project.pin",
                                               "rebalance", "maintenance", "engine.drain", "member.add",
                                               "member.remove", "member.assign", "leader.transfer"};
    for (size_t i = 0; i < sizeof reads / sizeof reads[0]; i++) {
        assert_int_equal(permit(reads[i], true, API_ROLE_READER, 0, 0), 0);
        assert_int_equal(permit(reads[i], true, API_ROLE_MEMBER, 2, 0), 0);
    }
    for (size_t i = 0; i < sizeof admin_writes / sizeof admin_writes[0]; i++) {
        assert_int_equal(permit(admin_writes[i], true, API_ROLE_ADMIN, 0, 1), 0);
        assert_int_equal(permit(admin_writes[i], true, API_ROLE_READER, 0, 1), -1);
        assert_int_equal(permit(admin_writes[i], true, API_ROLE_MEMBER, 1, 1), -1);
        assert_int_equal(permit(admin_writes[i], false, API_ROLE_ADMIN, 0, 1), 0); /* no TLS: open */
    }
    /* a member joins and registers itself, not another member; admins may do both */
    assert_int_equal(permit("member.join", true, API_ROLE_MEMBER, 4, 4), 0);
    assert_int_equal(permit("member.join", true, API_ROLE_MEMBER, 4, 5), -1);
    assert_int_equal(permit("member.register", true, API_ROLE_MEMBER, 2, 2), 0);
    assert_int_equal(permit("member.register", true, API_ROLE_MEMBER, 2, 3), -1);
    assert_int_equal(permit("member.register", true, API_ROLE_MEMBER, 2, 0), -1);
    assert_int_equal(permit("member.register", true, API_ROLE_ADMIN, 0, 3), 0);
    assert_int_equal(permit("member.register", true, API_ROLE_READER, 0, 3), -1);
    /* an engine heartbeat only from the engine's own member: not even an admin forges one */
    assert_int_equal(permit("engine.heartbeat", true, API_ROLE_MEMBER, 1, 1), 0);
    assert_int_equal(permit("engine.heartbeat", true, API_ROLE_MEMBER, 1, 2), -1);
    assert_int_equal(permit("engine.heartbeat", true, API_ROLE_ADMIN, 0, 99), -1);
    assert_int_equal(permit("engine.heartbeat", true, API_ROLE_READER, 0, 99), -1);
    assert_int_equal(permit("engine.heartbeat", false, API_ROLE_ADMIN, 0, 99), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_table_is_complete),
        cmocka_unit_test(test_roles),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
