package crypto

import (
	"crypto/subtle"
	"encoding/binary"
	"fmt"
	"strconv"

	"golang.org/x/crypto/nacl/box"
)

// EnvKey is one version of an environment key. It knows which environment
// and version it belongs to, so revisions sealed with it cannot be moved to
// another environment or key version.
type EnvKey struct {
	envID   string
	version int
	key     [32]byte
}

// GenerateEnvKey returns a new random key for version of envID.
func GenerateEnvKey(envID string, version int) (*EnvKey, error) {
	if envID == "" || version < 1 {
		return nil, fmt.Errorf("invalid environment key identity %q v%d", envID, version)
	}
	k, err := random32()
	if err != nil {
		return nil, fmt.Errorf("read random environment key: %w", err)
	}
	return &EnvKey{envID: envID, version: version, key: k}, nil
}

// EnvID returns the ID of the environment the key belongs to.
func (k *EnvKey) EnvID() string { return k.envID }

// Version returns the key version.
func (k *EnvKey) Version() int { return k.version }

// WrapKey wraps k for the holder of to's Identity with an anonymous
// nacl/box. The payload carries the environment ID and version, which
// UnwrapKey checks.
func WrapKey(k *EnvKey, to *Recipient) ([]byte, error) {
	payload := make([]byte, 0, 2+len(k.envID)+4+32)
	payload = binary.BigEndian.AppendUint16(payload, uint16(len(k.envID)))
	payload = append(payload, k.envID...)
	payload = binary.BigEndian.AppendUint32(payload, uint32(k.version))
	payload = append(payload, k.key[:]...)
	out, err := box.SealAnonymous(nil, payload, &to.pub, nil)
	if err != nil {
		return nil, fmt.Errorf("wrap environment key: %w", err)
	}
	return out, nil
}

// UnwrapKey opens a key wrapped by WrapKey and checks that it is version of
// envID. Any mismatch or tampering returns ErrDecrypt.
func UnwrapKey(wrapped []byte, envID string, version int, id *Identity) (*EnvKey, error) {
	pub := id.pub()
	payload, ok := box.OpenAnonymous(nil, wrapped, &pub, &id.priv)
	if !ok || len(payload) < 2 {
		return nil, ErrDecrypt
	}
	n := int(binary.BigEndian.Uint16(payload))
	if len(payload) != 2+n+4+32 {
		return nil, ErrDecrypt
	}
	gotEnv := payload[2 : 2+n]
	gotVersion := binary.BigEndian.Uint32(payload[2+n:])
	if subtle.ConstantTimeCompare(gotEnv, []byte(envID)) != 1 || int64(gotVersion) != int64(version) {
		return nil, ErrDecrypt
	}
	k := &EnvKey{envID: envID, version: version}
	copy(k.key[:], payload[2+n+4:])
	return k, nil
}

func revisionAD(envID string, version int, rev int64) string {
	return "secr/v1/env|" + envID + "|" + strconv.Itoa(version) + "|" + strconv.FormatInt(rev, 10)
}

// SealRevision seals doc, the whole contents of revision rev, under k.
func SealRevision(k *EnvKey, rev int64, doc []byte) ([]byte, error) {
	if rev < 1 {
		return nil, fmt.Errorf("invalid revision %d", rev)
	}
	return seal(deriveKey(k.key[:], infoData), revisionAD(k.envID, k.version, rev), doc)
}

// OpenRevision opens a revision sealed by SealRevision with the same key,
// environment and revision number; anything else returns ErrDecrypt.
func OpenRevision(k *EnvKey, rev int64, sealed []byte) ([]byte, error) {
	return open(deriveKey(k.key[:], infoData), revisionAD(k.envID, k.version, rev), sealed)
}

// DeriveKey returns HKDF-SHA256 of the key with info as the info string:
// the v2 revision format (internal/trust) derives its data key this way, so
// that the raw key never leaves this package.
func (k *EnvKey) DeriveKey(info string) [32]byte { return deriveKey(k.key[:], info) }

const infoKeyToSelf = "secr/v2/key-to-self"

func keyToSelfAD(envID string, version int, ad string) string {
	return "secr/v2/key-to-self|" + envID + "|" + strconv.Itoa(version) + "|" + ad
}

// SealKeyToSelf seals k so that only i can open it again, bound to k's
// environment and version and to ad. A client keeps such a copy beside a
// snapshot it verified (trust.State.SealReceipt), so that opening the same
// snapshot again needs no public-key operation. Its key is derived from i
// under its own label: nothing else sealed by i opens as one.
func (i *Identity) SealKeyToSelf(k *EnvKey, ad string) ([]byte, error) {
	return seal(deriveKey(i.priv[:], infoKeyToSelf), keyToSelfAD(k.envID, k.version, ad), k.key[:])
}

// OpenKeyFromSelf opens what SealKeyToSelf sealed for version of envID
// under ad (ErrDecrypt for anything else).
func (i *Identity) OpenKeyFromSelf(sealed []byte, envID string, version int, ad string) (*EnvKey, error) {
	key, err := open(deriveKey(i.priv[:], infoKeyToSelf), keyToSelfAD(envID, version, ad), sealed)
	if err != nil || len(key) != 32 {
		return nil, ErrDecrypt
	}
	k := &EnvKey{envID: envID, version: version}
	copy(k.key[:], key)
	return k, nil
}
