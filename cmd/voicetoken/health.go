package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"time"
)

const healthUsage = `Usage: voicetoken health [URL]

Exits 0 when URL (default http://127.0.0.1:9000/healthz) answers 200
within --timeout, 1 otherwise, with one line saying why. For a container
health check in an image without a shell or curl:

  HEALTHCHECK CMD ["/voicetoken", "health"]`

func runHealth(ctx context.Context, e *env, args []string) error {
	fs := newFlagSet(e, "health", healthUsage)
	timeout := fs.Duration("timeout", 3*time.Second, "how long to wait for the answer")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	url := "http://127.0.0.1:9000/healthz"
	switch fs.NArg() {
	case 0:
	case 1:
		url = fs.Arg(0)
	default:
		return usageErr("want at most one URL, got %d arguments", fs.NArg())
	}
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return usageErr("URL %q: %v", url, err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("%s is not answering: %w", url, err)
	}
	defer resp.Body.Close()
	io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<16))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s answered %s, want 200", url, resp.Status)
	}
	fmt.Fprintf(e.stdout, "%s: ok\n", url)
	return nil
}
