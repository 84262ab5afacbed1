//go:build unix

package main

import (
	"bytes"
	"context"
	"database/sql"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // the PostgreSQL schema for a run

	"github.com/secr-dev/secr/internal/api"
	"github.com/secr-dev/secr/internal/config"
)

const floorFlag = "-floor-server"

// loneFlag is -server's -lone, registered here beside what it measures.
var loneFlag = flag.Int("lone", 0, "-server: first time this many lone conditional reads (304) per server, one at a time")

// serveFloor is the floor: a bare net/http server answering every request
// with a static body of size bytes. It runs as a child process, like secr
// server, so that its CPU time can be read the same way.
func serveFloor(addr string, size int) {
	body := bytes.Repeat([]byte("x"), size)
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/octet-stream")
		w.Write(body)
	})
	if err := http.ListenAndServe(addr, h); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

type serverBenchOptions struct {
	bin      string // prebuilt secr, with secr-server beside it or on PATH (empty: build both)
	duration time.Duration
	conns    []int
	sizes    []int
	postgres string // DSN; empty: SQLite only
	rounds   int
	lone     int // lone conditional reads per server (0: none)
}

// loadResult is one cell of the table.
type loadResult struct {
	reqs     int
	errs     int
	elapsed  time.Duration
	p50, p99 time.Duration
	cpu      time.Duration // server process CPU (user+system) during the run
}

func (r loadResult) rps() float64 { return float64(r.reqs) / r.elapsed.Seconds() }
func (r loadResult) cpuPerReq() time.Duration {
	if r.reqs == 0 {
		return 0
	}
	return r.cpu / time.Duration(r.reqs)
}

// procCPU is a process's user+system CPU time from /proc.
func procCPU(pid int) (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(ut+st) * 10 * time.Millisecond, nil // USER_HZ is 100 on Linux
}

// load sends GETs to url with conns connections for d (after a short
// warm-up) and measures throughput, latency and the server's CPU time.
func load(url, auth string, pid, conns int, d time.Duration) (loadResult, error) {
	var stop atomic.Bool
	var measuring atomic.Bool
	lat := make([][]time.Duration, conns)
	errs := make([]int, conns)
	var wg sync.WaitGroup
	for i := 0; i < conns; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			tr := &http.Transport{MaxIdleConnsPerHost: 1, MaxConnsPerHost: 1, DisableCompression: true}
			defer tr.CloseIdleConnections()
			c := &http.Client{Transport: tr, Timeout: 30 * time.Second}
			req, _ := http.NewRequest("GET", url, nil)
			req.Header.Set("Accept", api.SnapshotMediaType)
			if auth != "" {
				req.Header.Set("Authorization", auth)
			}
			buf := make([]byte, 64<<10)
			for !stop.Load() {
				start := time.Now()
				resp, err := c.Do(req)
				if err == nil {
					for {
						if _, rerr := resp.Body.Read(buf); rerr != nil {
							if rerr != io.EOF {
								err = rerr
							}
							break
						}
					}
					resp.Body.Close()
					if err == nil && resp.StatusCode != http.StatusOK {
						err = fmt.Errorf("status %d", resp.StatusCode)
					}
				}
				if !measuring.Load() {
					continue
				}
				if err != nil {
					errs[i]++
					continue
				}
				lat[i] = append(lat[i], time.Since(start))
			}
		}(i)
	}
	time.Sleep(min(d/4, time.Second)) // warm-up: connections, pools, caches
	cpu0, err := procCPU(pid)
	if err != nil {
		stop.Store(true)
		wg.Wait()
		return loadResult{}, err
	}
	measuring.Store(true)
	start := time.Now()
	time.Sleep(d)
	measuring.Store(false)
	elapsed := time.Since(start)
	cpu1, _ := procCPU(pid)
	stop.Store(true)
	wg.Wait()
	var all []time.Duration
	r := loadResult{elapsed: elapsed, cpu: cpu1 - cpu0}
	for i := range lat {
		all = append(all, lat[i]...)
		r.errs += errs[i]
	}
	slices.Sort(all)
	r.reqs = len(all)
	if len(all) > 0 {
		r.p50, r.p99 = all[len(all)/2], all[len(all)*99/100]
	}
	if r.errs > 0 && r.reqs == 0 {
		return r, fmt.Errorf("every request failed (%d)", r.errs)
	}
	return r, nil
}

// benchServer is one running secr server with an account and three
// environments of 20, 1,000 and 10,000 secrets.
type benchServer struct {
	name string
	cmd  *exec.Cmd
	url  string
	auth string
}

func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

