/*
 * The serialised forms of docs/FORMS.md through the C API. Needs the mock (COZE_MOCK_URL).
 *   - cozefallback_error_to_json of a real failure (a bot neither credential finds: 4200 from both) has every
 *     documented key (and no other), with the values the accessors and the mock give (kind, code, coze_message,
 *     credential, attempts, logid, the failed answer, previous); NULL for a NULL handle.
 *   - cozefallback_stream_next_sse hands out the events of a chat stream as SSE text: parsed back it is the
 *     same events cozefallback_stream_next gives for the same chat (ids and timestamps the mock mints aside);
 *     NULL and 0 at the end; INVALID_ARGUMENT naming a NULL stream or out.
 * Prints one line per failed check and a final "forms: N passed, M failed".
 */
#define _GNU_SOURCE
#include <ctype.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"

static char g_config[4096];
static char g_bot[64];

/* Every key of the error's JSON form (docs/FORMS.md). */
static const char *ERROR_KEYS[] = {"kind",          "message",          "code",
                                   "coze_message",  "http_status",      "logid",
                                   "credential",    "attempts",         "field",
                                   "authorize_url", "oauth_error",      "events_delivered",
                                   "conversation_id", "file_id",        "conversation_owner",
                                   "bot_credential", "response",        "previous"};
#define N_ERROR_KEYS (sizeof ERROR_KEYS / sizeof *ERROR_KEYS)

/* The object has every documented key and no other. (Not in the documented order: the core's JSON objects
 * are written with their keys sorted.) */
static int has_documented_keys(const jval *obj) {
    if (!obj || obj->type != J_OBJ || obj->len != N_ERROR_KEYS) return 0;
    for (size_t i = 0; i < N_ERROR_KEYS; i++)
        if (!json_get(obj, ERROR_KEYS[i])) return 0;
    return 1;
}

static int is_null(const jval *obj, const char *key) {
    const jval *v = json_get(obj, key);
    return v && v->type == J_NULL;
}

static int int_is(const jval *obj, const char *key, int64_t want) {
    const jval *v = json_get(obj, key);
    return v && json_is_int(v) && json_int(v) == want;
}

/* The value under `key` of the failed answer's header list [[name, value], ...], or NULL. */
static const char *header_of(const jval *response, const char *name) {
    const jval *headers = json_get(response, "headers");
    for (size_t i = 0; headers && headers->type == J_ARR && i < headers->len; i++) {
        const jval *pair = headers->items[i];
        if (pair->type == J_ARR && pair->len == 2 && same(json_str(pair->items[0]), name))
            return json_str(pair->items[1]);
    }
    return NULL;
}

/* The checks one credential's error shares with the other's. */
static void check_4200(const jval *form, const cozefallback_error *err, const char *credential, int64_t attempts,
                       const char *what) {
    CHECK(has_documented_keys(form), "%s: not the documented keys", what);
    CHECK(same(json_str(json_get(form, "kind")), "api"), "%s: kind", what);
    CHECK(same(json_str(json_get(form, "message")), cozefallback_error_message(err)), "%s: message", what);
    CHECK(int_is(form, "code", 4200) && cozefallback_error_code(err) == 4200, "%s: code", what);
    CHECK(same(json_str(json_get(form, "coze_message")), "resource not found") &&
              same(cozefallback_error_coze_message(err), "resource not found"),
          "%s: coze_message %s", what, json_str(json_get(form, "coze_message")));
    CHECK(int_is(form, "http_status", 200), "%s: http_status", what);
    const char *logid = json_str(json_get(form, "logid"));
    CHECK(logid && *logid && same(logid, cozefallback_error_logid(err)), "%s: logid %s", what, logid);
    CHECK(same(json_str(json_get(form, "credential")), credential) &&
              same(cozefallback_error_credential(err), credential),
          "%s: credential %s", what, json_str(json_get(form, "credential")));
    CHECK(int_is(form, "attempts", attempts) && cozefallback_error_attempts(err) == (uint32_t)attempts,
          "%s: attempts", what);
    CHECK(int_is(form, "events_delivered", 0), "%s: events_delivered", what);
    const char *absent[] = {"field", "authorize_url", "oauth_error", "conversation_id", "file_id",
                            "conversation_owner", "bot_credential"};
    for (size_t i = 0; i < sizeof absent / sizeof *absent; i++)
        CHECK(is_null(form, absent[i]), "%s: %s is not null", what, absent[i]);
    const jval *response = json_get(form, "response");
    const char *body = json_str(json_get(response, "body"));
    CHECK(int_is(response, "status", 200) && body && strstr(body, "\"code\":4200") &&
              same(header_of(response, "x-tt-logid"), logid),
          "%s: the failed answer", what);
}

