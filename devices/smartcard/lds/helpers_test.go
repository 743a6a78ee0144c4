package lds_test

import (
	"crypto/sha256"
	"crypto/x509"
)

type x509Cert = x509.Certificate

func sha256Of(b []byte) []byte { s := sha256.Sum256(b); return s[:] }
