package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"

	"github.com/jmoiron/sqlx"

	"github.com/dirsync/dirsync/internal/config"
	"github.com/dirsync/dirsync/internal/directory"
)

// SettingsChange reports what SaveSettings changed.
type SettingsChange struct {
	// Fields lists the changed field paths ("<section>.<json name>", as
	// config.Field*), in struct order. Secrets appear by path only.
	Fields []string
	// DirectoryChanged is true when the settings now read another
	// directory (config.SameDirectory is false), including the first save.
	DirectoryChanged bool
	// OrganizationChanged is true when the settings now push to another
	// organization (config.SameOrganization is false), including the first
	// save.
	OrganizationChanged bool
	// CacheCleared is true when the sync cache was cleared because the
	// directory or organization changed.
	CacheCleared bool
}

// Changed reports whether anything changed.
func (c SettingsChange) Changed() bool { return len(c.Fields) > 0 }

// LoadSettings returns a profile's settings with its secrets opened. It
// returns ErrNotFound if the profile's settings were never saved. If the
// master key does not open a secret, it returns the settings with that
// secret empty together with an error wrapping ErrKeyMismatch, so a console
// can still show the form and ask for the secrets again.
func (s *Store) LoadSettings(ctx context.Context, profileID int64) (config.Settings, error) {
	var (
		st      config.Settings
		secrets []secretRow
		found   bool
	)
	err := s.read(ctx, "load settings", func(tx *sqlx.Tx) error {
		var err error
		st, found, err = loadSettingsTx(ctx, tx, profileID)
		if err != nil || !found {
			return err
		}
		if err := tx.SelectContext(ctx, &secrets,
			`SELECT profile_id, name, nonce, ciphertext FROM secrets WHERE profile_id = ?`, profileID); err != nil {
			return fmt.Errorf("store: load secrets of profile %d: %w", profileID, err)
		}
		return nil
	})
	if err != nil {
		return config.Settings{}, err
	}
	if !found {
		return config.Settings{}, fmt.Errorf("store: settings of profile %d: %w", profileID, ErrNotFound)
	}
	var mismatch error
	for _, r := range secrets {
		pt, err := s.key.open(secretAD(profileID, r.Name), r.Nonce, r.Ciphertext)
		if err != nil {
			mismatch = fmt.Errorf("store: open secret %s of profile %d: %w", r.Name, profileID, err)
			continue
		}
		setSecret(&st, r.Name, config.Secret(pt))
	}
	return st, mismatch
}

func loadSettingsTx(ctx context.Context, tx *sqlx.Tx, profileID int64) (config.Settings, bool, error) {
	var raw sql.NullString
	err := tx.GetContext(ctx, &raw, `SELECT settings FROM profiles WHERE id = ?`, profileID)
	if errors.Is(err, sql.ErrNoRows) || (err == nil && !raw.Valid) {
		return config.Settings{}, false, nil
	}
	if err != nil {
		return config.Settings{}, false, fmt.Errorf("store: load settings of profile %d: %w", profileID, err)
	}
	// Start from the defaults so settings added since this row was saved
	// (the deletion guard, say) get their default, not zero.
	st := config.Defaults()
	if err := json.Unmarshal([]byte(raw.String), &st); err != nil {
		return config.Settings{}, false, fmt.Errorf("store: decode settings of profile %d: %w", profileID, err)
	}
	// Stored JSON never holds secrets; make sure nothing slipped in.
	st.ClearSecrets()
	return st, true, nil
}

// setSecret fills the secret named name (its field path); a row of a
// secret the settings no longer have (another directory type's) is
// ignored, and deleted by the next save.
func setSecret(st *config.Settings, name string, v config.Secret) {
	for _, f := range st.SecretFields() {
		if f.Path == name {
			*f.Value = v
		}
	}
}

