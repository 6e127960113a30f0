-- 0009_host_keys: SSH host keys pinned by the console's terminal
-- (store.HostKeys), one per instance. Times are INTEGER microseconds UTC.

CREATE TABLE host_key_pins (
    instance_id TEXT PRIMARY KEY,
    host_key    TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    pinned_by   TEXT NOT NULL,
    pinned_at   INTEGER NOT NULL
) STRICT;
