package e2e

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/chromedp/cdproto/target"
	"github.com/chromedp/chromedp"

	"github.com/postern/postern/internal/testutil/browser"
)

// tourTab is a second tab of the test's browser (same profile, so the
// same console session): the live tunnels page while the first tab holds
// a terminal, and a viewer joining a recorded session live.
type tourTab struct {
	e   *consoleEnv
	ctx context.Context
}

// run is consoleEnv.run in this tab.
func (tb *tourTab) run(t *testing.T, what string, d time.Duration, actions ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	ctx, cancel := context.WithTimeout(tb.ctx, d)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		tb.e.b.ScreenshotTab(tb.ctx, "failed-tab2-"+what)
		tctx, tcancel := context.WithTimeout(tb.ctx, 5*time.Second)
		text, _ := chromedp.Run(tctx, chromedp.Evaluate[string]("document.body ? document.body.innerText : ''"))
		tcancel()
		t.Fatalf("browser tab 2: %s: %v\n--- the page's text:\n%s\n%s", what, err, text, tb.e.srv.logs(tb.e.sshd))
	}
}

// shot brings the tab to the front and saves its screenshot.
func (tb *tourTab) shot(t *testing.T, name string) {
	t.Helper()
	tb.run(t, "activate tab 2", time.Minute, activate())
	tb.e.b.ScreenshotTab(tb.ctx, name)
}

// activate brings the context's tab to the front (a background tab is
// not painted, so its screenshot would wait).
func activate() chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		_, err := chromedp.CallBrowser(ctx, target.ActivateTarget, target.ActivateTargetParams{TargetID: tg.TargetID})
		return err
	})
}

// textOf is the text of the element with the data-testid (empty when
// there is none).
func textOf(testid string) string {
	return `((document.querySelector('[data-testid="` + testid + `"]') || {}).textContent || '')`
}

// closeDialog closes the open modal with its × button.
var closeDialog = chromedp.Steps(
	chromedp.Click(chromedp.CSS(`dialog[open] button[aria-label="Close"]`)),
	until(`!document.querySelector('dialog[open]')`))

