-- 0006_replicas: the running server replicas (store.Replicas), which agents
-- link to (PostgreSQL dialect; mirrors migrations/sqlite/0006_replicas.sql).
-- Times are BIGINT microseconds UTC.

CREATE TABLE replicas (
    replica_id TEXT COLLATE "C" PRIMARY KEY,
    advertise  TEXT COLLATE "C" NOT NULL,
    started_at BIGINT NOT NULL,
    last_seen  BIGINT NOT NULL
);

CREATE INDEX replicas_by_last_seen ON replicas (last_seen);
