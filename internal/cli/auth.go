package cli

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/secr-dev/secr/internal/api"
	"github.com/secr-dev/secr/internal/client"
	"github.com/secr-dev/secr/internal/config"
	"github.com/secr-dev/secr/internal/crypto"
)

type accountOptions struct {
	d             *Deps
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

func (o *accountOptions) server(c *cobra.Command) (*client.Client, error) {
	t, err := o.d.resolveTarget(c, &targetFlags{})
	if err != nil {
		return nil, err
	}
	return client.New(t.api)
}

func newSignupCmd(d *Deps) *cobra.Command {
	o := &accountOptions{d: d}
	c := &cobra.Command{
		Use:   "signup --email EMAIL",
		Short: "Create an account on a secr server",
		Long: `Create an account and log in.

Your password never leaves this machine: it is stretched with Argon2id into
a login key (the server stores only its hash) and a key that seals your
account key. A recovery code is printed once; keep it somewhere safe.`,
		Example: "  secr signup --email ada@example.com\n  printf '%s\\n' \"$PASSWORD\" | secr signup --email ada@example.com --password-stdin",
		Args:    cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			cl, err := o.server(c)
			if err != nil {
				return err
			}
			return runSignup(c.Context(), o, cl)
		},
	}
	o.addFlags(c)
	return c
}

func runSignup(ctx context.Context, o *accountOptions, cl *client.Client) error {
	if o.email == "" {
		return usageErrorf("--email is required")
	}
	salt, params, keys, err := o.newPassword()
	if err != nil {
		return err
	}
	id, err := crypto.GenerateIdentity()
	if err != nil {
		return err
	}
	recovery, err := crypto.GenerateRecoveryCode()
	if err != nil {
		return err
	}
	userID := crypto.NewID("usr")
	sealed, err := keys.SealIdentity(userID, id)
	if err != nil {
		return err
	}
	recSealed, err := recovery.SealIdentity(userID, id)
	if err != nil {
		return err
	}
	resp, err := cl.Signup(ctx, api.SignupRequest{
		UserID: userID, Email: o.email, Salt: salt,
		KDF:     apiKDF(params),
		AuthKey: keys.AuthKey(), PublicKey: id.Recipient().String(),
		SealedKey: sealed, RecoverySealedKey: recSealed, RecoveryAuthKey: recovery.AuthKey(),
	})
	if err != nil {
		return explain(err)
	}
	if err := o.saveLogin(cl, resp, id); err != nil {
		return err
	}
	io := o.d.IO
	if o.jsonOut {
		return io.JSON(map[string]any{"user": resp.User, "recovery_code": recovery.String(), "server": cl.BaseURL()})
	}
	io.Infof("Created account %s on %s and logged in.", resp.User.Email, cl.BaseURL())
	io.Infof("Your recovery code (shown once; store it offline; 'secr recover' uses it if you forget your password):")
	fmt.Fprintln(io.Out, recovery.String())
	io.Infof("Next: secr orgs create NAME")
	return nil
}

// newPassword reads a new password (twice on a terminal), checks it, and
// derives its keys with a fresh salt.
func (o *accountOptions) newPassword() ([]byte, crypto.KDFParams, *crypto.AccountKeys, error) {
	params := crypto.DefaultKDFParams()
	pw, err := o.secret(o.newPasswordLabel(), true)
	if err != nil {
		return nil, params, nil, err
	}
	if len([]rune(pw)) < 10 {
		return nil, params, nil, usageErrorf("password must be at least 10 characters")
	}
	salt, err := crypto.GenerateSalt()
	if err != nil {
		return nil, params, nil, err
	}
	keys, err := crypto.DeriveAccountKeys([]byte(pw), salt, params)
	return salt, params, keys, err
}

func (o *accountOptions) newPasswordLabel() string {
	if o.changing {
		return "New password"
	}
	return "Password"
}

func apiKDF(p crypto.KDFParams) api.KDF {
	return api.KDF{Time: p.Time, MemoryKiB: p.MemoryKiB, Threads: p.Threads}
}

func (o *accountOptions) saveLogin(cl *client.Client, resp api.SessionResponse, id *crypto.Identity) error {
	dirs, err := o.d.dirs()
	if err != nil {
		return err
	}
	creds := config.CredentialsAt(dirs)
	prev, _ := creds.Get(cl.BaseURL())
	login := &config.Login{
		Email: resp.User.Email, UserID: resp.User.ID, Session: resp.Token, ExpiresAt: resp.ExpiresAt, Identity: id.String(),
	}
	if prev != nil && prev.UserID == login.UserID {
		login.DefaultOrg = prev.DefaultOrg
	}
	if err := creds.Put(cl.BaseURL(), login); err != nil {
		return err
	}
	// Said plainly, once per login: there is no OS keyring behind this.
	o.d.IO.Infof("Session and account key saved in %s (mode 0600; no OS keyring is used).", creds.Path)
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
			cl, err := o.server(c)
			if err != nil {
				return err
			}
			return runLogin(c.Context(), o, cl)
		},
	}
	o.addFlags(c)
	return c
}

