module github.com/cozefallback/cozefallback-go/examples

go 1.22

require github.com/cozefallback/cozefallback-go v0.0.0

replace github.com/cozefallback/cozefallback-go => ../../bindings-go
