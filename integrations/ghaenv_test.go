package integrations

import (
	"errors"
	"fmt"
	"strings"
)

// parseGitHubEnv reads a $GITHUB_ENV file exactly as the GitHub Actions
// runner does on Linux, so tests can check what the next workflow step
// would see. It is a port of the runner's SetEnvFileCommand: lines end at "\n";
// a line is NAME=VALUE, or NAME<<DELIMITER followed by the value's lines up
// to a line equal to DELIMITER (the "\n" before it is not part of the
// value). Later assignments win.
func parseGitHubEnv(text string) (map[string]string, error) {
	vars := map[string]string{}
	index := 0
	readLine := func() (line string, newline, ok bool) {
		if index >= len(text) {
			return "", false, false
		}
		start := index
		lf := strings.IndexByte(text[index:], '\n')
		if lf < 0 {
			index = len(text)
			return text[start:], false, true
		}
		index += lf + 1
		return text[start : index-1], true, true
	}
	for {
		line, _, ok := readLine()
		if !ok {
			return vars, nil
		}
		if line == "" {
			continue
		}
		eq, hd := strings.Index(line, "="), strings.Index(line, "<<")
		switch {
		case eq >= 0 && (hd < 0 || eq < hd):
			if eq == 0 {
				return nil, fmt.Errorf("invalid format %q", line)
			}
			vars[line[:eq]] = line[eq+1:]
		case hd >= 0:
			name, delim := line[:hd], line[hd+2:]
			if name == "" || delim == "" {
				return nil, fmt.Errorf("invalid format %q", line)
			}
			start, end := index, index
			for {
				l, newline, ok := readLine()
				if !ok {
					return nil, fmt.Errorf("matching delimiter not found %q", delim)
				}
				if l == delim {
					break
				}
				if !newline {
					return nil, errors.New("EOF marker missing new line")
				}
				end = index - 1
			}
			vars[name] = ""
			if end > start {
				vars[name] = text[start:end]
			}
		default:
			return nil, fmt.Errorf("invalid format %q", line)
		}
	}
}