var sizeEnv = map[int]string{20: "development", 1000: "large", 10000: "huge"}

func startBenchServer(name, bin, dir, db string, sizes []int) (*benchServer, error) {
	addr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	home := filepath.Join(dir, name+"-home")
	env := append(os.Environ(), "HOME="+home, "SECR_API_URL=http://"+addr, "XDG_CONFIG_HOME=", "XDG_STATE_HOME=", "XDG_CACHE_HOME=", "SECR_TOKEN=", "SECR_ENV=", "SECR_CREDENTIALS=file")
	srv := exec.Command(bin, "server", "--listen", addr, "--db", db)
	srv.Env = env
	if err := srv.Start(); err != nil {
		return nil, err
	}
	bs := &benchServer{name: name, cmd: srv, url: "http://" + addr}
	if err := waitHealthy(bs.url + "/healthz"); err != nil {
		bs.stop()
		return nil, err
	}
	project := filepath.Join(dir, name+"-project")
	if err := os.MkdirAll(project, 0o755); err != nil {
		return nil, err
	}
	steps := setupSteps(sizes)
	for _, s := range steps {
		cmd := exec.Command(bin, s[1:]...)
		cmd.Env, cmd.Dir, cmd.Stdin = env, project, strings.NewReader(s[0])
		if out, err := cmd.CombinedOutput(); err != nil {
			bs.stop()
			return nil, fmt.Errorf("secr %s: %v\n%s", strings.Join(s[1:], " "), err, out)
		}
	}
	getenv := func(k string) string {
		switch k {
		case "HOME":
			return home
		case "SECR_CREDENTIALS":
			return "file"
		}
		return ""
	}
	dirs, err := config.ResolveDirs(getenv)
	if err != nil {
		return nil, err
	}
	login, err := config.CredentialsAt(dirs, getenv).Get(bs.url)
	if err != nil || login == nil {
		bs.stop()
		return nil, fmt.Errorf("read the bench login: %v", err)
	}
	bs.auth = api.SchemeBearer + " " + login.Session
	return bs, nil
}

func (b *benchServer) stop() {
	b.cmd.Process.Signal(syscall.SIGTERM)
	b.cmd.Wait()
}

// snapshotURL asks the way a client that has pinned the org chain and seen
// the latest revision does: from its head, since that revision (numbers at
// or past the server's answer the same: the head entry and the latest
// header, both read with the environment).
func (b *benchServer) snapshotURL(n int) string {
	return b.url + api.Path(api.SnapshotRoute, "bench", "app", sizeEnv[n]) + "?" + api.ChainFromParam + "=1000000000&" + api.SinceParam + "=1000000000"
}

// postgresSchema creates a fresh schema for one run and returns a DSN
// that uses it, and a function that drops it.
func postgresSchema(dsn string) (string, func(), error) {
	db, err := sql.Open("pgx", dsn)
	if err != nil {
		return "", nil, err
	}
	schema := fmt.Sprintf("secr_bench_%d", time.Now().UnixNano())
	if _, err := db.Exec("CREATE SCHEMA " + schema); err != nil {
		db.Close()
		return "", nil, err
	}
	sep := "?"
	if strings.Contains(dsn, "?") {
		sep = "&"
	}
	drop := func() {
		db.ExecContext(context.Background(), "DROP SCHEMA "+schema+" CASCADE")
		db.Close()
	}
	return dsn + sep + "search_path=" + schema, drop, nil
}

