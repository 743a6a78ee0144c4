package main

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"time"

	"github.com/openenroll/stationd/devices/smartcard"
	"github.com/openenroll/stationd/devices/smartcard/emrtd"
	"github.com/openenroll/stationd/devices/smartcard/icao"
	"github.com/openenroll/stationd/devices/smartcard/lds"
)

func init() {
	register(command{
		name:    "card",
		summary: "read and verify an ICAO 9303 ID card, or personalize a blank one (PC/SC)",
		run:     runCard,
	})
}

const cardUsage = `usage:
  stationctl card read (--mrz DOCNO,BIRTH,EXPIRY | --can N) [--reader NAME] [--csca FILE] [--bac] [--json] [--save DIR]
  stationctl card personalize --data DIR [--reader NAME] [--csca FILE]
  stationctl card readers`

func runCard(args []string, stdout io.Writer) error {
	if len(args) == 0 {
		return usageError{cardUsage}
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	switch args[0] {
	case "read":
		return runCardRead(ctx, args[1:], stdout)
	case "personalize":
		return runCardPersonalize(ctx, args[1:], stdout)
	case "readers":
		rs, err := smartcard.ListReaders()
		if err != nil {
			return err
		}
		for _, r := range rs {
			fmt.Fprintln(stdout, r)
		}
		return nil
	case "-h", "--help", "help":
		fmt.Fprintln(os.Stderr, cardUsage)
		return flag.ErrHelp
	}
	return usageError{fmt.Sprintf("unknown card action %q\n%s", args[0], cardUsage)}
}

// connectCard waits for a card in the reader matching pattern.
func connectCard(ctx context.Context, pattern string, wait time.Duration) (*smartcard.Card, error) {
	rs, err := smartcard.ListReaders()
	if err != nil {
		return nil, err
	}
	name, ok := smartcard.MatchReader(rs, pattern)
	if !ok {
		return nil, fmt.Errorf("no PC/SC reader matching %q (readers: %q); plug the reader in or check --reader", pattern, rs)
	}
	wctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	c, err := smartcard.Connect(wctx, name)
	if errors.Is(err, context.DeadlineExceeded) {
		return nil, fmt.Errorf("no card placed on %q within %v", name, wait)
	}
	return c, err
}

func loadCSCAs(files []string) ([]*x509.Certificate, error) {
	var out []*x509.Certificate
	for _, f := range files {
		cs, err := emrtd.ReadCerts(f)
		if err != nil {
			return nil, fmt.Errorf("--csca: %w", err)
		}
		out = append(out, cs...)
	}
	return out, nil
}

type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, ",") }
func (l *listFlag) Set(v string) error { *l = append(*l, v); return nil }

func runCardRead(ctx context.Context, args []string, stdout io.Writer) error {
	fs := newFlags("card read", os.Stderr)
	mrz := fs.String("mrz", "", "access key from the MRZ: DOCNO,BIRTH(YYMMDD),EXPIRY(YYMMDD)")
	can := fs.String("can", "", "access key: the card access number printed on the card (PACE)")
	reader := fs.String("reader", "", "PC/SC reader name (substring; default: first reader)")
	var cscaFiles listFlag
	fs.Var(&cscaFiles, "csca", "PEM file of trusted CSCA certificates (repeatable)")
	bac := fs.Bool("bac", false, "use BAC even when the card offers PACE")
	asJSON := fs.Bool("json", false, "print the result as JSON (portrait omitted)")
	save := fs.String("save", "", "write the raw files (EF.COM, EF.SOD, DGn) and portrait to this directory")
	wait := fs.Duration("wait", 30*time.Second, "how long to wait for a card")
	if err := fs.Parse(args); err != nil {
		return err
	}
	var key emrtd.AccessKey
	switch {
	case *mrz != "" && *can != "":
		return usageError{"give --mrz or --can, not both"}
	case *mrz != "":
		p := strings.Split(*mrz, ",")
		if len(p) != 3 {
			return usageError{"--mrz wants DOCNO,BIRTH,EXPIRY (e.g. 203012345,900115,300115)"}
		}
		k := icao.MRZKey{DocumentNumber: p[0], BirthDate: p[1], ExpiryDate: p[2]}
		if err := emrtd.CheckMRZKey(k); err != nil {
			return usageError{"--mrz: " + err.Error()}
		}
		key.MRZ = &k
	case *can != "":
		key.CAN = *can
	default:
		return usageError{"give the access key: --mrz DOCNO,BIRTH,EXPIRY or --can N\n" + cardUsage}
	}
	cscas, err := loadCSCAs(cscaFiles)
	if err != nil {
		return err
	}
	c, err := connectCard(ctx, *reader, *wait)
	if err != nil {
		return err
	}
	defer c.Close()
	start := time.Now()
	d, err := emrtd.Read(ctx, c, emrtd.ReadOptions{Key: key, CSCAs: cscas, ForceBAC: *bac})
	if err != nil {
		return err
	}
	took := time.Since(start)
	if *save != "" {
		if err := saveDocument(*save, d); err != nil {
			return err
		}
	}
	if *asJSON {
		if err := printJSON(stdout, d); err != nil {
			return err
		}
	} else {
		printDocument(stdout, d, took)
	}
	if !d.Verified() {
		hint := ""
		if len(cscas) == 0 {
			hint = " (no --csca given: passive authentication needs the issuing country's CSCA certificates)"
		}
		return fmt.Errorf("card NOT verified: %v%s", errors.Join(d.PAErr, d.AAErr), hint)
	}
	return nil
}

