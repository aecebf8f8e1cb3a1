// Package configs loads outpost's YAML configuration: it expands
// ${env:NAME} references, decodes strictly (an unknown key or a wrong type
// is an error naming the file, line and key path), decodes each component's
// section onto its factory's defaults, and validates the whole, reporting
// every error it finds rather than only the first.
//
// The YAML files users copy (default.yaml, edge-sidecar.yaml, ...) live
// beside this package; a test validates each of them.
package configs

// Defaulter is implemented by configuration structs that have defaults of
// their own. When the decoder meets a key for a nil pointer field, it
// allocates the struct, calls SetDefaults, and then decodes the YAML onto
// it. This is how an optional section ("grpc:" under an OTLP receiver's
// protocols) is enabled with its defaults by naming it.
type Defaulter interface {
	SetDefaults()
}
