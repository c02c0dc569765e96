/*
 * Conversations started before the move, through the C API (docs/CONVERSATIONS.md): the fields of a
 * CONVERSATION_STRANDED error, the hook with its user_data, conversation_moved on responses and streams,
 * map_conversation after a restart, and NULL / non-UTF-8 arguments. Needs the mock (COZE_MOCK_URL).
 * Prints one line per failed check and a final "N passed, M failed".
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"

static char g_base_url[512], g_personal[256], g_enterprise[256], g_bot[64];

/* A client with both PATs; `conversations` is the JSON of the conversations section, or NULL. */
static cozefallback_client *new_client(const char *conversations) {
    char config[2048];
    snprintf(config, sizeof config,
             "{\"base_url\":\"%s\",\"personal\":{\"type\":\"pat\",\"token\":\"%s\"},"
             "\"enterprise\":{\"type\":\"pat\",\"token\":\"%s\"},\"retry\":{\"base_delay_ms\":10,\"max_delay_ms\":50}"
             "%s%s}",
             g_base_url, g_personal, g_enterprise, conversations ? ",\"conversations\":" : "",
             conversations ? conversations : "");
    return client_from(config);
}

static void mock_state(const char *json) {
    if (mock_http(g_base, "POST", "/__mock/state", json, NULL) != 200) {
        fprintf(stderr, "the mock refused the state %s\n", json);
        exit(2);
    }
}

/* A /v3/chat request; `conversation` may be NULL (a new conversation) and `object_string` is a content of
 * that type instead of text. The caller frees it. */
static cozefallback_request *chat_request(const char *conversation, const char *text, int stream,
                                          const char *object_string) {
    cozefallback_request *req = NULL;
    cozefallback_request_new("POST", "/v3/chat", &req, NULL);
    if (conversation) cozefallback_request_add_query(req, "conversation_id", conversation, NULL);
    char body[1024];
    if (object_string)
        snprintf(body, sizeof body,
                 "{\"bot_id\":\"%s\",\"user_id\":\"user-1\",\"stream\":false,\"additional_messages\":[{\"role\":"
                 "\"user\",\"content\":\"%s\",\"content_type\":\"object_string\"}]}",
                 g_bot, object_string);
    else
        snprintf(body, sizeof body,
                 "{\"bot_id\":\"%s\",\"user_id\":\"user-1\",\"stream\":%s,\"additional_messages\":[{\"role\":"
                 "\"user\",\"content\":\"%s\",\"content_type\":\"text\"}]}",
                 g_bot, stream ? "true" : "false", text);
    cozefallback_request_set_body(req, (const uint8_t *)body, strlen(body), "application/json", NULL);
    return req;
}

/* Sends a whole-answer chat; returns the status, *resp or *err set. */
static cozefallback_status chat(cozefallback_client *client, const char *conversation, const char *text,
                                cozefallback_response **resp, cozefallback_error **err) {
    cozefallback_request *req = chat_request(conversation, text, 0, NULL);
    cozefallback_status st = cozefallback_client_send(client, req, NULL, resp, err);
    cozefallback_request_free(req);
    return st;
}

/* A string member of the body's `data` object (a new string), or NULL. */
static char *data_field(const cozefallback_response *resp, const char *field) {
    size_t len = 0;
    const uint8_t *body = cozefallback_response_body(resp, &len);
    jval *doc = json_parse((const char *)body, NULL);
    const char *v = json_str(json_get(json_get(doc, "data"), field));
    char *out = v ? strdup(v) : NULL;
    json_free(doc);
    return out;
}

/* Two chats with the personal credential before the move; returns the conversation id (the caller frees). */
static char *conversation_before_move(cozefallback_client *client) {
    cozefallback_response *resp = NULL;
    if (chat(client, NULL, "hello before the move", &resp, NULL) != COZEFALLBACK_STATUS_OK) {
        fprintf(stderr, "the first chat failed\n");
        exit(2);
    }
    char *conv = data_field(resp, "conversation_id");
    cozefallback_response_free(resp);
    resp = NULL;
    if (!conv || chat(client, conv, "second question", &resp, NULL) != COZEFALLBACK_STATUS_OK) {
        fprintf(stderr, "the second chat failed\n");
        exit(2);
    }
    cozefallback_response_free(resp);
    return conv;
}

