// The C half of the Go binding's hot path: a request is built, and an answer read, in one cgo crossing each
// instead of one per string (a crossing, a malloc and a free for every header otherwise).
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include "cozefallback.h"
#include "marshal.h"

static const char *next_string(const char *p) { return p + strlen(p) + 1; }

cozefallback_status cozefallback_go_request_build(const char *block, size_t nquery, size_t nheader,
                                                  bool set_body, const uint8_t *body, size_t body_len,
                                                  bool has_content_type, uint64_t timeout_ms, int retry,
                                                  cozefallback_request **out, cozefallback_error **err,
                                                  int *step) {
    const char *method = block;
    const char *path = next_string(method);
    const char *p = next_string(path);
    cozefallback_request *req = NULL;
    cozefallback_status st;
    *out = NULL;
    *step = COZEFALLBACK_GO_STEP_NEW;
    if ((st = cozefallback_request_new(method, path, &req, err)) != COZEFALLBACK_STATUS_OK) return st;
    *step = COZEFALLBACK_GO_STEP_QUERY;
    for (size_t i = 0; i < nquery; i++) {
        const char *value = next_string(p);
        if ((st = cozefallback_request_add_query(req, p, value, err)) != COZEFALLBACK_STATUS_OK) goto fail;
        p = next_string(value);
    }
    *step = COZEFALLBACK_GO_STEP_HEADER;
    for (size_t i = 0; i < nheader; i++) {
        const char *value = next_string(p);
        if ((st = cozefallback_request_add_header(req, p, value, err)) != COZEFALLBACK_STATUS_OK) goto fail;
        p = next_string(value);
    }
    *step = COZEFALLBACK_GO_STEP_BODY;
    if (set_body &&
        (st = cozefallback_request_set_body(req, body, body_len, has_content_type ? p : NULL, err)) !=
            COZEFALLBACK_STATUS_OK)
        goto fail;
    *step = COZEFALLBACK_GO_STEP_TIMEOUT;
    if (timeout_ms > 0 && (st = cozefallback_request_set_timeout_ms(req, timeout_ms, err)) != COZEFALLBACK_STATUS_OK)
        goto fail;
    if (retry >= 0) cozefallback_request_set_retry_non_idempotent(req, retry != 0, NULL);
    *out = req;
    return COZEFALLBACK_STATUS_OK;
fail:
    cozefallback_request_free(req);
    return st;
}

size_t cozefallback_go_response_headers(const cozefallback_response *resp, const char **pairs, size_t cap) {
    size_t n = cozefallback_response_header_count(resp);
    for (size_t i = 0; i < n && i < cap; i++) {
        pairs[2 * i] = cozefallback_response_header_name(resp, i);
        pairs[2 * i + 1] = cozefallback_response_header_value(resp, i);
    }
    return n;
}

void cozefallback_go_response_read(const cozefallback_response *resp, cozefallback_go_response_view *v,
                                   const char **pairs, size_t cap) {
    v->status = cozefallback_response_status(resp);
    v->attempts = cozefallback_response_attempts(resp);
    v->body = cozefallback_response_body(resp, &v->body_len);
    v->credential = cozefallback_response_credential(resp);
    v->logid = cozefallback_response_logid(resp);
    v->moved = cozefallback_response_conversation_moved(resp, &v->moved_from, &v->moved_to, &v->moved_copied);
    v->header_count = cozefallback_go_response_headers(resp, pairs, cap);
}
