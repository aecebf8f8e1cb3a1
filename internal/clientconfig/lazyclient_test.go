package clientconfig

import (
	"crypto/tls"
	"errors"
	"net/http"
	"testing"
)

func TestLazyHTTPClient(t *testing.T) {
	tlsCfg := &tls.Config{ServerName: "example.test", MinVersion: tls.VersionTLS12}
	cases := []struct {
		name  string
		tls   *tls.Config
		steps []string // start, close
		want  error    // of Client after the steps
	}{
		{name: "before start", want: ErrNotStarted},
		{name: "closed before start", steps: []string{"close"}, want: ErrNotStarted},
		{name: "started", steps: []string{"start"}},
		{name: "started with TLS", tls: tlsCfg, steps: []string{"start"}},
		{name: "started and closed", steps: []string{"start", "close", "close"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			lc := &LazyHTTPClient{TLS: c.tls}
			for _, s := range c.steps {
				var err error
				if s == "start" {
					err = lc.Start()
				} else {
					err = lc.Close()
				}
				if err != nil {
					t.Fatalf("%s: %v", s, err)
				}
			}
			hc, err := lc.Client()
			if !errors.Is(err, c.want) || (err == nil) != (hc != nil) {
				t.Fatalf("Client() = %v, %v; want error %v", hc, err, c.want)
			}
			if hc == nil {
				return
			}
			tr, ok := hc.Transport.(*http.Transport)
			// (Without a TLS config of ours, net/http makes its own at the
			// first use, so only ours is checked.)
			if !ok || (c.tls != nil && tr.TLSClientConfig != c.tls) || tr.Proxy == nil {
				t.Errorf("transport %T: want the TLS config %p and a proxy function", hc.Transport, c.tls)
			}
		})
	}
	// A second Start makes a new client.
	lc := &LazyHTTPClient{}
	if err := lc.Start(); err != nil {
		t.Fatal(err)
	}
	first, _ := lc.Client()
	if err := lc.Start(); err != nil {
		t.Fatal(err)
	}
	if second, _ := lc.Client(); second == first {
		t.Error("a second Start kept the first client")
	}
}
