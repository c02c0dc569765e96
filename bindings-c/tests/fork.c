/*
 * fork() and close() through the C API. Needs the mock (COZE_MOCK_URL).
 *   - A client used before fork() works in the child (the library builds a fresh runtime and connection pool
 *     there on first use, and keeps the learned routes), a client made in the child works, and the parent
 *     keeps working. The child has an alarm and the parent waits a bounded time: a hang fails the test.
 *   - A stream that another thread is reading (blocked inside cozefallback_stream_next) at fork(): in the
 *     child, next on it fails at once with INVALID_ARGUMENT and close returns, instead of waiting forever for
 *     the lock that dead thread holds.
 *   - cozefallback_client_close() from another thread ends a call the mock never answers with CANCELLED within
 *     a second, and later calls fail with INVALID_ARGUMENT.
 * Prints one line per failed check and a final "fork: N passed, M failed".
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "check.h"

static char g_config[8192];
static char g_bot_path[128];

static double now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000.0 + ts.tv_nsec / 1e6;
}

static cozefallback_client *new_client(void) { return client_from(g_config); }

/* GET the bot: the status, and the credential ("personal"/"enterprise") and attempts of the answer. */
static cozefallback_status get_bot(cozefallback_client *c, const char **cred, uint32_t *attempts) {
    cozefallback_request *req = NULL;
    cozefallback_response *resp = NULL;
    cozefallback_error *err = NULL;
    cozefallback_request_new("GET", g_bot_path, &req, NULL);
    cozefallback_status st = cozefallback_client_send(c, req, NULL, &resp, &err);
    *cred = "";
    *attempts = 0;
    if (st == COZEFALLBACK_STATUS_OK) {
        *cred = cozefallback_response_credential(resp);
        *attempts = cozefallback_response_attempts(resp);
    } else {
        fprintf(stderr, "call failed: %s\n", cozefallback_error_message(err));
    }
    cozefallback_response_free(resp);
    cozefallback_error_free(err);
    cozefallback_request_free(req);
    return st;
}

/* The child's checks; each failed step has its own exit code. */
static int child(cozefallback_client *before) {
    const char *cred;
    uint32_t attempts;
    alarm(20); /* a hang ends the child with SIGALRM */
    if (get_bot(before, &cred, &attempts) != COZEFALLBACK_STATUS_OK) return 3;
    if (strcmp(cred, "enterprise") || attempts != 1) return 4; /* the learned route came along */
    cozefallback_client *fresh = new_client();
    if (get_bot(fresh, &cred, &attempts) != COZEFALLBACK_STATUS_OK) return 5;
    if (strcmp(cred, "enterprise") || attempts != 2) return 6;
    cozefallback_client_free(fresh);
    return 0;
}

/* The child's exit code, or -1 (killed after `limit_ms`) / -2 (died of a signal). */
static int wait_bounded(pid_t pid, double limit_ms) {
    double until = now_ms() + limit_ms;
    int status = 0;
    while (now_ms() < until) {
        pid_t got = waitpid(pid, &status, WNOHANG);
        if (got == pid) return WIFEXITED(status) ? WEXITSTATUS(status) : -2;
        usleep(20 * 1000);
    }
    kill(pid, SIGKILL);
    waitpid(pid, &status, 0);
    return -1;
}

static void test_fork(void) {
    const char *cred;
    uint32_t attempts;
    cozefallback_client *client = new_client();
    CHECK(get_bot(client, &cred, &attempts) == COZEFALLBACK_STATUS_OK && !strcmp(cred, "personal"),
          "parent before the move: personal");
    mock_http(g_base, "POST", "/__mock/state", "{\"moved\":true}", NULL);
    CHECK(get_bot(client, &cred, &attempts) == COZEFALLBACK_STATUS_OK && !strcmp(cred, "enterprise") &&
              attempts == 2,
          "parent after the move: enterprise in 2 attempts (%s, %u)", cred, attempts);
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) _exit(child(client));
    CHECK(pid > 0, "fork");
    int code = wait_bounded(pid, 30000);
    CHECK(code == 0, "the child's calls (exit code %d: -1 hung, -2 signal, else the failed step)", code);
    CHECK(get_bot(client, &cred, &attempts) == COZEFALLBACK_STATUS_OK && !strcmp(cred, "enterprise") &&
              attempts == 1,
          "the parent still works after the child's calls (%s, %u)", cred, attempts);
    cozefallback_client_free(client);
    mock_http(g_base, "POST", "/__mock/reset", "{}", NULL);
}

typedef struct {
    cozefallback_client *client;
    cozefallback_status st;
    double ended;
} caller_t;

static void *call_bot(void *arg) {
    caller_t *c = arg;
    const char *cred;
    uint32_t attempts;
    c->st = get_bot(c->client, &cred, &attempts);
    c->ended = now_ms();
    return NULL;
}

