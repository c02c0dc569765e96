#define _GNU_SOURCE
/* A minimal HTTP/1.1 client for the mock's control API on 127.0.0.1 (tests only). */
#include "mockhttp.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

static int connect_to(const char *base_url) {
    const char *hostport = strstr(base_url, "://");
    hostport = hostport ? hostport + 3 : base_url;
    char host[64] = {0};
    int port = 80;
    const char *colon = strchr(hostport, ':');
    size_t n = colon ? (size_t)(colon - hostport) : strcspn(hostport, "/");
    if (n >= sizeof host) return -1;
    memcpy(host, hostport, n);
    if (colon) port = atoi(colon + 1);
    struct sockaddr_in addr = {0};
    addr.sin_family = AF_INET;
    addr.sin_port = htons((unsigned short)port);
    if (inet_pton(AF_INET, host, &addr.sin_addr) != 1) return -1;
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) return -1;
    if (connect(fd, (struct sockaddr *)&addr, sizeof addr) != 0) { close(fd); return -1; }
    return fd;
}

static int write_all(int fd, const char *p, size_t n) {
    while (n) {
        ssize_t w = write(fd, p, n);
        if (w <= 0) return -1;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

/* Decodes a chunked body in place; returns the new length. */
static size_t dechunk(char *body, size_t len) {
    size_t in = 0, out = 0;
    while (in < len) {
        char *end;
        unsigned long sz = strtoul(body + in, &end, 16);
        char *eol = strstr(body + in, "\r\n");
        if (!eol) break;
        in = (size_t)(eol - body) + 2;
        (void)end;
        if (sz == 0) break;
        if (in + sz > len) sz = len - in;
        memmove(body + out, body + in, sz);
        out += sz;
        in += sz + 2;
    }
    body[out] = 0;
    return out;
}

int mock_http(const char *base_url, const char *method, const char *path, const char *body, char **out_body) {
    if (out_body) *out_body = NULL;
    int fd = connect_to(base_url);
    if (fd < 0) return -1;
    size_t blen = body ? strlen(body) : 0;
    char head[512];
    int hn = snprintf(head, sizeof head,
                      "%s %s HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\nContent-Type: application/json\r\n"
                      "Content-Length: %zu\r\n\r\n",
                      method, path, blen);
    if (write_all(fd, head, (size_t)hn) || (blen && write_all(fd, body, blen))) { close(fd); return -1; }
    size_t cap = 8192, len = 0;
    char *buf = malloc(cap);
    for (;;) {
        if (len + 4096 + 1 > cap) { cap *= 2; buf = realloc(buf, cap); }
        ssize_t r = read(fd, buf + len, cap - len - 1);
        if (r <= 0) break;
        len += (size_t)r;
    }
    close(fd);
    buf[len] = 0;
    int status = -1;
    if (sscanf(buf, "HTTP/1.%*d %d", &status) != 1) { free(buf); return -1; }
    char *sep = strstr(buf, "\r\n\r\n");
    char *payload = sep ? sep + 4 : buf + len;
    size_t plen = (size_t)(buf + len - payload);
    int chunked = 0;
    for (char *line = strstr(buf, "\r\n"); line && line < sep; line = strstr(line + 2, "\r\n")) {
        if (!strncasecmp(line + 2, "transfer-encoding:", 18) && strstr(line + 2, "chunked") &&
            strstr(line + 2, "chunked") < strstr(line + 2, "\r\n"))
            chunked = 1;
    }
    if (out_body) {
        char *copy = malloc(plen + 1);
        memcpy(copy, payload, plen);
        copy[plen] = 0;
        if (chunked) dechunk(copy, plen);
        *out_body = copy;
    }
    free(buf);
    return status;
}
