package uplink

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
)

// Connection timing and queue sizes on central's side (the shape of
// gorilla/websocket's chat example).
const (
	// writeWait is the time allowed to write one message to a station.
	writeWait = 10 * time.Second
	// defaultPongWait is how long central waits for any frame (a pong at
	// least) before deciding the station is gone. Pongs queue behind chunk
	// data on a slow link, so this is generous.
	defaultPongWait = 60 * time.Second
	// helloWait is the time a station has to send hello after connecting.
	helloWait = 10 * time.Second
	// sendQueueLen bounds control messages queued for one station; a
	// station that lets it fill is not reading and is disconnected.
	sendQueueLen = 64
	// maxInflightPerConn bounds packets a connection may have offered and
	// not yet committed; each holds an open file on central.
	maxInflightPerConn = 32
)

// AuthRequest is what an Authenticator judges.
type AuthRequest struct {
	Station string
	Nonce   []byte // central's challenge for this connection
	Token   []byte // the station's signature over the nonce (may be empty with client certificates)
	TLS     *tls.ConnectionState
}

// Authenticator decides whether a hello comes from the station it names.
type Authenticator interface {
	Authenticate(AuthRequest) error
}

// StationKeys authenticates stations by their ed25519 public keys: the hello
// token must be the station's signature over central's nonce.
type StationKeys map[string]ed25519.PublicKey

func (k StationKeys) Authenticate(r AuthRequest) error {
	pub, ok := k[r.Station]
	if !ok {
		return fmt.Errorf("station %q is not registered at central", r.Station)
	}
	if len(r.Token) != ed25519.SignatureSize || !ed25519.Verify(pub, helloBytes(r.Nonce, r.Station), r.Token) {
		return fmt.Errorf("station %q: hello token does not verify under its registered key", r.Station)
	}
	return nil
}

// ClientCerts authenticates stations by the TLS client certificate that the
// server's tls.Config verified (ClientAuth: RequireAndVerifyClientCert): the
// certificate's common name or one of its DNS names must equal the station id.
type ClientCerts struct{}

func (ClientCerts) Authenticate(r AuthRequest) error {
	if r.TLS == nil || len(r.TLS.VerifiedChains) == 0 || len(r.TLS.VerifiedChains[0]) == 0 {
		return errors.New("no verified TLS client certificate")
	}
	leaf := r.TLS.VerifiedChains[0][0]
	if leaf.Subject.CommonName == r.Station {
		return nil
	}
	for _, n := range leaf.DNSNames {
		if n == r.Station {
			return nil
		}
	}
	return fmt.Errorf("client certificate (CN %q) does not name station %q", leaf.Subject.CommonName, r.Station)
}

// AnyAuth accepts a station if any of its authenticators does.
type AnyAuth []Authenticator

