/*
 * OBO user tokens through the C API: the OAuth app (PKCE and web-app code flows, refresh with rotation, the
 * device flow with its waits), cozefallback_client_fetch_token, the refresh hook with its user_data, and NULL /
 * non-UTF-8 / out-of-range arguments. Needs the mock (COZE_MOCK_URL). Prints one line per failed check and a
 * final "N passed, M failed".
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cozefallback.h"
#include "json.h"
#include "mockhttp.h"

#define REDIRECT "http://127.0.0.1:9/callback"

static int passed, failed;
static const char *g_base;
static char g_base_url[512], g_client_id[128], g_client_secret[128], g_bot[64], g_enterprise[256];

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

static int same(const char *a, const char *b) { return a && b && !strcmp(a, b); }
static int nonempty(const char *s) { return s && *s; }
static const char *msg(const cozefallback_error *err) { return err ? cozefallback_error_message(err) : "(no error)"; }

static cozefallback_oauth_app *new_app(int with_secret) {
    cozefallback_oauth_app *app = NULL;
    cozefallback_error *err = NULL;
    if (cozefallback_oauth_app_new(g_base_url, g_client_id, with_secret ? g_client_secret : NULL, false, NULL, &app,
                                   &err) != COZEFALLBACK_STATUS_OK) {
        fprintf(stderr, "cannot build the OAuth app: %s\n", msg(err));
        exit(2);
    }
    return app;
}

/* The value of query parameter `name` in `url` (a new string), or NULL. */
static char *query_param(const char *url, const char *name) {
    char key[64];
    snprintf(key, sizeof key, "%s=", name);
    for (const char *p = strstr(url, key); p; p = strstr(p + 1, key)) {
        if (p[-1] != '?' && p[-1] != '&') continue;
        p += strlen(key);
        return strndup(p, strcspn(p, "&#"));
    }
    return NULL;
}

/* POST /__mock/oauth/code: the code the browser redirect would carry (a new string). */
static char *mock_code(const char *challenge) {
    char body[512], *answer = NULL;
    if (challenge)
        snprintf(body, sizeof body,
                 "{\"redirect_uri\":\"%s\",\"code_challenge\":\"%s\",\"code_challenge_method\":\"S256\"}", REDIRECT,
                 challenge);
    else
        snprintf(body, sizeof body, "{\"redirect_uri\":\"%s\"}", REDIRECT);
    if (mock_http(g_base, "POST", "/__mock/oauth/code", body, &answer) != 200) {
        fprintf(stderr, "the mock refused to issue a code: %s\n", answer ? answer : "");
        exit(2);
    }
    jval *doc = json_parse(answer, NULL);
    char *code = strdup(json_str(json_get(doc, "code")) ? json_str(json_get(doc, "code")) : "");
    json_free(doc);
    free(answer);
    return code;
}

static int oauth_token_ok(const cozefallback_oauth_token *tok) {
    return tok && nonempty(cozefallback_oauth_token_access_token(tok)) &&
           nonempty(cozefallback_oauth_token_refresh_token(tok)) &&
           cozefallback_oauth_token_expires_at(tok) > (uint64_t)time(NULL);
}

/* The call failed with AUTH and the OAuth error `oauth`; the message names no secret in `secrets`. Frees err. */
static int auth_error(cozefallback_status st, cozefallback_error *err, const char *oauth, const char *const *secrets) {
    int ok = st == COZEFALLBACK_STATUS_AUTH && err && same(cozefallback_error_kind_name(err), "auth") &&
             same(cozefallback_error_oauth_error(err), oauth);
    for (const char *const *s = secrets; ok && s && *s; s++) ok = !strstr(msg(err), *s);
    if (!ok) printf("  got status %d: %s (oauth_error %s)\n", st, msg(err), err ? cozefallback_error_oauth_error(err) : "-");
    cozefallback_error_free(err);
    return ok;
}

/* REAUTH_REQUIRED with the authorize URL (the app's client and redirect URI) and the OAuth error invalid_grant;
 * the message names no secret in `secrets`. Frees err. */
