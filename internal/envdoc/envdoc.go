// Package envdoc is the plaintext document sealed into each revision: the
// whole contents of one environment. It exists only on clients.
package envdoc

import (
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/secr-dev/secr/internal/dotenv"
)

// Secret is one variable of a document.
type Secret struct {
	Name, Value string
	// NotSecret marks configuration that need not be masked or hidden
	// (a public URL, a feature flag).
	NotSecret bool
}

// Doc is the content of one revision: its secrets, kept sorted by name.
//
// A Doc is a sorted slice rather than a map because `secr run` reads each
// secret once, in order, to build a program's environment: Parse reads
// the sorted document Marshal writes straight into that order, with no
// map to build (at 10,000 secrets the map was a quarter of `secr run`'s
// CPU time). Lookups are binary searches.
type Doc struct {
	Version int
	secrets []Secret // sorted by Name, no name twice
}

// New returns an empty document.
func New() *Doc { return &Doc{Version: 1} }

// jsonDoc is the document's JSON shape: what Marshal writes, and what
// Parse falls back to encoding/json for when the fast parser declines.
type jsonDoc struct {
	Version int                   `json:"v"`
	Secrets map[string]jsonSecret `json:"secrets"`
}

type jsonSecret struct {
	Value     string `json:"value"`
	NotSecret bool   `json:"not_secret,omitempty"`
}

// Parse decodes a document opened from a revision. A malformed document
// is an error, never a partial result.
func Parse(b []byte) (*Doc, error) {
	d, ok := parseFast(b)
	if !ok {
		var err error
		if d, err = parseJSON(b); err != nil {
			return nil, fmt.Errorf("decode environment document: %w", err)
		}
	}
	if d.Version != 1 {
		return nil, fmt.Errorf("environment document version %d is not supported by this secr; upgrade secr", d.Version)
	}
	for i := range d.secrets {
		if err := ValidateName(d.secrets[i].Name); err != nil {
			return nil, fmt.Errorf("decode environment document: %w", err)
		}
	}
	return d, nil
}

// parseJSON decodes b with encoding/json.
func parseJSON(b []byte) (*Doc, error) {
	var j jsonDoc
	if err := json.Unmarshal(b, &j); err != nil {
		return nil, err
	}
	d := &Doc{Version: j.Version, secrets: make([]Secret, 0, len(j.Secrets))}
	for name, s := range j.Secrets {
		d.secrets = append(d.secrets, Secret{Name: name, Value: s.Value, NotSecret: s.NotSecret})
	}
	slices.SortFunc(d.secrets, func(a, b Secret) int { return strings.Compare(a.Name, b.Name) })
	return d, nil
}

// Marshal encodes d: `{"v":1,"secrets":{"NAME":{"value":"…"},…}}` with the
// names in sorted order, exactly as encoding/json encodes that shape (a map
// of names), so equal documents encode equally.
func (d *Doc) Marshal() []byte {
	size := len(`{"v":,"secrets":{}}`) + 20
	for i := range d.secrets {
		size += len(d.secrets[i].Name) + len(d.secrets[i].Value) + len(`"":{"value":"","not_secret":true},`)
	}
	b := make([]byte, 0, size)
	b = append(b, `{"v":`...)
	b = strconv.AppendInt(b, int64(d.Version), 10)
	b = append(b, `,"secrets":{`...)
	for i := range d.secrets {
		s := &d.secrets[i]
		if i > 0 {
			b = append(b, ',')
		}
		b = appendJSONString(b, s.Name)
		b = append(b, `:{"value":`...)
		b = appendJSONString(b, s.Value)
		if s.NotSecret {
			b = append(b, `,"not_secret":true`...)
		}
		b = append(b, '}')
	}
	return append(b, "}}"...)
}

// appendJSONString appends s as encoding/json writes it: printable ASCII
// other than " \ < > & as it is, anything else through encoding/json.
func appendJSONString(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= 0x7f || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			q, err := json.Marshal(s)
			if err != nil {
				panic("envdoc: marshal: " + err.Error()) // unreachable: a string always encodes
			}
			return append(b, q...)
		}
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
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

// find returns where name is, or would be inserted, in d.secrets.
func (d *Doc) find(name string) (int, bool) {
	return slices.BinarySearchFunc(d.secrets, name, func(s Secret, name string) int { return strings.Compare(s.Name, name) })
}

// Set validates and stores one secret. A new name is inserted in sorted
// order: cheap at the end, a copy of the names after it elsewhere.
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
	s := Secret{Name: name, Value: value, NotSecret: notSecret}
	if i, ok := d.find(name); ok {
		d.secrets[i] = s
	} else {
		d.secrets = slices.Insert(d.secrets, i, s)
	}
	return nil
}

// Lookup returns the secret called name.
func (d *Doc) Lookup(name string) (Secret, bool) {
	if i, ok := d.find(name); ok {
		return d.secrets[i], true
	}
	return Secret{}, false
}

// Delete removes name and reports whether it was there.
func (d *Doc) Delete(name string) bool {
	i, ok := d.find(name)
	if ok {
		d.secrets = slices.Delete(d.secrets, i, i+1)
	}
	return ok
}

// Replace makes d's secrets a copy of src's.
func (d *Doc) Replace(src *Doc) {
	d.secrets = slices.Clone(src.secrets)
}

// Len returns the number of secrets.
func (d *Doc) Len() int { return len(d.secrets) }

// Secrets returns the secrets sorted by name (each name once). The slice
// is d's own, not a copy: read it, do not change it.
func (d *Doc) Secrets() []Secret { return slices.Clip(d.secrets) }

// Names returns the secret names, sorted.
func (d *Doc) Names() []string {
	names := make([]string, len(d.secrets))
	for i := range d.secrets {
		names[i] = d.secrets[i].Name
	}
	return names
}

// Values returns name → value.
func (d *Doc) Values() map[string]string {
	m := make(map[string]string, len(d.secrets))
	for i := range d.secrets {
		m[d.secrets[i].Name] = d.secrets[i].Value
	}
	return m
}

// Changes lists which names differ between two documents.
type Changes struct {
	Added   []string `json:"added,omitempty"`
	Changed []string `json:"changed,omitempty"`
	Removed []string `json:"removed,omitempty"`
}

// Diff compares old (which may be nil) with new. Each list is sorted.
func Diff(old, new *Doc) Changes {
	if old == nil {
		old = New()
	}
	var c Changes
	a, b := old.secrets, new.secrets
	for len(a) > 0 || len(b) > 0 {
		switch {
		case len(b) == 0 || len(a) > 0 && a[0].Name < b[0].Name:
			c.Removed = append(c.Removed, a[0].Name)
			a = a[1:]
		case len(a) == 0 || b[0].Name < a[0].Name:
			c.Added = append(c.Added, b[0].Name)
			b = b[1:]
		default:
			if a[0] != b[0] {
				c.Changed = append(c.Changed, b[0].Name)
			}
			a, b = a[1:], b[1:]
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

// SortByName returns a copy of secrets sorted by name, of a name given more
// than once the last one given (as encoding/json keeps the last of a
// repeated key).
func SortByName(secrets []Secret) []Secret {
	s := slices.Clone(secrets)
	slices.SortStableFunc(s, func(a, b Secret) int { return strings.Compare(a.Name, b.Name) })
	out := s[:0]
	for i := range s {
		if i+1 < len(s) && s[i+1].Name == s[i].Name {
			continue
		}
		out = append(out, s[i])
	}
	return out
}
