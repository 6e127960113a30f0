// Package api is the network edge of Postern's AWS-compatible API: it reads
// `POST /` requests, authenticates them (SigV4), routes them to a service by
// the credential scope's signing name and the Action or X-Amz-Target, and
// writes responses and errors in the service's protocol. Services (IAM, STS,
// EC2, …) register Actions; an Action receives a Call and returns a result
// value or an error, and asks the Call to authorize what it does.
//
// AWS error codes are produced here and in the services' action code, never
// in inner packages.
package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"runtime/debug"
	"slices"
	"strings"
	"time"

	"github.com/postern/postern/internal/server/audit"
	"github.com/postern/postern/internal/server/httpedge"
	"github.com/postern/postern/internal/server/identity"
	"github.com/postern/postern/internal/server/metrics"
	"github.com/postern/postern/internal/server/policy"
	"github.com/postern/postern/internal/util/lazyattr"
	"github.com/postern/postern/internal/wire/awsproto"
	"github.com/postern/postern/internal/wire/jsonkeys"
	"github.com/postern/postern/internal/wire/sigv4"
)

// Protocol is the wire protocol of a service.
type Protocol int

// The protocols Postern serves.
const (
	ProtocolQuery Protocol = iota + 1 // IAM, STS: form in, <ActionResponse><ActionResult> out
	ProtocolEC2                       // EC2: form in, <ActionResponse><requestId> out
	ProtocolJSON                      // JSON 1.1 with X-Amz-Target
)

// ActionFunc performs one API action. It returns the result to encode (a
// struct marshalled as XML children for Query/EC2, or as JSON) or an error;
// an *awsproto.Error reaches the client as is, any other error becomes an
// internal error and is logged.
type ActionFunc func(c *Call) (any, error)

// Service describes one AWS service that the dispatcher serves.
type Service struct {
	// SigningName is the SigV4 service name clients sign with ("iam").
	SigningName string
	Protocol    Protocol
	// Namespace is the XML namespace of responses (Query and EC2).
	Namespace string
	// Version is the API version Query clients send (informational; a
	// request with another Version is still served).
	Version string
	// Actions maps the action name (Query "Action", or the operation part
	// of X-Amz-Target) to its implementation.
	Actions map[string]ActionFunc
	// SelfAudited lists actions that write their own audit records.
	SelfAudited map[string]bool
	// Unsigned lists the actions served to a request that carries no
	// signature at all (STS AssumeRoleWithWebIdentity, which AWS serves
	// unsigned: the caller proves itself with a token in its
	// parameters). Query protocol only. Such a call has a nil Principal;
	// a signed request for the same action is authenticated as any other.
	Unsigned map[string]bool
	// Prepare maps an action to work that runs before it, outside the
	// store transaction the action runs in (see perform): work that must
	// not hold that transaction open, such as fetching an identity
	// provider's keys. Its result reaches the action as Call.Prepared; its
	// error is the call's answer (and is recorded).
	Prepare map[string]ActionFunc
}

// Call is one API request being served.
type Call struct {
	Ctx       context.Context
	Service   *Service
	Action    string
	Params    awsproto.Params // Query and EC2
	Body      []byte          // JSON
	RequestID string
	Principal *identity.Principal
	Info      identity.RequestInfo
	UserAgent string
	Logger    *slog.Logger
	// Prepared is what the action's Service.Prepare returned (nil when
	// it has none).
	Prepared any

	d   *Dispatcher
	rec *callRecord
}

// RecordAs sets the userIdentity of the call's audit record, for an
// unsigned action that establishes who called by itself (the
// WebIdentityUser of AssumeRoleWithWebIdentity). It applies to the record
// written for the call, whether the call then succeeds or fails.
func (c *Call) RecordAs(u audit.UserIdentity) {
	if c.rec != nil {
		c.rec.identity = &u
	}
}

