// Package serverconfig holds the security blocks that network receivers
// share, the server-side counterpart of internal/clientconfig: `tls`
// (TLS, and mutual TLS with client_ca_file), `auth` (the bearer token or
// basic credentials a client must present) and, for HTTP, `cors`. Key
// names are the OpenTelemetry Collector's where it has them
// (configtls.ServerConfig, confighttp.CORSConfig); `auth` has the shape
// of the exporters' `auth` block, because the Collector's server
// authenticators are extensions, which outpost does not have.
//
// Files are followed, through internal/filewatch as the exporters' are:
// the certificate and key at each TLS handshake (GetConfigForClient), the
// client CA bundle likewise, the token or password file at each request.
// A file is re-read only when a stat shows it changed, so a rotated
// certificate is served from the next connection and a rotated token
// required from the next request, without a restart or a reload. A change
// that does not load (a certificate written before its key) keeps the
// previous contents and is logged. New reads every file once, so a
// missing or invalid one fails the configuration, naming its key.
//
// Adopting it in a receiver takes one field per block in the protocol's
// config struct and one call per use:
//
//	TLS  *serverconfig.TLS  `yaml:"tls"`
//	Auth *serverconfig.Auth `yaml:"auth"`
//	CORS *serverconfig.CORS `yaml:"cors"` // HTTP receivers that browsers send to
//
//	// Validate: the errors are named tls.cert_file, auth.basic.username, ...
//	errs = append(errs, serverconfig.Blocks{TLS: c.TLS, Auth: c.Auth}.Validate())
//	// Create: reads the files.
//	sec, err := serverconfig.New(serverconfig.Blocks{TLS: c.TLS, Auth: c.Auth}, logger)
//	// Start, after the listener is open:
//	sec.WarnIfExposed(logger, "http", c.Endpoint)
//	// HTTP (remote write, Loki push):
//	server.Handler = sec.HTTPHandler(mux, denied) // denied writes the 401 and counts it
//	go server.Serve(sec.HTTPListener(ln))
//	// gRPC:
//	grpc.NewServer(append(opts, sec.GRPCServerOptions(denied)...)...)
//	// raw TCP (syslog over TLS, RFC 5425):
//	ln = sec.Listener(ln)
//	// any other protocol: sec.Authenticate(authorizationValue)
//	// answering a pipeline error, never with err.Error() (paths, URLs):
//	http.Error(w, serverconfig.ClientMessage(err), code); logger.Warn(..., "error", err)
//
// Requests refused for their credentials are counted by the receiver in
// outpost_receiver_bad_requests_total with reason `unauthenticated`, and
// answered 401 (HTTP, with WWW-Authenticate) or UNAUTHENTICATED (gRPC),
// with a message that says nothing of what was expected. gRPC checks run
// in a tap handle, before the request message is read or charged to
// memory_limit; HTTP checks run before the body is read.
//
// WarnIfExposed logs, at start, a listener on a non-loopback address
// (":4317", 0.0.0.0 and [::] included) that lacks TLS or authentication
// (a bearer token, basic auth, or mutual TLS: client_ca_file).
//
// Deliberately not here: several users or tokens per receiver, htpasswd
// files, OIDC or other token validation, per-client authorisation
// (which tenant a client may write), TLS session resumption tuning, and a
// reload_interval (files are stat'ed at each use instead), and the
// receivers' TLS-terminating proxy mode (PROXY protocol).
package serverconfig
