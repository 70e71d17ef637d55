# dialua in a container: docker build -t dialua . && docker run -p 8080:8080 -v $PWD/scripts:/srv/dialua/scripts dialua
# Build stage: the Go toolchain and the module proxy; nothing of it reaches the image.
FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o /out/dialua ./cmd/dialua && mkdir -p /out/data

# Run stage: a static binary on a minimal image, as an unprivileged user.
FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/dialua /usr/local/bin/dialua
COPY --from=build --chown=65532:65532 /src/scripts /srv/dialua/scripts
# The data folder exists, owned by the user, so a fresh volume is writable.
COPY --from=build --chown=65532:65532 /out/data /srv/dialua/data
WORKDIR /srv/dialua
# Scripts (one folder per tenant, and tenants.yaml) and the release store.
VOLUME ["/srv/dialua/scripts", "/srv/dialua/data"]
EXPOSE 8080 9090
USER 65532:65532
# Listens on every interface inside the container; the admin API (releases,
# /readyz) only when --admin and a token are given.
ENTRYPOINT ["/usr/local/bin/dialua", "serve", "--listen", "0.0.0.0:8080", "--scripts", "/srv/dialua/scripts", "--data", "/srv/dialua/data", "--log-format", "json"]
