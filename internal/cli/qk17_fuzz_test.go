package cli

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"math"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

// FuzzFromJSON feeds fromJSON (decodeJSONValue), which turns the JSON
// answers of Postern's JSON-protocol APIs into the CLI's ordered values,
// arbitrary bytes. Properties: it never panics; it accepts exactly what
// encoding/json's decoder reads as a first value; and what it gives is
// that value with the members' order kept, null members dropped, integers
// as int64 (beyond it, except times, as their literal: bigInt), other
// numbers as float64, and members named …At or …Since
// holding a time turned into the AWS CLI's time text.
func FuzzFromJSON(f *testing.F) {
	for _, seed := range []string{
		`42`, `null`, `[]`, `{}`, `"x"`, `true`,
		`{"Long": "aaaa bbbb", "L": [{"Q": "it's: quoted"}]}`,
		`{"CreatedAt": 1764000000.5, "ModifiedSince": "2026-11-22T11:46:33.018Z", "At": "not a time", "b": null, "a": [1, -2, 3.5, 1e3, null]}`,
		`{"NotAfterAt": -1.25, "UpdatedAt": 12345678901234567890}`,
		`{"a": 1, "a": 2, "z": {"y": [[], {}]}}`, `{"a": 1, "a": null}`, `{"a": 1e400}`,
		`{"Big": 123456789012345678901234567890, "Neg": -0, "Exp": 1E-7}`,
		`[1, 2] trailing`, `{"a" 1}`, `[1,]`, `{"a":}`, "\"\xff\"", `{"a":1`, ``,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		got, err := fromJSON(data)
		dec := json.NewDecoder(bytes.NewReader(data))
		dec.UseNumber()
		var ref any
		refErr := dec.Decode(&ref)
		if refErr != nil {
			if err == nil {
				t.Fatalf("fromJSON(%q) accepted what encoding/json refuses (%v): %#v", data, refErr, got)
			}
			return
		}
		if err != nil {
			t.Fatalf("fromJSON(%q) refused valid JSON: %v", data, err)
		}
		if msg := sameJSON(got, ref, ""); msg != "" {
			t.Fatalf("fromJSON(%q) = %#v: %s", data, got, msg)
		}
	})
}

// sameJSON compares fromJSON's value with encoding/json's (UseNumber) one
// for a member named key; it returns what differs, "" when nothing does.
func sameJSON(got, ref any, key string) string {
	switch r := ref.(type) {
	case nil:
		if got != nil {
			return fmt.Sprintf("%#v for null", got)
		}
	case bool:
		if got != r {
			return fmt.Sprintf("%#v for %v", got, r)
		}
	case string:
		s, ok := got.(string)
		if !ok {
			return fmt.Sprintf("%#v for string %q", got, r)
		}
		if tm, err := time.Parse(time.RFC3339Nano, r); err == nil && timeKey(key) {
			if s != formatTime(tm) {
				return fmt.Sprintf("time %q for %q", s, r)
			}
		} else if s != r {
			return fmt.Sprintf("%q for %q", s, r)
		}
	case json.Number:
		if fl, err := r.Float64(); err == nil && timeKey(key) && fl >= minEpoch && fl <= maxEpoch {
			s, ok := got.(string)
			tm, perr := time.Parse("2006-01-02T15:04:05.999999-07:00", s)
			want := time.UnixMicro(int64(math.Round(fl * 1e6)))
			if d := tm.Sub(want); !ok || perr != nil || d > time.Millisecond || d < -time.Millisecond {
				return fmt.Sprintf("%#v for time %v", got, fl)
			}
		} else if i, err := r.Int64(); err == nil {
			if got != i {
				return fmt.Sprintf("%#v for integer %v", got, r)
			}
		} else if !timeKey(key) && !strings.ContainsAny(r.String(), ".eE") {
			if got != bigInt(r) {
				return fmt.Sprintf("%#v for integer %v beyond int64", got, r)
			}
		} else if fl, _ := r.Float64(); got != fl {
			return fmt.Sprintf("%#v for number %v", got, r)
		}
	case []any:
		l, ok := got.([]any)
		if !ok || len(l) != len(r) {
			return fmt.Sprintf("%#v for list %v", got, r)
		}
		for i := range r {
			if msg := sameJSON(l[i], r[i], ""); msg != "" {
				return fmt.Sprintf("[%d]: %s", i, msg)
			}
		}
	case map[string]any:
		o, ok := got.(ordered)
		if !ok {
			return fmt.Sprintf("%#v for object %v", got, r)
		}
		last := map[string]any{}
		for _, m := range o {
			if m.value == nil {
				return fmt.Sprintf("null member %q kept", m.key)
			}
			if _, ok := r[m.key]; !ok {
				return fmt.Sprintf("member %q not in the document", m.key)
			}
			last[m.key] = m.value
		}
		for k, v := range r {
			if v == nil {
				continue // dropped, or a repeated key whose last value is null
			}
			if msg := sameJSON(last[k], v, k); msg != "" {
				return fmt.Sprintf("%q: %s", k, msg)
			}
		}
	default:
		return fmt.Sprintf("unexpected reference value %#v", ref)
	}
	return ""
}

