-- 0003_ec2_listing: faster EC2 listings.
--
-- 1. resource_tags is keyed by (resource_id, seq), so reading a resource's
--    tags in insertion order is a walk of the primary key with no sort;
--    the key stays unique per resource through its own index. seq values
--    are kept.
--
-- 2. change_counters holds counters that triggers bump inside every
--    transaction that changes what they count. The store caches the full
--    endpoint listing together with the 'endpoints' counter it was read
--    at, and serves it again only while the counter is unchanged. Because
--    the triggers live in the database, every writer is covered: this
--    process, another process on the same file, an operator's sqlite3
--    shell. A dialect must keep these counters with the same triggers.

CREATE TABLE resource_tags_new (
    resource_id TEXT NOT NULL,
    seq         INTEGER NOT NULL, -- insertion order within the resource
    tag_key     TEXT NOT NULL,
    tag_value   TEXT NOT NULL,
    PRIMARY KEY (resource_id, seq),
    UNIQUE (resource_id, tag_key)
) STRICT, WITHOUT ROWID;

INSERT INTO resource_tags_new (resource_id, seq, tag_key, tag_value)
    SELECT resource_id, seq, tag_key, tag_value FROM resource_tags;

DROP TABLE resource_tags;

ALTER TABLE resource_tags_new RENAME TO resource_tags;

CREATE INDEX tags_by_key_value ON resource_tags (tag_key, tag_value);

CREATE TABLE change_counters (
    name TEXT PRIMARY KEY,
    n    INTEGER NOT NULL
) STRICT, WITHOUT ROWID;

INSERT INTO change_counters (name, n) VALUES ('endpoints', 0);

-- What an endpoint listing shows: the endpoints, their groups, network
-- interfaces and tags.

CREATE TRIGGER endpoints_changed_insert AFTER INSERT ON endpoints
BEGIN UPDATE change_counters SET n = n + 1 WHERE name = 'endpoints'; END;
CREATE TRIGGER endpoints_changed_update AFTER UPDATE ON endpoints
BEGIN UPDATE change_counters SET n = n + 1 WHERE name = 'endpoints'; END;
CREATE TRIGGER endpoints_changed_delete AFTER DELETE ON endpoints
BEGIN UPDATE change_counters SET n = n + 1 WHERE name = 'endpoints'; END;

CREATE TRIGGER endpoint_groups_changed_insert AFTER INSERT ON endpoint_security_groups
BEGIN UPDATE change_counters SET n = n + 1 WHERE name = 'endpoints'; END;
CREATE TRIGGER endpoint_groups_changed_update AFTER UPDATE ON endpoint_security_groups
BEGIN UPDATE change_counters SET n = n + 1 WHERE name = 'endpoints'; END;
CREATE TRIGGER endpoint_groups_changed_delete AFTER DELETE ON endpoint_security_groups
BEGIN UPDATE change_counters SET n = n + 1 WHERE name = 'endpoints'; END;

CREATE TRIGGER endpoint_enis_changed_insert AFTER INSERT ON endpoint_network_interfaces
BEGIN UPDATE change_counters SET n = n + 1 WHERE name = 'endpoints'; END;
CREATE TRIGGER endpoint_enis_changed_update AFTER UPDATE ON endpoint_network_interfaces
BEGIN UPDATE change_counters SET n = n + 1 WHERE name = 'endpoints'; END;
CREATE TRIGGER endpoint_enis_changed_delete AFTER DELETE ON endpoint_network_interfaces
BEGIN UPDATE change_counters SET n = n + 1 WHERE name = 'endpoints'; END;

-- Tags count only when they belong to an endpoint. Tags written before
-- their endpoint exists are invisible until the endpoint's own insert,
-- which bumps the counter.
CREATE TRIGGER endpoint_tags_changed_insert AFTER INSERT ON resource_tags
WHEN EXISTS (SELECT 1 FROM endpoints WHERE endpoint_id = NEW.resource_id)
BEGIN UPDATE change_counters SET n = n + 1 WHERE name = 'endpoints'; END;
CREATE TRIGGER endpoint_tags_changed_update AFTER UPDATE ON resource_tags
WHEN EXISTS (SELECT 1 FROM endpoints WHERE endpoint_id IN (OLD.resource_id, NEW.resource_id))
BEGIN UPDATE change_counters SET n = n + 1 WHERE name = 'endpoints'; END;
CREATE TRIGGER endpoint_tags_changed_delete AFTER DELETE ON resource_tags
WHEN EXISTS (SELECT 1 FROM endpoints WHERE endpoint_id = OLD.resource_id)
BEGIN UPDATE change_counters SET n = n + 1 WHERE name = 'endpoints'; END;
