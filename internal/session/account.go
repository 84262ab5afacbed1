package session

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/secr-dev/secr/internal/api"
	"github.com/secr-dev/secr/internal/client"
	"github.com/secr-dev/secr/internal/config"
	"github.com/secr-dev/secr/internal/crypto"
	"github.com/secr-dev/secr/internal/kdf"
	"github.com/secr-dev/secr/internal/trust"
)

// MinPasswordLength is the shortest password secr accepts, in characters.
const MinPasswordLength = 10

// Account is a login that was just stored on this machine.
type Account struct {
	Server    string
	User      api.User
	ExpiresAt time.Time
	// CredentialsPath is the credentials file (mode 0600).
	CredentialsPath string
	// Saved says where the session and account key went: the OS keyring,
	// or that file (with why, when no keyring was reachable).
	Saved config.Saved
}

// ValidatePassword checks a new password's length.
func ValidatePassword(pw string) error {
	if len([]rune(pw)) < MinPasswordLength {
		return usageErrorf("password must be at least %d characters", MinPasswordLength)
	}
	return nil
}

// newPasswordKeys derives keys for a new password with a fresh salt.
func newPasswordKeys(pw string) ([]byte, kdf.Params, *crypto.AccountKeys, error) {
	params := kdf.Default()
	if err := ValidatePassword(pw); err != nil {
		return nil, params, nil, err
	}
	salt, err := crypto.GenerateSalt()
	if err != nil {
		return nil, params, nil, err
	}
	keys, err := crypto.DeriveAccountKeys([]byte(pw), salt, params)
	return salt, params, keys, err
}

// Signup creates an account on the server at apiURL, logs in, and returns
// the account and its recovery code (to be shown once).
func Signup(ctx context.Context, o Options, apiURL, email, password string) (*Account, string, error) {
	email = normalizeEmail(email)
	if email == "" {
		return nil, "", usageErrorf("--email is required")
	}
	cl, err := o.newClient(apiURL)
	if err != nil {
		return nil, "", err
	}
	salt, params, keys, err := newPasswordKeys(password)
	if err != nil {
		return nil, "", err
	}
	id, err := crypto.GenerateIdentity()
	if err != nil {
		return nil, "", err
	}
	recovery, err := crypto.GenerateRecoveryCode()
	if err != nil {
		return nil, "", err
	}
	userID := api.NewID("usr")
	me, err := trust.NewUser(userID, email, id.Recipient(), trust.UserSigningKey(id))
	if err != nil {
		return nil, "", usageErrorf("%v", err)
	}
	sealed, err := keys.SealIdentity(userID, id)
	if err != nil {
		return nil, "", err
	}
	recSealed, err := recovery.SealIdentity(userID, id)
	if err != nil {
		return nil, "", err
	}
	resp, err := cl.Signup(ctx, api.SignupRequest{
		UserID: userID, Email: email, Salt: salt, KDF: params,
		AuthKey: keys.AuthKey(), PublicKey: id.Recipient().String(), Principal: me.Bytes(),
		SealedKey: sealed, RecoverySealedKey: recSealed, RecoveryAuthKey: recovery.AuthKey(),
	})
	if err != nil {
		return nil, "", Explain(err)
	}
	if resp.User.ID != userID || !bytes.Equal(resp.User.Principal, me.Bytes()) {
		return nil, "", integrityErrorf("the server recorded another identity than the one sent at sign-up")
	}
	acct, err := saveLogin(o, cl.BaseURL(), resp, id)
	if err != nil {
		return nil, "", err
	}
	return acct, recovery.String(), nil
}

// normalizeEmail is the form the server keeps and org chains record.
func normalizeEmail(e string) string { return strings.ToLower(strings.TrimSpace(e)) }

// serverParams asks for email's salt and Argon2id costs and checks that the
// costs are within what a client accepts.
func serverParams(ctx context.Context, cl *client.Client, email string) (api.AuthParamsResponse, error) {
	params, err := cl.AuthParams(ctx, email)
	if err != nil {
		return params, Explain(err)
	}
	return params, params.KDF.CheckFromServer()
}

