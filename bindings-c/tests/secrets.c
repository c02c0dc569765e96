/*
 * Secret scan of everything C code can see, from a run that touches every path: the message (and Coze message,
 * OAuth error, field, authorize URL, log id, failed answer) of every error kind the library can be made to
 * give (config errors with secrets in them, API, auth, re-authorization, transport, timeout, stream
 * interrupted, cancelled, invalid argument), responses, events, metrics JSON and Prometheus text. None may
 * hold a PAT, access or refresh token, JWT, private key material or client secret: the known secrets (the mock
 * info's, a wrong PAT, an OBO token pair, a client secret and a key body in bad configs) and token-shaped text
 * ((pat_|czs_|czu_|czr_|eyJ) followed by an alphanumeric). The same rules as core/tests/secret_scan.rs and the
 * Go, Python and Node scans.
 *
 * Needs the mock (COZE_MOCK_URL). Prints what failed and a final "secrets: N passed, M failed"; exits 1 on a
 * leak or a failed step.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cozefallback.h"
#include "json.h"
#include "mockhttp.h"

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

static const char *g_base;
static jval *g_info;
static char *g_pem_json; /* the private key PEM as a JSON string literal */

/* Everything collected for the scan. */
static char **g_seen;
static size_t g_nseen, g_capseen;
static int g_kinds[16]; /* error kinds seen */

static void see(const char *text) {
    if (!text) return;
    if (g_nseen == g_capseen) {
        g_capseen = g_capseen ? g_capseen * 2 : 64;
        g_seen = realloc(g_seen, g_capseen * sizeof *g_seen);
    }
    g_seen[g_nseen++] = strdup(text);
}

static const char *info(const char *key) { return json_str(json_get(g_info, key)); }
static const char *bot0(void) { return json_str(json_pointer(g_info, "/bots/0")); }

static void see_response(const cozefallback_response *r) {
    if (!r) return;
    see((const char *)cozefallback_response_body(r, NULL));
    see(cozefallback_response_logid(r));
    see(cozefallback_response_credential(r));
    for (size_t i = 0; i < cozefallback_response_header_count(r); i++) {
        see(cozefallback_response_header_name(r, i));
        see(cozefallback_response_header_value(r, i));
    }
}

/* Everything an error exposes, its previous error's too; frees it. */
static void see_error_fields(const cozefallback_error *e) {
    if (!e) return;
    g_kinds[cozefallback_error_kind(e) & 15]++;
    see(cozefallback_error_message(e));
    see(cozefallback_error_kind_name(e));
    see(cozefallback_error_coze_message(e));
    see(cozefallback_error_oauth_error(e));
    see(cozefallback_error_field(e));
    see(cozefallback_error_authorize_url(e));
    see(cozefallback_error_logid(e));
    see(cozefallback_error_credential(e));
    see_response(cozefallback_error_response(e));
    char *form = cozefallback_error_to_json(e); /* the JSON form other bindings build their errors from */
    see(form);
    cozefallback_string_free(form);
    see_error_fields(cozefallback_error_previous(e));
}

static void see_error(cozefallback_error *e) {
    see_error_fields(e);
    cozefallback_error_free(e);
}

static void see_metrics(const cozefallback_client *c) {
    char *text = NULL;
    CHECK(cozefallback_client_metrics_json(c, &text, NULL) == COZEFALLBACK_STATUS_OK && text, "metrics JSON");
    see(text);
    cozefallback_string_free(text);
    text = NULL;
    CHECK(cozefallback_client_metrics_prometheus(c, &text, NULL) == COZEFALLBACK_STATUS_OK && text, "metrics text");
    see(text);
    cozefallback_string_free(text);
}

static cozefallback_client *client_or_die(const char *config) {
    cozefallback_client *c = NULL;
    cozefallback_error *err = NULL;
    if (cozefallback_client_new(config, &c, &err) != COZEFALLBACK_STATUS_OK) {
        printf("FAIL cannot build a client: %s\n", cozefallback_error_message(err));
        exit(1);
    }
    return c;
}

static cozefallback_request *request(const char *method, const char *path, const char *json_body) {
    cozefallback_request *req = NULL;
    cozefallback_request_new(method, path, &req, NULL);
    if (json_body)
        cozefallback_request_set_body(req, (const uint8_t *)json_body, strlen(json_body), "application/json", NULL);
    return req;
}

