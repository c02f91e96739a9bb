// Package otelmu sets up OpenTelemetry the way a go-micro service that uses
// go-micro's wrapper/trace/opentelemetry does: a tracer provider with a batch
// OTLP/HTTP exporter (configured by the standard OTEL_EXPORTER_OTLP_* and
// OTEL_SERVICE_NAME variables), the W3C trace-context and baggage propagator,
// and the wrappers on the service's handlers, client and subscribers.
package otelmu

import (
	"context"
	"time"

	micro "go-micro.dev/v5"
	"go-micro.dev/v5/wrapper/trace/opentelemetry"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.26.0"
	"go.opentelemetry.io/otel/trace"

	"github.com/micro-ts/interop/go-micro/internal/mu"
)

// Setup registers the global tracer provider and propagator. name is the
// service.name unless OTEL_SERVICE_NAME says otherwise. The returned function
// sends what is queued and stops the provider.
func Setup(name string) func() {
	ctx := context.Background()
	exp, err := otlptracehttp.New(ctx)
	if err != nil {
		mu.Fatal(1, "otlp exporter: %v", err)
	}
	res, err := resource.Merge(
		resource.NewWithAttributes(semconv.SchemaURL, semconv.ServiceName(name)),
		resource.Environment(),
	)
	if err != nil {
		mu.Fatal(1, "resource: %v", err)
	}
	tp := sdktrace.NewTracerProvider(
		sdktrace.WithBatcher(exp, sdktrace.WithBatchTimeout(200*time.Millisecond)),
		sdktrace.WithResource(res),
	)
	otel.SetTracerProvider(tp)
	otel.SetTextMapPropagator(propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{}))
	return func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = tp.Shutdown(ctx)
	}
}

// Wrappers are go-micro's OpenTelemetry wrappers for a service's client (calls
// and publishes), handlers and subscribers.
func Wrappers() []micro.Option {
	return []micro.Option{
		micro.WrapClient(opentelemetry.NewClientWrapper()),
		micro.WrapHandler(opentelemetry.NewHandlerWrapper()),
		micro.WrapSubscriber(opentelemetry.NewSubscriberWrapper()),
	}
}

// TraceID is the trace id of the span in ctx ("" when there is none).
func TraceID(ctx context.Context) string {
	sc := trace.SpanContextFromContext(ctx)
	if !sc.IsValid() {
		return ""
	}
	return sc.TraceID().String()
}

// SpanID is the span id of the span in ctx ("" when there is none).
func SpanID(ctx context.Context) string {
	sc := trace.SpanContextFromContext(ctx)
	if !sc.IsValid() {
		return ""
	}
	return sc.SpanID().String()
}
