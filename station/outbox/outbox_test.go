package outbox

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// fakeClock is a settable clock for retention tests.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *fakeClock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// packetN is deterministic content for packet n, of a size that varies with n.
func packetN(n int, size int) []byte {
	var seed [32]byte
	seed[0], seed[1], seed[2] = byte(n), byte(n>>8), byte(n>>16)
	b := make([]byte, size)
	rand.NewChaCha8(seed).Read(b)
	return b
}

func mustOpen(t testing.TB, path string, opts Options) *Outbox {
	t.Helper()
	if opts.Logger == nil {
		opts.Logger = quiet()
	}
	o, err := Open(path, opts)
	if err != nil {
		t.Fatal(err)
	}
	return o
}

func TestLifecycle(t *testing.T) {
	clk := &fakeClock{t: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
	path := filepath.Join(t.TempDir(), "outbox.db")
	o := mustOpen(t, path, Options{Retention: time.Hour, Now: clk.Now})
	ctx := context.Background()

	a, b := packetN(1, 1000), packetN(2, 3<<20) // a 3 MB packet among small ones
	ida, idb := PacketID(a), PacketID(b)
	if err := o.Put(ctx, ida, a); err != nil {
		t.Fatal(err)
	}
	clk.Add(time.Minute)
	if err := o.Put(ctx, idb, b); err != nil {
		t.Fatal(err)
	}
	if err := o.Put(ctx, ida, a); err != nil { // idempotent
		t.Fatalf("second Put of the same packet: %v", err)
	}
	if err := o.Put(ctx, ida, b); !errors.Is(err, ErrBadID) {
		t.Fatalf("Put with the wrong id: got %v, want ErrBadID", err)
	}
	st, err := o.Status()
	if err != nil {
		t.Fatal(err)
	}
	if st.Depth != 2 || st.QueuedBytes != int64(len(a)+len(b)) || st.UsedBytes != st.QueuedBytes {
		t.Fatalf("status after two puts: %+v", st)
	}
	if !st.OldestQueued.Equal(clk.Now().Add(-time.Minute)) || st.OldestAge != time.Minute {
		t.Fatalf("oldest queued %v age %v", st.OldestQueued, st.OldestAge)
	}

	got, err := o.Claim(1)
	if err != nil || len(got) != 1 || got[0].ID != ida || got[0].State != Sending {
		t.Fatalf("Claim(1) = %+v, %v; want packet a sending", got, err)
	}
	got2, _ := o.Claim(5)
	if len(got2) != 1 || got2[0].ID != idb {
		t.Fatalf("second Claim = %+v, want only b", got2)
	}
	if e, _ := o.Get(ida); e.State != Sending {
		t.Fatalf("a is %s, want sending", e.State)
	}
	// Chunked read of the big packet.
	buf := make([]byte, 1<<16)
	var re bytes.Buffer
	for off := int64(0); ; {
		n, err := o.ReadAt(idb, buf, off)
		re.Write(buf[:n])
		off += int64(n)
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	if !bytes.Equal(re.Bytes(), b) {
		t.Fatal("ReadAt chunks differ from the stored packet")
	}

	o.Release(idb)
	if e, _ := o.Get(idb); e.State != Queued {
		t.Fatalf("released b is %s", e.State)
	}
	if err := o.Acknowledge(ida, []byte(`{"sig":"x"}`)); err != nil {
		t.Fatal(err)
	}
	st, _ = o.Status()
	if st.Depth != 1 || st.Acknowledged != 1 || !st.LastAck.Equal(clk.Now()) || st.Sending != 0 {
		t.Fatalf("status after ack: %+v", st)
	}
	// Not yet past retention.
	clk.Add(59 * time.Minute)
	if n, _ := o.Purge(ctx); n != 0 {
		t.Fatalf("purged %d before retention ended", n)
	}
	clk.Add(time.Minute)
	if n, _ := o.Purge(ctx); n != 1 {
		t.Fatalf("purged %d after retention, want 1", n)
	}
	e, _ := o.Get(ida)
	if e.State != Purged || string(e.Receipt) != `{"sig":"x"}` {
		t.Fatalf("tombstone: %+v", e)
	}
	if _, err := o.Data(ida); !errors.Is(err, ErrNotFound) {
		t.Fatalf("data of purged packet: %v", err)
	}
	if err := o.Put(ctx, ida, a); err != nil {
		t.Fatalf("re-Put of a delivered packet: %v", err)
	}
	if e, _ := o.Get(ida); e.State != Purged {
		t.Fatalf("re-Put revived a delivered packet: %s", e.State)
	}

	if err := o.Reject(idb, "bad signature"); err != nil {
		t.Fatal(err)
	}
	st, _ = o.Status()
	if st.Depth != 0 || st.Rejected != 1 || st.UsedBytes != int64(len(b)) {
		t.Fatalf("status after reject: %+v", st)
	}
	if err := o.Requeue(idb); err != nil {
		t.Fatal(err)
	}
	// Reopen: state and bytes survive; nothing is "sending" after restart.
	o.Claim(1)
	if err := o.Close(); err != nil {
		t.Fatal(err)
	}
	o = mustOpen(t, path, Options{Now: clk.Now})
	defer o.Close()
	if e, _ := o.Get(idb); e.State != Queued {
		t.Fatalf("after reopen b is %s, want queued", e.State)
	}
	if d, _ := o.Data(idb); !bytes.Equal(d, b) {
		t.Fatal("b changed across reopen")
	}
	list, _ := o.List(0)
	if len(list) != 2 || list[0].ID != idb {
		t.Fatalf("list: %+v", list)
	}
}

func TestQuota(t *testing.T) {
	o := mustOpen(t, filepath.Join(t.TempDir(), "o.db"), Options{QuotaBytes: 10000, Retention: 24 * time.Hour})
	defer o.Close()
	ctx := context.Background()
	p := func(n int) ([]byte, string) { b := packetN(n, 4000); return b, PacketID(b) }
	b1, id1 := p(1)
	b2, id2 := p(2)
	b3, id3 := p(3)
	if err := o.Put(ctx, id1, b1); err != nil {
		t.Fatal(err)
	}
	if err := o.Put(ctx, id2, b2); err != nil {
		t.Fatal(err)
	}
	err := o.Put(ctx, id3, b3)
	if !errors.Is(err, ErrOutboxFull) {
		t.Fatalf("third 4000-byte packet in 10000-byte quota: %v, want ErrOutboxFull", err)
	}
	if _, err := o.Get(id3); !errors.Is(err, ErrNotFound) {
		t.Fatal("refused packet was recorded")
	}
	big := packetN(9, 20000)
	if err := o.Put(ctx, PacketID(big), big); !errors.Is(err, ErrOutboxFull) {
		t.Fatalf("packet larger than quota: %v", err)
	}
	// An acknowledged packet is safe at central: its local copy gives way.
	if err := o.Acknowledge(id1, []byte(`{}`)); err != nil {
		t.Fatal(err)
	}
	if err := o.Put(ctx, id3, b3); err != nil {
		t.Fatalf("put after ack should evict the acknowledged copy: %v", err)
	}
	if e, _ := o.Get(id1); e.State != Purged {
		t.Fatalf("evicted packet is %s, want purged", e.State)
	}
	if st, _ := o.Status(); st.UsedBytes != 8000 || st.Room != 2000 {
		t.Fatalf("used %d room %d, want 8000 and 2000", st.UsedBytes, st.Room)
	}
	if err := o.Acknowledge(id2, []byte(`{}`)); err != nil {
		t.Fatal(err)
	}
	if st, _ := o.Status(); st.Room != 6000 || st.AckedBytes != 4000 {
		t.Fatalf("after ack: room %d acked bytes %d, want 6000 and 4000", st.Room, st.AckedBytes)
	}
}

func TestSecondOpenIsRefused(t *testing.T) {
	path := filepath.Join(t.TempDir(), "o.db")
	o := mustOpen(t, path, Options{})
	defer o.Close()
	_, err := Open(path, Options{LockTimeout: 50 * time.Millisecond, Logger: quiet()})
	if err == nil || !strings.Contains(err.Error(), "locked") {
		t.Fatalf("second open: %v, want a lock error", err)
	}
}

// Crash test. The child (this test binary re-executed with outboxCrashEnv
// set) enqueues packets forever, acknowledging and purging some, and reports
// each operation on stdout only after it returned. The parent kills it with
// SIGKILL after a random number of reports, reopens the file and checks that
// everything reported survived intact.
const outboxCrashEnv = "OUTBOX_CRASH_CHILD"

func TestMain(m *testing.M) {
	if dir := os.Getenv(outboxCrashEnv); dir != "" {
		crashChild(dir)
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func crashChild(arg string) {
	path, startStr, _ := strings.Cut(arg, "|")
	start, _ := strconv.Atoi(startStr)
	o, err := Open(path, Options{Retention: 0, Logger: quiet()})
	if err != nil {
		fmt.Println("error", err)
		os.Exit(3)
	}
	ctx := context.Background()
	w := bufio.NewWriter(os.Stdout)
	for n := start; ; n++ {
		// Sizes from 1 KB to ~700 KB so some commits span many pages.
		data := packetN(n, 1000+(n*7919)%(700<<10))
		id := PacketID(data)
		if err := o.Put(ctx, id, data); err != nil {
			fmt.Println("error", err)
			os.Exit(3)
		}
		fmt.Fprintf(w, "put %d %s\n", n, id)
		w.Flush()
		if n%3 == 0 {
			got, _ := o.Claim(1)
			for _, e := range got {
				if err := o.Acknowledge(e.ID, []byte(`{"n":`+strconv.Itoa(n)+`}`)); err != nil {
					fmt.Println("error", err)
					os.Exit(3)
				}
				fmt.Fprintf(w, "ack %s\n", e.ID)
				w.Flush()
			}
		}
		if n%7 == 0 {
			if _, err := o.Purge(ctx); err != nil {
				fmt.Println("error", err)
				os.Exit(3)
			}
		}
	}
}

func TestCrashKill9(t *testing.T) {
	rounds := 20
	if testing.Short() {
		rounds = 8
	}
	path := filepath.Join(t.TempDir(), "outbox.db")
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 1))
	put := map[string]int{}    // id -> n of every packet the child reported stored
	acked := map[string]bool{} // ids reported acknowledged
	next := 0
	for round := 0; round < rounds; round++ {
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), outboxCrashEnv+"="+path+"|"+strconv.Itoa(next))
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		killAfter := 1 + rng.IntN(12)
		sc := bufio.NewScanner(out)
		lines := 0
		for sc.Scan() {
			f := strings.Fields(sc.Text())
			switch {
			case len(f) == 3 && f[0] == "put":
				n, _ := strconv.Atoi(f[1])
				put[f[2]] = n
				if n >= next {
					next = n + 1
				}
			case len(f) == 2 && f[0] == "ack":
				acked[f[1]] = true
			default:
				t.Fatalf("child: %s (stderr %s)", sc.Text(), stderr.String())
			}
			lines++
			if lines == killAfter {
				// Kill mid-work: the child is already inside its next operation.
				cmd.Process.Kill()
				break
			}
		}
		io.Copy(io.Discard, out)
		cmd.Wait()

		o := mustOpen(t, path, Options{})
		for id, n := range put {
			e, err := o.Get(id)
			if err != nil {
				t.Fatalf("round %d: packet %d reported stored is lost: %v", round, n, err)
			}
			if acked[id] && e.State != Acknowledged && e.State != Purged {
				t.Fatalf("round %d: packet %d reported acknowledged is %s", round, n, e.State)
			}
			if e.State == Purged {
				continue
			}
			d, err := o.Data(id)
			if err != nil || PacketID(d) != id {
				t.Fatalf("round %d: packet %d corrupt or unreadable: %v", round, n, err)
			}
		}
		// Every record present (also ones the child had not reported) is intact.
		all, err := o.List(0)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range all {
			if e.State == Purged {
				continue
			}
			if d, err := o.Data(e.ID); err != nil || PacketID(d) != e.ID || int64(len(d)) != e.Size {
				t.Fatalf("round %d: record %s has bad data: %v", round, e.ID[:12], err)
			}
		}
		o.Close()
	}
	if len(put) < rounds {
		t.Fatalf("only %d packets stored in %d rounds", len(put), rounds)
	}
}

// BenchmarkOutboxEnqueueFsync measures durable enqueues of 256 KiB packets
// (each Put is one fsynced bbolt commit).
func BenchmarkOutboxEnqueueFsync(b *testing.B) {
	o := mustOpen(b, filepath.Join(b.TempDir(), "o.db"), Options{})
	defer o.Close()
	ctx := context.Background()
	const size = 256 << 10
	pkts := make([][]byte, 64)
	for i := range pkts {
		pkts[i] = packetN(i, size)
	}
	b.SetBytes(size)
	b.ResetTimer()
	start := time.Now()
	for i := 0; i < b.N; i++ {
		p := pkts[i%len(pkts)]
		// Vary the content so every Put is a new packet.
		p[0], p[1], p[2], p[3] = byte(i), byte(i>>8), byte(i>>16), byte(i>>24)
		if err := o.Put(ctx, PacketID(p), p); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "packets/s")
}