/* ---- the hook ------------------------------------------------------------------------------------------ */

/* The user_data of the test hook: every call, and whether one ran on the thread that made the call. */
typedef struct {
    pthread_mutex_t mu;
    int calls;
    char from[128], to[128];
    uint32_t copied;
    pthread_t caller;
    int on_caller_thread;
} hook_seen;

static void on_moved(const char *from, const char *to, uint32_t messages_copied, void *user_data) {
    hook_seen *seen = user_data;
    pthread_mutex_lock(&seen->mu);
    seen->calls++;
    snprintf(seen->from, sizeof seen->from, "%s", from);
    snprintf(seen->to, sizeof seen->to, "%s", to);
    seen->copied = messages_copied;
    seen->on_caller_thread |= pthread_equal(pthread_self(), seen->caller);
    pthread_mutex_unlock(&seen->mu);
}

/* ---- tests --------------------------------------------------------------------------------------------- */

static void test_stranded_error(void) {
    mock_http(g_base, "POST", "/__mock/reset", "{}", NULL);
    cozefallback_client *client = new_client("{\"on_stranded\":\"error\"}");
    char *conv = conversation_before_move(client);
    mock_state("{\"moved\":true}");
    cozefallback_response *resp = NULL;
    cozefallback_error *err = NULL;
    cozefallback_status st = chat(client, conv, "after the move", &resp, &err);
    CHECK(st == COZEFALLBACK_STATUS_CONVERSATION_STRANDED && !resp && err, "on_stranded error: status %d", st);
    CHECK(cozefallback_error_kind(err) == COZEFALLBACK_STATUS_CONVERSATION_STRANDED &&
              same(cozefallback_error_kind_name(err), "conversation_stranded") &&
              same(cozefallback_status_name(COZEFALLBACK_STATUS_CONVERSATION_STRANDED), "conversation_stranded"),
          "kind and status names: %s", cozefallback_error_kind_name(err));
    CHECK(same(cozefallback_error_conversation_id(err), conv), "conversation_id: %s, want %s",
          cozefallback_error_conversation_id(err), conv);
    CHECK(cozefallback_error_file_id(err) == NULL, "file_id of a stranded conversation is NULL");
    CHECK(same(cozefallback_error_conversation_owner(err), "personal"), "conversation_owner: %s",
          cozefallback_error_conversation_owner(err));
    CHECK(same(cozefallback_error_bot_credential(err), "enterprise"), "bot_credential: %s",
          cozefallback_error_bot_credential(err));
    const char *msg = cozefallback_error_message(err);
    CHECK(msg && strstr(msg, conv) && strstr(msg, "on_stranded") && !strstr(msg, g_personal) &&
              !strstr(msg, g_enterprise),
          "the message names the conversation and what to do, no token: %s", msg);
    const cozefallback_error *prev = cozefallback_error_previous(err);
    CHECK(prev && cozefallback_error_kind(prev) == COZEFALLBACK_STATUS_API && cozefallback_error_code(prev) != 0,
          "previous holds the API error (code %lld)", (long long)cozefallback_error_code(prev));
    /* The accessors of another kind of error give NULL. */
    CHECK(cozefallback_error_conversation_id(prev) == NULL && cozefallback_error_conversation_owner(prev) == NULL &&
              cozefallback_error_bot_credential(prev) == NULL && cozefallback_error_file_id(prev) == NULL,
          "the stranded accessors of an API error are NULL");
    cozefallback_error_free(err);
    free(conv);
    cozefallback_client_free(client);
}

