/* The allocation policy (core/alloc.h): the wrappers return usable memory, and a failed
 * allocation ends the process with one log line and SIGABRT instead of returning NULL.
 * Failures are provoked in a child process with sizes no allocator can give. */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "core/alloc.h"

/* Under AddressSanitizer an impossible size must come back as NULL (as from glibc) rather
 * than as ASan's own report, so that the wrapper's handling is what the test sees. */
const char *__asan_default_options(void);
const char *__asan_default_options(void)
{
    return "allocator_may_return_null=1";
}

static void test_wrappers_allocate(void **state)
{
    (void)state;
    char *a = ch_malloc(16);
    memset(a, 'x', 16);
    int *z = ch_calloc(4, sizeof(int));
    assert_int_equal(z[0] | z[1] | z[2] | z[3], 0);
    a = ch_realloc(a, 4096);
    assert_int_equal(a[15], 'x');
    char *d = ch_strdup("chorus");
    char *n = ch_strndup("chorus", 3);
    assert_string_equal(d, "chorus");
    assert_string_equal(n, "cho");
    free(a);
    free(z);
    free(d);
    free(n);
}

/* Runs fn in a child with stderr on a pipe; returns what it wrote, and its wait status. */
static int run_child(void (*fn)(void), char *err, size_t errlen)
{
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        dup2(fds[1], STDERR_FILENO);
        fn();
        _exit(0); /* the allocation did not fail the process */
    }
    close(fds[1]);
    size_t used = 0;
    ssize_t r;
    while (used + 1 < errlen && (r = read(fds[0], err + used, errlen - 1 - used)) > 0)
        used += (size_t)r;
    err[used] = '\0';
    close(fds[0]);
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    return status;
}

static void oom_malloc(void)
{
    volatile size_t huge = SIZE_MAX / 2;
    free(ch_malloc(huge));
}
static void oom_calloc(void)
{
    volatile size_t count = SIZE_MAX / 4;
    free(ch_calloc(count, 8)); /* overflows: calloc must refuse */
}
static void oom_realloc(void)
{
    volatile size_t huge = SIZE_MAX / 2;
    free(ch_realloc(NULL, huge));
}
static void expect_abort(void (*fn)(void))
{
    char err[512];
    int status = run_child(fn, err, sizeof(err));
    assert_true(WIFSIGNALED(status));
    assert_int_equal(WTERMSIG(status), SIGABRT);
    assert_non_null(strstr(err, "out of memory allocating"));
}

static void test_failure_aborts_with_a_line(void **state)
{
    (void)state;
    expect_abort(oom_malloc);
    expect_abort(oom_calloc);
    expect_abort(oom_realloc);
}

static void test_install_gives_jansson_the_wrappers(void **state)
{
    (void)state;
    ch_alloc_install();
    json_malloc_t m = NULL;
    json_free_t f = NULL;
    json_get_alloc_funcs(&m, &f);
    assert_true(m == ch_malloc);
    assert_true(f == free);
    json_t *v = json_pack("{s:s}", "a", "b"); /* allocated and freed through them */
    assert_string_equal(json_string_value(json_object_get(v, "a")), "b");
    json_decref(v);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_wrappers_allocate),
        cmocka_unit_test(test_failure_aborts_with_a_line),
        cmocka_unit_test(test_install_gives_jansson_the_wrappers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
