package ldap

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	ber "github.com/go-asn1-ber/asn1-ber"
	ldap "github.com/go-ldap/ldap/v3"

	"github.com/dirsync/dirsync/internal/directory"
)

var (
	bobGUID   = []byte{0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88, 0x99, 0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff}
	bobID     = "33221100-5544-7766-8899-aabbccddeeff" // BDC's bufToGuid of bobGUID
	adminGUID = []byte{0x10, 0x32, 0x54, 0x76, 0x98, 0xba, 0xdc, 0xfe, 0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef}
	adminID   = "76543210-ba98-fedc-0123-456789abcdef"
)

func dnOf(uid string) string { return "uid=" + uid + ",ou=people," + testSuffix }
func gdn(cn string) string   { return "cn=" + cn + ",ou=groups," + testSuffix }

// testDirectory is the fixture: 15 users (more than the size limit, so
// only a paged read gets them all), groups with a cycle (eng ⇄ backend), a
// diamond (top → left, right → bottom), a member DN spelled differently,
// an AD-like group with an objectGUID, and posix groups with memberUid.
func testDirectory() string {
	var l ldif
	l.base()
	l.user("alice", "  Alice@Example.COM ")
	l.user("bob", "bob@example.com", "objectGUID", b64(bobGUID), "userAccountControl", "514")
	l.user("carol", "") // no mail: email from prefix+suffix, or empty
	l.user("dave", "dave@example.com", "userAccountControl", "512")
	for i := 1; i <= 10; i++ {
		l.user(fmt.Sprintf("u%02d", i), fmt.Sprintf("u%02d@example.com", i))
	}
	l.user("Zed", "zed@example.com") // a uid with capitals: memberUid matches it in any case
	// Not a user: a device under ou=people.
	l.entry("cn=printer,ou=people,"+testSuffix, "objectClass", "device", "cn", "printer")

	l.group("eng", dnOf("alice"), dnOf("bob"), gdn("backend"))
	l.group("backend", dnOf("carol"), gdn("eng")) // cycle
	l.group("top", gdn("left"), gdn("right"))
	l.group("left", gdn("bottom"))
	l.group("right", gdn("bottom"), dnOf("u01"))
	l.group("bottom", "UID=Dave, OU=People,DC=Example,DC=Com") // another spelling of dave's DN
	l.group("strays", "cn=printer,ou=people,"+testSuffix, testReaderDN, "cn=nobody,ou=groups,"+testSuffix)
	l.entry(gdn("admins"), "objectClass", "groupOfNames", "objectClass", "dirsyncTestAccount",
		"cn", "admins", "objectGUID", b64(adminGUID), "member", dnOf("u02"))

	l.entry("cn=staff,ou=posix,"+testSuffix, "objectClass", "posixGroup", "cn", "staff", "gidNumber", "100",
		"memberUid", "alice", "memberUid", "BOB", "memberUid", "ghost")
	l.entry("cn=ops,ou=posix,"+testSuffix, "objectClass", "posixGroup", "cn", "ops", "gidNumber", "101",
		"memberUid", "u03", "memberUid", "zED")
	return l.b.String()
}

var (
	sharedOnce sync.Once
	shared     *slapd
	sharedErr  string
	sharedEnv  = &mainEnv{}
)

// sharedSlapd is one server (with TLS) for the tests that only read,
// started by the first test that needs it and stopped by TestMain.
func sharedSlapd(t *testing.T) *slapd {
	t.Helper()
	findSlapd(t)
	sharedOnce.Do(func() {
		defer func() {
			if r := recover(); r != nil {
				sharedErr = fmt.Sprint(r)
			}
		}()
		shared = startSlapd(sharedEnv, slapdOptions{ldif: testDirectory(), tls: true})
	})
	if shared == nil {
		t.Fatalf("the shared slapd did not start: %s", sharedErr)
	}
	return shared
}

func TestMain(m *testing.M) {
	code := m.Run()
	sharedEnv.close()
	os.Exit(code)
}

