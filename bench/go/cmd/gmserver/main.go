// gmserver is the go-micro v5 side of the benchmark: a stock go-micro service
// (HTTP transport, JSON codec) with Greeter.Hello and Greeter.Echo, bound to
// 127.0.0.1. It registers in an in-process memory registry (nothing leaves the
// host) and prints {"ready":true,"address":...,"service":<registry record>} on
// stdout; it exits when stdin closes or on SIGTERM.
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	micro "go-micro.dev/v5"
	"go-micro.dev/v5/broker"
	"go-micro.dev/v5/registry"
	"go-micro.dev/v5/transport"

	"github.com/micro-ts/bench/go/internal/bench"
)

// Greeter is the benchmark handler.
type Greeter struct{}

// Hello answers {"greeting":"Hello <name>"}.
func (g *Greeter) Hello(ctx context.Context, req *bench.HelloRequest, rsp *bench.HelloResponse) error {
	rsp.Greeting = "Hello " + req.Name
	return nil
}

// Echo sends the decoded body back.
func (g *Greeter) Echo(ctx context.Context, req *bench.Big, rsp *bench.Big) error {
	*rsp = *req
	return nil
}

func main() {
	name := "bench.greeter"
	if len(os.Args) > 1 {
		name = os.Args[1]
	}
	reg := registry.NewMemoryRegistry()
	svc := micro.New(name,
		micro.Version("1.0.0"),
		micro.Address("127.0.0.1:0"),
		micro.Registry(reg),
		micro.Broker(broker.NewMemoryBroker()),
		micro.Transport(transport.NewHTTPTransport()),
		micro.HandleSignal(false),
	)
	if err := svc.Handle(new(Greeter)); err != nil {
		fail(err)
	}
	if err := svc.Start(); err != nil {
		fail(err)
	}
	records, err := reg.GetService(name)
	if err != nil || len(records) == 0 {
		fail(fmt.Errorf("own registration not found: %v", err))
	}
	ready, _ := json.Marshal(map[string]any{
		"ready":   true,
		"address": svc.Server().Options().Address,
		"service": records[0],
	})
	fmt.Println(string(ready))

	done := make(chan struct{}, 2)
	go func() {
		_, _ = io.Copy(io.Discard, os.Stdin)
		done <- struct{}{}
	}()
	go func() {
		sig := make(chan os.Signal, 1)
		signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
		<-sig
		done <- struct{}{}
	}()
	<-done
	_ = svc.Stop()
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "gmserver:", err)
	os.Exit(1)
}
