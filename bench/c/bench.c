/*
 * The C side of bench/c (run by bench/c/run.sh):
 *   bench latency   -> "c p50_us=.. p90_us=.. p99_us=.. n=.."   (same requests as bench_core.rs)
 *   bench rss       -> RSS after 10,000 and after 100,000 requests through the C API
 * Env: COZE_API_BASE, COZE_API_TOKEN, COZE_API_TOKEN_ENTERPRISE, BENCH_PATH, BENCH_N.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cozefallback.h>

static double now_us(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

static int cmp(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* One request the way a C caller writes it: build, send, read, free. */
static void one(cozefallback_client *client, const char *path) {
    cozefallback_request *req = NULL;
    cozefallback_response *resp = NULL;
    cozefallback_error *err = NULL;
    cozefallback_request_new("GET", path, &req, NULL);
    if (cozefallback_client_send(client, req, NULL, &resp, &err) != COZEFALLBACK_STATUS_OK ||
        cozefallback_response_status(resp) != 200) {
        fprintf(stderr, "request failed: %s\n", cozefallback_error_message(err));
        exit(1);
    }
    cozefallback_response_free(resp);
    cozefallback_request_free(req);
}

static long rss_kb(void) {
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    long kb = -1;
    while (f && fgets(line, sizeof line, f))
        if (!strncmp(line, "VmRSS:", 6)) kb = strtol(line + 6, NULL, 10);
    if (f) fclose(f);
    return kb;
}

int main(int argc, char **argv) {
    const char *mode = argc > 1 ? argv[1] : "latency";
    const char *path = getenv("BENCH_PATH");
    int n = getenv("BENCH_N") ? atoi(getenv("BENCH_N")) : 2000;
    cozefallback_client *client = NULL;
    cozefallback_error *err = NULL;
    if (!path || cozefallback_client_new_from_env(&client, &err)) {
        fprintf(stderr, "set BENCH_PATH and the COZE_* variables (%s)\n", err ? cozefallback_error_message(err) : "");
        return 2;
    }
    for (int i = 0; i < 200; i++) one(client, path);
    if (!strcmp(mode, "rss")) {
        long at10k = 0;
        for (int i = 1; i <= 100000; i++) {
            one(client, path);
            if (i == 10000) at10k = rss_kb();
        }
        long at100k = rss_kb();
        double delta_mb = (at100k - at10k) / 1024.0;
        printf("rss after 10k: %.1f MB, after 100k: %.1f MB, growth %.2f MB (limit 10 MB): %s\n", at10k / 1024.0,
               at100k / 1024.0, delta_mb, delta_mb <= 10.0 ? "PASS" : "FAIL");
        cozefallback_client_free(client);
        return delta_mb <= 10.0 ? 0 : 1;
    }
    double *s = malloc(sizeof(double) * (size_t)n);
    for (int i = 0; i < n; i++) {
        double t = now_us();
        one(client, path);
        s[i] = now_us() - t;
    }
    qsort(s, (size_t)n, sizeof *s, cmp);
    printf("c p50_us=%.1f p90_us=%.1f p99_us=%.1f n=%d\n", s[(n - 1) / 2], s[(int)((n - 1) * 0.9)],
           s[(int)((n - 1) * 0.99)], n);
    free(s);
    cozefallback_client_free(client);
    return 0;
}