// FuzzDecodeReservation feeds decodeReservation (RunInstances' and
// RegisterInstance's XML answer, read into the SDK's RunInstancesOutput)
// arbitrary bytes and the answers a server writes. Properties: it never
// panics; an error is wrapped as "decode reservation"; a reservation
// written with its fields escaped reads back field for field (an empty
// element gives "", an absent one nil), the state code as the integer
// sent and the launch time as the instant sent (millisecond precision).
func FuzzDecodeReservation(f *testing.F) {
	f.Add([]byte(`<?xml version="1.0" encoding="UTF-8"?>
<RegisterInstanceResponse xmlns="http://ec2.amazonaws.com/doc/2016-11-15/">
    <requestId>00000000-0000-0000-0000-000000000000</requestId>
    <reservationId>r-0000000000000000d</reservationId><ownerId>123456789012</ownerId><groupSet></groupSet><instancesSet><item><instanceId>i-0000000000000000d</instanceId><instanceState><code>16</code><name>running</name></instanceState><privateDnsName>ip-10-0-1-10.ec2.internal</privateDnsName><dnsName></dnsName><launchTime>2026-11-22T11:46:33.018Z</launchTime><placement><availabilityZone>us-east-1a</availabilityZone><availabilityZoneId>use1-az1</availabilityZoneId><groupName></groupName><tenancy>default</tenancy></placement><subnetId>subnet-00000000000000005</subnetId><vpcId>vpc-00000000000000001</vpcId><privateIpAddress>10.0.1.10</privateIpAddress><groupSet><item><groupId>sg-00000000000000008</groupId><groupName>instance-sg</groupName></item></groupSet><tagSet><item><key>Name</key><value>web-1</value></item></tagSet><platformDetails>Linux/UNIX</platformDetails></item></instancesSet>
</RegisterInstanceResponse>`), "r-0000000000000000d", "i-0000000000000000d", int64(16), "running", int64(1763812000000), "web-1")
	f.Add([]byte(`<x><instancesSet><item><instanceState><code>x</code></instanceState></item></instancesSet></x>`), "", "", int64(-1), "", int64(0), "")
	f.Add([]byte(`<x><instancesSet><item><launchTime>yesterday</launchTime></item></instancesSet></x>`), "a&b", "<i>", int64(1<<40), "\x00", int64(-62135596800000), "\r\n")
	f.Add([]byte(`<x><reservationId>a</reservationId>`), "\xff", "]]>", int64(0), "pending", int64(253402300799999), " ")
	f.Add([]byte(``), "r", "i", int64(80), "stopped", int64(1), "")
	f.Add([]byte(`<x>`), "r", "i", int64(1<<31), "running", int64(1), "")
	f.Fuzz(func(t *testing.T, body []byte, resID, instID string, code int64, name string, launchMs int64, tag string) {
		if out, err := decodeReservation(body); err != nil {
			if !strings.HasPrefix(err.Error(), "decode reservation") {
				t.Fatalf("decodeReservation(%q): error %q not wrapped", body, err)
			}
		} else if out == nil {
			t.Fatalf("decodeReservation(%q): nil output without error", body)
		}

		if !xmlText(resID) || !xmlText(instID) || !xmlText(name) || !xmlText(tag) {
			return // not text an XML document can carry
		}
		launch := time.UnixMilli(launchMs).UTC()
		if launch.Year() < 0 || launch.Year() > 9999 {
			return
		}
		esc := func(s string) string {
			var b bytes.Buffer
			_ = xml.EscapeText(&b, []byte(s)) // to a bytes.Buffer: cannot fail
			return b.String()
		}
		doc := `<RunInstancesResponse xmlns="http://ec2.amazonaws.com/doc/2016-11-15/"><reservationId>` + esc(resID) +
			`</reservationId><requesterId></requesterId><instancesSet><item><instanceId>` + esc(instID) +
			`</instanceId><instanceState><code>` + strconv.FormatInt(code, 10) + `</code><name>` + esc(name) +
			`</name></instanceState><launchTime>` + launch.Format("2006-01-02T15:04:05.000Z") +
			`</launchTime><tagSet><item><key>Name</key><value>` + esc(tag) + `</value></item></tagSet></item></instancesSet></RunInstancesResponse>`
		out, err := decodeReservation([]byte(doc))
		if code < -1<<31 || code > 1<<31-1 {
			if err == nil {
				t.Fatalf("decodeReservation(%q) took state code %d beyond int32", doc, code)
			}
			return
		}
		if err != nil {
			t.Fatalf("decodeReservation(%q): %v", doc, err)
		}
		if out.ReservationId == nil || *out.ReservationId != resID || out.OwnerId != nil ||
			out.RequesterId == nil || *out.RequesterId != "" || len(out.Instances) != 1 {
			t.Fatalf("decodeReservation(%q) = %+v", doc, out)
		}
		in := out.Instances[0]
		if in.InstanceId == nil || *in.InstanceId != instID || in.State == nil || in.State.Code == nil ||
			int64(*in.State.Code) != code || string(in.State.Name) != name {
			t.Fatalf("decodeReservation(%q): instance %+v, state %+v", doc, in, in.State)
		}
		if in.LaunchTime == nil || !in.LaunchTime.Equal(launch) {
			t.Fatalf("decodeReservation(%q): launch time %v, want %v", doc, in.LaunchTime, launch)
		}
		if len(in.Tags) != 1 || *in.Tags[0].Key != "Name" || in.Tags[0].Value == nil || *in.Tags[0].Value != tag {
			t.Fatalf("decodeReservation(%q): tags %+v", doc, in.Tags)
		}
	})
}

// xmlText says whether s is text an XML 1.0 document can carry as is.
func xmlText(s string) bool {
	if !utf8.ValidString(s) {
		return false
	}
	for _, r := range s {
		if !(r == 0x09 || r == 0x0A || r == 0x0D || r >= 0x20 && r <= 0xD7FF || r >= 0xE000 && r <= 0xFFFD || r >= 0x10000 && r <= 0x10FFFF) {
			return false
		}
	}
	return true
}
