-- 0033_open_tunnels_no_opened_at: open_tunnels loses opened_at (sqlite
-- dialect; migrations/postgres/0033_open_tunnels_no_opened_at.sql mirrors
-- it). Nothing has read it since recovery pages through the journal by
-- tunnel id (UnclosedTunnelsAfter) and takes a tunnel's time from its
-- OpenTunnel record, yet every tunnel's open paid for writing it.
ALTER TABLE open_tunnels DROP COLUMN opened_at;
