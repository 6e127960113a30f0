package console

import (
	"context"
	"encoding/xml"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"sync"

	"github.com/postern/postern/internal/server/inproc"
)

// maxCallBody bounds a proxied API request's body: the API's own limit.
const maxCallBody = 2 << 20

// Services the proxy serves, by signing name, and their protocols.
var proxied = map[string]bool{ // true: JSON with X-Amz-Target
	"ec2": false, "iam": false, "sts": false,
	"ec2-instance-connect": true, "cloudtrail": true,
}

// call is POST /console/api/call/{service}: the body is an API request as
// an AWS SDK sends it; it is signed with the caller's credentials and
// sent through the server's handler in-process, from the browser's
// address and with the console's user agent. The API's answer comes back
// as it is (status, Content-Type, body), refusals included.
func (c *Console) call(w http.ResponseWriter, r *http.Request, cl *caller) {
	service := r.PathValue("service")
	jsonProto, ok := proxied[service]
	if !ok {
		writeError(w, http.StatusNotFound, "UnknownService", "The console does not call the service "+service+".")
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxCallBody))
	if err != nil {
		writeError(w, http.StatusRequestEntityTooLarge, "RequestEntityTooLarge", fmt.Sprintf("The request body must be at most %d bytes.", maxCallBody))
		return
	}
	if !jsonProto {
		form, err := url.ParseQuery(string(body)) // as api.queryParams parses it
		if err != nil {
			writeError(w, http.StatusBadRequest, "MalformedQueryString", "The request parameters could not be parsed.")
			return
		}
		for _, a := range form["Action"] { // a repeated Action: the API refuses it anyway
			if credentialActions[a] {
				writeError(w, http.StatusForbidden, "ConsoleActionRefused", "The console does not call "+service+":"+a+
					" for the page: its answer is a credential, and the browser never holds one. Use Switch role instead.")
				return
			}
		}
	}
	req := inproc.Request{Service: service, Region: c.cfg.Region, Host: c.cfg.Host, Body: body}
	if jsonProto {
		req.ContentType = "application/x-amz-json-1.1"
		req.Target = r.Header.Get("X-Amz-Target")
		if req.Target == "" {
			writeError(w, http.StatusBadRequest, "MissingTarget", "A "+service+" call needs its X-Amz-Target header.")
			return
		}
	}
	creds, _ := cl.credentials()
	resp, err := c.loop.Call(r.Context(), inproc.Caller{Credentials: creds, Remote: cl.remote, UserAgent: cl.userAgent}, req)
	if err != nil {
		c.internal(w, r, err)
		return
	}
	defer resp.Body.Close()
	for _, h := range []string{"Content-Type", "X-Amzn-Requestid", "X-Amz-Request-Id"} {
		if v := resp.Header.Get(h); v != "" {
			w.Header().Set(h, v)
		}
	}
	w.WriteHeader(resp.StatusCode)
	_, _ = io.Copy(w, resp.Body)
}

// credentialActions are the Query actions whose answer is a credential
// (a secret access key): the proxy refuses them so that no credential
// reaches the browser (switch role keeps its session server-side).
var credentialActions = map[string]bool{
	"AssumeRole": true, "AssumeRoleWithWebIdentity": true, "AssumeRoleWithSAML": true,
	"GetSessionToken": true, "GetFederationToken": true,
}

// switchRoleRequest is POST /console/api/switch-role's body.
type switchRoleRequest struct {
	RoleARN     string `json:"roleArn"`
	SessionName string `json:"sessionName"`
}

// assumeRoleResponse is the part of STS's AssumeRole answer switch role
// keeps.
type assumeRoleResponse struct {
	Result struct {
		Credentials     stsCredentials `xml:"Credentials"`
		AssumedRoleUser struct {
			Arn string `xml:"Arn"`
		} `xml:"AssumedRoleUser"`
	} `xml:"AssumeRoleResult"`
}

// sessionNameRe is STS's RoleSessionName, compiled on first use: its
// {2,64} is a large program, which every postern process (the console is
// linked into all of them) paid at start.
var sessionNameRe = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[\w+=,.@-]{2,64}$`) })

// switchRole is POST /console/api/switch-role: STS AssumeRole, called
// through the proxy as the signed-in user (authorized, recorded), and the
// role session kept beside the console session in the cookie. STS's
// refusal comes back as it is.
func (c *Console) switchRole(w http.ResponseWriter, r *http.Request, cl *caller) {
	var in switchRoleRequest
	if !readJSON(w, r, &in) {
		return
	}
	name := in.SessionName
	if name == "" {
		name = cl.user.UserName
		if cl.state.Federated { // a role session: its own name (the person's)
			name = cl.user.SessionName
		}
		if !sessionNameRe().MatchString(name) {
			name = "console-" + name
		}
	}
	form := url.Values{"Action": {"AssumeRole"}, "Version": {"2011-06-15"}, "RoleArn": {in.RoleARN}, "RoleSessionName": {name}}
	resp, err := c.loop.Call(r.Context(), inproc.Caller{Credentials: cl.userCredentials(), Remote: cl.remote, UserAgent: cl.userAgent},
		inproc.Request{Service: "sts", Region: c.cfg.Region, Host: c.cfg.Host, Body: []byte(form.Encode())})
	if err != nil {
		c.internal(w, r, err)
		return
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxCallBody))
	if err != nil {
		c.internal(w, r, fmt.Errorf("console: read AssumeRole answer: %w", err))
		return
	}
	if resp.StatusCode != http.StatusOK {
		w.Header().Set("Content-Type", resp.Header.Get("Content-Type"))
		w.WriteHeader(resp.StatusCode)
		_, _ = w.Write(body)
		return
	}
	var ar assumeRoleResponse
	if err := xml.Unmarshal(body, &ar); err != nil || ar.Result.Credentials.AccessKeyID == "" {
		c.internal(w, r, fmt.Errorf("console: AssumeRole answer: %v", err))
		return
	}
	cr := ar.Result.Credentials
	ctx := r.Context()
	rp, rsecret, err := c.cfg.Authenticator.SessionPrincipal(ctx, cr.AccessKeyID, cr.SessionToken)
	if err != nil {
		c.internal(w, r, fmt.Errorf("console: new role session: %w", err))
		return
	}
	if cl.state.Role != nil { // from one role to another: the old session goes
		c.deleteSession(context.WithoutCancel(ctx), cl.state.Role.AccessKeyID)
	}
	cl.state.Role = &roleRef{credRef: credRef{AccessKeyID: cr.AccessKeyID, Token: cr.SessionToken}, RoleARN: rp.RoleARN, SessionName: rp.SessionName}
	cl.role, cl.roleSecret = rp, rsecret
	if err := c.setCookie(w, cl.state, cl.expires); err != nil {
		c.internal(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, c.info(cl))
}

// switchBack is POST /console/api/switch-back: the role session is
// deleted and the console acts as the signed-in user again.
func (c *Console) switchBack(w http.ResponseWriter, r *http.Request, cl *caller) {
	if cl.state.Role != nil {
		if err := c.removeSession(context.WithoutCancel(r.Context()), cl.state.Role.AccessKeyID); err != nil {
			c.internal(w, r, fmt.Errorf("console: switch back: %w", err))
			return
		}
	}
	cl.state.Role, cl.role, cl.roleSecret = nil, nil, ""
	if err := c.setCookie(w, cl.state, cl.expires); err != nil {
		c.internal(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, c.info(cl))
}
