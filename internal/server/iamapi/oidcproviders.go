package iamapi

import (
	"encoding/hex"
	"errors"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/postern/postern/internal/server/api"
	"github.com/postern/postern/internal/server/policy"
	"github.com/postern/postern/internal/store"
)

// IAM OpenID Connect identity providers: CreateOpenIDConnectProvider and
// the actions on one provider, named by its ARN
// arn:aws:iam::<account>:oidc-provider/<host[:port][/path]>. A provider
// lets AssumeRoleWithWebIdentity accept the ID tokens of its issuer
// (https://<URL>) for the audiences of its client id list; its TLS
// certificate is trusted through its thumbprint list or the system roots.

// IAM's limits on OIDC providers.
const (
	maxProviderURL       = 255
	maxClientIDs         = 100
	maxClientIDLen       = 255
	maxThumbprints       = 5
	maxOIDCProviders     = 100 // OpenIdConnectProvidersPerAccount
	oidcProviderARNInfix = ":oidc-provider/"
)

// providerURL checks the Url parameter of CreateOpenIDConnectProvider and
// returns the provider's URL as IAM keeps it: without the scheme, the
// host in lower case, no trailing slash.
func providerURL(c *api.Call) (string, error) {
	raw, err := required(c.Params, "Url")
	if err != nil {
		return "", err
	}
	if len(raw) > maxProviderURL {
		return "", tooLong(raw, "url", maxProviderURL)
	}
	u, err := url.Parse(raw)
	if err != nil || !strings.EqualFold(u.Scheme, "https") || u.Host == "" || u.User != nil ||
		u.RawQuery != "" || u.Fragment != "" || u.Opaque != "" {
		return "", invalidInput("Invalid OpenID Connect provider URL %s: it must be https://host[:port][/path], without query or fragment.", raw)
	}
	return providerKey(u), nil
}

// providerKey is the part of a provider's URL its ARN names: the host in
// lower case and the escaped path without a trailing slash. A token's iss
// finds its provider through the same key.
func providerKey(u *url.URL) string {
	return strings.ToLower(u.Host) + strings.TrimSuffix(u.EscapedPath(), "/")
}

// clientIDsParam returns ClientIDList.member.N (or ClientID for the
// single-id actions), duplicates removed, in order.
func clientIDsParam(c *api.Call) ([]string, error) {
	list := c.Params.List("ClientIDList.member")
	if len(list) > maxClientIDs {
		return nil, validation("1 validation error detected: Value at 'clientIDList' failed to satisfy constraint: Member must have length less than or equal to %d", maxClientIDs)
	}
	var out []string
	for i, v := range list {
		if err := checkClientID(v, "clientIDList."+strconv.Itoa(i+1)+".member"); err != nil {
			return nil, err
		}
		if !slices.Contains(out, v) {
			out = append(out, v)
		}
	}
	return out, nil
}

// checkClientID checks one client id (1–255 characters).
func checkClientID(v, member string) error {
	switch {
	case v == "":
		return validation("1 validation error detected: Value at '%s' failed to satisfy constraint: Member must have length greater than or equal to 1", member)
	case len(v) > maxClientIDLen:
		return tooLong(v, member, maxClientIDLen)
	}
	return nil
}

// thumbprintsParam returns ThumbprintList.member.N: each 40 hex digits,
// kept in lower case, duplicates removed. The list may be empty (the
// provider's certificate must then verify against the system roots).
func thumbprintsParam(c *api.Call) ([]string, error) {
	list := c.Params.List("ThumbprintList.member")
	if len(list) > maxThumbprints {
		return nil, validation("1 validation error detected: Value at 'thumbprintList' failed to satisfy constraint: Member must have length less than or equal to %d", maxThumbprints)
	}
	var out []string
	for i, v := range list {
		if b, err := hex.DecodeString(v); err != nil || len(b) != 20 {
			return nil, validation("1 validation error detected: Value '%s' at 'thumbprintList.%d.member' failed to satisfy constraint: Member must have length greater than or equal to 40 and be 40 hexadecimal digits", v, i+1)
		}
		if v = strings.ToLower(v); !slices.Contains(out, v) {
			out = append(out, v)
		}
	}
	return out, nil
}

