-- 0009_host_keys: SSH host keys pinned by the console's terminal
-- (store.HostKeys), one per instance (PostgreSQL dialect; mirrors
-- migrations/sqlite/0009_host_keys.sql). Times are BIGINT microseconds UTC.

CREATE TABLE host_key_pins (
    instance_id TEXT COLLATE "C" PRIMARY KEY,
    host_key    TEXT COLLATE "C" NOT NULL,
    fingerprint TEXT COLLATE "C" NOT NULL,
    pinned_by   TEXT COLLATE "C" NOT NULL,
    pinned_at   BIGINT NOT NULL
);
