package ec2api

import (
	"github.com/postern/postern/internal/server/api"
	"github.com/postern/postern/internal/wire/awsproto"
)

// The Describe skeleton. Every Describe action reads its request the same
// way (ids, then filters, then the page), authorizes before it looks
// anything up (Describe actions are evaluated on "*", as AWS has no
// resource-level permissions for them) and honours DryRun; those that
// list items then keep the ids asked for (NotFound naming every missing
// one), the items matching the filters, once each, ordered by id, and the
// page asked for.

// describeParams names the request parameters of one Describe action.
type describeParams struct {
	idParam string       // the list of ids to describe ("VpcId"); "" when the action takes none
	kind    resourceKind // the kind of those ids
	filters filterSpec
	// minPage and maxPage bound MaxResults; both 0 for an action that does
	// not page.
	minPage, maxPage int64
	// check, when set, checks the request further once its ids and
	// filters are read, before its page is.
	check func(p awsproto.Params, ids []string) error
}

// describeQuery is a Describe request read and authorized.
type describeQuery struct {
	ids     []string
	filters []reqFilter
	page    pageRequest
}

// readDescribe reads a Describe request as d names it, authorizes it and
// honours DryRun.
func (s *service) readDescribe(c *api.Call, d describeParams) (describeQuery, error) {
	var q describeQuery
	if d.idParam != "" {
		q.ids = dedupe(scalarList(c.Params, d.idParam))
		if err := d.kind.checkAll(q.ids); err != nil {
			return q, err
		}
	}
	var err error
	if q.filters, err = parseFilters(c.Params, d.filters); err != nil {
		return q, err
	}
	if d.check != nil {
		if err := d.check(c.Params, q.ids); err != nil {
			return q, err
		}
	}
	if d.maxPage > 0 {
		if q.page, err = parsePage(c.Params, c.Action, d.minPage, d.maxPage); err != nil {
			return q, err
		}
	}
	return q, s.authorizeAndDryRunDescribe(c)
}

// describer is one Describe action that lists items of type T.
type describer[T any] struct {
	describeParams
	id func(T) string
	// direct, when set, may answer an authorized request itself (ok true),
	// as a listing the store pages does.
	direct func(c *api.Call, q describeQuery) (out any, ok bool, err error)
	// list returns the items, all of them or at least those of q.ids;
	// listing, when set, names it in the context of its failure.
	list    func(c *api.Call, q describeQuery) ([]T, error)
	listing string
	// prepare, when set, narrows the items of the ids asked for by the
	// action's other parameters and loads what values and render need.
	prepare func(c *api.Call, items []T) ([]T, error)
	// values answers the filters for one item.
	values func(T) func(name string) []string
	// render words a page and its NextToken as the action's result.
	render func(page []T, next string) any
}

// describe answers the Describe action d.
func describe[T any](s *service, c *api.Call, d describer[T]) (any, error) {
	q, err := s.readDescribe(c, d.describeParams)
	if err != nil {
		return nil, err
	}
	if d.direct != nil {
		if out, ok, err := d.direct(c, q); ok || err != nil {
			return out, err
		}
	}
	items, err := d.list(c, q)
	if err != nil && d.listing != "" {
		return nil, storeErr(err, "%s", d.listing)
	}
	if err != nil {
		return nil, err
	}
	if d.idParam != "" {
		if items, err = selectIDs(items, d.id, q.ids, d.kind); err != nil {
			return nil, err
		}
	}
	if d.prepare != nil {
		if items, err = d.prepare(c, items); err != nil {
			return nil, err
		}
	}
	var matched []T
	if len(items) == 1 {
		// One item (a Describe by one id) cannot repeat: kept as it is,
		// or not at all, without a copy.
		if len(q.filters) == 0 || matchFilters(q.filters, d.values(items[0])) {
			matched = items
		}
	} else {
		seen := map[string]bool{}
		for _, it := range items {
			// (An item's filter values are built only when there are filters.)
			if id := d.id(it); !seen[id] && (len(q.filters) == 0 || matchFilters(q.filters, d.values(it))) {
				seen[id] = true
				matched = append(matched, it)
			}
		}
	}
	sortByID(matched, d.id)
	pg, next := paginate(matched, d.id, q.page, c.Action)
	return d.render(pg, next), nil
}

// itemSet is the list of a Describe result, one <item> each.
type itemSet[X any] struct {
	Items []X `xml:"item"`
}

// xmlItems words every item with f, as an empty (not nil) list when there
// are none.
func xmlItems[T, X any](items []T, f func(T) X) itemSet[X] {
	out := make([]X, 0, len(items))
	for _, it := range items {
		out = append(out, f(it))
	}
	return itemSet[X]{Items: out}
}
