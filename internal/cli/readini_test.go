package cli

import (
	"os"
	"strings"
)

// readINI returns the keys of section sect in the file at path (nil when
// the file or section is absent), as writeINI sees them: names as
// written, a section or setting named twice merged (the last wins). The
// tests check writeINI's edits against it; the product reads settings the
// AWS CLI's way, with scanINI.
func readINI(path, sect string) map[string]string {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil
	}
	var out map[string]string
	in, nest := false, -1
	for _, line := range strings.Split(string(b), "\n") {
		l := strings.TrimSpace(line)
		if strings.HasPrefix(l, "[") && strings.HasSuffix(l, "]") {
			in, nest = strings.TrimSpace(l[1:len(l)-1]) == sect, -1
			if in && out == nil {
				out = map[string]string{}
			}
			continue
		}
		if !in || l == "" || l[0] == '#' || l[0] == ';' || subSetting(line, &nest) {
			continue
		}
		if k, v, ok := strings.Cut(l, "="); ok {
			out[strings.TrimSpace(k)] = strings.TrimSpace(v)
		}
	}
	return out
}
