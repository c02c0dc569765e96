/*
 * The C conformance runner: every tests/scenarios/ *.json, tests/scenarios/websocket/ *.json,
 * tests/scenarios/conversations/ *.json and tests/scenarios/obo/ *.json file through the C API against the
 * coze-mock binary (the OBO ones log in with the C OAuth app and record the C refresh hook).
 *
 *   conformance SCENARIO_DIR     (the mock's base URL in COZE_MOCK_URL)
 *
 * Prints one line per scenario and a final "N passed, M failed"; exits non-zero on any failure, on an unknown
 * step or expectation key, or when no scenario is found.
 */
#define _GNU_SOURCE
#include <glob.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cozefallback.h"
#include "json.h"
#include "mockhttp.h"

static const char *g_base;
/* From /__mock/info: the OBO scenarios build their OAuth app on these. */
static char g_base_url[512], g_oauth_id[128], g_oauth_secret[128];

/* ---- small helpers ---------------------------------------------------------------------------------------- */

static char *read_file(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc((size_t)n + 1);
    size_t got = fread(buf, 1, (size_t)n, f);
    buf[got] = 0;
    fclose(f);
    return buf;
}

/* Replaces every occurrence of `from` in `s` (freed) by `to`; returns a new string. */
static char *replace_all(char *s, const char *from, const char *to) {
    size_t fl = strlen(from), tl = strlen(to), count = 0;
    for (char *p = strstr(s, from); p; p = strstr(p + fl, from)) count++;
    if (!count) return s;
    char *out = malloc(strlen(s) + count * tl + 1 - count * fl + 1), *o = out;
    char *p = s, *hit;
    while ((hit = strstr(p, from))) {
        memcpy(o, p, (size_t)(hit - p));
        o += hit - p;
        memcpy(o, to, tl);
        o += tl;
        p = hit + fl;
    }
    strcpy(o, p);
    free(s);
    return out;
}

/* A value escaped for use inside a JSON string literal. */
static char *json_escaped(const char *value) {
    jval v = {0};
    v.type = J_STR;
    v.raw = (char *)value;
    char *quoted = json_dump(&v);
    size_t n = strlen(quoted);
    memmove(quoted, quoted + 1, n - 2);
    quoted[n - 2] = 0;
    return quoted;
}

typedef struct {
    char *name[64];
    char *value[64]; /* already JSON-escaped */
    int n;
} vars_t;

static void vars_set(vars_t *v, const char *name, const char *raw_value) {
    char key[128];
    snprintf(key, sizeof key, "${%s}", name);
    for (int i = 0; i < v->n; i++)
        if (!strcmp(v->name[i], key)) {
            free(v->value[i]);
            v->value[i] = json_escaped(raw_value);
            return;
        }
    if (v->n == 64) return;
    v->name[v->n] = strdup(key);
    v->value[v->n] = json_escaped(raw_value);
    v->n++;
}

static void vars_free(vars_t *v) {
    for (int i = 0; i < v->n; i++) free(v->name[i]), free(v->value[i]);
    v->n = 0;
}

static char *substitute(const char *text, const vars_t *v) {
    char *s = strdup(text);
    for (int i = 0; i < v->n; i++) s = replace_all(s, v->name[i], v->value[i]);
    return s;
}

static double now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static int fail(char *why, size_t n, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, n, fmt, ap);
    va_end(ap);
    return 0;
}

/* Every key of `obj` must be in the NULL-terminated `allowed` list. */
static int check_keys(const jval *obj, const char *const *allowed, const char *what, char *why, size_t n) {
    if (!obj) return 1;
    if (obj->type != J_OBJ) return fail(why, n, "%s is not an object", what);
    for (size_t i = 0; i < obj->len; i++) {
        int ok = 0;
        for (const char *const *a = allowed; *a; a++) ok |= !strcmp(*a, obj->keys[i]);
        if (!ok) return fail(why, n, "unknown key `%s` in %s", obj->keys[i], what);
    }
    return 1;
}

/* ---- one call through the C API ------------------------------------------------------------------------- */

typedef struct {
    cozefallback_status status;
    cozefallback_error *err; /* set when the call (or the stream) failed */
    int has_response;
    unsigned http_status;
    const char *credential; /* static strings from the library */
    int has_attempts;
    unsigned attempts;
    char *body;
    int events;
    char *first_event, *last_event;
    double elapsed_ms;
    /* The carry-over the call reported (cozefallback_*_conversation_moved). */
    int moved;
    char *moved_from, *moved_to;
    unsigned moved_copied;
} outcome;

static void outcome_free(outcome *o) {
    cozefallback_error_free(o->err);
    free(o->body);
    free(o->first_event);
    free(o->last_event);
    free(o->moved_from);
    free(o->moved_to);
    memset(o, 0, sizeof *o);
}

/* Copies a carry-over out of the response or stream that reported it (the strings are borrowed from it). */
static void take_moved(outcome *o, int moved, const char *from, const char *to, uint32_t copied) {
    o->moved = moved;
    if (!moved) return;
    /* A carry-over always names both ids; "" (a library bug) fails the expectation. */
    o->moved_from = strdup(from ? from : "");
    o->moved_to = strdup(to ? to : "");
    o->moved_copied = copied;
}

static cozefallback_request *build_request(const jval *spec, char *why, size_t n) {
    static const char *const keys[] = {"method", "path", "query", "json", "headers", NULL};
    if (!check_keys(spec, keys, "request", why, n)) return NULL;
    const char *method = json_str(json_get(spec, "method")), *path = json_str(json_get(spec, "path"));
    if (!method || !path) { fail(why, n, "request needs method and path"); return NULL; }
    cozefallback_request *req = NULL;
    cozefallback_error *err = NULL;
    if (cozefallback_request_new(method, path, &req, &err) != COZEFALLBACK_STATUS_OK) {
        fail(why, n, "request_new: %s", cozefallback_error_message(err));
        cozefallback_error_free(err);
        return NULL;
    }
    const jval *q = json_get(spec, "query"), *h = json_get(spec, "headers"), *body = json_get(spec, "json");
    for (size_t i = 0; q && i < q->len; i++) {
        char *num = NULL;
        const char *val = json_str(q->items[i]);
        if (!val) val = num = json_dump(q->items[i]);
        cozefallback_request_add_query(req, q->keys[i], val, NULL);
        free(num);
    }
    for (size_t i = 0; h && i < h->len; i++) cozefallback_request_add_header(req, h->keys[i], json_str(h->items[i]), NULL);
    if (body) {
        char *text = json_dump(body);
        cozefallback_request_set_body(req, (const uint8_t *)text, strlen(text), "application/json", NULL);
        free(text);
    }
    return req;
}

static void take_error(outcome *o, cozefallback_status st, cozefallback_error *err) {
    o->status = st;
    o->err = err;
    o->credential = cozefallback_error_credential(err);
    o->has_attempts = 1;
    o->attempts = cozefallback_error_attempts(err);
}

static void take_response(outcome *o, cozefallback_response *resp) {
    size_t len = 0;
    const uint8_t *body = cozefallback_response_body(resp, &len);
    o->has_response = 1;
    o->http_status = cozefallback_response_status(resp);
    o->credential = cozefallback_response_credential(resp);
    o->has_attempts = 1;
    o->attempts = cozefallback_response_attempts(resp);
    o->body = strndup((const char *)body, len);
    const char *from = NULL, *to = NULL;
    uint32_t copied = 0;
    int moved = cozefallback_response_conversation_moved(resp, &from, &to, &copied);
    take_moved(o, moved, from, to, copied);
    cozefallback_response_free(resp);
}

