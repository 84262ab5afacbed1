# The secr image: secr and secr-server (which `secr server` runs), static
# binaries on a distroless base, running as non-root.
#   docker build -t secr .
#   docker run --rm -e SECR_TOKEN_FILE=/run/secrets/secr_token ... secr run -- ...
# To put secr into your own image: COPY --from=secr /secr /usr/local/bin/secr
# (see docs/docker.md). No token is ever baked into an image. Releases publish
# the same layout as ghcr.io/secr-dev/secr (built by release/ociimage from the
# GoReleaser binaries).

FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
# --build-arg VERSION=... overrides the version in the VERSION file.
ARG VERSION
RUN CGO_ENABLED=0 go build -trimpath \
      -ldflags="-s -w -X github.com/secr-dev/secr/internal/cli.Version=${VERSION:-$(cat VERSION)}" -o /out/ ./cmd/secr ./cmd/secr-server \
 && mkdir -p /data

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/secr /out/secr-server /
# A named volume mounted on /data starts as a copy of this directory, so it
# must already belong to the runtime user (65532, "nonroot").
COPY --from=build --chown=65532:65532 /data /data
USER nonroot:nonroot
EXPOSE 7700
ENTRYPOINT ["/secr"]
CMD ["--help"]
