# exchanged: a static binary on a distroless base, running as non-root.
#   docker build -t exchanged .
#   docker run -v exchanged-state:/var/lib/exchanged -v /etc/exchanged:/etc/exchanged:ro \
#     exchanged run --config /etc/exchanged/exchanged.yaml
FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
RUN CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X main.version=${VERSION}" \
      -o /out/exchanged ./cmd/exchanged \
 && mkdir -p /out/state

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/exchanged /usr/local/bin/exchanged
# state_dir: the ledger and staging. Owned by the nonroot user (65532), mode 0700.
COPY --from=build --chown=65532:65532 --chmod=0700 /out/state /var/lib/exchanged
VOLUME ["/var/lib/exchanged"]
USER nonroot:nonroot
EXPOSE 9464
ENTRYPOINT ["/usr/local/bin/exchanged"]
CMD ["run", "--config", "/etc/exchanged/exchanged.yaml"]
