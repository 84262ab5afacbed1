package scan

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// hookMarker identifies a pre-commit hook written by InstallHook.
const hookMarker = "# secr-scan pre-commit hook"

// ErrForeignHook is returned by InstallHook when a pre-commit hook that
// secr did not write is already there.
var ErrForeignHook = errors.New("a pre-commit hook that secr did not write is already installed")

// InstallHook writes the pre-commit hook of the git repository at repoPath
// (honouring core.hooksPath and linked worktrees) so that each commit runs
// `secrBinary scan --staged` and is refused when it reports anything. It
// replaces a hook it wrote before, refuses (ErrForeignHook) to overwrite any
// other, and returns the hook's path.
func InstallHook(repoPath, secrBinary string) (string, error) {
	repo, err := openRepo(repoPath)
	if err != nil {
		return "", err
	}
	top := repo.Top
	if top == "" {
		return "", fmt.Errorf("install hook: %s is a bare repository", repoPath)
	}
	hooks := ""
	{
		if hp := repo.HooksPath(); hp != "" {
			if strings.HasPrefix(hp, "~/") {
				if home, err := os.UserHomeDir(); err == nil {
					hp = filepath.Join(home, hp[2:])
				}
			}
			if !filepath.IsAbs(hp) {
				hp = filepath.Join(top, hp)
			}
			hooks = hp
		}
	}
	if hooks == "" {
		hooks = filepath.Join(repo.CommonDir, "hooks")
	}
	hook := filepath.Join(hooks, "pre-commit")
	if old, err := os.ReadFile(hook); err == nil {
		if !bytes.Contains(old, []byte(hookMarker)) {
			return "", fmt.Errorf("install hook %s: %w", hook, ErrForeignHook)
		}
	} else if !errors.Is(err, os.ErrNotExist) {
		return "", fmt.Errorf("install hook: %w", err)
	}
	if err := os.MkdirAll(hooks, 0o755); err != nil {
		return "", fmt.Errorf("install hook: %w", err)
	}
	script := "#!/bin/sh\n" + hookMarker + "\n" +
		"# Refuses a commit that adds a copy of a secret held in secr.\n" +
		"# Remove this file to disable it; `git commit --no-verify` skips it once.\n" +
		"exec " + shellQuote(filepath.ToSlash(secrBinary)) + " scan --staged\n"
	tmp := hook + ".secr-tmp"
	if err := os.WriteFile(tmp, []byte(script), 0o755); err != nil {
		return "", fmt.Errorf("install hook: %w", err)
	}
	if err := os.Rename(tmp, hook); err != nil {
		os.Remove(tmp)
		return "", fmt.Errorf("install hook: %w", err)
	}
	return hook, nil
}

// shellQuote quotes s for sh: 'it'\”s'.
func shellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
