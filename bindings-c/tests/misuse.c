/*
 * Misuse tests of the C API: NULL in every argument, invalid UTF-8, use after an error, hostile numbers
 * (timeouts, configuration numbers), cancellation, and one
 * client (and one request handle) used from 16 threads at once. Needs the mock (COZE_MOCK_URL).
 * Prints one line per check and a final "N passed, M failed".
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "check.h"

static char g_config[4096];
static char g_bot_path[128];

#define INVALID COZEFALLBACK_STATUS_INVALID_ARGUMENT

/* The call returned INVALID_ARGUMENT and an error of that kind with a message. The macro sequences the call
 * before reading `err` (function arguments have no evaluation order). */
#define is_invalid(call, e) (g_st = (call), invalid_and_free(g_st, e))
static cozefallback_status g_st;
static int invalid_and_free(cozefallback_status st, cozefallback_error *err) {
    int ok = st == INVALID && err && cozefallback_error_kind(err) == INVALID && cozefallback_error_message(err) &&
             !strcmp(cozefallback_error_kind_name(err), "invalid_argument");
    cozefallback_error_free(err);
    return ok;
}

static cozefallback_client *new_client(void) { return client_from(g_config); }

static void test_nulls(void) {
    cozefallback_error *err = NULL;
    cozefallback_client *client = NULL;
    cozefallback_request *req = NULL;
    cozefallback_response *resp = NULL;
    cozefallback_stream *stream = NULL;
    cozefallback_event *ev = NULL;
    cozefallback_cancel_token *tok = NULL;
    char *text = NULL;

    CHECK(is_invalid(cozefallback_client_new(NULL, &client, &err), err) && !client, "client_new(NULL config)");
    CHECK(is_invalid(cozefallback_client_new("{}", NULL, &err), err), "client_new(NULL out)");
    CHECK(cozefallback_client_new(NULL, &client, NULL) == INVALID, "client_new with NULL err still reports");
    CHECK(is_invalid(cozefallback_client_new("{\"personal\":\"\xff\xfe\"}", &client, &err), err) && !client,
          "client_new(invalid UTF-8)");
    CHECK(is_invalid(cozefallback_client_new_from_env(NULL, &err), err), "client_new_from_env(NULL out)");
    cozefallback_status st = cozefallback_client_new("{\"nope\":1}", &client, &err);
    CHECK(st == COZEFALLBACK_STATUS_CONFIG && !client && strstr(cozefallback_error_message(err), "nope"),
          "client_new(unknown field) -> CONFIG naming the field");
    cozefallback_error_free(err);

    client = new_client();
    CHECK(is_invalid(cozefallback_client_set_mode(NULL, "personal_first", &err), err), "set_mode(NULL client)");
    CHECK(is_invalid(cozefallback_client_set_mode(client, NULL, &err), err), "set_mode(NULL mode)");
    CHECK(is_invalid(cozefallback_client_set_mode(client, "\xc3\x28", &err), err), "set_mode(invalid UTF-8)");
    st = cozefallback_client_set_mode(client, "sideways", &err);
    CHECK(st == COZEFALLBACK_STATUS_CONFIG && err, "set_mode(unknown) -> CONFIG");
    cozefallback_error_free(err);
    CHECK(is_invalid(cozefallback_client_metrics_json(NULL, &text, &err), err) && !text, "metrics_json(NULL client)");
    CHECK(is_invalid(cozefallback_client_metrics_json(client, NULL, &err), err), "metrics_json(NULL out)");
    CHECK(is_invalid(cozefallback_client_metrics_prometheus(NULL, &text, &err), err), "metrics_prometheus(NULL)");
    CHECK(is_invalid(cozefallback_client_metrics_prometheus(client, NULL, &err), err), "metrics_prometheus(NULL out)");

    CHECK(is_invalid(cozefallback_request_new(NULL, "/x", &req, &err), err) && !req, "request_new(NULL method)");
    CHECK(is_invalid(cozefallback_request_new("GET", NULL, &req, &err), err), "request_new(NULL path)");
    CHECK(is_invalid(cozefallback_request_new("GET", "/x", NULL, &err), err), "request_new(NULL out)");
    CHECK(is_invalid(cozefallback_request_new("GET", "/\xff", &req, &err), err), "request_new(invalid UTF-8)");
    CHECK(cozefallback_request_new("GET", g_bot_path, &req, &err) == COZEFALLBACK_STATUS_OK && req && !err,
          "request_new ok, err cleared");
    CHECK(is_invalid(cozefallback_request_add_query(NULL, "k", "v", &err), err), "add_query(NULL request)");
    CHECK(is_invalid(cozefallback_request_add_query(req, NULL, "v", &err), err), "add_query(NULL key)");
    CHECK(is_invalid(cozefallback_request_add_query(req, "k", NULL, &err), err), "add_query(NULL value)");
    CHECK(is_invalid(cozefallback_request_add_header(NULL, "k", "v", &err), err), "add_header(NULL request)");
    CHECK(is_invalid(cozefallback_request_add_header(req, NULL, "v", &err), err), "add_header(NULL name)");
    CHECK(is_invalid(cozefallback_request_add_header(req, "k", NULL, &err), err), "add_header(NULL value)");
    CHECK(is_invalid(cozefallback_request_set_body(NULL, NULL, 0, NULL, &err), err), "set_body(NULL request)");
    CHECK(is_invalid(cozefallback_request_set_body(req, NULL, 5, NULL, &err), err), "set_body(NULL data, len 5)");
    CHECK(cozefallback_request_set_body(req, NULL, 0, NULL, &err) == COZEFALLBACK_STATUS_OK, "set_body(NULL, 0) ok");
    CHECK(is_invalid(cozefallback_request_set_body(req, (const uint8_t *)"x", 1, "\xff", &err), err),
          "set_body(invalid UTF-8 content type)");
    CHECK(is_invalid(cozefallback_request_set_timeout_ms(NULL, 5, &err), err), "set_timeout_ms(NULL)");
    CHECK(is_invalid(cozefallback_request_set_retry_non_idempotent(NULL, true, &err), err), "set_retry(NULL)");

    CHECK(is_invalid(cozefallback_client_send(NULL, req, NULL, &resp, &err), err) && !resp, "send(NULL client)");
    CHECK(is_invalid(cozefallback_client_send(client, NULL, NULL, &resp, &err), err), "send(NULL request)");
    CHECK(is_invalid(cozefallback_client_send(client, req, NULL, NULL, &err), err), "send(NULL out)");
    /* The alias named as in the core (`Client::request`) checks its arguments the same way. */
    CHECK(is_invalid(cozefallback_client_request(NULL, req, NULL, &resp, &err), err) && !resp, "request(NULL client)");
    CHECK(is_invalid(cozefallback_client_request(client, NULL, NULL, &resp, &err), err), "request(NULL request)");
    CHECK(is_invalid(cozefallback_client_request(client, req, NULL, NULL, &err), err), "request(NULL out)");
    CHECK(is_invalid(cozefallback_client_upload_file(NULL, "/v1/files/upload", "/etc/hostname", NULL, &resp, &err), err),
          "upload_file(NULL client)");
    CHECK(is_invalid(cozefallback_client_upload_file(client, NULL, "/etc/hostname", NULL, &resp, &err), err),
          "upload_file(NULL api_path)");
    CHECK(is_invalid(cozefallback_client_upload_file(client, "/v1/files/upload", NULL, NULL, &resp, &err), err),
          "upload_file(NULL file_path)");
    CHECK(is_invalid(cozefallback_client_upload_file(client, "/v1/files/upload", "/nonexistent/x", NULL, &resp, &err), err),
          "upload_file(missing file)");
    CHECK(is_invalid(cozefallback_client_upload_file(client, "/v1/files/upload", "/etc/hostname", NULL, NULL, &err), err),
          "upload_file(NULL out)");
    CHECK(is_invalid(cozefallback_client_upload_bytes(NULL, "/v1/files/upload", (const uint8_t *)"a", 1, "a.txt", NULL, &resp, &err), err),
          "upload_bytes(NULL client)");
    CHECK(is_invalid(cozefallback_client_upload_bytes(client, NULL, (const uint8_t *)"a", 1, "a.txt", NULL, &resp, &err), err),
          "upload_bytes(NULL api_path)");
    CHECK(is_invalid(cozefallback_client_upload_bytes(client, "/v1/files/upload", NULL, 1, "a.txt", NULL, &resp, &err), err),
          "upload_bytes(NULL data)");
    CHECK(is_invalid(cozefallback_client_upload_bytes(client, "/v1/files/upload", (const uint8_t *)"a", 1, NULL, NULL, &resp, &err), err),
          "upload_bytes(NULL filename)");
    CHECK(is_invalid(cozefallback_client_upload_bytes(client, "/v1/files/upload", (const uint8_t *)"a", 1, "a.txt", NULL, NULL, &err), err),
          "upload_bytes(NULL out)");

    CHECK(is_invalid(cozefallback_stream_open(NULL, req, NULL, &stream, &err), err) && !stream, "stream_open(NULL client)");
    CHECK(is_invalid(cozefallback_stream_open(client, NULL, NULL, &stream, &err), err), "stream_open(NULL request)");
    CHECK(is_invalid(cozefallback_stream_open(client, req, NULL, NULL, &err), err), "stream_open(NULL out)");
    CHECK(is_invalid(cozefallback_stream_next(NULL, NULL, &ev, &err), err) && !ev, "stream_next(NULL stream)");
    CHECK(is_invalid(cozefallback_client_send_any(NULL, req, NULL, &resp, &stream, &err), err) && !resp && !stream,
          "send_any(NULL client)");
    CHECK(is_invalid(cozefallback_client_send_any(client, NULL, NULL, &resp, &stream, &err), err), "send_any(NULL request)");
    CHECK(is_invalid(cozefallback_client_send_any(client, req, NULL, NULL, &stream, &err), err), "send_any(NULL out_response)");
    CHECK(is_invalid(cozefallback_client_send_any(client, req, NULL, &resp, NULL, &err), err), "send_any(NULL out_stream)");
    CHECK(is_invalid(cozefallback_stream_close(NULL, &err), err), "stream_close(NULL)");

    CHECK(is_invalid(cozefallback_cancel_token_new(NULL, &err), err), "cancel_token_new(NULL out)");
    CHECK(is_invalid(cozefallback_cancel_token_cancel(NULL, &err), err), "cancel_token_cancel(NULL)");
    CHECK(!cozefallback_cancel_token_is_cancelled(NULL), "cancel_token_is_cancelled(NULL)");

    /* Accessors on NULL handles. */
    size_t len = 99;
    CHECK(cozefallback_response_status(NULL) == 0 && cozefallback_response_body(NULL, &len) == NULL && len == 0 &&
              cozefallback_response_body(NULL, NULL) == NULL && cozefallback_response_header_count(NULL) == 0 &&
              !cozefallback_response_header_name(NULL, 0) && !cozefallback_response_header_value(NULL, 0) &&
              !cozefallback_response_header_get(NULL, "x") && !cozefallback_response_credential(NULL) &&
              cozefallback_response_attempts(NULL) == 0 && !cozefallback_response_logid(NULL),
          "response accessors on NULL");
    CHECK(cozefallback_stream_status(NULL) == 0 && !cozefallback_stream_credential(NULL) &&
              cozefallback_stream_attempts(NULL) == 0 && !cozefallback_stream_logid(NULL),
          "stream accessors on NULL");
    CHECK(!cozefallback_event_name(NULL) && !cozefallback_event_data(NULL) && !cozefallback_event_id(NULL),
          "event accessors on NULL");
    CHECK(cozefallback_error_kind(NULL) == INVALID && !cozefallback_error_kind_name(NULL) &&
              !cozefallback_error_message(NULL) && cozefallback_error_code(NULL) == 0 &&
              cozefallback_error_http_status(NULL) == 0 && !cozefallback_error_logid(NULL) &&
              !cozefallback_error_credential(NULL) && !cozefallback_error_authorize_url(NULL) &&
              !cozefallback_error_oauth_error(NULL) && !cozefallback_error_field(NULL) &&
              cozefallback_error_events_delivered(NULL) == 0 && cozefallback_error_attempts(NULL) == 0 &&
              !cozefallback_error_previous(NULL) && cozefallback_error_previous_code(NULL) == 0 &&
              !cozefallback_error_coze_message(NULL) && !cozefallback_error_response(NULL),
          "error accessors on NULL");
    CHECK(cozefallback_version() && strlen(cozefallback_version()) > 0, "version");
    CHECK(!strcmp(cozefallback_status_name(COZEFALLBACK_STATUS_REAUTH_REQUIRED), "reauth_required") &&
              !strcmp(cozefallback_status_name(COZEFALLBACK_STATUS_CONVERSATION_STRANDED), "conversation_stranded") &&
              !strcmp(cozefallback_status_name(12345), "unknown"),
          "status_name");
    CHECK(COZEFALLBACK_STATUS_INTERNAL == COZEFALLBACK_STATUS_PANIC &&
              !strcmp(cozefallback_status_name(COZEFALLBACK_STATUS_INTERNAL), "internal"),
          "COZEFALLBACK_STATUS_INTERNAL is the panic status, named \"internal\"");

    /* Every free is NULL-safe. */
    cozefallback_client_free(NULL);
    cozefallback_request_free(NULL);
    cozefallback_response_free(NULL);
    cozefallback_stream_free(NULL);
    cozefallback_event_free(NULL);
    cozefallback_error_free(NULL);
    cozefallback_cancel_token_free(NULL);
    cozefallback_string_free(NULL);
    CHECK(1, "NULL frees");
    (void)tok;
    cozefallback_request_free(req);
    cozefallback_client_free(client);
}