/* Runs the call of a step (request, upload or stream). Returns 0 (with `why`) when the step is malformed. */
static int call(cozefallback_client *client, const jval *step, outcome *o, char *why, size_t n) {
    memset(o, 0, sizeof *o);
    double started = now_ms();
    const jval *spec;
    cozefallback_error *err = NULL;
    cozefallback_response *resp = NULL;
    if ((spec = json_get(step, "request"))) {
        cozefallback_request *req = build_request(spec, why, n);
        if (!req) return 0;
        cozefallback_status st = cozefallback_client_send(client, req, NULL, &resp, &err);
        cozefallback_request_free(req);
        if (st == COZEFALLBACK_STATUS_OK) take_response(o, resp);
        else take_error(o, st, err);
    } else if ((spec = json_get(step, "upload"))) {
        static const char *const keys[] = {"path", "filename", "content", NULL};
        if (!check_keys(spec, keys, "upload", why, n)) return 0;
        const char *path = json_str(json_get(spec, "path")), *filename = json_str(json_get(spec, "filename")),
                   *content = json_str(json_get(spec, "content"));
        if (!path || !filename || !content) return fail(why, n, "upload needs path, filename and content");
        cozefallback_status st = cozefallback_client_upload_bytes(client, path, (const uint8_t *)content,
                                                                  strlen(content), filename, NULL, &resp, &err);
        if (st == COZEFALLBACK_STATUS_OK) take_response(o, resp);
        else take_error(o, st, err);
    } else if ((spec = json_get(step, "stream"))) {
        cozefallback_request *req = build_request(spec, why, n);
        if (!req) return 0;
        cozefallback_stream *stream = NULL;
        cozefallback_status st = cozefallback_stream_open(client, req, NULL, &stream, &err);
        cozefallback_request_free(req);
        if (st != COZEFALLBACK_STATUS_OK) {
            take_error(o, st, err);
        } else {
            o->http_status = cozefallback_stream_status(stream);
            o->credential = cozefallback_stream_credential(stream);
            o->has_attempts = 1;
            o->attempts = cozefallback_stream_attempts(stream);
            const char *from = NULL, *to = NULL;
            uint32_t copied = 0;
            int moved = cozefallback_stream_conversation_moved(stream, &from, &to, &copied);
            take_moved(o, moved, from, to, copied);
            for (;;) {
                cozefallback_event *ev = NULL;
                st = cozefallback_stream_next(stream, NULL, &ev, &err);
                if (st != COZEFALLBACK_STATUS_OK) {
                    o->status = st;
                    o->err = err;
                    break;
                }
                if (!ev) break;
                const char *name = cozefallback_event_name(ev);
                if (!o->first_event) o->first_event = strdup(name);
                free(o->last_event);
                o->last_event = strdup(name);
                o->events++;
                cozefallback_event_free(ev);
            }
            cozefallback_stream_close(stream, NULL);
            cozefallback_stream_free(stream);
        }
    } else {
        return fail(why, n, "step has no call");
    }
    o->elapsed_ms = now_ms() - started;
    return 1;
}

/* ---- expectations --------------------------------------------------------------------------------------- */

/* `conversation_moved` (an expectation, or one recorded hook call): false = none, or {from?, to?, messages_copied?}
 * whose keys given must match, with `to` differing from `from`. */
static int check_moved(const jval *want, int moved, const char *from, const char *to, unsigned copied,
                       const char *what, char *why, size_t n) {
    if (want->type == J_BOOL && !want->b)
        return moved ? fail(why, n, "%s: expected none, got %s -> %s (%u copied)", what, from, to, copied) : 1;
    static const char *const keys[] = {"from", "to", "messages_copied", NULL};
    if (!check_keys(want, keys, what, why, n)) return 0;
    char *wanted = json_dump(want);
    int ok = 1;
    if (!moved) ok = fail(why, n, "%s: expected %s, got none", what, wanted);
    else {
        const jval *wf = json_get(want, "from"), *wt = json_get(want, "to"), *wc = json_get(want, "messages_copied");
        int same = (!wf || (json_str(wf) && !strcmp(json_str(wf), from))) &&
                   (!wt || (json_str(wt) && !strcmp(json_str(wt), to))) && (!wc || json_int(wc) == copied);
        if (!same || !*to || !strcmp(from, to))
            ok = fail(why, n, "%s: expected %s, got %s -> %s (%u copied)", what, wanted, from, to, copied);
    }
    free(wanted);
    return ok;
}

/* The conversation_stranded keys of `expect.error`, and `message_contains` (any kind). */
static int check_stranded(const jval *e, const cozefallback_error *err, char *why, size_t n) {
    static const char *const names[] = {"conversation_id", "file_id", "conversation_owner", "bot_credential"};
    const char *got[] = {cozefallback_error_conversation_id(err), cozefallback_error_file_id(err),
                         cozefallback_error_conversation_owner(err), cozefallback_error_bot_credential(err)};
    for (int i = 0; i < 4; i++) {
        const jval *w = json_get(e, names[i]);
        if (w && (!got[i] || !json_str(w) || strcmp(json_str(w), got[i])))
            return fail(why, n, "error.%s: expected %s, got %s (%s)", names[i], json_str(w) ? json_str(w) : "?",
                        got[i] ? got[i] : "none", cozefallback_error_message(err));
    }
    const jval *sub = json_get(e, "message_contains");
    if (sub && (!json_str(sub) || !strstr(cozefallback_error_message(err), json_str(sub))))
        return fail(why, n, "error message \"%s\" lacks \"%s\"", cozefallback_error_message(err),
                    json_str(sub) ? json_str(sub) : "?");
    return 1;
}

/* `data_len`: the length of the body's `data` array. */
static int check_data_len(const jval *want, const outcome *o, char *why, size_t n) {
    jval *body = o->body ? json_parse(o->body, NULL) : NULL;
    const jval *data = json_get(body, "data");
    long long got = data && data->type == J_ARR ? (long long)data->len : -1;
    json_free(body);
    if (got != json_int(want))
        return fail(why, n, "data_len: expected %lld, got %s%lld", (long long)json_int(want), got < 0 ? "no array " : "",
                    got < 0 ? 0LL : got);
    return 1;
}

/* The OBO keys of `expect.error`: `oauth_error`, and `authorize_url_contains` (the URL must exist). */
static int check_oauth_error(const jval *e, const cozefallback_error *err, char *why, size_t n) {
    const jval *want = json_get(e, "oauth_error"), *parts = json_get(e, "authorize_url_contains");
    const char *got = cozefallback_error_oauth_error(err), *url = cozefallback_error_authorize_url(err);
    if (want && (!got || !json_str(want) || strcmp(got, json_str(want))))
        return fail(why, n, "error.oauth_error: expected %s, got %s (%s)", json_str(want) ? json_str(want) : "?",
                    got ? got : "none", cozefallback_error_message(err));
    if (parts && (parts->type != J_ARR)) return fail(why, n, "error.authorize_url_contains must be an array");
    for (size_t i = 0; parts && i < parts->len; i++)
        if (!url || !json_str(parts->items[i]) || !strstr(url, json_str(parts->items[i])))
            return fail(why, n, "error authorize URL %s lacks %s", url ? url : "(none)",
                        json_str(parts->items[i]) ? json_str(parts->items[i]) : "?");
    return 1;
}

