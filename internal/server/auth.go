package server

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"net/mail"
	"strings"
	"time"

	"github.com/secr-dev/secr/internal/api"
	"github.com/secr-dev/secr/internal/kdf"
	"github.com/secr-dev/secr/internal/store"
	"github.com/secr-dev/secr/internal/trust"
)

// principal is the authenticated caller: a user (by session) or a service
// token. Its ID is what grants are keyed by.
type principal struct {
	id    string
	user  *store.User
	token *store.Token
	// expires is when the session or token ends (zero: never).
	expires time.Time
}

func hashSecret(b []byte) []byte {
	h := sha256.Sum256(b)
	return h[:]
}

// authenticate checks the Authorization header, answering from the auth
// cache when the same session header was proven within the last second. A cached
// principal is still checked against its expiry on the server's clock.
func (s *Server) authenticate(ctx context.Context, header string) (*principal, error) {
	if !strings.HasPrefix(header, api.SchemeBearer+" ") {
		// Service tokens are checked every time (one query by ID), so that
		// a token changed in the database takes effect at once; their
		// snapshot path then resolves the environment in one more.
		return s.authenticateStore(ctx, header)
	}
	key := sha256.Sum256([]byte(header))
	p, gen := s.authCache.get(key)
	if p != nil && (p.expires.IsZero() || s.now().Before(p.expires)) {
		return p, nil
	}
	p, err := s.authenticateStore(ctx, header)
	if err == nil {
		s.authCache.put(key, gen, p)
	}
	return p, err
}

func (s *Server) authenticateStore(ctx context.Context, header string) (*principal, error) {
	scheme, cred, ok := strings.Cut(header, " ")
	if !ok || cred == "" {
		return nil, errUnauthorized("not logged in: run 'secr login', or set SECR_TOKEN to a service token")
	}
	switch scheme {
	case api.SchemeBearer:
		se, u, err := s.store.SessionUser(ctx, hashSecret([]byte(cred)))
		if errors.Is(err, store.ErrNotFound) {
			return nil, errUnauthorized("session expired or logged out: run 'secr login'")
		}
		if err != nil {
			return nil, err
		}
		if !s.now().Before(se.ExpiresAt) {
			return nil, errUnauthorized("session expired: run 'secr login'")
		}
		return &principal{id: u.ID, user: &u, expires: se.ExpiresAt}, nil
	case api.SchemeToken:
		id, keyB64, _ := strings.Cut(cred, ":")
		authKey, err := base64.StdEncoding.DecodeString(keyB64)
		if !api.ValidID("st", id) || err != nil || len(authKey) != 32 {
			return nil, errUnauthorized("malformed service token credentials")
		}
		t, err := s.store.TokenByID(ctx, id)
		if errors.Is(err, store.ErrNotFound) {
			return nil, errUnauthorized("service token %s is not valid: it was revoked or never existed", id)
		}
		if err != nil {
			return nil, err
		}
		if subtle.ConstantTimeCompare(hashSecret(authKey), t.AuthHash) != 1 {
			return nil, errUnauthorized("service token %s is not valid: it was revoked or never existed", id)
		}
		if !t.ExpiresAt.IsZero() && !s.now().Before(t.ExpiresAt) {
			return nil, errUnauthorized("service token %s expired at %s: create a new one with 'secr tokens create'", id, t.ExpiresAt.Format("2006-01-02 15:04 MST"))
		}
		return &principal{id: t.ID, token: &t, expires: t.ExpiresAt}, nil
	default:
		return nil, errUnauthorized("unsupported authorization scheme %q", scheme)
	}
}

func (p *principal) requireUser() error {
	if p.user == nil {
		return errForbidden("this needs a logged-in user; a service token cannot do it")
	}
	return nil
}

func normalizeEmail(e string) (string, error) {
	e = strings.ToLower(strings.TrimSpace(e))
	a, err := mail.ParseAddress(e)
	if err != nil || a.Address != e || len(e) > 254 {
		return "", errBadRequest("invalid email address %q", e)
	}
	return e, nil
}

// weakKDF reports whether k costs less than the default parameters in any
// dimension.
func weakKDF(k api.KDF) bool { return !k.AtLeast(kdf.Default()) }

