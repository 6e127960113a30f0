package ec2api

import (
	"strconv"
	"strings"

	"github.com/postern/postern/internal/server/api"
)

// Availability zones. Postern has no physical zones; it offers the six
// zone names <region>a … <region>f so that clients that pass or show a
// zone work, and maps them to zone ids the way AWS spells them
// (us-east-1a → use1-az1). AWS shuffles the letter-to-id mapping per
// account; Postern uses the identity mapping.

// zoneLetters are the zone suffixes Postern offers.
const zoneLetters = "abcdef"

// directionAbbrev abbreviates the middle words of region names, as zone
// ids do (eu-central-1 → euc1, ap-southeast-2 → apse2, us-gov-west-1 → usgw1).
var directionAbbrev = map[string]string{
	"east": "e", "west": "w", "north": "n", "south": "s", "central": "c",
	"northeast": "ne", "northwest": "nw", "southeast": "se", "southwest": "sw",
	"gov": "g", "iso": "i", "isob": "ib",
}

// regionAbbrev returns the zone-id prefix of a region, e.g. use1.
func regionAbbrev(region string) string {
	parts := strings.Split(region, "-")
	if len(parts) < 3 {
		return strings.ReplaceAll(region, "-", "")
	}
	var b strings.Builder
	b.WriteString(parts[0])
	for _, p := range parts[1 : len(parts)-1] {
		if a, ok := directionAbbrev[p]; ok {
			b.WriteString(a)
		} else if p != "" {
			b.WriteString(p[:1])
		}
	}
	b.WriteString(parts[len(parts)-1])
	return b.String()
}

// azID returns the zone id of a zone name of this region ("" if the name
// is not one of Postern's zones).
func (s *service) azID(zone string) string {
	letter, ok := strings.CutPrefix(zone, s.cfg.Region)
	if !ok || len(letter) != 1 {
		return ""
	}
	i := strings.Index(zoneLetters, letter)
	if i < 0 {
		return ""
	}
	return regionAbbrev(s.cfg.Region) + "-az" + strconv.Itoa(i+1)
}

// azByID returns the zone name of a zone id of this region.
func (s *service) azByID(id string) (string, bool) {
	rest, ok := strings.CutPrefix(id, regionAbbrev(s.cfg.Region)+"-az")
	if !ok {
		return "", false
	}
	n, err := strconv.Atoi(rest)
	if err != nil || n < 1 || n > len(zoneLetters) || strconv.Itoa(n) != rest {
		return "", false
	}
	return s.cfg.Region + zoneLetters[n-1:n], true
}

// zones lists the zone names of the region.
func (s *service) zones() []string {
	out := make([]string, 0, len(zoneLetters))
	for i := range zoneLetters {
		out = append(out, s.cfg.Region+zoneLetters[i:i+1])
	}
	return out
}

type availabilityZoneXML struct {
	ZoneName           string `xml:"zoneName"`
	ZoneID             string `xml:"zoneId"`
	ZoneState          string `xml:"zoneState"`
	RegionName         string `xml:"regionName"`
	ZoneType           string `xml:"zoneType"`
	OptInStatus        string `xml:"optInStatus"`
	GroupName          string `xml:"groupName"`
	NetworkBorderGroup string `xml:"networkBorderGroup"`
	MessageSet         struct {
		Items []string `xml:"item"`
	} `xml:"messageSet"`
}

type describeAvailabilityZonesResult struct {
	AvailabilityZoneInfo struct {
		Items []availabilityZoneXML `xml:"item"`
	} `xml:"availabilityZoneInfo"`
}

// describeAvailabilityZones lists the region's zones (filters zone-name,
// zone-id, region-name, state; ZoneName.N, ZoneId.N).
func (s *service) describeAvailabilityZones(c *api.Call) (any, error) {
	q, err := s.readDescribe(c, describeParams{filters: newFilterSpec(false, "zone-name", "zone-id", "region-name", "state", "zone-type")})
	if err != nil {
		return nil, err
	}
	names := scalarList(c.Params, "ZoneName")
	ids := scalarList(c.Params, "ZoneId")
	var out describeAvailabilityZonesResult
	out.AvailabilityZoneInfo.Items = []availabilityZoneXML{}
	for _, z := range s.zones() {
		id := s.azID(z)
		if len(names) > 0 && !contains(names, z) || len(ids) > 0 && !contains(ids, id) {
			continue
		}
		ok := matchFilters(q.filters, func(name string) []string {
			switch name {
			case "zone-name":
				return []string{z}
			case "zone-id":
				return []string{id}
			case "region-name":
				return []string{s.cfg.Region}
			case "state":
				return []string{"available"}
			case "zone-type":
				return []string{"availability-zone"}
			}
			return nil
		})
		if !ok {
			continue
		}
		out.AvailabilityZoneInfo.Items = append(out.AvailabilityZoneInfo.Items, availabilityZoneXML{
			ZoneName: z, ZoneID: id, ZoneState: "available", RegionName: s.cfg.Region,
			ZoneType: "availability-zone", OptInStatus: "opt-in-not-required",
			GroupName: s.cfg.Region + "-zg-1", NetworkBorderGroup: s.cfg.Region,
		})
	}
	return out, nil
}

// contains reports whether ss holds s.
func contains(ss []string, s string) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}
