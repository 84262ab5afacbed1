//go:build darwin || windows

package config

import (
	"errors"
	"fmt"
	"runtime"

	gokeyring "github.com/zalando/go-keyring"
)

// OSKeyring is the macOS Keychain or Windows Credential Manager.
func OSKeyring(func(string) string) Keyring { return osKeyring{} }

type osKeyring struct{}

func (osKeyring) Name() string {
	if runtime.GOOS == "darwin" {
		return "the macOS Keychain"
	}
	return "Windows Credential Manager"
}

func (k osKeyring) Get(account string) (string, error) {
	v, err := gokeyring.Get(KeyringService, account)
	if errors.Is(err, gokeyring.ErrNotFound) {
		return "", ErrKeyringNotFound
	}
	if err != nil {
		return "", fmt.Errorf("read %s: %w", k.Name(), err)
	}
	return v, nil
}

func (k osKeyring) Set(account, _, secret string) error {
	if err := gokeyring.Set(KeyringService, account, secret); err != nil {
		return fmt.Errorf("write %s: %w", k.Name(), err)
	}
	return nil
}

func (k osKeyring) Delete(account string) error {
	err := gokeyring.Delete(KeyringService, account)
	if err != nil && !errors.Is(err, gokeyring.ErrNotFound) {
		return fmt.Errorf("delete from %s: %w", k.Name(), err)
	}
	return nil
}