func runServerBench(o serverBenchOptions) error {
	if o.lone == 0 {
		o.lone = *loneFlag
	}
	dir, err := os.MkdirTemp("", "secr-bench-server-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	bin := o.bin
	if bin == "" {
		bin = filepath.Join(dir, "secr")
		if err := buildSecr(dir); err != nil {
			return err
		}
	}
	var servers []*benchServer
	defer func() {
		for _, s := range servers {
			s.stop()
		}
	}()
	lite, err := startBenchServer("sqlite", bin, dir, filepath.Join(dir, "secr.db"), o.sizes)
	if err != nil {
		return err
	}
	servers = append(servers, lite)
	if o.postgres != "" {
		dsn, drop, err := postgresSchema(o.postgres)
		if err != nil {
			return fmt.Errorf("postgres: %w", err)
		}
		defer drop()
		pg, err := startBenchServer("postgres", bin, dir, dsn, o.sizes)
		if err != nil {
			return err
		}
		servers = append(servers, pg)
	}

	if o.lone > 0 {
		fmt.Printf("lone reads: %d sequential requests 5 ms apart, If-None-Match → 304, %d secrets, wall time at the client\n", o.lone, o.sizes[0])
		for _, s := range servers {
			if err := loneReads(s, o.sizes[0], o.lone); err != nil {
				return fmt.Errorf("%s: lone reads: %w", s.name, err)
			}
		}
	}

	// The floor answers with as many bytes as the smallest snapshot.
	resp, err := func() ([]byte, error) {
		req, _ := http.NewRequest("GET", lite.snapshotURL(o.sizes[0]), nil)
		req.Header.Set("Authorization", lite.auth)
		req.Header.Set("Accept", api.SnapshotMediaType)
		r, err := http.DefaultClient.Do(req)
		if err != nil {
			return nil, err
		}
		defer r.Body.Close()
		return io.ReadAll(r.Body)
	}()
	if err != nil {
		return err
	}
	floorAddr, err := freeAddr()
	if err != nil {
		return err
	}
	self, err := os.Executable()
	if err != nil {
		return err
	}
	floor := exec.Command(self, floorFlag, floorAddr, strconv.Itoa(len(resp)))
	if err := floor.Start(); err != nil {
		return err
	}
	defer func() { floor.Process.Kill(); floor.Wait() }()
	if err := waitHealthy("http://" + floorAddr + "/"); err != nil {
		return err
	}

	fmt.Printf("snapshot reads, %s per cell, %d round(s), %s/%s, %d CPUs, %s; floor: bare net/http, static %d-byte body\n",
		o.duration, o.rounds, runtime.GOOS, runtime.GOARCH, runtime.NumCPU(), runtime.Version(), len(resp))
	fmt.Printf("%-9s %7s %6s %9s %8s %9s %9s %12s %6s\n", "server", "secrets", "conns", "req/s", "×floor", "p50", "p99", "CPU/req", "errors")
	for round := 0; round < o.rounds; round++ {
		for _, c := range o.conns {
			fl, err := load("http://"+floorAddr+"/", "", floor.Process.Pid, c, o.duration)
			if err != nil {
				return fmt.Errorf("floor: %w", err)
			}
			printRow("floor", len(resp), c, fl, fl.rps())
			for _, s := range servers {
				for _, n := range o.sizes {
					r, err := load(s.snapshotURL(n), s.auth, s.cmd.Process.Pid, c, o.duration)
					if err != nil {
						return fmt.Errorf("%s, %d secrets, %d connections: %w", s.name, n, c, err)
					}
					printRow(s.name, n, c, r, fl.rps())
				}
			}
		}
	}
	return nil
}

func printRow(name string, size, conns int, r loadResult, floor float64) {
	what := strconv.Itoa(size)
	if name == "floor" {
		what = "(" + strconv.Itoa(size) + "B)"
	}
	fmt.Printf("%-9s %7s %6d %9.0f %7.3f× %9s %9s %9.0f µs %6d\n", name, what, conns, r.rps(), r.rps()/floor,
		ms(r.p50), ms(r.p99), float64(r.cpuPerReq().Nanoseconds())/1000, r.errs)
}

// loneReads measures what one `secr run` waits for on an idle server: a
// conditional read answered 304, with nothing else in flight (each request
// starts 5 ms after the previous one ended, so no batch is shared).
func loneReads(s *benchServer, size, n int) error {
	c := &http.Client{Transport: &http.Transport{DisableCompression: true}}
	defer c.CloseIdleConnections()
	get := func(etag string) (*http.Response, error) {
		req, _ := http.NewRequest("GET", s.snapshotURL(size), nil)
		req.Header.Set("Accept", api.SnapshotMediaType)
		req.Header.Set("Authorization", s.auth)
		if etag != "" {
			req.Header.Set("If-None-Match", etag)
		}
		resp, err := c.Do(req)
		if err != nil {
			return nil, err
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp, nil
	}
	first, err := get("")
	if err != nil {
		return err
	}
	etag := first.Header.Get("ETag")
	var lat []time.Duration
	for i := 0; i < n+10; i++ {
		time.Sleep(5 * time.Millisecond)
		start := time.Now()
		resp, err := get(etag)
		if err != nil {
			return err
		}
		if resp.StatusCode != http.StatusNotModified {
			return fmt.Errorf("status %d, want 304", resp.StatusCode)
		}
		if i >= 10 { // the first ones warm the connection and the caches
			lat = append(lat, time.Since(start))
		}
	}
	slices.Sort(lat)
	fmt.Printf("%-9s %7d  p10 %s  p50 %s  p90 %s\n", s.name, size, ms(lat[len(lat)/10]), ms(lat[len(lat)/2]), ms(lat[len(lat)*9/10]))
	return nil
}
