//go:build unix

// Command bench times `secr run -- true` against a local server for
// environments of 20 and 1,000 secrets, and for 20 secrets in an org whose
// chain has 1,000 entries (pinned on this machine, and verified from the
// root on first contact), and reports the median wall time and peak memory
// (max RSS, which survives the exec into `true`).
//
//	go run ./bench            # default: 30 runs per case
//	go run ./bench -runs 100
//	go run ./bench -chain 0   # skip the long-chain cases
//	go run ./bench -perf      # also profile the 20-secret case with perf
//	go run ./bench -floor     # also the baseline exec'ing with N extra variables,
//	                          # secr run --offline and --max-age 1h (no request)
//	go run ./bench -tls       # over https, with a test CA added to the system
//	                          # bundle; also times runs with no remembered root
//
// It builds secr, starts `secr server` on a free 127.0.0.1 port with a
// fresh SQLite file in a temporary directory, signs up, and imports the
// secrets. Nothing outside the temporary directory is touched.
package main

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/secr-dev/secr/internal/tlsroots/roottest"
)

const measureFlag = "-measure-child-rss"

func main() {
	if len(os.Args) > 2 && os.Args[1] == measureFlag {
		cmd := exec.Command(os.Args[2], os.Args[3:]...)
		if err := cmd.Run(); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		fmt.Println(cmd.ProcessState.SysUsage().(*syscall.Rusage).Maxrss)
		return
	}
	if len(os.Args) == 4 && os.Args[1] == floorFlag {
		size, _ := strconv.Atoi(os.Args[3])
		serveFloor(os.Args[2], size)
		return
	}
	runs := flag.Int("runs", 30, "timed runs per case")
	profile := flag.Bool("perf", false, "profile 300 runs of the 20-secret case with perf record and print where the time goes")
	serverMode := flag.Bool("server", false, "load-test the server's snapshot reads instead (SQLite, and PostgreSQL with -postgres), against a bare net/http floor")
	duration := flag.Duration("duration", 3*time.Second, "-server: measured time per cell")
	conns := flag.String("conns", "16,64,200", "-server: connection counts")
	sizes := flag.String("sizes", "20,1000,10000", "-server (and run): environment sizes, of 20, 1000, 10000")
	rounds := flag.Int("rounds", 1, "-server: rounds of the whole table")
	pg := flag.String("postgres", os.Getenv("SECR_TEST_POSTGRES"), "-server: PostgreSQL DSN (a fresh schema is created and dropped); empty: SQLite only")
	secrBin := flag.String("secr", "", "use this secr binary instead of building ./cmd/secr (to compare builds)")
	also := flag.String("also", "", "run: also time this second secr binary, interleaved with the first (e.g. an older build)")
	chain := flag.Int("chain", 1000, "run: also time an org whose chain has this many entries (0: skip)")
	floor := flag.Bool("floor", false, "run: also time the baseline exec'ing true with as many extra variables as each size has secrets (shaped like them): the floor for any program that starts another with that environment; and secr run --offline and --max-age 1h, which ask no server")
	useTLS := flag.Bool("tls", false, "run: serve https with a test CA appended to the system CA bundle (SSL_CERT_FILE), as a server with a public certificate is verified; also time runs that must load the whole system pool (no remembered root)")
	serverBin := flag.String("server-secr", "", "run: the secr binary that runs `secr server` and the setup (default: the one measured; a secr finds secr-server beside it or on PATH)")
	flag.Parse()
	if *serverMode {
		err := runServerBench(serverBenchOptions{bin: *secrBin, duration: *duration, conns: ints(*conns), sizes: ints(*sizes), postgres: *pg, rounds: *rounds})
		if err != nil {
			fmt.Fprintln(os.Stderr, "bench:", err)
			os.Exit(1)
		}
		return
	}
	opts := runOptions{runs: *runs, profile: *profile, prebuilt: *secrBin, serverBin: *serverBin, also: *also, sizes: ints(*sizes), chain: *chain, floor: *floor, tls: *useTLS}
	if err := run(opts); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

func ints(s string) []int {
	var out []int
	for _, f := range strings.Split(s, ",") {
		if n, err := strconv.Atoi(strings.TrimSpace(f)); err == nil {
			out = append(out, n)
		}
	}
	return out
}

// runOptions are the flags of the run bench.
type runOptions struct {
	runs                      int
	profile                   bool
	prebuilt, serverBin, also string
	sizes                     []int
	chain                     int
	floor, tls                bool
}

func run(o runOptions) error {
	dir, err := os.MkdirTemp("", "secr-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	bin := filepath.Join(dir, "secr")
	if o.prebuilt != "" {
		bin = o.prebuilt
	} else {
		if err := buildSecr(dir); err != nil {
			return err
		}
	}
	baseline := filepath.Join(dir, "exec-true")
	if err := buildBaseline(dir, baseline); err != nil {
		return err
	}

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	addr := ln.Addr().String()
	ln.Close()
	home := filepath.Join(dir, "home")
	scheme, serverArgs, health := "http", []string(nil), http.DefaultClient
	var tlsEnv []string
	if o.tls {
		var ca *x509.CertPool
		if tlsEnv, serverArgs, ca, err = benchTLS(dir); err != nil {
			return err
		}
		scheme = "https"
		health = &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: ca}}}
	}
	env := append(os.Environ(), "HOME="+home, "SECR_API_URL="+scheme+"://"+addr, "XDG_CONFIG_HOME=", "XDG_STATE_HOME=", "XDG_CACHE_HOME=", "SECR_TOKEN=", "SECR_ENV=", "SECR_CREDENTIALS=file")
	env = append(env, tlsEnv...)
	setupBin := bin
	if o.serverBin != "" {
		setupBin = o.serverBin
	}
	server := exec.Command(setupBin, append([]string{"server", "--listen", addr, "--db", filepath.Join(dir, "secr.db")}, serverArgs...)...)
	server.Env = env
	if err := server.Start(); err != nil {
		return err
	}
	defer func() { server.Process.Signal(syscall.SIGTERM); server.Wait() }()
	if err := waitHealthyVia(health, scheme+"://"+addr+"/healthz"); err != nil {
		return err
	}

	project := filepath.Join(dir, "project")
	if err := os.MkdirAll(project, 0o755); err != nil {
		return err
	}
	secr := func(stdin string, args ...string) error {
		cmd := exec.Command(setupBin, args...)
		cmd.Env, cmd.Dir, cmd.Stdin = env, project, strings.NewReader(stdin)
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("secr %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return nil
	}
	steps := setupSteps(o.sizes)
	for _, s := range steps {
		if err := secr(s[0], s[1:]...); err != nil {
			return err
		}
	}
	if o.chain > 0 {
		// An org whose chain reaches `chain` entries: the root, a project
		// with three environments, and one env.create per extra entry.
		long := []string{"--org", "long", "--project", "app"}
		if err := secr("", "orgs", "create", "long"); err != nil {
			return err
		}
		if err := secr("", "projects", "create", "app", "--org", "long"); err != nil {
			return err
		}
		for i := 5; i < o.chain; i++ {
			if err := secr("", append([]string{"envs", "create", fmt.Sprintf("fill-%04d", i)}, long...)...); err != nil {
				return err
			}
		}
		if err := secr(dotenv(20), append([]string{"secrets", "import", "--env", "development", "-"}, long...)...); err != nil {
			return err
		}
	}
	// fresh empties a state directory before each run of the first-contact
	// case, so the chain is verified from its root every time.
	fresh := filepath.Join(dir, "fresh-state")
	// The -also binary gets a copy of the logged-in home of its own: its
	// cache and pinned chains may be in another format than bin's, and
	// sharing them would make each rewrite the other's on every run.
	alsoEnv := []string{"HOME=" + filepath.Join(dir, "home-also"), "XDG_CACHE_HOME=" + filepath.Join(dir, "home-also", ".cache")}
	if o.also != "" {
		if out, err := exec.Command("cp", "-a", home, filepath.Join(dir, "home-also")).CombinedOutput(); err != nil {
			return fmt.Errorf("copy the home for -also: %v: %s", err, out)
		}
		// Its own pins and cache, made in the warm-up rounds.
		for _, d := range []string{".local/state/secr/chains", ".cache/secr"} {
			if err := os.RemoveAll(filepath.Join(dir, "home-also", d)); err != nil {
				return err
			}
		}
	}

	fmt.Printf("secr run -- true, %d runs each, %s/%s, %d CPUs, %s\n", o.runs, runtime.GOOS, runtime.GOARCH, runtime.NumCPU(), runtime.Version())
	fmt.Printf("%-34s %10s %10s %10s %12s %8s\n", "case", "median", "p10", "p90", "peak RSS", "×base")
	type benchCase struct {
		name   string
		argv   []string
		env    []string     // added to env
		before func() error // before each run, untimed
	}
	cases := []benchCase{
		{name: "baseline: Go binary exec'ing true", argv: []string{baseline}},
	}
	for _, n := range o.sizes {
		if o.floor {
			cases = append(cases, benchCase{name: fmt.Sprintf("  baseline + %d variables", n), argv: []string{baseline}, env: []string{fmt.Sprintf("BENCH_EXTRA_VARS=%d", n)}})
		}
		cases = append(cases, benchCase{name: fmt.Sprintf("secr run, %d secrets", n), argv: []string{bin, "run", "--env", sizeEnv[n], "--", "true"}})
		if o.tls {
			// No remembered root: crypto/x509 loads the whole system pool,
			// as on a machine's first run against this server.
			hints := filepath.Join(home, ".cache", "secr", "tls-roots")
			cases = append(cases, benchCase{name: fmt.Sprintf("  no remembered root, %d", n), argv: []string{bin, "run", "--env", sizeEnv[n], "--", "true"},
				before: func() error { return removeIfExists(hints) }})
		}
		if o.floor {
			// The same run from the verified cache, asking no server: what
			// the request costs, and the floor of a client that skips it.
			cases = append(cases, benchCase{name: fmt.Sprintf("  --offline, %d", n), argv: []string{bin, "run", "--offline", "--env", sizeEnv[n], "--", "true"}})
			// A copy the server confirmed within --max-age, used without
			// asking: the run a loop of runs gets after its first.
			cases = append(cases, benchCase{name: fmt.Sprintf("  --max-age 1h, %d", n), argv: []string{bin, "run", "--max-age", "1h", "--env", sizeEnv[n], "--", "true"}})
		}
		if o.also != "" {
			cases = append(cases, benchCase{name: fmt.Sprintf("  %s, %d", filepath.Base(o.also), n), argv: []string{o.also, "run", "--env", sizeEnv[n], "--", "true"}, env: alsoEnv})
		}
	}
	if o.chain > 0 {
		longRun := []string{bin, "run", "--org", "long", "--project", "app", "--env", "development", "--", "true"}
		cases = append(cases, benchCase{name: fmt.Sprintf("20 secrets, %d-entry chain", o.chain), argv: longRun})
		if o.also != "" {
			cases = append(cases, benchCase{name: fmt.Sprintf("  %s, %d-entry chain", filepath.Base(o.also), o.chain), argv: append([]string{o.also}, longRun[1:]...), env: alsoEnv})
		}
		cases = append(cases,
			benchCase{name: "  same, first contact", argv: longRun, env: []string{"XDG_STATE_HOME=" + fresh, "XDG_CACHE_HOME=" + fresh}})
	}
	// Cases are interleaved round by round, so that drift in machine load
	// (this is a shared VM) affects all of them alike.
	times := make([][]time.Duration, len(cases))
	peaks := make([]int64, len(cases))
	for round := 0; round < o.runs+3; round++ {
		for i, c := range cases {
			if err := os.RemoveAll(fresh); err != nil {
				return err
			}
			if c.before != nil {
				if err := c.before(); err != nil {
					return err
				}
			}
			cmd := exec.Command(c.argv[0], c.argv[1:]...)
			cmd.Env, cmd.Dir = append(slices.Clone(env), c.env...), project
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			start := time.Now()
			if err := cmd.Run(); err != nil {
				return fmt.Errorf("%s: %v\n%s", c.name, err, stderr.String())
			}
			elapsed := time.Since(start)
			if round < 3 {
				continue // warm-up: page cache, server connection pool
			}
			times[i] = append(times[i], elapsed)
		}
	}
	// Peak memory: Go starts children with vfork, and Linux then counts the
	// parent's resident memory in the child's max RSS. This process has
	// grown bigger than secr, so a fresh copy of it (a few MB) starts each
	// measured command and reports the child's max RSS, which survives the
	// exec into true.
	self, err := os.Executable()
	if err != nil {
		return err
	}
	for i, c := range cases {
		for j := 0; j < 5; j++ {
			if err := os.RemoveAll(fresh); err != nil {
				return err
			}
			if c.before != nil {
				if err := c.before(); err != nil {
					return err
				}
			}
			cmd := exec.Command(self, append([]string{measureFlag}, c.argv...)...)
			cmd.Env, cmd.Dir = append(slices.Clone(env), c.env...), project
			out, err := cmd.Output()
			if err != nil {
				return fmt.Errorf("%s: %v", c.name, err)
			}
			var kb int64
			fmt.Sscan(string(out), &kb)
			peaks[i] = max(peaks[i], kb)
		}
	}
	for i := range cases {
		slices.Sort(times[i])
	}
	for i, c := range cases {
		t := times[i]
		fmt.Printf("%-34s %10s %10s %10s %9.1f MB %7.2f×\n", c.name, ms(t[len(t)/2]), ms(t[len(t)/10]), ms(t[len(t)*9/10]), float64(peaks[i])/1024,
			float64(t[len(t)/2])/float64(times[0][len(times[0])/2]))
	}
	if o.profile {
		return perfProfile(dir, bin, env, project)
	}
	return nil
}

