// Command ceiling is the benchmark's upper bound: a net/http server whose
// GET /api/token answers a constant JSON body of the same shape and size as
// voicetoken's, doing no work at all. Whatever voicetoken reaches is
// reported as a fraction of this on the same machine in the same run.
package main

import (
	"flag"
	"fmt"
	"net/http"
	"os"
)

// body mirrors voicetoken's answer to GET /api/token?room=test-room&identity=u1.
const body = `{"token":"eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJpc3MiOiJkZXZrZXkiLCJzdWIiOiJ1MSIsImV4cCI6MTc5NTQ2NTg1MCwibmJmIjoxNzk1NDQ0MjUwLCJpYXQiOjE3OTU0NDQyNTAsImlkZW50aXR5IjoidTEiLCJ2aWRlbyI6eyJyb29tSm9pbiI6dHJ1ZSwicm9vbSI6InRlc3Qtcm9vbSIsImNhblB1Ymxpc2giOnRydWUsImNhblN1YnNjcmliZSI6dHJ1ZSwiY2FuUHVibGlzaERhdGEiOnRydWV9fQ.X1E14Z6ZgrNeYG1skkl8gnFmWtPrKytZwKpKgTtyACY","ttl_hours":6,"room":"test-room","identity":"u1","expires_at":"2026-11-23T20:30:50Z","server_url":"ws://127.0.0.1:7880"}
`

func main() {
	addr := flag.String("addr", "127.0.0.1:9200", "listen address")
	flag.Parse()
	mux := http.NewServeMux()
	mux.HandleFunc("/api/token", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(body))
	})
	if err := http.ListenAndServe(*addr, mux); err != nil {
		fmt.Fprintln(os.Stderr, "ceiling:", err)
		os.Exit(1)
	}
}
