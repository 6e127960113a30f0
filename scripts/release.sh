#!/usr/bin/env bash
# Builds Postern's release into DIST (default dist/): static (CGO_ENABLED=0),
# stripped, reproducible binaries, two per platform: the full build
# (postern-OS-ARCH: server, agent, helper and client) and the client build
# for workstations (postern-client-OS-ARCH, -tags postern_client: the same
# commands and flags without server, migrate and endpoint-agent, so it
# links neither the server, SQLite, pgx nor Prometheus and starts faster;
# installed as `postern`), shell completions (completions/), a man page per
# command (man/man1/), the systemd units (systemd/) and SHA256SUMS over all
# of it.
#
# Reproducible: the same tree and toolchain give the same bytes wherever it
# is checked out (-trimpath, no VCS stamp, empty build id), whatever the
# machine's Go settings (GOAMD64/GOARM64 fixed). Environment:
#   PLATFORMS          "linux/amd64 linux/arm64 darwin/amd64 darwin/arm64"
#   VERSION            the version `postern --version` prints (cli.Version);
#                      empty: the tree's default
#   SOURCE_DATE_EPOCH  the man pages' date (default: the last commit's, else 2000-01-01)
#   GO                 the go command
set -euo pipefail
cd "$(dirname "$0")/.."
dist=${1:-dist}
GO=${GO:-go}
PLATFORMS=${PLATFORMS:-linux/amd64 linux/arm64 darwin/amd64 darwin/arm64}
VERSION=${VERSION:-}
if [ -z "${SOURCE_DATE_EPOCH:-}" ]; then
  SOURCE_DATE_EPOCH=$(git log -1 --format=%ct 2>/dev/null || echo 946684800)
fi
export SOURCE_DATE_EPOCH CGO_ENABLED=0 GOAMD64=v1 GOARM64=v8.0 GOFLAGS=
ldflags="-s -w -buildid="
[ -n "$VERSION" ] && ldflags+=" -X github.com/postern/postern/internal/cli.Version=$VERSION"
build() { # GOOS GOARCH OUT PACKAGE [go build flags…]
  GOOS=$1 GOARCH=$2 "$GO" build -trimpath -buildvcs=false -ldflags "$ldflags" "${@:5}" -o "$3" "$4"
}

mkdir -p "$dist"
rm -rf "$dist"/postern-* "$dist/completions" "$dist/man" "$dist/systemd" "$dist/SHA256SUMS"
for p in $PLATFORMS; do
  os=${p%/*} arch=${p#*/}
  echo "release: $dist/postern-$os-$arch"
  build "$os" "$arch" "$dist/postern-$os-$arch" ./cmd/postern
  echo "release: $dist/postern-client-$os-$arch"
  build "$os" "$arch" "$dist/postern-client-$os-$arch" ./cmd/postern -tags postern_client
done

# Completions and man pages come from a binary for this machine.
host_os=$("$GO" env GOHOSTOS) host_arch=$("$GO" env GOHOSTARCH)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
host="$dist/postern-$host_os-$host_arch"
if [ ! -x "$host" ]; then
  host=$tmp/postern
  build "$host_os" "$host_arch" "$host" ./cmd/postern
fi
mkdir -p "$dist/completions"
"$host" completion bash >"$dist/completions/postern.bash"
"$host" completion zsh >"$dist/completions/_postern"
"$host" completion fish >"$dist/completions/postern.fish"
build "$host_os" "$host_arch" "$tmp/genman" ./internal/cli/genman
"$tmp/genman" "$dist/man/man1"
mkdir -p "$dist/systemd"
cp packaging/systemd/*.service "$dist/systemd/"
chmod 0644 "$dist"/systemd/* "$dist"/completions/* "$dist"/man/man1/*

(cd "$dist" && find . -type f ! -name SHA256SUMS | sed 's#^\./##' | LC_ALL=C sort | xargs sha256sum >SHA256SUMS)
echo "release: $(wc -l <"$dist/SHA256SUMS") files in $dist, checksums in $dist/SHA256SUMS"
