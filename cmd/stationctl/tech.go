package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/gorilla/websocket"

	"github.com/openenroll/stationd/station/api"
	"github.com/openenroll/stationd/station/tech"
)

func init() {
	register(command{name: "selftest", summary: "run a device's self-test on a running stationd, showing progress",
		run: func(args []string, stdout io.Writer) error { return runTech(tech.RunSelftest, args, stdout) }})
	register(command{name: "calibrate", summary: "calibrate a device on a running stationd, showing progress",
		run: func(args []string, stdout io.Writer) error { return runTech(tech.RunCalibrate, args, stdout) }})
}

// techMaxMessage bounds one message from stationd: a report is a few KiB;
// preview frames (binary) may be larger and are skipped.
const techMaxMessage = 8 << 20

func runTech(run string, args []string, stdout io.Writer) error {
	name := map[string]string{tech.RunSelftest: "selftest", tech.RunCalibrate: "calibrate"}[run]
	fs := newFlags(name, os.Stderr)
	addr := fs.String("addr", stationAddr(), "stationd's address (or $STATIOND_ADDR)")
	token := fs.String("token", os.Getenv("STATIOND_TOKEN"), "access token for stationd's websocket, if it asks for one (or $STATIOND_TOKEN)")
	timeout := fs.Duration("timeout", 3*time.Minute, "give up after this long")
	asJSON := fs.Bool("json", false, "print the final report as JSON instead of a table")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "usage: stationctl %s [flags] DEVICE\n\nDEVICE is the device id, as `stationctl devices` lists it.\n\n", name)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() != 1 || fs.Arg(0) == "" {
		return usageError{fmt.Sprintf("%s needs exactly one DEVICE id (see stationctl devices)", name)}
	}
	device := fs.Arg(0)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()

	ws, err := dialStation(ctx, *addr, *token)
	if err != nil {
		return err
	}
	defer ws.Close()
	// Closing the socket unblocks a read when ctx ends (Ctrl-C, timeout);
	// stationd then cancels the run.
	stopClose := context.AfterFunc(ctx, func() { ws.Close() })
	defer stopClose()

	w := &techWatch{device: device, run: run, reqID: "tech-1", out: stdout}
	// hello first; then a ping whose pong proves stationd's event stream to
	// this connection is running, so no progress event is missed.
	if err := w.expect(ws, "hello", ""); err != nil {
		return w.ctxErr(ctx, *addr, err)
	}
	if err := send(ws, "ping", "ping-1", nil); err != nil {
		return w.ctxErr(ctx, *addr, err)
	}
	if err := w.expect(ws, "pong", "ping-1"); err != nil {
		return w.ctxErr(ctx, *addr, err)
	}
	if err := send(ws, "device."+map[string]string{tech.RunSelftest: "selftest", tech.RunCalibrate: "calibrate"}[run], w.reqID,
		map[string]string{"device": device}); err != nil {
		return w.ctxErr(ctx, *addr, err)
	}
	fmt.Fprintf(stdout, "%s: %s\n", device, map[string]string{tech.RunSelftest: "self-test", tech.RunCalibrate: "calibration"}[run])
	// The reply and the run's events travel separately: after the reply,
	// wait briefly for the tech.result event, which follows the run's last
	// progress event, so that every progress line is printed.
	var rep *tech.Report
	for {
		mt, b, err := ws.ReadMessage()
		if err != nil {
			if rep != nil {
				return printReport(stdout, rep, *asJSON) // events lost or late: the report is what counts
			}
			return w.ctxErr(ctx, *addr, err)
		}
		if mt != websocket.TextMessage {
			continue // a preview frame
		}
		line, r, final, err := w.handle(b)
		if line != "" {
			fmt.Fprintln(stdout, line)
		}
		if err != nil {
			return err
		}
		if r != nil {
			rep = r
			ws.SetReadDeadline(time.Now().Add(resultEventWait))
		}
		if final {
			w.sawResult = true
		}
		if rep != nil && w.sawResult {
			return printReport(stdout, rep, *asJSON)
		}
	}
}

// resultEventWait bounds the wait, after the reply, for the run's final
// event; it only matters when stationd dropped events for this client.
const resultEventWait = 2 * time.Second

func dialStation(ctx context.Context, addr, token string) (*websocket.Conn, error) {
	d := websocket.Dialer{HandshakeTimeout: 10 * time.Second}
	h := http.Header{}
	if token != "" {
		h.Set("Authorization", "Bearer "+token)
	}
	ws, resp, err := d.DialContext(ctx, "ws://"+addr+"/ws", h)
	if err != nil {
		if resp != nil {
			if resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden {
				return nil, fmt.Errorf("stationd at %s refused the connection (%s): give the token stationd printed with --token or $STATIOND_TOKEN", addr, resp.Status)
			}
			return nil, fmt.Errorf("stationd at %s refused the websocket (%s)", addr, resp.Status)
		}
		return nil, fmt.Errorf("cannot reach stationd at %s (is it running? -addr sets the address): %w", addr, err)
	}
	ws.SetReadLimit(techMaxMessage)
	return ws, nil
}

