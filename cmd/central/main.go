// Command central is the reference receiver for enrollment stations: it
// accepts stations over the uplink websocket protocol (docs/uplink.md),
// stores each packet once, issues signed receipts and lists what it holds.
// Integrators read it as the protocol's reference; the project's tests use
// it as the stations' peer.
//
//	central keygen -out DIR/central            new receipt-signing key pair
//	central serve  -store DIR -key central.key -stations DIR [-tls-cert ... -tls-key ... -client-ca ...]
//	central list   -store DIR | -url http://host:port
//
// Opening packets (verify the station's signature, decrypt, parse, write
// .an2 and ISO 19794 files) is the opener hook: a file in this directory
// sets `opener` from init; without one central stores packets unopened.
package main

import (
	"context"
	"crypto/ed25519"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/openenroll/stationd/station/uplink"
)

// opener is the packet-opening step run before a packet is stored and its
// receipt issued (see uplink.AcceptFunc). The packet code plugs
// station/packet's Open in here from its own file's init; nil stores only.
var opener uplink.AcceptFunc

type command struct {
	name    string
	summary string
	run     func(ctx context.Context, args []string, stdout io.Writer) error
}

var commands = map[string]command{}

func register(c command) {
	if _, dup := commands[c.name]; dup {
		panic("central: command registered twice: " + c.name)
	}
	commands[c.name] = c
}

type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

func init() {
	register(command{"serve", "accept stations and store their packets", cmdServe})
	register(command{"list", "list the packets central holds", cmdList})
	register(command{"keygen", "create central's receipt-signing key pair (or a station's)", cmdKeygen})
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "usage: central COMMAND [flags]\n\ncommands:")
	names := make([]string, 0, len(commands))
	for n := range commands {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "  %-8s %s\n", n, commands[n].summary)
	}
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "help" || args[0] == "--help" {
		usage(stderr)
		if len(args) == 0 {
			return 2
		}
		return 0
	}
	c, ok := commands[args[0]]
	if !ok {
		fmt.Fprintf(stderr, "central: unknown command %q\n\n", args[0])
		usage(stderr)
		return 2
	}
	if err := c.run(ctx, args[1:], stdout); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		fmt.Fprintf(stderr, "central %s: %v\n", c.name, err)
		var ue usageError
		if errors.As(err, &ue) {
			return 2
		}
		return 1
	}
	return 0
}

func newFlags(name string) *flag.FlagSet {
	fs := flag.NewFlagSet("central "+name, flag.ContinueOnError)
	fs.SetOutput(os.Stderr)
	return fs
}

func cmdKeygen(_ context.Context, args []string, stdout io.Writer) error {
	fs := newFlags("keygen")
	out := fs.String("out", "central", "path prefix: writes PREFIX.key (mode 0600) and PREFIX.pub")
	if err := fs.Parse(args); err != nil {
		return err
	}
	pub, err := uplink.GenerateKeyFiles(*out+".key", *out+".pub")
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "wrote %s.key and %s.pub (key id %s)\n", *out, *out, uplink.KeyID(pub))
	return nil
}

// keyDir authenticates stations by public keys kept as DIR/<station-id>.pub
// (PEM). It reads the file at each hello, so registering a station is
// dropping its key in the directory; no restart.
type keyDir string

func (d keyDir) Authenticate(r uplink.AuthRequest) error {
	if err := uplink.ValidStationID(r.Station); err != nil { // also keeps the path inside d
		return err
	}
	pub, err := uplink.LoadPublicKey(filepath.Join(string(d), r.Station+".pub"))
	if err != nil {
		return fmt.Errorf("station %q has no usable key in %s: %w", r.Station, d, err)
	}
	return uplink.StationKeys{r.Station: pub}.Authenticate(r)
}

