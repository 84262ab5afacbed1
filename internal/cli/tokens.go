package cli

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/secr-dev/secr/internal/api"
	"github.com/secr-dev/secr/internal/crypto"
)

func newTokensCmd(d *Deps) *cobra.Command {
	c := &cobra.Command{
		Use:   "tokens",
		Short: "Manage service tokens for CI, containers and deploys",
		Long: `A service token reads (or with --read-write, also writes) exactly one
environment. Put it in SECR_TOKEN; 'secr run' then needs no login and no
.secr.json. The server never sees the token's secret part.`,
	}
	c.AddCommand(newTokensCreateCmd(d), newTokensListCmd(d), newTokensRevokeCmd(d))
	return c
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

func newTokensCreateCmd(d *Deps) *cobra.Command {
	var f targetFlags
	var readWrite, jsonOut bool
	var expires, name string
	c := &cobra.Command{
		Use:   "create --env ENV",
		Short: "Create a service token for one environment (printed once)",
		Example: `  secr tokens create --env production --name github-deploy --expires 90d
  secr tokens create --env staging --read-write`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			s, t, err := d.envSession(c, &f)
			if err != nil {
				return err
			}
			if s.token != nil {
				return usageErrorf("a service token cannot create tokens: unset SECR_TOKEN and log in")
			}
			req := api.CreateTokenRequest{Name: first(name, "token"), Environment: t.env, ReadWrite: readWrite}
			if expires != "" {
				exp, err := parseExpiry(expires, time.Now())
				if err != nil {
					return err
				}
				req.ExpiresAt = &exp
			}
			st, err := s.load(c.Context(), t)
			if err != nil {
				return err
			}
			tok, err := crypto.GenerateServiceToken()
			if err != nil {
				return err
			}
			wrapped, err := crypto.WrapKey(st.key, tok.Identity().Recipient())
			if err != nil {
				return err
			}
			req.ID, req.AuthKey, req.PublicKey = tok.ID(), tok.AuthKey(), tok.Identity().Recipient().String()
			req.KeyVersion, req.WrappedKey = st.key.Version(), wrapped
			info, err := s.client.CreateToken(c.Context(), t.org, t.project, req)
			if err != nil {
				return explain(err)
			}
			if jsonOut {
				return d.IO.JSON(map[string]any{"token": tok.String(), "info": info})
			}
			d.IO.Infof("Created %s token %s for %s/%s/%s%s. It is shown only now; store it as SECR_TOKEN:",
				access(info.ReadWrite), info.ID, info.Org, info.Project, info.Environment, expirySuffix(info.ExpiresAt))
			fmt.Fprintln(d.IO.Out, tok.String())
			return nil
		},
	}
	f.addEnv(c)
	c.Flags().BoolVar(&readWrite, "read-write", false, "allow the token to write secrets too")
	c.Flags().StringVar(&expires, "expires", "", "expiry: a duration (12h, 30d, 2w) or a date (2026-12-31); default never")
	c.Flags().StringVar(&name, "name", "", "a label, e.g. github-deploy")
	c.Flags().BoolVar(&jsonOut, "json", false, "print the token and its details as JSON")
	return c
}

func access(rw bool) string {
	if rw {
		return "read-write"
	}
	return "read-only"
}

func newTokensListCmd(d *Deps) *cobra.Command {
	var f targetFlags
	var jsonOut bool
	c := &cobra.Command{
		Use:   "list",
		Short: "List the project's service tokens",
		Args:  cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			s, t, err := d.projectSession(c, &f)
			if err != nil {
				return err
			}
			ts, err := s.client.ListTokens(c.Context(), t.org, t.project)
			if err != nil {
				return explain(err)
			}
			if jsonOut {
				return d.IO.JSON(ts)
			}
			rows := [][]string{}
			for _, tk := range ts {
				exp := "never"
				if tk.ExpiresAt != nil {
					exp = tk.ExpiresAt.Local().Format("2006-01-02 15:04")
					if tk.ExpiresAt.Before(time.Now()) {
						exp += " (expired)"
					}
				}
				rows = append(rows, []string{tk.ID, tk.Name, tk.Environment, access(tk.ReadWrite), exp, tk.CreatedBy})
			}
			return d.IO.Table([]string{"ID", "NAME", "ENVIRONMENT", "ACCESS", "EXPIRES", "CREATED BY"}, rows)
		},
	}
	f.addProject(c)
	c.Flags().BoolVar(&jsonOut, "json", false, "print as JSON")
	return c
}

func newTokensRevokeCmd(d *Deps) *cobra.Command {
	var f targetFlags
	c := &cobra.Command{
		Use:   "revoke ID",
		Short: "Revoke a service token: it stops working at once",
		Args:  cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			s, t, err := d.projectSession(c, &f)
			if err != nil {
				return err
			}
			id := strings.TrimSpace(args[0])
			if strings.HasPrefix(id, crypto.ServiceTokenPrefix) {
				return usageErrorf("give the token ID (st_...), not the token itself; see 'secr tokens list'")
			}
			if err := s.client.RevokeToken(c.Context(), t.org, t.project, id); err != nil {
				return explain(err)
			}
			d.IO.Infof("Revoked token %s. Values it could read are still known to whoever held it: rotate them if it leaked.", id)
			return nil
		},
	}
	f.addProject(c)
	return c
}
