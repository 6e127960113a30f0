-- 0005_ssh_keys: SSH public keys pushed with SendSSHPublicKey (store.SSHKeys),
-- valid for one OS user of one instance until expires_at, with the
-- server's signature over each entry. Times are INTEGER microseconds UTC.

CREATE TABLE pushed_keys (
    key_id      TEXT PRIMARY KEY,
    instance_id TEXT NOT NULL,
    os_user     TEXT NOT NULL,
    public_key  TEXT NOT NULL,
    caller_arn  TEXT NOT NULL,
    request_id  TEXT NOT NULL,
    created_at  INTEGER NOT NULL,
    expires_at  INTEGER NOT NULL,
    signature   BLOB NOT NULL
) STRICT;

CREATE INDEX pushed_keys_by_user ON pushed_keys (instance_id, os_user, expires_at);
CREATE INDEX pushed_keys_by_expiry ON pushed_keys (expires_at);
