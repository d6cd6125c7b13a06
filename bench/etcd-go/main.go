// etcd-go: the etcd side of the side-by-side benchmark (bench/run.sh), driven by etcd's own
// Go client (go.etcd.io/etcd/clientv3 3.4, Debian golang-etcd-server-dev), the same
// workloads as bench/loadgen.c drives against raftnode.
//
// Every client is one goroutine with one request in flight; the clients share -conns
// clientv3.Client objects (one gRPC connection each), by default one per 10 clients as in
// etcd's own throughput benchmark (1,000 clients over 100 connections); writes are puts of
// unique keys /bench/PREFIX/CLIENT/SEQ with a 32-byte value.
//
// Modes (output lines as loadgen's: RESULT <label>_<metric> <value> <unit>):
//
//	seq             one client, one put at a time, -requests N
//	throughput      -clients N closed loop for -duration S (-warmup excluded) or -requests N
//	failover-probe  SIGKILL -kill-pid, then put on every endpoint every -poll-ms until one succeeds
//	ready           wait until every endpoint serves -check-key locally (serializable get) and
//	                knows a leader, then put until one succeeds; time since -t0-ms
//	status          one STATUS line per endpoint
//	ceiling         the client's own limit: starts an in-process gRPC KV server that answers
//	                every put at once (no raft, no disk) on 127.0.0.1 and runs the throughput
//	                workload against it, with as many Go threads as the measured setup has
//	                (ceilingProcs); -endpoints is not used
//
// -op get makes seq/throughput send serializable gets of one key (no raft).
// Every loop is bounded by -deadline-s.
//
// Build (offline, from Debian's packages): GO111MODULE=off GOPATH=/usr/share/gocode go build
// (the Makefile's $(B)/bench/etcd-go target).
package main

import (
	"context"
	"flag"
	"fmt"
	"math"
	"net"
	"os"
	"runtime"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"go.etcd.io/etcd/clientv3"
	pb "go.etcd.io/etcd/etcdserver/etcdserverpb"
	"go.uber.org/zap"
	"google.golang.org/grpc"
	"google.golang.org/grpc/grpclog"
)

var value = strings.Repeat("v", 32)

// clientsPerConn: clients per connection by default, the ratio of etcd's own throughput
// benchmark (Documentation/op-guide/performance.md: --conns=100 --clients=1000).
const clientsPerConn = 10

type options struct {
	endpoints  []string
	mode       string
	op         string
	clients    int
	conns      int
	duration   float64
	warmup     float64
	requests   int
	prefix     string
	label      string
	timeout    time.Duration
	poll       time.Duration
	deadline   time.Duration
	killPid    int
	t0Ms       float64
	checkKey   string
	quiet      bool
	probeLimit int
}

func logf(o *options, format string, a ...interface{}) {
	if !o.quiet {
		fmt.Fprintf(os.Stderr, "etcd-go: "+format+"\n", a...)
	}
}

func fail(format string, a ...interface{}) {
	fmt.Fprintf(os.Stderr, "etcd-go: "+format+"\n", a...)
	os.Exit(1)
}

// quietLog: the client's own log at error level only (its retry interceptor warns on every
// failed attempt, thousands of lines during a failover or a restart).
var quietLog = func() *zap.Config {
	c := zap.NewProductionConfig()
	c.Level = zap.NewAtomicLevelAt(zap.ErrorLevel)
	return &c
}()

func newClient(o *options, ep string) (*clientv3.Client, error) {
	return clientv3.New(clientv3.Config{
		Endpoints:   []string{ep},
		DialTimeout: o.timeout,
		LogConfig:   quietLog,
	})
}

// status returns (member id, leader id, raft index, raft term) of the member at ep.
func status(o *options, c *clientv3.Client, ep string) (*clientv3.StatusResponse, error) {
	ctx, cancel := context.WithTimeout(context.Background(), o.timeout)
	defer cancel()
	return c.Status(ctx, ep)
}

