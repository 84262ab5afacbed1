// Package roottest makes certificate authorities, server certificates and
// CA bundles for tests of TLS verification. Its functions panic on error:
// with valid templates and crypto/rand they cannot fail, and TestMain, which
// must name a bundle before crypto/x509 first loads the system pool, has no
// *testing.T to fail.
package roottest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"time"
)

// CA is a root certificate and its key.
type CA struct {
	Cert *x509.Certificate
	key  *ecdsa.PrivateKey
}

// NewCA returns a self-signed root named cn. Two CAs with the same cn have
// the same subject and different keys.
func NewCA(cn string) *CA {
	key := must(ecdsa.GenerateKey(elliptic.P256(), rand.Reader))
	tmpl := &x509.Certificate{
		SerialNumber:          serial(),
		Subject:               pkix.Name{CommonName: cn},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign,
	}
	der := must(x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key))
	return &CA{Cert: must(x509.ParseCertificate(der)), key: key}
}

// Server returns a certificate for 127.0.0.1 issued by ca.
func (ca *CA) Server() tls.Certificate {
	key := must(ecdsa.GenerateKey(elliptic.P256(), rand.Reader))
	tmpl := &x509.Certificate{
		SerialNumber: serial(),
		Subject:      pkix.Name{CommonName: "127.0.0.1"},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der := must(x509.CreateCertificate(rand.Reader, tmpl, ca.Cert, &key.PublicKey, ca.key))
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

// PEM is the CA certificate in PEM form.
func (ca *CA) PEM() []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ca.Cert.Raw})
}

// Bundle is the CAs' certificates, in order, as a PEM bundle.
func Bundle(cas ...*CA) []byte {
	var data []byte
	for _, ca := range cas {
		data = append(data, ca.PEM()...)
	}
	return data
}

func serial() *big.Int {
	return must(rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 64)))
}

func must[T any](v T, err error) T {
	if err != nil {
		panic("roottest: " + err.Error())
	}
	return v
}
