//go:build unix

// Command scan measures the throughput of the secr scan engine
// (internal/scan) against ripgrep on the same tree and the same literal
// patterns.
//
//	go run ./bench/scan                          # 20,000 files, 500 MB, 1,000 secrets, 5 rounds
//	go run ./bench/scan -files 2000 -size 50MB   # a quick one
//
// It generates a tree of text files (code, logs, JSON with random hex and
// base64 ids, so that the matcher's filter sees realistic near-misses) in a
// temporary directory, with some of the secret values planted, writes the
// values one a line to values.txt beside the tree, and then times, round by
// round and interleaved, after one untimed warm-up of each so that both read
// from a warm page cache:
//
//   - secr raw: scan.New with the raw encoding only + (*Scanner).Tree,
//     in-process, the matcher's construction included;
//   - rg: `rg -F -n -f values.txt TREE` (ripgrep, all its threads), output
//     read through a pipe;
//   - rg start-up: the same rg command on an empty directory (reading and
//     compiling the 1,000 patterns), to tell its fixed cost from its search;
//   - secr all: every encoding (raw, base64 ×4, hex ×2, URL ×2, JSON, lines),
//     11 patterns per value, what `secr scan` does by default.
//
// Each is timed in wall time and in CPU time (user+system, of this process
// for secr, of the rg process for rg): on a shared machine the wall time
// swings with the neighbours' load, the CPU time much less. The number of
// matching lines is checked to be the same for secr raw and
// rg. The tree is deleted at the end unless -keep.
package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/secr-dev/secr/internal/scan"
)

func main() {
	files := flag.Int("files", 20000, "number of files")
	sizeFlag := flag.String("size", "500MB", "total size of the tree (KB, MB, GB)")
	nsecrets := flag.Int("secrets", 1000, "number of secret values")
	planted := flag.Int("planted", 300, "number of files with planted values")
	runs := flag.Int("runs", 5, "timed rounds")
	dir := flag.String("dir", "", "where to generate (default: a new temporary directory)")
	keep := flag.Bool("keep", false, "keep the generated tree")
	flag.Parse()
	size, err := parseSize(*sizeFlag)
	if err != nil {
		fatal(err)
	}
	rg, err := exec.LookPath("rg")
	if err != nil {
		fatal(fmt.Errorf("ripgrep (rg) not found: apt-get install -y ripgrep"))
	}
	work := *dir
	if work == "" {
		if work, err = os.MkdirTemp("", "secr-scan-bench-"); err != nil {
			fatal(err)
		}
	}
	if !*keep {
		defer os.RemoveAll(work)
	}
	root := filepath.Join(work, "tree")
	valuesFile := filepath.Join(work, "values.txt")

	t0 := time.Now()
	secrets := generate(root, valuesFile, *files, size, *nsecrets, *planted)
	fmt.Printf("generated %d files, %.0f MB, %d secrets (%d files with planted values) in %s under %s\n",
		*files, float64(size)/1e6, *nsecrets, *planted, time.Since(t0).Round(time.Millisecond), root)
	fmt.Printf("GOMAXPROCS=%d, %s\n", runtime.GOMAXPROCS(0), rgVersion(rg))

	secrWith := func(opts scan.Options) func() (int, int64) {
		return func() (int, int64) {
			s, err := scan.New(secrets, opts)
			if err != nil {
				fatal(err)
			}
			res, err := s.Tree(context.Background(), []string{root})
			if err != nil {
				fatal(err)
			}
			return matchingLines(res), res.Bytes
		}
	}
	secrRaw := secrWith(scan.Options{Encodings: []scan.Encoding{scan.Raw}})
	secrAll := secrWith(scan.Options{})
	empty := filepath.Join(work, "empty")
	if err := os.MkdirAll(empty, 0o755); err != nil {
		fatal(err)
	}
	rgIn := func(dir string) (int, int64) {
		cmd := exec.Command(rg, "-F", "-n", "--no-messages", "-f", valuesFile, dir)
		out, err := cmd.StdoutPipe()
		if err != nil {
			fatal(err)
		}
		if err := cmd.Start(); err != nil {
			fatal(err)
		}
		lines := 0
		sc := bufio.NewScanner(out)
		sc.Buffer(make([]byte, 1<<20), 1<<26)
		for sc.Scan() {
			lines++
		}
		if err := cmd.Wait(); err != nil && lines > 0 { // rg exits 1 when nothing matched
			fatal(fmt.Errorf("rg: %w", err))
		}
		childCPU = cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()
		return lines, 0
	}
	ripgrep := func() (int, int64) { return rgIn(root) }
	rgStartup := func() (int, int64) { return rgIn(empty) }

	// Warm-up: fills the page cache, checks the counts.
	rawLines, bytesRead := secrRaw()
	rgLines, _ := ripgrep()
	allLines, _ := secrAll()
	fmt.Printf("matching lines: secr raw %d, rg %d, secr all encodings %d; bytes read %d\n", rawLines, rgLines, allLines, bytesRead)
	if rawLines != rgLines {
		fmt.Fprintln(os.Stderr, "WARNING: secr and rg disagree on the number of matching lines")
	}

	var tRaw, tRg, tAll, tStart, cRaw, cRg []time.Duration
	// timeIt returns the wall time and the CPU time of f: this process's,
	// or rg's when f ran rg.
	timeIt := func(f func() (int, int64)) (time.Duration, time.Duration) {
		childCPU = 0
		c0 := selfCPU()
		start := time.Now()
		f()
		wall := time.Since(start)
		if childCPU > 0 {
			return wall, childCPU
		}
		return wall, selfCPU() - c0
	}
	mbps := func(d time.Duration) float64 { return float64(size) / 1e6 / d.Seconds() }
	fmt.Printf("\n| round | secr raw, wall | rg -F -f, wall | secr / rg, wall | secr raw, CPU | rg, CPU | secr / rg, CPU | rg start-up (empty dir), wall | secr all encodings, wall |\n|---|---|---|---|---|---|---|---|---|\n")
	for r := range *runs {
		a, ac := timeIt(secrRaw)
		b, bc := timeIt(ripgrep)
		st, _ := timeIt(rgStartup)
		c, _ := timeIt(secrAll)
		tRaw, tRg, tAll, tStart = append(tRaw, a), append(tRg, b), append(tAll, c), append(tStart, st)
		cRaw, cRg = append(cRaw, ac), append(cRg, bc)
		fmt.Printf("| %d | %s (%.0f MB/s) | %s (%.0f MB/s) | %.2f× | %s | %s | %.2f× | %s | %s (%.0f MB/s) |\n", r+1,
			ms(a), mbps(a), ms(b), mbps(b), a.Seconds()/b.Seconds(), ms(ac), ms(bc), ac.Seconds()/bc.Seconds(), ms(st), ms(c), mbps(c))
	}
	mr, mg, ma, mst, mcr, mcg := median(tRaw), median(tRg), median(tAll), median(tStart), median(cRaw), median(cRg)
	fmt.Printf("| median | %s (%.0f MB/s) | %s (%.0f MB/s) | %.2f× | %s | %s | %.2f× | %s | %s (%.0f MB/s) |\n",
		ms(mr), mbps(mr), ms(mg), mbps(mg), mr.Seconds()/mg.Seconds(), ms(mcr), ms(mcg), mcr.Seconds()/mcg.Seconds(), ms(mst), ms(ma), mbps(ma))
}

