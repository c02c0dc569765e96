/* A small JSON reader and writer for the C conformance runner (tests only). */
#ifndef CF_TEST_JSON_H
#define CF_TEST_JSON_H
#include <stddef.h>
#include <stdint.h>

typedef enum { J_NULL, J_BOOL, J_NUM, J_STR, J_ARR, J_OBJ } jtype;

typedef struct jval {
    jtype type;
    int b;            /* J_BOOL */
    double num;       /* J_NUM */
    char *raw;        /* J_NUM: literal text; J_STR: the decoded UTF-8 string */
    size_t len;       /* J_ARR / J_OBJ: number of items */
    struct jval **items;
    char **keys;      /* J_OBJ: keys, in document order */
} jval;

/* Parses `text`; NULL on error (with a message in *errmsg, static). */
jval *json_parse(const char *text, const char **errmsg);
void json_free(jval *v);
/* Object member or NULL. */
jval *json_get(const jval *obj, const char *key);
/* RFC 6901 pointer ("/data/id"); NULL when absent. */
jval *json_pointer(const jval *v, const char *ptr);
/* Serialises compactly; the caller frees. */
char *json_dump(const jval *v);
int json_is_int(const jval *v);
int64_t json_int(const jval *v);
const char *json_str(const jval *v); /* NULL unless a string */
#endif
