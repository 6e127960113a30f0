package console

import (
	"net/http"

	"github.com/postern/postern/internal/server/console/webterm"
)

// newTerminal builds the browser terminal (package webterm): it resolves
// its callers from the console's cookie (the role session's credentials
// after switch role) and checks the console's CSRF token.
func (c *Console) newTerminal() (terminal, error) {
	return webterm.New(webterm.Config{
		Resolve: func(r *http.Request) (*webterm.Caller, error) {
			cl, err := c.resolve(r)
			if err != nil {
				return nil, err
			}
			creds, p := cl.credentials()
			return &webterm.Caller{Credentials: creds, Principal: p, Remote: cl.remote, UserAgent: cl.userAgent}, nil
		},
		CheckCSRF:  c.CheckCSRF,
		Loop:       c.loop,
		Region:     c.cfg.Region,
		Host:       c.cfg.Host,
		Authorizer: c.cfg.Authorizer,
		Store:      c.cfg.Store,
		Audit:      c.cfg.Audit,
		Console:    c.cfg.Console,
		DataDir:    c.cfg.DataDir,
		Logger:     c.cfg.Logger.With("component", "webterm"),
		Now:        c.cfg.Now,
	})
}
