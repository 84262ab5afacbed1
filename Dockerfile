# The secr image: a static binary on a distroless base, running as non-root.
#   docker build -t secr .
#   docker run --rm -e SECR_TOKEN_FILE=/run/secrets/secr_token ... secr run -- ...
# To put secr into your own image: COPY --from=secr /secr /usr/local/bin/secr
# (see docs/docker.md). No token is ever baked into an image.

FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" -o /secr ./cmd/secr

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /secr /secr
USER nonroot:nonroot
EXPOSE 7700
ENTRYPOINT ["/secr"]
CMD ["--help"]