// DecodeJSON decodes a JSON 1.1 request body into v.
func (c *Call) DecodeJSON(v any) error {
	if len(c.Body) == 0 {
		return nil
	}
	if err := json.Unmarshal(c.Body, v); err != nil {
		return awsproto.Errorf(http.StatusBadRequest, "SerializationException", "Unable to parse the request body: %v", err)
	}
	return nil
}

// Authorize checks that the caller may perform action on resource, with
// extra condition keys. A denial is returned as the service's error
// (AccessDenied, UnauthorizedOperation or AccessDeniedException) with
// AWS's wording.
func (c *Call) Authorize(action, resource string, extra policy.Context) error {
	dec, err := c.Decide(action, resource, extra)
	if err != nil {
		return err
	}
	if dec.Allowed {
		return nil
	}
	return c.Deny(action, resource, dec)
}

// Decide is Authorize's question without its answer: the decision, for an
// action that asks several questions before it answers (so that what it
// answers does not depend on whether the resource exists).
func (c *Call) Decide(action, resource string, extra policy.Context) (policy.Decision, error) {
	dec, err := c.d.authz.Authorize(c.Ctx, c.Principal, c.Info, action, resource, extra)
	if err != nil {
		return policy.Decision{}, c.AuthorizeError(action, err)
	}
	return dec, nil
}

// Deny logs a denial decided by Decide and returns it worded as Authorize
// words it.
func (c *Call) Deny(action, resource string, dec policy.Decision) error {
	c.Logger.LogAttrs(c.Ctx, slog.LevelInfo, "access denied",
		slog.String("request_id", c.RequestID), slog.String("principal", c.Principal.ARN),
		slog.String("action", action), slog.String("resource", resource), slog.String("effect", string(dec.Effect)))
	return DenyError(c.Service.Protocol, c.Principal.ARN, action, resource, dec)
}

// AuthorizeError turns an error of identity.Authorizer.Authorize into
// what the caller gets: a credential whose identity was deleted during the
// request is refused as authentication refuses it (InvalidClientTokenId,
// or AuthFailure for EC2); anything else is an internal failure.
func (c *Call) AuthorizeError(action string, err error) error {
	if errors.Is(err, identity.ErrPrincipalGone) {
		return authError(c.Service, &sigv4.Error{Reason: sigv4.ReasonInvalidToken, Message: "The security token included in the request is invalid."})
	}
	return fmt.Errorf("api: authorize %s: %w", action, err)
}

// Denial is a refused authorization: the policy decision as a typed
// value, for callers that must tell an explicit Deny from a missing Allow
// (find it with errors.As, never by the message), and the AWS error the
// client is answered with (what Unwrap returns).
type Denial struct {
	Action, Resource string
	Decision         policy.Decision
	Err              *awsproto.Error
}

func (d *Denial) Error() string { return d.Err.Error() }

// Unwrap returns the AWS error, so awsproto.AsError answers with it.
func (d *Denial) Unwrap() error { return d.Err }

// Explicit reports whether an explicit Deny refused the call (rather than
// no policy allowing it).
func (d *Denial) Explicit() bool { return d.Decision.Effect == policy.Deny }

// DenyError words a denial as AWS does for the protocol.
func DenyError(p Protocol, principalARN, action, resource string, dec policy.Decision) *Denial {
	why := "because no identity-based policy allows the " + action + " action"
	if dec.Effect == policy.Deny {
		why = "with an explicit deny in an identity-based policy"
	}
	msg := fmt.Sprintf("User: %s is not authorized to perform: %s on resource: %s %s", principalARN, action, resource, why)
	d := &Denial{Action: action, Resource: resource, Decision: dec}
	switch p {
	case ProtocolEC2:
		d.Err = awsproto.Errorf(http.StatusForbidden, "UnauthorizedOperation", "You are not authorized to perform this operation. %s", msg)
	case ProtocolJSON:
		d.Err = awsproto.Errorf(http.StatusBadRequest, "AccessDeniedException", "%s", msg)
	default:
		d.Err = awsproto.Errorf(http.StatusForbidden, "AccessDenied", "%s", msg)
	}
	return d
}

