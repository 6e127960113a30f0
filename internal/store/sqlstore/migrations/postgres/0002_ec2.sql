-- 0002_ec2: the private-network model and Instance Connect Endpoints
-- (PostgreSQL dialect; mirrors migrations/sqlite/0002_ec2.sql).
--
-- Conventions as in 0001: times are BIGINT microseconds UTC, flags are
-- integers 0/1, TEXT is COLLATE "C"; names AWS compares
-- case-insensitively have a lower-cased key column filled in Go. Tags of
-- every EC2 resource live in one table keyed by the resource id; they are
-- removed by the store when their resource is deleted.

CREATE TABLE vpcs (
    vpc_id          TEXT COLLATE "C" PRIMARY KEY,
    cidr_block      TEXT COLLATE "C" NOT NULL,
    ipv6_cidr_block TEXT COLLATE "C" NOT NULL,
    state           TEXT COLLATE "C" NOT NULL,
    create_date     BIGINT NOT NULL
);

CREATE TABLE subnets (
    subnet_id            TEXT COLLATE "C" PRIMARY KEY,
    vpc_id               TEXT COLLATE "C" NOT NULL REFERENCES vpcs (vpc_id),
    cidr_block           TEXT COLLATE "C" NOT NULL,
    ipv6_cidr_block      TEXT COLLATE "C" NOT NULL,
    availability_zone    TEXT COLLATE "C" NOT NULL,
    availability_zone_id TEXT COLLATE "C" NOT NULL,
    state                TEXT COLLATE "C" NOT NULL,
    create_date          BIGINT NOT NULL
);

CREATE INDEX subnets_by_vpc ON subnets (vpc_id);

CREATE TABLE security_groups (
    group_id    TEXT COLLATE "C" PRIMARY KEY,
    vpc_id      TEXT COLLATE "C" NOT NULL REFERENCES vpcs (vpc_id),
    group_name  TEXT COLLATE "C" NOT NULL,
    name_key    TEXT COLLATE "C" NOT NULL,
    description TEXT COLLATE "C" NOT NULL,
    is_default  INTEGER NOT NULL,
    create_date BIGINT NOT NULL,
    UNIQUE (vpc_id, name_key)
);

CREATE TABLE security_group_rules (
    rule_id             TEXT COLLATE "C" PRIMARY KEY,
    group_id            TEXT COLLATE "C" NOT NULL REFERENCES security_groups (group_id),
    is_egress           INTEGER NOT NULL,
    ip_protocol         TEXT COLLATE "C" NOT NULL,
    from_port           INTEGER NOT NULL,
    to_port             INTEGER NOT NULL,
    cidr_ipv4           TEXT COLLATE "C" NOT NULL,
    cidr_ipv6           TEXT COLLATE "C" NOT NULL,
    referenced_group_id TEXT COLLATE "C" NOT NULL,
    description         TEXT COLLATE "C" NOT NULL,
    UNIQUE (group_id, is_egress, ip_protocol, from_port, to_port, cidr_ipv4, cidr_ipv6, referenced_group_id)
);

CREATE INDEX rules_by_referenced_group ON security_group_rules (referenced_group_id);

CREATE TABLE instances (
    instance_id        TEXT COLLATE "C" PRIMARY KEY,
    subnet_id          TEXT COLLATE "C" NOT NULL REFERENCES subnets (subnet_id),
    vpc_id             TEXT COLLATE "C" NOT NULL REFERENCES vpcs (vpc_id),
    private_ip_address TEXT COLLATE "C" NOT NULL,
    ipv6_address       TEXT COLLATE "C" NOT NULL,
    public_ip_address  TEXT COLLATE "C" NOT NULL,
    platform           TEXT COLLATE "C" NOT NULL,
    availability_zone  TEXT COLLATE "C" NOT NULL,
    state              TEXT COLLATE "C" NOT NULL,
    launch_time        BIGINT NOT NULL,
    UNIQUE (vpc_id, private_ip_address)
);

CREATE INDEX instances_by_subnet ON instances (subnet_id);

CREATE TABLE instance_security_groups (
    instance_id TEXT COLLATE "C" NOT NULL REFERENCES instances (instance_id) ON DELETE CASCADE,
    position    INTEGER NOT NULL,
    group_id    TEXT COLLATE "C" NOT NULL REFERENCES security_groups (group_id),
    PRIMARY KEY (instance_id, position)
);

CREATE INDEX instance_groups_by_group ON instance_security_groups (group_id);

CREATE TABLE endpoints (
    endpoint_id          TEXT COLLATE "C" PRIMARY KEY,
    arn                  TEXT COLLATE "C" NOT NULL,
    owner_id             TEXT COLLATE "C" NOT NULL,
    state                TEXT COLLATE "C" NOT NULL,
    state_message        TEXT COLLATE "C" NOT NULL,
    dns_name             TEXT COLLATE "C" NOT NULL,
    fips_dns_name        TEXT COLLATE "C" NOT NULL,
    subnet_id            TEXT COLLATE "C" NOT NULL REFERENCES subnets (subnet_id),
    vpc_id               TEXT COLLATE "C" NOT NULL REFERENCES vpcs (vpc_id),
    availability_zone    TEXT COLLATE "C" NOT NULL,
    availability_zone_id TEXT COLLATE "C" NOT NULL,
    preserve_client_ip   INTEGER NOT NULL,
    ip_address_type      TEXT COLLATE "C" NOT NULL,
    client_token         TEXT COLLATE "C" NOT NULL,
    created_at           BIGINT NOT NULL,
    deleted_at           BIGINT NOT NULL -- 0 while the endpoint lives
);

CREATE INDEX endpoints_by_subnet ON endpoints (subnet_id);
CREATE INDEX endpoints_by_vpc ON endpoints (vpc_id);

CREATE TABLE endpoint_security_groups (
    endpoint_id TEXT COLLATE "C" NOT NULL REFERENCES endpoints (endpoint_id) ON DELETE CASCADE,
    position    INTEGER NOT NULL,
    group_id    TEXT COLLATE "C" NOT NULL REFERENCES security_groups (group_id),
    PRIMARY KEY (endpoint_id, position)
);

CREATE INDEX endpoint_groups_by_group ON endpoint_security_groups (group_id);

CREATE TABLE endpoint_network_interfaces (
    endpoint_id TEXT COLLATE "C" NOT NULL REFERENCES endpoints (endpoint_id) ON DELETE CASCADE,
    position    INTEGER NOT NULL,
    eni_id      TEXT COLLATE "C" NOT NULL,
    PRIMARY KEY (endpoint_id, position)
);

CREATE TABLE resource_tags (
    resource_id TEXT COLLATE "C" NOT NULL,
    tag_key     TEXT COLLATE "C" NOT NULL,
    tag_value   TEXT COLLATE "C" NOT NULL,
    seq         INTEGER NOT NULL, -- insertion order
    PRIMARY KEY (resource_id, tag_key)
);

CREATE INDEX tags_by_key_value ON resource_tags (tag_key, tag_value);

CREATE TABLE client_tokens (
    action      TEXT COLLATE "C" NOT NULL,
    token       TEXT COLLATE "C" NOT NULL,
    params_hash TEXT COLLATE "C" NOT NULL,
    resource_id TEXT COLLATE "C" NOT NULL,
    create_date BIGINT NOT NULL,
    PRIMARY KEY (action, token)
);
