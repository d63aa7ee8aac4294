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
//   - main.go: the app: checks the settings, then builds the stack.
//   - settings.go: every fedgate:* context key in one table (default,
//     example, form, and where the value goes), and the rules between keys.
//     A key the functions read is one row with its environment variable
//     (env); a key the stack uses sets a Props field (apply).
//   - stack.go: Props, NewFedgateStack, which puts the stack together from
//     the builder's methods in order, and the builder.
//   - resources.go: the stateful and shared parts: sealing key, alarm topic
//     and alarm (the one helper every alarm goes through), tables, queues with
//     their DLQs, the orchestrator secret, and the environment every
//     function gets.
//   - domain.go: the custom domain (certificate, API Gateway domain name,
//     DNS record) and INSTANCE_URL.
//   - api.go: the HTTP API, its JWT authorizer, routes and stage.
//   - functions.go: one function per row, traced by X-Ray, its role (least
//     privilege from the row's Access), its trigger, and the log groups and
//     error alarms by capability.
//   - dashboard.go: the table of the metrics the functions write (names,
//     units, dimensions: the contract with shared/), and the instance's
//     CloudWatch dashboard built from it, the queues and the functions;
//     every alarm's description points to it.
//   - outputs.go: what `make deploy` prints (via cmd/deployed).
//   - stack_test.go, deploy_test.go, dashboard_test.go: synthesize the stack
//     and assert behaviour: one function per row, authorizers, DLQs, least
//     privilege per row, alarms, cdk-nag, the custom domain, settings,
//     limits, two instances side by side, what a destroy keeps, tracing,
//     the dashboard and the alarms' pointer to it.
//
// # Resource budget
//
// CloudFormation allows 500 resources per stack and a 1 MB template;
// TestLimits keeps the stack at most at 450 resources (with what is planned)
// and under 800 KB. With a role, policy, log group, permission and alarm per
// function the stack had 395 resources for 46 functions and a 461 KB
// template; now it has 284 for 48 functions (289 with a Route 53 domain and
// alarm e-mail) and a 537 KB template, by three choices that give up no
// protection:
//
//   - Grants inline in each function's role. A role's grants were an
//     AWS::IAM::Policy of their own, a second resource per function; inline
//     in the role (one policy document, the same statements, and consuming
//     the trigger queues among them, so no event source adds a policy) they
//     cost nothing. Each function keeps its own role, so a role is still one
//     function's identity in CloudTrail and TestLeastPrivilege still compares
//     each function's policy with its row. Sharing roles between functions
//     with identical rows would save some 20 more resources but ties their
//     identities together; it is not needed.
//   - One log group per capability (capability: instance, connections,
//     queries, commands, agents, events, workers), through Lambda's advanced
//     logging controls: each function's streams carry its name, and a
//     capability's logs are read in one place. A function may write only to
//     its capability's group.
//   - One error alarm per capability: a metric-math expression summing its
//     functions' Errors. CloudWatch allows at most 10 metrics in an alarm's
//     expression, so a capability of more functions gets one alarm per ten
//     (TestAlarms checks every function's Errors is in exactly one alarm).
//
// What additions cost: an HTTP function 5 resources (function, role, route,
// integration, invoke permission), a queue consumer 2 plus one event source
// mapping per queue, a scheduled one 4 (rule, permission); a function under
// a new first path segment adds a log group and an alarm (its capability).
// An alarm (b.alarm) is 1 (the dashboard, one in all, lists it), a
// `$default` route 3 plus its function; reserved concurrency and X-Ray
// tracing 0 (a function property; the X-Ray grant is inline in the role,
// where CDK's Tracing prop would add a policy resource per function), a
// graph on the dashboard 0 (the dashboard is one resource, its body grows).
//
// # Names
//
// Functions, log groups, alarms and the dashboard have fixed names that
// carry the instance name (b.physicalName: fedgate-<instance>-…), so two
// instances share an account and region. (Dashboards are global to an
// account: the same instance name in two regions of one account would
// collide on fedgate-<instance>.) Tables, queues, the topic, the secret and the rules
// get names CloudFormation derives from the stack's (which carries the
// instance name too): fixed names there would collide with the tables a
// destroy keeps, and with SQS's and Secrets Manager's waiting periods after
// a delete, when an instance is deployed again.
package main
