package scan

import (
	"crypto/sha256"
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

	// digest is SHA-256 of the content FixFile planned from: DeletePlanned
	// deletes only that content.
	digest [32]byte
	read   bool
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
		// Comments can hold values too (# STRIPE_KEY=sk_live_...): secr
		// cannot tell, so it never deletes such a file.
		p.Deletable = false
		p.Reason = "it holds no variables, only comments or blank lines, which secr cannot check: delete it yourself if nothing in it is secret"
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
	digest := sha256.Sum256(data)
	// Every assignment: a name given twice keeps the file only if secr
	// holds each of its values (an earlier one would otherwise be lost).
	entries, err := dotenv.ParseAll(path, data)
	clear(data)
	if err != nil {
		return Plan{Path: path, Reason: "it does not parse as a dotenv file"}, err
	}
	p := FixPlan(path, entries, known)
	p.digest, p.read = digest, true
	return p, nil
}

// ErrChanged is returned by DeletePlanned when the file is no longer what
// was planned (edited between the plan and the deletion).
var ErrChanged = errors.New("the file changed since it was checked: run secr scan --fix again")

// DeletePlanned deletes p's file with SecureDelete's overwrite, but only
// if it is still a deletable plan's exact content: it reads the file
// through the descriptor it overwrites, so a variable added after the plan
// (while the user was asked) is never destroyed. Symbolic links and
// anything but a regular file are refused.
func DeletePlanned(p Plan) error {
	if !p.Deletable || !p.read {
		return fmt.Errorf("secure delete %s: not a deletable plan from FixFile", p.Path)
	}
	f, err := os.OpenFile(p.Path, os.O_RDWR|syscallNoFollow, 0)
	if err != nil {
		return fmt.Errorf("secure delete %s: %w", p.Path, err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return err
	}
	if !st.Mode().IsRegular() {
		return fmt.Errorf("secure delete %s: %w", p.Path, ErrNotRegular)
	}
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return err
	}
	if [32]byte(h.Sum(nil)) != p.digest {
		return fmt.Errorf("secure delete %s: %w", p.Path, ErrChanged)
	}
	return overwriteAndRemove(f, p.Path, st)
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
	f, err := os.OpenFile(path, os.O_WRONLY|syscallNoFollow, 0)
	if err != nil {
		return err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil || !os.SameFile(st, info) {
		return fmt.Errorf("secure delete %s: file changed while opening", path)
	}
	return overwriteAndRemove(f, path, st)
}

// overwriteAndRemove overwrites f (opened at path, described by st) with
// zeros from the start, syncs it, and removes path if it is still f.
func overwriteAndRemove(f *os.File, path string, st os.FileInfo) error {
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return err
	}
	zeros := make([]byte, 64<<10)
	for left := st.Size(); left > 0; {
		n := min(int64(len(zeros)), left)
		if _, err := f.Write(zeros[:n]); err != nil {
			return err
		}
		left -= n
	}
	if err := f.Sync(); err != nil && !errors.Is(err, io.EOF) {
		return err
	}
	if now, err := os.Lstat(path); err != nil || !os.SameFile(now, st) {
		return fmt.Errorf("secure delete %s: the path now names another file; it was overwritten but not removed", path)
	}
	return os.Remove(path)
}
