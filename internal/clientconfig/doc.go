// Package clientconfig holds the configuration blocks that clients (the
// exporters) share, starting with TLS.
//
// It does not reload certificates when their files change; a later change
// adds that behind the same Load call.
package clientconfig