func findLeader(o *options, until time.Time) string {
	for time.Now().Before(until) {
		for _, ep := range o.endpoints {
			c, err := newClient(o, ep)
			if err != nil {
				continue
			}
			st, err := status(o, c, ep)
			c.Close()
			if err == nil && st.Leader != 0 && st.Header.MemberId == st.Leader {
				return ep
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	return ""
}

func pct(sorted []time.Duration, p float64) float64 {
	n := len(sorted)
	if n == 0 {
		return math.NaN()
	}
	rank := int(math.Ceil(p * float64(n) / 100))
	if rank < 1 {
		rank = 1
	}
	if rank > n {
		rank = n
	}
	return float64(sorted[rank-1]) / 1e6
}

type clientResult struct {
	ok, okWin, errs int
	lat             []time.Duration
	firstErr        error
	last            time.Time
}

// runLoad runs the seq / throughput workload against ep (the leader, or the no-op server).
func runLoad(o *options, ep string) int {
	n := o.clients
	nc := o.conns
	if nc <= 0 { // etcd's performance guide: 1,000 clients over 100 connections
		nc = (n + clientsPerConn - 1) / clientsPerConn
	}
	if nc > n {
		nc = n
	}
	logf(o, "%s against %s: %d clients over %d connections", o.label, ep, n, nc)
	conns := make([]*clientv3.Client, nc)
	for i := range conns {
		c, err := newClient(o, ep)
		if err == nil {
			// connects before the clock starts
			ctx, cancel := context.WithTimeout(context.Background(), o.timeout)
			_, err = c.Get(ctx, "/bench/warmup", clientv3.WithSerializable())
			cancel()
		}
		if err != nil {
			fail("connection %d cannot reach %s: %v (is the cluster up?)", i, ep, err)
		}
		conns[i] = c
	}
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	quota := make([]int, n)
	if o.requests > 0 {
		for i := range quota {
			quota[i] = o.requests / n
			if i < o.requests%n {
				quota[i]++
			}
		}
	}
	cpu0 := cpuSeconds()
	t0 := time.Now().Add(50 * time.Millisecond)
	warm := t0.Add(time.Duration(o.warmup * float64(time.Second)))
	var end time.Time
	if o.duration > 0 {
		end = t0.Add(time.Duration(o.duration * float64(time.Second)))
	}
	hardStop := t0.Add(o.deadline)
	results := make([]clientResult, n)
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func(id int) {
			defer wg.Done()
			c, r := conns[id%nc], &results[id]
			time.Sleep(time.Until(t0))
			for seq := 0; ; seq++ {
				now := time.Now()
				if !end.IsZero() && !now.Before(end) {
					break
				}
				if o.requests > 0 && seq >= quota[id] {
					break
				}
				if now.After(hardStop) {
					r.errs++
					if r.firstErr == nil {
						r.firstErr = fmt.Errorf("deadline of %v reached", o.deadline)
					}
					break
				}
				ctx, cancel := context.WithTimeout(context.Background(), o.timeout)
				ts := time.Now()
				var err error
				if o.op == "get" {
					_, err = c.Get(ctx, "/bench/none", clientv3.WithSerializable())
				} else {
					_, err = c.Put(ctx, fmt.Sprintf("/bench/%s/%d/%d", o.prefix, id, seq), value)
				}
				te := time.Now()
				cancel()
				if err != nil {
					r.errs++
					if r.firstErr == nil {
						r.firstErr = err
					}
					continue
				}
				r.ok++
				r.last = te
				if end.IsZero() || (!ts.Before(warm) && !te.After(end)) {
					r.okWin++
					r.lat = append(r.lat, te.Sub(ts))
				}
			}
		}(i)
	}
	wg.Wait()
	// The driver's own CPU (this process: client goroutines, gRPC, GC) per second of the run:
	// how much of the machine the client took from the system it measures.
	cpuPct := 100 * (cpuSeconds() - cpu0) / time.Since(t0).Seconds()
	var ok, okWin, errs int
	var lat []time.Duration
	var last time.Time
	shown := 0
	for i := range results {
		r := &results[i]
		ok += r.ok
		okWin += r.okWin
		errs += r.errs
		lat = append(lat, r.lat...)
		if r.last.After(last) {
			last = r.last
		}
		if r.firstErr != nil && shown < 5 {
			fmt.Fprintf(os.Stderr, "etcd-go: %s failed: %v\n", o.op, r.firstErr)
			shown++
		}
	}
	if ok == 0 {
		fmt.Fprintf(os.Stderr, "etcd-go: no %s succeeded\n", o.op)
		return 1
	}
	sort.Slice(lat, func(a, b int) bool { return lat[a] < lat[b] })
	secs := o.duration - o.warmup
	if o.requests > 0 {
		secs = last.Sub(t0).Seconds()
	}
	wps := math.NaN()
	if secs > 0 {
		wps = float64(okWin) / secs
	}
	mean, maxv := math.NaN(), math.NaN()
	if len(lat) > 0 {
		var sum time.Duration
		for _, d := range lat {
			sum += d
		}
		mean = float64(sum) / float64(len(lat)) / 1e6
		maxv = float64(lat[len(lat)-1]) / 1e6
	}
	L := o.label
	fmt.Printf("RESULT %s_writes_per_s %.1f writes/s\n", L, wps)
	fmt.Printf("RESULT %s_p50 %.3f ms\n", L, pct(lat, 50))
	fmt.Printf("RESULT %s_p99 %.3f ms\n", L, pct(lat, 99))
	fmt.Printf("RESULT %s_p999 %.3f ms\n", L, pct(lat, 99.9))
	fmt.Printf("RESULT %s_mean %.3f ms\n", L, mean)
	fmt.Printf("RESULT %s_max %.3f ms\n", L, maxv)
	fmt.Printf("RESULT %s_samples %d count\n", L, len(lat))
	fmt.Printf("RESULT %s_errors %d count\n", L, errs)
	fmt.Printf("RESULT %s_client_cpu %.1f %%\n", L, cpuPct)
	logf(o, "%s: %d clients, %d ok (%d in window), %d errors, %.1f ops/s, p50 %.3f ms, p99 %.3f ms, mean %.3f ms, "+
		"driver CPU %.0f%% of one core", L, n, ok, okWin, errs, wps, pct(lat, 50), pct(lat, 99), mean, cpuPct)
	return 0
}

// ---- ceiling: an in-process KV server that answers without raft or disk -----------------

type noopKV struct{ hdr pb.ResponseHeader }

func (s *noopKV) Range(context.Context, *pb.RangeRequest) (*pb.RangeResponse, error) {
	return &pb.RangeResponse{Header: &s.hdr}, nil
}
func (s *noopKV) Put(context.Context, *pb.PutRequest) (*pb.PutResponse, error) {
	return &pb.PutResponse{Header: &s.hdr}, nil
}
func (s *noopKV) DeleteRange(context.Context, *pb.DeleteRangeRequest) (*pb.DeleteRangeResponse, error) {
	return &pb.DeleteRangeResponse{Header: &s.hdr}, nil
}
func (s *noopKV) Txn(context.Context, *pb.TxnRequest) (*pb.TxnResponse, error) {
	return &pb.TxnResponse{Header: &s.hdr}, nil
}
func (s *noopKV) Compact(context.Context, *pb.CompactionRequest) (*pb.CompactionResponse, error) {
	return &pb.CompactionResponse{Header: &s.hdr}, nil
}

// ceilingProcs: Go threads (GOMAXPROCS) of the ceiling run. On this 2-CPU machine the measured
// setup runs 8 (3 etcd members and the driver, 2 each); on a machine shared with other jobs the
// kernel shares the CPUs per thread, so a ceiling run with 2 got a fraction of the CPU the
// etcd run got (measured: 2.2x the etcd rate at load average 11, 4.3x at 8).
const ceilingProcs = 8

func runCeiling(o *options) int {
	if runtime.GOMAXPROCS(0) < ceilingProcs {
		runtime.GOMAXPROCS(ceilingProcs)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fail("ceiling: cannot listen on 127.0.0.1: %v", err)
	}
	srv := grpc.NewServer()
	pb.RegisterKVServer(srv, &noopKV{hdr: pb.ResponseHeader{ClusterId: 1, MemberId: 1, Revision: 1, RaftTerm: 1}})
	go func() { _ = srv.Serve(ln) }()
	defer srv.Stop()
	return runLoad(o, ln.Addr().String())
}

// ---- failover probe / ready -------------------------------------------------------------

type race struct {
	once     sync.Once
	done     chan struct{}
	winner   string
	tDone    time.Time
	attempts int64
}

func newRace() *race { return &race{done: make(chan struct{})} }

func (r *race) win(ep string) {
	r.once.Do(func() {
		r.tDone = time.Now()
		r.winner = ep
		close(r.done)
	})
}

func (r *race) finished() bool {
	select {
	case <-r.done:
		return true
	default:
		return false
	}
}

// putUntilSuccess: every poll interval one more put to ep without waiting for the earlier
// ones (at most probeLimit pending, each with the client timeout), so the first success
// is seen within about one poll interval of the cluster accepting writes again, whatever
// an earlier attempt is stuck on (e.g. a proposal forwarded to the dead leader).
func putUntilSuccess(o *options, ep string, c *clientv3.Client, r *race, idx int, until time.Time) {
	var pending int64
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	tick := time.NewTicker(o.poll)
	defer tick.Stop()
	for seq := 0; !r.finished() && time.Now().Before(until); seq++ {
		if atomic.LoadInt64(&pending) < int64(o.probeLimit) {
			atomic.AddInt64(&pending, 1)
			go func(key string) {
				defer atomic.AddInt64(&pending, -1)
				pctx, pcancel := context.WithTimeout(ctx, o.timeout)
				defer pcancel()
				if _, err := c.Put(pctx, key, value); err != nil {
					atomic.AddInt64(&r.attempts, 1)
					return
				}
				r.win(ep)
			}(fmt.Sprintf("/bench/%s/f%d/%d", o.prefix, idx, seq))
		}
		select {
		case <-r.done:
		case <-tick.C:
		}
	}
}

func runFailover(o *options) int {
	clients := make([]*clientv3.Client, len(o.endpoints))
	for i, ep := range o.endpoints {
		c, err := newClient(o, ep)
		if err == nil {
			_, err = status(o, c, ep) // connected and answering before the kill
		}
		if err != nil {
			fmt.Fprintf(os.Stderr, "etcd-go: pre-check of %s failed: %v\n", ep, err)
			return 1
		}
		clients[i] = c
	}
	defer func() {
		for _, c := range clients {
			c.Close()
		}
	}()
	r := newRace()
	until := time.Now().Add(o.deadline)
	if err := syscall.Kill(o.killPid, syscall.SIGKILL); err != nil {
		fmt.Fprintf(os.Stderr, "etcd-go: kill -9 %d failed: %v\n", o.killPid, err)
		return 1
	}
	tKill := time.Now()
	var wg sync.WaitGroup
	for i, ep := range o.endpoints {
		wg.Add(1)
		go func(i int, ep string) {
			defer wg.Done()
			putUntilSuccess(o, ep, clients[i], r, i, until)
		}(i, ep)
	}
	wg.Wait()
	if !r.finished() {
		fmt.Printf("RESULT %s_ms fail ms\n", o.label)
		return 1
	}
	ms := float64(r.tDone.Sub(tKill)) / 1e6
	fmt.Printf("RESULT %s_ms %.1f ms\n", o.label, ms)
	logf(o, "%s: first successful put after %.1f ms (via %s, %d failed attempts)", o.label, ms, r.winner,
		atomic.LoadInt64(&r.attempts))
	return 0
}

// cpuSeconds is this process's user + system CPU time so far.
func cpuSeconds() float64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return math.NaN()
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()).Seconds()
}

