-- 0033_open_tunnels_no_opened_at: open_tunnels.opened_at is no longer
-- written (postgres dialect; the sqlite dialect's 0033 drops the column).
-- Nothing has read it since recovery pages through the journal by tunnel
-- id (UnclosedTunnelsAfter) and takes a tunnel's time from its OpenTunnel
-- record. Here it only loses NOT NULL, and is not dropped: replicas share
-- a PostgreSQL database, and a replica of an older version still running
-- during a rolling upgrade writes it on every tunnel open; dropping the
-- column would make each of those opens fail. A later migration can drop
-- it once no pre-0033 replica can be running.
ALTER TABLE open_tunnels ALTER COLUMN opened_at DROP NOT NULL;
