package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/postern/postern/internal/store"
)

// CreateUser implements store.Users. The user's tags are stored in the
// order given.
func (r *repo) CreateUser(ctx context.Context, u store.User) error {
	err := r.update(ctx, func(q querier) error {
		if _, err := q.ExecContext(ctx, r.s.q.insertUser,
			u.UserID, u.UserName, nameKey(u.UserName), u.Path, u.ARN, toMicros(u.CreateDate)); err != nil {
			return err
		}
		return insertTags(ctx, q, r.s.q.insertUserTag, u.UserID, u.Tags)
	})
	return r.fail(err, "create user %q", u.UserName)
}

// GetUser implements store.Users.
func (r *repo) GetUser(ctx context.Context, userName string) (store.User, error) {
	us, err := queryUsers(ctx, r.read(), r.s.q.getUser, nameKey(userName))
	if err == nil && len(us) == 0 {
		err = store.ErrNotFound
	}
	if err != nil {
		return store.User{}, r.fail(err, "get user %q", userName)
	}
	return us[0], nil
}

// GetUserByID implements store.Users.
func (r *repo) GetUserByID(ctx context.Context, userID string) (store.User, error) {
	us, err := queryUsers(ctx, r.read(), r.s.q.getUserByID, userID)
	if err == nil && len(us) == 0 {
		err = store.ErrNotFound
	}
	if err != nil {
		return store.User{}, r.fail(err, "get user by id %q", userID)
	}
	return us[0], nil
}

// ListUsers implements store.Users. Names are ordered case-insensitively.
func (r *repo) ListUsers(ctx context.Context, pathPrefix string) ([]store.User, error) {
	us, err := queryUsers(ctx, r.read(), r.s.q.listUsers, prefixArgs(pathPrefix)...)
	if err != nil {
		return nil, r.fail(err, "list users under %q", pathPrefix)
	}
	return us, nil
}

// DeleteUser implements store.Users. The user's tags go with it.
func (r *repo) DeleteUser(ctx context.Context, userName string) error {
	err := r.update(ctx, func(q querier) error {
		id, _, err := r.lookupOwner(ctx, q, store.KindUser, userName)
		if err != nil {
			return err
		}
		var n [6]int64
		if err := q.QueryRowContext(ctx, r.s.q.userDependents, id, id, id, id, id, id).Scan(&n[0], &n[1], &n[2], &n[3], &n[4], &n[5]); err != nil {
			return err
		}
		if err := inUse(n[:], []string{"access key(s)", "inline policy(ies)", "attached policy(ies)", "group membership(s)",
			"login profile", "MFA device(s)"}); err != nil {
			return err
		}
		return mustAffect(q.ExecContext(ctx, r.s.q.deleteUser, id))
	})
	return r.failDelete(err, "delete user %q", userName)
}

// lookupOwner returns the id and the name, as created, of the user, group
// or role called name (compared case-insensitively).
func (r *repo) lookupOwner(ctx context.Context, q querier, kind store.PrincipalKind, name string) (id, canonical string, err error) {
	_, id, canonical, err = r.findOwner(ctx, q, store.PrincipalRef{Kind: kind, Name: name})
	return id, canonical, err
}

// findOwner is lookupOwner that also returns the statements for the
// owner's kind of principal.
func (r *repo) findOwner(ctx context.Context, q querier, owner store.PrincipalRef) (oq *ownerQueries, id, canonical string, err error) {
	oq, err = r.owner(owner.Kind)
	if err != nil {
		return nil, "", "", err
	}
	err = q.QueryRowContext(ctx, oq.lookup, nameKey(owner.Name)).Scan(&id, &canonical)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, "", "", notFound("%s %q", oq.noun, owner.Name)
	}
	return oq, id, canonical, err
}

// listOwned reads, in one view, what stmt (chosen from the statements of
// the owner's kind) selects for the owner, with query; store.ErrNotFound
// when the owner does not exist.
func listOwned[T any](ctx context.Context, r *repo, owner store.PrincipalRef, stmt func(*ownerQueries) string,
	query func(context.Context, querier, string, ...any) ([]T, error)) ([]T, error) {
	var out []T
	err := r.view(ctx, func(q querier) error {
		oq, id, _, err := r.findOwner(ctx, q, owner)
		if err != nil {
			return err
		}
		out, err = query(ctx, q, stmt(oq), id)
		return err
	})
	return out, err
}

// owner returns the statements for one kind of principal.
func (r *repo) owner(kind store.PrincipalKind) (*ownerQueries, error) {
	oq := r.s.q.owners[kind]
	if oq == nil {
		return nil, fmt.Errorf("unknown principal kind %q", kind)
	}
	return oq, nil
}

// insertTags stores tags in order under one resource id.
func insertTags(ctx context.Context, q querier, stmt, id string, tags []store.Tag) error {
	for i, t := range tags {
		if _, err := q.ExecContext(ctx, stmt, id, i, t.Key, t.Value); err != nil {
			return fmt.Errorf("tag %q: %w", t.Key, err)
		}
	}
	return nil
}

// queryUsers runs a statement that selects userCols and folds the one row
// per tag back into users.
func queryUsers(ctx context.Context, q querier, stmt string, args ...any) ([]store.User, error) {
	rows, err := q.QueryContext(ctx, stmt, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []store.User
	for rows.Next() {
		var (
			u      store.User
			cd     int64
			tk, tv sql.NullString
		)
		if err := rows.Scan(&u.UserID, &u.UserName, &u.Path, &u.ARN, &cd, &tk, &tv); err != nil {
			return nil, err
		}
		if n := len(out); n == 0 || out[n-1].UserID != u.UserID {
			u.CreateDate = fromMicros(cd)
			out = append(out, u)
		}
		if tk.Valid {
			last := &out[len(out)-1]
			last.Tags = append(last.Tags, store.Tag{Key: tk.String, Value: tv.String})
		}
	}
	return out, rows.Err()
}
