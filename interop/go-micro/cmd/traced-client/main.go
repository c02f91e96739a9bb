// traced-client calls a service, or publishes to a topic, through a go-micro
// client wrapped in go-micro's OpenTelemetry client wrapper, so the call or
// publish is the root span of a new trace, exported over OTLP/HTTP
// (OTEL_EXPORTER_OTLP_ENDPOINT):
//
//	traced-client SERVICE ENDPOINT JSON    -> {"response": ..., "trace_id", "span_id"}
//	traced-client -publish TOPIC JSON      -> {"published": 1, "trace_id", "span_id"}
//
// trace_id/span_id are those of the wrapper's span, read back from the
// traceparent it put in the outgoing metadata. A failed call prints the
// go-micro error JSON and exits 1.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"os"
	"strings"
	"time"

	"go-micro.dev/v5/client"
	"go-micro.dev/v5/errors"
	"go-micro.dev/v5/metadata"
	"go-micro.dev/v5/wrapper/trace/opentelemetry"

	"github.com/micro-ts/interop/go-micro/internal/mu"
	"github.com/micro-ts/interop/go-micro/internal/otelmu"
)

// spanOf reads the wrapper's span back from the metadata it sent: "00-<trace>-<span>-<flags>".
func spanOf(md metadata.Metadata) (string, string) {
	tp, _ := md.Get("Traceparent")
	parts := strings.Split(tp, "-")
	if len(parts) != 4 {
		return "", ""
	}
	return parts[1], parts[2]
}

// recorder is a client.Wrapper under the tracing one: it sees the metadata the
// tracing wrapper put on the context.
type recorder struct {
	client.Client
	md *metadata.Metadata
}

func (r *recorder) Call(ctx context.Context, req client.Request, rsp interface{}, opts ...client.CallOption) error {
	*r.md, _ = metadata.FromContext(ctx)
	return r.Client.Call(ctx, req, rsp, opts...)
}

func (r *recorder) Publish(ctx context.Context, msg client.Message, opts ...client.PublishOption) error {
	*r.md, _ = metadata.FromContext(ctx)
	return r.Client.Publish(ctx, msg, opts...)
}

func main() {
	publish := flag.String("publish", "", "publish JSON to this topic instead of calling")
	flag.Parse()
	shutdown := otelmu.Setup("traced.client")

	var sent metadata.Metadata
	svc := mu.NewService("traced.client")
	// The tracing wrapper outside, the recorder inside it (it sees what the wrapper sends).
	wrapped := opentelemetry.NewClientWrapper()(&recorder{Client: svc.Client(), md: &sent})
	ctx := context.Background()
	if *publish != "" {
		if flag.NArg() != 1 || !json.Valid([]byte(flag.Arg(0))) {
			mu.Fatal(2, "usage: traced-client -publish TOPIC JSON")
		}
		msg := wrapped.NewMessage(*publish, json.RawMessage(flag.Arg(0)), client.WithMessageContentType("application/json"))
		if err := wrapped.Publish(ctx, msg); err != nil {
			mu.PrintJSON(errors.FromError(err))
			shutdown()
			os.Exit(1)
		}
		// go-micro's HTTP broker sends from a goroutine after Publish returns.
		if svc.Options().Broker.String() == "http" {
			time.Sleep(1500 * time.Millisecond)
		}
		trace, span := spanOf(sent)
		mu.PrintJSON(map[string]any{"published": 1, "trace_id": trace, "span_id": span})
		shutdown()
		return
	}
	if flag.NArg() != 3 || !json.Valid([]byte(flag.Arg(2))) {
		mu.Fatal(2, "usage: traced-client SERVICE ENDPOINT JSON")
	}
	var out json.RawMessage
	req := wrapped.NewRequest(flag.Arg(0), flag.Arg(1), json.RawMessage(flag.Arg(2)), client.WithContentType("application/json"))
	err := wrapped.Call(ctx, req, &out)
	trace, span := spanOf(sent)
	if err != nil {
		mu.PrintJSON(errors.FromError(err))
		shutdown()
		os.Exit(1)
	}
	mu.PrintJSON(map[string]any{"response": out, "trace_id": trace, "span_id": span})
	shutdown()
}
