package cli

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/secr-dev/secr/internal/session"
)

func newPasswdCmd(d *Deps) *cobra.Command {
	o := &accountOptions{d: d, changing: true}
	c := &cobra.Command{
		Use:   "passwd",
		Short: "Change your password",
		Long: `Change your password. Your account key is re-sealed under the new password on
this machine; nothing else changes (environment keys, grants, tokens). Every
other session of your account is logged out.

With --password-stdin, standard input holds the current password on the
first line and the new one on the second.`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			o.f.bind(c)
			return runPasswd(c.Context(), o)
		},
	}
	c.Flags().BoolVar(&o.passwordStdin, "password-stdin", false, "read the current and the new password from the first two lines of standard input")
	return c
}

func runPasswd(ctx context.Context, o *accountOptions) error {
	s, _, err := o.d.authenticate(&o.f)
	if err != nil {
		return err
	}
	if s.IsServiceToken() {
		return usageErrorf("a service token has no password: unset SECR_TOKEN and log in")
	}
	current, err := o.secret("Current password", false)
	if err != nil {
		return err
	}
	acct, err := s.ChangePassword(ctx, current, o.newPassword)
	if err != nil {
		return err
	}
	o.savedNotice(acct)
	o.d.IO.Infof("Password changed. Other sessions were logged out.")
	return nil
}

func newRecoverCmd(d *Deps) *cobra.Command {
	o := &accountOptions{d: d, changing: true}
	c := &cobra.Command{
		Use:   "recover --email EMAIL",
		Short: "Set a new password with your recovery code",
		Long: `Forgot your password? The recovery code printed at sign-up opens a second
copy of your account key. secr opens it on this machine, seals it under a new
password, and logs you in; every other session is logged out. The recovery
code keeps working.

With --password-stdin, standard input holds the recovery code on the first
line and the new password on the second.`,
		Example: "  secr recover --email ada@example.com",
		Args:    cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			o.f.bind(c)
			return runRecover(c.Context(), o)
		},
	}
	c.Flags().StringVar(&o.email, "email", "", "account email (required)")
	c.Flags().BoolVar(&o.passwordStdin, "password-stdin", false, "read the recovery code and the new password from the first two lines of standard input")
	return c
}

func runRecover(ctx context.Context, o *accountOptions) error {
	if o.email == "" {
		return usageErrorf("--email is required")
	}
	apiURL, err := o.server()
	if err != nil {
		return err
	}
	code, err := o.secret("Recovery code", false)
	if err != nil {
		return err
	}
	acct, err := session.Recover(ctx, o.d.sessionOptions(), apiURL, o.email, code, o.newPassword)
	if err != nil {
		return err
	}
	o.savedNotice(acct)
	o.d.IO.Infof("%s", fmt.Sprintf("Recovered %s: new password set, logged in. Other sessions were logged out.", acct.User.Email))
	return nil
}