func nowMs() float64 { return float64(time.Now().UnixNano()) / 1e6 }

func runReady(o *options) int {
	until := time.Now().Add(o.deadline)
	r := newRace()
	var caughtUp, failed sync.WaitGroup
	caughtUp.Add(len(o.endpoints))
	allUp := make(chan struct{})
	var nFailed int64
	for i, ep := range o.endpoints {
		failed.Add(1)
		go func(i int, ep string) {
			defer failed.Done()
			var c *clientv3.Client
			defer func() {
				if c != nil {
					c.Close()
				}
			}()
			for {
				if !time.Now().Before(until) {
					atomic.AddInt64(&nFailed, 1)
					caughtUp.Done()
					return
				}
				var err error
				if c == nil {
					c, err = newClient(o, ep)
				}
				if err == nil {
					var st *clientv3.StatusResponse
					st, err = status(o, c, ep)
					found := true
					if err == nil && o.checkKey != "" {
						ctx, cancel := context.WithTimeout(context.Background(), o.timeout)
						gr, gerr := c.Get(ctx, o.checkKey, clientv3.WithSerializable())
						cancel()
						err = gerr
						found = gerr == nil && len(gr.Kvs) > 0
					}
					if err == nil && st.Leader != 0 && found {
						break
					}
				}
				if err != nil && c != nil {
					// a fresh connection next time: gRPC's reconnect backoff against a member
					// that was not listening yet grows to minutes
					c.Close()
					c = nil
				}
				time.Sleep(o.poll)
			}
			fmt.Printf("INFO %s member %s caught up after %.0f ms\n", o.label, ep, nowMs()-o.t0Ms)
			caughtUp.Done()
			select {
			case <-allUp:
			case <-time.After(time.Until(until)):
				return
			}
			if atomic.LoadInt64(&nFailed) == 0 {
				putUntilSuccess(o, ep, c, r, i, until)
			}
		}(i, ep)
	}
	caughtUp.Wait()
	close(allUp)
	failed.Wait()
	if !r.finished() {
		fmt.Printf("RESULT %s_ms fail ms\n", o.label)
		return 1
	}
	ms := float64(r.tDone.UnixNano())/1e6 - o.t0Ms
	fmt.Printf("RESULT %s_ms %.1f ms\n", o.label, ms)
	logf(o, "%s: first successful put %.1f ms after t0 (via %s)", o.label, ms, r.winner)
	return 0
}