static int reauth_error(cozefallback_status st, cozefallback_error *err, const char *const *secrets) {
    const char *url = err ? cozefallback_error_authorize_url(err) : NULL;
    int ok = st == COZEFALLBACK_STATUS_REAUTH_REQUIRED && url && strstr(url, g_client_id) &&
             strstr(url, "redirect_uri=http%3A%2F%2F127.0.0.1%3A9%2Fcallback") &&
             same(cozefallback_error_oauth_error(err), "invalid_grant");
    for (const char *const *s = secrets; ok && s && *s; s++) ok = !strstr(msg(err), *s);
    if (!ok) printf("  got status %d: %s (authorize URL %s)\n", st, msg(err), url ? url : "none");
    cozefallback_error_free(err);
    return ok;
}

/* The call returned INVALID_ARGUMENT with a message containing `names`; frees the error. */
static int invalid_naming(cozefallback_status st, cozefallback_error *err, const char *names) {
    int ok = st == COZEFALLBACK_STATUS_INVALID_ARGUMENT && err &&
             cozefallback_error_kind(err) == COZEFALLBACK_STATUS_INVALID_ARGUMENT && strstr(msg(err), names);
    if (!ok) printf("  got status %d: %s\n", st, msg(err));
    cozefallback_error_free(err);
    return ok;
}

/* ---- the flows ----------------------------------------------------------------------------------------- */

/* A PKCE login (no client secret): returns the tokens (the caller frees). */
static cozefallback_oauth_token *pkce_login(void) {
    cozefallback_oauth_app *app = new_app(0);
    cozefallback_authorize_url *auth = NULL;
    cozefallback_error *err = NULL;
    CHECK(cozefallback_oauth_app_authorize_url(app, REDIRECT, NULL, true, &auth, &err) == COZEFALLBACK_STATUS_OK,
          "authorize_url(pkce): %s", msg(err));
    const char *url = cozefallback_authorize_url_url(auth), *verifier = cozefallback_authorize_url_code_verifier(auth);
    char *client = query_param(url, "client_id"), *redirect = query_param(url, "redirect_uri"),
         *state = query_param(url, "state"), *challenge = query_param(url, "code_challenge"),
         *method = query_param(url, "code_challenge_method");
    CHECK(same(client, g_client_id), "the URL names the client: %s", url);
    CHECK(same(redirect, "http%3A%2F%2F127.0.0.1%3A9%2Fcallback"), "the URL carries the encoded redirect: %s", url);
    CHECK(nonempty(state) && same(state, cozefallback_authorize_url_state(auth)), "state %s in %s",
          cozefallback_authorize_url_state(auth), url);
    CHECK(nonempty(challenge) && same(method, "S256"), "an S256 challenge: %s", url);
    CHECK(nonempty(verifier) && !strstr(url, verifier), "a verifier, not in the URL");

    char *code = mock_code(challenge);
    cozefallback_oauth_token *tok = NULL;
    /* A wrong verifier is refused, and the message does not echo it. */
    const char *wrong = "wrong-verifier-0123456789-0123456789-0123";
    const char *secrets[] = {wrong, code, NULL};
    cozefallback_status st = cozefallback_oauth_app_exchange_code(app, code, REDIRECT, wrong, NULL, &tok, &err);
    CHECK(auth_error(st, err, "invalid_grant", secrets) && !tok, "a wrong code verifier: invalid_grant");
    free(code);
    code = mock_code(challenge);
    st = cozefallback_oauth_app_exchange_code(app, code, REDIRECT, verifier, NULL, &tok, &err);
    CHECK(st == COZEFALLBACK_STATUS_OK && !err && oauth_token_ok(tok), "PKCE exchange: %s", msg(err));
    CHECK(tok && !strncmp(cozefallback_oauth_token_access_token(tok), "czu_", 4), "a user access token");
    free(code), free(client), free(redirect), free(state), free(challenge), free(method);
    cozefallback_authorize_url_free(auth);
    cozefallback_oauth_app_free(app);
    return tok;
}