// Dispatcher is the http.Handler for `POST /`.
type Dispatcher struct {
	auth     *identity.Authenticator
	authz    *identity.Authorizer
	logger   *slog.Logger
	maxBody  int64
	services map[string]*Service
	audit    *audit.Writer
	account  string
	region   string
	regions  []string // awsproto.HeaderRegions on every answer (one value, shared: never changed)
	metrics  *metrics.Metrics
	// resources are resourceKeys with account and region filled in.
	resources map[string][]resourceKey
}

// Config configures a Dispatcher.
type Config struct {
	Authenticator *identity.Authenticator
	Authorizer    *identity.Authorizer
	Logger        *slog.Logger
	// MaxBody bounds request bodies; default 2 MiB (an IAM policy document
	// may be 128 KiB before form encoding).
	MaxBody  int64
	Services []*Service
	// Audit, when set, records every call (see record); AccountID and
	// Region name the installation in the records.
	Audit             *audit.Writer
	AccountID, Region string
	// Metrics, when set, counts calls and signature failures.
	Metrics *metrics.Metrics
}

// New returns a Dispatcher.
func New(cfg Config) (*Dispatcher, error) {
	if cfg.Authenticator == nil || cfg.Authorizer == nil || cfg.Logger == nil {
		return nil, errors.New("api: Config needs Authenticator, Authorizer and Logger")
	}
	if cfg.MaxBody == 0 {
		cfg.MaxBody = 2 << 20
	}
	d := &Dispatcher{auth: cfg.Authenticator, authz: cfg.Authorizer, logger: cfg.Logger, maxBody: cfg.MaxBody, services: map[string]*Service{},
		audit: cfg.Audit, account: cfg.AccountID, region: cfg.Region, metrics: cfg.Metrics,
		regions:   []string{awsproto.FormatRegions(cfg.Authenticator.Regions())},
		resources: resourceKeysOf(cfg.AccountID, cfg.Region)}
	for _, s := range cfg.Services {
		d.services[s.SigningName] = s
	}
	return d, nil
}

