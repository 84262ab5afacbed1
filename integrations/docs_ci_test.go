package integrations

import (
	"bytes"
	"errors"
	"io"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// markdownSections splits a Markdown file into its "## " sections.
func markdownSections(t *testing.T, path string) map[string]string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	sections := map[string]string{}
	var title string
	for _, line := range strings.SplitAfter(string(data), "\n") {
		if h, ok := strings.CutPrefix(line, "## "); ok {
			title = strings.TrimSpace(h)
			continue
		}
		sections[title] += line
	}
	return sections
}

var fenceRE = regexp.MustCompile("(?s)```(\\w*)\\n(.*?)```")

// yamlStrings walks a decoded YAML node and returns every scalar.
func yamlStrings(n *yaml.Node) []string {
	if n.Kind == yaml.ScalarNode {
		return []string{n.Value}
	}
	var out []string
	for _, c := range n.Content {
		out = append(out, yamlStrings(c)...)
	}
	return out
}

// TestCIDocSnippets parses every YAML snippet of docs/ci.md's sections for
// other CI systems and Kubernetes, and checks that each secr command they
// run exists (its --help succeeds) and that the npm package they install is
// the launcher's name.
func TestCIDocSnippets(t *testing.T) {
	sections := markdownSections(t, "../docs/ci.md")
	secrCmd := regexp.MustCompile(`\bsecr((?: [a-z][a-z-]*)+)`)
	checked := map[string]bool{}
	for _, title := range []string{"GitLab CI", "CircleCI", "Bitbucket Pipelines", "Kubernetes"} {
		body, ok := sections[title]
		if !ok {
			t.Errorf("docs/ci.md has no section %q", title)
			continue
		}
		var scalars []string
		yamlBlocks := 0
		for _, m := range fenceRE.FindAllStringSubmatch(body, -1) {
			if m[1] != "yaml" {
				continue
			}
			yamlBlocks++
			dec := yaml.NewDecoder(strings.NewReader(m[2]))
			docs := 0
			for {
				var n yaml.Node
				err := dec.Decode(&n)
				if errors.Is(err, io.EOF) {
					break
				}
				if err != nil {
					t.Fatalf("%s: YAML does not parse: %v\n%s", title, err, m[2])
				}
				docs++
				scalars = append(scalars, yamlStrings(&n)...)
			}
			if docs == 0 {
				t.Errorf("%s: empty YAML snippet", title)
			}
		}
		if yamlBlocks == 0 {
			t.Errorf("%s: no YAML snippet", title)
		}
		joined := strings.Join(scalars, "\n")
		if title == "Kubernetes" {
			// The command is a list: ["secr", "run", "--"].
			joined = strings.ReplaceAll(joined, "secr\nrun\n--", "secr run --")
			if !strings.Contains(joined, "SECR_TOKEN_FILE\nvalue\n/var/run/secrets/secr/token") || !strings.Contains(joined, "/var/run/secrets/secr\n") ||
				!strings.Contains(joined, "secretName\nsecr-token") {
				t.Errorf("Kubernetes: SECR_TOKEN_FILE does not name the mounted Secret's file:\n%s", joined)
			}
		}
		if !strings.Contains(joined, "secr run --") {
			t.Errorf("%s: no `secr run --` in the snippet", title)
		}
		for _, m := range secrCmd.FindAllStringSubmatch(joined, -1) {
			words := strings.Fields(m[1])
			if len(words) > 2 {
				words = words[:2]
			}
			// Keep only the command path (a subcommand's argument is not one).
			key := strings.Join(words, " ")
			if checked[key] {
				continue
			}
			checked[key] = true
			args := append(words, "--help")
			out, err := exec.Command(secrBin, args...).CombinedOutput()
			if err != nil && len(words) > 1 {
				// "secr run ./x" style: only the first word is a command.
				words = words[:1]
				out, err = exec.Command(secrBin, words[0], "--help").CombinedOutput()
			}
			if err != nil || !bytes.Contains(out, []byte("secr "+words[0])) {
				t.Errorf("%s: `secr %s` is not a secr command: %v\n%s", title, strings.Join(words, " "), err, out)
			}
		}
		for _, m := range regexp.MustCompile(`npm i[a-z]*(?: -g| --prefix \S+)? (@\S+)`).FindAllStringSubmatch(joined, -1) {
			if m[1] != "@secr/cli" {
				t.Errorf("%s installs %s, not @secr/cli", title, m[1])
			}
		}
	}
	if !checked["run"] {
		t.Error("no snippet runs secr run")
	}
}