static void test_code_flow(void) {
    cozefallback_oauth_app *app = new_app(1);
    cozefallback_authorize_url *auth = NULL;
    cozefallback_error *err = NULL;
    CHECK(cozefallback_oauth_app_authorize_url(app, REDIRECT, "7", false, &auth, &err) == COZEFALLBACK_STATUS_OK,
          "authorize_url(no pkce): %s", msg(err));
    const char *url = cozefallback_authorize_url_url(auth);
    CHECK(url && strstr(url, "/workspace_id/7/authorize?") && !strstr(url, "code_challenge") &&
              cozefallback_authorize_url_code_verifier(auth) == NULL,
          "a workspace URL without PKCE: %s", url);
    char *state = query_param(url, "state"), *client = query_param(url, "client_id");
    CHECK(nonempty(state) && same(client, g_client_id), "state and client_id: %s", url);
    cozefallback_authorize_url *again = NULL;
    cozefallback_oauth_app_authorize_url(app, REDIRECT, NULL, false, &again, NULL);
    CHECK(!same(cozefallback_authorize_url_state(again), state), "every URL has its own state");
    cozefallback_authorize_url_free(again);

    char *code = mock_code(NULL);
    cozefallback_oauth_token *tok = NULL;
    cozefallback_status st = cozefallback_oauth_app_exchange_code(app, code, REDIRECT, NULL, NULL, &tok, &err);
    CHECK(st == COZEFALLBACK_STATUS_OK && oauth_token_ok(tok), "code exchange with the secret: %s", msg(err));
    cozefallback_oauth_token_free(tok);
    tok = NULL;
    const char *secrets[] = {code, g_client_secret, NULL};
    st = cozefallback_oauth_app_exchange_code(app, code, REDIRECT, NULL, NULL, &tok, &err);
    CHECK(auth_error(st, err, "invalid_grant", secrets) && !tok, "a used code: invalid_grant");
    free(code);

    /* The same flow without the secret is refused by the endpoint: the web app needs it. */
    cozefallback_oauth_app *public_app = new_app(0);
    code = mock_code(NULL);
    secrets[0] = code;
    st = cozefallback_oauth_app_exchange_code(public_app, code, REDIRECT, NULL, NULL, &tok, &err);
    CHECK(auth_error(st, err, "invalid_client", secrets) && !tok, "no secret and no verifier: invalid_client");
    free(code), free(state), free(client);
    cozefallback_oauth_app_free(public_app);
    cozefallback_authorize_url_free(auth);
    cozefallback_oauth_app_free(app);
}

static void test_refresh(void) {
    cozefallback_oauth_token *first = pkce_login();
    cozefallback_oauth_app *app = new_app(1);
    cozefallback_oauth_token *second = NULL;
    cozefallback_error *err = NULL;
    const char *old = first ? cozefallback_oauth_token_refresh_token(first) : "";
    cozefallback_status st = cozefallback_oauth_app_refresh(app, old, NULL, &second, &err);
    CHECK(st == COZEFALLBACK_STATUS_OK && oauth_token_ok(second), "refresh: %s", msg(err));
    CHECK(second && !same(cozefallback_oauth_token_refresh_token(second), old) &&
              !same(cozefallback_oauth_token_access_token(second), cozefallback_oauth_token_access_token(first)),
          "the refresh rotated both tokens");
    cozefallback_oauth_token *third = NULL;
    const char *secrets[] = {old, NULL};
    st = cozefallback_oauth_app_refresh(app, old, NULL, &third, &err);
    CHECK(auth_error(st, err, "invalid_grant", secrets) && !third, "the old refresh token no longer works");
    cozefallback_oauth_token_free(second);
    cozefallback_oauth_token_free(first);
    cozefallback_oauth_app_free(app);
}

static int approve(const char *user_code, int deny) {
    char body[256];
    snprintf(body, sizeof body, "{\"user_code\":\"%s\"%s}", user_code, deny ? ",\"deny\":true" : "");
    return mock_http(g_base, "POST", "/__mock/oauth/device/approve", body, NULL) == 200;
}

typedef struct {
    cozefallback_cancel_token *token;
    unsigned delay_ms;
} canceller;

