package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/secr-dev/secr/internal/dotenv"
	"github.com/secr-dev/secr/internal/session"
)

func newSecretsCmd(d *Deps) *cobra.Command {
	return groupCmd("secrets", "Set, read, import, export and roll back an environment's secrets",
		`Manage the secrets of one environment (development unless --env, $SECR_ENV or
.secr.json say otherwise). Every change writes a new revision; 'history' lists
them and 'rollback' restores one.`,
		newSecretsSetCmd(d), newSecretsGetCmd(d), newSecretsListCmd(d), newSecretsDeleteCmd(d),
		newSecretsImportCmd(d), newSecretsExportCmd(d), newSecretsHistoryCmd(d), newSecretsDiffCmd(d), newSecretsRollbackCmd(d))
}

// loadEnv resolves, authenticates and opens revision rev of the
// environment (the latest when rev is 0).
func (d *Deps) loadEnv(ctx context.Context, f *targetFlags, rev int64) (*session.Env, error) {
	if rev < 0 {
		return nil, usageErrorf("invalid --revision %d: give a number from 'secr secrets history'", rev)
	}
	s, t, err := d.authenticate(f)
	if err != nil {
		return nil, err
	}
	return s.LoadRevision(ctx, t, rev)
}

// addRevisionFlag adds --revision to a command that reads secrets.
func addRevisionFlag(c *cobra.Command, rev *int64) {
	c.Flags().Int64Var(rev, "revision", 0, "read this revision (see 'secr secrets history') instead of the latest")
}

// write runs a read-modify-write with automatic retry and reports it.
func (d *Deps) write(ctx context.Context, f *targetFlags, edit func(*session.Editor) error, done func(env *session.Env) string) error {
	s, t, err := d.authenticate(f)
	if err != nil {
		return err
	}
	env, err := s.Update(ctx, t, edit)
	if err != nil {
		return err
	}
	d.IO.Infof("%s", done(env))
	d.syncQuietly(ctx, s, env.Org)
	return nil
}

type setOptions struct {
	d          *Deps
	f          targetFlags
	notSecret  bool
	allowEmpty bool
	fromFile   string
	stdin      bool
}

func newSecretsSetCmd(d *Deps) *cobra.Command {
	o := &setOptions{d: d}
	c := &cobra.Command{
		Use:   "set NAME | NAME --from-file PATH | --stdin | NAME=VALUE...",
		Short: "Set one or more secrets",
		Long: `Set secrets in one new revision. Names must be valid environment variable
names.

Prefer the forms that keep values out of the command line, where your shell
history and every user of this machine (through /proc/PID/cmdline) can see them:

  NAME                   the value from standard input (one trailing newline is
                         removed) or, on a terminal, from a no-echo prompt; an
                         empty value needs --allow-empty
  NAME --from-file PATH  the file's exact contents (a key, a certificate)
  --stdin                several secrets as dotenv (NAME=value lines) from
                         standard input

NAME=VALUE arguments also work, each value taken as given, for values that
are not secret or in throwaway environments.`,
		Example: `  secr secrets set STRIPE_SECRET_KEY            # prompts without echo
  printf '%s' "$TOKEN" | secr secrets set API_TOKEN
  secr secrets set TLS_KEY --from-file key.pem
  secr secrets set --stdin < secrets.env
  secr secrets set --env production DATABASE_URL
  secr secrets set --not-secret PUBLIC_URL=https://example.com`,
		Args: cobra.ArbitraryArgs,
		RunE: func(c *cobra.Command, args []string) error {
			o.f.bind(c)
			return runSet(c.Context(), o, args)
		},
	}
	o.f.addEnv(c)
	c.Flags().BoolVar(&o.notSecret, "not-secret", false, "mark the values as plain configuration (shown by 'list', never masked)")
	c.Flags().BoolVar(&o.allowEmpty, "allow-empty", false, "accept an empty value from standard input")
	c.Flags().StringVar(&o.fromFile, "from-file", "", "read the value of the single NAME from this file, exactly")
	c.Flags().BoolVar(&o.stdin, "stdin", false, "read NAME=value lines (dotenv) from standard input")
	return c
}

