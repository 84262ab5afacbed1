//go:build linux || freebsd || openbsd || netbsd || dragonfly

package config

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	dbus "github.com/godbus/dbus/v5"
)

// OSKeyring is the Secret Service (org.freedesktop.secrets: GNOME Keyring,
// KeePassXC, KWallet's bridge) on the D-Bus session bus named by getenv's
// DBUS_SESSION_BUS_ADDRESS, or $XDG_RUNTIME_DIR/bus. secr never launches a
// bus itself.
func OSKeyring(getenv func(string) string) Keyring {
	return &SecretService{Address: sessionBusAddress(getenv)}
}

func sessionBusAddress(getenv func(string) string) string {
	if a := getenv("DBUS_SESSION_BUS_ADDRESS"); a != "" && a != "autolaunch:" {
		return a
	}
	if dir := getenv("XDG_RUNTIME_DIR"); dir != "" {
		bus := filepath.Join(dir, "bus")
		if fi, err := os.Stat(bus); err == nil && fi.Mode()&os.ModeSocket != 0 {
			return "unix:path=" + bus
		}
	}
	return ""
}

// SecretService talks the freedesktop Secret Service API over D-Bus. Its
// entries carry the attributes service=secr and username=ACCOUNT, as
// libsecret's and go-keyring's do ('secret-tool lookup service secr
// username URL' finds one). It never shows a prompt: a locked collection
// is an error.
type SecretService struct {
	// Address is the session bus's D-Bus address ("" = none).
	Address string
	// Timeout bounds one operation (0 = 10s): a keyring that does not
	// answer is an error, not a hang.
	Timeout time.Duration
}

const (
	ssName        = "org.freedesktop.secrets"
	ssPath        = dbus.ObjectPath("/org/freedesktop/secrets")
	ssService     = "org.freedesktop.Secret.Service"
	ssCollection  = "org.freedesktop.Secret.Collection"
	ssItem        = "org.freedesktop.Secret.Item"
	ssDefault     = dbus.ObjectPath("/org/freedesktop/secrets/aliases/default")
	ssNoPrompt    = dbus.ObjectPath("/")
	ssContentType = "text/plain; charset=utf8"
)

// ssSecret is the Secret Service's Secret struct (oayays).
type ssSecret struct {
	Session     dbus.ObjectPath
	Parameters  []byte
	Value       []byte
	ContentType string
}

// Name implements Keyring.
func (s *SecretService) Name() string { return "the Secret Service keyring" }

// conn is one connection to the session bus with a Secret Service session.
type ssConn struct {
	ctx     context.Context
	bus     *dbus.Conn
	svc     dbus.BusObject
	session dbus.ObjectPath
}

// open connects to the bus and, unless search is nil, sends the
// SearchItems call for search alongside OpenSession (one round trip fewer
// on every `secr run`).
func (s *SecretService) open(search map[string]string) (*ssConn, *dbus.Call, func(), error) {
	if s.Address == "" {
		return nil, nil, nil, fmt.Errorf("%w: no D-Bus session bus (DBUS_SESSION_BUS_ADDRESS is not set)", ErrNoKeyring)
	}
	timeout := s.Timeout
	if timeout == 0 {
		timeout = 10 * time.Second
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	bus, err := dbus.Connect(s.Address, dbus.WithContext(ctx))
	if err != nil {
		cancel()
		return nil, nil, nil, fmt.Errorf("%w: cannot connect to the D-Bus session bus: %v", ErrNoKeyring, err)
	}
	done := func() { bus.Close(); cancel() }
	c := &ssConn{ctx: ctx, bus: bus, svc: bus.Object(ssName, ssPath)}
	sessionCall := c.svc.GoWithContext(ctx, ssService+".OpenSession", 0, nil, "plain", dbus.MakeVariant(""))
	var searchCall *dbus.Call
	if search != nil {
		searchCall = c.svc.GoWithContext(ctx, ssService+".SearchItems", 0, nil, search)
	}
	<-sessionCall.Done
	var ignored dbus.Variant
	// OpenSession is also the probe: nothing providing the Secret Service
	// on the bus (and nothing activatable) is "no keyring".
	if err := sessionCall.Store(&ignored, &c.session); err != nil {
		done()
		var de dbus.Error
		if errors.As(err, &de) && (de.Name == "org.freedesktop.DBus.Error.ServiceUnknown" || de.Name == "org.freedesktop.DBus.Error.NameHasNoOwner") {
			return nil, nil, nil, fmt.Errorf("%w: nothing provides the Secret Service (%s) on the session bus", ErrNoKeyring, ssName)
		}
		return nil, nil, nil, ssErr("open a Secret Service session", ctx, err)
	}
	if searchCall != nil {
		<-searchCall.Done
	}
	return c, searchCall, done, nil
}

// ssErr gives a D-Bus error its context, and names a time-out as such.
func ssErr(what string, ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return fmt.Errorf("%s: the Secret Service did not answer in time", what)
	}
	var de dbus.Error
	if errors.As(err, &de) && strings.HasSuffix(de.Name, ".IsLocked") {
		return fmt.Errorf("%s: %w", what, ErrKeyringLocked)
	}
	return fmt.Errorf("%s: %w", what, err)
}

