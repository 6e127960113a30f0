package ec2api

import (
	"bytes"
	"encoding/xml"
	"reflect"
	"strconv"
	"testing"
)

// fillTexts are field values encoding/xml escapes in every way it knows.
var fillTexts = []string{"eice-0123456789abcdef0", `<&"'>`, "tab\tnl\ncr\r", "ctl\x01", "é 日本", "bad\xffutf8", ""}

// fill sets every field reachable from v: strings from fillTexts (by a
// running count, so fields differ), bools to even, slices to n elements
// each filled in turn. A kind it does not know fails the test: a new
// kind of field needs a decision here and a line in the hand-written
// encoder.
func fill(t *testing.T, v reflect.Value, count *int, n int, even bool) {
	t.Helper()
	switch v.Kind() {
	case reflect.String:
		*count++
		v.SetString(fillTexts[*count%len(fillTexts)] + strconv.Itoa(*count))
	case reflect.Bool:
		v.SetBool(even)
	case reflect.Slice:
		v.Set(reflect.MakeSlice(v.Type(), n, n))
		for i := range n {
			fill(t, v.Index(i), count, n, even)
		}
	case reflect.Struct:
		for i := range v.NumField() {
			if v.Type().Field(i).IsExported() {
				fill(t, v.Field(i), count, n, even)
			}
		}
	default:
		t.Fatalf("fill: a field of kind %s (%s): teach fill and the hand-written encoder about it", v.Kind(), v.Type())
	}
}

// reflectChildren is what encoding/xml writes between the tags of v's
// element: what WriteEC2Result wrote before results wrote themselves.
func reflectChildren(t *testing.T, v any) string {
	t.Helper()
	var b bytes.Buffer
	if err := xml.NewEncoder(&b).EncodeElement(v, xml.StartElement{Name: xml.Name{Local: "r"}}); err != nil {
		t.Fatal(err)
	}
	return string(bytes.TrimSuffix(bytes.TrimPrefix(b.Bytes(), []byte("<r>")), []byte("</r>")))
}

// TestEndpointXMLMatchesEncodingXML: the hand-written answer of
// DescribeInstanceConnectEndpoints is byte for byte encoding/xml's, with
// every field set (escaped texts, bools both ways, lists of none, one
// and several), with none set, and with no endpoints.
func TestEndpointXMLMatchesEncodingXML(t *testing.T) {
	tests := []struct {
		name  string
		items int // slice lengths
		even  bool
		zero  bool // leave the fields unset (nil lists, empty texts)
	}{
		{"every field, lists of two", 2, true, false},
		{"every field, lists of one, false bools", 1, false, false},
		{"every field, empty lists", 0, true, false},
		{"nothing set", 0, false, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var r describeEndpointsResult
			if !tc.zero {
				count := 0
				fill(t, reflect.ValueOf(&r).Elem(), &count, tc.items, tc.even)
			}
			got := string(r.AppendXMLChildren([]byte("keep")))
			if want := "keep" + reflectChildren(t, r); got != want {
				t.Fatalf("hand-written:\n%q\nencoding/xml:\n%q", got, want)
			}
		})
	}
	// An endpoint with one field set at a time: each field is written
	// (a field left out would show as a difference here).
	var e endpointXML
	v := reflect.ValueOf(&e).Elem()
	for i := range v.NumField() {
		e = endpointXML{}
		count := i
		fill(t, v.Field(i), &count, 1, true)
		r := describeEndpointsResult{InstanceConnectEndpointSet: itemSet[endpointXML]{Items: []endpointXML{e}}}
		if got, want := string(r.AppendXMLChildren(nil)), reflectChildren(t, r); got != want {
			t.Fatalf("with only %s set:\n%q\nencoding/xml:\n%q", v.Type().Field(i).Name, got, want)
		}
	}
}