static int check(const jval *expect, const outcome *o, char *why, size_t n) {
    static const char *const keys[] = {"status", "credential", "attempts", "json_code", "body_contains", "error",
                                       "events_min", "first_event", "last_event", "events_before_error",
                                       "elapsed_ms_min", "conversation_moved", "data_len", NULL};
    if (!expect) return 1;
    if (!check_keys(expect, keys, "expect", why, n)) return 0;
    const jval *e = json_get(expect, "error");
    if (e) {
        static const char *const ekeys[] = {"kind", "code", "http_status", "previous_code", "previous_credential",
                                            "conversation_id", "conversation_owner", "bot_credential", "file_id",
                                            "message_contains", "oauth_error", "authorize_url_contains", NULL};
        if (!check_keys(e, ekeys, "expect.error", why, n)) return 0;
        if (!o->err) return fail(why, n, "expected an error of kind %s, the call succeeded", json_str(json_get(e, "kind")));
        if (!check_stranded(e, o->err, why, n) || !check_oauth_error(e, o->err, why, n)) return 0;
        const char *kind = json_str(json_get(e, "kind"));
        if (kind && strcmp(kind, cozefallback_error_kind_name(o->err)))
            return fail(why, n, "error.kind: expected %s, got %s (%s)", kind, cozefallback_error_kind_name(o->err),
                        cozefallback_error_message(o->err));
        if (cozefallback_error_kind(o->err) != o->status) return fail(why, n, "error kind and returned status differ");
        const jval *v;
        if ((v = json_get(e, "code")) && json_int(v) != cozefallback_error_code(o->err))
            return fail(why, n, "error.code: expected %lld, got %lld (%s)", (long long)json_int(v),
                        (long long)cozefallback_error_code(o->err), cozefallback_error_message(o->err));
        if ((v = json_get(e, "http_status")) && json_int(v) != cozefallback_error_http_status(o->err))
            return fail(why, n, "error.http_status: expected %lld, got %u", (long long)json_int(v),
                        cozefallback_error_http_status(o->err));
        if ((v = json_get(e, "previous_code")) && json_int(v) != cozefallback_error_previous_code(o->err))
            return fail(why, n, "error.previous_code: expected %lld, got %lld", (long long)json_int(v),
                        (long long)cozefallback_error_previous_code(o->err));
        if ((v = json_get(e, "previous_credential"))) {
            const char *got = cozefallback_error_credential(cozefallback_error_previous(o->err));
            if (!got || strcmp(got, json_str(v)))
                return fail(why, n, "error.previous_credential: expected %s, got %s", json_str(v), got ? got : "none");
        }
    } else if (o->err) {
        return fail(why, n, "unexpected %s error: %s", cozefallback_error_kind_name(o->err),
                    cozefallback_error_message(o->err));
    }
    const jval *v;
    if ((v = json_get(expect, "status")) && (!o->http_status || json_int(v) != o->http_status))
        return fail(why, n, "status: expected %lld, got %u", (long long)json_int(v), o->http_status);
    if ((v = json_get(expect, "credential")) && (!o->credential || strcmp(json_str(v), o->credential)))
        return fail(why, n, "credential: expected %s, got %s", json_str(v), o->credential ? o->credential : "none");
    if ((v = json_get(expect, "attempts")) && (!o->has_attempts || json_int(v) != o->attempts))
        return fail(why, n, "attempts: expected %lld, got %u", (long long)json_int(v), o->attempts);
    if ((v = json_get(expect, "json_code"))) {
        jval *body = o->body ? json_parse(o->body, NULL) : NULL;
        jval *code = json_get(body, "code");
        int ok = code && code->type == J_NUM && json_int(code) == json_int(v);
        json_free(body);
        if (!ok) return fail(why, n, "json_code: expected %lld in %s", (long long)json_int(v), o->body ? o->body : "(no body)");
    }
    if ((v = json_get(expect, "body_contains")) && (!o->body || !strstr(o->body, json_str(v))))
        return fail(why, n, "body_contains: %s not in %s", json_str(v), o->body ? o->body : "(no body)");
    if ((v = json_get(expect, "events_min")) && o->events < json_int(v))
        return fail(why, n, "events_min: expected at least %lld, got %d", (long long)json_int(v), o->events);
    if ((v = json_get(expect, "events_before_error")) && o->events != json_int(v))
        return fail(why, n, "events_before_error: expected %lld, got %d", (long long)json_int(v), o->events);
    if ((v = json_get(expect, "first_event")) && (!o->first_event || strcmp(o->first_event, json_str(v))))
        return fail(why, n, "first_event: expected %s, got %s", json_str(v), o->first_event ? o->first_event : "none");
    if ((v = json_get(expect, "last_event")) && (!o->last_event || strcmp(o->last_event, json_str(v))))
        return fail(why, n, "last_event: expected %s, got %s", json_str(v), o->last_event ? o->last_event : "none");
    if ((v = json_get(expect, "elapsed_ms_min")) && o->elapsed_ms < (double)json_int(v))
        return fail(why, n, "elapsed_ms_min: expected >= %lld ms, took %.0f ms", (long long)json_int(v), o->elapsed_ms);
    if ((v = json_get(expect, "data_len")) && !check_data_len(v, o, why, n)) return 0;
    if ((v = json_get(expect, "conversation_moved")) &&
        !check_moved(v, o->moved, o->moved_from, o->moved_to, o->moved_copied, "conversation_moved", why, n))
        return 0;
    return 1;
}

/* ---- websocket steps ------------------------------------------------------------------------------------ */

/* What a websocket step saw besides the common outcome. */
typedef struct {
    char **names; /* the event_type of every delivered frame ("binary" for a binary one) */
    int count;
    unsigned close_code;
    int logid;
} ws_seen;

static void ws_seen_free(ws_seen *w) {
    for (int i = 0; i < w->count; i++) free(w->names[i]);
    free(w->names);
    memset(w, 0, sizeof *w);
}

static void ws_note_event(outcome *o, ws_seen *w, const char *name) {
    if (!o->first_event) o->first_event = strdup(name);
    free(o->last_event);
    o->last_event = strdup(name);
    o->events++;
    w->names = realloc(w->names, (size_t)(w->count + 1) * sizeof *w->names);
    w->names[w->count++] = strdup(name);
}

/* The step's query as a JSON object of strings (numbers and booleans as their text), or NULL for none. */
static char *ws_query(const jval *q) {
    if (!q || !q->len) return NULL;
    size_t cap = 16, len = 0;
    char *out = malloc(cap);
    out[len++] = '{';
    for (size_t i = 0; i < q->len; i++) {
        char *dumped = NULL;
        const char *val = json_str(q->items[i]);
        if (!val) val = dumped = json_dump(q->items[i]);
        char *k = json_escaped(q->keys[i]), *v = json_escaped(val);
        size_t need = strlen(k) + strlen(v) + 8;
        if (len + need >= cap) out = realloc(out, cap = (len + need) * 2);
        len += (size_t)sprintf(out + len, "%s\"%s\":\"%s\"", i ? "," : "", k, v);
        free(k), free(v), free(dumped);
    }
    out[len++] = '}';
    out[len] = 0;
    return out;
}

/* Sends one event given as a JSON value; on failure keeps the error in the outcome. */
static int ws_send(cozefallback_websocket *ws, const jval *event, outcome *o) {
    char *text = json_dump(event);
    cozefallback_error *err = NULL;
    cozefallback_status st = cozefallback_websocket_send(ws, text, NULL, &err);
    free(text);
    if (st == COZEFALLBACK_STATUS_OK) return 1;
    o->status = st;
    o->err = err;
    return 0;
}

/* Reads frames until one named `until`, the end or an error; each `on` rule answers a frame of its name. */
static void ws_read(cozefallback_websocket *ws, const jval *rules, const char *until, outcome *o, ws_seen *w) {
    for (;;) {
        cozefallback_ws_event *ev = NULL;
        cozefallback_error *err = NULL;
        cozefallback_status st = cozefallback_websocket_next(ws, NULL, &ev, &err);
        if (st != COZEFALLBACK_STATUS_OK) {
            o->status = st;
            o->err = err;
            return;
        }
        if (!ev) return;
        const char *type = cozefallback_ws_event_type(ev);
        char *name = strdup(type ? type : "binary");
        cozefallback_ws_event_free(ev);
        int ok = 1;
        for (size_t i = 0; ok && rules && i < rules->len; i++)
            if (!strcmp(json_str(json_get(rules->items[i], "event")), name))
                ok = ws_send(ws, json_get(rules->items[i], "send"), o);
        ws_note_event(o, w, name);
        int done = until && !strcmp(name, until);
        free(name);
        if (!ok || done) return;
    }
}

/* Runs one `websocket` call. Returns 0 (with `why`) when the step is malformed. */
static int ws_call(cozefallback_client *client, const jval *spec, outcome *o, ws_seen *w, char *why, size_t n) {
    static const char *const keys[] = {"path", "query", "send", "on", "until", NULL};
    static const char *const rule_keys[] = {"event", "send", NULL};
    memset(o, 0, sizeof *o);
    memset(w, 0, sizeof *w);
    if (!check_keys(spec, keys, "websocket", why, n)) return 0;
    const char *path = json_str(json_get(spec, "path"));
    if (!path) return fail(why, n, "websocket needs a path");
    const jval *send = json_get(spec, "send"), *rules = json_get(spec, "on"), *until = json_get(spec, "until");
    if ((send && send->type != J_ARR) || (rules && rules->type != J_ARR))
        return fail(why, n, "websocket.send and websocket.on must be arrays");
    for (size_t i = 0; rules && i < rules->len; i++) {
        if (!check_keys(rules->items[i], rule_keys, "websocket.on", why, n)) return 0;
        if (!json_str(json_get(rules->items[i], "event")) || !json_get(rules->items[i], "send"))
            return fail(why, n, "websocket.on needs event and send");
    }
    double started = now_ms();
    char *query = ws_query(json_get(spec, "query"));
    cozefallback_websocket *ws = NULL;
    cozefallback_error *err = NULL;
    cozefallback_status st = cozefallback_websocket_open(client, path, query, NULL, &ws, &err);
    free(query);
    if (st != COZEFALLBACK_STATUS_OK) {
        take_error(o, st, err);
        o->elapsed_ms = now_ms() - started;
        return 1;
    }
    /* Sent at once, before the server's first event: held, and replayed on a fallback. */
    int ok = 1;
    for (size_t i = 0; ok && send && i < send->len; i++) ok = ws_send(ws, send->items[i], o);
    if (ok) ws_read(ws, rules, json_str(until), o, w);
    o->credential = cozefallback_websocket_credential(ws);
    o->has_attempts = 1;
    o->attempts = cozefallback_websocket_attempts(ws);
    w->close_code = cozefallback_websocket_close_code(ws);
    char *logid = cozefallback_websocket_logid(ws);
    w->logid = logid != NULL && *logid;
    cozefallback_string_free(logid);
    cozefallback_websocket_close(ws, NULL);
    cozefallback_websocket_free(ws);
    o->elapsed_ms = now_ms() - started;
    return 1;
}