// TestConsoleTour signs in as an administrator and visits every page of
// the console in a real browser, with a screenshot of each (1280×800, and
// the list pages again at 960 px wide) under test-artifacts/TestConsoleTour:
// endpoints (detail, Add agent with its join command), instances
// (register), VPCs, subnets, security groups (a group's rules), live
// tunnels (a console terminal's tunnel, terminated from the page), event
// history (one event's record), IAM users (create one with a password),
// groups, roles, policies (a document), the account menu (change
// password, MFA set-up with its QR code), switch role and back, session
// recordings (replay at 2×, join a running session live from another
// tab), and AWS's refusal shown to a user without iam:ListUsers.
func TestConsoleTour(t *testing.T) {
	e := startConsoleEnv(t, "console:\n  record_sessions: true\n")
	b := e.b
	ctx := context.Background()
	im := iam.NewFromConfig(e.admin)
	ec := ec2.NewFromConfig(e.admin)

	// What the pages will show besides the server's own: a role alice
	// may assume, a group with a managed policy, a security group with a
	// rule.
	alice, err := im.GetUser(ctx, &iam.GetUserInput{UserName: aws.String("alice")})
	if err != nil {
		t.Fatal(err)
	}
	const roleName, groupName, policyName = "tour-operator", "operators", "TourReadOnly"
	trust := fmt.Sprintf(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":%q},"Action":"sts:AssumeRole"}]}`, aws.ToString(alice.User.Arn))
	role, err := im.CreateRole(ctx, &iam.CreateRoleInput{RoleName: aws.String(roleName), AssumeRolePolicyDocument: aws.String(trust), Description: aws.String("Read-only operators")})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := im.PutRolePolicy(ctx, &iam.PutRolePolicyInput{RoleName: aws.String(roleName), PolicyName: aws.String("read"), PolicyDocument: aws.String(consoleAllowAll)}); err != nil {
		t.Fatal(err)
	}
	const readOnly = `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["ec2:Describe*","ec2-instance-connect:ListTunnels"],"Resource":"*"}]}`
	pol, err := im.CreatePolicy(ctx, &iam.CreatePolicyInput{PolicyName: aws.String(policyName), PolicyDocument: aws.String(readOnly), Description: aws.String("Look, do not touch")})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := im.CreateGroup(ctx, &iam.CreateGroupInput{GroupName: aws.String(groupName)}); err != nil {
		t.Fatal(err)
	}
	if _, err := im.AddUserToGroup(ctx, &iam.AddUserToGroupInput{GroupName: aws.String(groupName), UserName: aws.String("alice")}); err != nil {
		t.Fatal(err)
	}
	if _, err := im.AttachGroupPolicy(ctx, &iam.AttachGroupPolicyInput{GroupName: aws.String(groupName), PolicyArn: pol.Policy.Arn}); err != nil {
		t.Fatal(err)
	}
	insts, err := ec.DescribeInstances(ctx, &ec2.DescribeInstancesInput{InstanceIds: []string{e.instance}})
	if err != nil || len(insts.Reservations) == 0 || len(insts.Reservations[0].Instances) == 0 {
		t.Fatalf("DescribeInstances %s: %v %+v", e.instance, err, insts)
	}
	vpcID := aws.ToString(insts.Reservations[0].Instances[0].VpcId)
	subnetID := aws.ToString(insts.Reservations[0].Instances[0].SubnetId)
	sg, err := ec.CreateSecurityGroup(ctx, &ec2.CreateSecurityGroupInput{GroupName: aws.String("tour-web"), Description: aws.String("Web servers"), VpcId: aws.String(vpcID)})
	if err != nil {
		t.Fatal(err)
	}
	groupID := aws.ToString(sg.GroupId)
	if _, err := ec.AuthorizeSecurityGroupIngress(ctx, &ec2.AuthorizeSecurityGroupIngressInput{GroupId: aws.String(groupID), IpPermissions: []ec2types.IpPermission{{
		IpProtocol: aws.String("tcp"), FromPort: aws.Int32(443), ToPort: aws.Int32(443),
		IpRanges: []ec2types.IpRange{{CidrIp: aws.String("10.20.0.0/16"), Description: aws.String("office")}}}}}); err != nil {
		t.Fatal(err)
	}

	start := time.Now()
	// Screenshots at 1280×800 of the page (the window is that size with
	// its frame).
	e.run(t, "open the console", time.Minute,
		chromedp.EmulateViewport(1280, 800),
		chromedp.Navigate(e.srv.url+"/console/"), chromedp.WaitVisible(browser.TestID("signin-form")))
	e.signIn(t, "alice", consolePassword)
	e.signedInAs(t, "alice")

	// heading waits for the page's title.
	heading := func(text string) chromedp.Action[chromedp.Void] {
		return until(`Array.from(document.querySelectorAll('[data-testid="view"] h1')).some((x) => x.textContent.trim() === ` + strconv.Quote(text) + `)`)
	}

	t.Run("endpoints", func(t *testing.T) {
		state := fmt.Sprintf(`[data-testid="state-%s"]`, e.endpoint)
		e.run(t, "endpoint listed", time.Minute,
			chromedp.Click(browser.TestID("nav-endpoints")),
			heading("Instance Connect Endpoints"),
			until(`document.querySelector('`+state+`') && document.querySelector('`+state+`').textContent === 'create-complete'`))
		b.Screenshot("endpoints")
		detail := fmt.Sprintf(`[data-testid="detail-%s"]`, e.endpoint)
		e.run(t, "endpoint detail", time.Minute,
			chromedp.Click(browser.TestID("row-"+e.endpoint)),
			chromedp.WaitVisible(chromedp.CSS(detail)),
			until(`Array.from(document.querySelectorAll('`+detail+` .badge')).some((x) => x.textContent === 'connected')`))
		b.Screenshot("endpoint-detail")
		e.run(t, "add agent", time.Minute,
			chromedp.Click(browser.TestID("add-agent-"+e.endpoint)),
			chromedp.WaitVisible(browser.TestID("join-token-dialog")))
		b.Screenshot("endpoint-add-agent")
		e.run(t, "join command", time.Minute,
			chromedp.Click(browser.TestID("join-token-dialog-submit")),
			chromedp.WaitVisible(browser.TestID("join-command")),
			until(textOf("join-command")+`.startsWith('postern endpoint-agent --join-token ')`))
		b.Screenshot("endpoint-join-command")
		e.run(t, "close the join command", time.Minute, closeDialog)
	})

	t.Run("instances", func(t *testing.T) {
		e.run(t, "instance listed", time.Minute,
			chromedp.Click(browser.TestID("nav-instances")),
			heading("Instances"),
			chromedp.WaitVisible(browser.TestID("row-"+e.instance)),
			until(textOf("ipv4-"+e.instance)+` === '127.0.0.1'`))
		b.Screenshot("instances")
		e.run(t, "register dialog", time.Minute,
			chromedp.Click(browser.TestID("register-instance")),
			chromedp.WaitVisible(browser.TestID("register-dialog")),
			until(`document.querySelectorAll('[data-testid="register-subnet"] option').length > 0`))
		b.Screenshot("instance-register")
		e.run(t, "close the register dialog", time.Minute, closeDialog)
	})

	t.Run("network", func(t *testing.T) {
		e.run(t, "VPCs", time.Minute, chromedp.Click(browser.TestID("nav-vpcs")), heading("VPCs"), chromedp.WaitVisible(browser.TestID("row-"+vpcID)))
		b.Screenshot("vpcs")
		e.run(t, "subnets", time.Minute, chromedp.Click(browser.TestID("nav-subnets")), heading("Subnets"), chromedp.WaitVisible(browser.TestID("row-"+subnetID)))
		b.Screenshot("subnets")
		e.run(t, "security groups", time.Minute, chromedp.Click(browser.TestID("nav-security-groups")), heading("Security groups"), chromedp.WaitVisible(browser.TestID("row-"+groupID)))
		b.Screenshot("security-groups")
		e.run(t, "a group's rules", time.Minute,
			chromedp.Click(browser.TestID("row-"+groupID)),
			chromedp.WaitVisible(browser.TestID("detail-"+groupID)),
			until(`document.querySelector('[data-testid="detail-`+groupID+`"]').innerText.includes('10.20.0.0/16')`))
		b.Screenshot("security-group-rules")
	})

	// The terminal's tunnel on the live tunnels page, terminated there.
	tab2ctx, tab2cancel := chromedp.NewContext(b.Context())
	defer tab2cancel()
	// The tab opens with a first Do on its own context (one with a
	// deadline would close the tab when it ends).
	if err := chromedp.Do(tab2ctx); err != nil {
		t.Fatalf("second tab: %v", err)
	}
	tab2 := &tourTab{e: e, ctx: tab2ctx}
	var tunnelID string
	if !t.Run("live tunnels", func(t *testing.T) {
		e.run(t, "connect", time.Minute,
			chromedp.Click(browser.TestID("nav-instances")),
			chromedp.Click(browser.TestID("connect-"+e.instance)),
			chromedp.WaitVisible(browser.TestID("connect-dialog")),
			setValue("connect-user", e.osUser),
			setValue("connect-port", strconv.Itoa(e.sshd.Port)),
			chromedp.Click(browser.TestID("connect-dialog-submit")),
			chromedp.WaitVisible(browser.TestID("hostkey-prompt")),
			chromedp.Click(browser.TestID("hostkey-trust")),
			until(`document.querySelector('[data-testid="terminal"]').dataset.state === 'connected'`),
			chromedp.WaitVisible(browser.TestID("recording")))
		tunnelID = evalIn[string](t, e, textOf("tunnel-id"))
		marker := "t" + randomHex(t, 6)
		e.run(t, "echo", time.Minute,
			typeInTerminal("echo "+marker+"$((6*7))\r"),
			until(termText+`.includes(`+strconv.Quote(marker+"42")+`)`))
		b.Screenshot("terminal-recording")

		row := `document.querySelector('[data-testid="row-` + tunnelID + `"]')`
		tab2.run(t, "tunnel listed", time.Minute,
			chromedp.EmulateViewport(1280, 800),
			chromedp.Navigate(e.srv.url+"/console/#/tunnels"),
			heading("Live tunnels"),
			// who, from where, bytes (the echo went both ways), time left
			until(row+` && `+textOf("who-"+tunnelID)+` === 'user/alice' && `+textOf("from-"+tunnelID)+` === '127.0.0.1'`),
			until(`!/^0 B$/.test(`+textOf("bytes-in-"+tunnelID)+`) && !/^0 B$/.test(`+textOf("bytes-out-"+tunnelID)+`)`),
			until(`/\d/.test(`+textOf("time-left-"+tunnelID)+`)`))
		// Each of them is on screen, not under the pinned actions column.
		for _, id := range []string{"who-", "from-", "bytes-in-", "bytes-out-", "time-left-"} {
			if !evalIn2[bool](t, tab2, `(() => { const el = document.querySelector('[data-testid="`+id+tunnelID+`"]'); const r = el.getBoundingClientRect();
  const at = document.elementFromPoint(r.left + r.width / 2, r.top + r.height / 2); return !!at && el.contains(at); })()`) {
				t.Errorf("live tunnels at 1280 px: %s is hidden", id+tunnelID)
			}
		}
		tab2.shot(t, "tunnels-live")
		tab2.run(t, "terminate", time.Minute,
			chromedp.Click(browser.TestID("terminate-"+tunnelID)),
			chromedp.WaitVisible(browser.TestID("confirm")))
		tab2.shot(t, "tunnels-terminate-confirm")
		tab2.run(t, "terminated", time.Minute,
			chromedp.Click(browser.TestID("confirm")),
			until(`!`+row))
		tab2.shot(t, "tunnels-after-terminate")
		e.run(t, "the terminal's banner", time.Minute,
			activate(),
			chromedp.WaitVisible(chromedp.CSS(`[data-testid="session-ended"][data-reason="revoked"]`)),
			until(textOf("recording")+` === 'recorded'`))
		b.Screenshot("terminal-terminated-from-tunnels-page")
	}) {
		return
	}

	t.Run("recordings", func(t *testing.T) {
		e.run(t, "recording listed", time.Minute,
			chromedp.Click(browser.TestID("nav-recordings")),
			heading("Session recordings"),
			chromedp.WaitVisible(browser.TestID("row-"+tunnelID)))
		b.Screenshot("recordings")
		seek := `Number(document.querySelector('[data-testid="player-seek"]').value)`
		e.run(t, "replay at 2x", time.Minute,
			chromedp.Click(browser.TestID("replay-"+tunnelID)),
			chromedp.WaitVisible(browser.TestID("player-seek")),
			chromedp.Click(browser.TestID("player-speed-2")),
			until(`document.querySelector('[data-testid="player-speed-2"]').classList.contains('active')`),
			// from the start, playing
			chromedp.Evaluate[chromedp.Void](`(() => { const s = document.querySelector('[data-testid="player-seek"]'); s.value = '0'; s.dispatchEvent(new Event('input')); })()`),
			chromedp.Evaluate[chromedp.Void](`(() => { const p = document.querySelector('[data-testid="player-play"]'); if (p.textContent !== 'Pause') p.click(); })()`),
			until(seek+` > 0`),
			until(termText+`.includes('42')`))
		b.Screenshot("recording-replay-2x")

		// A running session, joined live from the other tab.
		e.run(t, "connect again", time.Minute,
			chromedp.Click(browser.TestID("nav-instances")),
			chromedp.Click(browser.TestID("connect-"+e.instance)),
			chromedp.WaitVisible(browser.TestID("connect-dialog")),
			setValue("connect-user", e.osUser),
			setValue("connect-port", strconv.Itoa(e.sshd.Port)),
			chromedp.Click(browser.TestID("connect-dialog-submit")),
			until(`document.querySelector('[data-testid="terminal"]') && document.querySelector('[data-testid="terminal"]').dataset.state === 'connected'`))
		live := evalIn[string](t, e, textOf("tunnel-id"))
		tab2.run(t, "join live", time.Minute,
			chromedp.Navigate(e.srv.url+"/console/#/recordings"),
			chromedp.WaitVisible(browser.TestID("join-"+live)),
			chromedp.Click(browser.TestID("join-"+live)),
			until(`document.querySelector('[data-testid="terminal"]') && document.querySelector('[data-testid="terminal"]').dataset.state === 'connected'`))
		marker := "j" + randomHex(t, 6)
		e.run(t, "type in the watched session", time.Minute,
			activate(),
			typeInTerminal("echo "+marker+"$((6*7))\r"),
			until(termText+`.includes(`+strconv.Quote(marker+"42")+`)`))
		tab2.run(t, "the viewer sees it", time.Minute, until(termText+`.includes(`+strconv.Quote(marker+"42")+`)`))
		tab2.shot(t, "recording-join-live")
		e.run(t, "disconnect", time.Minute,
			activate(),
			chromedp.Click(browser.TestID("disconnect")),
			chromedp.WaitVisible(chromedp.CSS(`[data-testid="session-ended"][data-reason="closed"]`)))
		tab2.run(t, "the viewer sees the end", time.Minute, chromedp.WaitVisible(browser.TestID("session-ended")))
		tab2.shot(t, "recording-join-live-ended")
		e.run(t, "front tab", time.Minute, activate())
	})

	t.Run("event history", func(t *testing.T) {
		e.run(t, "events", time.Minute,
			chromedp.Click(browser.TestID("nav-audit")),
			heading("Event history"),
			until(`Array.from(document.querySelectorAll('[data-testid="view"] tr.clickable')).some((r) => r.innerText.includes('OpenTunnel'))`))
		b.Screenshot("audit")
		row := evalIn[string](t, e, `Array.from(document.querySelectorAll('[data-testid="view"] tr.clickable')).find((r) => r.innerText.includes('OpenTunnel')).dataset.testid`)
		id := strings.TrimPrefix(row, "row-")
		e.run(t, "an event's record", time.Minute,
			chromedp.Click(browser.TestID(row)),
			chromedp.WaitVisible(browser.TestID("event-"+id)),
			until(`document.querySelector('[data-testid="event-`+id+`"]').innerText.includes('"eventName": "OpenTunnel"')`))
		// The record fits the card: its long lines do not push the
		// table's columns out of sight.
		if w := evalIn[string](t, e, `(() => { const w = document.querySelector('[data-testid="event-`+id+`"]').closest('.table-wrap'); return w.scrollWidth + '/' + w.clientWidth; })()`); func() bool {
			var sw, cw int
			_, err := fmt.Sscanf(w, "%d/%d", &sw, &cw)
			return err != nil || sw > cw+1
		}() {
			t.Errorf("an open event's record makes the table %s px wide (content/card)", w)
		}
		b.Screenshot("audit-event-record")
	})

	t.Run("iam", func(t *testing.T) {
		e.run(t, "users", time.Minute, chromedp.Click(browser.TestID("nav-users")), heading("Users"), chromedp.WaitVisible(browser.TestID("row-alice")))
		b.Screenshot("iam-users")
		e.run(t, "create user dialog", time.Minute,
			chromedp.Click(browser.TestID("create-user")),
			chromedp.WaitVisible(browser.TestID("create-user-dialog")),
			setValue("create-user-name", "carol"),
			setValue("create-user-password", "Tour-Password-42-x"))
		b.Screenshot("iam-create-user")
		e.run(t, "user created with a password", time.Minute,
			chromedp.Click(browser.TestID("create-user-dialog-submit")),
			heading("User carol"),
			until(textOf("login-profile")+`.includes('Console password set')`))
		b.Screenshot("iam-user-carol")
		e.run(t, "groups", time.Minute, chromedp.Click(browser.TestID("nav-groups")), heading("Groups"), chromedp.WaitVisible(browser.TestID("row-"+groupName)))
		b.Screenshot("iam-groups")
		e.run(t, "roles", time.Minute, chromedp.Click(browser.TestID("nav-roles")), heading("Roles"), chromedp.WaitVisible(browser.TestID("row-"+roleName)))
		b.Screenshot("iam-roles")
		e.run(t, "policies", time.Minute, chromedp.Click(browser.TestID("nav-policies")), heading("Policies"), chromedp.WaitVisible(browser.TestID("row-"+policyName)))
		b.Screenshot("iam-policies")
		e.run(t, "a policy document", time.Minute,
			chromedp.Click(browser.TestID("row-"+policyName)),
			heading("Policy "+policyName),
			chromedp.WaitVisible(browser.TestID("policy-document")),
			until(textOf("policy-document")+`.includes('"ec2:Describe*"')`))
		b.Screenshot("iam-policy-document")
	})

	t.Run("account menu", func(t *testing.T) {
		e.run(t, "menu", time.Minute, chromedp.Click(browser.TestID("identity")), chromedp.WaitVisible(browser.TestID("change-password")))
		b.Screenshot("account-menu")
		e.run(t, "change password", time.Minute, chromedp.Click(browser.TestID("change-password")), chromedp.WaitVisible(browser.TestID("change-password-dialog")))
		b.Screenshot("account-change-password")
		e.run(t, "close change password", time.Minute, closeDialog)
		e.run(t, "MFA QR code", time.Minute,
			chromedp.Click(browser.TestID("identity")), chromedp.Click(browser.TestID("mfa-setup")),
			chromedp.WaitVisible(browser.TestID("mfa-start")), chromedp.Click(browser.TestID("mfa-start")),
			chromedp.WaitVisible(chromedp.CSS(`[data-testid="mfa-dialog"] img.qr`)),
			until(`document.querySelector('[data-testid="mfa-dialog"] img.qr').complete && document.querySelector('[data-testid="mfa-dialog"] img.qr').naturalWidth > 0`),
			until(textOf("mfa-uri")+`.startsWith('otpauth://totp/')`))
		b.Screenshot("account-mfa-setup")
		e.run(t, "cancel MFA set-up", time.Minute,
			chromedp.Click(chromedp.CSS(`[data-testid="mfa-dialog"] .form-actions button[type=button]`)),
			until(`!document.querySelector('dialog[open]')`))
	})

	t.Run("switch role", func(t *testing.T) {
		e.run(t, "switch role dialog", time.Minute,
			chromedp.Click(browser.TestID("identity")), chromedp.Click(browser.TestID("switch-role")),
			chromedp.WaitVisible(browser.TestID("switch-role-dialog")),
			until(`!document.querySelector('[data-testid="account-menu"]').open`),
			setValue("switch-role-arn", aws.ToString(role.Role.Arn)),
			setValue("switch-role-session", "tour"))
		b.Screenshot("switch-role-dialog")
		e.run(t, "as the role", time.Minute,
			chromedp.Click(browser.TestID("switch-role-dialog-submit")),
			chromedp.WaitVisible(browser.TestID("role-banner")),
			until(textOf("role-banner")+` === 'Role `+roleName+`'`),
			until(textOf("identity-name")+` === 'tour @ `+roleName+`'`),
			chromedp.WaitVisible(browser.TestID("nav")))
		b.Screenshot("switched-role")
		e.run(t, "back", time.Minute,
			chromedp.Click(browser.TestID("identity")), chromedp.Click(browser.TestID("switch-back")),
			until(`!document.querySelector('[data-testid="role-banner"]')`),
			until(textOf("identity-name")+` === 'alice'`))
	})

	t.Run("960 px wide", func(t *testing.T) {
		e.run(t, "narrow", time.Minute, chromedp.EmulateViewport(960, 800), until(`window.innerWidth === 960`))
		if cut := evalIn[string](t, e, `Array.from(document.querySelectorAll('[data-testid="nav"] a:not([hidden])')).filter((a) => a.scrollWidth > a.clientWidth).map((a) => a.textContent).join(', ')`); cut != "" {
			t.Errorf("at 960 px the navigation cuts off: %s", cut)
		}
		defer e.run(t, "wide again", time.Minute, chromedp.EmulateViewport(1280, 800), until(`window.innerWidth === 1280`))
		// A tunnel open in the other tab, for the tunnels page to show.
		tab2.run(t, "a terminal for the tunnels page", time.Minute,
			chromedp.Navigate(e.srv.url+"/console/#/connect/"+e.instance+"?user="+e.osUser+"&port="+strconv.Itoa(e.sshd.Port)),
			until(`document.querySelector('[data-testid="terminal"]') && document.querySelector('[data-testid="terminal"]').dataset.state === 'connected'`))
		open := evalIn2[string](t, tab2, textOf("tunnel-id"))
		defer tab2.run(t, "close the terminal", time.Minute,
			chromedp.Click(browser.TestID("disconnect")),
			chromedp.WaitVisible(chromedp.CSS(`[data-testid="session-ended"][data-reason="closed"]`)))
		for _, p := range []struct{ nav, heading, row, name string }{
			{"nav-endpoints", "Instance Connect Endpoints", "row-" + e.endpoint, "narrow-endpoints"},
			{"nav-instances", "Instances", "row-" + e.instance, "narrow-instances"},
			{"nav-tunnels", "Live tunnels", "row-" + open, "narrow-tunnels"},
			{"nav-vpcs", "VPCs", "row-" + vpcID, "narrow-vpcs"},
			{"nav-subnets", "Subnets", "row-" + subnetID, "narrow-subnets"},
			{"nav-security-groups", "Security groups", "row-" + groupID, "narrow-security-groups"},
			{"nav-audit", "Event history", "", "narrow-audit"},
			{"nav-recordings", "Session recordings", "row-" + tunnelID, "narrow-recordings"},
			{"nav-users", "Users", "row-carol", "narrow-iam-users"},
			{"nav-groups", "Groups", "row-" + groupName, "narrow-iam-groups"},
			{"nav-roles", "Roles", "row-" + roleName, "narrow-iam-roles"},
			{"nav-policies", "Policies", "row-" + policyName, "narrow-iam-policies"},
		} {
			wait := chromedp.Action[chromedp.Void](until(`document.querySelector('[data-testid="view"] table')`))
			if p.row != "" {
				wait = chromedp.WaitVisible(browser.TestID(p.row))
			}
			e.run(t, p.name, time.Minute, chromedp.Click(browser.TestID(p.nav)), heading(p.heading), wait)
			if w := evalIn[int](t, e, `document.documentElement.scrollWidth`); w > 960 {
				t.Errorf("%s at 960 px: the page is %d px wide (scrolls sideways)", p.name, w)
			}
			b.Screenshot(p.name)
		}
	})

	t.Run("refused", func(t *testing.T) {
		e.signOut(t)
		e.signIn(t, "bob", consolePassword)
		e.signedInAs(t, "bob")
		e.run(t, "users page refused", time.Minute,
			chromedp.Click(browser.TestID("nav-users")),
			chromedp.WaitVisible(browser.TestID("error-banner")))
		code := evalIn[string](t, e, textOf("error-code"))
		msg := evalIn[string](t, e, textOf("error-message"))
		if code != "AccessDenied" || !strings.Contains(msg, "is not authorized to perform: iam:ListUsers") || !strings.Contains(msg, "user/bob") {
			t.Errorf("refusal shown: %q %q", code, msg)
		}
		b.Screenshot("refused-iam-users")
	})
	t.Logf("tour took %s", time.Since(start).Round(time.Millisecond))
}

// evalIn2 is evalIn in another tab.
func evalIn2[T any](t *testing.T, tb *tourTab, expr string) T {
	t.Helper()
	ctx, cancel := context.WithTimeout(tb.ctx, time.Minute)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr))
	if err != nil {
		t.Fatalf("evaluate %s: %v", expr, err)
	}
	return v
}
