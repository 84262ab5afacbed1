//go:build linux

package runner

import (
	"strings"
	"testing"
)

func TestCheckSize(t *testing.T) {
	small := &Command{Args: []string{"true"}, Env: []string{"PATH=/bin", "A=1"}}
	if err := CheckSize(small, 1); err != nil {
		t.Fatal(err)
	}
	big := strings.Repeat("x", MaxVarLen)
	one := &Command{Args: []string{"true"}, Env: []string{"PATH=/bin", "CERT=" + big}}
	err := CheckSize(one, 1)
	if err == nil || !strings.Contains(err.Error(), "secret CERT is 131078 bytes") || strings.Contains(err.Error(), "xxxx") {
		t.Fatalf("one secret over the limit: %v", err)
	}
	// The same variable inherited, not a secret.
	if err := CheckSize(one, 0); err == nil || !strings.Contains(err.Error(), "variable CERT is") {
		t.Fatalf("one inherited variable over the limit: %v", err)
	}
	// Over the total: the largest secrets are named, largest first, and
	// an inherited variable larger than all of them is not.
	chunk := strings.Repeat("y", 100<<10)
	env := []string{"INHERITED=" + strings.Repeat("y", 120<<10)}
	n := argLimit()/len(chunk) + 2
	for i := 0; i < n; i++ {
		name := "S" + strings.Repeat("_", i%3) + string(rune('A'+i%26)) + strings.Repeat("Z", i/26)
		value := chunk
		if i == 7 {
			value += "yy" // the largest secret
		}
		env = append(env, name+"="+value)
	}
	err = CheckSize(&Command{Args: []string{"true"}, Env: env}, n)
	if err == nil || !strings.Contains(err.Error(), "the largest secrets: S_H (101 KiB), S") || strings.Contains(err.Error(), "INHERITED") || strings.Contains(err.Error(), "yyyy") {
		t.Fatalf("total over the limit: %v", err)
	}
}
