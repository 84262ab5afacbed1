// Package trust implements secr's trust model v2 (TRUST.md §1–§5): the
// checks that let a client hold out against a server that lies, not only
// against one whose database leaks.
//
// In v1 the client believes the server about who is a member, which public
// key belongs to whom, which environment is called "production" and which
// revision is the latest. In v2 it believes only signatures, and decides who
// may sign what from an append-only log that the org's members sign: the
// org chain. The server stores and serves that log; it cannot forge, drop
// or reorder entries without the client noticing.
//
// # Pieces
//
//   - A [Principal] is the public identity of a user or a service token: ID,
//     kind, email or token name, an X25519 key (environment keys are wrapped
//     to it, as in v1) and an Ed25519 key (its signatures). People compare
//     its [Principal.SafetyNumber]. The private halves are a
//     [crypto.Identity] and a [SigningKey]; a [Signer] is a SigningKey with
//     the principal ID it signs as.
//   - A [Token] is a v2 service token. It derives its auth key, its X25519
//     Identity and its SigningKey from one secret, and carries the first 16
//     bytes of its org's anchor.
//   - An [Invite] is an invitation code: a secret whose MAC over the
//     invitee's Principal lets the admin's client refuse a substituted key
//     before it signs [AddMember], and the org anchor for the invitee.
//   - An [Entry] is one signed step of the org chain; its body is an [Op]
//     such as [AddMember] or [RotateKey]. Each Op's documentation says who
//     may sign it.
//   - A [State] is a verified chain, replayed: members and roles,
//     environments by ID and name, who could read or write what at every
//     entry, key versions. It is immutable, encodes compactly for a cache
//     ([State.Bytes], [ParseState]) and grows with [State.Extend].
//   - A [Grant] is a wrapped environment key signed by the key holder who
//     wrapped it; [State.OpenGrant] unwraps it only if the chain says that
//     key holder had access.
//   - A [Header] describes one revision: environment, key version, number,
//     previous revision's hash, author and the chain entry the author relied
//     on, signed by the author. [State.SealRevision] writes one;
//     [State.OpenLatest], [State.OpenRevision] and [CheckLinks] read them.
//
// Every check that fails because of what the server sent returns an error
// matching [ErrIntegrity] (errors.Is), and a more specific sentinel such as
// [ErrFork] or [ErrBadSignature]. The CLI turns ErrIntegrity into exit code
// 6. Nothing in this package warns and carries on.
//
// # How a client uses it
//
// Creating an org: generate the owner's keys, sign the root, and pin it.
//
//	root, err := trust.NewOrg(me, myPrincipal, orgID, "Acme")
//	st, err := trust.Verify([]*trust.Entry{root}, nil)
//	// send root.Bytes() to the server; cache st.Bytes(); st.Anchor() is the org anchor
//
// Changing the org: sign an Op on top of the cached State, send it, and
// extend the cache once the server has accepted it.
//
//	e, err := st.Append(me, trust.CreateEnv{EnvID: id, ProjectID: prj, Name: "production"})
//	// POST e.Bytes(); on success:
//	st, err = st.Extend([]*trust.Entry{e})
//
// Every command that reads or writes secrets first brings its State up to
// date. A client with a cache asks for the entries from its head,
// inclusive, so that a rewritten or shortened chain shows:
//
//	st, err := trust.ParseState(cached)
//	st, err = st.Extend(entriesFromServer) // ErrFork, ErrTruncated, ErrBadSignature, ...
//
// A machine with no state verifies from the root. With a service token the
// anchor comes from the token; otherwise it is trust on first use (nil), and
// the CLI shows the org and its owner's safety number and pins the result.
//
//	st, err := trust.Verify(entries, tok.Anchor())
//
// 'secr run' then looks the environment up by name in the chain, never
// trusting the server's name for an ID, unwraps its key, checks the history
// since the revision it saw last, and opens the newest revision:
//
//	env, ok := st.LookupEnv(projectID, "production")
//	ek, err := st.OpenGrant(grant, myIdentity) // see EnvKey about its type
//	err = trust.CheckLinks(lastSeen, headersSince) // ErrRollback, ErrBrokenHistory
//	doc, err := st.OpenLatest(env.ID, newest, ciphertext, ek)
//	// store newest.Position() as lastSeen
//
// Writing seals the whole new document on top of the newest header, under
// the current key version, and signs it:
//
//	h, ct, err := st.SealRevision(me, ek, newest, doc)
//
// Removing access is one entry and one rotation: append [RemoveMember] or
// [RevokeAccess], then rotate each environment the member could read, as
// [RotateKey] describes.
//
// # What it does not do
//
// It keeps no clock: a token's expiry is recorded in the chain and enforced
// by the server. It cannot give freshness to a machine with no state: a
// server can show a CI runner an older, authentic chain and revision
// (TRUST.md §6). It does not talk to the network, the database or the disk;
// callers move the bytes.
package trust
