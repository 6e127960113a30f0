-- 0008_console_sign_in: IAM login profiles, the account password policy,
-- virtual MFA devices, and console sessions of IAM users (PostgreSQL
-- dialect; mirrors migrations/sqlite/0008_console_sign_in.sql). Times are
-- BIGINT microseconds UTC, 0 while unset; flags are INTEGER 0/1.

ALTER TABLE sessions ADD COLUMN user_id TEXT COLLATE "C" NOT NULL DEFAULT '';
ALTER TABLE sessions ADD COLUMN mfa_authenticated INTEGER NOT NULL DEFAULT 0;
ALTER TABLE sessions ADD COLUMN auth_time BIGINT NOT NULL DEFAULT 0;

CREATE TABLE login_profiles (
    user_id                 TEXT COLLATE "C" PRIMARY KEY REFERENCES users (user_id),
    password_hash           TEXT COLLATE "C" NOT NULL,
    password_reset_required INTEGER NOT NULL,
    create_date             BIGINT NOT NULL,
    password_changed        BIGINT NOT NULL,
    password_history        TEXT COLLATE "C" NOT NULL,
    password_last_used      BIGINT NOT NULL
);

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
);

CREATE TABLE mfa_devices (
    serial_number  TEXT COLLATE "C" PRIMARY KEY,
    device_name    TEXT COLLATE "C" NOT NULL,
    name_key       TEXT COLLATE "C" NOT NULL UNIQUE,
    path           TEXT COLLATE "C" NOT NULL,
    seed_sealed    BYTEA NOT NULL,
    create_date    BIGINT NOT NULL,
    user_id        TEXT COLLATE "C" REFERENCES users (user_id),
    enable_date    BIGINT NOT NULL,
    last_used_step BIGINT NOT NULL
);

CREATE INDEX mfa_devices_by_user ON mfa_devices (user_id, enable_date);

CREATE TABLE mfa_device_tags (
    serial_number TEXT COLLATE "C" NOT NULL REFERENCES mfa_devices (serial_number) ON DELETE CASCADE,
    position      INTEGER NOT NULL,
    tag_key       TEXT COLLATE "C" NOT NULL,
    tag_value     TEXT COLLATE "C" NOT NULL,
    PRIMARY KEY (serial_number, position)
);
