/* A minimal HTTP/1.1 client for the mock's control API on 127.0.0.1 (tests only). */
#ifndef CF_TEST_MOCKHTTP_H
#define CF_TEST_MOCKHTTP_H
/* Sends `method path` with an optional JSON body to base_url ("http://127.0.0.1:PORT"). Returns the HTTP status
 * (or -1 on a connection error) and, when out_body is non-NULL, the body (the caller frees). */
int mock_http(const char *base_url, const char *method, const char *path, const char *body, char **out_body);
#endif
