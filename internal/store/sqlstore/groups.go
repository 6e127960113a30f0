package sqlstore

import (
	"context"
	"database/sql"
	"errors"

	"github.com/postern/postern/internal/store"
)

// CreateGroup implements store.Groups. It returns store.ErrConflict if the
// name (compared case-insensitively) or the id exists.
func (r *repo) CreateGroup(ctx context.Context, g store.Group) error {
	err := r.update(ctx, func(q querier) error {
		_, err := q.ExecContext(ctx, r.s.q.insertGroup,
			g.GroupID, g.GroupName, nameKey(g.GroupName), g.Path, g.ARN, toMicros(g.CreateDate))
		return err
	})
	return r.fail(err, "create group %q", g.GroupName)
}

// GetGroup implements store.Groups; the name is compared case-insensitively.
func (r *repo) GetGroup(ctx context.Context, groupName string) (store.Group, error) {
	g, err := scanGroup(r.read().QueryRowContext(ctx, r.s.q.getGroup, nameKey(groupName)))
	if err != nil {
		return store.Group{}, r.fail(err, "get group %q", groupName)
	}
	return g, nil
}

// ListGroups implements store.Groups, ordered by name case-insensitively.
func (r *repo) ListGroups(ctx context.Context, pathPrefix string) ([]store.Group, error) {
	gs, err := queryGroups(ctx, r.read(), r.s.q.listGroups, prefixArgs(pathPrefix)...)
	if err != nil {
		return nil, r.fail(err, "list groups under %q", pathPrefix)
	}
	return gs, nil
}

// DeleteGroup implements store.Groups.
func (r *repo) DeleteGroup(ctx context.Context, groupName string) error {
	err := r.update(ctx, func(q querier) error {
		id, _, err := r.lookupOwner(ctx, q, store.KindGroup, groupName)
		if err != nil {
			return err
		}
		var n [3]int64
		if err := q.QueryRowContext(ctx, r.s.q.groupDependents, id, id, id).Scan(&n[0], &n[1], &n[2]); err != nil {
			return err
		}
		if err := inUse(n[:], []string{"member(s)", "inline policy(ies)", "attached policy(ies)"}); err != nil {
			return err
		}
		return mustAffect(q.ExecContext(ctx, r.s.q.deleteGroup, id))
	})
	return r.failDelete(err, "delete group %q", groupName)
}

// AddUserToGroup implements store.Groups.
func (r *repo) AddUserToGroup(ctx context.Context, groupName, userName string) error {
	err := r.setMember(ctx, groupName, userName, true)
	return r.fail(err, "add user %q to group %q", userName, groupName)
}

// RemoveUserFromGroup implements store.Groups. It returns
// store.ErrNotFound if the group, the user or the membership is missing.
func (r *repo) RemoveUserFromGroup(ctx context.Context, groupName, userName string) error {
	err := r.setMember(ctx, groupName, userName, false)
	return r.fail(err, "remove user %q from group %q", userName, groupName)
}

// setMember adds the user userName to the group groupName (idempotently)
// or removes it, in one update; both must exist, and a removed user must
// have been a member.
func (r *repo) setMember(ctx context.Context, groupName, userName string, add bool) error {
	return r.update(ctx, func(q querier) error {
		gid, _, err := r.lookupOwner(ctx, q, store.KindGroup, groupName)
		if err != nil {
			return err
		}
		uid, _, err := r.lookupOwner(ctx, q, store.KindUser, userName)
		if err != nil {
			return err
		}
		return setLink(ctx, q, add, r.s.q.addMember, r.s.q.removeMember, "user is not a member", gid, uid)
	})
}

// setLink inserts the row (a, b) of a link table with addStmt, which
// ignores a row already there, or deletes it with removeStmt: deleting a
// row that is not there is store.ErrNotFound, told as missing.
func setLink(ctx context.Context, q querier, add bool, addStmt, removeStmt, missing, a, b string) error {
	if add {
		_, err := q.ExecContext(ctx, addStmt, a, b)
		return err
	}
	err := mustAffect(q.ExecContext(ctx, removeStmt, a, b))
	if errors.Is(err, store.ErrNotFound) {
		return notFound("%s", missing)
	}
	return err
}

// ListGroupsForUser implements store.Groups. It returns store.ErrNotFound
// if the user does not exist.
func (r *repo) ListGroupsForUser(ctx context.Context, userName string) ([]store.Group, error) {
	out, err := listOwned(ctx, r, store.PrincipalRef{Kind: store.KindUser, Name: userName},
		func(*ownerQueries) string { return r.s.q.groupsForUser }, queryGroups)
	if err != nil {
		return nil, r.fail(err, "list groups of user %q", userName)
	}
	return out, nil
}

// ListGroupMembers implements store.Groups. It returns store.ErrNotFound
// if the group does not exist.
func (r *repo) ListGroupMembers(ctx context.Context, groupName string) ([]store.User, error) {
	out, err := listOwned(ctx, r, store.PrincipalRef{Kind: store.KindGroup, Name: groupName},
		func(*ownerQueries) string { return r.s.q.membersOf }, queryUsers)
	if err != nil {
		return nil, r.fail(err, "list members of group %q", groupName)
	}
	return out, nil
}

func scanGroup(sc scanner) (store.Group, error) {
	var (
		g  store.Group
		cd int64
	)
	if err := sc.Scan(&g.GroupID, &g.GroupName, &g.Path, &g.ARN, &cd); err != nil {
		return store.Group{}, err
	}
	g.CreateDate = fromMicros(cd)
	return g, nil
}

func queryGroups(ctx context.Context, q querier, stmt string, args ...any) ([]store.Group, error) {
	rows, err := q.QueryContext(ctx, stmt, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	return collect(rows, scanGroup)
}

// collect scans every row with scan.
func collect[T any](rows *sql.Rows, scan func(scanner) (T, error)) ([]T, error) {
	var out []T
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, rows.Err()
}
