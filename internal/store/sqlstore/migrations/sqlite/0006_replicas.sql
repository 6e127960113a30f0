-- 0006_replicas: the running server replicas (store.Replicas), which agents
-- link to, each refreshed by its replica every few seconds. Times are
-- INTEGER microseconds UTC.

CREATE TABLE replicas (
    replica_id TEXT PRIMARY KEY,
    advertise  TEXT NOT NULL,
    started_at INTEGER NOT NULL,
    last_seen  INTEGER NOT NULL
) STRICT;

CREATE INDEX replicas_by_last_seen ON replicas (last_seen);
