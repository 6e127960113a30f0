package config

import (
	"bytes"
	"reflect"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// FuzzDecode feeds the server's config file decoder (a file the operator
// edits) arbitrary YAML. Properties: neither Decode nor Validate panics;
// a document Decode takes, written back out, decodes to the same
// configuration, which Validate judges the same way; and Decode keeps
// refusing keys it does not know.
func FuzzDecode(f *testing.F) {
	for _, doc := range []string{
		"",
		"version: 1\nregion: eu-west-1\naccount_id: '123456789012'\n",
		"version: 1\nlisten_addr: x\n",
		"listen: '10.0.0.5:443, [fd00::5]:443'\n",
		"listen:\n  - 10.0.0.5:443\n  - '[fd00::5]:443'\n",
		"listen: ['[::1]:8443', '127.0.0.1:8443']\n",
		"listen:\n  a: b\n",
		"listen: ''\n",
		"tls:\n  cert_file: a.pem\n  sans: [a, 10.0.0.1]\n",
		"ec2:\n  endpoints_per_vpc: -1\n  ipv6_pool: fd12:3456:789a::/48\n",
		"tunnel:\n  ports: ['22', '1024-65535', '*']\n  max_duration_seconds: 9223372036854775807\n",
		"http:\n  header_timeout_seconds: 5\n  max_unauthenticated_per_source: -1\n",
		"a: &a [*a]\n",
		"--- \n...\n--- {version: 2}\n",
		"region: !!binary dXMtZWFzdC0x\n",
	} {
		f.Add(doc)
	}
	f.Fuzz(func(t *testing.T, doc string) {
		cfg := Default()
		if err := Decode(strings.NewReader(doc), &cfg); err != nil {
			return
		}
		valid := cfg.Validate() == nil
		out, err := yaml.Marshal(&cfg)
		if err != nil {
			t.Fatalf("decoded %q, cannot write it back: %v", doc, err)
		}
		again := Default()
		if err := Decode(bytes.NewReader(out), &again); err != nil {
			t.Fatalf("decoded %q; written back as\n%s\nit does not decode: %v", doc, out, err)
		}
		if !reflect.DeepEqual(normalize(cfg), normalize(again)) {
			t.Fatalf("decoded %q as %+v; written back as\n%s\nit decodes as %+v", doc, cfg, out, again)
		}
		if (again.Validate() == nil) != valid {
			t.Fatalf("decoded %q: Validate says %v, and %v for the same configuration written back", doc, cfg.Validate(), again.Validate())
		}
		unknown := append(append([]byte(nil), out...), "postern_qg17_unknown: 1\n"...)
		if err := Decode(bytes.NewReader(unknown), &again); err == nil {
			t.Fatalf("Decode took an unknown key after\n%s", out)
		}
	})
}

// normalize makes empty and nil slices alike (YAML writes both as []
// or leaves them out), so that only a real change of value differs.
func normalize(c Server) Server {
	v := reflect.ValueOf(&c).Elem()
	var walk func(reflect.Value)
	walk = func(v reflect.Value) {
		switch v.Kind() {
		case reflect.Struct:
			for i := 0; i < v.NumField(); i++ {
				if v.Field(i).CanSet() {
					walk(v.Field(i))
				}
			}
		case reflect.Slice:
			if v.Len() == 0 {
				v.Set(reflect.Zero(v.Type()))
				return
			}
			for i := 0; i < v.Len(); i++ {
				walk(v.Index(i))
			}
		case reflect.Pointer:
			if !v.IsNil() {
				walk(v.Elem())
			}
		}
	}
	walk(v)
	return c
}