// SaveSettings stores a profile's settings as given (callers normalize and
// validate first) in one transaction: non-secret fields as JSON, each secret
// sealed in its own row; an empty secret deletes the stored one. When the
// directory or the organization changed (or on the first save) it also
// clears the profile's sync cache in the same transaction. Nothing is
// written when nothing changed.
func (s *Store) SaveSettings(ctx context.Context, profileID int64, st config.Settings) (SettingsChange, error) {
	var change SettingsChange
	err := s.write(ctx, "save settings", func(tx *sqlx.Tx) error {
		change = SettingsChange{}
		if err := s.ensureProfile(ctx, tx, profileID); err != nil {
			return err
		}
		old, found, err := loadSettingsTx(ctx, tx, profileID)
		if err != nil {
			return err
		}
		var rows []secretRow
		if err := tx.SelectContext(ctx, &rows,
			`SELECT profile_id, name, nonce, ciphertext FROM secrets WHERE profile_id = ?`, profileID); err != nil {
			return fmt.Errorf("store: load secrets of profile %d: %w", profileID, err)
		}
		// A secret the key cannot open counts as changed when a new value is
		// given, so re-entering it re-seals it with the current key.
		unreadable := map[string]bool{}
		for _, r := range rows {
			pt, err := s.key.open(secretAD(profileID, r.Name), r.Nonce, r.Ciphertext)
			if err != nil {
				unreadable[r.Name] = true
				continue
			}
			setSecret(&old, r.Name, config.Secret(pt))
		}

		change.Fields = diffSettings(old, st, unreadable)
		if !found {
			change.DirectoryChanged, change.OrganizationChanged = true, true
		} else {
			change.DirectoryChanged = !config.SameDirectory(old, st)
			change.OrganizationChanged = !config.SameOrganization(old, st)
		}
		if found && len(change.Fields) == 0 {
			return nil
		}

		plain := st
		plain.ClearSecrets()
		js, err := json.Marshal(plain)
		if err != nil {
			return fmt.Errorf("store: encode settings of profile %d: %w", profileID, err)
		}
		now := fmtTime(s.now())
		if _, err := tx.ExecContext(ctx, `UPDATE profiles SET settings = ?, updated_at = ? WHERE id = ?`,
			string(js), now, profileID); err != nil {
			return fmt.Errorf("store: save settings of profile %d: %w", profileID, err)
		}
		// Each secret sealed in its own row, named by its field path (the
		// associated data binds a row to its name and profile). Rows of
		// secrets the settings no longer have (another directory type's)
		// are deleted: a secret is kept only for the type it was entered
		// for.
		current := map[string]bool{}
		for _, f := range st.SecretFields() {
			current[f.Path] = true
			if err := s.putSecretTx(ctx, tx, profileID, f.Path, *f.Value, now); err != nil {
				return err
			}
		}
		for _, r := range rows {
			if !current[r.Name] {
				if err := s.putSecretTx(ctx, tx, profileID, r.Name, "", now); err != nil {
					return err
				}
			}
		}
		if change.DirectoryChanged || change.OrganizationChanged {
			if err := clearCacheTx(ctx, tx, profileID); err != nil {
				return err
			}
			change.CacheCleared = true
		}
		return nil
	})
	if err != nil {
		return SettingsChange{}, err
	}
	return change, nil
}

func (s *Store) putSecretTx(ctx context.Context, tx *sqlx.Tx, profileID int64, name string, v config.Secret, now string) error {
	if !v.IsSet() {
		if _, err := tx.ExecContext(ctx, `DELETE FROM secrets WHERE profile_id = ? AND name = ?`, profileID, name); err != nil {
			return fmt.Errorf("store: delete secret %s of profile %d: %w", name, profileID, err)
		}
		return nil
	}
	nonce, ct, err := s.key.seal(secretAD(profileID, name), []byte(v.Reveal()))
	if err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, `
		INSERT INTO secrets (profile_id, name, nonce, ciphertext, updated_at) VALUES (?, ?, ?, ?, ?)
		ON CONFLICT (profile_id, name) DO UPDATE SET nonce = excluded.nonce, ciphertext = excluded.ciphertext, updated_at = excluded.updated_at`,
		profileID, name, nonce, ct, now); err != nil {
		return fmt.Errorf("store: save secret %s of profile %d: %w", name, profileID, err)
	}
	return nil
}

// diffSettings lists the changed field paths: the directory type, the
// chosen type's section, then every field of the other sections, each
// walked by its JSON names (so a new setting can never be left out — a
// save whose only change it was would be skipped as "unchanged").
// Secrets count as changed when their stored row cannot be opened.
func diffSettings(a, b config.Settings, unreadable map[string]bool) []string {
	var out []string
	if a.Directory.Type != b.Directory.Type {
		out = append(out, config.FieldDirectoryType)
	}
	out = append(out, diffSection(a, b, unreadable)...)
	for _, sec := range []struct {
		name string
		a, b any
	}{
		{"bitwarden", &a.Bitwarden, &b.Bitwarden},
		{"sync", &a.Sync, &b.Sync},
		{"guard", &a.Guard, &b.Guard},
		{"alerts", &a.Alerts, &b.Alerts},
	} {
		fa := config.StructFields(sec.name, sec.a)
		for i, f := range config.StructFields(sec.name, sec.b) {
			if unreadable[f.Path] || !reflect.DeepEqual(fa[i].Value.Interface(), f.Value.Interface()) {
				out = append(out, f.Path)
			}
		}
	}
	return out
}

// diffSection lists the changed fields of the chosen directory type's
// section, walking its struct (paths "<type>.<json name>", in field
// order), so that a type's fields are covered without naming them here.
// Secrets count as changed when their stored row cannot be opened.
func diffSection(a, b config.Settings, unreadable map[string]bool) []string {
	sa, sb := a.Directory.Current(), b.Directory.Current()
	if sb == nil {
		return nil
	}
	if sa == nil || sa.Kind() != sb.Kind() {
		k, _ := directory.Lookup(sb.Kind())
		sa = k.New()
	}
	fa := config.SectionFields(sa)
	var out []string
	for i, f := range config.SectionFields(sb) {
		if unreadable[f.Path] || !reflect.DeepEqual(fa[i].Value.Interface(), f.Value.Interface()) {
			out = append(out, f.Path)
		}
	}
	return out
}
