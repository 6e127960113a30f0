-- 0007_live_tunnels: the open tunnels replicas publish (store.LiveTunnels),
-- so that any replica lists and terminates any tunnel. Times are INTEGER
-- microseconds UTC. terminate_message is set by the replica that was asked
-- to end a tunnel another one carries.

CREATE TABLE live_tunnels (
    tunnel_id         TEXT PRIMARY KEY,
    replica_id        TEXT NOT NULL,
    endpoint_id       TEXT NOT NULL,
    agent_id          TEXT NOT NULL,
    principal         TEXT NOT NULL,
    source_ip         TEXT NOT NULL,
    address           TEXT NOT NULL,
    port              INTEGER NOT NULL,
    started_at        INTEGER NOT NULL,
    deadline          INTEGER NOT NULL,
    bytes_in          INTEGER NOT NULL,
    bytes_out         INTEGER NOT NULL,
    updated_at        INTEGER NOT NULL,
    terminate_message TEXT
) STRICT;

CREATE INDEX live_tunnels_by_replica ON live_tunnels (replica_id);
