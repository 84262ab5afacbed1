// Package envdoc is the plaintext document sealed into each revision: the
// whole contents of one environment. It exists only on clients.
package envdoc

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"

	"github.com/secr-dev/secr/internal/dotenv"
)

// Secret is one variable with its per-secret flags.
type Secret struct {
	Value string `json:"value"`
	// NotSecret marks configuration that need not be masked or hidden
	// (a public URL, a feature flag).
	NotSecret bool `json:"not_secret,omitempty"`
}

// Doc is the content of one revision.
type Doc struct {
	Version int               `json:"v"`
	Secrets map[string]Secret `json:"secrets"`
}

// New returns an empty document.
func New() *Doc { return &Doc{Version: 1, Secrets: map[string]Secret{}} }

// Parse decodes a document opened from a revision.
func Parse(b []byte) (*Doc, error) {
	d, ok := parseFast(b)
	if !ok {
		d = &Doc{}
		if err := json.Unmarshal(b, d); err != nil {
			return nil, fmt.Errorf("decode environment document: %w", err)
		}
	}
	if d.Version != 1 {
		return nil, fmt.Errorf("environment document version %d is not supported by this secr; upgrade secr", d.Version)
	}
	if d.Secrets == nil {
		d.Secrets = map[string]Secret{}
	}
	for name := range d.Secrets {
		if err := ValidateName(name); err != nil {
			return nil, fmt.Errorf("decode environment document: %w", err)
		}
	}
	return d, nil
}

// Marshal encodes d. Keys are sorted, so equal documents encode equally.
func (d *Doc) Marshal() []byte {
	b, err := json.Marshal(d)
	if err != nil {
		panic("envdoc: marshal: " + err.Error()) // unreachable: only strings and bools
	}
	return b
}

// ValidateName checks that name can be an environment variable name.
func ValidateName(name string) error {
	if !dotenv.ValidName(name) {
		return fmt.Errorf("invalid secret name %q: names use letters, digits and _ and do not start with a digit", name)
	}
	return nil
}

// MaxVariableSize is the longest "NAME=value" (with its final NUL) that
// Linux passes to a program in one environment variable (MAX_ARG_STRLEN).
// A longer secret would be stored but could never be run.
const MaxVariableSize = 32 * 4096

// Set validates and stores one secret.
func (d *Doc) Set(name, value string, notSecret bool) error {
	if err := ValidateName(name); err != nil {
		return err
	}
	if strings.IndexByte(value, 0) >= 0 {
		return fmt.Errorf("value of %s contains a NUL byte, which an environment variable cannot hold", name)
	}
	if size := len(name) + 1 + len(value) + 1; size > MaxVariableSize {
		return fmt.Errorf("value of %s is %d bytes: one environment variable holds at most %d bytes with its name (Linux's limit), so no program could be started with it; keep large files out of the environment",
			name, len(value), MaxVariableSize-len(name)-2)
	}
	d.Secrets[name] = Secret{Value: value, NotSecret: notSecret}
	return nil
}

// Names returns the secret names, sorted.
func (d *Doc) Names() []string {
	names := make([]string, 0, len(d.Secrets))
	for n := range d.Secrets {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// Values returns name → value.
func (d *Doc) Values() map[string]string {
	m := make(map[string]string, len(d.Secrets))
	for n, s := range d.Secrets {
		m[n] = s.Value
	}
	return m
}

// Changes lists which names differ between two documents.
type Changes struct {
	Added   []string `json:"added,omitempty"`
	Changed []string `json:"changed,omitempty"`
	Removed []string `json:"removed,omitempty"`
}

// Diff compares old (which may be nil) with new.
func Diff(old, new *Doc) Changes {
	if old == nil {
		old = New()
	}
	var c Changes
	for _, n := range new.Names() {
		o, ok := old.Secrets[n]
		switch {
		case !ok:
			c.Added = append(c.Added, n)
		case o != new.Secrets[n]:
			c.Changed = append(c.Changed, n)
		}
	}
	for _, n := range old.Names() {
		if _, ok := new.Secrets[n]; !ok {
			c.Removed = append(c.Removed, n)
		}
	}
	return c
}

// String summarises the changes as "+A ~B -C".
func (c Changes) String() string {
	var parts []string
	for _, n := range c.Added {
		parts = append(parts, "+"+n)
	}
	for _, n := range c.Changed {
		parts = append(parts, "~"+n)
	}
	for _, n := range c.Removed {
		parts = append(parts, "-"+n)
	}
	if len(parts) == 0 {
		return "(no changes)"
	}
	return strings.Join(parts, " ")
}
