package clientconfig

import (
	"context"
	"encoding/base64"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestSecretsNotShown(t *testing.T) {
	type exporterConfig struct { // as an exporter's Config holds them
		Endpoint string
		Headers  Headers
		Auth     Auth
	}
	cfg := exporterConfig{
		Endpoint: "jaeger:4317",
		Headers:  Headers{"X-Scope-OrgID": "tenant-secret", "authorization": "Bearer header-secret"},
		Auth:     Auth{Basic: BasicAuth{Username: "edge", Password: "pw-secret"}},
	}
	a, err := cfg.Auth.Load(nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, verb := range []string{"%v", "%+v", "%#v", "%s"} {
		for _, v := range []any{cfg, &cfg, cfg.Auth, cfg.Headers, a} {
			out := fmt.Sprintf(verb, v)
			for _, secret := range []string{"secret", base64.StdEncoding.EncodeToString([]byte("edge:pw-secret"))} {
				if strings.Contains(out, secret) {
					t.Errorf("%s of %T shows a secret: %s", verb, v, out)
				}
			}
		}
	}
	if got := fmt.Sprintf("%+v", cfg); !strings.Contains(got, "X-Scope-OrgID:[redacted]") || !strings.Contains(got, "Username:edge") || !strings.Contains(got, "Password:[redacted]") {
		t.Errorf("%%+v = %s", got)
	}
	if Secret("").String() != "" {
		t.Error("an empty secret shows as set")
	}
}

func TestAuthValidate(t *testing.T) {
	for _, tc := range []struct {
		auth Auth
		want string
	}{
		{Auth{}, ""},
		{Auth{BearerTokenFile: "t"}, ""},
		{Auth{Basic: BasicAuth{Username: "u", Password: "p"}}, ""},
		{Auth{Basic: BasicAuth{Username: "u", PasswordFile: "f"}}, ""},
		{Auth{BearerTokenFile: "t", Basic: BasicAuth{Username: "u", Password: "p"}}, "bearer_token_file, basic: give one or the other"},
		{Auth{Basic: BasicAuth{Password: "p"}}, "basic.username: required"},
		{Auth{Basic: BasicAuth{Username: "a:b", Password: "p"}}, "basic.username: may not contain ':'"},
		{Auth{Basic: BasicAuth{Username: "u"}}, "basic.password, basic.password_file: give one"},
		{Auth{Basic: BasicAuth{Username: "u", Password: "p", PasswordFile: "f"}}, "give one"},
	} {
		err := tc.auth.Validate()
		if tc.want == "" && err != nil || tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)) {
			t.Errorf("%+v: got %v, want %q", tc.auth, err, tc.want)
		}
	}
}

func TestAuthLoad(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	if a, err := (Auth{}).Load(nil); a != nil || err != nil {
		t.Fatalf("none: %v %v", a, err)
	}
	value := func(a *Authorizer) string {
		t.Helper()
		v, err := a.Value()
		if err != nil {
			t.Fatal(err)
		}
		md, err := a.GetRequestMetadata(context.Background())
		if err != nil || md["authorization"] != v {
			t.Fatalf("metadata %v %v", md, err)
		}
		return v
	}

	tok := write("token", "abc\n")
	a, err := Auth{BearerTokenFile: tok}.Load(nil)
	if err != nil {
		t.Fatal(err)
	}
	if v := value(a); v != "Bearer abc" {
		t.Fatalf("bearer %q", v)
	}
	write("token", "def\n")
	if v := value(a); v != "Bearer def" {
		t.Fatalf("after rotation %q", v)
	}
	// An emptied file (being rewritten) keeps the last token; a removed
	// one too.
	write("token", "")
	if v := value(a); v != "Bearer def" {
		t.Fatalf("emptied file: %q", v)
	}
	os.Remove(tok)
	if v := value(a); v != "Bearer def" {
		t.Fatalf("removed file: %q", v)
	}

	pw := write("pw", "s3cret\n")
	a, err = Auth{Basic: BasicAuth{Username: "edge", PasswordFile: pw}}.Load(nil)
	if err != nil {
		t.Fatal(err)
	}
	if v := value(a); v != "Basic "+base64.StdEncoding.EncodeToString([]byte("edge:s3cret")) {
		t.Fatalf("basic %q", v)
	}
	a, err = Auth{Basic: BasicAuth{Username: "edge", Password: "inline"}}.Load(nil)
	if err != nil {
		t.Fatal(err)
	}
	if v := value(a); v != "Basic "+base64.StdEncoding.EncodeToString([]byte("edge:inline")) {
		t.Fatalf("basic inline %q", v)
	}

	for _, tc := range []struct {
		auth Auth
		want string
	}{
		{Auth{BearerTokenFile: filepath.Join(dir, "missing")}, "bearer_token_file: stat"},
		{Auth{BearerTokenFile: write("empty", " \n")}, "bearer_token_file: empty"},
		{Auth{Basic: BasicAuth{Username: "u", PasswordFile: filepath.Join(dir, "missing")}}, "basic.password_file: stat"},
	} {
		if _, err := tc.auth.Load(nil); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: %v, want %q", tc.auth, err, tc.want)
		}
	}
}
