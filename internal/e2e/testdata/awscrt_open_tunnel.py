"""Opens a Postern tunnel the way the AWS CLI v2 does, with Debian's awscrt.

The AWS CLI's `ec2-instance-connect open-tunnel` presigns the openTunnel URL
with botocore's RequestSigner, which uses awscrt's SigV4 signer
(CrtSigV4QueryAuth: signature type HTTP_REQUEST_QUERY_PARAMS, 60 s expiry,
header host signed, payload hash of the empty body), then opens the
WebSocket with awscrt.websocket.connect (s2n-tls underneath), Host and SNI
being the URL's host name. This script does the same, step by step, except
that it dials the port it is given (the CLI always dials 443).

Input: one JSON object on stdin (see main). Output: one JSON object on
stdout: the presigned URL, the handshake's status, headers and body, any
exception, and the bytes echoed back.
"""

import datetime
import json
import sys
import threading
import time
from urllib.parse import urlencode, urlparse

import awscrt.auth
import awscrt.http
import awscrt.io
import awscrt.websocket

# The AWS CLI's WebSocket frames carry at most this many bytes.
MAX_BYTES_PER_FRAME = 65_000


def signing_date(p):
    """Now, or the "date" given (RFC 3339, for the CLI's test vectors)."""
    if p.get("date"):
        return datetime.datetime.fromisoformat(p["date"].replace("Z", "+00:00"))
    return datetime.datetime.now(datetime.timezone.utc)


def presign(p):
    """The AWS CLI's InstanceConnectEndpointRequestSigner.get_presigned_url,
    as botocore's CrtSigV4QueryAuth carries it out."""
    qs = {
        "instanceConnectEndpointId": p["endpointId"],
        "remotePort": p["remotePort"],
        "privateIpAddress": p["privateIp"],
    }
    if p.get("maxTunnelDuration"):
        qs["maxTunnelDuration"] = p["maxTunnelDuration"]
    dns = p["dnsName"]
    request = awscrt.http.HttpRequest(
        method="GET",
        path="/openTunnel?" + urlencode(qs),
        headers=awscrt.http.HttpHeaders([("host", dns)]),
    )
    creds = awscrt.auth.AwsCredentialsProvider.new_static(
        access_key_id=p["accessKeyId"],
        secret_access_key=p["secretAccessKey"],
        session_token=p.get("sessionToken") or None,
    )
    config = awscrt.auth.AwsSigningConfig(
        algorithm=awscrt.auth.AwsSigningAlgorithm.V4,
        signature_type=awscrt.auth.AwsSignatureType.HTTP_REQUEST_QUERY_PARAMS,
        credentials_provider=creds,
        region=p["region"],
        service="ec2-instance-connect",
        date=signing_date(p),
        use_double_uri_encode=True,
        should_normalize_uri_path=True,
        signed_body_value=None,
        signed_body_header_type=awscrt.auth.AwsSignedBodyHeaderType.NONE,
        expiration_in_seconds=60,
    )
    awscrt.auth.aws_sign_request(request, config).result(timeout=10)
    query = urlparse(request.path).query
    if p.get("queryOrder", "cli") == "cli":
        query = cli_order(query)
    return "wss://" + dns + "/openTunnel?" + query


# The order of the signing parameters in the AWS CLI 2.13's URLs (its
# bundled awscrt; internal/wire/sigv4/testdata/captures/
# aws-cli-open-tunnel.txt). Debian's awscrt 0.16.8 puts X-Amz-SignedHeaders before X-Amz-Expires; the signature is the
# same either way (the canonical query is sorted).
CLI_SIGNING_ORDER = ["X-Amz-Algorithm", "X-Amz-Credential", "X-Amz-Date", "X-Amz-Expires",
                     "X-Amz-SignedHeaders", "X-Amz-Security-Token", "X-Amz-Signature"]