static char *chat_body(int stream) {
    char *b = NULL;
    if (asprintf(&b,
                 "{\"bot_id\":\"%s\",\"user_id\":\"u\",\"stream\":%s,"
                 "\"additional_messages\":[{\"role\":\"user\",\"content\":\"hi\",\"content_type\":\"text\"}]}",
                 bot0(), stream ? "true" : "false") < 0)
        exit(2);
    return b;
}

static char *bot_path(const char *bot) {
    char *p = NULL;
    if (asprintf(&p, "/v1/bots/%s", bot) < 0) exit(2);
    return p;
}

/* Sends req on c: expects a failure of kind `want` (0: any failure) and scans it; returns the status. */
static cozefallback_status expect_failure(const cozefallback_client *c, const cozefallback_request *req,
                                          const cozefallback_cancel_token *tok, cozefallback_status want,
                                          const char *what) {
    cozefallback_response *resp = NULL;
    cozefallback_error *err = NULL;
    cozefallback_status st = cozefallback_client_send(c, req, tok, &resp, &err);
    CHECK(st != COZEFALLBACK_STATUS_OK && (!want || st == want), "%s: status %s (%s)", what,
          cozefallback_status_name((int32_t)st), err ? cozefallback_error_message(err) : "");
    cozefallback_response_free(resp);
    see_error(err);
    return st;
}

static void mock_state(const char *patch) {
    CHECK(mock_http(g_base, "POST", "/__mock/state", patch, NULL) == 200, "mock state %s", patch);
}

static void mock_reset(void) { CHECK(mock_http(g_base, "POST", "/__mock/reset", "{}", NULL) == 200, "mock reset"); }

/* PAT personal -> JWT enterprise across the move: response, stream, upload, an API error with a previous. */
static void run_happy_paths(void) {
    char *config = NULL;
    if (asprintf(&config,
                 "{\"base_url\":\"%s\",\"personal\":{\"type\":\"pat\",\"token\":\"%s\"},"
                 "\"enterprise\":{\"type\":\"jwt\",\"client_id\":\"%s\",\"private_key\":%s,\"public_key_id\":\"%s\","
                 "\"enterprise_id\":\"%s\"},\"retry\":{\"base_delay_ms\":5,\"max_delay_ms\":50}}",
                 g_base, info("personal_pat"), info("jwt_client_id"), g_pem_json, info("jwt_kid"),
                 info("enterprise_id")) < 0)
        exit(2);
    cozefallback_client *c = client_or_die(config);
    free(config);
    char *path = bot_path(bot0());
    cozefallback_request *req = request("GET", path, NULL);
    cozefallback_response *resp = NULL;
    cozefallback_error *err = NULL;
    CHECK(cozefallback_client_send(c, req, NULL, &resp, &err) == COZEFALLBACK_STATUS_OK, "GET bot (personal)");
    see_response(resp);
    cozefallback_response_free(resp);
    see_error(err);

    mock_state("{\"moved\":true}");
    char *body = chat_body(1);
    cozefallback_request *sreq = request("POST", "/v3/chat", body);
    free(body);
    cozefallback_stream *s = NULL;
    CHECK(cozefallback_stream_open(c, sreq, NULL, &s, &err) == COZEFALLBACK_STATUS_OK, "stream after the move");
    see_error(err);
    see(cozefallback_stream_logid(s));
    cozefallback_event *ev = NULL;
    int events = 0;
    while (cozefallback_stream_next(s, NULL, &ev, NULL) == COZEFALLBACK_STATUS_OK && ev) {
        see(cozefallback_event_name(ev));
        see(cozefallback_event_data(ev));
        see(cozefallback_event_id(ev));
        cozefallback_event_free(ev);
        events++;
    }
    CHECK(events == 7, "the stream gives 7 events (%d)", events);
    cozefallback_stream_free(s);
    cozefallback_request_free(sreq);

    CHECK(cozefallback_client_upload_bytes(c, "/v1/files/upload", (const uint8_t *)"hello", 5, "a.txt", NULL, &resp,
                                           &err) == COZEFALLBACK_STATUS_OK,
          "upload");
    see_response(resp);
    cozefallback_response_free(resp);
    see_error(err);

    /* An unknown bot: API 4200 on both credentials, with the previous error. */
    cozefallback_request *bad = request("GET", "/v1/bots/7350000000000000777", NULL);
    expect_failure(c, bad, NULL, COZEFALLBACK_STATUS_API, "unknown bot");
    cozefallback_request_free(bad);
    /* A routing mode that does not exist: CONFIG from a live client. */
    CHECK(cozefallback_client_set_mode(c, "sideways", &err) == COZEFALLBACK_STATUS_CONFIG, "set_mode(sideways)");
    see_error(err);
    /* A pre-cancelled call: CANCELLED. */
    cozefallback_cancel_token *tok = NULL;
    cozefallback_cancel_token_new(&tok, NULL);
    cozefallback_cancel_token_cancel(tok, NULL);
    expect_failure(c, req, tok, COZEFALLBACK_STATUS_CANCELLED, "cancelled call");
    cozefallback_cancel_token_free(tok);
    /* Invalid arguments. */
    CHECK(cozefallback_client_send(c, NULL, NULL, &resp, &err) == COZEFALLBACK_STATUS_INVALID_ARGUMENT, "send(NULL)");
    see_error(err);
    CHECK(cozefallback_client_upload_file(c, "/v1/files/upload", "/nonexistent/upload.txt", NULL, &resp, &err) ==
              COZEFALLBACK_STATUS_INVALID_ARGUMENT,
          "upload of a missing file");
    see_error(err);
    see_metrics(c);
    cozefallback_request_free(req);
    free(path);
    cozefallback_client_free(c);
}