static int ws_check(const jval *expect, const ws_seen *w, char *why, size_t n) {
    const jval *v;
    if ((v = json_get(expect, "events"))) {
        if (v->type != J_ARR) return fail(why, n, "expect.events must be an array of names");
        int same = (size_t)w->count == v->len;
        for (size_t i = 0; same && i < v->len; i++) same = json_str(v->items[i]) && !strcmp(json_str(v->items[i]), w->names[i]);
        if (!same) {
            char got[1024] = "";
            for (int i = 0; i < w->count; i++) {
                size_t l = strlen(got);
                snprintf(got + l, sizeof got - l, "%s%s", i ? " " : "", w->names[i]);
            }
            char *want = json_dump(v);
            fail(why, n, "events: expected %s, got [%s]", want, got);
            free(want);
            return 0;
        }
    }
    if ((v = json_get(expect, "close_code")) && json_int(v) != w->close_code)
        return fail(why, n, "close_code: expected %lld, got %u", (long long)json_int(v), w->close_code);
    if ((v = json_get(expect, "logid")) && (v->type != J_BOOL || v->b != w->logid))
        return fail(why, n, "logid: expected present=%s, got present=%s", v->type == J_BOOL && v->b ? "true" : "false",
                    w->logid ? "true" : "false");
    return 1;
}

/* `expect` without the keys only a websocket step has, for the common check(); frees nothing it borrows. */
static jval ws_common_expect(const jval *expect) {
    jval common = {0};
    common.type = J_OBJ;
    if (!expect || expect->type != J_OBJ) return common;
    common.keys = calloc(expect->len + 1, sizeof *common.keys);
    common.items = calloc(expect->len + 1, sizeof *common.items);
    for (size_t i = 0; i < expect->len; i++) {
        const char *k = expect->keys[i];
        if (!strcmp(k, "events") || !strcmp(k, "close_code") || !strcmp(k, "logid")) continue;
        common.keys[common.len] = expect->keys[i];
        common.items[common.len++] = expect->items[i];
    }
    return common;
}

static int ws_step(cozefallback_client *client, const jval *step, const jval *expect, int times, char *why, size_t n) {
    jval common = ws_common_expect(expect);
    int ok = 1;
    for (int i = 0; ok && i < times; i++) {
        outcome o;
        ws_seen w;
        ok = ws_call(client, json_get(step, "websocket"), &o, &w, why, n) &&
             check(expect ? &common : NULL, &o, why, n) && ws_check(expect, &w, why, n);
        outcome_free(&o);
        ws_seen_free(&w);
    }
    free(common.keys);
    free(common.items);
    return ok;
}

/* Deep equality of two JSON values (numbers by value, objects by key set). */
static int json_equal(const jval *a, const jval *b) {
    if (!a || !b) return (!a || a->type == J_NULL) && (!b || b->type == J_NULL);
    if (a->type != b->type) return 0;
    switch (a->type) {
    case J_NULL: return 1;
    case J_BOOL: return a->b == b->b;
    case J_NUM: return a->num == b->num;
    case J_STR: return !strcmp(a->raw, b->raw);
    case J_ARR:
        if (a->len != b->len) return 0;
        for (size_t i = 0; i < a->len; i++)
            if (!json_equal(a->items[i], b->items[i])) return 0;
        return 1;
    case J_OBJ:
        if (a->len != b->len) return 0;
        for (size_t i = 0; i < a->len; i++)
            if (!json_equal(a->items[i], json_get(b, a->keys[i]))) return 0;
        return 1;
    }
    return 0;
}

/* `field` of every item of the session's `received` list equals the expected list. */
static int ws_received_equal(const jval *want, const jval *received, const char *field) {
    size_t have = received && received->type == J_ARR ? received->len : 0;
    if (!want || want->type != J_ARR || want->len != have) return 0;
    for (size_t i = 0; i < have; i++)
        if (!json_equal(want->items[i], json_get(received->items[i], field))) return 0;
    return 1;
}

static int check_ws_sessions(const jval *want, const jval *got, char *why, size_t n) {
    static const char *const keys[] = {"credential", "outcome", "status", "code", "pong", "received",
                                       "received_ids", NULL};
    if (want->type != J_ARR) return fail(why, n, "websocket_sessions must be an array of objects");
    size_t have = got && got->type == J_ARR ? got->len : 0;
    if (want->len != have) {
        char *dumped = got ? json_dump(got) : NULL;
        fail(why, n, "mock websocket_sessions: expected %zu session(s), got %zu: %s", want->len, have,
             dumped ? dumped : "none");
        free(dumped);
        return 0;
    }
    for (size_t i = 0; i < want->len; i++) {
        const jval *w = want->items[i], *s = got->items[i];
        if (!check_keys(w, keys, "websocket_sessions[]", why, n)) return 0;
        for (size_t k = 0; k < w->len; k++) {
            const char *key = w->keys[k];
            int same = !strcmp(key, "received")       ? ws_received_equal(w->items[k], json_get(s, "received"), "event_type")
                       : !strcmp(key, "received_ids") ? ws_received_equal(w->items[k], json_get(s, "received"), "id")
                                                      : json_equal(w->items[k], json_get(s, key));
            if (!same) {
                char *exp = json_dump(w->items[k]), *act = json_dump(s);
                fail(why, n, "mock websocket_sessions[%zu].%s: expected %s in %s", i, key, exp, act);
                free(exp), free(act);
                return 0;
            }
        }
    }
    return 1;
}

/* The websocket_* keys of expect_mock against the stats' `websocket` object. */
static int check_ws_mock(const jval *want, const jval *stats, char *why, size_t n) {
    const jval *hs = json_get(want, "websocket_handshakes"), *ss = json_get(want, "websocket_sessions");
    for (size_t i = 0; hs && i < hs->len; i++) {
        const char *name = hs->keys[i];
        const jval *got = !strcmp(name, "total") ? json_pointer(stats, "/websocket/handshakes")
                                                 : json_get(json_pointer(stats, "/websocket/by_credential"), name);
        int64_t gv = got ? json_int(got) : 0;
        if (gv != json_int(hs->items[i]))
            return fail(why, n, "mock websocket_handshakes.%s: expected %lld, got %lld", name,
                        (long long)json_int(hs->items[i]), (long long)gv);
    }
    return ss ? check_ws_sessions(ss, json_pointer(stats, "/websocket/sessions"), why, n) : 1;
}

static int check_mock(const jval *want, char *why, size_t n) {
    static const char *const keys[] = {"token_mints", "requests_by_credential", "by_path", "total_requests",
                                       "websocket_handshakes", "websocket_sessions", NULL};
    if (!check_keys(want, keys, "expect_mock", why, n)) return 0;
    char *text = NULL;
    if (mock_http(g_base, "GET", "/__mock/stats", NULL, &text) != 200) { free(text); return fail(why, n, "GET /__mock/stats failed"); }
    jval *stats = json_parse(text, NULL);
    free(text);
    int ok = 1;
    static const char *const groups[][2] = {{"token_mints", "/token_mints"},
                                            {"requests_by_credential", "/requests/by_credential"},
                                            {"by_path", "/requests/by_path"}};
    for (int g = 0; ok && g < 3; g++) {
        const jval *w = json_get(want, groups[g][0]);
        const jval *have = json_pointer(stats, groups[g][1]);
        for (size_t i = 0; ok && w && i < w->len; i++) {
            const jval *got = json_get(have, w->keys[i]);
            int64_t gv = got ? json_int(got) : 0;
            if (gv != json_int(w->items[i]))
                ok = fail(why, n, "mock %s.%s: expected %lld, got %lld", groups[g][0], w->keys[i],
                          (long long)json_int(w->items[i]), (long long)gv);
        }
    }
    const jval *total = json_get(want, "total_requests");
    if (ok && total) {
        int64_t got = json_int(json_pointer(stats, "/requests/total"));
        if (got != json_int(total)) ok = fail(why, n, "mock total_requests: expected %lld, got %lld", (long long)json_int(total), (long long)got);
    }
    if (ok) ok = check_ws_mock(want, stats, why, n);
    json_free(stats);
    return ok;
}

