// registry-dump prints what go-micro's registry (MICRO_REGISTRY,
// MICRO_REGISTRY_ADDRESS) holds, as go-micro's own JSON:
//
//	registry-dump [-wait 5s] SERVICE   -> the []*registry.Service of GetService
//	registry-dump -list                 -> the []*registry.Service of ListServices
//	registry-dump -watch [SERVICE]      -> one {"action","service"} line per watch event
//
// With -wait it polls until SERVICE has at least -nodes nodes (exit 1 when the
// time runs out, printing the last lookup error).
package main

import (
	"flag"
	"time"

	"go-micro.dev/v5/registry"

	"github.com/micro-ts/interop/go-micro/internal/mu"
)

func main() {
	wait := flag.Duration("wait", 0, "poll until the service is found")
	nodes := flag.Int("nodes", 1, "with -wait: how many nodes to wait for")
	list := flag.Bool("list", false, "list all services")
	watch := flag.Bool("watch", false, "print watch events")
	flag.Parse()

	svc := mu.NewService("interop.registry-dump")
	reg := svc.Options().Registry

	switch {
	case *watch:
		var opts []registry.WatchOption
		if flag.NArg() == 1 {
			opts = append(opts, registry.WatchService(flag.Arg(0)))
		}
		w, err := reg.Watch(opts...)
		if err != nil {
			mu.Fatal(1, "watch: %v", err)
		}
		mu.PrintJSON(map[string]any{"ready": true})
		for {
			r, err := w.Next()
			if err != nil {
				mu.Fatal(1, "watch: %v", err)
			}
			mu.PrintJSON(map[string]any{"action": r.Action, "service": r.Service})
		}
	case *list:
		svcs, err := reg.ListServices()
		if err != nil {
			mu.Fatal(1, "list: %v", err)
		}
		mu.PrintJSON(svcs)
	default:
		if flag.NArg() != 1 {
			mu.Fatal(2, "usage: registry-dump [-wait d] SERVICE | -list | -watch [SERVICE]")
		}
		deadline := time.Now().Add(*wait)
		for {
			svcs, err := reg.GetService(flag.Arg(0))
			count := 0
			for _, s := range svcs {
				count += len(s.Nodes)
			}
			if err == nil && count >= *nodes {
				mu.PrintJSON(svcs)
				return
			}
			if time.Now().After(deadline) {
				if err == nil {
					mu.Fatal(1, "service %s: %d nodes, wanted %d", flag.Arg(0), count, *nodes)
				}
				mu.Fatal(1, "service %s: %v", flag.Arg(0), err)
			}
			time.Sleep(200 * time.Millisecond)
		}
	}
}
