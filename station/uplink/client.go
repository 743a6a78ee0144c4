package uplink

import (
	"context"
	"crypto/ed25519"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"sync"
	"time"

	"github.com/gorilla/websocket"

	"github.com/openenroll/stationd/station/outbox"
)

// Station-side defaults.
const (
	// DefaultWindow is how many packets the station keeps in flight: enough
	// to hide the offer/commit round trips behind other packets' chunks.
	DefaultWindow = 4
	// defaultBackoffMin and defaultBackoffMax bound the wait between
	// reconnection attempts; the wait doubles per failure, with jitter so
	// a fleet of booths does not reconnect in step after central restarts.
	defaultBackoffMin = time.Second
	defaultBackoffMax = 5 * time.Minute
	// defaultDialTimeout bounds the TCP+TLS+websocket handshake and the hello exchange.
	defaultDialTimeout = 30 * time.Second
	// defaultReadIdle is how long the station waits for any frame from
	// central; central pings every 54 s (9/10 of its 60 s pong wait).
	defaultReadIdle = 90 * time.Second
	// stableSession: a connection that lasted this long resets the backoff.
	stableSession = time.Minute
	// maxHashMismatches ends a connection after this many packets were
	// refused for a bad hash on it: the link or disk corrupts data.
	maxHashMismatches = 3
)

// ClientConfig configures the station's uplink.
type ClientConfig struct {
	URL        string // ws:// or wss:// URL of central's /uplink
	StationID  string
	StationKey ed25519.PrivateKey // signs the hello token; may be nil if TLS carries a client certificate
	TLS        *tls.Config        // for wss: root CAs and, optionally, the station's client certificate
	// CentralKeys verify receipts; list two during a key rotation.
	CentralKeys []ed25519.PublicKey
	Window      int   // packets in flight (default DefaultWindow)
	ChunkSize   int   // chunk payload bytes (default DefaultChunkData, at most MaxChunkData)
	RateLimit   int64 // cap on chunk payload bytes per second; 0 = no cap
	BackoffMin  time.Duration
	BackoffMax  time.Duration
	DialTimeout time.Duration
	ReadIdle    time.Duration
	Logger      *slog.Logger
	// OnAck and OnReject, if set, are called (from the uplink goroutine)
	// after a packet was acknowledged or rejected in the outbox, e.g. to
	// emit a UI event. They must not block.
	OnAck    func(packetID string)
	OnReject func(packetID, reason string)
}

// ClientStats counts the uplink's work, for the operator UI and tests.
type ClientStats struct {
	Connected    bool  `json:"connected"`
	Connects     int64 `json:"connects"`
	PayloadBytes int64 `json:"payload_bytes"` // chunk payload bytes written to the socket
	// ResentBytes counts payload bytes sent at offsets below what central
	// had reported holding for that packet. The protocol keeps it at 0.
	ResentBytes int64     `json:"resent_bytes"`
	Acked       int64     `json:"acked"`
	Rejected    int64     `json:"rejected"`
	LastAck     time.Time `json:"last_ack"`
	LastError   string    `json:"last_error,omitempty"`
}

// Client uploads the outbox's packets to central until its context ends.
type Client struct {
	cfg  ClientConfig
	ob   *outbox.Outbox
	log  *slog.Logger
	rate *tokenBucket

	mu       sync.Mutex
	stats    ClientStats
	reported map[string]int64 // highest "have" central reported per unacknowledged packet
}