static void test_use_after_error(void) {
    cozefallback_client *client = new_client();
    cozefallback_error *err = NULL;
    cozefallback_response *resp = NULL;
    cozefallback_request *bad = NULL, *good = NULL;
    cozefallback_request_new("GET", "/v1/bots/7359999999999999999", &bad, NULL);
    cozefallback_request_new("GET", g_bot_path, &good, NULL);

    cozefallback_status st = cozefallback_client_send(client, bad, NULL, &resp, &err);
    CHECK(st == COZEFALLBACK_STATUS_API && !resp && cozefallback_error_code(err) == 4200 &&
              cozefallback_error_logid(err) && cozefallback_error_previous(err) &&
              cozefallback_error_attempts(err) == 2,
          "unknown bot -> API 4200 on both credentials, with logid and previous (status %d)", st);
    const cozefallback_response *answer = cozefallback_error_response(err);
    CHECK(answer && cozefallback_response_status(answer) == 200 &&
              strstr((const char *)cozefallback_response_body(answer, NULL), "4200") &&
              cozefallback_response_header_get(answer, "x-tt-logid") && cozefallback_error_coze_message(err) &&
              !strstr(cozefallback_error_coze_message(err), "4200"),
          "the failed answer and Coze's own message are kept");
    cozefallback_error_free(err);
    /* The same request again, and a good one, on the same client. */
    st = cozefallback_client_send(client, bad, NULL, &resp, &err);
    CHECK(st == COZEFALLBACK_STATUS_API, "the failed request can be sent again");
    cozefallback_error_free(err);
    st = cozefallback_client_request(client, bad, NULL, &resp, &err);
    CHECK(st == COZEFALLBACK_STATUS_API && !resp && cozefallback_error_code(err) == 4200,
          "cozefallback_client_request (the alias of send) gives the same error (status %d)", st);
    cozefallback_error_free(err);
    st = cozefallback_client_send(client, good, NULL, &resp, &err);
    CHECK(st == COZEFALLBACK_STATUS_OK && resp && !err && cozefallback_response_status(resp) == 200,
          "the client works after an error");
    size_t len = 0;
    const uint8_t *body = cozefallback_response_body(resp, &len);
    CHECK(body && len > 0 && body[len] == 0 && strstr((const char *)body, "\"code\":0"), "body is NUL-terminated JSON");
    CHECK(cozefallback_response_header_get(resp, "X-TT-LOGID") && cozefallback_response_logid(resp) &&
              !strcmp(cozefallback_response_header_get(resp, "x-tt-logid"), cozefallback_response_logid(resp)),
          "headers are case-insensitive and logid matches");
    CHECK(cozefallback_response_header_count(resp) > 0 && cozefallback_response_header_name(resp, 0) &&
              !cozefallback_response_header_name(resp, 10000),
          "header iteration");
    cozefallback_response_free(resp);
    st = cozefallback_client_request(client, good, NULL, &resp, &err);
    CHECK(st == COZEFALLBACK_STATUS_OK && resp && !err && cozefallback_response_status(resp) == 200 &&
              !strcmp(cozefallback_response_credential(resp), "personal"),
          "cozefallback_client_request (the alias of send) answers like send (status %d)", st);
    cozefallback_response_free(resp);

    /* A stream that fails at open, then a stream read to its end and past it. */
    cozefallback_stream *stream = NULL;
    cozefallback_request *sreq = NULL;
    const char *chat = "{\"bot_id\":\"7359999999999999999\",\"user_id\":\"u\",\"stream\":true,"
                       "\"additional_messages\":[{\"role\":\"user\",\"content\":\"hi\",\"content_type\":\"text\"}]}";
    cozefallback_request_new("POST", "/v3/chat", &sreq, NULL);
    cozefallback_request_set_body(sreq, (const uint8_t *)chat, strlen(chat), "application/json", NULL);
    st = cozefallback_stream_open(client, sreq, NULL, &stream, &err);
    CHECK(st == COZEFALLBACK_STATUS_API && !stream, "stream to an unknown bot fails at open");
    cozefallback_error_free(err);
    cozefallback_request_free(sreq);

    char body_ok[512];
    snprintf(body_ok, sizeof body_ok,
             "{\"bot_id\":\"%s\",\"user_id\":\"u\",\"stream\":true,"
             "\"additional_messages\":[{\"role\":\"user\",\"content\":\"hi\",\"content_type\":\"text\"}]}",
             strrchr(g_bot_path, '/') + 1);
    cozefallback_request_new("POST", "/v3/chat", &sreq, NULL);
    cozefallback_request_set_body(sreq, (const uint8_t *)body_ok, strlen(body_ok), "application/json", NULL);
    st = cozefallback_stream_open(client, sreq, NULL, &stream, &err);
    CHECK(st == COZEFALLBACK_STATUS_OK && stream && !strcmp(cozefallback_stream_credential(stream), "personal"),
          "stream opens");
    int events = 0;
    cozefallback_event *ev = NULL;
    while (cozefallback_stream_next(stream, NULL, &ev, &err) == COZEFALLBACK_STATUS_OK && ev) {
        events += cozefallback_event_name(ev) && cozefallback_event_data(ev);
        cozefallback_event_free(ev);
    }
    CHECK(events > 1 && !ev && !err, "stream read to its end (%d events)", events);
    CHECK(cozefallback_stream_next(stream, NULL, &ev, &err) == COZEFALLBACK_STATUS_OK && !ev, "next after end");
    CHECK(cozefallback_stream_close(stream, &err) == COZEFALLBACK_STATUS_OK &&
              cozefallback_stream_close(stream, &err) == COZEFALLBACK_STATUS_OK,
          "close is idempotent");
    CHECK(cozefallback_stream_next(stream, NULL, &ev, &err) == COZEFALLBACK_STATUS_OK && !ev, "next after close");
    cozefallback_stream_free(stream);

    /* send_any: a whole answer for a plain call, a stream for an event-stream answer. */
    cozefallback_response *any_resp = NULL;
    cozefallback_stream *any_stream = NULL;
    st = cozefallback_client_send_any(client, good, NULL, &any_resp, &any_stream, &err);
    CHECK(st == COZEFALLBACK_STATUS_OK && any_resp && !any_stream, "send_any on a plain answer gives a response");
    cozefallback_response_free(any_resp);
    any_resp = NULL;
    st = cozefallback_client_send_any(client, sreq, NULL, &any_resp, &any_stream, &err);
    CHECK(st == COZEFALLBACK_STATUS_OK && !any_resp && any_stream && cozefallback_stream_status(any_stream) == 200,
          "send_any on an event stream gives a stream");
    events = 0;
    while (cozefallback_stream_next(any_stream, NULL, &ev, &err) == COZEFALLBACK_STATUS_OK && ev) {
        events++;
        cozefallback_event_free(ev);
    }
    CHECK(events > 1, "send_any stream reads to its end");
    cozefallback_stream_free(any_stream);

    /* A stream closed early (before reading everything) is freed without leaks. */
    st = cozefallback_stream_open(client, sreq, NULL, &stream, &err);
    CHECK(st == COZEFALLBACK_STATUS_OK, "second stream opens");
    cozefallback_stream_free(stream);
    cozefallback_request_free(sreq);

    /* Upload from a file. */
    char path[] = "/tmp/cozefallback-upload-XXXXXX";
    int fd = mkstemp(path);
    if (fd >= 0) {
        CHECK(write(fd, "hello", 5) == 5, "write temp file");
        close(fd);
        st = cozefallback_client_upload_file(client, "/v1/files/upload", path, NULL, &resp, &err);
        CHECK(st == COZEFALLBACK_STATUS_OK && strstr((const char *)cozefallback_response_body(resp, NULL), "cozefallback-upload-"),
              "upload_file sends the file name");
        cozefallback_response_free(resp);
        unlink(path);
    }

    /* set_mode and metrics after all that. */
    CHECK(cozefallback_client_set_mode(client, "enterprise_first", &err) == COZEFALLBACK_STATUS_OK, "set_mode ok");
    char *text = NULL;
    CHECK(cozefallback_client_metrics_json(client, &text, &err) == COZEFALLBACK_STATUS_OK && text && text[0] == '{',
          "metrics json");
    cozefallback_string_free(text);
    CHECK(cozefallback_client_metrics_prometheus(client, &text, &err) == COZEFALLBACK_STATUS_OK && text &&
              strstr(text, "cozefallback_"),
          "metrics prometheus");
    cozefallback_string_free(text);

    cozefallback_request_free(bad);
    cozefallback_request_free(good);
    cozefallback_client_free(client);
}

