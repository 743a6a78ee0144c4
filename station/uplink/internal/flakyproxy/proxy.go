// Package flakyproxy is a test-only TCP proxy that behaves like a bad
// booth uplink: it caps the byte rate in each direction (shared by all
// connections, like one physical link) and cuts connections after a random
// number of upstream bytes, usually in the middle of a websocket frame.
package flakyproxy

import (
	"math/rand/v2"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// Config describes the link.
type Config struct {
	Target string // upstream address (host:port)
	// Rate caps bytes per second in each direction; 0 = unlimited.
	Rate int64
	// CutMin..CutMax: each connection is cut after a random number of
	// client-to-server bytes in this range; CutMax 0 = never cut.
	CutMin, CutMax int64
	Seed           uint64
}

// Proxy is a running proxy.
type Proxy struct {
	cfg  Config
	ln   net.Listener
	up   *bucket
	down *bucket
	done chan struct{}
	wg   sync.WaitGroup

	mu    sync.Mutex
	rng   *rand.Rand
	conns map[net.Conn]struct{}

	cutsOn atomic.Bool
	nConns atomic.Int64
	nCuts  atomic.Int64
	nUp    atomic.Int64
	nDown  atomic.Int64
}

// Start listens on 127.0.0.1:0 and proxies to cfg.Target.
func Start(cfg Config) (*Proxy, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	p := &Proxy{cfg: cfg, ln: ln, done: make(chan struct{}), rng: rand.New(rand.NewPCG(cfg.Seed, 7)), conns: map[net.Conn]struct{}{}}
	if cfg.Rate > 0 {
		p.up, p.down = newBucket(cfg.Rate), newBucket(cfg.Rate)
	}
	p.cutsOn.Store(cfg.CutMax > 0)
	p.wg.Add(1)
	go p.accept()
	return p, nil
}

// Addr is the proxy's listening address.
func (p *Proxy) Addr() string { return p.ln.Addr().String() }

// SetCuts turns cutting on or off for new connections.
func (p *Proxy) SetCuts(on bool) { p.cutsOn.Store(on && p.cfg.CutMax > 0) }

// Stats: connections accepted, connections cut, bytes forwarded up and down.
func (p *Proxy) Stats() (conns, cuts, up, down int64) {
	return p.nConns.Load(), p.nCuts.Load(), p.nUp.Load(), p.nDown.Load()
}

// Close stops the proxy, closes every connection and waits for its goroutines.
func (p *Proxy) Close() error {
	close(p.done)
	err := p.ln.Close()
	p.mu.Lock()
	for c := range p.conns {
		c.Close()
	}
	p.mu.Unlock()
	p.wg.Wait()
	return err
}

func (p *Proxy) track(c net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	select {
	case <-p.done:
		c.Close()
		return false
	default:
	}
	p.conns[c] = struct{}{}
	return true
}

func (p *Proxy) untrack(c net.Conn) {
	p.mu.Lock()
	delete(p.conns, c)
	p.mu.Unlock()
	c.Close()
}

func (p *Proxy) accept() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.nConns.Add(1)
		p.wg.Add(1)
		go p.serve(c)
	}
}

func (p *Proxy) serve(client net.Conn) {
	defer p.wg.Done()
	if !p.track(client) {
		return
	}
	defer p.untrack(client)
	server, err := net.Dial("tcp", p.cfg.Target)
	if err != nil {
		return
	}
	if !p.track(server) {
		return
	}
	defer p.untrack(server)
	cut := int64(-1)
	if p.cutsOn.Load() {
		p.mu.Lock()
		cut = p.cfg.CutMin + p.rng.Int64N(p.cfg.CutMax-p.cfg.CutMin+1)
		p.mu.Unlock()
	}
	var once sync.Once
	closeBoth := func() { once.Do(func() { client.Close(); server.Close() }) }
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		if p.pipe(server, client, p.up, &p.nUp, cut) {
			p.nCuts.Add(1)
		}
		closeBoth()
	}()
	go func() {
		defer wg.Done()
		p.pipe(client, server, p.down, &p.nDown, -1)
		closeBoth()
	}()
	wg.Wait()
}

// pipe copies src to dst through the rate bucket; it stops after cut bytes
// (cut < 0: never) and reports whether it cut.
func (p *Proxy) pipe(dst, src net.Conn, b *bucket, count *atomic.Int64, cut int64) bool {
	// Small reads keep the rate smooth.
	buf := make([]byte, 8<<10)
	var total int64
	for {
		n, err := src.Read(buf)
		if n > 0 {
			if cut >= 0 && total+int64(n) >= cut {
				n = int(cut - total)
				if n > 0 && b.take(n, p.done) {
					dst.Write(buf[:n])
					count.Add(int64(n))
				}
				return true
			}
			if !b.take(n, p.done) {
				return false
			}
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return false
			}
			total += int64(n)
			count.Add(int64(n))
		}
		if err != nil {
			return false // EOF or a closed connection
		}
	}
}

// bucket is a token bucket shared by all connections in one direction.
type bucket struct {
	mu     sync.Mutex
	rate   float64
	tokens float64
	last   time.Time
}

// burst is the most the link sends at once after being idle: small against
// a second's worth, so the measured rate is the configured one, yet large
// enough that a timer firing late on a busy machine does not lose capacity.
const burst = 64 << 10

func newBucket(rate int64) *bucket {
	// Starts empty: no free burst at the beginning of a measurement.
	return &bucket{rate: float64(rate), last: time.Now()}
}

// take waits for n tokens; false if the proxy closed meanwhile. A nil
// bucket never waits.
func (b *bucket) take(n int, done <-chan struct{}) bool {
	if b == nil {
		return true
	}
	b.mu.Lock()
	now := time.Now()
	b.tokens = min(burst, b.tokens+now.Sub(b.last).Seconds()*b.rate)
	b.last = now
	b.tokens -= float64(n)
	wait := time.Duration(-b.tokens / b.rate * float64(time.Second))
	b.mu.Unlock()
	if wait <= 0 {
		return true
	}
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-done:
		return false
	}
}