/* A personal token Coze refuses, a base nothing listens on. */
static void run_refused(void) {
    char *config = NULL;
    if (asprintf(&config, "{\"base_url\":\"%s\",\"personal\":{\"type\":\"pat\",\"token\":\"pat_leakme123456\"}}",
                 g_base) < 0)
        exit(2);
    cozefallback_client *c = client_or_die(config);
    free(config);
    char *path = bot_path(bot0());
    cozefallback_request *req = request("GET", path, NULL);
    expect_failure(c, req, NULL, 0, "a wrong PAT");
    see_metrics(c);
    cozefallback_client_free(c);

    c = client_or_die("{\"base_url\":\"http://127.0.0.1:1\",\"personal\":{\"type\":\"pat\",\"token\":"
                      "\"pat_leakme123456\"},\"retry\":{\"max_retries\":0}}");
    expect_failure(c, req, NULL, COZEFALLBACK_STATUS_TRANSPORT, "connection refused");
    cozefallback_client_free(c);
    cozefallback_request_free(req);
    free(path);
}

/* A failing token endpoint (JWT app: signing is slow under valgrind, so one credential), a reset, a 502, a hang
 * and a cut stream (PATs). */
static void run_faults(void) {
    char *jwt = NULL, *pat = NULL;
    if (asprintf(&jwt,
                 "{\"base_url\":\"%s\",\"mode\":\"personal_only\","
                 "\"personal\":{\"type\":\"jwt\",\"client_id\":\"%s\",\"private_key\":%s,\"public_key_id\":\"%s\",\"account_id\":\"%s\"},"
                 "\"retry\":{\"max_retries\":1,\"base_delay_ms\":5,\"max_delay_ms\":10}}",
                 g_base, info("jwt_client_id"), g_pem_json, info("jwt_kid"), info("account_id")) < 0 ||
        asprintf(&pat,
                 "{\"base_url\":\"%s\",\"personal\":{\"type\":\"pat\",\"token\":\"%s\"},"
                 "\"enterprise\":{\"type\":\"pat\",\"token\":\"%s\"},"
                 "\"retry\":{\"max_retries\":1,\"base_delay_ms\":5,\"max_delay_ms\":10}}",
                 g_base, info("personal_pat"), info("enterprise_pat")) < 0)
        exit(2);
    char *path = bot_path(bot0());
    static const struct {
        const char *fault;
        cozefallback_status want;
        const char *method;
        int timeout_ms;
        int use_jwt;
    } cases[] = {
        {"{\"faults\":[{\"path\":\"/api/permission/oauth2/\",\"action\":{\"type\":\"oauth_error\",\"error\":\"invalid_client\","
         "\"http_status\":401}}]}", COZEFALLBACK_STATUS_AUTH, "GET", 0, 1},
        {"{\"faults\":[{\"path\":\"/api/permission/oauth2/\",\"action\":{\"type\":\"http\",\"http_status\":503,\"body\":\"busy\","
         "\"content_type\":\"text/plain\"}}]}", COZEFALLBACK_STATUS_AUTH, "GET", 0, 1},
        {"{\"faults\":[{\"path\":\"/v1/bots/\",\"action\":{\"type\":\"reset\"}}]}", COZEFALLBACK_STATUS_TRANSPORT, "POST", 0, 0},
        {"{\"faults\":[{\"path\":\"/v1/bots/\",\"action\":{\"type\":\"http\",\"http_status\":502,\"body\":\"<html>bad gateway</html>\","
         "\"content_type\":\"text/html\"}}]}", COZEFALLBACK_STATUS_API, "GET", 0, 0},
        {"{\"faults\":[{\"path\":\"/v1/bots/\",\"action\":{\"type\":\"hang\"}}]}", COZEFALLBACK_STATUS_TIMEOUT, "GET", 300, 0},
    };
    /* One client of each kind for every case (building a client is slow under valgrind). */
    cozefallback_client *jwt_client = client_or_die(jwt), *c = client_or_die(pat);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        mock_reset();
        mock_state(cases[i].fault);
        cozefallback_request *req = request(cases[i].method, path, NULL);
        if (cases[i].timeout_ms) cozefallback_request_set_timeout_ms(req, (uint64_t)cases[i].timeout_ms, NULL);
        expect_failure(cases[i].use_jwt ? jwt_client : c, req, NULL, cases[i].want, cases[i].fault);
        cozefallback_request_free(req);
    }
    see_metrics(jwt_client);
    cozefallback_client_free(jwt_client);
    mock_reset();

    /* A stream cut after two events: STREAM_INTERRUPTED. */
    mock_state("{\"faults\":[{\"path\":\"/v3/chat\",\"credential\":\"personal\",\"action\":{\"type\":\"truncate_stream\","
               "\"after_events\":2}}]}");
    char *body = chat_body(1);
    cozefallback_request *sreq = request("POST", "/v3/chat", body);
    free(body);
    cozefallback_stream *s = NULL;
    cozefallback_error *err = NULL;
    cozefallback_status st = cozefallback_stream_open(c, sreq, NULL, &s, &err);
    see_error(err);
    err = NULL;
    cozefallback_event *ev = NULL;
    while (st == COZEFALLBACK_STATUS_OK && (st = cozefallback_stream_next(s, NULL, &ev, &err)) == COZEFALLBACK_STATUS_OK && ev)
        cozefallback_event_free(ev);
    CHECK(st == COZEFALLBACK_STATUS_STREAM_INTERRUPTED, "a cut stream: %s", cozefallback_status_name((int32_t)st));
    see_error(err);
    cozefallback_stream_free(s);
    cozefallback_request_free(sreq);
    see_metrics(c);
    cozefallback_client_free(c);
    mock_reset();
    free(path);
    free(jwt);
    free(pat);
}

