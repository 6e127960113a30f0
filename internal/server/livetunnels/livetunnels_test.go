package livetunnels

import (
	"reflect"
	"testing"
	"time"

	"github.com/postern/postern/internal/server/frontdoor"
)

// TestConversionKeepsEveryField: a tunnel of the front door survives the
// trip to its published row and back with every field, so that a field
// added to frontdoor.TunnelInfo and not to the conversion fails here.
func TestConversionKeepsEveryField(t *testing.T) {
	var in frontdoor.TunnelInfo
	v := reflect.ValueOf(&in).Elem()
	base := time.Date(2024, 5, 6, 7, 8, 9, 0, time.UTC)
	for i := range v.NumField() {
		f := v.Field(i)
		switch f.Kind() {
		case reflect.String:
			f.SetString(v.Type().Field(i).Name + "-value")
		case reflect.Int, reflect.Int64:
			f.SetInt(int64(100 + i))
		default:
			if f.Type() != reflect.TypeOf(time.Time{}) {
				t.Fatalf("field %s of kind %s: teach this test to fill it", v.Type().Field(i).Name, f.Kind())
			}
			f.Set(reflect.ValueOf(base.Add(time.Duration(i) * time.Hour)))
		}
	}
	updated := base.Add(time.Minute)
	r := row(in, updated)
	if !r.Updated.Equal(updated) {
		t.Errorf("Updated = %v, want %v", r.Updated, updated)
	}
	if out := info(r); out != in {
		t.Errorf("round trip changed the tunnel:\n in  %+v\n out %+v", in, out)
	}
}