func printDocument(w io.Writer, d *emrtd.Document, took time.Duration) {
	fmt.Fprintf(w, "access:         %s (%d APDUs, %v)\n", d.Access, d.APDUs, took.Round(time.Millisecond))
	m := d.MRZ
	fmt.Fprintf(w, "document:       %s %s %s\n", m.DocumentCode, m.IssuingState, m.DocumentNumber)
	fmt.Fprintf(w, "name:           %s, %s\n", m.PrimaryName, m.SecondaryName)
	fmt.Fprintf(w, "birth / sex:    %s %s\n", m.BirthDate, m.Sex)
	fmt.Fprintf(w, "expiry:         %s\n", m.ExpiryDate)
	if c := d.CCCD; c != nil {
		for _, kv := range [][2]string{{"ID number", c.IDNumber}, {"full name", c.FullName}, {"birth date", c.BirthDate},
			{"sex", c.Sex}, {"nationality", c.Nationality}, {"ethnicity", c.Ethnicity}, {"religion", c.Religion},
			{"origin", c.PlaceOfOrigin}, {"residence", c.Residence}, {"marks", c.Marks}, {"issued", c.IssueDate},
			{"expires", c.ExpiryDate}, {"father", c.FatherName}, {"mother", c.MotherName}} {
			fmt.Fprintf(w, "%-15s %s\n", kv[0]+":", kv[1])
		}
	}
	for i, f := range d.Faces {
		fmt.Fprintf(w, "portrait %d:     %dx%d, %d bytes\n", i+1, f.Width, f.Height, len(f.Image))
	}
	if d.PAErr != nil {
		fmt.Fprintf(w, "passive auth:   FAILED: %v\n", d.PAErr)
	} else {
		fmt.Fprintf(w, "passive auth:   passed (DGs %v, signer %q, CSCA %q)\n", d.PA.CheckedDGs, d.PA.Signer.Subject.CommonName, d.PA.CSCA.Subject.CommonName)
	}
	if d.AAErr != nil {
		fmt.Fprintf(w, "active auth:    FAILED: %v\n", d.AAErr)
	} else {
		fmt.Fprintf(w, "active auth:    %s\n", d.AA)
	}
}

func printJSON(w io.Writer, d *emrtd.Document) error {
	errStr := func(e error) string {
		if e == nil {
			return ""
		}
		return e.Error()
	}
	out := map[string]any{
		"access": d.Access, "apdus": d.APDUs, "mrz": d.MRZ, "cccd": d.CCCD, "data_groups": d.COM.DataGroups,
		"passive_auth": errStr(d.PAErr) == "", "passive_auth_error": errStr(d.PAErr),
		"active_auth": d.AA, "active_auth_error": errStr(d.AAErr), "verified": d.Verified(),
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(out)
}

func saveDocument(dir string, d *emrtd.Document) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	names := map[uint16]string{lds.FIDCOM: "EF.COM", lds.FIDSOD: "EF.SOD", lds.FIDCardAccess: "EF.CardAccess"}
	for fid, b := range d.Files {
		n, ok := names[fid]
		if !ok {
			n = fmt.Sprintf("DG%d", fid-0x0100)
		}
		if err := os.WriteFile(filepath.Join(dir, n+".bin"), b, 0o600); err != nil {
			return err
		}
	}
	for i, f := range d.Faces {
		ext := ".jpg"
		if f.ImageDataType == lds.ImageJPEG2000 {
			ext = ".jp2"
		}
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("portrait%d%s", i+1, ext)), f.Image, 0o600); err != nil {
			return err
		}
	}
	return nil
}

func runCardPersonalize(ctx context.Context, args []string, stdout io.Writer) error {
	fs := newFlags("card personalize", os.Stderr)
	data := fs.String("data", "", "data set directory (person.json, portrait.jpg, ds.crt, ds.key, optional aa.key, csca.crt)")
	reader := fs.String("reader", "", "PC/SC reader name (substring; default: first reader)")
	var cscaFiles listFlag
	fs.Var(&cscaFiles, "csca", "PEM file of CSCA certificates to verify the written card with (default: the data set's csca.crt)")
	wait := fs.Duration("wait", 30*time.Second, "how long to wait for a card")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *data == "" {
		return usageError{"--data DIR is required\n" + cardUsage}
	}
	ds, err := emrtd.LoadDataSet(*data)
	if err != nil {
		return err
	}
	cscas := ds.CSCAs
	if len(cscaFiles) > 0 {
		if cscas, err = loadCSCAs(cscaFiles); err != nil {
			return err
		}
	}
	c, err := connectCard(ctx, *reader, *wait)
	if err != nil {
		return err
	}
	defer c.Close()
	start := time.Now()
	d, st, err := emrtd.Issue(ctx, c, ds.Enrollment, ds.Signer, ds.Keys, cscas)
	if d != nil || err == nil {
		fmt.Fprintf(stdout, "personalized:   %d bytes, %d APDUs, %v; card locked\n", st.Bytes, st.APDUs, time.Since(start).Round(time.Millisecond))
	}
	if d != nil {
		printDocument(stdout, d, 0)
	}
	if err != nil {
		return err
	}
	fmt.Fprintln(stdout, "read-back:      verified")
	return nil
}