// ServeHTTP serves one API request.
func (d *Dispatcher) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	reqID := awsproto.NewRequestID()
	// The regions this server accepts, on every answer: the CLI's region
	// hint reads them rather than the wrong-region refusal's message.
	// (The canonical key and a shared value: Header().Set would allocate
	// the value's slice on every call. Capacity 1, so that an append by
	// anyone copies it.)
	w.Header()[awsproto.HeaderRegions] = d.regions[:1:1]
	svc := d.guessService(r)
	rec := &callRecord{at: time.Now(), id: reqID}
	fail := func(e *awsproto.Error) {
		if err := d.record(r, svc, rec, e); err != nil {
			e = awsproto.InternalError()
		}
		d.writeError(w, svc, reqID, e)
	}
	defer func() {
		// A bug must not reach the client as a dropped connection or a Go
		// error string: log it and answer AWS's internal error.
		if v := recover(); v != nil {
			d.logger.LogAttrs(r.Context(), slog.LevelError, "panic serving API request", slog.String("request_id", reqID),
				slog.Any("panic", v), slog.String("stack", string(debug.Stack())))
			fail(awsproto.InternalError())
		}
	}()

	if r.Method != http.MethodPost && r.Method != http.MethodGet {
		fail(awsproto.Errorf(http.StatusMethodNotAllowed, "InvalidAction", "The HTTP method %s is not supported.", r.Method))
		return
	}
	body, err := readBody(r, d.maxBody)
	if err != nil {
		fail(awsproto.Errorf(http.StatusBadRequest, "MalformedQueryString", "The request body could not be read."))
		return
	}
	if int64(len(body)) > d.maxBody {
		fail(awsproto.Errorf(http.StatusRequestEntityTooLarge, "RequestEntityTooLarge", "Request body must be at most %d bytes.", d.maxBody))
		return
	}
	rec.body = body
	var (
		p             *identity.Principal
		presigned     bool
		signedHeaders []string
	)
	if us := d.unsignedService(r, body); us != nil {
		// No signature, and an action its service serves unsigned: the
		// action authenticates the caller itself (Principal stays nil).
		svc = us
	} else {
		var res *sigv4.Result
		p, res, err = d.auth.Authenticate(r.Context(), r, body)
		if err != nil {
			var se *sigv4.Error
			if errors.As(err, &se) {
				ae := authError(svc, se)
				d.metrics.SignatureFailure(ae.Code)
				fail(ae)
				return
			}
			d.logger.LogAttrs(r.Context(), slog.LevelError, "authentication failed", slog.String("request_id", reqID), slog.Any("error", err))
			fail(awsproto.InternalError())
			return
		}
		httpedge.Trust(r.Context()) // the connection no longer counts as unauthenticated
		known := d.services[res.Service]
		if known == nil {
			fail(awsproto.Errorf(http.StatusBadRequest, "UnknownService", "Postern does not serve the service %q.", res.Service))
			return
		}
		svc = known
		presigned, signedHeaders = res.Presigned, res.SignedHeaders
	}
	rec.principal = p
	// A presigned URL covers its query string and signed headers, never a
	// body: only a Query-protocol GET with every parameter in that query
	// may be acted on.
	if presigned && (r.Method != http.MethodGet || svc.Protocol == ProtocolJSON || r.Header.Get("X-Amz-Target") != "") {
		fail(awsproto.Errorf(http.StatusBadRequest, "IncompleteSignature",
			"A presigned request must be a GET with every parameter in its signed query string; sign POST and X-Amz-Target (JSON) requests in the Authorization header."))
		return
	}
	call := &Call{
		Ctx: r.Context(), Service: svc, RequestID: reqID, Principal: p, Body: body,
		Info:      identity.RequestInfo{SourceIP: remoteIP(r), Secure: r.TLS != nil},
		UserAgent: r.UserAgent(), d: d, rec: rec,
	}
	if svc.Protocol == ProtocolJSON {
		target := r.Header.Get("X-Amz-Target")
		call.Action = target[strings.LastIndexByte(target, '.')+1:]
		rec.action = call.Action
		if target == "" {
			fail(awsproto.Errorf(http.StatusBadRequest, "UnknownOperationException", "Missing X-Amz-Target header."))
			return
		}
		if !slices.Contains(signedHeaders, "x-amz-target") {
			fail(awsproto.Errorf(http.StatusBadRequest, "IncompleteSignature", "'X-Amz-Target' must be a 'SignedHeader' in the AWS Authorization."))
			return
		}
		if len(body) > 0 {
			if err := jsonkeys.Check(body, true); err != nil {
				fail(jsonBodyError(err))
				return
			}
		}
	} else {
		params, err := queryParams(r, body)
		// queryParams returns a repeat unwrapped; a type assertion, not
		// errors.As, whose target would escape (an allocation per call).
		if dup, ok := err.(*duplicateParamError); ok {
			fail(awsproto.Errorf(http.StatusBadRequest, "InvalidQueryParameter", "The parameter %s appears more than once in the request; each parameter may be sent once.", truncateName(dup.name)))
			return
		}
		if err != nil {
			fail(awsproto.Errorf(http.StatusBadRequest, "MalformedQueryString", "The request parameters could not be parsed."))
			return
		}
		call.Params = params
		call.Action = params.Get("Action")
		rec.action, rec.params = call.Action, params
		if call.Action == "" {
			fail(awsproto.Errorf(http.StatusBadRequest, "MissingAction", "The request must contain the parameter Action."))
			return
		}
	}
	call.Logger = lazyattr.With(d.logger, slog.String("request_id", reqID))
	fn := svc.Actions[call.Action]
	if fn == nil {
		code := "InvalidAction"
		if svc.Protocol == ProtocolJSON {
			code = "UnknownOperationException"
		}
		fail(awsproto.Errorf(http.StatusBadRequest, code, "Could not find operation %s for version %s", call.Action, svc.Version))
		return
	}
	rec.selfAudited = svc.SelfAudited[call.Action]
	start := time.Now()
	var result any
	err = nil
	if prep := svc.Prepare[call.Action]; prep != nil {
		call.Prepared, err = prep(call)
	}
	if err == nil {
		result, err = d.perform(r, svc, rec, call, fn)
	}
	if err != nil {
		e := awsproto.AsError(err)
		if e.Status >= 500 {
			call.Logger.LogAttrs(r.Context(), slog.LevelError, "action failed", slog.String("action", call.Action), slog.Any("error", err))
		}
		fail(e)
		return
	}
	if err := d.record(r, svc, rec, nil); err != nil {
		d.writeError(w, svc, reqID, awsproto.InternalError())
		return
	}
	switch svc.Protocol {
	case ProtocolQuery:
		err = awsproto.WriteQueryResult(w, svc.Namespace, call.Action, reqID, result)
	case ProtocolEC2:
		err = awsproto.WriteEC2Result(w, svc.Namespace, call.Action, reqID, result)
	default:
		err = awsproto.WriteJSONResult(w, reqID, result)
	}
	if err != nil {
		call.Logger.LogAttrs(r.Context(), slog.LevelError, "encode response", slog.String("action", call.Action), slog.Any("error", err))
		fail(awsproto.InternalError())
		return
	}
	principal := "anonymous"
	if p != nil {
		principal = p.ARN
	}
	call.Logger.LogAttrs(r.Context(), slog.LevelDebug, "api call", slog.String("action", call.Action),
		slog.String("principal", principal), slog.Duration("took", time.Since(start)))
}

