package crypto

import (
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/secr-dev/secr/internal/api"
	"github.com/secr-dev/secr/internal/kdf"
)

// cheap keeps unit tests fast; production code always uses kdf.Default.
var cheap = kdf.Params{Time: 1, MemoryKiB: 64, Threads: 1}

func TestAccountRoundTrip(t *testing.T) {
	salt := bytes.Repeat([]byte{7}, kdf.SaltSize)
	k1, err := DeriveAccountKeys([]byte("correct horse"), salt, cheap)
	if err != nil {
		t.Fatal(err)
	}
	k2, _ := DeriveAccountKeys([]byte("correct horse"), salt, cheap)
	wrong, _ := DeriveAccountKeys([]byte("correct horsE"), salt, cheap)
	if !bytes.Equal(k1.AuthKey(), k2.AuthKey()) || bytes.Equal(k1.AuthKey(), wrong.AuthKey()) {
		t.Fatal("auth key is not a deterministic function of the password")
	}
	id, _ := GenerateIdentity()
	sealed, err := k1.SealIdentity("usr_1", id)
	if err != nil {
		t.Fatal(err)
	}
	got, err := k2.OpenIdentity("usr_1", sealed)
	if err != nil || got.String() != id.String() {
		t.Fatalf("open identity: %v", err)
	}
	if _, err := wrong.OpenIdentity("usr_1", sealed); !errors.Is(err, ErrDecrypt) {
		t.Fatalf("wrong password opened identity: %v", err)
	}
	if _, err := k1.OpenIdentity("usr_2", sealed); !errors.Is(err, ErrDecrypt) {
		t.Fatalf("identity sealed for another user opened: %v", err)
	}
}

// TestKnownAnswer pins the derivation so that an accidental change to the
// KDF, HKDF info strings or salt handling is caught: it would lock every
// existing user out.
func TestKnownAnswer(t *testing.T) {
	salt := []byte("0123456789abcdef")
	k, err := DeriveAccountKeys([]byte("password"), salt, cheap)
	if err != nil {
		t.Fatal(err)
	}
	const want = "b61741d258cbcde615a09de7d07b5693d7a78058adb509e075769b4c630331b7"
	if got := hex.EncodeToString(k.AuthKey()); got != want {
		t.Fatalf("auth key = %s, want %s", got, want)
	}
}

func TestRecoveryCode(t *testing.T) {
	c, _ := GenerateRecoveryCode()
	id, _ := GenerateIdentity()
	sealed, _ := c.SealIdentity("usr_1", id)
	typed := strings.ToLower(strings.ReplaceAll(c.String(), "-", " "))
	c2, err := ParseRecoveryCode(typed)
	if err != nil {
		t.Fatal(err)
	}
	got, err := c2.OpenIdentity("usr_1", sealed)
	if err != nil || got.String() != id.String() {
		t.Fatalf("recovery open: %v", err)
	}
	if _, err := ParseRecoveryCode("ABCD-EFGH"); err == nil {
		t.Fatal("short code parsed")
	}
}

func TestIdentityParse(t *testing.T) {
	id, _ := GenerateIdentity()
	id2, err := ParseIdentity(id.String())
	if err != nil || id2.Recipient().String() != id.Recipient().String() {
		t.Fatalf("identity round trip: %v", err)
	}
	r, err := ParseRecipient(id.Recipient().String())
	if err != nil || r.Fingerprint() != id.Recipient().Fingerprint() {
		t.Fatalf("recipient round trip: %v", err)
	}
	_, err = ParseIdentity("SECR-IDENTITY-c2VjcmV0")
	if err == nil || strings.Contains(err.Error(), "c2VjcmV0") {
		t.Fatalf("malformed identity error echoes input or is nil: %v", err)
	}
}

