package main

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"database/sql"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/creack/pty"
	git "github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing/object"
	_ "github.com/jackc/pgx/v5/stdlib"
	"github.com/rogpeppe/go-internal/testscript"
	"github.com/secr-dev/secr/internal/api"
	"github.com/secr-dev/secr/internal/crypto"
	"github.com/secr-dev/secr/internal/kdf"
	"github.com/secr-dev/secr/internal/serve"
	"github.com/secr-dev/secr/internal/server"
	"github.com/secr-dev/secr/internal/store/sqlstore"
	"github.com/secr-dev/secr/internal/trust"
	_ "modernc.org/sqlite"
)

// TestMain lets the test binary act as the real secr binary inside scripts:
// "exec secr ..." starts a new process running main.
func TestMain(m *testing.M) {
	testscript.Main(m, map[string]func(){
		"secr":        func() { os.Exit(run(os.Args[1:])) },
		"secr-server": func() { os.Exit(serve.Main(os.Args[1:])) },
	})
}

// TestScripts runs testdata/script/*.txtar end to end: a real server on
// 127.0.0.1 with a fresh SQLite file, the real CLI in child processes, and
// an isolated HOME per script.
func TestScripts(t *testing.T) {
	testscript.Run(t, testscript.Params{
		Dir:                 "testdata/script",
		RequireExplicitExec: true,
		Setup: func(env *testscript.Env) error {
			port, err := freePort()
			if err != nil {
				return err
			}
			home := filepath.Join(env.WorkDir, "home")
			if err := os.MkdirAll(home, 0o700); err != nil {
				return err
			}
			env.Setenv("HOME", home)
			env.Setenv("PORT", fmt.Sprint(port))
			env.Setenv("SECR_API_URL", fmt.Sprintf("http://127.0.0.1:%d", port))
			env.Setenv("DB", filepath.Join(env.WorkDir, "data", "secr.db"))
			port2 := port
			for port2 == port { // picked before either is bound: may repeat
				if port2, err = freePort(); err != nil {
					return err
				}
			}
			env.Setenv("PORT2", fmt.Sprint(port2))
			env.Values[clockKey{}] = &fakeClock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
			return setupPostgres(env)
		},
		Condition: func(cond string) (bool, error) {
			switch cond {
			case "postgres":
				return os.Getenv("SECR_TEST_POSTGRES") != "", nil
			case "pidns":
				// New PID namespaces need root and unshare(1).
				if os.Geteuid() != 0 {
					return false, nil
				}
				_, err := exec.LookPath("unshare")
				return err == nil, nil
			}
			return false, fmt.Errorf("unknown condition %q", cond)
		},
		Cmds: map[string]func(ts *testscript.TestScript, neg bool, args []string){
			"waitserver":  cmdWaitServer,
			"blind":       cmdBlind,
			"dbexec":      cmdDBExec,
			"dbflip":      cmdDBFlip,
			"dbcopyrev":   cmdDBCopyRev,
			"filemode":    cmdFileMode,
			"envfile":     cmdEnvFile,
			"gencert":     cmdGenCert,
			"ptyrun":      cmdPtyRun,
			"waitfile":    cmdWaitFile,
			"clockserver": cmdClockServer,
			"clock":       cmdClock,
			"crashwrites": cmdCrashWrites,
			"encodefile":  cmdEncodeFile,
			"gitrepo":     cmdGitRepo,
		},
	})
}

// setupPostgres gives each script its own schema in $SECR_TEST_POSTGRES,
// as $PGDB, when that variable is set.
func setupPostgres(env *testscript.Env) error {
	dsn := os.Getenv("SECR_TEST_POSTGRES")
	if dsn == "" {
		return nil
	}
	admin, err := sql.Open("pgx", dsn)
	if err != nil {
		return err
	}
	schema := fmt.Sprintf("e2e_%d_%d", os.Getpid(), time.Now().UnixNano())
	if _, err := admin.Exec("CREATE SCHEMA " + schema); err != nil {
		admin.Close()
		return fmt.Errorf("create schema in SECR_TEST_POSTGRES: %w", err)
	}
	env.Defer(func() {
		admin.Exec("DROP SCHEMA " + schema + " CASCADE")
		admin.Close()
	})
	sep := "?"
	if strings.Contains(dsn, "?") {
		sep = "&"
	}
	env.Setenv("PGDB", dsn+sep+"search_path="+schema)
	return nil
}