typedef struct {
    cozefallback_cancel_token *tok;
    int delay_ms;
} canceller_t;

static void *cancel_later(void *arg) {
    canceller_t *c = arg;
    usleep((useconds_t)c->delay_ms * 1000);
    cozefallback_cancel_token_cancel(c->tok, NULL);
    return NULL;
}

static double now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static void test_cancel(void) {
    cozefallback_client *client = new_client();
    cozefallback_cancel_token *tok = NULL;
    cozefallback_error *err = NULL;
    cozefallback_response *resp = NULL;
    cozefallback_request *req = NULL;
    CHECK(cozefallback_cancel_token_new(&tok, &err) == COZEFALLBACK_STATUS_OK && tok, "cancel_token_new");
    mock_http(g_base, "POST", "/__mock/state", "{\"faults\":[{\"path\":\"/v1/bots/\",\"action\":{\"type\":\"hang\"}}]}", NULL);
    cozefallback_request_new("GET", g_bot_path, &req, NULL);
    canceller_t c = {tok, 200};
    pthread_t th;
    pthread_create(&th, NULL, cancel_later, &c);
    double t0 = now_ms();
    cozefallback_status st = cozefallback_client_send(client, req, tok, &resp, &err);
    double took = now_ms() - t0;
    pthread_join(th, NULL);
    CHECK(st == COZEFALLBACK_STATUS_CANCELLED && !resp && !strcmp(cozefallback_error_kind_name(err), "cancelled"),
          "a hanging call is cancelled (status %d)", st);
    CHECK(took < 3000, "cancel is prompt (%.0f ms)", took);
    cozefallback_error_free(err);
    CHECK(cozefallback_cancel_token_is_cancelled(tok), "token reports cancelled");
    st = cozefallback_client_send(client, req, tok, &resp, &err);
    CHECK(st == COZEFALLBACK_STATUS_CANCELLED, "a cancelled token cancels later calls");
    cozefallback_error_free(err);
    mock_http(g_base, "POST", "/__mock/reset", "{}", NULL);
    st = cozefallback_client_send(client, req, NULL, &resp, &err);
    CHECK(st == COZEFALLBACK_STATUS_OK, "the client works after a cancelled call");
    cozefallback_response_free(resp);
    cozefallback_request_free(req);
    cozefallback_cancel_token_free(tok);
    cozefallback_client_free(client);
}