static void *cancel_later(void *arg) {
    canceller *c = arg;
    usleep(c->delay_ms * 1000);
    cozefallback_cancel_token_cancel(c->token, NULL);
    return NULL;
}

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void test_device_flow(void) {
    cozefallback_oauth_app *app = new_app(0);
    cozefallback_device_code *dc = NULL;
    cozefallback_error *err = NULL;
    cozefallback_status st = cozefallback_oauth_app_device_code(app, NULL, NULL, &dc, &err);
    CHECK(st == COZEFALLBACK_STATUS_OK && dc, "device_code: %s", msg(err));
    const char *device = cozefallback_device_code_device_code(dc), *user = cozefallback_device_code_user_code(dc);
    CHECK(nonempty(device) && nonempty(user) && !same(device, user), "device %s, user code %s", device, user);
    CHECK(cozefallback_device_code_verification_uri(dc) && strstr(cozefallback_device_code_verification_uri(dc), "http"),
          "verification_uri %s", cozefallback_device_code_verification_uri(dc));
    CHECK(cozefallback_device_code_expires_in(dc) > 0 && cozefallback_device_code_interval(dc) > 0,
          "expires_in %llu, interval %llu", (unsigned long long)cozefallback_device_code_expires_in(dc),
          (unsigned long long)cozefallback_device_code_interval(dc));

    cozefallback_oauth_token *tok = NULL;
    const char *secrets[] = {device, NULL};
    st = cozefallback_oauth_app_poll_device_token(app, device, NULL, &tok, &err);
    CHECK(auth_error(st, err, "authorization_pending", secrets) && !tok, "before approval: authorization_pending");

    /* A wait on a code nobody approves ends when it is cancelled. */
    cozefallback_cancel_token *cancel = NULL;
    cozefallback_cancel_token_new(&cancel, NULL);
    canceller c = {cancel, 300};
    pthread_t thread;
    pthread_create(&thread, NULL, cancel_later, &c);
    double started = now_s();
    st = cozefallback_oauth_app_wait_device_token(app, device, cozefallback_device_code_expires_in(dc),
                                                  cozefallback_device_code_interval(dc), cancel, &tok, &err);
    double took = now_s() - started;
    pthread_join(thread, NULL);
    CHECK(st == COZEFALLBACK_STATUS_CANCELLED && !tok && took < 5, "a cancelled wait: status %d after %.1f s", st, took);
    cozefallback_error_free(err);
    err = NULL;
    cozefallback_cancel_token_free(cancel);

    CHECK(approve(user, 0), "the mock approves %s", user);
    st = cozefallback_oauth_app_wait_device_token(app, device, cozefallback_device_code_expires_in(dc),
                                                  cozefallback_device_code_interval(dc), NULL, &tok, &err);
    CHECK(st == COZEFALLBACK_STATUS_OK && oauth_token_ok(tok), "wait_device_token after approval: %s", msg(err));
    cozefallback_oauth_token_free(tok);
    tok = NULL;
    cozefallback_device_code_free(dc);

    /* A denied code ends the wait with access_denied. */
    dc = NULL;
    cozefallback_oauth_app_device_code(app, "7", NULL, &dc, NULL);
    CHECK(dc && approve(cozefallback_device_code_user_code(dc), 1), "the mock denies a second code");
    st = cozefallback_oauth_app_wait_device_token(app, cozefallback_device_code_device_code(dc), 60, 1, NULL, &tok, &err);
    CHECK(auth_error(st, err, "access_denied", NULL) && !tok, "a denied code: access_denied");
    /* Out-of-range numbers are refused before the first poll. */
    st = cozefallback_oauth_app_wait_device_token(app, cozefallback_device_code_device_code(dc), 0, 1, NULL, &tok, &err);
    CHECK(invalid_naming(st, err, "expires_in"), "expires_in 0");
    st = cozefallback_oauth_app_wait_device_token(app, cozefallback_device_code_device_code(dc), 60, UINT64_MAX, NULL,
                                                  &tok, &err);
    CHECK(invalid_naming(st, err, "interval"), "interval UINT64_MAX");
    cozefallback_device_code_free(dc);
    cozefallback_oauth_app_free(app);
}

/* ---- the client: fetch_token and the refresh hook ----------------------------------------------------- */

typedef struct {
    pthread_mutex_t mu;
    int calls;
    char credential[32], access[256], refresh[256];
    uint64_t expires_at;
    pthread_t caller;
    int on_caller_thread;
} refresh_seen;

static void on_refresh(const char *credential, const char *access_token, const char *refresh_token,
                       uint64_t expires_at, void *user_data) {
    refresh_seen *seen = user_data;
    pthread_mutex_lock(&seen->mu);
    seen->calls++;
    snprintf(seen->credential, sizeof seen->credential, "%s", credential);
    snprintf(seen->access, sizeof seen->access, "%s", access_token);
    snprintf(seen->refresh, sizeof seen->refresh, "%s", refresh_token ? refresh_token : "");
    seen->expires_at = expires_at;
    seen->on_caller_thread |= pthread_equal(pthread_self(), seen->caller);
    pthread_mutex_unlock(&seen->mu);
}

