-- 0003_ec2_listing: faster EC2 listings (PostgreSQL dialect; mirrors
-- migrations/sqlite/0003_ec2_listing.sql).
--
-- 1. resource_tags is keyed by (resource_id, seq), so reading a
--    resource's tags in insertion order is a walk of the primary key; the
--    key stays unique per resource through its own constraint (the target
--    of the store's ON CONFLICT (resource_id, tag_key) upsert).
--
-- 2. change_counters holds counters that triggers bump inside every
--    transaction that changes what they count. The store caches the full
--    endpoint listing together with the 'endpoints' counter it was read
--    at, and serves it again only while the counter is unchanged. Because
--    the triggers live in the database, every writer is covered: every
--    replica, an operator's psql session. The triggers are row-level,
--    like SQLite's, so a statement that changes nothing bumps nothing.

ALTER TABLE resource_tags DROP CONSTRAINT resource_tags_pkey;
ALTER TABLE resource_tags ADD PRIMARY KEY (resource_id, seq);
ALTER TABLE resource_tags ADD CONSTRAINT resource_tags_resource_id_tag_key_key UNIQUE (resource_id, tag_key);

CREATE TABLE change_counters (
    name TEXT COLLATE "C" PRIMARY KEY,
    n    BIGINT NOT NULL
);

INSERT INTO change_counters (name, n) VALUES ('endpoints', 0);

-- What an endpoint listing shows: the endpoints, their groups, network
-- interfaces and tags.

CREATE FUNCTION postern_endpoints_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE change_counters SET n = n + 1 WHERE name = 'endpoints';
    RETURN NULL;
END;
$$;

CREATE TRIGGER endpoints_changed AFTER INSERT OR UPDATE OR DELETE ON endpoints
    FOR EACH ROW EXECUTE FUNCTION postern_endpoints_changed();
CREATE TRIGGER endpoint_groups_changed AFTER INSERT OR UPDATE OR DELETE ON endpoint_security_groups
    FOR EACH ROW EXECUTE FUNCTION postern_endpoints_changed();
CREATE TRIGGER endpoint_enis_changed AFTER INSERT OR UPDATE OR DELETE ON endpoint_network_interfaces
    FOR EACH ROW EXECUTE FUNCTION postern_endpoints_changed();

-- Tags count only when they belong to an endpoint. Tags written before
-- their endpoint exists are invisible until the endpoint's own insert,
-- which bumps the counter.
CREATE FUNCTION postern_endpoint_tags_changed() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    ids TEXT[];
BEGIN
    IF TG_OP = 'INSERT' THEN
        ids := ARRAY[NEW.resource_id];
    ELSIF TG_OP = 'UPDATE' THEN
        ids := ARRAY[OLD.resource_id, NEW.resource_id];
    ELSE
        ids := ARRAY[OLD.resource_id];
    END IF;
    IF EXISTS (SELECT 1 FROM endpoints WHERE endpoint_id = ANY (ids)) THEN
        UPDATE change_counters SET n = n + 1 WHERE name = 'endpoints';
    END IF;
    RETURN NULL;
END;
$$;

CREATE TRIGGER endpoint_tags_changed AFTER INSERT OR UPDATE OR DELETE ON resource_tags
    FOR EACH ROW EXECUTE FUNCTION postern_endpoint_tags_changed();
