package credential

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"time"

	"voicetoken/internal/vault"
)

// readVault reads the token in a vault: source's field.
func readVault(ctx context.Context, c *vault.Client, ref vault.Ref, timeout time.Duration) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	v, version, err := c.ReadField(ctx, ref)
	if err != nil {
		return nil, err
	}
	if len(v) > maxFileSize {
		return nil, fmt.Errorf("%w: field %q of version %d is %d bytes, over %d", vault.ErrField, ref.Field, version, len(v), maxFileSize)
	}
	return []byte(v), nil
}

// RotateVault validates opts.Token and writes it into the field ref names
// as a new version of the secret, keeping the secret's other fields. The
// write is check-and-set on the version read: when someone else wrote
// the secret in between, nothing is written and the error wraps
// vault.ErrChanged. Vault keeps the previous version (up to the mount's
// max_versions), which is the backup: opts.Backups and opts.Force do not
// apply. res.Path is the spec ("vault:secret/podium#token"), res.Backup
// names the version kept.
func RotateVault(ctx context.Context, c *vault.Client, ref vault.Ref, opts RotateOptions) (*RotateResult, error) {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	res := &RotateResult{Path: Spec{Kind: KindVault, Vault: ref}.String()}
	nc, err := opts.Policy.Check(opts.Token, opts.Now())
	if err != nil {
		return res, fmt.Errorf("new token: %w", err)
	}
	res.New = nc
	// cas is the version the write must find current: 0 creates the
	// secret only if there is none; after a deleted current version it is
	// that version's number.
	cas, kept, data := 0, 0, map[string]any{}
	cur, err := c.Read(ctx, ref)
	switch {
	case errors.Is(err, vault.ErrNotFound):
		if cur != nil {
			cas = cur.Version
		}
	case err != nil:
		return res, fmt.Errorf("current token: %w", err)
	default:
		cas, kept, data = cur.Version, cur.Version, maps.Clone(cur.Data)
		if old, ferr := cur.Field(ref); ferr == nil {
			res.Old, res.OldErr = Inspect(old)
		} else {
			res.OldErr = ferr
		}
	}
	if res.Old != nil && res.Old.value == nc.value {
		res.Unchanged = true
		return res, nil
	}
	if opts.DryRun {
		return res, nil
	}
	data[ref.Field] = nc.value
	nv, err := c.Write(ctx, ref, data, cas)
	if err != nil {
		return res, fmt.Errorf("write %s: %w", res.Path, err)
	}
	res.Version = nv
	if kept > 0 {
		res.Backup = fmt.Sprintf("version %d, kept by Vault (vault kv rollback -mount=%s -version=%d %s)", kept, ref.Mount, kept, ref.Path)
	}
	return res, nil
}