/* ---- OBO: the login, the refresh hook's record, fetch_token and oauth_refresh -------------------------- */

#define OBO_REDIRECT "http://127.0.0.1:9/callback"
#define OBO_REDIRECT_ENCODED "http%3A%2F%2F127.0.0.1%3A9%2Fcallback"

/* One call of the refresh hook. The tokens are kept to compare, never printed. */
typedef struct {
    char *credential, *access, *refresh;
    int future; /* expires_at was in the future when the hook ran */
} refresh_call;

typedef struct {
    pthread_mutex_t mu;
    refresh_call *calls;
    size_t n;
} refresh_log;

static void record_refresh(const char *credential, const char *access_token, const char *refresh_token,
                           uint64_t expires_at, void *user_data) {
    refresh_log *log = user_data;
    pthread_mutex_lock(&log->mu);
    log->calls = realloc(log->calls, (log->n + 1) * sizeof *log->calls);
    log->calls[log->n++] = (refresh_call){strdup(credential ? credential : ""), strdup(access_token ? access_token : ""),
                                          strdup(refresh_token ? refresh_token : ""),
                                          expires_at > (uint64_t)time(NULL)};
    pthread_mutex_unlock(&log->mu);
}

static void refresh_log_free(refresh_log *log) {
    for (size_t i = 0; i < log->n; i++) free(log->calls[i].credential), free(log->calls[i].access), free(log->calls[i].refresh);
    free(log->calls);
    pthread_mutex_destroy(&log->mu);
}

/* The refresh token the last hook call handed over (a new string), or NULL. */
static char *last_hooked_refresh(refresh_log *log) {
    pthread_mutex_lock(&log->mu);
    char *out = log->n ? strdup(log->calls[log->n - 1].refresh) : NULL;
    pthread_mutex_unlock(&log->mu);
    return out;
}

/* `expect_refresh_hook`: the calls in number and order, each with non-empty tokens, a refresh token that
 * rotated (not the configured one, not one handed over before) and a future expiry. */
static int check_refresh_hook(const jval *want, refresh_log *log, const char *configured, char *why, size_t n) {
    static const char *const keys[] = {"credential", NULL};
    if (want->type != J_ARR) return fail(why, n, "expect_refresh_hook must be an array");
    pthread_mutex_lock(&log->mu);
    int ok = want->len == log->n ? 1 : fail(why, n, "refresh hook: expected %zu call(s), got %zu", want->len, log->n);
    for (size_t i = 0; ok && i < log->n; i++) {
        const refresh_call *c = &log->calls[i];
        const char *cred = json_str(json_get(want->items[i], "credential"));
        if (!check_keys(want->items[i], keys, "expect_refresh_hook[]", why, n)) ok = 0;
        else if (cred && strcmp(cred, c->credential))
            ok = fail(why, n, "refresh hook call %zu: credential %s, expected %s", i, c->credential, cred);
        else if (!*c->access || !*c->refresh)
            ok = fail(why, n, "refresh hook call %zu: an empty access or refresh token", i);
        else if (configured && !strcmp(c->refresh, configured))
            ok = fail(why, n, "refresh hook call %zu: the refresh token did not rotate (it is the configured one)", i);
        else if (!c->future)
            ok = fail(why, n, "refresh hook call %zu: expires_at is not in the future", i);
        for (size_t j = 0; ok && j < i; j++)
            if (!strcmp(c->refresh, log->calls[j].refresh))
                ok = fail(why, n, "refresh hook call %zu: the refresh token of call %zu again", i, j);
    }
    pthread_mutex_unlock(&log->mu);
    return ok;
}

/* The value of query parameter `name` in `url` (a new string), or NULL. */
static char *url_param(const char *url, const char *name) {
    size_t len = strlen(name);
    for (const char *p = strstr(url, name); p; p = strstr(p + 1, name)) {
        if ((p[-1] != '?' && p[-1] != '&') || p[len] != '=') continue;
        p += len + 1;
        return strndup(p, strcspn(p, "&#"));
    }
    return NULL;
}

static cozefallback_oauth_app *obo_app(int with_secret, char *why, size_t n) {
    cozefallback_oauth_app *app = NULL;
    cozefallback_error *err = NULL;
    if (cozefallback_oauth_app_new(g_base_url, g_oauth_id, with_secret ? g_oauth_secret : NULL, false, NULL, &app, &err) !=
        COZEFALLBACK_STATUS_OK)
        fail(why, n, "oauth_app_new: %s", cozefallback_error_message(err));
    cozefallback_error_free(err);
    return app;
}

/* A JSON string member of a mock control answer (a new string), or NULL. */
static char *mock_member(const char *path, const char *body, const char *member) {
    char *answer = NULL;
    int st = mock_http(g_base, "POST", path, body, &answer);
    jval *doc = st == 200 && answer ? json_parse(answer, NULL) : NULL;
    const char *v = json_str(json_get(doc, member));
    char *out = v ? strdup(v) : NULL;
    json_free(doc);
    free(answer);
    return out;
}

/* The code and PKCE flows up to the token: the authorize URL's checks, the mock's code, the exchange. */
static cozefallback_status obo_code_login(cozefallback_oauth_app *app, int pkce, cozefallback_oauth_token **tok,
                                          cozefallback_error **err, char *why, size_t n) {
    cozefallback_authorize_url *auth = NULL;
    cozefallback_status st = cozefallback_oauth_app_authorize_url(app, OBO_REDIRECT, NULL, pkce, &auth, err);
    if (st != COZEFALLBACK_STATUS_OK) return st;
    const char *url = cozefallback_authorize_url_url(auth), *verifier = cozefallback_authorize_url_code_verifier(auth);
    char *client = url_param(url, "client_id"), *redirect = url_param(url, "redirect_uri"),
         *state = url_param(url, "state"), *challenge = url_param(url, "code_challenge"),
         *method = url_param(url, "code_challenge_method");
    int url_ok = client && !strcmp(client, g_oauth_id) && redirect && !strcmp(redirect, OBO_REDIRECT_ENCODED) && state &&
                 *state && (!pkce || (challenge && *challenge && method && !strcmp(method, "S256") && verifier && *verifier));
    if (!url_ok) {
        fail(why, n, "obo_login: the authorize URL lacks client_id, redirect_uri, state%s: %s",
             pkce ? " or the S256 challenge" : "", url);
        st = COZEFALLBACK_STATUS_INVALID_ARGUMENT;
    } else {
        char body[512];
        if (pkce)
            snprintf(body, sizeof body,
                     "{\"redirect_uri\":\"" OBO_REDIRECT "\",\"code_challenge\":\"%s\",\"code_challenge_method\":\"S256\"}",
                     challenge);
        else
            snprintf(body, sizeof body, "{\"redirect_uri\":\"" OBO_REDIRECT "\"}");
        char *code = mock_member("/__mock/oauth/code", body, "code");
        st = code ? cozefallback_oauth_app_exchange_code(app, code, OBO_REDIRECT, pkce ? verifier : NULL, NULL, tok, err)
                  : (fail(why, n, "obo_login: the mock issued no code"), COZEFALLBACK_STATUS_INVALID_ARGUMENT);
        free(code);
    }
    free(client), free(redirect), free(state), free(challenge), free(method);
    cozefallback_authorize_url_free(auth);
    return st;
}

