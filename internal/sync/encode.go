package sync

import (
	"bufio"
	"io"
	"strconv"
	"unicode/utf8"

	"github.com/dirsync/dirsync/internal/bitwarden"
)

// writeImport streams an import's JSON to w, piece by piece. encoding/json
// would build the whole body in memory first (tens of megabytes for a
// 100,000-user org, doubled while its buffer grows); hashing and storing
// the body need only a stream. The output is valid JSON that
// encoding/json decodes back to the same import, and it is the same for
// equal imports, which is all the hash needs.
func writeImport(w io.Writer, imp *bitwarden.ImportRequest) error {
	bw := bufio.NewWriterSize(w, 64<<10)
	buf := make([]byte, 0, 256)
	flush := func() error {
		_, err := bw.Write(buf)
		buf = buf[:0]
		return err
	}
	buf = append(buf, `{"groups":[`...)
	for i, g := range imp.Groups {
		if i > 0 {
			buf = append(buf, ',')
		}
		buf = append(buf, `{"name":`...)
		buf = appendJSONString(buf, g.Name)
		buf = append(buf, `,"externalId":`...)
		buf = appendJSONString(buf, g.ExternalID)
		buf = append(buf, `,"memberExternalIds":[`...)
		for j, id := range g.MemberExternalIDs {
			if j > 0 {
				buf = append(buf, ',')
			}
			buf = appendJSONString(buf, id)
			if len(buf) > 32<<10 {
				if err := flush(); err != nil {
					return err
				}
			}
		}
		buf = append(buf, "]}"...)
		if err := flush(); err != nil {
			return err
		}
	}
	buf = append(buf, `],"members":[`...)
	for i, m := range imp.Members {
		if i > 0 {
			buf = append(buf, ',')
		}
		buf = append(buf, `{"email":`...)
		if m.Email == "" {
			buf = append(buf, "null"...) // Bitwarden refuses "" (see bitwarden.ImportMember)
		} else {
			buf = appendJSONString(buf, m.Email)
		}
		buf = append(buf, `,"externalId":`...)
		buf = appendJSONString(buf, m.ExternalID)
		buf = append(buf, `,"deleted":`...)
		buf = strconv.AppendBool(buf, m.Deleted)
		buf = append(buf, '}')
		if len(buf) > 32<<10 {
			if err := flush(); err != nil {
				return err
			}
		}
	}
	buf = append(buf, `],"overwriteExisting":`...)
	buf = strconv.AppendBool(buf, imp.OverwriteExisting)
	buf = append(buf, `,"largeImport":`...)
	buf = strconv.AppendBool(buf, imp.LargeImport)
	if imp.InviteUsersAfterProvisioning != nil {
		buf = append(buf, `,"inviteUsersAfterProvisioning":`...)
		buf = strconv.AppendBool(buf, *imp.InviteUsersAfterProvisioning)
	}
	buf = append(buf, "}\n"...)
	if err := flush(); err != nil {
		return err
	}
	return bw.Flush()
}

const hexDigits = "0123456789abcdef"

// appendJSONString appends s as a JSON string: quotes, backslashes and
// control characters escaped, invalid UTF-8 replaced by U+FFFD.
func appendJSONString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c >= 0x20 && c != '"' && c != '\\' && c < utf8.RuneSelf {
			i++
			continue
		}
		if c < utf8.RuneSelf {
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}