func runStatus(o *options) int {
	for _, ep := range o.endpoints {
		c, err := newClient(o, ep)
		var st *clientv3.StatusResponse
		if err == nil {
			st, err = status(o, c, ep)
			c.Close()
		}
		if err != nil {
			fmt.Printf("STATUS %s unreachable %v\n", ep, strings.ReplaceAll(err.Error(), " ", "_"))
			continue
		}
		state := "follower"
		if st.Header.MemberId == st.Leader {
			state = "leader"
		}
		fmt.Printf("STATUS %s id=%x state=%s term=%d leader_id=%x raft_index=%d\n",
			ep, st.Header.MemberId, state, st.RaftTerm, st.Leader, st.RaftIndex)
	}
	return 0
}

func main() {
	o := &options{}
	eps := flag.String("endpoints", "", "host:port[,host:port...] (client URLs)")
	flag.StringVar(&o.mode, "mode", "throughput", "seq|throughput|failover-probe|ready|status|ceiling")
	flag.StringVar(&o.op, "op", "put", "put|get (get: serializable range of one key, no raft)")
	flag.IntVar(&o.clients, "clients", 1, "concurrent clients (goroutines, one request in flight each)")
	flag.IntVar(&o.conns, "conns", 0, "connections (clientv3.Client) the clients share round robin (0: one per 10 clients)")
	flag.Float64Var(&o.duration, "duration", 0, "seconds (throughput)")
	flag.Float64Var(&o.warmup, "warmup", 0, "seconds excluded at the start")
	flag.IntVar(&o.requests, "requests", 0, "requests in all (instead of -duration)")
	flag.StringVar(&o.prefix, "prefix", "ed", "key prefix")
	flag.StringVar(&o.label, "label", "", "RESULT label (default: the mode)")
	timeoutMs := flag.Int("timeout-ms", 1000, "per-request timeout")
	pollMs := flag.Int("poll-ms", 10, "probe interval (failover-probe, ready)")
	deadlineS := flag.Float64("deadline-s", 0, "bound on the whole run")
	flag.IntVar(&o.killPid, "kill-pid", 0, "failover-probe: the leader's pid")
	flag.Float64Var(&o.t0Ms, "t0-ms", 0, "ready: wall-clock ms the time is measured from")
	flag.StringVar(&o.checkKey, "check-key", "", "ready: key every member must serve")
	flag.BoolVar(&o.quiet, "quiet", false, "no progress on stderr")
	flag.Parse()
	if flag.NArg() > 0 {
		fail("unexpected argument %q (flags are -name value)", flag.Arg(0))
	}
	grpclog.SetLoggerV2(grpclog.NewLoggerV2(discard{}, discard{}, os.Stderr))
	for _, e := range strings.Split(*eps, ",") {
		if e != "" {
			o.endpoints = append(o.endpoints, e)
		}
	}
	o.timeout = time.Duration(*timeoutMs) * time.Millisecond
	o.poll = time.Duration(*pollMs) * time.Millisecond
	o.probeLimit = 1000
	if o.label == "" {
		o.label = strings.ReplaceAll(o.mode, "-", "_")
	}
	if o.op != "put" && o.op != "get" {
		fail("-op must be put or get, not %q", o.op)
	}
	if o.timeout <= 0 || o.poll <= 0 || o.clients < 1 {
		fail("-timeout-ms, -poll-ms and -clients must be positive")
	}
	switch o.mode {
	case "seq":
		o.clients = 1
		if o.requests == 0 && o.duration == 0 {
			o.requests = 1000
		}
	case "throughput", "ceiling":
		if o.requests == 0 && o.duration == 0 {
			o.duration = 10
		}
	case "failover-probe":
		if o.killPid <= 0 {
			fail("failover-probe needs -kill-pid")
		}
	case "ready":
		if o.t0Ms == 0 {
			o.t0Ms = nowMs()
		}
	case "status":
	default:
		fail("unknown -mode %q (seq, throughput, failover-probe, ready, status, ceiling)", o.mode)
	}
	if o.requests > 0 && o.duration > 0 {
		fail("give -duration or -requests, not both")
	}
	if o.duration > 0 && o.warmup >= o.duration {
		fail("-warmup must be shorter than -duration")
	}
	if *deadlineS > 0 {
		o.deadline = time.Duration(*deadlineS * float64(time.Second))
	} else if o.duration > 0 {
		o.deadline = time.Duration((o.duration + 30) * float64(time.Second))
	} else {
		o.deadline = 600 * time.Second
	}
	if o.mode != "ceiling" && len(o.endpoints) == 0 {
		fail("-endpoints is required")
	}
	switch o.mode {
	case "seq", "throughput":
		leader := findLeader(o, time.Now().Add(10*time.Second))
		if leader == "" {
			fail("no endpoint of %s reports itself leader within 10 s", *eps)
		}
		os.Exit(runLoad(o, leader))
	case "ceiling":
		os.Exit(runCeiling(o))
	case "failover-probe":
		os.Exit(runFailover(o))
	case "ready":
		os.Exit(runReady(o))
	default:
		os.Exit(runStatus(o))
	}
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }
