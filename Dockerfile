# exchanged: a static binary on a distroless base, running as non-root.
#
#   docker build -t exchanged .
#   docker run -d --name exchanged \
#     -v exchanged-state:/var/lib/exchanged \
#     -v /etc/exchanged:/etc/exchanged:ro \
#     --env-file /etc/exchanged/secrets.env \
#     exchanged
#
# Volumes:
#   /var/lib/exchanged  state_dir (required, persistent): ledger.db, ledger.db.key, staging/.
#                       Back up ledger.db and ledger.db.key together. Owned by 65532, mode 0700.
#   /etc/exchanged      the config and known_hosts, read-only.
# Signals: docker stop sends SIGTERM (give it --stop-timeout longer than --drain, default 1m);
#   docker kill -s HUP exchanged reloads the config between runs.
# Health: the HEALTHCHECK asks /healthz on 127.0.0.1:9464 from inside the container with the
#   binary itself (no shell or curl here). With http.listen on another port, override it:
#   --health-cmd '["/usr/local/bin/exchanged","health","--url","http://127.0.0.1:PORT/healthz"]'.
#   To scrape /metrics from outside, set http.listen: "0.0.0.0:9464" and publish the port.
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
STOPSIGNAL SIGTERM
HEALTHCHECK --interval=30s --timeout=10s --start-period=30s --retries=3 \
  CMD ["/usr/local/bin/exchanged", "health", "--url", "http://127.0.0.1:9464/healthz", "--timeout", "5s"]
ENTRYPOINT ["/usr/local/bin/exchanged"]
CMD ["run", "--config", "/etc/exchanged/exchanged.yaml"]