typedef struct {
    cozefallback_client *client;
    cozefallback_request *shared;
    int ok, calls;
} hammer_t;

static void *hammer(void *arg) {
    hammer_t *h = arg;
    for (int i = 0; i < h->calls; i++) {
        cozefallback_response *resp = NULL;
        cozefallback_error *err = NULL;
        cozefallback_status st = cozefallback_client_send(h->client, h->shared, NULL, &resp, &err);
        if (st == COZEFALLBACK_STATUS_OK && cozefallback_response_status(resp) == 200) h->ok++;
        cozefallback_response_free(resp);
        cozefallback_error_free(err);
        if (i % 5 == 0) {
            char *m = NULL;
            cozefallback_client_metrics_json(h->client, &m, NULL);
            cozefallback_string_free(m);
            cozefallback_request_add_header(h->shared, "X-Trace", "t", NULL);
        }
    }
    return NULL;
}

static void test_threads(void) {
    enum { THREADS = 16, CALLS = 10 };
    cozefallback_client *client = new_client();
    cozefallback_request *req = NULL;
    cozefallback_request_new("GET", g_bot_path, &req, NULL);
    mock_http(g_base, "POST", "/__mock/state", "{\"moved\":true}", NULL);
    hammer_t h[THREADS];
    pthread_t th[THREADS];
    for (int i = 0; i < THREADS; i++) {
        h[i] = (hammer_t){client, req, 0, CALLS};
        pthread_create(&th[i], NULL, hammer, &h[i]);
    }
    int ok = 0;
    for (int i = 0; i < THREADS; i++) {
        pthread_join(th[i], NULL);
        ok += h[i].ok;
    }
    CHECK(ok == THREADS * CALLS, "16 threads x %d calls on one client and one request: %d ok", CALLS, ok);
    cozefallback_request_free(req);
    cozefallback_client_free(client);
    mock_http(g_base, "POST", "/__mock/reset", "{}", NULL);
}

