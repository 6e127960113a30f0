package sqlstore

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/postern/postern/internal/store"
)

// The IAM OIDC identity-provider repository (store.OIDCProviders), and
// the JSON encodings of lists the provider rows and federated sessions
// keep in one column. Schema: migration 0010.

const oidcProviderCols = "arn, url, client_ids, thumbprints, tags, create_date"

// encodeTags returns tags as a JSON array of {"Key","Value"} objects, or
// "" for none.
func encodeTags(tags []store.Tag) (string, error) {
	if len(tags) == 0 {
		return "", nil
	}
	b, err := json.Marshal(tags)
	if err != nil {
		return "", fmt.Errorf("encode tags: %w", err)
	}
	return string(b), nil
}

// decodeTags reverses encodeTags.
func decodeTags(s string) ([]store.Tag, error) {
	if s == "" {
		return nil, nil
	}
	var tags []store.Tag
	if err := json.Unmarshal([]byte(s), &tags); err != nil {
		return nil, fmt.Errorf("decode tags: %w", err)
	}
	return tags, nil
}

// encodeList returns a JSON array of strings ("[]" for none).
func encodeList(l []string) string {
	if l == nil {
		l = []string{}
	}
	b, _ := json.Marshal(l) // a []string always encodes
	return string(b)
}

// decodeList reverses encodeList; an empty array is nil.
func decodeList(s string) ([]string, error) {
	var l []string
	if err := json.Unmarshal([]byte(s), &l); err != nil {
		return nil, fmt.Errorf("decode list: %w", err)
	}
	if len(l) == 0 {
		return nil, nil
	}
	return l, nil
}

// scanOIDCProvider reads one row of oidcProviderCols.
func scanOIDCProvider(sc interface{ Scan(...any) error }) (store.OIDCProvider, error) {
	var (
		p                 store.OIDCProvider
		ids, thumbs, tags string
		cd                int64
	)
	if err := sc.Scan(&p.ARN, &p.URL, &ids, &thumbs, &tags, &cd); err != nil {
		return store.OIDCProvider{}, err
	}
	var err error
	if p.ClientIDs, err = decodeList(ids); err != nil {
		return store.OIDCProvider{}, err
	}
	if p.Thumbprints, err = decodeList(thumbs); err != nil {
		return store.OIDCProvider{}, err
	}
	if p.Tags, err = decodeTags(tags); err != nil {
		return store.OIDCProvider{}, err
	}
	p.CreateDate = fromMicros(cd)
	return p, nil
}

// CreateOIDCProvider implements store.OIDCProviders.
func (r *repo) CreateOIDCProvider(ctx context.Context, p store.OIDCProvider) error {
	tags, err := encodeTags(p.Tags)
	if err != nil {
		return r.fail(err, "create OIDC provider %q", p.ARN)
	}
	err = r.write(ctx, func(q querier) error {
		_, err := q.ExecContext(ctx, r.q("INSERT INTO oidc_providers ("+oidcProviderCols+") VALUES (?, ?, ?, ?, ?, ?)"),
			p.ARN, p.URL, encodeList(p.ClientIDs), encodeList(p.Thumbprints), tags, toMicros(p.CreateDate))
		return err
	})
	return r.fail(err, "create OIDC provider %q", p.ARN)
}

// GetOIDCProvider implements store.OIDCProviders.
func (r *repo) GetOIDCProvider(ctx context.Context, arn string) (store.OIDCProvider, error) {
	p, err := scanOIDCProvider(r.read().QueryRowContext(ctx, r.q("SELECT "+oidcProviderCols+" FROM oidc_providers WHERE arn = ?"), arn))
	if err != nil {
		return store.OIDCProvider{}, r.fail(err, "get OIDC provider %q", arn)
	}
	return p, nil
}

// ListOIDCProviders implements store.OIDCProviders.
func (r *repo) ListOIDCProviders(ctx context.Context) ([]store.OIDCProvider, error) {
	var out []store.OIDCProvider
	err := r.view(ctx, func(q querier) error {
		out = nil
		rows, err := q.QueryContext(ctx, r.q("SELECT "+oidcProviderCols+" FROM oidc_providers ORDER BY arn"))
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			p, err := scanOIDCProvider(rows)
			if err != nil {
				return err
			}
			out = append(out, p)
		}
		return rows.Err()
	})
	if err != nil {
		return nil, r.fail(err, "list OIDC providers")
	}
	return out, nil
}

// UpdateOIDCProvider implements store.OIDCProviders.
func (r *repo) UpdateOIDCProvider(ctx context.Context, p store.OIDCProvider) error {
	tags, err := encodeTags(p.Tags)
	if err != nil {
		return r.fail(err, "update OIDC provider %q", p.ARN)
	}
	err = r.write(ctx, func(q querier) error {
		return mustAffect(q.ExecContext(ctx, r.q("UPDATE oidc_providers SET client_ids = ?, thumbprints = ?, tags = ? WHERE arn = ?"),
			encodeList(p.ClientIDs), encodeList(p.Thumbprints), tags, p.ARN))
	})
	return r.fail(err, "update OIDC provider %q", p.ARN)
}

// DeleteOIDCProvider implements store.OIDCProviders.
func (r *repo) DeleteOIDCProvider(ctx context.Context, arn string) error {
	err := r.write(ctx, func(q querier) error {
		return mustAffect(q.ExecContext(ctx, r.q("DELETE FROM oidc_providers WHERE arn = ?"), arn))
	})
	return r.fail(err, "delete OIDC provider %q", arn)
}