/* The device flow up to the token: the code, the mock's approval, the wait. */
static cozefallback_status obo_device_login(cozefallback_oauth_app *app, cozefallback_oauth_token **tok,
                                            cozefallback_error **err, char *why, size_t n) {
    cozefallback_device_code *dc = NULL;
    cozefallback_status st = cozefallback_oauth_app_device_code(app, NULL, NULL, &dc, err);
    if (st != COZEFALLBACK_STATUS_OK) return st;
    const char *user = cozefallback_device_code_user_code(dc);
    if (!user || !*user || !cozefallback_device_code_verification_uri(dc) || !*cozefallback_device_code_device_code(dc)) {
        fail(why, n, "obo_login: the device code lacks a field");
        st = COZEFALLBACK_STATUS_INVALID_ARGUMENT;
    } else {
        char body[256];
        snprintf(body, sizeof body, "{\"user_code\":\"%s\"}", user);
        if (mock_http(g_base, "POST", "/__mock/oauth/device/approve", body, NULL) != 200) {
            fail(why, n, "obo_login: the mock did not approve %s", user);
            st = COZEFALLBACK_STATUS_INVALID_ARGUMENT;
        } else {
            st = cozefallback_oauth_app_wait_device_token(app, cozefallback_device_code_device_code(dc),
                                                          cozefallback_device_code_expires_in(dc),
                                                          cozefallback_device_code_interval(dc), NULL, tok, err);
        }
    }
    cozefallback_device_code_free(dc);
    return st;
}

/* `obo_login`: logs a user in with the C OAuth app and keeps ${OBO_ACCESS_TOKEN} and ${OBO_REFRESH_TOKEN}. */
static int obo_login(const jval *flow, vars_t *vars, char *why, size_t n) {
    const char *name = json_str(flow);
    int code = name && !strcmp(name, "code"), pkce = name && !strcmp(name, "pkce"), device = name && !strcmp(name, "device");
    if (!code && !pkce && !device) return fail(why, n, "obo_login must be code, pkce or device");
    cozefallback_oauth_app *app = obo_app(code, why, n);
    if (!app) return 0;
    cozefallback_oauth_token *tok = NULL;
    cozefallback_error *err = NULL;
    why[0] = 0;
    cozefallback_status st = device ? obo_device_login(app, &tok, &err, why, n) : obo_code_login(app, pkce, &tok, &err, why, n);
    int ok = st == COZEFALLBACK_STATUS_OK;
    if (!ok && !why[0]) fail(why, n, "obo_login %s: %s", name, err ? cozefallback_error_message(err) : "failed");
    const char *access = cozefallback_oauth_token_access_token(tok), *refresh = cozefallback_oauth_token_refresh_token(tok);
    if (ok && (!access || !*access || !refresh || !*refresh)) ok = fail(why, n, "obo_login %s: an empty token", name);
    if (ok) {
        vars_set(vars, "OBO_ACCESS_TOKEN", access);
        vars_set(vars, "OBO_REFRESH_TOKEN", refresh);
    }
    cozefallback_error_free(err);
    cozefallback_oauth_token_free(tok);
    cozefallback_oauth_app_free(app);
    return ok;
}

/* The refresh token of the config's first `oauth` credential (personal, then enterprise; a new string), or NULL. */
static char *configured_refresh(const char *config) {
    jval *doc = json_parse(config, NULL);
    char *out = NULL;
    static const char *const sides[] = {"personal", "enterprise"};
    for (int i = 0; !out && i < 2; i++) {
        const jval *cred = json_get(doc, sides[i]);
        const char *type = json_str(json_get(cred, "type")), *refresh = json_str(json_get(cred, "refresh_token"));
        if (type && !strcmp(type, "oauth")) out = refresh ? strdup(refresh) : NULL;
        if (type && !strcmp(type, "oauth")) break;
    }
    json_free(doc);
    return out;
}

/* `oauth_refresh`: the OAuth app (with the secret) refreshes the hooked or the configured refresh token. */
static void oauth_refresh_call(const char *token, outcome *o, char *why, size_t n) {
    cozefallback_oauth_app *app = obo_app(1, why, n);
    cozefallback_oauth_token *tok = NULL;
    cozefallback_error *err = NULL;
    cozefallback_status st = app ? cozefallback_oauth_app_refresh(app, token, NULL, &tok, &err) : COZEFALLBACK_STATUS_PANIC;
    if (st != COZEFALLBACK_STATUS_OK) {
        take_error(o, st, err);
    } else {
        const char *access = cozefallback_oauth_token_access_token(tok), *refresh = cozefallback_oauth_token_refresh_token(tok);
        o->has_response = access && *access && refresh && *refresh; /* checked by obo_step */
    }
    cozefallback_oauth_token_free(tok);
    cozefallback_oauth_app_free(app);
}

/* ---- the conversation hook ------------------------------------------------------------------------------ */

/* Every call of the hook `expect_hook` checks, in order; the hook may run on several library threads. */
typedef struct {
    char *from, *to;
    unsigned copied;
} hook_call;

typedef struct {
    pthread_mutex_t mu;
    hook_call *calls;
    size_t n;
} hook_log;

static void record_hook(const char *from, const char *to, uint32_t messages_copied, void *user_data) {
    hook_log *log = user_data;
    pthread_mutex_lock(&log->mu);
    log->calls = realloc(log->calls, (log->n + 1) * sizeof *log->calls);
    log->calls[log->n++] = (hook_call){strdup(from), strdup(to), messages_copied};
    pthread_mutex_unlock(&log->mu);
}

static void hook_log_free(hook_log *log) {
    for (size_t i = 0; i < log->n; i++) free(log->calls[i].from), free(log->calls[i].to);
    free(log->calls);
    pthread_mutex_destroy(&log->mu);
}

/* `expect_hook` (substituted with the variables the steps saved) against the recorded calls. */
static int check_hook(const jval *want, hook_log *log, char *why, size_t n) {
    if (want->type != J_ARR) return fail(why, n, "expect_hook must be an array");
    pthread_mutex_lock(&log->mu);
    int ok = 1;
    if (want->len != log->n) ok = fail(why, n, "hook: expected %zu call(s), got %zu", want->len, log->n);
    for (size_t i = 0; ok && i < log->n; i++) {
        const hook_call *c = &log->calls[i];
        char inner[400] = {0};
        if (!check_moved(want->items[i], 1, c->from, c->to, c->copied, "expect_hook[]", inner, sizeof inner))
            ok = fail(why, n, "hook call %zu: %s", i, inner);
    }
    pthread_mutex_unlock(&log->mu);
    return ok;
}

/* Installs the recording conversation and refresh hooks. */
static cozefallback_status install_hooks(cozefallback_client *client, hook_log *hooks, refresh_log *refreshes,
                                         cozefallback_error **err) {
    cozefallback_status st = cozefallback_client_set_conversation_hook(client, record_hook, hooks, err);
    return st == COZEFALLBACK_STATUS_OK ? cozefallback_client_set_refresh_hook(client, record_refresh, refreshes, err) : st;
}

/* A client from the scenario's config with the recording hooks installed. */
static cozefallback_client *scenario_client(const char *config, hook_log *hooks, refresh_log *refreshes, char *why,
                                            size_t n) {
    cozefallback_client *client = NULL;
    cozefallback_error *err = NULL;
    if (cozefallback_client_new(config, &client, &err) != COZEFALLBACK_STATUS_OK ||
        install_hooks(client, hooks, refreshes, &err) != COZEFALLBACK_STATUS_OK) {
        fail(why, n, "client: %s", cozefallback_error_message(err));
        cozefallback_error_free(err);
        cozefallback_client_free(client);
        return NULL;
    }
    return client;
}

/* ---- steps ---------------------------------------------------------------------------------------------- */

/* What the steps of one scenario share: the client (a `new_client` step replaces it), its config, the hook's log. */
typedef struct {
    cozefallback_client *client;
    const char *config;
    hook_log *hooks;
    refresh_log *refreshes;
    const char *configured_refresh; /* the config's OBO refresh token, or NULL */
} scenario_t;

typedef struct {
    cozefallback_client *client;
    const jval *step;
    const jval *expect;
    int ok;
    char why[512];
} worker_t;

static void *concurrent_worker(void *arg) {
    worker_t *w = arg;
    outcome o;
    w->ok = call(w->client, w->step, &o, w->why, sizeof w->why) && check(w->expect, &o, w->why, sizeof w->why);
    outcome_free(&o);
    return NULL;
}