/* A client whose personal credential is the OBO user of `tok`, its access token already expired. */
static cozefallback_client *obo_client(const cozefallback_oauth_token *tok) {
    char config[2048];
    snprintf(config, sizeof config,
             "{\"base_url\":\"%s\",\"personal\":{\"type\":\"oauth\",\"client_id\":\"%s\",\"client_secret\":\"%s\","
             "\"access_token\":\"%s\",\"refresh_token\":\"%s\",\"expires_at\":1,\"redirect_uri\":\"%s\"},"
             "\"enterprise\":{\"type\":\"pat\",\"token\":\"%s\"}}",
             g_base_url, g_client_id, g_client_secret, cozefallback_oauth_token_access_token(tok),
             cozefallback_oauth_token_refresh_token(tok), REDIRECT, g_enterprise);
    cozefallback_client *c = NULL;
    cozefallback_error *err = NULL;
    if (cozefallback_client_new(config, &c, &err) != COZEFALLBACK_STATUS_OK) {
        fprintf(stderr, "cannot build the OBO client: %s\n", msg(err));
        exit(2);
    }
    return c;
}

static void test_fetch_token_and_hook(void) {
    cozefallback_oauth_token *tok = pkce_login();
    if (!tok) return;
    char configured[256];
    snprintf(configured, sizeof configured, "%s", cozefallback_oauth_token_refresh_token(tok));
    cozefallback_client *client = obo_client(tok);
    refresh_seen seen = {.mu = PTHREAD_MUTEX_INITIALIZER, .caller = pthread_self()};
    cozefallback_error *err = NULL;
    CHECK(cozefallback_client_set_refresh_hook(client, on_refresh, &seen, &err) == COZEFALLBACK_STATUS_OK && !err,
          "set_refresh_hook");
    CHECK(cozefallback_client_fetch_token(client, "personal", NULL, &err) == COZEFALLBACK_STATUS_OK && !err,
          "fetch_token(personal) refreshes the expired token: %s", msg(err));
    CHECK(seen.calls == 1 && same(seen.credential, "personal"), "the hook: %d call(s), credential %s", seen.calls,
          seen.credential);
    CHECK(nonempty(seen.access) && nonempty(seen.refresh) && strcmp(seen.refresh, configured) &&
              seen.expires_at > (uint64_t)time(NULL),
          "the hook got a rotated refresh token and a future expiry (%llu)", (unsigned long long)seen.expires_at);
    CHECK(!seen.on_caller_thread, "the hook runs on a library thread, not the caller's");

    /* The fresh token is cached: no second refresh, and a call is served by the user's token. */
    CHECK(cozefallback_client_fetch_token(client, "personal", NULL, &err) == COZEFALLBACK_STATUS_OK && seen.calls == 1,
          "a second fetch_token uses the cached token (%d hook calls)", seen.calls);
    cozefallback_request *req = NULL;
    char path[128];
    snprintf(path, sizeof path, "/v1/bots/%s", g_bot);
    cozefallback_request_new("GET", path, &req, NULL);
    cozefallback_response *resp = NULL;
    cozefallback_status st = cozefallback_client_send(client, req, NULL, &resp, &err);
    CHECK(st == COZEFALLBACK_STATUS_OK && same(cozefallback_response_credential(resp), "personal") &&
              cozefallback_response_attempts(resp) == 1,
          "the refreshed user token serves: %s", msg(err));
    cozefallback_response_free(resp);
    cozefallback_request_free(req);

    /* The hooked refresh token is the one that works now; the configured one was used up. */
    cozefallback_oauth_app *app = new_app(1);
    cozefallback_oauth_token *next = NULL;
    const char *secrets[] = {configured, NULL};
    st = cozefallback_oauth_app_refresh(app, configured, NULL, &next, &err);
    CHECK(auth_error(st, err, "invalid_grant", secrets) && !next, "the configured refresh token is used up");
    st = cozefallback_oauth_app_refresh(app, seen.refresh, NULL, &next, &err);
    CHECK(st == COZEFALLBACK_STATUS_OK && oauth_token_ok(next), "the hooked refresh token works: %s", msg(err));
    cozefallback_oauth_token_free(next);
    cozefallback_oauth_app_free(app);

    /* Credential names and the metrics carry no token. */
    CHECK(cozefallback_client_fetch_token(client, "enterprise", NULL, &err) == COZEFALLBACK_STATUS_OK && seen.calls == 1,
          "fetch_token(enterprise) (a PAT: no refresh hook): %s", msg(err));
    st = cozefallback_client_fetch_token(client, "company", NULL, &err);
    CHECK(invalid_naming(st, err, "company"), "fetch_token(unknown credential)");
    char *metrics = NULL;
    cozefallback_client_metrics_json(client, &metrics, NULL);
    CHECK(metrics && !strstr(metrics, seen.access) && !strstr(metrics, seen.refresh), "the metrics name no token");
    cozefallback_string_free(metrics);

    CHECK(cozefallback_client_set_refresh_hook(client, NULL, NULL, &err) == COZEFALLBACK_STATUS_OK,
          "set_refresh_hook(NULL) removes it");
    cozefallback_client_free(client);

    /* A client whose refresh token is refused: fetch_token, like a request, says the user must authorize again. */
    char config[2048];
    snprintf(config, sizeof config,
             "{\"base_url\":\"%s\",\"mode\":\"personal_only\",\"personal\":{\"type\":\"oauth\",\"client_id\":\"%s\","
             "\"access_token\":\"czu_revoked\",\"refresh_token\":\"czr_revoked\",\"expires_at\":1,"
             "\"redirect_uri\":\"%s\"}}",
             g_base_url, g_client_id, REDIRECT);
    cozefallback_client_new(config, &client, NULL);
    cozefallback_client_set_refresh_hook(client, on_refresh, &seen, NULL);
    const char *revoked[] = {"czr_revoked", "czu_revoked", NULL};
    st = cozefallback_client_fetch_token(client, "personal", NULL, &err);
    CHECK(reauth_error(st, err, revoked), "fetch_token with a refused refresh token: REAUTH_REQUIRED");
    snprintf(path, sizeof path, "/v1/bots/%s", g_bot);
    cozefallback_request_new("GET", path, &req, NULL);
    st = cozefallback_client_send(client, req, NULL, &resp, &err);
    cozefallback_request_free(req);
    CHECK(reauth_error(st, err, revoked), "a request with a refused refresh: REAUTH_REQUIRED");
    err = NULL;
    CHECK(seen.calls == 1, "no hook call for a refused refresh (%d)", seen.calls);
    st = cozefallback_client_fetch_token(client, "enterprise", NULL, &err);
    CHECK(invalid_naming(st, err, "not configured"), "fetch_token of a credential that is not configured");
    cozefallback_client_close(client);
    st = cozefallback_client_fetch_token(client, "personal", NULL, &err);
    CHECK(st != COZEFALLBACK_STATUS_OK && err && strstr(msg(err), "closed"), "fetch_token on a closed client: %s",
          msg(err));
    cozefallback_error_free(err);
    cozefallback_client_free(client);
    cozefallback_oauth_token_free(tok);
    pthread_mutex_destroy(&seen.mu);
}

