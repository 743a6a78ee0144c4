package uplink

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	mrand "math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/openenroll/stationd/station/outbox"
	"github.com/openenroll/stationd/station/uplink/internal/flakyproxy"
)

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// central is a test central: store, server, HTTP listener on 127.0.0.1.
type central struct {
	store *Store
	srv   *Server
	http  *httptest.Server
	pub   ed25519.PublicKey
	keys  StationKeys

	mu      sync.Mutex
	accepts map[string]int // Accept hook calls per packet id
}

type centralOpts struct {
	accept   AcceptFunc
	dir      string
	tls      bool
	auth     Authenticator
	setup    func(*httptest.Server)
	pongWait time.Duration
}

func startCentral(t testing.TB, o centralOpts) *central {
	t.Helper()
	if o.dir == "" {
		o.dir = t.TempDir()
	}
	st, err := OpenStore(o.dir)
	if err != nil {
		t.Fatal(err)
	}
	pub, priv, _ := ed25519.GenerateKey(rand.Reader)
	c := &central{store: st, pub: pub, keys: StationKeys{}, accepts: map[string]int{}}
	auth := o.auth
	if auth == nil {
		auth = c.keys
	}
	c.srv, err = NewServer(ServerConfig{
		Store: st, Key: priv, Auth: auth, Logger: quiet(), PongWait: o.pongWait,
		Accept: func(ctx context.Context, p Accepted) error {
			c.mu.Lock()
			c.accepts[p.PacketID]++
			c.mu.Unlock()
			if o.accept != nil {
				return o.accept(ctx, p)
			}
			// The test hook writes one derived file, as the real opener will.
			return os.WriteFile(filepath.Join(p.Dir, "record.txt"), []byte(p.Station), 0o600)
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	c.http = httptest.NewUnstartedServer(c.srv.Handler())
	if o.setup != nil {
		o.setup(c.http)
	}
	if o.tls {
		c.http.StartTLS()
	} else {
		c.http.Start()
	}
	t.Cleanup(c.close)
	return c
}

func (c *central) close() {
	c.srv.Close()
	c.http.Close()
}

func (c *central) url() string {
	return "ws" + strings.TrimPrefix(c.http.URL, "http") + "/uplink"
}

func (c *central) register(station string) ed25519.PrivateKey {
	pub, priv, _ := ed25519.GenerateKey(rand.Reader)
	c.keys[station] = pub
	return priv
}

func (c *central) acceptCount(id string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.accepts[id]
}

// station is a test station: outbox and client config.
type station struct {
	ob    *outbox.Outbox
	cfg   ClientConfig
	acked chan string
}

func newStation(t testing.TB, c *central, id string) *station {
	t.Helper()
	ob, err := outbox.Open(filepath.Join(t.TempDir(), "outbox.db"), outbox.Options{Logger: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ob.Close() })
	s := &station{ob: ob, acked: make(chan string, 1000)}
	s.cfg = ClientConfig{
		URL: c.url(), StationID: id, StationKey: c.register(id), CentralKeys: []ed25519.PublicKey{c.pub},
		BackoffMin: 5 * time.Millisecond, BackoffMax: 50 * time.Millisecond, Logger: quiet(),
		OnAck: func(id string) { s.acked <- id },
	}
	return s
}

// run starts the client; the returned stop cancels it and waits.
func (s *station) run(t testing.TB) (*Client, func()) {
	t.Helper()
	cl, err := NewClient(s.cfg, s.ob)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { cl.Run(ctx); close(done) }()
	return cl, func() { cancel(); <-done }
}

// waitAcks waits for n acknowledgements (the timeout only turns a hang into a failure).
func (s *station) waitAcks(t testing.TB, n int, timeout time.Duration) map[string]bool {
	t.Helper()
	got := map[string]bool{}
	tm := time.NewTimer(timeout)
	defer tm.Stop()
	for len(got) < n {
		select {
		case id := <-s.acked:
			got[id] = true
		case <-tm.C:
			t.Fatalf("only %d of %d packets acknowledged after %v", len(got), n, timeout)
		}
	}
	return got
}

func randPacket(r *mrand.Rand, size int) []byte {
	var seed [32]byte
	for i := range seed {
		seed[i] = byte(r.Uint32())
	}
	b := make([]byte, size)
	mrand.NewChaCha8(seed).Read(b)
	return b
}

func (s *station) put(t testing.TB, data []byte) string {
	t.Helper()
	id := PacketID(data)
	if err := s.ob.Put(context.Background(), id, data); err != nil {
		t.Fatal(err)
	}
	return id
}

// checkDelivered verifies each packet is held once at central, bit-identical,
// with a receipt in the outbox that verifies.
func checkDelivered(t *testing.T, c *central, s *station, pkts map[string][]byte) {
	t.Helper()
	for id, data := range pkts {
		got, err := c.store.Packet(id)
		if err != nil || !bytes.Equal(got, data) {
			t.Fatalf("packet %.12s at central differs from the outbox copy (err %v)", id, err)
		}
		e, err := s.ob.Get(id)
		if err != nil || e.State != outbox.Acknowledged {
			t.Fatalf("packet %.12s in outbox: %+v %v", id, e.State, err)
		}
		var r Receipt
		if err := jsonUnmarshal(e.Receipt, &r); err != nil {
			t.Fatal(err)
		}
		if err := VerifyReceipt(&r, id, int64(len(data)), []ed25519.PublicKey{c.pub}); err != nil {
			t.Fatalf("stored receipt: %v", err)
		}
		if n := c.acceptCount(id); n != 1 {
			t.Fatalf("packet %.12s opened %d times at central, want 1", id, n)
		}
		if _, err := os.Stat(filepath.Join(c.store.Dir(), "opened", id, "record.txt")); err != nil {
			t.Fatalf("hook output not stored: %v", err)
		}
	}
	held, err := c.store.List()
	if err != nil {
		t.Fatal(err)
	}
	if len(held) != len(pkts) {
		t.Fatalf("central holds %d packets, want %d", len(held), len(pkts))
	}
	ents, _ := os.ReadDir(filepath.Join(c.store.Dir(), "packets"))
	nPkt := 0
	for _, e := range ents {
		if strings.HasSuffix(e.Name(), ".pkt") {
			nPkt++
		}
	}
	if nPkt != len(pkts) {
		t.Fatalf("%d .pkt files in the store, want %d", nPkt, len(pkts))
	}
}

func TestUploadReceiptAndIdempotentOffer(t *testing.T) {
	leakCheck(t)
	c := startCentral(t, centralOpts{})
	s := newStation(t, c, "booth-01")
	r := mrand.New(mrand.NewPCG(1, 2))
	pkts := map[string][]byte{}
	for i := 0; i < 6; i++ {
		d := randPacket(r, 1+r.IntN(300<<10))
		pkts[s.put(t, d)] = d
	}
	cl, stop := s.run(t)
	s.waitAcks(t, len(pkts), 30*time.Second)
	// A packet queued while connected goes out too.
	d := randPacket(r, 70000)
	pkts[s.put(t, d)] = d
	s.waitAcks(t, 1, 30*time.Second)
	stop()
	checkDelivered(t, c, s, pkts)
	st := cl.Stats()
	var total int64
	for _, d := range pkts {
		total += int64(len(d))
	}
	if st.PayloadBytes != total || st.ResentBytes != 0 || st.Acked != int64(len(pkts)) {
		t.Fatalf("client stats %+v; want %d payload bytes", st, total)
	}

	// GET /packets lists them.
	resp, err := http.Get(c.http.URL + "/packets")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for id := range pkts {
		if !bytes.Contains(body, []byte(id)) {
			t.Fatalf("/packets does not list %.12s", id)
		}
	}

	// Another station (another outbox) offering a packet central holds gets
	// the receipt without sending a byte.
	s2 := newStation(t, c, "booth-02")
	s2.put(t, d)
	cl2, stop2 := s2.run(t)
	s2.waitAcks(t, 1, 30*time.Second)
	stop2()
	if st := cl2.Stats(); st.PayloadBytes != 0 {
		t.Fatalf("re-offer of a held packet sent %d bytes", st.PayloadBytes)
	}
	if n := c.acceptCount(PacketID(d)); n != 1 {
		t.Fatalf("held packet opened %d times", n)
	}
}

func TestAuthAndReceiptFailures(t *testing.T) {
	leakCheck(t)
	c := startCentral(t, centralOpts{})
	s := newStation(t, c, "booth-01")
	id := s.put(t, []byte("a packet"))
	ctx := context.Background()

	// Wrong station key: refused at hello.
	bad := s.cfg
	_, bad.StationKey, _ = ed25519.GenerateKey(rand.Reader)
	cl, _ := NewClient(bad, s.ob)
	_, err := cl.session(ctx)
	var ce *centralError
	if !errors.As(err, &ce) || ce.code != CodeAuth {
		t.Fatalf("wrong station key: %v, want central auth error", err)
	}
	// Unknown station.
	bad = s.cfg
	bad.StationID = "booth-99"
	cl, _ = NewClient(bad, s.ob)
	if _, err := cl.session(ctx); !errors.As(err, &ce) || ce.code != CodeAuth {
		t.Fatalf("unknown station: %v", err)
	}

	// Receipt signed by a key the station does not trust: not acknowledged.
	bad = s.cfg
	other, _, _ := ed25519.GenerateKey(rand.Reader)
	bad.CentralKeys = []ed25519.PublicKey{other}
	cl, _ = NewClient(bad, s.ob)
	if _, err := cl.session(ctx); !errors.Is(err, ErrBadReceipt) {
		t.Fatalf("untrusted receipt: %v, want ErrBadReceipt", err)
	}
	if e, _ := s.ob.Get(id); e.State != outbox.Queued {
		t.Fatalf("packet with an unverifiable receipt is %s, want queued", e.State)
	}
	// With the right key the next session gets the stored receipt.
	cl, _ = NewClient(s.cfg, s.ob)
	cctx, cancel := context.WithCancel(ctx)
	go func() { <-s.acked; cancel() }()
	cl.session(cctx)
	if e, _ := s.ob.Get(id); e.State != outbox.Acknowledged {
		t.Fatalf("packet is %s after a good receipt", e.State)
	}
	if st := cl.Stats(); st.PayloadBytes != 0 {
		t.Fatalf("already-held packet re-sent %d bytes", st.PayloadBytes)
	}
}

func TestRejectedPacketIsSetAside(t *testing.T) {
	leakCheck(t)
	c := startCentral(t, centralOpts{accept: func(ctx context.Context, p Accepted) error {
		if bytes.HasPrefix(p.Data, []byte("bad")) {
			return fmt.Errorf("station signature does not verify: %w", ErrRejected)
		}
		return os.WriteFile(filepath.Join(p.Dir, "record.txt"), nil, 0o600)
	}})
	s := newStation(t, c, "booth-01")
	rejected := make(chan string, 1)
	s.cfg.OnReject = func(id, reason string) { rejected <- reason }
	badID := s.put(t, []byte("bad packet"))
	good := []byte("good packet")
	s.put(t, good)
	_, stop := s.run(t)
	s.waitAcks(t, 1, 30*time.Second)
	reason := <-rejected
	stop()
	if !strings.Contains(reason, "signature") {
		t.Fatalf("reject reason %q", reason)
	}
	if e, _ := s.ob.Get(badID); e.State != outbox.Rejected {
		t.Fatalf("rejected packet is %s", e.State)
	}
	if h, _ := c.store.Held(badID); h != nil {
		t.Fatal("central stored a rejected packet")
	}
}

func TestTLSClientCertificate(t *testing.T) {
	leakCheck(t)
	pki := newTestPKI(t)
	c := startCentral(t, centralOpts{tls: true, auth: ClientCerts{}, setup: func(h *httptest.Server) {
		h.TLS = pki.serverTLS()
		h.Config.ErrorLog = slogDiscardLog() // the refused handshake below is expected
	}})
	s := newStation(t, c, "booth-07")
	s.cfg.StationKey = nil
	s.cfg.TLS = pki.clientTLS(t, "booth-07")
	d := []byte("packet over TLS")
	s.put(t, d)
	_, stop := s.run(t)
	s.waitAcks(t, 1, 30*time.Second)
	stop()
	checkDelivered(t, c, s, map[string][]byte{PacketID(d): d})
	if h, _ := c.store.Held(PacketID(d)); h.Station != "booth-07" {
		t.Fatalf("held by station %q", h.Station)
	}

	// A certificate for another station cannot claim booth-07.
	wrong := s.cfg
	wrong.TLS = pki.clientTLS(t, "booth-08")
	cl, _ := NewClient(wrong, s.ob)
	var ce *centralError
	if _, err := cl.session(context.Background()); !errors.As(err, &ce) || ce.code != CodeAuth {
		t.Fatalf("wrong certificate: %v, want auth error", err)
	}
	// No client certificate: the TLS handshake itself fails.
	none := s.cfg
	none.TLS = pki.clientTLS(t, "")
	none.StationKey = c.register("booth-07b") // so NewClient accepts the config
	cl, _ = NewClient(none, s.ob)
	if _, err := cl.session(context.Background()); err == nil {
		t.Fatal("connected without a client certificate")
	}
}

// TestFlakyLink uploads through a throttled proxy that cuts every
// connection after a random number of bytes.
func TestFlakyLink(t *testing.T) {
	leakCheck(t)
	c := startCentral(t, centralOpts{})
	p, err := flakyproxy.Start(flakyproxy.Config{
		Target: c.http.Listener.Addr().String(),
		Rate:   8 << 20, CutMin: 20 << 10, CutMax: 600 << 10, Seed: 11,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	s := newStation(t, c, "booth-01")
	s.cfg.URL = "ws://" + p.Addr() + "/uplink"
	s.cfg.Window = 3
	s.cfg.ChunkSize = 16 << 10
	s.cfg.RateLimit = 6 << 20 // the station's own cap, below the link's
	r := mrand.New(mrand.NewPCG(3, 4))
	pkts := map[string][]byte{}
	for i := 0; i < 10; i++ {
		d := randPacket(r, 1+r.IntN(500<<10))
		pkts[s.put(t, d)] = d
	}
	cl, stop := s.run(t)
	// More packets arrive while the link is failing.
	for i := 0; i < 6; i++ {
		d := randPacket(r, 1+r.IntN(500<<10))
		pkts[s.put(t, d)] = d
	}
	s.waitAcks(t, len(pkts), 50*time.Second)
	stop()
	_, cuts, _, _ := p.Stats()
	st := cl.Stats()
	t.Logf("connections %d, cuts %d, payload %d bytes, central duplicates %d", st.Connects, cuts, st.PayloadBytes, c.srv.Stats().DuplicateBytes)
	if cuts < 3 {
		t.Fatalf("only %d cuts: the test did not exercise resumption", cuts)
	}
	checkDelivered(t, c, s, pkts)
	if st.ResentBytes != 0 {
		t.Fatalf("station re-sent %d bytes central had reported holding", st.ResentBytes)
	}
	if d := c.srv.Stats().DuplicateBytes; d != 0 {
		t.Fatalf("central received %d bytes it already held", d)
	}
	if n := c.srv.Stats().MaxInFlight; n < 2 || n > int64(s.cfg.Window) {
		t.Fatalf("at most %d packets were in flight; want 2..%d", n, s.cfg.Window)
	}
}

func TestStoreResumesAcrossRestart(t *testing.T) {
	dir := t.TempDir()
	st, _ := OpenStore(dir)
	data := bytes.Repeat([]byte("0123456789"), 1000)
	id := PacketID(data)
	have, held, err := st.begin(id, int64(len(data)), 1)
	if err != nil || held != nil || have != 0 {
		t.Fatalf("begin: %d %v %v", have, held, err)
	}
	if err := st.write(Chunk{ID: id, Offset: 0, Data: data[:4000]}, 1); err != nil {
		t.Fatal(err)
	}
	// A second connection takes over; the first may no longer write.
	if have, _, _ := st.begin(id, int64(len(data)), 2); have != 4000 {
		t.Fatalf("takeover sees %d bytes", have)
	}
	if err := st.write(Chunk{ID: id, Offset: 4000, Data: data[4000:5000]}, 1); !errors.Is(err, errSuperseded) {
		t.Fatalf("write by superseded connection: %v", err)
	}
	// Re-sending held bytes is refused and counted.
	var oe *offsetError
	if err := st.write(Chunk{ID: id, Offset: 3000, Data: data[3000:5000]}, 2); !errors.As(err, &oe) || oe.have != 4000 {
		t.Fatalf("overlapping write: %v", err)
	}
	if st.DuplicateBytes() != 1000 {
		t.Fatalf("duplicate bytes %d, want 1000", st.DuplicateBytes())
	}
	st.release(id, 2)

	// Central restarts: the partial upload is still there.
	st2, _ := OpenStore(dir)
	if have, _, _ := st2.begin(id, int64(len(data)), 3); have != 4000 {
		t.Fatalf("after restart central has %d bytes, want 4000", have)
	}
	// Corrupt the rest: commit finds the hash wrong and drops the bytes.
	bad := bytes.Clone(data[4000:])
	bad[0] ^= 1
	if err := st2.write(Chunk{ID: id, Offset: 4000, Data: bad}, 3); err != nil {
		t.Fatal(err)
	}
	_, key, _ := ed25519.GenerateKey(rand.Reader)
	if _, err := st2.commit(context.Background(), id, 3, "b", key, time.Now(), nil); !errors.Is(err, errHashMismatch) {
		t.Fatalf("commit of corrupt bytes: %v", err)
	}
	if have, _, _ := st2.begin(id, int64(len(data)), 3); have != 0 {
		t.Fatalf("after a hash mismatch central keeps %d bytes", have)
	}
	if err := st2.write(Chunk{ID: id, Offset: 0, Data: data}, 3); err != nil {
		t.Fatal(err)
	}
	h, err := st2.commit(context.Background(), id, 3, "b", key, time.Now(), nil)
	if err != nil || h.Size != int64(len(data)) {
		t.Fatalf("commit: %+v %v", h, err)
	}
	if err := VerifyReceipt(h.Receipt, id, int64(len(data)), []ed25519.PublicKey{key.Public().(ed25519.PublicKey)}); err != nil {
		t.Fatal(err)
	}
	if _, held, _ := st2.begin(id, int64(len(data)), 4); held == nil {
		t.Fatal("held packet not reported by begin")
	}
}

// TestResumeAfterCentralRestart: half a packet reaches central, central
// restarts on the same store, and the station sends only the other half.
func TestResumeAfterCentralRestart(t *testing.T) {
	leakCheck(t)
	dir := t.TempDir()
	c1 := startCentral(t, centralOpts{dir: dir})
	key := c1.register("booth-01")
	data := randPacket(mrand.New(mrand.NewPCG(9, 9)), 300<<10)
	id := PacketID(data)

	ws := dialRaw(t, c1.url())
	ch := readMsg(t, ws)
	writeMsg(t, ws, &Msg{Type: TypeHello, Station: "booth-01", Version: ProtocolVersion, Token: HelloToken(key, ch.Nonce, "booth-01")})
	readMsg(t, ws) // welcome
	writeMsg(t, ws, &Msg{Type: TypeOffer, ID: id, Size: int64(len(data))})
	if m := readMsg(t, ws); m.Type != TypeOffset || m.Have != 0 {
		t.Fatalf("first offer: %+v", m)
	}
	const sent = 100 << 10
	for off := 0; off < sent; off += 25 << 10 {
		f, _ := EncodeChunk(nil, id, int64(off), data[off:off+25<<10])
		writeBin(t, ws, f)
	}
	// Ask again: the answer comes after the chunks were stored (in order).
	writeMsg(t, ws, &Msg{Type: TypeOffer, ID: id, Size: int64(len(data))})
	if m := readMsg(t, ws); m.Type != TypeOffset || m.Have != sent {
		t.Fatalf("second offer: %+v", m)
	}
	ws.Close()
	c1.close()

	c2 := startCentral(t, centralOpts{dir: dir})
	s := newStation(t, c2, "booth-01")
	s.put(t, data)
	cl, stop := s.run(t)
	s.waitAcks(t, 1, 30*time.Second)
	stop()
	if st := cl.Stats(); st.PayloadBytes != int64(len(data)-sent) || st.ResentBytes != 0 {
		t.Fatalf("after central's restart the station sent %d bytes, want %d", st.PayloadBytes, len(data)-sent)
	}
	got, _ := c2.store.Packet(id)
	if !bytes.Equal(got, data) {
		t.Fatal("resumed packet differs")
	}
}

func TestServerRejectsBadMessages(t *testing.T) {
	leakCheck(t)
	c := startCentral(t, centralOpts{})
	key := c.register("booth-01")
	// Drive the protocol by hand with a raw websocket client.
	ws := dialRaw(t, c.url())
	defer ws.Close()
	ch := readMsg(t, ws)
	writeMsg(t, ws, &Msg{Type: TypeHello, Station: "booth-01", Version: ProtocolVersion, Token: HelloToken(key, ch.Nonce, "booth-01")})
	if m := readMsg(t, ws); m.Type != TypeWelcome {
		t.Fatalf("got %+v", m)
	}
	// A chunk for a packet never offered.
	id := PacketID([]byte("x"))
	f, _ := EncodeChunk(nil, id, 0, []byte("x"))
	writeBin(t, ws, f)
	if m := readMsg(t, ws); m.Type != TypeError || m.Code != CodeOffset || m.ID != id {
		t.Fatalf("chunk without offer: %+v", m)
	}
	// Unknown message type: bad_message and the connection closes.
	ws.text(t, []byte(`{"type":"welcome"}`))
	if m := readMsg(t, ws); m.Type != TypeError || m.Code != CodeBadMessage {
		t.Fatalf("bad message: %+v", m)
	}
	if _, _, err := ws.c.ReadMessage(); err == nil {
		t.Fatal("connection still open after a bad message")
	}
}

func TestServerLimitsAndPingDeadline(t *testing.T) {
	leakCheck(t)
	c := startCentral(t, centralOpts{pongWait: 300 * time.Millisecond})
	key := c.register("booth-01")
	hello := func() *rawWS {
		ws := dialRaw(t, c.url())
		ch := readMsg(t, ws)
		writeMsg(t, ws, &Msg{Type: TypeHello, Station: "booth-01", Version: ProtocolVersion, Token: HelloToken(key, ch.Nonce, "booth-01")})
		if m := readMsg(t, ws); m.Type != TypeWelcome {
			t.Fatalf("got %+v", m)
		}
		return ws
	}
	// A binary frame over the read limit closes the connection.
	ws := hello()
	writeBin(t, ws, make([]byte, MaxChunkFrame+1))
	ws.c.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, _, err := ws.c.ReadMessage(); !websocket.IsCloseError(err, websocket.CloseMessageTooBig) {
		t.Fatalf("oversized frame: %v, want the connection closed", err)
	}
	ws.Close()

	// A station that does not answer pings is dropped after PongWait.
	ws = hello()
	pinged := false
	ws.c.SetPingHandler(func(string) error { pinged = true; return nil })
	ws.c.SetReadDeadline(time.Now().Add(10 * time.Second))
	_, _, err := ws.c.ReadMessage()
	if err == nil || !pinged {
		t.Fatalf("silent station: read %v, pinged %v; want pinged then disconnected", err, pinged)
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		t.Fatal("central did not drop a station that ignores pings")
	}
	ws.Close()
}
