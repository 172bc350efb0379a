// Command voicetoken mints, verifies, serves and rotates the JWTs that voice
// agents live on. This package wires subcommands to the internal packages:
// it parses flags and the environment into each package's config, checks
// the flags against each other, prints the answers, and maps errors to the
// documented exit codes (exit.go). What a command decides (which checks
// run, what a token may hold, how a credential is read and written) lives
// in internal/<noun> packages.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], &env{
		stdin:  os.Stdin,
		stdout: os.Stdout,
		stderr: os.Stderr,
		getenv: os.Getenv,
		now:    time.Now,
	})
	stop()
	os.Exit(code)
}

// env is everything a subcommand touches outside its arguments, injected
// so that tests run commands in-process.
type env struct {
	stdin  io.Reader
	stdout io.Writer
	stderr io.Writer
	getenv func(string) string
	now    func() time.Time
	// describe, when set, receives a command's flags instead of its -h
	// text: completion reads every command's flags from the definitions
	// -h prints.
	describe func(fs *flag.FlagSet, groups []flagGroup)
}

// command is one subcommand. run returns nil for exit 0, an *exitError for
// a specific code, or any other error for exit 1.
type command struct {
	name    string
	summary string
	run     func(ctx context.Context, e *env, args []string) error
}

// exitError carries a documented exit code. A nil err prints nothing.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string {
	if e.err == nil {
		return fmt.Sprintf("exit %d", e.code)
	}
	return e.err.Error()
}
func (e *exitError) Unwrap() error { return e.err }

// usageErr marks a command-line mistake: exit 3.
func usageErr(format string, args ...any) error {
	return &exitError{code: exitUsage, err: fmt.Errorf(format, args...)}
}

func run(ctx context.Context, args []string, e *env) int {
	cmds := commands()
	if len(args) == 2 && args[0] == "help" { // help CMD is CMD -h
		args = []string{args[1], "-h"}
	}
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		printUsage(e.stdout, cmds)
		if len(args) == 0 {
			return exitUsage
		}
		return 0
	}
	switch args[0] {
	case "-v", "-version", "--version": // the habit of Go CLIs
		args = append([]string{"version"}, args[1:]...)
	}
	for _, c := range cmds {
		if c.name != args[0] {
			continue
		}
		err := c.run(ctx, e, args[1:])
		return report(e.stderr, c.name, err)
	}
	fmt.Fprintf(e.stderr, "voicetoken: unknown command %q; run 'voicetoken help' for the list\n", args[0])
	return exitUsage
}

// report prints err as one line and returns its exit code.
func report(w io.Writer, name string, err error) int {
	if err == nil || errors.Is(err, flag.ErrHelp) {
		return 0
	}
	var ee *exitError
	if errors.As(err, &ee) {
		if ee.err != nil {
			fmt.Fprintf(w, "voicetoken %s: %v\n", name, ee.err)
		}
		return ee.code
	}
	fmt.Fprintf(w, "voicetoken %s: %v\n", name, err)
	return 1
}

func printUsage(w io.Writer, cmds []command) {
	fmt.Fprintf(w, "voicetoken keeps real-time voice agents authenticated.\n\nUsage: voicetoken <command> [flags]\n\nCommands:\n")
	for _, c := range cmds {
		fmt.Fprintf(w, "  %-9s %s\n", c.name, c.summary)
	}
	fmt.Fprintf(w, "\nRun 'voicetoken <command> -h' for a command's flags.\n")
}

// newFlagSet returns a flag set that reports errors instead of exiting.
// Its -h prints usage, then the flags: in the given groups if any, flags
// no group names last.
func newFlagSet(e *env, name, usage string, groups ...flagGroup) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	fs.Usage = func() {
		if e.describe != nil {
			e.describe(fs, groups)
			return
		}
		fmt.Fprintf(e.stderr, "%s\n\n", usage)
		printFlags(e.stderr, fs, groups)
	}
	return fs
}

// parseFlags parses args. Flags may follow the arguments, as in
// `verify TOKEN --json`; after "--" everything is an argument. -h prints
// the command's usage; a flag error is a usage error (exit 3) reported in
// one line with a pointer to -h, not followed by every flag the command
// has (which would scroll the error out of sight).
func parseFlags(fs *flag.FlagSet, args []string) error {
	out, usage := fs.Output(), fs.Usage
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	err := parseInterspersed(fs, args)
	fs.SetOutput(out)
	fs.Usage = usage
	switch {
	case err == nil:
		return nil
	case errors.Is(err, flag.ErrHelp):
		usage()
		return err
	}
	return usageErr("%v; run 'voicetoken %s -h' for help", err, fs.Name())
}

// parseInterspersed parses flags wherever they appear among args and
// leaves the arguments, in order, as fs.Args().
func parseInterspersed(fs *flag.FlagSet, args []string) error {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return err
		}
		rest := fs.Args()
		if len(rest) == 0 {
			break
		}
		if n := len(args) - len(rest); n > 0 && args[n-1] == "--" {
			pos = append(pos, rest...) // "--" ended the flags
			break
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
	return fs.Parse(append([]string{"--"}, pos...))
}

// flagsSet reports which flags the command line gave, so that a flag
// applies when given rather than when it differs from a sentinel default.
func flagsSet(fs *flag.FlagSet) map[string]bool {
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	return set
}

// onSIGHUP runs reload on every SIGHUP until ctx is done or the returned
// stop is called: daemons (serve, proxy) re-read their files on SIGHUP, as
// operators expect.
func onSIGHUP(ctx context.Context, reload func()) (stop func()) {
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	done := make(chan struct{})
	go func() {
		for {
			select {
			case <-ctx.Done():
				return
			case <-done:
				return
			case <-hup:
				reload()
			}
		}
	}()
	return func() { signal.Stop(hup); close(done) }
}
