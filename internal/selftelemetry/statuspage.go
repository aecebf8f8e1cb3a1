package selftelemetry

import (
	_ "embed"
	"net/http"
)

// statusPage is the status page: one HTML file with its CSS and script
// inline, no external assets, so that it works on an air-gapped node. Its
// script polls /api/v1/status every two seconds.
//
//go:embed status.html
var statusPage []byte

func serveStatusPage(w http.ResponseWriter, _ *http.Request) {
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	// The page loads nothing from elsewhere; say so to the browser.
	h.Set("Content-Security-Policy", "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; connect-src 'self'; img-src data:")
	h.Set("X-Content-Type-Options", "nosniff")
	_, _ = w.Write(statusPage)
}