static void test_close(void) {
    cozefallback_client *client = new_client();
    mock_http(g_base, "POST", "/__mock/state", "{\"faults\":[{\"path\":\"/v1/bots/\",\"action\":{\"type\":\"hang\"}}]}",
              NULL);
    caller_t c = {client, COZEFALLBACK_STATUS_OK, 0};
    pthread_t th;
    pthread_create(&th, NULL, call_bot, &c);
    usleep(300 * 1000);
    CHECK(c.ended == 0, "the mock hangs the call");
    double closed = now_ms();
    cozefallback_client_close(client);
    double close_took = now_ms() - closed;
    pthread_join(th, NULL);
    CHECK(c.st == COZEFALLBACK_STATUS_CANCELLED, "close() cancels the call in flight (status %d)", c.st);
    CHECK(c.ended - closed < 1000, "the call ends within 1 s of close() (%.0f ms)", c.ended - closed);
    CHECK(close_took < 100, "close() returns at once (%.0f ms)", close_took);
    cozefallback_request *req = NULL;
    cozefallback_response *resp = NULL;
    cozefallback_error *err = NULL;
    cozefallback_request_new("GET", g_bot_path, &req, NULL);
    cozefallback_status st = cozefallback_client_send(client, req, NULL, &resp, &err);
    CHECK(st == COZEFALLBACK_STATUS_INVALID_ARGUMENT && err && strstr(cozefallback_error_message(err), "closed"),
          "a call after close() fails with INVALID_ARGUMENT naming it (status %d)", st);
    cozefallback_error_free(err);
    cozefallback_request_free(req);
    cozefallback_client_close(client); /* idempotent */
    cozefallback_client_close(NULL);   /* NULL-safe */
    cozefallback_client_free(client);
    mock_http(g_base, "POST", "/__mock/reset", "{}", NULL);
}

typedef struct {
    cozefallback_stream *stream;
    int events;
} reader_t;

/* Reads the stream to its end (in the parent: the slow mock takes about 2 s). */
static void *read_stream(void *arg) {
    reader_t *r = arg;
    cozefallback_event *ev = NULL;
    while (cozefallback_stream_next(r->stream, NULL, &ev, NULL) == COZEFALLBACK_STATUS_OK && ev) {
        r->events++;
        cozefallback_event_free(ev);
    }
    return NULL;
}

/* In the child: next and close on the stream the (now absent) reader thread was inside. */
static int child_stream(cozefallback_stream *stream) {
    alarm(10); /* a hang on the stream's lock ends the child with SIGALRM */
    cozefallback_event *ev = NULL;
    cozefallback_error *err = NULL;
    double start = now_ms();
    cozefallback_status st = cozefallback_stream_next(stream, NULL, &ev, &err);
    if (st != COZEFALLBACK_STATUS_INVALID_ARGUMENT || ev) return 3;
    if (!err || !strstr(cozefallback_error_message(err), "before a fork()")) return 4;
    cozefallback_error_free(err);
    if (now_ms() - start > 1000) return 5;
    if (cozefallback_stream_close(stream, NULL) != COZEFALLBACK_STATUS_OK) return 6;
    cozefallback_stream_free(stream);
    return 0;
}

static void test_stream_being_read_at_fork(void) {
    cozefallback_client *client = new_client();
    mock_http(g_base, "POST", "/__mock/state",
              "{\"faults\":[{\"path\":\"/v3/chat\",\"action\":{\"type\":\"slow_stream\",\"gap_ms\":300}}]}", NULL);
    char body[512];
    snprintf(body, sizeof body,
             "{\"bot_id\":\"%s\",\"user_id\":\"u\",\"stream\":true,"
             "\"additional_messages\":[{\"role\":\"user\",\"content\":\"hi\",\"content_type\":\"text\"}]}",
             strrchr(g_bot_path, '/') + 1);
    cozefallback_request *req = NULL;
    cozefallback_stream *stream = NULL;
    cozefallback_error *err = NULL;
    cozefallback_request_new("POST", "/v3/chat", &req, NULL);
    cozefallback_request_set_body(req, (const uint8_t *)body, strlen(body), "application/json", NULL);
    cozefallback_status st = cozefallback_stream_open(client, req, NULL, &stream, &err);
    CHECK(st == COZEFALLBACK_STATUS_OK, "the slow stream opens (%s)", err ? cozefallback_error_message(err) : "");
    cozefallback_request_free(req);
    cozefallback_error_free(err);
    if (st != COZEFALLBACK_STATUS_OK) return;
    reader_t r = {stream, 0};
    pthread_t th;
    pthread_create(&th, NULL, read_stream, &r);
    usleep(450 * 1000); /* the reader is inside next, waiting for the next slow event */
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) _exit(child_stream(stream));
    CHECK(pid > 0, "fork");
    int code = wait_bounded(pid, 20000);
    CHECK(code == 0, "the child's next/close on a stream being read at the fork (exit code %d: -1 hung, -2 signal "
                     "(the alarm: a hang), else the failed step)", code);
    pthread_join(th, NULL);
    CHECK(r.events > 2, "the parent's reader still reads the whole stream (%d events)", r.events);
    cozefallback_stream_free(stream);
    cozefallback_client_free(client);
    mock_http(g_base, "POST", "/__mock/reset", "{}", NULL);
}

int main(void) {
    jval *info = mock_info();
    snprintf(g_config, sizeof g_config,
             "{\"base_url\":\"%s\",\"personal\":{\"type\":\"pat\",\"token\":\"%s\"},"
             "\"enterprise\":{\"type\":\"jwt\",\"client_id\":\"%s\",\"private_key_file\":\"%s\","
             "\"public_key_id\":\"%s\",\"enterprise_id\":\"%s\"},\"timeouts\":{\"total_ms\":10000}}",
             json_str(json_get(info, "base_url")), json_str(json_get(info, "personal_pat")),
             json_str(json_get(info, "jwt_client_id")), json_str(json_get(info, "private_key_file")),
             json_str(json_get(info, "jwt_kid")), json_str(json_get(info, "enterprise_id")));
    snprintf(g_bot_path, sizeof g_bot_path, "/v1/bots/%s", json_str(json_pointer(info, "/bots/0")));
    json_free(info);
    mock_http(g_base, "POST", "/__mock/reset", "{}", NULL);

    test_fork();
    test_stream_being_read_at_fork();
    test_close();

    printf("fork: %d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}
