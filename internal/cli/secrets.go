package cli

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"sort"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/secr-dev/secr/internal/crypto"
	"github.com/secr-dev/secr/internal/dotenv"
	"github.com/secr-dev/secr/internal/envdoc"
)

func newSecretsCmd(d *Deps) *cobra.Command {
	c := &cobra.Command{
		Use:   "secrets",
		Short: "Set, read, import, export and roll back an environment's secrets",
		Long: `Manage the secrets of one environment (development unless --env, $SECR_ENV or
.secr.json say otherwise). Every change writes a new revision; 'history' lists
them and 'rollback' restores one.`,
	}
	c.AddCommand(newSecretsSetCmd(d), newSecretsGetCmd(d), newSecretsListCmd(d), newSecretsDeleteCmd(d),
		newSecretsImportCmd(d), newSecretsExportCmd(d), newSecretsHistoryCmd(d), newSecretsRollbackCmd(d))
	return c
}

// envSession resolves the target and authenticates.
func (d *Deps) envSession(c *cobra.Command, f *targetFlags) (*session, target, error) {
	t, err := d.resolveTarget(c, f)
	if err != nil {
		return nil, t, err
	}
	s, err := d.authenticate(t)
	return s, t, err
}

// loadEnv resolves, authenticates and opens the environment's latest revision.
func (d *Deps) loadEnv(c *cobra.Command, f *targetFlags) (*envState, error) {
	s, t, err := d.envSession(c, f)
	if err != nil {
		return nil, err
	}
	return s.load(c.Context(), t)
}

type setOptions struct {
	d         *Deps
	f         targetFlags
	notSecret bool
}

func newSecretsSetCmd(d *Deps) *cobra.Command {
	o := &setOptions{d: d}
	c := &cobra.Command{
		Use:   "set NAME=VALUE... | NAME",
		Short: "Set one or more secrets",
		Long: `Set secrets in one new revision.

With NAME=VALUE arguments, each value is taken as given. With a single NAME
and no '=', the value is read from standard input (one trailing newline is
removed) or, on a terminal, from a no-echo prompt; this keeps values out of
your shell history. Names must be valid environment variable names.`,
		Example: `  secr secrets set DATABASE_URL=postgres://u:p@db/web STRIPE_SECRET_KEY=sk_test_123
  secr secrets set TLS_KEY < key.pem
  secr secrets set --env production DATABASE_URL=postgres://prod
  secr secrets set --not-secret PUBLIC_URL=https://example.com`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(c *cobra.Command, args []string) error { return o.run(c, args) },
	}
	o.f.addEnv(c)
	c.Flags().BoolVar(&o.notSecret, "not-secret", false, "mark the values as plain configuration (shown by 'list', never masked)")
	return c
}

func (o *setOptions) run(c *cobra.Command, args []string) error {
	values := map[string]string{}
	var order []string
	for _, a := range args {
		name, value, hasValue := strings.Cut(a, "=")
		if err := envdoc.ValidateName(name); err != nil {
			return usageErrorf("%v", err)
		}
		if !hasValue {
			if len(args) != 1 {
				return usageErrorf("%s has no value: give NAME=VALUE, or a single NAME to read its value from standard input", name)
			}
			v, err := o.readValue(name)
			if err != nil {
				return err
			}
			value = v
		}
		if _, dup := values[name]; !dup {
			order = append(order, name)
		}
		values[name] = value
	}
	return o.d.write(c, &o.f, func(doc *envdoc.Doc) error {
		for _, n := range order {
			if err := doc.Set(n, values[n], o.notSecret); err != nil {
				return err
			}
		}
		return nil
	}, func(rev int64, t target) string {
		return fmt.Sprintf("Set %s in %s (revision %d).", strings.Join(order, ", "), t.env, rev)
	})
}