func (a AnyAuth) Authenticate(r AuthRequest) error {
	var errs []error
	for _, x := range a {
		err := x.Authenticate(r)
		if err == nil {
			return nil
		}
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// ServerConfig configures central's side of the protocol.
type ServerConfig struct {
	Store  *Store
	Key    ed25519.PrivateKey // signs receipts
	Auth   Authenticator
	Accept AcceptFunc // packet-opening hook; nil stores only
	Logger *slog.Logger
	Now    func() time.Time
	// PongWait overrides defaultPongWait (tests); pings go out at 9/10 of it.
	PongWait time.Duration
}

// ServerStats counts central's work.
type ServerStats struct {
	Connections    int64 // stations connected now
	Accepted       int64 // packets stored by this process
	Receipts       int64 // receipts sent (new and repeated)
	DuplicateBytes int64 // chunk bytes for offsets already held (must stay 0)
	MaxInFlight    int64 // most packets one connection had offered and not committed
}

// Server is central's uplink endpoint. Serve it with Handler.
type Server struct {
	cfg    ServerConfig
	log    *slog.Logger
	ctx    context.Context // cancelled by Close; commits run under it
	cancel context.CancelFunc
	wg     sync.WaitGroup
	up     websocket.Upgrader

	mu     sync.Mutex
	conns  map[*websocket.Conn]struct{}
	closed bool

	nextConn  atomic.Uint64
	nConns    atomic.Int64
	nAccepted atomic.Int64
	nReceipts atomic.Int64
	maxActive atomic.Int64
}

// NewServer checks the configuration and returns a server.
func NewServer(cfg ServerConfig) (*Server, error) {
	if cfg.Store == nil || len(cfg.Key) != ed25519.PrivateKeySize || cfg.Auth == nil {
		return nil, errors.New("uplink: server needs a store, an ed25519 receipt key and an authenticator")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.PongWait <= 0 {
		cfg.PongWait = defaultPongWait
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &Server{
		cfg: cfg, log: cfg.Logger, ctx: ctx, cancel: cancel,
		conns: map[*websocket.Conn]struct{}{},
		up: websocket.Upgrader{
			ReadBufferSize:  64 << 10,
			WriteBufferSize: 4 << 10,
			// Stations are not browsers; requests with an Origin are refused
			// in serveUplink, so nothing to check here.
			CheckOrigin: func(*http.Request) bool { return true },
		},
	}, nil
}

// Handler serves /uplink (stations' websocket) and GET /packets (the JSON
// list of held packets, for operators and integrators: expose it only on an
// administrative network).
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/uplink", s.serveUplink)
	mux.HandleFunc("GET /packets", s.servePackets)
	return mux
}

// Stats returns counters.
func (s *Server) Stats() ServerStats {
	return ServerStats{
		Connections: s.nConns.Load(), Accepted: s.nAccepted.Load(), Receipts: s.nReceipts.Load(),
		DuplicateBytes: s.cfg.Store.DuplicateBytes(), MaxInFlight: s.maxActive.Load(),
	}
}

// Close disconnects every station and waits for connection and commit
// goroutines to end. Stop the http.Server first so no new ones arrive.
func (s *Server) Close() error {
	s.mu.Lock()
	s.closed = true
	for c := range s.conns {
		c.Close()
	}
	s.mu.Unlock()
	s.cancel()
	s.wg.Wait()
	return nil
}

func (s *Server) servePackets(w http.ResponseWriter, r *http.Request) {
	list, err := s.cfg.Store.List()
	if err != nil {
		s.log.Error("central: list packets", "err", err)
		http.Error(w, "cannot read the store", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(struct {
		Packets []Held `json:"packets"`
	}{list})
}

func (s *Server) serveUplink(w http.ResponseWriter, r *http.Request) {
	if r.Header.Get("Origin") != "" {
		http.Error(w, "browsers may not connect to the uplink", http.StatusForbidden)
		return
	}
	conn, err := s.up.Upgrade(w, r, nil)
	if err != nil {
		return // Upgrade already answered with an HTTP error
	}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		conn.Close()
		return
	}
	s.conns[conn] = struct{}{}
	s.wg.Add(1)
	s.mu.Unlock()
	s.nConns.Add(1)
	defer func() {
		s.mu.Lock()
		delete(s.conns, conn)
		s.mu.Unlock()
		conn.Close()
		s.nConns.Add(-1)
		s.wg.Done()
	}()
	c := &sconn{s: s, conn: conn, id: s.nextConn.Add(1), tls: r.TLS,
		send: make(chan []byte, sendQueueLen), done: make(chan struct{}), active: map[string]bool{}, told: map[string]bool{}}
	c.run()
}

// sconn is one station connection on central.
type sconn struct {
	s       *Server
	conn    *websocket.Conn
	id      uint64
	tls     *tls.ConnectionState
	station string
	send    chan []byte
	done    chan struct{}
	once    sync.Once
	active  map[string]bool // offered, not yet committed (read loop only)
	// told holds packets whose chunks were refused: the station already
	// has the error and will re-offer, so the chunks it had in flight are
	// dropped without one error message each.
	told    map[string]bool
	touched []string // every upload this connection owned
}

// writeNow writes a control message directly (only before the write pump runs).
func (c *sconn) writeNow(m *Msg) error {
	c.conn.SetWriteDeadline(time.Now().Add(writeWait))
	return c.conn.WriteMessage(websocket.TextMessage, encode(m))
}

func (c *sconn) refuse(code, msg string) {
	c.writeNow(&Msg{Type: TypeError, Code: code, Message: msg})
	c.conn.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.ClosePolicyViolation, code), time.Now().Add(writeWait))
}

func (c *sconn) run() {
	log := c.s.log
	nonce := make([]byte, nonceLen)
	rand.Read(nonce)
	c.conn.SetReadLimit(MaxControlMessage)
	if err := c.writeNow(&Msg{Type: TypeChallenge, Version: ProtocolVersion, Nonce: nonce}); err != nil {
		return
	}
	c.conn.SetReadDeadline(time.Now().Add(helloWait))
	mt, data, err := c.conn.ReadMessage()
	if err != nil {
		return
	}
	var hello Msg
	if mt == websocket.TextMessage {
		hello, err = DecodeStationMessage(data)
	} else {
		err = errors.New("binary frame before hello")
	}
	if err == nil && hello.Type != TypeHello {
		err = fmt.Errorf("%s before hello", hello.Type)
	}
	if err != nil {
		c.refuse(CodeBadMessage, err.Error())
		return
	}
	if hello.Version != ProtocolVersion {
		c.refuse(CodeVersion, fmt.Sprintf("central speaks uplink protocol version %d, station sent %d: update stationd", ProtocolVersion, hello.Version))
		return
	}
	if err := c.s.cfg.Auth.Authenticate(AuthRequest{Station: hello.Station, Nonce: nonce, Token: hello.Token, TLS: c.tls}); err != nil {
		log.Warn("central: station refused", "station", hello.Station, "err", err)
		c.refuse(CodeAuth, "station not authenticated; check its key or certificate registration at central")
		return
	}
	c.station = hello.Station
	if err := c.writeNow(&Msg{Type: TypeWelcome, Station: c.station, MaxChunk: MaxChunkData, Window: maxInflightPerConn}); err != nil {
		return
	}
	log.Info("central: station connected", "station", c.station)

	pumpDone := make(chan struct{})
	go func() {
		c.writePump()
		close(pumpDone)
	}()
	c.readLoop()
	c.stop()
	<-pumpDone // let it flush a final error before the connection closes
	for _, id := range c.touched {
		c.s.cfg.Store.release(id, c.id)
	}
	log.Info("central: station disconnected", "station", c.station)
}

func (c *sconn) stop() { c.once.Do(func() { close(c.done) }) }

// queue hands a control message to the write pump. A full queue means the
// station is not reading: drop it.
func (c *sconn) queue(m *Msg) {
	select {
	case <-c.done:
	case c.send <- encode(m):
	default:
		c.s.log.Warn("central: station not reading its messages; disconnecting", "station", c.station)
		c.stop()
		c.conn.Close()
	}
}

// fail sends a connection-level error and ends the connection.
func (c *sconn) fail(code, msg string) {
	c.queue(&Msg{Type: TypeError, Code: code, Message: msg})
	c.stop()
}

func (c *sconn) writePump() {
	pingPeriod := c.s.cfg.PongWait * 9 / 10
	t := time.NewTicker(pingPeriod)
	defer func() {
		t.Stop()
		c.conn.Close()
	}()
	write := func(mt int, b []byte) error {
		c.conn.SetWriteDeadline(time.Now().Add(writeWait))
		return c.conn.WriteMessage(mt, b)
	}
	for {
		select {
		case b := <-c.send:
			if write(websocket.TextMessage, b) != nil {
				return
			}
		case <-t.C:
			if write(websocket.PingMessage, nil) != nil {
				return
			}
		case <-c.done:
			// Flush what was queued (e.g. the error that ended the connection).
			for {
				select {
				case b := <-c.send:
					if write(websocket.TextMessage, b) != nil {
						return
					}
				default:
					write(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""))
					return
				}
			}
		}
	}
}

func (c *sconn) readLoop() {
	pongWait := c.s.cfg.PongWait
	c.conn.SetReadLimit(MaxChunkFrame)
	c.conn.SetReadDeadline(time.Now().Add(pongWait))
	c.conn.SetPongHandler(func(string) error { c.conn.SetReadDeadline(time.Now().Add(pongWait)); return nil })
	buf := make([]byte, 0, MaxChunkFrame)
	for {
		select {
		case <-c.done:
			return
		default:
		}
		mt, r, err := c.conn.NextReader()
		if err != nil {
			return
		}
		buf, err = readAllInto(buf[:0], r)
		if err != nil {
			return // read limit exceeded or connection lost
		}
		c.conn.SetReadDeadline(time.Now().Add(pongWait))
		switch mt {
		case websocket.BinaryMessage:
			ch, err := DecodeChunk(buf)
			if err != nil {
				c.fail(CodeBadMessage, err.Error())
				return
			}
			c.onChunk(ch)
		case websocket.TextMessage:
			m, err := DecodeStationMessage(buf)
			if err != nil {
				c.fail(CodeBadMessage, err.Error())
				return
			}
			switch m.Type {
			case TypeOffer:
				c.onOffer(m)
			case TypeCommit:
				c.onCommit(m)
			default:
				c.fail(CodeBadMessage, m.Type+" after hello")
				return
			}
		}
	}
}

func readAllInto(buf []byte, r io.Reader) ([]byte, error) {
	for {
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)]
		}
		n, err := r.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if err == io.EOF {
			return buf, nil
		}
		if err != nil {
			return buf, err
		}
	}
}

