// Package kdf holds the Argon2id cost parameters that client and server
// agree on: one type, the default, and the bounds a client accepts. It has
// no cryptography in it (internal/crypto does the stretching), so the server
// can check a sign-up's parameters without linking the client's crypto.
package kdf

import "fmt"

// SaltSize is the size of the random per-user Argon2id salt.
const SaltSize = 16

// Params are the Argon2id costs used to stretch a password. They are stored
// beside each user's salt so that costs can be raised later.
type Params struct {
	Time      uint32 `json:"t"`
	MemoryKiB uint32 `json:"m"`
	Threads   uint8  `json:"p"`
}

// Default returns the costs every new password is stretched with: t=3,
// m=64 MiB, p=4. It is also the floor a client accepts from a server.
func Default() Params {
	return Params{Time: 3, MemoryKiB: 64 * 1024, Threads: 4}
}

// Ceiling is the most a client will spend on one login. A server that asks
// for more could make every login exhaust the client's memory or CPU.
func Ceiling() Params {
	return Params{Time: 10, MemoryKiB: 1024 * 1024, Threads: 16}
}

// AtLeast reports whether p costs at least as much as min in every
// dimension. A server that lowered the costs could brute-force the password
// from the auth key, so clients refuse weaker parameters.
func (p Params) AtLeast(min Params) bool {
	return p.Time >= min.Time && p.MemoryKiB >= min.MemoryKiB && p.Threads >= min.Threads
}

// CheckFromServer returns an error unless p lies between Default and
// Ceiling: what a client accepts from a server before it stretches a
// password and sends the result.
func (p Params) CheckFromServer() error {
	if !p.AtLeast(Default()) {
		return fmt.Errorf("the server asked for weaker password hashing than secr allows (t=%d m=%d p=%d); refusing to send a login key", p.Time, p.MemoryKiB, p.Threads)
	}
	if c := Ceiling(); !c.AtLeast(p) {
		return fmt.Errorf("the server asked for more costly password hashing than secr allows (t=%d m=%d KiB p=%d, at most t=%d m=%d KiB p=%d); refusing to stretch the password", p.Time, p.MemoryKiB, p.Threads, c.Time, c.MemoryKiB, c.Threads)
	}
	return nil
}