// Login logs in to the server at apiURL and stores the session and the
// account key, opened with password.
func Login(ctx context.Context, o Options, apiURL, email, password string) (*Account, error) {
	email = normalizeEmail(email)
	if email == "" {
		return nil, usageErrorf("--email is required")
	}
	cl, err := o.newClient(apiURL)
	if err != nil {
		return nil, err
	}
	params, err := serverParams(ctx, cl, email)
	if err != nil {
		return nil, err
	}
	keys, err := crypto.DeriveAccountKeys([]byte(password), params.Salt, params.KDF)
	if err != nil {
		return nil, err
	}
	resp, err := cl.Login(ctx, api.LoginRequest{Email: email, AuthKey: keys.AuthKey()})
	if errors.Is(err, client.ErrUnauthorized) {
		return nil, WithHint(err, "check the email and password; if you forgot the password, run 'secr recover --email %s' with your recovery code", email)
	}
	if err != nil {
		return nil, Explain(err)
	}
	id, err := keys.OpenIdentity(resp.User.ID, resp.SealedKey)
	if err != nil {
		return nil, integrityErrorf("your account key did not open with this password: %v", err)
	}
	if id.Recipient().String() != resp.User.PublicKey {
		return nil, integrityErrorf("the server's copy of your public key does not match your account key")
	}
	if resp.User.Email != email {
		return nil, integrityErrorf("the server logged you in as %q, not %q", resp.User.Email, email)
	}
	return saveLogin(o, cl.BaseURL(), resp, id)
}

// saveLogin stores a login for server, keeping the default org of an
// earlier login of the same user.
func saveLogin(o Options, server string, resp api.SessionResponse, id *crypto.Identity) (*Account, error) {
	// The identity org chains record for this user must be the one these
	// keys make: sign-up sent it, and everything this user signs is
	// checked against it.
	me, err := trust.NewUser(resp.User.ID, resp.User.Email, id.Recipient(), trust.UserSigningKey(id))
	if err != nil || !bytes.Equal(me.Bytes(), resp.User.Principal) {
		return nil, integrityErrorf("the server's record of your identity (email, public keys) does not match your account key")
	}
	dirs, err := o.dirs()
	if err != nil {
		return nil, err
	}
	creds := o.credentials(dirs)
	prev, _ := creds.Record(server)
	login := &config.Login{
		Email: resp.User.Email, UserID: resp.User.ID, Session: resp.Token, ExpiresAt: resp.ExpiresAt, Identity: id.String(),
	}
	if prev != nil && prev.UserID == login.UserID {
		login.DefaultOrg = prev.DefaultOrg
	}
	saved, err := creds.Put(server, login)
	if err != nil {
		return nil, keyringHint(err, creds, true)
	}
	return &Account{Server: server, User: resp.User, ExpiresAt: resp.ExpiresAt, CredentialsPath: creds.Path, Saved: saved}, nil
}

// Logout revokes the stored session for apiURL on the server and forgets
// it here. It reports the server's URL and whether there was a login. When
// the server cannot be reached the login is kept, so it can be revoked
// later.
func Logout(ctx context.Context, o Options, apiURL string) (string, bool, error) {
	dirs, err := o.dirs()
	if err != nil {
		return "", false, err
	}
	creds := o.credentials(dirs)
	cl, err := o.newClient(apiURL)
	if err != nil {
		return "", false, err
	}
	login, err := creds.Get(cl.BaseURL())
	if errors.Is(err, config.ErrKeyringNotFound) {
		// The keyring entry is already gone: nothing to revoke with.
		return cl.BaseURL(), true, keyringHint(creds.Delete(cl.BaseURL()), creds, false)
	}
	if err != nil || login == nil {
		return cl.BaseURL(), false, keyringHint(err, creds, false)
	}
	err = cl.WithSession(login.Session).Logout(ctx)
	if err != nil && !errors.Is(err, client.ErrUnauthorized) {
		return cl.BaseURL(), true, WithHint(fmt.Errorf("could not revoke the session on the server, so it was kept here: %w", err),
			"retry when the server is reachable")
	}
	// This account's offline cache goes too: it is ciphertext, but a
	// logged-out machine has no use for it.
	_ = config.CacheAt(dirs).Forget(cl.BaseURL(), login.UserID)
	// Both places: the keyring entry, then the record in the file.
	return cl.BaseURL(), true, keyringHint(creds.Delete(cl.BaseURL()), creds, false)
}