func (s *Server) handleAuthParams(w http.ResponseWriter, r *http.Request) error {
	var req api.AuthParamsRequest
	if err := decode(r, &req); err != nil {
		return err
	}
	email, err := normalizeEmail(req.Email)
	if err != nil {
		return err
	}
	u, err := s.store.UserByEmail(r.Context(), email)
	if err == nil {
		var params api.KDF
		if err := json.Unmarshal([]byte(u.KDF), &params); err != nil {
			return err
		}
		writeJSON(w, http.StatusOK, api.AuthParamsResponse{Salt: u.Salt, KDF: params})
		return nil
	}
	if !errors.Is(err, store.ErrNotFound) {
		return err
	}
	// Unknown email: a stable fake salt, so this endpoint does not
	// reveal who has an account.
	secret, err := s.store.ServerSecret(r.Context())
	if err != nil {
		return err
	}
	mac := hmac.New(sha256.New, secret)
	mac.Write([]byte("fake-salt|" + email))
	writeJSON(w, http.StatusOK, api.AuthParamsResponse{Salt: mac.Sum(nil)[:kdf.SaltSize], KDF: kdf.Default()})
	return nil
}

func (s *Server) handleSignup(w http.ResponseWriter, r *http.Request) error {
	if !s.signupOpen {
		return errForbidden("sign-up is closed on this server: ask its administrator for an account")
	}
	var req api.SignupRequest
	if err := decode(r, &req); err != nil {
		return err
	}
	email, err := normalizeEmail(req.Email)
	if err != nil {
		return err
	}
	switch {
	case !api.ValidID("usr", req.UserID):
		return errBadRequest("malformed user id")
	case len(req.Salt) != kdf.SaltSize:
		return errBadRequest("salt must be %d bytes", kdf.SaltSize)
	case len(req.AuthKey) != 32:
		return errBadRequest("auth key must be 32 bytes")
	case weakKDF(req.KDF):
		return errBadRequest("key derivation parameters are weaker than this server accepts")
	case len(req.SealedKey) == 0 || len(req.RecoverySealedKey) == 0:
		return errBadRequest("sealed account keys are missing")
	case len(req.RecoveryAuthKey) != 32:
		return errBadRequest("recovery auth key must be 32 bytes")
	}
	if !api.ValidPublicKey(req.PublicKey) {
		return errBadRequest("malformed public key %q", req.PublicKey)
	}
	ident, err := trust.ParsePrincipal(req.Principal)
	if err != nil {
		return errBadRequest("identity refused: %v", err)
	}
	switch {
	case ident.Kind() != trust.KindUser:
		return errBadRequest("identity refused: it is a %s's, not a user's", ident.Kind())
	case ident.ID() != req.UserID:
		return errBadRequest("identity refused: its ID %q is not the user ID %q", ident.ID(), req.UserID)
	case ident.Name() != email:
		return errBadRequest("identity refused: its email %q is not %q", ident.Name(), email)
	case ident.Recipient().String() != req.PublicKey:
		return errBadRequest("identity refused: its encryption key is not the public key sent")
	}
	kdfJSON, _ := json.Marshal(req.KDF)
	u := store.User{
		ID: req.UserID, Email: email, Salt: req.Salt, KDF: string(kdfJSON), AuthHash: hashSecret(req.AuthKey),
		PublicKey: req.PublicKey, Principal: ident.Bytes(), SealedKey: req.SealedKey, RecoverySealedKey: req.RecoverySealedKey,
		RecoveryAuthHash: hashSecret(req.RecoveryAuthKey), CreatedAt: s.now(),
	}
	if err := s.store.CreateUser(r.Context(), u); err != nil {
		if errors.Is(err, store.ErrExists) {
			return errConflict("an account for %s already exists: run 'secr login'", email)
		}
		return err
	}
	s.log.InfoContext(r.Context(), "user signed up", "user", u.ID)
	return s.startSession(w, r, u, http.StatusCreated)
}

func (s *Server) startSession(w http.ResponseWriter, r *http.Request, u store.User, status int) error {
	raw := make([]byte, 32)
	if _, err := rand.Read(raw); err != nil {
		return err
	}
	token := base64.RawURLEncoding.EncodeToString(raw)
	if err := s.auditSignin(r, u); err != nil {
		return err
	}
	now := s.now()
	se := store.Session{TokenHash: hashSecret([]byte(token)), UserID: u.ID, ExpiresAt: now.Add(s.sessionTTL), CreatedAt: now}
	if err := s.store.CreateSession(r.Context(), se); err != nil {
		return err
	}
	writeJSON(w, status, api.SessionResponse{
		Token: token, ExpiresAt: se.ExpiresAt,
		User:      apiUser(u),
		SealedKey: u.SealedKey,
	})
	return nil
}

// dummyHash keeps the unknown-user path doing the same comparison work.
var dummyHash = make([]byte, sha256.Size)

func (s *Server) handleLogin(w http.ResponseWriter, r *http.Request) error {
	var req api.LoginRequest
	if err := decode(r, &req); err != nil {
		return err
	}
	email, err := normalizeEmail(req.Email)
	if err != nil {
		return err
	}
	u, err := s.proveAccount(r, email, req.AuthKey, nil)
	if err != nil {
		return err
	}
	return s.startSession(w, r, u, http.StatusOK)
}