// freePort returns a port that is free on 127.0.0.1 now, for a server a
// script starts later. It is taken below the kernel's ephemeral range:
// a port from that range (what listening on :0 gives) can be taken in the
// meantime as the local port of any outgoing connection (another test's
// client, say), and the server then fails with "address already in use".
func freePort() (int, error) {
	lo := 32768 // Linux's default start of the ephemeral range
	if b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range"); err == nil {
		if f := strings.Fields(string(b)); len(f) == 2 {
			if n, err := strconv.Atoi(f[0]); err == nil && n > 11000 {
				lo = n
			}
		}
	}
	for range 100 {
		var b [2]byte
		if _, err := rand.Read(b[:]); err != nil {
			return 0, err
		}
		v := int(b[0])<<8 | int(b[1])
		port := 10000 + v%(lo-10000)
		if ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port)); err == nil {
			ln.Close()
			return port, nil
		}
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// waitserver [URL] polls URL (default $SECR_API_URL) /healthz until the
// server answers.
func cmdWaitServer(ts *testscript.TestScript, neg bool, args []string) {
	url := ts.Getenv("SECR_API_URL") + "/healthz"
	if len(args) >= 1 {
		url = args[0] + "/healthz"
	}
	hc := http.DefaultClient
	if len(args) == 2 { // a CA certificate to trust
		pool := x509.NewCertPool()
		pool.AppendCertsFromPEM([]byte(ts.ReadFile(args[1])))
		hc = &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	}
	deadline := time.Now().Add(eventWait)
	for time.Now().Before(deadline) {
		resp, err := hc.Get(url)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	ts.Fatalf("server at %s did not become healthy", url)
}

// encodings returns the ways a value could appear in a file: as is, in hex,
// and in base64 at each of the three byte alignments.
func encodings(v []byte) [][]byte {
	out := [][]byte{v, []byte(hex.EncodeToString(v)), []byte(strings.ToUpper(hex.EncodeToString(v)))}
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.URLEncoding} {
		for shift := 0; shift < 3; shift++ {
			s := enc.EncodeToString(append(make([]byte, shift), v...))
			if shift > 0 {
				s = s[4:] // the first group mixes in the padding bytes
			}
			if len(s) > 4 {
				s = s[:len(s)-4] // the last group may mix in what follows
			}
			if len(s) >= 6 {
				out = append(out, []byte(s))
			}
		}
	}
	return out
}

// blind DB|DIR WORD... [-f FILE...]: no word (or file content) may appear in
// the database, its WAL or shared-memory file (or any file under DIR), in
// plaintext, hex or base64.
func cmdBlind(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) < 2 {
		ts.Fatalf("usage: blind DB WORD... [-f FILE]")
	}
	db := ts.MkAbs(args[0])
	var words [][]byte
	for i := 1; i < len(args); i++ {
		if args[i] == "-f" && i+1 < len(args) {
			words = append(words, bytes.TrimRight([]byte(ts.ReadFile(args[i+1])), "\n"))
			i++
			continue
		}
		words = append(words, []byte(args[i]))
	}
	var files [][]byte
	var names []string
	if fi, err := os.Stat(db); err == nil && fi.IsDir() {
		filepath.WalkDir(db, func(path string, d os.DirEntry, err error) error {
			if err == nil && !d.IsDir() {
				data, _ := os.ReadFile(path)
				files, names = append(files, data), append(names, path)
			}
			return nil
		})
		if len(files) == 0 {
			ts.Fatalf("blind: no files under %s", db)
		}
	} else {
		for _, suffix := range []string{"", "-wal", "-shm"} {
			data, err := os.ReadFile(db + suffix)
			if err != nil {
				if suffix == "" {
					ts.Fatalf("read database: %v", err)
				}
				continue
			}
			files, names = append(files, data), append(names, filepath.Base(db+suffix))
		}
	}
	total := 0
	for i := range files {
		total += len(files[i])
	}
	ts.Logf("scanned %d bytes in %s", total, strings.Join(names, ", "))
	for _, w := range words {
		for _, form := range encodings(w) {
			for i, data := range files {
				if bytes.Contains(data, form) {
					if neg {
						return
					}
					ts.Fatalf("%s contains %q (as %q)", names[i], w, form)
				}
			}
		}
	}
	if neg {
		ts.Fatalf("none of the words was found")
	}
}

