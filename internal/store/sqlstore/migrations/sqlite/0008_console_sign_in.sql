-- 0008_console_sign_in: IAM login profiles, the account password policy,
-- virtual MFA devices, and console sessions of IAM users (SQLite dialect;
-- migrations/postgres/0008_console_sign_in.sql mirrors it). Times are
-- INTEGER microseconds UTC, 0 while unset; flags are INTEGER 0/1.

-- A session is a role session (role_id set) or a user's console session
-- (user_id set). Like role sessions, user sessions carry no foreign key:
-- authentication refuses a session whose user is gone.
ALTER TABLE sessions ADD COLUMN user_id TEXT NOT NULL DEFAULT '';
ALTER TABLE sessions ADD COLUMN mfa_authenticated INTEGER NOT NULL DEFAULT 0;
ALTER TABLE sessions ADD COLUMN auth_time INTEGER NOT NULL DEFAULT 0;

-- One per user. password_hash is a PHC string (argon2id); the password is
-- never stored. password_history holds earlier hashes, newest first, one
-- per line. The NO ACTION foreign key makes DeleteUser wait for it
-- (DeleteConflict).
CREATE TABLE login_profiles (
    user_id                 TEXT PRIMARY KEY REFERENCES users (user_id),
    password_hash           TEXT NOT NULL,
    password_reset_required INTEGER NOT NULL,
    create_date             INTEGER NOT NULL,
    password_changed        INTEGER NOT NULL,
    password_history        TEXT NOT NULL,
    password_last_used      INTEGER NOT NULL
) STRICT;

-- The account password policy: at most one row (id = 1).
CREATE TABLE password_policy (
    id                           INTEGER PRIMARY KEY CHECK (id = 1),
    minimum_password_length      INTEGER NOT NULL,
    require_symbols              INTEGER NOT NULL,
    require_numbers              INTEGER NOT NULL,
    require_uppercase_characters INTEGER NOT NULL,
    require_lowercase_characters INTEGER NOT NULL,
    allow_users_to_change        INTEGER NOT NULL,
    max_password_age             INTEGER NOT NULL,
    password_reuse_prevention    INTEGER NOT NULL,
    hard_expiry                  INTEGER NOT NULL
) STRICT;

-- Virtual MFA devices. seed_sealed is the TOTP seed sealed by package
-- sealer. user_id is NULL while the device is not enabled for a user; a
-- device enabled for a user blocks the user's deletion (DeleteConflict).
-- last_used_step is the TOTP time step of the last accepted code.
CREATE TABLE mfa_devices (
    serial_number  TEXT PRIMARY KEY,
    device_name    TEXT NOT NULL,
    name_key       TEXT NOT NULL UNIQUE,
    path           TEXT NOT NULL,
    seed_sealed    BLOB NOT NULL,
    create_date    INTEGER NOT NULL,
    user_id        TEXT REFERENCES users (user_id),
    enable_date    INTEGER NOT NULL,
    last_used_step INTEGER NOT NULL
) STRICT;

CREATE INDEX mfa_devices_by_user ON mfa_devices (user_id, enable_date);

CREATE TABLE mfa_device_tags (
    serial_number TEXT NOT NULL REFERENCES mfa_devices (serial_number) ON DELETE CASCADE,
    position      INTEGER NOT NULL,
    tag_key       TEXT NOT NULL,
    tag_value     TEXT NOT NULL,
    PRIMARY KEY (serial_number, position)
) STRICT, WITHOUT ROWID;