// readBody reads r's whole body, at most max+1 bytes of it (more than max
// is the caller's to refuse). A body whose length the request declares
// (every SDK's) is read into one buffer of that size.
func readBody(r *http.Request, max int64) ([]byte, error) {
	if n := r.ContentLength; n >= 0 && n <= max {
		if n == 0 {
			return nil, nil
		}
		body := make([]byte, n, n+1)
		// net/http ends the body at its Content-Length: a client that
		// sends less fails the read (io.ErrUnexpectedEOF).
		if _, err := io.ReadFull(r.Body, body); err != nil {
			return nil, err
		}
		// Then to its end, as io.ReadAll read (net/http reports it
		// with the last bytes: this read costs no I/O). A body that
		// goes on past its declared length is read on as before.
		m, err := r.Body.Read(body[n : n+1])
		switch {
		case m == 0 && errors.Is(err, io.EOF):
			return body, nil
		case err != nil && !errors.Is(err, io.EOF):
			return nil, err
		}
		rest, err := io.ReadAll(io.LimitReader(r.Body, max-n))
		return append(body[:n+int64(m)], rest...), err
	}
	return io.ReadAll(io.LimitReader(r.Body, max+1))
}

// unsignedService returns the service of a request that carries no
// signature of any kind (no Authorization header, no presigned query,
// no X-Amz-Target) and whose Query-protocol Action that service serves
// unsigned (Service.Unsigned); nil for any other request, which is then
// authenticated as usual (and refused when it is not signed).
func (d *Dispatcher) unsignedService(r *http.Request, body []byte) *Service {
	if r.Header.Get("Authorization") != "" || r.Header.Get("X-Amz-Target") != "" {
		return nil
	}
	q := r.URL.Query()
	for _, k := range []string{"X-Amz-Algorithm", "X-Amz-Credential", "X-Amz-Signature", "X-Amz-Security-Token"} {
		if q.Has(k) {
			return nil
		}
	}
	params, err := queryParams(r, body)
	if err != nil {
		return nil // authentication refuses it
	}
	action := params.Get("Action")
	for _, s := range d.services {
		if s.Protocol == ProtocolQuery && s.Unsigned[action] {
			return s
		}
	}
	return nil
}