func runSet(ctx context.Context, o *setOptions, args []string) error {
	values := map[string]string{}
	var order []string
	switch {
	case o.stdin && (len(args) > 0 || o.fromFile != ""):
		return usageErrorf("--stdin reads every NAME=value from standard input: give no arguments and no --from-file")
	case o.stdin:
		data, err := readAllLimited(o.d.IO.In)
		if err != nil {
			return err
		}
		entries, err := dotenv.Parse("standard input", data)
		if err != nil {
			return err
		}
		if len(entries) == 0 {
			return usageErrorf("standard input holds no NAME=value lines")
		}
		for _, e := range entries {
			if _, dup := values[e.Name]; !dup {
				order = append(order, e.Name)
			}
			values[e.Name] = e.Value
		}
		args = nil
	case o.fromFile != "":
		if len(args) != 1 || strings.Contains(args[0], "=") {
			return usageErrorf("--from-file sets one secret: give its NAME alone (secr secrets set NAME --from-file PATH)")
		}
	case len(args) == 0:
		return usageErrorf("nothing to set: give NAME (the value from standard input), NAME --from-file PATH, --stdin, or NAME=VALUE")
	}
	for _, a := range args {
		name, value, hasValue := strings.Cut(a, "=")
		if err := session.ValidateName(name); err != nil {
			return err
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
	return o.d.write(ctx, &o.f, func(e *session.Editor) error {
		for _, n := range order {
			if err := e.Set(n, values[n], o.notSecret); err != nil {
				return err
			}
		}
		return nil
	}, func(env *session.Env) string {
		return fmt.Sprintf("Set %s in %s (revision %d).", strings.Join(order, ", "), env.Name, env.Revision)
	})
}

// readValue reads the value of the single NAME: from --from-file, a no-echo
// prompt on a terminal, or standard input.
func (o *setOptions) readValue(name string) (string, error) {
	io := o.d.IO
	if o.fromFile != "" {
		b, err := os.ReadFile(o.fromFile)
		if err != nil {
			return "", fmt.Errorf("--from-file: %w", err)
		}
		return string(b), nil
	}
	var v string
	if io.IsStdinTTY() {
		if !io.CanPrompt() {
			return "", usageErrorf("no value for %s: pipe it on standard input", name)
		}
		var err error
		if v, err = io.ReadSecret(fmt.Sprintf("Value for %s: ", name)); err != nil {
			return "", err
		}
	} else {
		b, err := readAllLimited(io.In)
		if err != nil {
			return "", err
		}
		v = trimOneNewline(string(b))
	}
	if v == "" && !o.allowEmpty {
		return "", usageErrorf("no value for %s: standard input was empty; pass --allow-empty to store an empty value (or give %s= as an argument)", name, name)
	}
	return v, nil
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

type getOptions struct {
	d        *Deps
	f        targetFlags
	plain    bool
	jsonOut  bool
	revision int64
}

func newSecretsGetCmd(d *Deps) *cobra.Command {
	o := &getOptions{d: d}
	c := &cobra.Command{
		Use:   "get NAME",
		Short: "Print one secret's value",
		Long: `Print a secret's value followed by a newline. --plain prints the exact value
with no trailing newline, for piping into files and other programs.`,
		Example: "  secr secrets get DATABASE_URL\n  secr secrets get TLS_KEY --plain > key.pem",
		Args:    cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			o.f.bind(c)
			return runGet(c.Context(), o, args[0])
		},
	}
	o.f.addEnv(c)
	c.Flags().BoolVar(&o.plain, "plain", false, "print the value exactly, without a trailing newline")
	c.Flags().BoolVar(&o.jsonOut, "json", false, "print as JSON")
	addRevisionFlag(c, &o.revision)
	return c
}

func runGet(ctx context.Context, o *getOptions, name string) error {
	d := o.d
	env, err := d.loadEnv(ctx, &o.f, o.revision)
	if err != nil {
		return err
	}
	sec, ok := env.Lookup(name)
	if !ok {
		return withHint(fmt.Errorf("no secret %q in environment %q (revision %d)", name, env.Name, env.Revision), "run 'secr secrets list' to see the names")
	}
	switch {
	case o.jsonOut:
		return d.IO.JSON(map[string]any{"name": name, "value": sec.Value, "not_secret": sec.NotSecret, "revision": env.Revision})
	case o.plain:
		_, err = io.WriteString(d.IO.Out, sec.Value)
	default:
		_, err = fmt.Fprintln(d.IO.Out, sec.Value)
	}
	return err
}

type listSecretsOptions struct {
	d        *Deps
	f        targetFlags
	reveal   bool
	jsonOut  bool
	revision int64
}

func newSecretsListCmd(d *Deps) *cobra.Command {
	o := &listSecretsOptions{d: d}
	c := &cobra.Command{
		Use:   "list",
		Short: "List secret names (values hidden unless --reveal)",
		Args:  cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			o.f.bind(c)
			return runListSecrets(c.Context(), o)
		},
	}
	o.f.addEnv(c)
	c.Flags().BoolVar(&o.reveal, "reveal", false, "show the values")
	c.Flags().BoolVar(&o.jsonOut, "json", false, "print as JSON")
	addRevisionFlag(c, &o.revision)
	return c
}

func runListSecrets(ctx context.Context, o *listSecretsOptions) error {
	d := o.d
	env, err := d.loadEnv(ctx, &o.f, o.revision)
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
	for _, sec := range env.Secrets() {
		it := item{Name: sec.Name, NotSecret: sec.NotSecret}
		shown := "••••••••"
		if o.reveal || sec.NotSecret {
			v := sec.Value
			it.Value, shown = &v, v
		}
		items = append(items, it)
		rows = append(rows, []string{sec.Name, displayValue(shown)})
	}
	if o.jsonOut {
		return d.IO.JSON(map[string]any{"environment": env.Name, "revision": env.Revision, "secrets": items})
	}
	if len(rows) == 0 && d.IO.IsStdoutTTY() {
		d.IO.Infof("No secrets in %s yet. Add one with 'secr secrets set NAME=VALUE'.", env.Name)
		return nil
	}
	return d.IO.Table([]string{"NAME", "VALUE"}, rows)
}

// displayValue keeps a table row on one line: control characters (the
// newlines of a PEM key) are shown escaped.
func displayValue(v string) string {
	q := strconv.Quote(v)
	return q[1 : len(q)-1]
}

type deleteOptions struct {
	d *Deps
	f targetFlags
}

func newSecretsDeleteCmd(d *Deps) *cobra.Command {
	o := &deleteOptions{d: d}
	c := &cobra.Command{
		Use:     "delete NAME...",
		Aliases: []string{"rm", "unset"},
		Short:   "Delete secrets (the old values stay in history)",
		Args:    cobra.MinimumNArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			o.f.bind(c)
			return runDelete(c.Context(), o, args)
		},
	}
	o.f.addEnv(c)
	return c
}

