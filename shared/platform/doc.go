// Package platform is fedgate's side of the local platform: the workspace
// platform (Mosaic Stack) whose API answers the incoming queries and executes
// the incoming commands that fedgate has no built-in for. It defines the
// request such work receives, the answer helpers, the "try again later"
// error, and the HTTP relay to the platform's API.
package platform
