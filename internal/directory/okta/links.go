package okta

import (
	"strings"
)

// nextLink finds the rel="next" target in the Link header values. Okta
// sends one link per header line; proxies may join them with commas. A
// URL sits between < and >, so commas inside it (e.g. in a filter) do not
// split it.
func nextLink(values []string) string {
	for _, v := range values {
		for _, l := range parseLinks(v) {
			for _, rel := range strings.Fields(l.rel) {
				if strings.EqualFold(rel, "next") {
					return l.target
				}
			}
		}
	}
	return ""
}

type link struct {
	target string
	rel    string
}

// parseLinks parses one Link header value (RFC 8288): a comma-separated
// list of `<target>; param=value; param="quoted value"`.
func parseLinks(v string) []link {
	var out []link
	i := 0
	for i < len(v) {
		// Skip separators up to the next '<'.
		for i < len(v) && v[i] != '<' {
			i++
		}
		if i >= len(v) {
			break
		}
		end := strings.IndexByte(v[i+1:], '>')
		if end < 0 {
			break
		}
		l := link{target: strings.TrimSpace(v[i+1 : i+1+end])}
		i = i + 1 + end + 1
		// Parameters run until a comma outside quotes.
		for i < len(v) {
			for i < len(v) && (v[i] == ' ' || v[i] == '\t') {
				i++
			}
			if i >= len(v) || v[i] == ',' {
				break
			}
			if v[i] != ';' {
				// Malformed: skip to the next link.
				for i < len(v) && v[i] != ',' {
					i++
				}
				break
			}
			i++
			for i < len(v) && (v[i] == ' ' || v[i] == '\t') {
				i++
			}
			ns := i
			for i < len(v) && v[i] != '=' && v[i] != ';' && v[i] != ',' {
				i++
			}
			name := strings.ToLower(strings.TrimSpace(v[ns:i]))
			val := ""
			if i < len(v) && v[i] == '=' {
				i++
				for i < len(v) && (v[i] == ' ' || v[i] == '\t') {
					i++
				}
				if i < len(v) && v[i] == '"' {
					i++
					var b strings.Builder
					for i < len(v) && v[i] != '"' {
						if v[i] == '\\' && i+1 < len(v) {
							i++
						}
						b.WriteByte(v[i])
						i++
					}
					i++ // closing quote
					val = b.String()
				} else {
					vs := i
					for i < len(v) && v[i] != ';' && v[i] != ',' {
						i++
					}
					val = strings.TrimSpace(v[vs:i])
				}
			}
			if name == "rel" && l.rel == "" {
				l.rel = val
			}
		}
		out = append(out, l)
	}
	return out
}