func read(t *testing.T, cfg Config, opts directory.ReadOptions) *directory.Snapshot {
	t.Helper()
	src, err := New(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	snap, err := src.Read(context.Background(), opts)
	if err != nil {
		t.Fatal(err)
	}
	return snap
}

func groupsByName(snap *directory.Snapshot) map[string]directory.Group {
	m := map[string]directory.Group{}
	for _, g := range snap.Groups {
		m[g.Name] = g
	}
	return m
}

func TestReadUsersAndGroups(t *testing.T) {
	s := sharedSlapd(t)
	snap := read(t, s.config(), directory.ReadOptions{Users: true, Groups: true})

	want := map[string]directory.User{
		dnOf("alice"): {ID: dnOf("alice"), Email: "alice@example.com", Status: StatusActive},
		bobID:         {ID: bobID, Email: "bob@example.com", Status: StatusDisabled, Disabled: true},
		dnOf("carol"): {ID: dnOf("carol"), Email: "", Status: StatusActive},
		dnOf("dave"):  {ID: dnOf("dave"), Email: "dave@example.com", Status: StatusActive},
	}
	if len(snap.Users) != 15 {
		t.Fatalf("read %d users, want 15 (the server's size limit is %d: only a paged read gets them all)", len(snap.Users), testSizeLimit)
	}
	if !slices.IsSortedFunc(snap.Users, func(a, b directory.User) int { return strings.Compare(a.ID, b.ID) }) {
		t.Error("users are not sorted by id")
	}
	for _, u := range snap.Users {
		if w, ok := want[u.ID]; ok && u != w {
			t.Errorf("user %s = %+v, want %+v", u.ID, u, w)
		}
		delete(want, u.ID)
	}
	for id := range want {
		t.Errorf("user %s missing", id)
	}
	// 15 users in pages of 4 = 4 pages, plus ≥1 page of groups.
	if snap.Stats.Requests < 5 {
		t.Errorf("%d searches, want ≥ 5 (paged)", snap.Stats.Requests)
	}

	g := groupsByName(snap)
	members := func(name string, want ...string) {
		t.Helper()
		slices.Sort(want)
		got, ok := g[name]
		if !ok {
			t.Errorf("group %s missing", name)
			return
		}
		if !slices.Equal(got.MemberIDs, want) {
			t.Errorf("group %s members = %q, want %q", name, got.MemberIDs, want)
		}
	}
	// The cycle: each group of it has the users of both.
	members("eng", dnOf("alice"), bobID, dnOf("carol"))
	members("backend", dnOf("alice"), bobID, dnOf("carol"))
	// The diamond: dave once, through both sides.
	members("top", dnOf("dave"), dnOf("u01"))
	members("left", dnOf("dave"))
	members("right", dnOf("dave"), dnOf("u01"))
	members("bottom", dnOf("dave"))
	// Members that are neither users nor groups read are dropped.
	members("strays")
	members("admins", dnOf("u02"))
	if g["admins"].ID != adminID {
		t.Errorf("admins' id = %q, want its objectGUID as BDC writes it, %q", g["admins"].ID, adminID)
	}
	if g["eng"].ID != gdn("eng") {
		t.Errorf("eng's id = %q, want its DN", g["eng"].ID)
	}
	if len(g) != 8 {
		t.Errorf("%d groups, want the 8 groupOfNames", len(g))
	}
}

// TestServerForcesPaging proves the fixture's point: the same search
// without paging fails at the size limit.
func TestServerForcesPaging(t *testing.T) {
	s := sharedSlapd(t)
	c, err := ldap.DialURL(fmt.Sprintf("ldap://127.0.0.1:%d", s.port))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Bind(testReaderDN, testReaderPW); err != nil {
		t.Fatal(err)
	}
	_, err = c.Search(ldap.NewSearchRequest("ou=people,"+testSuffix, ldap.ScopeWholeSubtree, ldap.NeverDerefAliases,
		0, 0, false, "(objectClass=inetOrgPerson)", []string{"uid"}, nil))
	if !ldap.IsErrorWithCode(err, ldap.LDAPResultSizeLimitExceeded) {
		t.Fatalf("unpaged search: %v, want size limit exceeded", err)
	}
}

func TestPosixGroupsByMemberUid(t *testing.T) {
	s := sharedSlapd(t)
	cfg := s.config()
	cfg.GroupObjectClass, cfg.MemberAttribute, cfg.GroupPath = "posixGroup", "memberUid", "ou=posix"
	g := groupsByName(read(t, cfg, directory.ReadOptions{Groups: true}))
	if got := g["staff"].MemberIDs; !slices.Equal(got, []string{bobID, dnOf("alice")}) {
		t.Errorf("staff = %q, want alice and bob (uid matched case-insensitively), not the unknown ghost", got)
	}
	if got := g["ops"].MemberIDs; !slices.Equal(got, []string{dnOf("Zed"), dnOf("u03")}) {
		t.Errorf("ops = %q", got)
	}
}

func TestEmailPrefixSuffix(t *testing.T) {
	s := sharedSlapd(t)
	cfg := s.config()
	cfg.UseEmailPrefixSuffix, cfg.EmailPrefixAttribute, cfg.EmailSuffix = true, "uid", "@corp.example"
	snap := read(t, cfg, directory.ReadOptions{Users: true})
	for _, u := range snap.Users {
		switch u.ID {
		case dnOf("carol"):
			if u.Email != "carol@corp.example" {
				t.Errorf("carol's email = %q, want uid + suffix", u.Email)
			}
		case dnOf("alice"):
			if u.Email != "alice@example.com" {
				t.Errorf("alice's email = %q: the mail attribute wins over prefix+suffix", u.Email)
			}
		}
	}
}

func TestFilters(t *testing.T) {
	s := sharedSlapd(t)
	// The shared filter grammar allows one '|' only (issue 14's per-type
	// filter grammar will lift that), so the OR is written with & and !.
	uf, err := directory.ParseFilter("| (&(uid=*)(!(uid=bob))(!(uid=dave))(!(uid=u*))(!(uid=zed)))")
	if err != nil {
		t.Fatal(err)
	}
	gf, err := directory.ParseFilter("include:eng,top")
	if err != nil {
		t.Fatal(err)
	}
	snap := read(t, s.config(), directory.ReadOptions{Users: true, Groups: true, UserFilter: uf, GroupFilter: gf})
	var ids []string
	for _, u := range snap.Users {
		ids = append(ids, u.ID)
	}
	if !slices.Equal(ids, []string{dnOf("alice"), dnOf("carol")}) {
		t.Errorf("users = %q, want only the filter's", ids)
	}
	g := groupsByName(snap)
	if len(g) != 2 {
		t.Errorf("groups %v, want eng and top", g)
	}
	// Members follow the user filter (as in BDC); backend's carol comes
	// through the cycle although backend itself is filtered out.
	if got := g["eng"].MemberIDs; !slices.Equal(got, []string{dnOf("alice"), dnOf("carol")}) {
		t.Errorf("eng = %q", got)
	}
	if got := g["top"].MemberIDs; len(got) != 0 {
		t.Errorf("top = %q, want none (dave is filtered out)", got)
	}

	bad, _ := directory.ParseFilter("| uid=alice")
	src, _ := New(s.config(), nil)
	_, err = src.Read(context.Background(), directory.ReadOptions{Users: true, UserFilter: bad})
	var ce *ConfigError
	if !errors.As(err, &ce) || !strings.Contains(err.Error(), "RFC 4515") {
		t.Errorf("filter without parentheses: %v, want a ConfigError naming RFC 4515", err)
	}
}

func TestReadErrors(t *testing.T) {
	s := sharedSlapd(t)
	cfg := s.config()
	cfg.Password = "wrong"
	src, _ := New(cfg, nil)
	_, err := src.Read(context.Background(), directory.ReadOptions{Users: true})
	if err == nil || !strings.Contains(err.Error(), "refused the bind user") || strings.Contains(err.Error(), "wrong") {
		t.Errorf("wrong password: %v, want a refusal that does not echo the password", err)
	}

	cfg = s.config()
	cfg.UserPath = "ou=nowhere"
	src, _ = New(cfg, nil)
	_, err = src.Read(context.Background(), directory.ReadOptions{Users: true})
	if err == nil || !strings.Contains(err.Error(), `"ou=nowhere,dc=example,dc=com" does not exist`) {
		t.Errorf("missing base: %v", err)
	}

	cfg = s.config()
	cfg.Port = freePort(t)
	src, _ = New(cfg, nil)
	_, err = src.Read(context.Background(), directory.ReadOptions{Users: true})
	if err == nil || !strings.Contains(err.Error(), "cannot connect") {
		t.Errorf("closed port: %v", err)
	}
}

func TestTLS(t *testing.T) {
	s := sharedSlapd(t)
	for _, mode := range []string{"ldaps", "starttls"} {
		t.Run(mode, func(t *testing.T) {
			cfg := s.config()
			cfg.SSL = true
			if mode == "ldaps" {
				cfg.Port = s.tlsPort
			} else {
				cfg.StartTLS = true
			}
			src, _ := New(cfg, nil)
			_, err := src.Read(context.Background(), directory.ReadOptions{Users: true})
			if err == nil || !strings.Contains(err.Error(), "caCert") {
				t.Errorf("unknown CA: %v, want a refusal pointing to caCert", err)
			}
			cfg.CACert = s.caPEM
			if snap := read(t, cfg, directory.ReadOptions{Users: true}); len(snap.Users) != 15 {
				t.Errorf("with the CA: %d users", len(snap.Users))
			}
			cfg.CACert, cfg.SSLAllowUnauthorized = "", true
			if snap := read(t, cfg, directory.ReadOptions{Users: true}); len(snap.Users) != 15 {
				t.Errorf("without verification: %d users", len(snap.Users))
			}
			cfg.SSLAllowUnauthorized, cfg.CACert, cfg.Hostname = false, s.caPEM, "localhost"
			src, _ = New(cfg, nil)
			if _, err := src.Read(context.Background(), directory.ReadOptions{Users: true}); err == nil || !strings.Contains(err.Error(), "another name") {
				t.Errorf("wrong host name: %v", err)
			}
		})
	}
}

// hungServer accepts connections and never answers; asked is closed once
// the first request's bytes (the bind) have arrived.
func hungServer(t *testing.T) (port int, asked <-chan struct{}) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var conns []net.Conn
	var mu sync.Mutex
	first := make(chan struct{})
	var once sync.Once
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			go func() {
				buf := make([]byte, 1)
				if n, _ := c.Read(buf); n > 0 {
					once.Do(func() { close(first) })
				}
			}()
		}
	}()
	t.Cleanup(func() {
		l.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
	})
	return l.Addr().(*net.TCPAddr).Port, first
}

