// Package integrations holds the CI/CD and distribution integrations (npm
// packages, the GitHub Action, Vercel and Netlify) and tests of the files
// that ship with them.
package integrations

import (
	"bufio"
	"os"
	"regexp"
	"strings"
	"testing"
)

// TestDockerfile checks the repository's Dockerfile without a Docker engine
// (none runs here): exec-form ENTRYPOINT, a non-root USER in the final
// stage, a static build, and no ARG or ENV that could carry a token.
func TestDockerfile(t *testing.T) {
	f, err := os.Open("../Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	type instr struct{ cmd, args string }
	var stages [][]instr
	sc := bufio.NewScanner(f)
	var cont string
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if strings.HasSuffix(line, "\\") {
			cont += strings.TrimSuffix(line, "\\") + " "
			continue
		}
		line, cont = cont+line, ""
		cmd, args, _ := strings.Cut(line, " ")
		cmd = strings.ToUpper(cmd)
		if cmd == "FROM" {
			stages = append(stages, nil)
		}
		if len(stages) == 0 {
			t.Fatalf("instruction before FROM: %q", line)
		}
		stages[len(stages)-1] = append(stages[len(stages)-1], instr{cmd, strings.TrimSpace(args)})
	}
	if len(stages) < 2 {
		t.Fatalf("want a multi-stage build, got %d stages", len(stages))
	}
	secretish := regexp.MustCompile(`(?i)token|secret|password|key`)
	static := false
	for _, st := range stages {
		for _, in := range st {
			if (in.cmd == "ARG" || in.cmd == "ENV") && secretish.MatchString(in.args) {
				t.Errorf("%s %s could carry a secret into the image", in.cmd, in.args)
			}
			if in.cmd == "RUN" && strings.Contains(in.args, "CGO_ENABLED=0") && strings.Contains(in.args, "go build") {
				static = true
			}
		}
	}
	if !static {
		t.Error("no CGO_ENABLED=0 go build: the binary would not be static")
	}
	final := stages[len(stages)-1]
	var user, entrypoint string
	for _, in := range final {
		switch in.cmd {
		case "USER":
			user = in.args
		case "ENTRYPOINT":
			entrypoint = in.args
		}
	}
	if user == "" || user == "root" || strings.HasPrefix(user, "0") || strings.HasPrefix(user, "root:") {
		t.Errorf("final stage runs as %q, want a non-root USER", user)
	}
	if !strings.HasPrefix(entrypoint, "[") {
		t.Errorf("ENTRYPOINT %q is not exec form (signals would go to a shell)", entrypoint)
	}
	base := final[0].args
	if !strings.Contains(base, "distroless") && base != "scratch" {
		t.Errorf("final base %q is neither distroless nor scratch", base)
	}
}
