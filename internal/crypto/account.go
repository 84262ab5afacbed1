package crypto

import (
	"crypto/rand"
	"encoding/base32"
	"fmt"
	"strings"

	"golang.org/x/crypto/argon2"

	"github.com/secr-dev/secr/internal/kdf"
)

// GenerateSalt returns a fresh random salt for a new account.
func GenerateSalt() ([]byte, error) {
	salt := make([]byte, kdf.SaltSize)
	if _, err := rand.Read(salt); err != nil {
		return nil, fmt.Errorf("read random salt: %w", err)
	}
	return salt, nil
}

// AccountKeys are the two keys derived from a password. AuthKey is sent to
// the server at login; the key-encryption key stays inside this value and is
// only used to seal and open the account Identity.
type AccountKeys struct {
	authKey [32]byte
	kek     [32]byte
}

// DeriveAccountKeys stretches password with Argon2id and splits the result
// with HKDF-SHA256. It is deliberately slow (hundreds of milliseconds with
// kdf.Default).
func DeriveAccountKeys(password, salt []byte, p kdf.Params) (*AccountKeys, error) {
	if len(salt) != kdf.SaltSize {
		return nil, fmt.Errorf("salt must be %d bytes, got %d", kdf.SaltSize, len(salt))
	}
	if p.Time == 0 || p.MemoryKiB < 8 || p.Threads == 0 {
		return nil, fmt.Errorf("invalid argon2id parameters t=%d m=%d p=%d", p.Time, p.MemoryKiB, p.Threads)
	}
	master := argon2.IDKey(password, salt, p.Time, p.MemoryKiB, p.Threads, 32)
	return &AccountKeys{authKey: deriveKey(master, infoAuth), kek: deriveKey(master, infoKEK)}, nil
}

// AuthKey returns the key that proves knowledge of the password to the
// server. The server stores only a hash of it.
func (k *AccountKeys) AuthKey() []byte { return append([]byte(nil), k.authKey[:]...) }

func accountAD(userID string) string { return "secr/v1/account-key|" + userID }

// SealIdentity seals id for storage on the server, bound to userID.
func (k *AccountKeys) SealIdentity(userID string, id *Identity) ([]byte, error) {
	return seal(k.kek, accountAD(userID), id.priv[:])
}

// OpenIdentity opens an Identity sealed by SealIdentity for the same userID.
func (k *AccountKeys) OpenIdentity(userID string, sealed []byte) (*Identity, error) {
	return openIdentity(k.kek, userID, sealed)
}

func openIdentity(key [32]byte, userID string, sealed []byte) (*Identity, error) {
	priv, err := open(key, accountAD(userID), sealed)
	if err != nil {
		return nil, err
	}
	return newIdentity(priv)
}

// RecoveryCode is a high-entropy code, shown once at sign-up, that seals a
// second copy of the account Identity. Because it carries 256 bits of
// entropy it needs no password stretching.
type RecoveryCode struct {
	secret [32]byte
}

var recoveryEncoding = base32.StdEncoding.WithPadding(base32.NoPadding)

// GenerateRecoveryCode returns a new random recovery code.
func GenerateRecoveryCode() (*RecoveryCode, error) {
	s, err := random32()
	if err != nil {
		return nil, fmt.Errorf("read random recovery code: %w", err)
	}
	return &RecoveryCode{secret: s}, nil
}

// ParseRecoveryCode parses the form produced by String. Dashes, spaces and
// case are ignored so that a code typed back from paper still parses.
func ParseRecoveryCode(s string) (*RecoveryCode, error) {
	clean := strings.ToUpper(strings.NewReplacer("-", "", " ", "").Replace(strings.TrimSpace(s)))
	b, err := recoveryEncoding.DecodeString(clean)
	if err != nil || len(b) != 32 {
		return nil, fmt.Errorf("malformed recovery code")
	}
	var c RecoveryCode
	copy(c.secret[:], b)
	return &c, nil
}

// String returns the code in groups of four characters.
func (c *RecoveryCode) String() string {
	enc := recoveryEncoding.EncodeToString(c.secret[:])
	var groups []string
	for len(enc) > 4 {
		groups = append(groups, enc[:4])
		enc = enc[4:]
	}
	groups = append(groups, enc)
	return strings.Join(groups, "-")
}

// AuthKey proves knowledge of the recovery code to the server, which
// stores only its hash.
func (c *RecoveryCode) AuthKey() []byte {
	k := deriveKey(c.secret[:], infoRecoveryAuth)
	return k[:]
}

// SealIdentity seals id under the recovery code, bound to userID.
func (c *RecoveryCode) SealIdentity(userID string, id *Identity) ([]byte, error) {
	return seal(deriveKey(c.secret[:], infoRecovery), accountAD(userID), id.priv[:])
}

// OpenIdentity opens an Identity sealed by SealIdentity.
func (c *RecoveryCode) OpenIdentity(userID string, sealed []byte) (*Identity, error) {
	return openIdentity(deriveKey(c.secret[:], infoRecovery), userID, sealed)
}
