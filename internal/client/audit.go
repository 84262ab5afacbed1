package client

import (
	"context"
	"net/http"
	"net/url"
	"time"

	"github.com/secr-dev/secr/internal/api"
)

// WithHeaders adds h to every request, e.g. the User-Agent and
// api.CommandHeader that the server records in its audit log.
func WithHeaders(h http.Header) Option {
	return func(o *options) { o.headers = h.Clone() }
}

func (c *Client) setHeaders(req *http.Request) {
	for k, v := range c.headers {
		req.Header[k] = v
	}
}

// AuditQuery selects audit entries; the zero value asks for all retained.
type AuditQuery struct {
	Since time.Time
	// Env is "project/env", or "env" in any project.
	Env string
}

// AuditLog fetches org's audit log (owners and admins only).
func (c *Client) AuditLog(ctx context.Context, org string, q AuditQuery) (api.AuditLog, error) {
	v := url.Values{}
	if !q.Since.IsZero() {
		v.Set(api.AuditSinceParam, q.Since.UTC().Format(time.RFC3339))
	}
	if q.Env != "" {
		v.Set(api.AuditEnvParam, q.Env)
	}
	path := api.Path(api.AuditRoute, org)
	if len(v) > 0 {
		path += "?" + v.Encode()
	}
	var out api.AuditLog
	err := c.do(ctx, http.MethodGet, path, nil, &out)
	return out, err
}
