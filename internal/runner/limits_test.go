//go:build linux

package runner

import (
	"strings"
	"testing"
)

func TestCheckSize(t *testing.T) {
	small := &Command{Args: []string{"true"}, Env: []string{"A=1", "PATH=/bin"}}
	if err := CheckSize(small, map[string]string{"A": "1"}); err != nil {
		t.Fatal(err)
	}
	big := strings.Repeat("x", MaxVarLen)
	one := &Command{Args: []string{"true"}, Env: []string{"CERT=" + big}}
	err := CheckSize(one, map[string]string{"CERT": big})
	if err == nil || !strings.Contains(err.Error(), "secret CERT is") || strings.Contains(err.Error(), "xxxx") {
		t.Fatalf("one variable over the limit: %v", err)
	}
	var env []string
	secrets := map[string]string{}
	chunk := strings.Repeat("y", 100<<10)
	for i := 0; i < argLimit()/len(chunk)+2; i++ {
		name := "S" + strings.Repeat("_", i%3) + string(rune('A'+i%26)) + strings.Repeat("Z", i/26)
		env = append(env, name+"="+chunk)
		secrets[name] = chunk
	}
	err = CheckSize(&Command{Args: []string{"true"}, Env: env}, secrets)
	if err == nil || !strings.Contains(err.Error(), "the largest secrets: S") || strings.Contains(err.Error(), "yyyy") {
		t.Fatalf("total over the limit: %v", err)
	}
}