// bindOnlyServer answers every bind with success and nothing else.
func bindOnlyServer(t *testing.T) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				for {
					p, err := ber.ReadPacket(c)
					if err != nil || len(p.Children) < 2 {
						return
					}
					if p.Children[1].Tag != ldap.ApplicationBindRequest {
						continue // never answered
					}
					resp := ber.Encode(ber.ClassUniversal, ber.TypeConstructed, ber.TagSequence, nil, "LDAP Response")
					resp.AppendChild(ber.NewInteger(ber.ClassUniversal, ber.TypePrimitive, ber.TagInteger, p.Children[0].Value, "MessageID"))
					bind := ber.Encode(ber.ClassApplication, ber.TypeConstructed, ldap.ApplicationBindResponse, nil, "Bind Response")
					bind.AppendChild(ber.NewInteger(ber.ClassUniversal, ber.TypePrimitive, ber.TagEnumerated, 0, "resultCode"))
					bind.AppendChild(ber.NewString(ber.ClassUniversal, ber.TypePrimitive, ber.TagOctetString, "", "matchedDN"))
					bind.AppendChild(ber.NewString(ber.ClassUniversal, ber.TypePrimitive, ber.TagOctetString, "", "diagnosticMessage"))
					resp.AppendChild(bind)
					if _, err := c.Write(resp.Bytes()); err != nil {
						return
					}
				}
			}()
		}
	}()
	return l.Addr().(*net.TCPAddr).Port
}

