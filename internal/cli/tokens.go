package cli

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/secr-dev/secr/internal/session"
)

func newTokensCmd(d *Deps) *cobra.Command {
	return groupCmd("tokens", "Manage service tokens for CI, containers and deploys",
		`A service token reads (or with --read-write, also writes) exactly one
environment. Put it in SECR_TOKEN; 'secr run' then needs no login and no
.secr.json. The server never sees the token's secret part.`,
		newTokensCreateCmd(d), newTokensListCmd(d), newTokensRevokeCmd(d))
}

// parseExpiry accepts 12h, 30d, 2w, or a date (2026-12-31) or RFC 3339 time.
func parseExpiry(s string, now time.Time) (time.Time, error) {
	units := map[byte]time.Duration{'h': time.Hour, 'd': 24 * time.Hour, 'w': 7 * 24 * time.Hour}
	if len(s) > 1 {
		if unit, ok := units[s[len(s)-1]]; ok {
			if n, err := strconv.Atoi(s[:len(s)-1]); err == nil && n > 0 {
				return now.Add(time.Duration(n) * unit), nil
			}
		}
	}
	if t, err := time.Parse("2006-01-02", s); err == nil {
		return t, nil
	}
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	return time.Time{}, usageErrorf("invalid --expires %q: use a duration like 12h, 30d or 2w, or a date like 2026-12-31", s)
}

type tokensCreateOptions struct {
	d         *Deps
	f         targetFlags
	readWrite bool
	jsonOut   bool
	expires   string
	name      string
	now       func() time.Time
}

func newTokensCreateCmd(d *Deps) *cobra.Command {
	o := &tokensCreateOptions{d: d, now: time.Now}
	c := &cobra.Command{
		Use:   "create --env ENV",
		Short: "Create a service token for one environment (printed once)",
		Example: `  secr tokens create --env production --name github-deploy --expires 90d
  secr tokens create --env staging --read-write`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			o.f.bind(c)
			return runTokensCreate(c.Context(), o)
		},
	}
	o.f.addEnv(c)
	c.Flags().BoolVar(&o.readWrite, "read-write", false, "allow the token to write secrets too")
	c.Flags().StringVar(&o.expires, "expires", "", "expiry: a duration (12h, 30d, 2w) or a date (2026-12-31); default never")
	c.Flags().StringVar(&o.name, "name", "", "a label, e.g. github-deploy")
	c.Flags().BoolVar(&o.jsonOut, "json", false, "print the token and its details as JSON")
	return c
}

func runTokensCreate(ctx context.Context, o *tokensCreateOptions) error {
	d := o.d
	s, t, err := d.authenticate(&o.f)
	if err != nil {
		return err
	}
	if !t.EnvExplicit {
		// A token for the wrong environment is easy to make and hard to
		// notice: name it every time.
		return usageErrorf("--env is required: say which environment the token reads (e.g. --env production)")
	}
	req := session.TokenRequest{Name: o.name, ReadWrite: o.readWrite}
	if req.Name == "" {
		req.Name = "token"
	}
	if o.expires != "" {
		exp, err := parseExpiry(o.expires, o.now())
		if err != nil {
			return err
		}
		req.ExpiresAt = &exp
	}
	token, info, err := s.CreateToken(ctx, t, req)
	if err != nil {
		return err
	}
	if o.jsonOut {
		return d.IO.JSON(map[string]any{"token": token, "api_url": s.API(), "info": info})
	}
	d.IO.Infof("Created %s token %s for %s/%s/%s%s. It is shown only now; store it as SECR_TOKEN:",
		access(info.ReadWrite), info.ID, info.Org, info.Project, info.Environment, expirySuffix(info.ExpiresAt))
	fmt.Fprintln(d.IO.Out, token)
	// The token does not say where its server is: a CI job needs both.
	d.IO.Infof("The job also needs the server's address: SECR_API_URL=%s", s.API())
	return nil
}

func access(rw bool) string {
	if rw {
		return "read-write"
	}
	return "read-only"
}

type tokensListOptions struct {
	d       *Deps
	f       targetFlags
	jsonOut bool
	now     func() time.Time
}

func newTokensListCmd(d *Deps) *cobra.Command {
	o := &tokensListOptions{d: d, now: time.Now}
	c := &cobra.Command{
		Use:   "list",
		Short: "List the project's service tokens",
		Args:  cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			o.f.bind(c)
			return runTokensList(c.Context(), o)
		},
	}
	o.f.addProject(c)
	c.Flags().BoolVar(&o.jsonOut, "json", false, "print as JSON")
	return c
}

func runTokensList(ctx context.Context, o *tokensListOptions) error {
	d := o.d
	s, t, err := d.userSession(&o.f)
	if err != nil {
		return err
	}
	if s.IsServiceToken() {
		return usageErrorf("a service token cannot list tokens: unset SECR_TOKEN (and SECR_TOKEN_FILE) and log in")
	}
	if err := t.RequireProject(); err != nil {
		return err
	}
	ts, err := s.ListTokens(ctx, t)
	if err != nil {
		return err
	}
	if o.jsonOut {
		return d.IO.JSON(ts)
	}
	rows := [][]string{}
	for _, tk := range ts {
		exp := "never"
		if tk.ExpiresAt != nil {
			exp = formatTime(*tk.ExpiresAt)
			if tk.ExpiresAt.Before(o.now()) {
				exp += " (expired)"
			}
		}
		rows = append(rows, []string{tk.ID, tk.Name, tk.Environment, access(tk.ReadWrite), exp, tk.CreatedBy})
	}
	return d.IO.Table([]string{"ID", "NAME", "ENVIRONMENT", "ACCESS", "EXPIRES", "CREATED BY"}, rows)
}

type tokensRevokeOptions struct {
	d *Deps
	f targetFlags
}

func newTokensRevokeCmd(d *Deps) *cobra.Command {
	o := &tokensRevokeOptions{d: d}
	c := &cobra.Command{
		Use:        "revoke ID",
		Short:      "Revoke a service token: it stops working at once",
		SuggestFor: []string{"delete", "remove", "rm"},
		Args:       cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			o.f.bind(c)
			return runTokensRevoke(c.Context(), o, args[0])
		},
	}
	o.f.addProject(c)
	return c
}

func runTokensRevoke(ctx context.Context, o *tokensRevokeOptions, id string) error {
	s, t, err := o.d.projectSession(&o.f)
	if err != nil {
		return err
	}
	res, err := s.RevokeToken(ctx, t, id)
	if err != nil {
		return err
	}
	o.d.IO.Infof("Revoked token %s. Values it could read are still known to whoever held it: rotate them if it leaked.", strings.TrimSpace(id))
	res.Tokens = nil
	o.d.reportRemoval("the token", res)
	return nil
}
