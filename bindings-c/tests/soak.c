/*
 * The live migration under load and faults through the C API (short form): the same faults, traffic mix and
 * assertions as core/tests/soak.rs and the Go, Python and Node soaks, with 16 threads (C calls block).
 *
 * While 16 requests are in flight: the workspace moves halfway, tokens live 2 s, the token endpoint fails 5% of
 * the time and is slow 5% of the time, 1% of API answers are 502/503 and one connection in a thousand is reset.
 * Traffic: GET /v1/bots/{id} 50%, POST /v3/chat 25%, streaming POST /v3/chat 25%, JWT account -> enterprise.
 * It must show: every request answered exactly once; no failure but those an injected fault explains (API
 * 502/503, a transport error, an auth error with HTTP 503); the attempts the library reports add up to the
 * requests the mock saw; at most 3% failures.
 *
 * Needs the mock (COZE_MOCK_URL). SOAK_REQUESTS (default 2000; full form 5000). Prints the counts and a final
 * "soak: N passed, M failed" (checks); exits 1 on any failed check.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cozefallback.h"
#include "json.h"
#include "mockhttp.h"

enum { THREADS = 16, MAX_BOTS = 8 };

static int passed, failed;
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

static const char FAULTS[] =
    "{\"token_ttl_secs\":2,\"faults\":["
    "{\"path\":\"/api/permission/oauth2/\",\"probability\":0.05,\"action\":{\"type\":\"http\",\"http_status\":503,"
    "\"body\":\"busy\",\"content_type\":\"text/plain\"}},"
    "{\"path\":\"/api/permission/oauth2/\",\"probability\":0.05,\"action\":{\"type\":\"latency\",\"ms\":300}},"
    "{\"path\":\"/v\",\"probability\":0.001,\"action\":{\"type\":\"reset\"}},"
    "{\"path\":\"/v\",\"probability\":0.005,\"action\":{\"type\":\"http\",\"http_status\":502,"
    "\"body\":\"<html>bad gateway</html>\",\"content_type\":\"text/html\"}},"
    "{\"path\":\"/v\",\"probability\":0.005,\"action\":{\"type\":\"http\",\"http_status\":503,"
    "\"body\":\"<html>unavailable</html>\",\"content_type\":\"text/html\"}}]}";

typedef struct {
    atomic_int answers;     /* times this request was answered: must be exactly 1 */
    uint32_t attempts;      /* from the response, the stream or the error */
    cozefallback_status status;
    uint16_t http_status;
    char *message;          /* the error message, for unexplained failures */
    int stream_not_done;    /* a stream that ended cleanly without a `done` event */
} outcome_t;

static const char *g_base;
static cozefallback_client *g_client;
static int g_requests;
static atomic_int g_next;
static atomic_int g_move_failed;
static char g_bots[MAX_BOTS][32];
static int g_nbots;
static outcome_t *g_out;

/* The injected fault that explains a failure (the migration guide's recipe could not have served it either), or NULL. */
static const char *injected_cause(cozefallback_status st, uint16_t http) {
    if (st == COZEFALLBACK_STATUS_API && (http == 502 || http == 503)) return "API answer 502/503 on a non-idempotent call";
    if (st == COZEFALLBACK_STATUS_TRANSPORT) return "connection reset on a non-idempotent call";
    if (st == COZEFALLBACK_STATUS_AUTH && http == 503) return "token endpoint 503 after retries";
    return NULL;
}

static void record_error(outcome_t *o, cozefallback_status st, cozefallback_error *err) {
    o->status = st;
    o->attempts = cozefallback_error_attempts(err);
    o->http_status = cozefallback_error_http_status(err);
    if (!injected_cause(st, o->http_status)) {
        const char *m = cozefallback_error_message(err);
        o->message = strdup(m ? m : "(no message)");
    }
    cozefallback_error_free(err);
}

static cozefallback_request *chat_request(const char *bot, int stream) {
    char body[512];
    int n = snprintf(body, sizeof body,
                     "{\"bot_id\":\"%s\",\"user_id\":\"soak\",\"stream\":%s,"
                     "\"additional_messages\":[{\"role\":\"user\",\"content\":\"hi\",\"content_type\":\"text\"}]}",
                     bot, stream ? "true" : "false");
    cozefallback_request *req = NULL;
    if (cozefallback_request_new("POST", "/v3/chat", &req, NULL) != COZEFALLBACK_STATUS_OK ||
        cozefallback_request_set_body(req, (const uint8_t *)body, (size_t)n, "application/json", NULL) !=
            COZEFALLBACK_STATUS_OK) {
        fprintf(stderr, "cannot build a chat request\n");
        exit(2);
    }
    return req;
}

