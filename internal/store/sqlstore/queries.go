package sqlstore

import (
	"strings"

	"github.com/postern/postern/internal/store"
)

// This file is the one place that holds Postern's DML. Statements are
// written with '?' placeholders in the SQL that SQLite and PostgreSQL
// share; newQueries passes each one through the dialect (placeholders,
// upsert clauses). The DDL lives in migrations/<dialect>/.
//
// Names that AWS compares case-insensitively are looked up and ordered by
// their name_key column, which the store fills with strings.ToLower(name).
// Path-prefix filters use substr(path, 1, n) = prefix with n computed in Go,
// so '%' and '_' in a prefix are literal and the comparison is
// case-sensitive, as in AWS.

// principal describes one kind of identity that owns inline policies and
// policy attachments: its table and the id column that inline_policies and
// policy_attachments use to point at it.
type principal struct {
	noun    string // "user", for messages
	table   string // "users"
	idCol   string // "user_id", same name in the owner table and the child tables
	nameCol string // "user_name"
}

// principals maps each store.PrincipalKind to its tables. Only these fixed
// identifiers are ever spliced into SQL text.
var principals = map[store.PrincipalKind]principal{
	store.KindUser:  {noun: "user", table: "users", idCol: "user_id", nameCol: "user_name"},
	store.KindGroup: {noun: "group", table: "groups", idCol: "group_id", nameCol: "group_name"},
	store.KindRole:  {noun: "role", table: "roles", idCol: "role_id", nameCol: "role_name"},
}

// ownerQueries are the statements that depend on the owner's kind.
type ownerQueries struct {
	principal
	lookup       string // id and name of the owner, by name_key
	putInline    string
	getInline    string // by owner name_key and policy name, with the owner's name
	listInline   string // by owner id
	deleteInline string
	attach       string
	detach       string
	listAttached string // by owner id
}

// queries holds every statement, already rewritten for one dialect.
type queries struct {
	getSetting, putSetting string

	insertUser, insertUserTag                          string
	getUser, getUserByID, listUsers                    string
	userDependents, deleteUser                         string
	insertAccessKey, getAccessKey, listAccessKeys      string
	updateAccessKeyStatus, deleteAccessKey             string
	insertGroup, getGroup, listGroups                  string
	groupDependents, deleteGroup                       string
	addMember, removeMember, groupsForUser, membersOf  string
	insertRole, insertRoleTag, getRole, listRoles      string
	getRoleByID                                        string
	updateTrustPolicy, roleDependents, deleteRole      string
	insertPolicy, getPolicy, listPolicies, policyByARN string
	policyAttachments, deletePolicy                    string
	insertSession, getSession, deleteExpiredSessions   string
	deleteSession                                      string
	journalOpen, journalClose                          string // open_tunnels (unclosed.go)
	recoveredClose                                     string // a recovered CloseTunnel record (unclosed.go)

	owners map[store.PrincipalKind]*ownerQueries
}

// Column lists shared by the statements that return a record; the scan
// functions in the repository files read them in this order.
const (
	userCols = "u.user_id, u.user_name, u.path, u.arn, u.create_date, t.tag_key, t.tag_value"
	// userTagJoin is appended to a FROM that names users as u.
	userTagJoin = " LEFT JOIN user_tags t ON t.user_id = u.user_id"
	groupCols   = "g.group_id, g.group_name, g.path, g.arn, g.create_date"
	roleCols    = "r.role_id, r.role_name, r.path, r.arn, r.assume_role_policy, r.description, " +
		"r.max_session_duration, r.create_date, t.tag_key, t.tag_value"
	roleTagJoin = " LEFT JOIN role_tags t ON t.role_id = r.role_id"
	policyCols  = "p.policy_id, p.policy_name, p.path, p.arn, p.description, p.document, p.default_version_id, " +
		"(SELECT count(*) FROM policy_attachments c WHERE c.policy_id = p.policy_id), p.create_date, p.update_date"
	accessKeyCols = "k.access_key_id, u.user_name, u.user_id, k.secret_sealed, k.status, k.create_date"
	sessionCols   = "access_key_id, secret_sealed, session_token_hash, role_name, role_arn, role_id, " +
		"session_name, source_user_arn, source_ip, expiration, create_date, user_id, mfa_authenticated, auth_time, " +
		"fed_provider, fed_subject, fed_audience, source_identity, fed_tags"
	// pathPrefix filters on a table alias's path; its arguments are the
	// prefix's length in characters and the prefix.
	pathPrefix = "substr(%s.path, 1, ?) = ?"
)

