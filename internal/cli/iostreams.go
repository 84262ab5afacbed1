package cli

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"

	"golang.org/x/term"
)

// IOStreams are a command's standard streams. Data goes to Out; messages,
// progress and prompts go to ErrOut.
type IOStreams struct {
	In     io.Reader
	Out    io.Writer
	ErrOut io.Writer

	inTTY, outTTY, errTTY bool
	inFd                  int
	lines                 *bufio.Reader // for ReadLine: one reader, so no line is lost to buffering
	rawTerminal           bool          // the terminal is in raw mode: lines end with CR LF
}

// SetRawTerminal says that the terminal is in raw mode (secr run --mask
// on a pty), where a bare LF would not return the cursor.
func (s *IOStreams) SetRawTerminal(raw bool) { s.rawTerminal = raw }

func (s *IOStreams) eol() string {
	if s.rawTerminal {
		return "\r\n"
	}
	return "\n"
}

// SystemIO returns the process's streams.
func SystemIO() *IOStreams {
	return &IOStreams{
		In: os.Stdin, Out: os.Stdout, ErrOut: os.Stderr,
		inTTY:  term.IsTerminal(int(os.Stdin.Fd())),
		outTTY: term.IsTerminal(int(os.Stdout.Fd())),
		errTTY: term.IsTerminal(int(os.Stderr.Fd())),
		inFd:   int(os.Stdin.Fd()),
	}
}

// TestIO returns streams backed by buffers, none of them a terminal.
func TestIO(stdin string) (*IOStreams, *bytes.Buffer, *bytes.Buffer) {
	out, errOut := &bytes.Buffer{}, &bytes.Buffer{}
	return &IOStreams{In: strings.NewReader(stdin), Out: out, ErrOut: errOut, inFd: -1}, out, errOut
}

// CanPrompt reports whether interactive prompts may be shown.
func (s *IOStreams) CanPrompt() bool { return s.inTTY && s.errTTY }

// IsStdoutTTY reports whether stdout is a terminal.
func (s *IOStreams) IsStdoutTTY() bool { return s.outTTY }

// IsStdinTTY reports whether stdin is a terminal.
func (s *IOStreams) IsStdinTTY() bool { return s.inTTY }

// ReadSecret prompts on stderr and reads a line from the terminal without
// echo.
func (s *IOStreams) ReadSecret(prompt string) (string, error) {
	fmt.Fprint(s.ErrOut, prompt)
	b, err := readPassword(s.inFd)
	fmt.Fprintln(s.ErrOut)
	if err != nil {
		return "", fmt.Errorf("read from terminal: %w", err)
	}
	return string(b), nil
}

// ReadLine reads one line from In, without its line end.
func (s *IOStreams) ReadLine() (string, error) {
	if s.lines == nil {
		s.lines = bufio.NewReader(s.In)
	}
	line, err := s.lines.ReadString('\n')
	if err != nil && (err != io.EOF || line == "") {
		return "", fmt.Errorf("read standard input: %w", err)
	}
	return strings.TrimRight(line, "\r\n"), nil
}

// Warnf prints "secr: warning: ..." on stderr.
func (s *IOStreams) Warnf(format string, args ...any) {
	fmt.Fprintf(s.ErrOut, "secr: warning: "+format+s.eol(), args...)
}

// Infof prints a message on stderr.
func (s *IOStreams) Infof(format string, args ...any) {
	fmt.Fprintf(s.ErrOut, format+s.eol(), args...)
}

// JSON writes v to Out as indented JSON.
func (s *IOStreams) JSON(v any) error {
	enc := json.NewEncoder(s.Out)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}

// Table writes rows: with headers and aligned on a terminal, tab-separated
// without headers otherwise, for scripts.
func (s *IOStreams) Table(header []string, rows [][]string) error {
	if !s.outTTY {
		for _, r := range rows {
			if _, err := fmt.Fprintln(s.Out, strings.Join(r, "\t")); err != nil {
				return err
			}
		}
		return nil
	}
	tw := tabwriter.NewWriter(s.Out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, strings.Join(header, "\t"))
	for _, r := range rows {
		fmt.Fprintln(tw, strings.Join(r, "\t"))
	}
	return tw.Flush()
}