// proveAccount checks a password's auth key, or with recoveryAuthKey set
// a recovery code's, for email. Failures are rate limited (see limiter.go),
// and an unknown email costs the same comparison.
func (s *Server) proveAccount(r *http.Request, email string, authKey, recoveryAuthKey []byte) (store.User, error) {
	addr := s.clientAddr(r)
	keys := limiterKeys(email, addr)
	wait, err := s.tryLogin(r.Context(), keys)
	if err != nil {
		return store.User{}, err
	}
	if wait > 0 {
		return store.User{}, &httpError{http.StatusTooManyRequests, api.CodeRateLimited,
			"too many failed logins: try again in " + formatSeconds(wait), wait}
	}
	u, err := s.store.UserByEmail(r.Context(), email)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return store.User{}, err
	}
	proof, want := authKey, dummyHash
	if err == nil {
		want = u.AuthHash
	}
	if len(recoveryAuthKey) > 0 {
		proof = recoveryAuthKey
		if err == nil {
			want = u.RecoveryAuthHash
		}
	}
	if subtle.ConstantTimeCompare(hashSecret(proof), want) != 1 || err != nil {
		// tryLogin already counted this failure.
		s.log.InfoContext(r.Context(), "login failed", "remote", addr)
		if len(recoveryAuthKey) > 0 {
			return store.User{}, errUnauthorized("incorrect email or recovery code")
		}
		return store.User{}, errUnauthorized("incorrect email or password")
	}
	if err := s.loginSucceeded(r.Context(), keys); err != nil {
		return store.User{}, err
	}
	return u, nil
}

func (s *Server) handleRecover(w http.ResponseWriter, r *http.Request) error {
	var req api.RecoverRequest
	if err := decode(r, &req); err != nil {
		return err
	}
	email, err := normalizeEmail(req.Email)
	if err != nil {
		return err
	}
	if len(req.RecoveryAuthKey) != 32 {
		return errBadRequest("recovery auth key must be 32 bytes")
	}
	u, err := s.proveAccount(r, email, nil, req.RecoveryAuthKey)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, api.RecoverResponse{
		User:              apiUser(u),
		RecoverySealedKey: u.RecoverySealedKey,
	})
	return nil
}

func (s *Server) handleChangePassword(w http.ResponseWriter, r *http.Request) error {
	var req api.ChangePasswordRequest
	if err := decode(r, &req); err != nil {
		return err
	}
	email, err := normalizeEmail(req.Email)
	if err != nil {
		return err
	}
	switch {
	case (len(req.CurrentAuthKey) == 32) == (len(req.RecoveryAuthKey) == 32):
		return errBadRequest("prove the account with either the current password or the recovery code")
	case len(req.Salt) != kdf.SaltSize || len(req.AuthKey) != 32 || len(req.SealedKey) == 0:
		return errBadRequest("malformed new credentials")
	case weakKDF(req.KDF):
		return errBadRequest("key derivation parameters are weaker than this server accepts")
	}
	u, err := s.proveAccount(r, email, req.CurrentAuthKey, req.RecoveryAuthKey)
	if err != nil {
		return err
	}
	kdfJSON, _ := json.Marshal(req.KDF)
	if err := s.store.UpdatePassword(r.Context(), u.ID, req.Salt, string(kdfJSON), hashSecret(req.AuthKey), req.SealedKey); err != nil {
		return err
	}
	u.Salt, u.KDF, u.AuthHash, u.SealedKey = req.Salt, string(kdfJSON), hashSecret(req.AuthKey), req.SealedKey
	s.events.recheck(u.ID)
	s.log.InfoContext(r.Context(), "password changed; sessions ended", "user", u.ID)
	return s.startSession(w, r, u, http.StatusOK)
}

func apiUser(u store.User) api.User {
	return api.User{ID: u.ID, Email: u.Email, PublicKey: u.PublicKey, Principal: u.Principal}
}

func (s *Server) handleLogout(w http.ResponseWriter, r *http.Request, p *principal) error {
	if err := p.requireUser(); err != nil {
		return err
	}
	_, cred, _ := strings.Cut(r.Header.Get("Authorization"), " ")
	if err := s.store.DeleteSession(r.Context(), hashSecret([]byte(cred))); err != nil {
		return err
	}
	s.events.recheck(p.id)
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Server) handleWhoAmI(w http.ResponseWriter, r *http.Request, p *principal) error {
	if p.user != nil {
		writeJSON(w, http.StatusOK, api.WhoAmI{Kind: "user", User: new(apiUser(*p.user))})
		return nil
	}
	info, err := s.tokenInfo(r.Context(), *p.token)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, api.WhoAmI{Kind: "token", Token: &info})
	return nil
}