/* OBO: a user token rejected, refreshed, rejected again: REAUTH_REQUIRED. Returns the token pair (to scan for). */
static void run_obo(char **access, char **refresh) {
    const char *redirect = "http://127.0.0.1/cb";
    const char *verifier = "vvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvv";
    char *req_body = NULL, *text = NULL;
    if (asprintf(&req_body, "{\"redirect_uri\":\"%s\",\"code_challenge\":\"%s\",\"code_challenge_method\":\"plain\"}",
                 redirect, verifier) < 0)
        exit(2);
    CHECK(mock_http(g_base, "POST", "/__mock/oauth/code", req_body, &text) == 200, "OBO code");
    free(req_body);
    jval *code = json_parse(text ? text : "", NULL);
    free(text);
    text = NULL;
    if (asprintf(&req_body,
                 "{\"grant_type\":\"authorization_code\",\"client_id\":\"%s\",\"code\":\"%s\",\"redirect_uri\":\"%s\","
                 "\"code_verifier\":\"%s\"}",
                 info("oauth_client_id"), json_str(json_get(code, "code")), redirect, verifier) < 0)
        exit(2);
    json_free(code);
    CHECK(mock_http(g_base, "POST", "/api/permission/oauth2/token", req_body, &text) == 200, "OBO code exchange");
    free(req_body);
    jval *tokens = json_parse(text ? text : "", NULL);
    free(text);
    *access = strdup(json_str(json_get(tokens, "access_token")) ? json_str(json_get(tokens, "access_token")) : "?");
    *refresh = strdup(json_str(json_get(tokens, "refresh_token")) ? json_str(json_get(tokens, "refresh_token")) : "?");
    json_free(tokens);

    char *config = NULL;
    if (asprintf(&config,
                 "{\"base_url\":\"%s\",\"mode\":\"personal_only\",\"personal\":{\"type\":\"oauth\",\"client_id\":\"%s\","
                 "\"client_secret\":\"%s\",\"access_token\":\"%s\",\"refresh_token\":\"%s\",\"redirect_uri\":\"%s\"}}",
                 g_base, info("oauth_client_id"), info("oauth_client_secret"), *access, *refresh, redirect) < 0)
        exit(2);
    cozefallback_client *c = client_or_die(config);
    free(config);
    mock_state("{\"faults\":[{\"path\":\"/v1/bots/\",\"credential\":\"personal\",\"action\":{\"type\":\"error\","
               "\"code\":4100,\"http_status\":401}}]}");
    char *path = bot_path(bot0());
    cozefallback_request *req = request("GET", path, NULL);
    expect_failure(c, req, NULL, COZEFALLBACK_STATUS_REAUTH_REQUIRED, "OBO token rejected after a refresh");
    see_metrics(c);
    cozefallback_request_free(req);
    free(path);
    cozefallback_client_free(c);
    mock_reset();
}

