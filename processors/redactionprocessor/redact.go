package redactionprocessor

import (
	"crypto/hmac"
	"crypto/md5"  //nolint:gosec // a configured pseudonymisation choice, as in the Collector
	"crypto/sha1" //nolint:gosec // idem
	"crypto/sha256"
	"crypto/sha3"
	"crypto/sha512"
	"encoding/hex"
	"hash"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"go.opentelemetry.io/collector/pdata/pcommon"
)

// mask replaces a blocked part when no hash function is configured.
const mask = "****"

// Diagnostic attributes (summary debug/info), as the Collector names them.
const (
	attrRedactedKeys      = "redaction.redacted.keys"
	attrRedactedCount     = "redaction.redacted.count"
	attrMaskedKeys        = "redaction.masked.keys"
	attrMaskedCount       = "redaction.masked.count"
	attrAllowedKeys       = "redaction.allowed.keys"
	attrAllowedCount      = "redaction.allowed.count"
	attrIgnoredCount      = "redaction.ignored.count"
	attrBodyRedactedKeys  = "redaction.body.redacted.keys"
	attrBodyRedactedCount = "redaction.body.redacted.count"
	attrBodyMaskedKeys    = "redaction.body.masked.keys"
	attrBodyMaskedCount   = "redaction.body.masked.count"
	attrBodyAllowedKeys   = "redaction.body.allowed.keys"
	attrBodyAllowedCount  = "redaction.body.allowed.count"
	attrBodyIgnoredCount  = "redaction.body.ignored.count"
)

var summaryKeys = []string{
	attrRedactedKeys, attrRedactedCount, attrMaskedKeys, attrMaskedCount,
	attrAllowedKeys, attrAllowedCount, attrIgnoredCount,
	attrBodyRedactedKeys, attrBodyRedactedCount, attrBodyMaskedKeys, attrBodyMaskedCount,
	attrBodyAllowedKeys, attrBodyAllowedCount, attrBodyIgnoredCount,
}

// redactor is the compiled configuration; immutable and safe for
// concurrent use.
type redactor struct {
	allowAll       bool
	allowed        map[string]bool // allowed_keys and the summary keys
	ignored        map[string]bool
	ignoredRE      []*regexp.Regexp
	blockedKeyRE   []*regexp.Regexp
	blockedRE      []*regexp.Regexp
	allowedRE      []*regexp.Regexp
	allTypes       bool
	newHash        func() hash.Hash // nil: mask with "****"
	summary        string
	summaryEnabled bool
}

func newRedactor(c *Config) (*redactor, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	r := &redactor{
		allowAll:       c.AllowAllKeys,
		allowed:        map[string]bool{},
		ignored:        map[string]bool{},
		allTypes:       c.RedactAllTypes,
		summary:        c.Summary,
		summaryEnabled: c.Summary == SummaryDebug || c.Summary == SummaryInfo,
	}
	for _, k := range c.AllowedKeys {
		r.allowed[k] = true
	}
	for _, k := range summaryKeys {
		r.allowed[k] = true
	}
	for _, k := range c.IgnoredKeys {
		r.ignored[k] = true
	}
	// Validate compiled every pattern already.
	compile := func(list []string) []*regexp.Regexp {
		out := make([]*regexp.Regexp, len(list))
		for i, p := range list {
			out[i] = regexp.MustCompile(p)
		}
		return out
	}
	r.ignoredRE = compile(c.IgnoredKeyPatterns)
	r.blockedKeyRE = compile(c.BlockedKeyPatterns)
	r.blockedRE = compile(c.BlockedValues)
	r.allowedRE = compile(c.AllowedValues)
	key := []byte(c.HMACKey)
	switch c.HashFunction {
	case HashMD5:
		r.newHash = md5.New
	case HashSHA1:
		r.newHash = sha1.New
	case HashSHA3:
		r.newHash = func() hash.Hash { return sha3.New256() }
	case HashHMACSHA256:
		r.newHash = func() hash.Hash { return hmac.New(sha256.New, key) }
	case HashHMACSHA512:
		r.newHash = func() hash.Hash { return hmac.New(sha512.New, key) }
	}
	return r, nil
}

// counts is what one batch changed, for the metric.
type counts struct {
	keyNotAllowed, blockedKey, blockedValue int
}

