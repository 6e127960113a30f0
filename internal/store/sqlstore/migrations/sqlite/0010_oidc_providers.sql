-- 0010_oidc_providers: IAM OpenID Connect identity providers, and the web
-- identity behind role sessions issued by AssumeRoleWithWebIdentity
-- (SQLite dialect; migrations/postgres/0010_oidc_providers.sql mirrors
-- it). Times are INTEGER microseconds UTC.

-- client_ids, thumbprints and tags are JSON arrays (of strings; of
-- {"Key","Value"} objects), in the order IAM shows them.
CREATE TABLE oidc_providers (
    arn         TEXT PRIMARY KEY,
    url         TEXT NOT NULL,
    client_ids  TEXT NOT NULL,
    thumbprints TEXT NOT NULL,
    tags        TEXT NOT NULL,
    create_date INTEGER NOT NULL
) STRICT;

-- The federated identity of a role session ('' for other sessions);
-- fed_tags is a JSON array of {"Key","Value"} objects.
ALTER TABLE sessions ADD COLUMN fed_provider TEXT NOT NULL DEFAULT '';
ALTER TABLE sessions ADD COLUMN fed_subject TEXT NOT NULL DEFAULT '';
ALTER TABLE sessions ADD COLUMN fed_audience TEXT NOT NULL DEFAULT '';
ALTER TABLE sessions ADD COLUMN source_identity TEXT NOT NULL DEFAULT '';
ALTER TABLE sessions ADD COLUMN fed_tags TEXT NOT NULL DEFAULT '';
