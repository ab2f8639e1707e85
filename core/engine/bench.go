package engine

// BenchRequest is the benchmarks' request, the setting of the README's speed figures: 32
// tokens after a 9-token prompt in 32 steps (32 network calls).
var BenchRequest = Request{Prompt: "It is a truth universally acknowledged, that", Length: 32, Steps: 32, Temperature: 0.8, Seed: 1}
