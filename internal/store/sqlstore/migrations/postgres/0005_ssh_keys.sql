-- 0005_ssh_keys: SSH public keys pushed with SendSSHPublicKey (store.SSHKeys),
-- valid for one OS user of one instance until expires_at, with the
-- server's signature over each entry (PostgreSQL dialect; mirrors
-- migrations/sqlite/0005_ssh_keys.sql). Times are BIGINT microseconds UTC.

CREATE TABLE pushed_keys (
    key_id      TEXT COLLATE "C" PRIMARY KEY,
    instance_id TEXT COLLATE "C" NOT NULL,
    os_user     TEXT COLLATE "C" NOT NULL,
    public_key  TEXT COLLATE "C" NOT NULL,
    caller_arn  TEXT COLLATE "C" NOT NULL,
    request_id  TEXT COLLATE "C" NOT NULL,
    created_at  BIGINT NOT NULL,
    expires_at  BIGINT NOT NULL,
    signature   BYTEA NOT NULL
);

CREATE INDEX pushed_keys_by_user ON pushed_keys (instance_id, os_user, expires_at);
CREATE INDEX pushed_keys_by_expiry ON pushed_keys (expires_at);
