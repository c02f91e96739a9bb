// greeter is a go-micro service for the interop tests:
//
//	Greeter.Hello  {name}          -> {greeting: "Hello <name>"}
//	Greeter.Fail   {name}          -> errors.BadRequest("greeter.fail", "bad name <name>")
//	Greeter.Slow   {ms}            -> sleeps ms (ignoring the deadline, like a careless handler), then {slept_ms, deadline_ms}
//	Greeter.Stream (bidi stream)   -> for each {name} received, sends {greeting: "Hello <name>"}; {count:n} sends n messages
//
// It also subscribes to -topic (if given) and prints every message as one JSON line.
// Plugins come from MICRO_REGISTRY / MICRO_BROKER / MICRO_TRANSPORT (+ _ADDRESS).
// Once serving it prints {"ready":true,"id":...,"address":...} on stdout.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"time"

	micro "go-micro.dev/v5"
	"go-micro.dev/v5/errors"
	"go-micro.dev/v5/metadata"
	"go-micro.dev/v5/server"

	"github.com/micro-ts/interop/go-micro/internal/mu"
)

type HelloRequest struct {
	Name string `json:"name"`
}

type HelloResponse struct {
	Greeting string `json:"greeting"`
}

type SlowRequest struct {
	Ms int `json:"ms"`
}

type SlowResponse struct {
	SleptMs int `json:"slept_ms"`
	// DeadlineMs is how far away the server-side deadline (from the Timeout
	// header) was when the handler started; -1 when the request had none.
	DeadlineMs int64 `json:"deadline_ms"`
}

type StreamMessage struct {
	Name  string `json:"name,omitempty"`
	Count int    `json:"count,omitempty"`
}

type Greeter struct{}

func (g *Greeter) Hello(ctx context.Context, req *HelloRequest, rsp *HelloResponse) error {
	rsp.Greeting = "Hello " + req.Name
	return nil
}

func (g *Greeter) Fail(ctx context.Context, req *HelloRequest, rsp *HelloResponse) error {
	return errors.BadRequest("greeter.fail", "bad name %s", req.Name)
}

func (g *Greeter) Slow(ctx context.Context, req *SlowRequest, rsp *SlowResponse) error {
	rsp.DeadlineMs = -1
	if d, ok := ctx.Deadline(); ok {
		rsp.DeadlineMs = time.Until(d).Milliseconds()
	}
	time.Sleep(time.Duration(req.Ms) * time.Millisecond)
	rsp.SleptMs = req.Ms
	return nil
}

// Stream is a bidirectional stream: go-micro's router treats any method
// taking (ctx, server.Stream) as one.
func (g *Greeter) Stream(ctx context.Context, stream server.Stream) error {
	for {
		var msg StreamMessage
		if err := stream.Recv(&msg); err != nil {
			if err == io.EOF {
				return nil
			}
			return err
		}
		if msg.Count > 0 {
			for i := 1; i <= msg.Count; i++ {
				if err := stream.Send(&HelloResponse{Greeting: fmt.Sprintf("Hello %d", i)}); err != nil {
					return err
				}
			}
			continue
		}
		if msg.Name == "fail" {
			return errors.BadRequest("greeter.stream", "bad name %s", msg.Name)
		}
		if err := stream.Send(&HelloResponse{Greeting: "Hello " + msg.Name}); err != nil {
			return err
		}
	}
}

func main() {
	name := flag.String("name", "greeter", "service name")
	version := flag.String("version", "1.0.0", "service version (MICRO_SERVER_VERSION wins)")
	topic := flag.String("topic", "", "also subscribe to this topic and print each message")
	queue := flag.String("queue", "", "queue group for -topic")
	flag.Parse()

	svc := mu.NewService(*name,
		micro.Version(*version),
		micro.Metadata(map[string]string{"lang": "go"}),
	)
	if err := svc.Handle(new(Greeter)); err != nil {
		mu.Fatal(1, "handle: %v", err)
	}
	if *topic != "" {
		var opts []server.SubscriberOption
		if *queue != "" {
			opts = append(opts, server.SubscriberQueue(*queue))
		}
		sub := svc.Server().NewSubscriber(*topic, func(ctx context.Context, msg *json.RawMessage) error {
			md, _ := metadata.FromContext(ctx)
			mu.PrintJSON(map[string]any{"topic": *topic, "header": md, "body": msg})
			return nil
		}, opts...)
		if err := svc.Server().Subscribe(sub); err != nil {
			mu.Fatal(1, "subscribe: %v", err)
		}
	}
	svc.Init(micro.AfterStart(func() error {
		o := svc.Server().Options()
		mu.PrintJSON(map[string]any{"ready": true, "id": o.Name + "-" + o.Id, "address": o.Advertise, "version": o.Version})
		return nil
	}))
	if err := svc.Run(); err != nil {
		mu.Fatal(1, "run: %v", err)
	}
}