func runDelete(ctx context.Context, o *deleteOptions, names []string) error {
	return o.d.write(ctx, &o.f, func(e *session.Editor) error {
		for _, n := range names {
			if err := e.Delete(n); err != nil {
				return err
			}
		}
		return nil
	}, func(env *session.Env) string {
		return fmt.Sprintf("Deleted %s from %s (revision %d).", strings.Join(names, ", "), env.Name, env.Revision)
	})
}

type importOptions struct {
	d         *Deps
	f         targetFlags
	keep      bool
	notSecret []string
}

func newSecretsImportCmd(d *Deps) *cobra.Command {
	o := &importOptions{d: d}
	c := &cobra.Command{
		Use:   "import FILE",
		Short: "Import a .env file (all or nothing)",
		Long: `Import every variable of a dotenv file in one new revision. The file is
parsed completely first: if any line cannot be read, nothing is imported and
the error names the line (never its content). Existing secrets with the same
names are replaced unless --keep-existing. Use - for standard input.

Every variable is a secret unless --not-secret names it. After importing,
secr points out names that are usually plain configuration: NODE_ENV, PORT,
HOST, HOSTNAME, LOG_LEVEL, DEBUG, TZ, LANG, ENV, APP_ENV, RAILS_ENV, RACK_ENV,
FLASK_ENV, GO_ENV, ENVIRONMENT, and NEXT_PUBLIC_*, VITE_* and REACT_APP_*
(which front-end builds publish anyway).

The imported file is then a plaintext copy of your secrets: on a terminal
secr offers to delete it (overwriting it first; copy-on-write filesystems and
SSDs do not guarantee erasure), and only when secr holds every variable in it
with the same value; otherwise it says how ('secr scan --fix').`,
		Example: "  secr secrets import .env\n  secr secrets import --not-secret NODE_ENV,PORT .env\n  secr secrets import --env production .env.production",
		Args: func(c *cobra.Command, args []string) error {
			if len(args) != 1 {
				return usageErrorf("give the one .env file to import, or - for standard input (see 'secr secrets import --help')")
			}
			return nil
		},
		RunE: func(c *cobra.Command, args []string) error {
			o.f.bind(c)
			return runImport(c.Context(), o, args[0])
		},
	}
	o.f.addEnv(c)
	c.Flags().BoolVar(&o.keep, "keep-existing", false, "do not replace secrets that already exist")
	c.Flags().StringSliceVar(&o.notSecret, "not-secret", nil, "mark these variables as plain configuration (comma-separated): listed with their values, never masked")
	return c
}