// guessService picks the service whose error format a failure before
// authentication should use, from the credential scope or the headers.
func (d *Dispatcher) guessService(r *http.Request) *Service {
	name := ""
	if a := r.Header.Get("Authorization"); a != "" {
		if i := strings.Index(a, "Credential="); i >= 0 {
			name = fourthPart(a[i+len("Credential="):])
		}
	} else if c := r.URL.Query().Get("X-Amz-Credential"); c != "" {
		name = fourthPart(c)
	}
	if s := d.services[name]; s != nil {
		return s
	}
	if r.Header.Get("X-Amz-Target") != "" {
		return &Service{Protocol: ProtocolJSON}
	}
	return &Service{Protocol: ProtocolQuery, Namespace: "https://iam.amazonaws.com/doc/2010-05-08/"}
}

// fourthPart is strings.Split(s, "/")[3], or "" when s has fewer than
// four parts (the service of a credential scope, AKID/date/region/service/…).
func fourthPart(s string) string {
	for range 3 {
		_, rest, ok := strings.Cut(s, "/")
		if !ok {
			return ""
		}
		s = rest
	}
	part, _, _ := strings.Cut(s, "/")
	return part
}

func (d *Dispatcher) writeError(w http.ResponseWriter, svc *Service, reqID string, e *awsproto.Error) {
	switch svc.Protocol {
	case ProtocolEC2:
		awsproto.WriteEC2Error(w, reqID, e)
	case ProtocolJSON:
		awsproto.WriteJSONError(w, reqID, e)
	default:
		awsproto.WriteQueryError(w, svc.Namespace, reqID, e)
	}
}

// authError maps a signature failure to the AWS code the service's clients
// expect.
func authError(svc *Service, e *sigv4.Error) *awsproto.Error {
	ec2 := svc.Protocol == ProtocolEC2
	switch e.Reason {
	case sigv4.ReasonMissingAuth:
		if ec2 {
			return awsproto.Errorf(http.StatusUnauthorized, "AuthFailure", "AWS was not able to validate the provided access credentials")
		}
		return awsproto.Errorf(http.StatusForbidden, "MissingAuthenticationToken", "%s", e.Message)
	case sigv4.ReasonIncomplete, sigv4.ReasonMalformed:
		return awsproto.Errorf(http.StatusBadRequest, "IncompleteSignature", "%s", e.Message)
	case sigv4.ReasonUnknownKey, sigv4.ReasonInvalidToken:
		if ec2 {
			return awsproto.Errorf(http.StatusUnauthorized, "AuthFailure", "AWS was not able to validate the provided access credentials")
		}
		return awsproto.Errorf(http.StatusForbidden, "InvalidClientTokenId", "%s", e.Message)
	case sigv4.ReasonExpiredToken:
		return awsproto.Errorf(http.StatusBadRequest, "ExpiredToken", "%s", e.Message)
	case sigv4.ReasonExpired, sigv4.ReasonSkew:
		if ec2 {
			return awsproto.Errorf(http.StatusBadRequest, "RequestExpired", "%s", e.Message)
		}
		return awsproto.Errorf(http.StatusForbidden, "SignatureDoesNotMatch", "%s", e.Message)
	}
	return awsproto.Errorf(http.StatusForbidden, "SignatureDoesNotMatch", "%s", e.Message)
}

// duplicateParamError is a Query parameter sent more than once.
type duplicateParamError struct{ name string }

func (e *duplicateParamError) Error() string {
	return "api: parameter " + e.name + " sent more than once"
}