func ssAttributes(account string) map[string]string {
	return map[string]string{"service": KeyringService, "username": account}
}

// found returns the unlocked and locked items a SearchItems call found.
func (c *ssConn) found(search *dbus.Call) (unlocked, locked []dbus.ObjectPath, err error) {
	if err := search.Store(&unlocked, &locked); err != nil {
		return nil, nil, ssErr("search the Secret Service", c.ctx, err)
	}
	return unlocked, locked, nil
}

// Get implements Keyring.
func (s *SecretService) Get(account string) (string, error) {
	c, search, done, err := s.open(ssAttributes(account))
	if err != nil {
		return "", err
	}
	defer done()
	unlocked, locked, err := c.found(search)
	if err != nil {
		return "", err
	}
	if len(unlocked) == 0 {
		if len(locked) > 0 {
			return "", ErrKeyringLocked
		}
		return "", ErrKeyringNotFound
	}
	var sec ssSecret
	if err := c.bus.Object(ssName, unlocked[0]).CallWithContext(c.ctx, ssItem+".GetSecret", 0, c.session).Store(&sec); err != nil {
		return "", ssErr("read the Secret Service entry", c.ctx, err)
	}
	return string(sec.Value), nil
}

// Set implements Keyring. The entry goes into the default collection
// (the "login" keyring), which must be unlocked.
func (s *SecretService) Set(account, label, secret string) error {
	c, _, done, err := s.open(nil)
	if err != nil {
		return err
	}
	defer done()
	coll := c.bus.Object(ssName, ssDefault)
	var isLocked bool
	if err := coll.CallWithContext(c.ctx, "org.freedesktop.DBus.Properties.Get", 0, ssCollection, "Locked").Store(&isLocked); err != nil {
		var de dbus.Error
		if errors.As(err, &de) && (strings.Contains(de.Name, "NoSuchObject") || strings.Contains(de.Name, "UnknownObject") || strings.Contains(de.Name, "UnknownMethod")) {
			return errors.New("the Secret Service has no default keyring (collection): create one, e.g. by logging in to a desktop session or with 'gnome-keyring-daemon --unlock'")
		}
		return ssErr("check the default keyring", c.ctx, err)
	}
	if isLocked {
		return ErrKeyringLocked
	}
	props := map[string]dbus.Variant{
		ssItem + ".Label":      dbus.MakeVariant(label),
		ssItem + ".Attributes": dbus.MakeVariant(ssAttributes(account)),
	}
	sec := ssSecret{Session: c.session, Parameters: []byte{}, Value: []byte(secret), ContentType: ssContentType}
	var item, prompt dbus.ObjectPath
	if err := coll.CallWithContext(c.ctx, ssCollection+".CreateItem", 0, props, sec, true).Store(&item, &prompt); err != nil {
		return ssErr("store the entry in the Secret Service", c.ctx, err)
	}
	if prompt != ssNoPrompt {
		return fmt.Errorf("the Secret Service wants an interactive confirmation to store the entry: %w", ErrKeyringLocked)
	}
	return nil
}

// Delete implements Keyring.
func (s *SecretService) Delete(account string) error {
	c, search, done, err := s.open(ssAttributes(account))
	if err != nil {
		return err
	}
	defer done()
	unlocked, locked, err := c.found(search)
	if err != nil {
		return err
	}
	if len(locked) > 0 {
		return ErrKeyringLocked
	}
	for _, item := range unlocked {
		var prompt dbus.ObjectPath
		if err := c.bus.Object(ssName, item).CallWithContext(c.ctx, ssItem+".Delete", 0).Store(&prompt); err != nil {
			return ssErr("delete the Secret Service entry", c.ctx, err)
		}
		if prompt != ssNoPrompt {
			return fmt.Errorf("the Secret Service wants an interactive confirmation to delete the entry: %w", ErrKeyringLocked)
		}
	}
	return nil
}
