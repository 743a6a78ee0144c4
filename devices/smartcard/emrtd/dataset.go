package emrtd

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"image/jpeg"
	"os"
	"path/filepath"

	"github.com/openenroll/stationd/devices/smartcard/icao"
	"github.com/openenroll/stationd/devices/smartcard/lds"
)

// DataSet is a card's content on disk, as `stationctl card personalize`
// and `fwsim card --data` take it. A directory holds:
//
//	person.json   MRZ fields, DG13 (CCCD) fields, CAN and PACE curve
//	portrait.jpg  the face for DG2
//	ds.crt ds.key the document signer (PEM certificate and PKCS#8 key)
//	aa.key        optional: EC P-256 key for active authentication (PKCS#8 PEM)
//	csca.crt      optional: the CSCA certificate(s) to verify with (PEM)
type DataSet struct {
	Enrollment lds.Enrollment
	Signer     lds.Signer
	Keys       PersoKeys
	CSCAs      []*x509.Certificate
}

// person is person.json.
type person struct {
	MRZ  lds.MRZ   `json:"mrz"`
	CCCD *lds.CCCD `json:"cccd"`
	CAN  string    `json:"can"`
	// PACE is "", "P-256" or "brainpoolP256r1".
	PACE string `json:"pace"`
}

// LoadDataSet reads a data set directory.
func LoadDataSet(dir string) (*DataSet, error) {
	raw, err := os.ReadFile(filepath.Join(dir, "person.json"))
	if err != nil {
		return nil, fmt.Errorf("data set: %w", err)
	}
	var p person
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&p); err != nil {
		return nil, fmt.Errorf("data set %s: person.json: %w", dir, err)
	}
	if _, err := p.MRZ.Key().BACInfo(); err != nil {
		return nil, fmt.Errorf("data set %s: person.json mrz: %w", dir, err)
	}
	img, err := os.ReadFile(filepath.Join(dir, "portrait.jpg"))
	if err != nil {
		return nil, fmt.Errorf("data set: %w", err)
	}
	cfg, err := jpeg.DecodeConfig(bytes.NewReader(img))
	if err != nil {
		return nil, fmt.Errorf("data set %s: portrait.jpg is not a JPEG: %w", dir, err)
	}
	ds := &DataSet{}
	e := &ds.Enrollment
	e.MRZ, e.CCCD = p.MRZ, p.CCCD
	if e.MRZ.Format == "" {
		e.MRZ.Format = "TD1"
	}
	gender := map[string]byte{"M": 1, "F": 2}[p.MRZ.Sex]
	e.Face = lds.Face{Gender: gender, ImageDataType: lds.ImageJPEG, Width: uint16(cfg.Width), Height: uint16(cfg.Height), Image: img}
	switch p.PACE {
	case "":
	case "P-256":
		e.PACEParam = lds.ParamP256
	case "brainpoolP256r1":
		e.PACEParam = lds.ParamBrainpoolP256r1
	default:
		return nil, fmt.Errorf("data set %s: person.json pace %q: want \"\", \"P-256\" or \"brainpoolP256r1\"", dir, p.PACE)
	}
	certs, err := readCerts(filepath.Join(dir, "ds.crt"))
	if err != nil {
		return nil, err
	}
	key, err := readKey(filepath.Join(dir, "ds.key"))
	if err != nil {
		return nil, err
	}
	signer, ok := key.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("data set %s: ds.key cannot sign", dir)
	}
	ds.Signer = lds.Signer{Cert: certs[0], Key: signer}
	ds.Keys = PersoKeys{MRZ: e.MRZ.Key(), CAN: p.CAN}
	if _, err := os.Stat(filepath.Join(dir, "aa.key")); err == nil {
		k, err := readKey(filepath.Join(dir, "aa.key"))
		if err != nil {
			return nil, err
		}
		ec, ok := k.(*ecdsa.PrivateKey)
		if !ok {
			return nil, fmt.Errorf("data set %s: aa.key must be an EC P-256 key", dir)
		}
		ds.Keys.AAKey = ec
		e.AAPublicKey = &ec.PublicKey
	}
	if _, err := os.Stat(filepath.Join(dir, "csca.crt")); err == nil {
		if ds.CSCAs, err = readCerts(filepath.Join(dir, "csca.crt")); err != nil {
			return nil, err
		}
	}
	return ds, nil
}

// Files encodes the data set's LDS files and signs EF.SOD.
func (d *DataSet) Files() (map[uint16][]byte, error) {
	return lds.BuildFiles(d.Enrollment, d.Signer)
}

// ReadCerts reads every PEM certificate in a file (a CSCA list).
func ReadCerts(path string) ([]*x509.Certificate, error) { return readCerts(path) }

func readCerts(path string) ([]*x509.Certificate, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var out []*x509.Certificate
	for {
		var blk *pem.Block
		blk, b = pem.Decode(b)
		if blk == nil {
			break
		}
		if blk.Type != "CERTIFICATE" {
			continue
		}
		c, err := x509.ParseCertificate(blk.Bytes)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		out = append(out, c)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%s: no PEM certificate", path)
	}
	return out, nil
}

func readKey(path string) (any, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	blk, _ := pem.Decode(b)
	if blk == nil {
		return nil, fmt.Errorf("%s: no PEM block", path)
	}
	switch blk.Type {
	case "PRIVATE KEY":
		return x509.ParsePKCS8PrivateKey(blk.Bytes)
	case "EC PRIVATE KEY":
		return x509.ParseECPrivateKey(blk.Bytes)
	}
	return nil, fmt.Errorf("%s: PEM block %q is not a private key", path, blk.Type)
}

// CheckMRZKey validates MRZ access-key fields (check-digit alphabet, date
// format) before any card is touched.
func CheckMRZKey(k icao.MRZKey) error {
	_, err := k.BACInfo()
	return err
}
