package iamapi

import (
	"bytes"
	"encoding/xml"
	"reflect"
	"testing"
)

// TestCallerIdentityXMLMatchesEncodingXML: GetCallerIdentity's
// hand-written answer is byte for byte what encoding/xml writes for it,
// for plain, empty and escaped values, each field set on its own (a field
// added to the type without a line in AppendXMLChildren fails here).
func TestCallerIdentityXMLMatchesEncodingXML(t *testing.T) {
	texts := []string{"arn:aws:iam::123456789012:user/alice", "", `<&"'>`, "tab\tnl\n", "é\xff"}
	var cases []callerIdentityResult
	for _, s := range texts {
		cases = append(cases, callerIdentityResult{Arn: s, UserID: s + "u", Account: s + "a"})
	}
	n := reflect.TypeOf(callerIdentityResult{}).NumField()
	for i := range n {
		var r callerIdentityResult
		f := reflect.ValueOf(&r).Elem().Field(i)
		if f.Kind() != reflect.String {
			t.Fatalf("field %s is a %s: teach this test and AppendXMLChildren about it", reflect.TypeOf(r).Field(i).Name, f.Kind())
		}
		f.SetString("only-this")
		cases = append(cases, r)
	}
	for _, r := range cases {
		var b bytes.Buffer
		if err := xml.NewEncoder(&b).EncodeElement(r, xml.StartElement{Name: xml.Name{Local: "r"}}); err != nil {
			t.Fatal(err)
		}
		want := string(bytes.TrimSuffix(bytes.TrimPrefix(b.Bytes(), []byte("<r>")), []byte("</r>")))
		if got := string(r.AppendXMLChildren(nil)); got != want {
			t.Fatalf("%+v: hand-written\n%q\nencoding/xml\n%q", r, got, want)
		}
	}
}
