-- 0010_oidc_providers: IAM OpenID Connect identity providers, and the web
-- identity behind role sessions issued by AssumeRoleWithWebIdentity
-- (PostgreSQL dialect; mirrors migrations/sqlite/0010_oidc_providers.sql).
-- Times are BIGINT microseconds UTC.

CREATE TABLE oidc_providers (
    arn         TEXT COLLATE "C" PRIMARY KEY,
    url         TEXT COLLATE "C" NOT NULL,
    client_ids  TEXT COLLATE "C" NOT NULL,
    thumbprints TEXT COLLATE "C" NOT NULL,
    tags        TEXT COLLATE "C" NOT NULL,
    create_date BIGINT NOT NULL
);

ALTER TABLE sessions ADD COLUMN fed_provider TEXT COLLATE "C" NOT NULL DEFAULT '';
ALTER TABLE sessions ADD COLUMN fed_subject TEXT COLLATE "C" NOT NULL DEFAULT '';
ALTER TABLE sessions ADD COLUMN fed_audience TEXT COLLATE "C" NOT NULL DEFAULT '';
ALTER TABLE sessions ADD COLUMN source_identity TEXT COLLATE "C" NOT NULL DEFAULT '';
ALTER TABLE sessions ADD COLUMN fed_tags TEXT COLLATE "C" NOT NULL DEFAULT '';