// ChangePassword proves the current password, re-seals the account key
// under the new one (asked for only after the server's parameters were
// checked) and ends the account's other sessions.
func (s *Session) ChangePassword(ctx context.Context, current string, newPassword func() (string, error)) (*Account, error) {
	if s.login == nil {
		return nil, usageErrorf("a service token has no password: unset SECR_TOKEN and log in")
	}
	cl, err := s.opts.newClient(s.api)
	if err != nil {
		return nil, err
	}
	params, err := serverParams(ctx, cl, s.login.Email)
	if err != nil {
		return nil, err
	}
	currentKeys, err := crypto.DeriveAccountKeys([]byte(current), params.Salt, params.KDF)
	if err != nil {
		return nil, err
	}
	return setPassword(ctx, s.opts, cl, s.identity, s.login.UserID, newPassword,
		api.ChangePasswordRequest{Email: s.login.Email, CurrentAuthKey: currentKeys.AuthKey()})
}

// Recover opens the account key with the recovery code, seals it under a
// new password and logs in; every other session ends.
func Recover(ctx context.Context, o Options, apiURL, email, code string, newPassword func() (string, error)) (*Account, error) {
	if email == "" {
		return nil, usageErrorf("--email is required")
	}
	rc, err := crypto.ParseRecoveryCode(code)
	if err != nil {
		return nil, usageErrorf("%v: it looks like XXXX-XXXX-... (13 groups)", err)
	}
	cl, err := o.newClient(apiURL)
	if err != nil {
		return nil, err
	}
	rec, err := cl.Recover(ctx, api.RecoverRequest{Email: email, RecoveryAuthKey: rc.AuthKey()})
	if err != nil {
		return nil, Explain(err)
	}
	id, err := rc.OpenIdentity(rec.User.ID, rec.RecoverySealedKey)
	if err != nil {
		return nil, integrityErrorf("your account key did not open with this recovery code: %v", err)
	}
	if id.Recipient().String() != rec.User.PublicKey {
		return nil, integrityErrorf("the server's copy of your public key does not match your account key")
	}
	return setPassword(ctx, o, cl, id, rec.User.ID, newPassword, api.ChangePasswordRequest{Email: email, RecoveryAuthKey: rc.AuthKey()})
}

// setPassword derives keys for a new password, seals id under them, and
// sends req (carrying its proof) to the server, then stores the new login.
func setPassword(ctx context.Context, o Options, cl *client.Client, id *crypto.Identity, userID string, newPassword func() (string, error), req api.ChangePasswordRequest) (*Account, error) {
	pw, err := newPassword()
	if err != nil {
		return nil, err
	}
	salt, params, keys, err := newPasswordKeys(pw)
	if err != nil {
		return nil, err
	}
	sealed, err := keys.SealIdentity(userID, id)
	if err != nil {
		return nil, err
	}
	req.Salt, req.KDF, req.AuthKey, req.SealedKey = salt, params, keys.AuthKey(), sealed
	resp, err := cl.ChangePassword(ctx, req)
	if err != nil {
		return nil, Explain(err)
	}
	return saveLogin(o, cl.BaseURL(), resp, id)
}

// Fingerprint returns the short, comparable digest of a principal's public
// key (as the server sends it).
func Fingerprint(publicKey string) (string, error) {
	r, err := crypto.ParseRecipient(publicKey)
	if err != nil {
		return "", err
	}
	return r.Fingerprint(), nil
}
