// Package redactionprocessor implements the redaction processor
// ("redaction"): it removes attributes whose keys are not allowed and masks
// (or hashes) secrets in the values it keeps, for all three signals, with
// the configuration keys of the OpenTelemetry Collector contrib's
// redactionprocessor.
//
// # Where it applies
//
// Every attribute map of a batch: resource, scope, span, span event, span
// link, log record and metric data point attributes; log record bodies; and,
// for blocked_values only, span names, span event names and span status
// messages (an outpost addition: they have no key). Maps nested in values,
// at any depth, get the same key rules as top-level attributes; lists are
// searched element by element.
//
// # Rules, in order, for each key
//
//  1. ignored_keys / ignored_key_patterns: left as it is.
//  2. Not in allowed_keys (unless allow_all_keys): removed. The summary
//     attributes (redaction.*) are always allowed.
//  3. blocked_key_patterns match the key: the whole value is masked (a
//     map or list: every value inside it), unless one allowed_values match
//     covers the whole value.
//  4. Otherwise every match of blocked_values in the value is masked,
//     except a match that lies inside a match of allowed_values.
//
// Masked means replaced by "****", or with hash_function by the lowercase
// hex digest of the masked text (md5, sha1, sha3 = SHA3-256, hmac-sha256 or
// hmac-sha512 with hmac_key). String values are always searched; int,
// double and bool attribute values only with redact_all_types (a masked one
// becomes a string); in log bodies every scalar is searched by its string
// form, as the Collector does. Bytes values are masked only whole (rule 3).
//
// Differences from the Collector: a value that matches allowed_values is
// not exempt as a whole, only the blocked matches inside the allowed
// matches are (the README's rule; the Collector's code exempts the whole
// value, which lets "a@mycompany.com 4111…" through); maps nested in
// attribute values are redacted (the Collector leaves them); span names,
// event names and status messages are searched. Left out: url_sanitizer, db_sanitizer and the
// OTTL-based skip conditions; each is an unknown-key error.
//
// # What it reports
//
// summary debug adds redaction.redacted.keys / .count (removed),
// redaction.masked.keys / .count, redaction.allowed.keys / .count (blocked
// matches left alone by allowed_values) and redaction.ignored.count to the
// map it changed, and redaction.body.* to a record's attributes for its
// body; info adds only the counts; silent (the default) nothing. Nested keys
// are named with dots (user.email) and list positions in brackets.
// outpost_processor_redacted_total counts each changed value by reason
// (key_not_allowed, blocked_key, blocked_value).
//
// The processor changes batches in place and synchronously
// (internal/inplace), holds no state and drops no item.
package redactionprocessor
