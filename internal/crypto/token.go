package crypto

import (
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"strings"
)

// ServiceTokenPrefix starts every service token, so that secret scanners can
// recognise one.
const ServiceTokenPrefix = "secr_st_"

// ServiceToken is a bearer credential for CI and machines: a 16-byte public
// ID and a 32-byte secret. The secret never reaches the server; an auth key
// and an Identity are derived from it.
type ServiceToken struct {
	id     [16]byte
	secret [32]byte
}

// GenerateServiceToken returns a new random service token.
func GenerateServiceToken() (*ServiceToken, error) {
	var t ServiceToken
	s, err := random32()
	if err != nil {
		return nil, fmt.Errorf("read random token: %w", err)
	}
	t.secret = s
	id, err := random32()
	if err != nil {
		return nil, fmt.Errorf("read random token: %w", err)
	}
	copy(t.id[:], id[:16])
	return &t, nil
}

// ParseServiceToken parses the form produced by String. The error never
// echoes the input.
func ParseServiceToken(s string) (*ServiceToken, error) {
	rest, ok := strings.CutPrefix(strings.TrimSpace(s), ServiceTokenPrefix)
	if !ok {
		return nil, fmt.Errorf("malformed service token: it must start with %q", ServiceTokenPrefix)
	}
	b, err := base64.RawURLEncoding.DecodeString(rest)
	if err != nil || len(b) != 48 {
		return nil, fmt.Errorf("malformed service token: wrong length or characters (was it copied whole?)")
	}
	var t ServiceToken
	copy(t.id[:], b[:16])
	copy(t.secret[:], b[16:])
	return &t, nil
}

// String returns the whole secret token. Print it once, never log it.
func (t *ServiceToken) String() string {
	return ServiceTokenPrefix + base64.RawURLEncoding.EncodeToString(append(t.id[:], t.secret[:]...))
}

// ID returns the public token ID, as the server knows it.
func (t *ServiceToken) ID() string { return "st_" + hex.EncodeToString(t.id[:]) }

// AuthKey returns the key that authenticates the token to the server.
func (t *ServiceToken) AuthKey() []byte {
	k := deriveKey(t.secret[:], infoTokenAuth)
	return k[:]
}

// Identity returns the token's principal key, to which environment keys
// are wrapped.
func (t *ServiceToken) Identity() *Identity {
	k := deriveKey(t.secret[:], infoTokenKey)
	id, err := newIdentity(k[:])
	if err != nil {
		panic("secr/crypto: derived identity: " + err.Error()) // unreachable: 32 bytes
	}
	return id
}