/* ---- bad arguments ------------------------------------------------------------------------------------- */

static void test_bad_arguments(void) {
    cozefallback_oauth_app *app = NULL;
    cozefallback_error *err = NULL;
    cozefallback_status st;
    st = cozefallback_oauth_app_new(NULL, g_client_id, NULL, false, NULL, &app, &err);
    CHECK(invalid_naming(st, err, "base_url") && !app, "oauth_app_new(NULL base_url)");
    st = cozefallback_oauth_app_new(g_base_url, NULL, NULL, false, NULL, &app, &err);
    CHECK(invalid_naming(st, err, "client_id") && !app, "oauth_app_new(NULL client_id)");
    st = cozefallback_oauth_app_new(g_base_url, g_client_id, "\xff", false, NULL, &app, &err);
    CHECK(invalid_naming(st, err, "client_secret") && !app, "oauth_app_new(non-UTF-8 secret)");
    st = cozefallback_oauth_app_new(g_base_url, g_client_id, NULL, false, NULL, NULL, &err);
    CHECK(invalid_naming(st, err, "out"), "oauth_app_new(NULL out)");
    st = cozefallback_oauth_app_new(g_base_url, " ", NULL, false, NULL, &app, &err);
    CHECK(st == COZEFALLBACK_STATUS_CONFIG && same(cozefallback_error_field(err), "client_id") && !app,
          "an empty client_id is a CONFIG error: %s", msg(err));
    cozefallback_error_free(err);
    st = cozefallback_oauth_app_new("http://coze.example:8080", g_client_id, NULL, false, NULL, &app, &err);
    CHECK(st == COZEFALLBACK_STATUS_CONFIG && !app, "http:// off loopback is refused: %s", msg(err));
    cozefallback_error_free(err);
    st = cozefallback_oauth_app_new("http://coze.example:8080", g_client_id, NULL, true, NULL, &app, &err);
    CHECK(st == COZEFALLBACK_STATUS_OK && app, "allowed with allow_insecure_http: %s", msg(err));
    cozefallback_oauth_app_free(app);
    app = NULL;
    st = cozefallback_oauth_app_new(g_base_url, g_client_id, g_client_secret, false, "/nonexistent/ca.pem", &app, &err);
    CHECK(st == COZEFALLBACK_STATUS_CONFIG && !app && !strstr(msg(err), g_client_secret),
          "an unreadable ca_file is a CONFIG error: %s", msg(err));
    cozefallback_error_free(err);

    app = new_app(1);
    cozefallback_authorize_url *auth = NULL;
    st = cozefallback_oauth_app_authorize_url(NULL, REDIRECT, NULL, true, &auth, &err);
    CHECK(invalid_naming(st, err, "app") && !auth, "authorize_url(NULL app)");
    st = cozefallback_oauth_app_authorize_url(app, NULL, NULL, true, &auth, &err);
    CHECK(invalid_naming(st, err, "redirect_uri"), "authorize_url(NULL redirect_uri)");
    st = cozefallback_oauth_app_authorize_url(app, REDIRECT, "\xc3\x28", true, &auth, &err);
    CHECK(invalid_naming(st, err, "workspace_id"), "authorize_url(non-UTF-8 workspace_id)");
    st = cozefallback_oauth_app_authorize_url(app, REDIRECT, NULL, true, NULL, &err);
    CHECK(invalid_naming(st, err, "out"), "authorize_url(NULL out)");

    cozefallback_oauth_token *tok = NULL;
    st = cozefallback_oauth_app_exchange_code(NULL, "c", REDIRECT, NULL, NULL, &tok, &err);
    CHECK(invalid_naming(st, err, "app"), "exchange_code(NULL app)");
    st = cozefallback_oauth_app_exchange_code(app, NULL, REDIRECT, NULL, NULL, &tok, &err);
    CHECK(invalid_naming(st, err, "code"), "exchange_code(NULL code)");
    st = cozefallback_oauth_app_exchange_code(app, "c", NULL, NULL, NULL, &tok, &err);
    CHECK(invalid_naming(st, err, "redirect_uri"), "exchange_code(NULL redirect_uri)");
    st = cozefallback_oauth_app_exchange_code(app, "c", REDIRECT, "\xff", NULL, &tok, &err);
    CHECK(invalid_naming(st, err, "code_verifier"), "exchange_code(non-UTF-8 verifier)");
    st = cozefallback_oauth_app_exchange_code(app, "c", REDIRECT, NULL, NULL, NULL, &err);
    CHECK(invalid_naming(st, err, "out"), "exchange_code(NULL out)");
    st = cozefallback_oauth_app_refresh(app, NULL, NULL, &tok, &err);
    CHECK(invalid_naming(st, err, "refresh_token"), "refresh(NULL refresh_token)");
    st = cozefallback_oauth_app_refresh(NULL, "czr_x", NULL, &tok, &err);
    CHECK(invalid_naming(st, err, "app"), "refresh(NULL app)");
    cozefallback_device_code *dc = NULL;
    st = cozefallback_oauth_app_device_code(NULL, NULL, NULL, &dc, &err);
    CHECK(invalid_naming(st, err, "app") && !dc, "device_code(NULL app)");
    st = cozefallback_oauth_app_device_code(app, NULL, NULL, NULL, &err);
    CHECK(invalid_naming(st, err, "out"), "device_code(NULL out)");
    st = cozefallback_oauth_app_poll_device_token(app, NULL, NULL, &tok, &err);
    CHECK(invalid_naming(st, err, "device_code"), "poll_device_token(NULL device_code)");
    st = cozefallback_oauth_app_wait_device_token(app, NULL, 60, 1, NULL, &tok, &err);
    CHECK(invalid_naming(st, err, "device_code"), "wait_device_token(NULL device_code)");
    st = cozefallback_oauth_app_wait_device_token(NULL, "d", 60, 1, NULL, &tok, &err);
    CHECK(invalid_naming(st, err, "app") && !tok, "wait_device_token(NULL app)");
    /* A call already cancelled returns CANCELLED at once. */
    cozefallback_cancel_token *cancel = NULL;
    cozefallback_cancel_token_new(&cancel, NULL);
    cozefallback_cancel_token_cancel(cancel, NULL);
    st = cozefallback_oauth_app_refresh(app, "czr_x", cancel, &tok, &err);
    CHECK(st == COZEFALLBACK_STATUS_CANCELLED && !tok, "a cancelled refresh: %s", msg(err));
    cozefallback_error_free(err);
    err = NULL;
    cozefallback_cancel_token_free(cancel);

    st = cozefallback_client_fetch_token(NULL, "personal", NULL, &err);
    CHECK(invalid_naming(st, err, "client"), "fetch_token(NULL client)");
    st = cozefallback_client_set_refresh_hook(NULL, on_refresh, NULL, &err);
    CHECK(invalid_naming(st, err, "client"), "set_refresh_hook(NULL client)");
    CHECK(cozefallback_oauth_app_authorize_url(app, REDIRECT, NULL, false, &auth, NULL) == COZEFALLBACK_STATUS_OK,
          "a NULL err is allowed");
    cozefallback_authorize_url_free(auth);

    CHECK(!cozefallback_authorize_url_url(NULL) && !cozefallback_authorize_url_state(NULL) &&
              !cozefallback_authorize_url_code_verifier(NULL),
          "authorize URL accessors of NULL");
    CHECK(!cozefallback_oauth_token_access_token(NULL) && !cozefallback_oauth_token_refresh_token(NULL) &&
              cozefallback_oauth_token_expires_at(NULL) == 0,
          "token accessors of NULL");
    CHECK(!cozefallback_device_code_device_code(NULL) && !cozefallback_device_code_user_code(NULL) &&
              !cozefallback_device_code_verification_uri(NULL) && cozefallback_device_code_expires_in(NULL) == 0 &&
              cozefallback_device_code_interval(NULL) == 0,
          "device code accessors of NULL");
    cozefallback_oauth_app_free(NULL);
    cozefallback_authorize_url_free(NULL);
    cozefallback_oauth_token_free(NULL);
    cozefallback_device_code_free(NULL);
    cozefallback_oauth_app_free(app);
}

