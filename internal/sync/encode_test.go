package sync

import (
	"bytes"
	"encoding/json"
	"reflect"
	"testing"

	"github.com/dirsync/dirsync/internal/bitwarden"
	"github.com/dirsync/dirsync/internal/config"
)

// FuzzWriteImport checks that the streamed JSON decodes to the import it
// was written from, whatever the strings hold.
func FuzzWriteImport(f *testing.F) {
	for _, s := range []string{"a@x.com", `q"uo\te`, "tab\tnew\nline\x00\x1f", "é😀", "\xff\xfeinvalid", "</script>&"} {
		f.Add(s, "00u1", true)
	}
	f.Fuzz(func(t *testing.T, s, id string, flag bool) {
		imp := &bitwarden.ImportRequest{
			Groups:            []bitwarden.ImportGroup{{Name: s, ExternalID: id, MemberExternalIDs: []string{id, s}}, {Name: "", ExternalID: "", MemberExternalIDs: []string{}}},
			Members:           []bitwarden.ImportMember{{Email: s, ExternalID: id, Deleted: flag}},
			OverwriteExisting: flag, LargeImport: !flag,
		}
		var buf bytes.Buffer
		if err := writeImport(&buf, imp); err != nil {
			t.Fatal(err)
		}
		var got bitwarden.ImportRequest
		if err := json.Unmarshal(buf.Bytes(), &got); err != nil {
			t.Fatalf("invalid JSON %q: %v", buf.String(), err)
		}
		// encoding/json replaces invalid UTF-8 the same way, so compare
		// with its own round trip.
		want := roundTrip(t, imp)
		if !reflect.DeepEqual(&got, want) {
			t.Fatalf("round trip\n got %+v\nwant %+v", got, *want)
		}
	})
}

func roundTrip(t *testing.T, imp *bitwarden.ImportRequest) *bitwarden.ImportRequest {
	b, err := json.Marshal(imp)
	if err != nil {
		t.Fatal(err)
	}
	var out bitwarden.ImportRequest
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	return &out
}

func TestCompressImportRoundTrip(t *testing.T) {
	p := mustPlan(t, bigSnapshot(3000, 40), settings(func(s *config.Sync) { s.LargeImport = true }))
	body, err := compressImport(p.Import)
	if err != nil {
		t.Fatal(err)
	}
	back, err := decompressImport(body)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(back, p.Import) {
		t.Fatal("the stored import does not read back equal")
	}
}
