-- 0032_open_tunnels: the journal of tunnels recorded open and not yet
-- recorded closed (postgres dialect; mirrors
-- migrations/sqlite/0032_open_tunnels.sql). A row is inserted in the
-- transaction that commits a tunnel's OpenTunnel record and deleted in the
-- one that commits its CloseTunnel record, so the rows are exactly the
-- tunnels the trail shows open. carrier is the replica that carries the
-- tunnel. When a replica is taken for gone (a restarted server is a new
-- replica), the rows of its tunnels are closed: a CloseTunnel record is
-- committed with the row's deletion. Times are BIGINT microseconds UTC.
-- Tunnels opened before this migration have no row.
CREATE TABLE open_tunnels (
    tunnel_id     TEXT COLLATE "C" PRIMARY KEY,
    carrier       TEXT COLLATE "C" NOT NULL,
    open_event_id TEXT COLLATE "C" NOT NULL,
    opened_at     BIGINT NOT NULL
);