func openDB(ts *testscript.TestScript, path string) *sql.DB {
	db, err := sql.Open("sqlite", "file:"+ts.MkAbs(path)+"?_pragma=busy_timeout(10000)")
	if err != nil {
		ts.Fatalf("open %s: %v", path, err)
	}
	return db
}

// dbexec DB SQL: run a statement against the server's database while it
// runs, playing a malicious or broken server.
// dropSnapshotCache deletes the client's cached snapshots in the script's
// HOME before the server's database is edited behind its back. A client
// that holds the latest revision asks for it conditionally and is answered
// 304, so it would keep using its own verified copy and never read the
// edited bytes; the scripts check that edited bytes are refused when read.
func dropSnapshotCache(ts *testscript.TestScript) {
	if home := ts.Getenv("HOME"); home != "" {
		os.RemoveAll(filepath.Join(home, ".cache", "secr", "snapshots"))
	}
}

func cmdDBExec(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 2 {
		ts.Fatalf("usage: dbexec DB SQL")
	}
	db := openDB(ts, args[0])
	dropSnapshotCache(ts)
	defer db.Close()
	res, err := db.Exec(args[1])
	if err != nil {
		ts.Fatalf("dbexec: %v", err)
	}
	// An edit that changes nothing is a broken test; a CREATE (a backup
	// table to restore from) changes no rows by nature.
	n, _ := res.RowsAffected()
	if n == 0 && !strings.HasPrefix(strings.ToUpper(strings.TrimSpace(args[1])), "CREATE ") {
		ts.Fatalf("dbexec: no rows affected")
	}
}

func readCiphertext(ts *testscript.TestScript, db *sql.DB, env, rev string) []byte {
	var ct []byte
	q := `SELECT ciphertext FROM revisions WHERE revision = ? AND env_id = (SELECT id FROM environments WHERE name = ?)`
	if err := db.QueryRow(q, rev, env).Scan(&ct); err != nil {
		ts.Fatalf("read revision %s of %s: %v", rev, env, err)
	}
	return ct
}

func writeCiphertext(ts *testscript.TestScript, db *sql.DB, env, rev string, ct []byte) {
	res, err := db.Exec(`UPDATE revisions SET ciphertext = ? WHERE revision = ? AND env_id = (SELECT id FROM environments WHERE name = ?)`, ct, rev, env)
	if err != nil {
		ts.Fatalf("write revision %s of %s: %v", rev, env, err)
	}
	if n, _ := res.RowsAffected(); n != 1 {
		ts.Fatalf("%s has no revision %s", env, rev)
	}
}

// dbflip DB ENV REV: flip one bit in the middle of a stored ciphertext.
func cmdDBFlip(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 3 {
		ts.Fatalf("usage: dbflip DB ENV REV")
	}
	db := openDB(ts, args[0])
	dropSnapshotCache(ts)
	defer db.Close()
	ct := readCiphertext(ts, db, args[1], args[2])
	ct[len(ct)/2] ^= 0x01
	writeCiphertext(ts, db, args[1], args[2], ct)
}

// dbcopyrev DB FROM TO REV: put revision REV of environment FROM (its
// signed header and ciphertext) in the place of revision REV of TO.
func cmdDBCopyRev(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 4 {
		ts.Fatalf("usage: dbcopyrev DB FROM TO REV")
	}
	db := openDB(ts, args[0])
	dropSnapshotCache(ts)
	defer db.Close()
	writeCiphertext(ts, db, args[2], args[3], readCiphertext(ts, db, args[1], args[3]))
	q := `UPDATE revisions SET header = (SELECT r.header FROM revisions r JOIN environments e ON e.id = r.env_id WHERE e.name = ? AND r.revision = ?)
		WHERE revision = ? AND env_id = (SELECT id FROM environments WHERE name = ?)`
	if _, err := db.Exec(q, args[1], args[3], args[3], args[2]); err != nil {
		ts.Fatalf("copy header: %v", err)
	}
}

