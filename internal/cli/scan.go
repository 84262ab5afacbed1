package cli

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/secr-dev/secr/internal/dotenv"
	"github.com/secr-dev/secr/internal/runner"
	"github.com/secr-dev/secr/internal/scan"
	"github.com/secr-dev/secr/internal/session"
)

// erasureCaveat is said wherever secr deletes a file that held secrets.
const erasureCaveat = "the file is overwritten with zeros before it is removed, but on copy-on-write filesystems (btrfs, ZFS, APFS), SSDs and flash, and with snapshots or backups, that does not guarantee the old contents are gone: rotate any secret that mattered"

type scanOptions struct {
	d        *Deps
	f        targetFlags
	envs     []string
	all      bool
	binaries bool
	git      bool
	staged   bool
	fix      bool
	yes      bool
	jsonOut  bool
	verbose  bool
	// source returns what to search for; nil means the secr server.
	// Tests inject one.
	source func(ctx context.Context, o *scanOptions) (*scanSource, error)
}

// scanSource is what a scan searches for, and where --fix imports.
type scanSource struct {
	// envs names the environments searched.
	envs []string
	// secrets are their variables, NotSecret ones included (scan.New skips
	// those; --fix still compares them). Values stay in memory.
	secrets []scan.Secret
	// into names the environment --fix imports into (org/project/env), and
	// intoEnv is its environment name.
	into, intoEnv string
	// importVars sets the named variables that the import environment does
	// not hold yet, in one revision; it returns the names it set and the
	// revision written.
	importVars func(ctx context.Context, names []string, values map[string]string) ([]string, int64, error)
}

func newScanCmd(d *Deps) *cobra.Command {
	o := &scanOptions{d: d}
	c := &cobra.Command{
		Use:   "scan [PATH...]",
		Short: "Find plaintext copies of your secrets, and .env files, in a tree or in git history",
		Long: `Decrypt the secrets of the environments you can read (all of the project's,
or those named with --env; a service token reads its own) and search the files
under PATH (default: the current directory) for every value of at least 8
bytes that is not flagged --not-secret: the value as is, and its base64
(standard and URL alphabets, padded or not, also inside a longer base64 text),
hex, URL-encoded and JSON-escaped forms, and each line of a multi-line value.
It also lists every dotenv-looking file (.env, .env.*, *.env), whatever it
holds.

Each finding names the file, the line, the secret, its environment and the
encoding found. The value itself is never printed, in text or --json. The
search is byte-exact: no guessing, no false positives, but a copy in another
form (re-wrapped base64, different case, gzip, a hash) is not found.

Files that .gitignore excludes are not read (that is where stale copies hide:
--all reads them); ignored dotenv files are listed either way. .git
directories are skipped, no symbolic link is followed, and binary files over
1 MiB are skipped unless --binaries.

  --git      search every commit reachable from any branch, tag or the stash
             (in-process, no git binary needed) and report the commit that
             introduced each value; .gitignore plays no part there
  --staged   search only what the next commit would add (for a pre-commit
             hook); a staged dotenv file counts as a finding

--fix, for each dotenv file found, shows which of its variables secr already
holds with the same value, offers to import those it does not hold (into the
environment of --env, $SECR_ENV or .secr.json, else development), then offers
to delete the file. A file is deleted only when secr holds every one of its
variables with the file's exact value; a file with a variable secr does not
hold (or holds with another value) is always kept. Questions are asked on a
terminal; elsewhere --yes answers them, and without it --fix only shows its
plan. Deleting: ` + erasureCaveat + `.

Exit status: 0 when nothing was found; 1 when any copy of a secret or any
dotenv file was reported (or, with --fix, remains), so it works as a CI step
and as a pre-commit hook (see 'secr scan install-hook'); 2 for a wrong command
line. Other errors use secr's usual codes (docs/cli.md); they print
"secr: error:", a finding never does.`,
		Example: `  secr scan                         # the current directory, every readable environment
  secr scan --all --env production  # ignored files too, production's secrets only
  secr scan --git                   # the whole history of the repository here
  secr scan --staged                # what the next commit adds (pre-commit)
  secr scan install-hook            # run 'secr scan --staged' before each commit
  secr scan --fix                   # import and delete stale .env files, asking
  secr scan --json > scan.json`,
		Args: cobra.ArbitraryArgs,
		RunE: func(c *cobra.Command, args []string) error {
			o.f.bind(c)
			return runScan(c.Context(), o, args)
		},
	}
	o.f.addProject(c)
	fl := c.Flags()
	fl.StringSliceVarP(&o.envs, "env", "e", nil, "search only these environments (comma-separated or repeated; default: every one you can read)")
	fl.BoolVar(&o.all, "all", false, "also read files that .gitignore excludes")
	fl.BoolVar(&o.binaries, "binaries", false, "read binary files of any size (default: skip those over 1 MiB)")
	fl.BoolVar(&o.git, "git", false, "search the repository's whole git history instead of the files")
	fl.BoolVar(&o.staged, "staged", false, "search the files staged for the next commit (for a pre-commit hook)")
	fl.BoolVar(&o.fix, "fix", false, "import the variables of dotenv files found into secr and delete the files secr fully holds")
	fl.BoolVarP(&o.yes, "yes", "y", false, "with --fix: import and delete without asking")
	fl.BoolVar(&o.jsonOut, "json", false, "print findings, dotenv files and --fix plans as JSON (never values)")
	fl.BoolVarP(&o.verbose, "verbose", "v", false, "also list the files that were skipped, and why")
	c.AddCommand(newScanInstallHookCmd(d))
	return c
}