func (o *setOptions) readValue(name string) (string, error) {
	io := o.d.IO
	if io.IsStdinTTY() {
		if !io.CanPrompt() {
			return "", usageErrorf("no value for %s: pipe it on standard input", name)
		}
		return io.ReadSecret(fmt.Sprintf("Value for %s: ", name))
	}
	b, err := readAllLimited(io.In)
	if err != nil {
		return "", err
	}
	return trimOneNewline(string(b)), nil
}

func readAllLimited(r io.Reader) ([]byte, error) {
	const limit = 1 << 20
	b, err := io.ReadAll(io.LimitReader(r, limit+1))
	if err != nil {
		return nil, fmt.Errorf("read standard input: %w", err)
	}
	if len(b) > limit {
		return nil, fmt.Errorf("standard input is larger than 1 MiB; secr stores environment variables, not files")
	}
	return b, nil
}

// write runs a read-modify-write with automatic retry and reports it.
func (d *Deps) write(c *cobra.Command, f *targetFlags, edit func(*envdoc.Doc) error, done func(rev int64, t target) string) error {
	s, t, err := d.envSession(c, f)
	if err != nil {
		return err
	}
	rev, st, err := s.update(c.Context(), t, edit)
	if err != nil {
		return err
	}
	t.env = st.snap.Environment.Name
	d.IO.Infof("%s", done(rev, t))
	return nil
}

func newSecretsGetCmd(d *Deps) *cobra.Command {
	var f targetFlags
	var plain, jsonOut bool
	c := &cobra.Command{
		Use:   "get NAME",
		Short: "Print one secret's value",
		Long: `Print a secret's value followed by a newline. --plain prints the exact value
with no trailing newline, for piping into files and other programs.`,
		Example: "  secr secrets get DATABASE_URL\n  secr secrets get TLS_KEY --plain > key.pem",
		Args:    cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			st, err := d.loadEnv(c, &f)
			if err != nil {
				return err
			}
			sec, ok := st.doc.Secrets[args[0]]
			if !ok {
				return withHint(fmt.Errorf("no secret %q in environment %q", args[0], st.snap.Environment.Name), "run 'secr secrets list' to see the names")
			}
			switch {
			case jsonOut:
				return d.IO.JSON(map[string]any{"name": args[0], "value": sec.Value, "not_secret": sec.NotSecret, "revision": st.rev})
			case plain:
				_, err = io.WriteString(d.IO.Out, sec.Value)
			default:
				_, err = fmt.Fprintln(d.IO.Out, sec.Value)
			}
			return err
		},
	}
	f.addEnv(c)
	c.Flags().BoolVar(&plain, "plain", false, "print the value exactly, without a trailing newline")
	c.Flags().BoolVar(&jsonOut, "json", false, "print as JSON")
	return c
}

func newSecretsListCmd(d *Deps) *cobra.Command {
	var f targetFlags
	var reveal, jsonOut bool
	c := &cobra.Command{
		Use:   "list",
		Short: "List secret names (values hidden unless --reveal)",
		Args:  cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			st, err := d.loadEnv(c, &f)
			if err != nil {
				return err
			}
			type item struct {
				Name      string  `json:"name"`
				Value     *string `json:"value,omitempty"`
				NotSecret bool    `json:"not_secret"`
			}
			items := []item{}
			rows := [][]string{}
			for _, n := range st.doc.Names() {
				sec := st.doc.Secrets[n]
				it := item{Name: n, NotSecret: sec.NotSecret}
				shown := "••••••••"
				if reveal || sec.NotSecret {
					v := sec.Value
					it.Value, shown = &v, v
				}
				items = append(items, it)
				rows = append(rows, []string{n, displayValue(shown)})
			}
			if jsonOut {
				return d.IO.JSON(map[string]any{"environment": st.snap.Environment.Name, "revision": st.rev, "secrets": items})
			}
			if len(rows) == 0 && d.IO.IsStdoutTTY() {
				d.IO.Infof("No secrets in %s yet. Add one with 'secr secrets set NAME=VALUE'.", st.snap.Environment.Name)
				return nil
			}
			return d.IO.Table([]string{"NAME", "VALUE"}, rows)
		},
	}
	f.addEnv(c)
	c.Flags().BoolVar(&reveal, "reveal", false, "show the values")
	c.Flags().BoolVar(&jsonOut, "json", false, "print as JSON")
	return c
}