// providerARNParam returns OpenIDConnectProviderArn, refusing one that is
// not an OIDC provider ARN of this account as IAM does.
func (h *handler) providerARNParam(c *api.Call) (string, error) {
	arn, err := required(c.Params, "OpenIDConnectProviderArn")
	if err != nil {
		return "", err
	}
	if len(arn) < 20 || len(arn) > 2048 {
		return "", validation("1 validation error detected: Value '%s' at 'openIDConnectProviderArn' failed to satisfy constraint: Member must have length between 20 and 2048", arn)
	}
	if !strings.HasPrefix(arn, "arn:aws:iam::") || !strings.Contains(arn, oidcProviderARNInfix) {
		return "", invalidInput("ARN %s is not valid.", arn)
	}
	return arn, nil
}

// providerNotFound is IAM's answer for a provider that does not exist.
func providerNotFound(arn string) error {
	return noSuchEntity("OpenIDConnect Provider not found for arn %s", arn)
}

// providerARN returns the ARN of the provider with URL u.
func (h *handler) providerARN(u string) string {
	return "arn:aws:iam::" + h.cfg.AccountID + oidcProviderARNInfix + u
}

// createOpenIDConnectProvider is CreateOpenIDConnectProvider: Url,
// ClientIDList, ThumbprintList (optional, as AWS now allows), Tags.
func (h *handler) createOpenIDConnectProvider(c *api.Call) (any, error) {
	u, err := providerURL(c)
	if err != nil {
		return nil, err
	}
	ids, err := clientIDsParam(c)
	if err != nil {
		return nil, err
	}
	thumbs, err := thumbprintsParam(c)
	if err != nil {
		return nil, err
	}
	tags, err := tagsParam(c.Params)
	if err != nil {
		return nil, err
	}
	arn := h.providerARN(u)
	if err := authorizeCreate(c, "iam:CreateOpenIDConnectProvider", "iam:TagOpenIDConnectProvider", arn, tags); err != nil {
		return nil, err
	}
	p := store.OIDCProvider{ARN: arn, URL: u, ClientIDs: ids, Thumbprints: thumbs, Tags: tags, CreateDate: h.now()}
	err = h.cfg.Store.InTx(c.Ctx, func(tx store.Repo) error {
		all, err := tx.ListOIDCProviders(c.Ctx)
		if err != nil {
			return err
		}
		if len(all) >= maxOIDCProviders {
			return limitExceeded("Cannot exceed quota for OpenIdConnectProvidersPerAccount: %d", maxOIDCProviders)
		}
		return tx.CreateOIDCProvider(c.Ctx, p)
	})
	if errors.Is(err, store.ErrConflict) {
		return nil, entityExists("Provider with url https://%s already exists.", u)
	}
	if err != nil {
		return nil, wrap(err, "create OIDC provider %s", arn)
	}
	return struct {
		Arn  string   `xml:"OpenIDConnectProviderArn"`
		Tags []xmlTag `xml:"Tags>member,omitempty"`
	}{arn, xmlTags(tags)}, nil
}

// getOpenIDConnectProvider is GetOpenIDConnectProvider.
func (h *handler) getOpenIDConnectProvider(c *api.Call) (any, error) {
	p, err := h.readProvider(c, "iam:GetOpenIDConnectProvider")
	if err != nil {
		return nil, err
	}
	return struct {
		URL            string   `xml:"Url"`
		ClientIDList   []string `xml:"ClientIDList>member"`
		ThumbprintList []string `xml:"ThumbprintList>member"`
		CreateDate     string   `xml:"CreateDate"`
		Tags           []xmlTag `xml:"Tags>member,omitempty"`
	}{p.URL, p.ClientIDs, p.Thumbprints, ts(p.CreateDate), xmlTags(p.Tags)}, nil
}