// queryParams reads the URL query and, for a POST, the form body. A name
// sent twice (in either, or once in each) is a *duplicateParamError: the
// Query protocols send lists as Name.1, Name.2, so a repeat is never a
// list, and taking one of the values would act on something other than
// what a reader of the request (or its audit record) sees.
func queryParams(r *http.Request, body []byte) (awsproto.Params, error) {
	if r.URL.RawQuery == "" && r.Method == http.MethodPost && len(body) > 0 {
		// The SDKs' form: everything in the body. Its map is the answer.
		return parseForm(string(body))
	}
	out := awsproto.Params{}
	query, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		return nil, fmt.Errorf("api: parse query: %w", err)
	}
	for k, v := range query {
		if len(v) > 1 {
			return nil, &duplicateParamError{name: k}
		}
		if !strings.HasPrefix(k, "X-Amz-") {
			out[k] = v
		}
	}
	if r.Method == http.MethodPost && len(body) > 0 {
		form, err := url.ParseQuery(string(body))
		if err != nil {
			return nil, fmt.Errorf("api: parse form body: %w", err)
		}
		for k, v := range form {
			if _, inQuery := query[k]; len(v) > 1 || inQuery {
				return nil, &duplicateParamError{name: k}
			}
			out[k] = v
		}
	}
	return out, nil
}

// maxFastFormFields is the most fields parseForm parses itself; a form
// with more (or one that url.ParseQuery refuses) is parsed by
// url.ParseQuery, which also applies its own limit on their number.
const maxFastFormFields = 64

// parseForm is url.ParseQuery(form) followed by the refusal of a name
// sent twice (a *duplicateParamError naming the first repeated name in
// the form's order), with the map sized once and every value's slice cut
// from one array (capacity 1 each, so that an append copies) instead of
// an allocation per value. A form url.ParseQuery would refuse, or one of
// more than maxFastFormFields fields, goes through url.ParseQuery itself,
// so that its errors are url.ParseQuery's.
func parseForm(form string) (awsproto.Params, error) {
	n := strings.Count(form, "&") + 1
	if n > maxFastFormFields {
		return parseFormSlow(form)
	}
	out := make(awsproto.Params, n)
	vals := make([]string, n)
	var dup string
	repeated := false
	i := 0
	for rest := form; rest != ""; {
		var field string
		field, rest, _ = strings.Cut(rest, "&")
		if strings.IndexByte(field, ';') >= 0 {
			return parseFormSlow(form)
		}
		if field == "" {
			continue
		}
		k, v, _ := strings.Cut(field, "=")
		k, err := url.QueryUnescape(k)
		if err != nil {
			return parseFormSlow(form)
		}
		if v, err = url.QueryUnescape(v); err != nil {
			return parseFormSlow(form)
		}
		if _, seen := out[k]; seen {
			if !repeated {
				dup, repeated = k, true
			}
			continue
		}
		vals[i] = v
		out[k] = vals[i : i+1 : i+1]
		i++
	}
	if repeated {
		return nil, &duplicateParamError{name: dup}
	}
	return out, nil
}

// parseFormSlow is parseForm through url.ParseQuery.
func parseFormSlow(form string) (awsproto.Params, error) {
	q, err := url.ParseQuery(form)
	if err != nil {
		return nil, fmt.Errorf("api: parse form body: %w", err)
	}
	names := make([]string, 0, 1)
	for k, v := range q {
		if len(v) > 1 {
			names = append(names, k)
		}
	}
	if len(names) > 0 {
		slices.Sort(names)
		return nil, &duplicateParamError{name: names[0]}
	}
	return awsproto.Params(q), nil
}

// jsonBodyError words a JSON body that repeats a member or does not parse.
func jsonBodyError(err error) *awsproto.Error {
	var de *jsonkeys.DuplicateError
	if errors.As(err, &de) {
		return awsproto.Errorf(http.StatusBadRequest, "SerializationException",
			"Unable to parse the request body: the member %s appears more than once in one object.", truncateName(de.Key))
	}
	return awsproto.Errorf(http.StatusBadRequest, "SerializationException", "Unable to parse the request body: it is not a JSON document.")
}

// truncateName bounds a client-chosen name quoted in a message.
func truncateName(s string) string {
	if len(s) > 128 {
		s = s[:128] + "…"
	}
	return fmt.Sprintf("%q", s)
}

func remoteIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}
