#!/usr/bin/env bash
# `make release` is reproducible: it is run twice for linux/amd64 (the
# other platforms take the same path), once in this tree and once in a
# copy of it at another path without .git, into two temporary
# directories, and the two SHA256SUMS (binary, completions, man pages,
# units) must be equal. It also checks what the binary says of its build
# (`go version -m`: static, trimmed, no VCS stamp) and that it runs.
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

bin="$work/a/postern-linux-amd64"
info=$("$GO" version -m "$bin")
for want in $'\tbuild\tCGO_ENABLED=0' $'\tbuild\t-trimpath=true' $'\tbuild\tGOAMD64=v1'; do
  if grep -qF -- "$want" <<<"$info"; then ok "build info has${want//$'\t'/ }"; else fail "build info lacks${want//$'\t'/ }:"; echo "$info"; fi
done
if grep -q 'vcs\.' <<<"$info"; then fail "build info has a VCS stamp"; else ok "no VCS stamp"; fi
if tail -n +2 <<<"$info" | grep -qF "$PWD" || grep -qaF "$PWD/" "$bin"; then fail "the binary names a build path"; else ok "no build path in the binary"; fi
if [ "$("$GO" env GOHOSTOS)/$("$GO" env GOHOSTARCH)" = linux/amd64 ]; then
  v=$("$bin" --version)
  case $v in postern/0.0.0-repro\ *) ok "postern --version: $v" ;; *) fail "postern --version printed '$v'" ;; esac
fi
for f in completions/postern.bash completions/_postern completions/postern.fish man/man1/postern.1 \
  man/man1/postern-server.1 man/man1/postern-endpoint-agent.1 systemd/postern-server.service; do
  if [ -s "$work/a/$f" ]; then ok "dist has $f"; else fail "dist lacks $f"; fi
done
echo "release: $passed passed, $failed failed"
[ "$failed" = 0 ]