func send(ws *websocket.Conn, typ, id string, payload any) error {
	e, err := api.NewEnvelope(typ, id, payload)
	if err != nil {
		return err
	}
	ws.SetWriteDeadline(time.Now().Add(10 * time.Second))
	return ws.WriteJSON(e)
}

// techWatch follows one run's messages.
type techWatch struct {
	device, run, reqID string
	out                io.Writer
	sawResult          bool
}

func (w *techWatch) ctxErr(ctx context.Context, addr string, err error) error {
	switch {
	case errors.Is(ctx.Err(), context.DeadlineExceeded):
		return fmt.Errorf("no result from stationd within the timeout (-timeout); the run was cancelled")
	case ctx.Err() != nil:
		return fmt.Errorf("interrupted; the run was cancelled")
	}
	return fmt.Errorf("connection to stationd at %s: %w", addr, err)
}

// expect reads messages until one of type typ (with request id id, when
// set) arrives, printing nothing; an error reply to id ends the wait.
func (w *techWatch) expect(ws *websocket.Conn, typ, id string) error {
	for {
		mt, b, err := ws.ReadMessage()
		if err != nil {
			return err
		}
		if mt != websocket.TextMessage {
			continue
		}
		m, err := decodeServerMessage(b)
		if err != nil {
			return err
		}
		if m.Type == "error" && m.ID == id && id != "" {
			var e api.ErrorPayload
			json.Unmarshal(m.Payload, &e)
			return fmt.Errorf("stationd: %s: %s", e.Code, e.Message)
		}
		if m.Type == typ && m.ID == id {
			return nil
		}
	}
}

// serverMessage is an envelope from stationd, read leniently: a newer
// stationd may add fields.
type serverMessage struct {
	V       int             `json:"v"`
	Type    string          `json:"type"`
	ID      string          `json:"id"`
	Payload json.RawMessage `json:"payload"`
}

func decodeServerMessage(b []byte) (serverMessage, error) {
	var m serverMessage
	if err := json.Unmarshal(b, &m); err != nil {
		return m, fmt.Errorf("stationd sent a message stationctl cannot read: %w", err)
	}
	if m.V != api.ProtocolVersion {
		return m, fmt.Errorf("stationd speaks protocol version %d, stationctl %d: use the stationctl of the same release", m.V, api.ProtocolVersion)
	}
	return m, nil
}

// handle looks at one message from stationd: a progress line to print,
// the reply with the report, the run's final event, or an error reply to
// our request. Other messages (device events, other clients' work) are
// ignored.
func (w *techWatch) handle(b []byte) (line string, rep *tech.Report, final bool, err error) {
	m, err := decodeServerMessage(b)
	if err != nil {
		return "", nil, false, err
	}
	switch {
	case m.Type == tech.EventProgress:
		var p tech.Progress
		if json.Unmarshal(m.Payload, &p) != nil || p.Device != w.device || p.Run != w.run {
			return "", nil, false, nil
		}
		return fmt.Sprintf("[%d/%d] %s", p.Step, p.Of, oneLine(p.Message)), nil, false, nil
	case m.Type == tech.EventResult:
		var r tech.Report
		ok := json.Unmarshal(m.Payload, &r) == nil && r.Device == w.device && r.Run == w.run
		return "", nil, ok, nil
	case m.ID != w.reqID:
		return "", nil, false, nil
	case m.Type == "error":
		var e api.ErrorPayload
		if err := json.Unmarshal(m.Payload, &e); err != nil {
			return "", nil, false, fmt.Errorf("stationd refused the request (unreadable error: %v)", err)
		}
		return "", nil, false, fmt.Errorf("stationd refused: %s (%s)", oneLine(e.Message), e.Code)
	case strings.HasSuffix(m.Type, ".result"):
		var r tech.Report
		if err := json.Unmarshal(m.Payload, &r); err != nil {
			return "", nil, false, fmt.Errorf("stationd sent a report stationctl cannot read: %w", err)
		}
		return "", &r, false, nil
	}
	return "", nil, false, nil
}

// oneLine keeps a message from the device on one terminal line.
func oneLine(s string) string {
	return strings.Map(func(r rune) rune {
		if r < ' ' || r == 0x7F {
			return ' '
		}
		return r
	}, s)
}

// errRunFailed makes the exit status 1 once the report is printed.
type errRunFailed struct{ device, run string }

func (e errRunFailed) Error() string {
	what := "self-test"
	if e.run == tech.RunCalibrate {
		what = "calibration"
	}
	return fmt.Sprintf("%s of %s failed: see the advice above", what, e.device)
}

func printReport(stdout io.Writer, r *tech.Report, asJSON bool) error {
	if asJSON {
		b, err := json.MarshalIndent(r, "", "  ")
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "%s\n", b)
	} else {
		tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
		for _, c := range r.Checks {
			fmt.Fprintf(tw, "%s\t%s\t%s\n", strings.ToUpper(oneLine(c.Result)), oneLine(c.Name), oneLine(c.Message))
			if c.Advice != "" {
				fmt.Fprintf(tw, "\t\t→ %s\n", oneLine(c.Advice))
			}
		}
		tw.Flush()
		fmt.Fprintf(stdout, "result: %s\n", oneLine(r.Result))
	}
	if r.Result == tech.Fail {
		return errRunFailed{r.Device, r.Run}
	}
	return nil
}
