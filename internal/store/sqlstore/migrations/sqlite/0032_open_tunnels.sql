-- 0032_open_tunnels: the journal of tunnels recorded open and not yet
-- recorded closed (sqlite dialect; migrations/postgres/0032_open_tunnels.sql
-- mirrors it). A row is inserted in the transaction that commits a
-- tunnel's OpenTunnel record and deleted in the one that commits its
-- CloseTunnel record, so the rows are exactly the tunnels the trail shows
-- open. carrier is the process that carries the tunnel (its replica id on
-- a shared store). When a server comes back after a crash (or a replica
-- is taken for gone), the rows of carriers that are no more are closed:
-- a CloseTunnel record is committed with the row's deletion. Tunnels
-- opened before this migration have no row.
CREATE TABLE open_tunnels (
    tunnel_id     TEXT PRIMARY KEY,
    carrier       TEXT NOT NULL,
    open_event_id TEXT NOT NULL,
    opened_at     INTEGER NOT NULL
) STRICT, WITHOUT ROWID;
