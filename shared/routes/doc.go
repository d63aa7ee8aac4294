// Package routes is THE table of fedgate's functions: every Lambda once, with
// how it is triggered, who may call it and what it may touch. The CDK stack
// and the local runner both build from it; functions/<Name> holds each one's
// main.go.
package routes