/* Bad configs, each holding a secret: CONFIG errors that must not echo it. */
static void run_bad_configs(void) {
    char *https = NULL;
    if (asprintf(&https, "{\"base_url\":\"http://coze.example.com\",\"personal\":{\"type\":\"pat\",\"token\":\"%s\"}}",
                 info("personal_pat")) < 0)
        exit(2);
    const char *bad[] = {
        "{\"personal\":{\"type\":\"pat\",\"token\":\"pat_leak\\nme\"}}",
        "{\"personal\":{\"type\":\"oauth\",\"client_id\":\"1\",\"client_secret\":\"supersecret\",\"access_token\":\"\"}}",
        "{\"personal\":{\"type\":\"jwt\",\"client_id\":\"1\",\"public_key_id\":\"k\",\"private_key\":"
        "\"-----BEGIN PRIVATE KEY-----\\nMIIEsecretbody\\n-----END PRIVATE KEY-----\\n\"}}",
        "{\"personal\":{\"type\":\"pat\",\"token\":\"pat_leakme123456\",\"bogus\":\"pat_leakme123456\"}}",
        "{\"personal\":{\"type\":\"pat\",\"token\":\"pat_leakme123456\"},\"enterprise\":{\"type\":\"oauth\","
        "\"client_id\":\"1\",\"client_secret\":\"supersecret\"}}",
        "{\"personal\":{\"type\":\"pat\",\"token\":\"pat_leakme123456\"} trailing",
        https,
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        cozefallback_client *c = NULL;
        cozefallback_error *err = NULL;
        cozefallback_status st = cozefallback_client_new(bad[i], &c, &err);
        CHECK(st == COZEFALLBACK_STATUS_CONFIG && !c, "bad config %zu -> CONFIG (%s)", i,
              cozefallback_status_name((int32_t)st));
        cozefallback_client_free(c);
        see_error(err);
    }
    free(https);
}

/* The leaks in text: known secrets, token-shaped text, private key material. */
static int leaks(const char *text, const char *const *known, size_t nknown, char *why, size_t whylen) {
    int n = 0;
    why[0] = 0;
    for (size_t i = 0; i < nknown; i++) {
        if (known[i] && known[i][0] && strstr(text, known[i])) {
            n++;
            snprintf(why + strlen(why), whylen - strlen(why), "[%.10s...] ", known[i]);
        }
    }
    static const char *prefixes[] = {"pat_", "czs_", "czu_", "czr_", "eyJ"};
    for (size_t p = 0; p < 5; p++) {
        size_t len = strlen(prefixes[p]);
        for (const char *at = strstr(text, prefixes[p]); at; at = strstr(at + 1, prefixes[p])) {
            char c = at[len];
            if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) {
                n++;
                snprintf(why + strlen(why), whylen - strlen(why), "[%.*s...] ", (int)len + 6, at);
            }
        }
    }
    if (strstr(text, "PRIVATE KEY") && !strstr(text, "[PEM redacted]")) {
        n++;
        snprintf(why + strlen(why), whylen - strlen(why), "[PEM] ");
    }
    return n;
}

