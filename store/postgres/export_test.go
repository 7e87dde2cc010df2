package postgres

import "github.com/jackc/pgx/v5"

// WithTracer hands every query of the store's pool to t.
func WithTracer(t pgx.QueryTracer) Option { return func(o *options) { o.tracer = t } }
