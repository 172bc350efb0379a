package main

import (
	"flag"
	"fmt"
	"io"
	"os"

	"voicetoken/internal/page"
	"voicetoken/internal/token"
)

// maxInput bounds what is read from stdin or a file: generous enough that an
// oversized token is reported as too large rather than cut off, small
// enough that /dev/zero cannot exhaust memory.
const maxInput = 8 << 20

// tokenInput is where verify and inspect read a token from.
type tokenInput struct {
	file, html string
}

func (in *tokenInput) register(fs *flag.FlagSet) {
	fs.StringVar(&in.file, "file", "", "read the token from this file ('-' for stdin); a token API's JSON answer is accepted too")
	fs.StringVar(&in.html, "html", "", "read the token from an HTML page holding const TOKEN = '...'")
}

// read returns the token named by the flags or the single argument: a
// literal token, or "-" for stdin.
func (in *tokenInput) read(e *env, args []string) (string, error) {
	sources := 0
	for _, s := range []string{in.file, in.html} {
		if s != "" {
			sources++
		}
	}
	sources += len(args)
	if sources != 1 {
		return "", usageErr("give exactly one token: TOKEN, '-' for stdin, --file F or --html F")
	}
	switch {
	case in.html != "":
		data, err := readSource(e, in.html)
		if err != nil {
			return "", err
		}
		ms, err := page.Find(data)
		if err != nil {
			return "", fmt.Errorf("%s: %w", in.html, err)
		}
		if len(ms) > 1 {
			fmt.Fprintf(e.stderr, "note: %s holds %d tokens; checking the first\n", in.html, len(ms))
		}
		return ms[0].Token, nil
	case in.file != "":
		data, err := readSource(e, in.file)
		if err != nil {
			return "", err
		}
		return fromAnswer(string(data))
	case args[0] == "-":
		data, err := readSource(e, "-")
		if err != nil {
			return "", err
		}
		return fromAnswer(string(data))
	default:
		return fromAnswer(args[0])
	}
}

// fromAnswer takes the token out of a token API's JSON answer (`curl -s
// .../api/token | voicetoken verify -`), or returns plain input cleaned.
func fromAnswer(input string) (string, error) {
	tok, _, err := token.FromAnswer(input)
	if err != nil {
		return "", &exitError{code: token.ExitInvalid, err: err}
	}
	return tok, nil
}

func readSource(e *env, name string) ([]byte, error) {
	var r io.Reader = e.stdin
	if name != "-" {
		f, err := os.Open(name)
		if err != nil {
			return nil, fmt.Errorf("read token: %w", err)
		}
		defer f.Close()
		r = f
	}
	data, err := io.ReadAll(io.LimitReader(r, maxInput+1))
	if err != nil {
		return nil, fmt.Errorf("read token: %w", err)
	}
	if len(data) > maxInput {
		return nil, &exitError{code: token.ExitInvalid, err: fmt.Errorf("%w: input is over %d MiB", token.ErrTooLarge, maxInput>>20)}
	}
	return data, nil
}