static void test_scanner(void) {
    char why[256];
    const char *k[] = {"s3cr3t"};
    CHECK(leaks("served by pat_*** in 1 attempt", NULL, 0, why, sizeof why) == 0, "scanner: no false positive");
    CHECK(leaks("Bearer czs_abcdef", NULL, 0, why, sizeof why) == 1, "scanner: token shape");
    CHECK(leaks("-----BEGIN PRIVATE KEY-----", NULL, 0, why, sizeof why) == 1, "scanner: PEM");
    CHECK(leaks("client secret s3cr3t", k, 1, why, sizeof why) == 1, "scanner: known secret");
}

int main(void) {
    g_base = getenv("COZE_MOCK_URL");
    if (!g_base) { fprintf(stderr, "set COZE_MOCK_URL\n"); return 2; }
    char *text = NULL;
    if (mock_http(g_base, "GET", "/__mock/info", NULL, &text) != 200) { fprintf(stderr, "no mock\n"); return 2; }
    g_info = json_parse(text, NULL);
    free(text);
    if (!g_info) { fprintf(stderr, "bad mock info\n"); return 2; }
    g_pem_json = json_dump(json_get(g_info, "private_key_pem"));
    mock_reset();

    test_scanner();
    run_happy_paths();
    run_refused();
    run_faults();
    char *access = NULL, *refresh = NULL;
    run_obo(&access, &refresh);
    run_bad_configs();

    /* The second line of the PEM: key material. */
    char pem_line[80] = "";
    const char *pem = info("private_key_pem");
    const char *nl = pem ? strchr(pem, '\n') : NULL;
    if (nl) snprintf(pem_line, sizeof pem_line, "%.*s", (int)strcspn(nl + 1, "\n"), nl + 1);
    const char *known[] = {info("personal_pat"), info("enterprise_pat"), info("oauth_client_secret"), pem_line,
                           access, refresh, "pat_leakme123456", "supersecret", "MIIEsecretbody"};
    int leaked = 0;
    for (size_t i = 0; i < g_nseen; i++) {
        char why[512];
        if (leaks(g_seen[i], known, sizeof known / sizeof known[0], why, sizeof why)) {
            if (leaked++ < 30) printf("LEAK #%zu: %sin %.300s\n", i, why, g_seen[i]);
        }
    }
    CHECK(leaked == 0, "%d of %zu outputs hold a secret", leaked, g_nseen);
    static const cozefallback_status kinds[] = {
        COZEFALLBACK_STATUS_CONFIG, COZEFALLBACK_STATUS_API, COZEFALLBACK_STATUS_AUTH,
        COZEFALLBACK_STATUS_REAUTH_REQUIRED, COZEFALLBACK_STATUS_TRANSPORT, COZEFALLBACK_STATUS_TIMEOUT,
        COZEFALLBACK_STATUS_STREAM_INTERRUPTED, COZEFALLBACK_STATUS_CANCELLED, COZEFALLBACK_STATUS_INVALID_ARGUMENT};
    for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++)
        CHECK(g_kinds[kinds[i]] > 0, "an error of kind %s was scanned", cozefallback_status_name((int32_t)kinds[i]));
    printf("secrets: scanned %zu outputs (%d config, %d api, %d auth, %d reauth, %d transport, %d timeout, "
           "%d stream_interrupted, %d cancelled, %d invalid_argument errors)\n",
           g_nseen, g_kinds[1], g_kinds[2], g_kinds[3], g_kinds[4], g_kinds[5], g_kinds[6], g_kinds[7], g_kinds[8],
           g_kinds[9]);

    for (size_t i = 0; i < g_nseen; i++) free(g_seen[i]);
    free(g_seen);
    free(access);
    free(refresh);
    free(g_pem_json);
    json_free(g_info);
    printf("secrets: %d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}
