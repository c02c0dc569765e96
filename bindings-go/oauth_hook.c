// The C half of Client.OnTokenRefresh: libcozefallback calls this function pointer, which hands the refresh to
// the exported Go function with the cgo.Handle it was given as user_data.
#include <stdint.h>
#include "_cgo_export.h"

void cozefallback_go_refresh_trampoline(const char *credential, const char *access_token,
                                        const char *refresh_token, uint64_t expires_at, void *user_data) {
    cozefallbackGoTokenRefreshed((char *)credential, (char *)access_token, (char *)refresh_token, expires_at,
                                 (uintptr_t)user_data);
}