static void test_stranded_file(void) {
    mock_http(g_base, "POST", "/__mock/reset", "{}", NULL);
    cozefallback_client *client = new_client(NULL);
    cozefallback_response *resp = NULL;
    cozefallback_error *err = NULL;
    cozefallback_status st = cozefallback_client_upload_bytes(client, "/v1/files/upload", (const uint8_t *)"hello", 5,
                                                              "a.txt", NULL, &resp, &err);
    CHECK(st == COZEFALLBACK_STATUS_OK, "upload: %s", cozefallback_error_message(err));
    char *file = resp ? data_field(resp, "id") : NULL;
    cozefallback_response_free(resp);
    resp = NULL;
    mock_state("{\"moved\":true}");
    char content[256];
    snprintf(content, sizeof content, "[{\\\"type\\\":\\\"file\\\",\\\"file_id\\\":\\\"%s\\\"}]", file ? file : "");
    cozefallback_request *req = chat_request(NULL, NULL, 0, content);
    st = cozefallback_client_send(client, req, NULL, &resp, &err);
    cozefallback_request_free(req);
    CHECK(st == COZEFALLBACK_STATUS_CONVERSATION_STRANDED, "a chat naming a personal file: status %d", st);
    CHECK(same(cozefallback_error_file_id(err), file), "file_id: %s, want %s", cozefallback_error_file_id(err), file);
    CHECK(cozefallback_error_conversation_id(err) == NULL, "a chat naming no conversation: conversation_id NULL");
    CHECK(same(cozefallback_error_conversation_owner(err), "personal") &&
              same(cozefallback_error_bot_credential(err), "enterprise"),
          "owner %s, bot credential %s", cozefallback_error_conversation_owner(err),
          cozefallback_error_bot_credential(err));
    CHECK(strstr(cozefallback_error_message(err), "upload the file again") != NULL, "message: %s",
          cozefallback_error_message(err));
    cozefallback_error_free(err);
    cozefallback_response_free(resp);
    free(file);
    cozefallback_client_free(client);
}

/* The hook gets user_data and the move; the response and a stream report it; NULL removes the hook. */
static void test_hook_and_moved(void) {
    mock_http(g_base, "POST", "/__mock/reset", "{}", NULL);
    cozefallback_client *client = new_client(NULL);
    hook_seen seen = {.mu = PTHREAD_MUTEX_INITIALIZER, .caller = pthread_self()};
    cozefallback_error *err = NULL;
    CHECK(cozefallback_client_set_conversation_hook(client, on_moved, &seen, &err) == COZEFALLBACK_STATUS_OK && !err,
          "set_conversation_hook");
    char *conv = conversation_before_move(client);
    char *second = conversation_before_move(client);
    mock_state("{\"moved\":true}");

    cozefallback_response *resp = NULL;
    cozefallback_status st = chat(client, conv, "after the move", &resp, &err);
    CHECK(st == COZEFALLBACK_STATUS_OK, "carried chat: %s", cozefallback_error_message(err));
    const char *from = NULL, *to = NULL;
    uint32_t copied = 99;
    CHECK(cozefallback_response_conversation_moved(resp, &from, &to, &copied), "the response reports the move");
    CHECK(same(from, conv) && to && !same(to, conv) && copied == 4, "moved %s -> %s, %u copied", from, to, copied);
    CHECK(same(cozefallback_response_credential(resp), "enterprise"), "served by %s",
          cozefallback_response_credential(resp));
    CHECK(seen.calls == 1 && same(seen.from, conv) && same(seen.to, to) && seen.copied == 4,
          "hook: %d call(s), %s -> %s, %u copied", seen.calls, seen.from, seen.to, seen.copied);
    CHECK(!seen.on_caller_thread, "the hook runs on a library thread, not the caller's");
    CHECK(cozefallback_response_conversation_moved(resp, NULL, NULL, NULL), "NULL out-pointers are allowed");
    char *new_id = to ? strdup(to) : NULL;
    cozefallback_response_free(resp);
    resp = NULL;

    /* The old id now goes straight to the new conversation: no move reported, the hook is not called again. */
    st = chat(client, conv, "and again", &resp, &err);
    from = to = "x";
    copied = 7;
    CHECK(st == COZEFALLBACK_STATUS_OK && !cozefallback_response_conversation_moved(resp, &from, &to, &copied) &&
              !from && !to && copied == 0,
          "a mapped call reports no move (outs cleared)");
    CHECK(cozefallback_response_attempts(resp) == 1 && seen.calls == 1, "one round trip (%u), hook calls %d",
          cozefallback_response_attempts(resp), seen.calls);
    cozefallback_response_free(resp);
    resp = NULL;

    /* A stream carried over reports the move as soon as it is open; with the hook removed, nobody is called. */
    CHECK(cozefallback_client_set_conversation_hook(client, NULL, NULL, &err) == COZEFALLBACK_STATUS_OK,
          "set_conversation_hook(NULL) removes it");
    cozefallback_request *req = chat_request(second, "streamed after the move", 1, NULL);
    cozefallback_stream *stream = NULL;
    st = cozefallback_stream_open(client, req, NULL, &stream, &err);
    cozefallback_request_free(req);
    CHECK(st == COZEFALLBACK_STATUS_OK, "carried stream: %s", cozefallback_error_message(err));
    CHECK(cozefallback_stream_conversation_moved(stream, &from, &to, &copied) && same(from, second) && to &&
              !same(to, second) && copied == 4,
          "the stream reports the move: %s -> %s (%u)", from, to, copied);
    int events = 0;
    for (cozefallback_event *ev = NULL; cozefallback_stream_next(stream, NULL, &ev, NULL) == COZEFALLBACK_STATUS_OK && ev;
         ev = NULL) {
        events++;
        cozefallback_event_free(ev);
    }
    CHECK(events > 0, "the carried stream delivers events (%d)", events);
    cozefallback_stream_free(stream);
    CHECK(seen.calls == 1, "a removed hook is not called (%d calls)", seen.calls);

    free(new_id);
    free(conv);
    free(second);
    cozefallback_client_free(client);
    pthread_mutex_destroy(&seen.mu);
}