func TestEnvKeyWrapAndRevision(t *testing.T) {
	alice, _ := GenerateIdentity()
	mallory, _ := GenerateIdentity()
	ek, _ := GenerateEnvKey("env_a", 1)
	wrapped, err := WrapKey(ek, alice.Recipient())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := UnwrapKey(wrapped, "env_a", 1, mallory); !errors.Is(err, ErrDecrypt) {
		t.Fatal("another identity unwrapped the key")
	}
	if _, err := UnwrapKey(wrapped, "env_b", 1, alice); !errors.Is(err, ErrDecrypt) {
		t.Fatal("key for env_a accepted as env_b")
	}
	if _, err := UnwrapKey(wrapped, "env_a", 2, alice); !errors.Is(err, ErrDecrypt) {
		t.Fatal("key version 1 accepted as version 2")
	}
	k, err := UnwrapKey(wrapped, "env_a", 1, alice)
	if err != nil {
		t.Fatal(err)
	}
	doc := []byte(`{"A":"1"}`)
	sealed, err := SealRevision(ek, 3, doc)
	if err != nil {
		t.Fatal(err)
	}
	got, err := OpenRevision(k, 3, sealed)
	if err != nil || !bytes.Equal(got, doc) {
		t.Fatalf("open revision: %v", err)
	}
	if _, err := OpenRevision(k, 2, sealed); !errors.Is(err, ErrDecrypt) {
		t.Fatal("revision 3 opened as revision 2")
	}
	other, _ := GenerateEnvKey("env_b", 1)
	if _, err := OpenRevision(other, 3, sealed); !errors.Is(err, ErrDecrypt) {
		t.Fatal("revision opened under another environment's key")
	}
	for _, cut := range []int{0, 10, 24, len(sealed) - 1} {
		if _, err := OpenRevision(k, 3, sealed[:cut]); !errors.Is(err, ErrDecrypt) {
			t.Fatalf("truncated ciphertext (%d bytes) opened", cut)
		}
	}
}

// FuzzRevisionTamper checks that any single-byte change to a sealed revision
// is detected.
func FuzzRevisionTamper(f *testing.F) {
	f.Add(0, byte(1))
	f.Add(30, byte(0x80))
	f.Add(1000, byte(0xff))
	ek, _ := GenerateEnvKey("env_a", 1)
	sealed, _ := SealRevision(ek, 1, []byte(`{"secrets":{"KEY":{"value":"v"}}}`))
	f.Fuzz(func(t *testing.T, pos int, flip byte) {
		if flip == 0 {
			return
		}
		if pos < 0 {
			pos = -pos
		}
		tampered := append([]byte(nil), sealed...)
		tampered[pos%len(tampered)] ^= flip
		if _, err := OpenRevision(ek, 1, tampered); !errors.Is(err, ErrDecrypt) {
			t.Fatalf("tampered byte %d went undetected", pos%len(tampered))
		}
	})
}

func ExampleSealRevision() {
	ek, _ := GenerateEnvKey("env_123", 1)
	sealed, _ := SealRevision(ek, 1, []byte(`{"secrets":{}}`))
	doc, _ := OpenRevision(ek, 1, sealed)
	_, err := OpenRevision(ek, 2, sealed) // a different revision number is refused
	fmt.Println(string(doc), err != nil)
	// Output: {"secrets":{}} true
}

// TestRecipientFormatMatchesAPI: the server checks public keys with
// api.ValidPublicKey, without linking this package; both must agree.
func TestRecipientFormatMatchesAPI(t *testing.T) {
	id, _ := GenerateIdentity()
	if !api.ValidPublicKey(id.Recipient().String()) {
		t.Fatalf("api.ValidPublicKey refuses %q", id.Recipient().String())
	}
	for _, bad := range []string{"", "secrpk_", "secrpk_AAAA", "xx" + id.Recipient().String()[2:]} {
		if api.ValidPublicKey(bad) {
			t.Errorf("api.ValidPublicKey accepts %q", bad)
		}
		if _, err := ParseRecipient(bad); err == nil {
			t.Errorf("ParseRecipient accepts %q", bad)
		}
	}
}
