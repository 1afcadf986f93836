package main

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"os"
	"strings"

	"golang.org/x/term"

	"github.com/dirsync/dirsync/internal/bdc"
)

// fromBDC holds `config import --from-bdc`'s flags.
type fromBDC struct {
	path string
	// secrets are the flags for values data.json may not hold, by field
	// path.
	secrets map[string]*string
}

// maxBDCFile bounds the data file read (BDC's are a few kilobytes).
const maxBDCFile = 4 << 20

// configImportBDC converts Directory Connector's data.json, asks for (or
// takes from flags) what it lacks, prints what it took and left out, and
// imports the result through the ordinary path.
func (e *env) configImportBDC(o *fromBDC) error {
	f, err := os.Open(o.path)
	if err != nil {
		return &exitError{code: exitBadConf, err: fmt.Errorf("read Directory Connector's data file: %w", err)}
	}
	data, err := io.ReadAll(io.LimitReader(f, maxBDCFile+1))
	_ = f.Close() // only read
	if err != nil {
		return &exitError{code: exitBadConf, err: fmt.Errorf("read Directory Connector's data file: %w", err)}
	}
	if len(data) > maxBDCFile {
		return &exitError{code: exitBadConf, err: fmt.Errorf("%s is larger than %d MiB, which no Directory Connector data file is; nothing was saved", o.path, maxBDCFile>>20)}
	}
	given := map[string]string{}
	for path, v := range o.secrets {
		if v != nil && *v != "" {
			given[path] = *v
		}
	}
	res, err := bdc.Convert(data, bdc.Options{Secrets: given})
	if err != nil {
		return &exitError{code: exitBadConf, err: fmt.Errorf("%s: %w; nothing was saved", o.path, err)}
	}
	fmt.Fprintf(e.stderr, "From Directory Connector's %s:\n", termSafe(o.path))
	for _, l := range res.Took {
		fmt.Fprintf(e.stderr, "  took: %s\n", termSafe(l))
	}
	for _, l := range res.Left {
		fmt.Fprintf(e.stderr, "  left out: %s\n", termSafe(l))
	}
	if len(res.Missing) > 0 {
		if err := e.askMissing(res); err != nil {
			return err
		}
	}
	return e.importSettings(bytes.NewReader(res.File()))
}

// askMissing asks for each missing value on a terminal (secrets without
// echo), or fails naming the flags and environment variables.
func (e *env) askMissing(res *bdc.Result) error {
	f, ok := e.stdin.(*os.File)
	if !ok || !term.IsTerminal(int(f.Fd())) {
		var b strings.Builder
		b.WriteString("Directory Connector keeps these in the OS keychain, not in data.json, so dirsync cannot read them:")
		for _, m := range res.Missing {
			fmt.Fprintf(&b, "\n  %s: pass %s, or set %s", m.Name, m.Flag, m.Env)
		}
		b.WriteString("\nor run the command in a terminal to be asked; nothing was saved")
		return &exitError{code: exitBadConf, err: fmt.Errorf("%s", b.String())}
	}
	fd := int(f.Fd())
	lines := bufio.NewReader(f)
	for _, m := range append([]bdc.Secret(nil), res.Missing...) {
		fmt.Fprintf(e.stderr, "%s (%s): ", strings.ToUpper(m.Name[:1])+m.Name[1:], m.Path)
		var v string
		if m.Secret {
			b, err := term.ReadPassword(fd)
			fmt.Fprintln(e.stderr)
			if err != nil {
				return fmt.Errorf("read %s: %w", m.Name, err)
			}
			v = string(b)
		} else {
			line, err := lines.ReadString('\n')
			if err != nil && line == "" {
				return fmt.Errorf("read %s: %w", m.Name, err)
			}
			v = line
		}
		if v = strings.TrimSpace(v); v == "" {
			return &exitError{code: exitBadConf, err: fmt.Errorf("no %s given; nothing was saved", m.Name)}
		}
		res.Fill(m.Path, v)
	}
	return nil
}