func (o *scanOptions) validate(paths []string) error {
	switch {
	case o.git && o.staged:
		return usageErrorf("--git and --staged are different scans: give one")
	case o.fix && (o.git || o.staged):
		return usageErrorf("--fix works on the files of a tree: it cannot be combined with --git or --staged")
	case o.all && (o.git || o.staged):
		return usageErrorf("--all is for a tree scan: --git and --staged read what was committed or staged, ignored or not")
	case (o.git || o.staged) && len(paths) > 1:
		return usageErrorf("--git and --staged take at most one PATH: the repository (default: the current directory)")
	case o.yes && !o.fix:
		return usageErrorf("--yes answers the questions of --fix: use it with --fix")
	case o.fix && len(o.envs) > 1:
		return usageErrorf("--fix imports into one environment: give at most one --env")
	}
	for _, e := range o.envs {
		if strings.TrimSpace(e) == "" {
			return usageErrorf("--env: empty environment name")
		}
	}
	return nil
}

// serverSource decrypts the environments in scope, through the session
// library: internal/cli never sees a key.
func serverSource(ctx context.Context, o *scanOptions) (*scanSource, error) {
	d := o.d
	f := o.f
	if len(o.envs) == 1 {
		f.Env = o.envs[0]
	}
	s, t, err := d.authenticate(&f)
	if err != nil {
		return nil, err
	}
	if !s.IsServiceToken() {
		t = s.WithDefaultOrg(t)
	}
	envs, err := s.ReadableEnvs(ctx, t, o.envs)
	if err != nil {
		return nil, err
	}
	src := &scanSource{}
	for _, e := range envs {
		src.envs = append(src.envs, e.Name)
		for _, sec := range e.Secrets() {
			src.secrets = append(src.secrets, scan.Secret{Name: sec.Name, Environment: e.Name, Value: sec.Value, NotSecret: sec.NotSecret})
		}
	}
	wt := t
	if s.IsServiceToken() {
		// The token's own environment, reached through the token.
		wt = session.Target{API: t.API, Env: envs[0].Name, EnvExplicit: len(o.envs) > 0}
		src.into, src.intoEnv = envs[0].Org+"/"+envs[0].Project+"/"+envs[0].Name, envs[0].Name
	} else {
		src.into, src.intoEnv = t.Org+"/"+t.Project+"/"+t.Env, t.Env
	}
	src.importVars = func(ctx context.Context, names []string, values map[string]string) ([]string, int64, error) {
		var set []string
		env, err := s.Update(ctx, wt, func(e *session.Editor) error {
			set = set[:0]
			for _, n := range names {
				if e.Has(n) {
					continue // set meanwhile: the new plan will compare it
				}
				if err := e.Set(n, values[n], false); err != nil {
					return err
				}
				set = append(set, n)
			}
			if len(set) == 0 {
				return session.ErrNoChange
			}
			return nil
		})
		if err != nil {
			return nil, 0, err
		}
		return set, env.Revision, nil
	}
	return src, nil
}

