package cli

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/secr-dev/secr/internal/config"
	"github.com/secr-dev/secr/internal/session"
)

type accountOptions struct {
	d             *Deps
	f             targetFlags // only --api
	email         string
	passwordStdin bool
	jsonOut       bool
	changing      bool // passwd and recover: the password being set is a new one
}

func (o *accountOptions) addFlags(c *cobra.Command) {
	c.Flags().StringVar(&o.email, "email", "", "account email (required)")
	c.Flags().BoolVar(&o.passwordStdin, "password-stdin", false, "read the password from the first line of standard input")
	c.Flags().BoolVar(&o.jsonOut, "json", false, "print the result as JSON")
}

// password follows the secret-input order: stdin when asked, else a no-echo
// prompt on a terminal; never a flag, which would land in shell history.
func (o *accountOptions) password(confirm bool) (string, error) {
	return o.secret("Password", confirm)
}

// secret reads one secret line: the next line of stdin with
// --password-stdin, else a no-echo prompt (twice when confirm is set).
func (o *accountOptions) secret(what string, confirm bool) (string, error) {
	io := o.d.IO
	if o.passwordStdin {
		return io.ReadLine()
	}
	if !io.CanPrompt() {
		return "", usageErrorf("no terminal to ask for the %s: pass --password-stdin and pipe it in", strings.ToLower(what))
	}
	v, err := io.ReadSecret(what + ": ")
	if err != nil {
		return "", err
	}
	if confirm {
		again, err := io.ReadSecret("Repeat " + strings.ToLower(what) + ": ")
		if err != nil {
			return "", err
		}
		if again != v {
			return "", errors.New("the two entries do not match")
		}
	}
	return v, nil
}

// newPassword reads a new password (twice on a terminal).
func (o *accountOptions) newPassword() (string, error) {
	label := "Password"
	if o.changing {
		label = "New password"
	}
	return o.secret(label, true)
}

// server is the API URL these account commands talk to.
func (o *accountOptions) server() (string, error) {
	t, err := o.d.resolve(&o.f)
	return t.API, err
}

// savedNotice says plainly, once per login, where the credentials went.
func (o *accountOptions) savedNotice(a *session.Account) {
	switch {
	case a.Saved.Store == config.StoreKeyring:
		o.d.IO.Infof("Session and account key saved in %s (the rest of the login in %s).", a.Saved.Where, a.CredentialsPath)
	case a.Saved.Fallback != "":
		o.d.IO.Warnf("no OS keyring is available (%s): session and account key saved in %s (mode 0600) instead. To use a keyring, start a Secret Service (GNOME Keyring, KeePassXC) in your session and log in again; SECR_CREDENTIALS=file chooses the file without this warning.", a.Saved.Fallback, a.CredentialsPath)
	default:
		o.d.IO.Infof("Session and account key saved in %s (mode 0600; SECR_CREDENTIALS=file).", a.CredentialsPath)
	}
}

func newSignupCmd(d *Deps) *cobra.Command {
	o := &accountOptions{d: d}
	c := &cobra.Command{
		Use:   "signup --email EMAIL",
		Short: "Create an account on a secr server",
		Long: `Create an account and log in. The password must be at least 10 characters.

Your password never leaves this machine: it is stretched with Argon2id into
a login key (the server stores only its hash) and a key that seals your
account key. A recovery code is printed once; keep it somewhere safe.`,
		Example: "  secr signup --email ada@example.com\n  printf '%s\\n' \"$PASSWORD\" | secr signup --email ada@example.com --password-stdin",
		Args:    cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			o.f.bind(c)
			return runSignup(c.Context(), o)
		},
	}
	o.addFlags(c)
	return c
}

func runSignup(ctx context.Context, o *accountOptions) error {
	if o.email == "" {
		return usageErrorf("--email is required")
	}
	apiURL, err := o.server()
	if err != nil {
		return err
	}
	pw, err := o.newPassword()
	if err != nil {
		return err
	}
	acct, recovery, err := session.Signup(ctx, o.d.sessionOptions(), apiURL, o.email, pw)
	if err != nil {
		return err
	}
	o.savedNotice(acct)
	io := o.d.IO
	if o.jsonOut {
		return io.JSON(map[string]any{"user": acct.User, "recovery_code": recovery, "server": acct.Server})
	}
	io.Infof("Created account %s on %s and logged in.", acct.User.Email, acct.Server)
	io.Infof("Your recovery code (shown once; store it offline; 'secr recover' uses it if you forget your password):")
	fmt.Fprintln(io.Out, recovery)
	io.Infof("Next: secr orgs create NAME")
	return nil
}

