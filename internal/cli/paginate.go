package cli

import (
	"context"
	"reflect"

	"github.com/spf13/cobra"
)

// pagination implements the AWS CLI's automatic paging: List and Describe
// operations with a NextToken or Marker are called until the last page,
// and their list members are merged.
type pagination struct {
	noPaginate    bool
	pageSize      int
	maxItems      int
	startingToken string
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

func (p *pagination) register(cmd *cobra.Command) {
	f := cmd.Flags()
	f.BoolVar(&p.noPaginate, "no-paginate", false, "make one call and print its page")
	f.IntVar(&p.pageSize, "page-size", 0, "items per call")
	f.IntVar(&p.maxItems, "max-items", 0, "items to print in all")
	f.StringVar(&p.startingToken, "starting-token", "", "token to start from")
}

// run calls method with in, following page tokens unless told not to.
func (p *pagination) run(ctx context.Context, method reflect.Value, in reflect.Value) (reflect.Value, error) {
	call := func() (reflect.Value, error) {
		res := method.Call([]reflect.Value{reflect.ValueOf(ctx), in})
		if err, _ := res[1].Interface().(error); err != nil {
			return reflect.Value{}, err
		}
		return res[0], nil
	}
	inTok, outTok := "", ""
	for _, tn := range tokenNames {
		if _, ok := in.Elem().Type().FieldByName(tn[0]); ok {
			inTok, outTok = tn[0], tn[1]
			break
		}
	}
	if inTok == "" {
		return call()
	}
	if p.startingToken != "" {
		setStringPtr(in.Elem().FieldByName(inTok), p.startingToken)
	}
	if p.pageSize > 0 {
		for _, name := range []string{"MaxResults", "MaxItems"} {
			if f := in.Elem().FieldByName(name); f.IsValid() && f.Kind() == reflect.Pointer && f.Type().Elem().Kind() == reflect.Int32 {
				v := int32(p.pageSize)
				f.Set(reflect.ValueOf(&v))
			}
		}
	}
	first, err := call()
	if err != nil || p.noPaginate {
		return first, err
	}
	merged := first
	for pages := 1; pages < 10000; pages++ {
		last := merged
		if pages > 1 {
			last = merged
		}
		tok := stringPtr(last.Elem().FieldByName(outTok))
		if tok == "" || (p.maxItems > 0 && listLen(merged) >= p.maxItems) {
			break
		}
		setStringPtr(in.Elem().FieldByName(inTok), tok)
		next, err := call()
		if err != nil {
			return reflect.Value{}, err
		}
		appendLists(merged, next)
		merged.Elem().FieldByName(outTok).Set(next.Elem().FieldByName(outTok))
		if f := merged.Elem().FieldByName("IsTruncated"); f.IsValid() {
			f.Set(next.Elem().FieldByName("IsTruncated"))
		}
	}
	if p.maxItems > 0 {
		truncateLists(merged, p.maxItems)
	} else {
		// A finished listing has no token left to show.
		if f := merged.Elem().FieldByName(outTok); f.IsValid() && f.Kind() == reflect.Pointer {
			f.Set(reflect.Zero(f.Type()))
		}
	}
	return merged, nil
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

// listFields are the output's slice members (the page's items).
func listFields(out reflect.Value) []int {
	var idx []int
	t := out.Elem().Type()
	for i := 0; i < t.NumField(); i++ {
		if t.Field(i).IsExported() && t.Field(i).Type.Kind() == reflect.Slice && t.Field(i).Type.Elem().Kind() != reflect.Uint8 {
			idx = append(idx, i)
		}
	}
	return idx
}

func appendLists(dst, src reflect.Value) {
	for _, i := range listFields(dst) {
		f := dst.Elem().Field(i)
		f.Set(reflect.AppendSlice(f, src.Elem().Field(i)))
	}
}

func listLen(out reflect.Value) int {
	n := 0
	for _, i := range listFields(out) {
		n = max(n, out.Elem().Field(i).Len())
	}
	return n
}

func truncateLists(out reflect.Value, n int) {
	for _, i := range listFields(out) {
		f := out.Elem().Field(i)
		if f.Len() > n {
			f.Set(f.Slice(0, n))
		}
	}
}
