-- 0002_ec2: the private-network model and Instance Connect Endpoints.
--
-- Conventions as in 0001: times are INTEGER microseconds UTC; names AWS
-- compares case-insensitively have a lower-cased key column filled in Go.
-- Tags of every EC2 resource live in one table keyed by the resource id;
-- they are removed by the store when their resource is deleted.

CREATE TABLE vpcs (
    vpc_id          TEXT PRIMARY KEY,
    cidr_block      TEXT NOT NULL,
    ipv6_cidr_block TEXT NOT NULL,
    state           TEXT NOT NULL,
    create_date     INTEGER NOT NULL
) STRICT;

CREATE TABLE subnets (
    subnet_id            TEXT PRIMARY KEY,
    vpc_id               TEXT NOT NULL REFERENCES vpcs (vpc_id),
    cidr_block           TEXT NOT NULL,
    ipv6_cidr_block      TEXT NOT NULL,
    availability_zone    TEXT NOT NULL,
    availability_zone_id TEXT NOT NULL,
    state                TEXT NOT NULL,
    create_date          INTEGER NOT NULL
) STRICT;

CREATE INDEX subnets_by_vpc ON subnets (vpc_id);

CREATE TABLE security_groups (
    group_id    TEXT PRIMARY KEY,
    vpc_id      TEXT NOT NULL REFERENCES vpcs (vpc_id),
    group_name  TEXT NOT NULL,
    name_key    TEXT NOT NULL,
    description TEXT NOT NULL,
    is_default  INTEGER NOT NULL,
    create_date INTEGER NOT NULL,
    UNIQUE (vpc_id, name_key)
) STRICT;

CREATE TABLE security_group_rules (
    rule_id             TEXT PRIMARY KEY,
    group_id            TEXT NOT NULL REFERENCES security_groups (group_id),
    is_egress           INTEGER NOT NULL,
    ip_protocol         TEXT NOT NULL,
    from_port           INTEGER NOT NULL,
    to_port             INTEGER NOT NULL,
    cidr_ipv4           TEXT NOT NULL,
    cidr_ipv6           TEXT NOT NULL,
    referenced_group_id TEXT NOT NULL,
    description         TEXT NOT NULL,
    UNIQUE (group_id, is_egress, ip_protocol, from_port, to_port, cidr_ipv4, cidr_ipv6, referenced_group_id)
) STRICT;

CREATE INDEX rules_by_referenced_group ON security_group_rules (referenced_group_id);

CREATE TABLE instances (
    instance_id        TEXT PRIMARY KEY,
    subnet_id          TEXT NOT NULL REFERENCES subnets (subnet_id),
    vpc_id             TEXT NOT NULL REFERENCES vpcs (vpc_id),
    private_ip_address TEXT NOT NULL,
    ipv6_address       TEXT NOT NULL,
    public_ip_address  TEXT NOT NULL,
    platform           TEXT NOT NULL,
    availability_zone  TEXT NOT NULL,
    state              TEXT NOT NULL,
    launch_time        INTEGER NOT NULL,
    UNIQUE (vpc_id, private_ip_address)
) STRICT;

CREATE INDEX instances_by_subnet ON instances (subnet_id);

CREATE TABLE instance_security_groups (
    instance_id TEXT NOT NULL REFERENCES instances (instance_id) ON DELETE CASCADE,
    position    INTEGER NOT NULL,
    group_id    TEXT NOT NULL REFERENCES security_groups (group_id),
    PRIMARY KEY (instance_id, position)
) STRICT, WITHOUT ROWID;

CREATE INDEX instance_groups_by_group ON instance_security_groups (group_id);

CREATE TABLE endpoints (
    endpoint_id          TEXT PRIMARY KEY,
    arn                  TEXT NOT NULL,
    owner_id             TEXT NOT NULL,
    state                TEXT NOT NULL,
    state_message        TEXT NOT NULL,
    dns_name             TEXT NOT NULL,
    fips_dns_name        TEXT NOT NULL,
    subnet_id            TEXT NOT NULL REFERENCES subnets (subnet_id),
    vpc_id               TEXT NOT NULL REFERENCES vpcs (vpc_id),
    availability_zone    TEXT NOT NULL,
    availability_zone_id TEXT NOT NULL,
    preserve_client_ip   INTEGER NOT NULL,
    ip_address_type      TEXT NOT NULL,
    client_token         TEXT NOT NULL,
    created_at           INTEGER NOT NULL,
    deleted_at           INTEGER NOT NULL -- 0 while the endpoint lives
) STRICT;

CREATE INDEX endpoints_by_subnet ON endpoints (subnet_id);
CREATE INDEX endpoints_by_vpc ON endpoints (vpc_id);

CREATE TABLE endpoint_security_groups (
    endpoint_id TEXT NOT NULL REFERENCES endpoints (endpoint_id) ON DELETE CASCADE,
    position    INTEGER NOT NULL,
    group_id    TEXT NOT NULL REFERENCES security_groups (group_id),
    PRIMARY KEY (endpoint_id, position)
) STRICT, WITHOUT ROWID;

CREATE INDEX endpoint_groups_by_group ON endpoint_security_groups (group_id);

CREATE TABLE endpoint_network_interfaces (
    endpoint_id TEXT NOT NULL REFERENCES endpoints (endpoint_id) ON DELETE CASCADE,
    position    INTEGER NOT NULL,
    eni_id      TEXT NOT NULL,
    PRIMARY KEY (endpoint_id, position)
) STRICT, WITHOUT ROWID;

CREATE TABLE resource_tags (
    resource_id TEXT NOT NULL,
    tag_key     TEXT NOT NULL,
    tag_value   TEXT NOT NULL,
    seq         INTEGER NOT NULL, -- insertion order
    PRIMARY KEY (resource_id, tag_key)
) STRICT, WITHOUT ROWID;

CREATE INDEX tags_by_key_value ON resource_tags (tag_key, tag_value);

CREATE TABLE client_tokens (
    action      TEXT NOT NULL,
    token       TEXT NOT NULL,
    params_hash TEXT NOT NULL,
    resource_id TEXT NOT NULL,
    create_date INTEGER NOT NULL,
    PRIMARY KEY (action, token)
) STRICT, WITHOUT ROWID;
