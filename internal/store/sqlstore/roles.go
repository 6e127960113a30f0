package sqlstore

import (
	"context"
	"database/sql"

	"github.com/postern/postern/internal/store"
)

// CreateRole implements store.Roles. It returns store.ErrConflict if the
// name (compared case-insensitively) or the id exists. The role's tags are
// stored in the order given.
func (r *repo) CreateRole(ctx context.Context, role store.Role) error {
	err := r.update(ctx, func(q querier) error {
		if _, err := q.ExecContext(ctx, r.s.q.insertRole,
			role.RoleID, role.RoleName, nameKey(role.RoleName), role.Path, role.ARN,
			role.AssumeRolePolicyDocument, role.Description, role.MaxSessionDuration,
			toMicros(role.CreateDate)); err != nil {
			return err
		}
		return insertTags(ctx, q, r.s.q.insertRoleTag, role.RoleID, role.Tags)
	})
	return r.fail(err, "create role %q", role.RoleName)
}

// GetRole implements store.Roles; the name is compared case-insensitively.
func (r *repo) GetRole(ctx context.Context, roleName string) (store.Role, error) {
	rs, err := queryRoles(ctx, r.read(), r.s.q.getRole, nameKey(roleName))
	if err == nil && len(rs) == 0 {
		err = store.ErrNotFound
	}
	if err != nil {
		return store.Role{}, r.fail(err, "get role %q", roleName)
	}
	return rs[0], nil
}

// GetRoleByID implements store.Roles.
func (r *repo) GetRoleByID(ctx context.Context, roleID string) (store.Role, error) {
	rs, err := queryRoles(ctx, r.read(), r.s.q.getRoleByID, roleID)
	if err == nil && len(rs) == 0 {
		err = store.ErrNotFound
	}
	if err != nil {
		return store.Role{}, r.fail(err, "get role by id %q", roleID)
	}
	return rs[0], nil
}

// ListRoles implements store.Roles, ordered by name case-insensitively.
func (r *repo) ListRoles(ctx context.Context, pathPrefix string) ([]store.Role, error) {
	rs, err := queryRoles(ctx, r.read(), r.s.q.listRoles, prefixArgs(pathPrefix)...)
	if err != nil {
		return nil, r.fail(err, "list roles under %q", pathPrefix)
	}
	return rs, nil
}

// UpdateAssumeRolePolicy implements store.Roles.
func (r *repo) UpdateAssumeRolePolicy(ctx context.Context, roleName, document string) error {
	err := r.update(ctx, func(q querier) error {
		return mustAffect(q.ExecContext(ctx, r.s.q.updateTrustPolicy, document, nameKey(roleName)))
	})
	return r.fail(err, "update trust policy of role %q", roleName)
}

// DeleteRole implements store.Roles. The role's tags go with it; its
// sessions do not block the delete.
func (r *repo) DeleteRole(ctx context.Context, roleName string) error {
	err := r.update(ctx, func(q querier) error {
		id, _, err := r.lookupOwner(ctx, q, store.KindRole, roleName)
		if err != nil {
			return err
		}
		var n [2]int64
		if err := q.QueryRowContext(ctx, r.s.q.roleDependents, id, id).Scan(&n[0], &n[1]); err != nil {
			return err
		}
		if err := inUse(n[:], []string{"inline policy(ies)", "attached policy(ies)"}); err != nil {
			return err
		}
		return mustAffect(q.ExecContext(ctx, r.s.q.deleteRole, id))
	})
	return r.failDelete(err, "delete role %q", roleName)
}

// queryRoles runs a statement that selects roleCols and folds the one row
// per tag back into roles.
func queryRoles(ctx context.Context, q querier, stmt string, args ...any) ([]store.Role, error) {
	rows, err := q.QueryContext(ctx, stmt, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []store.Role
	for rows.Next() {
		var (
			role   store.Role
			cd     int64
			tk, tv sql.NullString
		)
		if err := rows.Scan(&role.RoleID, &role.RoleName, &role.Path, &role.ARN, &role.AssumeRolePolicyDocument,
			&role.Description, &role.MaxSessionDuration, &cd, &tk, &tv); err != nil {
			return nil, err
		}
		if n := len(out); n == 0 || out[n-1].RoleID != role.RoleID {
			role.CreateDate = fromMicros(cd)
			out = append(out, role)
		}
		if tk.Valid {
			last := &out[len(out)-1]
			last.Tags = append(last.Tags, store.Tag{Key: tk.String, Value: tv.String})
		}
	}
	return out, rows.Err()
}