def cli_order(query):
    """query with the X-Amz-* parameters in the AWS CLI's order, the
    request's own parameters first and untouched."""
    pairs = [kv.split("=", 1) for kv in query.split("&")]
    own = [kv for kv in pairs if kv[0] not in CLI_SIGNING_ORDER]
    signing = sorted((kv for kv in pairs if kv[0] in CLI_SIGNING_ORDER),
                     key=lambda kv: CLI_SIGNING_ORDER.index(kv[0]))
    return "&".join("=".join(kv) for kv in own + signing)


def main():
    p = json.load(sys.stdin)
    out = {"url": presign(p)}
    if p.get("presignOnly"):
        print(json.dumps(out))
        return
    parsed = urlparse(out["url"])

    # The AWS CLI's Websocket.connect.
    handshake = awscrt.websocket.create_handshake_request(
        host=parsed.hostname, path=parsed.path + "?" + parsed.query)
    handshake.headers.set("User-Agent", "aws-cli/2 awscrt-test command/ec2-instance-connect.open-tunnel")
    tls_opts = awscrt.io.TlsContextOptions()
    tls_opts.override_default_trust_store_from_path(ca_filepath=p["caFile"])
    conn_opts = awscrt.io.ClientTlsContext(tls_opts).new_connection_options()
    conn_opts.set_server_name(parsed.hostname)

    setup = threading.Event()
    closed = threading.Event()
    lock = threading.Lock()
    state = {"ws": None, "echoed": bytearray(), "close": bytearray()}

    def on_setup(data):
        # What the AWS CLI's _on_connection reads: the status, the headers
        # (x-amzn-RequestId), the body of a refused handshake.
        try:
            out["status"] = data.handshake_response_status
            out["headers"] = [list(h) for h in (data.handshake_response_headers or [])]
            out["headersPresent"] = data.handshake_response_headers is not None
            if data.handshake_response_body:
                out["body"] = bytes(data.handshake_response_body).decode("utf-8", "replace")
            if data.exception:
                out["exception"] = str(data.exception)
            state["ws"] = data.websocket
        finally:
            setup.set()

    def on_payload(data):
        with lock:
            if data.frame.opcode == awscrt.websocket.Opcode.BINARY or data.frame.opcode == awscrt.websocket.Opcode.CONTINUATION:
                state["echoed"] += data.data
            elif data.frame.opcode == awscrt.websocket.Opcode.CLOSE:
                state["close"] += data.data

    def on_shutdown(data):
        if data.exception:
            out["shutdownException"] = str(data.exception)
        closed.set()

    awscrt.websocket.connect(
        host=p["connectHost"],
        port=p["connectPort"],
        handshake_request=handshake,
        tls_connection_options=conn_opts,
        on_connection_setup=on_setup,
        on_connection_shutdown=on_shutdown,
        on_incoming_frame_payload=on_payload,
    )
    if not setup.wait(15):
        out["exception"] = "no on_connection_setup within 15 s"
        print(json.dumps(out))
        return

    ws = state["ws"]
    payload = p.get("payload", "").encode()
    if ws is not None and payload:
        # The AWS CLI sends one BINARY frame per read, each after the
        # previous one's on_complete.
        for i in range(0, len(payload), MAX_BYTES_PER_FRAME):
            sent = threading.Event()
            try:
                ws.send_frame(awscrt.websocket.Opcode.BINARY, payload[i:i + MAX_BYTES_PER_FRAME],
                              on_complete=lambda d, ev=sent: ev.set())
            except RuntimeError:
                # The server closed the WebSocket already (its close
                # frame, kept below, says why), as the AWS CLI sees it.
                break
            if not sent.wait(10):
                out["exception"] = "send_frame did not complete within 10 s"
                break
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            with lock:
                if len(state["echoed"]) >= len(payload):
                    break
            if closed.wait(0.02):
                break
    if ws is not None:
        ws.close()
        closed.wait(10)
    with lock:
        out["echoed"] = state["echoed"].decode("utf-8", "replace")
        if len(state["close"]) >= 2:
            out["closeCode"] = int.from_bytes(state["close"][:2], "big")
            # What the AWS CLI prints as "Websocket Closure Reason: …".
            out["closeReason"] = state["close"][2:].decode("utf-8", "replace")
    print(json.dumps(out))


if __name__ == "__main__":
    main()
