.PHONY: build test npm bench demo

build:
	CGO_ENABLED=0 go build -trimpath -ldflags "-X github.com/secr-dev/secr/internal/cli.Version=$$(cat VERSION)" -o secr ./cmd/secr

test:
	go test -race -count=1 -timeout 30m ./...

# Cross-compiles and packs every npm package into dist/npm/.
npm:
	bash integrations/npm/build.sh

bench:
	go run ./bench -runs 100

demo:
	bash scripts/demo.sh