/* After a restart the app preloads the mapping its hook stored: one round trip, nothing carried again. */
static void test_map_after_restart(void) {
    mock_http(g_base, "POST", "/__mock/reset", "{}", NULL);
    cozefallback_client *client = new_client(NULL);
    hook_seen seen = {.mu = PTHREAD_MUTEX_INITIALIZER, .caller = pthread_self()};
    cozefallback_client_set_conversation_hook(client, on_moved, &seen, NULL);
    char *conv = conversation_before_move(client);
    mock_state("{\"moved\":true}");
    cozefallback_response *resp = NULL;
    cozefallback_error *err = NULL;
    CHECK(chat(client, conv, "after the move", &resp, &err) == COZEFALLBACK_STATUS_OK && seen.calls == 1,
          "carried over before the restart");
    cozefallback_response_free(resp);
    resp = NULL;
    cozefallback_client_free(client); /* the restart: the map lived in that client */

    cozefallback_client *restarted = new_client(NULL);
    CHECK(cozefallback_client_map_conversation(restarted, seen.from, seen.to, &err) == COZEFALLBACK_STATUS_OK && !err,
          "map_conversation: %s", cozefallback_error_message(err));
    cozefallback_status st = chat(restarted, conv, "after the restart", &resp, &err);
    CHECK(st == COZEFALLBACK_STATUS_OK, "chat after the restart: %s", cozefallback_error_message(err));
    size_t len = 0;
    const char *body = (const char *)cozefallback_response_body(resp, &len);
    /* The restarted client does not know which credential `to` belongs to yet: the plain fallback finds it. */
    CHECK(same(cozefallback_response_credential(resp), "enterprise") &&
              !cozefallback_response_conversation_moved(resp, NULL, NULL, NULL) && body && strstr(body, seen.to),
          "the mapped conversation, no move (%s): %s", cozefallback_response_credential(resp), body);
    cozefallback_response_free(resp);
    resp = NULL;
    st = chat(restarted, conv, "once more", &resp, &err);
    CHECK(st == COZEFALLBACK_STATUS_OK && cozefallback_response_attempts(resp) == 1 &&
              same(cozefallback_response_credential(resp), "enterprise"),
          "then one round trip (%u attempts)", cozefallback_response_attempts(resp));
    cozefallback_error_free(err);
    cozefallback_response_free(resp);
    char *stats = NULL;
    mock_http(g_base, "GET", "/__mock/stats", NULL, &stats);
    jval *doc = json_parse(stats ? stats : "null", NULL);
    const jval *creates = json_pointer(doc, "/requests/by_path/~1v1~1conversation~1create");
    CHECK(creates && json_int(creates) == 1, "one conversation/create in all (%lld)",
          creates ? (long long)json_int(creates) : -1LL);
    json_free(doc);
    free(stats);
    free(conv);
    cozefallback_client_free(restarted);
    pthread_mutex_destroy(&seen.mu);
}

