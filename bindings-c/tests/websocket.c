/*
 * WebSocket sessions through the C API. Needs the mock (COZE_MOCK_URL).
 *   - Before the move a chat session is served by the personal credential in one handshake.
 *   - After the move the personal session's first event is `error` 4101: the core reconnects with the
 *     enterprise credential and replays the events sent so far; the mock saw them in order.
 *   - A handshake refused with 403 and no Coze code is an API error with http_status 403, no fallback.
 *   - Bad arguments (NULLs, a query that is not an object, an event that is not JSON) are INVALID_ARGUMENT.
 * Prints one line per failed check and a final "websocket: N passed, M failed".
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"

static char g_config[8192];
static char g_query[256];

static const char *UPDATE = "{\"id\":\"e1\",\"event_type\":\"chat.update\",\"data\":{}}";
static const char *CREATE = "{\"id\":\"e2\",\"event_type\":\"conversation.message.create\","
                            "\"data\":{\"role\":\"user\",\"content_type\":\"text\",\"content\":\"hi\"}}";

static cozefallback_client *new_client(void) { return client_from(g_config); }

/* Opens a chat session, sends the two events, reads to conversation.chat.completed; returns the event count
 * (-1 on an error) and the session's credential and attempts. */
static int chat(cozefallback_client *c, const char **cred, uint32_t *attempts) {
    cozefallback_websocket *ws = NULL;
    cozefallback_error *err = NULL;
    int events = -1;
    *cred = "";
    *attempts = 0;
    if (cozefallback_websocket_open(c, "/v1/chat", g_query, NULL, &ws, &err) != COZEFALLBACK_STATUS_OK) {
        printf("open failed: %s\n", cozefallback_error_message(err));
        cozefallback_error_free(err);
        return -1;
    }
    if (cozefallback_websocket_send(ws, UPDATE, NULL, NULL) != COZEFALLBACK_STATUS_OK ||
        cozefallback_websocket_send(ws, CREATE, NULL, NULL) != COZEFALLBACK_STATUS_OK) {
        cozefallback_websocket_free(ws);
        return -1;
    }
    events = 0;
    for (;;) {
        cozefallback_ws_event *ev = NULL;
        if (cozefallback_websocket_next(ws, NULL, &ev, &err) != COZEFALLBACK_STATUS_OK) {
            printf("next failed: %s\n", cozefallback_error_message(err));
            cozefallback_error_free(err);
            events = -1;
            break;
        }
        if (!ev) break;
        events++;
        const char *type = cozefallback_ws_event_type(ev);
        const char *json = cozefallback_ws_event_json(ev);
        int done = type && strcmp(type, "conversation.chat.completed") == 0;
        CHECK(json && strstr(json, "\"detail\""), "an event carries its detail: %s", json ? json : "(null)");
        cozefallback_ws_event_free(ev);
        if (done) break;
    }
    *cred = cozefallback_websocket_credential(ws);
    *attempts = cozefallback_websocket_attempts(ws);
    char *logid = cozefallback_websocket_logid(ws);
    CHECK(logid != NULL, "the handshake's log id is known");
    cozefallback_string_free(logid);
    CHECK(cozefallback_websocket_close(ws, NULL) == COZEFALLBACK_STATUS_OK, "close");
    cozefallback_websocket_free(ws);
    return events;
}

static void test_move(void) {
    cozefallback_client *c = new_client();
    const char *cred;
    uint32_t attempts;
    int n = chat(c, &cred, &attempts);
    CHECK(n == 9, "before the move: 9 events, got %d", n);
    CHECK(strcmp(cred, "personal") == 0 && attempts == 1, "before the move: personal in 1, got %s in %u", cred,
          attempts);

    mock_http(g_base, "POST", "/__mock/state", "{\"moved\":true}", NULL);
    n = chat(c, &cred, &attempts);
    CHECK(n == 9, "after the move: 9 events (the held ones replayed), got %d", n);
    CHECK(strcmp(cred, "enterprise") == 0 && attempts == 2, "after the move: enterprise in 2, got %s in %u",
          cred, attempts);
    char *stats = NULL;
    mock_http(g_base, "GET", "/__mock/stats", NULL, &stats);
    jval *s = json_parse(stats, NULL);
    const char *refused = json_str(json_pointer(s, "/websocket/sessions/1/outcome"));
    const char *first = json_str(json_pointer(s, "/websocket/sessions/2/received/0/id"));
    const char *second = json_str(json_pointer(s, "/websocket/sessions/2/received/1/id"));
    CHECK(refused && strcmp(refused, "refused") == 0, "the personal session was refused: %s", refused);
    CHECK(first && second && strcmp(first, "e1") == 0 && strcmp(second, "e2") == 0,
          "the enterprise session got e1 then e2: %s %s", first, second);
    json_free(s);
    free(stats);

    n = chat(c, &cred, &attempts);
    CHECK(strcmp(cred, "enterprise") == 0 && attempts == 1, "sticky: enterprise in 1, got %s in %u", cred,
          attempts);
    cozefallback_client_free(c);
}

