package redactionprocessor

import (
	"errors"
	"fmt"
	"regexp"
)

// Summary levels.
const (
	SummaryDebug  = "debug"  // counts and key names
	SummaryInfo   = "info"   // counts only
	SummarySilent = "silent" // nothing
)

// Hash functions for hash_function.
const (
	HashMD5        = "md5"
	HashSHA1       = "sha1"
	HashSHA3       = "sha3" // SHA3-256
	HashHMACSHA256 = "hmac-sha256"
	HashHMACSHA512 = "hmac-sha512"
)

// Config is the redaction processor's configuration, with the keys of the
// OpenTelemetry Collector contrib's redactionprocessor (see doc.go for
// what applies where and what is left out).
type Config struct {
	// AllowAllKeys keeps every key; blocked_values still apply.
	AllowAllKeys bool `yaml:"allow_all_keys"`
	// AllowedKeys are the keys kept; every other key is removed. Empty with
	// allow_all_keys false removes every key (fails closed).
	AllowedKeys []string `yaml:"allowed_keys"`
	// IgnoredKeys pass untouched: never removed, never masked.
	IgnoredKeys []string `yaml:"ignored_keys"`
	// IgnoredKeyPatterns are regular expressions; matching keys pass
	// untouched.
	IgnoredKeyPatterns []string `yaml:"ignored_key_patterns"`
	// BlockedKeyPatterns are regular expressions; the whole value of a kept
	// key that matches one is masked.
	BlockedKeyPatterns []string `yaml:"blocked_key_patterns"`
	// BlockedValues are regular expressions; every match in a kept value is
	// masked (each list entry applied in turn to the result of the ones
	// before it).
	BlockedValues []string `yaml:"blocked_values"`
	// AllowedValues are regular expressions; a blocked match that lies
	// inside a match of one of them is left as it is.
	AllowedValues []string `yaml:"allowed_values"`
	// RedactAllTypes also masks int, double and bool attribute values, by
	// their string form (a masked value becomes a string).
	RedactAllTypes bool `yaml:"redact_all_types"`
	// HashFunction replaces a masked part by its lowercase hex hash instead
	// of "****": md5, sha1, sha3 (SHA3-256), hmac-sha256 or hmac-sha512.
	HashFunction string `yaml:"hash_function"`
	// HMACKey is the key of the hmac-* hash functions (required for them).
	HMACKey string `yaml:"hmac_key"`
	// Summary adds diagnostic attributes (redaction.redacted.keys, …):
	// debug (counts and key names), info (counts) or silent.
	Summary string `yaml:"summary"`
}

func createDefaultConfig() *Config { return &Config{Summary: SummarySilent} }

// Validate reports every problem in the configuration.
func (c *Config) Validate() error {
	var errs []error
	for _, l := range []struct {
		key  string
		list []string
	}{
		{"ignored_key_patterns", c.IgnoredKeyPatterns},
		{"blocked_key_patterns", c.BlockedKeyPatterns},
		{"blocked_values", c.BlockedValues},
		{"allowed_values", c.AllowedValues},
	} {
		for i, p := range l.list {
			if _, err := regexp.Compile(p); err != nil {
				errs = append(errs, fmt.Errorf("%s[%d]: invalid regular expression: %w", l.key, i, err))
			}
		}
	}
	switch c.HashFunction {
	case "", HashMD5, HashSHA1, HashSHA3:
		if c.HMACKey != "" {
			errs = append(errs, fmt.Errorf("hmac_key: only used with hash_function hmac-sha256 or hmac-sha512"))
		}
	case HashHMACSHA256, HashHMACSHA512:
		if c.HMACKey == "" {
			errs = append(errs, fmt.Errorf("hmac_key: required with hash_function %s", c.HashFunction))
		}
	default:
		errs = append(errs, fmt.Errorf("hash_function: must be md5, sha1, sha3, hmac-sha256 or hmac-sha512 (got %q)", c.HashFunction))
	}
	switch c.Summary {
	case SummaryDebug, SummaryInfo, SummarySilent:
	default:
		errs = append(errs, fmt.Errorf("summary: must be debug, info or silent (got %q)", c.Summary))
	}
	return errors.Join(errs...)
}