func runImport(ctx context.Context, o *importOptions, file string) error {
	var data []byte
	var err error
	if file == "-" {
		data, err = readAllLimited(o.d.IO.In)
	} else {
		data, err = os.ReadFile(file)
	}
	if err != nil {
		return err
	}
	entries, err := dotenv.Parse(file, data)
	if err != nil {
		return err
	}
	if len(entries) == 0 {
		return fmt.Errorf("%s has no variables to import", file)
	}
	plain := map[string]bool{}
	for _, n := range o.notSecret {
		if !slices.ContainsFunc(entries, func(e dotenv.Entry) bool { return e.Name == n }) {
			return usageErrorf("--not-secret names %s, which %s does not have", n, file)
		}
		plain[n] = true
	}
	imported := 0
	var written *session.Env
	err = o.d.write(ctx, &o.f, func(e *session.Editor) error {
		imported = 0
		for _, entry := range entries {
			if o.keep && e.Has(entry.Name) {
				continue
			}
			if err := e.Set(entry.Name, entry.Value, plain[entry.Name]); err != nil {
				return fmt.Errorf("%s:%d: %w", file, entry.Line, err)
			}
			imported++
		}
		return nil
	}, func(env *session.Env) string {
		written = env
		return fmt.Sprintf("Imported %s from %s into %s (revision %d).", plural(imported, "secret"), file, env.Name, env.Revision)
	})
	if err != nil {
		return err
	}
	var looksPlain []string
	for _, e := range entries {
		if !plain[e.Name] && looksLikeConfig(e.Name) {
			looksPlain = append(looksPlain, e.Name)
		}
	}
	if len(looksPlain) > 0 {
		o.d.IO.Infof("secr: hint: %s look like plain configuration; --mask hides every secret value, these too. To show them and never mask them: secr secrets import --not-secret %s %s",
			strings.Join(looksPlain, ", "), strings.Join(looksPlain, ","), file)
	}
	// The imported file is now a plaintext copy of the secrets: offer to
	// delete it.
	return offerCleanup(ctx, o.d, file, written.Name, written.Secrets(), false)
}

// looksLikeConfig is the documented heuristic for names that are usually
// not secret. It only suggests: import marks nothing by itself.
func looksLikeConfig(name string) bool {
	switch name {
	case "NODE_ENV", "PORT", "HOST", "HOSTNAME", "LOG_LEVEL", "DEBUG", "TZ", "LANG", "ENV", "APP_ENV",
		"RAILS_ENV", "RACK_ENV", "FLASK_ENV", "GO_ENV", "ENVIRONMENT":
		return true
	}
	return strings.HasPrefix(name, "NEXT_PUBLIC_") || strings.HasPrefix(name, "VITE_") || strings.HasPrefix(name, "REACT_APP_")
}

type exportOptions struct {
	d        *Deps
	f        targetFlags
	format   string
	output   string
	revision int64
}