// NewClient checks the configuration.
func NewClient(cfg ClientConfig, ob *outbox.Outbox) (*Client, error) {
	if err := ValidStationID(cfg.StationID); err != nil {
		return nil, fmt.Errorf("uplink: %w", err)
	}
	if cfg.URL == "" || len(cfg.CentralKeys) == 0 {
		return nil, errors.New("uplink: config needs central's URL and at least one central public key")
	}
	if cfg.StationKey == nil && (cfg.TLS == nil || (len(cfg.TLS.Certificates) == 0 && cfg.TLS.GetClientCertificate == nil)) {
		return nil, errors.New("uplink: config needs a station key or a TLS client certificate")
	}
	if cfg.Window <= 0 {
		cfg.Window = DefaultWindow
	}
	if cfg.ChunkSize <= 0 {
		cfg.ChunkSize = DefaultChunkData
	}
	cfg.ChunkSize = min(cfg.ChunkSize, MaxChunkData)
	if cfg.BackoffMin <= 0 {
		cfg.BackoffMin = defaultBackoffMin
	}
	if cfg.BackoffMax < cfg.BackoffMin {
		cfg.BackoffMax = max(defaultBackoffMax, cfg.BackoffMin)
	}
	if cfg.DialTimeout <= 0 {
		cfg.DialTimeout = defaultDialTimeout
	}
	if cfg.ReadIdle <= 0 {
		cfg.ReadIdle = defaultReadIdle
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	c := &Client{cfg: cfg, ob: ob, log: cfg.Logger, reported: map[string]int64{}}
	if cfg.RateLimit > 0 {
		// A burst of one chunk: the cap holds over any window longer than a chunk's time.
		c.rate = newTokenBucket(cfg.RateLimit, int64(cfg.ChunkSize))
	}
	return c, nil
}

// Stats returns a snapshot of the counters.
func (c *Client) Stats() ClientStats {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.stats
}

// Run connects to central and uploads queued packets, reconnecting with
// jittered exponential backoff, until ctx is cancelled (then it returns nil).
func (c *Client) Run(ctx context.Context) error {
	failures := 0
	for {
		start := time.Now()
		progressed, err := c.session(ctx)
		if ctx.Err() != nil {
			return nil
		}
		// A session that delivered something, or stayed up a while (idle
		// booths keep their connection), was not a failure to back off from.
		if progressed || time.Since(start) > stableSession {
			failures = 0
		}
		c.mu.Lock()
		if err != nil {
			c.stats.LastError = err.Error()
		}
		c.mu.Unlock()
		d := c.backoff(failures)
		failures++
		c.log.Warn("uplink: connection to central ended; retrying", "err", err, "retry_in", d.Round(time.Millisecond))
		t := time.NewTimer(d)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-t.C:
		}
	}
}

// backoff is min·2^n capped at max, then jittered to [½, 1] of that.
func (c *Client) backoff(n int) time.Duration {
	d := c.cfg.BackoffMax
	if n < 30 {
		d = min(c.cfg.BackoffMax, c.cfg.BackoffMin<<n)
	}
	return d/2 + rand.N(d/2+1)
}

// xfer is one packet in flight.
type xfer struct {
	id    string
	size  int64
	have  int64 // what central reported holding
	next  int64 // next offset to send
	state int
}

const (
	xOffered   = iota // offer sent, waiting for offset
	xSending          // sending chunks from next
	xCommitted        // commit sent, waiting for the receipt
)

// centralError is a connection-level error message from central.
type centralError struct{ code, msg string }

func (e *centralError) Error() string { return "central: " + e.code + ": " + e.msg }

