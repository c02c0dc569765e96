//go:build !cozefallback_dynamic

package cozefallback

// Linking goes through pkg-config (module `cozefallback`): statically against libcozefallback.a by default
// (`pkg-config --static`, this file), or with `-tags cozefallback_dynamic` against the shared libcozefallback.so.0
// (cgo_dynamic.go; the .pc sets an rpath to its lib folder). The two live in separate files so that the go build
// cache, which keys on file contents, never hands one variant's link flags to the other.
// pkg-config finds an SDK installed under /usr/local (`make install`) by itself; for an unpacked SDK set
// PKG_CONFIG_PATH=<sdk>/lib/pkgconfig, for this repository's build tree PKG_CONFIG_PATH=bindings-c/build
// (written by `make -C bindings-c pc`). See README.md.

/*
#cgo pkg-config: --static cozefallback
#include <stdlib.h>
#include "cozefallback.h"
*/
import "C"
