module github.com/cozefallback/cozefallback-go

go 1.22
