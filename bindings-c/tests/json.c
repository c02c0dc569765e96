#define _GNU_SOURCE
/* A small JSON reader and writer for the C conformance runner (tests only). */
#include "json.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct { const char *p; const char *err; int depth; } parser;

typedef struct { char *buf; size_t len, cap; } sbuf;

static void sb_put(sbuf *s, const char *d, size_t n) {
    if (s->len + n + 1 > s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 64;
        while (cap < s->len + n + 1) cap *= 2;
        s->buf = realloc(s->buf, cap);
        if (!s->buf) abort();
        s->cap = cap;
    }
    memcpy(s->buf + s->len, d, n);
    s->len += n;
    s->buf[s->len] = 0;
}
static void sb_putc(sbuf *s, char c) { sb_put(s, &c, 1); }

static void skip_ws(parser *ps) {
    while (*ps->p == ' ' || *ps->p == '\t' || *ps->p == '\n' || *ps->p == '\r') ps->p++;
}

static jval *new_val(jtype t) {
    jval *v = calloc(1, sizeof *v);
    if (!v) abort();
    v->type = t;
    return v;
}

static jval *parse_value(parser *ps);

static int hex4(const char *p, unsigned *out) {
    unsigned v = 0;
    for (int i = 0; i < 4; i++) {
        char c = p[i];
        v <<= 4;
        if (c >= '0' && c <= '9') v |= (unsigned)(c - '0');
        else if (c >= 'a' && c <= 'f') v |= (unsigned)(c - 'a' + 10);
        else if (c >= 'A' && c <= 'F') v |= (unsigned)(c - 'A' + 10);
        else return 0;
    }
    *out = v;
    return 1;
}