// childCPU is set by the rg runner to the rg process's CPU time.
var childCPU time.Duration

func selfCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func ms(d time.Duration) string {
	return strconv.FormatFloat(float64(d.Microseconds())/1000, 'f', 0, 64) + " ms"
}

func median(ds []time.Duration) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[len(s)/2]
}

// matchingLines counts distinct (file, line) pairs, as rg -n prints them.
func matchingLines(res *scan.Result) int {
	seen := map[string]bool{}
	for _, f := range res.Findings {
		seen[f.Path+":"+strconv.Itoa(f.Line)] = true
	}
	return len(seen)
}

func rgVersion(rg string) string {
	out, err := exec.Command(rg, "--version").Output()
	if err != nil {
		return "rg"
	}
	return strings.SplitN(string(out), "\n", 2)[0]
}

func parseSize(s string) (int64, error) {
	mult := int64(1)
	u := strings.ToUpper(s)
	for _, x := range []struct {
		suf string
		m   int64
	}{{"GB", 1e9}, {"MB", 1e6}, {"KB", 1e3}} {
		if strings.HasSuffix(u, x.suf) {
			u, mult = strings.TrimSuffix(u, x.suf), x.m
			break
		}
	}
	n, err := strconv.ParseFloat(u, 64)
	if err != nil {
		return 0, fmt.Errorf("bad -size %q", s)
	}
	return int64(n * float64(mult)), nil
}

func fatal(err error) {
	fmt.Fprintln(os.Stderr, "bench/scan:", err)
	os.Exit(1)
}

const (
	alnum  = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
	b64    = alnum + "+/"
	hexdig = "0123456789abcdef"
)