static int save_vars(const jval *save, const outcome *o, vars_t *vars, char *why, size_t n) {
    jval *body = o->body ? json_parse(o->body, NULL) : NULL;
    int ok = 1;
    for (size_t i = 0; ok && save && i < save->len; i++) {
        const jval *v = json_pointer(body, json_str(save->items[i]));
        if (!v) { ok = fail(why, n, "save: %s not in body", json_str(save->items[i])); break; }
        char *dumped = NULL;
        const char *s = json_str(v);
        if (!s) s = dumped = json_dump(v);
        vars_set(vars, save->keys[i], s);
        free(dumped);
    }
    json_free(body);
    return ok;
}

/* `map_conversation`: {"from": ID, "to": ID}. */
static int map_step(cozefallback_client *client, const jval *spec, char *why, size_t n) {
    static const char *const keys[] = {"from", "to", NULL};
    if (!check_keys(spec, keys, "map_conversation", why, n)) return 0;
    const char *from = json_str(json_get(spec, "from")), *to = json_str(json_get(spec, "to"));
    if (!from || !to) return fail(why, n, "map_conversation needs the strings from and to");
    cozefallback_error *err = NULL;
    if (cozefallback_client_map_conversation(client, from, to, &err) != COZEFALLBACK_STATUS_OK) {
        fail(why, n, "map_conversation: %s", cozefallback_error_message(err));
        cozefallback_error_free(err);
        return 0;
    }
    return 1;
}

/* `save_moved_to`: the call's conversation_moved.to as ${NAME}. */
static int save_moved(const jval *name, const outcome *o, vars_t *vars, char *why, size_t n) {
    if (!name) return 1;
    if (!json_str(name)) return fail(why, n, "save_moved_to must be a name");
    if (!o->moved) return fail(why, n, "save_moved_to: the call reported no conversation_moved");
    vars_set(vars, json_str(name), o->moved_to);
    return 1;
}

/* `fetch_token` (the client mints or refreshes now) or `oauth_refresh` (the OAuth app refreshes a token). */
static int obo_step(scenario_t *sc, const jval *step, char *why, size_t n) {
    const jval *expect = json_get(step, "expect"), *kind = json_get(step, "fetch_token");
    outcome o;
    memset(&o, 0, sizeof o);
    int ok = 1;
    if (kind) {
        if (!json_str(kind)) return fail(why, n, "fetch_token must be a credential name");
        cozefallback_error *err = NULL;
        cozefallback_status st = cozefallback_client_fetch_token(sc->client, json_str(kind), NULL, &err);
        if (st != COZEFALLBACK_STATUS_OK) take_error(&o, st, err);
    } else {
        const char *which = json_str(json_get(step, "oauth_refresh"));
        int hooked = which && !strcmp(which, "hooked");
        if (!hooked && !(which && !strcmp(which, "configured"))) return fail(why, n, "oauth_refresh must be hooked or configured");
        char *token = hooked ? last_hooked_refresh(sc->refreshes)
                             : (sc->configured_refresh ? strdup(sc->configured_refresh) : NULL);
        if (!token) return fail(why, n, hooked ? "oauth_refresh hooked: the refresh hook was never called"
                                               : "oauth_refresh configured: no OAuth refresh_token in config");
        why[0] = 0;
        oauth_refresh_call(token, &o, why, n);
        free(token);
        if (why[0]) ok = 0;
        else if (!o.err && !o.has_response) ok = fail(why, n, "oauth_refresh: an empty access or refresh token");
    }
    ok = ok && check(expect, &o, why, n);
    outcome_free(&o);
    return ok;
}

static int run_step(scenario_t *sc, const jval *step, vars_t *vars, char *why, size_t n) {
    static const char *const keys[] = {"request", "stream", "upload", "concurrent", "repeat", "set_mode",
                                       "mock", "sleep_ms", "expect", "save", "websocket", "save_moved_to",
                                       "map_conversation", "new_client", "fetch_token", "oauth_refresh", NULL};
    if (!check_keys(step, keys, "step", why, n)) return 0;
    cozefallback_client *client = sc->client;
    const jval *expect = json_get(step, "expect"), *v;
    if ((v = json_get(step, "map_conversation"))) return map_step(client, v, why, n);
    if (json_get(step, "fetch_token") || json_get(step, "oauth_refresh")) return obo_step(sc, step, why, n);
    if ((v = json_get(step, "new_client"))) {
        if (v->type != J_BOOL || !v->b) return fail(why, n, "new_client must be true");
        /* An app restart: a fresh client from the same config knows no conversation binding. */
        cozefallback_client *fresh = scenario_client(sc->config, sc->hooks, sc->refreshes, why, n);
        if (!fresh) return 0;
        cozefallback_client_free(sc->client);
        sc->client = fresh;
        return 1;
    }
    if (json_get(step, "websocket")) {
        int times = (v = json_get(step, "repeat")) ? (int)json_int(v) : 1;
        return ws_step(client, step, expect, times, why, n);
    }
    if ((v = json_get(step, "set_mode"))) {
        cozefallback_error *err = NULL;
        if (cozefallback_client_set_mode(client, json_str(v), &err) != COZEFALLBACK_STATUS_OK) {
            fail(why, n, "set_mode: %s", cozefallback_error_message(err));
            cozefallback_error_free(err);
            return 0;
        }
        return 1;
    }
    if ((v = json_get(step, "mock"))) {
        char *body = json_dump(v);
        int st = mock_http(g_base, "POST", "/__mock/state", body, NULL);
        free(body);
        return st == 200 ? 1 : fail(why, n, "POST /__mock/state answered %d", st);
    }
    if ((v = json_get(step, "sleep_ms"))) {
        usleep((useconds_t)json_int(v) * 1000);
        return 1;
    }
    if ((v = json_get(step, "concurrent"))) {
        int count = (int)json_int(v);
        worker_t *workers = calloc((size_t)count, sizeof *workers);
        pthread_t *threads = calloc((size_t)count, sizeof *threads);
        for (int i = 0; i < count; i++) {
            workers[i] = (worker_t){client, step, expect, 0, {0}};
            pthread_create(&threads[i], NULL, concurrent_worker, &workers[i]);
        }
        int ok = 1;
        for (int i = 0; i < count; i++) {
            pthread_join(threads[i], NULL);
            if (ok && !workers[i].ok) ok = fail(why, n, "concurrent call %d: %s", i, workers[i].why);
        }
        free(workers);
        free(threads);
        return ok;
    }
    int times = (v = json_get(step, "repeat")) ? (int)json_int(v) : 1;
    for (int i = 0; i < times; i++) {
        outcome o;
        int ok = call(client, step, &o, why, n) && check(expect, &o, why, n) &&
                 save_moved(json_get(step, "save_moved_to"), &o, vars, why, n) &&
                 save_vars(json_get(step, "save"), &o, vars, why, n);
        outcome_free(&o);
        if (!ok) return 0;
    }
    return 1;
}

/* ---- scenarios ------------------------------------------------------------------------------------------ */

