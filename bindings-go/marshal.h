// Declarations of marshal.c, shared with the cgo preamble of marshal.go.
#ifndef COZEFALLBACK_GO_MARSHAL_H
#define COZEFALLBACK_GO_MARSHAL_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "cozefallback.h"

// Which step of cozefallback_go_request_build failed, so the Go side words the error as it always has.
enum { COZEFALLBACK_GO_STEP_NEW, COZEFALLBACK_GO_STEP_QUERY, COZEFALLBACK_GO_STEP_HEADER, COZEFALLBACK_GO_STEP_BODY,
       COZEFALLBACK_GO_STEP_TIMEOUT };

// Builds a request from `block`: NUL-terminated strings in the order method, path, `nquery` key/value pairs,
// `nheader` name/value pairs, then the content type when `has_content_type`. The body is set when `set_body`;
// the timeout when `timeout_ms` > 0; retry_non_idempotent when `retry` >= 0. Everything is copied: `block` and
// `body` are only read during the call. On failure the request is freed and `*step` says which call failed.
cozefallback_status cozefallback_go_request_build(const char *block, size_t nquery, size_t nheader,
                                                  bool set_body, const uint8_t *body, size_t body_len,
                                                  bool has_content_type, uint64_t timeout_ms, int retry,
                                                  cozefallback_request **out, cozefallback_error **err,
                                                  int *step);

// Everything a Go Response is made of, borrowed from the response handle.
typedef struct {
    uint16_t status;
    uint32_t attempts;
    const uint8_t *body;
    size_t body_len;
    const char *credential;
    const char *logid;
    size_t header_count;
    bool moved;
    const char *moved_from;
    const char *moved_to;
    uint32_t moved_copied;
} cozefallback_go_response_view;

// Stores up to `cap` header name/value pairs (borrowed) in `pairs` and returns how many the response has.
size_t cozefallback_go_response_headers(const cozefallback_response *resp, const char **pairs, size_t cap);

// Fills `v` and up to `cap` header pairs in one call.
void cozefallback_go_response_read(const cozefallback_response *resp, cozefallback_go_response_view *v,
                                   const char **pairs, size_t cap);
#endif
