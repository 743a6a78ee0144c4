package uplink

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"io"
	"log"
	"math/big"
	"net"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"go.uber.org/goleak"
)

// leakCheck verifies, after every other cleanup of the test ran, that no
// goroutine outlived it. Call it first in the test.
func leakCheck(t *testing.T) {
	t.Cleanup(func() { goleak.VerifyNone(t) })
}

func jsonUnmarshal(b []byte, v any) error { return json.Unmarshal(b, v) }

// testPKI is a throwaway CA that issues central's server certificate and
// stations' client certificates.
type testPKI struct {
	ca     *x509.Certificate
	caKey  *ecdsa.PrivateKey
	pool   *x509.CertPool
	server tls.Certificate
}

func newTestPKI(t testing.TB) *testPKI {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test central CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(der)
	p := &testPKI{ca: ca, caKey: key, pool: x509.NewCertPool()}
	p.pool.AddCert(ca)
	p.server = p.issue(t, "central", x509.ExtKeyUsageServerAuth)
	return p
}

func (p *testPKI) issue(t testing.TB, cn string, usage x509.ExtKeyUsage) tls.Certificate {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	serial, _ := rand.Int(rand.Reader, big.NewInt(1<<62))
	tmpl := &x509.Certificate{
		SerialNumber: serial, Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{usage},
	}
	if usage == x509.ExtKeyUsageServerAuth {
		tmpl.IPAddresses = []net.IP{net.ParseIP("127.0.0.1")}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, p.ca, &key.PublicKey, p.caKey)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

func (p *testPKI) serverTLS() *tls.Config {
	return &tls.Config{
		Certificates: []tls.Certificate{p.server},
		ClientAuth:   tls.RequireAndVerifyClientCert,
		ClientCAs:    p.pool,
		MinVersion:   tls.VersionTLS13,
	}
}

// clientTLS trusts the CA and presents a certificate for station (none if "").
func (p *testPKI) clientTLS(t testing.TB, station string) *tls.Config {
	c := &tls.Config{RootCAs: p.pool, MinVersion: tls.VersionTLS13}
	if station != "" {
		c.Certificates = []tls.Certificate{p.issue(t, station, x509.ExtKeyUsageClientAuth)}
	}
	return c
}

// rawWS drives the protocol by hand.
type rawWS struct{ c *websocket.Conn }

func dialRaw(t testing.TB, url string) *rawWS {
	t.Helper()
	c, _, err := websocket.DefaultDialer.Dial(url, nil)
	if err != nil {
		t.Fatal(err)
	}
	return &rawWS{c}
}

func (w *rawWS) Close() { w.c.Close() }

func (w *rawWS) text(t testing.TB, b []byte) {
	t.Helper()
	if err := w.c.WriteMessage(websocket.TextMessage, b); err != nil {
		t.Fatal(err)
	}
}

func readMsg(t testing.TB, w *rawWS) Msg {
	t.Helper()
	w.c.SetReadDeadline(time.Now().Add(10 * time.Second))
	_, data, err := w.c.ReadMessage()
	if err != nil {
		t.Fatal(err)
	}
	m, err := DecodeCentralMessage(data)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func writeMsg(t testing.TB, w *rawWS, m *Msg) { w.text(t, encode(m)) }

func writeBin(t testing.TB, w *rawWS, b []byte) {
	t.Helper()
	if err := w.c.WriteMessage(websocket.BinaryMessage, b); err != nil {
		t.Fatal(err)
	}
}

func slogDiscardLog() *log.Logger { return log.New(io.Discard, "", 0) }