static void put_utf8(sbuf *s, unsigned cp) {
    char b[4];
    if (cp < 0x80) { b[0] = (char)cp; sb_put(s, b, 1); }
    else if (cp < 0x800) { b[0] = (char)(0xC0 | (cp >> 6)); b[1] = (char)(0x80 | (cp & 0x3F)); sb_put(s, b, 2); }
    else if (cp < 0x10000) {
        b[0] = (char)(0xE0 | (cp >> 12)); b[1] = (char)(0x80 | ((cp >> 6) & 0x3F)); b[2] = (char)(0x80 | (cp & 0x3F));
        sb_put(s, b, 3);
    } else {
        b[0] = (char)(0xF0 | (cp >> 18)); b[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
        b[2] = (char)(0x80 | ((cp >> 6) & 0x3F)); b[3] = (char)(0x80 | (cp & 0x3F));
        sb_put(s, b, 4);
    }
}

static char *parse_string(parser *ps) {
    if (*ps->p != '"') { ps->err = "expected a string"; return NULL; }
    ps->p++;
    sbuf s = {0};
    sb_put(&s, "", 0);
    for (;;) {
        unsigned char c = (unsigned char)*ps->p;
        if (c == 0) { ps->err = "unterminated string"; free(s.buf); return NULL; }
        if (c == '"') { ps->p++; break; }
        if (c < 0x20) { ps->err = "control character in string"; free(s.buf); return NULL; }
        if (c != '\\') { sb_putc(&s, (char)c); ps->p++; continue; }
        ps->p++;
        char e = *ps->p++;
        switch (e) {
        case '"': sb_putc(&s, '"'); break;
        case '\\': sb_putc(&s, '\\'); break;
        case '/': sb_putc(&s, '/'); break;
        case 'b': sb_putc(&s, '\b'); break;
        case 'f': sb_putc(&s, '\f'); break;
        case 'n': sb_putc(&s, '\n'); break;
        case 'r': sb_putc(&s, '\r'); break;
        case 't': sb_putc(&s, '\t'); break;
        case 'u': {
            unsigned cp;
            if (!hex4(ps->p, &cp)) { ps->err = "bad \\u escape"; free(s.buf); return NULL; }
            ps->p += 4;
            if (cp >= 0xD800 && cp < 0xDC00 && ps->p[0] == '\\' && ps->p[1] == 'u') {
                unsigned lo;
                if (hex4(ps->p + 2, &lo) && lo >= 0xDC00 && lo < 0xE000) {
                    cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
                    ps->p += 6;
                }
            }
            put_utf8(&s, cp);
            break;
        }
        default: ps->err = "bad escape"; free(s.buf); return NULL;
        }
    }
    return s.buf;
}

static void push(jval *v, char *key, jval *item) {
    v->items = realloc(v->items, (v->len + 1) * sizeof *v->items);
    if (!v->items) abort();
    v->items[v->len] = item;
    if (v->type == J_OBJ) {
        v->keys = realloc(v->keys, (v->len + 1) * sizeof *v->keys);
        if (!v->keys) abort();
        v->keys[v->len] = key;
    }
    v->len++;
}

static jval *parse_value(parser *ps) {
    skip_ws(ps);
    if (++ps->depth > 200) { ps->err = "nesting too deep"; return NULL; }
    jval *v = NULL;
    char c = *ps->p;
    if (c == '{') {
        v = new_val(J_OBJ);
        ps->p++;
        skip_ws(ps);
        if (*ps->p == '}') { ps->p++; goto done; }
        for (;;) {
            skip_ws(ps);
            char *key = parse_string(ps);
            if (!key) goto fail;
            skip_ws(ps);
            if (*ps->p != ':') { free(key); ps->err = "expected ':'"; goto fail; }
            ps->p++;
            jval *item = parse_value(ps);
            if (!item) { free(key); goto fail; }
            push(v, key, item);
            skip_ws(ps);
            if (*ps->p == ',') { ps->p++; continue; }
            if (*ps->p == '}') { ps->p++; break; }
            ps->err = "expected ',' or '}'";
            goto fail;
        }
    } else if (c == '[') {
        v = new_val(J_ARR);
        ps->p++;
        skip_ws(ps);
        if (*ps->p == ']') { ps->p++; goto done; }
        for (;;) {
            jval *item = parse_value(ps);
            if (!item) goto fail;
            push(v, NULL, item);
            skip_ws(ps);
            if (*ps->p == ',') { ps->p++; continue; }
            if (*ps->p == ']') { ps->p++; break; }
            ps->err = "expected ',' or ']'";
            goto fail;
        }
    } else if (c == '"') {
        char *s = parse_string(ps);
        if (!s) return NULL;
        v = new_val(J_STR);
        v->raw = s;
    } else if (!strncmp(ps->p, "true", 4)) { v = new_val(J_BOOL); v->b = 1; ps->p += 4; }
    else if (!strncmp(ps->p, "false", 5)) { v = new_val(J_BOOL); ps->p += 5; }
    else if (!strncmp(ps->p, "null", 4)) { v = new_val(J_NULL); ps->p += 4; }
    else if (c == '-' || (c >= '0' && c <= '9')) {
        const char *start = ps->p;
        char *end;
        double d = strtod(start, &end);
        if (end == start) { ps->err = "bad number"; return NULL; }
        v = new_val(J_NUM);
        v->num = d;
        v->raw = strndup(start, (size_t)(end - start));
        ps->p = end;
    } else {
        ps->err = "unexpected character";
        return NULL;
    }
done:
    ps->depth--;
    return v;
fail:
    json_free(v);
    return NULL;
}

jval *json_parse(const char *text, const char **errmsg) {
    parser ps = {text, NULL, 0};
    jval *v = parse_value(&ps);
    if (v) {
        skip_ws(&ps);
        if (*ps.p) { json_free(v); v = NULL; ps.err = "trailing characters"; }
    }
    if (!v && errmsg) *errmsg = ps.err ? ps.err : "parse error";
    return v;
}

void json_free(jval *v) {
    if (!v) return;
    for (size_t i = 0; i < v->len; i++) {
        json_free(v->items[i]);
        if (v->keys) free(v->keys[i]);
    }
    free(v->items);
    free(v->keys);
    free(v->raw);
    free(v);
}

jval *json_get(const jval *obj, const char *key) {
    if (!obj || obj->type != J_OBJ) return NULL;
    for (size_t i = 0; i < obj->len; i++)
        if (!strcmp(obj->keys[i], key)) return obj->items[i];
    return NULL;
}

jval *json_pointer(const jval *v, const char *ptr) {
    if (!ptr || !*ptr) return (jval *)v;
    if (*ptr != '/') return NULL;
    const char *seg = ptr + 1;
    const char *next = strchr(seg, '/');
    size_t n = next ? (size_t)(next - seg) : strlen(seg);
    char *tok = malloc(n + 1);
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        if (seg[i] == '~' && i + 1 < n && seg[i + 1] == '1') { tok[k++] = '/'; i++; }
        else if (seg[i] == '~' && i + 1 < n && seg[i + 1] == '0') { tok[k++] = '~'; i++; }
        else tok[k++] = seg[i];
    }
    tok[k] = 0;
    jval *child = NULL;
    if (v && v->type == J_OBJ) child = json_get(v, tok);
    else if (v && v->type == J_ARR) {
        char *end;
        long idx = strtol(tok, &end, 10);
        if (*end == 0 && idx >= 0 && (size_t)idx < v->len) child = v->items[idx];
    }
    free(tok);
    if (!child) return NULL;
    return next ? json_pointer(child, next) : child;
}

