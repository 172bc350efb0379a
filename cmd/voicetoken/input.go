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
// literal token, or "-" for stdin; for --html, every token on the page
// (page.Find), each with its line.
func (in *tokenInput) read(e *env, args []string) ([]page.Match, error) {
	sources := 0
	for _, s := range []string{in.file, in.html} {
		if s != "" {
			sources++
		}
	}
	sources += len(args)
	if sources != 1 {
		return nil, usageErr("give exactly one token: TOKEN, '-' for stdin, --file F or --html F")
	}
	one := func(data []byte, err error) ([]page.Match, error) {
		if err != nil {
			return nil, err
		}
		tok, err := fromAnswer(string(data))
		if err != nil {
			return nil, err
		}
		return []page.Match{{Token: tok}}, nil
	}
	switch {
	case in.html != "":
		data, err := readSource(e, in.html)
		if err != nil {
			return nil, err
		}
		ms, err := page.Find(data)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", in.html, err)
		}
		return ms, nil
	case in.file != "":
		return one(readSource(e, in.file))
	case args[0] == "-":
		return one(readSource(e, "-"))
	default:
		return one([]byte(args[0]), nil)
	}
}

// fromAnswer takes the token out of a token API's JSON answer (`curl -s
// .../api/token | voicetoken verify -`), or returns plain input cleaned.
func fromAnswer(input string) (string, error) {
	tok, _, err := token.FromAnswer(input)
	if err != nil {
		return "", &exitError{code: exitInvalid, err: err}
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
		return nil, &exitError{code: exitInvalid, err: fmt.Errorf("%w: input is over %d MiB", token.ErrTooLarge, maxInput>>20)}
	}
	return data, nil
}
