package cozefallback

// Linking: static by default, against libcozefallback.a found in (first match wins) ./lib (where
// bindings-c/test.sh links the freshly built archive), then the workspace's release and debug build trees.
// With `-tags cozefallback_dynamic` the shared library is linked instead (rpath set to the same folders).
// Outside this repository, point cgo at an installed copy: CGO_CFLAGS=-I/usr/local/include
// CGO_LDFLAGS=-L/usr/local/lib (see README.md).

/*
#cgo CFLAGS: -I${SRCDIR}/../include
#cgo !cozefallback_dynamic LDFLAGS: -L${SRCDIR}/lib -L${SRCDIR}/../target/x86_64-unknown-linux-gnu/release -L${SRCDIR}/../target/release -L${SRCDIR}/../target/x86_64-unknown-linux-gnu/debug -l:libcozefallback.a -lgcc_s -lutil -lrt -lpthread -lm -ldl
#cgo cozefallback_dynamic LDFLAGS: -L${SRCDIR}/lib -L${SRCDIR}/../target/x86_64-unknown-linux-gnu/release -L${SRCDIR}/../target/x86_64-unknown-linux-gnu/debug -Wl,-rpath,${SRCDIR}/lib -Wl,-rpath,${SRCDIR}/../target/x86_64-unknown-linux-gnu/release -Wl,-rpath,${SRCDIR}/../target/x86_64-unknown-linux-gnu/debug -lcozefallback
#include <stdlib.h>
#include "cozefallback.h"
*/
import "C"
