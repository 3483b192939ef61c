package controller

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"io"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/nines-sre/nines/config"
	"github.com/nines-sre/nines/model"
)

// pki writes a CA, a server certificate for 127.0.0.1 and a client
// certificate into dir, and returns their paths.
func pki(t *testing.T, dir string) (ca, serverCert, serverKey, clientCert, clientKey string) {
	t.Helper()
	write := func(name, typ string, der []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "nines test CA"}, IsCA: true, BasicConstraintsValid: true,
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), KeyUsage: x509.KeyUsageCertSign}
	caDER, _ := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	caCert, _ := x509.ParseCertificate(caDER)
	leaf := func(serial int64, usage x509.ExtKeyUsage, ip bool) ([]byte, []byte) {
		k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		tmpl := &x509.Certificate{SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: "leaf"}, NotBefore: time.Now().Add(-time.Hour),
			NotAfter: time.Now().Add(time.Hour), ExtKeyUsage: []x509.ExtKeyUsage{usage}, KeyUsage: x509.KeyUsageDigitalSignature}
		if ip {
			tmpl.IPAddresses = []net.IP{net.ParseIP("127.0.0.1")}
		}
		der, _ := x509.CreateCertificate(rand.Reader, tmpl, caCert, &k.PublicKey, caKey)
		kder, _ := x509.MarshalPKCS8PrivateKey(k)
		return der, kder
	}
	sd, sk := leaf(2, x509.ExtKeyUsageServerAuth, true)
	cd, ck := leaf(3, x509.ExtKeyUsageClientAuth, false)
	return write("ca.pem", "CERTIFICATE", caDER), write("server.pem", "CERTIFICATE", sd), write("server-key.pem", "PRIVATE KEY", sk),
		write("client.pem", "CERTIFICATE", cd), write("client-key.pem", "PRIVATE KEY", ck)
}

func TestMutualTLSForProbes(t *testing.T) {
	dir := t.TempDir()
	ca, sc, sk, cc, ck := pki(t, dir)
	cfg, err := config.Parse("test.yaml", []byte(testConfig))
	if err != nil {
		t.Fatal(err)
	}
	ready := make(chan string, 1)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- Run(ctx, Options{Config: cfg, DataDir: filepath.Join(dir, "data"), Listen: "127.0.0.1:0", Ready: ready,
			Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), TLSCertFile: sc, TLSKeyFile: sk, ClientCAFile: ca})
	}()
	defer func() { cancel(); <-done }()
	base := "https://" + <-ready
	roots := x509.NewCertPool()
	pemBytes, _ := os.ReadFile(ca)
	roots.AppendCertsFromPEM(pemBytes)
	clientWith := func(certs ...tls.Certificate) *http.Client {
		return &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots, Certificates: certs}}}
	}
	beat := func(c *http.Client) int {
		body, _ := json.Marshal(model.Heartbeat{Probe: "p1", Region: "eu-london"})
		req, _ := http.NewRequest("POST", base+"/api/v1/probes/heartbeat", bytes.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+tokens["eu-london"])
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if code := beat(clientWith()); code != http.StatusUnauthorized {
		t.Fatalf("probe without a client certificate: %d", code)
	}
	cert, err := tls.LoadX509KeyPair(cc, ck)
	if err != nil {
		t.Fatal(err)
	}
	if code := beat(clientWith(cert)); code != http.StatusOK {
		t.Fatalf("probe with its certificate: %d", code)
	}
	resp, err := clientWith().Get(base + "/")
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("the status page must not need a client certificate: %v %v", err, resp)
	}
}
