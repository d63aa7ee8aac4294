// Package app wires one function's dependencies once per cold start: SDK
// clients, repositories and the capability services, from a config.Config.
// It holds resources and services only; behaviour lives in the services.
package app
