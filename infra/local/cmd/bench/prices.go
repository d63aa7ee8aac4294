package main

// prices is the one price table of the cost model: USD, us-east-1, on-demand,
// list prices as of 2026 (no free tier). Change them here.
var prices = struct {
	LambdaGBSecondARM, LambdaRequest float64 // per GB-s (arm64), per request
	DynamoWriteUnit, DynamoReadUnit  float64 // per on-demand request unit
	SQSRequest, HTTPAPIRequest       float64 // per request (64 KiB chunks), per HTTP API call
}{
	LambdaGBSecondARM: 0.0000133334,
	LambdaRequest:     0.20 / 1e6,
	DynamoWriteUnit:   0.625 / 1e6,
	DynamoReadUnit:    0.125 / 1e6,
	SQSRequest:        0.40 / 1e6,
	HTTPAPIRequest:    1.00 / 1e6,
}
