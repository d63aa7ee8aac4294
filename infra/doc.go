// Command infra is the CDK app (cdk.json: "go run ./infra"): one
// FedgateStack per instance, built from shared/routes, with cdk-nag's
// AwsSolutions checks applied so that an unexplained finding fails synth.
//
// The stack keeps no list of its own: tables come from shared/store, queues
// from shared/queue, and functions, their triggers and their grants from the
// rows of shared/routes, the same definitions the local runner (infra/local)
// uses. A new function needs no change in this package: its row says all the
// stack needs to know.
//
// Files:
//   - main.go: the app; Props from cdk.json's context.
//   - stack.go: NewFedgateStack, which puts the stack together from the
//     builder's methods in order, and the builder.
//   - resources.go: the stateful and shared parts: sealing key, alarm topic
//     and alarms, tables, queues with their DLQs, the orchestrator secret,
//     and the environment every function gets.
//   - api.go: the HTTP API, its JWT authorizer, routes and stage.
//   - functions.go: one function per row, its grants (least privilege from
//     the row's Access) and its trigger.
//   - stack_test.go: synthesizes the stack once and asserts behaviour: one
//     function per row, authorizers, DLQs, least privilege per row, cdk-nag.
package main
