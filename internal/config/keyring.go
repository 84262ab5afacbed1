package config

import (
	"errors"
	"fmt"
)

// KeyringService is the service name of secr's keyring entries; the
// entry's account is the server's URL (one login per server, as in
// credentials.json).
const KeyringService = "secr"

// Keyring is an OS keyring (the Secret Service on Linux, the macOS
// Keychain, Windows Credential Manager) holding one secret string per
// account under KeyringService. Implementations return an error wrapping
// ErrNoKeyring when no keyring service can be reached at all, and
// ErrKeyringLocked when one exists but is locked; anything else is a
// keyring that refused.
type Keyring interface {
	// Name says which keyring this is, for messages.
	Name() string
	// Get returns account's secret, or an error wrapping
	// ErrKeyringNotFound.
	Get(account string) (string, error)
	// Set creates or replaces account's secret; label is what a keyring
	// browser shows.
	Set(account, label, secret string) error
	// Delete removes account's secret; a missing one is not an error.
	Delete(account string) error
}

var (
	// ErrNoKeyring: no keyring service is reachable (no session bus, or
	// nothing provides the Secret Service on it).
	ErrNoKeyring = errors.New("no OS keyring is available")
	// ErrKeyringLocked: the keyring exists but is locked.
	ErrKeyringLocked = errors.New("the OS keyring is locked")
	// ErrKeyringNotFound: the keyring has no entry for the account.
	ErrKeyringNotFound = errors.New("no such entry in the OS keyring")
)

// noKeyring is the keyring of a platform without one.
type noKeyring struct{ why string }

func (n noKeyring) Name() string                     { return "no keyring" }
func (n noKeyring) Get(string) (string, error)       { return "", n.err() }
func (n noKeyring) Set(string, string, string) error { return n.err() }
func (n noKeyring) Delete(string) error              { return n.err() }
func (n noKeyring) err() error {
	if n.why == "" {
		return ErrNoKeyring
	}
	return fmt.Errorf("%w: %s", ErrNoKeyring, n.why)
}
