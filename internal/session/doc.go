// Package session is the heart of the secr client: everything between a
// parsed command line and the server, with no terminal and no cobra in it.
//
// A Session is one authenticated principal (a logged-in user, or a service
// token from SECR_TOKEN / SECR_TOKEN_FILE) on one server. Its methods do
// the client's security work:
//
//   - Load fetches an environment's latest revision and this principal's
//     wrapped key in one request, unwraps the key, opens the revision,
//     refuses a revision older than one this machine has already opened
//     (rollback detection), and keeps the encrypted answer in the offline
//     cache (see UseCache).
//   - Update is a read-modify-write of the secrets document that re-reads
//     and retries when another writer wins, so no update is lost.
//   - History opens every revision and diffs them on the client.
//   - Watch follows an environment's change stream.
//
// Accounts (Signup, Login, Recover, ChangePassword) derive and seal keys
// here too, so the password and the account key never leave this package
// except into the credentials file.
//
// Targets are resolved from plain values (ResolveTarget): flags, then
// environment variables, then .secr.json, then defaults. Warnings and
// notices go through the functions in Options; nothing here prints.
//
// Errors that change what a caller does are sentinels: ErrIntegrity (the
// server, the cache or the network gave data that failed authentication or
// went backwards), ErrNotLoggedIn, ErrReadOnly and ErrNoChange. Wrong input
// is reported with an error that has an IsUsage method, and a suggested next
// step can be read with Hint.
package session
