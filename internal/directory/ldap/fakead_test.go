package ldap

import (
	"context"
	"encoding/binary"
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"
	"testing"

	ber "github.com/go-asn1-ber/asn1-ber"
	ldap "github.com/go-ldap/ldap/v3"

	"github.com/dirsync/dirsync/internal/directory"
)

// fakeAD is a minimal LDAP server that answers like Active Directory where
// slapd cannot: a group's member list longer than maxValRange comes in
// ranges ([MS-ADTS] 3.1.1.3.1.3.3): the group search returns
// "member;range=0-1499" (and an empty "member"), a base search for
// "member;range=1500-*" returns the next 1,500 as "member;range=1500-2999",
// and the last range ends in "*". It binds anyone and ignores filters and
// paging (every search is answered in one page). It pins the client's side
// of the protocol where the real Samba DC of samba_test.go cannot fail on
// demand (ranges that stop early, a refused deleted-objects search).
type fakeAD struct {
	users       int
	maxValRange int
	// cutAfter, when > 0, makes the range answers stop (no ranged
	// attribute) from this index on, as a server that lost the entry would.
	cutAfter int
	// deletedCode is the result code of a search under CN=Deleted Objects
	// (0: success, no entries); deletedHang leaves it unanswered.
	deletedCode int
	deletedHang bool
}

const (
	fakeADRoot  = "DC=ad,DC=test"
	fakeADGroup = "CN=Big,OU=Groups,DC=ad,DC=test"
)

func fakeADUserDN(i int) string { return fmt.Sprintf("CN=User %d,OU=People,%s", i, fakeADRoot) }

func fakeADGUID(i int) []byte {
	b := make([]byte, 16)
	binary.LittleEndian.PutUint32(b, uint32(i))
	b[15] = 0xad
	return b
}

type attr struct {
	name string
	vals [][]byte
}

func (f *fakeAD) start(t *testing.T) int {
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
			go f.serve(c)
		}
	}()
	return l.Addr().(*net.TCPAddr).Port
}

func (f *fakeAD) serve(c net.Conn) {
	defer c.Close()
	for {
		p, err := ber.ReadPacket(c)
		if err != nil || len(p.Children) < 2 {
			return
		}
		id := p.Children[0].Value
		op := p.Children[1]
		var out []*ber.Packet
		switch op.Tag {
		case ldap.ApplicationBindRequest:
			out = append(out, result(id, ldap.ApplicationBindResponse))
		case ldap.ApplicationSearchRequest:
			base := op.Children[0].Value.(string)
			var want []string
			for _, a := range op.Children[7].Children {
				want = append(want, a.Value.(string))
			}
			code := 0
			if strings.HasPrefix(strings.ToLower(base), "cn=deleted objects,") {
				if f.deletedHang {
					continue
				}
				code = f.deletedCode
			}
			for _, e := range f.search(base, want) {
				out = append(out, e.packet(id))
			}
			out = append(out, resultCode(id, ldap.ApplicationSearchResultDone, code))
		default:
			return
		}
		for _, r := range out {
			if _, err := c.Write(r.Bytes()); err != nil {
				return
			}
		}
	}
}

type fakeEntry struct {
	dn    string
	attrs []attr
}

func (f *fakeAD) search(base string, want []string) []fakeEntry {
	str := func(s ...string) [][]byte {
		var out [][]byte
		for _, v := range s {
			out = append(out, []byte(v))
		}
		return out
	}
	members := func(lo int) attr {
		hi := min(lo+f.maxValRange, f.users)
		var vals [][]byte
		for i := lo; i < hi; i++ {
			vals = append(vals, []byte(fakeADUserDN(i)))
		}
		end := strconv.Itoa(hi - 1)
		if hi == f.users {
			end = "*"
		}
		return attr{fmt.Sprintf("member;range=%d-%s", lo, end), vals}
	}
	switch {
	case strings.EqualFold(base, "OU=People,"+fakeADRoot):
		var out []fakeEntry
		for i := range f.users {
			out = append(out, fakeEntry{fakeADUserDN(i), []attr{
				{"objectGUID", [][]byte{fakeADGUID(i)}},
				{"mail", str(fmt.Sprintf("user%d@ad.test", i))},
				{"userAccountControl", str("512")},
			}})
		}
		return out
	case strings.EqualFold(base, "OU=Groups,"+fakeADRoot):
		return []fakeEntry{{fakeADGroup, []attr{{"name", str("Big")}, {"member", nil}, members(0)}}}
	case strings.EqualFold(base, fakeADGroup) && len(want) == 1:
		// member;range=LO-*
		spec, _ := strings.CutPrefix(want[0], "member;range=")
		lo, _ := strconv.Atoi(strings.TrimSuffix(spec, "-*"))
		if f.cutAfter > 0 && lo >= f.cutAfter {
			return []fakeEntry{{fakeADGroup, nil}}
		}
		return []fakeEntry{{fakeADGroup, []attr{members(lo)}}}
	}
	return nil
}

