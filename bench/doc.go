// Package bench is `make bench`: the AWS post-processor, its dry run and
// the data source measured against the EC2 emulator with per-call latency
// and EC2's token buckets, the serial baseline and the amazon plugin beside
// them in the same run, the local backend, and the GCP sweep against the
// Compute Engine emulator (case 6, PLC_BENCH_CASES key gcp) with per-call
// latency and Compute Engine's per-minute quotas beside its own serial
// baseline; it writes BENCHMARKS.md.
// Everything is in files built only with `-tags bench`, so `make test`
// never runs it.
package bench
