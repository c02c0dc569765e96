// The C half of Client.OnConversationMoved: libcozefallback calls this function pointer, which hands the
// carry-over to the exported Go function with the cgo.Handle it was given as user_data.
#include <stdint.h>
#include "_cgo_export.h"

void cozefallback_go_conversation_trampoline(const char *from, const char *to, uint32_t messages_copied,
                                             void *user_data) {
    cozefallbackGoConversationMoved((char *)from, (char *)to, messages_copied, (uintptr_t)user_data);
}

// A cgo.Handle is an integer; converting it to a pointer in C keeps go vet's unsafe.Pointer rules satisfied.
void *cozefallback_go_handle_ptr(uintptr_t handle) { return (void *)handle; }