func (e fakeEntry) packet(id any) *ber.Packet {
	p := ber.Encode(ber.ClassUniversal, ber.TypeConstructed, ber.TagSequence, nil, "LDAP Response")
	p.AppendChild(ber.NewInteger(ber.ClassUniversal, ber.TypePrimitive, ber.TagInteger, id, "MessageID"))
	entry := ber.Encode(ber.ClassApplication, ber.TypeConstructed, ldap.ApplicationSearchResultEntry, nil, "Entry")
	entry.AppendChild(ber.NewString(ber.ClassUniversal, ber.TypePrimitive, ber.TagOctetString, e.dn, "DN"))
	list := ber.Encode(ber.ClassUniversal, ber.TypeConstructed, ber.TagSequence, nil, "Attributes")
	for _, a := range e.attrs {
		pa := ber.Encode(ber.ClassUniversal, ber.TypeConstructed, ber.TagSequence, nil, "Attribute")
		pa.AppendChild(ber.NewString(ber.ClassUniversal, ber.TypePrimitive, ber.TagOctetString, a.name, "Type"))
		set := ber.Encode(ber.ClassUniversal, ber.TypeConstructed, ber.TagSet, nil, "Values")
		for _, v := range a.vals {
			set.AppendChild(ber.NewString(ber.ClassUniversal, ber.TypePrimitive, ber.TagOctetString, string(v), "Value"))
		}
		pa.AppendChild(set)
		list.AppendChild(pa)
	}
	entry.AppendChild(list)
	p.AppendChild(entry)
	return p
}

func result(id any, tag ber.Tag) *ber.Packet { return resultCode(id, tag, 0) }

func resultCode(id any, tag ber.Tag, code int) *ber.Packet {
	p := ber.Encode(ber.ClassUniversal, ber.TypeConstructed, ber.TagSequence, nil, "LDAP Response")
	p.AppendChild(ber.NewInteger(ber.ClassUniversal, ber.TypePrimitive, ber.TagInteger, id, "MessageID"))
	r := ber.Encode(ber.ClassApplication, ber.TypeConstructed, tag, nil, "Result")
	r.AppendChild(ber.NewInteger(ber.ClassUniversal, ber.TypePrimitive, ber.TagEnumerated, code, "resultCode"))
	r.AppendChild(ber.NewString(ber.ClassUniversal, ber.TypePrimitive, ber.TagOctetString, "", "matchedDN"))
	r.AppendChild(ber.NewString(ber.ClassUniversal, ber.TypePrimitive, ber.TagOctetString, "", "diagnosticMessage"))
	p.AppendChild(r)
	return p
}

func fakeADConfig(port int) Config {
	return Config{AD: true, Hostname: "127.0.0.1", Port: port, Username: "reader@ad.test", Password: "p",
		RootPath: fakeADRoot, UserPath: "OU=People", GroupPath: "OU=Groups"}
}

// TestADRangeRetrievalFake reads a group of 3,200 members that the server
// sends in ranges of 1,500: all 3,200 arrive (BDC stops at 1,500), in 3
// searches for the group, and the ids are the users' GUID strings.
func TestADRangeRetrievalFake(t *testing.T) {
	f := &fakeAD{users: 3200, maxValRange: 1500}
	snap := read(t, fakeADConfig(f.start(t)), directory.ReadOptions{Users: true, Groups: true})
	if len(snap.Groups) != 1 || snap.Groups[0].Name != "Big" {
		t.Fatalf("groups = %+v", snap.Groups)
	}
	if n := len(snap.Groups[0].MemberIDs); n != 3200 {
		t.Errorf("Big has %d members, want all 3,200", n)
	}
	if want := guidString(fakeADGUID(1234)); snap.Groups[0].MemberIDs[0] == "" || !slices.Contains(snap.Groups[0].MemberIDs, want) {
		t.Errorf("member ids lack user 1234's GUID %s", want)
	}
	// users (1) + groups (1) + ranges 1500-* and 3000-* (2).
	if snap.Stats.Requests != 4 {
		t.Errorf("%d searches, want 4", snap.Stats.Requests)
	}

	f = &fakeAD{users: 3200, maxValRange: 1500, cutAfter: 3000}
	src, _ := New(fakeADConfig(f.start(t)), nil)
	if _, err := src.Read(context.Background(), directory.ReadOptions{Groups: true}); err == nil || !strings.Contains(err.Error(), "no more members") {
		t.Errorf("ranges that stop early: %v, want the read to fail", err)
	}
}
