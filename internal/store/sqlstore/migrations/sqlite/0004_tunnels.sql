-- 0004_tunnels: the tunnel side (store.Tunnels): endpoint agents, their
-- join tokens, the replay guard of presigned openTunnel URLs and the audit
-- trail; plus an index for finding an instance by its IPv6 address.
--
-- Conventions as in 0001 and 0002: times are INTEGER microseconds UTC, and
-- an optional time (revoked_at, last_connected_at, used_at) is 0 while
-- unset. Hashes are BLOBs (BYTEA in PostgreSQL). None of these tables has
-- a foreign key: agents, tokens and events name endpoints and tunnels that
-- may be purged while the records must stay (an audit trail outlives what
-- it describes; a revoked agent must stay revoked).

CREATE TABLE agents (
    agent_id          TEXT PRIMARY KEY,
    endpoint_id       TEXT NOT NULL,
    name              TEXT NOT NULL,
    key_fingerprint   TEXT NOT NULL UNIQUE,
    created_at        INTEGER NOT NULL,
    created_by        TEXT NOT NULL,
    revoked_at        INTEGER NOT NULL, -- 0 while not revoked
    last_address      TEXT NOT NULL,
    last_version      TEXT NOT NULL,
    last_connected_at INTEGER NOT NULL  -- 0 before the first connection
) STRICT;

CREATE INDEX agents_by_endpoint ON agents (endpoint_id, agent_id);

CREATE TABLE join_tokens (
    token_id    TEXT PRIMARY KEY,
    token_hash  BLOB NOT NULL UNIQUE,
    endpoint_id TEXT NOT NULL,
    created_by  TEXT NOT NULL,
    created_at  INTEGER NOT NULL,
    expires_at  INTEGER NOT NULL,
    used_at     INTEGER NOT NULL, -- 0 until redeemed
    used_by     TEXT NOT NULL
) STRICT;

CREATE INDEX join_tokens_by_endpoint ON join_tokens (endpoint_id, created_at, token_id);
CREATE INDEX join_tokens_by_expiry ON join_tokens (expires_at);

CREATE TABLE presign_uses (
    signature_hash BLOB PRIMARY KEY,
    source_ip      TEXT NOT NULL,
    first_used_at  INTEGER NOT NULL,
    expires_at     INTEGER NOT NULL
) STRICT, WITHOUT ROWID;

CREATE INDEX presign_uses_by_expiry ON presign_uses (expires_at);

-- Events are listed newest first (event_time DESC, event_id DESC); the
-- time indexes end with event_id so that the listing walks an index
-- backwards without a sort.
CREATE TABLE events (
    event_id      TEXT PRIMARY KEY,
    event_time    INTEGER NOT NULL,
    event_source  TEXT NOT NULL,
    event_name    TEXT NOT NULL,
    read_only     INTEGER NOT NULL,
    username      TEXT NOT NULL,
    access_key_id TEXT NOT NULL,
    resource_type TEXT NOT NULL,
    resource_name TEXT NOT NULL,
    error_code    TEXT NOT NULL,
    tunnel_id     TEXT NOT NULL,
    request_id    TEXT NOT NULL,
    body          TEXT NOT NULL
) STRICT;

CREATE INDEX events_by_time ON events (event_time, event_id);
CREATE INDEX events_by_name_time ON events (event_name, event_time, event_id);
CREATE INDEX events_by_tunnel ON events (tunnel_id);

-- FindInstanceByAddress looks an instance up by VPC and private IPv4
-- address (the UNIQUE constraint of 0002 indexes it) or IPv6 address.
CREATE INDEX instances_by_ipv6 ON instances (vpc_id, ipv6_address);