func newLoginCmd(d *Deps) *cobra.Command {
	o := &accountOptions{d: d}
	c := &cobra.Command{
		Use:     "login --email EMAIL",
		Short:   "Log in to a secr server",
		Long:    "Log in with your email and password. Your account key is fetched sealed and opened on this machine.",
		Example: "  secr login --email ada@example.com\n  secr login --email ada@example.com --api https://secr.example.com",
		Args:    cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			o.f.bind(c)
			return runLogin(c.Context(), o)
		},
	}
	o.addFlags(c)
	return c
}

func runLogin(ctx context.Context, o *accountOptions) error {
	if o.email == "" {
		return usageErrorf("--email is required")
	}
	apiURL, err := o.server()
	if err != nil {
		return err
	}
	pw, err := o.password(false)
	if err != nil {
		return err
	}
	acct, err := session.Login(ctx, o.d.sessionOptions(), apiURL, o.email, pw)
	if err != nil {
		return err
	}
	o.savedNotice(acct)
	if o.jsonOut {
		return o.d.IO.JSON(map[string]any{"user": acct.User, "server": acct.Server, "expires_at": acct.ExpiresAt})
	}
	o.d.IO.Infof("Logged in to %s as %s.", acct.Server, acct.User.Email)
	return nil
}

type logoutOptions struct {
	d *Deps
	f targetFlags // only --api
}

func newLogoutCmd(d *Deps) *cobra.Command {
	o := &logoutOptions{d: d}
	return &cobra.Command{
		Use:   "logout",
		Short: "Log out: revoke the session on the server and forget it here",
		Args:  cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			o.f.bind(c)
			return runLogout(c.Context(), o)
		},
	}
}

func runLogout(ctx context.Context, o *logoutOptions) error {
	t, err := o.d.resolve(&o.f)
	if err != nil {
		return err
	}
	server, wasIn, err := session.Logout(ctx, o.d.sessionOptions(), t.API)
	switch {
	case err != nil:
		return err
	case !wasIn:
		o.d.IO.Infof("Not logged in to %s.", server)
	default:
		o.d.IO.Infof("Logged out of %s.", server)
	}
	return nil
}

type whoAmIOptions struct {
	d       *Deps
	f       targetFlags // only --api
	jsonOut bool
}

func newWhoAmICmd(d *Deps) *cobra.Command {
	o := &whoAmIOptions{d: d}
	c := &cobra.Command{
		Use:   "whoami",
		Short: "Show who you are logged in as (or which service token is in use)",
		Args:  cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			o.f.bind(c)
			return runWhoAmI(c.Context(), o)
		},
	}
	c.Flags().BoolVar(&o.jsonOut, "json", false, "print as JSON")
	return c
}

func runWhoAmI(ctx context.Context, o *whoAmIOptions) error {
	d := o.d
	s, _, err := d.authenticate(&o.f)
	if err != nil {
		return err
	}
	who, err := s.WhoAmI(ctx)
	if err != nil {
		return err
	}
	if o.jsonOut {
		return d.IO.JSON(map[string]any{"server": s.API(), "whoami": who})
	}
	if who.User != nil {
		fmt.Fprintf(d.IO.Out, "%s on %s\n", who.User.Email, s.API())
		if fp, err := session.Fingerprint(who.User.PublicKey); err == nil {
			fmt.Fprintf(d.IO.Out, "key fingerprint: %s\n", fp)
		}
		return nil
	}
	tok := who.Token
	fmt.Fprintf(d.IO.Out, "service token %s (%s) for %s/%s/%s on %s, %s%s\n", tok.ID, tok.Name, tok.Org, tok.Project, tok.Environment, s.API(),
		access(tok.ReadWrite), expirySuffix(tok.ExpiresAt))
	return nil
}

func expirySuffix(t *time.Time) string {
	if t == nil {
		return ", never expires"
	}
	return ", expires " + formatTime(*t)
}

// formatTime is the one way secr shows a time, in text and JSON alike:
// RFC 3339 in UTC.
func formatTime(t time.Time) string { return t.UTC().Format(time.RFC3339) }

func trimOneNewline(s string) string {
	if strings.HasSuffix(s, "\r\n") {
		return s[:len(s)-2]
	}
	return strings.TrimSuffix(s, "\n")
}
