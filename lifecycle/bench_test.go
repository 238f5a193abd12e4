package lifecycle

import (
	"fmt"
	"testing"
)

// BenchmarkPlan: one family with N releases in each of 17 regions, a tenth
// of them in use: the size of a busy AWS account's sweep.
func BenchmarkPlan(b *testing.B) {
	for _, n := range []int{100, 1000} {
		b.Run(fmt.Sprintf("releases=%d/regions=17", n), func(b *testing.B) {
			var images []Image
			usage := Usage{}
			for r := range 17 {
				for v := range n {
					id := fmt.Sprintf("ami-%d-%d", r, v)
					images = append(images, mk(id, fmt.Sprintf("1.%d.%d", v/100, v%100), n-v, with(func(i *Image) {
						i.Region = fmt.Sprintf("region-%d", r)
					})))
					if v%10 == 0 {
						usage[Ref{fmt.Sprintf("region-%d", r), id}] = []Consumer{{Kind: "instance", ID: "i-" + id}}
					}
				}
			}
			pol := testPolicy()
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				Plan(images, usage, pol, now, nil)
			}
			b.ReportMetric(float64(len(images)), "images/op")
		})
	}
}
