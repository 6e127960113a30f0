// Package ctapi is CloudTrail's LookupEvents over Postern's audit trail
// (JSON 1.1, SigV4 service cloudtrail). The AWS CLI sends X-Amz-Target
// com.amazonaws.cloudtrail.v20131101.CloudTrail_20131101.LookupEvents and
// the AWS SDK for Go v2 CloudTrail_20131101.LookupEvents; the dispatcher
// takes the operation after the last dot, so both land here. Events come
// newest first, one lookup attribute at a time as AWS allows, with
// StartTime/EndTime and MaxResults/NextToken paging; each carries the full
// record as the CloudTrailEvent string.
package ctapi

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/postern/postern/internal/server/api"
	"github.com/postern/postern/internal/store"
	"github.com/postern/postern/internal/wire/awsproto"
)

// Service identity.
const (
	SigningName = "cloudtrail"
	APIVersion  = "2013-11-01"
)

// New returns the service for the API dispatcher.
func New(st store.Store) *api.Service {
	s := &service{st: st}
	return &api.Service{SigningName: SigningName, Protocol: api.ProtocolJSON, Version: APIVersion,
		Actions: map[string]api.ActionFunc{"LookupEvents": s.lookupEvents}}
}

type service struct{ st store.Store }

type lookupRequest struct {
	LookupAttributes []struct {
		AttributeKey   string `json:"AttributeKey"`
		AttributeValue string `json:"AttributeValue"`
	} `json:"LookupAttributes"`
	StartTime  *json.Number `json:"StartTime"`
	EndTime    *json.Number `json:"EndTime"`
	MaxResults *int         `json:"MaxResults"`
	NextToken  string       `json:"NextToken"`
}

type resourceJSON struct {
	ResourceType string `json:"ResourceType,omitempty"`
	ResourceName string `json:"ResourceName,omitempty"`
}

type eventJSON struct {
	EventID         string         `json:"EventId"`
	EventName       string         `json:"EventName"`
	ReadOnly        string         `json:"ReadOnly"`
	AccessKeyID     string         `json:"AccessKeyId,omitempty"`
	EventTime       float64        `json:"EventTime"`
	EventSource     string         `json:"EventSource"`
	Username        string         `json:"Username,omitempty"`
	Resources       []resourceJSON `json:"Resources"`
	CloudTrailEvent string         `json:"CloudTrailEvent"`
}

func badRequest(code, format string, args ...any) *awsproto.Error {
	return awsproto.Errorf(http.StatusBadRequest, code, format, args...)
}

// epoch reads an AWS JSON timestamp (seconds since the epoch, possibly
// fractional).
func epoch(n *json.Number) (time.Time, error) {
	if n == nil {
		return time.Time{}, nil
	}
	f, err := n.Float64()
	if err != nil || math.IsNaN(f) || f < 0 || f > 1e11 {
		return time.Time{}, fmt.Errorf("bad timestamp %q", n.String())
	}
	sec, frac := math.Modf(f)
	return time.Unix(int64(sec), int64(frac*1e9)).UTC(), nil
}

