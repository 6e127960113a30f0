package sqlstore

import (
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/postern/postern/internal/store"
)

var benchSeq atomic.Int64

// createUserWithKey is the write the benchmarks measure: the transaction
// CreateUser + CreateAccessKey, as the IAM API runs it.
func createUserWithKey(b *testing.B, s *Store) error {
	n := benchSeq.Add(1)
	name := fmt.Sprintf("bench-%d", n)
	return s.InTx(b.Context(), func(tx store.Repo) error {
		if err := tx.CreateUser(b.Context(), store.User{
			UserID: fmt.Sprintf("AIDA%017d", n), UserName: name, Path: "/",
			ARN: "arn:aws:iam::123456789012:user/" + name, CreateDate: time.Now(),
			Tags: []store.Tag{{Key: "k", Value: "v"}},
		}); err != nil {
			return err
		}
		return tx.CreateAccessKey(b.Context(), store.AccessKey{
			AccessKeyID: fmt.Sprintf("AKIA%016d", n), UserName: name,
			SecretSealed: make([]byte, 69), Status: store.KeyActive, CreateDate: time.Now(),
		})
	})
}

func BenchmarkGetAccessKey(b *testing.B) {
	s, _ := openTemp(b, defaultSQLiteOptions())
	const keys = 1000
	for range keys {
		if err := createUserWithKey(b, s); err != nil {
			b.Fatal(err)
		}
	}
	first := benchSeq.Load() - keys + 1
	b.Run("serial", func(b *testing.B) {
		i := int64(0)
		for b.Loop() {
			if _, err := s.GetAccessKey(b.Context(), fmt.Sprintf("AKIA%016d", first+i%keys)); err != nil {
				b.Fatal(err)
			}
			i++
		}
	})
	b.Run("parallel", func(b *testing.B) {
		var i atomic.Int64
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if _, err := s.GetAccessKey(b.Context(), fmt.Sprintf("AKIA%016d", first+i.Add(1)%keys)); err != nil {
					b.Error(err)
					return
				}
			}
		})
	})
}

func BenchmarkCreateUserWithKeyTx(b *testing.B) {
	b.Run("serial", func(b *testing.B) {
		s, _ := openTemp(b, defaultSQLiteOptions())
		for b.Loop() {
			if err := createUserWithKey(b, s); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("parallel", func(b *testing.B) {
		s, _ := openTemp(b, defaultSQLiteOptions())
		b.SetParallelism(4)
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if err := createUserWithKey(b, s); err != nil {
					b.Error(err)
					return
				}
			}
		})
	})
}

// BenchmarkWriteStrategy compares the write-connection strategies and
// synchronous levels under contention (8×GOMAXPROCS goroutines). busy/op
// counts transactions that failed with SQLITE_BUSY.
func BenchmarkWriteStrategy(b *testing.B) {
	for _, synchronous := range []string{"NORMAL", "FULL"} {
		for _, writers := range []int{1, 8} {
			b.Run(fmt.Sprintf("sync=%s/writers=%d", synchronous, writers), func(b *testing.B) {
				o := defaultSQLiteOptions()
				o.synchronous, o.writers = synchronous, writers
				s, _ := openTemp(b, o)
				var (
					busy, other atomic.Int64
					mu          sync.Mutex
					lat         []time.Duration
				)
				b.SetParallelism(8)
				b.RunParallel(func(pb *testing.PB) {
					var mine []time.Duration
					defer func() {
						mu.Lock()
						lat = append(lat, mine...)
						mu.Unlock()
					}()
					for pb.Next() {
						start := time.Now()
						err := createUserWithKey(b, s)
						mine = append(mine, time.Since(start))
						if err != nil {
							if s.d.classify(err) == errBusy {
								busy.Add(1)
							} else {
								other.Add(1)
								b.Log(err)
							}
						}
					}
				})
				b.ReportMetric(float64(busy.Load())/float64(b.N), "busy/op")
				slices.Sort(lat)
				if len(lat) > 0 {
					b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
					b.ReportMetric(float64(lat[len(lat)-1].Microseconds())/1000, "max-ms")
				}
				if other.Load() > 0 {
					b.Errorf("%d transactions failed for other reasons", other.Load())
				}
			})
		}
	}
}