// report collects, for one map, the keys named in the summary.
type report struct {
	redacted, masked, allowed []string
	ignored                   int
}

func (r *redactor) ignoredKey(k string) bool {
	if r.ignored[k] {
		return true
	}
	for _, re := range r.ignoredRE {
		if re.MatchString(k) {
			return true
		}
	}
	return false
}

func (r *redactor) blockedKey(k string) bool {
	for _, re := range r.blockedKeyRE {
		if re.MatchString(k) {
			return true
		}
	}
	return false
}

// attributes redacts one attribute map (resource, scope, span, event,
// link, log record or data point attributes) and adds its summary.
func (r *redactor) attributes(m pcommon.Map, c *counts) {
	var rep report
	r.redactMap(m, "", false, &rep, c)
	r.addSummary(m, &rep, false)
}

// body redacts a log record's body; its summary goes to the record's
// attributes under redaction.body.*.
func (r *redactor) body(body pcommon.Value, attrs pcommon.Map, c *counts) {
	var rep report
	switch body.Type() {
	case pcommon.ValueTypeMap:
		r.redactMap(body.Map(), "", true, &rep, c)
	case pcommon.ValueTypeSlice:
		r.redactSlice(body.Slice(), "", true, &rep, c)
	default:
		r.redactScalar(body, "body", true, false, &rep, c)
	}
	r.addSummary(attrs, &rep, true)
}

// redactMap applies the key rules to every key of m and the value rules to
// the values it keeps, recursing into nested maps and lists. path prefixes
// the keys named in the summary; inBody says whether m is (part of) a log
// body, whose scalars are always masked by their string form.
func (r *redactor) redactMap(m pcommon.Map, path string, inBody bool, rep *report, c *counts) {
	var remove []string
	for k, v := range m.All() {
		name := k
		if path != "" {
			name = path + "." + k
		}
		switch {
		case r.ignoredKey(k):
			rep.ignored++
		case !r.allowAll && !r.allowed[k]:
			remove = append(remove, k)
			rep.redacted = append(rep.redacted, name)
			c.keyNotAllowed++
		case r.blockedKey(k):
			r.maskWhole(v, name, inBody, rep, c)
		default:
			r.redactValue(v, name, inBody, rep, c)
		}
	}
	for _, k := range remove {
		m.Remove(k)
	}
}

func (r *redactor) redactSlice(s pcommon.Slice, path string, inBody bool, rep *report, c *counts) {
	for i, v := range s.All() {
		r.redactValue(v, path+"["+strconv.Itoa(i)+"]", inBody, rep, c)
	}
}

func (r *redactor) redactValue(v pcommon.Value, name string, inBody bool, rep *report, c *counts) {
	switch v.Type() {
	case pcommon.ValueTypeMap:
		r.redactMap(v.Map(), name, inBody, rep, c)
	case pcommon.ValueTypeSlice:
		r.redactSlice(v.Slice(), name, inBody, rep, c)
	default:
		r.redactScalar(v, name, inBody, false, rep, c)
	}
}

// maskWhole masks the whole of a value whose key is blocked: a map or list
// has every scalar inside it masked whole.
func (r *redactor) maskWhole(v pcommon.Value, name string, inBody bool, rep *report, c *counts) {
	switch v.Type() {
	case pcommon.ValueTypeMap:
		for k, x := range v.Map().All() {
			r.maskWhole(x, name+"."+k, inBody, rep, c)
		}
	case pcommon.ValueTypeSlice:
		for i, x := range v.Slice().All() {
			r.maskWhole(x, name+"["+strconv.Itoa(i)+"]", inBody, rep, c)
		}
	default:
		r.redactScalar(v, name, inBody, true, rep, c)
	}
}

// redactScalar masks a string (or, with redact_all_types or in a body, a
// number or bool by its string form): whole, or the blocked matches in it.
func (r *redactor) redactScalar(v pcommon.Value, name string, inBody, whole bool, rep *report, c *counts) {
	var s string
	switch v.Type() {
	case pcommon.ValueTypeStr:
		s = v.Str()
	case pcommon.ValueTypeInt, pcommon.ValueTypeDouble, pcommon.ValueTypeBool:
		if !r.allTypes && !inBody && !whole {
			return
		}
		s = v.AsString()
	case pcommon.ValueTypeEmpty:
		return
	default: // bytes: masked only whole (their string form is base64)
		if !whole {
			return
		}
		s = v.AsString()
	}
	if whole {
		if r.allowedWhole(s) {
			rep.allowed = append(rep.allowed, name)
			return
		}
		v.SetStr(r.replacement(s))
		rep.masked = append(rep.masked, name)
		c.blockedKey++
		return
	}
	out, masked, spared := r.maskString(s)
	if spared {
		rep.allowed = append(rep.allowed, name)
	}
	if masked {
		v.SetStr(out)
		rep.masked = append(rep.masked, name)
		c.blockedValue++
	}
}

// allowedWhole reports whether an allowed_values match covers all of s.
func (r *redactor) allowedWhole(s string) bool {
	for _, re := range r.allowedRE {
		for _, loc := range re.FindAllStringIndex(s, -1) {
			if loc[0] == 0 && loc[1] == len(s) {
				return true
			}
		}
	}
	return false
}

// maskString replaces every match of the blocked_values in s (each pattern
// in turn, on the result of the ones before it) that does not lie inside a
// match of an allowed_values pattern. It reports whether it masked
// anything and whether it left a blocked match alone because it was
// allowed.
func (r *redactor) maskString(s string) (out string, masked, spared bool) {
	for _, re := range r.blockedRE {
		locs := re.FindAllStringIndex(s, -1)
		if locs == nil {
			continue
		}
		var allowed [][]int
		for _, a := range r.allowedRE {
			allowed = append(allowed, a.FindAllStringIndex(s, -1)...)
		}
		var b strings.Builder
		last, changed := 0, false
		for _, loc := range locs {
			if loc[0] == loc[1] {
				continue // an empty match hides nothing
			}
			if inside(allowed, loc) {
				spared = true
				continue
			}
			b.WriteString(s[last:loc[0]])
			b.WriteString(r.replacement(s[loc[0]:loc[1]]))
			last, changed = loc[1], true
		}
		if changed {
			b.WriteString(s[last:])
			s, masked = b.String(), true
		}
	}
	return s, masked, spared
}

func inside(spans [][]int, loc []int) bool {
	for _, sp := range spans {
		if sp[0] <= loc[0] && loc[1] <= sp[1] {
			return true
		}
	}
	return false
}

// replacement is what a blocked part becomes: "****" or its hex hash.
func (r *redactor) replacement(part string) string {
	if r.newHash == nil {
		return mask
	}
	h := r.newHash()
	h.Write([]byte(part))
	return hex.EncodeToString(h.Sum(nil))
}

// addSummary writes the diagnostic attributes of rep to attrs, adding to
// what an earlier redaction processor wrote there.
func (r *redactor) addSummary(attrs pcommon.Map, rep *report, body bool) {
	if !r.summaryEnabled {
		return
	}
	k := [7]string{attrRedactedKeys, attrRedactedCount, attrMaskedKeys, attrMaskedCount, attrAllowedKeys, attrAllowedCount, attrIgnoredCount}
	if body {
		k = [7]string{attrBodyRedactedKeys, attrBodyRedactedCount, attrBodyMaskedKeys, attrBodyMaskedCount, attrBodyAllowedKeys, attrBodyAllowedCount, attrBodyIgnoredCount}
	}
	r.addKeys(attrs, rep.redacted, k[0], k[1])
	r.addKeys(attrs, rep.masked, k[2], k[3])
	r.addKeys(attrs, rep.allowed, k[4], k[5])
	if rep.ignored > 0 {
		addCount(attrs, k[6], int64(rep.ignored))
	}
}

func (r *redactor) addKeys(attrs pcommon.Map, keys []string, keysAttr, countAttr string) {
	if len(keys) == 0 {
		return
	}
	if r.summary == SummaryDebug {
		all := keys
		if old, ok := attrs.Get(keysAttr); ok && old.Str() != "" {
			all = append(strings.Split(old.Str(), ","), keys...)
		}
		sort.Strings(all)
		attrs.PutStr(keysAttr, strings.Join(all, ","))
	}
	addCount(attrs, countAttr, int64(len(keys)))
}

func addCount(attrs pcommon.Map, key string, n int64) {
	if old, ok := attrs.Get(key); ok && old.Type() == pcommon.ValueTypeInt {
		n += old.Int()
	}
	attrs.PutInt(key, n)
}