// displayValue keeps a table row on one line: control characters (the
// newlines of a PEM key) are shown escaped.
func displayValue(v string) string {
	q := strconv.Quote(v)
	return q[1 : len(q)-1]
}

func newSecretsDeleteCmd(d *Deps) *cobra.Command {
	var f targetFlags
	c := &cobra.Command{
		Use:     "delete NAME...",
		Aliases: []string{"rm", "unset"},
		Short:   "Delete secrets (the old values stay in history)",
		Args:    cobra.MinimumNArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			return d.write(c, &f, func(doc *envdoc.Doc) error {
				for _, n := range args {
					if _, ok := doc.Secrets[n]; !ok {
						return fmt.Errorf("no secret %q in this environment", n)
					}
					delete(doc.Secrets, n)
				}
				return nil
			}, func(rev int64, t target) string {
				return fmt.Sprintf("Deleted %s from %s (revision %d).", strings.Join(args, ", "), t.env, rev)
			})
		},
	}
	f.addEnv(c)
	return c
}

func newSecretsImportCmd(d *Deps) *cobra.Command {
	var f targetFlags
	var keep bool
	c := &cobra.Command{
		Use:   "import FILE",
		Short: "Import a .env file (all or nothing)",
		Long: `Import every variable of a dotenv file in one new revision. The file is
parsed completely first: if any line cannot be read, nothing is imported and
the error names the line. Existing secrets with the same names are replaced
unless --keep-existing. Use - for standard input.`,
		Example: "  secr secrets import .env\n  secr secrets import --env production .env.production",
		Args:    cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			var data []byte
			var err error
			if args[0] == "-" {
				data, err = readAllLimited(d.IO.In)
			} else {
				data, err = os.ReadFile(args[0])
			}
			if err != nil {
				return err
			}
			entries, err := dotenv.Parse(args[0], data)
			if err != nil {
				return err
			}
			if len(entries) == 0 {
				return fmt.Errorf("%s has no variables to import", args[0])
			}
			imported := 0
			return d.write(c, &f, func(doc *envdoc.Doc) error {
				imported = 0
				for _, e := range entries {
					if _, exists := doc.Secrets[e.Name]; exists && keep {
						continue
					}
					if err := doc.Set(e.Name, e.Value, false); err != nil {
						return fmt.Errorf("%s:%d: %w", args[0], e.Line, err)
					}
					imported++
				}
				return nil
			}, func(rev int64, t target) string {
				return fmt.Sprintf("Imported %d secrets from %s into %s (revision %d).", imported, args[0], t.env, rev)
			})
		},
	}
	f.addEnv(c)
	c.Flags().BoolVar(&keep, "keep-existing", false, "do not replace secrets that already exist")
	return c
}