/* The call returned INVALID_ARGUMENT with a message containing `names`; frees the error. */
static int invalid_naming(cozefallback_status st, cozefallback_error *err, const char *names) {
    int ok = st == COZEFALLBACK_STATUS_INVALID_ARGUMENT && err &&
             cozefallback_error_kind(err) == COZEFALLBACK_STATUS_INVALID_ARGUMENT &&
             strstr(cozefallback_error_message(err), names);
    if (!ok) printf("  got status %d: %s\n", st, err ? cozefallback_error_message(err) : "(no error)");
    cozefallback_error_free(err);
    return ok;
}

static void test_bad_arguments(void) {
    cozefallback_client *client = new_client(NULL);
    cozefallback_error *err = NULL;
    cozefallback_status st;
    st = cozefallback_client_map_conversation(NULL, "a", "b", &err);
    CHECK(invalid_naming(st, err, "client"), "map_conversation(NULL client)");
    st = cozefallback_client_map_conversation(client, NULL, "b", &err);
    CHECK(invalid_naming(st, err, "from"), "map_conversation(NULL from)");
    st = cozefallback_client_map_conversation(client, "a", NULL, &err);
    CHECK(invalid_naming(st, err, "to"), "map_conversation(NULL to)");
    st = cozefallback_client_map_conversation(client, "\xff\xfe", "b", &err);
    CHECK(invalid_naming(st, err, "UTF-8"), "map_conversation(non-UTF-8 from)");
    st = cozefallback_client_map_conversation(client, "a", "\xc3\x28", &err);
    CHECK(invalid_naming(st, err, "`to` is not valid UTF-8"), "map_conversation(non-UTF-8 to)");
    st = cozefallback_client_map_conversation(client, "", "b", &err);
    CHECK(invalid_naming(st, err, "from"), "map_conversation(empty from)");
    st = cozefallback_client_map_conversation(client, "a", "a", &err);
    CHECK(invalid_naming(st, err, "same"), "map_conversation(from == to)");
    CHECK(cozefallback_client_map_conversation(client, "a", "b", NULL) == COZEFALLBACK_STATUS_OK,
          "map_conversation with a NULL err");
    st = cozefallback_client_set_conversation_hook(NULL, on_moved, NULL, &err);
    CHECK(invalid_naming(st, err, "client"), "set_conversation_hook(NULL client)");
    CHECK(cozefallback_client_set_conversation_hook(client, NULL, NULL, NULL) == COZEFALLBACK_STATUS_OK,
          "removing a hook that was never set");

    const char *from = "x", *to = "y";
    uint32_t copied = 3;
    CHECK(!cozefallback_response_conversation_moved(NULL, &from, &to, &copied) && !from && !to && copied == 0,
          "response_conversation_moved(NULL) is false, outs cleared");
    from = to = "x";
    copied = 3;
    CHECK(!cozefallback_stream_conversation_moved(NULL, &from, &to, &copied) && !from && !to && copied == 0,
          "stream_conversation_moved(NULL) is false, outs cleared");
    CHECK(!cozefallback_response_conversation_moved(NULL, NULL, NULL, NULL) &&
              !cozefallback_stream_conversation_moved(NULL, NULL, NULL, NULL),
          "NULL everything");
    CHECK(!cozefallback_error_conversation_id(NULL) && !cozefallback_error_file_id(NULL) &&
              !cozefallback_error_conversation_owner(NULL) && !cozefallback_error_bot_credential(NULL),
          "the error accessors of a NULL error are NULL");
    cozefallback_client_free(client);
}

int main(void) {
    jval *info = mock_info();
    snprintf(g_base_url, sizeof g_base_url, "%s", json_str(json_get(info, "base_url")));
    snprintf(g_personal, sizeof g_personal, "%s", json_str(json_get(info, "personal_pat")));
    snprintf(g_enterprise, sizeof g_enterprise, "%s", json_str(json_get(info, "enterprise_pat")));
    snprintf(g_bot, sizeof g_bot, "%s", json_str(json_pointer(info, "/bots/0")));
    json_free(info);

    test_stranded_error();
    test_stranded_file();
    test_hook_and_moved();
    test_map_after_restart();
    test_bad_arguments();

    printf("conversations: %d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}