static void test_error_json(void) {
    mock_http(g_base, "POST", "/__mock/reset", "{}", NULL);
    cozefallback_client *client = client_from(g_config);
    cozefallback_request *req = NULL;
    cozefallback_response *resp = NULL;
    cozefallback_error *err = NULL;
    cozefallback_request_new("GET", "/v1/bots/7359999999999999999", &req, NULL);
    cozefallback_status st = cozefallback_client_send(client, req, NULL, &resp, &err);
    CHECK(st == COZEFALLBACK_STATUS_API && err && !resp, "an unknown bot is an API error (status %d)", st);
    char *text = cozefallback_error_to_json(err);
    jval *form = text ? json_parse(text, NULL) : NULL;
    CHECK(form != NULL, "the JSON form parses: %s", text ? text : "(NULL)");
    if (form) {
        check_4200(form, err, "enterprise", 2, "error");
        const jval *prev = json_get(form, "previous");
        const cozefallback_error *prev_err = cozefallback_error_previous(err);
        CHECK(prev && prev->type == J_OBJ && prev_err, "previous is the first credential's error");
        if (prev && prev->type == J_OBJ && prev_err) {
            check_4200(prev, prev_err, "personal", 1, "previous");
            CHECK(is_null(prev, "previous"), "previous has no previous");
            CHECK(!same(json_str(json_get(prev, "logid")), json_str(json_get(form, "logid"))),
                  "each credential's answer has its own log id");
        }
    }
    /* The previous error's own JSON form is the `previous` object above. */
    char *prev_text = cozefallback_error_to_json(cozefallback_error_previous(err));
    jval *prev_form = prev_text ? json_parse(prev_text, NULL) : NULL;
    char *a = prev_form ? json_dump(prev_form) : NULL, *b = form ? json_dump(json_get(form, "previous")) : NULL;
    CHECK(a && b && !strcmp(a, b), "to_json(previous) equals the previous object");
    free(a);
    free(b);
    json_free(prev_form);
    cozefallback_string_free(prev_text);
    CHECK(cozefallback_error_to_json(NULL) == NULL, "to_json(NULL) is NULL");
    json_free(form);
    cozefallback_string_free(text);
    cozefallback_error_free(err);
    cozefallback_request_free(req);
    cozefallback_client_free(client);
}

/* Numbers of 10 digits or more (the ids and timestamps the mock mints per chat) become "#". */
static void mask_minted(char *s) {
    char *w = s;
    for (const char *r = s; *r;) {
        size_t n = 0;
        while (isdigit((unsigned char)r[n])) n++;
        if (n >= 10) {
            *w++ = '#';
            r += n;
        } else if (n) {
            memmove(w, r, n);
            w += n;
            r += n;
        } else {
            *w++ = *r++;
        }
    }
    *w = '\0';
}

static cozefallback_stream *open_chat(cozefallback_client *client) {
    char body[512];
    snprintf(body, sizeof body,
             "{\"bot_id\":\"%s\",\"user_id\":\"user-1\",\"stream\":true,\"additional_messages\":[{\"role\":"
             "\"user\",\"content\":\"hello\",\"content_type\":\"text\"}]}",
             g_bot);
    cozefallback_request *req = NULL;
    cozefallback_stream *stream = NULL;
    cozefallback_error *err = NULL;
    cozefallback_request_new("POST", "/v3/chat", &req, NULL);
    cozefallback_request_set_body(req, (const uint8_t *)body, strlen(body), "application/json", NULL);
    if (cozefallback_stream_open(client, req, NULL, &stream, &err) != COZEFALLBACK_STATUS_OK) {
        fprintf(stderr, "cannot open the chat stream: %s\n", cozefallback_error_message(err));
        exit(2);
    }
    cozefallback_request_free(req);
    return stream;
}

/* Appends to a growing string; the caller frees it. */
static void append(char **buf, size_t *len, const char *s, size_t n) {
    *buf = realloc(*buf, *len + n + 1);
    if (!*buf) { fprintf(stderr, "out of memory\n"); exit(2); }
    memcpy(*buf + *len, s, n);
    *len += n;
    (*buf)[*len] = '\0';
}

/* One event framed as docs/FORMS.md says: id: (when present), event:, one data: line per line, blank line. */
static void frame(char **buf, size_t *len, const cozefallback_event *ev) {
    const char *id = cozefallback_event_id(ev), *data = cozefallback_event_data(ev);
    if (id) {
        append(buf, len, "id:", 3);
        append(buf, len, id, strlen(id));
        append(buf, len, "\n", 1);
    }
    append(buf, len, "event:", 6);
    append(buf, len, cozefallback_event_name(ev), strlen(cozefallback_event_name(ev)));
    append(buf, len, "\n", 1);
    for (const char *line = data;; ) {
        const char *nl = strchr(line, '\n');
        size_t n = nl ? (size_t)(nl - line) : strlen(line);
        append(buf, len, "data:", 5);
        append(buf, len, line, n);
        append(buf, len, "\n", 1);
        if (!nl) break;
        line = nl + 1;
    }
    append(buf, len, "\n", 1);
}