func (s *service) lookupEvents(c *api.Call) (any, error) {
	var req lookupRequest
	if len(c.Body) > 0 {
		dec := json.NewDecoder(strings.NewReader(string(c.Body)))
		dec.UseNumber()
		if err := dec.Decode(&req); err != nil {
			return nil, awsproto.Errorf(http.StatusBadRequest, "SerializationException", "Unable to parse the request body: %v", err)
		}
	}
	if err := c.Authorize("cloudtrail:LookupEvents", "*", nil); err != nil {
		return nil, err
	}
	q := store.EventQuery{}
	if len(req.LookupAttributes) > 1 {
		return nil, badRequest("InvalidLookupAttributesException", "You can specify only one lookup attribute.")
	}
	for _, a := range req.LookupAttributes {
		v := a.AttributeValue
		if v == "" || len(v) > 2000 {
			return nil, badRequest("InvalidLookupAttributesException", "AttributeValue must be 1 to 2000 characters.")
		}
		switch a.AttributeKey {
		case "EventId":
			q.EventID = v
		case "EventName":
			q.EventName = v
		case "ReadOnly":
			b, err := strconv.ParseBool(v)
			if err != nil {
				return nil, badRequest("InvalidLookupAttributesException", "ReadOnly must be true or false.")
			}
			q.ReadOnly = &b
		case "Username":
			q.Username = v
		case "ResourceType":
			q.ResourceType = v
		case "ResourceName":
			q.ResourceName = v
		case "EventSource":
			q.EventSource = v
		case "AccessKeyId":
			q.AccessKeyID = v
		default:
			return nil, badRequest("InvalidLookupAttributesException", "AttributeKey %q is not one of EventId, EventName, ReadOnly, Username, ResourceType, ResourceName, EventSource, AccessKeyId.", a.AttributeKey)
		}
	}
	start, err := epoch(req.StartTime)
	if err != nil {
		return nil, badRequest("InvalidTimeRangeException", "StartTime: %v", err)
	}
	end, err := epoch(req.EndTime)
	if err != nil {
		return nil, badRequest("InvalidTimeRangeException", "EndTime: %v", err)
	}
	if !start.IsZero() && !end.IsZero() && start.After(end) {
		return nil, badRequest("InvalidTimeRangeException", "StartTime must be before EndTime.")
	}
	q.Since = start
	if !end.IsZero() {
		q.Until = end.Add(time.Microsecond) // EndTime is inclusive
	}
	max := 50
	if req.MaxResults != nil {
		if *req.MaxResults < 1 || *req.MaxResults > 50 {
			return nil, badRequest("InvalidMaxResultsException", "MaxResults must be from 1 to 50.")
		}
		max = *req.MaxResults
	}
	if req.NextToken != "" {
		t, id, err := parseToken(req.NextToken)
		if err != nil {
			return nil, badRequest("InvalidNextTokenException", "The NextToken is not valid.")
		}
		q.AfterTime, q.AfterID = t, id
	}
	q.Limit = max + 1
	evs, err := s.st.ListEvents(c.Ctx, q)
	if err != nil {
		return nil, fmt.Errorf("ctapi: list events: %w", err)
	}
	out := struct {
		Events    []eventJSON `json:"Events"`
		NextToken string      `json:"NextToken,omitempty"`
	}{Events: []eventJSON{}}
	if len(evs) > max {
		last := evs[max-1]
		out.NextToken = token(last.EventTime, last.EventID)
		evs = evs[:max]
	}
	for _, e := range evs {
		ej := eventJSON{EventID: e.EventID, EventName: e.EventName, ReadOnly: strconv.FormatBool(e.ReadOnly), AccessKeyID: e.AccessKeyID,
			EventTime: float64(e.EventTime.UnixMilli()) / 1000, EventSource: e.EventSource, Username: e.Username,
			Resources: []resourceJSON{}, CloudTrailEvent: e.Body}
		if e.ResourceType != "" || e.ResourceName != "" {
			ej.Resources = append(ej.Resources, resourceJSON{ResourceType: e.ResourceType, ResourceName: e.ResourceName})
		}
		out.Events = append(out.Events, ej)
	}
	return out, nil
}

// A NextToken is the time and id of the last event of a page.
func token(t time.Time, id string) string {
	return base64.RawURLEncoding.EncodeToString([]byte(strconv.FormatInt(t.UnixMicro(), 10) + "|" + id))
}

func parseToken(s string) (time.Time, string, error) {
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return time.Time{}, "", err
	}
	us, id, ok := strings.Cut(string(b), "|")
	n, err := strconv.ParseInt(us, 10, 64)
	if !ok || err != nil || id == "" {
		return time.Time{}, "", fmt.Errorf("bad token")
	}
	return time.UnixMicro(n).UTC(), id, nil
}
