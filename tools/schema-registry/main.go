// Command tailor-schema-registry serves Conduit's Confluent-compatible Schema Registry (ADR 0024 §7) for the
// local stack: no Confluent, Karapace or Apicurio build installs on this project's machines, and Conduit's
// registry is a library, so this is only its HTTP server over a Badger directory (schema ids survive restarts,
// as the ids inside records on Kafka require).
package main

import (
	"errors"
	"flag"
	"log"
	"log/slog"
	"net/http"
	"os"
	"time"

	"github.com/conduitio/conduit-commons/database/badger"
	schemaregistry "github.com/conduitio/conduit-schema-registry"
	"github.com/rs/zerolog"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:8081", "address to serve the REST API on")
	dir := flag.String("dir", "schema-registry", "Badger directory holding the schemas")
	flag.Parse()

	db, err := badger.New(zerolog.New(os.Stderr).Level(zerolog.WarnLevel), *dir)
	if err != nil {
		log.Fatalf("open %s: %v", *dir, err)
	}
	defer db.Close()
	registry, err := schemaregistry.NewSchemaRegistry(db)
	if err != nil {
		log.Fatalf("load registry: %v", err)
	}
	mux := http.NewServeMux()
	schemaregistry.NewServer(slog.Default(), registry).RegisterHandlers(mux)
	server := &http.Server{Addr: *listen, Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	slog.Info("schema registry listening", "addr", *listen, "dir", *dir)
	if err := server.ListenAndServe(); err != nil && !errors.Is(err, http.ErrServerClosed) {
		log.Fatal(err)
	}
}