// session runs one connection. progressed reports whether any packet was
// acknowledged (which resets the backoff).
func (c *Client) session(ctx context.Context) (progressed bool, err error) {
	d := websocket.Dialer{
		TLSClientConfig:  c.cfg.TLS,
		HandshakeTimeout: c.cfg.DialTimeout,
		ReadBufferSize:   4 << 10,
		// One chunk per websocket frame.
		WriteBufferSize: chunkHeaderLen + c.cfg.ChunkSize + 16,
		Proxy:           http.ProxyFromEnvironment,
	}
	dctx, cancel := context.WithTimeout(ctx, c.cfg.DialTimeout)
	conn, _, err := d.DialContext(dctx, c.cfg.URL, nil)
	cancel()
	if err != nil {
		return false, fmt.Errorf("uplink: connect to %s: %w", c.cfg.URL, err)
	}
	defer conn.Close()
	conn.SetReadLimit(MaxControlMessage)

	maxChunk, window, err := c.handshake(conn)
	if err != nil {
		return false, err
	}
	c.mu.Lock()
	c.stats.Connected = true
	c.stats.Connects++
	c.mu.Unlock()
	defer func() {
		c.mu.Lock()
		c.stats.Connected = false
		c.mu.Unlock()
	}()
	c.log.Info("uplink: connected to central", "url", c.cfg.URL)

	// Reader: decodes central's messages; answers pings.
	msgs := make(chan Msg)
	rerr := make(chan error, 1)
	stop := make(chan struct{})
	var rwg sync.WaitGroup
	rwg.Add(1)
	idle := c.cfg.ReadIdle
	conn.SetPingHandler(func(data string) error {
		conn.SetReadDeadline(time.Now().Add(idle))
		err := conn.WriteControl(websocket.PongMessage, []byte(data), time.Now().Add(writeWait))
		if errors.Is(err, websocket.ErrCloseSent) {
			return nil
		}
		return err
	})
	go func() {
		defer rwg.Done()
		for {
			conn.SetReadDeadline(time.Now().Add(idle))
			mt, data, err := conn.ReadMessage()
			if err == nil && mt != websocket.TextMessage {
				err = errors.New("binary frame from central")
			}
			var m Msg
			if err == nil {
				m, err = DecodeCentralMessage(data)
			}
			if err != nil {
				rerr <- fmt.Errorf("uplink: read from central: %w", err)
				return
			}
			select {
			case msgs <- m:
			case <-stop:
				return
			}
		}
	}()
	// Cancelling ctx closes the connection, which ends the reader.
	go func() {
		select {
		case <-ctx.Done():
			conn.Close()
		case <-stop:
		}
	}()

	inflight := map[string]*xfer{}
	var order []string // round-robin order of inflight ids
	rr := 0
	defer func() {
		close(stop)
		conn.Close()
		rwg.Wait()
		for id := range inflight {
			c.ob.Release(id)
		}
	}()
	write := func(mt int, b []byte) error {
		conn.SetWriteDeadline(time.Now().Add(writeWait))
		if err := conn.WriteMessage(mt, b); err != nil {
			return fmt.Errorf("uplink: write to central: %w", err)
		}
		return nil
	}
	sendMsg := func(m *Msg) error { return write(websocket.TextMessage, encode(m)) }
	remove := func(id string) {
		delete(inflight, id)
		for i, o := range order {
			if o == id {
				order = append(order[:i], order[i+1:]...)
				break
			}
		}
	}
	offer := func(x *xfer) error {
		x.state = xOffered
		return sendMsg(&Msg{Type: TypeOffer, ID: x.id, Size: x.size})
	}
	commit := func(x *xfer) error {
		x.state = xCommitted
		return sendMsg(&Msg{Type: TypeCommit, ID: x.id})
	}
	mismatches := 0
	handle := func(m Msg) error {
		if m.Type == TypeError && m.ID == "" {
			return &centralError{m.Code, m.Message}
		}
		x := inflight[m.ID]
		if x == nil {
			return nil // about a packet no longer in flight (e.g. after a re-offer)
		}
		switch m.Type {
		case TypeOffset:
			if x.state != xOffered {
				return nil
			}
			if m.Have > x.size {
				return fmt.Errorf("uplink: central claims %d bytes of packet %.12s of %d", m.Have, x.id, x.size)
			}
			x.have, x.next, x.state = m.Have, m.Have, xSending
			c.mu.Lock()
			c.reported[x.id] = max(c.reported[x.id], m.Have)
			c.mu.Unlock()
			if x.next == x.size {
				return commit(x)
			}
		case TypeReceipt:
			if err := VerifyReceipt(m.Receipt, x.id, x.size, c.cfg.CentralKeys); err != nil {
				return err
			}
			rec, _ := json.Marshal(m.Receipt)
			if err := c.ob.Acknowledge(x.id, rec); err != nil {
				return err
			}
			remove(x.id)
			progressed = true
			c.mu.Lock()
			delete(c.reported, x.id)
			c.stats.Acked++
			c.stats.LastAck = time.Now()
			c.mu.Unlock()
			if c.cfg.OnAck != nil {
				c.cfg.OnAck(x.id)
			}
		case TypeError:
			switch m.Code {
			case CodeRejected:
				if err := c.ob.Reject(x.id, m.Message); err != nil {
					return err
				}
				remove(x.id)
				c.mu.Lock()
				c.stats.Rejected++
				c.mu.Unlock()
				if c.cfg.OnReject != nil {
					c.cfg.OnReject(x.id, m.Message)
				}
			case CodeHashMismatch:
				if mismatches++; mismatches >= maxHashMismatches {
					return fmt.Errorf("uplink: central found %d packets corrupted in transit on this connection", mismatches)
				}
				c.mu.Lock()
				delete(c.reported, x.id) // central dropped the bytes
				c.mu.Unlock()
				return offer(x)
			case CodeOffset:
				if x.state == xOffered {
					return nil // an offer is already on its way
				}
				return offer(x) // learn where central stands
			default: // busy, internal: central is not well; back off
				return &centralError{m.Code, fmt.Sprintf("packet %.12s: %s", x.id, m.Message)}
			}
		}
		return nil
	}
	buf := make([]byte, c.cfg.ChunkSize)
	frame := make([]byte, 0, chunkHeaderLen+c.cfg.ChunkSize)
	sendChunk := func(x *xfer) error {
		n := int(min(int64(maxChunk), x.size-x.next))
		if c.rate != nil {
			if err := c.rate.take(ctx, n); err != nil {
				return err
			}
		}
		if _, err := c.ob.ReadAt(x.id, buf[:n], x.next); err != nil {
			return fmt.Errorf("uplink: read packet %.12s from the outbox: %w", x.id, err)
		}
		f, err := EncodeChunk(frame, x.id, x.next, buf[:n])
		if err != nil {
			return err
		}
		c.mu.Lock()
		if rep := c.reported[x.id]; x.next < rep {
			c.stats.ResentBytes += min(rep-x.next, int64(n))
		}
		c.mu.Unlock()
		if err := write(websocket.BinaryMessage, f); err != nil {
			return err
		}
		x.next += int64(n)
		c.mu.Lock()
		c.stats.PayloadBytes += int64(n)
		c.mu.Unlock()
		if x.next == x.size {
			return commit(x)
		}
		return nil
	}

	wantClaim := true
	for {
		if wantClaim && len(inflight) < window {
			got, err := c.ob.Claim(window - len(inflight))
			if err != nil {
				return progressed, err
			}
			wantClaim = false
			for _, e := range got {
				if e.Size > MaxPacketSize {
					// Central would refuse the offer and drop the connection,
					// holding up every other packet: set it aside now.
					reason := fmt.Sprintf("packet of %d bytes exceeds the uplink's limit of %d", e.Size, MaxPacketSize)
					if err := c.ob.Reject(e.ID, reason); err != nil {
						return progressed, err
					}
					if c.cfg.OnReject != nil {
						c.cfg.OnReject(e.ID, reason)
					}
					wantClaim = true
					continue
				}
				x := &xfer{id: e.ID, size: e.Size}
				inflight[e.ID] = x
				order = append(order, e.ID)
				if err := offer(x); err != nil {
					return progressed, err
				}
			}
		}
		// Messages first, without blocking.
		select {
		case m := <-msgs:
			n := len(inflight)
			if err := handle(m); err != nil {
				return progressed, err
			}
			if len(inflight) < n {
				wantClaim = true
			}
			continue
		case err := <-rerr:
			return progressed, err
		case <-ctx.Done():
			return progressed, ctx.Err()
		case <-c.ob.Queued():
			wantClaim = true
			continue
		default:
		}
		// Then one chunk of the next packet that has data to send.
		var x *xfer
		for i := 0; i < len(order); i++ {
			cand := inflight[order[(rr+i)%len(order)]]
			if cand.state == xSending {
				x = cand
				rr = (rr + i + 1) % len(order)
				break
			}
		}
		if x != nil {
			if err := sendChunk(x); err != nil {
				return progressed, err
			}
			continue
		}
		// Nothing to send: wait.
		select {
		case m := <-msgs:
			n := len(inflight)
			if err := handle(m); err != nil {
				return progressed, err
			}
			if len(inflight) < n {
				wantClaim = true
			}
		case err := <-rerr:
			return progressed, err
		case <-ctx.Done():
			return progressed, ctx.Err()
		case <-c.ob.Queued():
			wantClaim = true
		}
	}
}

