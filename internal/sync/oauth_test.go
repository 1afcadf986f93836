package sync

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"strings"
	"testing"

	"github.com/dirsync/dirsync/internal/config"
	"github.com/dirsync/dirsync/internal/directory/okta"
	"github.com/dirsync/dirsync/internal/directory/okta/oktatest"
	"github.com/dirsync/dirsync/internal/store"
)

// oauthHarness is a harness whose settings use an OAuth service app
// (DPoP on) instead of the API token.
func oauthHarness(t *testing.T, adminRole bool) *harness {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	h := newHarness(t, smallOrg(), func(s *config.Settings) {
		config.Edit(&s.Directory, func(o *okta.Settings) { o.Token = "" })
		config.Edit(&s.Directory, func(o *okta.Settings) { o.ClientID = "0oaEngineApp1" })
		config.Edit(&s.Directory, func(o *okta.Settings) { o.KeyID = "main" })
		config.Edit(&s.Directory, func(o *okta.Settings) {
			o.PrivateKey = config.Secret(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}))
		})
	})
	h.okta.SetOAuthApp(oktatest.OAuthApp{ClientID: "0oaEngineApp1", Keys: []oktatest.AppKey{{KID: "main", Public: &k.PublicKey}},
		DPoP: true, AdminRole: adminRole, APINonce: true, Granted: []string{oktatest.ScopeUsersRead, oktatest.ScopeGroupsRead}})
	return h
}

func TestSyncWithOAuthServiceApp(t *testing.T) {
	h := oauthHarness(t, true)
	if s := h.settings(); !okta.Of(s.Directory).PrivateKey.IsSet() || okta.Of(s.Directory).Token.IsSet() {
		t.Fatal("the private key was not stored, or a token was")
	}
	h.mustRun(StatusSuccess)
	if h.imports() != 1 {
		t.Fatalf("%d imports", h.imports())
	}
	h.mustRun(StatusUnchanged)
	schemes := h.okta.AuthSchemes()
	if schemes["SSWS"] != 0 || schemes["DPoP"] == 0 || len(schemes) != 1 {
		t.Fatalf("Authorization schemes the fake saw: %v", schemes)
	}
	// Two runs (two okta clients), one token.
	if n := h.okta.TokensMinted(); n != 1 {
		t.Errorf("%d tokens minted for two runs", n)
	}
}

func TestSyncWithOAuthAppWithoutAdminRole(t *testing.T) {
	h := oauthHarness(t, false)
	res, err := h.engine.Run(context.Background(), store.DefaultProfile, Options{Trigger: TriggerCLI, Mode: ModeSync})
	if err == nil && res.Run.Status != StatusFailed {
		t.Fatalf("run %q", res.Run.Status)
	}
	msg := res.Run.Error
	if err != nil {
		msg = err.Error()
	}
	for _, want := range []string{"403 E0000006", "Admin roles", "Read-only Administrator"} {
		if !strings.Contains(msg, want) {
			t.Errorf("run error lacks %q: %s", want, msg)
		}
	}
	if strings.Contains(msg, "PRIVATE KEY") || h.imports() != 0 {
		t.Errorf("key in message or something pushed")
	}
}
