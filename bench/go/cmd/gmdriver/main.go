// gmdriver is the go-micro v5 load generator: a go-micro client (selector over
// a memory registry seeded with the server's own record, HTTP transport, JSON
// codec) driven by JSON-line commands on stdin, answering on stdout, in the
// same protocol as bench/src/driver.ts:
//
//	{"id":1,"cmd":"run","payload":"greeter"|"big","concurrency":64,"durationMs":2000}  -> {"re":1,"calls":n,"errors":e,"elapsedMs":t}
//	{"id":2,"cmd":"reset"}   -> forget latency samples
//	{"id":3,"cmd":"stats"}   -> {"re":3,"count":n,"p50":ms,"p99":ms,"max":ms}
//	{"id":4,"cmd":"exit"}
//
// Its single argument is a JSON config: {"service":<registry record>,"big":<16 KiB body>}.
// GMDRIVER_RETRIES overrides go-micro's default of 1 retry.
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"go-micro.dev/v5/broker"
	"go-micro.dev/v5/client"
	"go-micro.dev/v5/registry"
	"go-micro.dev/v5/selector"
	"go-micro.dev/v5/transport"

	"github.com/micro-ts/bench/go/internal/bench"
)

type config struct {
	Service *registry.Service `json:"service"`
	Big     bench.Big         `json:"big"`
}

type command struct {
	ID          int    `json:"id"`
	Cmd         string `json:"cmd"`
	Payload     string `json:"payload"`
	Concurrency int    `json:"concurrency"`
	DurationMs  int    `json:"durationMs"`
	Calls       int    `json:"calls"`
}

var out = json.NewEncoder(os.Stdout)

func reply(id int, v map[string]any) {
	v["re"] = id
	_ = out.Encode(v)
}

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: gmdriver CONFIG_JSON")
		os.Exit(2)
	}
	var cfg config
	if err := json.Unmarshal([]byte(os.Args[1]), &cfg); err != nil || cfg.Service == nil {
		fmt.Fprintln(os.Stderr, "gmdriver: bad config:", err)
		os.Exit(2)
	}
	reg := registry.NewMemoryRegistry()
	if err := reg.Register(cfg.Service); err != nil {
		fmt.Fprintln(os.Stderr, "gmdriver: seed registry:", err)
		os.Exit(1)
	}
	c := client.NewClient(
		client.Registry(reg),
		client.Selector(selector.NewSelector(selector.Registry(reg))),
		client.Transport(transport.NewHTTPTransport()),
		client.Broker(broker.NewMemoryBroker()),
		client.ContentType("application/json"),
		client.RequestTimeout(30*time.Second),
		client.Retries(retries()),
	)
	name := cfg.Service.Name
	hello := c.NewRequest(name, "Greeter.Hello", &bench.HelloRequest{Name: "John"})
	echo := c.NewRequest(name, "Greeter.Echo", &cfg.Big)

	call := func(payload string) error {
		if payload == "big" {
			var rsp bench.Big
			if err := c.Call(context.Background(), echo, &rsp); err != nil {
				return err
			}
			if len(rsp.Items) != len(cfg.Big.Items) {
				return fmt.Errorf("echo returned %d items, want %d", len(rsp.Items), len(cfg.Big.Items))
			}
			return nil
		}
		var rsp bench.HelloResponse
		if err := c.Call(context.Background(), hello, &rsp); err != nil {
			return err
		}
		if rsp.Greeting != "Hello John" {
			return fmt.Errorf("unexpected greeting %q", rsp.Greeting)
		}
		return nil
	}

	var samples []float64 // milliseconds, since the last reset
	_ = out.Encode(map[string]any{"ready": true})
	in := bufio.NewScanner(os.Stdin)
	in.Buffer(make([]byte, 1<<20), 1<<24)
	for in.Scan() {
		var cmd command
		if err := json.Unmarshal(in.Bytes(), &cmd); err != nil {
			fmt.Fprintln(os.Stderr, "gmdriver: bad command:", err)
			continue
		}
		switch cmd.Cmd {
		case "run":
			res, lat := run(call, cmd)
			samples = append(samples, lat...)
			reply(cmd.ID, res)
		case "reset":
			samples = samples[:0]
			reply(cmd.ID, map[string]any{"ok": true})
		case "stats":
			sort.Float64s(samples)
			reply(cmd.ID, map[string]any{"count": len(samples), "p50": pct(samples, 0.50), "p99": pct(samples, 0.99), "max": pct(samples, 1)})
		case "exit":
			reply(cmd.ID, map[string]any{"ok": true})
			return
		default:
			reply(cmd.ID, map[string]any{"error": "unknown command " + cmd.Cmd})
		}
	}
}

// run keeps cmd.Concurrency calls in flight until the duration passes (or
// cmd.Calls calls were started) and returns the counts and latencies.
func run(call func(string) error, cmd command) (map[string]any, []float64) {
	conc := max(cmd.Concurrency, 1)
	var started, errs atomic.Int64
	var firstErr atomic.Value
	lats := make([][]float64, conc)
	deadline := time.Now().Add(time.Duration(cmd.DurationMs) * time.Millisecond)
	begin := time.Now()
	var wg sync.WaitGroup
	for w := 0; w < conc; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for {
				if cmd.Calls > 0 {
					if started.Add(1) > int64(cmd.Calls) {
						return
					}
				} else if !time.Now().Before(deadline) {
					return
				}
				t0 := time.Now()
				if err := call(cmd.Payload); err != nil {
					errs.Add(1)
					firstErr.CompareAndSwap(nil, err.Error())
					continue
				}
				lats[w] = append(lats[w], float64(time.Since(t0).Nanoseconds())/1e6)
			}
		}(w)
	}
	wg.Wait()
	elapsed := float64(time.Since(begin).Nanoseconds()) / 1e6
	var all []float64
	for _, l := range lats {
		all = append(all, l...)
	}
	res := map[string]any{"calls": len(all), "errors": errs.Load(), "elapsedMs": elapsed}
	if e, ok := firstErr.Load().(string); ok {
		res["firstError"] = e
	}
	return res, all
}

func pct(sorted []float64, q float64) float64 {
	if len(sorted) == 0 {
		return 0
	}
	i := int(q*float64(len(sorted))+0.5) - 1
	i = min(max(i, 0), len(sorted)-1)
	return sorted[i]
}

// retries is go-micro's default (1) unless GMDRIVER_RETRIES says otherwise.
func retries() int {
	var n int
	if _, err := fmt.Sscan(os.Getenv("GMDRIVER_RETRIES"), &n); err != nil {
		return client.DefaultRetries
	}
	return n
}