static void dump_str(sbuf *s, const char *str) {
    sb_putc(s, '"');
    for (const unsigned char *p = (const unsigned char *)str; *p; p++) {
        char tmp[8];
        switch (*p) {
        case '"': sb_put(s, "\\\"", 2); break;
        case '\\': sb_put(s, "\\\\", 2); break;
        case '\n': sb_put(s, "\\n", 2); break;
        case '\r': sb_put(s, "\\r", 2); break;
        case '\t': sb_put(s, "\\t", 2); break;
        default:
            if (*p < 0x20) { snprintf(tmp, sizeof tmp, "\\u%04x", *p); sb_put(s, tmp, 6); }
            else sb_putc(s, (char)*p);
        }
    }
    sb_putc(s, '"');
}

static void dump(sbuf *s, const jval *v) {
    switch (v->type) {
    case J_NULL: sb_put(s, "null", 4); break;
    case J_BOOL: if (v->b) sb_put(s, "true", 4); else sb_put(s, "false", 5); break;
    case J_NUM: sb_put(s, v->raw, strlen(v->raw)); break;
    case J_STR: dump_str(s, v->raw); break;
    case J_ARR:
        sb_putc(s, '[');
        for (size_t i = 0; i < v->len; i++) { if (i) sb_putc(s, ','); dump(s, v->items[i]); }
        sb_putc(s, ']');
        break;
    case J_OBJ:
        sb_putc(s, '{');
        for (size_t i = 0; i < v->len; i++) {
            if (i) sb_putc(s, ',');
            dump_str(s, v->keys[i]);
            sb_putc(s, ':');
            dump(s, v->items[i]);
        }
        sb_putc(s, '}');
        break;
    }
}

char *json_dump(const jval *v) {
    sbuf s = {0};
    sb_put(&s, "", 0);
    dump(&s, v);
    return s.buf;
}

int json_is_int(const jval *v) { return v && v->type == J_NUM && !strpbrk(v->raw, ".eE"); }
int64_t json_int(const jval *v) {
    if (!v || v->type != J_NUM) return 0;
    return json_is_int(v) ? strtoll(v->raw, NULL, 10) : (int64_t)v->num;
}
const char *json_str(const jval *v) { return v && v->type == J_STR ? v->raw : NULL; }
