#!/usr/bin/env bash
# Installs what the test suite needs and is missing, when it can (root and
# apt-get available). Each later feature adds its packages here.
set -euo pipefail
need=()
command -v go >/dev/null || { echo "test-deps: Go is required (https://go.dev/dl/)" >&2; exit 1; }
command -v git >/dev/null || need+=(git)
command -v node >/dev/null || need+=(nodejs)
command -v npm >/dev/null || need+=(npm)
# A real OpenSSH server and client for the tunnel and keyless-SSH tests,
# iproute2 for their network namespaces, procps for process checks.
[ -x /usr/sbin/sshd ] || need+=(openssh-server)
# systemd-analyze, for tests/systemd.sh (`verify` and `security` on the
# packaged units; it checks files, it starts no systemd).
command -v systemd-analyze >/dev/null || need+=(systemd)
command -v ssh >/dev/null || need+=(openssh-client)
command -v scp >/dev/null || need+=(openssh-client)
command -v ip >/dev/null || need+=(iproute2)
command -v pgrep >/dev/null || need+=(procps)
# nft and iptables (Debian's is iptables-nft) for the transparent-proxy
# check's test with the real tools (internal/agent/transparent): it makes
# the README's and the kernel documentation's marking rules with them in a
# network namespace.
command -v nft >/dev/null || need+=(nftables)
command -v iptables >/dev/null || need+=(iptables)
# nss_wrapper gives a test's sshd users the host does not have (user names
# that look like flags, for the instance helper's test).
compgen -G '/usr/lib/*/libnss_wrapper.so' >/dev/null || need+=(libnss-wrapper)
# The PostgreSQL server binaries (initdb, postgres) for the PostgreSQL store
# tests; internal/testutil/pgtest starts its own throwaway server in a
# temporary directory, so the package's default cluster is not wanted.
compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null || need+=(postgresql)
# Foreign TLS/HTTP stacks for internal/e2e (the AWS CLI's must work):
# OpenSSL's s_client, and for Debian's own Python (/usr/bin/python3, not a
# python3 earlier on PATH) awscrt, the AWS CLI v2's TLS, WebSocket and
# SigV4 library, and botocore.
command -v openssl >/dev/null || need+=(openssl)
/usr/bin/python3 -c 'import awscrt.auth, awscrt.io, awscrt.websocket' 2>/dev/null || need+=(python3-awscrt)
/usr/bin/python3 -c 'import botocore.session' 2>/dev/null || need+=(python3-botocore)
# Debian's AWS CLI v2 (bookworm: 2.9.19, with its own copy of botocore;
# it uses python3-awscrt), at /usr/bin/aws, where the AWS CLI tests look
# first: another `aws` on PATH (pyenv's v1, AWS's installer) does not do.
# 20 packages, 11 MB to fetch, 100 MB installed.
[ -x /usr/bin/aws ] || need+=(awscli)
# Debian's Chromium, headless, for the console's browser tests
# (internal/testutil/browser drives it over the DevTools protocol).
command -v chromium >/dev/null || need+=(chromium)
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "test-deps: installing ${need[*]}"
    if [[ " ${need[*]} " == *" postgresql "* ]]; then
      mkdir -p /etc/postgresql-common/createcluster.d
      echo "create_main_cluster = false" >/etc/postgresql-common/createcluster.d/postern-tests.conf
    fi
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
  else
    echo "test-deps: please install: ${need[*]}" >&2
    exit 1
  fi
fi
go mod download
# The OpenID provider the federated sign-in tests start (internal/testutil/
# oidcop builds it): its own module, so the product's go.mod stays lean,
# and outside the root module's ./... (go vet and go test skip it).
(cd tools/oidc-provider && go mod download)
# The AWS SDK for JavaScript v3, for internal/e2e's JS SDK test.
if [ ! -d tests/js/node_modules/@aws-sdk/client-ec2 ]; then
  (cd tests/js && npm ci --no-audit --no-fund --loglevel=error)
fi