// filemode FILE MODE: check a file's permission bits (octal).
func cmdFileMode(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 2 {
		ts.Fatalf("usage: filemode FILE MODE")
	}
	fi, err := os.Stat(ts.MkAbs(args[0]))
	if err != nil {
		ts.Fatalf("filemode: %v", err)
	}
	if got := fmt.Sprintf("%o", fi.Mode().Perm()); (got == args[1]) == neg {
		ts.Fatalf("%s has mode %s, want %s%s", args[0], got, map[bool]string{true: "not ", false: ""}[neg], args[1])
	}
}

// envfile NAME FILE [REGEX]: set NAME to FILE's content (trimmed), or to the
// first submatch of REGEX in it.
func cmdEnvFile(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 2 && len(args) != 3 {
		ts.Fatalf("usage: envfile NAME FILE [REGEX]")
	}
	v := strings.TrimSpace(ts.ReadFile(args[1]))
	if len(args) == 3 {
		m := regexp.MustCompile(args[2]).FindStringSubmatch(v)
		if m == nil || len(m) < 2 {
			ts.Fatalf("envfile: %q does not match in %s", args[2], args[1])
		}
		v = m[1]
	}
	ts.Setenv(args[0], v)
}

// gencert CERT KEY: write a self-signed certificate for 127.0.0.1.
func cmdGenCert(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 2 {
		ts.Fatalf("usage: gencert CERT KEY")
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		ts.Fatalf("gencert: %v", err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "secr test"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		IPAddresses:  []net.IP{net.ParseIP("127.0.0.1")},
		KeyUsage:     x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IsCA:         true, BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		ts.Fatalf("gencert: %v", err)
	}
	kb, _ := x509.MarshalECPrivateKey(key)
	os.WriteFile(ts.MkAbs(args[0]), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644)
	os.WriteFile(ts.MkAbs(args[1]), pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}), 0o600)
}

// ptyrun OUT WAITFOR SEND -- CMD ARGS...: run CMD on a new pseudo-terminal
// (as a person at a terminal would), wait until its output contains
// WAITFOR, type SEND (Go-quoted, e.g. "\x03" for Ctrl-C), wait for it to
// exit and write everything it printed, and its exit status, to OUT.
func cmdPtyRun(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) < 5 || args[3] != "--" {
		ts.Fatalf("usage: ptyrun OUT WAITFOR SEND -- CMD ARGS...")
	}
	send, err := strconv.Unquote(`"` + args[2] + `"`)
	if err != nil {
		ts.Fatalf("ptyrun: SEND: %v", err)
	}
	cmd := exec.Command(args[4], args[5:]...)
	cmd.Dir = ts.MkAbs(".")
	for _, k := range []string{"PATH", "HOME", "SECR_API_URL", "SECR_TOKEN", "TMPDIR"} {
		cmd.Env = append(cmd.Env, k+"="+ts.Getenv(k))
	}
	cmd.Env = append(cmd.Env, "TERM=xterm")
	ptmx, err := pty.Start(cmd)
	if err != nil {
		ts.Fatalf("ptyrun: %v", err)
	}
	var mu sync.Mutex
	var out bytes.Buffer
	copied := make(chan struct{})
	go func() {
		defer close(copied)
		buf := make([]byte, 4096)
		for {
			n, err := ptmx.Read(buf)
			mu.Lock()
			out.Write(buf[:n])
			mu.Unlock()
			if err != nil {
				return
			}
		}
	}()
	deadline := time.Now().Add(eventWait)
	for {
		mu.Lock()
		ready := strings.Contains(out.String(), args[1])
		mu.Unlock()
		if ready {
			break
		}
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			ts.Fatalf("ptyrun: %q never appeared in:\n%s", args[1], out.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
	if _, err := ptmx.Write([]byte(send)); err != nil {
		ts.Fatalf("ptyrun: write: %v", err)
	}
	err = cmd.Wait()
	select {
	case <-copied:
	case <-time.After(eventWait):
	}
	ptmx.Close()
	code := 0
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	} else if err != nil {
		ts.Fatalf("ptyrun: %v", err)
	}
	mu.Lock()
	defer mu.Unlock()
	fmt.Fprintf(&out, "\n[exit %d]\n", code)
	if err := os.WriteFile(ts.MkAbs(args[0]), out.Bytes(), 0o644); err != nil {
		ts.Fatalf("ptyrun: %v", err)
	}
}