// phases are the functions whose inclusive share of secr's CPU samples
// says where a run spends its time.
var phases = []struct{ symbol, meaning string }{
	{"runtime.rt0_go.abi0", "Go runtime start (schedinit, heap, threads)"},
	{"runtime.doInit1", "package initialisation (all linked packages)"},
	{"github.com/secr-dev/secr/internal/cli.Run", "secr's own work, from argument parsing to exec"},
	{"github.com/secr-dev/secr/internal/cli.newRoot", "  building the cobra command tree"},
	{"github.com/secr-dev/secr/internal/cli.(*Deps).resolve", "  finding and reading .secr.json, flags and variables"},
	{"github.com/secr-dev/secr/internal/cli.(*Deps).authenticate", "  the above, and reading the login"},
	{"github.com/secr-dev/secr/internal/session.(*Session).Load", "  the fetch (conditional), receipt or unwrap, open, parse, rollback check"},
	{"github.com/secr-dev/secr/internal/session.(*Session).pinned", "    reading the pinned org chain"},
	{"github.com/secr-dev/secr/internal/session.(*Session).held", "    reading the cached snapshot, opening its receipt"},
	{"github.com/secr-dev/secr/internal/client.(*Client).snapshot", "    the HTTP request (client side)"},
	{"github.com/secr-dev/secr/internal/session.(*Session).open", "    checks, open revision, parse, rollback check"},
	{"github.com/secr-dev/secr/internal/client.(*Client).Preconnect.func1", "  the connection, dialled beside the above"},
	{"syscall.Exec", "  execve"},
	{"runtime.gcBgMarkWorker", "garbage collection"},
}

