#!/usr/bin/env bash
# `make release` is reproducible: it is run twice for linux/amd64 (the
# other platforms take the same path), once in this tree and once in a
# copy of it at another path without .git, into two temporary
# directories, and the two SHA256SUMS (binary, completions, man pages,
# units) must be equal. It also checks what the binary says of its build
# (`go version -m`: static, trimmed, no VCS stamp) and that it runs, and
# the same of the client build (postern-client-OS-ARCH, -tags
# postern_client), which must link no server-only module and refuse
# `postern server` naming the full build.
# POSTERN_REPRO_COLD=1 gives the second build an empty build cache (slow:
# every package is compiled again) so that the cache cannot hide a
# difference.
set -euo pipefail
cd "$(dirname "$0")/.."
GO=${GO:-go}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
passed=0 failed=0
ok() { echo "ok   $1"; passed=$((passed + 1)); }
fail() { echo "FAIL $1"; failed=$((failed + 1)); }

# The copy: every file git would commit (tracked, and new unignored ones).
mkdir -p "$work/src/elsewhere"
if git rev-parse --git-dir >/dev/null 2>&1; then
  git ls-files -z --cached --others --exclude-standard | while IFS= read -r -d '' f; do
    [ -e "$f" ] && printf '%s\0' "$f"
  done | tar --null -T - -cf - | tar -xf - -C "$work/src/elsewhere"
else
  tar --exclude=./.git --exclude=./dist --exclude=./bin -cf - . | tar -xf - -C "$work/src/elsewhere"
fi

vars=(GO="$GO" PLATFORMS=linux/amd64 VERSION=0.0.0-repro SOURCE_DATE_EPOCH=1700000000)
echo "release: first build (this tree)"
make -s release "${vars[@]}" DIST="$work/a"
echo "release: second build (a copy at $work/src/elsewhere)"
if [ "${POSTERN_REPRO_COLD:-}" = 1 ]; then
  GOCACHE="$work/cache" make -s -C "$work/src/elsewhere" release "${vars[@]}" DIST="$work/b"
else
  make -s -C "$work/src/elsewhere" release "${vars[@]}" DIST="$work/b"
fi

if cmp -s "$work/a/SHA256SUMS" "$work/b/SHA256SUMS"; then
  ok "two builds, same checksums ($(wc -l <"$work/a/SHA256SUMS") files)"
else
  fail "the two builds differ:"; diff "$work/a/SHA256SUMS" "$work/b/SHA256SUMS" || true
fi
if (cd "$work/a" && sha256sum --quiet -c SHA256SUMS); then ok "SHA256SUMS matches the files"; else fail "SHA256SUMS does not match the files"; fi

host_linux_amd64=false
[ "$("$GO" env GOHOSTOS)/$("$GO" env GOHOSTARCH)" = linux/amd64 ] && host_linux_amd64=true
for name in postern postern-client; do
  bin="$work/a/$name-linux-amd64"
  if [ ! -s "$bin" ]; then fail "dist lacks $name-linux-amd64"; continue; fi
  info=$("$GO" version -m "$bin")
  for want in $'\tbuild\tCGO_ENABLED=0' $'\tbuild\t-trimpath=true' $'\tbuild\tGOAMD64=v1'; do
    if grep -qF -- "$want" <<<"$info"; then ok "$name: build info has${want//$'\t'/ }"; else fail "$name: build info lacks${want//$'\t'/ }:"; echo "$info"; fi
  done
  if grep -q 'vcs\.' <<<"$info"; then fail "$name: build info has a VCS stamp"; else ok "$name: no VCS stamp"; fi
  if tail -n +2 <<<"$info" | grep -qF "$PWD" || grep -qaF "$PWD/" "$bin"; then fail "$name: the binary names a build path"; else ok "$name: no build path in the binary"; fi
  if $host_linux_amd64; then
    v=$("$bin" --version)
    # The client build says so (build/client); the full build does not.
    says=postern; case $v in *" build/client") says=postern-client ;; esac
    case $v in
      postern/0.0.0-repro\ *) if [ "$says" = "$name" ]; then ok "$name --version: $v"; else fail "$name --version names the wrong build: '$v'"; fi ;;
      *) fail "$name --version printed '$v'" ;;
    esac
  fi
done
full_info=$("$GO" version -m "$work/a/postern-linux-amd64" 2>/dev/null || true)
# The client build: its tag, no server-only module linked, and `server`
# refused with a pointer to the full build (exit 252, as a usage error).
info=$("$GO" version -m "$work/a/postern-client-linux-amd64" 2>/dev/null || true)
if grep -qF $'\tbuild\t-tags=postern_client' <<<"$info"; then ok "postern-client: built with -tags=postern_client"; else fail "postern-client: no -tags=postern_client in its build info"; fi
if grep -qF 'containermaxprocs' <<<"$info$full_info"; then fail "a build turns off the cgroup-aware GOMAXPROCS"; else ok "both builds keep the cgroup-aware GOMAXPROCS"; fi
if grep -qE $'^\tdep\t(modernc\\.org/sqlite|github\\.com/jackc/pgx|github\\.com/prometheus/)' <<<"$info"; then
  fail "postern-client links a server-only module:"; grep -E $'^\tdep\t(modernc|github\\.com/jackc|github\\.com/prometheus)' <<<"$info"
else
  ok "postern-client links no SQLite, pgx or Prometheus module"
fi
if grep -qE $'^\tdep\tmodernc\\.org/sqlite' <<<"$full_info"; then ok "postern (full) links SQLite (the check above can fail)"; else fail "postern (full) does not link modernc.org/sqlite: update the check above"; fi
if $host_linux_amd64; then
  code=0; msg=$("$work/a/postern-client-linux-amd64" server --data-dir "$work/none" 2>&1) || code=$?
  if [ "$code" = 252 ] && grep -qF 'full build' <<<"$msg" && [ ! -e "$work/none" ]; then
    ok "postern-client server: exit 252, names the full build"
  else
    fail "postern-client server: exit $code: $msg"
  fi
fi
for f in completions/postern.bash completions/_postern completions/postern.fish man/man1/postern.1 \
  man/man1/postern-server.1 man/man1/postern-endpoint-agent.1 systemd/postern-server.service; do
  if [ -s "$work/a/$f" ]; then ok "dist has $f"; else fail "dist lacks $f"; fi
done
echo "release: $passed passed, $failed failed"
[ "$failed" = 0 ]