// searched counts the secrets scan.New searches for.
func searched(secrets []scan.Secret) int {
	n := 0
	for _, s := range secrets {
		if !s.NotSecret && len(s.Value) >= scan.MinValueLen {
			n++
		}
	}
	return n
}

func runScan(ctx context.Context, o *scanOptions, paths []string) error {
	d := o.d
	if err := o.validate(paths); err != nil {
		return err
	}
	source := o.source
	if source == nil {
		source = serverSource
	}
	src, err := source(ctx, o)
	if err != nil {
		return err
	}
	s, err := scan.New(src.secrets, scan.Options{IncludeIgnored: o.all, ScanBinaries: o.binaries})
	if err != nil {
		return err
	}
	defer s.Close()
	mode := "tree"
	var res *scan.Result
	switch {
	case o.git || o.staged:
		repo := "."
		if len(paths) == 1 {
			repo = paths[0]
		}
		if o.git {
			mode = "git"
			res, err = s.GitHistory(ctx, repo)
		} else {
			mode = "staged"
			res, err = s.Staged(ctx, repo)
		}
	default:
		if len(paths) == 0 {
			paths = []string{"."}
		}
		res, err = s.Tree(ctx, paths)
	}
	if err != nil {
		return err
	}
	n := searched(src.secrets)
	if n == 0 {
		d.IO.Warnf("nothing to search for: %s hold no secret of at least %d bytes", strings.Join(src.envs, ", "), scan.MinValueLen)
	}
	if !o.jsonOut {
		for _, f := range res.Findings {
			fmt.Fprintln(d.IO.Out, f.String())
		}
		for _, df := range res.Dotenv {
			fmt.Fprintln(d.IO.Out, dotenvLine(df, mode))
		}
	}
	if o.verbose {
		for _, sk := range res.Skipped {
			d.IO.Infof("secr: skipped %s: %s", sk.Path, sk.Reason)
		}
	}
	var fixes []*fixResult
	if o.fix {
		if fixes, err = o.fixAll(ctx, src, res.Dotenv); err != nil {
			return err
		}
	}
	// What remains: findings outside deleted files, dotenv files kept.
	deleted := map[string]bool{}
	for _, fx := range fixes {
		if fx.Deleted {
			deleted[fx.Plan.Path] = true
		}
	}
	findings, dotfiles := 0, 0
	for _, f := range res.Findings {
		if !deleted[f.Path] {
			findings++
		}
	}
	for _, df := range res.Dotenv {
		if !deleted[df.Path] {
			dotfiles++
		}
	}
	if o.jsonOut {
		if err := d.IO.JSON(scanReport(mode, src, n, res, fixes, findings+dotfiles > 0)); err != nil {
			return err
		}
	}
	where := fmt.Sprintf("%s of %s in %s", plural(n, "secret"), strings.Join(src.envs, ", "), plural(res.Files, map[string]string{"tree": "file", "git": "blob", "staged": "staged file"}[mode]))
	if findings+dotfiles == 0 {
		d.IO.Infof("secr: clean: no copy of %s, and no dotenv file.", where)
		return nil
	}
	d.IO.Infof("secr: found %s and %s (searched %s).", copiesOfSecrets(findings), plural(dotfiles, "dotenv file"), where)
	return &runner.ExitError{Code: 1}
}

// copiesOfSecrets returns "1 copy of a secret", "2 copies of secrets".
func copiesOfSecrets(n int) string {
	if n == 1 {
		return "1 copy of a secret"
	}
	return fmt.Sprintf("%d copies of secrets", n)
}

// dotenvLine is how a dotenv file is listed.
func dotenvLine(df scan.DotenvFile, mode string) string {
	var b strings.Builder
	if df.Commit != "" {
		b.WriteString(df.Commit[:min(12, len(df.Commit))] + " ")
	}
	b.WriteString(df.Path + ": dotenv file")
	switch {
	case mode == "git":
		b.WriteString(" (committed)")
	case mode == "staged":
		b.WriteString(" (staged)")
	case df.Symlink && df.Ignored:
		b.WriteString(" (symbolic link, not followed; ignored by .gitignore)")
	case df.Symlink:
		b.WriteString(" (symbolic link, not followed)")
	case df.Ignored:
		b.WriteString(" (ignored by .gitignore)")
	}
	return b.String()
}