func TestCancelAndTimeLimit(t *testing.T) {
	port, asked := hungServer(t)
	cfg := Config{Hostname: "127.0.0.1", Port: port, Username: "cn=x", Password: "y", RootPath: testSuffix}

	ctx, cancel := context.WithCancel(context.Background())
	src, _ := New(cfg, nil)
	done := make(chan error, 1)
	go func() {
		_, err := src.Read(ctx, directory.ReadOptions{Users: true})
		done <- err
	}()
	// Cancelled while the server holds the bind, not before the dial.
	select {
	case <-asked:
	case <-time.After(10 * time.Second):
		t.Fatal("the read never sent its bind")
	}
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("cancelled read: %v, want context.Canceled", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the read did not end within 5 s of its context's cancellation")
	}

	cfg.SearchTimeLimit = 300 * time.Millisecond
	src, _ = New(cfg, nil)
	start := time.Now()
	_, err := src.Read(context.Background(), directory.ReadOptions{Users: true})
	if err == nil || !strings.Contains(err.Error(), "did not answer the bind within the time limit") || time.Since(start) > 5*time.Second {
		t.Errorf("hung server with a 300 ms limit: %v after %s", err, time.Since(start))
	}

	// A server that binds and then never answers the search.
	cfg.Port = bindOnlyServer(t)
	src, _ = New(cfg, nil)
	start = time.Now()
	_, err = src.Read(context.Background(), directory.ReadOptions{Users: true})
	if err == nil || !strings.Contains(err.Error(), "took longer than the time limit of 300ms") || time.Since(start) > 5*time.Second {
		t.Errorf("search never answered, 300 ms limit: %v after %s", err, time.Since(start))
	}

	// Cancelled between the user and the group search: no group search.
	s := sharedSlapd(t)
	ctx, cancel = context.WithCancel(context.Background())
	defer cancel()
	src, _ = New(s.config(), nil)
	_, err = src.Read(ctx, directory.ReadOptions{Users: true, Groups: true, Progress: func(p directory.Progress) {
		if p.Phase == "users" {
			cancel()
		}
	}})
	if !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled after the users: %v", err)
	}
}