// handshake reads the challenge, sends hello and reads welcome.
func (c *Client) handshake(conn *websocket.Conn) (maxChunk, window int, err error) {
	deadline := time.Now().Add(c.cfg.DialTimeout)
	read := func() (Msg, error) {
		conn.SetReadDeadline(deadline)
		mt, data, err := conn.ReadMessage()
		if err != nil {
			return Msg{}, fmt.Errorf("uplink: handshake with central: %w", err)
		}
		if mt != websocket.TextMessage {
			return Msg{}, errors.New("uplink: handshake: binary frame from central")
		}
		m, err := DecodeCentralMessage(data)
		if err != nil {
			return Msg{}, fmt.Errorf("uplink: handshake: %w", err)
		}
		if m.Type == TypeError {
			return Msg{}, &centralError{m.Code, m.Message}
		}
		return m, nil
	}
	ch, err := read()
	if err != nil {
		return 0, 0, err
	}
	if ch.Type != TypeChallenge {
		return 0, 0, fmt.Errorf("uplink: handshake: central sent %s, want challenge", ch.Type)
	}
	hello := &Msg{Type: TypeHello, Station: c.cfg.StationID, Version: ProtocolVersion}
	if c.cfg.StationKey != nil {
		hello.Token = HelloToken(c.cfg.StationKey, ch.Nonce, c.cfg.StationID)
	}
	conn.SetWriteDeadline(deadline)
	if err := conn.WriteMessage(websocket.TextMessage, encode(hello)); err != nil {
		return 0, 0, fmt.Errorf("uplink: handshake: %w", err)
	}
	w, err := read()
	if err != nil {
		return 0, 0, err
	}
	if w.Type != TypeWelcome {
		return 0, 0, fmt.Errorf("uplink: handshake: central sent %s, want welcome", w.Type)
	}
	maxChunk = c.cfg.ChunkSize
	if w.MaxChunk > 0 {
		maxChunk = min(maxChunk, w.MaxChunk)
	}
	window = c.cfg.Window
	if w.Window > 0 {
		window = min(window, w.Window)
	}
	return maxChunk, window, nil
}
