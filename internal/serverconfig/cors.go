package serverconfig

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/rs/cors"
)

// CORS is the `cors` block of an HTTP receiver: which web pages (origins)
// a browser lets send to it (Cross-Origin Resource Sharing), for telemetry
// from browser applications. Key names are the OpenTelemetry Collector's
// (confighttp.CORSConfig). Leaving the block out sends no CORS headers,
// and browsers then refuse cross-origin requests.
type CORS struct {
	// AllowedOrigins are the origins allowed, as scheme://host[:port];
	// one `*` in an entry matches any characters
	// ("https://*.example.com"), and "*" alone allows every origin.
	// Required when the block is given.
	AllowedOrigins []string `yaml:"allowed_origins"`
	// AllowedHeaders are the request headers allowed beyond the
	// CORS-safelisted ones; Content-Type, Content-Encoding and (with
	// `auth`) Authorization are always allowed. "*" allows any.
	AllowedHeaders []string `yaml:"allowed_headers"`
	// MaxAge is how long, in seconds, a browser may cache a preflight
	// answer; 0 sends no Access-Control-Max-Age (browsers then keep it for
	// 5 seconds).
	MaxAge int `yaml:"max_age"`
}

// Validate reports every problem, named by its key below `cors`.
func (c *CORS) Validate() error {
	var errs []error
	if len(c.AllowedOrigins) == 0 {
		errs = append(errs, errors.New("allowed_origins: required (\"*\" for every origin)"))
	}
	for _, o := range c.AllowedOrigins {
		if o == "*" {
			continue
		}
		if strings.Count(o, "*") > 1 {
			errs = append(errs, fmt.Errorf("allowed_origins: %q has more than one '*'", o))
			continue
		}
		u, err := url.Parse(strings.Replace(o, "*", "x", 1))
		if err != nil || u.Scheme == "" || u.Host == "" || (u.Path != "" && u.Path != "/") || u.RawQuery != "" {
			errs = append(errs, fmt.Errorf("allowed_origins: want scheme://host[:port], got %q", o))
		}
	}
	if c.MaxAge < 0 {
		errs = append(errs, fmt.Errorf("max_age: must be ≥ 0 (got %d)", c.MaxAge))
	}
	return errors.Join(errs...)
}

// handler wraps next: preflight requests (OPTIONS with
// Access-Control-Request-Method) are answered here, 204, and actual
// requests from an allowed origin get Access-Control-Allow-Origin (on
// every answer, errors and 401 included, so a browser application can read
// them) with Retry-After exposed. Credentialed requests are allowed unless
// allowed_origins holds "*".
func (c *CORS) handler(next http.Handler, withAuth bool) http.Handler {
	headers := append([]string{"Content-Type", "Content-Encoding"}, c.AllowedHeaders...)
	if withAuth {
		headers = append(headers, "Authorization")
	}
	return cors.New(cors.Options{
		AllowedOrigins: c.AllowedOrigins,
		AllowedMethods: []string{http.MethodPost},
		AllowedHeaders: headers,
		ExposedHeaders: []string{"Retry-After"},
		MaxAge:         c.MaxAge,
		// Credentialed requests (cookies, the browser's own basic-auth
		// cache, client certificates) as the Collector allows them, but
		// not from every origin: with "*" a page anywhere could send on
		// the user's browser credentials. An Authorization header set by
		// the page's code needs no credentials mode.
		AllowCredentials: !slices.Contains(c.AllowedOrigins, "*"),
	}).Handler(next)
}