// readProvider authorizes action on the provider the request names and
// reads it.
func (h *handler) readProvider(c *api.Call, action string) (store.OIDCProvider, error) {
	arn, err := h.providerARNParam(c)
	if err != nil {
		return store.OIDCProvider{}, err
	}
	if err := c.Authorize(action, arn, nil); err != nil {
		return store.OIDCProvider{}, err
	}
	p, err := h.cfg.Store.GetOIDCProvider(c.Ctx, arn)
	if errors.Is(err, store.ErrNotFound) {
		return store.OIDCProvider{}, providerNotFound(arn)
	}
	if err != nil {
		return store.OIDCProvider{}, wrap(err, "get OIDC provider %s", arn)
	}
	return p, nil
}

// listOpenIDConnectProviders is ListOpenIDConnectProviders (not paged,
// as in AWS).
func (h *handler) listOpenIDConnectProviders(c *api.Call) (any, error) {
	if err := c.Authorize("iam:ListOpenIDConnectProviders", "*", nil); err != nil {
		return nil, err
	}
	all, err := h.cfg.Store.ListOIDCProviders(c.Ctx)
	if err != nil {
		return nil, wrap(err, "list OIDC providers")
	}
	type entry struct {
		Arn string `xml:"Arn"`
	}
	out := make([]entry, len(all))
	for i, p := range all {
		out[i] = entry{p.ARN}
	}
	return struct {
		List []entry `xml:"OpenIDConnectProviderList>member"`
	}{out}, nil
}

// deleteOpenIDConnectProvider is DeleteOpenIDConnectProvider. Sessions
// issued through the provider last until they expire (as in AWS);
// tokens of its issuer are refused from now on.
func (h *handler) deleteOpenIDConnectProvider(c *api.Call) (any, error) {
	arn, err := h.providerARNParam(c)
	if err != nil {
		return nil, err
	}
	if err := c.Authorize("iam:DeleteOpenIDConnectProvider", arn, nil); err != nil {
		return nil, err
	}
	err = h.cfg.Store.DeleteOIDCProvider(c.Ctx, arn)
	if errors.Is(err, store.ErrNotFound) {
		return nil, providerNotFound(arn)
	}
	if err != nil {
		return nil, wrap(err, "delete OIDC provider %s", arn)
	}
	return struct{}{}, nil
}

// updateProvider authorizes action (with extra condition keys) on
// the provider the request names, then reads, changes and writes it in
// one transaction.
func (h *handler) updateProvider(c *api.Call, action string, extra policy.Context, change func(p *store.OIDCProvider) error) error {
	arn, err := h.providerARNParam(c)
	if err != nil {
		return err
	}
	if err := c.Authorize(action, arn, extra); err != nil {
		return err
	}
	err = h.cfg.Store.InTx(c.Ctx, func(tx store.Repo) error {
		p, err := tx.GetOIDCProvider(c.Ctx, arn)
		if err != nil {
			return err
		}
		if err := change(&p); err != nil {
			return err
		}
		return tx.UpdateOIDCProvider(c.Ctx, p)
	})
	if errors.Is(err, store.ErrNotFound) {
		return providerNotFound(arn)
	}
	if err != nil {
		return wrap(err, "update OIDC provider %s", arn)
	}
	return nil
}

// addClientIDToOpenIDConnectProvider is AddClientIDToOpenIDConnectProvider
// (adding an id already listed changes nothing, as in AWS).
func (h *handler) addClientIDToOpenIDConnectProvider(c *api.Call) (any, error) {
	id, err := required(c.Params, "ClientID")
	if err != nil {
		return nil, err
	}
	if err := checkClientID(id, "clientID"); err != nil {
		return nil, err
	}
	err = h.updateProvider(c, "iam:AddClientIDToOpenIDConnectProvider", nil, func(p *store.OIDCProvider) error {
		if slices.Contains(p.ClientIDs, id) {
			return nil
		}
		if len(p.ClientIDs) >= maxClientIDs {
			return limitExceeded("Cannot exceed quota for ClientIdsPerOpenIdConnectProvider: %d", maxClientIDs)
		}
		p.ClientIDs = append(p.ClientIDs, id)
		return nil
	})
	return struct{}{}, err
}

