-- 0004_tunnels: the tunnel side (store.Tunnels): endpoint agents, their
-- join tokens, the replay guard of presigned openTunnel URLs and the audit
-- trail; plus an index for finding an instance by its IPv6 address
-- (PostgreSQL dialect; mirrors migrations/sqlite/0004_tunnels.sql).
--
-- Conventions as in 0001 and 0002: times are BIGINT microseconds UTC, and
-- an optional time (revoked_at, last_connected_at, used_at) is 0 while
-- unset. Hashes are BYTEA. None of these tables has a foreign key: agents,
-- tokens and events name endpoints and tunnels that may be purged while
-- the records must stay (an audit trail outlives what it describes; a
-- revoked agent must stay revoked).

CREATE TABLE agents (
    agent_id          TEXT COLLATE "C" PRIMARY KEY,
    endpoint_id       TEXT COLLATE "C" NOT NULL,
    name              TEXT COLLATE "C" NOT NULL,
    key_fingerprint   TEXT COLLATE "C" NOT NULL UNIQUE,
    created_at        BIGINT NOT NULL,
    created_by        TEXT COLLATE "C" NOT NULL,
    revoked_at        BIGINT NOT NULL, -- 0 while not revoked
    last_address      TEXT COLLATE "C" NOT NULL,
    last_version      TEXT COLLATE "C" NOT NULL,
    last_connected_at BIGINT NOT NULL  -- 0 before the first connection
);

CREATE INDEX agents_by_endpoint ON agents (endpoint_id, agent_id);

CREATE TABLE join_tokens (
    token_id    TEXT COLLATE "C" PRIMARY KEY,
    token_hash  BYTEA NOT NULL UNIQUE,
    endpoint_id TEXT COLLATE "C" NOT NULL,
    created_by  TEXT COLLATE "C" NOT NULL,
    created_at  BIGINT NOT NULL,
    expires_at  BIGINT NOT NULL,
    used_at     BIGINT NOT NULL, -- 0 until redeemed
    used_by     TEXT COLLATE "C" NOT NULL
);

CREATE INDEX join_tokens_by_endpoint ON join_tokens (endpoint_id, created_at, token_id);
CREATE INDEX join_tokens_by_expiry ON join_tokens (expires_at);

CREATE TABLE presign_uses (
    signature_hash BYTEA PRIMARY KEY,
    source_ip      TEXT COLLATE "C" NOT NULL,
    first_used_at  BIGINT NOT NULL,
    expires_at     BIGINT NOT NULL
);

CREATE INDEX presign_uses_by_expiry ON presign_uses (expires_at);

-- Events are listed newest first (event_time DESC, event_id DESC); the
-- time indexes end with event_id so that the listing walks an index
-- backwards without a sort.
CREATE TABLE events (
    event_id      TEXT COLLATE "C" PRIMARY KEY,
    event_time    BIGINT NOT NULL,
    event_source  TEXT COLLATE "C" NOT NULL,
    event_name    TEXT COLLATE "C" NOT NULL,
    read_only     INTEGER NOT NULL,
    username      TEXT COLLATE "C" NOT NULL,
    access_key_id TEXT COLLATE "C" NOT NULL,
    resource_type TEXT COLLATE "C" NOT NULL,
    resource_name TEXT COLLATE "C" NOT NULL,
    error_code    TEXT COLLATE "C" NOT NULL,
    tunnel_id     TEXT COLLATE "C" NOT NULL,
    request_id    TEXT COLLATE "C" NOT NULL,
    body          TEXT COLLATE "C" NOT NULL
);

CREATE INDEX events_by_time ON events (event_time, event_id);
CREATE INDEX events_by_name_time ON events (event_name, event_time, event_id);
CREATE INDEX events_by_tunnel ON events (tunnel_id);

-- FindInstanceByAddress looks an instance up by VPC and private IPv4
-- address (the UNIQUE constraint of 0002 indexes it) or IPv6 address.
CREATE INDEX instances_by_ipv6 ON instances (vpc_id, ipv6_address);
