package session

import (
	"errors"
	"fmt"

	"github.com/secr-dev/secr/internal/config"
)

// credentials is the login store, with the OS keyring reached through
// o.Getenv's environment and SECR_CREDENTIALS applied.
func (o *Options) credentials(dirs config.Dirs) *config.Credentials {
	return config.CredentialsAt(dirs, o.Getenv)
}

// keyringHint adds the next step to an error from the login store.
// saving: the error came from saving a login (the file is an explicit
// alternative); otherwise from reading or removing one.
func keyringHint(err error, c *config.Credentials, saving bool) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, config.ErrBadMode):
		return usageErrorf("%v", err)
	case saving && errors.Is(err, config.ErrNoKeyring):
		// Only SECR_CREDENTIALS=keyring makes a missing keyring an error.
		return WithHint(err, "start a Secret Service (GNOME Keyring, KeePassXC) in this session, or unset SECR_CREDENTIALS to keep the session and account key in %s (mode 0600)", c.Path)
	case saving:
		return WithHint(err, "unlock the keyring (log in to your desktop session, or run 'gnome-keyring-daemon --unlock') and retry, or set SECR_CREDENTIALS=file to keep the session and account key in %s (mode 0600) instead", c.Path)
	case errors.Is(err, config.ErrKeyringNotFound):
		return WithHint(fmt.Errorf("%w: %v", ErrNotLoggedIn, err), "run 'secr login' again")
	case errors.Is(err, config.ErrNoKeyring):
		return WithHint(err, "this login's session and account key are in the OS keyring, which this process cannot reach: run secr inside your desktop session (with DBUS_SESSION_BUS_ADDRESS set), or log in again with SECR_CREDENTIALS=file")
	case errors.Is(err, config.ErrKeyringLocked):
		return WithHint(err, "unlock the keyring (log in to your desktop session, or run 'gnome-keyring-daemon --unlock') and retry, or log in again with SECR_CREDENTIALS=file")
	}
	return err
}
