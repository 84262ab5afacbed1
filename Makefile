.PHONY: build test snapshot npm npm-pack image lint-workflows bench demo

TOOLS := scripts/tools.sh
# The snapshot image is built on an offline base (no container registry is
# reachable from the build machines); the release workflow uses distroless.
IMAGE_BASE ?=

build:
	CGO_ENABLED=0 go build -trimpath -ldflags "-X github.com/secr-dev/secr/internal/cli.Version=$$(cat VERSION)" -o . ./cmd/secr ./cmd/secr-server

test:
	go test -race -count=1 -timeout 30m ./...

# The whole release, offline, into dist/: five platforms built once, archives,
# checksums.txt, SBOMs, .deb/.rpm/.apk, the Homebrew formula, the container
# image (OCI layout and per-arch docker-archive tarballs) and the npm tarballs.
# Nothing is published. The tools are installed once by scripts/tools.sh.
snapshot:
	@start=$$(date +%s); set -e; \
	scripts/goreleaser.sh release --snapshot --clean; \
	$(MAKE) --no-print-directory image npm-pack; \
	bash scripts/check-dist.sh dist; \
	echo "make snapshot: $$(( $$(date +%s) - start ))s"

# The container image from dist/'s linux binaries (no compile, no Docker engine).
image: dist/metadata.json
	go -C release/ociimage build -o "$$($(TOOLS) --dir)/ociimage" .
	"$$($(TOOLS) --dir)/ociimage" -dist dist -base "$(IMAGE_BASE)"

# The npm packages from the snapshot's binaries: compiles no Go code itself
# (runs `make snapshot` first only when dist/ holds no build).
npm: dist/metadata.json npm-pack

npm-pack:
	bash integrations/npm/build.sh dist

dist/metadata.json:
	$(MAKE) --no-print-directory snapshot

lint-workflows:
	"$$($(TOOLS) actionlint)" -color .github/workflows/*.yml

bench:
	go run ./bench -runs 100

demo:
	bash scripts/demo.sh