func (c *sconn) sendReceipt(h *Held) {
	c.s.nReceipts.Add(1)
	c.queue(&Msg{Type: TypeReceipt, ID: h.ID, Receipt: h.Receipt})
}

func (c *sconn) onOffer(m Msg) {
	if !c.active[m.ID] && len(c.active) >= maxInflightPerConn {
		c.queue(&Msg{Type: TypeError, ID: m.ID, Code: CodeBusy, Message: fmt.Sprintf("more than %d packets in flight", maxInflightPerConn)})
		return
	}
	delete(c.told, m.ID)
	have, held, err := c.s.cfg.Store.begin(m.ID, m.Size, c.id)
	switch {
	case err != nil:
		c.s.log.Error("central: start upload", "station", c.station, "packet", m.ID[:12], "err", err)
		c.queue(&Msg{Type: TypeError, ID: m.ID, Code: CodeInternal, Message: "central cannot store the upload now"})
	case held != nil:
		if held.Size != m.Size {
			c.queue(&Msg{Type: TypeError, ID: m.ID, Code: CodeBadMessage, Message: "offered size differs from the held packet's"})
			return
		}
		c.sendReceipt(held) // "have all, here is the receipt"
	default:
		c.active[m.ID] = true
		for n := int64(len(c.active)); ; {
			cur := c.s.maxActive.Load()
			if n <= cur || c.s.maxActive.CompareAndSwap(cur, n) {
				break
			}
		}
		c.touched = append(c.touched, m.ID)
		c.queue(&Msg{Type: TypeOffset, ID: m.ID, Have: have})
	}
}

