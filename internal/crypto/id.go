package crypto

import (
	"crypto/rand"
	"encoding/base32"
	"strings"
)

var idEncoding = base32.StdEncoding.WithPadding(base32.NoPadding)

// NewID returns prefix + "_" + 26 random base32 characters (128 bits),
// for object IDs that clients must know before the server does, such as the
// environment ID bound into a wrapped key.
func NewID(prefix string) string {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic("secr/crypto: read random id: " + err.Error()) // crypto/rand does not fail on supported platforms
	}
	return prefix + "_" + strings.ToLower(idEncoding.EncodeToString(b[:]))
}
