/* The dead-instance presence sweep is not the heartbeat's work (svc/presence/presence.h): a
 * heartbeat (ch_presence_node_alive) only records its own instance, even with a dead instance
 * in the list, and the sweep (ch_presence_sweep_dead, on the gateway's sweep thread) announces
 * the dead instance's users and drops it from the list. In-process kv, SQLite. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/log.h"
#include "store/db.h"
#include "store/kv.h"
#include "svc/presence/presence.h"

#define OK(x) assert_int_equal((x), CH_OK)
#define DEAD 1001
#define LIVE 1002

static ch_config_t cfg;
static ch_svc_t svc;
static char dir[256];

static int setup(void **state)
{
    (void)state;
    char url[300], errbuf[256];
    ch_log_set_level(CH_LOG_ERROR);
    snprintf(dir, sizeof(dir), "%s/chorus-test-sweep-XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    if (!mkdtemp(dir))
        return -1;
    snprintf(url, sizeof(url), "sqlite:%s/t.db", dir);
    if (ch_db_open(url, &svc.db, errbuf, sizeof(errbuf)) != CH_OK || ch_db_migrate(svc.db, NULL) != CH_OK)
        return -1;
    if (ch_kv_open(NULL, &svc.kv, errbuf, sizeof(errbuf)) != CH_OK)
        return -1;
    svc.cfg = &cfg;
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[300];
    ch_kv_close(svc.kv);
    ch_db_close(svc.db);
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    return system(cmd) == 0 ? 0 : -1;
}

static int has_key(const char *key)
{
    char *v = NULL;
    size_t len = 0;
    OK(ch_kv_get(svc.kv, key, &v, &len));
    free(v);
    return v != NULL;
}

static int listed(uint64_t instance)
{
    char *v = NULL, inst[32];
    size_t len = 0;
    OK(ch_kv_get(svc.kv, "presence:instances", &v, &len));
    snprintf(inst, sizeof(inst), "\"%llu\"", (unsigned long long)instance);
    int found = v && memmem(v, len, inst, strlen(inst)) != NULL;
    free(v);
    return found;
}

static void test_heartbeat_does_not_sweep(void **state)
{
    (void)state;
    uint64_t users[] = {7, 8};
    OK(ch_presence_node_alive(&svc, DEAD));
    OK(ch_presence_node_users(&svc, DEAD, users, 2));
    OK(ch_kv_del(svc.kv, "presence:node:1001")); /* its liveness key expired: dead */
    OK(ch_presence_node_alive(&svc, LIVE));
    assert_true(has_key("presence:users:1001")); /* the heartbeat left the dead one alone */
    assert_true(listed(DEAD));
    assert_true(listed(LIVE));
    OK(ch_presence_sweep_dead(&svc, LIVE));
    assert_false(has_key("presence:users:1001")); /* swept */
    assert_false(listed(DEAD));
    assert_true(listed(LIVE));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_heartbeat_does_not_sweep),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
