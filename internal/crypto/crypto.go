package crypto

import (
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"

	"golang.org/x/crypto/chacha20poly1305"
)

// ErrDecrypt is returned whenever authenticated decryption fails: the data
// was tampered with, belongs to another environment or revision, or the key
// is wrong. Callers cannot and should not tell these cases apart.
var ErrDecrypt = errors.New("decryption failed: the data was modified or does not belong here")

// HKDF info strings. Changing one changes every derived key.
const (
	infoAuth         = "secr/v1/auth"
	infoKEK          = "secr/v1/kek"
	infoData         = "secr/v1/data"
	infoRecovery     = "secr/v1/recovery"
	infoRecoveryAuth = "secr/v1/recovery-auth"
	infoTokenAuth    = "secr/v1/token-auth"
	infoTokenKey     = "secr/v1/token-key"
)

func deriveKey(secret []byte, info string) [32]byte {
	var out [32]byte
	k, err := hkdf.Key(sha256.New, secret, nil, info, 32)
	if err != nil {
		// Only possible for absurd lengths; 32 bytes of SHA-256 output is fine.
		panic("secr/crypto: hkdf: " + err.Error())
	}
	copy(out[:], k)
	return out
}

// seal encrypts plaintext with XChaCha20-Poly1305 under key, binding ad.
// The random 24-byte nonce is prepended to the ciphertext.
func seal(key [32]byte, ad string, plaintext []byte) ([]byte, error) {
	aead, err := chacha20poly1305.NewX(key[:])
	if err != nil {
		return nil, err
	}
	out := make([]byte, chacha20poly1305.NonceSizeX, chacha20poly1305.NonceSizeX+len(plaintext)+aead.Overhead())
	if _, err := rand.Read(out); err != nil {
		return nil, fmt.Errorf("read random nonce: %w", err)
	}
	return aead.Seal(out, out, plaintext, []byte(ad)), nil
}

func open(key [32]byte, ad string, sealed []byte) ([]byte, error) {
	aead, err := chacha20poly1305.NewX(key[:])
	if err != nil {
		return nil, err
	}
	if len(sealed) < chacha20poly1305.NonceSizeX+aead.Overhead() {
		return nil, ErrDecrypt
	}
	nonce, ct := sealed[:chacha20poly1305.NonceSizeX], sealed[chacha20poly1305.NonceSizeX:]
	pt, err := aead.Open(nil, nonce, ct, []byte(ad))
	if err != nil {
		return nil, ErrDecrypt
	}
	return pt, nil
}

func random32() ([32]byte, error) {
	var b [32]byte
	_, err := rand.Read(b[:])
	return b, err
}
