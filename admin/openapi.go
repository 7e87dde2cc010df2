package admin

import (
	_ "embed"
	"net/http"
)

// openAPI is the hand-written OpenAPI 3 description of the routes in
// routes(); TestOpenAPICoversRoutes keeps the two in step.
//
//go:embed openapi.json
var openAPI []byte

// OpenAPI returns the admin API's OpenAPI 3 document.
func OpenAPI() []byte { return append([]byte(nil), openAPI...) }

func serveOpenAPI(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "public, max-age=3600")
	_, _ = w.Write(openAPI)
}
