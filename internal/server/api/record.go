package api

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/postern/postern/internal/server/audit"
	"github.com/postern/postern/internal/server/identity"
	"github.com/postern/postern/internal/wire/awsproto"
	"github.com/postern/postern/internal/wire/sigv4"
)

// callRecord is what the dispatcher knows of a call for its audit record.
type callRecord struct {
	at          time.Time
	id          string
	principal   *identity.Principal
	action      string
	params      awsproto.Params // Query and EC2
	body        []byte          // JSON
	selfAudited bool
	written     bool
	// committed says that the record was committed with the call's
	// changes (perform); record then only counts the call.
	committed bool
	// identity, when set (Call.RecordAs), is the record's userIdentity.
	identity *audit.UserIdentity
}

// readOnlyPrefixes mark the actions CloudTrail records as readOnly.
var readOnlyPrefixes = []string{"Describe", "List", "Get", "Lookup", "Simulate"}

// hidden are parameter name parts whose values never reach a record.
var hidden = []string{"password", "secret", "token", "privatekey"}

const hiddenValue = "HIDDEN_DUE_TO_SECURITY_REASONS"

func hide(name string) bool {
	n := strings.ToLower(name)
	for _, h := range hidden {
		if strings.Contains(n, h) {
			return true
		}
	}
	return false
}

// isReadOnly says whether an action only reads (CloudTrail's readOnly).
func isReadOnly(action string) bool {
	for _, p := range readOnlyPrefixes {
		if strings.HasPrefix(action, p) {
			return true
		}
	}
	return false
}

// perform runs the call's action. An action that may change something
// (every action but the read-only ones) runs in one store transaction
// with the call's record (audit.Writer.InTx): the action's store calls
// with c.Ctx join the transaction, its record is inserted last, and both
// are committed together before the answer, so that a crash at any point
// leaves either the change and its record or neither. When the action
// fails, its changes are rolled back and the failure is recorded on its
// own (the dispatcher's fail). Read-only actions run as they are and are
// recorded after.
func (d *Dispatcher) perform(r *http.Request, svc *Service, rec *callRecord, call *Call, fn ActionFunc) (any, error) {
	if !d.audit.Transactional() || isReadOnly(call.Action) {
		return fn(call)
	}
	var result any
	err := d.audit.InTx(call.Ctx, func(ctx context.Context) error {
		result = nil // an attempt run again starts afresh
		c := *call
		c.Ctx = ctx
		res, err := fn(&c)
		if err != nil {
			return err
		}
		result = res
		return d.write(ctx, r, svc, rec, nil)
	})
	if err != nil {
		if errors.Is(err, audit.ErrNotCommitted) {
			// Not even an action's own record was committed: the
			// dispatcher records the failure.
			rec.selfAudited = false
		}
		return nil, err
	}
	rec.committed = true
	return result, nil
}

// record writes the call's audit record (CloudTrail's AwsApiCall shape,
// responseElements left out so that no secret a response carries, such as
// a new access key's, reaches the trail), unless perform committed it with
// the call's changes. It is committed before the answer; an error means
// the answer must not claim success.
func (d *Dispatcher) record(r *http.Request, svc *Service, rec *callRecord, e *awsproto.Error) error {
	if rec.written {
		return nil
	}
	rec.written = true
	code := ""
	if e != nil {
		code = e.Code
	}
	d.metrics.APIRequest(serviceName(svc), actionName(r, rec), code)
	if rec.committed && e == nil {
		return nil
	}
	return d.write(r.Context(), r, svc, rec, e)
}

// actionName names the call's action for its record.
func actionName(r *http.Request, rec *callRecord) string {
	if rec.action != "" {
		return rec.action
	}
	return actionGuess(r, rec)
}

// serviceName is the signing name of svc, or "unknown".
func serviceName(svc *Service) string {
	if svc != nil && svc.SigningName != "" {
		return svc.SigningName
	}
	return "unknown"
}

// write builds the call's record and writes it with ctx: at once, or,
// with the context of perform's transaction, in that transaction.
func (d *Dispatcher) write(ctx context.Context, r *http.Request, svc *Service, rec *callRecord, e *awsproto.Error) error {
	if d.audit == nil || rec.selfAudited {
		return nil
	}
	name, service := actionName(r, rec), serviceName(svc)
	source := service + ".amazonaws.com"
	readOnly := isReadOnly(name)
	akid := ""
	if rec.principal == nil {
		akid = accessKeyOf(r)
	}
	m := audit.Meta{AccountID: d.account, Region: d.region, Principal: rec.principal, AccessKeyID: akid, SourceIP: remoteIP(r),
		UserAgent: r.UserAgent(), RequestID: rec.id, Time: rec.at}
	var errCode, errMsg string
	if e != nil {
		errCode, errMsg = e.Code, e.Message
	}
	rtype, rname, arn := d.resourceOf(service, rec)
	ev := audit.APICall(m, source, name, readOnly, requestParameters(rec), nil, rtype, arn, errCode, errMsg)
	if rec.identity != nil {
		ev.UserIdentity = *rec.identity
	}
	if err := d.audit.Write(ctx, ev, "", rname); err != nil {
		d.logger.Error("could not record an API call", "request_id", rec.id, "action", name, "error", err)
		return err
	}
	return nil
}

