package cli

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/secr-dev/secr/internal/api"
	"github.com/secr-dev/secr/internal/client"
	"github.com/secr-dev/secr/internal/crypto"
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
		RunE: func(c *cobra.Command, _ []string) error { return o.runPasswd(c) },
	}
	c.Flags().BoolVar(&o.passwordStdin, "password-stdin", false, "read the current and the new password from the first two lines of standard input")
	return c
}

func (o *accountOptions) runPasswd(c *cobra.Command) error {
	d := o.d
	t, err := d.resolveTarget(c, &targetFlags{})
	if err != nil {
		return err
	}
	s, err := d.authenticate(t)
	if err != nil {
		return err
	}
	if s.login == nil {
		return usageErrorf("a service token has no password: unset SECR_TOKEN and log in")
	}
	o.email = s.login.Email
	current, err := o.secret("Current password", false)
	if err != nil {
		return err
	}
	cl, _ := client.New(s.api)
	params, err := cl.AuthParams(c.Context(), o.email)
	if err != nil {
		return explain(err)
	}
	kdf := crypto.KDFParams{Time: params.KDF.Time, MemoryKiB: params.KDF.MemoryKiB, Threads: params.KDF.Threads}
	if !kdf.AtLeast(crypto.DefaultKDFParams()) {
		return fmt.Errorf("the server asked for weaker password hashing than secr allows; refusing to send a login key")
	}
	currentKeys, err := crypto.DeriveAccountKeys([]byte(current), params.Salt, kdf)
	if err != nil {
		return err
	}
	return o.setPassword(c.Context(), cl, s.identity, s.login.UserID, api.ChangePasswordRequest{CurrentAuthKey: currentKeys.AuthKey()},
		"Password changed. Other sessions were logged out.")
}

// setPassword derives keys for a new password, seals id under them, and
// sends req (carrying its proof) to the server, then stores the new login.
func (o *accountOptions) setPassword(ctx context.Context, cl *client.Client, id *crypto.Identity, userID string, req api.ChangePasswordRequest, done string) error {
	salt, params, keys, err := o.newPassword()
	if err != nil {
		return err
	}
	sealed, err := keys.SealIdentity(userID, id)
	if err != nil {
		return err
	}
	req.Email, req.Salt, req.KDF, req.AuthKey, req.SealedKey = o.email, salt, apiKDF(params), keys.AuthKey(), sealed
	resp, err := cl.ChangePassword(ctx, req)
	if err != nil {
		return explain(err)
	}
	if err := o.saveLogin(cl, resp, id); err != nil {
		return err
	}
	o.d.IO.Infof("%s", done)
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
		RunE:    func(c *cobra.Command, _ []string) error { return o.runRecover(c) },
	}
	c.Flags().StringVar(&o.email, "email", "", "account email (required)")
	c.Flags().BoolVar(&o.passwordStdin, "password-stdin", false, "read the recovery code and the new password from the first two lines of standard input")
	return c
}

func (o *accountOptions) runRecover(c *cobra.Command) error {
	if o.email == "" {
		return usageErrorf("--email is required")
	}
	cl, err := o.server(c)
	if err != nil {
		return err
	}
	raw, err := o.secret("Recovery code", false)
	if err != nil {
		return err
	}
	code, err := crypto.ParseRecoveryCode(raw)
	if err != nil {
		return usageErrorf("%v: it looks like XXXX-XXXX-... (13 groups)", err)
	}
	rec, err := cl.Recover(c.Context(), api.RecoverRequest{Email: o.email, RecoveryAuthKey: code.AuthKey()})
	if err != nil {
		return explain(err)
	}
	id, err := code.OpenIdentity(rec.User.ID, rec.RecoverySealedKey)
	if err != nil {
		return fmt.Errorf("%w: your account key did not open with this recovery code: %v", ErrIntegrity, err)
	}
	if id.Recipient().String() != rec.User.PublicKey {
		return fmt.Errorf("%w: the server's copy of your public key does not match your account key", ErrIntegrity)
	}
	return o.setPassword(c.Context(), cl, id, rec.User.ID, api.ChangePasswordRequest{RecoveryAuthKey: code.AuthKey()},
		fmt.Sprintf("Recovered %s: new password set, logged in. Other sessions were logged out.", rec.User.Email))
}