func runLogin(ctx context.Context, o *accountOptions, cl *client.Client) error {
	if o.email == "" {
		return usageErrorf("--email is required")
	}
	pw, err := o.password(false)
	if err != nil {
		return err
	}
	params, err := cl.AuthParams(ctx, o.email)
	if err != nil {
		return explain(err)
	}
	kdf := crypto.KDFParams{Time: params.KDF.Time, MemoryKiB: params.KDF.MemoryKiB, Threads: params.KDF.Threads}
	if !kdf.AtLeast(crypto.DefaultKDFParams()) {
		return fmt.Errorf("the server asked for weaker password hashing than secr allows (t=%d m=%d p=%d); refusing to send a login key", kdf.Time, kdf.MemoryKiB, kdf.Threads)
	}
	keys, err := crypto.DeriveAccountKeys([]byte(pw), params.Salt, kdf)
	if err != nil {
		return err
	}
	resp, err := cl.Login(ctx, api.LoginRequest{Email: o.email, AuthKey: keys.AuthKey()})
	if err != nil {
		return explain(err)
	}
	id, err := keys.OpenIdentity(resp.User.ID, resp.SealedKey)
	if err != nil {
		return fmt.Errorf("%w: your account key did not open with this password: %v", ErrIntegrity, err)
	}
	if id.Recipient().String() != resp.User.PublicKey {
		return fmt.Errorf("%w: the server's copy of your public key does not match your account key", ErrIntegrity)
	}
	if err := o.saveLogin(cl, resp, id); err != nil {
		return err
	}
	if o.jsonOut {
		return o.d.IO.JSON(map[string]any{"user": resp.User, "server": cl.BaseURL(), "expires_at": resp.ExpiresAt})
	}
	o.d.IO.Infof("Logged in to %s as %s.", cl.BaseURL(), resp.User.Email)
	return nil
}

func newLogoutCmd(d *Deps) *cobra.Command {
	return &cobra.Command{
		Use:   "logout",
		Short: "Log out: revoke the session on the server and forget it here",
		Args:  cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			t, err := d.resolveTarget(c, &targetFlags{})
			if err != nil {
				return err
			}
			dirs, err := d.dirs()
			if err != nil {
				return err
			}
			creds := config.CredentialsAt(dirs)
			cl, err := client.New(t.api)
			if err != nil {
				return err
			}
			login, err := creds.Get(cl.BaseURL())
			if err != nil {
				return err
			}
			if login == nil {
				d.IO.Infof("Not logged in to %s.", cl.BaseURL())
				return nil
			}
			err = cl.WithSession(login.Session).Logout(c.Context())
			if err != nil && !errors.Is(err, client.ErrUnauthorized) {
				return withHint(fmt.Errorf("could not revoke the session on the server, so it was kept here: %w", err),
					"retry when the server is reachable")
			}
			if err := creds.Put(cl.BaseURL(), nil); err != nil {
				return err
			}
			d.IO.Infof("Logged out of %s.", cl.BaseURL())
			return nil
		},
	}
}

func newWhoAmICmd(d *Deps) *cobra.Command {
	var jsonOut bool
	c := &cobra.Command{
		Use:   "whoami",
		Short: "Show who you are logged in as (or which service token is in use)",
		Args:  cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			t, err := d.resolveTarget(c, &targetFlags{})
			if err != nil {
				return err
			}
			s, err := d.authenticate(t)
			if err != nil {
				return err
			}
			who, err := s.client.WhoAmI(c.Context())
			if err != nil {
				return explain(err)
			}
			if jsonOut {
				return d.IO.JSON(map[string]any{"server": s.api, "whoami": who})
			}
			if who.User != nil {
				fmt.Fprintf(d.IO.Out, "%s on %s\n", who.User.Email, s.api)
				if fp, err := crypto.ParseRecipient(who.User.PublicKey); err == nil {
					fmt.Fprintf(d.IO.Out, "key fingerprint: %s\n", fp.Fingerprint())
				}
				return nil
			}
			tok := who.Token
			fmt.Fprintf(d.IO.Out, "service token %s (%s) for %s/%s/%s on %s, %s%s\n", tok.ID, tok.Name, tok.Org, tok.Project, tok.Environment, s.api,
				map[bool]string{true: "read-write", false: "read-only"}[tok.ReadWrite], expirySuffix(tok.ExpiresAt))
			return nil
		},
	}
	c.Flags().BoolVar(&jsonOut, "json", false, "print as JSON")
	return c
}

func expirySuffix(t *time.Time) string {
	if t == nil {
		return ", never expires"
	}
	return ", expires " + t.Local().Format("2006-01-02 15:04")
}

func trimOneNewline(s string) string {
	if strings.HasSuffix(s, "\r\n") {
		return s[:len(s)-2]
	}
	return strings.TrimSuffix(s, "\n")
}
