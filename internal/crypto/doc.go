// Package crypto implements secr's key hierarchy (see DESIGN §3) behind a
// small API that callers cannot easily misuse: they never see nonces, raw
// keys or randomness.
//
// The pieces pair up as follows:
//
//   - [DeriveAccountKeys] turns a password into an [AccountKeys]: an auth key
//     that is sent to the server at login and a key-encryption key that never
//     leaves the client and seals the account [Identity].
//   - [Identity] (an X25519 private key) and [Recipient] (its public key) are
//     the two halves of a principal: a user or a service token.
//   - [EnvKey] is one version of an environment key. [WrapKey] wraps it to a
//     Recipient; [UnwrapKey] opens and checks it.
//   - [SealRevision] and [OpenRevision] seal one snapshot of an environment
//     under an EnvKey, bound to the environment, key version and revision.
//
// Only golang.org/x/crypto and the standard library are used.
package crypto