func cmdServe(ctx context.Context, args []string, stdout io.Writer) error {
	fs := newFlags("serve")
	listen := fs.String("listen", ":8443", "address to listen on")
	storeDir := fs.String("store", "", "store directory (required)")
	keyPath := fs.String("key", "", "central's receipt-signing key, PEM ed25519 (required; make one with central keygen)")
	stations := fs.String("stations", "", "directory of station public keys, <station-id>.pub")
	certPath := fs.String("tls-cert", "", "server certificate (PEM); without it central speaks plain ws (tests only)")
	tlsKey := fs.String("tls-key", "", "server certificate's key (PEM)")
	clientCA := fs.String("client-ca", "", "CA certificates (PEM) that issue station client certificates; enables certificate authentication")
	hpkeKeys := fs.String("hpke-key", "", "central's packet decryption keys (HPKE PRIVATE KEY PEM), comma-separated; with -stations, packets are opened, verified and written out as .an2 and ISO 19794 files")
	if err := fs.Parse(args); err != nil {
		return err
	}
	accept := opener
	if *hpkeKeys != "" {
		if *stations == "" {
			return usageError{"-hpke-key needs -stations (the station keys that sign packets)"}
		}
		op, err := loadOpener(*hpkeKeys, *stations)
		if err != nil {
			return err
		}
		accept = op
	}
	if *storeDir == "" || *keyPath == "" {
		return usageError{"-store and -key are required"}
	}
	if *stations == "" && *clientCA == "" {
		return usageError{"give -stations (key authentication) or -client-ca (certificate authentication), or both"}
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	key, err := uplink.LoadPrivateKey(*keyPath)
	if err != nil {
		return err
	}
	store, err := uplink.OpenStore(*storeDir)
	if err != nil {
		return err
	}
	var auth uplink.AnyAuth
	if *stations != "" {
		auth = append(auth, keyDir(*stations))
	}
	var tlsCfg *tls.Config
	if *certPath != "" {
		cert, err := tls.LoadX509KeyPair(*certPath, *tlsKey)
		if err != nil {
			return fmt.Errorf("TLS certificate: %w", err)
		}
		tlsCfg = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
		if *clientCA != "" {
			pem, err := os.ReadFile(*clientCA)
			if err != nil {
				return err
			}
			pool := x509.NewCertPool()
			if !pool.AppendCertsFromPEM(pem) {
				return fmt.Errorf("no certificates in %s", *clientCA)
			}
			tlsCfg.ClientCAs = pool
			tlsCfg.ClientAuth = tls.VerifyClientCertIfGiven
			auth = append(auth, uplink.ClientCerts{})
		}
	} else if *clientCA != "" {
		return usageError{"-client-ca needs -tls-cert and -tls-key"}
	}
	srv, err := uplink.NewServer(uplink.ServerConfig{Store: store, Key: key, Auth: auth, Accept: accept, Logger: log})
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		return err
	}
	hs := &http.Server{Handler: srv.Handler(), TLSConfig: tlsCfg, ReadHeaderTimeout: 10 * time.Second}
	scheme := "ws"
	if tlsCfg != nil {
		scheme = "wss"
	}
	fmt.Fprintf(stdout, "central listening on %s://%s/uplink (receipt key %s, store %s)\n", scheme, ln.Addr(), uplink.KeyID(key.Public().(ed25519.PublicKey)), *storeDir)
	if accept == nil {
		log.Warn("central: no -hpke-key given; packets are stored without being opened")
	}
	errc := make(chan error, 1)
	go func() {
		if tlsCfg != nil {
			errc <- hs.ServeTLS(ln, "", "")
		} else {
			errc <- hs.Serve(ln)
		}
	}()
	select {
	case err := <-errc:
		srv.Close()
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	hs.Shutdown(sctx)
	srv.Close()
	<-errc
	return nil
}

func cmdList(ctx context.Context, args []string, stdout io.Writer) error {
	fs := newFlags("list")
	storeDir := fs.String("store", "", "store directory to read")
	url := fs.String("url", "", "or: a running central's base URL (http://host:port), read via GET /packets")
	asJSON := fs.Bool("json", false, "print JSON")
	if err := fs.Parse(args); err != nil {
		return err
	}
	var held []uplink.Held
	switch {
	case *storeDir != "":
		st, err := uplink.OpenStore(*storeDir)
		if err != nil {
			return err
		}
		if held, err = st.List(); err != nil {
			return err
		}
	case *url != "":
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimSuffix(*url, "/")+"/packets", nil)
		if err != nil {
			return err
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("GET /packets: %s", resp.Status)
		}
		var body struct {
			Packets []uplink.Held `json:"packets"`
		}
		if err := json.NewDecoder(io.LimitReader(resp.Body, 64<<20)).Decode(&body); err != nil {
			return fmt.Errorf("GET /packets: %w", err)
		}
		held = body.Packets
	default:
		return usageError{"give -store DIR or -url URL"}
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(held)
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "PACKET\tBYTES\tSTATION\tRECEIVED")
	for _, h := range held {
		fmt.Fprintf(tw, "%s\t%d\t%s\t%s\n", h.ID, h.Size, h.Station, h.Received.Format(time.RFC3339))
	}
	return tw.Flush()
}
