package packet

import (
	"fmt"
	"strings"

	"github.com/openenroll/stationd/capture/wsq"
)

// Config is the station's packet settings, as the daemon's configuration
// file gives them (a [packet] table; the config package owns the file).
type Config struct {
	// SigningKey is the station's PKCS#8 PEM private key (mode 0600).
	SigningKey string `toml:"signing_key"`
	// CentralPublicKey is the central's "HPKE PUBLIC KEY" PEM file. To
	// rotate, point it at the new key once the central lists both.
	CentralPublicKey string `toml:"central_public_key"`
	// FingerCompression: "PNG" (lossless, default), "WSQ20" or "NONE".
	FingerCompression string `toml:"finger_compression"`
	// WSQBitrate in bits per pixel for WSQ20 (default 0.75).
	WSQBitrate float64 `toml:"wsq_bitrate"`
	// WSQAllocation chooses the WSQ encoder's bin widths: "fbi" (default:
	// the FBI specification's formula, what AFIS systems expect, about
	// 15:1 at 0.75 bpp) or "mse" (widths for the least pixel error, with
	// the bit rate as a ceiling on the file size: about 10.7:1 at 0.75
	// bpp, 0.2-0.5 dB better than "fbi" at the same size).
	WSQAllocation string `toml:"wsq_allocation"`
	// ANSI/NIST-ITL Type-1 TOT, DAI and ORI (defaults "ENR", "CENTRAL",
	// the station id).
	TOT string `toml:"tot"`
	DAI string `toml:"dai"`
	ORI string `toml:"ori"`
	// QualityVendorID/QualityProductCode identify the quality algorithm in
	// FQM and ISO quality blocks (IBIA registration; 0 = unregistered).
	QualityVendorID    uint16 `toml:"quality_vendor_id"`
	QualityProductCode uint16 `toml:"quality_product_code"`
}

// DefaultConfig returns the defaults (key paths must still be set).
func DefaultConfig() Config {
	return Config{FingerCompression: string(CompressionPNG), WSQBitrate: wsq.DefaultBitrate, WSQAllocation: "fbi",
		TOT: "ENR", DAI: "CENTRAL", QualityProductCode: 1}
}

// Validate checks the settings without touching the key files.
func (c Config) Validate() error {
	if c.SigningKey == "" {
		return fmt.Errorf("packet: signing_key is not set (path to the station's private key)")
	}
	if c.CentralPublicKey == "" {
		return fmt.Errorf("packet: central_public_key is not set (path to the central's HPKE public key)")
	}
	switch Compression(c.FingerCompression) {
	case CompressionPNG, CompressionWSQ, CompressionNone, "":
	default:
		return fmt.Errorf("packet: finger_compression %q: use PNG, WSQ20 or NONE", c.FingerCompression)
	}
	switch c.WSQAllocation {
	case "", "fbi", "mse":
	default:
		return fmt.Errorf("packet: wsq_allocation %q: use fbi or mse", c.WSQAllocation)
	}
	// WSQ spec v3.1 encoders are tested from 0.75 (15:1) to 2.25 bpp; we
	// allow a wider band but refuse nonsense.
	if c.WSQBitrate < 0 || c.WSQBitrate > 8 {
		return fmt.Errorf("packet: wsq_bitrate %g outside 0..8 bits per pixel", c.WSQBitrate)
	}
	for name, v := range map[string]string{"tot": c.TOT, "dai": c.DAI, "ori": c.ORI} {
		if strings.ContainsAny(v, "\x1c\x1d\x1e\x1f") {
			return fmt.Errorf("packet: %s contains an ANSI/NIST separator character", name)
		}
	}
	return nil
}

// Options loads the keys and returns Build options.
func (c Config) Options() (Options, error) {
	if err := c.Validate(); err != nil {
		return Options{}, err
	}
	s, err := LoadSigner(c.SigningKey)
	if err != nil {
		return Options{}, err
	}
	r, err := LoadRecipient(c.CentralPublicKey)
	if err != nil {
		return Options{}, err
	}
	enc := wsq.Encode
	if c.WSQAllocation == "mse" {
		enc = wsq.EncodeMSE
	}
	return Options{Signer: s, Recipient: r, FingerCompression: Compression(c.FingerCompression),
		WSQBitrate: c.WSQBitrate, WSQEncode: enc, TOT: c.TOT, DAI: c.DAI, ORI: c.ORI,
		QualityVendorID: c.QualityVendorID, QualityProductCode: c.QualityProductCode}, nil
}

// CentralConfig is the central's key settings.
type CentralConfig struct {
	// PrivateKeys are "HPKE PRIVATE KEY" PEM files (mode 0600): the
	// current key and any older ones packets may still be encrypted to.
	PrivateKeys []string `toml:"private_keys"`
	// TrustedStations are station "PUBLIC KEY" PEM files, optionally with
	// a Station-Id header.
	TrustedStations []string `toml:"trusted_stations"`
}

// Load reads the keys.
func (c CentralConfig) Load() (*CentralKeys, *TrustedStations, error) {
	if len(c.PrivateKeys) == 0 {
		return nil, nil, fmt.Errorf("packet: no central private_keys configured")
	}
	if len(c.TrustedStations) == 0 {
		return nil, nil, fmt.Errorf("packet: no trusted_stations configured; no packet could be accepted")
	}
	k, err := LoadCentralKeys(c.PrivateKeys...)
	if err != nil {
		return nil, nil, err
	}
	t, err := LoadTrustedStations(c.TrustedStations...)
	if err != nil {
		return nil, nil, err
	}
	return k, t, nil
}