static void test_stream_sse(void) {
    mock_http(g_base, "POST", "/__mock/reset", "{}", NULL);
    cozefallback_client *client = client_from(g_config);

    /* The same chat twice: once read as SSE text, once as events framed here. */
    cozefallback_stream *stream = open_chat(client);
    char *sse_all = NULL, *sse = NULL;
    size_t sse_len = 0, len = 1, events = 0;
    cozefallback_error *err = NULL;
    cozefallback_status st;
    while ((st = cozefallback_stream_next_sse(stream, NULL, &sse, &len, &err)) == COZEFALLBACK_STATUS_OK && sse) {
        CHECK(len == strlen(sse), "len is the text's length (%zu, %zu)", len, strlen(sse));
        append(&sse_all, &sse_len, sse, len);
        cozefallback_string_free(sse);
        events++;
    }
    CHECK(st == COZEFALLBACK_STATUS_OK && !sse && len == 0, "the end: OK, NULL and 0 (status %d, len %zu)", st, len);
    CHECK(events >= 3, "a chat has events (%zu)", events);
    len = 7;
    st = cozefallback_stream_next_sse(stream, NULL, &sse, &len, NULL);
    CHECK(st == COZEFALLBACK_STATUS_OK && !sse && len == 0, "after the end: still the end");
    cozefallback_error_free(err);
    cozefallback_stream_free(stream);

    stream = open_chat(client);
    char *framed = NULL;
    size_t framed_len = 0;
    for (;;) {
        cozefallback_event *ev = NULL;
        if (cozefallback_stream_next(stream, NULL, &ev, NULL) != COZEFALLBACK_STATUS_OK || !ev) break;
        frame(&framed, &framed_len, ev);
        cozefallback_event_free(ev);
    }
    cozefallback_stream_free(stream);
    if (sse_all && framed) {
        mask_minted(sse_all);
        mask_minted(framed);
    }
    CHECK(sse_all && framed && !strcmp(sse_all, framed), "the SSE text is the events:\n%s\n---- events:\n%s",
          sse_all ? sse_all : "(none)", framed ? framed : "(none)");
    free(sse_all);
    free(framed);

    /* Bad arguments: a clear INVALID_ARGUMENT naming what is NULL; `len` may be NULL. */
    st = cozefallback_stream_next_sse(NULL, NULL, &sse, &len, &err);
    CHECK(st == COZEFALLBACK_STATUS_INVALID_ARGUMENT && !sse && err &&
              strstr(cozefallback_error_message(err), "`stream` is NULL"),
          "NULL stream: %s", err ? cozefallback_error_message(err) : "(no error)");
    cozefallback_error_free(err);
    stream = open_chat(client);
    st = cozefallback_stream_next_sse(stream, NULL, NULL, &len, &err);
    CHECK(st == COZEFALLBACK_STATUS_INVALID_ARGUMENT && err && strstr(cozefallback_error_message(err), "`out`"),
          "NULL out: %s", err ? cozefallback_error_message(err) : "(no error)");
    cozefallback_error_free(err);
    st = cozefallback_stream_next_sse(stream, NULL, &sse, NULL, &err);
    CHECK(st == COZEFALLBACK_STATUS_OK && sse && !strncmp(sse, "event:", 6), "NULL len: the text still comes");
    cozefallback_string_free(sse);
    cozefallback_stream_free(stream);
    cozefallback_client_free(client);
}

int main(void) {
    jval *info = mock_info();
    snprintf(g_config, sizeof g_config,
             "{\"base_url\":\"%s\",\"personal\":{\"type\":\"pat\",\"token\":\"%s\"},"
             "\"enterprise\":{\"type\":\"pat\",\"token\":\"%s\"},\"retry\":{\"base_delay_ms\":10,\"max_delay_ms\":50}}",
             json_str(json_get(info, "base_url")), json_str(json_get(info, "personal_pat")),
             json_str(json_get(info, "enterprise_pat")));
    snprintf(g_bot, sizeof g_bot, "%s", json_str(json_pointer(info, "/bots/0")));
    json_free(info);

    test_error_json();
    test_stream_sse();

    mock_http(g_base, "POST", "/__mock/reset", "{}", NULL);
    printf("forms: %d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}
