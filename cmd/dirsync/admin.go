package main

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/dirsync/dirsync/internal/auth"
	"github.com/dirsync/dirsync/internal/store"
)

// cmdAdmin creates an admin or resets one's password. The password is read
// from the first line of stdin, so scripts can pipe it and it never appears
// in the process list or shell history.
func (e *env) cmdAdmin(args []string, create bool) error {
	name := "admin reset-password"
	if create {
		name = "admin create"
	}
	rest, err := parse(e.flags(name), args, 1)
	if err != nil {
		return err
	}
	user := auth.NormalizeUsername(rest[0])
	if err := auth.CheckUsername(user); err != nil {
		return usagef("%s: %v", name, err)
	}
	if f, ok := e.stdin.(*os.File); ok {
		if fi, err := f.Stat(); err == nil && fi.Mode()&os.ModeCharDevice != 0 {
			fmt.Fprintf(e.stderr, "Password for %s (input is shown; pipe it in to hide it): ", user)
		}
	}
	line, err := bufio.NewReader(e.stdin).ReadString('\n')
	if err != nil && line == "" {
		return errors.New("no password given: write it on stdin, e.g. `printf '%s\\n' \"$PW\" | dirsync admin create alice`")
	}
	pw := strings.TrimRight(line, "\r\n")
	if err := auth.CheckPassword(pw, user); err != nil {
		return err
	}
	hash, err := auth.Hash(pw, auth.DefaultParams)
	if err != nil {
		return err
	}
	st, err := e.open()
	if err != nil {
		return err
	}
	defer st.Close()
	if create {
		if _, err := st.CreateAdmin(e.ctx, user, hash); err != nil {
			if errors.Is(err, store.ErrExists) {
				return fmt.Errorf("admin %q already exists; use 'dirsync admin reset-password %s' to change the password", user, user)
			}
			return err
		}
		_ = st.AddAudit(e.ctx, store.AuditEntry{At: time.Now().UTC(), Actor: "cli", Action: "admin.created", Detail: user})
		fmt.Fprintf(e.stderr, "admin %q created\n", user)
		return nil
	}
	if err := st.SetAdminPassword(e.ctx, user, hash); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("no admin %q; create it with 'dirsync admin create %s'", user, user)
		}
		return err
	}
	_ = st.AddAudit(e.ctx, store.AuditEntry{At: time.Now().UTC(), Actor: "cli", Action: "admin.password_reset", Detail: user})
	fmt.Fprintf(e.stderr, "password of %q changed\n", user)
	return nil
}