int main(void) {
    g_base = getenv("COZE_MOCK_URL");
    if (!g_base) { fprintf(stderr, "set COZE_MOCK_URL\n"); return 2; }
    char *text = NULL;
    if (mock_http(g_base, "GET", "/__mock/info", NULL, &text) != 200) { fprintf(stderr, "no mock\n"); return 2; }
    jval *info = json_parse(text, NULL);
    free(text);
    snprintf(g_base_url, sizeof g_base_url, "%s", json_str(json_get(info, "base_url")));
    snprintf(g_client_id, sizeof g_client_id, "%s", json_str(json_get(info, "oauth_client_id")));
    snprintf(g_client_secret, sizeof g_client_secret, "%s", json_str(json_get(info, "oauth_client_secret")));
    snprintf(g_enterprise, sizeof g_enterprise, "%s", json_str(json_get(info, "enterprise_pat")));
    snprintf(g_bot, sizeof g_bot, "%s", json_str(json_pointer(info, "/bots/0")));
    json_free(info);
    mock_http(g_base, "POST", "/__mock/reset", "{}", NULL);

    cozefallback_oauth_token_free(pkce_login());
    test_code_flow();
    test_refresh();
    test_device_flow();
    test_fetch_token_and_hook();
    test_bad_arguments();

    printf("oauth: %d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}