// fixResult is what --fix did with one dotenv file.
type fixResult struct {
	Plan     scan.Plan
	Imported []string
	Revision int64
	Deleted  bool
	// Note says why the file was kept, or what happened.
	Note string
}

// fixAll runs --fix on each dotenv file, in order.
func (o *scanOptions) fixAll(ctx context.Context, src *scanSource, files []scan.DotenvFile) ([]*fixResult, error) {
	var out []*fixResult
	for _, df := range files {
		fx, err := o.fixOne(ctx, src, df)
		if err != nil {
			return nil, err
		}
		out = append(out, fx)
	}
	if !o.yes && !o.d.IO.CanPrompt() && len(out) > 0 {
		o.d.IO.Infof("secr: nothing was imported or deleted: without a terminal, --fix acts only with --yes.")
	}
	return out, nil
}

func (o *scanOptions) fixOne(ctx context.Context, src *scanSource, df scan.DotenvFile) (*fixResult, error) {
	d := o.d
	fx := &fixResult{Plan: scan.Plan{Path: df.Path}}
	if df.Symlink {
		fx.Note = "a symbolic link: not followed, not deleted"
		o.printFix(fx)
		return fx, nil
	}
	plan, err := scan.FixFile(df.Path, src.secrets)
	fx.Plan = plan
	if err != nil {
		fx.Note = "kept: " + plan.Reason + ": " + pathErrText(err)
		o.printFix(fx)
		return fx, nil
	}
	o.printPlan(plan)
	var missing []string
	for _, v := range plan.Vars {
		if v.Status == scan.Missing {
			missing = append(missing, v.Name)
		}
	}
	if len(missing) > 0 {
		ok, err := confirmFix(d, o.yes, "Import %s from %s into %s?", strings.Join(missing, ", "), df.Path, src.into)
		if err != nil {
			return nil, err
		}
		if ok {
			values, err := readDotenvValues(df.Path)
			if err != nil {
				return nil, err
			}
			set, rev, err := src.importVars(ctx, missing, values)
			if err != nil {
				return nil, err
			}
			for _, n := range set {
				src.secrets = append(src.secrets, scan.Secret{Name: n, Environment: src.intoEnv, Value: values[n]})
			}
			clear(values)
			fx.Imported, fx.Revision = set, rev
			if len(set) > 0 {
				d.IO.Infof("Imported %s into %s (revision %d).", strings.Join(set, ", "), src.into, rev)
			}
			if plan, err = scan.FixFile(df.Path, src.secrets); err != nil {
				return nil, err
			}
			fx.Plan = plan
		}
	}
	if !plan.Deletable {
		fx.Note = "kept: " + plan.Reason
		o.printFix(fx)
		return fx, nil
	}
	ok, err := confirmFix(d, o.yes, "Delete %s? secr holds every variable with the same value.", df.Path)
	if err != nil {
		return nil, err
	}
	if !ok {
		fx.Note = "kept: not confirmed (delete with --yes)"
		o.printFix(fx)
		return fx, nil
	}
	if err := deleteSecretFile(d, plan); err != nil {
		return nil, err
	}
	fx.Deleted, fx.Note = true, "deleted"
	o.printFix(fx)
	return fx, nil
}

// printPlan lists a dotenv file's variables against secr.
func (o *scanOptions) printPlan(p scan.Plan) {
	if o.jsonOut {
		return
	}
	out := o.d.IO.Out
	fmt.Fprintf(out, "fix %s:\n", p.Path)
	for _, v := range p.Vars {
		var what string
		switch v.Status {
		case scan.Same:
			what = "in secr with the same value (" + strings.Join(v.Environments, ", ") + ")"
		case scan.Different:
			what = "in secr with another value (" + strings.Join(v.Environments, ", ") + ")"
		default:
			what = "not in secr"
		}
		fmt.Fprintf(out, "  line %d: %s: %s\n", v.Line, v.Name, what)
	}
}

func (o *scanOptions) printFix(fx *fixResult) {
	if !o.jsonOut {
		fmt.Fprintf(o.d.IO.Out, "fix %s: %s\n", fx.Plan.Path, fx.Note)
	}
}

