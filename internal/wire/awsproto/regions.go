package awsproto

import "strings"

// HeaderRegions is a header Postern's API sets on every answer of POST /
// (success or error): the regions whose signatures the server accepts,
// its own region first, comma-separated ("postern-1,us-east-1"). AWS's
// clients ignore headers they do not know, so AWS's wire answer is
// unchanged; the postern CLI reads it to tell a request signed for
// another region from other signature failures, and to name the region
// to use, without reading the error's message.
const HeaderRegions = "X-Postern-Regions"

// FormatRegions is the value of HeaderRegions for regions.
func FormatRegions(regions []string) string { return strings.Join(regions, ",") }

// ParseRegions reads a HeaderRegions value; nil when it is empty (an
// older server, or not Postern).
func ParseRegions(v string) []string {
	var out []string
	for r := range strings.SplitSeq(v, ",") {
		if r = strings.TrimSpace(r); r != "" {
			out = append(out, r)
		}
	}
	return out
}