func perfProfile(dir, bin string, env []string, project string) error {
	data := filepath.Join(dir, "perf.data")
	loop := fmt.Sprintf("for i in $(seq 300); do %s run -- true 2>/dev/null; done", bin)
	rec := exec.Command("perf", "record", "-q", "-F", "20000", "-g", "-o", data, "--", "sh", "-c", loop)
	rec.Env, rec.Dir, rec.Stderr = env, project, os.Stderr
	if err := rec.Run(); err != nil {
		return fmt.Errorf("perf record (is linux-perf installed?): %w", err)
	}
	out, err := exec.Command("perf", "report", "-i", data, "--comm", "secr", "--children", "--percentage", "relative",
		"--sort", "sym", "-g", "none", "--stdio").Output()
	if err != nil {
		return fmt.Errorf("perf report: %w", err)
	}
	share := map[string]string{}
	for _, line := range strings.Split(string(out), "\n") {
		f := strings.Fields(line)
		if len(f) >= 4 && strings.HasSuffix(f[0], "%") {
			share[f[len(f)-1]] = f[0]
		}
	}
	fmt.Printf("\nwhere secr's CPU time goes (inclusive share of samples, 300 runs, 20 secrets):\n")
	for _, p := range phases {
		v := share[p.symbol]
		if v == "" {
			v = "<0.01%"
		}
		fmt.Printf("  %7s  %s\n", v, p.meaning)
	}
	return nil
}

