package main

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/dirsync/dirsync/internal/auth"
	"github.com/dirsync/dirsync/internal/store"
)

func (e *env) adminCmd() *cobra.Command {
	const pwHelp = `The password is read from stdin: from a terminal it is asked twice and not
shown; from a pipe it is the first line, so that it never appears in the
process list or the shell history:

  printf '%s\n' "$PASSWORD" | dirsync admin `
	create := &cobra.Command{
		Use:   "create USER",
		Short: "Create a console admin (password from stdin)",
		Long:  "Create a console admin.\n\n" + pwHelp + "create alice",
		Args:  exactArgs("USER"),
		RunE:  func(_ *cobra.Command, args []string) error { return e.admin(args[0], true) },
	}
	reset := &cobra.Command{
		Use:   "reset-password USER",
		Short: "Set a console admin's password (password from stdin)",
		Long:  "Set a console admin's password.\n\n" + pwHelp + "reset-password alice",
		Args:  exactArgs("USER"),
		RunE:  func(_ *cobra.Command, args []string) error { return e.admin(args[0], false) },
	}
	unlock := &cobra.Command{
		Use:   "unlock USER",
		Short: "Clear a user name's failed logins (lifts its login throttle)",
		Long: `Clear every failed login recorded for a user name, from any address, so
that its login throttle no longer slows or refuses it. Use it when an
admin is locked out by someone guessing at their name; per-address limits
of the addresses that guessed stay.`,
		Args: exactArgs("USER"),
		RunE: func(_ *cobra.Command, args []string) error { return e.adminUnlock(args[0]) },
	}
	remove := &cobra.Command{
		Use:   "remove USER",
		Short: "Remove a console admin and end its sessions (never the last one)",
		Args:  exactArgs("USER"),
		RunE:  func(_ *cobra.Command, args []string) error { return e.adminRemove(args[0]) },
	}
	return group("admin", "Manage console admins", create, reset, unlock, remove)
}

// adminUnlock is `dirsync admin unlock USER`.
func (e *env) adminUnlock(name string) error {
	user := auth.NormalizeUsername(name)
	st, err := e.open(true)
	if err != nil {
		return err
	}
	defer e.closeStore(st)
	n, err := st.UnlockLogins(e.ctx, user)
	if err != nil {
		return err
	}
	e.audit(st, "admin.unlocked", fmt.Sprintf("%s: %d failed login(s) cleared", user, n))
	fmt.Fprintf(e.stderr, "%d failed login(s) of %s cleared; it can log in again from anywhere\n", n, termSafe(user))
	return nil
}

// adminRemove is `dirsync admin remove USER`.
func (e *env) adminRemove(name string) error {
	user := auth.NormalizeUsername(name)
	st, err := e.open(true)
	if err != nil {
		return err
	}
	defer e.closeStore(st)
	switch err := st.DeleteAdmin(e.ctx, user); {
	case errors.Is(err, store.ErrNotFound):
		return fmt.Errorf("no admin %q", user)
	case errors.Is(err, store.ErrLastAdmin):
		return fmt.Errorf("admin %q is the last one: %w", user, err)
	case err != nil:
		return err
	}
	e.audit(st, "admin.removed", user)
	fmt.Fprintf(e.stderr, "admin %q removed; its console sessions were ended\n", user)
	return nil
}

// audit records a command-line action (actor "cli", the OS user); a
// failure to write it is a warning, not a failed command.
func (e *env) audit(st *store.Store, action, detail string) {
	if err := st.AddCLIAudit(e.ctx, action, detail); err != nil {
		fmt.Fprintf(e.stderr, "warning: the audit log entry was not written: %v\n", err)
	}
}

// admin creates an admin or resets one's password.
func (e *env) admin(name string, create bool) error {
	cmd := "admin reset-password"
	if create {
		cmd = "admin create"
	}
	user := auth.NormalizeUsername(name)
	if err := auth.CheckUsername(user); err != nil {
		return usagef("%s: %v", cmd, err)
	}
	pw, err := e.readPassword(user)
	if err != nil {
		return err
	}
	if err := auth.CheckPassword(pw, user); err != nil {
		return err
	}
	hash, err := auth.Hash(pw, auth.DefaultParams)
	if err != nil {
		return err
	}
	st, err := e.open(!create)
	if err != nil {
		return err
	}
	defer e.closeStore(st)
	if create {
		if _, err := st.CreateAdmin(e.ctx, user, hash); err != nil {
			if errors.Is(err, store.ErrExists) {
				return fmt.Errorf("admin %q already exists; use 'dirsync admin reset-password %s' to change the password", user, user)
			}
			return err
		}
		e.audit(st, "admin.created", user)
		fmt.Fprintf(e.stderr, "admin %q created\n", user)
		return nil
	}
	if err := st.SetAdminPassword(e.ctx, user, hash); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("no admin %q; create it with 'dirsync admin create %s'", user, user)
		}
		return err
	}
	e.audit(st, "admin.password_reset", user+"; their sessions ended")
	fmt.Fprintf(e.stderr, "password of %q changed; its console sessions were ended\n", user)
	return nil
}

// readPassword asks for the password on a terminal without echo (twice, to
// catch a typo nobody could see), or reads the first line of piped stdin.
func (e *env) readPassword(user string) (string, error) {
	if f, ok := e.stdin.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		fd := int(f.Fd())
		ask := func(prompt string) (string, error) {
			fmt.Fprint(e.stderr, prompt)
			b, err := term.ReadPassword(fd)
			fmt.Fprintln(e.stderr)
			if err != nil {
				return "", fmt.Errorf("read the password: %w", err)
			}
			return string(b), nil
		}
		pw, err := ask(fmt.Sprintf("Password for %s: ", user))
		if err != nil {
			return "", err
		}
		again, err := ask("Repeat the password: ")
		if err != nil {
			return "", err
		}
		if pw != again {
			return "", errors.New("the two passwords differ; nothing was changed")
		}
		return pw, nil
	}
	line, err := bufio.NewReader(e.stdin).ReadString('\n')
	if err != nil && line == "" {
		return "", errors.New("no password given: write it on stdin, e.g. `printf '%s\\n' \"$PW\" | dirsync admin create alice`, or run the command in a terminal")
	}
	return strings.TrimRight(line, "\r\n"), nil
}
