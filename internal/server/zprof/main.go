package main

import (
	"context"
	"log/slog"
	"os"
	"runtime/pprof"
	"time"

	"voicetoken/internal/keys"
	"voicetoken/internal/server"
)

func main() {
	ks, _ := keys.NewSet(keys.Pair{Key: "devkey", Secret: "secret"})
	p, err := server.LoadPolicy("examples/policy.yaml")
	if err != nil {
		panic(err)
	}
	p.RateLimit.PerAddress = &server.Rate{Rate: 1e6, Burst: 1e6}
	f, _ := os.Create(os.Args[1])
	logf, _ := os.Create("/tmp/sb/prof.log")
	srv, err := server.New(server.Config{Keys: ks, Policy: p}, server.WithLogger(slog.New(slog.NewJSONHandler(logf, nil))))
	if err != nil {
		panic(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 9*time.Second)
	defer cancel()
	go func() { time.Sleep(2 * time.Second); pprof.StartCPUProfile(f); time.Sleep(6 * time.Second); pprof.StopCPUProfile() }()
	srv.ListenAndServe(ctx)
}
