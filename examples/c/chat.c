/*
 * Chat with a Coze bot through libcozefallback: the personal credential first, the enterprise one when the
 * workspace has moved. Configured like the official SDKs, from the environment:
 *   COZE_API_BASE, COZE_API_TOKEN (personal PAT), COZE_API_TOKEN_ENTERPRISE (enterprise PAT)
 *   (or COZE_JWT_OAUTH_* with COZE_PERSONAL_ACCOUNT_ID / COZE_ENTERPRISE_ID), PUBLISHED_BOT_ID, USER_ID.
 *
 *   cc chat.c $(pkg-config --cflags --libs cozefallback) -o chat && ./chat
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cozefallback.h>

static int report(const char *what, cozefallback_error *err) {
    fprintf(stderr, "%s failed: [%s] %s (code %lld, logid %s)\n", what, cozefallback_error_kind_name(err),
            cozefallback_error_message(err), (long long)cozefallback_error_code(err),
            cozefallback_error_logid(err) ? cozefallback_error_logid(err) : "-");
    cozefallback_error_free(err);
    return 1;
}

int main(void) {
    const char *bot = getenv("PUBLISHED_BOT_ID"), *user = getenv("USER_ID");
    if (!bot) { fprintf(stderr, "set PUBLISHED_BOT_ID\n"); return 2; }
    if (!user) user = "user-1";

    cozefallback_client *client = NULL;
    cozefallback_error *err = NULL;
    if (cozefallback_client_new_from_env(&client, &err)) return report("configuration", err);

    char body[1024];
    snprintf(body, sizeof body,
             "{\"bot_id\":\"%s\",\"user_id\":\"%s\",\"stream\":%s,\"additional_messages\":"
             "[{\"role\":\"user\",\"content\":\"What can you do?\",\"content_type\":\"text\"}]}",
             bot, user, "false");
    cozefallback_request *req = NULL;
    cozefallback_request_new("POST", "/v3/chat", &req, NULL);
    cozefallback_request_set_body(req, (const uint8_t *)body, strlen(body), "application/json", NULL);

    cozefallback_response *resp = NULL;
    int rc = 0;
    if (cozefallback_client_send(client, req, NULL, &resp, &err)) {
        rc = report("chat", err);
    } else {
        printf("chat answered by the %s credential in %u attempt(s): %s\n", cozefallback_response_credential(resp),
               cozefallback_response_attempts(resp), (const char *)cozefallback_response_body(resp, NULL));
        cozefallback_response_free(resp);
    }

    /* The same chat, streamed. */
    snprintf(body, sizeof body,
             "{\"bot_id\":\"%s\",\"user_id\":\"%s\",\"stream\":true,\"additional_messages\":"
             "[{\"role\":\"user\",\"content\":\"What can you do?\",\"content_type\":\"text\"}]}",
             bot, user);
    cozefallback_request_set_body(req, (const uint8_t *)body, strlen(body), "application/json", NULL);
    cozefallback_stream *stream = NULL;
    if (cozefallback_stream_open(client, req, NULL, &stream, &err)) {
        rc = report("stream", err);
    } else {
        printf("stream served by the %s credential\n", cozefallback_stream_credential(stream));
        cozefallback_event *ev = NULL;
        while (cozefallback_stream_next(stream, NULL, &ev, &err) == COZEFALLBACK_STATUS_OK && ev) {
            printf("  %s\n", cozefallback_event_name(ev));
            cozefallback_event_free(ev);
        }
        if (err) rc = report("stream", err);
        cozefallback_stream_free(stream);
    }

    cozefallback_request_free(req);
    cozefallback_client_free(client);
    return rc;
}