func ms(d time.Duration) string { return fmt.Sprintf("%.2f ms", float64(d.Microseconds())/1000) }

func dotenv(n int) string {
	var b strings.Builder
	for i := 0; i < n; i++ {
		fmt.Fprintf(&b, "SECRET_%04d='value-%04d-%s'\n", i, i, strings.Repeat("x", 40))
	}
	return b.String()
}

func waitHealthy(url string) error { return waitHealthyVia(http.DefaultClient, url) }

func waitHealthyVia(c *http.Client, url string) error {
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if resp, err := c.Get(url); err == nil {
			resp.Body.Close()
			return nil
		}
		time.Sleep(20 * time.Millisecond)
	}
	return fmt.Errorf("server at %s did not start", url)
}

// benchTLS makes a CA and a certificate for 127.0.0.1 in dir, and a CA
// bundle that is the system's (the file crypto/x509 would read) with the
// CA appended: the client then verifies the server as it would one with a
// public certificate, system pool and all. It returns the client's
// environment, the server's flags and the CA.
func benchTLS(dir string) (env, serverArgs []string, pool *x509.CertPool, err error) {
	ca := roottest.NewCA("secr bench CA")
	leaf := ca.Server()
	key, err := x509.MarshalPKCS8PrivateKey(leaf.PrivateKey)
	if err != nil {
		return nil, nil, nil, err
	}
	system := os.Getenv("SSL_CERT_FILE")
	if system == "" {
		system = "/etc/ssl/certs/ca-certificates.crt"
	}
	bundle, err := os.ReadFile(system)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("read the system CA bundle (set SSL_CERT_FILE): %w", err)
	}
	files := map[string][]byte{
		"bundle.pem": append(bundle, ca.PEM()...),
		"cert.pem":   pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: leaf.Certificate[0]}),
		"key.pem":    pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: key}),
	}
	for name, data := range files {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o600); err != nil {
			return nil, nil, nil, err
		}
	}
	pool = x509.NewCertPool()
	pool.AddCert(ca.Cert)
	return []string{"SSL_CERT_FILE=" + filepath.Join(dir, "bundle.pem")},
		[]string{"--tls-cert", filepath.Join(dir, "cert.pem"), "--tls-key", filepath.Join(dir, "key.pem")}, pool, nil
}