// readDotenvValues parses the dotenv file at path into name → value.
func readDotenvValues(path string) (map[string]string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	entries, err := dotenv.Parse(path, data)
	clear(data)
	if err != nil {
		return nil, err
	}
	m := map[string]string{}
	for _, e := range entries {
		m[e.Name] = e.Value
	}
	return m, nil
}

// confirmFix asks a yes/no question on the terminal; yes answers it without
// asking. Without a terminal and without yes the answer is no.
func confirmFix(d *Deps, yes bool, format string, args ...any) (bool, error) {
	if yes {
		return true, nil
	}
	if !d.IO.CanPrompt() {
		return false, nil
	}
	fmt.Fprintf(d.IO.ErrOut, format+" [y/N] ", args...)
	line, err := d.IO.ReadLine()
	if err != nil {
		return false, err
	}
	switch strings.ToLower(strings.TrimSpace(line)) {
	case "y", "yes":
		return true, nil
	}
	return false, nil
}

// deleteSecretFile overwrites and removes plan's file, only if it still
// holds exactly what was planned (and confirmed), and says what the
// overwrite does not guarantee.
func deleteSecretFile(d *Deps, plan scan.Plan) error {
	if err := scan.DeletePlanned(plan); err != nil {
		return fmt.Errorf("delete %s: %w", plan.Path, err)
	}
	d.IO.Infof("Deleted %s. Note: %s.", plan.Path, erasureCaveat)
	return nil
}

// pathErrText is err's message without the *os.PathError's path (the caller
// shows it).
func pathErrText(err error) string {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err.Error()
	}
	return err.Error()
}

// offerCleanup ends `secr secrets import FILE`: when the environment just
// written (its name, and its secrets: env.Name and env.Secrets()) holds
// every variable of FILE with FILE's exact value, it offers to delete FILE,
// asking on a terminal (yes deletes without asking) and otherwise saying
// how. A FILE with a variable the environment does not hold, or holds with
// another value (import --keep-existing), is kept, and it says why. "-"
// (standard input) is nothing to clean up.
func offerCleanup(ctx context.Context, d *Deps, path, envName string, known []session.Secret, yes bool) error {
	_ = ctx // for a future confirmation that asks the server
	if path == "" || path == "-" {
		return nil
	}
	secrets := make([]scan.Secret, 0, len(known))
	for _, k := range known {
		secrets = append(secrets, scan.Secret{Name: k.Name, Environment: envName, Value: k.Value, NotSecret: k.NotSecret})
	}
	plan, err := scan.FixFile(path, secrets)
	if err != nil {
		d.IO.Warnf("not offering to delete %s: %v", path, pathErrText(err))
		return nil
	}
	if !plan.Deletable {
		d.IO.Infof("Kept %s: %s.", path, plan.Reason)
		return nil
	}
	if !yes && !d.IO.CanPrompt() {
		d.IO.Infof("secr now holds every variable of %s: delete it with 'secr scan --fix --yes' (it overwrites the file first).", path)
		return nil
	}
	ok, err := confirmFix(d, yes, "secr now holds every variable of %s. Delete it?", path)
	if err != nil || !ok {
		return err
	}
	return deleteSecretFile(d, plan)
}

// JSON of a scan: names, paths, lines, encodings; never a value.
type scanJSON struct {
	Mode         string        `json:"mode"` // tree, git or staged
	Environments []string      `json:"environments"`
	Secrets      int           `json:"secrets_searched"`
	Files        int           `json:"files"`
	Bytes        int64         `json:"bytes"`
	Found        bool          `json:"found"`
	Findings     []findingJSON `json:"findings"`
	Dotenv       []dotenvJSON  `json:"dotenv_files"`
	Skipped      []skippedJSON `json:"skipped"`
	Fix          []fixJSON     `json:"fix,omitempty"`
}

type findingJSON struct {
	Path        string `json:"path"`
	Line        int    `json:"line"`
	Commit      string `json:"commit,omitempty"`
	Name        string `json:"name"`
	Environment string `json:"environment"`
	Encoding    string `json:"encoding"`
	ValueLine   int    `json:"value_line,omitempty"`
}

type dotenvJSON struct {
	Path    string `json:"path"`
	Commit  string `json:"commit,omitempty"`
	Ignored bool   `json:"ignored"`
	Symlink bool   `json:"symlink"`
}