// removeClientIDFromOpenIDConnectProvider is
// RemoveClientIDFromOpenIDConnectProvider (removing an id not listed
// changes nothing, as in AWS).
func (h *handler) removeClientIDFromOpenIDConnectProvider(c *api.Call) (any, error) {
	id, err := required(c.Params, "ClientID")
	if err != nil {
		return nil, err
	}
	if err := checkClientID(id, "clientID"); err != nil {
		return nil, err
	}
	err = h.updateProvider(c, "iam:RemoveClientIDFromOpenIDConnectProvider", nil, func(p *store.OIDCProvider) error {
		p.ClientIDs = slices.DeleteFunc(p.ClientIDs, func(v string) bool { return v == id })
		return nil
	})
	return struct{}{}, err
}

// updateOpenIDConnectProviderThumbprint is
// UpdateOpenIDConnectProviderThumbprint: the list replaces the old one.
func (h *handler) updateOpenIDConnectProviderThumbprint(c *api.Call) (any, error) {
	thumbs, err := thumbprintsParam(c)
	if err != nil {
		return nil, err
	}
	err = h.updateProvider(c, "iam:UpdateOpenIDConnectProviderThumbprint", nil, func(p *store.OIDCProvider) error {
		p.Thumbprints = thumbs
		return nil
	})
	return struct{}{}, err
}

// tagOpenIDConnectProvider is TagOpenIDConnectProvider: a key already
// present (compared case-insensitively) gets the new value.
func (h *handler) tagOpenIDConnectProvider(c *api.Call) (any, error) {
	tags, err := tagsParam(c.Params)
	if err != nil {
		return nil, err
	}
	if len(tags) == 0 {
		return nil, validation("1 validation error detected: Value null at 'tags' failed to satisfy constraint: Member must not be null")
	}
	err = h.updateProvider(c, "iam:TagOpenIDConnectProvider", tagContext(tags), func(p *store.OIDCProvider) error {
		for _, t := range tags {
			i := slices.IndexFunc(p.Tags, func(o store.Tag) bool { return strings.EqualFold(o.Key, t.Key) })
			if i >= 0 {
				p.Tags[i] = t
			} else {
				p.Tags = append(p.Tags, t)
			}
		}
		if len(p.Tags) > maxTags {
			return limitExceeded("The number of tags has reached the maximum limit.")
		}
		return nil
	})
	return struct{}{}, err
}

// untagOpenIDConnectProvider is UntagOpenIDConnectProvider: TagKeys.
func (h *handler) untagOpenIDConnectProvider(c *api.Call) (any, error) {
	keys := c.Params.List("TagKeys.member")
	n := len(keys)
	if n == 0 {
		return nil, validation("1 validation error detected: Value null at 'tagKeys' failed to satisfy constraint: Member must not be null")
	}
	if n > maxTags {
		return nil, validation("1 validation error detected: Value at 'tagKeys' failed to satisfy constraint: Member must have length less than or equal to %d", maxTags)
	}
	extra := policy.Context{}
	extra.Set("aws:TagKeys", keys...)
	err := h.updateProvider(c, "iam:UntagOpenIDConnectProvider", extra, func(p *store.OIDCProvider) error {
		p.Tags = slices.DeleteFunc(p.Tags, func(t store.Tag) bool {
			return slices.ContainsFunc(keys, func(k string) bool { return strings.EqualFold(k, t.Key) })
		})
		return nil
	})
	return struct{}{}, err
}

// listOpenIDConnectProviderTags is ListOpenIDConnectProviderTags: Marker,
// MaxItems.
func (h *handler) listOpenIDConnectProviderTags(c *api.Call) (any, error) {
	p, err := h.readProvider(c, "iam:ListOpenIDConnectProviderTags")
	if err != nil {
		return nil, err
	}
	start, end, next, err := paginate(c.Params, len(p.Tags))
	if err != nil {
		return nil, err
	}
	return struct {
		Tags []xmlTag `xml:"Tags>member"`
		page
	}{xmlTags(p.Tags[start:end]), pageOf(next)}, nil
}