static void test_403_without_code(void) {
    mock_http(g_base, "POST", "/__mock/reset", "{}", NULL);
    mock_http(g_base, "POST", "/__mock/state",
              "{\"faults\":[{\"path\":\"/v1/chat\",\"credential\":\"personal\","
              "\"action\":{\"type\":\"http\",\"http_status\":403,\"body\":\"Forbidden\"}}]}",
              NULL);
    cozefallback_client *c = new_client();
    cozefallback_websocket *ws = NULL;
    cozefallback_error *err = NULL;
    cozefallback_status st = cozefallback_websocket_open(c, "/v1/chat", g_query, NULL, &ws, &err);
    CHECK(st == COZEFALLBACK_STATUS_API, "a 403 without a code is an API error, got %d", st);
    CHECK(ws == NULL, "no session on failure");
    CHECK(cozefallback_error_http_status(err) == 403, "http_status 403, got %u", cozefallback_error_http_status(err));
    CHECK(strcmp(cozefallback_error_credential(err), "personal") == 0, "no fallback: the personal credential");
    cozefallback_error_free(err);
    cozefallback_client_free(c);
}

static void test_misuse(void) {
    mock_http(g_base, "POST", "/__mock/reset", "{}", NULL);
    cozefallback_client *c = new_client();
    cozefallback_websocket *ws = NULL;
    cozefallback_error *err = NULL;
    CHECK(cozefallback_websocket_open(NULL, "/v1/chat", NULL, NULL, &ws, NULL) ==
              COZEFALLBACK_STATUS_INVALID_ARGUMENT, "NULL client");
    CHECK(cozefallback_websocket_open(c, NULL, NULL, NULL, &ws, NULL) == COZEFALLBACK_STATUS_INVALID_ARGUMENT,
          "NULL path");
    CHECK(cozefallback_websocket_open(c, "/v1/chat", "[1]", NULL, &ws, &err) ==
              COZEFALLBACK_STATUS_INVALID_ARGUMENT, "a query that is not an object");
    CHECK(err && strstr(cozefallback_error_message(err), "query_json"), "the message names query_json");
    cozefallback_error_free(err);
    err = NULL;
    CHECK(cozefallback_websocket_send(NULL, UPDATE, NULL, NULL) == COZEFALLBACK_STATUS_INVALID_ARGUMENT,
          "NULL session");
    cozefallback_ws_event *ev = NULL;
    CHECK(cozefallback_websocket_next(NULL, NULL, &ev, NULL) == COZEFALLBACK_STATUS_INVALID_ARGUMENT,
          "next on NULL");
    if (cozefallback_websocket_open(c, "/v1/chat", g_query, NULL, &ws, NULL) == COZEFALLBACK_STATUS_OK) {
        CHECK(cozefallback_websocket_send(ws, "not json", NULL, &err) == COZEFALLBACK_STATUS_INVALID_ARGUMENT,
              "an event that is not JSON");
        cozefallback_error_free(err);
        CHECK(cozefallback_websocket_next(ws, NULL, NULL, NULL) == COZEFALLBACK_STATUS_INVALID_ARGUMENT,
              "NULL out-pointer");
        cozefallback_websocket_close(ws, NULL);
        CHECK(cozefallback_websocket_next(ws, NULL, &ev, NULL) == COZEFALLBACK_STATUS_OK && ev == NULL,
              "a closed session reports the end");
        cozefallback_websocket_free(ws);
    } else {
        CHECK(0, "open for the misuse checks");
    }
    CHECK(cozefallback_websocket_credential(NULL) == NULL && cozefallback_websocket_attempts(NULL) == 0,
          "accessors are NULL-safe");
    size_t len = 7;
    CHECK(cozefallback_ws_event_binary(NULL, &len) == NULL && len == 0, "binary of NULL");
    cozefallback_websocket_free(NULL);
    cozefallback_ws_event_free(NULL);
    cozefallback_client_free(c);
}

int main(void) {
    jval *info = mock_info();
    snprintf(g_config, sizeof g_config,
             "{\"base_url\":\"%s\",\"personal\":{\"type\":\"pat\",\"token\":\"%s\"},"
             "\"enterprise\":{\"type\":\"pat\",\"token\":\"%s\"},\"timeouts\":{\"total_ms\":10000}}",
             json_str(json_get(info, "base_url")), json_str(json_get(info, "personal_pat")),
             json_str(json_get(info, "enterprise_pat")));
    snprintf(g_query, sizeof g_query, "{\"bot_id\":\"%s\"}", json_str(json_pointer(info, "/bots/0")));
    json_free(info);
    mock_http(g_base, "POST", "/__mock/reset", "{}", NULL);

    test_move();
    test_403_without_code();
    test_misuse();
    mock_http(g_base, "POST", "/__mock/reset", "{}", NULL);
    printf("websocket: %d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}