func newSecretsExportCmd(d *Deps) *cobra.Command {
	var f targetFlags
	var format, output string
	c := &cobra.Command{
		Use:   "export",
		Short: "Print all secrets as dotenv, JSON, YAML or shell",
		Long: `Print the environment's secrets. This writes plaintext: prefer 'secr run'.
With --output the file is created with mode 0600.

dotenv output reads back exactly (with 'secr secrets import' and common
loaders): values are single-quoted, or double-quoted with backslash escapes
when they contain a single quote or carriage return.

github-actions, inside a workflow step, first registers every value with the
runner's log masker (::add-mask::), then appends the variables to $GITHUB_ENV
for the following steps. It prints no value otherwise.

nextjs writes what Next.js's .env loader (@next/env) reads back exactly:
backtick-quoted values with $ escaped. A value with a backtick or a carriage
return cannot be written that way and is refused.`,
		Example: "  secr secrets export --format dotenv --output .env.local\n  eval \"$(secr secrets export --format shell)\"",
		Args:    cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			render, ok := exportFormats[format]
			if !ok && format != "github-actions" && format != "nextjs" {
				return usageErrorf("unknown --format %q: use dotenv, json, yaml, shell, github-actions or nextjs", format)
			}
			st, err := d.loadEnv(c, &f)
			if err != nil {
				return err
			}
			if format == "github-actions" {
				return exportGitHubActions(d.IO.Out, d.Getenv("GITHUB_ENV"), st.doc)
			}
			var out []byte
			if format == "nextjs" {
				if out, err = formatNextJS(st.doc.Values()); err != nil {
					return err
				}
				d.warnNextJS(st.doc.Names())
			} else {
				out = render(st.doc.Values())
			}
			if output == "" || output == "-" {
				_, err = d.IO.Out.Write(out)
				return err
			}
			return writeFile0600(output, out)
		},
	}
	f.addEnv(c)
	c.Flags().StringVar(&format, "format", "dotenv", "dotenv, json, yaml, shell, github-actions or nextjs")
	c.Flags().StringVarP(&output, "output", "o", "", "write to this file (mode 0600) instead of standard output")
	return c
}

