package runner

import (
	"fmt"
	"sort"
	"strings"
)

// MaxVarLen is the longest single "NAME=value" string (with its final NUL)
// Linux passes to a new program: MAX_ARG_STRLEN, 32 pages of 4 KiB.
const MaxVarLen = 32 * 4096

// CheckSize returns an error naming the variables at fault when c's
// arguments and environment are more than execve accepts on this system:
// a single variable over MaxVarLen (Linux), or the total over argLimit (a
// quarter of the stack size limit on Linux). secrets is how many of the
// variables at the end of c.Env are secrets (as BuildEnv returns them), to
// name those. Without the check, the program fails to start with
// "argument list too long" and no name.
func CheckSize(c *Command, secrets int) error {
	limit := argLimit()
	if limit == 0 {
		return nil
	}
	firstSecret := len(c.Env) - min(max(secrets, 0), len(c.Env))
	total := 0
	for _, a := range c.Args {
		total += len(a) + 1 + 8 // the string, its NUL and a pointer
	}
	for i, kv := range c.Env {
		size := len(kv) + 1
		total += size + 8
		if size > MaxVarLen && perVariableLimit {
			what := "variable"
			if i >= firstSecret {
				what = "secret"
			}
			name, _, _ := strings.Cut(kv, "=")
			return fmt.Errorf("%s %s is %d bytes as NAME=value, more than the %d bytes this system passes to a program in one variable: keep large files out of the environment (secr run --mount serves them as a file)",
				what, name, size, MaxVarLen)
		}
	}
	if total <= limit {
		return nil
	}
	type variable struct {
		name string
		size int
	}
	vars := make([]variable, 0, len(c.Env)-firstSecret)
	for _, kv := range c.Env[firstSecret:] {
		name, _, _ := strings.Cut(kv, "=")
		vars = append(vars, variable{name, len(kv) + 1})
	}
	sort.SliceStable(vars, func(i, j int) bool { return vars[i].size > vars[j].size })
	var largest []string
	for _, v := range vars[:min(len(vars), 5)] {
		largest = append(largest, fmt.Sprintf("%s (%d KiB)", v.name, (v.size+1023)/1024))
	}
	msg := fmt.Sprintf("the program's arguments and environment are %d KiB, more than the %d KiB this system accepts for a new program (a quarter of the stack size limit, 'ulimit -s')",
		(total+1023)/1024, limit/1024)
	if len(largest) > 0 {
		msg += "; the largest secrets: " + strings.Join(largest, ", ")
	}
	return fmt.Errorf("%s", msg)
}