// eventWait bounds every wait for an event (a server answering, a line in
// a file). It only decides how long a broken build takes to fail: a
// passing run returns as soon as the event happens, so it is generous for
// a busy 2-core machine under -race.
const eventWait = 90 * time.Second

// waitfile FILE REGEX: wait until FILE matches.
func cmdWaitFile(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 2 {
		ts.Fatalf("usage: waitfile FILE REGEX")
	}
	re := regexp.MustCompile(args[1])
	limit := eventWait
	deadline := time.Now().Add(limit)
	for {
		data, _ := os.ReadFile(ts.MkAbs(args[0]))
		if re.Match(data) {
			return
		}
		if time.Now().After(deadline) {
			ts.Fatalf("waitfile: %s did not match %q within %s; it holds:\n%s", args[0], args[1], limit, data)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// clockKey holds a script's fakeClock in its testscript values.
type clockKey struct{}

// fakeClock is the time of a clockserver: it moves only with 'clock advance'.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

// clockserver DB: serve the real API (internal/server on a SQLite file)
// on 127.0.0.1:$PORT inside the test process, with the script's fake clock.
// For behaviour over time (rate limits) that must not depend on how fast
// this machine runs Argon2id: 'secr server' itself has no test hooks.
func cmdClockServer(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 1 {
		ts.Fatalf("usage: clockserver DB")
	}
	clock := ts.Value(clockKey{}).(*fakeClock)
	ctx, cancel := context.WithCancel(context.Background())
	st, err := sqlstore.Open(ctx, ts.MkAbs(args[0]))
	if err != nil {
		ts.Fatalf("clockserver: %v", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:"+ts.Getenv("PORT"))
	if err != nil {
		ts.Fatalf("clockserver: %v", err)
	}
	srv := &http.Server{Handler: server.New(server.Config{Store: st, SignupOpen: true, Now: clock.now})}
	go srv.Serve(ln)
	ts.Defer(func() {
		srv.Close()
		st.Close()
		cancel()
	})
}

// clock advance DURATION: move the clockserver's time forward.
func cmdClock(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 2 || args[0] != "advance" {
		ts.Fatalf("usage: clock advance DURATION")
	}
	d, err := time.ParseDuration(args[1])
	if err != nil {
		ts.Fatalf("clock: %v", err)
	}
	clock := ts.Value(clockKey{}).(*fakeClock)
	clock.mu.Lock()
	clock.t = clock.t.Add(d)
	clock.mu.Unlock()
}

// TestExitCodeTableIsCovered keeps docs/cli.md's exit-code table and
// exitcodes.txtar together: every documented code is run there.
func TestExitCodeTableIsCovered(t *testing.T) {
	doc, err := os.ReadFile("../../docs/cli.md")
	if err != nil {
		t.Fatal(err)
	}
	script, err := os.ReadFile("testdata/script/exitcodes.txtar")
	if err != nil {
		t.Fatal(err)
	}
	rows := regexp.MustCompile(`(?m)^\| (\d+) \|`).FindAllSubmatch(doc, -1)
	if len(rows) < 8 {
		t.Fatalf("found only %d rows in docs/cli.md's exit-code table", len(rows))
	}
	for _, r := range rows {
		if !bytes.Contains(script, []byte("stdout '^code="+string(r[1])+"$'")) {
			t.Errorf("exit code %s is documented in docs/cli.md but not run in exitcodes.txtar", r[1])
		}
	}
}

// crashwrites DB ROUNDS: durability under kill -9. Each round starts
// 'secr server' on 127.0.0.1:$PORT with DB, has four writers append
// revisions (one environment each) through the API, sends SIGKILL to the
// server while writes are in flight, restarts it, and checks that every
// revision the server acknowledged (201) is there with the same
// ciphertext. It fails on any loss and logs the totals.
func cmdCrashWrites(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 2 {
		ts.Fatalf("usage: crashwrites DB ROUNDS")
	}
	db := ts.MkAbs(args[0])
	rounds, err := strconv.Atoi(args[1])
	if err != nil {
		ts.Fatalf("crashwrites: %v", err)
	}
	base := "http://127.0.0.1:" + ts.Getenv("PORT")
	hc := &http.Client{Timeout: eventWait}
	var serverLog bytes.Buffer
	start := func() *exec.Cmd {
		cmd := exec.Command("secr", "server", "--listen", "127.0.0.1:"+ts.Getenv("PORT"), "--db", db)
		cmd.Env = append(os.Environ(), "HOME="+ts.Getenv("HOME"))
		cmd.Stderr = &serverLog
		if err := cmd.Start(); err != nil {
			ts.Fatalf("crashwrites: start server: %v", err)
		}
		deadline := time.Now().Add(eventWait)
		for {
			resp, err := hc.Get(base + "/healthz")
			if err == nil {
				resp.Body.Close()
				if resp.StatusCode == http.StatusOK {
					return cmd
				}
			}
			if time.Now().After(deadline) {
				cmd.Process.Kill()
				ts.Fatalf("crashwrites: server did not start:\n%s", serverLog.String())
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	// call sends a JSON request; err is set only when no answer came.
	call := func(auth, method, path string, in, out any) (int, error) {
		var body io.Reader
		if in != nil {
			b, _ := json.Marshal(in)
			body = bytes.NewReader(b)
		}
		req, _ := http.NewRequest(method, base+path, body)
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		resp, err := hc.Do(req)
		if err != nil {
			return 0, err
		}
		defer resp.Body.Close()
		if out != nil && resp.StatusCode < 300 {
			if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
				return 0, err
			}
		}
		io.Copy(io.Discard, resp.Body)
		return resp.StatusCode, nil
	}
	mustCall := func(auth, method, path string, in, out any, want int) {
		if status, err := call(auth, method, path, in, out); err != nil || status != want {
			ts.Fatalf("crashwrites: %s %s: %d, %v", method, path, status, err)
		}
	}

	server := start()
	// A client made of the trust package's parts: a signed-up user, an
	// org chain, and revisions sealed and signed as 'secr' would.
	id, err := crypto.GenerateIdentity()
	if err != nil {
		ts.Fatalf("crashwrites: %v", err)
	}
	userID := api.NewID("usr")
	signer := trust.NewSigner(userID, trust.UserSigningKey(id))
	me, err := trust.NewUser(userID, "crash@example.com", id.Recipient(), trust.UserSigningKey(id))
	if err != nil {
		ts.Fatalf("crashwrites: %v", err)
	}
	var sess api.SessionResponse
	mustCall("", "POST", api.SignupPath, api.SignupRequest{
		UserID: userID, Email: "crash@example.com", Salt: make([]byte, kdf.SaltSize), KDF: kdf.Default(),
		AuthKey: make([]byte, 32), PublicKey: id.Recipient().String(), Principal: me.Bytes(), SealedKey: []byte("sealed"),
		RecoverySealedKey: []byte("sealed"), RecoveryAuthKey: make([]byte, 32),
	}, &sess, http.StatusCreated)
	auth := "Bearer " + sess.Token
	root, err := trust.NewOrg(signer, me, api.NewID("org"), "crash")
	if err != nil {
		ts.Fatalf("crashwrites: %v", err)
	}
	st, err := trust.Verify([]*trust.Entry{root}, nil)
	if err != nil {
		ts.Fatalf("crashwrites: %v", err)
	}
	mustCall(auth, "POST", api.OrgsRoute, api.CreateOrgRequest{Name: "crash", Root: root.Bytes()}, nil, http.StatusCreated)
	const writers = 4
	proj := api.CreateProjectRequest{Name: "p"}
	prj := api.NewID("prj")
	ops := []trust.Op{trust.CreateProject{ProjectID: prj, Name: "p"}}
	envIDs := make([]string, writers)
	for i := range envIDs {
		envIDs[i] = api.NewID("env")
		ops = append(ops, trust.CreateEnv{EnvID: envIDs[i], ProjectID: prj, Name: fmt.Sprintf("w%d", i)})
	}
	for _, op := range ops {
		e, err := st.Append(signer, op)
		if err == nil {
			st, err = st.Extend([]*trust.Entry{e})
		}
		if err != nil {
			ts.Fatalf("crashwrites: %v", err)
		}
		proj.Entries = append(proj.Entries, e.Bytes())
	}
	keys := make([]*crypto.EnvKey, writers)
	heads := make([]*trust.Header, writers) // per writer: the latest revision's header
	for i, env := range envIDs {
		keys[i], _ = crypto.GenerateEnvKey(env, 1)
		g, err := st.MakeGrant(signer, keys[i], userID)
		if err != nil {
			ts.Fatalf("crashwrites: %v", err)
		}
		proj.Grants = append(proj.Grants, g.Bytes())
	}
	mustCall(auth, "POST", api.Path(api.ProjectsRoute, "crash"), proj, nil, http.StatusCreated)

	acked := make([]map[int64][32]byte, writers) // per writer: revision -> SHA-256 of its ciphertext
	latest := make([]int64, writers)
	for i := range acked {
		acked[i] = map[int64][32]byte{}
	}
	totalAcked, lost, unacked := 0, 0, 0
	for round := 0; round < rounds; round++ {
		var mu sync.Mutex
		roundAcks := 0
		target := 10 + round*5
		enough := make(chan struct{})
		var wg sync.WaitGroup
		for i := 0; i < writers; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					rev := latest[i] + 1
					doc := make([]byte, 64+int(rev%32)*64)
					rand.Read(doc)
					h, ct, err := st.SealRevision(signer, keys[i], heads[i], doc)
					if err != nil {
						ts.Logf("crashwrites: writer %d: %v", i, err)
						return
					}
					var out api.WriteRevisionResponse
					status, err := call(auth, "POST", api.Path(api.RevisionsRoute, "crash", "p", fmt.Sprintf("w%d", i)),
						api.WriteRevisionRequest{BaseRevision: rev - 1, KeyVersion: 1, Header: h.Bytes(), Ciphertext: ct}, &out)
					if err != nil {
						return // the server is gone: this write was not acknowledged
					}
					if status != http.StatusCreated || out.Revision != rev {
						ts.Logf("crashwrites: writer %d: status %d, revision %d", i, status, out.Revision)
						return
					}
					mu.Lock()
					acked[i][rev] = sha256.Sum256(ct)
					latest[i], heads[i] = rev, h
					roundAcks++
					if roundAcks == target {
						close(enough)
					}
					mu.Unlock()
				}
			}()
		}
		select {
		case <-enough:
		case <-time.After(eventWait):
			ts.Fatalf("crashwrites: round %d: only %d writes acknowledged", round, roundAcks)
		}
		server.Process.Kill() // SIGKILL, with writes in flight
		server.Wait()
		wg.Wait()
		totalAcked += roundAcks

		server = start()
		for i := 0; i < writers; i++ {
			var h api.History
			mustCall(auth, "GET", api.Path(api.RevisionsRoute, "crash", "p", fmt.Sprintf("w%d", i)), nil, &h, http.StatusOK)
			stored := map[int64][32]byte{}
			for _, r := range h.Revisions {
				stored[r.Revision] = sha256.Sum256(r.Ciphertext)
			}
			for rev, sum := range acked[i] {
				if got, ok := stored[rev]; !ok || got != sum {
					lost++
					ts.Logf("crashwrites: round %d: writer %d: acknowledged revision %d lost or changed", round, i, rev)
				}
			}
			// A write that committed but whose answer was cut off is
			// there too; the next round goes on from the stored latest.
			if n := h.Environment.LatestRevision; n > latest[i] {
				unacked += int(n - latest[i])
				for rev := latest[i] + 1; rev <= n; rev++ {
					acked[i][rev] = stored[rev]
				}
				latest[i] = n
				if heads[i], err = trust.ParseHeader(h.Revisions[len(h.Revisions)-1].Header); err != nil {
					ts.Fatalf("crashwrites: %v", err)
				}
			}
		}
	}
	server.Process.Signal(os.Interrupt)
	server.Wait()
	ts.Logf("kill -9: %d rounds, %d acknowledged writes, %d lost (%d more committed without an answer)", rounds, totalAcked, lost, unacked)
	if lost > 0 {
		ts.Fatalf("crashwrites: %d acknowledged writes lost", lost)
	}
}

// encodefile ENC IN OUT [PREFIX [SUFFIX]]: write PREFIX, IN's content (one
// trailing newline removed) encoded as ENC (base64, base64url, hex, url or
// json: the inside of a JSON string), SUFFIX and a newline to OUT. It fails
// when the raw value would appear in OUT: what secr scan then finds there
// it can only have found in that encoding.
func cmdEncodeFile(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) < 3 || len(args) > 5 {
		ts.Fatalf("usage: encodefile ENC IN OUT [PREFIX [SUFFIX]]")
	}
	v := strings.TrimSuffix(ts.ReadFile(args[1]), "\n")
	var enc string
	switch args[0] {
	case "base64":
		enc = base64.StdEncoding.EncodeToString([]byte(v))
	case "base64url":
		enc = base64.URLEncoding.EncodeToString([]byte(v))
	case "hex":
		enc = hex.EncodeToString([]byte(v))
	case "url":
		enc = url.QueryEscape(v)
	case "json":
		j, err := json.Marshal(v)
		if err != nil {
			ts.Fatalf("encodefile: %v", err)
		}
		enc = string(j[1 : len(j)-1])
	default:
		ts.Fatalf("encodefile: unknown encoding %q", args[0])
	}
	out := enc
	if len(args) > 3 {
		out = args[3] + out
	}
	if len(args) > 4 {
		out += args[4]
	}
	if strings.Contains(out, v) {
		ts.Fatalf("encodefile: the %s form of the value contains the value itself", args[0])
	}
	path := ts.MkAbs(args[2])
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		ts.Fatalf("encodefile: %v", err)
	}
	if err := os.WriteFile(path, []byte(out+"\n"), 0o644); err != nil {
		ts.Fatalf("encodefile: %v", err)
	}
}

// gitrepo DIR init | add PATH... | rm PATH... | commit MESSAGE: a git
// repository made with go-git (no git binary needed). commit prints the
// commit's first 12 hex digits, as secr scan --git shows them.
func cmdGitRepo(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) < 2 {
		ts.Fatalf("usage: gitrepo DIR init | add PATH... | rm PATH... | commit MESSAGE")
	}
	dir := ts.MkAbs(args[0])
	if args[1] == "init" {
		if _, err := git.PlainInit(dir, false); err != nil {
			ts.Fatalf("gitrepo init: %v", err)
		}
		return
	}
	repo, err := git.PlainOpen(dir)
	if err != nil {
		ts.Fatalf("gitrepo: %v", err)
	}
	wt, err := repo.Worktree()
	if err != nil {
		ts.Fatalf("gitrepo: %v", err)
	}
	switch args[1] {
	case "add", "rm":
		for _, p := range args[2:] {
			if args[1] == "add" {
				_, err = wt.Add(p)
			} else {
				_, err = wt.Remove(p)
			}
			if err != nil {
				ts.Fatalf("gitrepo %s %s: %v", args[1], p, err)
			}
		}
	case "commit":
		if len(args) != 3 {
			ts.Fatalf("usage: gitrepo DIR commit MESSAGE")
		}
		// Distinct, increasing times: the history is ordered whatever the
		// clock's resolution.
		head, _ := repo.Head()
		n := 0
		if head != nil {
			if c, err := repo.CommitObject(head.Hash()); err == nil {
				n = int(c.Committer.When.Sub(gitEpoch) / time.Minute)
			}
		}
		sig := &object.Signature{Name: "Ada", Email: "ada@example.com", When: gitEpoch.Add(time.Duration(n+1) * time.Minute)}
		h, err := wt.Commit(args[2], &git.CommitOptions{Author: sig, Committer: sig})
		if err != nil {
			ts.Fatalf("gitrepo commit: %v", err)
		}
		fmt.Fprintln(ts.Stdout(), h.String()[:12])
	default:
		ts.Fatalf("gitrepo: unknown subcommand %q", args[1])
	}
}

var gitEpoch = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