// requestParameters are the call's parameters for the record, with
// secret-looking values hidden.
func requestParameters(rec *callRecord) any {
	if rec.params != nil {
		out := map[string]any{}
		for k, v := range rec.params {
			if k == "Action" || k == "Version" {
				continue
			}
			val := any(v)
			if len(v) == 1 {
				val = v[0]
			}
			if hide(k) {
				val = hiddenValue
			}
			out[k] = val
		}
		if len(out) == 0 {
			return nil
		}
		return out
	}
	if len(rec.body) > 0 {
		var m map[string]any
		if json.Unmarshal(rec.body, &m) == nil {
			for k := range m {
				if hide(k) {
					m[k] = hiddenValue
				}
			}
			return m
		}
	}
	return nil
}

// actionGuess names a call that failed before its action was known.
func actionGuess(r *http.Request, rec *callRecord) string {
	if t := r.Header.Get("X-Amz-Target"); t != "" {
		return t[strings.LastIndexByte(t, '.')+1:]
	}
	if a := r.URL.Query().Get("Action"); a != "" {
		return a
	}
	if len(rec.body) > 0 && len(rec.body) < 1<<16 {
		if p, err := queryParams(r, rec.body); err == nil && p.Get("Action") != "" {
			return p.Get("Action")
		}
	}
	return "Unknown"
}

// accessKeyOf is the access key a request names, for unauthenticated
// records.
func accessKeyOf(r *http.Request) string {
	if a := r.Header.Get("Authorization"); a != "" {
		if auth, err := sigv4.ParseAuthorization(a); err == nil {
			return auth.Scope.AccessKeyID
		}
	}
	if c, err := sigv4.ParseCredential(r.URL.Query().Get("X-Amz-Credential")); err == nil {
		return c.AccessKeyID
	}
	return ""
}

// resourceKeys map a request parameter to the resource it names, per
// service: the CloudTrail resource type and the ARN's form.
var resourceKeys = map[string][]struct{ param, typ, arn string }{
	"iam": {
		{"UserName", "AWS::IAM::User", "arn:aws:iam::%[1]s:user/%[3]s"},
		{"RoleName", "AWS::IAM::Role", "arn:aws:iam::%[1]s:role/%[3]s"},
		{"GroupName", "AWS::IAM::Group", "arn:aws:iam::%[1]s:group/%[3]s"},
		{"PolicyArn", "AWS::IAM::Policy", "%[3]s"},
	},
	"sts": {{"RoleArn", "AWS::IAM::Role", "%[3]s"}},
	"ec2": {
		{"InstanceConnectEndpointId", "AWS::EC2::InstanceConnectEndpoint", "arn:aws:ec2:%[2]s:%[1]s:instance-connect-endpoint/%[3]s"},
		{"InstanceId", "AWS::EC2::Instance", "arn:aws:ec2:%[2]s:%[1]s:instance/%[3]s"},
		{"InstanceId.1", "AWS::EC2::Instance", "arn:aws:ec2:%[2]s:%[1]s:instance/%[3]s"},
		{"GroupId", "AWS::EC2::SecurityGroup", "arn:aws:ec2:%[2]s:%[1]s:security-group/%[3]s"},
		{"SubnetId", "AWS::EC2::Subnet", "arn:aws:ec2:%[2]s:%[1]s:subnet/%[3]s"},
		{"VpcId", "AWS::EC2::VPC", "arn:aws:ec2:%[2]s:%[1]s:vpc/%[3]s"},
	},
}

// resourceKey is a resourceKeys entry with this installation's account
// and region filled in: the ARN is arnPrefix followed by the value.
type resourceKey struct{ param, typ, arnPrefix string }

// resourceKeysOf fills resourceKeys' ARN forms in once, for resourceOf.
// Every form ends in %[3]s (the value), so the ARN is a prefix and the
// value, as fmt.Sprintf(form, account, region, value) writes it.
func resourceKeysOf(account, region string) map[string][]resourceKey {
	fill := strings.NewReplacer("%[1]s", account, "%[2]s", region)
	out := make(map[string][]resourceKey, len(resourceKeys))
	for svc, keys := range resourceKeys {
		for _, k := range keys {
			form, ok := strings.CutSuffix(k.arn, "%[3]s")
			if !ok || strings.Contains(form, "%[3]s") {
				panic("api: resourceKeys: an ARN form must end with its value: " + k.arn)
			}
			out[svc] = append(out[svc], resourceKey{param: k.param, typ: k.typ, arnPrefix: fill.Replace(form)})
		}
	}
	return out
}

// resourceOf names the resource a call acts on, from its parameters, for
// the record's resources and LookupEvents' ResourceType/ResourceName.
func (d *Dispatcher) resourceOf(service string, rec *callRecord) (typ, name, arn string) {
	if rec.params == nil {
		return "", "", ""
	}
	for _, k := range d.resources[service] {
		if v := rec.params.Get(k.param); v != "" {
			return k.typ, v, k.arnPrefix + v
		}
	}
	return "", "", ""
}
