-- 0001_init: Postern's initial schema (SQLite dialect).
--
-- Conventions (the PostgreSQL dialect mirrors them):
--   * Every name that AWS compares case-insensitively (user, group, role and
--     managed-policy names) is stored twice: as given (user_name, ...) and
--     lower-cased by the application in name_key, which carries the UNIQUE
--     constraint and the ORDER BY of every list. Lower-casing happens in Go,
--     not in SQL, so every dialect agrees on the key.
--   * Timestamps are INTEGER microseconds since the Unix epoch, UTC.
--   * Child rows reference their parent's immutable AWS id (AIDA..., AGPA...,
--     AROA..., ANPA...), never its name, so a future rename touches one row.
--   * Dependents that must block a delete (access keys, memberships,
--     policies, attachments) use the default NO ACTION foreign keys: deleting
--     the parent fails, which the store reports as store.ErrInUse. Tags are
--     owned by their resource and cascade.
--   * Inline policies and attachments name their owner through exactly one of
--     three nullable foreign keys (user_id, group_id, role_id), so every owner
--     kind still gets a real foreign key.

CREATE TABLE settings (
    name  TEXT PRIMARY KEY,
    value TEXT NOT NULL
) STRICT;

CREATE TABLE users (
    user_id     TEXT PRIMARY KEY,
    user_name   TEXT NOT NULL,
    name_key    TEXT NOT NULL UNIQUE,
    path        TEXT NOT NULL,
    arn         TEXT NOT NULL,
    create_date INTEGER NOT NULL
) STRICT;

CREATE TABLE user_tags (
    user_id   TEXT NOT NULL REFERENCES users (user_id) ON DELETE CASCADE,
    position  INTEGER NOT NULL,
    tag_key   TEXT NOT NULL,
    tag_value TEXT NOT NULL,
    PRIMARY KEY (user_id, position)
) STRICT, WITHOUT ROWID;

CREATE TABLE access_keys (
    access_key_id TEXT PRIMARY KEY,
    user_id       TEXT NOT NULL REFERENCES users (user_id),
    secret_sealed BLOB NOT NULL,
    status        TEXT NOT NULL CHECK (status IN ('Active', 'Inactive')),
    create_date   INTEGER NOT NULL
) STRICT;

CREATE INDEX access_keys_by_user ON access_keys (user_id, create_date);

CREATE TABLE groups (
    group_id    TEXT PRIMARY KEY,
    group_name  TEXT NOT NULL,
    name_key    TEXT NOT NULL UNIQUE,
    path        TEXT NOT NULL,
    arn         TEXT NOT NULL,
    create_date INTEGER NOT NULL
) STRICT;

CREATE TABLE group_members (
    group_id TEXT NOT NULL REFERENCES groups (group_id),
    user_id  TEXT NOT NULL REFERENCES users (user_id),
    PRIMARY KEY (group_id, user_id)
) STRICT, WITHOUT ROWID;

CREATE INDEX group_members_by_user ON group_members (user_id);

CREATE TABLE roles (
    role_id              TEXT PRIMARY KEY,
    role_name            TEXT NOT NULL,
    name_key             TEXT NOT NULL UNIQUE,
    path                 TEXT NOT NULL,
    arn                  TEXT NOT NULL,
    assume_role_policy   TEXT NOT NULL,
    description          TEXT NOT NULL,
    max_session_duration INTEGER NOT NULL,
    create_date          INTEGER NOT NULL
) STRICT;

CREATE TABLE role_tags (
    role_id   TEXT NOT NULL REFERENCES roles (role_id) ON DELETE CASCADE,
    position  INTEGER NOT NULL,
    tag_key   TEXT NOT NULL,
    tag_value TEXT NOT NULL,
    PRIMARY KEY (role_id, position)
) STRICT, WITHOUT ROWID;

CREATE TABLE inline_policies (
    id          INTEGER PRIMARY KEY,
    user_id     TEXT REFERENCES users (user_id),
    group_id    TEXT REFERENCES groups (group_id),
    role_id     TEXT REFERENCES roles (role_id),
    policy_name TEXT NOT NULL,
    document    TEXT NOT NULL,
    CHECK ((user_id IS NOT NULL) + (group_id IS NOT NULL) + (role_id IS NOT NULL) = 1),
    UNIQUE (user_id, policy_name),
    UNIQUE (group_id, policy_name),
    UNIQUE (role_id, policy_name)
) STRICT;

CREATE TABLE managed_policies (
    policy_id          TEXT PRIMARY KEY,
    policy_name        TEXT NOT NULL,
    name_key           TEXT NOT NULL UNIQUE,
    path               TEXT NOT NULL,
    arn                TEXT NOT NULL UNIQUE,
    description        TEXT NOT NULL,
    document           TEXT NOT NULL,
    default_version_id TEXT NOT NULL,
    create_date        INTEGER NOT NULL,
    update_date        INTEGER NOT NULL
) STRICT;

CREATE TABLE policy_attachments (
    id        INTEGER PRIMARY KEY,
    policy_id TEXT NOT NULL REFERENCES managed_policies (policy_id),
    user_id   TEXT REFERENCES users (user_id),
    group_id  TEXT REFERENCES groups (group_id),
    role_id   TEXT REFERENCES roles (role_id),
    CHECK ((user_id IS NOT NULL) + (group_id IS NOT NULL) + (role_id IS NOT NULL) = 1),
    UNIQUE (user_id, policy_id),
    UNIQUE (group_id, policy_id),
    UNIQUE (role_id, policy_id)
) STRICT;

CREATE INDEX policy_attachments_by_policy ON policy_attachments (policy_id);

-- Sessions are snapshots of the role at AssumeRole time and deliberately
-- carry no foreign key: deleting a role does not wait for its sessions.
CREATE TABLE sessions (
    access_key_id      TEXT PRIMARY KEY,
    secret_sealed      BLOB NOT NULL,
    session_token_hash BLOB NOT NULL,
    role_name          TEXT NOT NULL,
    role_arn           TEXT NOT NULL,
    role_id            TEXT NOT NULL,
    session_name       TEXT NOT NULL,
    source_user_arn    TEXT NOT NULL,
    source_ip          TEXT NOT NULL,
    expiration         INTEGER NOT NULL,
    create_date        INTEGER NOT NULL
) STRICT;

CREATE INDEX sessions_by_expiration ON sessions (expiration);