func newQueries(d dialect) *queries {
	r := d.rebind
	prefix := func(alias string) string { return strings.Replace(pathPrefix, "%s", alias, 1) }
	q := &queries{
		getSetting: r("SELECT value FROM settings WHERE name = ?"),
		putSetting: r("INSERT INTO settings (name, value) VALUES (?, ?) " +
			d.onConflictUpdate([]string{"name"}, []string{"value"})),

		insertUser:    r("INSERT INTO users (user_id, user_name, name_key, path, arn, create_date) VALUES (?, ?, ?, ?, ?, ?)"),
		insertUserTag: r("INSERT INTO user_tags (user_id, position, tag_key, tag_value) VALUES (?, ?, ?, ?)"),
		userDependents: r("SELECT" +
			" (SELECT count(*) FROM access_keys WHERE user_id = ?)," +
			" (SELECT count(*) FROM inline_policies WHERE user_id = ?)," +
			" (SELECT count(*) FROM policy_attachments WHERE user_id = ?)," +
			" (SELECT count(*) FROM group_members WHERE user_id = ?)," +
			" (SELECT count(*) FROM login_profiles WHERE user_id = ?)," +
			" (SELECT count(*) FROM mfa_devices WHERE user_id = ?)"),
		deleteUser: r("DELETE FROM users WHERE user_id = ?"),

		insertAccessKey: r("INSERT INTO access_keys (access_key_id, user_id, secret_sealed, status, create_date) VALUES (?, ?, ?, ?, ?)"),
		getAccessKey: r("SELECT " + accessKeyCols + " FROM access_keys k JOIN users u ON u.user_id = k.user_id" +
			" WHERE k.access_key_id = ?"),
		listAccessKeys: r("SELECT " + accessKeyCols + " FROM access_keys k JOIN users u ON u.user_id = k.user_id" +
			" WHERE k.user_id = ? ORDER BY k.create_date, k.access_key_id"),
		updateAccessKeyStatus: r("UPDATE access_keys SET status = ? WHERE access_key_id = ?"),
		deleteAccessKey:       r("DELETE FROM access_keys WHERE access_key_id = ?"),

		insertGroup: r("INSERT INTO groups (group_id, group_name, name_key, path, arn, create_date) VALUES (?, ?, ?, ?, ?, ?)"),
		getGroup:    r("SELECT " + groupCols + " FROM groups g WHERE g.name_key = ?"),
		listGroups:  r("SELECT " + groupCols + " FROM groups g WHERE " + prefix("g") + " ORDER BY g.name_key, g.group_id"),
		groupDependents: r("SELECT" +
			" (SELECT count(*) FROM group_members WHERE group_id = ?)," +
			" (SELECT count(*) FROM inline_policies WHERE group_id = ?)," +
			" (SELECT count(*) FROM policy_attachments WHERE group_id = ?)"),
		deleteGroup: r("DELETE FROM groups WHERE group_id = ?"),
		addMember: r("INSERT INTO group_members (group_id, user_id) VALUES (?, ?) " +
			d.onConflictIgnore([]string{"group_id", "user_id"})),
		removeMember: r("DELETE FROM group_members WHERE group_id = ? AND user_id = ?"),
		groupsForUser: r("SELECT " + groupCols + " FROM group_members m JOIN groups g ON g.group_id = m.group_id" +
			" WHERE m.user_id = ? ORDER BY g.name_key, g.group_id"),
		membersOf: r("SELECT " + userCols + " FROM group_members m JOIN users u ON u.user_id = m.user_id" + userTagJoin +
			" WHERE m.group_id = ? ORDER BY u.name_key, u.user_id, t.position"),

		insertRole: r("INSERT INTO roles (role_id, role_name, name_key, path, arn, assume_role_policy, description," +
			" max_session_duration, create_date) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"),
		insertRoleTag:     r("INSERT INTO role_tags (role_id, position, tag_key, tag_value) VALUES (?, ?, ?, ?)"),
		updateTrustPolicy: r("UPDATE roles SET assume_role_policy = ? WHERE name_key = ?"),
		roleDependents: r("SELECT" +
			" (SELECT count(*) FROM inline_policies WHERE role_id = ?)," +
			" (SELECT count(*) FROM policy_attachments WHERE role_id = ?)"),
		deleteRole: r("DELETE FROM roles WHERE role_id = ?"),

		insertPolicy: r("INSERT INTO managed_policies (policy_id, policy_name, name_key, path, arn, description, document," +
			" default_version_id, create_date, update_date) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"),
		getPolicy:         r("SELECT " + policyCols + " FROM managed_policies p WHERE p.arn = ?"),
		listPolicies:      r("SELECT " + policyCols + " FROM managed_policies p WHERE " + prefix("p") + " ORDER BY p.name_key, p.policy_id"),
		policyByARN:       r("SELECT policy_id FROM managed_policies WHERE arn = ?"),
		policyAttachments: r("SELECT count(*) FROM policy_attachments WHERE policy_id = ?"),
		deletePolicy:      r("DELETE FROM managed_policies WHERE policy_id = ?"),

		insertSession:         r("INSERT INTO sessions (" + sessionCols + ") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"),
		deleteSession:         r("DELETE FROM sessions WHERE access_key_id = ?"),
		getSession:            r("SELECT " + sessionCols + " FROM sessions WHERE access_key_id = ?"),
		deleteExpiredSessions: r("DELETE FROM sessions WHERE expiration < ?"),

		journalOpen: r("INSERT INTO open_tunnels (tunnel_id, carrier, open_event_id) VALUES (?, ?, ?) " +
			d.onConflictIgnore([]string{"tunnel_id"})),
		journalClose:   r("DELETE FROM open_tunnels WHERE tunnel_id = ?"),
		recoveredClose: r("SELECT 1 FROM events WHERE event_id = ?"),

		owners: make(map[store.PrincipalKind]*ownerQueries, len(principals)),
	}
	// Users and roles are read with their tags, one row a tag.
	taggedReads := func(cols, from, alias, idCol string) (byName, byID, list string) {
		sel := "SELECT " + cols + " FROM " + from
		return r(sel + " WHERE " + alias + ".name_key = ? ORDER BY t.position"),
			r(sel + " WHERE " + alias + "." + idCol + " = ? ORDER BY t.position"),
			r(sel + " WHERE " + prefix(alias) + " ORDER BY " + alias + ".name_key, " + alias + "." + idCol + ", t.position")
	}
	q.getUser, q.getUserByID, q.listUsers = taggedReads(userCols, "users u"+userTagJoin, "u", "user_id")
	q.getRole, q.getRoleByID, q.listRoles = taggedReads(roleCols, "roles r"+roleTagJoin, "r", "role_id")
	for kind, p := range principals {
		id := p.idCol
		q.owners[kind] = &ownerQueries{
			principal: p,
			lookup:    r("SELECT " + id + ", " + p.nameCol + " FROM " + p.table + " WHERE name_key = ?"),
			putInline: r("INSERT INTO inline_policies (" + id + ", policy_name, document) VALUES (?, ?, ?) " +
				d.onConflictUpdate([]string{id, "policy_name"}, []string{"document"})),
			getInline: r("SELECT o." + p.nameCol + ", i.policy_name, i.document" +
				" FROM inline_policies i JOIN " + p.table + " o ON o." + id + " = i." + id +
				" WHERE o.name_key = ? AND i.policy_name = ?"),
			listInline:   r("SELECT policy_name, document FROM inline_policies WHERE " + id + " = ? ORDER BY policy_name"),
			deleteInline: r("DELETE FROM inline_policies WHERE " + id + " = ? AND policy_name = ?"),
			attach: r("INSERT INTO policy_attachments (" + id + ", policy_id) VALUES (?, ?) " +
				d.onConflictIgnore([]string{id, "policy_id"})),
			detach: r("DELETE FROM policy_attachments WHERE " + id + " = ? AND policy_id = ?"),
			listAttached: r("SELECT " + policyCols + " FROM policy_attachments a JOIN managed_policies p ON p.policy_id = a.policy_id" +
				" WHERE a." + id + " = ? ORDER BY p.name_key, p.policy_id"),
		}
	}
	return q
}
