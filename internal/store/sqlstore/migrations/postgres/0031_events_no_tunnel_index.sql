-- 0031_events_no_tunnel_index: the events table loses its index on
-- tunnel_id (postgres dialect; migrations/sqlite/0031_events_no_tunnel_index.sql
-- mirrors it). No query of Postern's filters events by tunnel (CloudTrail's
-- LookupEvents has no such attribute; the console lists by event name and
-- access key, which events_by_name_time serves), yet every record, the
-- record of each read-only API call included, paid for keeping it: about
-- a seventh of the CPU of a read-only record's commit with SQLite.
-- ListEvents still filters by tunnel, by reading the table.
DROP INDEX events_by_tunnel;
