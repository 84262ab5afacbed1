//go:build unix

package integrations

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestNpmLauncherSignalsOnce: a SIGTERM to the launcher's whole process
// group (GNU timeout, a CI runner ending the job: `kill -TERM -- -PGID`)
// and a SIGTERM to the launcher alone each reach a `secr run --mask` child
// exactly once. The child counts the TERMs it traps into a file; once the
// first is there, the test asks it to stop (it looks for a file every
// 20ms), so a second delivery on its way has that long to show up.
func TestNpmLauncherSignalsOnce(t *testing.T) {
	dir, v := npmTarballs(t)
	prefix := npmInstall(t, filepath.Join(dir, "secr-cli-"+v+".tgz"), filepath.Join(dir, "secr-cli-linux-x64-"+v+".tgz"))
	secr := filepath.Join(prefix, "bin", "secr")
	s := startServer(t)
	tok := s.token("production")

	for _, tc := range []struct {
		name  string
		group bool
	}{{"process group", true}, {"launcher alone", false}} {
		t.Run(tc.name, func(t *testing.T) {
			tmp := t.TempDir()
			count, ready, stop := filepath.Join(tmp, "count"), filepath.Join(tmp, "ready"), filepath.Join(tmp, "stop")
			cmd := exec.Command(secr, "run", "--mask", "--", "sh", "-c",
				`trap 'echo TERM >> "$COUNT"' TERM; : > "$READY"; while [ ! -e "$STOP" ]; do sleep 0.02; done; exit 0`)
			cmd.Env = s.env("SECR_TOKEN="+tok, "COUNT="+count, "READY="+ready, "STOP="+stop)
			// A session of its own: no controlling terminal (as in CI), and
			// the launcher leads the process group that the test signals.
			cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
			var stderr strings.Builder
			cmd.Stderr = &stderr
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			exited := make(chan error, 1)
			go func() { exited <- cmd.Wait() }()
			t.Cleanup(func() {
				select {
				case <-exited:
				default:
					syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
					cmd.Process.Kill()
				}
			})
			waitFor(t, exited, "the child to start", func() bool { return fileExists(ready) })

			target := cmd.Process.Pid
			if tc.group {
				target = -target
			}
			if err := syscall.Kill(target, syscall.SIGTERM); err != nil {
				t.Fatal(err)
			}
			waitFor(t, exited, "the child to trap TERM", func() bool { data, _ := os.ReadFile(count); return len(data) > 0 })
			if err := os.WriteFile(stop, nil, 0o644); err != nil {
				t.Fatal(err)
			}
			select {
			case err := <-exited:
				if err != nil {
					t.Fatalf("launcher: %v\n%s", err, stderr.String())
				}
			case <-time.After(20 * time.Second):
				t.Fatalf("the launcher did not exit after its child stopped\n%s", stderr.String())
			}
			data, _ := os.ReadFile(count)
			if n := strings.Count(string(data), "TERM"); n != 1 {
				t.Fatalf("the child trapped TERM %d times, want once", n)
			}
		})
	}
}

// waitFor polls cond until it holds, failing the test after 20s or when
// the process behind exited ends first.
func waitFor(t *testing.T, exited chan error, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		select {
		case err := <-exited:
			exited <- err
			t.Fatalf("waiting for %s: the launcher exited: %v", what, err)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("waiting for %s: not after 20s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