var words = strings.Fields(`func return if else for range var const type struct interface map string int
error nil true false ctx context request response handler server client config value key token user
account session cache store database query result items list index count total buffer reader writer
http json yaml path file name data body header status code message log debug info warn the a of to in
is that it with as on be at by this from or have an they which you were her all would there their`)

func randString(r *rand.Rand, alphabet string, n int) string {
	b := make([]byte, n)
	for i := range b {
		b[i] = alphabet[r.IntN(len(alphabet))]
	}
	return string(b)
}

// generate writes the tree and values.txt and returns the secrets.
func generate(root, valuesFile string, nfiles int, size int64, nsecrets, planted int) []scan.Secret {
	r := rand.New(rand.NewPCG(42, 7))
	prefixes := []string{"", "", "sk_live_", "ghp_", "AKIA", "xoxb-", "glpat-", ""}
	secrets := make([]scan.Secret, nsecrets)
	var vals strings.Builder
	for i := range secrets {
		var v string
		switch i % 3 {
		case 0:
			v = prefixes[r.IntN(len(prefixes))] + randString(r, alnum, 16+r.IntN(33))
		case 1:
			v = randString(r, hexdig, 32+r.IntN(33))
		default:
			v = randString(r, b64, 20+r.IntN(40))
		}
		secrets[i] = scan.Secret{Name: fmt.Sprintf("SECRET_%04d", i), Environment: "bench", Value: v}
		vals.WriteString(v + "\n")
	}
	if err := os.MkdirAll(root, 0o755); err != nil {
		fatal(err)
	}
	if err := os.WriteFile(valuesFile, []byte(vals.String()), 0o600); err != nil {
		fatal(err)
	}

	// A pool of generated lines, drawn from at random: cheap to write.
	pool := make([]string, 50000)
	for i := range pool {
		switch r.IntN(4) {
		case 0: // code
			var b strings.Builder
			b.WriteString(strings.Repeat("\t", r.IntN(4)))
			for range 3 + r.IntN(10) {
				b.WriteString(words[r.IntN(len(words))] + " ")
			}
			pool[i] = b.String()
		case 1: // log
			pool[i] = fmt.Sprintf("2026-11-29T08:%02d:%02d.%03dZ INFO request id=%s path=/api/v1/users/%d status=%d duration=%dms",
				r.IntN(60), r.IntN(60), r.IntN(1000), randString(r, hexdig, 32), r.IntN(100000), 200+r.IntN(300), r.IntN(900))
		case 2: // JSON
			pool[i] = fmt.Sprintf(`{"id": "%s-%s", "name": "%s %s", "etag": "%s", "n": %d},`,
				randString(r, hexdig, 8), randString(r, hexdig, 12), words[r.IntN(len(words))], words[r.IntN(len(words))],
				randString(r, b64, 24), r.IntN(1e6))
		default: // prose
			var b strings.Builder
			for range 6 + r.IntN(12) {
				b.WriteString(words[r.IntN(len(words))] + " ")
			}
			pool[i] = b.String()
		}
	}

	plantedFiles := map[int]bool{}
	for len(plantedFiles) < min(planted, nfiles) {
		plantedFiles[r.IntN(nfiles)] = true
	}
	avg := size / int64(nfiles)
	var written int64
	for i := range nfiles {
		dir := filepath.Join(root, fmt.Sprintf("pkg%03d", i%100), fmt.Sprintf("sub%02d", (i/100)%20))
		if err := os.MkdirAll(dir, 0o755); err != nil {
			fatal(err)
		}
		// Sizes from avg/4 to 7avg/4, the last file takes the remainder.
		target := avg/4 + r.Int64N(avg*3/2+1)
		if i == nfiles-1 {
			target = max(size-written, 0)
		}
		f, err := os.Create(filepath.Join(dir, fmt.Sprintf("file%05d.txt", i)))
		if err != nil {
			fatal(err)
		}
		w := bufio.NewWriterSize(f, 64<<10)
		var n int64
		plantAt := int64(-1)
		if plantedFiles[i] {
			plantAt = r.Int64N(target + 1)
		}
		for n < target {
			line := pool[r.IntN(len(pool))]
			if plantAt >= 0 && n >= plantAt {
				line = line + " token=" + secrets[r.IntN(nsecrets)].Value
				plantAt = -1
			}
			if int64(len(line))+1 > target-n {
				line = line[:max(target-n-1, 0)]
			}
			w.WriteString(line)
			w.WriteByte('\n')
			n += int64(len(line)) + 1
		}
		if err := w.Flush(); err != nil {
			fatal(err)
		}
		if err := f.Close(); err != nil {
			fatal(err)
		}
		written += n
	}
	return secrets
}