func (c *sconn) onChunk(ch Chunk) {
	if !c.active[ch.ID] {
		if c.told[ch.ID] {
			return
		}
		c.refuseChunks(ch.ID, CodeOffset, "chunk for a packet not offered on this connection")
		return
	}
	err := c.s.cfg.Store.write(ch, c.id)
	var oe *offsetError
	switch {
	case err == nil:
	case errors.As(err, &oe), errors.Is(err, errSuperseded), errors.Is(err, errNotStarted):
		c.refuseChunks(ch.ID, CodeOffset, err.Error())
	default:
		c.s.log.Error("central: store chunk", "station", c.station, "packet", ch.ID[:12], "err", err)
		c.refuseChunks(ch.ID, CodeInternal, "central cannot store the upload now")
	}
}

// refuseChunks sends one error for a packet and drops its further chunks
// until the station offers it again.
func (c *sconn) refuseChunks(id, code, msg string) {
	delete(c.active, id)
	c.told[id] = true
	c.queue(&Msg{Type: TypeError, ID: id, Code: code, Message: msg})
}

func (c *sconn) onCommit(m Msg) {
	if !c.active[m.ID] {
		c.queue(&Msg{Type: TypeError, ID: m.ID, Code: CodeOffset, Message: "commit for a packet not offered on this connection"})
		return
	}
	delete(c.active, m.ID)
	c.s.wg.Add(1)
	// Off the read loop: hashing, the hook and fsyncs take a while and the
	// other packets' chunks keep flowing meanwhile. Under the server's
	// context, not the connection's: a commit that started completes even if
	// the station drops, and its next offer gets the receipt.
	go func() {
		defer c.s.wg.Done()
		h, err := c.s.cfg.Store.commit(c.s.ctx, m.ID, c.id, c.station, c.s.cfg.Key, c.s.cfg.Now(), c.s.cfg.Accept)
		var oe *offsetError
		switch {
		case err == nil:
			c.s.nAccepted.Add(1)
			c.s.log.Info("central: packet stored", "station", c.station, "packet", m.ID[:12], "bytes", h.Size)
			c.sendReceipt(h)
		case errors.Is(err, ErrRejected):
			c.s.log.Warn("central: packet rejected", "station", c.station, "packet", m.ID[:12], "err", err)
			c.queue(&Msg{Type: TypeError, ID: m.ID, Code: CodeRejected, Message: err.Error()})
		case errors.Is(err, errHashMismatch):
			c.queue(&Msg{Type: TypeError, ID: m.ID, Code: CodeHashMismatch, Message: err.Error()})
		case errors.As(err, &oe), errors.Is(err, errNotStarted):
			c.queue(&Msg{Type: TypeError, ID: m.ID, Code: CodeOffset, Message: err.Error()})
		default:
			c.s.log.Error("central: commit packet", "station", c.station, "packet", m.ID[:12], "err", err)
			c.queue(&Msg{Type: TypeError, ID: m.ID, Code: CodeInternal, Message: "central could not store the packet; the station will retry"})
		}
	}()
}