static void one_request(int i) {
    outcome_t *o = &g_out[i];
    const char *bot = g_bots[i % g_nbots];
    cozefallback_request *req = NULL;
    cozefallback_error *err = NULL;
    cozefallback_status st;
    if (i % 4 == 3) {
        req = chat_request(bot, 1);
        cozefallback_stream *s = NULL;
        st = cozefallback_stream_open(g_client, req, NULL, &s, &err);
        if (st != COZEFALLBACK_STATUS_OK) {
            record_error(o, st, err);
        } else {
            char last[64] = "";
            cozefallback_event *ev = NULL;
            for (;;) {
                st = cozefallback_stream_next(s, NULL, &ev, &err);
                if (st != COZEFALLBACK_STATUS_OK || !ev) break;
                snprintf(last, sizeof last, "%s", cozefallback_event_name(ev));
                cozefallback_event_free(ev);
            }
            if (st != COZEFALLBACK_STATUS_OK) {
                record_error(o, st, err);
            } else {
                o->status = COZEFALLBACK_STATUS_OK;
                o->attempts = cozefallback_stream_attempts(s);
                o->stream_not_done = strcmp(last, "done") != 0;
            }
            cozefallback_stream_free(s);
        }
    } else {
        if (i % 4 == 2) {
            req = chat_request(bot, 0);
        } else {
            char path[64];
            snprintf(path, sizeof path, "/v1/bots/%s", bot);
            cozefallback_request_new("GET", path, &req, NULL);
        }
        cozefallback_response *resp = NULL;
        st = cozefallback_client_send(g_client, req, NULL, &resp, &err);
        if (st != COZEFALLBACK_STATUS_OK) {
            record_error(o, st, err);
        } else {
            o->status = COZEFALLBACK_STATUS_OK;
            o->attempts = cozefallback_response_attempts(resp);
            cozefallback_response_free(resp);
        }
    }
    cozefallback_request_free(req);
    atomic_fetch_add(&o->answers, 1);
}

static void *worker(void *arg) {
    (void)arg;
    for (;;) {
        int i = atomic_fetch_add(&g_next, 1);
        if (i >= g_requests) return NULL;
        if (i == g_requests / 2 && mock_http(g_base, "POST", "/__mock/state", "{\"moved\":true}", NULL) != 200)
            atomic_store(&g_move_failed, 1);
        one_request(i);
    }
}

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static void print_field(const jval *obj, const char *key) {
    char *text = json_dump(json_get(obj, key) ? json_get(obj, key) : obj);
    printf(" %s %s", key, json_get(obj, key) ? text : "?");
    free(text);
}