type skippedJSON struct {
	Path   string `json:"path"`
	Reason string `json:"reason"`
}

type fixJSON struct {
	Path      string       `json:"path"`
	Variables []fixVarJSON `json:"variables"`
	Deletable bool         `json:"deletable"`
	Reason    string       `json:"reason"`
	Imported  []string     `json:"imported"`
	Revision  int64        `json:"revision,omitempty"`
	Deleted   bool         `json:"deleted"`
	Note      string       `json:"note"`
}

type fixVarJSON struct {
	Name         string   `json:"name"`
	Line         int      `json:"line"`
	Status       string   `json:"status"` // same, different or missing
	Environments []string `json:"environments"`
}

func scanReport(mode string, src *scanSource, n int, res *scan.Result, fixes []*fixResult, found bool) scanJSON {
	out := scanJSON{Mode: mode, Environments: src.envs, Secrets: n, Files: res.Files, Bytes: res.Bytes, Found: found,
		Findings: []findingJSON{}, Dotenv: []dotenvJSON{}, Skipped: []skippedJSON{}}
	for _, f := range res.Findings {
		out.Findings = append(out.Findings, findingJSON{Path: f.Path, Line: f.Line, Commit: f.Commit, Name: f.Name,
			Environment: f.Environment, Encoding: string(f.Encoding), ValueLine: f.ValueLine})
	}
	for _, df := range res.Dotenv {
		out.Dotenv = append(out.Dotenv, dotenvJSON{Path: df.Path, Commit: df.Commit, Ignored: df.Ignored, Symlink: df.Symlink})
	}
	for _, sk := range res.Skipped {
		out.Skipped = append(out.Skipped, skippedJSON{Path: sk.Path, Reason: sk.Reason})
	}
	for _, fx := range fixes {
		fj := fixJSON{Path: fx.Plan.Path, Variables: []fixVarJSON{}, Deletable: fx.Plan.Deletable, Reason: fx.Plan.Reason,
			Imported: fx.Imported, Revision: fx.Revision, Deleted: fx.Deleted, Note: fx.Note}
		if fj.Imported == nil {
			fj.Imported = []string{}
		}
		for _, v := range fx.Plan.Vars {
			envs := v.Environments
			if envs == nil {
				envs = []string{}
			}
			fj.Variables = append(fj.Variables, fixVarJSON{Name: v.Name, Line: v.Line, Status: string(v.Status), Environments: envs})
		}
		out.Fix = append(out.Fix, fj)
	}
	return out
}

type installHookOptions struct {
	d          *Deps
	executable func() (string, error)
}

func newScanInstallHookCmd(d *Deps) *cobra.Command {
	o := &installHookOptions{d: d, executable: os.Executable}
	return &cobra.Command{
		Use:   "install-hook [REPOSITORY]",
		Short: "Install a git pre-commit hook that runs 'secr scan --staged'",
		Long: `Write the pre-commit hook of the git repository here (or at REPOSITORY),
honouring core.hooksPath and linked worktrees, so that every commit first runs
'secr scan --staged' with this secr binary and is refused when the staged
files hold a copy of a secret or a dotenv file. Committing then needs what
'secr scan' needs: a login (or SECR_TOKEN) and a .secr.json.

A hook this command wrote before is replaced; any other pre-commit hook is
left alone (exit status 2): add 'secr scan --staged' to it yourself.
'git commit --no-verify' skips the hook once.`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			return runScanInstallHook(c.Context(), o, args)
		},
	}
}

func runScanInstallHook(ctx context.Context, o *installHookOptions, args []string) error {
	repo := "."
	if len(args) == 1 {
		repo = args[0]
	}
	exe, err := o.executable()
	if err != nil {
		return fmt.Errorf("find the secr binary for the hook: %w", err)
	}
	hook, err := scan.InstallHook(repo, exe)
	if errors.Is(err, scan.ErrForeignHook) {
		return withHint(usageErrorf("%v", err), "add this line to that hook yourself: '%s' scan --staged", exe)
	}
	if err != nil {
		return err
	}
	o.d.IO.Infof("Installed %s: every commit now runs 'secr scan --staged' and is refused when it finds a copy of a secret or a dotenv file.", hook)
	return nil
}