/* Hostile numbers: every number the C API takes reaches the core's range checks and comes back as the library's
 * own error, never a crash. `timeout_ms` is a uint64_t, so NaN, infinities and 1e30 cannot be passed; -1 and
 * 2**64-1 are the same value here, and 2**64 wraps to 0 (documented as "no per-call timeout"). The numbers of
 * the configuration travel as JSON text, where all of them can be written. */
static void test_hostile_numbers(void) {
    cozefallback_client *client = new_client();
    cozefallback_error *err = NULL;
    cozefallback_response *resp = NULL;
    cozefallback_request *req = NULL;
    cozefallback_request_new("GET", g_bot_path, &req, NULL);
    uint64_t max = cozefallback_max_timeout_ms();
    CHECK(max == 86400000u, "max_timeout_ms is one day (%llu)", (unsigned long long)max);

    CHECK(cozefallback_request_set_timeout_ms(req, 5000, &err) == COZEFALLBACK_STATUS_OK && !err, "timeout 5000");
    const uint64_t bad[] = {(uint64_t)-1, UINT64_MAX - 1, (uint64_t)1 << 63, (uint64_t)1 << 53, max + 1};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char want[64];
        snprintf(want, sizeof want, "got %llu", (unsigned long long)bad[i]);
        cozefallback_status st = cozefallback_request_set_timeout_ms(req, bad[i], &err);
        const char *msg = err ? cozefallback_error_message(err) : "";
        CHECK(st == INVALID && err && cozefallback_error_kind(err) == INVALID && strstr(msg, "timeout_ms") &&
                  strstr(msg, want),
              "set_timeout_ms(%llu) -> INVALID_ARGUMENT naming timeout_ms and the value (%d: %s)",
              (unsigned long long)bad[i], st, msg);
        cozefallback_error_free(err);
    }
    cozefallback_status st = cozefallback_client_send(client, req, NULL, &resp, &err);
    CHECK(st == COZEFALLBACK_STATUS_OK && resp, "a refused timeout leaves the request usable (%d)", st);
    CHECK(!cozefallback_response_header_name(resp, SIZE_MAX) && !cozefallback_response_header_value(resp, (size_t)-1),
          "header index SIZE_MAX -> NULL");
    cozefallback_response_free(resp);
    /* A length with no bytes behind it (NULL data) is refused whatever its size. */
    cozefallback_request *body_req = NULL;
    cozefallback_request_new("POST", "/v3/chat", &body_req, NULL);
    st = cozefallback_request_set_body(body_req, NULL, SIZE_MAX, "application/json", &err);
    CHECK(st == INVALID && err && strstr(cozefallback_error_message(err), "data"), "set_body(NULL, SIZE_MAX)");
    cozefallback_error_free(err);
    cozefallback_request_free(body_req);
    CHECK(cozefallback_request_set_timeout_ms(req, max, NULL) == COZEFALLBACK_STATUS_OK, "timeout of one day");
    CHECK(cozefallback_request_set_timeout_ms(req, 0, NULL) == COZEFALLBACK_STATUS_OK, "0: no per-call timeout");
    st = cozefallback_client_send(client, req, NULL, &resp, &err);
    CHECK(st == COZEFALLBACK_STATUS_OK && resp, "timeout 0 sends with the configured total (%d)", st);
    cozefallback_response_free(resp);
    cozefallback_request_free(req);

    /* Both credentials fail: the first one's error keeps its own attempt count. */
    cozefallback_request_new("GET", "/v1/bots/7359999999999999999", &req, NULL);
    st = cozefallback_client_send(client, req, NULL, &resp, &err);
    const cozefallback_error *prev = err ? cozefallback_error_previous(err) : NULL;
    CHECK(st == COZEFALLBACK_STATUS_API && prev && cozefallback_error_attempts(err) == 2 &&
              cozefallback_error_attempts(prev) == 1,
          "previous error carries its attempts (%u)", prev ? cozefallback_error_attempts(prev) : 0);
    cozefallback_error_free(err);
    cozefallback_request_free(req);
    cozefallback_client_free(client);

    const char *fields[] = {"timeouts.total_ms", "timeouts.connect_ms", "retry.max_delay_ms",
                            "fallback.sticky_ttl_secs", "retry.max_retries"};
    const char *values[] = {"-1", "NaN", "Infinity", "-Infinity", "1e30", "18446744073709551616",
                            "18446744073709551615", "0"};
    for (size_t f = 0; f < sizeof fields / sizeof fields[0]; f++) {
        for (size_t v = 0; v < sizeof values / sizeof values[0]; v++) {
            /* 0 is a valid delay, route lifetime and retry count; only a 0 timeout is refused. */
            if (!strcmp(values[v], "0") && strncmp(fields[f], "timeouts.", 9)) continue;
            char section[32], key[32], config[512];
            sscanf(fields[f], "%31[^.].%31s", section, key);
            snprintf(config, sizeof config,
                     "{\"base_url\":\"%s\",\"personal\":{\"type\":\"pat\",\"token\":\"pat_x\"},\"%s\":{\"%s\":%s}}",
                     g_base, section, key, values[v]);
            cozefallback_client *c = NULL;
            st = cozefallback_client_new(config, &c, &err);
            const char *field = err ? cozefallback_error_field(err) : NULL;
            CHECK(st == COZEFALLBACK_STATUS_CONFIG && !c && field && !strcmp(field, fields[f]) &&
                      strstr(cozefallback_error_message(err), fields[f]),
                  "config %s=%s -> CONFIG naming the field (%d, field %s: %s)", fields[f], values[v], st,
                  field ? field : "NULL", err ? cozefallback_error_message(err) : "");
            cozefallback_error_free(err);
            cozefallback_client_free(c);
        }
    }
}

int main(void) {
    jval *info = mock_info();
    snprintf(g_config, sizeof g_config,
             "{\"base_url\":\"%s\",\"personal\":{\"type\":\"pat\",\"token\":\"%s\"},"
             "\"enterprise\":{\"type\":\"pat\",\"token\":\"%s\"},\"retry\":{\"base_delay_ms\":10,\"max_delay_ms\":50}}",
             json_str(json_get(info, "base_url")), json_str(json_get(info, "personal_pat")),
             json_str(json_get(info, "enterprise_pat")));
    snprintf(g_bot_path, sizeof g_bot_path, "/v1/bots/%s", json_str(json_pointer(info, "/bots/0")));
    json_free(info);
    mock_http(g_base, "POST", "/__mock/reset", "{}", NULL);

    test_nulls();
    test_use_after_error();
    test_hostile_numbers();
    test_cancel();
    test_threads();

    printf("misuse: %d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}
