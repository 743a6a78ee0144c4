// Package memtrim hands the C heap's free memory back to the system now and
// then. stationd's C libraries (OpenCV, FFmpeg, libjpeg) allocate and free
// frame-sized buffers on several threads, one glibc malloc arena each; the
// freed pages stay in the arenas, so the resident size creeps up in steps
// after every burst of load although nothing leaks. malloc_trim(0) returns
// them (glibc releases free pages inside an arena too, not only at its top).
package memtrim

// #include <malloc.h>
import "C"

import (
	"context"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"time"
)

// Trim returns the C heap's free memory to the system and reports the
// resident size before and after, in bytes (0 when /proc is unreadable).
func Trim() (before, after int64) {
	before = resident()
	C.malloc_trim(0)
	return before, resident()
}

// Run trims every period until ctx ends, logging what each trim gave back
// (at info level from 4 MB on, else at debug level).
func Run(ctx context.Context, every time.Duration, log *slog.Logger) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			b, a := Trim()
			if log == nil {
				continue
			}
			lvl := slog.LevelDebug
			if b-a >= 4<<20 {
				lvl = slog.LevelInfo
			}
			log.Log(ctx, lvl, "C heap trimmed", "rss_before_mb", b>>20, "rss_after_mb", a>>20)
		}
	}
}

// resident reads this process's resident set size from /proc/self/statm.
func resident() int64 {
	b, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		return 0
	}
	f := strings.Fields(string(b))
	if len(f) < 2 {
		return 0
	}
	pages, err := strconv.ParseInt(f[1], 10, 64)
	if err != nil {
		return 0
	}
	return pages * int64(os.Getpagesize())
}
