// traced-greeter is a go-micro service that uses go-micro's OpenTelemetry
// wrappers (wrapper/trace/opentelemetry) and exports its spans over OTLP/HTTP
// (OTEL_EXPORTER_OTLP_ENDPOINT), for the tracing interop tests:
//
//	Greeter.Hello   {name}                    -> {greeting, trace_id, span_id}
//	Greeter.Forward {service, endpoint, name} -> calls service/endpoint with {name} through the
//	                                             wrapped client -> {greeting (theirs), trace_id, span_id,
//	                                             downstream (their whole answer)}
//
// -topic t also subscribes (through the subscriber wrapper) and prints each
// message as {"topic","header","body","trace_id","span_id"}. -metrics h:p also
// puts go-micro's Prometheus handler wrapper (wrapper/monitoring/prometheus) on
// the handlers and serves the default registry at http://h:p/metrics (the
// address it got is "metrics" in the ready line). Plugins come from
// MICRO_*, as in every interop program. Prints {"ready":true,...} once serving;
// on SIGTERM it stops and sends the spans still queued.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"net"
	"net/http"

	"github.com/prometheus/client_golang/prometheus/promhttp"
	micro "go-micro.dev/v5"
	"go-micro.dev/v5/errors"
	"go-micro.dev/v5/metadata"
	microprom "go-micro.dev/v5/wrapper/monitoring/prometheus"

	"github.com/micro-ts/interop/go-micro/internal/mu"
	"github.com/micro-ts/interop/go-micro/internal/otelmu"
)

type HelloRequest struct {
	Name string `json:"name"`
}

type ForwardRequest struct {
	Service  string `json:"service"`
	Endpoint string `json:"endpoint"`
	Name     string `json:"name"`
}

type TracedResponse struct {
	Greeting   string         `json:"greeting"`
	TraceID    string         `json:"trace_id"`
	SpanID     string         `json:"span_id"`
	Downstream map[string]any `json:"downstream,omitempty"`
}

type Greeter struct {
	svc micro.Service
}

func (g *Greeter) Hello(ctx context.Context, req *HelloRequest, rsp *TracedResponse) error {
	rsp.Greeting = "Hello " + req.Name
	rsp.TraceID = otelmu.TraceID(ctx)
	rsp.SpanID = otelmu.SpanID(ctx)
	return nil
}

func (g *Greeter) Forward(ctx context.Context, req *ForwardRequest, rsp *TracedResponse) error {
	if req.Service == "" || req.Endpoint == "" {
		return errors.BadRequest("greeter.forward", "service and endpoint are required")
	}
	c := g.svc.Client()
	var out map[string]any
	if err := c.Call(ctx, c.NewRequest(req.Service, req.Endpoint, &HelloRequest{Name: req.Name}), &out); err != nil {
		return err
	}
	greeting, _ := out["greeting"].(string)
	rsp.Greeting = greeting
	rsp.Downstream = out
	rsp.TraceID = otelmu.TraceID(ctx)
	rsp.SpanID = otelmu.SpanID(ctx)
	return nil
}

func main() {
	name := flag.String("name", "traced.greeter", "service name (and service.name unless OTEL_SERVICE_NAME is set)")
	topic := flag.String("topic", "", "also subscribe to this topic and print each message")

	metrics := flag.String("metrics", "", "also serve go-micro's Prometheus wrapper metrics at http://<host:port>/metrics")
	flag.Parse()

	shutdown := otelmu.Setup(*name)
	defer shutdown()
	opts := append(otelmu.Wrappers(), micro.Metadata(map[string]string{"lang": "go"}))
	metricsAt := ""
	if *metrics != "" {
		opts = append(opts, micro.WrapHandler(microprom.NewHandlerWrapper()))
		ln, err := net.Listen("tcp", *metrics)
		if err != nil {
			mu.Fatal(1, "metrics listener: %v", err)
		}
		metricsAt = ln.Addr().String()
		mux := http.NewServeMux()
		mux.Handle("/metrics", promhttp.Handler())
		go func() { _ = http.Serve(ln, mux) }()
	}
	svc := mu.NewService(*name, opts...)
	if err := svc.Handle(&Greeter{svc: svc}); err != nil {
		mu.Fatal(1, "handle: %v", err)
	}
	if *topic != "" {
		sub := svc.Server().NewSubscriber(*topic, func(ctx context.Context, msg *json.RawMessage) error {
			md, _ := metadata.FromContext(ctx)
			mu.PrintJSON(map[string]any{
				"topic": *topic, "header": md, "body": msg,
				"trace_id": otelmu.TraceID(ctx), "span_id": otelmu.SpanID(ctx),
			})
			return nil
		})
		if err := svc.Server().Subscribe(sub); err != nil {
			mu.Fatal(1, "subscribe: %v", err)
		}
	}
	svc.Init(micro.AfterStart(func() error {
		o := svc.Server().Options()
		mu.PrintJSON(map[string]any{"ready": true, "id": o.Name + "-" + o.Id, "address": o.Advertise, "metrics": metricsAt})
		return nil
	}))
	if err := svc.Run(); err != nil {
		mu.Fatal(1, "run: %v", err)
	}
}
