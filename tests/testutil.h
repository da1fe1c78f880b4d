/* testutil — helpers shared by the Check test programs: where ../shared is, a scratch
 * directory, running a suite. Header-only so each test binary stays self-contained. */
#ifndef CARVE_TESTUTIL_H
#define CARVE_TESTUTIL_H

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "runtime/util.h"

/* Path to a file in ../shared (or $CARVE_SHARED), or NULL when it is absent. Caller frees. */
static inline char *shared_path(const char *rel) {
    const char *root = getenv("CARVE_SHARED");
    char *p = path_join(root ? root : "../shared", rel);
    if (!path_exists(p)) {
        free(p);
        return NULL;
    }
    return p;
}

/* A fresh scratch directory under $CARVE_TEST_TMP or /tmp. Caller frees the string. */
static inline char *test_tmpdir(const char *tag) {
    const char *base = getenv("CARVE_TEST_TMP");
    char tmpl[4096];
    snprintf(tmpl, sizeof tmpl, "%s/%s.XXXXXX", base ? base : "/tmp", tag);
    char *d = mkdtemp(tmpl);
    ck_assert_msg(d != NULL, "mkdtemp failed");
    return xstrdup(d);
}

/* Run one suite; returns the process exit status. */
static inline int run_suite(Suite *s) {
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}

#endif