func removeIfExists(path string) error {
	if err := os.Remove(path); err != nil && !os.IsNotExist(err) {
		return err
	}
	return nil
}

// buildSecr builds secr and secr-server (which `secr server` runs) into
// dir. Symbols are kept so that -perf can name functions; they do not
// change what runs.
func buildSecr(dir string) error {
	build := exec.Command("go", "build", "-trimpath", "-o", dir+string(filepath.Separator), "./cmd/secr", "./cmd/secr-server")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	build.Stderr = os.Stderr
	if err := build.Run(); err != nil {
		return fmt.Errorf("build secr: %w", err)
	}
	return nil
}

// buildBaseline builds a Go program that only execs true: the floor for
// any Go tool that starts a child by exec. With BENCH_EXTRA_VARS=N it
// first adds N variables shaped like the bench's secrets (built as cheaply
// as Go can: one string, no garbage collection), which is the floor for
// starting a program with an environment that large.
func buildBaseline(dir, out string) error {
	src := filepath.Join(dir, "baseline")
	if err := os.MkdirAll(src, 0o755); err != nil {
		return err
	}
	prog := `package main

import (
	"os"
	"os/exec"
	"runtime/debug"
	"strconv"
	"strings"
	"syscall"
)

func main() {
	p, _ := exec.LookPath("true")
	env := os.Environ()
	if n, _ := strconv.Atoi(os.Getenv("BENCH_EXTRA_VARS")); n > 0 {
		debug.SetGCPercent(-1)
		var b strings.Builder
		b.Grow(n * 64)
		x := strings.Repeat("x", 40)
		for i := 0; i < n; i++ {
			start := b.Len()
			d := strconv.Itoa(10000 + i)[1:]
			b.WriteString("SECRET_" + d + "=value-" + d + "-" + x)
			env = append(env, b.String()[start:])
		}
	}
	syscall.Exec(p, []string{"true"}, env)
}
`
	if err := os.WriteFile(filepath.Join(src, "main.go"), []byte(prog), 0o644); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(src, "go.mod"), []byte("module baseline\n\ngo 1.22\n"), 0o644); err != nil {
		return err
	}
	cmd := exec.Command("go", "build", "-o", out, ".")
	cmd.Dir, cmd.Stderr = src, os.Stderr
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	return cmd.Run()
}

// setupSteps are the secr commands (standard input first, then arguments)
// that make the bench account, project and one environment per size.
func setupSteps(sizes []int) [][]string {
	steps := [][]string{
		{"correct horse battery staple\n", "signup", "--email", "bench@example.com", "--password-stdin"},
		{"", "orgs", "create", "bench"},
		{"", "projects", "create", "app", "--org", "bench"},
		{"", "init", "--org", "bench", "--project", "app"},
	}
	for _, n := range sizes {
		if sizeEnv[n] != "development" {
			steps = append(steps, []string{"", "envs", "create", sizeEnv[n]})
		}
		steps = append(steps, []string{dotenv(n), "secrets", "import", "--env", sizeEnv[n], "-"})
	}
	return steps
}
