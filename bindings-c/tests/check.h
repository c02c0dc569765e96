/*
 * What every C test against the mock shares (tests only): the pass/fail counters and CHECK, string equality,
 * the mock's address and info document, and a client from a JSON config. Included once per test program.
 */
#ifndef CF_TEST_CHECK_H
#define CF_TEST_CHECK_H
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cozefallback.h"
#include "json.h"
#include "mockhttp.h"

static int passed, failed;
/* The mock's base URL (COZE_MOCK_URL), set by mock_info(). */
static const char *g_base;

/* Counts a check; a failed one prints its place and the printf-style message. */
#define CHECK(cond, ...)                                                                                      \
    do {                                                                                                      \
        if (cond) passed++;                                                                                   \
        else {                                                                                                \
            failed++;                                                                                         \
            printf("FAIL %s:%d: ", __FILE__, __LINE__);                                                      \
            printf(__VA_ARGS__);                                                                              \
            printf("\n");                                                                                     \
        }                                                                                                     \
    } while (0)

/* Both strings present and equal. */
static inline int same(const char *a, const char *b) { return a && b && !strcmp(a, b); }

/* Sets g_base from COZE_MOCK_URL and returns the mock's /__mock/info (free it with json_free); exits with 2
 * when there is no mock to test against. */
static inline jval *mock_info(void) {
    g_base = getenv("COZE_MOCK_URL");
    if (!g_base) { fprintf(stderr, "set COZE_MOCK_URL\n"); exit(2); }
    char *text = NULL;
    if (mock_http(g_base, "GET", "/__mock/info", NULL, &text) != 200) { fprintf(stderr, "no mock\n"); exit(2); }
    jval *info = json_parse(text, NULL);
    free(text);
    if (!info) { fprintf(stderr, "the mock's info is not JSON\n"); exit(2); }
    return info;
}

/* A client from the JSON `config`; exits with 2 (and the error's message) when it cannot be built. */
static inline cozefallback_client *client_from(const char *config) {
    cozefallback_client *c = NULL;
    cozefallback_error *err = NULL;
    if (cozefallback_client_new(config, &c, &err) != COZEFALLBACK_STATUS_OK) {
        fprintf(stderr, "cannot build the client: %s\n", cozefallback_error_message(err));
        cozefallback_error_free(err);
        exit(2);
    }
    return c;
}
#endif
