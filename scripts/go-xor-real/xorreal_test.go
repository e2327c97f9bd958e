// Package xorreal measures Prometheus 2.42's own XOR chunk appender and iterator
// (tsdb/chunkenc) on the same real data Lookout's `xor/*` criterion benchmarks use,
// so the "≥ 5× on real counters/gauges" target of issue 5 has a side-by-side anchor.
//
// Data sets (read from $LOOKOUT_SHARED):
//   - real_selfscrape: every float sample of the Prometheus 2.42 self-scrape WAL
//     (datasets/metrics/prometheus-2.42-generated/selfscrape-data), read back through
//     Prometheus' own read-only DB, cut into 120-sample series;
//   - alp_*: the ALP float datasets, little-endian float64, at 15 s spacing from
//     t = 1,700,000,000,000 ms, cut into 120-sample series.
//
// Each benchmark op encodes (or decodes, through Next/At) every series of one set once;
// `samples/op` is reported so the caller can convert ns/op into samples/s.
package xorreal

import (
	"context"
	"encoding/binary"
	"math"
	"os"
	"path/filepath"
	"sort"
	"testing"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/tsdb"
	"github.com/prometheus/prometheus/tsdb/chunkenc"
)

type sample struct {
	t int64
	v float64
}

const perChunk = 120

func sharedDir() string {
	if d := os.Getenv("LOOKOUT_SHARED"); d != "" {
		return d
	}
	return "../shared"
}

func cut(all []sample) [][]sample {
	var out [][]sample
	for len(all) > 0 {
		n := perChunk
		if n > len(all) {
			n = len(all)
		}
		out = append(out, all[:n])
		all = all[n:]
	}
	return out
}

func copyDir(src, dst string) error {
	if err := os.MkdirAll(dst, 0o755); err != nil {
		return err
	}
	ents, err := os.ReadDir(src)
	if err != nil {
		return err
	}
	for _, e := range ents {
		if e.IsDir() {
			if err := copyDir(filepath.Join(src, e.Name()), filepath.Join(dst, e.Name())); err != nil {
				return err
			}
			continue
		}
		b, err := os.ReadFile(filepath.Join(src, e.Name()))
		if err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(dst, e.Name()), b, 0o644); err != nil {
			return err
		}
	}
	return nil
}

func selfscrape(b *testing.B) [][]sample {
	src := filepath.Join(sharedDir(), "datasets/metrics/prometheus-2.42-generated/selfscrape-data")
	tmp := b.TempDir()
	if err := copyDir(filepath.Join(src, "wal"), filepath.Join(tmp, "wal")); err != nil {
		b.Skipf("selfscrape data: %v", err)
	}
	db, err := tsdb.OpenDBReadOnly(tmp, nil)
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	q, err := db.Querier(context.Background(), math.MinInt64, math.MaxInt64)
	if err != nil {
		b.Fatal(err)
	}
	defer q.Close()
	ss := q.Select(true, nil, labels.MustNewMatcher(labels.MatchRegexp, "__name__", ".+"))
	var out [][]sample
	var it chunkenc.Iterator
	for ss.Next() {
		it = ss.At().Iterator(it)
		var all []sample
		for it.Next() == chunkenc.ValFloat {
			t, v := it.At()
			all = append(all, sample{t, v})
		}
		out = append(out, cut(all)...)
	}
	if err := ss.Err(); err != nil {
		b.Fatal(err)
	}
	return out
}

func alp(b *testing.B, name string) [][]sample {
	raw, err := os.ReadFile(filepath.Join(sharedDir(), "datasets/metrics/alp-float-samples", name))
	if err != nil {
		b.Skipf("%s: %v", name, err)
	}
	all := make([]sample, 0, len(raw)/8)
	for i := 0; i+8 <= len(raw); i += 8 {
		all = append(all, sample{
			t: 1_700_000_000_000 + int64(i/8)*15_000,
			v: math.Float64frombits(binary.LittleEndian.Uint64(raw[i:])),
		})
	}
	return cut(all)
}

func count(series [][]sample) int {
	n := 0
	for _, s := range series {
		n += len(s)
	}
	return n
}

func encode(b *testing.B, s []sample) *chunkenc.XORChunk {
	c := chunkenc.NewXORChunk()
	app, err := c.Appender()
	if err != nil {
		b.Fatal(err)
	}
	for _, x := range s {
		app.Append(x.t, x.v)
	}
	return c
}

var sink float64

func run(b *testing.B, series [][]sample) {
	n := count(series)
	b.Run("encode", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			for _, s := range series {
				c := encode(b, s)
				sink += float64(len(c.Bytes()))
			}
		}
		b.ReportMetric(float64(n), "samples/op")
	})
	chunks := make([]*chunkenc.XORChunk, len(series))
	bytes := 0
	for i, s := range series {
		chunks[i] = encode(b, s)
		bytes += len(chunks[i].Bytes())
	}
	b.Run("decode", func(b *testing.B) {
		b.ReportAllocs()
		var it chunkenc.Iterator
		var acc int64
		for i := 0; i < b.N; i++ {
			for _, c := range chunks {
				it = c.Iterator(it)
				for it.Next() == chunkenc.ValFloat {
					t, v := it.At()
					acc += t
					sink = v
				}
			}
		}
		sink += float64(acc)
		b.ReportMetric(float64(n), "samples/op")
		b.ReportMetric(float64(bytes)/float64(n), "bytes/sample")
	})
}

func BenchmarkXORReal(b *testing.B) {
	b.Run("real_selfscrape", func(b *testing.B) { run(b, selfscrape(b)) })
	names := []string{
		"city_temperature_f_tw.bin",
		"bitcoin_transactions_f_tw.bin",
		"food_prices_tw.bin",
		"gov26_tw.bin",
		"nyc29_tw.bin",
	}
	sort.Strings(names)
	for _, name := range names {
		name := name
		b.Run("alp_"+name[:len(name)-4], func(b *testing.B) { run(b, alp(b, name)) })
	}
}