func writeFile0600(path string, data []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	// An existing file keeps its mode through O_TRUNC; tighten it.
	if err := f.Chmod(0o600); err != nil {
		f.Close()
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

var exportFormats = map[string]func(map[string]string) []byte{
	"dotenv": dotenv.Format,
	"json": func(m map[string]string) []byte {
		var b bytes.Buffer
		enc := json.NewEncoder(&b)
		enc.SetEscapeHTML(false)
		enc.SetIndent("", "  ")
		_ = enc.Encode(m)
		return b.Bytes()
	},
	// JSON strings are valid YAML double-quoted scalars.
	"yaml": func(m map[string]string) []byte {
		var b bytes.Buffer
		for _, n := range sortedKeys(m) {
			v, _ := json.Marshal(m[n])
			fmt.Fprintf(&b, "%s: %s\n", n, v)
		}
		return b.Bytes()
	},
	"shell": func(m map[string]string) []byte {
		var b bytes.Buffer
		for _, n := range sortedKeys(m) {
			fmt.Fprintf(&b, "export %s='%s'\n", n, strings.ReplaceAll(m[n], "'", `'\''`))
		}
		return b.Bytes()
	},
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// openedRevision is one revision decrypted on the client.
type openedRevision struct {
	Revision int64          `json:"revision"`
	Author   string         `json:"author"`
	Time     string         `json:"time"`
	Changes  envdoc.Changes `json:"changes"`
	doc      *envdoc.Doc
}

// history fetches and opens every revision, and diffs each with the one
// before it on the client (the server cannot: it sees only ciphertext).
func (s *session) history(c *cobra.Command, t target) ([]openedRevision, string, error) {
	if s.token != nil && (t.org == "" || t.project == "") {
		st, err := s.load(c.Context(), t)
		if err != nil {
			return nil, "", err
		}
		t.org, t.project, t.env = st.snap.Org, st.snap.Project, st.snap.Environment.Name
	}
	if err := t.requireProject(); err != nil {
		return nil, "", err
	}
	marks := s.marks()
	h, err := s.client.History(c.Context(), t.org, t.project, t.env)
	if err != nil {
		return nil, "", explain(err)
	}
	keys := map[int]*crypto.EnvKey{}
	var out []openedRevision
	var prev *envdoc.Doc
	for _, r := range h.Revisions {
		k, ok := keys[r.KeyVersion]
		if !ok {
			wrapped, have := h.WrappedKeys[r.KeyVersion]
			if !have {
				return nil, "", fmt.Errorf("you have no key for version %d of environment %q (revision %d)", r.KeyVersion, t.env, r.Revision)
			}
			if k, err = crypto.UnwrapKey(wrapped, h.Environment.ID, r.KeyVersion, s.identity); err != nil {
				return nil, "", fmt.Errorf("%w: key version %d of environment %q: %v", ErrIntegrity, r.KeyVersion, t.env, err)
			}
			keys[r.KeyVersion] = k
		}
		plain, err := crypto.OpenRevision(k, r.Revision, r.Ciphertext)
		if err != nil {
			return nil, "", fmt.Errorf("%w: revision %d of environment %q: %v", ErrIntegrity, r.Revision, t.env, err)
		}
		doc, err := envdoc.Parse(plain)
		if err != nil {
			return nil, "", fmt.Errorf("%w: revision %d: %v", ErrIntegrity, r.Revision, err)
		}
		out = append(out, openedRevision{Revision: r.Revision, Author: r.Author, Time: r.CreatedAt.Local().Format("2006-01-02 15:04:05"),
			Changes: envdoc.Diff(prev, doc), doc: doc})
		prev = doc
	}
	var latest int64
	if len(out) > 0 {
		latest = out[len(out)-1].Revision
	}
	if err := s.checkRollback(h.Environment, latest, marks); err != nil {
		return nil, "", err
	}
	return out, h.Environment.Name, nil
}

func newSecretsHistoryCmd(d *Deps) *cobra.Command {
	var f targetFlags
	var jsonOut bool
	c := &cobra.Command{
		Use:   "history",
		Short: "List revisions: who changed which names, and when",
		Long:  "List every revision of the environment with its author, time and the names added (+), changed (~) or removed (-). Values are never shown.",
		Args:  cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			s, t, err := d.envSession(c, &f)
			if err != nil {
				return err
			}
			revs, _, err := s.history(c, t)
			if err != nil {
				return err
			}
			if jsonOut {
				if revs == nil {
					revs = []openedRevision{}
				}
				return d.IO.JSON(revs)
			}
			rows := [][]string{}
			for i := len(revs) - 1; i >= 0; i-- {
				r := revs[i]
				rows = append(rows, []string{strconv.FormatInt(r.Revision, 10), r.Author, r.Time, r.Changes.String()})
			}
			return d.IO.Table([]string{"REVISION", "AUTHOR", "TIME", "CHANGES"}, rows)
		},
	}
	f.addEnv(c)
	c.Flags().BoolVar(&jsonOut, "json", false, "print as JSON")
	return c
}

func newSecretsRollbackCmd(d *Deps) *cobra.Command {
	var f targetFlags
	c := &cobra.Command{
		Use:   "rollback REVISION",
		Short: "Restore the contents of an earlier revision (as a new revision)",
		Long:  "Write the contents of REVISION as a new revision. Nothing is deleted: the revisions in between stay in history.",
		Args:  cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			want, err := strconv.ParseInt(args[0], 10, 64)
			if err != nil || want < 1 {
				return usageErrorf("invalid revision %q: give a number from 'secr secrets history'", args[0])
			}
			s, t, err := d.envSession(c, &f)
			if err != nil {
				return err
			}
			revs, envName, err := s.history(c, t)
			if err != nil {
				return err
			}
			var old *envdoc.Doc
			for _, r := range revs {
				if r.Revision == want {
					old = r.doc
				}
			}
			if old == nil {
				return fmt.Errorf("environment %q has no revision %d", envName, want)
			}
			rev, _, err := s.update(c.Context(), t, func(doc *envdoc.Doc) error {
				if envdoc.Diff(doc, old).String() == "(no changes)" {
					return errNoChange
				}
				doc.Secrets = old.Secrets
				return nil
			})
			if err != nil {
				return err
			}
			d.IO.Infof("Restored revision %d of %s as revision %d.", want, envName, rev)
			return nil
		},
	}
	f.addEnv(c)
	return c
}
