package audit

import (
	"testing"

	"github.com/postern/postern/internal/testutil/pgtest"
)

// TestMain stops the PostgreSQL server of the tests (if one started) when
// they end.
func TestMain(m *testing.M) { pgtest.Main(m) }
