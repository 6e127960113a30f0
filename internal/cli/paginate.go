package cli

import (
	"context"
	"fmt"
	"reflect"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// pagination implements the AWS CLI's automatic paging (botocore's
// PageIterator and awscli's paginate customization): List and Describe
// operations with a NextToken or Marker are called until the last page,
// their result lists merged; --max-items cuts them and leaves a NextToken
// in botocore's format (pagetoken.go) for --starting-token; --page-size is
// the service's page size; --no-paginate, or the service's own token or
// page-size parameter (--next-token, --max-results), makes one call.
type pagination struct {
	cmd           *cobra.Command // reads the global --no-paginate
	pageSize      int
	maxItems      int
	startingToken string
	// pages are, when the last run merged pages into a listing (paging
	// on), how many items of each result list each page gave, in order:
	// the AWS CLI's text output prints a listing page by page.
	pages []map[string]int
}

// tokenNames are the request/response member pairs that carry a page token.
var tokenNames = [][2]string{{"NextToken", "NextToken"}, {"Marker", "Marker"}}

func paginates(in reflect.Type) bool {
	for _, tn := range tokenNames {
		if _, ok := in.FieldByName(tn[0]); ok {
			return true
		}
	}
	return false
}

// registerGlobalPaging adds --no-paginate, which the AWS CLI takes as a
// global option: before or after the command.
func registerGlobalPaging(pf *pflag.FlagSet) {
	pf.Bool("no-paginate", false, "Disable automatic pagination: make one call and print its response.")
}

func (p *pagination) register(cmd *cobra.Command) {
	p.cmd = cmd
	f := cmd.Flags()
	f.IntVar(&p.pageSize, "page-size", 0, "The size of each page to get in the service call. This does not affect the number of items returned in the command's output.")
	f.IntVar(&p.maxItems, "max-items", 0, "The total number of items to return in the command's output. If more are available, a NextToken is provided in the output; pass it to --starting-token to resume.")
	f.StringVar(&p.startingToken, "starting-token", "", "A token to specify where to start paginating. This is the NextToken from a previously truncated response.")
}

// paginator is what paging needs to know about one operation, found in
// its input and output types as botocore's paginator models name them:
// the input token (NextToken or Marker, the output's member of the same
// name), IAM's IsTruncated, the limit key (the service's own page size)
// and the result keys (the output's lists; the first is the primary one
// --max-items counts).
type paginator struct {
	inToken     string
	limitKey    string
	moreResults bool
	resultKeys  []int
}

func findPaginator(in, out reflect.Type) (paginator, bool) {
	var p paginator
	for _, tn := range tokenNames {
		if f, ok := in.FieldByName(tn[0]); ok && f.Type.Kind() == reflect.Pointer && f.Type.Elem().Kind() == reflect.String {
			if _, ok := out.FieldByName(tn[1]); ok {
				p.inToken = tn[0]
				break
			}
		}
	}
	if p.inToken == "" {
		return p, false
	}
	for _, name := range []string{"MaxResults", "MaxItems", "MaxRecords", "Limit"} {
		if f, ok := in.FieldByName(name); ok && f.Type.Kind() == reflect.Pointer && f.Type.Elem().Kind() == reflect.Int32 {
			p.limitKey = name
			break
		}
	}
	if f, ok := out.FieldByName("IsTruncated"); ok && (f.Type.Kind() == reflect.Bool || f.Type.Kind() == reflect.Pointer && f.Type.Elem().Kind() == reflect.Bool) {
		p.moreResults = true
	}
	for i := 0; i < out.NumField(); i++ {
		f := out.Field(i)
		if f.IsExported() && f.Type.Kind() == reflect.Slice && f.Type.Elem().Kind() != reflect.Uint8 {
			p.resultKeys = append(p.resultKeys, i)
		}
	}
	return p, len(p.resultKeys) > 0
}

// maxPages bounds one listing's calls.
const maxPages = 10000

// run calls method with in as the AWS CLI does: unless paging is off
// (--no-paginate, or the user gave the service's own token or page size,
// e.g. --max-results), it follows the page tokens, prints only the result
// lists, and cuts them at --max-items with a NextToken that
// --starting-token continues from, also in the middle of a page.
func (p *pagination) run(ctx context.Context, method reflect.Value, in reflect.Value) (reflect.Value, error) {
	call := func() (reflect.Value, error) {
		res := method.Call([]reflect.Value{reflect.ValueOf(ctx), in})
		if err, _ := res[1].Interface().(error); err != nil {
			return reflect.Value{}, err
		}
		return res[0], nil
	}
	pg, ok := findPaginator(in.Elem().Type(), method.Type().Out(0).Elem())
	if !ok {
		return call()
	}
	off := false
	if p.cmd != nil {
		if f := p.cmd.Flags().Lookup("no-paginate"); f != nil && f.Value.String() == "true" {
			off = true
		}
	}
	// The service's own token or page size turns paging off.
	off = off || !isZeroField(in.Elem().FieldByName(pg.inToken)) || (pg.limitKey != "" && !isZeroField(in.Elem().FieldByName(pg.limitKey)))
	if off {
		if err := p.unshadow(in); err != nil {
			return reflect.Value{}, err
		}
		return call()
	}
	start := resumeToken{}
	if p.startingToken != "" {
		start = decodeToken(pg.inToken, p.startingToken)
		if start.service != nil {
			setStringPtr(in.Elem().FieldByName(pg.inToken), *start.service)
		}
	}
	if p.pageSize > 0 && pg.limitKey != "" {
		v := int32(p.pageSize)
		in.Elem().FieldByName(pg.limitKey).Set(reflect.ValueOf(&v))
	}
	outType := method.Type().Out(0).Elem()
	merged := newResult(outType, pg)
	p.pages = []map[string]int{}
	appendPage := func(out reflect.Value) {
		counts := map[string]int{}
		for _, i := range pg.resultKeys {
			counts[outType.Field(i).Name] = out.Elem().Field(i).Len()
		}
		p.pages = append(p.pages, counts)
		appendResults(merged, out, pg)
	}
	pageToken := start.service // the token the current page was asked with
	skip := start.truncate     // items of the first page printed before
	total := 0
	var resume *resumeToken
	var previous *string
	for page := 0; page < maxPages; page++ {
		out, err := call()
		if err != nil {
			return reflect.Value{}, err
		}
		if page > 0 {
			skip = 0
		} else if p.startingToken != "" {
			skipFirstPage(out, pg, skip)
		}
		items := out.Elem().Field(pg.resultKeys[0]).Len()
		if p.maxItems > 0 && total+items > p.maxItems {
			keep := p.maxItems - total
			f := out.Elem().Field(pg.resultKeys[0])
			f.Set(f.Slice(0, keep))
			appendPage(out)
			resume = &resumeToken{service: pageToken, truncate: keep + skip}
			break
		}
		appendPage(out)
		total += items
		next := nextToken(out, pg)
		if next == nil {
			break
		}
		if p.maxItems > 0 && total == p.maxItems {
			resume = &resumeToken{service: next}
			break
		}
		if previous != nil && *previous == *next {
			return reflect.Value{}, &exitError{code: ExitOther, msg: fmt.Sprintf("\nError during pagination: The same next token was received twice: {'%s': '%s'}", pg.inToken, *next)}
		}
		setStringPtr(in.Elem().FieldByName(pg.inToken), *next)
		previous, pageToken = next, next
	}
	if resume != nil {
		merged.Elem().FieldByName("NextToken").Set(reflect.ValueOf(aws.String(encodeToken(pg.inToken, *resume))))
	}
	return merged, nil
}

// unshadow applies, with paging off, the flags that stand for the input's
// own members of the same name (IAM's --max-items is its MaxItems) and
// refuses the others, as the AWS CLI does.
func (p *pagination) unshadow(in reflect.Value) error {
	var used []string
	for _, o := range []struct {
		flag, member string
		set          bool
		value        any
	}{
		{"--starting-token", "StartingToken", p.startingToken != "", p.startingToken},
		{"--page-size", "PageSize", p.pageSize != 0, int32(p.pageSize)},
		{"--max-items", "MaxItems", p.maxItems != 0, int32(p.maxItems)},
	} {
		if !o.set {
			continue
		}
		f := in.Elem().FieldByName(o.member)
		if !f.IsValid() || f.Kind() != reflect.Pointer || f.Type().Elem() != reflect.TypeOf(o.value) {
			used = append(used, o.flag)
			continue
		}
		v := reflect.New(f.Type().Elem())
		v.Elem().Set(reflect.ValueOf(o.value))
		f.Set(v)
	}
	if len(used) > 0 {
		return &exitError{code: ExitOther, msg: "\nError during pagination: Cannot specify --no-paginate along with pagination arguments: " + strings.Join(used, ", ")}
	}
	return nil
}

func isZeroField(v reflect.Value) bool { return !v.IsValid() || v.IsZero() }

// newResult returns a pointer to a new structure with the output's result
// lists and a NextToken: what the AWS CLI prints for a paged listing.
func newResult(out reflect.Type, pg paginator) reflect.Value {
	var fields []reflect.StructField
	for _, i := range pg.resultKeys {
		f := out.Field(i)
		fields = append(fields, reflect.StructField{Name: f.Name, Type: f.Type})
	}
	fields = append(fields, reflect.StructField{Name: "NextToken", Type: reflect.TypeOf((*string)(nil))})
	return reflect.New(reflect.StructOf(fields))
}

// appendResults appends the page's result lists to merged's.
func appendResults(merged, page reflect.Value, pg paginator) {
	for k, i := range pg.resultKeys {
		dst, src := merged.Elem().Field(k), page.Elem().Field(i)
		if src.IsNil() {
			continue
		}
		if dst.IsNil() {
			dst.Set(reflect.MakeSlice(dst.Type(), 0, src.Len()))
		}
		dst.Set(reflect.AppendSlice(dst, src))
	}
}

// skipFirstPage drops the items a --starting-token says were printed
// already, and the other result lists, which were printed whole.
func skipFirstPage(out reflect.Value, pg paginator, skip int) {
	for k, i := range pg.resultKeys {
		f := out.Elem().Field(i)
		if k > 0 {
			f.Set(reflect.MakeSlice(f.Type(), 0, 0))
			continue
		}
		f.Set(f.Slice(min(skip, f.Len()), f.Len()))
	}
}

// nextToken is the page's token for the next page, nil after the last.
func nextToken(out reflect.Value, pg paginator) *string {
	if pg.moreResults {
		f := out.Elem().FieldByName("IsTruncated")
		if f.Kind() == reflect.Pointer {
			if f.IsNil() || !f.Elem().Bool() {
				return nil
			}
		} else if !f.Bool() {
			return nil
		}
	}
	tok := stringPtr(out.Elem().FieldByName(pg.inToken))
	if tok == "" {
		return nil
	}
	return &tok
}

func stringPtr(v reflect.Value) string {
	if !v.IsValid() || v.Kind() != reflect.Pointer || v.IsNil() {
		return ""
	}
	return v.Elem().String()
}

func setStringPtr(v reflect.Value, s string) {
	if v.IsValid() && v.Kind() == reflect.Pointer && v.Type().Elem().Kind() == reflect.String {
		v.Set(reflect.ValueOf(&s))
	}
}
