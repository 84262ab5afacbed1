// Package config reads and writes secr's local files: the repository's
// .secr.json, the login credentials and the per-environment revision
// high-water marks used for rollback detection.
package config

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// ProjectFileName is the name of the per-repository settings file.
const ProjectFileName = ".secr.json"

// Project is the content of .secr.json. It holds no secrets and is meant
// to be committed.
type Project struct {
	Org         string `json:"org"`
	Project     string `json:"project"`
	Environment string `json:"environment,omitempty"`
	API         string `json:"api,omitempty"`
}

// ErrNoProjectFile means no .secr.json was found up to the filesystem root.
var ErrNoProjectFile = errors.New("no " + ProjectFileName + " found in this directory or any parent")

// FindProject walks up from dir to the first .secr.json and parses it.
func FindProject(dir string) (*Project, string, error) {
	for {
		path := filepath.Join(dir, ProjectFileName)
		data, err := os.ReadFile(path)
		if err == nil {
			p, err := ParseProject(path, data)
			return p, path, err
		}
		if !errors.Is(err, os.ErrNotExist) {
			return nil, "", fmt.Errorf("read %s: %w", path, err)
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return nil, "", ErrNoProjectFile
		}
		dir = parent
	}
}

// ParseProject parses and checks a .secr.json. Unknown fields are errors,
// so a typo such as "enviroment" is caught rather than silently ignored.
func ParseProject(path string, data []byte) (*Project, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var p Project
	if err := dec.Decode(&p); err != nil {
		return nil, fmt.Errorf("%s is malformed: %v (expected {\"org\": ..., \"project\": ..., \"environment\": ...})", path, err)
	}
	if p.Org == "" || p.Project == "" {
		return nil, fmt.Errorf("%s is missing %q or %q: run 'secr init --force' to rewrite it", path, "org", "project")
	}
	return &p, nil
}

// WriteProject writes p to path, refusing to replace an existing file
// unless force is set.
func WriteProject(path string, p *Project, force bool) error {
	data, err := json.MarshalIndent(p, "", "  ")
	if err != nil {
		return err
	}
	flags := os.O_WRONLY | os.O_CREATE | os.O_TRUNC
	if !force {
		flags |= os.O_EXCL
	}
	f, err := os.OpenFile(path, flags, 0o644)
	if errors.Is(err, os.ErrExist) {
		return fmt.Errorf("%s already exists: pass --force to overwrite it", path)
	}
	if err != nil {
		return err
	}
	if _, err := f.Write(append(data, '\n')); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
