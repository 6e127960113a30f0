package apibench

import (
	"os"
	"testing"

	"github.com/postern/postern/internal/testutil/posternbin"
)

func TestMain(m *testing.M) { os.Exit(posternbin.Run(m)) }
