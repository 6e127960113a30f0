-- 0007_live_tunnels: the open tunnels replicas publish (store.LiveTunnels),
-- so that any replica lists and terminates any tunnel (PostgreSQL dialect;
-- mirrors migrations/sqlite/0007_live_tunnels.sql). Times are BIGINT
-- microseconds UTC.

CREATE TABLE live_tunnels (
    tunnel_id         TEXT COLLATE "C" PRIMARY KEY,
    replica_id        TEXT COLLATE "C" NOT NULL,
    endpoint_id       TEXT COLLATE "C" NOT NULL,
    agent_id          TEXT COLLATE "C" NOT NULL,
    principal         TEXT NOT NULL,
    source_ip         TEXT NOT NULL,
    address           TEXT NOT NULL,
    port              INTEGER NOT NULL,
    started_at        BIGINT NOT NULL,
    deadline          BIGINT NOT NULL,
    bytes_in          BIGINT NOT NULL,
    bytes_out         BIGINT NOT NULL,
    updated_at        BIGINT NOT NULL,
    terminate_message TEXT
);

CREATE INDEX live_tunnels_by_replica ON live_tunnels (replica_id);
