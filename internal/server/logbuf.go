package server

import (
	"io"
	"sync"
	"time"
)

// LogBuffer batches log output: lines are appended to memory and written
// to the underlying writer every interval, when 64 KiB have gathered, or
// on Flush and Close. Under load this turns one write(2) per request into
// a few per second, which is a tenth of the server's CPU at 30k req/s. The
// price is that up to one interval of lines is lost if the process is
// killed with SIGKILL; a graceful shutdown flushes.
//
// Write never fails: a failing writer loses lines, not requests.
type LogBuffer struct {
	wmu   sync.Mutex // serialises Flush
	mu    sync.Mutex // guards buf and spare
	w     io.Writer
	buf   []byte
	spare []byte
	stop  chan struct{}
	done  chan struct{}
	once  sync.Once
}

// logBufferMax triggers a flush before the interval is up.
const logBufferMax = 64 << 10

// NewLogBuffer starts a buffer that flushes to w every interval.
func NewLogBuffer(w io.Writer, interval time.Duration) *LogBuffer {
	b := &LogBuffer{w: w, buf: make([]byte, 0, logBufferMax), spare: make([]byte, 0, logBufferMax),
		stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(b.done)
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			select {
			case <-t.C:
				b.Flush()
			case <-b.stop:
				return
			}
		}
	}()
	return b
}

// Write appends p (one log record, as slog handlers write them).
func (b *LogBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	b.buf = append(b.buf, p...)
	full := len(b.buf) >= logBufferMax
	b.mu.Unlock()
	if full {
		b.Flush()
	}
	return len(p), nil
}

// Flush writes what has gathered. Flushes are serialised so lines keep
// their order; appenders wait only for a buffer swap, never for the write.
func (b *LogBuffer) Flush() error {
	b.wmu.Lock()
	defer b.wmu.Unlock()
	b.mu.Lock()
	out := b.buf
	b.buf = b.spare[:0]
	b.mu.Unlock()
	if len(out) == 0 {
		b.spare = out
		return nil
	}
	_, err := b.w.Write(out)
	b.mu.Lock()
	b.spare = out[:0]
	b.mu.Unlock()
	return err
}

// Close stops the flusher and writes what is left.
func (b *LogBuffer) Close() error {
	b.once.Do(func() { close(b.stop) })
	<-b.done
	return b.Flush()
}
