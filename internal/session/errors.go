package session

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"

	"github.com/secr-dev/secr/internal/client"
)

var (
	// ErrIntegrity marks data that failed authentication or a rollback
	// check. Nothing is written or run with such data.
	ErrIntegrity = errors.New("integrity check failed")
	// ErrNotLoggedIn: no stored login for the server and no service token.
	ErrNotLoggedIn = errors.New("not logged in")
	// ErrReadOnly: a principal that may only read (a read-only service
	// token, a viewer, a read grant) was asked to write.
	ErrReadOnly = errors.New("read-only")
	// ErrInvalidToken: SECR_TOKEN (or SECR_TOKEN_FILE) does not hold a
	// service token secr can use.
	ErrInvalidToken = errors.New("invalid service token")
	// ErrNoChange is returned by an Update edit function that changed
	// nothing; Update then writes no revision.
	ErrNoChange = errors.New("no change")
)

// usageError is input the caller should correct: a missing project, an
// invalid name. Callers detect it by its IsUsage method.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

// IsUsage marks the error as the caller's wrong input.
func (e *usageError) IsUsage() bool { return true }

func usageErrorf(format string, args ...any) error {
	return &usageError{fmt.Sprintf(format, args...)}
}

// hintError adds a "what to do next" line to an error.
type hintError struct {
	err  error
	hint string
}

func (e *hintError) Error() string { return e.err.Error() }
func (e *hintError) Unwrap() error { return e.err }

// WithHint returns err with a suggested next step, read back by Hint.
func WithHint(err error, format string, args ...any) error {
	return &hintError{err: err, hint: fmt.Sprintf(format, args...)}
}

// Hint returns the next step suggested by the outermost WithHint in err's
// chain, or "".
func Hint(err error) string {
	var he *hintError
	if errors.As(err, &he) {
		return he.hint
	}
	return ""
}

// Explain adds the next step to the common API errors.
func Explain(err error) error {
	var ue *client.UnreachableError
	switch {
	case err == nil:
		return nil
	case Hint(err) != "":
		return err
	case errors.As(err, &ue) && isTLSTrustError(err):
		return WithHint(err, "the server's TLS certificate is not trusted here: install its CA certificate, or point SSL_CERT_FILE at it")
	case errors.As(err, &ue):
		return WithHint(err, "start one with 'secr server', or point --api / SECR_API_URL at yours")
	case errors.Is(err, client.ErrUnauthorized):
		return WithHint(err, "run 'secr login', or check SECR_TOKEN")
	}
	return err
}

func isTLSTrustError(err error) bool {
	var unknown x509.UnknownAuthorityError
	var verify *tls.CertificateVerificationError
	var host x509.HostnameError
	return errors.As(err, &unknown) || errors.As(err, &verify) || errors.As(err, &host)
}

func integrityErrorf(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrIntegrity}, args...)...)
}

// tokenError is a malformed service token from source (SECR_TOKEN or
// SECR_TOKEN_FILE). It matches ErrInvalidToken and never holds the token.
type tokenError struct {
	source string
	err    error
}

func (e *tokenError) Error() string { return e.source + ": " + e.err.Error() }
func (e *tokenError) Unwrap() error { return e.err }
func (e *tokenError) Is(target error) bool {
	return target == ErrInvalidToken
}