int main(void) {
    g_base = getenv("COZE_MOCK_URL");
    if (!g_base) { fprintf(stderr, "set COZE_MOCK_URL\n"); return 2; }
    g_requests = getenv("SOAK_REQUESTS") ? atoi(getenv("SOAK_REQUESTS")) : 2000;
    if (g_requests <= 0) { fprintf(stderr, "bad SOAK_REQUESTS\n"); return 2; }
    char *text = NULL;
    if (mock_http(g_base, "GET", "/__mock/info", NULL, &text) != 200) { fprintf(stderr, "no mock\n"); return 2; }
    jval *info = json_parse(text, NULL);
    free(text);
    if (!info) { fprintf(stderr, "bad mock info\n"); return 2; }
    jval *bots = json_get(info, "bots");
    for (size_t i = 0; bots && i < bots->len && i < MAX_BOTS; i++)
        snprintf(g_bots[g_nbots++], sizeof g_bots[0], "%s", json_str(bots->items[i]));
    /* JWT app minting for the personal account and for the enterprise (the other soaks' config). */
    char *pem = json_dump(json_get(info, "private_key_pem"));
    size_t cap = strlen(pem) * 2 + 1024;
    char *config = malloc(cap);
    snprintf(config, cap,
             "{\"base_url\":\"%s\","
             "\"personal\":{\"type\":\"jwt\",\"client_id\":\"%s\",\"private_key\":%s,\"public_key_id\":\"%s\",\"account_id\":\"%s\"},"
             "\"enterprise\":{\"type\":\"jwt\",\"client_id\":\"%s\",\"private_key\":%s,\"public_key_id\":\"%s\",\"enterprise_id\":\"%s\"},"
             "\"retry\":{\"base_delay_ms\":5,\"max_delay_ms\":100}}",
             json_str(json_get(info, "base_url")), json_str(json_get(info, "jwt_client_id")), pem,
             json_str(json_get(info, "jwt_kid")), json_str(json_get(info, "account_id")),
             json_str(json_get(info, "jwt_client_id")), pem, json_str(json_get(info, "jwt_kid")),
             json_str(json_get(info, "enterprise_id")));
    free(pem);
    json_free(info);

    CHECK(mock_http(g_base, "POST", "/__mock/reset", "{}", NULL) == 200, "mock reset");
    CHECK(mock_http(g_base, "POST", "/__mock/state", FAULTS, NULL) == 200, "mock takes the faults");
    cozefallback_error *err = NULL;
    if (cozefallback_client_new(config, &g_client, &err) != COZEFALLBACK_STATUS_OK) {
        fprintf(stderr, "cannot build the client: %s\n", cozefallback_error_message(err));
        return 2;
    }
    free(config);
    g_out = calloc((size_t)g_requests, sizeof *g_out);

    double t0 = now_s();
    pthread_t th[THREADS];
    for (int i = 0; i < THREADS; i++) pthread_create(&th[i], NULL, worker, NULL);
    for (int i = 0; i < THREADS; i++) pthread_join(th[i], NULL);
    double took = now_s() - t0;

    int answered = 0, succeeded = 0, unexplained = 0, not_done = 0, wrong_count = 0;
    int excused[3] = {0};
    const char *causes[3] = {injected_cause(COZEFALLBACK_STATUS_API, 502), injected_cause(COZEFALLBACK_STATUS_TRANSPORT, 0),
                             injected_cause(COZEFALLBACK_STATUS_AUTH, 503)};
    uint64_t attempts = 0;
    for (int i = 0; i < g_requests; i++) {
        outcome_t *o = &g_out[i];
        int n = atomic_load(&o->answers);
        if (n != 1) {
            if (wrong_count++ < 10) printf("FAIL request %d answered %d times\n", i, n);
            continue;
        }
        answered++;
        attempts += o->attempts;
        if (o->status == COZEFALLBACK_STATUS_OK) {
            succeeded++;
            if (o->stream_not_done && not_done++ < 10) printf("FAIL stream %d ended without a done event\n", i);
            continue;
        }
        const char *cause = injected_cause(o->status, o->http_status);
        if (cause) {
            for (int c = 0; c < 3; c++) excused[c] += cause == causes[c];
        } else if (unexplained++ < 20) {
            printf("FAIL request %d: unexplained %s (HTTP %u): %s\n", i, cozefallback_status_name((int32_t)o->status),
                   o->http_status, o->message);
        }
        free(o->message);
    }

    text = NULL;
    int st = mock_http(g_base, "GET", "/__mock/stats", NULL, &text);
    jval *stats = st == 200 ? json_parse(text, NULL) : NULL;
    free(text);
    CHECK(stats != NULL, "mock stats (HTTP %d)", st);
    int64_t seen = json_int(json_pointer(stats, "/requests/total"));
    char *metrics_text = NULL;
    cozefallback_client_metrics_json(g_client, &metrics_text, NULL);
    jval *metrics = metrics_text ? json_parse(metrics_text, NULL) : NULL;
    cozefallback_string_free(metrics_text);

    printf("soak: %d requests, %d threads, move at %d, %.1f s\n", g_requests, THREADS, g_requests / 2, took);
    printf("  succeeded %d, failed by injected faults {%s: %d, %s: %d, %s: %d}, unexplained %d\n", succeeded, causes[0],
           excused[0], causes[1], excused[1], causes[2], excused[2], unexplained);
    printf("  attempts reported %llu, requests the mock saw %lld\n", (unsigned long long)attempts, (long long)seen);
    if (metrics && stats) {
        printf(" ");
        print_field(metrics, "token_mints");
        print_field(metrics, "token_refresh_failures");
        print_field(metrics, "retries_total");
        print_field(metrics, "fallbacks");
        char *mints = json_dump(json_get(stats, "token_mints") ? json_get(stats, "token_mints") : stats);
        printf(" (mock token_mints %s)\n", mints);
        free(mints);
    }
    CHECK(!atomic_load(&g_move_failed), "the mock moved the workspace mid-run");
    CHECK(answered == g_requests && wrong_count == 0, "every request answered exactly once (%d of %d)", answered,
          g_requests);
    CHECK(unexplained == 0, "%d failures no injected fault explains", unexplained);
    CHECK(not_done == 0, "%d streams finished without a done event", not_done);
    CHECK((int64_t)attempts == seen, "the attempts reported (%llu) and the mock's count of requests (%lld) agree",
          (unsigned long long)attempts, (long long)seen);
    CHECK(succeeded >= g_requests * 0.97, "only %d of %d succeeded", succeeded, g_requests);

    json_free(stats);
    json_free(metrics);
    free(g_out);
    cozefallback_client_free(g_client);
    mock_http(g_base, "POST", "/__mock/reset", "{}", NULL);
    printf("soak: %d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}