func newSecretsExportCmd(d *Deps) *cobra.Command {
	o := &exportOptions{d: d}
	c := &cobra.Command{
		Use:   "export",
		Short: "Print all secrets as dotenv, JSON, YAML or shell",
		Long: `Print the environment's secrets. This writes plaintext: prefer 'secr run'.
With --output the file is created with mode 0600; an existing file is
replaced only if it is a regular file (never through a symbolic link).

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
			o.f.bind(c)
			return runExport(c.Context(), o)
		},
	}
	o.f.addEnv(c)
	c.Flags().StringVar(&o.format, "format", "dotenv", "dotenv, json, yaml, shell, github-actions or nextjs")
	c.Flags().StringVarP(&o.output, "output", "o", "", "write to this new file (mode 0600) instead of standard output")
	addRevisionFlag(c, &o.revision)
	return c
}

func runExport(ctx context.Context, o *exportOptions) error {
	d := o.d
	render, ok := exportFormats[o.format]
	if !ok && o.format != "github-actions" && o.format != "nextjs" {
		return usageErrorf("unknown --format %q: use dotenv, json, yaml, shell, github-actions or nextjs", o.format)
	}
	env, err := d.loadEnv(ctx, &o.f, o.revision)
	if err != nil {
		return err
	}
	if o.format == "github-actions" {
		return exportGitHubActions(d.IO.Out, d.Getenv("GITHUB_ENV"), env.Secrets())
	}
	var out []byte
	if o.format == "nextjs" {
		if out, err = formatNextJS(env.Values()); err != nil {
			return err
		}
		d.warnNextJS(env.Names())
	} else {
		out = render(env.Values())
	}
	if o.output == "" || o.output == "-" {
		_, err = d.IO.Out.Write(out)
		return err
	}
	return writeFile0600(o.output, out)
}

// writeFile0600 writes plaintext secrets to path with mode 0600. It never
// follows a symbolic link (which could point the plaintext, and the mode
// change, at another file) and refuses anything but a regular file: the
// data goes to a new temporary file in the same directory, renamed over
// path.
func writeFile0600(path string, data []byte) error {
	if fi, err := os.Lstat(path); err == nil && !fi.Mode().IsRegular() {
		what := "not a regular file"
		if fi.Mode()&os.ModeSymlink != 0 {
			what = "a symbolic link"
		}
		return fmt.Errorf("refusing to write secrets to %s: it is %s", path, what)
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".secr-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name()) // after a successful rename this is a no-op
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return err
	}
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
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

type historyOptions struct {
	d       *Deps
	f       targetFlags
	jsonOut bool
}

func newSecretsHistoryCmd(d *Deps) *cobra.Command {
	o := &historyOptions{d: d}
	c := &cobra.Command{
		Use:   "history",
		Short: "List revisions: who changed which names, and when",
		Long:  "List every revision of the environment, newest first, with its author, time (RFC 3339, UTC) and the names added (+), changed (~) or removed (-). Values are never shown.",
		Args:  cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			o.f.bind(c)
			return runHistory(c.Context(), o)
		},
	}
	o.f.addEnv(c)
	c.Flags().BoolVar(&o.jsonOut, "json", false, "print as JSON")
	return c
}

// historyItem is one revision in `secrets history --json`.
type historyItem struct {
	Revision int64           `json:"revision"`
	Author   string          `json:"author"`
	Time     string          `json:"time"`
	Changes  session.Changes `json:"changes"`
}

func runHistory(ctx context.Context, o *historyOptions) error {
	d := o.d
	s, t, err := d.authenticate(&o.f)
	if err != nil {
		return err
	}
	h, err := s.History(ctx, t)
	if err != nil {
		return err
	}
	// Newest first, in JSON as in the table.
	items := []historyItem{}
	for i := len(h.Revisions) - 1; i >= 0; i-- {
		r := h.Revisions[i]
		items = append(items, historyItem{Revision: r.Revision, Author: r.Author, Time: formatTime(r.Time), Changes: r.Changes})
	}
	if o.jsonOut {
		return d.IO.JSON(items)
	}
	rows := [][]string{}
	for _, r := range items {
		rows = append(rows, []string{strconv.FormatInt(r.Revision, 10), r.Author, r.Time, r.Changes.String()})
	}
	return d.IO.Table([]string{"REVISION", "AUTHOR", "TIME", "CHANGES"}, rows)
}

type rollbackOptions struct {
	d *Deps
	f targetFlags
}

func newSecretsRollbackCmd(d *Deps) *cobra.Command {
	o := &rollbackOptions{d: d}
	c := &cobra.Command{
		Use:   "rollback REVISION",
		Short: "Restore the contents of an earlier revision (as a new revision)",
		Long:  "Write the contents of REVISION as a new revision. Nothing is deleted: the revisions in between stay in history.",
		Args:  cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			o.f.bind(c)
			return runRollback(c.Context(), o, args[0])
		},
	}
	o.f.addEnv(c)
	return c
}

func runRollback(ctx context.Context, o *rollbackOptions, arg string) error {
	want, err := strconv.ParseInt(arg, 10, 64)
	if err != nil || want < 1 {
		return usageErrorf("invalid revision %q: give a number from 'secr secrets history'", arg)
	}
	s, t, err := o.d.authenticate(&o.f)
	if err != nil {
		return err
	}
	env, err := s.Rollback(ctx, t, want)
	if err != nil {
		return err
	}
	o.d.IO.Infof("Restored revision %d of %s as revision %d.", want, env.Name, env.Revision)
	return nil
}

// plural returns "1 secret", "2 secrets".
func plural(n int, noun string) string {
	if n == 1 {
		return fmt.Sprintf("%d %s", n, noun)
	}
	return fmt.Sprintf("%d %ss", n, noun)
}
