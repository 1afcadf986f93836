# syntax=docker/dockerfile:1
# Build a static binary, then ship it alone on a minimal non-root image.
FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
RUN CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X main.version=${VERSION}" -o /out/dirsync ./cmd/dirsync \
 && mkdir -p /out/data

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/dirsync /usr/local/bin/dirsync
COPY --from=build --chown=65532:65532 /out/data /data
USER 65532:65532
ENV DIRSYNC_DB=/data/dirsync.db \
    DIRSYNC_ADDR=0.0.0.0:8080
VOLUME ["/data"]
EXPOSE 8080
# distroless has no shell or curl: the binary asks its own /readyz
# (DIRSYNC_ADDR's 0.0.0.0 is asked on 127.0.0.1).
HEALTHCHECK --interval=30s --timeout=10s --start-period=20s --retries=3 \
    CMD ["/usr/local/bin/dirsync", "healthcheck"]
ENTRYPOINT ["/usr/local/bin/dirsync"]
CMD ["serve"]
