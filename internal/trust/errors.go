package trust

import "errors"

// ErrIntegrity matches (with errors.Is) every error that means "what the
// server sent is not what the org's members signed": a bad signature, a fork,
// an unauthorised signer and so on. The CLI maps it to exit code 6 and never
// downgrades it to a warning. The more specific sentinels below say what
// failed; each of them also matches ErrIntegrity.
var ErrIntegrity = errors.New("integrity check failed")

// integrityError is a sentinel that also matches ErrIntegrity.
type integrityError string

func (e integrityError) Error() string        { return string(e) }
func (e integrityError) Is(target error) bool { return target == ErrIntegrity }

// Integrity failures. Each is wrapped with the detail (which entry, which
// principal), so print the whole error and branch with errors.Is.
var (
	// ErrMalformed: bytes that do not decode, or decode to out-of-range values.
	ErrMalformed error = integrityError("malformed data")
	// ErrBadSignature: a signature does not verify under the key the org
	// chain holds for its signer.
	ErrBadSignature error = integrityError("bad signature")
	// ErrUnauthorized: the signer, author or granter was not allowed to do
	// this at that point of the org chain.
	ErrUnauthorized error = integrityError("not authorised by the org chain")
	// ErrInvalid: a correctly signed entry that breaks a rule of the chain,
	// such as adding a member twice or granting access to an unknown environment.
	ErrInvalid error = integrityError("breaks an org chain rule")
	// ErrBadPrev: an org chain entry does not follow the one before it (wrong
	// sequence number or prev hash), so entries were dropped, reordered or edited.
	ErrBadPrev error = integrityError("org chain entry does not link to the previous one")
	// ErrFork: the server's chain differs from the one already verified here,
	// at a position this client had pinned.
	ErrFork error = integrityError("org chain fork: the server's chain differs from the one verified before")
	// ErrTruncated: the server's chain ends before the head this client had
	// already verified.
	ErrTruncated error = integrityError("org chain truncated: it is shorter than the one verified before")
	// ErrWrongAnchor: the chain's root is not the pinned anchor (or the
	// anchor carried in a service token), so it is another org's chain.
	ErrWrongAnchor error = integrityError("org chain root does not match the pinned anchor")
	// ErrStaleKey: a revision or grant uses a key version that the org chain
	// does not allow at that point: not yet introduced, or already replaced.
	ErrStaleKey error = integrityError("environment key version is not the current one")
	// ErrBrokenHistory: revision headers do not link (dropped, reordered or
	// replaced revisions).
	ErrBrokenHistory error = integrityError("revision history does not link")
	// ErrRollback: the server answered an older revision than one already seen.
	ErrRollback error = integrityError("revision is older than one already seen (rollback)")
)

// ErrOldToken is returned by ParseToken for a well-formed v1 service token
// (48 bytes, no org anchor). It is not an integrity failure: tell the user to
// create a new token.
var ErrOldToken = errors.New("service token is in the old format, which cannot verify the org: create a new token with 'secr tokens create'")
