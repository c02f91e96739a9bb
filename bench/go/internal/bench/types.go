// Package bench holds the request and response types shared by the go-micro
// benchmark server and driver. Their JSON matches bench/src/payloads.ts.
package bench

// HelloRequest is the greeter request, {"name":"John"}.
type HelloRequest struct {
	Name string `json:"name"`
}

// HelloResponse is the greeter response, {"greeting":"Hello John"}.
type HelloResponse struct {
	Greeting string `json:"greeting"`
}

// Item is one element of the 16 KiB body.
type Item struct {
	ID     int      `json:"id"`
	Name   string   `json:"name"`
	Tags   []string `json:"tags"`
	Price  float64  `json:"price"`
	Active bool     `json:"active"`
}

// Big is the ~16 KiB JSON body that Greeter.Echo sends back unchanged.
type Big struct {
	Items []Item `json:"items"`
}