static int run_scenario(const char *path, const vars_t *base_vars, char *why, size_t n) {
    char *raw = read_file(path);
    if (!raw) return fail(why, n, "cannot read %s", path);
    char *text = substitute(raw, base_vars);
    free(raw);
    const char *perr = NULL;
    jval *sc = json_parse(text, &perr);
    free(text);
    if (!sc) return fail(why, n, "bad scenario JSON: %s", perr);
    static const char *const keys[] = {"name", "description", "mock", "config", "steps", "expect_mock",
                                       "expect_config_error", "expect_hook", "obo_login", "expect_refresh_hook", NULL};
    int ok = check_keys(sc, keys, "scenario", why, n);
    vars_t vars = {0};
    for (int i = 0; i < base_vars->n; i++) {
        vars.name[i] = strdup(base_vars->name[i]);
        vars.value[i] = strdup(base_vars->value[i]);
    }
    vars.n = base_vars->n;
    cozefallback_client *client = NULL;
    char *config = NULL;
    hook_log hooks = {.mu = PTHREAD_MUTEX_INITIALIZER};
    refresh_log refreshes = {.mu = PTHREAD_MUTEX_INITIALIZER};
    char *refresh_configured = NULL;
    if (ok && mock_http(g_base, "POST", "/__mock/reset", "{}", NULL) != 200) ok = fail(why, n, "mock reset failed");
    const jval *mock = json_get(sc, "mock");
    if (ok && mock) {
        char *body = json_dump(mock);
        if (mock_http(g_base, "POST", "/__mock/state", body, NULL) != 200) ok = fail(why, n, "mock state refused");
        free(body);
    }
    const jval *login = json_get(sc, "obo_login");
    if (ok && login) ok = obo_login(login, &vars, why, n);
    if (ok) {
        /* Substituted again: an obo_login's tokens are ${OBO_ACCESS_TOKEN} and ${OBO_REFRESH_TOKEN}. */
        char *dumped = json_dump(json_get(sc, "config"));
        config = substitute(dumped, &vars);
        free(dumped);
        refresh_configured = configured_refresh(config);
        cozefallback_error *err = NULL;
        cozefallback_status st = cozefallback_client_new(config, &client, &err);
        const jval *want = json_get(sc, "expect_config_error");
        if (want) {
            static const char *const ckeys[] = {"message_contains", NULL};
            if (!check_keys(want, ckeys, "expect_config_error", why, n)) ok = 0;
            else if (st == COZEFALLBACK_STATUS_OK) ok = fail(why, n, "expected a config error, the client was built");
            else if (st != COZEFALLBACK_STATUS_CONFIG || client != NULL)
                ok = fail(why, n, "expected a config error, got %s: %s", cozefallback_error_kind_name(err),
                          cozefallback_error_message(err));
            else {
                const jval *parts = json_get(want, "message_contains");
                for (size_t i = 0; ok && parts && i < parts->len; i++)
                    if (!strstr(cozefallback_error_message(err), json_str(parts->items[i])))
                        ok = fail(why, n, "config error \"%s\" does not mention \"%s\"", cozefallback_error_message(err),
                                  json_str(parts->items[i]));
            }
            cozefallback_error_free(err);
            cozefallback_client_free(client);
            free(config);
            free(refresh_configured);
            json_free(sc);
            vars_free(&vars);
            hook_log_free(&hooks);
            refresh_log_free(&refreshes);
            return ok;
        }
        if (st != COZEFALLBACK_STATUS_OK) {
            ok = fail(why, n, "client: %s", cozefallback_error_message(err));
            cozefallback_error_free(err);
        } else if (install_hooks(client, &hooks, &refreshes, &err) != COZEFALLBACK_STATUS_OK) {
            ok = fail(why, n, "installing the hooks: %s", cozefallback_error_message(err));
            cozefallback_error_free(err);
        }
    }
    scenario_t state = {client, config, &hooks, &refreshes, refresh_configured};
    const jval *steps = json_get(sc, "steps");
    for (size_t i = 0; ok && steps && i < steps->len; i++) {
        char *step_text = json_dump(steps->items[i]);
        char *subst = substitute(step_text, &vars);
        free(step_text);
        jval *step = json_parse(subst, NULL);
        free(subst);
        char inner[512] = {0};
        if (!step || !run_step(&state, step, &vars, inner, sizeof inner)) ok = fail(why, n, "step %zu: %s", i, inner);
        json_free(step);
    }
    const jval *want_mock = json_get(sc, "expect_mock");
    if (ok && want_mock) ok = check_mock(want_mock, why, n);
    const jval *want_hook = json_get(sc, "expect_hook");
    if (ok && want_hook) {
        /* Substituted now: it names ids the steps saved (`save_moved_to`). */
        char *dumped = json_dump(want_hook), *subst = substitute(dumped, &vars);
        jval *want = json_parse(subst, NULL);
        ok = want ? check_hook(want, &hooks, why, n) : fail(why, n, "expect_hook is not JSON after substitution");
        json_free(want);
        free(dumped), free(subst);
    }
    const jval *want_refresh = json_get(sc, "expect_refresh_hook");
    if (ok && want_refresh) ok = check_refresh_hook(want_refresh, &refreshes, refresh_configured, why, n);
    cozefallback_client_free(state.client);
    free(config);
    free(refresh_configured);
    json_free(sc);
    vars_free(&vars);
    hook_log_free(&hooks);
    refresh_log_free(&refreshes);
    return ok;
}

static void info_vars(const jval *info, vars_t *vars) {
    static const char *const map[][2] = {
        {"BASE_URL", "/base_url"},           {"PERSONAL_PAT", "/personal_pat"},
        {"ENTERPRISE_PAT", "/enterprise_pat"}, {"JWT_CLIENT_ID", "/jwt_client_id"},
        {"JWT_KID", "/jwt_kid"},             {"JWT_PRIVATE_KEY_FILE", "/private_key_file"},
        {"JWT_PRIVATE_KEY", "/private_key_pem"}, {"ACCOUNT_ID", "/account_id"},
        {"ENTERPRISE_ID", "/enterprise_id"}, {"OAUTH_CLIENT_ID", "/oauth_client_id"},
        {"OAUTH_CLIENT_SECRET", "/oauth_client_secret"}, {"BOT_1", "/bots/0"},
        {"BOT_2", "/bots/1"},                {"BOT_3", "/bots/2"},
        {"ENTERPRISE_BOT", "/enterprise_bot"}, {"WORKFLOW", "/workflow_id"},
        {"WORKSPACE", "/workspace_id"},
    };
    for (size_t i = 0; i < sizeof map / sizeof map[0]; i++) {
        const jval *v = json_pointer(info, map[i][1]);
        if (!v) continue;
        char *dumped = NULL;
        const char *s = json_str(v);
        if (!s) s = dumped = json_dump(v);
        vars_set(vars, map[i][0], s);
        free(dumped);
    }
}

int main(int argc, char **argv) {
    const char *dir = argc > 1 ? argv[1] : "tests/scenarios";
    const char *only = argc > 2 ? argv[2] : NULL;
    g_base = getenv("COZE_MOCK_URL");
    if (!g_base) { fprintf(stderr, "set COZE_MOCK_URL to the mock's base URL\n"); return 2; }
    char *info_text = NULL;
    if (mock_http(g_base, "GET", "/__mock/info", NULL, &info_text) != 200) {
        fprintf(stderr, "cannot reach the mock at %s\n", g_base);
        free(info_text);
        return 2;
    }
    jval *info = json_parse(info_text, NULL);
    free(info_text);
    vars_t vars = {0};
    info_vars(info, &vars);
    static const struct { char *dst; size_t size; const char *ptr; } raw[] = {
        {g_base_url, sizeof g_base_url, "/base_url"},
        {g_oauth_id, sizeof g_oauth_id, "/oauth_client_id"},
        {g_oauth_secret, sizeof g_oauth_secret, "/oauth_client_secret"},
    };
    for (size_t i = 0; i < sizeof raw / sizeof raw[0]; i++) {
        const char *v = json_str(json_pointer(info, raw[i].ptr));
        snprintf(raw[i].dst, raw[i].size, "%s", v ? v : "");
    }
    json_free(info);

    /* The top-level scenarios, then the WebSocket ones (tests/scenarios/websocket/), the conversation ones
     * (tests/scenarios/conversations/) and the OBO ones (tests/scenarios/obo/). */
    static const char *const folders[] = {"", "websocket/", "conversations/", "obo/"};
    glob_t g;
    memset(&g, 0, sizeof g);
    int passed = 0, failed = 0, found = 0;
    for (size_t f = 0; f < sizeof folders / sizeof folders[0]; f++) {
        char pattern[4096];
        snprintf(pattern, sizeof pattern, "%s/%s*.json", dir, folders[f]);
        found |= glob(pattern, found ? GLOB_APPEND : 0, NULL, &g) == 0;
    }
    if (found) {
        for (size_t i = 0; i < g.gl_pathc; i++) {
            const char *path = g.gl_pathv[i];
            if (only && !strstr(path, only)) continue;
            const char *name = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
            if (strstr(path, "/websocket/")) name -= strlen("websocket/");
            if (strstr(path, "/conversations/")) name -= strlen("conversations/");
            if (strstr(path, "/obo/")) name -= strlen("obo/");
            char why[1024] = {0};
            if (run_scenario(path, &vars, why, sizeof why)) {
                passed++;
                printf("ok   %s\n", name);
            } else {
                failed++;
                printf("FAIL %s: %s\n", name, why);
            }
            fflush(stdout);
        }
        globfree(&g);
    }
    vars_free(&vars);
    if (passed + failed == 0) fprintf(stderr, "no scenario found in %s\n", dir);
    printf("%d passed, %d failed\n", passed, failed);
    return failed || passed + failed == 0 ? 1 : 0;
}
