// subscriber subscribes to a topic the way a go-micro service does
// (server.NewSubscriber + micro.RegisterSubscriber semantics, with an optional
// queue group) and prints each message as one JSON line:
//
//	{"topic":"...","header":{...},"body":<the JSON body>}
//
//	subscriber [-queue q] [-name interop.subscriber] [-raw] TOPIC
//
// With -raw it subscribes on the broker directly instead (no server, no
// codec), and prints the body as a string. Once subscribed it prints
// {"ready":true} on stdout.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"os"
	"os/signal"
	"syscall"

	micro "go-micro.dev/v5"
	"go-micro.dev/v5/broker"
	"go-micro.dev/v5/metadata"
	"go-micro.dev/v5/server"

	"github.com/micro-ts/interop/go-micro/internal/mu"
)

func main() {
	queue := flag.String("queue", "", "queue group")
	name := flag.String("name", "interop.subscriber", "service name")
	raw := flag.Bool("raw", false, "subscribe on the broker directly")
	flag.Parse()
	if flag.NArg() != 1 {
		mu.Fatal(2, "usage: subscriber [flags] TOPIC")
	}
	topic := flag.Arg(0)

	svc := mu.NewService(*name)

	if *raw {
		b := svc.Options().Broker
		if err := b.Connect(); err != nil {
			mu.Fatal(1, "broker connect: %v", err)
		}
		var opts []broker.SubscribeOption
		if *queue != "" {
			opts = append(opts, broker.Queue(*queue))
		}
		sub, err := b.Subscribe(topic, func(e broker.Event) error {
			m := e.Message()
			mu.PrintJSON(map[string]any{"topic": e.Topic(), "header": m.Header, "body": string(m.Body)})
			return nil
		}, opts...)
		if err != nil {
			mu.Fatal(1, "subscribe: %v", err)
		}
		mu.PrintJSON(map[string]any{"ready": true})
		ch := make(chan os.Signal, 1)
		signal.Notify(ch, syscall.SIGINT, syscall.SIGTERM)
		<-ch
		_ = sub.Unsubscribe()
		_ = b.Disconnect()
		return
	}

	var opts []server.SubscriberOption
	if *queue != "" {
		opts = append(opts, server.SubscriberQueue(*queue))
	}
	sub := svc.Server().NewSubscriber(topic, func(ctx context.Context, msg *json.RawMessage) error {
		md, _ := metadata.FromContext(ctx)
		mu.PrintJSON(map[string]any{"topic": topic, "header": md, "body": msg})
		return nil
	}, opts...)
	if err := svc.Server().Subscribe(sub); err != nil {
		mu.Fatal(1, "subscribe: %v", err)
	}
	svc.Init(micro.AfterStart(func() error {
		mu.PrintJSON(map[string]any{"ready": true})
		return nil
	}))
	if err := svc.Run(); err != nil {
		mu.Fatal(1, "run: %v", err)
	}
}
