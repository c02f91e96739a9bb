// publisher publishes N JSON messages to a topic through go-micro's client
// (client.Publish, which is what micro.NewEvent(...).Publish does), so the
// messages carry go-micro's own headers (Content-Type, Micro-Topic, Micro-ID).
//
//	publisher [-n 1] [-interval 0] [-body '{"n":{{i}}}'] [-H k=v]... TOPIC
//
// {{i}} in -body is replaced with the message number, 1-based. -H puts context
// metadata on the publish, which go-micro sends as message headers. The broker comes
// from MICRO_BROKER / MICRO_BROKER_ADDRESS (and, for the HTTP broker, the
// registry from MICRO_REGISTRY). It prints {"published":N} when done; a
// publish error prints the go-micro error JSON and exits 1.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"os"
	"strconv"
	"strings"
	"time"

	"go-micro.dev/v5/client"
	"go-micro.dev/v5/errors"
	"go-micro.dev/v5/metadata"

	"github.com/micro-ts/interop/go-micro/internal/mu"
)

func main() {
	n := flag.Int("n", 1, "number of messages")
	interval := flag.Duration("interval", 0, "pause between messages")
	body := flag.String("body", `{"n":{{i}},"from":"go"}`, "JSON body template; {{i}} is the message number")
	md := mu.Headers{}
	flag.Var(md, "H", "message header k=v, as context metadata (repeatable)")
	linger := flag.Duration("linger", -1, "wait this long before exiting; default: 1s + 100ms per message for the http broker, 0 otherwise")
	flag.Parse()
	if flag.NArg() != 1 {
		mu.Fatal(2, "usage: publisher [flags] TOPIC")
	}
	topic := flag.Arg(0)

	svc := mu.NewService("interop.publisher")
	c := svc.Client()
	ctx := context.Background()
	if len(md) > 0 {
		ctx = metadata.NewContext(ctx, metadata.Metadata(md))
	}
	for i := 1; i <= *n; i++ {
		b := strings.ReplaceAll(*body, "{{i}}", strconv.Itoa(i))
		if !json.Valid([]byte(b)) {
			mu.Fatal(2, "body is not valid JSON: %s", b)
		}
		msg := c.NewMessage(topic, json.RawMessage(b), client.WithMessageContentType("application/json"))
		if err := c.Publish(ctx, msg); err != nil {
			mu.PrintJSON(errors.FromError(err))
			os.Exit(1)
		}
		if *interval > 0 && i < *n {
			time.Sleep(*interval)
		}
	}
	// go-micro's HTTP broker returns from Publish before sending: it queues
	// the message in a per-topic backlog and POSTs from a goroutine (up to 8
	// backlog messages per Publish, 100ms apart when there are several), so
	// exiting at once would drop messages.
	b := svc.Options().Broker
	wait := *linger
	if wait < 0 {
		wait = 0
		if b.String() == "http" {
			wait = time.Second + time.Duration(*n)*100*time.Millisecond
		}
	}
	time.Sleep(wait)
	_ = b.Disconnect()
	mu.PrintJSON(map[string]int{"published": *n})
}
