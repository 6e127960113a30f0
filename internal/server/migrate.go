package server

import (
	"context"
	"log/slog"
)

// Migrate brings the configured store's schema up to date and returns
// (`postern migrate`): replicas may also migrate on start, one at a time
// (the migrations take a lock).
func Migrate(ctx context.Context, opts Options, logger *slog.Logger) error {
	cfg, err := resolveConfig(opts)
	if err != nil {
		return err
	}
	st, err := OpenStore(ctx, cfg, logger)
	if err != nil {
		return err
	}
	return st.Close()
}
