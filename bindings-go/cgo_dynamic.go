//go:build cozefallback_dynamic

package cozefallback

// The shared-library variant of cgo.go: `go build -tags cozefallback_dynamic` links libcozefallback.so.0.

/*
#cgo pkg-config: cozefallback
#include <stdlib.h>
#include "cozefallback.h"
*/
import "C"
