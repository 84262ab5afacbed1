package scan

import (
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"

	"github.com/secr-dev/secr/internal/dotenv"
)

// VarStatus classifies one variable of a dotenv file against secr.
type VarStatus string

const (
	Same      VarStatus = "same"      // secr holds this name with this value
	Different VarStatus = "different" // secr holds this name, with another value
	Missing   VarStatus = "missing"   // secr does not hold this name: import it
)

// VarPlan is one variable of a dotenv file. It never holds the value.
type VarPlan struct {
	Name   string
	Line   int
	Status VarStatus
	// Environments where secr holds the name with the file's value (Same),
	// or with another value (Different).
	Environments []string
}

// Plan says what `secr scan --fix` can do with one dotenv file.
type Plan struct {
	Path string
	Vars []VarPlan
	// Deletable is true only when secr holds every variable of the file
	// with the file's value: deleting it loses nothing.
	Deletable bool
	// Reason explains Deletable in one sentence, naming variables only.
	Reason string
}

// String summarises the plan without any value.
func (p Plan) String() string {
	var same, diff, miss []string
	for _, v := range p.Vars {
		switch v.Status {
		case Same:
			same = append(same, v.Name)
		case Different:
			diff = append(diff, v.Name)
		default:
			miss = append(miss, v.Name)
		}
	}
	var b strings.Builder
	b.WriteString(p.Path + ":")
	for _, g := range []struct {
		label string
		names []string
	}{{"in secr", same}, {"different in secr", diff}, {"not in secr", miss}} {
		if len(g.names) > 0 {
			fmt.Fprintf(&b, " %s: %s;", g.label, strings.Join(g.names, ", "))
		}
	}
	if p.Deletable {
		b.WriteString(" may be deleted")
	} else {
		b.WriteString(" keep: " + p.Reason)
	}
	return b.String()
}

// FixPlan classifies the entries of the dotenv file at path (as parsed by
// dotenv.Parse) against the secrets secr holds, NotSecret ones included:
// pass every environment that should count. A variable is Same when some
// environment holds its name with exactly the file's value, Different when
// secr holds the name with other values only, Missing otherwise. The file
// may be deleted only when every variable is Same; a file that did not
// parse should not reach FixPlan (keep it).
func FixPlan(path string, entries []dotenv.Entry, known []Secret) Plan {
	byName := map[string][]Secret{}
	for _, k := range known {
		byName[k.Name] = append(byName[k.Name], k)
	}
	p := Plan{Path: path, Deletable: true}
	var missing, different []string
	for _, e := range entries {
		v := VarPlan{Name: e.Name, Line: e.Line, Status: Missing}
		var sameEnvs, otherEnvs []string
		for _, k := range byName[e.Name] {
			if k.Value == e.Value {
				sameEnvs = append(sameEnvs, k.Environment)
			} else {
				otherEnvs = append(otherEnvs, k.Environment)
			}
		}
		switch {
		case len(sameEnvs) > 0:
			v.Status, v.Environments = Same, sameEnvs
		case len(otherEnvs) > 0:
			v.Status, v.Environments = Different, otherEnvs
			different = append(different, e.Name)
		default:
			missing = append(missing, e.Name)
		}
		slices.Sort(v.Environments)
		p.Vars = append(p.Vars, v)
	}
	switch {
	case len(missing) > 0:
		p.Deletable = false
		p.Reason = "secr does not hold " + strings.Join(missing, ", ") + ": import first"
	case len(different) > 0:
		p.Deletable = false
		p.Reason = "secr holds another value for " + strings.Join(different, ", ")
	case len(entries) == 0:
		p.Reason = "no variables"
	default:
		p.Reason = "secr holds every variable with the same value"
	}
	return p
}

// FixFile reads and parses the dotenv file at path and returns its
// FixPlan. A file that does not parse gets a plan that keeps it, and the
// parse error (which names the line, never the value).
func FixFile(path string, known []Secret) (Plan, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return Plan{Path: path, Reason: "cannot read it"}, err
	}
	entries, err := dotenv.Parse(path, data)
	clear(data)
	if err != nil {
		return Plan{Path: path, Reason: "it does not parse as a dotenv file"}, err
	}
	return FixPlan(path, entries, known), nil
}

// ErrNotRegular is returned by SecureDelete for anything but a regular file
// (a symbolic link is never followed: its target may be outside the tree).
var ErrNotRegular = errors.New("not a regular file")

// SecureDelete overwrites the file at path with zeros, syncs it to disk and
// removes it.
//
// The overwrite is best effort and NOT a guarantee of erasure: on
// copy-on-write filesystems (btrfs, ZFS, APFS), on SSDs and flash (wear
// levelling, over-provisioning), with journaling of data, snapshots or
// backups, the old blocks may survive and be recoverable. It only makes
// the plain case (an overwrite-in-place filesystem on a spinning disk, or
// a casual look at freed blocks) harder. Rotate the secret if it mattered.
func SecureDelete(path string) error {
	info, err := os.Lstat(path)
	if err != nil {
		return err
	}
	if !info.Mode().IsRegular() {
		return fmt.Errorf("secure delete %s: %w", path, ErrNotRegular)
	}
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	if st, err := f.Stat(); err != nil || !os.SameFile(st, info) {
		f.Close()
		return fmt.Errorf("secure delete %s: file changed while opening", path)
	}
	zeros := make([]byte, 64<<10)
	for left := info.Size(); left > 0; {
		n := int64(len(zeros))
		if left < n {
			n = left
		}
		if _, err := f.Write(zeros[:n]); err != nil {
			f.Close()
			return err
		}
		left -= n
	}
	if err := f.Sync(); err != nil && !errors.Is(err, io.EOF) {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Remove(path)
}
